"""Signal estimators: each test checks an identity of the math, computed independently here.

Observations are rebuilt with plain loops (no library patch extraction), and covariances with
plain means, so these tests do not share code with ``refpattern.patterns``.
"""

import warnings

import numpy as np
import pytest
from conftest import pattern_cnn as cnn
from conftest import record_error
from dense_reference import explicit_padding

from refpattern import Conv2D, Dense, ReLU, Sequential, explain
from refpattern.patterns import (
    Estimator,
    Identity,
    Linear,
    Patterns,
    RandomDirection,
    TwoComponent,
    fit_patterns,
    resolve_estimator,
    rho,
)


def loop_patches(x, layer):
    """Receptive fields by plain loops: rows (n, p, q), columns (C, kh, kw), zero padding
    ``((top, bottom), (left, right))`` (``"same"`` resolved by the closed form in dense_reference)."""
    if isinstance(layer, Dense):
        return x.copy()
    n, c, h, w = x.shape
    kh, kw = layer.kernel_size
    (sh, sw), ((top, bottom), (left, right)) = layer.stride, explicit_padding(layer, h, w)
    ph, pw = top, left  # the first window starts at (−top, −left)
    oh, ow = (h + top + bottom - kh) // sh + 1, (w + left + right - kw) // sw + 1
    rows = []
    for i in range(n):
        for p in range(oh):
            for q in range(ow):
                patch = np.zeros((c, kh, kw))
                for ci in range(c):
                    for u in range(kh):
                        for v in range(kw):
                            r, s = p * sh - ph + u, q * sw - pw + v
                            if 0 <= r < h and 0 <= s < w:
                                patch[ci, u, v] = x[i, ci, r, s]
                rows.append(patch.ravel())
    return np.array(rows)


def observations(net, x):
    """Per kernel layer: (X (M, D), Y = X wᵀ without bias (M, O), gate wᵀx + b > 0 (M, O))."""
    out, activations = [], net.trace(x)
    for index in net.kernel_indices:
        layer = net.layers[index]
        patches = loop_patches(activations[index], layer)
        w = layer.weight.reshape(layer.weight.shape[0], -1)
        y = patches @ w.T
        out.append((patches, y, y + layer.bias > 0))
    return out


def flat(pattern):
    return pattern.reshape(pattern.shape[0], -1)


def assert_zero_relative(value, scale, tol, what):
    relative = np.max(np.abs(value)) / scale
    record_error(relative)
    assert relative <= tol, f"{what}: {relative:.2e} relative"


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(11)
    net = cnn(rng)
    x = rng.normal(0.4, 1.0, (40, 2, 9, 9))  # a mean offset, so the paper variant's E[y] matters
    return net, x, observations(net, x)


def test_S_a_satisfies_eq2_on_its_fitting_data(fitted):
    """cov[x − a·y, y] = 0 (Eq. 2) for every neuron of every layer."""
    net, x, obs = fitted
    patterns = fit_patterns(net, x, "a", batch_size=9)
    for k, (xs, ys, _) in enumerate(obs):
        a = flat(patterns[k].a)
        for o in range(ys.shape[1]):
            y = ys[:, o]
            d = xs - np.outer(y, a[o])
            cov = ((d - d.mean(0)) * (y - y.mean())[:, None]).mean(0)
            scale = np.sqrt((xs ** 2).mean(0)).max() * y.std()
            assert_zero_relative(cov, scale, 1e-10, f"layer {k} neuron {o}")


