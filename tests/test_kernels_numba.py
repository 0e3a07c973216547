"""The Numba CPU kernels agree with their NumPy twins (``numpy_reference``) to 1e-12.

Tolerance: a float64 sum of ``K`` products is off by at most about ``K · eps · Σ|terms|``, so
every comparison uses ``rtol = 1e-12`` and ``atol = 1e-12 · scale`` where ``scale`` is the
largest entry of the *same operation applied to the absolute values* (``Σ|terms|``).
Max-pooling involves no arithmetic in the forward pass and is compared exactly.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refpattern.kernels import LAYER_OPERATIONS, get_backend
from refpattern.kernels import numba_cpu as nb
from refpattern.kernels import numpy_reference as ref

RTOL = 1e-12


def assert_matches(actual, expected, absolute_terms):
    """``actual ≈ expected`` to 1e-12 relative; ``absolute_terms`` = the op on ``|inputs|``."""
    assert actual.shape == expected.shape
    assert actual.dtype == np.float64
    scale = max(float(np.max(np.abs(absolute_terms))), 1e-300)
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=RTOL * scale)


# --------------------------------------------------------------------------------------
# cases: hand-picked corners plus hypothesis-drawn shapes
# --------------------------------------------------------------------------------------

def symmetric(ph, pw):
    """The kernels' padding ``((top, bottom), (left, right))`` of ``ph`` rows and ``pw`` columns on both sides."""
    return (ph, ph), (pw, pw)


# (N, C, O, H, W, kernel, stride, padding)
CONV_CASES = [
    pytest.param(1, 1, 1, 5, 5, (3, 3), (1, 1), symmetric(1, 1), id="batch1-3x3-pad1"),
    pytest.param(2, 3, 4, 7, 9, (3, 2), (2, 3), symmetric(1, 2), id="odd-nonsquare-stride-pad"),
    pytest.param(3, 2, 5, 11, 8, (2, 2), (3, 3), symmetric(0, 0), id="stride>kernel-gaps"),
    pytest.param(2, 2, 3, 9, 10, (4, 5), (1, 2), symmetric(2, 0), id="big-kernel-mixed-pad"),
    pytest.param(2, 3, 2, 6, 7, (1, 1), (2, 2), symmetric(0, 0), id="1x1-stride2"),
    pytest.param(1, 2, 3, 3, 4, (7, 6), (1, 1), symmetric(2, 1), id="kernel-fills-padded-input"),
    pytest.param(2, 2, 2, 4, 3, (2, 2), (5, 4), symmetric(1, 1), id="stride-beyond-image"),
    pytest.param(1, 1, 2, 2, 2, (1, 1), (1, 1), symmetric(2, 2), id="pad-wider-than-kernel"),
    pytest.param(4, 8, 6, 16, 12, (3, 3), (1, 1), symmetric(1, 1), id="mid-size"),
    # asymmetric zero padding ((top, bottom), (left, right))
    pytest.param(2, 2, 3, 8, 6, (3, 3), (2, 2), ((0, 1), (0, 1)), id="keras-same-stride2-even"),
    pytest.param(2, 3, 2, 7, 9, (2, 3), (1, 2), ((1, 0), (2, 0)), id="before-only"),
    pytest.param(1, 2, 3, 5, 6, (3, 2), (2, 1), ((0, 3), (0, 2)), id="after-only-wider-than-kernel"),
    pytest.param(2, 1, 2, 4, 5, (2, 4), (3, 2), ((2, 1), (3, 0)), id="stride-drops-bottom-pad"),
    pytest.param(1, 2, 2, 3, 3, (6, 5), (1, 1), ((3, 0), (0, 2)), id="kernel-fills-asymmetric-pad"),
]

# (N, C, H, W, size, stride)
POOL_CASES = [
    pytest.param(1, 1, 4, 4, (2, 2), (2, 2), id="batch1-2x2"),
    pytest.param(2, 3, 7, 9, (3, 2), (2, 3), id="odd-nonsquare"),
    pytest.param(2, 2, 7, 7, (3, 3), (1, 1), id="overlapping"),
    pytest.param(3, 2, 8, 11, (2, 3), (3, 4), id="stride>size-gaps"),
    pytest.param(1, 2, 5, 6, (5, 6), (1, 1), id="global"),
    pytest.param(2, 1, 5, 5, (1, 1), (2, 2), id="1x1"),
]


