"""ρ (Eq. 1): closed forms on the linear toy, and agreement with an explicit regression.

Closed forms on the toy (docs/math.md#toy-rho with μ = 0, σ = 1):
``x = a_s·y + a_d·ε``, ``a_s = (1, 0)``, ``a_d = (1, 1)``, ``y ~ U[−1, 1]`` (σ²_y = 1/3), ``ε ~ N(0, 1)``,
``w = (1, −1)``, so the network output is ``wᵀx = y``.  For any ``S(x) = a·y`` with ``wᵀa = a₁ − a₂ = 1``::

    d̂ = x − a·y = (y(1 − a₁) + ε,  −y·a₂ + ε) = (1, 1)·s,   s = ε + κ·y,  κ = (1 − a₁ − a₂)/2

(both components are equal because ``a₁ − a₂ = 1``), so every ``vᵀd̂`` is a multiple of ``s`` and::

    max_v corr(y, vᵀd̂) = |corr(y, s)| = |κ|·σ_y / sqrt(κ²σ²_y + 1) = |κ| / sqrt(κ² + 3).

- S_a: ``a = a_s = (1, 0)``, ``κ = 0``, ρ = 1.
- S_w: ``a = w/(wᵀw) = (1/2, −1/2)``, ``κ = 1/2``, max corr ``= (1/2)/sqrt(13/4) = 1/√13``,
  **ρ(S_w) = 1 − 1/√13 ≈ 0.7226**.
- random: ``a = r/(wᵀr)``, ρ = 1 − |κ|/sqrt(κ² + 3) with its own κ.
"""

import warnings

import numpy as np
import pytest
from conftest import pattern_cnn as cnn

from refpattern import Conv2D, Dense, Flatten, ReLU, Sequential
from refpattern.kernels.numpy_reference import patch_matrix
from refpattern.patterns import RhoResult, fit_patterns, rho

RHO_S_W_TOY = 1 - 1 / np.sqrt(13)


@pytest.fixture(scope="module")
def toy():
    rng = np.random.default_rng(21)
    n = 100_000
    y, eps = rng.uniform(-1, 1, n), rng.normal(0.0, 1.0, n)
    x = np.outer(y, [1.0, 0.0]) + np.outer(eps, [1.0, 1.0])
    return Sequential([Dense([[1.0, -1.0]])]), x


def test_rho_on_the_linear_toy(toy):
    net, x = toy
    kw = dict(batch_size=25_000)
    rho_a = rho(net, x, "a", **kw)
    assert rho_a.shape == (1,) and abs(rho_a[0] - 1) <= 1e-9
    assert abs(rho(net, x, "a+-", **kw)[0] - 1) <= 1e-9  # the paper variant also has cov[d̂, y] = 0
    assert abs(rho(net, x, "w", **kw)[0] - RHO_S_W_TOY) <= 0.01
    random_patterns = fit_patterns(net, x, "random", seed=3)
    a = random_patterns[0].a[0]
    kappa = (1 - a.sum()) / 2
    assert abs(rho(net, x, random_patterns, **kw)[0] - (1 - abs(kappa) / np.sqrt(kappa ** 2 + 3))) <= 0.01
    rho_x = rho(net, x, "x")
    assert np.isnan(rho_x).all() and rho_x.shape == (1,)
    assert "undefined" in rho_x.reason and "S_x" in rho_x.reason
    assert rho_a.reason is None



def explicit(net, x, patterns, k, o):
    """(d̂, y) of neuron o in kernel layer k, built from the definition S(x) = a₊y·g + a₋y·(1 − g)."""
    activations = net.trace(x)
    index = net.kernel_indices[k]
    layer = net.layers[index]
    xs = activations[index] if isinstance(layer, Dense) else patch_matrix(activations[index], layer.kernel_size,
                                                                           layer.stride,
                                                                           layer.pads(activations[index].shape[2:]))
    w = layer.weight.reshape(layer.weight.shape[0], -1)[o]
    y = xs @ w
    gate = y + layer.bias[o] > 0
    a_plus = patterns[k].a_plus.reshape(len(layer.bias), -1)[o]
    a_minus = patterns[k].a_minus.reshape(len(layer.bias), -1)[o]
    d = xs - np.where(gate[:, None], np.outer(y, a_plus), np.outer(y, a_minus))
    return d, y


def regress(d, y):
    """Least squares of y on d̂ with the same relative cut-off (eigenvalues 1e-10 ⇔ singular values 1e-5)."""
    v, *_ = np.linalg.lstsq(d - d.mean(0), y - y.mean(), rcond=1e-5)
    return v


def correlation(a, b):
    a, b = a - a.mean(), b - b.mean()
    return (a @ b) / np.sqrt((a @ a) * (b @ b))


@pytest.mark.parametrize("estimator,variant", [("w", "paper"), ("a+-", "regime"), ("random", "paper"),
                                               ("a+-", "paper")])
