"""The Numba CPU kernels split over worker threads give their NumPy twins' numbers.

``refpattern.kernels.workers`` cuts a kernel's work into one contiguous range per worker (samples,
bands of output rows, blocks of input channels, columns of a product, rows of a patch matrix).
Here every kernel runs on three workers (so that ranges are ragged) with no minimum work per
worker (so that even these tiny shapes are split), and is held to its twin exactly as in
``tests/test_kernels_numba.py`` and ``tests/test_statistics_kernels.py``: 1e-12 relative to the
same operation on the magnitudes.  The worker machinery itself: every range runs once, an error in
one range is raised only after all have finished, BLAS's thread count comes back, a forked child
runs kernels too.
"""

from __future__ import annotations

import multiprocessing
import sys

import numpy as np
import pytest
from conftest import reference_sums
from hypothesis import given
from test_kernels_numba import (
    CONV_CASES,
    POOL_CASES,
    SEEDS,
    SETTINGS,
    assert_matches,
    check_conv_backward_input,
    check_maxpool,
    conv_arrays,
    conv_cases,
)
from test_statistics_kernels import assert_matches as assert_sums_match
from test_statistics_kernels import empty_sums, forward_case, output_scale, random_conv_case

from refpattern.kernels import numba_cpu as nb
from refpattern.kernels import numba_statistics, workers
from refpattern.kernels import numpy_reference as ref

pytestmark = pytest.mark.skipif(not workers.blas_threads_controllable(),
                                reason="BLAS's thread count cannot be set here: the kernels run on one thread")


@pytest.fixture
def three_workers(monkeypatch):
    """Three workers and no minimum work per worker: every kernel splits even tiny work."""
    for module, name in ((nb, "MIN_PRODUCT_WORK"), (nb, "MIN_LOOP_WORK"), (numba_statistics, "MIN_WORK_PER_WORKER"),
                         (numba_statistics, "MIN_OBSERVATIONS_PER_WORKER")):
        monkeypatch.setattr(module, name, 1)
    previous = workers.set_worker_count(3)
    assert workers.worker_count() == 3
    yield
    workers.set_worker_count(previous)


# --- layer kernels ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("rows_backward", [True, False], ids=["rows-backward", "col2im-backward"])
@pytest.mark.parametrize("samples", [1, 2, 5])
@pytest.mark.parametrize("n, c, o, h, w, kernel, stride, padding", CONV_CASES)
def test_convolutions_on_three_workers_match_reference(three_workers, monkeypatch, samples, rows_backward, n, c, o,
                                                       h, w, kernel, stride, padding):
    """The units: bands of output rows (forward; stride-1 backward: bands of the input's rows), blocks of
    input channels (the other backward passes of one sample), samples.  Bands of one output row make
    every band boundary a range boundary.  Stride-1 convolutions run over shifted rows and their backward
    pass as the forward convolution of ``grad_y`` with the flipped kernel for any number of channels here
    (``rows-backward``), or never (im2col, GEMM + col2im)."""
    monkeypatch.setattr(nb, "ROWS_BACKWARD_MIN_CHANNELS", 1 if rows_backward else 1 << 30)
    monkeypatch.setattr(nb, "ROWS_FORWARD_MIN_CHANNELS", 1 if rows_backward else 1 << 30)  # both ways forward too
    case = (samples, c, o, h, w, kernel, stride, padding)
    x, weight, grad_y = conv_arrays(case, seed=samples)
    for band_entries in (1 << 20, 1):  # whole images, then one output row per band
        monkeypatch.setattr(nb, "MAX_PATCH_ELEMENTS", band_entries)
        assert_matches(nb.conv2d_forward(x, weight, stride, padding), ref.conv2d_forward(x, weight, stride, padding),
                       ref.conv2d_forward(np.abs(x), np.abs(weight), stride, padding))
        assert_matches(nb.conv2d_backward_input(grad_y, weight, x.shape, stride, padding),
                       ref.conv2d_backward_input(grad_y, weight, x.shape, stride, padding),
                       ref.conv2d_backward_input(np.abs(grad_y), np.abs(weight), x.shape, stride, padding))
        assert_matches(nb.conv2d_backward_weight(grad_y, x, kernel, stride, padding),
                       ref.conv2d_backward_weight(grad_y, x, kernel, stride, padding),
                       ref.conv2d_backward_weight(np.abs(grad_y), np.abs(x), kernel, stride, padding))