@pytest.mark.parametrize("variant", ["paper", "regime"])
def test_S_a_pm_satisfies_its_identity_in_each_regime(fitted, variant):
    """paper:  E_r[(x − a_r·y)·(y − E[y])] = 0 with the unconditional E[y];
    regime: cov_r[x − a_r·y, y] = 0 — for both regimes r of every neuron (both have wᵀa_r = 1)."""
    net, x, obs = fitted
    patterns = fit_patterns(net, x, "a+-", variant=variant, batch_size=13)
    checked = 0
    for k, (xs, ys, gates) in enumerate(obs):
        a_plus, a_minus = flat(patterns[k].a_plus), flat(patterns[k].a_minus)
        for o in range(ys.shape[1]):
            y, gate = ys[:, o], gates[:, o]
            for mask, a in ((gate, a_plus[o]), (~gate, a_minus[o])):
                if mask.sum() < 2:
                    continue
                xr, yr = xs[mask], y[mask]
                d = xr - np.outer(yr, a)
                if variant == "paper":
                    identity = (d * (yr - y.mean())[:, None]).mean(0)
                else:
                    identity = ((d - d.mean(0)) * (yr - yr.mean())[:, None]).mean(0)
                scale = np.sqrt((xr ** 2).mean(0)).max() * np.sqrt(((yr - y.mean()) ** 2).mean())
                assert_zero_relative(identity, scale, 1e-10, f"{variant}, layer {k} neuron {o}")
                np.testing.assert_allclose(flat(net.kernel_layers[k].weight)[o] @ a, 1.0, rtol=1e-10)
                checked += 1
    assert checked > 20


def test_paper_S_a_pm_removes_all_covariance_with_y_overall(fitted):
    """Summing the paper identity over both regimes: cov[x − S_a±(x), y] = 0 over all observations."""
    net, x, obs = fitted
    patterns = fit_patterns(net, x, "a+-", variant="paper")
    for k, (xs, ys, gates) in enumerate(obs):
        a_plus, a_minus = flat(patterns[k].a_plus), flat(patterns[k].a_minus)
        for o in range(ys.shape[1]):
            y, gate = ys[:, o], gates[:, o]
            signal = np.where(gate[:, None], np.outer(y, a_plus[o]), np.outer(y, a_minus[o]))
            d = xs - signal
            cov = ((d - d.mean(0)) * (y - y.mean())[:, None]).mean(0)
            scale = np.sqrt((xs ** 2).mean(0)).max() * y.std()
            assert_zero_relative(cov, scale, 1e-10, f"layer {k} neuron {o}")


def test_closed_forms_of_w_and_a(fitted):
    net, x, obs = fitted
    p_w, p_w_without_data = fit_patterns(net, x, "w"), fit_patterns(net, None, "w")
    p_lin = fit_patterns(net, x, "linear")
    for k, layer in enumerate(net.kernel_layers):
        w = flat(layer.weight)
        np.testing.assert_allclose(flat(p_w[k].a), w / (w ** 2).sum(1, keepdims=True), rtol=1e-14)
        np.testing.assert_array_equal(p_w[k].a, p_w_without_data[k].a)
        xs, ys, _ = obs[k]
        cov = ((xs - xs.mean(0))[:, :, None] * (ys - ys.mean(0))[:, None, :]).mean(0)  # (D, O)
        np.testing.assert_allclose(flat(p_lin[k].a), (cov / ys.var(0)).T, rtol=1e-9, atol=1e-12)
        assert p_lin[k].a_plus is p_lin[k].a and p_lin[k].a_minus is p_lin[k].a
    assert p_lin.estimator == Linear() and fit_patterns(net, x, "relu").estimator == TwoComponent("paper")


