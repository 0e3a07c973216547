"""The gradient is the exact vector-Jacobian product: compare with central finite differences."""

import dense_reference as ref
import numpy as np
import pytest
from conftest import CNN_PADDINGS, random_cnn

import refpattern as rp


def _kink_margin(net, x):
    """Smallest distance of any ReLU input from 0 and of any live max-pool winner from its runner-up."""
    margin = np.inf
    activations = net.trace(x)
    for layer, a in zip(net.logit_layers, activations):
        if isinstance(layer, rp.ReLU):
            margin = min(margin, np.abs(a).min())
        if isinstance(layer, rp.MaxPool2D):
            from numpy.lib.stride_tricks import sliding_window_view
            (kh, kw), (sh, sw) = layer.size, layer.stride
            windows = sliding_window_view(a, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
            flat = np.sort(windows.reshape(windows.shape[:4] + (-1,)), axis=-1)
            live = flat[..., -1] > 0  # windows of dead (zero) units pass zero gradient whoever wins
            if np.any(live):
                margin = min(margin, (flat[..., -1] - flat[..., -2])[live].min())
    return margin


def test_gradient_matches_central_differences():
    net = random_cnn(seed=3)
    x = np.random.default_rng(5).normal(size=(2, 2, 9, 9))
    h = 1e-6
    assert _kink_margin(net, x) > 1e3 * h, "test input too close to a ReLU kink or a max-pool tie"
    target = np.array([0, 2])
    gradient = rp.explain(net, x, "gradient", target=target)
    numeric = np.zeros_like(x)
    for index in np.ndindex(x.shape[1:]):
        for n in range(x.shape[0]):
            step = np.zeros_like(x)
            step[(n,) + index] = h
            up = net.logits(x + step)[n, target[n]]
            down = net.logits(x - step)[n, target[n]]
            numeric[(n,) + index] = (up - down) / (2 * h)
    relative = np.linalg.norm(gradient - numeric) / np.linalg.norm(gradient)
    print(f"gradient vs central differences: relative error {relative:.2e}")
    assert relative <= 1e-7, relative


@pytest.mark.parametrize("paddings", CNN_PADDINGS.values(), ids=CNN_PADDINGS.keys())
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_gradient_matches_dense_matrix_reference(paddings, backend):
    """The gradient equals the chain rule over explicit loop-built matrices (tests/dense_reference.py), with
    symmetric, asymmetric ((top, bottom), (left, right)) and "same" padding."""
    padding, shape = paddings
    net = random_cnn(seed=6, paddings=padding, input_shape=shape)
    x = np.random.default_rng(7).normal(size=(3,) + shape)
    targets = np.array([0, 1, 2])
    gradient = rp.explain(net, x, "gradient", target=targets, backend=backend)
    for n in range(3):
        want = ref.gradient_dense(net, x[n], targets[n])
        assert np.max(np.abs(gradient[n] - want)) <= 1e-12 * np.max(np.abs(want))


def test_layer_backward_is_the_transpose_of_forward(rng):
    """<J v, u> = <v, Jᵀ u> for every linear layer (adjoint identity), to rounding."""
    for layer, shape in [
        (rp.Conv2D(rng.normal(size=(4, 3, 3, 2)), stride=(2, 1), padding=(1, 2)), (2, 3, 7, 6)),
        (rp.Conv2D(rng.normal(size=(2, 1, 4, 4)), stride=3, padding=0), (1, 1, 11, 10)),
        (rp.Dense(rng.normal(size=(5, 7))), (3, 7)),
        (rp.Conv2D(rng.normal(size=(3, 2, 3, 2)), stride=(2, 1), padding=((0, 2), (3, 1))), (2, 2, 6, 5)),
        (rp.Conv2D(rng.normal(size=(3, 2, 4, 3)), stride=2, padding="same"), (2, 2, 6, 7)),
    ]:
        v = rng.normal(size=shape)
        y = layer.linear(v, layer.weight)
        u = rng.normal(size=y.shape)
        lhs = np.sum(y * u)
        rhs = np.sum(v * layer.backward(v, u))
        assert abs(lhs - rhs) <= 1e-12 * (abs(lhs) + np.abs(y * u).sum())


@pytest.mark.parametrize("padding", [1, ((0, 2), (1, 0)), "same"])
def test_parameter_gradients_match_finite_differences(rng, padding):
    """∂/∂W Σ(u ⊙ layer(x)) is linear in W, so a central difference is exact up to rounding."""
    layer = rp.Conv2D(rng.normal(size=(3, 2, 3, 3)), rng.normal(size=3), stride=2, padding=padding)
    x = rng.normal(size=(2, 2, 6, 5))
    u = rng.normal(size=(2,) + layer.output_shape((2, 6, 5)))
    grad_w, grad_b = layer.parameter_gradients(x, u)
    h = 1e-3
    for index in [(0, 0, 0, 0), (2, 1, 2, 1), (1, 1, 1, 2)]:
        w_up, w_down = np.array(layer.weight), np.array(layer.weight)
        w_up[index] += h
        w_down[index] -= h
        up = np.sum(u * layer.with_parameters(w_up, layer.bias).forward(x))
        down = np.sum(u * layer.with_parameters(w_down, layer.bias).forward(x))
        assert np.isclose((up - down) / (2 * h), grad_w[index], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(grad_b, u.sum(axis=(0, 2, 3)), rtol=1e-12)
