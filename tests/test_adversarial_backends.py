"""The backends' seam under adversarial use: what an outside reviewer found when trying to break it.

- The CUDA kernels are launched with a configuration a GPU accepts whatever the (legal) input: CUDA refuses a
  launch of 0 blocks, and more than 65 535 blocks along grid axes y and z.  Numba's CUDA simulator checks
  neither, so these tests record the launches through a stand-in for ``numba.cuda`` (host arrays as device
  arrays, kernels that record their configuration and arguments instead of running) and hold them to CUDA's
  limits; the kernels' numbers are checked in the simulator (``tests/cudasim_*.py``).
- ``workers.set_worker_count`` takes NumPy integers and names a count of the wrong type.
"""

from __future__ import annotations

import math
import types

import numpy as np
import pytest

from refpattern.kernels import cuda_kernels, cuda_statistics, workers
from refpattern.kernels import numpy_reference as ref

#: CUDA's grid limits (blocks per axis x, y, z), the same on every device since compute capability 3.0
GRID_LIMITS = (2 ** 31 - 1, 65535, 65535)


class RecordedKernel:
    """A stand-in for a ``@cuda.jit`` kernel: ``kernel[griddim, blockdim](*args)`` records the launch."""

    def __init__(self, launches: list, name: str):
        self.launches, self.name = launches, name

    def __getitem__(self, configuration):
        griddim, blockdim = configuration
        griddim = tuple(griddim) if isinstance(griddim, tuple) else (griddim,)
        return lambda *args: self.launches.append((self.name, griddim + (1,) * (3 - len(griddim)), args))


class HostDeviceArray(np.ndarray):
    """A host array standing in for a device array: ``copy_to_host`` returns a copy."""

    def copy_to_host(self):
        return np.array(self)


@pytest.fixture
def recorded_launches(monkeypatch):
    """Host arrays for device arrays and recording kernels in both CUDA modules; yields the launch list."""
    fake_cuda = types.SimpleNamespace(
        device_array=lambda shape, dtype=np.float64: np.zeros(shape, dtype).view(HostDeviceArray),
        to_device=lambda array: np.array(array).view(HostDeviceArray), is_available=lambda: True)
    launches = []
    for module, names in ((cuda_kernels, ("_conv2d_forward_kernel", "_gemm_at_b_kernel")),
                          (cuda_statistics, ("_shifted_outputs_kernel", "_statistics_kernel", "_column_sums_kernel"))):
        monkeypatch.setattr(module, "cuda", fake_cuda)
        monkeypatch.setattr(module, "require_cuda", lambda: None)
        for name in names:
            monkeypatch.setattr(module, name, RecordedKernel(launches, name))
    return launches


def assert_within_grid_limits(launches):
    for name, griddim, _ in launches:
        assert all(1 <= blocks <= limit for blocks, limit in zip(griddim, GRID_LIMITS)), \
            f"{name} launched on grid {griddim}; CUDA allows 1 to {GRID_LIMITS} blocks"


def test_cuda_convolution_of_an_empty_batch_launches_no_kernel(recorded_launches):
    """Conv2D accepts an empty batch (N = 0) and the numpy/numba kernels return (0, O, OH, OW); a launch of
    ``ceil(0 / 128) = 0`` blocks is an error on a GPU, so the CUDA kernel returns the empty result itself."""
    x, weight = np.zeros((0, 2, 5, 4)), np.ones((3, 2, 2, 3))
    stride, padding = (2, 1), ((1, 0), (0, 2))
    y = cuda_kernels.conv2d_forward(x, weight, stride, padding)
    assert y.shape == ref.conv2d_forward(x, weight, stride, padding).shape == (0, 3, 3, 4)
    assert y.dtype == np.float64
    assert recorded_launches == []
    product = cuda_kernels.gemm_at_b(np.zeros((0, 3)), np.zeros((0, 2)))  # the empty sum Σ_n a_n b_nᵀ = 0
    np.testing.assert_array_equal(product, np.zeros((3, 2)))
    assert recorded_launches == []


