"""numba.cuda kernels (float64): GPU twins of :mod:`refpattern.kernels.numpy_reference`.

Host NumPy arrays in, host NumPy arrays out (each call copies its inputs to the device and its
result back); like every kernel they assume valid input (the layers check it).

- :func:`conv2d_forward` (twin of ``numpy_reference.conv2d_forward``): one thread per output
  element.
- :func:`gemm_at_b` (``a.T @ b``, the shape of the pattern statistics ``Σ_n x_n y_nᵀ``): a
  shared-memory tiled GEMM; its NumPy twin is simply ``a.T @ b``.  Its row tiles run along grid
  axis y, which CUDA limits to :data:`MAX_GRID_YZ` blocks: :func:`grid_y_launches` splits them into
  as many launches as needed (``docs/backends.md#cuda-grid``).

The other layer operations of the ``"cuda"`` backend are the Numba CPU kernels: the backend
seam (:func:`refpattern.kernels.get_backend`) puts them together.  The pattern statistics run on
the GPU in :mod:`refpattern.kernels.cuda_statistics`.

This module imports without a GPU (and without numba-cuda installed); only
:func:`require_cuda` (called by ``get_backend("cuda")`` and by the GPU functions
here) raises.  Without a GPU, set ``NUMBA_ENABLE_CUDASIM=1`` *before numba is
imported* to run the very same kernel code in numba's CUDA simulator (slow; tiny
shapes only) -- that is how the test suite checks these kernels on CPU-only CI.
"""

from __future__ import annotations

import math

import numpy as np
from numba import float64

from refpattern.kernels.numpy_reference import conv_output_size

try:  # numba-cuda is the optional `cuda` extra
    from numba import cuda
except ImportError as error:  # pragma: no cover - depends on the installation
    cuda = None
    _CUDA_IMPORT_ERROR: str | None = f"{type(error).__name__}: {error}"
else:
    _CUDA_IMPORT_ERROR = None

__all__ = ["CONV_THREADS_PER_BLOCK", "GEMM_TILE", "MAX_GRID_YZ", "conv2d_forward", "cuda", "gemm_at_b",
           "grid_y_launches", "require_cuda"]

#: threads per block of the convolution kernel (1-D launch over all output elements)
CONV_THREADS_PER_BLOCK = 128
#: side of the square shared-memory tiles of :func:`gemm_at_b` (blocks of TILE x TILE threads)
GEMM_TILE = 16
#: most blocks a launch may have along grid axes y and z (CUDA's limit on every device since compute
#: capability 3.0; along x it is 2³¹ − 1)
MAX_GRID_YZ = 65535

_ADVICE = (
    'Use backend="numba" or backend="numpy" instead, or set NUMBA_ENABLE_CUDASIM=1 before '
    "importing numba to run the kernels in the CUDA simulator (slow). The CUDA backend needs "
    "the `cuda` extra: pip install refpattern[cuda]"
)


def require_cuda() -> None:
    """Raise a ``RuntimeError`` that says what to do when no CUDA device (or simulator) is usable."""
    if cuda is None:
        raise RuntimeError(
            f"refpattern cuda backend: numba.cuda could not be imported ({_CUDA_IMPORT_ERROR}); "
            f"no CUDA GPU found. {_ADVICE}"
        )
    if not cuda.is_available():
        raise RuntimeError(
            "refpattern cuda backend: no CUDA GPU found (numba.cuda.is_available() is False). "
            + _ADVICE
        )


def _cuda_jit(function):
    """``cuda.jit`` when numba.cuda imported (compilation is lazy, at the first launch);
    otherwise the plain function, which :func:`require_cuda` never lets anyone launch."""
    return cuda.jit(function) if cuda is not None else function


def grid_y_launches(n_tiles: int, max_blocks: int):
    """Split ``n_tiles`` output tiles along grid axis y into launches of at most ``max_blocks`` blocks.

    Yields ``(first_tile, blocks)`` per launch, in order: the launches cover the tiles ``[0, n_tiles)``
    exactly once (``docs/backends.md#cuda-grid``).  The kernel adds ``first_tile`` to ``blockIdx.y``.
    """
    for first_tile in range(0, n_tiles, max_blocks):
        yield first_tile, min(max_blocks, n_tiles - first_tile)


# --------------------------------------------------------------------------------------
# convolution forward: one thread per output element
# --------------------------------------------------------------------------------------


