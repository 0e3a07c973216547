"""Integrated Gradients: completeness, the quadrature rules exactly as docs/math.md#ig-quadratures defines them,
and explicit nodes/weights mirroring Captum's rules (docs/conventions.md#ig-explicit-nodes) against closed forms."""

import numpy as np
import pytest
from conftest import random_cnn

import refpattern as rp
from refpattern.methods import captum_quadrature
from refpattern.methods.integrated_gradients import GAUSS_LEGENDRE_MAX_STEPS, QUADRATURES, quadrature


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


def test_gauss_legendre_beyond_its_limit_is_refused_naming_steps():
    """steps=10**6 with gauss_legendre was a MemoryError inside numpy's leggauss (an n×n companion matrix, 8 TB)."""
    limit = GAUSS_LEGENDRE_MAX_STEPS
    with pytest.raises(ValueError, match=rf"integrated_gradients: steps: .*at most {limit} nodes.*got 1000000"):
        rp.explain(random_cnn(), np.zeros((1, 2, 9, 9)), "integrated_gradients", quadrature="gauss_legendre",
                   steps=10**6)
    with pytest.raises(ValueError, match=rf"captum_quadrature: n_steps: .*at most {limit} nodes.*got {limit + 1}"):
        captum_quadrature("gausslegendre", limit + 1)
    assert quadrature("riemann_midpoint", limit + 1)[0].shape == (limit + 1,)  # the other rules have no limit


# --- explicit nodes and weights (alphas=, weights=), and Captum's rules ------------------------------

def _one_kink_net(kink):
    """y = v·relu(c·x₀ + b) on 2 inputs; from baseline 0 to x = (1, 0) the ReLU opens at α* = ``kink``.
    Along the path ∂y/∂x₀ = v·c·1[α > α*], so IG₀ = v·c·Σ_{k: α_k > α*} ω_k and IG₁ = 0."""
    c, v = 2.0, 1.5
    net = rp.Sequential([rp.Dense([[c, 0.7]], [-c * kink]), rp.ReLU(), rp.Dense([[v]])])
    return net, np.array([[1.0, 0.0]]), v * c


def test_explicit_nodes_reproduce_each_named_rule_bit_for_bit():
    net = random_cnn(seed=3)
    x = np.random.default_rng(1).normal(size=(2, 2, 9, 9))
    for name in QUADRATURES:
        alphas, weights = quadrature(name, 7)
        named = rp.explain(net, x, "integrated_gradients", steps=7, quadrature=name)
        explicit = rp.explain(net, x, "integrated_gradients", alphas=alphas, weights=weights)
        np.testing.assert_array_equal(explicit, named)


@pytest.mark.parametrize("n", [7, 50])
def test_captum_trapezoid_closed_form_and_its_ratio_to_the_trapezoid_rule(n):
    """Captum's riemann_trapezoid: nodes k/(n−1), step sizes 1/n with both ends halved (sum (n−1)/n).
    With the kink at α* = 0.3 the sum over open nodes is (m − ½)·ω, m = n − 1 − ⌊(n−1)α*⌋ nodes past the
    kink (the last one halved), ω = float32(1/n) — against refpattern's trapezoid (ω = 1/(n−1)) exactly
    the factor ω·(n−1)."""
    kink = 0.3
    net, x, slope = _one_kink_net(kink)
    alphas, weights = captum_quadrature("riemann_trapezoid", n)
    m = n - 1 - int(np.floor((n - 1) * kink))
    step = float(np.float32(1.0 / n))
    captum_like = rp.explain(net, x, "integrated_gradients", target=0, alphas=alphas, weights=weights)
    np.testing.assert_allclose(captum_like[0], [slope * (m - 0.5) * step, 0.0], rtol=1e-15, atol=0)
    ours = rp.explain(net, x, "integrated_gradients", target=0, steps=n, quadrature="trapezoid")
    np.testing.assert_allclose(ours[0], [slope * (m - 0.5) / (n - 1), 0.0], rtol=1e-15, atol=0)
    np.testing.assert_allclose(captum_like[0, 0] / ours[0, 0], step * (n - 1), rtol=1e-15)
    assert abs(step * (n - 1) - (n - 1) / n) <= 2 ** -24 * (n - 1) / n  # (n−1)/n up to float32 rounding


