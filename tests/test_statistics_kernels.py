"""The fused Numba CPU statistics kernel against its NumPy twin (``batch_sums`` on the readable path).

The twin: ``P = patch_matrix(x)`` (Conv2D) or ``x`` (Dense), ``P̃ = P − c``, ``Ỹ = P̃Wᵀ``,
``G = z > 0`` (z the layer output, bias included), then :func:`batch_sums`.  Every sum must agree
to 1e-12 relative to the sum of the magnitudes of its terms (the scale any summation order's
rounding is proportional to), on random shapes, strides, paddings and odd sizes, in one chunk and
in many, added on top of sums that are already there.
"""

import numpy as np
import pytest
from conftest import record_error, reference_sums

from refpattern import Conv2D, Dense, Flatten, MaxPool2D, ReLU, Sequential
from refpattern.kernels import get_backend, numba_statistics
from refpattern.kernels import numpy_reference as ref
from refpattern.kernels.numpy_reference import conv2d_forward, patch_matrix
from refpattern.patterns import fit_patterns, fit_statistics
from refpattern.patterns.statistics import SUM_FIELDS, LayerStatistics

RTOL = 1e-12


def empty_sums(d, o, seed=None):
    """Running sums for the kernel: zeros, or random values (to check that the kernel adds to them)."""
    rng = np.random.default_rng(seed)
    draw = (lambda shape: rng.normal(size=shape)) if seed is not None else np.zeros
    return {"products": draw((d, 3 * o)), "sum_x": draw(d), "n_plus": np.zeros(o, np.int64) + (seed or 0),
            "output_sums": draw((4, o)), "sum_xx": draw((d, d))}


def assert_matches(got, start, want, scale, what):
    o = want.sum_y_plus.shape[0]
    pairs = {
        "sum_xy_minus": (got["products"][:, :o] - start["products"][:, :o], want.sum_xy_minus, scale.sum_xy_minus),
        "sum_xy_plus": (got["products"][:, o:2 * o] - start["products"][:, o:2 * o], want.sum_xy_plus,
                        scale.sum_xy_plus),
        "sum_x_plus": (got["products"][:, 2 * o:] - start["products"][:, 2 * o:], want.sum_x_plus, scale.sum_x_plus),
        "sum_x": (got["sum_x"] - start["sum_x"], want.sum_x, scale.sum_x),
        "sum_y_minus": (got["output_sums"][0] - start["output_sums"][0], want.sum_y_minus, scale.sum_y_minus),
        "sum_y_plus": (got["output_sums"][1] - start["output_sums"][1], want.sum_y_plus, scale.sum_y_plus),
        "sum_yy_minus": (got["output_sums"][2] - start["output_sums"][2], want.sum_yy_minus, scale.sum_yy_minus),
        "sum_yy_plus": (got["output_sums"][3] - start["output_sums"][3], want.sum_yy_plus, scale.sum_yy_plus),
        "sum_xx": (got["sum_xx"] - start["sum_xx"], want.sum_xx, scale.sum_xx),
    }
    for name, (actual, expected, magnitude) in pairs.items():
        # the subtraction of the random start adds its own rounding: allow for it too
        allowed = RTOL * (magnitude + np.abs(expected)) + 4e-16 * np.abs(actual + expected) + 1e-300
        error = np.abs(actual - expected)
        assert np.all(error <= allowed), f"{what}: {name} off by {np.max(error / allowed):.2g} × the allowance"
    np.testing.assert_array_equal(got["n_plus"] - start["n_plus"], want.n_plus, err_msg=f"{what}: n_plus")


def random_conv_case(rng, asymmetric=False):
    """A random Conv2D batch: odd sizes, non-square kernels, strides and paddings; symmetric
    ``((ph, ph), (pw, pw))``, or with ``asymmetric`` the bottom and right pads drawn on their own."""
    n, c, o = rng.integers(1, 4), rng.integers(1, 4), rng.integers(1, 6)
    kh, kw = rng.integers(1, 5, size=2)
    sh, sw = rng.integers(1, 4, size=2)
    top, left = rng.integers(0, 3, size=2)
    bottom, right = rng.integers(0, 3, size=2) if asymmetric else (top, left)
    h = int(max(kh - top - bottom, 1) + rng.integers(0, 8))
    w = int(max(kw - left - right, 1) + rng.integers(0, 8))
    x = rng.normal(0.5, 1.0, (n, c, h, w))
    weight = rng.normal(size=(o, c, kh, kw))
    bias = rng.normal(0, 0.5, o)
    conv = ((int(kh), int(kw)), (int(sh), int(sw)), ((int(top), int(bottom)), (int(left), int(right))))
    z = conv2d_forward(x, weight, conv[1], conv[2]) + bias[None, :, None, None]
    return x, z, weight.reshape(o, -1), conv