def test_random_baseline_is_seeded_and_scaled_to_w_a_equal_one(fitted):
    net, x, _ = fitted
    first, again, other = (fit_patterns(net, x, "random", seed=s) for s in (0, 0, 1))
    p_w = fit_patterns(net, x, "w")
    for k, layer in enumerate(net.kernel_layers):
        w = flat(layer.weight)
        np.testing.assert_array_equal(first[k].a, again[k].a)
        assert not np.allclose(first[k].a, other[k].a)
        np.testing.assert_allclose(np.einsum("od,od->o", w, flat(first[k].a)), 1.0, rtol=1e-12)
        # a random direction, not the filter (regression: seeds must not collide with default_rng(seed))
        cosine = np.abs(np.einsum("od,od->o", flat(first[k].a), flat(p_w[k].a))) / (
            np.linalg.norm(flat(first[k].a), axis=1) * np.linalg.norm(flat(p_w[k].a), axis=1))
        assert np.all(cosine < 0.999)
    net0 = Sequential([Dense(np.random.default_rng(0).standard_normal((2, 6)))])
    a = fit_patterns(net0, None, "random", seed=0)[0].a
    assert not np.allclose(a / np.linalg.norm(a, axis=1, keepdims=True),
                           net0.layers[0].weight / np.linalg.norm(net0.layers[0].weight, axis=1, keepdims=True))


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("padding, hw, positions", [
    pytest.param(1, (7, 7), 16, id="symmetric"),
    pytest.param(((0, 2), (3, 2)), (7, 7), 4 * 5, id="asymmetric"),
    pytest.param("same", (8, 7), 16, id="same-rows-0-1"),   # stride 2, 3 × 3 on 8 rows: 0 above, 1 below
])
def test_conv_patterns_equal_dense_patterns_over_patches(padding, hw, positions, backend):
    """A convolution's patterns are those of a Dense layer applied to its patches (as samples), for
    symmetric, asymmetric and "same" padding (patches by plain loops over the padded input)."""
    rng = np.random.default_rng(12)
    conv = Conv2D(rng.normal(0, 0.5, (4, 2, 3, 3)), rng.normal(0, 0.2, 4), stride=2, padding=padding)
    x = rng.normal(0.2, 1.0, (12, 2) + hw)
    patches = loop_patches(x, conv)
    dense = Dense(conv.weight.reshape(4, -1), conv.bias)
    for estimator, variant in (("a", "paper"), ("a+-", "paper"), ("a+-", "regime"), ("w", "paper")):
        p_conv = fit_patterns(Sequential([conv]), x, estimator, variant=variant, batch_size=5, backend=backend)
        p_dense = fit_patterns(Sequential([dense]), patches, estimator, variant=variant, batch_size=64,
                               backend=backend)
        for got, want in ((p_conv[0].a_plus, p_dense[0].a_plus), (p_conv[0].a_minus, p_dense[0].a_minus)):
            assert got.shape == (4, 2, 3, 3)
            scale = np.max(np.abs(want))
            assert np.max(np.abs(got.reshape(4, -1) - want)) <= 1e-12 * scale, (estimator, variant)
        np.testing.assert_array_equal(p_conv[0].counts.n_plus, p_dense[0].counts.n_plus)
    assert p_conv.n_samples[0] == patches.shape[0] == 12 * positions


def test_paper_variant_is_biased_by_the_distractor_mean_on_the_toy():
    """docs/math.md#sapm-mu-bias: with ε ~ N(μ, 1), y ~ U[−1, 1], the paper's a± = a_s ± 1.5μ·a_d,
    while the regime variant recovers a_s."""
    rng = np.random.default_rng(13)
    n, mu = 200_000, 0.4
    y, eps = rng.uniform(-1, 1, n), rng.normal(mu, 1.0, n)
    a_s, a_d = np.array([1.0, 0.0]), np.array([1.0, 1.0])
    x = np.outer(y, a_s) + np.outer(eps, a_d)
    net = Sequential([Dense([[1.0, -1.0]])])
    paper = fit_patterns(net, x, "a+-", variant="paper", batch_size=50_000)[0]
    regime = fit_patterns(net, x, "a+-", variant="regime", batch_size=50_000)[0]
    np.testing.assert_allclose(paper.a_plus[0], a_s + 1.5 * mu * a_d, atol=0.02)
    np.testing.assert_allclose(paper.a_minus[0], a_s - 1.5 * mu * a_d, atol=0.02)
    np.testing.assert_allclose(regime.a_plus[0], a_s, atol=0.02)
    np.testing.assert_allclose(regime.a_minus[0], a_s, atol=0.02)