def test_riemann_left_closed_form():
    """Left Riemann sum with n nodes k/n: (n − 1 − ⌊nα*⌋)/n of the slope falls past the kink."""
    kink, n = 0.37, 20
    net, x, slope = _one_kink_net(kink)
    ig = rp.explain(net, x, "integrated_gradients", target=0, steps=n, quadrature="riemann_left")
    np.testing.assert_allclose(ig[0, 0], slope * (n - 1 - np.floor(n * kink)) / n, rtol=1e-15)


def test_captum_gauss_legendre_float32_weights():
    """Captum's default (50 Gauss–Legendre steps): refpattern's nodes exactly, the weights rounded to
    float32.  On a linear model IG = (x − x₀)·w_t·Σω_k, so the float32 weights scale the exact answer by
    Σω_k, which misses 1 by at most 50 float32 roundings of the weights."""
    alphas, weights = captum_quadrature()
    exact_alphas, exact_weights = quadrature("gauss_legendre", 50)
    np.testing.assert_array_equal(alphas, exact_alphas)
    np.testing.assert_array_equal(weights, exact_weights.astype(np.float32).astype(np.float64))
    assert np.any(weights != exact_weights)
    rng = np.random.default_rng(8)
    w = rng.normal(size=(3, 4))
    net = rp.Sequential([rp.Dense(w, rng.normal(size=3))])
    x = rng.normal(size=(5, 4))
    targets = np.argmax(net.logits(x), axis=1)
    ig = rp.explain(net, x, "integrated_gradients", alphas=alphas, weights=weights)
    np.testing.assert_allclose(ig, x * w[targets] * weights.sum(), rtol=1e-14, atol=1e-15)
    assert abs(weights.sum() - 1) <= 50 * 2 ** -24 * exact_weights.max()


def test_captum_riemann_nodes_are_float32_numbers():
    for method in ("riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid"):
        alphas, weights = captum_quadrature(method, 9)
        assert np.array_equal(alphas.astype(np.float32), alphas) and np.all((alphas >= 0) & (alphas <= 1))
        assert np.all(weights[1:-1] == np.float32(1 / 9))
    with pytest.raises(ValueError, match="Riemann rules need n_steps > 1"):
        captum_quadrature("riemann_left", 1)
    with pytest.raises(ValueError, match="method must be one of"):
        captum_quadrature("trapezoid", 5)


def test_explicit_nodes_refuse_a_mix_and_bad_arrays():
    net = random_cnn()
    x = np.zeros((1, 2, 9, 9))
    alphas, weights = np.linspace(0, 1, 5), np.full(5, 0.2)
    cases = [
        ({"alphas": alphas, "weights": weights, "steps": 5}, ValueError, "not both"),
        ({"alphas": alphas, "weights": weights, "quadrature": "trapezoid"}, ValueError, "not both"),
        ({"alphas": alphas}, ValueError, "give both alphas= and weights="),
        ({"alphas": alphas, "weights": weights[:4]}, ValueError, "one length"),
        ({"alphas": alphas * 2, "weights": weights}, ValueError, r"alphas must lie in \[0, 1\]"),
        ({"alphas": alphas, "weights": np.array([0.2, np.nan, 0.2, 0.2, 0.2])}, ValueError, "NaN"),
        ({"alphas": alphas[None], "weights": weights}, ValueError, "1-D"),
        ({"alphas": alphas, "weights": ["a"] * 5}, TypeError, "array of floats"),
    ]
    for options, error, message in cases:
        with pytest.raises(error, match=message):
            rp.explain(net, x, "integrated_gradients", **options)
    given = alphas.copy()
    rp.explain(net, x, "integrated_gradients", alphas=given, weights=weights)
    np.testing.assert_array_equal(given, alphas)