@st.composite
def conv_cases(draw):
    """(N, C, O, H, W, kernel, stride, padding) with the kernel fitting the padded input; each of
    the four pads drawn on its own (asymmetric padding ((top, bottom), (left, right)))."""
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    top, bottom, left, right = (draw(st.integers(0, 2)) for _ in range(4))
    h = draw(st.integers(max(1, kh - top - bottom), 10))
    w = draw(st.integers(max(1, kw - left - right), 10))
    n, c, o = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 4))
    return n, c, o, h, w, (kh, kw), (sh, sw), ((top, bottom), (left, right))


@st.composite
def pool_cases(draw):
    """(N, C, H, W, size, stride) with the window fitting the input."""
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    h, w = draw(st.integers(kh, 9)), draw(st.integers(kw, 9))
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    return n, c, h, w, (kh, kw), (sh, sw)


SETTINGS = settings(max_examples=25, deadline=None, derandomize=True)
SEEDS = st.integers(0, 2**32 - 1)


def conv_arrays(case, seed):
    n, c, o, h, w, kernel, stride, padding = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w))
    weight = rng.standard_normal((o, c) + kernel)
    y_shape = ref.conv2d_forward(x, weight, stride, padding).shape
    grad_y = rng.standard_normal(y_shape)
    return x, weight, grad_y


# --------------------------------------------------------------------------------------
# convolution
# --------------------------------------------------------------------------------------


def check_conv_forward(case, seed):
    *_, stride, padding = case
    x, weight, _ = conv_arrays(case, seed)
    assert_matches(
        nb.conv2d_forward(x, weight, stride, padding),
        ref.conv2d_forward(x, weight, stride, padding),
        ref.conv2d_forward(np.abs(x), np.abs(weight), stride, padding),
    )


def check_conv_backward_input(case, seed):
    *_, stride, padding = case
    x, weight, grad_y = conv_arrays(case, seed)
    assert_matches(
        nb.conv2d_backward_input(grad_y, weight, x.shape, stride, padding),
        ref.conv2d_backward_input(grad_y, weight, x.shape, stride, padding),
        ref.conv2d_backward_input(np.abs(grad_y), np.abs(weight), x.shape, stride, padding),
    )


def check_conv_backward_weight(case, seed):
    *_, kernel, stride, padding = case
    x, _, grad_y = conv_arrays(case, seed)
    assert_matches(
        nb.conv2d_backward_weight(grad_y, x, kernel, stride, padding),
        ref.conv2d_backward_weight(grad_y, x, kernel, stride, padding),
        ref.conv2d_backward_weight(np.abs(grad_y), np.abs(x), kernel, stride, padding),
    )


@pytest.mark.parametrize("n, c, o, h, w, kernel, stride, padding", CONV_CASES)
def test_conv2d_forward_matches_reference(n, c, o, h, w, kernel, stride, padding):
    check_conv_forward((n, c, o, h, w, kernel, stride, padding), seed=0)


@pytest.mark.parametrize("rows", [1, 2, 3])
@pytest.mark.parametrize("n, c, o, h, w, kernel, stride, padding", CONV_CASES)
def test_conv2d_forward_in_bands_of_rows_matches_reference(monkeypatch, rows, n, c, o, h, w, kernel, stride,
                                                           padding):
    """A large image is taken a band of ``rows`` output rows at a time (a ragged last band where ``rows``
    does not divide OH)."""
    ow = (w + sum(padding[1]) - kernel[1]) // stride[1] + 1
    monkeypatch.setattr(nb, "MAX_PATCH_ELEMENTS", rows * c * kernel[0] * kernel[1] * ow)
    check_conv_forward((n, c, o, h, w, kernel, stride, padding), seed=1)


@pytest.mark.parametrize("n, c, o, h, w, kernel, stride, padding", CONV_CASES)
def test_conv2d_backward_input_matches_reference(n, c, o, h, w, kernel, stride, padding):
    check_conv_backward_input((n, c, o, h, w, kernel, stride, padding), seed=1)


@pytest.mark.parametrize("n, c, o, h, w, kernel, stride, padding", CONV_CASES)
def test_conv2d_backward_weight_matches_reference(n, c, o, h, w, kernel, stride, padding):
    check_conv_backward_weight((n, c, o, h, w, kernel, stride, padding), seed=2)