def test_closed_form_equals_explicit_regression(estimator, variant):
    """max_v corr = sqrt(cᵀΣ⁺c/σ²_y) from streamed statistics equals a regression on explicit d̂."""
    rng = np.random.default_rng(22)
    net = cnn(rng)
    x_fit, x_v, x_eval = (rng.normal(0.2, 1.0, (30, 2, 9, 9)) for _ in range(3))
    patterns = fit_patterns(net, x_fit, estimator, variant=variant)
    in_sample = rho(net, x_eval, patterns, batch_size=7).per_neuron
    held_out = rho(net, x_eval, patterns, fit_v_on=x_v, batch_size=11).per_neuron
    for k, layer in enumerate(net.kernel_layers):
        for o in range(layer.weight.shape[0]):
            d, y = explicit(net, x_eval, patterns, k, o)
            expected = 1 - correlation(d @ regress(d, y), y)
            assert abs(in_sample[k][o] - expected) <= 1e-8, (k, o, in_sample[k][o], expected)
            d_v, y_v = explicit(net, x_v, patterns, k, o)
            expected = 1 - correlation(d @ regress(d_v, y_v), y)
            assert abs(held_out[k][o] - expected) <= 1e-8, (k, o, held_out[k][o], expected)


def test_S_a_and_paper_S_a_pm_reach_rho_one_in_sample_on_a_cnn():
    rng = np.random.default_rng(23)
    net, x = cnn(rng), rng.normal(0.3, 1.0, (30, 2, 9, 9))
    for estimator in ("a", "a+-"):
        values = rho(net, x, estimator)
        np.testing.assert_allclose(values, 1.0, atol=1e-9)


def test_random_directions_remove_almost_no_correlation():
    """Paper Fig. 3: ρ(random) is small; S_a is at the optimum 1."""
    rng = np.random.default_rng(24)
    net, x = cnn(rng), rng.normal(0.3, 1.0, (60, 2, 9, 9))
    values = rho(net, x, "random")
    assert values.shape == (4,) and np.all(values < 0.15), values