@SETTINGS
@given(case=conv_cases(), seed=SEEDS)
def test_flipped_kernel_backward_matches_reference_random(case, seed):
    """The stride-1 backward pass as the forward convolution of ``grad_y`` with the flipped kernel, for
    every drawn shape (pads wider than the kernel crop ``grad_y``); other strides take GEMM + col2im."""
    previous = nb.ROWS_BACKWARD_MIN_CHANNELS
    nb.ROWS_BACKWARD_MIN_CHANNELS = 1  # hypothesis runs many examples per test call: no monkeypatch fixture
    try:
        check_conv_backward_input(case, seed)
    finally:
        nb.ROWS_BACKWARD_MIN_CHANNELS = previous


@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "ties"])
@pytest.mark.parametrize("n, c, h, w, size, stride", POOL_CASES)
def test_maxpool_on_three_workers_matches_reference(three_workers, n, c, h, w, size, stride, ties):
    check_maxpool((n, c, h, w, size, stride), seed=8, ties=ties)


@pytest.mark.parametrize("n, d, o", [(1, 7, 5), (2, 300, 17), (25, 13, 4), (64, 30, 2)])
def test_dense_products_on_three_workers_match_reference(three_workers, n, d, o):
    """A small batch splits the columns of the product, a large one its rows."""
    rng = np.random.default_rng(n + d + o)
    x, weight, grad_y = rng.normal(size=(n, d)), rng.normal(size=(o, d)), rng.normal(size=(n, o))
    assert_matches(nb.dense_forward(x, weight), ref.dense_forward(x, weight),
                   ref.dense_forward(np.abs(x), np.abs(weight)))
    assert_matches(nb.dense_backward_input(grad_y, weight), ref.dense_backward_input(grad_y, weight),
                   ref.dense_backward_input(np.abs(grad_y), np.abs(weight)))


@pytest.mark.parametrize("closed_signal", [False, True])
def test_split_by_gate_on_three_workers_matches_reference(three_workers, closed_signal):
    rng = np.random.default_rng(9)
    output = rng.normal(size=(2, 3, 4, 5))
    upstream = rng.normal(size=output.shape) * (output > 0)  # what a following ReLU leaves
    if closed_signal:  # the only closed nonzero, in the last worker's range
        output[-1, -1, -1, -1], upstream[-1, -1, -1, -1] = -1.0, 2.5
    got_open, got_closed = nb.split_by_gate(upstream, output)
    want_open, want_closed = ref.split_by_gate(upstream, output)
    np.testing.assert_array_equal(got_open, want_open)
    if closed_signal:
        np.testing.assert_array_equal(got_closed, want_closed)
    else:
        assert got_closed is None and want_closed is None


@pytest.mark.parametrize("split", [True, False], ids=["three-workers", "one-thread"])
def test_relu_kernels_equal_their_twins_bit_for_bit(three_workers, monkeypatch, split):
    """``max(x, 0)`` and ``grad_y · 1[x > 0]`` exactly as NumPy computes them: −0.0, NaN and inf included."""
    if not split:
        monkeypatch.setattr(nb, "MIN_LOOP_WORK", 1 << 30)
    rng = np.random.default_rng(10)
    x = rng.normal(size=(3, 4, 5, 7))
    x.flat[:7] = [0.0, -0.0, np.nan, np.inf, -np.inf, 1e-320, -1e-320]
    grad_y = rng.normal(size=x.shape)
    grad_y.flat[5:12] = [-0.0, np.nan, np.inf, -3.0, -np.inf, 0.0, -1e-320]
    with np.errstate(invalid="ignore"):  # inf · 0 is NaN in both
        pairs = ((nb.relu_forward(x), ref.relu_forward(x)), (nb.relu_backward(grad_y, x), ref.relu_backward(grad_y, x)))
    for got, want in pairs:
        assert got.shape == want.shape and got.dtype == np.float64
        np.testing.assert_array_equal(got.view(np.int64), want.view(np.int64))