@pytest.mark.parametrize("asymmetric", [False, True], ids=["symmetric", "asymmetric"])
@pytest.mark.parametrize("seed", range(12))
def test_conv_kernel_matches_batch_sums(seed, asymmetric):
    rng = np.random.default_rng(seed)
    x, z, weight_matrix, conv = random_conv_case(rng, asymmetric)
    o, d = weight_matrix.shape
    shift = rng.normal(0.5, 0.3, d)
    want, scale = reference_sums(x, z, weight_matrix, shift, conv)
    # one chunk, one output row per chunk, and something in between; on zeros and on random sums
    for max_elements, start_seed in ((1 << 22, None), (1, seed + 1), (3 * z.shape[3] * max(d, 3 * o), None)):
        start = empty_sums(d, o, start_seed)
        got = {name: value.copy() for name, value in start.items()}
        n = numba_statistics.accumulate_statistics(x, z, weight_matrix, shift, conv, max_chunk_elements=max_elements,
                                                   **got)
        assert n == want.n == x.shape[0] * z.shape[2] * z.shape[3]
        assert_matches(got, start, want, scale, f"conv {conv}, x {x.shape}, O={o}, chunk {max_elements}")


@pytest.mark.parametrize("asymmetric", [False, True], ids=["symmetric", "asymmetric"])
@pytest.mark.parametrize("seed", range(4))
def test_numpy_twin_in_chunks_of_samples_equals_batch_sums_of_the_whole_batch(seed, asymmetric, monkeypatch):
    """The readable twin ``numpy_reference.accumulate_statistics`` cuts a batch into chunks of samples;
    added onto random running sums, the chunks give the sums of the whole batch (one ``batch_sums``)."""
    rng = np.random.default_rng(100 + seed)
    x, z, weight_matrix, conv = random_conv_case(rng, asymmetric)
    o, d = weight_matrix.shape
    shift = rng.normal(0.5, 0.3, d)
    want, scale = reference_sums(x, z, weight_matrix, shift, conv)
    monkeypatch.setattr(ref, "MAX_PATCH_ELEMENTS", 1)  # one sample per chunk
    start = empty_sums(d, o, seed + 1)
    got = {name: value.copy() for name, value in start.items()}
    assert ref.accumulate_statistics(x, z, weight_matrix, shift, conv, **got) == want.n
    assert_matches(got, start, want, scale, f"numpy twin, conv {conv}, x {x.shape}, O={o}")


@pytest.mark.parametrize("n, d, o", [(1, 1, 1), (7, 11, 4), (40, 3, 9), (13, 70, 23)])
def test_dense_kernel_matches_batch_sums(n, d, o):
    rng = np.random.default_rng(n * 1000 + d * 10 + o)
    x = rng.normal(-0.3, 2.0, (n, d))
    weight_matrix = rng.normal(size=(o, d))
    z = x @ weight_matrix.T + rng.normal(size=o)
    shift = x.mean(axis=0) + 0.01
    want, scale = reference_sums(x, z, weight_matrix, shift, None)
    for max_elements, start_seed in ((1 << 22, 5), (1, None), (2 * max(d, 3 * o), None)):
        start = empty_sums(d, o, start_seed)
        got = {name: value.copy() for name, value in start.items()}
        assert numba_statistics.accumulate_statistics(x, z, weight_matrix, shift, None,
                                                      max_chunk_elements=max_elements, **got) == n
        assert_matches(got, start, want, scale, f"dense ({n}, {d}) -> {o}, chunk {max_elements}")


def test_gate_is_read_from_z_not_recomputed():
    """The regime split follows the forward output z (bias included), even where Ỹ alone would say otherwise."""
    x = np.array([[1.0], [2.0], [3.0]])
    weight_matrix = np.array([[1.0]])
    z = np.array([[-1.0], [0.0], [5.0]])  # as if the bias were large and negative: only the last gate is open
    sums = empty_sums(1, 1)
    numba_statistics.accumulate_statistics(x, z, weight_matrix, np.zeros(1), None, **sums)
    assert sums["n_plus"][0] == 1
    # [Σ₋x̃ỹ | Σ₊x̃ỹ | Σ₊x̃] and (Σ₋ỹ, Σ₊ỹ, Σ₋ỹ², Σ₊ỹ²): observations 1, 2 closed, 3 open
    np.testing.assert_array_equal(sums["products"], [[1 + 4, 9.0, 3.0]])
    np.testing.assert_array_equal(sums["output_sums"][:, 0], [1 + 2, 3.0, 1 + 4, 9.0])