def test_zero_variance_neurons_are_excluded_and_reported():
    rng = np.random.default_rng(25)
    w = rng.normal(size=(3, 4))
    w[1] = 0.0
    net = Sequential([Dense(w, [0.1, 0.0, -0.2]), ReLU(), Dense(rng.normal(size=(2, 3)))])
    x = rng.normal(size=(500, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mean = rho(net, x, "w")
    per_neuron = mean.per_neuron
    assert isinstance(mean, RhoResult) and len(per_neuron) == len(mean) == 2
    assert np.isnan(per_neuron[0][1]) and not np.isnan(per_neuron[0][[0, 2]]).any()
    np.testing.assert_array_equal(mean.excluded[0], [1])
    assert mean[0] == pytest.approx(np.mean(per_neuron[0][[0, 2]]), abs=1e-15)


def test_streaming_subsampling_and_options():
    rng = np.random.default_rng(26)
    net, x = cnn(rng), rng.normal(0.3, 1.0, (20, 2, 9, 9))
    patterns = fit_patterns(net, x, "w")
    full = rho(net, x, patterns, batch_size=20)
    streamed = rho(net, x, patterns, batch_size=3)
    for f, s in zip(full.per_neuron, streamed.per_neuron):
        np.testing.assert_allclose(s, f, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.asarray(full), [np.nanmean(f) for f in full.per_neuron], rtol=1e-14)
    sub = rho(net, x, patterns, max_neurons=2, seed=5)
    for k, (f, s) in enumerate(zip(full.per_neuron, sub.per_neuron)):
        chosen = sub.neurons[k]
        assert len(chosen) == 2 and np.isnan(np.delete(s, chosen)).all()
        np.testing.assert_allclose(s[chosen], f[chosen], rtol=1e-12)
    with pytest.raises(ValueError, match="cutoff"):
        rho(net, x, patterns, cutoff=1.5)
    with pytest.raises(ValueError, match="kernel layers"):
        rho(Sequential([Dense(np.ones((1, 162)))]), x.reshape(20, -1), patterns)
    with pytest.raises(ValueError, match="estimator"):
        rho(net, x, "nonsense")


def test_held_out_rho_of_an_estimator_fitted_on_the_v_split_has_no_direction_to_regress():
    """S_a and the paper's S_a± fitted on X_v leave c_v = 0 there (Eq. 2), so there is no v: every neuron's
    held-out ρ is exactly 1, and unchanged when the data are rescaled (a rounding-noise v would move it)."""
    rng = np.random.default_rng(27)
    net = cnn(rng)
    x, x_v = rng.normal(0.3, 1.0, (40, 2, 9, 9)), rng.normal(0.3, 1.0, (40, 2, 9, 9))
    for estimator in ("a", "a+-"):
        for scale in (1.0, 1e-3, 1e3):
            scaled = Sequential([layer.with_parameters(layer.weight, layer.bias * scale) if layer.is_kernel else layer
                                 for layer in net.layers], input_shape=net.input_shape)
            values = rho(scaled, x * scale, estimator, fit_v_on=x_v * scale)
            for per_neuron in values.per_neuron:
                finite = per_neuron[~np.isnan(per_neuron)]
                np.testing.assert_array_equal(finite, 1.0)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_a_layer_with_one_input_has_no_distractor_and_rho_one(backend):
    """One input (a 1×1 convolution on one channel): ``x − a·(wx + b)`` is the constant ``−a·b``
    for every estimator with ``wᵀa = 1``, so no ``v`` correlates with ``y`` and ``ρ = 1`` exactly,
    in-sample and held out, on both backends (it was 1 minus rounding noise, up to 5e-8)."""
    if backend == "numba":
        pytest.importorskip("numba")
    rng = np.random.default_rng(0)
    net = Sequential([Conv2D.he(1, 3, 1, rng), ReLU(), Flatten(), Dense.he(3 * 16, 2, rng)], input_shape=(1, 4, 4))
    x = rng.normal(size=(300, 1, 4, 4)) + 0.3
    held_out = rng.normal(size=(100, 1, 4, 4)) + 0.3
    for estimator in ("a", "a+-", "w", "random"):
        assert rho(net, x, estimator, backend=backend, seed=0)[0] == 1.0
        assert rho(net, x, estimator, fit_v_on=held_out, backend=backend, seed=0)[0] == 1.0


def test_bad_held_out_data_is_named_fit_v_on():
    rng = np.random.default_rng(0)
    net = Sequential([Dense.he(4, 3, rng), ReLU(), Dense.he(3, 2, rng)], input_shape=(4,))
    x = rng.normal(size=(50, 4))
    held_out = x.copy()
    held_out[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"^fit_v_on \(batch 1\): contains 1 NaN"):
        rho(net, x, "a", fit_v_on=held_out)
    with pytest.raises(ValueError, match=r"^fit_v_on \(batch 1\): expected per-sample shape \(4,\), got \(5,\)"):
        rho(net, x, "a", fit_v_on=rng.normal(size=(50, 5)))
    with pytest.raises(ValueError, match=r"^X \(batch 1\): contains 1 NaN"):  # X itself keeps its name
        rho(net, held_out, "a", fit_v_on=x)


def test_in_sample_rho_with_fewer_samples_than_inputs_is_zero_and_never_below():
    """With N ≤ D the regression fits y exactly: every correlation is 1, ρ = 0 (docs/math.md), and a
    correlation cannot exceed 1 but by rounding (Cauchy–Schwarz), so ρ is never negative."""
    values = []
    for seed in range(8):
        rng = np.random.default_rng(seed)
        net = Sequential([Dense.he(20, 6, rng), ReLU(), Dense.he(6, 3, rng)], input_shape=(20,))
        x = rng.normal(size=(12, 20))
        for estimator in ("w", "random"):
            values.append(rho(net, x, estimator).per_neuron[0])
    values = np.concatenate(values)
    assert np.all(values >= 0.0)  # before: down to −2e-15
    np.testing.assert_allclose(values, 0.0, atol=1e-12)


@pytest.mark.parametrize("estimator", ["a", "a+-", "w", "random"])
def test_rho_keeps_the_directions_of_inputs_of_small_spread(estimator):
    """A tenth of the inputs spread 2⁻¹⁰ of the others (a standardisation folded into the weights): their
    directions of Σ have eigenvalues near 1e-6·λ_max, real ones (the rounding of Σ's entries is per row and
    column, of the order of those inputs' own spread).  A floor 2⁻⁴⁰·D·tr Σ for every eigenvalue discarded
    them and ρ was off by 6e-5…7e-3 (in-sample and held out).  Expected: the regression on explicit d̂ in
    standardised coordinates (each input divided by its spread; corr does not change, and Σ there is well
    conditioned; docs/math.md#rho-pseudo-inverse)."""
    rng = np.random.default_rng(26)
    d, n = 100, 2000
    spread = np.ones(d)
    spread[::10] = 2.0 ** -10
    mixing = rng.normal(size=(d, d)) / np.sqrt(d) + np.eye(d)
    x_fit, x_v, x_eval = ((rng.normal(size=(n, d)) @ mixing.T) * spread + 0.5 for _ in range(3))
    net = Sequential([Dense(rng.normal(size=(3, d)) / np.sqrt(d) / spread, [0.1, 0.0, -0.1]), ReLU()])
    patterns = fit_patterns(net, x_fit, estimator, seed=0)
    in_sample = rho(net, x_eval, patterns).per_neuron[0]
    held_out = rho(net, x_eval, patterns, fit_v_on=x_v).per_neuron[0]
    for o in range(3):
        d_hat, y = explicit(net, x_eval, patterns, 0, o)
        d_hat = d_hat / spread
        d_v, y_v = explicit(net, x_v, patterns, 0, o)
        expected = 1 - correlation(d_hat @ regress(d_hat, y), y)
        assert abs(in_sample[o] - expected) <= 1e-8, (o, in_sample[o], expected)
        expected = 1 - correlation(d_hat @ regress(d_v / spread, y_v), y)
        assert abs(held_out[o] - expected) <= 1e-8, (o, held_out[o], expected)