@_cuda_jit
def _conv2d_forward_kernel(x, weight, sh, sw, top, left, y):
    """GPU twin of ``numpy_reference.conv2d_forward``; thread ``t`` computes one ``y`` entry.

    ``y[n, o, p, q] = Σ_{c,i,j} weight[o, c, i, j] · x[n, c, p*sh + i - top, q*sw + j - left]``
    (terms on the zero padding skipped).  ``t`` enumerates ``y`` in C order, so neighbouring
    threads write neighbouring ``q`` (coalesced).

    x : (N, C, H, W) float64; weight : (O, C, kh, kw) float64; y : (N, O, OH, OW) float64 (out)
    """
    t = cuda.grid(1)
    n_samples, out_channels, oh, ow = y.shape
    if t >= n_samples * out_channels * oh * ow:  # last block is ragged
        return
    q = t % ow
    p = (t // ow) % oh
    o = (t // (ow * oh)) % out_channels
    n = t // (ow * oh * out_channels)
    channels, height, width = x.shape[1], x.shape[2], x.shape[3]
    kh, kw = weight.shape[2], weight.shape[3]
    total = 0.0
    for c in range(channels):
        for i in range(kh):
            r = p * sh + i - top
            if r < 0 or r >= height:  # top / bottom padding
                continue
            for j in range(kw):
                s = q * sw + j - left
                if s >= 0 and s < width:  # left / right padding
                    total += weight[o, c, i, j] * x[n, c, r, s]
    y[n, o, p, q] = total


def conv2d_forward(x, weight, stride, padding):
    """Cross-correlation without bias, on the GPU (one thread per output element).

    ``y[n, o, p, q] = Σ_{c,i,j} weight[o, c, i, j] · x_pad[n, c, p*sh + i, q*sw + j]``

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    weight : ndarray, shape (O, C, kh, kw)
    stride : pair of int
    padding : ``((top, bottom), (left, right))``

    Returns
    -------
    y : ndarray, shape (N, O, OH, OW), float64 (on the host)
    """
    require_cuda()
    x, weight = np.ascontiguousarray(x, dtype=np.float64), np.ascontiguousarray(weight, dtype=np.float64)
    (sh, sw), ((top, bottom), (left, right)) = stride, padding
    n, _, h, w = x.shape
    o, _, kh, kw = weight.shape
    oh, ow = conv_output_size(h, kh, sh, top, bottom), conv_output_size(w, kw, sw, left, right)
    if n * o * oh * ow == 0:  # an empty batch: a launch of 0 blocks is an error on a GPU
        return np.zeros((n, o, oh, ow))
    y_device = cuda.device_array((n, o, oh, ow), dtype=np.float64)
    blocks = math.ceil(n * o * oh * ow / CONV_THREADS_PER_BLOCK)
    _conv2d_forward_kernel[blocks, CONV_THREADS_PER_BLOCK](
        cuda.to_device(x), cuda.to_device(weight), sh, sw, top, left, y_device
    )
    return y_device.copy_to_host()


# --------------------------------------------------------------------------------------
# a.T @ b: shared-memory tiled GEMM
# --------------------------------------------------------------------------------------


@_cuda_jit
def _gemm_at_b_kernel(a, b, row_begin, out):
    """``out[d, f] = Σ_n a[n, d] · b[n, f]``, one ``GEMM_TILE x GEMM_TILE`` output tile per block.

    Block ``(bx, by)`` owns rows ``d ∈ [d0, d0 + T)`` with ``d0 = row_begin + by*T`` and columns
    ``f ∈ [bx*T, bx*T + T)`` of ``out``; thread ``(tx, ty)`` owns ``out[d0 + ty, bx*T + tx]``
    (``row_begin``: the first row of this launch, a multiple of ``T``).  The sum over ``n``
    walks in slabs of ``T`` rows: the block loads ``a[n0:n0+T, d-tile]`` and
    ``b[n0:n0+T, f-tile]`` into shared memory (zeros past any edge, so ragged ``N``, ``D``
    and ``F`` need no special case in the product), then every thread adds its ``T`` terms.

    a : (N, D) float64; b : (N, F) float64; row_begin : int; out : (D, F) float64 (written)
    """
    a_tile = cuda.shared.array((GEMM_TILE, GEMM_TILE), float64)  # a_tile[k, d - d0]
    b_tile = cuda.shared.array((GEMM_TILE, GEMM_TILE), float64)  # b_tile[k, f - f0]
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    d0 = row_begin + cuda.blockIdx.y * GEMM_TILE
    f0 = cuda.blockIdx.x * GEMM_TILE
    n_rows, d_size = a.shape
    f_size = b.shape[1]
    total = 0.0
    for n0 in range(0, n_rows, GEMM_TILE):
        n = n0 + ty  # thread (tx, ty) loads row ty, column tx of both slabs (coalesced in tx)
        if n < n_rows and d0 + tx < d_size:
            a_tile[ty, tx] = a[n, d0 + tx]
        else:
            a_tile[ty, tx] = 0.0
        if n < n_rows and f0 + tx < f_size:
            b_tile[ty, tx] = b[n, f0 + tx]
        else:
            b_tile[ty, tx] = 0.0
        cuda.syncthreads()
        for k in range(GEMM_TILE):
            total += a_tile[k, ty] * b_tile[k, tx]
        cuda.syncthreads()
    if d0 + ty < d_size and f0 + tx < f_size:
        out[d0 + ty, f0 + tx] = total


def gemm_at_b(a, b):
    """``a.T @ b`` on the GPU (shared-memory tiled GEMM), e.g. ``Σ_n x_n y_nᵀ``.

    Parameters
    ----------
    a : ndarray, shape (N, D)
    b : ndarray, shape (N, F), the same N

    Returns
    -------
    out : ndarray, shape (D, F), float64 (on the host); its NumPy twin is ``a.T @ b``.
    """
    require_cuda()
    a, b = np.ascontiguousarray(a, dtype=np.float64), np.ascontiguousarray(b, dtype=np.float64)
    d_size, f_size = a.shape[1], b.shape[1]
    if a.shape[0] == 0 or d_size == 0 or f_size == 0:  # an empty sum, or no output: no launch of 0 blocks
        return np.zeros((d_size, f_size))
    out_device = cuda.device_array((d_size, f_size), dtype=np.float64)
    a_device, b_device = cuda.to_device(a), cuda.to_device(b)
    column_tiles = math.ceil(f_size / GEMM_TILE)  # along grid x (no practical limit)
    for first_tile, row_tiles in grid_y_launches(math.ceil(d_size / GEMM_TILE), MAX_GRID_YZ):
        _gemm_at_b_kernel[(column_tiles, row_tiles), (GEMM_TILE, GEMM_TILE)](
            a_device, b_device, first_tile * GEMM_TILE, out_device)
    return out_device.copy_to_host()