# --- the fused statistics ----------------------------------------------------------------------------------


@pytest.mark.parametrize("private_sums", ["three", "two", "one-range"])
@pytest.mark.parametrize("seed", range(6))
def test_statistics_on_three_workers_match_batch_sums(three_workers, monkeypatch, seed, private_sums):
    """Each worker adds its rows into sums of its own, added in range order; where the copies may hold
    only two layers' sums two workers run, and a layer whose sums would be too large to copy at all
    runs as one range adding in place."""
    rng = np.random.default_rng(200 + seed)
    x, _, weight_matrix, conv = random_conv_case(rng, asymmetric=seed % 2 == 1)
    x = np.concatenate([x, x[::-1] + 0.5])  # at least two samples
    o, d = weight_matrix.shape
    bias = rng.normal(0, 0.5, o)
    z = ref.conv2d_forward(x, weight_matrix.reshape((o, x.shape[1]) + conv[0]), conv[1], conv[2])
    z += bias[None, :, None, None]
    limit = {"three": 1 << 30, "two": 2 * (3 * o * d + d * d), "one-range": 0}[private_sums]  # sums: products, sum_xx
    monkeypatch.setattr(numba_statistics, "MAX_WORKER_SUM_ELEMENTS", limit)
    shift = rng.normal(0.5, 0.3, d)
    want, scale = reference_sums(x, z, weight_matrix, shift, conv)
    for max_elements in (1 << 22, 1):
        start = empty_sums(d, o, seed + 1)
        got = {name: value.copy() for name, value in start.items()}
        n = numba_statistics.accumulate_statistics(x, z, weight_matrix, shift, conv, max_chunk_elements=max_elements,
                                                   **got)
        assert n == want.n
        assert_sums_match(got, start, want, scale, f"three workers, conv {conv}, chunk {max_elements}")


@pytest.mark.parametrize("seed", range(9))
def test_forward_statistics_on_three_workers_match_the_forward_pass(three_workers, seed):
    x, z, weight_matrix, bias, conv = forward_case(seed, asymmetric=seed % 2 == 0)
    o, d = weight_matrix.shape
    shift = np.random.default_rng(seed + 300).normal(0.5, 0.3, d)
    want, scale = reference_sums(x, z, weight_matrix, shift, conv)
    for max_elements in (1 << 22, 1):
        start = empty_sums(d, o, seed + 2)
        got = {name: value.copy() for name, value in start.items()}
        out, n = numba_statistics.forward_statistics(x, weight_matrix, bias, shift, conv,
                                                     max_chunk_elements=max_elements, **got)
        assert n == want.n and out.shape == z.shape
        assert np.max(np.abs(out - z) / output_scale(x, weight_matrix, bias, conv)) <= 1e-12
        assert_sums_match(got, start, want, scale, f"forward, three workers, conv {conv}, chunk {max_elements}")


def test_forward_statistics_on_three_workers_keep_zero_bias_units_exactly_closed(three_workers):
    """The exact-gate guarantee holds in every worker's range: dead patches give exactly 0."""
    rng = np.random.default_rng(33)
    x = np.maximum(rng.normal(0.3, 1.0, (5, 4, 8, 8)), 0.0)
    x[:, :, :4] = 0.0
    weight = rng.normal(0, 0.3, (3, 4, 3, 3))
    conv = ((3, 3), (1, 1), ((1, 1), (1, 1)))
    shift = ref.patch_matrix(x, *conv).mean(axis=0)
    zero_patch = ~ref.patch_matrix(x, *conv).any(axis=1).reshape(5, 8, 8)
    out, _ = numba_statistics.forward_statistics(x, weight.reshape(3, -1), np.zeros(3), shift, conv,
                                                 max_chunk_elements=1, **empty_sums(36, 3))
    for o in range(3):
        np.testing.assert_array_equal(out[:, o][zero_patch], 0.0)


