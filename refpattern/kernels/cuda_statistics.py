"""numba.cuda (float64): the pattern-statistics pass of one kernel layer on the GPU.

Same function and signature as :mod:`refpattern.kernels.numba_statistics`
(``accumulate_statistics``: host arrays in, the caller's running sums added to in place); the
twin is ``numpy_reference.accumulate_statistics``.  The arguments are checked by the caller
(:class:`~refpattern.patterns.statistics.LayerStatistics`).  For ``M`` observations, ``D`` inputs and
``O`` neurons, with ``P̃`` the shifted patches, ``Ỹ = P̃Wᵀ`` and ``G = [z > 0]``::

    products += P̃ᵀ·[Ỹ⊙(1 − G) | Ỹ⊙G | G ⊕ F]   (D, 3O)   (F: closed_inputs, docs/math.md#regime-input-sums)
    sum_x += Σx̃,  n_plus += Σg,  output_sums += [Σỹ⊙(1 − g); Σỹ⊙g; Σỹ²⊙(1 − g); Σỹ²⊙g],
    sum_xx += P̃ᵀP̃ (if given)

Kernels (all read the patches *on the fly* from the layer input: no patch matrix is built;
a Dense layer is a 1×1 "convolution" of an (N, D, 1, 1) input):

- :func:`_shifted_outputs_kernel` — ``Ỹ = P̃Wᵀ`` (M, O), a tiled GEMM over ``k = d``.
- :func:`_statistics_kernel` — ``P̃ᵀ·R`` with ``R = [Ỹ⊙(1 − G) | Ỹ⊙G | G ⊕ F]`` built on the fly from ``Ỹ``
  and the sign of ``z`` (or ``R = P̃`` for ``Σx̃x̃ᵀ``), a tiled GEMM over ``k = m``, **split over
  the observations** (grid axis z) so that there are enough blocks, each split adding its partial
  tile into the result with float64 atomic adds.  The column tiles of ``R`` (grid axis y) go in
  launches of at most :data:`MAX_GRID_YZ` blocks (``docs/backends.md#cuda-grid``).
- :func:`_column_sums_kernel` — the O-vector sums (and, on ``P̃``, ``Σx̃``): one thread per column
  per split, a loop over rows, one atomic add per sum.

The two GEMMs use the layout described in ``docs/backends.md#cuda-gemm``: blocks of
16×16 threads own a :data:`TILE`×:data:`TILE` output tile, walk the reduction axis in slabs of
:data:`DEPTH` staged through shared memory (zeros past every edge, so ragged ``M``, ``D`` and
``O`` need no special case in the product), and each thread keeps 4×4 outputs in registers
(rows ``ty + 16a``, columns ``tx + 16b``: neighbouring threads read neighbouring shared words).

The running sums stay on the host (they merge, recentre and save as NumPy arrays): each call
sums its batch into zeroed device buffers and adds them to the host arrays in row blocks of
at most :data:`COPY_BLOCK_ELEMENTS` (no host temporary of the full (D, 3O) size).

Like :mod:`refpattern.kernels.cuda_kernels`, this imports without a GPU; :func:`require_cuda`
raises with advice, and ``NUMBA_ENABLE_CUDASIM=1`` (set before numba is imported) runs the same
kernels in numba's simulator (``tests/cudasim_statistics_checks.py``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import float64

from refpattern.kernels.cuda_kernels import MAX_GRID_YZ, cuda, grid_y_launches, require_cuda

__all__ = ["require_cuda", "accumulate_statistics", "accumulate_on_device", "TILE", "DEPTH", "THREADS",
           "ROWS_PER_SPLIT", "MAX_GRID_YZ"]

#: side of a block's output tile of the two GEMMs
TILE = 64
#: rows of the reduction axis staged in shared memory per step
DEPTH = 16
#: threads per side of a GEMM block (THREADS × THREADS threads, each (TILE/THREADS)² outputs)
THREADS = 16
#: outputs per thread and axis
PER_THREAD = TILE // THREADS
#: observations per split of the statistics GEMM and the column sums (a multiple of DEPTH)
ROWS_PER_SPLIT = 1024
#: most observations whose Ỹ (M, O) is held on the device at once
MAX_CHUNK_ELEMENTS = 1 << 24
#: largest row block of a device sum copied back and added on the host at once
COPY_BLOCK_ELEMENTS = 1 << 22
#: threads of the column-sum kernel: columns × row-strands per block
SUM_THREADS = (32, 8)
# MAX_GRID_YZ (from cuda_kernels), the most blocks along grid axes y and z: a chunk of observations is at
# most ``MAX_GRID_YZ·min(TILE, rows_per_split)`` long, the inputs ``D`` of the statistics GEMM run along x,
# and its column tiles along y go in launches of at most MAX_GRID_YZ blocks


def _cuda_jit(function=None, **options):
    """``cuda.jit`` when numba.cuda imported; the plain function otherwise (never launched then)."""
    if function is None:
        return lambda f: _cuda_jit(f, **options)
    return cuda.jit(function, **options) if cuda is not None else function


# --------------------------------------------------------------------------------------
# device functions: one shifted patch entry, one entry of the right-hand side
# --------------------------------------------------------------------------------------


@_cuda_jit(device=True)
def _patch_value(x, shift, m, k, kh, kw, sh, sw, pad_top, pad_left, oh, ow):
    """``x̃[m, k] = x_pad[n, c, p·sh + i, q·sw + j] − shift[k]`` for observation ``m = (n, p, q)``
    and input ``k = (c, i, j)`` (0 on the padding, before the shift): ``x[n, c, p·sh + i − pad_top,
    q·sw + j − pad_left]`` where that lies inside the image."""
    n = m // (oh * ow)
    rest = m - n * oh * ow
    p = rest // ow
    q = rest - p * ow
    c = k // (kh * kw)
    rest = k - c * kh * kw
    i = rest // kw
    j = rest - i * kw
    row = p * sh + i - pad_top
    col = q * sw + j - pad_left
    value = 0.0
    if row >= 0 and row < x.shape[2] and col >= 0 and col < x.shape[3]:
        value = x[n, c, row, col]
    return value - shift[k]


@_cuda_jit(device=True)
def _gate(z, m, o, oh, ow):
    """``g = 1[z[n, o, p, q] > 0]`` (as 0.0 / 1.0) for observation ``m = (n, p, q)``."""
    n = m // (oh * ow)
    rest = m - n * oh * ow
    p = rest // ow
    q = rest - p * ow
    return 1.0 if z[n, o, p, q] > 0 else 0.0


@_cuda_jit(device=True)
def _right_value(y, z, closed, m_begin, mm, j, n_out, oh, ow):
    """``R[m, j]`` of ``R = [Ỹ⊙(1 − G) | Ỹ⊙G | G ⊕ F]`` for chunk row ``mm`` (observation ``m_begin + mm``);
    ``closed[o]`` (0.0 or 1.0) is ``F``'s entry of neuron ``o``: its last block is ``|g − F_o|``."""
    block = j // n_out
    o = j - block * n_out
    g = _gate(z, m_begin + mm, o, oh, ow)
    if block == 0:
        return y[mm, o] * (1.0 - g)
    if block == 1:
        return y[mm, o] * g
    return abs(g - closed[o])


