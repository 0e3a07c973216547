"""For a linear model, Gradient, DeConvNet and Guided Backprop all return the weight vector
(docs/math.md#toy-claim-3)."""

import numpy as np
import pytest

import refpattern as rp


@pytest.mark.parametrize("method", ["gradient", "deconvnet", "guided_backprop"])
def test_one_layer_linear_model_returns_its_weights(method):
    rng = np.random.default_rng(0)
    w = np.array([1.0, -1.0, 0.5])
    net = rp.Sequential([rp.Dense(w[None, :], [0.3])])
    x = rng.normal(size=(6, 3))
    explanation = rp.explain(net, x, method)
    np.testing.assert_array_equal(explanation, np.broadcast_to(w, x.shape))


def test_multi_output_linear_model_returns_the_target_row():
    rng = np.random.default_rng(1)
    W = rng.normal(size=(4, 5))
    net = rp.Sequential([rp.Dense(W, rng.normal(size=4)), rp.Softmax()])
    x = rng.normal(size=(3, 5))
    for method in ("gradient", "deconvnet", "guided_backprop"):
        explanation = rp.explain(net, x, method, target=[0, 3, 2])
        np.testing.assert_array_equal(explanation, W[[0, 3, 2]])


def test_conv_linear_model_gradient_is_the_filter_layout():
    """A 1-output conv covering the whole image: the gradient is the kernel itself."""
    rng = np.random.default_rng(2)
    kernel = rng.normal(size=(1, 2, 4, 4))
    net = rp.Sequential([rp.Conv2D(kernel), rp.Flatten()])
    x = rng.normal(size=(2, 2, 4, 4))
    np.testing.assert_array_equal(rp.explain(net, x, "gradient", target=0), np.broadcast_to(kernel[0], x.shape))


def test_start_values():
    """Gradient-type methods start from 1; attribution methods from y_t (so LRP-z of a bias-free linear
    model is w ⊙ x)."""
    rng = np.random.default_rng(3)
    w = rng.normal(size=4)
    net = rp.Sequential([rp.Dense(w[None, :])])
    x = rng.normal(size=(2, 4))
    np.testing.assert_allclose(rp.explain(net, x, "lrp.z"), w * x, rtol=1e-14)
    np.testing.assert_allclose(rp.explain(net, x, "input_x_gradient"), w * x, rtol=1e-14)