# --- the worker machinery ----------------------------------------------------------------------------------


def test_ranges_cover_the_work_once_in_order(three_workers):
    seen = []

    def record(start, stop):
        seen.append((start, stop))
        return start

    for n in (0, 1, 2, 3, 7, 100):
        seen.clear()
        starts = workers.run_in_ranges(record, n)
        covered = sorted(seen)
        assert covered[0][0] == 0 and covered[-1][1] == n
        assert all(a[1] == b[0] for a, b in zip(covered, covered[1:]))
        assert len(covered) == max(1, min(3, n))
        assert starts == [start for start, _ in covered]
    assert workers.split_range(10, 3) == [0, 3, 6, 10]
    seen.clear()
    workers.run_in_ranges(record, 10, grain=4)  # no range shorter than 4: two ranges
    assert sorted(seen) == [(0, 5), (5, 10)]


def test_an_error_in_one_range_is_raised_after_every_range_has_finished(three_workers):
    import threading
    import time

    finished = []
    lock = threading.Lock()

    def work(start, stop):
        if start == 0:
            raise ValueError("the first range fails")
        time.sleep(0.05)
        with lock:
            finished.append(start)

    with pytest.raises(ValueError, match="the first range fails"):
        workers.run_in_ranges(work, 9)
    assert sorted(finished) == [3, 6]


def test_blas_runs_on_one_thread_inside_and_its_count_comes_back():
    blas = workers.single_threaded_blas()
    before = blas.get()
    inside = workers.run_in_ranges(lambda start, stop: blas.get(), 1)
    assert inside == [1]
    with blas, blas:  # nested (several kernels at once): restored once, after the last
        assert blas.get() == 1
    assert blas.get() == before


def _conv_in_child(queue):
    x = np.arange(2 * 2 * 5 * 5, dtype=np.float64).reshape(2, 2, 5, 5)
    queue.put(nb.conv2d_forward(x, np.ones((3, 2, 3, 3)), (1, 1), ((1, 1), (1, 1))))


@pytest.mark.skipif(sys.platform == "win32", reason="no fork on Windows")
def test_a_forked_child_runs_the_kernels(three_workers):
    x = np.arange(2 * 2 * 5 * 5, dtype=np.float64).reshape(2, 2, 5, 5)
    want = nb.conv2d_forward(x, np.ones((3, 2, 3, 3)), (1, 1), ((1, 1), (1, 1)))  # the parent's pool exists now
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_conv_in_child, args=(queue,))
    child.start()
    got = queue.get(timeout=120)
    child.join(timeout=120)
    assert child.exitcode == 0
    np.testing.assert_array_equal(got, want)


def test_kernels_called_from_several_threads_at_once_give_the_same_numbers(three_workers):
    """Callers share the pool and the BLAS setting: four threads explaining at once get each its own
    (serial) answer, and BLAS's thread count comes back once the last one has finished."""
    from concurrent.futures import ThreadPoolExecutor

    from conftest import random_cnn

    import refpattern as rp

    net = random_cnn()
    inputs = [np.random.default_rng(seed).normal(size=(6, 2, 9, 9)) for seed in range(8)]
    want = [rp.explain(net, x, "gradient") for x in inputs]
    before = workers.single_threaded_blas().get()
    with ThreadPoolExecutor(4) as callers:
        got = list(callers.map(lambda x: rp.explain(net, x, "gradient"), inputs))
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    assert workers.single_threaded_blas().get() == before