@SETTINGS
@given(case=conv_cases(), seed=SEEDS)
def test_conv2d_forward_matches_reference_random(case, seed):
    check_conv_forward(case, seed)


@SETTINGS
@given(case=conv_cases(), seed=SEEDS)
def test_conv2d_backward_input_matches_reference_random(case, seed):
    check_conv_backward_input(case, seed)


@SETTINGS
@given(case=conv_cases(), seed=SEEDS)
def test_conv2d_backward_weight_matches_reference_random(case, seed):
    check_conv_backward_weight(case, seed)


@SETTINGS
@given(case=conv_cases(), seed=SEEDS)
def test_conv2d_backward_passes_are_adjoint_to_forward(case, seed):
    """⟨conv(x, W), g⟩ = ⟨x, ∂x(g, W)⟩ = ⟨W, ∂W(g, x)⟩: both VJPs of a bilinear map."""
    *_, kernel, stride, padding = case
    x, weight, grad_y = conv_arrays(case, seed)
    forward = np.sum(nb.conv2d_forward(x, weight, stride, padding) * grad_y)
    via_input = np.sum(x * nb.conv2d_backward_input(grad_y, weight, x.shape, stride, padding))
    via_weight = np.sum(weight * nb.conv2d_backward_weight(grad_y, x, kernel, stride, padding))
    scale = np.sum(nb.conv2d_forward(np.abs(x), np.abs(weight), stride, padding) * np.abs(grad_y))
    np.testing.assert_allclose(via_input, forward, rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(via_weight, forward, rtol=0, atol=1e-12 * scale)


# --------------------------------------------------------------------------------------
# max-pooling
# --------------------------------------------------------------------------------------


def check_maxpool(case, seed, *, ties=False):
    n, c, h, w, size, stride = case
    rng = np.random.default_rng(seed)
    if ties:  # few distinct values: most windows hold a tie for the maximum
        x = rng.integers(-2, 3, size=(n, c, h, w)).astype(np.float64)
    else:
        x = rng.standard_normal((n, c, h, w))
    y, winner = nb.maxpool_forward(x, size, stride)
    y_ref, winner_ref = ref.maxpool_forward(x, size, stride)
    assert y.dtype == np.float64 and winner.dtype == np.int64
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(winner, winner_ref)

    grad_y = rng.standard_normal(y.shape)
    grad_x = nb.maxpool_backward(grad_y, winner, x.shape, size, stride)
    grad_x_ref = ref.maxpool_backward(grad_y, winner_ref, x.shape, size, stride)
    assert_matches(
        grad_x, grad_x_ref, ref.maxpool_backward(np.abs(grad_y), winner_ref, x.shape, size, stride)
    )


@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "ties"])
@pytest.mark.parametrize("n, c, h, w, size, stride", POOL_CASES)
def test_maxpool_matches_reference(n, c, h, w, size, stride, ties):
    check_maxpool((n, c, h, w, size, stride), seed=3, ties=ties)


@SETTINGS
@given(case=pool_cases(), seed=SEEDS, ties=st.booleans())
def test_maxpool_matches_reference_random(case, seed, ties):
    check_maxpool(case, seed, ties=ties)


def test_maxpool_nan_wins_like_argmax():
    """np.argmax treats NaN as the maximum and returns the first NaN; so does the kernel."""
    x = np.arange(2 * 1 * 4 * 6, dtype=np.float64).reshape(2, 1, 4, 6)
    x[0, 0, 0, 1] = np.nan
    x[0, 0, 1, 0] = np.nan  # second NaN in the same 2x2 window: the first one wins
    x[1, 0, 3, 5] = np.nan
    x[1, 0, 2, 2] = -np.inf
    y, winner = nb.maxpool_forward(x, (2, 2), (2, 2))
    y_ref, winner_ref = ref.maxpool_forward(x, (2, 2), (2, 2))
    np.testing.assert_array_equal(y, y_ref)  # NaN == NaN for assert_array_equal
    np.testing.assert_array_equal(winner, winner_ref)


