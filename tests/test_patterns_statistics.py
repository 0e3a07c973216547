"""Sufficient statistics: the per-batch sums, streaming, merging, and stability under a large offset."""

import numpy as np
import pytest
from conftest import check_merge_of_opposite_regimes, record_error
from conftest import pattern_cnn as cnn

from refpattern import Conv2D, Dense, Flatten, ReLU, Sequential
from refpattern.patterns import batch_sums, fit_patterns, fit_statistics, patterns_from_statistics
from refpattern.patterns.statistics import SUM_FIELDS, LayerStatistics


def data(rng, n=40):
    return rng.normal(0.3, 1.0, (n, 2, 9, 9))


def assert_close_relative(actual, expected, tol, what=""):
    actual, expected = np.asarray(actual), np.asarray(expected)
    scale = max(np.max(np.abs(expected)), 1e-300)
    error = np.max(np.abs(actual - expected)) / scale
    record_error(error, what.split(",")[0])
    assert error <= tol, f"{what}: relative error {error:.2e}"


def all_patterns(p):
    return [arr for layer in p for arr in (layer.a_plus, layer.a_minus)]


def test_batch_sums_are_the_defining_sums():
    rng = np.random.default_rng(1)
    m, d, o = 23, 5, 4
    patches, y = rng.normal(size=(m, d)), rng.normal(size=(m, o))
    gate = rng.random((m, o)) > 0.4
    sums = batch_sums(patches, y, gate, second_moment=True)
    for j in range(o):
        g = gate[:, j]
        assert sums.n_plus[j] == g.sum()
        np.testing.assert_allclose(sums.sum_x_plus[:, j], patches[g].sum(0), rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(sums.sum_y_plus[j], y[g, j].sum(), rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(sums.sum_yy_plus[j], (y[g, j] ** 2).sum(), rtol=1e-13)
        np.testing.assert_allclose(sums.sum_xy_plus[:, j], (patches[g] * y[g, j][:, None]).sum(0), rtol=1e-13,
                                   atol=1e-13)
        # the closed regime, each sum over its own observations
        np.testing.assert_allclose(sums.sum_y_minus[j], y[~g, j].sum(), rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(sums.sum_yy_minus[j], (y[~g, j] ** 2).sum(), rtol=1e-13)
        np.testing.assert_allclose(sums.sum_xy_minus[:, j], (patches[~g] * y[~g, j][:, None]).sum(0), rtol=1e-13,
                                   atol=1e-13)
    assert sums.n == m
    np.testing.assert_allclose(sums.sum_xx, sum(np.outer(p, p) for p in patches), rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("estimator,variant", [("a", "paper"), ("a+-", "paper"), ("a+-", "regime")])
def test_streaming_in_any_batches_gives_the_same_patterns(estimator, variant):
    rng = np.random.default_rng(2)
    net, x = cnn(rng, first_padding=1), data(rng, 30)
    reference = fit_patterns(net, x, estimator, batch_size=len(x), variant=variant)
    for batch_size in (1, 7):
        streamed = fit_patterns(net, x, estimator, batch_size=batch_size, variant=variant)
        for got, want in zip(all_patterns(streamed), all_patterns(reference)):
            assert_close_relative(got, want, 1e-12, f"batch_size={batch_size}")
    as_iterable = fit_patterns(net, (x[i:i + 11] for i in range(0, 30, 11)), estimator, variant=variant)
    for got, want in zip(all_patterns(as_iterable), all_patterns(reference)):
        assert_close_relative(got, want, 1e-12, "generator of batches")
    np.testing.assert_array_equal(reference.n_samples, [30 * 81, 30 * 25, 30, 30])


def test_merging_two_halves_equals_one_pass():
    rng = np.random.default_rng(3)
    net, x = cnn(rng, first_padding=1), data(rng, 30)
    full = fit_statistics(net, x, batch_size=30)
    first, second = fit_statistics(net, x[:13], batch_size=5), fit_statistics(net, x[13:] + 0.0, batch_size=4)
    merged = first.merge(second)
    assert list(merged.n_samples) == list(full.n_samples)
    for estimator, variant in (("a", "paper"), ("a+-", "paper"), ("a+-", "regime")):
        got = patterns_from_statistics(net, merged, estimator, variant)
        want = patterns_from_statistics(net, full, estimator, variant)
        for g, w in zip(all_patterns(got), all_patterns(want)):
            assert_close_relative(g, w, 1e-12, f"merge, {estimator} {variant}")
    # the merged sums are the one-pass sums once both are taken around the same shift
    for m, f in zip(merged, full):
        recentred = f.recentered(m.shift)
        for name in SUM_FIELDS:
            if getattr(m, name) is not None:
                assert_close_relative(getattr(m, name), getattr(recentred, name), 1e-12, name)
    # merging is symmetric and leaves both inputs unchanged
    before = first[0].sum_xy.copy()
    other_way = second.merge(first)
    np.testing.assert_array_equal(first[0].sum_xy, before)
    for g, w in zip(all_patterns(patterns_from_statistics(net, other_way, "a+-")),
                    all_patterns(patterns_from_statistics(net, merged, "a+-"))):
        assert_close_relative(g, w, 1e-12, "merge order")


def central_moments(stats):
    """Original-coordinate means and (co)variances of a LayerStatistics, all observations and gate-open."""
    n, n_plus = stats.n, stats.n_plus
    mx, my = stats.sum_x / n, stats.sum_y / n
    mx_p, my_p = stats.sum_x_plus / n_plus, stats.sum_y_plus / n_plus
    return {
        "mean_x": stats.shift + mx,
        "mean_y": stats.gamma + my,
        "cov_xy": stats.sum_xy / n - np.outer(mx, my),
        "var_y": stats.sum_yy / n - my ** 2,
        "cov_xx": stats.sum_xx / n - np.outer(mx, mx),
        "mean_x_plus": stats.shift[:, None] + mx_p,
        "cov_xy_plus": stats.sum_xy_plus / n_plus - mx_p * my_p,
        "var_y_plus": stats.sum_yy_plus / n_plus - my_p ** 2,
    }


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_merging_statistics_that_keep_opposite_regimes_equals_one_pass(backend):
    """docs/math.md#regime-input-sums: a merge brings the other side's stored input sums to its own
    flags (:func:`conftest.check_merge_of_opposite_regimes`; the CUDA simulator runs it too)."""
    check_merge_of_opposite_regimes(backend)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_the_regime_kept_is_chosen_by_the_first_samples_of_the_first_batch(backend):
    """``closed_inputs`` is ``n₋ < n₊`` over the observations of the first ``REGIME_CHOICE_SAMPLES`` samples of
    the first batch (each sample of a convolution gives one observation per output position), on the
    readable path and on the fused Numba pass alike; the rest of that batch does not vote."""
    from refpattern.patterns.statistics import REGIME_CHOICE_SAMPLES
    rng = np.random.default_rng(45)
    conv = Conv2D(rng.normal(size=(3, 2, 2, 2)), np.zeros(3), padding=1)
    net = Sequential([conv, ReLU(), Flatten(), Dense(rng.normal(size=(2, 3 * 4 * 4)), np.zeros(2))],
                     input_shape=(2, 3, 3))
    first = rng.normal(size=(REGIME_CHOICE_SAMPLES, 2, 3, 3))
    rest = -40.0 * first[:1].repeat(5 * REGIME_CHOICE_SAMPLES, axis=0)  # 5× as many, the other way
    x = np.concatenate([first, rest])
    stats = fit_statistics(net, x, batch_size=len(x), backend=backend, progress=False)
    z = conv.forward(first)
    opened = (z > 0).sum(axis=(0, 2, 3))
    closed = z.shape[0] * z.shape[2] * z.shape[3] - opened
    np.testing.assert_array_equal(stats[0].closed_inputs, closed < opened)
    z_all = conv.forward(x)  # the whole first batch would choose otherwise for some neuron: the test can tell
    assert np.any(((z_all <= 0).sum(axis=(0, 2, 3)) < (z_all > 0).sum(axis=(0, 2, 3))) != (closed < opened))
    hidden = net.layers[3].forward(net.layers[2].forward(net.layers[1].forward(z)))
    np.testing.assert_array_equal(stats[1].closed_inputs, (hidden <= 0).sum(0) < (hidden > 0).sum(0))
    assert stats[0].n == len(x) * 16


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_the_regime_kept_is_chosen_by_the_first_batch_and_stays(backend):
    """``closed_inputs`` is set by the first batch (True where fewer of its observations close the gate
    than open it) and stays when later batches make the other regime the smaller one: the stored sums
    then hold the larger regime and the small one is the difference, still a correct sum (to the
    rounding of the sums over all n observations, at most ``(n + 2)·u·Σ|x̃|``)."""
    rng = np.random.default_rng(44)
    weight = np.array([[1.0, 0.5, -0.25], [-1.0, -0.5, 0.25]])  # opposite outputs: opposite gates
    net = Sequential([Dense(weight, [0.0, 0.0])])
    first, later = rng.normal(1.0, 1.0, (40, 3)), rng.normal(-1.0, 1.0, (600, 3))
    x = np.concatenate([first, later])
    stats = fit_statistics(net, x, batch_size=40, backend=backend, progress=False)[0]
    opened = (x @ weight.T > 0)
    np.testing.assert_array_equal(stats.n_plus, opened.sum(0))
    np.testing.assert_array_equal(stats.closed_inputs, [True, False])  # the first batch: neuron 0 mostly open
    assert stats.n_plus[0] < stats.n_minus[0] and stats.n_plus[1] > stats.n_minus[1]  # all data: the other way
    xt = x.astype(np.longdouble) - stats.shift.astype(np.longdouble)
    bound = (len(x) + 2) * 2.0 ** -53 * np.abs(xt).sum(0)
    for o in range(2):
        for name, got, members in (("open", stats.open_input_sums(), opened[:, o]),
                                   ("closed", stats.closed_input_sums(), ~opened[:, o])):
            error = np.abs(got[:, o].astype(np.longdouble) - xt[members].sum(0))
            record_error(float(np.max(error / np.abs(xt).sum(0))), f"{name} input sums after the flip")
            assert np.all(error <= bound), (o, name)
        np.testing.assert_array_equal(stats.sum_x_plus[:, o], stats.open_input_sums()[:, o])


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_preset_regimes_hold_from_the_first_batch_and_are_refused_once_data_are_in(backend):
    """Flags preset before any data are the ones the sums keep (the first batch would choose [True,
    False] here, the preset [False, True] stays), and each regime's input sums are still the sums of its
    observations; the flags passed are not kept by reference; a wrong dtype or shape, or a preset once
    the sums hold data, is refused naming the layer."""
    weight = np.array([[1.0, 0.5, -0.25], [-1.0, -0.5, 0.25]])
    layer = Dense(weight, [0.0, 0.0])
    x = np.random.default_rng(45).normal(1.0, 1.0, (40, 3))
    stats = LayerStatistics(layer, 0, 0)
    flags = np.array([False, True])
    stats.preset_regimes(flags)
    flags[:] = True
    if backend == "numba":
        stats.forward_accumulate(x, backend)
    else:
        stats.accumulate(x, layer.forward(x), backend)
    np.testing.assert_array_equal(stats.closed_inputs, [False, True])
    opened = x @ weight.T > 0
    xt = x - stats.shift
    for o in range(2):
        np.testing.assert_allclose(stats.open_input_sums()[:, o], xt[opened[:, o]].sum(0), rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(stats.closed_input_sums()[:, o], xt[~opened[:, o]].sum(0), rtol=1e-13, atol=1e-13)
    with pytest.raises(ValueError, match=r"Dense.*only be preset before any data; these statistics hold 40"):
        stats.preset_regimes([True, True])
    fresh = LayerStatistics(layer, 0, 0)
    with pytest.raises(TypeError, match=r"Dense.*closed_inputs must be an array of bool, got dtype int64"):
        fresh.preset_regimes(np.array([0, 1]))
    with pytest.raises(ValueError, match=r"Dense.*closed_inputs must have shape \(2,\).*got \(3,\)"):
        fresh.preset_regimes([True, False, True])


def test_recentring_changes_no_moment():
    rng = np.random.default_rng(4)
    net, x = cnn(rng), data(rng, 10)
    stats = fit_statistics(net, x, second_moment=True)[1]
    assert np.all(stats.n_plus > 0)
    want = central_moments(stats)
    for new_shift in (stats.shift + 2.5, stats.shift - rng.normal(size=stats.shift.shape), np.zeros_like(stats.shift)):
        got = central_moments(stats.recentered(new_shift))
        for name in want:
            assert_close_relative(got[name], want[name], 1e-12, name)


def test_large_input_offset_leaves_S_a_patterns_unchanged():
    """x → x + 1e6 with the first bias compensated (b' = b − Σ W·1e6) is the same network."""
    rng = np.random.default_rng(5)
    net, x = cnn(rng, first_padding=0), data(rng, 40)
    offset = 1e6
    first = net.layers[0]
    shifted_first = Conv2D(first.weight, first.bias - offset * first.weight.sum(axis=(1, 2, 3)))
    shifted_net = net.with_layers((shifted_first,) + net.layers[1:])
    np.testing.assert_allclose(shifted_net.logits(x + offset), net.logits(x), rtol=0, atol=1e-8)
    want = fit_patterns(net, x, "a", batch_size=16)
    got = fit_patterns(shifted_net, x + offset, "a", batch_size=16)
    for k, (g, w) in enumerate(zip(got, want)):
        assert_close_relative(g.a, w.a, 1e-9, f"S_a, layer {k}")
    # S_a± (regime variant) is shift-invariant too; above the first layer the network's own
    # forward pass (W·(x + 1e6) − W·1e6) already differs by ~1e-10, amplified by the regime split.
    want = fit_patterns(net, x, "a+-", variant="regime", batch_size=16)
    got = fit_patterns(shifted_net, x + offset, "a+-", variant="regime", batch_size=16)
    for k, (g, w) in enumerate(zip(got, want)):
        tol = 1e-9 if k == 0 else 1e-7
        assert_close_relative(g.a_plus, w.a_plus, tol, f"S_a± regime, layer {k}")
        assert_close_relative(g.a_minus, w.a_minus, tol, f"S_a± regime, layer {k}")


def test_memory_does_not_grow_with_the_data():
    rng = np.random.default_rng(6)
    net = cnn(rng)
    small, large = fit_statistics(net, data(rng, 3)), fit_statistics(net, data(rng, 50), batch_size=8)
    for s, big in zip(small, large):
        for name in SUM_FIELDS[1:]:
            if getattr(s, name) is not None:
                assert getattr(s, name).shape == getattr(big, name).shape


def test_backend_names():
    rng = np.random.default_rng(7)
    net, x = cnn(rng), data(rng, 4)
    with pytest.raises(ValueError, match="backend"):
        fit_statistics(net, x, backend="fortran")
    with pytest.raises(ValueError, match="backend"):
        fit_patterns(net, x, backend="gpu-magic")
    reference = fit_patterns(net, x, "a+-", backend="numpy")
    pytest.importorskip("numba")
    for got, want in zip(all_patterns(fit_patterns(net, x, "a+-", backend="numba")), all_patterns(reference)):
        assert_close_relative(got, want, 1e-10, "numba forward pass")


def test_merge_refuses_statistics_of_another_network():
    rng = np.random.default_rng(8)
    x = data(rng, 4)
    a, b = fit_statistics(cnn(rng), x), fit_statistics(cnn(rng), x)
    with pytest.raises(ValueError, match="different layers"):
        a.merge(b)


def test_bad_inputs_are_refused():
    rng = np.random.default_rng(9)
    net = cnn(rng)
    with pytest.raises(ValueError, match="no data"):
        fit_statistics(net, iter([]))
    with pytest.raises(ValueError, match="batch_size"):
        fit_statistics(net, data(rng, 2), batch_size=0)
    with pytest.raises(TypeError):
        fit_statistics(net, data(rng, 2).astype(int))


def test_dense_statistics_see_every_sample_once():
    rng = np.random.default_rng(10)
    net = Sequential([Dense(rng.normal(size=(3, 4)), [0.1, -5.0, 5.0])])
    x = rng.normal(size=(50, 4))
    stats = fit_statistics(net, x, batch_size=9)[0]
    assert stats.n == 50
    np.testing.assert_array_equal(stats.n_plus, (net.logits(x) > 0).sum(0))
    mean = stats.shift + stats.sum_x / stats.n
    np.testing.assert_allclose(mean, x.mean(0), rtol=1e-13, atol=1e-15)


def test_progress_only_on_a_terminal_or_when_asked(capsys):
    rng = np.random.default_rng(11)
    net, x = cnn(rng), data(rng, 5)
    fit_patterns(net, x, "a", batch_size=2)  # stderr is captured, not a terminal: silent
    assert capsys.readouterr().err == ""
    fit_patterns(net, x, "a", batch_size=2, progress=True)
    err = capsys.readouterr()
    assert "5/5 samples" in err.err and err.out == ""


@pytest.mark.parametrize("enabled", ["no", "False", 0, 1.0, [True]])
def test_a_reporter_is_switched_by_a_bool_not_by_what_reads_as_true(enabled):
    from refpattern.progress import Progress

    with pytest.raises(TypeError, match="Progress enabled: expected True, False or None"):
        Progress("fit", enabled=enabled)  # before: "no" (a non-empty string) switched it on
    assert Progress("fit", enabled=np.bool_(False)).enabled is False


def test_the_shift_lies_on_a_binary_grid_a_thousandth_of_each_spread():
    from refpattern.patterns.statistics import SHIFT_GRID_BITS, grid_shift

    rng = np.random.default_rng(3)
    low = rng.normal(size=50) * 10.0 ** rng.integers(-5, 12, size=50)
    spread = rng.uniform(1e-3, 1e3, size=50)
    mean = low + spread * rng.uniform(size=50)
    shift = grid_shift(mean, low, low + spread)
    step = 2.0 ** (np.floor(np.log2(spread)) - SHIFT_GRID_BITS)
    assert np.all(shift / step == np.round(shift / step))  # on the grid (a power of two: exact division)
    assert np.all(np.abs(shift - mean) <= step / 2)  # the nearest grid point: at most spread/2^11 from the mean
    constant = grid_shift([0.1, 3.7], [0.1, 3.7], [0.1, 3.7])
    assert constant.tolist() == [0.1, 3.7]  # a constant feature: its value, so that x − c = 0 exactly


def test_integer_data_and_weights_fit_exactly_on_every_backend():
    """Integer inputs and weights: every pre-activation is an exact integer, and with the shift on a
    binary grid so are ``x − c`` and the fused pass's ``ỹ + (b + Wc)``; the numba backend, which reads
    each layer's output off the shifted product, then hands every layer the numbers ``net.forward``
    gives, and both backends count exactly the open gates (``y > 0``) of integer arithmetic.  With the
    shift at the unrounded mean, pre-activations that are exactly 0 came out of the fused pass as
    ±rounding, and the numba fit's S_a± patterns differed from numpy's by up to 3 %."""
    pytest.importorskip("numba")
    rng = np.random.default_rng(0)

    def conv(c_in, c_out):
        return Conv2D(rng.integers(-1, 2, size=(c_out, c_in, 3, 3)).astype(float), None, padding=1)

    from refpattern import Flatten, ReLU

    net = Sequential([conv(1, 4), ReLU(), conv(4, 4), ReLU(), conv(4, 4), ReLU(), Flatten(),
                      Dense(rng.integers(-1, 2, size=(3, 4 * 64)).astype(float))], input_shape=(1, 8, 8))
    x = rng.integers(-2, 3, size=(200, 1, 8, 8)).astype(float)
    # the open gates of integer arithmetic, layer by layer (int64 throughout)
    exact_open, a = [], x.astype(np.int64)
    for layer in net.layers:
        if isinstance(layer, Conv2D):
            w = layer.weight.astype(np.int64)
            padded = np.pad(a, ((0, 0), (0, 0), (1, 1), (1, 1)))
            z = np.zeros((a.shape[0], w.shape[0]) + a.shape[2:], dtype=np.int64)
            for i in range(3):
                for j in range(3):
                    z += np.einsum("ncij,oc->noij", padded[:, :, i:i + a.shape[2], j:j + a.shape[3]], w[:, :, i, j])
            exact_open.append((z > 0).sum(axis=(0, 2, 3)))
            a = z
        elif isinstance(layer, Dense):
            z = a @ layer.weight.astype(np.int64).T
            exact_open.append((z > 0).sum(axis=0))
            a = z
        elif isinstance(layer, ReLU):
            a = np.maximum(a, 0)
        else:
            a = a.reshape(len(a), -1)
    reference, fused = fit_statistics(net, x, backend="numpy"), fit_statistics(net, x, backend="numba")
    for k, (ours, theirs, counts) in enumerate(zip(fused, reference, exact_open)):
        np.testing.assert_array_equal(theirs.n_plus, counts, err_msg=f"numpy backend, kernel layer {k}")
        np.testing.assert_array_equal(ours.n_plus, counts, err_msg=f"numba backend, kernel layer {k}")
        for name in ("sum_x", "sum_y_minus", "sum_x_plus", "sum_y_plus", "sum_xy_minus", "sum_xy_plus"):
            np.testing.assert_array_equal(getattr(ours, name), getattr(theirs, name), err_msg=f"{name}, layer {k}")
    for ours, theirs in zip(all_patterns(fit_patterns(net, x, "a+-", backend="numba", progress=False)),
                            all_patterns(fit_patterns(net, x, "a+-", backend="numpy", progress=False))):
        np.testing.assert_array_equal(ours, theirs)


def three_observation_regime(regime):
    """200 000 correlated observations (D = 3) and one neuron whose gate is ``regime`` ("closed" or
    "open") for exactly the 3 observations at that end of its output."""
    rng = np.random.default_rng(41)
    x = rng.normal(size=(200_000, 3)) @ np.array([[1.0, 0.6, 0.2], [0.0, 0.8, 0.3], [0.0, 0.0, 0.9]])
    weight = np.array([[1.0, 0.5, -0.25]])
    ordered = np.sort(x @ weight[0])
    # the gate is z = y + b > 0: the three smallest outputs close it, or only the three largest open it
    bias = -0.5 * (ordered[2] + ordered[3]) if regime == "closed" else -0.5 * (ordered[-3] + ordered[-4])
    z = (x @ weight.T + bias)[:, 0]
    return x, weight, bias, (z <= 0) if regime == "closed" else (z > 0)


@pytest.mark.parametrize("batch_size", [200_000, 256])
@pytest.mark.parametrize("regime", ["closed", "open"])
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_a_regime_of_three_observations_keeps_the_accuracy_of_its_own_terms(backend, regime, batch_size):
    """Each regime's sums of ỹ are summed over its own observations (docs/math.md#statistics-regimes):
    a gate closed (or open) for 3 of 200 000 observations, where Σx̃ỹ over all of them is ~10⁵ times
    that regime's.  As the difference Σ − Σ₊ the closed sums carried the rounding of the sums over
    all observations (~1e-11 of their own terms here); summed directly, that of their own terms.

    The regime's input sums Σx̃(1 − g) (or Σx̃g) too: the third block keeps the input sums of the
    regime that was the smaller one in the first batch (docs/math.md#regime-input-sums).  As the
    difference Σx̃ − Σx̃g the closed regime's were off by 3e3–3e5 u of their own terms, and the regime
    variant's a₋ by 1.5e6–3e7 ulps; now the pattern is held to the conditioning of the 3 observations'
    covariance."""
    x, weight, bias, members = three_observation_regime(regime)
    net = Sequential([Dense(weight, [bias])])
    statistics = fit_statistics(net, x, batch_size=batch_size, backend=backend, progress=False)
    stats = statistics[0]
    count = stats.n_minus[0] if regime == "closed" else stats.n_plus[0]
    assert count == members.sum() == 3
    assert stats.closed_inputs[0] == (regime == "closed")  # the first batch's smaller regime
    # an independent evaluation of the regime's sums, around the same shift, in extended precision
    xt = x[members].astype(np.longdouble) - stats.shift.astype(np.longdouble)
    yt = xt @ weight[0].astype(np.longdouble)
    magnitude_y = np.abs(xt) @ np.abs(weight[0]).astype(np.longdouble)  # what rounding of ỹ is relative to
    sign = "minus" if regime == "closed" else "plus"
    inputs = stats.closed_input_sums() if regime == "closed" else stats.open_input_sums()
    for name, got, exact, terms in (
            ("sum_xy_" + sign, getattr(stats, "sum_xy_" + sign), (xt * yt[:, None]).sum(0),
             (np.abs(xt) * magnitude_y[:, None]).sum(0)),
            ("sum_y_" + sign, getattr(stats, "sum_y_" + sign), yt.sum(), magnitude_y.sum()),
            ("sum_yy_" + sign, getattr(stats, "sum_yy_" + sign), (yt * yt).sum(), (magnitude_y * magnitude_y).sum()),
            ("input sums", inputs, xt.sum(0), np.abs(xt).sum(0))):
        error = np.abs(np.asarray(got).reshape(-1).astype(np.longdouble) - exact) / terms
        record_error(float(np.max(error)), f"{regime} regime of 3 in 200 000, {name}")
        # ỹ = wᵀx̃ from D = 3 products, then m = 3 terms: |error| <= γ_(D+m+2)·terms, γ_k ≈ k·2⁻⁵³ (doubled here);
        # the difference Σ − Σ₊ gave 2e-15 (Σỹ), 2e-14 (Σỹ²), 2e-13 (Σx̃ỹ), 3e-13..4e-11 (Σx̃(1 − g))
        assert float(np.max(error)) <= 2 * 8 * 2.0 ** -53, (name, float(np.max(error)))
    # the regime variant's pattern, cov_r(x, y)/var_r(y), against the 3 observations in extended precision;
    # the moments E_r[x̃ỹ] − E_r[x̃]E_r[ỹ] and E_r[ỹ²] − E_r[ỹ]² cancel: their sums' relative rounding
    # (above: ~γ_8 of the terms) is amplified by the terms over the result, κ = (E|x̃ỹ| + |E x̃||E ỹ|)/|cov|
    patterns = patterns_from_statistics(net, statistics, "a+-", "regime")
    got = (patterns[0].a_minus if regime == "closed" else patterns[0].a_plus)[0].astype(np.longdouble)
    mean_x, mean_y = xt.mean(0), yt.mean()
    covariance = (xt * yt[:, None]).mean(0) - mean_x * mean_y
    variance = (yt * yt).mean() - mean_y ** 2
    want = covariance / variance
    kappa = ((np.abs(xt) * magnitude_y[:, None]).mean(0) + np.abs(mean_x) * np.abs(mean_y)) / np.abs(covariance)
    kappa = kappa + ((magnitude_y ** 2).mean() + mean_y ** 2) / variance
    relative = np.abs(got - want) / (np.abs(want) * kappa)
    record_error(float(np.max(relative)), f"{regime} regime of 3, a_{sign} over its conditioning")
    assert float(np.max(relative)) <= 4 * 8 * 2.0 ** -53, float(np.max(relative))


def test_the_shift_moments_are_those_of_the_patch_rows():
    """The shift's per-feature mean, smallest and largest value (``_observation_moments``, read from
    strided slices of the padded input) equal those of the rows of the patch matrix, on strided,
    asymmetrically padded and "same" convolutions."""
    from refpattern.kernels.numpy_reference import patch_matrix
    from refpattern.patterns.statistics import _observation_moments

    rng = np.random.default_rng(43)
    cases = [((2, 3), (1, 1), "same"), ((3, 2), (2, 3), ((2, 0), (1, 2))), ((1, 1), (3, 1), 0), ((4, 4), (2, 2), 1)]
    for kernel, stride, padding in cases:
        layer = Conv2D(rng.normal(size=(2, 3) + kernel), np.zeros(2), stride=stride, padding=padding)
        x = rng.normal(0.5, 2.0, (3, 3, 9, 8))
        rows = patch_matrix(x, layer.kernel_size, layer.stride, layer.pads(x.shape[2:]))  # (M, D), padded zeros in
        mean, low, high = _observation_moments(layer, x)
        np.testing.assert_array_equal(low, rows.min(axis=0))
        np.testing.assert_array_equal(high, rows.max(axis=0))
        np.testing.assert_allclose(mean, rows.mean(axis=0), rtol=0, atol=1e-14)
