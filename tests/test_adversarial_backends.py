"""The backends' seam under adversarial use: what an outside reviewer found when trying to break it.

- The CUDA kernels are launched with a configuration a GPU accepts whatever the (legal) input: CUDA refuses a
  launch of 0 blocks, and more than 65 535 blocks along grid axes y and z.  Numba's CUDA simulator checks
  neither, so these tests record the launches through a stand-in for ``numba.cuda`` (host arrays as device
  arrays, kernels that record their configuration and arguments instead of running) and hold them to CUDA's
  limits; the kernels' numbers are checked in the simulator (``tests/cudasim_*.py``).
- ``workers.set_worker_count`` takes NumPy integers and names a count of the wrong type.
"""

from __future__ import annotations

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


@pytest.fixture
def recorded_launches(monkeypatch):
    """Host arrays for device arrays and recording kernels in both CUDA modules; yields the launch list."""
    fake_cuda = types.SimpleNamespace(device_array=lambda shape, dtype=np.float64: np.zeros(shape, dtype),
                                      to_device=lambda array: np.array(array), is_available=lambda: True)
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
