"""For a linear model, Gradient, DeConvNet and Guided Backprop all return the weight vector
(docs/math.md#toy-claim-3)."""

import numpy as np
import pytest

import refpattern as rp
from refpattern.linear import LinearModel


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


@pytest.mark.parametrize("scale", np.linspace(0.1, 3.0, 17))
@pytest.mark.parametrize("distractor_variance", [0.3, 2.0, 5.0])
def test_a_perfectly_correlated_distractor_is_a_legal_model(scale, distractor_variance):
    """``cov[s, d] = σ_s σ_d``: ``d = (σ_d/σ_s)·s``, so ``x = (a_s + r·a_d)·s`` with ``r = σ_d/σ_s``.  The
    conditional variance ``σ²_d − cov² / σ²_s`` is 0 up to rounding of either sign; rounding below zero
    was refused as "a negative variance" for about a quarter of such models."""
    signal, distractor = np.array([1.0, 0.0]), np.array([1.0, 1.0])
    signal_variance = scale * scale / 3.0  # uniform
    model = LinearModel([signal], "uniform", scale, distractor_directions=[distractor],
                        distractor_covariance=distractor_variance,
                        cross_covariance=[[np.sqrt(distractor_variance * signal_variance)]])
    assert model.conditional_distractor_covariance[0, 0] == 0.0 or \
        0.0 < model.conditional_distractor_covariance[0, 0] <= 1e-12 * distractor_variance
    direction = signal + np.sqrt(distractor_variance / signal_variance) * distractor
    expected = signal_variance * np.outer(direction, direction)
    np.testing.assert_allclose(model.input_covariance, expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max())