def test_cuda_statistics_of_an_empty_batch_add_nothing(recorded_launches):
    sums = {"products": np.zeros((3, 6)), "sum_x": np.zeros(3), "n_plus": np.zeros(2, np.int64),
            "output_sums": np.zeros((4, 2))}
    added = cuda_statistics.accumulate_statistics(np.zeros((0, 3)), np.zeros((0, 2)), np.ones((2, 3)), np.zeros(3),
                                                  None, **sums)
    assert added == 0
    assert all(not value.any() for value in sums.values())
    assert recorded_launches == []


@pytest.mark.parametrize("rows_per_split", [cuda_statistics.ROWS_PER_SPLIT, 16])
def test_cuda_statistics_of_one_neuron_on_many_observations_stay_within_the_grid(recorded_launches, rows_per_split):
    """One neuron (a one-filter convolution: 256 images of 128 × 128 give 2²² observations in one batch): Ỹ's
    chunk of ``2²⁴ / O`` observations was ``2²⁴ / 64 = 262 144`` tiles along grid y, which a GPU refuses.  The
    chunks must stay within the grid and still cover every observation exactly once, in order."""
    n, oh, ow = 3, 1024, 2048  # 6 291 456 observations; the arrays only need their shapes (zero strides)
    x = np.broadcast_to(np.zeros(1), (n, 1, oh, ow))
    z = np.broadcast_to(np.zeros(1), (n, 1, oh, ow))
    m_total = cuda_statistics.accumulate_on_device(
        x, z, np.ones((1, 1)), np.zeros(1), (1, 1, 1, 1, 0, 0, oh, ow), np.zeros((1, 3)), np.zeros((1, 1)),
        np.zeros((5, 1)), rows_per_split=rows_per_split)
    assert m_total == n * oh * ow
    assert_within_grid_limits(recorded_launches)
    chunks = [(args[11], args[12].shape[0]) for name, _, args in recorded_launches if name == "_shifted_outputs_kernel"]
    assert [begin for begin, _ in chunks] == list(np.cumsum([0] + [count for _, count in chunks])[:-1])
    assert sum(count for _, count in chunks) == m_total


def test_cuda_statistics_of_a_dense_layer_with_millions_of_inputs_stay_within_the_grid(recorded_launches):
    """A Dense layer with D = 5·10⁶ inputs (a linear read-out of 5-million-entry feature maps; its sums
    (D, 3O) hold 240 MB for 2 neurons): the statistics GEMM had ``ceil(D / 64) = 78 125`` tiles along grid y."""
    d, o, n = 5_000_000, 2, 4
    x = np.broadcast_to(np.zeros(1), (n, d, 1, 1))
    z = np.broadcast_to(np.zeros(1), (n, o, 1, 1))
    weight = np.broadcast_to(np.zeros(1), (o, d))
    shift = np.broadcast_to(np.zeros(1), (d,))
    products = np.broadcast_to(np.zeros(1), (d, 3 * o))
    sum_x = np.broadcast_to(np.zeros(1), (1, d))
    cuda_statistics.accumulate_on_device(x, z, weight, shift, (1, 1, 1, 1, 0, 0, 1, 1), products, sum_x,
                                         np.zeros((5, o)))
    assert_within_grid_limits(recorded_launches)
    grids = {name: griddim for name, griddim, _ in recorded_launches}
    assert grids["_statistics_kernel"][:2] == (math.ceil(d / cuda_statistics.TILE),
                                               math.ceil(3 * o / cuda_statistics.TILE))



def covered_tile_starts(launches, name, begin_argument, tile):
    """The first entry of every output tile that launches of ``name`` cover along grid y, in launch order: each
    launch covers the ``griddim[1]`` tiles that start at its offset argument ``args[begin_argument]``."""
    return [args[begin_argument] + tile * block for launched, griddim, args in launches if launched == name
            for block in range(griddim[1])]