# --------------------------------------------------------------------------------------
# Ỹ = P̃Wᵀ
# --------------------------------------------------------------------------------------


@_cuda_jit
def _shifted_outputs_kernel(x, shift, weight, kh, kw, sh, sw, pad_top, pad_left, oh, ow, m_begin, y):
    """``y[mm, o] = Σ_k x̃[m_begin + mm, k] · weight[o, k]``; block (bx, by) owns
    ``o ∈ [bx·TILE, +TILE)``, ``mm ∈ [by·TILE, +TILE)``.

    x : (N, C, H, W); shift : (D,); weight : (O, D); y : (M_chunk, O) written
    """
    a_tile = cuda.shared.array((DEPTH, TILE), float64)  # a_tile[kk, mm − mm0] = x̃
    b_tile = cuda.shared.array((DEPTH, TILE), float64)  # b_tile[kk, o − o0] = weight
    acc = cuda.local.array((PER_THREAD, PER_THREAD), float64)
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    t = ty * THREADS + tx
    o0 = cuda.blockIdx.x * TILE
    mm0 = cuda.blockIdx.y * TILE
    m_count, n_out = y.shape
    d = weight.shape[1]
    for a in range(PER_THREAD):
        for b in range(PER_THREAD):
            acc[a, b] = 0.0
    for k0 in range(0, d, DEPTH):
        for s in range(DEPTH * TILE // (THREADS * THREADS)):
            e = t + s * THREADS * THREADS
            kk = e // TILE
            col = e - kk * TILE
            k = k0 + kk
            value = 0.0
            if k < d and mm0 + col < m_count:
                value = _patch_value(x, shift, m_begin + mm0 + col, k, kh, kw, sh, sw, pad_top, pad_left, oh, ow)
            a_tile[kk, col] = value
            value = 0.0
            if k < d and o0 + col < n_out:
                value = weight[o0 + col, k]
            b_tile[kk, col] = value
        cuda.syncthreads()
        for kk in range(DEPTH):
            for a in range(PER_THREAD):
                left = a_tile[kk, ty + THREADS * a]
                for b in range(PER_THREAD):
                    acc[a, b] += left * b_tile[kk, tx + THREADS * b]
        cuda.syncthreads()
    for a in range(PER_THREAD):
        mm = mm0 + ty + THREADS * a
        for b in range(PER_THREAD):
            o = o0 + tx + THREADS * b
            if mm < m_count and o < n_out:
                y[mm, o] = acc[a, b]


# --------------------------------------------------------------------------------------
# P̃ᵀ·[Ỹ⊙(1 − G) | Ỹ⊙G | G]  (or P̃ᵀP̃), split over the observations
# --------------------------------------------------------------------------------------


@_cuda_jit
def _statistics_kernel(x, shift, y, z, closed, kh, kw, sh, sw, pad_top, pad_left, oh, ow, m_begin, column_begin,
                       rows_per_split, right_is_patch, out):
    """``out[k, j] += Σ_{mm in split} x̃[m, k] · R[m, j]`` (``m = m_begin + mm``), with
    ``R = [Ỹ⊙(1 − G) | Ỹ⊙G | G ⊕ F]`` (``out`` (D, 3O), ``F = closed`` (O,) of 0.0/1.0) or, if
    ``right_is_patch``, ``R = P̃`` (``out`` (D, D)).

    Block (bx, by, bz) owns ``k ∈ [bx·TILE, +TILE)``, ``j ∈ [column_begin + by·TILE, +TILE)`` and the
    rows ``mm ∈ [bz·rows_per_split, +rows_per_split)`` of the chunk; it adds its partial tile to
    ``out`` with atomic adds (other splits add to the same entries).  ``column_begin`` (a multiple of
    TILE) is the first column of this launch: the columns go in launches of at most MAX_GRID_YZ tiles.

    x : (N, C, H, W); shift : (D,); y : (M_chunk, O); z : (N, O, OH, OW)
    """
    a_tile = cuda.shared.array((DEPTH, TILE), float64)  # a_tile[kk, k − k0] = x̃[m, k]
    b_tile = cuda.shared.array((DEPTH, TILE), float64)  # b_tile[kk, j − j0] = R[m, j]
    acc = cuda.local.array((PER_THREAD, PER_THREAD), float64)
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    t = ty * THREADS + tx
    k0 = cuda.blockIdx.x * TILE  # the inputs along x, the axis without CUDA's 65535-block limit
    j0 = column_begin + cuda.blockIdx.y * TILE
    m_count, n_out = y.shape
    d = shift.shape[0]
    n_right = out.shape[1]
    split_begin = cuda.blockIdx.z * rows_per_split
    split_end = min(m_count, split_begin + rows_per_split)
    for a in range(PER_THREAD):
        for b in range(PER_THREAD):
            acc[a, b] = 0.0
    for r0 in range(split_begin, split_end, DEPTH):
        for s in range(DEPTH * TILE // (THREADS * THREADS)):
            e = t + s * THREADS * THREADS
            kk = e // TILE
            col = e - kk * TILE
            mm = r0 + kk
            value = 0.0
            if mm < split_end and k0 + col < d:
                value = _patch_value(x, shift, m_begin + mm, k0 + col, kh, kw, sh, sw, pad_top, pad_left, oh, ow)
            a_tile[kk, col] = value
            value = 0.0
            if mm < split_end and j0 + col < n_right:
                if right_is_patch:
                    value = _patch_value(x, shift, m_begin + mm, j0 + col, kh, kw, sh, sw, pad_top, pad_left, oh, ow)
                else:
                    value = _right_value(y, z, closed, m_begin, mm, j0 + col, n_out, oh, ow)
            b_tile[kk, col] = value
        cuda.syncthreads()
        for kk in range(DEPTH):
            for a in range(PER_THREAD):
                left = a_tile[kk, ty + THREADS * a]
                for b in range(PER_THREAD):
                    acc[a, b] += left * b_tile[kk, tx + THREADS * b]
        cuda.syncthreads()
    for a in range(PER_THREAD):
        k = k0 + ty + THREADS * a
        for b in range(PER_THREAD):
            j = j0 + tx + THREADS * b
            if k < d and j < n_right:
                cuda.atomic.add(out, (k, j), acc[a, b])


# --------------------------------------------------------------------------------------
# column sums: Σx̃ (D,) and the O-vectors
# --------------------------------------------------------------------------------------


@_cuda_jit
def _column_sums_kernel(x, shift, y, z, kh, kw, sh, sw, pad_top, pad_left, oh, ow, m_begin, rows_per_split,
                        of_outputs, out):
    """Column sums over the split's rows, one thread per (column, strand), one atomic add per sum.

    ``of_outputs`` false: ``out[0, k] += Σ x̃[m, k]`` (``out`` (1, D)).  True: for neuron ``o``,
    ``out[:, o] += (Σg, Σỹ(1 − g), Σỹg, Σỹ²(1 − g), Σỹ²g)`` (``out`` (5, O)).  Block (bx, by): columns
    ``bx·32 + tx``, rows ``by·rows_per_split + ty, + 8, …``.
    """
    column = cuda.blockIdx.x * SUM_THREADS[0] + cuda.threadIdx.x
    m_count, n_out = y.shape
    n_columns = n_out if of_outputs else shift.shape[0]
    if column >= n_columns:
        return
    split_begin = cuda.blockIdx.y * rows_per_split
    split_end = min(m_count, split_begin + rows_per_split)
    count = 0.0
    total = 0.0
    total_plus = 0.0
    squares_minus = 0.0
    squares_plus = 0.0
    for mm in range(split_begin + cuda.threadIdx.y, split_end, SUM_THREADS[1]):
        if of_outputs:
            value = y[mm, column]
            g = _gate(z, m_begin + mm, column, oh, ow)
            count += g
            total += value * (1.0 - g)
            total_plus += value * g
            squares_minus += value * value * (1.0 - g)
            squares_plus += value * value * g
        else:
            total += _patch_value(x, shift, m_begin + mm, column, kh, kw, sh, sw, pad_top, pad_left, oh, ow)
    if of_outputs:
        cuda.atomic.add(out, (0, column), count)
        cuda.atomic.add(out, (1, column), total)
        cuda.atomic.add(out, (2, column), total_plus)
        cuda.atomic.add(out, (3, column), squares_minus)
        cuda.atomic.add(out, (4, column), squares_plus)
    else:
        cuda.atomic.add(out, (0, column), total)


# --------------------------------------------------------------------------------------
# the public function
# --------------------------------------------------------------------------------------


def _add_to_host(device_sum, host_sum) -> None:
    """``host_sum += device_sum`` in row blocks (no host temporary of the full size)."""
    rows = device_sum.shape[0]
    per_row = max(1, int(np.prod(device_sum.shape[1:])))
    step = max(1, COPY_BLOCK_ELEMENTS // per_row)
    for begin in range(0, rows, step):
        host_sum[begin:begin + step] += device_sum[begin:begin + step].copy_to_host()


def _launch_statistics_gemm(x, shift, y, z, closed, geometry, m_begin, rows_per_split, right_is_patch, out) -> None:
    """``out += P̃ᵀ·R`` over the chunk's observations (:func:`_statistics_kernel`): the row tiles of ``out``
    (inputs ``D``) along grid x, its column tiles along y in launches of at most :data:`MAX_GRID_YZ`, the
    splits of the chunk's ``M_chunk ≤ MAX_GRID_YZ·rows_per_split`` rows along z.

    y : (M_chunk, O); closed : (O,) 0.0/1.0 (:func:`_right_value`); out : (D, 3O), or (D, D) if ``right_is_patch``
    """
    d, n_right = out.shape
    splits = math.ceil(y.shape[0] / rows_per_split)
    for first_tile, column_tiles in grid_y_launches(math.ceil(n_right / TILE), MAX_GRID_YZ):
        _statistics_kernel[(math.ceil(d / TILE), column_tiles, splits), (THREADS, THREADS)](
            x, shift, y, z, closed, *geometry, m_begin, first_tile * TILE, rows_per_split, right_is_patch, out)


def accumulate_on_device(x, z, weight, shift, geometry, products, sum_x, vectors, sum_xx=None,
                         max_chunk_elements=MAX_CHUNK_ELEMENTS, rows_per_split=ROWS_PER_SPLIT, closed=None) -> int:
    """The kernel launches on device arrays (no transfer): add one batch to device sums in place.

    x : (N, C, H, W) (Dense: (N, D, 1, 1)); z : (N, O, OH, OW); weight : (O, D); shift : (D,);
    geometry : ``(kh, kw, sh, sw, pad_top, pad_left, OH, OW)`` (the zero rows above and columns
    left of the image: the first window starts at ``(−pad_top, −pad_left)``); products : (D, 3O);
    sum_x : (1, D);
    vectors : (5, O) rows ``Σg, Σỹ, Σỹ⊙g, Σỹ², Σỹ²⊙g``; sum_xx : (D, D) or None; closed : (O,) float64
    device array of 0.0/1.0, ``F`` of the third block (None: zeros, every neuron keeps ``Σx̃g``).
    Returns the number of observations.
    """
    n_out, d = weight.shape
    if closed is None:
        closed = cuda.to_device(np.zeros(n_out))
    oh, ow = geometry[6], geometry[7]
    m_total = x.shape[0] * oh * ow
    # at most MAX_GRID_YZ tiles of Ỹ (grid y) and splits (grid z) per launch
    chunk = max(1, min(m_total, max_chunk_elements // n_out, MAX_GRID_YZ * min(TILE, rows_per_split)))
    y_buffer = cuda.device_array((chunk, n_out), dtype=np.float64)
    gemm_threads = (THREADS, THREADS)
    for m_begin in range(0, m_total, chunk):
        m_count = min(chunk, m_total - m_begin)
        y = y_buffer[:m_count]
        splits = math.ceil(m_count / rows_per_split)
        _shifted_outputs_kernel[(math.ceil(n_out / TILE), math.ceil(m_count / TILE)), gemm_threads](
            x, shift, weight, *geometry, m_begin, y)
        _column_sums_kernel[(math.ceil(n_out / SUM_THREADS[0]), splits), SUM_THREADS](
            x, shift, y, z, *geometry, m_begin, rows_per_split, True, vectors)
        _column_sums_kernel[(math.ceil(d / SUM_THREADS[0]), splits), SUM_THREADS](
            x, shift, y, z, *geometry, m_begin, rows_per_split, False, sum_x)
        _launch_statistics_gemm(x, shift, y, z, closed, geometry, m_begin, rows_per_split, False, products)
        if sum_xx is not None:
            _launch_statistics_gemm(x, shift, y, z, closed, geometry, m_begin, rows_per_split, True, sum_xx)
    return m_total


def accumulate_statistics(x, z, weight_matrix, shift, conv, products, sum_x, n_plus, output_sums,
                          sum_xx=None, max_chunk_elements=MAX_CHUNK_ELEMENTS,
                          rows_per_split=ROWS_PER_SPLIT, closed_inputs=None) -> int:
    """Add one batch of a kernel layer to the running sums, on the GPU (module docstring).

    Parameters and result as :func:`refpattern.kernels.numba_statistics.accumulate_statistics`:
    ``x`` (N, D) or (N, C, H, W); ``z`` (N, O) or (N, O, OH, OW) (only its sign is used);
    ``weight_matrix`` (O, D); ``shift`` (D,); ``conv`` None (Dense) or ``(kernel_size, stride,
    padding)`` with ``padding = ((top, bottom), (left, right))``; ``products`` (D, 3O), ``sum_x``
    (D,), ``n_plus`` (O,) int64, ``output_sums`` (4, O) and optionally ``sum_xx`` (D, D), all
    added to in place; ``closed_inputs`` (O,) bool or None, which regime's input sums the third block
    keeps per neuron (True: ``Σx̃(1 − g)``, False and None: ``Σx̃g``).  Returns the number of
    observations.  ``max_chunk_elements`` bounds the
    device buffer ``Ỹ`` (chunks of observations); ``rows_per_split`` is the number of observations
    per split of the statistics GEMM (the tests make both small to reach every branch at tiny
    sizes).
    """
    require_cuda()
    x, z, weight_matrix, shift = (np.ascontiguousarray(a, dtype=np.float64) for a in (x, z, weight_matrix, shift))
    n_out, d = weight_matrix.shape
    n_samples = x.shape[0]
    if n_samples == 0:  # nothing to add (and no device copies of empty arrays)
        return 0
    if conv is None:
        x = x.reshape(n_samples, d, 1, 1)  # a 1×1 "convolution"
        z = z.reshape(n_samples, n_out, 1, 1)
        (kh, kw), (sh, sw), (pad_top, pad_left) = (1, 1), (1, 1), (0, 0)
    else:  # the bottom/right padding enters through OH, OW (the shape of z) only
        (kh, kw), (sh, sw), ((pad_top, _), (pad_left, _)) = conv
    geometry = (kh, kw, sh, sw, pad_top, pad_left, z.shape[2], z.shape[3])

    closed = cuda.to_device(np.zeros(n_out) if closed_inputs is None else np.asarray(closed_inputs, np.float64))
    products_dev = cuda.to_device(np.zeros((d, 3 * n_out)))
    sum_x_dev = cuda.to_device(np.zeros((1, d)))
    vectors_dev = cuda.to_device(np.zeros((5, n_out)))
    sum_xx_dev = None if sum_xx is None else cuda.to_device(np.zeros((d, d)))
    m_total = accumulate_on_device(cuda.to_device(x), cuda.to_device(z), cuda.to_device(weight_matrix),
                                   cuda.to_device(shift), geometry, products_dev, sum_x_dev, vectors_dev, sum_xx_dev,
                                   max_chunk_elements, rows_per_split, closed)
    _add_to_host(products_dev, products)
    if sum_xx is not None:
        _add_to_host(sum_xx_dev, sum_xx)
    sum_x += sum_x_dev.copy_to_host()[0]
    vectors = vectors_dev.copy_to_host()
    n_plus += np.rint(vectors[0]).astype(np.int64)
    output_sums += vectors[1:]
    return m_total