def test_maxpool_backward_ignores_out_of_range_winners_like_reference():
    grad_y = np.ones((1, 1, 2, 2))
    winner = np.array([[[[0, 4], [-1, 3]]]])  # 4 and -1 lie outside a 2x2 window
    np.testing.assert_array_equal(
        nb.maxpool_backward(grad_y, winner, (1, 1, 4, 4), (2, 2), (2, 2)),
        ref.maxpool_backward(grad_y, winner, (1, 1, 4, 4), (2, 2), (2, 2)),
    )


# --------------------------------------------------------------------------------------
# inputs: never modified; any layout and real dtype accepted
# --------------------------------------------------------------------------------------


def all_calls(x, weight, grad_y, pool_grad_y, winner):
    """Run every kernel once on the given (possibly non-contiguous) arrays."""
    stride, padding, kernel = (2, 1), ((1, 0), (2, 1)), weight.shape[2:]
    return {
        "conv2d_forward": nb.conv2d_forward(x, weight, stride, padding),
        "conv2d_backward_input": nb.conv2d_backward_input(grad_y, weight, x.shape, stride, padding),
        "conv2d_backward_weight": nb.conv2d_backward_weight(grad_y, x, kernel, stride, padding),
        "maxpool_forward": nb.maxpool_forward(x, (2, 3), (2, 2)),
        "maxpool_backward": nb.maxpool_backward(pool_grad_y, winner, x.shape, (2, 3), (2, 2)),
    }


def reference_calls(x, weight, grad_y, pool_grad_y, winner):
    stride, padding, kernel = (2, 1), ((1, 0), (2, 1)), weight.shape[2:]
    return {
        "conv2d_forward": ref.conv2d_forward(x, weight, stride, padding),
        "conv2d_backward_input": ref.conv2d_backward_input(grad_y, weight, x.shape, stride, padding),
        "conv2d_backward_weight": ref.conv2d_backward_weight(grad_y, x, kernel, stride, padding),
        "maxpool_forward": ref.maxpool_forward(x, (2, 3), (2, 2)),
        "maxpool_backward": ref.maxpool_backward(pool_grad_y, winner, x.shape, (2, 3), (2, 2)),
    }


def layout_arrays(rng):
    """Contiguous float64 operands for :func:`all_calls` (x is (2, 3, 7, 9), weight (4, 3, 3, 2))."""
    x = rng.standard_normal((2, 3, 7, 9))
    weight = rng.standard_normal((4, 3, 3, 2))
    grad_y = rng.standard_normal(ref.conv2d_forward(x, weight, (2, 1), ((1, 0), (2, 1))).shape)
    y, winner = ref.maxpool_forward(x, (2, 3), (2, 2))
    pool_grad_y = rng.standard_normal(y.shape)
    return x, weight, grad_y, pool_grad_y, winner


def assert_results_match(results, expected):
    for name in expected:
        got, want = results[name], expected[name]
        if name == "maxpool_forward":
            np.testing.assert_array_equal(got[0], want[0], err_msg=name)
            np.testing.assert_array_equal(got[1], want[1], err_msg=name)
        else:
            np.testing.assert_allclose(got, want, rtol=RTOL, atol=1e-11, err_msg=name)


def test_inputs_are_not_modified():
    arrays = layout_arrays(np.random.default_rng(4))
    before = [a.copy() for a in arrays]
    all_calls(*arrays)
    for original, after in zip(before, arrays):
        np.testing.assert_array_equal(after, original)


def test_non_contiguous_inputs_work():
    """Transposed, strided and Fortran-ordered views give the contiguous answer."""
    x, weight, grad_y, pool_grad_y, winner = layout_arrays(np.random.default_rng(5))
    expected = reference_calls(x, weight, grad_y, pool_grad_y, winner)

    x_view = np.ascontiguousarray(x.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)
    weight_view = np.repeat(weight, 2, axis=0)[::2]
    grad_y_view = np.asfortranarray(grad_y)
    pool_grad_y_view = np.ascontiguousarray(pool_grad_y.transpose(3, 2, 1, 0)).transpose(3, 2, 1, 0)
    winner_view = np.asfortranarray(winner.astype(np.int32))
    for view in (x_view, weight_view, grad_y_view, pool_grad_y_view, winner_view):
        assert not view.flags.c_contiguous
    before = [a.copy() for a in (x_view, weight_view, grad_y_view, pool_grad_y_view, winner_view)]
    results = all_calls(x_view, weight_view, grad_y_view, pool_grad_y_view, winner_view)
    assert_results_match(results, expected)
    for original, after in zip(before, (x_view, weight_view, grad_y_view, pool_grad_y_view, winner_view)):
        np.testing.assert_array_equal(after, original)