@pytest.mark.parametrize("d, o, second_moment", [
    pytest.param(3, 2_000_000, False, id="two-million-neurons"),  # ceil(3·O / 64) = 93 750 column tiles of R
    pytest.param(4_200_000, 1, True, id="sum-xx-of-4.2-million-inputs"),  # ceil(D / 64) = 65 625 tiles of P̃
])
def test_cuda_statistics_of_a_layer_with_millions_of_columns_stay_within_the_grid(recorded_launches, d, o,
                                                                                  second_moment):
    """The statistics GEMM puts the columns of ``R = [Ỹ⊙(1 − G) | Ỹ⊙G | G]`` (3·O) or of ``R = P̃`` (D, for
    ``Σx̃x̃ᵀ``) along grid y: more than 65 535 tiles of 64 (a Dense layer of 2 million neurons) must be launched
    in several launches whose column tiles together are each tile of ``[0, 3·O)`` (or ``[0, D)``) exactly once,
    in order, for every chunk of observations."""
    n = 2
    x = np.broadcast_to(np.zeros(1), (n, d, 1, 1))  # only the shapes matter (zero strides)
    z = np.broadcast_to(np.zeros(1), (n, o, 1, 1))
    weight = np.broadcast_to(np.zeros(1), (o, d))
    shift = np.broadcast_to(np.zeros(1), (d,))
    products = np.broadcast_to(np.zeros(1), (d, 3 * o))
    sum_x = np.broadcast_to(np.zeros(1), (1, d))
    vectors = np.broadcast_to(np.zeros(1), (5, o))
    sum_xx = np.broadcast_to(np.zeros(1), (d, d)) if second_moment else None
    m_total = cuda_statistics.accumulate_on_device(x, z, weight, shift, (1, 1, 1, 1, 0, 0, 1, 1), products, sum_x,
                                                   vectors, sum_xx)
    assert m_total == n
    assert_within_grid_limits(recorded_launches)
    tile = cuda_statistics.TILE
    chunks = [args[11] for name, _, args in recorded_launches if name == "_shifted_outputs_kernel"]
    for right_is_patch, n_right in ((False, 3 * o), (True, d)) if second_moment else ((False, 3 * o),):
        launches = [launch for launch in recorded_launches
                    if launch[0] == "_statistics_kernel" and launch[2][16] is right_is_patch]
        for m_begin in chunks:
            chunk_launches = [launch for launch in launches if launch[2][13] == m_begin]  # (after x, …, z, closed)
            assert covered_tile_starts(chunk_launches, "_statistics_kernel", 14, tile) == list(range(0, n_right, tile))


def test_cuda_gemm_with_millions_of_output_rows_stays_within_the_grid(recorded_launches):
    """``gemm_at_b`` puts the rows ``D`` of ``a.T @ b`` along grid y in tiles of 16: ``D = 2·10⁶`` rows are
    125 000 tiles, which must be launched in several launches covering each row tile exactly once, in order."""
    d, f = 2_000_000, 3
    a = np.broadcast_to(np.zeros(1), (1, d))
    b = np.broadcast_to(np.zeros(1), (1, f))
    cuda_kernels.gemm_at_b(a, b)
    assert_within_grid_limits(recorded_launches)
    assert {griddim[0] for _, griddim, _ in recorded_launches} == {math.ceil(f / cuda_kernels.GEMM_TILE)}
    tile = cuda_kernels.GEMM_TILE
    assert covered_tile_starts(recorded_launches, "_gemm_at_b_kernel", 2, tile) == list(range(0, d, tile))


# --- the Numba CPU workers --------------------------------------------------------------------------------


def test_set_worker_count_takes_numpy_integers():
    previous = workers.set_worker_count(np.int64(2))
    try:
        assert workers._workers == 2 and type(workers._workers) is int
        assert workers.set_worker_count(np.int32(1)) == 2
    finally:
        workers.set_worker_count(previous)


@pytest.mark.parametrize("count, error", [(2.0, TypeError), (True, TypeError), (np.bool_(True), TypeError),
                                          ("2", TypeError), (None, TypeError), (np.array(2), TypeError),
                                          (0, ValueError), (np.int64(-1), ValueError)])
def test_set_worker_count_names_a_bad_count(count, error):
    before = workers._workers
    with pytest.raises(error, match=r"set_worker_count: count must be an int >= 1, got"):
        workers.set_worker_count(count)
    assert workers._workers == before