def test_layer_statistics_refuse_a_batch_that_does_not_fit_before_a_kernel_sees_it():
    """The kernels assume valid input; LayerStatistics checks every batch and names the layer."""
    layer = Dense(np.ones((2, 3)))
    stats = LayerStatistics(layer, 0, 0)
    with pytest.raises(ValueError, match=r"Dense\(in=3, out=2\): x of shape \(2, 4\).*expected input of size 3"):
        stats.accumulate(np.ones((2, 4)), np.ones((2, 2)))
    with pytest.raises(ValueError,
                       match=r"z must have the shape of the output of neurons 0:2 .*\(2, 2\); got \(2, 3\)"):
        stats.accumulate(np.ones((2, 3)), np.ones((2, 3)))
    with pytest.raises(TypeError, match=r"floating-point"):
        stats.accumulate(np.ones((2, 3), dtype=int), np.ones((2, 2)))
    conv = Conv2D(np.ones((2, 1, 3, 3)))
    with pytest.raises(ValueError, match=r"Conv2D\(1->2.*smaller than the kernel"):
        LayerStatistics(conv, 0, 0).forward_accumulate(np.ones((1, 1, 2, 2)), "numba")
    with pytest.raises(ValueError, match=r"backend 'numpy' has no forward_statistics"):
        LayerStatistics(conv, 0, 0).forward_accumulate(np.ones((1, 1, 4, 4)), "numpy")
    with pytest.raises(ValueError, match=r"needs statistics of every neuron"):
        LayerStatistics(conv, 0, 0, neurons=slice(0, 1)).forward_accumulate(np.ones((1, 1, 4, 4)), "numba")
    assert stats.n == 0 and not np.any(stats.products)  # nothing was added


# --- plugged into LayerStatistics / fit_statistics --------------------------------------------------------


#: Paddings of small_cnn's two convolutions: symmetric, asymmetric, and "same" (the first one's 2-wide kernel
#: gets 0 columns left and 1 right; its 3 rows at stride 2 on 7 rows get 1 above and 1 below).
CNN_PADDINGS = {"symmetric": ((1, 2), 1), "asymmetric": (((2, 0), (3, 1)), ((0, 2), (1, 1))), "same": ("same", "same")}


def small_cnn(rng, paddings=CNN_PADDINGS["symmetric"]):
    convs = [Conv2D(rng.normal(0, 0.5, (3, 2, 3, 2)), rng.normal(0, 0.3, 3), stride=(2, 1), padding=paddings[0]),
             ReLU(), Conv2D(rng.normal(0, 0.4, (4, 3, 3, 3)), rng.normal(0, 0.3, 4), padding=paddings[1]), ReLU(),
             MaxPool2D(2), Flatten()]
    flat = Sequential(convs, input_shape=(2, 7, 7)).output_shapes((2, 7, 7))[-1][0]
    return Sequential(convs + [
        Dense(rng.normal(0, 0.5, (5, flat)), rng.normal(0, 0.3, 5)), ReLU(),
        Dense(rng.normal(0, 0.5, (3, 5)), rng.normal(0, 0.3, 3)),
    ], input_shape=(2, 7, 7))