def degenerate_net(rng):
    """Dense 5→4: neuron 0 normal, 1 dead (never open), 2 zero kernel, 3 never closed."""
    w = rng.normal(size=(4, 5))
    w[2] = 0.0
    return Sequential([Dense(w, [0.0, -1e3, 0.0, 1e3]), ReLU(), Dense(rng.normal(size=(2, 4)))])


@pytest.mark.parametrize("estimator,variant", [("a+-", "paper"), ("a+-", "regime"), ("a", "paper"),
                                               ("w", "paper"), ("random", "paper")])
def test_degenerate_neurons_get_zero_patterns_and_a_report(estimator, variant):
    rng = np.random.default_rng(14)
    net = degenerate_net(rng)
    x = rng.normal(size=(200, 5))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        patterns = fit_patterns(net, x, estimator, variant=variant)
        report = patterns.report()
    first = patterns[0]
    for layer in patterns:
        assert np.all(np.isfinite(layer.a_plus)) and np.all(np.isfinite(layer.a_minus))
    entries = {(d.neuron, d.regime): d for d in first.degenerate if d.zeroed}
    assert np.all(first.a_plus[2] == 0) and np.all(first.a_minus[2] == 0)  # zero kernel everywhere
    if estimator == "a+-":
        assert np.all(first.a_plus[1] == 0) and np.any(first.a_minus[1] != 0)  # dead: no open sample
        assert np.all(first.a_minus[3] == 0) and np.any(first.a_plus[3] != 0)  # never closed
        assert {(1, "plus"), (2, "plus"), (2, "minus"), (3, "minus")} <= set(entries)
        assert entries[(1, "plus")].count == 0 and entries[(3, "minus")].count == 0
        assert set(entries) <= {(1, "plus"), (2, "plus"), (2, "minus"), (3, "minus")}
        assert "neuron 1, regime plus" in report and "neuron 3, regime minus" in report
    else:
        assert set(entries) == {(2, "all")}
        assert "neuron 2, regime all" in report
    np.testing.assert_array_equal(first.counts.n_plus, [(x @ net.layers[0].weight[0] > 0).sum(), 0, 0, 200])
    # the layer above sees two constant inputs (dead unit 1, zero-kernel unit 2): zero pattern there
    if estimator in ("a", "a+-"):
        np.testing.assert_array_equal(patterns[1].a_plus[:, 1:3], 0.0)


def test_few_samples_are_reported_but_kept():
    rng = np.random.default_rng(15)
    w = rng.normal(size=(1, 3))
    x = rng.normal(size=(300, 3))
    y = x @ w[0]
    bias = -np.sort(y)[-4]  # exactly 3 samples with wᵀx + b > 0
    net = Sequential([Dense(w, [bias])])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        patterns = fit_patterns(net, x, "a+-")
    (entry,) = patterns[0].degenerate
    assert (entry.neuron, entry.regime, entry.count, entry.zeroed) == (0, "plus", 3, False)
    assert np.any(patterns[0].a_plus != 0)
    assert "few samples" in patterns.report()


def test_identity_estimator_and_bad_names():
    rng = np.random.default_rng(16)
    net, x = cnn(rng), rng.normal(size=(3, 2, 9, 9))
    p = fit_patterns(net, x, "x")
    assert isinstance(p, Patterns) and p.estimator == Identity() and len(p) == 4
    assert all(layer.a is None and layer.a_plus is None and layer.a_minus is None for layer in p)
    assert fit_patterns(net, x, "a+-").variant == "paper" and fit_patterns(net, x, "a").variant is None
    with pytest.raises(ValueError, match="estimator"):
        fit_patterns(net, x, "gradient")
    with pytest.raises(ValueError, match="variant"):
        fit_patterns(net, x, "a+-", variant="median")
    with pytest.raises(ValueError, match="needs data"):
        fit_patterns(net, None, "a")