def test_float32_inputs_are_computed_in_float64():
    x, weight, grad_y, pool_grad_y, winner = layout_arrays(np.random.default_rng(6))
    x32, w32, g32, pg32 = (a.astype(np.float32) for a in (x, weight, grad_y, pool_grad_y))
    results = all_calls(x32, w32, g32, pg32, winner)
    expected = reference_calls(*(a.astype(np.float64) for a in (x32, w32, g32, pg32)), winner)
    assert_results_match(results, expected)
    assert results["conv2d_forward"].dtype == np.float64


# --------------------------------------------------------------------------------------
# the backend seam
# --------------------------------------------------------------------------------------


def test_backend_seam_hands_out_these_kernels():
    numba_backend, numpy_backend = get_backend("numba"), get_backend("numpy")
    assert get_backend() is numba_backend and get_backend(numba_backend) is numba_backend
    for name in LAYER_OPERATIONS:
        assert getattr(numba_backend, name) is getattr(nb, name)
        assert getattr(numpy_backend, name) is getattr(ref, name)
    assert numpy_backend.accumulate_statistics is ref.accumulate_statistics and numpy_backend.forward_statistics is None
    with pytest.raises(ValueError, match=r"backend must be one of \('numpy', 'numba', 'cuda'\), got 'gpu'"):
        get_backend("gpu")


# --------------------------------------------------------------------------------------
# dense layers and the gate split
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("n, d, o", [(1, 1, 1), (3, 7, 5), (64, 300, 17), (5, 1, 9)])
def test_dense_kernels_match_reference(n, d, o):
    rng = np.random.default_rng(n * 100 + d + o)
    x, weight, grad_y = rng.normal(size=(n, d)), rng.normal(size=(o, d)), rng.normal(size=(n, o))
    forward = nb.dense_forward(x, weight)
    assert forward.flags.c_contiguous
    assert_matches(forward, ref.dense_forward(x, weight), ref.dense_forward(np.abs(x), np.abs(weight)))
    backward = nb.dense_backward_input(grad_y, weight)
    assert backward.flags.c_contiguous
    assert_matches(backward, ref.dense_backward_input(grad_y, weight),
                   ref.dense_backward_input(np.abs(grad_y), np.abs(weight)))
    # adjoint: <forward(x), g> = <x, backward(g)>
    assert np.isclose(np.vdot(forward, grad_y), np.vdot(x, backward), rtol=1e-12,
                      atol=1e-12 * np.vdot(np.abs(x) @ np.abs(weight).T, np.abs(grad_y)))
    # views (transposed, strided, float32) and the caller's arrays untouched
    x_view = np.asfortranarray(x)
    before = x_view.copy()
    assert_matches(nb.dense_forward(x_view, weight[:, ::1]), ref.dense_forward(x, weight),
                   ref.dense_forward(np.abs(x), np.abs(weight)))
    np.testing.assert_array_equal(x_view, before)
    assert nb.dense_forward(x.astype(np.float32), weight).dtype == np.float64


@pytest.mark.parametrize("closed_signal", [False, True])
def test_split_by_gate_matches_reference(closed_signal):
    rng = np.random.default_rng(7)
    output = rng.normal(size=(3, 4, 5, 6))
    output[0, 0, 0, :3] = 0.0                      # z = 0 is closed
    upstream = rng.normal(size=output.shape)
    if not closed_signal:
        upstream *= output > 0                     # what a following ReLU leaves
    got_open, got_closed = nb.split_by_gate(upstream, output)
    want_open, want_closed = ref.split_by_gate(upstream, output)
    np.testing.assert_array_equal(got_open, want_open)
    np.testing.assert_array_equal(got_open, np.where(output > 0, upstream, 0.0))
    if closed_signal:
        np.testing.assert_array_equal(got_closed, want_closed)
        np.testing.assert_array_equal(got_open + got_closed, upstream)
    else:
        assert got_closed is None and want_closed is None