def test_registered_for_numba_and_layer_statistics_agree():
    assert get_backend("numba").accumulate_statistics is numba_statistics.accumulate_statistics
    assert get_backend("numba").forward_statistics is numba_statistics.forward_statistics
    assert get_backend("numpy").accumulate_statistics is ref.accumulate_statistics
    rng = np.random.default_rng(20)
    net = small_cnn(rng)
    batches = [rng.normal(0.2, 1.0, (5, 2, 7, 7)), rng.normal(0.2, 1.0, (3, 2, 7, 7))]
    flags = []
    for k, index in enumerate(net.kernel_indices):
        reference = LayerStatistics(net.layers[index], k, index, second_moment=True)
        fused = LayerStatistics(net.layers[index], k, index, second_moment=True)
        for batch in batches:
            trace = net.trace(batch, "numpy")
            reference.accumulate(trace[index], trace[index + 1], "numpy")
            fused.accumulate(trace[index], trace[index + 1], "numba")
        np.testing.assert_array_equal(fused.shift, reference.shift)
        assert fused.n == reference.n
        for name in SUM_FIELDS[1:]:
            got, want = getattr(fused, name), getattr(reference, name)
            scale = max(np.max(np.abs(want)), 1e-300)
            assert np.max(np.abs(got - want)) <= RTOL * scale * 10, f"kernel layer {k}: {name}"
        # the (D, O) sums are views of the one buffer the GEMM accumulates into
        o = fused.n_neurons
        assert np.shares_memory(fused.sum_xy_plus, fused.products)
        assert np.shares_memory(fused.regime_input_sums, fused.products)
        # the third block: per neuron the input sums of the regime smaller in the first batch, the other the difference
        np.testing.assert_array_equal(fused.closed_inputs, reference.closed_inputs)
        first = net.trace(batches[0], "numpy")[index + 1]
        opened = np.count_nonzero(first > 0, axis=(0,) + tuple(range(2, first.ndim)))
        np.testing.assert_array_equal(fused.closed_inputs, 2 * opened > first.size // o)
        np.testing.assert_array_equal(fused.products[:, 2 * o:], np.where(fused.closed_inputs, fused.sum_x_minus,
                                                                          fused.sum_x_plus))
        flags.append(fused.closed_inputs)
    assert 0 < np.count_nonzero(np.concatenate(flags)) < len(np.concatenate(flags))  # both conventions met


@pytest.mark.parametrize("paddings", CNN_PADDINGS.values(), ids=CNN_PADDINGS.keys())
def test_fit_with_numba_backend_equals_numpy_backend(paddings):
    rng = np.random.default_rng(21)
    net = small_cnn(rng, paddings)
    x = rng.normal(0.2, 1.0, (12, 2, 7, 7))
    for variant in ("paper", "regime"):
        want = fit_patterns(net, x, "a+-", batch_size=5, variant=variant, backend="numpy")
        got = fit_patterns(net, x, "a+-", batch_size=5, variant=variant, backend="numba")
        for g, w in zip(got, want):
            for a, b in ((g.a_plus, w.a_plus), (g.a_minus, w.a_minus)):
                assert np.max(np.abs(a - b)) <= 1e-10 * max(np.max(np.abs(b)), 1e-300)


def test_copies_and_merges_keep_their_own_buffer():
    rng = np.random.default_rng(22)
    net = small_cnn(rng)
    x = rng.normal(0.2, 1.0, (6, 2, 7, 7))
    first, second = fit_statistics(net, x[:4], backend="numba"), fit_statistics(net, x[4:], backend="numba")
    before = first[1].products.copy()
    merged = first.merge(second)
    np.testing.assert_array_equal(first[1].products, before)
    assert not np.shares_memory(merged[1].products, first[1].products)
    again = fit_statistics(net, x, backend="numba")
    for m, a in zip(merged, again):
        recentred = a.recentered(m.shift)
        for name in ("sum_xy_minus", "sum_xy_plus", "sum_x_plus", "sum_yy_minus", "sum_yy_plus"):
            scale = max(np.max(np.abs(getattr(recentred, name))), 1e-300)
            assert np.max(np.abs(getattr(m, name) - getattr(recentred, name))) <= 1e-12 * scale


def test_estimators_in_neuron_blocks_give_the_same_patterns(monkeypatch):
    """The estimator step works in blocks of neurons (memory); the blocks change no number and no note."""
    from refpattern.patterns import estimators, patterns_from_statistics

    rng = np.random.default_rng(23)
    net = small_cnn(rng)
    stats = fit_statistics(net, rng.normal(0.2, 1.0, (4, 2, 7, 7)))
    whole = {key: patterns_from_statistics(net, stats, *key) for key in (("a", "paper"), ("a+-", "paper"),
                                                                          ("a+-", "regime"))}
    monkeypatch.setattr(estimators, "BLOCK_ELEMENTS", 7)  # one or two neurons per block
    assert len(estimators.neuron_blocks(stats[2])) == 5
    for key, want in whole.items():
        got = patterns_from_statistics(net, stats, *key)
        for g, w in zip(got, want):
            for name in ("a", "a_plus", "a_minus"):
                if getattr(w, name, None) is not None:
                    np.testing.assert_array_equal(getattr(g, name), getattr(w, name))
            assert g.degenerate == w.degenerate


# --- forward_statistics: the layer output and the sums in one pass ---------------------------------------

def output_scale(x, weight_matrix, bias, conv):
    """``Σ_k |w_ok||x_k| + |b_o|`` per output entry: the scale of any summation order's rounding of ``wᵀx + b``."""
    if conv is None:
        return np.abs(x) @ np.abs(weight_matrix).T + np.abs(bias)
    magnitude = conv2d_forward(np.abs(x), np.abs(weight_matrix).reshape((weight_matrix.shape[0], x.shape[1]) + conv[0]),
                               conv[1], conv[2])
    return magnitude + np.abs(bias)[None, :, None, None]


def forward_case(seed, asymmetric=False):
    """A random Conv2D or Dense batch with its reference output (NumPy twin) and bias."""
    rng = np.random.default_rng(seed)
    if seed % 3 == 2:
        n, d, o = (int(v) for v in rng.integers(1, 30, size=3))
        x = rng.normal(-0.3, 2.0, (n, d))
        weight_matrix, bias = rng.normal(size=(o, d)), rng.normal(size=o)
        return x, x @ weight_matrix.T + bias, weight_matrix, bias, None
    x, z, weight_matrix, conv = random_conv_case(rng, asymmetric)
    bias = rng.normal(0, 0.5, weight_matrix.shape[0])
    z = conv2d_forward(x, weight_matrix.reshape((weight_matrix.shape[0], x.shape[1]) + conv[0]), conv[1], conv[2])
    return x, z + bias[None, :, None, None], weight_matrix, bias, conv


@pytest.mark.parametrize("asymmetric", [False, True], ids=["symmetric", "asymmetric"])
@pytest.mark.parametrize("seed", range(12))
def test_forward_statistics_matches_the_forward_pass_and_batch_sums(seed, asymmetric):
    x, z, weight_matrix, bias, conv = forward_case(seed, asymmetric)
    o, d = weight_matrix.shape
    shift = np.random.default_rng(seed + 100).normal(0.5, 0.3, d)
    want, scale = reference_sums(x, z, weight_matrix, shift, conv)
    inputs = [a.copy() for a in (x, weight_matrix, bias, shift)]
    rows = 1 if conv is None else z.shape[3]
    for max_elements, start_seed in ((1 << 22, None), (1, seed + 1), (3 * rows * max(d, 3 * o), None)):
        start = empty_sums(d, o, start_seed)
        got = {name: value.copy() for name, value in start.items()}
        out, n = numba_statistics.forward_statistics(x, weight_matrix, bias, shift, conv,
                                                     max_chunk_elements=max_elements, **got)
        assert n == want.n
        assert out.shape == z.shape
        error = np.max(np.abs(out - z) / output_scale(x, weight_matrix, bias, conv))
        record_error(error, "output")
        assert error <= RTOL
        assert_matches(got, start, want, scale, f"forward_statistics {conv}, x {x.shape}, O={o}, chunk {max_elements}")
        relu, _ = numba_statistics.forward_statistics(x, weight_matrix, bias, shift, conv, relu=True,
                                                      max_chunk_elements=max_elements, **empty_sums(d, o))
        np.testing.assert_array_equal(relu, np.maximum(out, 0.0))
    for before, after in zip(inputs, (x, weight_matrix, bias, shift)):
        np.testing.assert_array_equal(before, after)  # nothing the caller passed in is modified


@pytest.mark.parametrize("padding", [((1, 1), (1, 1)), ((0, 2), (2, 0))], ids=["symmetric", "asymmetric"])
def test_forward_statistics_all_zero_patches_keep_zero_bias_units_exactly_closed(padding):
    """Where a patch is all zeros (a dead region after a ReLU) the forward pass gives exactly ``b``, while
    ``ỹ + (b + wᵀc)`` is ``b`` only up to rounding.  For ``b = 0`` that rounding would decide the gate; the
    sign test sends those entries to the direct evaluation, so a zero-bias unit stays exactly 0 and closed
    there.  (For ``b ≠ 0`` the sign is certain and the value is ``b`` up to rounding.)"""
    rng = np.random.default_rng(31)
    x = np.maximum(rng.normal(0.3, 1.0, (3, 5, 9, 8)), 0.0)
    x[:, :, :5] = 0.0                                  # the top rows of every image: all-zero patches
    weight = rng.normal(0, 0.3, (6, 5, 3, 3))
    bias = np.array([0.0, 0.0, 0.25, -0.5, 0.0, 1e-3])
    conv = ((3, 3), (1, 1), padding)                   # either way a 9 × 8 output
    weight_matrix = weight.reshape(6, -1)
    shift = patch_matrix(x, *conv).mean(axis=0)        # as a fit takes it: far from zero
    z = conv2d_forward(x, weight, (1, 1), padding) + bias[None, :, None, None]
    zero_patch = ~patch_matrix(x, *conv).any(axis=1).reshape(3, 9, 8)
    assert zero_patch.sum() >= 3 * 8 * 3
    sums = empty_sums(45, 6)
    out, _ = numba_statistics.forward_statistics(x, weight_matrix, bias, shift, conv, **sums)
    for o in range(6):
        if bias[o] == 0:
            np.testing.assert_array_equal(out[:, o][zero_patch], 0.0)
        else:
            np.testing.assert_allclose(out[:, o][zero_patch], bias[o], rtol=0, atol=1e-14)
    np.testing.assert_array_equal(sums["n_plus"], (z > 0).sum(axis=(0, 2, 3)))
    # the test has teeth: read off the shifted product alone, some zero-bias entries are not exactly 0
    shifted = patch_matrix(x, *conv) - shift
    read_off = (shifted @ weight_matrix.T + (weight_matrix @ shift + bias)).reshape(3, 9, 8, 6)
    assert np.any(read_off[zero_patch][:, bias == 0] != 0.0)


@pytest.mark.parametrize("offset", [0.0, 1e6])
def test_sign_tolerance_bounds_the_rounding_of_the_read_off_output(offset):
    """``|fl(ỹ) + fl(b + wᵀc) − (wᵀx + b)| ≤ τ/2`` against exact rational arithmetic, including inputs
    carrying a large offset that the bias compensates (the sign test's premise)."""
    from fractions import Fraction

    rng = np.random.default_rng(32)
    n, d, o = 40, 27, 5
    x = offset + rng.normal(size=(n, d))
    weight_matrix = rng.normal(0, 0.3, (o, d))
    bias = -weight_matrix @ np.full(d, offset) + rng.normal(0, 0.1, o)
    shift = x[:8].mean(axis=0)
    radius = numba_statistics._input_radius(x, shift, False)
    offsets, tolerances = numba_statistics._offsets_and_tolerances(weight_matrix, bias, shift, radius)
    read_off = (x - shift) @ weight_matrix.T + offsets
    worst = 0.0
    for i in range(n):
        for j in range(o):
            exact = sum(Fraction(w) * Fraction(v) for w, v in zip(weight_matrix[j], x[i])) + Fraction(bias[j])
            worst = max(worst, abs(float(Fraction(read_off[i, j]) - exact)) / tolerances[j])
    record_error(worst, f"error / τ, offset {offset:g}")
    assert worst <= 0.5


def test_forward_statistics_of_an_empty_batch_adds_nothing():
    sums = empty_sums(9, 2, seed=3)
    before = {name: value.copy() for name, value in sums.items()}
    out, n = numba_statistics.forward_statistics(np.ones((0, 1, 4, 4)), np.ones((2, 9)), np.ones(2), np.zeros(9),
                                                 ((3, 3), (1, 1), ((1, 1), (1, 1))), **sums)
    assert n == 0 and out.shape == (0, 2, 4, 4)
    for name, value in sums.items():
        np.testing.assert_array_equal(value, before[name])


@pytest.mark.parametrize("paddings", CNN_PADDINGS.values(), ids=CNN_PADDINGS.keys())
def test_fit_on_dead_regions_counts_the_same_gates_as_the_reference(paddings):
    """A zero-bias network on images with black regions: the Numba fit (which reads its forward pass off
    the shifted product) opens exactly the gates the NumPy forward pass opens, in every layer, with
    symmetric, asymmetric and "same" padding."""
    rng = np.random.default_rng(33)
    net = small_cnn(rng, paddings)
    layers = [layer.with_parameters(layer.weight, np.zeros_like(layer.bias)) if layer.is_kernel else layer
              for layer in net.layers]
    net = Sequential(layers, input_shape=(2, 7, 7))
    x = rng.normal(0.2, 1.0, (9, 2, 7, 7))
    x[:, :, :4] = 0.0
    want = fit_statistics(net, x, batch_size=4, backend="numpy")
    got = fit_statistics(net, x, batch_size=4, backend="numba")
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g.n_plus, w.n_plus)
        assert g.n == w.n
        scale = max(np.max(np.abs(w.products)), 1e-300)
        assert np.max(np.abs(g.products - w.products)) <= 1e-12 * scale