class MeanInputEstimator(Estimator):
    """A toy estimator, defined here to show that adding one is one class: the pattern points along
    the mean observation, ``a = E[x] / (wᵀE[x])`` (so that ``wᵀa = 1``)."""

    name, label = "test-mean-input", "S_mean"
    statistics = ("n", "sum_x")

    def from_statistics(self, stats, out):
        mean = stats.shift + stats.sum_x / stats.n              # E[x], back in unshifted coordinates
        scale = stats.weight @ mean                             # wᵀE[x] per neuron
        zero = scale == 0
        out["a"][...] = np.where(zero[:, None], 0.0, mean[None, :] / np.where(zero, 1.0, scale)[:, None])
        return [(o, "all", "wᵀE[x] = 0", True) for o in np.flatnonzero(zero)]


def test_an_estimator_is_one_class(fitted, tmp_path):
    """The toy estimator above plugs into the fit, ρ, PatternNet and the file format without any other change."""
    net, x, obs = fitted
    for given in ("test-mean-input", MeanInputEstimator, MeanInputEstimator()):
        patterns = fit_patterns(net, x, given, batch_size=7)
        assert patterns.estimator == MeanInputEstimator() and patterns.variant is None and patterns.seed is None
        for k, (xs, _, _) in enumerate(obs):                    # the definition, on explicit patches
            w = flat(net.kernel_layers[k].weight)
            expected = xs.mean(0)[None, :] / (w @ xs.mean(0))[:, None]
            np.testing.assert_allclose(flat(patterns[k].a), expected, rtol=1e-12)
            np.testing.assert_allclose(np.einsum("od,od->o", w, flat(patterns[k].a)), 1.0, rtol=1e-12)
    patterns.save(tmp_path / "mean.npz")
    loaded = Patterns.load(tmp_path / "mean.npz")
    assert loaded.estimator == MeanInputEstimator()
    assert all(np.array_equal(a.a, b.a) for a, b in zip(loaded, patterns))
    values = rho(net, x, "test-mean-input")
    assert values.shape == (4,) and np.all(np.asarray(values) <= 1 + 1e-9)
    signal = explain(net, x[:2], "pattern.net", patterns=patterns)
    assert signal.shape == x[:2].shape and np.all(np.isfinite(signal))
    with pytest.raises(ValueError, match="needs data"):
        fit_patterns(net, None, "test-mean-input")


def test_estimator_names_and_options_are_resolved_once_and_checked():
    assert resolve_estimator("relu") == resolve_estimator("a+-") == TwoComponent("paper")
    assert resolve_estimator("linear") == Linear() and resolve_estimator("identity") == Identity()
    assert resolve_estimator("random", seed=4) == RandomDirection(seed=4) != RandomDirection(seed=5)
    assert resolve_estimator("a", variant="regime", seed=3) == Linear()  # options it has not are ignored
    regime = TwoComponent("regime")
    assert resolve_estimator(regime) is regime and resolve_estimator(regime, variant="regime") is regime
    with pytest.raises(ValueError, match=r"variant='paper' contradicts"):
        resolve_estimator(regime, variant="paper")
    with pytest.raises(TypeError, match=r"seed: expected a non-negative int, got 1.5"):
        resolve_estimator("random", seed=1.5)
    with pytest.raises(ValueError, match=r"seed: expected a non-negative int, got -1"):
        resolve_estimator("random", seed=-1)
    with pytest.raises(ValueError, match=r"estimator must be one of 'x', .*got 'S_a'"):
        resolve_estimator("S_a")
    with pytest.raises(TypeError, match="estimator: expected a name"):
        resolve_estimator(3)
    with pytest.raises(ValueError, match="has no variant"):
        Linear(variant="paper")
    with pytest.raises(ValueError, match="name 'a' is taken"):
        type("Another", (Estimator,), {"name": "a"})
    with pytest.raises(TypeError, match="fields must be one of"):
        type("Odd", (Estimator,), {"name": "test-odd", "fields": ("b",)})
