"""Integrated Gradients: completeness, and the quadrature rules exactly as docs/math.md#ig-quadratures defines them."""

import numpy as np
import pytest
from conftest import random_cnn

import refpattern as rp
from refpattern.methods.integrated_gradients import QUADRATURES, quadrature


def _gate_pattern(net, x):
    pattern = []
    for layer, a in zip(net.logit_layers, net.trace(x)):
        if isinstance(layer, rp.ReLU):
            pattern.append(a > 0)
    return pattern


def _smooth_case():
    """A net and input whose straight path from 0 crosses no ReLU kink.

    Biases are set layer by layer so that every ReLU input stays >= 1 along the whole path
    (checked on a grid; the path is then linear through each layer, so the grid suffices up
    to max-pool winners, whose values share an intercept and differ only in slope).
    """
    base = random_cnn(seed=7)
    x = 0.2 * np.random.default_rng(9).normal(size=(2, 2, 9, 9))
    alphas = np.linspace(0, 1, 33)
    layers = list(base.layers)
    for index in base.kernel_indices[:-1]:
        net = base.with_layers(layers)
        path = np.concatenate([alpha * x for alpha in alphas])
        pre = layers[index].linear(net.trace(path)[index], layers[index].weight)
        axes = (0,) + tuple(range(2, pre.ndim))
        bias = 1.0 - pre.min(axis=axes)
        layers[index] = layers[index].with_parameters(layers[index].weight, bias)
    return base.with_layers(layers), x


def test_smooth_case_has_no_kink_on_the_path():
    net, x = _smooth_case()
    reference = _gate_pattern(net, 1e-9 * x)
    for alpha in np.linspace(1e-9, 1, 257):
        for got, want in zip(_gate_pattern(net, alpha * x), reference):
            assert np.array_equal(got, want)


def test_completeness_gauss_legendre_512():
    """Σ IG = f(x) − f(x₀) to ≤ 1e-6 relative with 512 Gauss–Legendre steps."""
    net, x = _smooth_case()
    targets = np.array([1, 2])
    ig = rp.explain(net, x, "integrated_gradients", target=targets, steps=512, quadrature="gauss_legendre")
    rows = np.arange(2)
    difference = net.logits(x)[rows, targets] - net.logits(np.zeros_like(x))[rows, targets]
    relative = np.abs(ig.sum(axis=(1, 2, 3)) - difference) / np.abs(difference)
    print(f"IG completeness (512 Gauss-Legendre steps): relative error {relative.max():.2e}")
    assert np.all(relative <= 1e-6), relative


def test_completeness_with_nonzero_baseline():
    net, x = _smooth_case()
    x = x[:1]
    baseline = 0.5 * x[0]  # shaped like one sample; the path stays on the kink-free segment
    ig = rp.explain(net, x, "integrated_gradients", target=0, steps=32, quadrature="gauss_legendre", baseline=baseline)
    difference = net.logits(x)[:, 0] - net.logits(baseline[None])[:, 0]
    np.testing.assert_allclose(ig.sum(axis=(1, 2, 3)), difference, rtol=1e-9)


@pytest.mark.parametrize("name", QUADRATURES)
def test_quadrature_nodes_and_weights(name):
    """Nodes/weights as defined: weights sum to 1, and each rule's known exactness on polynomials."""
    n = 8
    alphas, weights = quadrature(name, n)
    assert alphas.dtype == np.float64 and weights.shape == (n,)
    assert np.isclose(weights.sum(), 1.0, rtol=0, atol=1e-15)
    k = np.arange(n)
    expected_nodes = {"riemann_left": k / n, "riemann_right": (k + 1) / n, "riemann_midpoint": (k + 0.5) / n,
                      "trapezoid": k / (n - 1)}
    if name in expected_nodes:
        np.testing.assert_array_equal(alphas, expected_nodes[name])
    # ∫₀¹ α dα = 1/2: left sum (n−1)/(2n), right (n+1)/(2n), midpoint and trapezoid exact.
    first_moment = {"riemann_left": (n - 1) / (2 * n), "riemann_right": (n + 1) / (2 * n)}.get(name, 0.5)
    assert np.isclose(weights @ alphas, first_moment, rtol=1e-14)
    if name == "gauss_legendre":  # exact up to degree 2n − 1
        for degree in range(2 * n):
            assert np.isclose(weights @ alphas ** degree, 1 / (degree + 1), rtol=1e-13)


def test_quadrature_refuses_bad_arguments():
    with pytest.raises(ValueError, match="steps"):
        quadrature("gauss_legendre", 0)
    with pytest.raises(ValueError, match="trapezoid"):
        quadrature("trapezoid", 1)
    with pytest.raises(ValueError, match="quadrature must be one of"):
        rp.explain(random_cnn(), np.zeros((1, 2, 9, 9)), "integrated_gradients", quadrature="simpson")
