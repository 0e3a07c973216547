"""Numba CPU kernels: the fast twins of :mod:`refpattern.kernels.numpy_reference`.

Same ten functions, same signatures, same results (to about 1e-12 relative in float64;
``tests/test_kernels_numba.py`` holds each one to its NumPy twin):
``split_by_gate``, ``dense_forward``, ``dense_backward_input``, ``conv2d_forward``,
``conv2d_backward_input``, ``conv2d_backward_weight``, ``maxpool_forward``, ``maxpool_backward``,
``relu_forward``, ``relu_backward``.

The kernels assume valid input: the layers (:mod:`refpattern.network`) check shapes, strides
and paddings once, at their public methods.  A kernel only makes its arrays C-contiguous
float64 (a no-op for arrays that already are; the caller's arrays are never written), allocates
its result and runs one private ``@njit(nogil=True)`` loop over a range of the work on every
worker thread at once (:func:`refpattern.kernels.workers.run_in_ranges`: the samples of the
batch, or for one sample the bands of output rows, the output channels or the columns of a
product), each calling BLAS on one thread:

- convolution: per sample, *im2col* (the ``(C·kh·kw, rows·OW)`` patch matrix of a band of the
  image's output rows, in a buffer of at most :data:`MAX_PATCH_ELEMENTS` entries that stays in the
  core's cache) and one GEMM into the band of the output; the backward pass to the input is the
  transposed GEMM of the band followed by *col2im*, the scatter-add of the patch matrix back onto
  the image (:func:`refpattern.kernels.blas.gemm` writes into bands and column blocks in place);
- max-pooling: direct loops over each window (forward) and over the winners (backward);
- dense layers: one GEMM per worker on its rows of the batch, or for a small batch its block of
  the output's columns;
- the ReLU and the gate split: one pass over a range of the entries each (the same arithmetic as
  the twins, bit for bit).

Every entry of a result but the weight gradient (partial sums per worker, added in worker order)
comes whole from one worker.  Why one BLAS thread per worker, and what else was measured:
``docs/backends.md#numba-threads`` and ``benchmarks/README.md``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from refpattern.kernels.blas import DGEMM, DGEMV, gemm, gemv
from refpattern.kernels.numpy_reference import conv_output_size
from refpattern.kernels.workers import run_in_ranges, worker_count

__all__ = [
    "split_by_gate",
    "dense_forward",
    "dense_backward_input",
    "conv2d_forward",
    "conv2d_backward_input",
    "conv2d_backward_weight",
    "maxpool_forward",
    "maxpool_backward",
    "relu_forward",
    "relu_backward",
]


#: Largest patch buffer (entries) a convolution builds at once per worker: an image is taken a
#: band of output rows at a time, so that the buffer stays in the core's cache (1 MiB).
MAX_PATCH_ELEMENTS = 1 << 17
#: Least multiply-adds a worker is given (products), and least entries (the loops without a
#: product: pooling, the gate split): smaller work runs on fewer threads, the least on the calling
#: thread alone, where waking another thread would cost more than it saves (tens of microseconds).
MIN_PRODUCT_WORK = 1 << 20
MIN_LOOP_WORK = 1 << 15


#: Input channels from which a convolution of vertical stride 1 runs as ``kh`` GEMMs over shifted rows
#: (:func:`_conv2d_rows_range`); a single channel gives those GEMMs too short an inner dimension (``kw``)
#: and takes im2col (measured: ``benchmarks/README.md``).
ROWS_FORWARD_MIN_CHANNELS = 2
#: Input channels from which a stride-1 convolution's backward pass runs as the forward convolution of
#: ``grad_y`` with the flipped kernel: that product computes one output row per input channel, too few
#: below this for BLAS to use its packed operand well (GEMM + col2im is faster up to 16 channels).
ROWS_BACKWARD_MIN_CHANNELS = 32


def _contiguous(array) -> np.ndarray:
    """``array`` as C-contiguous float64 (itself when it already is; the kernels only read it)."""
    return np.ascontiguousarray(array, dtype=np.float64)


def _grain(work_per_item: int, least: int) -> int:
    """Items per worker at least, so that a worker gets at least ``least`` of work."""
    return max(1, -(-least // max(1, int(work_per_item))))


# --------------------------------------------------------------------------------------
# patch matrix (im2col) and its adjoint (col2im)
# --------------------------------------------------------------------------------------
# Plain bounds checks in the innermost loop: LLVM vectorises these (benchmarks/README.md).


@njit(cache=True, nogil=True)
def _im2col(image, kh, kw, sh, sw, top, left, oh, ow, cols, row_begin=0, row_end=-1):
    """Patch matrix of one image: ``numpy_reference.patch_matrix`` of a single sample,
    *transposed* (one column per output position); only output rows ``[row_begin, row_end)``
    when given (``row_end = -1``: to the last row ``OH``).

    ``cols[(c*kh + i)*kw + j, (p - row_begin)*OW + q] = x_pad[c, p*sh + i, q*sw + j]``

    Parameters
    ----------
    image : (C, H, W) float64
    top, left : the zero rows above and columns left of the image (the first window starts at
        ``(−top, −left)``); the bottom/right padding only enters through ``OH``, ``OW``
    cols : (C*kh*kw, ≥ (row_end − row_begin)*OW) float64 with contiguous rows, overwritten
        (positions on the padding become 0)
    """
    channels, height, width = image.shape
    if row_end < 0:
        row_end = oh
    for c in range(channels):
        for i in range(kh):
            for j in range(kw):
                k = (c * kh + i) * kw + j
                for p in range(row_begin, row_end):
                    r = p * sh + i - top
                    base = (p - row_begin) * ow
                    if r < 0 or r >= height:
                        for q in range(ow):
                            cols[k, base + q] = 0.0
                        continue
                    for q in range(ow):
                        s = q * sw + j - left
                        if s >= 0 and s < width:
                            cols[k, base + q] = image[c, r, s]
                        else:
                            cols[k, base + q] = 0.0


@njit(cache=True, nogil=True)
def _col2im_add(cols, kh, kw, sh, sw, top, left, oh, ow, image, row_begin=0, row_end=-1):
    """Adjoint of :func:`_im2col`: scatter-add each patch entry back onto its pixel, for output
    rows ``[row_begin, row_end)`` (``row_end = -1``: to the last row ``OH``).

    ``image[c, p*sh + i - top, q*sw + j - left] += cols[(c*kh + i)*kw + j, (p - row_begin)*OW + q]``
    (entries that fall on the padding are dropped).

    Parameters
    ----------
    cols : (C*kh*kw, ≥ (row_end − row_begin)*OW) float64 with contiguous rows
    image : (C, H, W) float64, accumulated into
    """
    channels, height, width = image.shape
    if row_end < 0:
        row_end = oh
    for c in range(channels):
        for i in range(kh):
            for j in range(kw):
                k = (c * kh + i) * kw + j
                for p in range(row_begin, row_end):
                    r = p * sh + i - top
                    if r < 0 or r >= height:
                        continue
                    base = (p - row_begin) * ow
                    for q in range(ow):
                        s = q * sw + j - left
                        if s >= 0 and s < width:
                            image[c, r, s] += cols[k, base + q]


# --------------------------------------------------------------------------------------
# convolution kernels: one range of (sample, band of output rows) units each
# --------------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _conv2d_forward_range(dgemm, x, weight_matrix, kh, kw, sh, sw, top, left, oh, ow, band, y, start, stop):
    """Twin of ``numpy_reference.conv2d_forward`` for units ``[start, stop)``; unit ``u`` is the band
    of output rows ``[b·band, (b+1)·band)`` (the last one ragged) of sample ``u // bands``, with
    ``b = u % bands`` and ``bands = ceil(OH / band)``:
    ``y[n, :, band rows] = W · cols(x[n], band rows)`` with ``W = weight.reshape(O, C*kh*kw)``.

    x : (N, C, H, W) float64, C-contiguous; weight_matrix : (O, C*kh*kw), C-contiguous;
    y : (N, O, OH*OW) float64, written
    """
    patch_size = weight_matrix.shape[1]
    bands = (oh + band - 1) // band
    cols = np.empty((patch_size, band * ow))
    for unit in range(start, stop):
        n = unit // bands
        row_begin = (unit % bands) * band
        row_end = min(oh, row_begin + band)
        m = (row_end - row_begin) * ow
        _im2col(x[n], kh, kw, sh, sw, top, left, oh, ow, cols, row_begin, row_end)
        gemm(dgemm, weight_matrix, cols[:, :m], y[n, :, row_begin * ow:row_end * ow], 0.0, False, False)


@njit(cache=True, nogil=True)
def _shifted_rows(image, kw, sw, top, left, ow, row_begin, row_end, rows):
    """The ``kw`` column shifts of the padded image rows ``[row_begin, row_end)``, side by side:
    ``rows[c*kw + j, (r - row_begin)*OW + q] = x_pad[c, r, q*sw + j]`` (``x_pad[c, r, s] =
    image[c, r − top, s − left]``, 0 outside the image; ``top``/``left`` may be negative: a crop).

    Row ``r`` of ``x_pad`` read at output row ``p`` through kernel row ``i`` is ``r = p + i`` (vertical
    stride 1), so the patch entries of kernel row ``i`` for output rows ``[p0, p1)`` are the columns
    ``[(p0 + i − row_begin)·OW, (p1 + i − row_begin)·OW)`` of ``rows``: one matrix per kernel row,
    no copy (:func:`_conv2d_rows_range`).

    image : (C, H, W); rows : (C*kw, ≥ (row_end − row_begin)*OW) with contiguous rows, written
    """
    channels, height, width = image.shape
    for c in range(channels):
        for j in range(kw):
            k = c * kw + j
            for r in range(row_begin, row_end):
                source = r - top
                base = (r - row_begin) * ow
                if source < 0 or source >= height:
                    for q in range(ow):
                        rows[k, base + q] = 0.0
                    continue
                for q in range(ow):
                    s = q * sw + j - left
                    if s >= 0 and s < width:
                        rows[k, base + q] = image[c, source, s]
                    else:
                        rows[k, base + q] = 0.0


@njit(cache=True, nogil=True)
def _conv2d_rows_range(dgemm, x, weight_rows, kw, sw, top, left, oh, ow, band, y, start, stop):
    """A convolution of vertical stride 1 for units ``[start, stop)`` (unit ``u``: the band of output
    rows ``[b·band, (b+1)·band)`` of sample ``u // bands``, ``b = u % bands``), as ``kh`` GEMMs over
    the shifted rows of :func:`_shifted_rows` instead of one over the whole patch matrix::

        y[n, :, band] = Σ_i W_i · rows[:, (p0 + i − p0)·OW : (p1 + i − p0)·OW],   W_i[o, c*kw + j] = W[o, c, i, j]

    (a patch buffer ``kh`` times smaller than im2col's, and the same products).

    x : (N, C, H, W) float64, C-contiguous; weight_rows : (kh, O, C*kw), C-contiguous;
    y : (N, O, OH*OW) float64, written
    """
    kh = weight_rows.shape[0]
    channels = x.shape[1]
    bands = (oh + band - 1) // band
    rows = np.empty((channels * kw, (band + kh - 1) * ow))
    for unit in range(start, stop):
        n = unit // bands
        p0 = (unit % bands) * band
        p1 = min(oh, p0 + band)
        m = (p1 - p0) * ow
        _shifted_rows(x[n], kw, sw, top, left, ow, p0, p1 + kh - 1, rows)
        out = y[n, :, p0 * ow:p1 * ow]
        for i in range(kh):
            gemm(dgemm, weight_rows[i], rows[:, i * ow:i * ow + m], out, 0.0 if i == 0 else 1.0, False, False)


@njit(cache=True, nogil=True)
def _conv2d_backward_input_range(dgemm, grad_y, weight_matrix, channel_block, kh, kw, sh, sw, top, left, oh, ow,
                                 band, grad_x, start, stop):
    """Twin of ``numpy_reference.conv2d_backward_input`` for units ``[start, stop)``; unit ``u`` is
    the block of input channels ``[b·channel_block, (b+1)·channel_block)`` (the last one ragged)
    of sample ``u // blocks``, ``b = u % blocks``: for every band of output rows,
    ``cols = W[:, block]ᵀ · grad_y[n, :, band]``, then ``grad_x[n, block] += col2im(cols)``.

    grad_y : (N, O, OH*OW) float64, C-contiguous; weight_matrix : (O, C*kh*kw), C-contiguous;
    grad_x : (N, C, H, W) float64, written (each unit zeroes its block first)
    """
    channels = grad_x.shape[1]
    blocks = (channels + channel_block - 1) // channel_block
    area = kh * kw
    cols = np.empty((channel_block * area, band * ow))
    for unit in range(start, stop):
        n = unit // blocks
        c_begin = (unit % blocks) * channel_block
        c_end = min(channels, c_begin + channel_block)
        rows = (c_end - c_begin) * area
        image = grad_x[n, c_begin:c_end]
        image[:, :, :] = 0.0
        for row_begin in range(0, oh, band):
            row_end = min(oh, row_begin + band)
            m = (row_end - row_begin) * ow
            gemm(dgemm, weight_matrix[:, c_begin * area:c_end * area], grad_y[n, :, row_begin * ow:row_end * ow],
                 cols[:rows, :m], 0.0, True, False)
            _col2im_add(cols, kh, kw, sh, sw, top, left, oh, ow, image, row_begin, row_end)


@njit(cache=True, nogil=True)
def _conv2d_backward_weight_range(dgemm, grad_y, x, kh, kw, sh, sw, top, left, oh, ow, band, start, stop):
    """Twin of ``numpy_reference.conv2d_backward_weight`` for samples ``[start, stop)``:
    ``Σ_n Σ_bands grad_y[n, :, band] · cols(x[n], band)ᵀ`` (one GEMM per band, added in place).

    grad_y : (N, O, OH*OW) float64, C-contiguous; x : (N, C, H, W) float64, C-contiguous.
    Returns the partial sum (O, C*kh*kw).
    """
    out_channels = grad_y.shape[1]
    patch_size = x.shape[1] * kh * kw
    grad_w = np.zeros((out_channels, patch_size))
    cols = np.empty((patch_size, band * ow))
    for n in range(start, stop):
        for row_begin in range(0, oh, band):
            row_end = min(oh, row_begin + band)
            m = (row_end - row_begin) * ow
            _im2col(x[n], kh, kw, sh, sw, top, left, oh, ow, cols, row_begin, row_end)
            gemm(dgemm, grad_y[n, :, row_begin * ow:row_end * ow], cols[:, :m], grad_w, 1.0, False, True)
    return grad_w


# --------------------------------------------------------------------------------------
# max-pooling kernels: one range of (sample, channel) planes each
# --------------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _takes_over(value, best):
    """Whether ``value`` replaces the running maximum ``best``: larger, or the first NaN (then nothing does)."""
    return (value > best) | ((value != value) & (best == best))


@njit(cache=True, nogil=True)
def _maxpool_forward_range(x, kh, kw, sh, sw, y, winner, start, stop):
    """Twin of ``numpy_reference.maxpool_forward`` for the planes ``[start, stop)`` (plane
    ``n·C + c``): the first maximum of each window.

    Like ``np.argmax``: ties go to the first maximum in row-major window order, and a
    NaN counts as the maximum (the first NaN wins).

    x : (N, C, H, W) float64, C-contiguous; y : (N, C, OH, OW) float64 and winner (N, C, OH, OW)
    int64 (flat index ``i*kw + j`` inside the window), written
    """
    channels, oh, ow = y.shape[1], y.shape[2], y.shape[3]
    for plane in range(start, stop):
        n = plane // channels
        c = plane % channels
        image = x[n, c]
        for p in range(oh):
            r0 = p * sh
            for q in range(ow):
                s0 = q * sw
                best = image[r0, s0]
                best_k = 0
                for i in range(kh):
                    for j in range(kw):
                        value = image[r0 + i, s0 + j]
                        better = _takes_over(value, best)  # branch-free below
                        best = value if better else best
                        best_k = i * kw + j if better else best_k
                y[n, c, p, q] = best
                winner[n, c, p, q] = best_k


@njit(cache=True, nogil=True)
def _maxpool_2x2_forward_range(x, sh, sw, y, winner, start, stop):
    """:func:`_maxpool_forward_range` for 2×2 windows, the four entries of a window in registers
    (2–3× faster than the general loop; the same comparisons in the same order, so the same winners)."""
    channels, oh, ow = y.shape[1], y.shape[2], y.shape[3]
    for plane in range(start, stop):
        n = plane // channels
        c = plane % channels
        image = x[n, c]
        for p in range(oh):
            top = image[p * sh]
            bottom = image[p * sh + 1]
            out = y[n, c, p]
            win = winner[n, c, p]
            for q in range(ow):
                s = q * sw
                best = top[s]
                k = 0
                value = top[s + 1]
                better = _takes_over(value, best)
                best, k = (value, 1) if better else (best, k)
                value = bottom[s]
                better = _takes_over(value, best)
                best, k = (value, 2) if better else (best, k)
                value = bottom[s + 1]
                better = _takes_over(value, best)
                best, k = (value, 3) if better else (best, k)
                out[q] = best
                win[q] = k


@njit(cache=True, nogil=True)
def _maxpool_backward_range(grad_y, winner, kh, kw, sh, sw, grad_x, start, stop):
    """Twin of ``numpy_reference.maxpool_backward`` for the planes ``[start, stop)``: route each
    ``grad_y`` to its winner.

    ``grad_x[n, c, p*sh + i, q*sw + j] += grad_y[n, c, p, q]`` where ``winner = i*kw + j``
    (summed where windows overlap; a winner outside ``[0, kh*kw)`` routes nothing, as in
    the reference).

    grad_y : (N, C, OH, OW) float64, winner (N, C, OH, OW) int64, both C-contiguous;
    grad_x : (N, C, H, W) float64, written (each plane zeroed first)
    """
    channels, oh, ow = grad_y.shape[1], grad_y.shape[2], grad_y.shape[3]
    for plane in range(start, stop):
        n = plane // channels
        c = plane % channels
        image = grad_x[n, c]
        image[:, :] = 0.0
        for p in range(oh):
            for q in range(ow):
                k = winner[n, c, p, q]
                if k < 0 or k >= kh * kw:
                    continue
                image[p * sh + k // kw, q * sw + k % kw] += grad_y[n, c, p, q]


# --------------------------------------------------------------------------------------
# dense layers and the gate split
# --------------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _product_range(dgemm, dgemv, left, right, transpose_right, by_rows, out, start, stop):
    """Rows ``[start, stop)`` (``by_rows``) or columns ``[start, stop)`` of
    ``out = left · op(right)``, ``op(right) = rightᵀ`` when ``transpose_right``; a single row of
    ``left`` (one sample) as a matrix-vector product, which reads ``right`` once without packing it.

    left : (N, K); right : (M, K) or (K, M); out : (N, M), written; all C-contiguous float64
    """
    if by_rows:
        gemm(dgemm, left[start:stop], right, out[start:stop], 0.0, False, transpose_right)
    elif left.shape[0] == 1:
        if transpose_right:
            gemv(dgemv, right[start:stop], left[0], out[0, start:stop], False)
        else:
            gemv(dgemv, right[:, start:stop], left[0], out[0, start:stop], True)
    elif transpose_right:
        gemm(dgemm, left, right[start:stop], out[:, start:stop], 0.0, False, True)
    else:
        gemm(dgemm, left, right[:, start:stop], out[:, start:stop], 0.0, False, False)


@njit(cache=True, nogil=True)
def _split_by_gate_range(upstream, output, open_part, start, stop):
    """Entries ``[start, stop)`` of the flat arrays: the gate-open part of ``upstream`` into
    ``open_part``; returns whether the gate-closed part has a nonzero there."""
    closed_nonzero = False
    for i in range(start, stop):
        value = upstream[i]
        is_open = output[i] > 0
        open_part[i] = value if is_open else 0.0
        closed_nonzero |= (not is_open) & (value != 0)
    return closed_nonzero


@njit(cache=True, nogil=True)
def _relu_forward_range(x, y, start, stop):
    """``y = max(x, 0)`` on the flat entries ``[start, stop)``, as ``np.maximum(x, 0.0)``: ``x`` where
    ``x > 0`` or NaN, else +0.0 (also for −0.0)."""
    for i in range(start, stop):
        value = x[i]
        y[i] = value if (value > 0.0) | (value != value) else 0.0


@njit(cache=True, nogil=True)
def _relu_backward_range(grad_y, x, grad_x, start, stop):
    """``grad_x = grad_y · 1[x > 0]`` on the flat entries ``[start, stop)``, as the twin computes it
    (a product with 1.0 or 0.0: −0.0 and NaN where NumPy gives them)."""
    for i in range(start, stop):
        grad_x[i] = grad_y[i] * (1.0 if x[i] > 0 else 0.0)


def _matrix_product(left, right, transpose_right):
    """``left · op(right)`` (N, M): split by rows of ``left`` over the workers when the batch is
    large enough, else by columns of the result (each worker then reads its part of ``right``)."""
    n, k = left.shape
    m = right.shape[0] if transpose_right else right.shape[1]
    out = np.empty((n, m))
    by_rows = n >= 8 * worker_count()
    run_in_ranges(_product_range, n if by_rows else m, DGEMM, DGEMV, left, right, transpose_right, by_rows, out,
                  grain=_grain(k * (m if by_rows else n), MIN_PRODUCT_WORK))
    return out


# --------------------------------------------------------------------------------------
# public functions (same signatures as numpy_reference; arguments already checked by the layer)
# --------------------------------------------------------------------------------------


def split_by_gate(upstream, output):
    """Twin of ``numpy_reference.split_by_gate``: ``(upstream·1[output > 0], upstream·1[output ≤ 0])``,
    the second None where it is all zero; ``upstream`` and ``output`` of one shape."""
    upstream, output = _contiguous(upstream), _contiguous(output)
    open_part = np.empty(upstream.shape)
    closed = run_in_ranges(_split_by_gate_range, upstream.size, upstream.ravel(), output.ravel(), open_part.ravel(),
                           grain=MIN_LOOP_WORK, blas=False)
    if not any(closed):
        return open_part, None
    return open_part, np.where(output > 0, 0.0, upstream)


def relu_forward(x):
    """Twin of ``numpy_reference.relu_forward``: ``max(x, 0)``, any shape."""
    x = _contiguous(x)
    y = np.empty(x.shape)
    run_in_ranges(_relu_forward_range, x.size, x.ravel(), y.ravel(), grain=MIN_LOOP_WORK, blas=False)
    return y


def relu_backward(grad_y, x):
    """Twin of ``numpy_reference.relu_backward``: ``grad_y · 1[x > 0]``; ``grad_y`` and ``x`` of one shape."""
    grad_y, x = _contiguous(grad_y), _contiguous(x)
    grad_x = np.empty(grad_y.shape)
    run_in_ranges(_relu_backward_range, grad_y.size, grad_y.ravel(), x.ravel(), grad_x.ravel(), grain=MIN_LOOP_WORK,
                  blas=False)
    return grad_x


def dense_forward(x, weight):
    """Twin of ``numpy_reference.dense_forward``: ``x @ weightᵀ``, x (N, in), weight (out, in) ->
    (N, out)."""
    return _matrix_product(_contiguous(x), _contiguous(weight), True)


def dense_backward_input(grad_y, weight):
    """Twin of ``numpy_reference.dense_backward_input``: ``grad_y @ weight``, (N, out) -> (N, in)."""
    return _matrix_product(_contiguous(grad_y), _contiguous(weight), False)


def _split_bands(band: int, n: int, oh: int) -> int:
    """``band`` output rows per unit, fewer where a batch of ``n`` samples has fewer samples than
    workers: then each image is cut into enough bands for every worker to get one."""
    per_sample = -(-worker_count() // max(1, n))
    return band if per_sample <= 1 else max(1, min(band, -(-oh // per_sample)))


def _band_rows(patch_size: int, oh: int, ow: int) -> int:
    """Output rows per band: a patch buffer of at most :data:`MAX_PATCH_ELEMENTS` entries (one row at least)."""
    return max(1, min(oh, MAX_PATCH_ELEMENTS // max(1, patch_size * ow)))


def _rows_convolution(x, weight_rows, kw, sw, top, left, oh, ow):
    """:func:`_conv2d_rows_range` over the workers: (N, C, H, W) -> (N, O, OH*OW)."""
    n, c = x.shape[:2]
    kh, o = weight_rows.shape[:2]
    band = _split_bands(max(1, min(oh, MAX_PATCH_ELEMENTS // max(1, c * kw * ow) - (kh - 1))), n, oh)
    y = np.empty((n, o, oh * ow))
    run_in_ranges(_conv2d_rows_range, n * -(-oh // band), DGEMM, x, weight_rows, kw, sw, top, left, oh, ow, band, y,
                  grain=_grain(o * c * kh * kw * band * ow, MIN_PRODUCT_WORK))
    return y


def conv2d_forward(x, weight, stride, padding):
    """Twin of ``numpy_reference.conv2d_forward``:
    ``y[n, o, p, q] = Σ_{c,i,j} weight[o, c, i, j] · x_pad[n, c, p*sh + i, q*sw + j]``.

    Vertical stride 1 and at least :data:`ROWS_FORWARD_MIN_CHANNELS` input channels: ``kh`` GEMMs over
    the ``kw`` shifted rows per band of output rows (:func:`_conv2d_rows_range`); otherwise im2col + one
    GEMM per band (:func:`_conv2d_forward_range`).
    x (N, C, H, W), weight (O, C, kh, kw), stride a pair, padding ``((top, bottom), (left, right))``
    -> y (N, O, OH, OW) with ``OH = (H + top + bottom − kh) // sh + 1``.
    """
    x, weight = _contiguous(x), _contiguous(weight)
    (sh, sw), ((top, bottom), (left, right)) = stride, padding
    n, c, h, w = x.shape
    o, _, kh, kw = weight.shape
    oh, ow = conv_output_size(h, kh, sh, top, bottom), conv_output_size(w, kw, sw, left, right)
    if sh == 1 and c >= ROWS_FORWARD_MIN_CHANNELS:  # W_i[o, c*kw + j] = W[o, c, i, j]
        weight_rows = np.ascontiguousarray(weight.transpose(2, 0, 1, 3)).reshape(kh, o, c * kw)
        return _rows_convolution(x, weight_rows, kw, sw, top, left, oh, ow).reshape(n, o, oh, ow)
    band = _split_bands(_band_rows(c * kh * kw, oh, ow), n, oh)
    bands = -(-oh // band)
    y = np.empty((n, o, oh * ow))
    run_in_ranges(_conv2d_forward_range, n * bands, DGEMM, x, weight.reshape(o, c * kh * kw), kh, kw, sh, sw, top,
                  left, oh, ow, band, y, grain=_grain(o * c * kh * kw * band * ow, MIN_PRODUCT_WORK))
    return y.reshape(n, o, oh, ow)


def conv2d_backward_input(grad_y, weight, input_shape, stride, padding):
    """Twin of ``numpy_reference.conv2d_backward_input``:
    ``grad_x[n, c, p*sh + i - top, q*sw + j - left] += Σ_o grad_y[n, o, p, q] · weight[o, c, i, j]``.

    Stride 1 and at least :data:`ROWS_BACKWARD_MIN_CHANNELS` input channels: the forward convolution
    of ``grad_y``, padded by ``kh − 1 − top`` rows above and ``kw − 1 − left`` columns left, with the
    flipped kernel ``W'[c, o, i, j] = W[o, c, kh−1−i, kw−1−j]`` (:func:`_conv2d_rows_range`, each
    worker a band of the input's rows; a negative pad crops ``grad_y``); otherwise the transposed
    GEMM + col2im per band of output rows (:func:`_conv2d_backward_input_range`: each sample one
    unit of work, or, with fewer samples than workers, each block of its input channels).
    grad_y (N, O, OH, OW), weight (O, C, kh, kw), input_shape (N, C, H, W), padding
    ``((top, bottom), (left, right))`` -> grad_x (input_shape).
    """
    grad_y, weight = _contiguous(grad_y), _contiguous(weight)
    n, c, h, w = (int(s) for s in input_shape)
    (sh, sw), ((top, _), (left, _)) = stride, padding  # oh, ow come with grad_y
    o, _, kh, kw = weight.shape
    oh, ow = grad_y.shape[2:]
    if sh == sw == 1 and c >= ROWS_BACKWARD_MIN_CHANNELS:  # W'_i[c, o*kw + j] = W[o, c, kh−1−i, kw−1−j]
        weight_rows = np.ascontiguousarray(weight[:, :, ::-1, ::-1].transpose(2, 1, 0, 3)).reshape(kh, c, o * kw)
        return _rows_convolution(grad_y, weight_rows, kw, 1, kh - 1 - top, kw - 1 - left, h, w).reshape(n, c, h, w)
    workers = worker_count()
    channel_block = c if n >= workers else -(-c // workers)
    band = _band_rows(channel_block * kh * kw, oh, ow)
    grad_x = np.empty((n, c, h, w))
    units = n * -(-c // channel_block)
    run_in_ranges(_conv2d_backward_input_range, units, DGEMM, grad_y.reshape(n, o, oh * ow),
                  weight.reshape(o, c * kh * kw), channel_block, kh, kw, sh, sw, top, left, oh, ow, band, grad_x,
                  grain=_grain(o * channel_block * kh * kw * oh * ow, MIN_PRODUCT_WORK))
    return grad_x


def conv2d_backward_weight(grad_y, x, kernel_size, stride, padding):
    """Twin of ``numpy_reference.conv2d_backward_weight`` (im2col + GEMM per band, summed; each
    worker sums its samples, the partial sums are added in worker order):
    ``grad_w[o, c, i, j] = Σ_{n,p,q} grad_y[n, o, p, q] · x_pad[n, c, p*sh + i, q*sw + j]``.

    grad_y (N, O, OH, OW), x (N, C, H, W) -> grad_w (O, C, kh, kw).
    """
    grad_y, x = _contiguous(grad_y), _contiguous(x)
    (kh, kw), (sh, sw), ((top, _), (left, _)) = kernel_size, stride, padding  # oh, ow come with grad_y
    n, c = x.shape[:2]
    o, oh, ow = grad_y.shape[1:]
    band = _band_rows(c * kh * kw, oh, ow)
    partials = run_in_ranges(_conv2d_backward_weight_range, n, DGEMM, grad_y.reshape(n, o, oh * ow), x, kh, kw, sh,
                             sw, top, left, oh, ow, band, grain=_grain(o * c * kh * kw * oh * ow, MIN_PRODUCT_WORK))
    grad_w = partials[0]
    for partial in partials[1:]:
        grad_w += partial
    return grad_w.reshape(o, c, kh, kw)


def maxpool_forward(x, size, stride):
    """Twin of ``numpy_reference.maxpool_forward``: the maximum of each window and the flat index
    ``i*kw + j`` of its winner (first maximum in row-major window order); x (N, C, H, W)."""
    x = _contiguous(x)
    (kh, kw), (sh, sw) = size, stride
    n, c = x.shape[:2]
    oh, ow = conv_output_size(x.shape[2], kh, sh, 0, 0), conv_output_size(x.shape[3], kw, sw, 0, 0)
    y = np.empty((n, c, oh, ow))
    winner = np.empty((n, c, oh, ow), dtype=np.int64)
    grain = _grain(oh * ow * kh * kw, MIN_LOOP_WORK)
    if kh == kw == 2:
        run_in_ranges(_maxpool_2x2_forward_range, n * c, x, sh, sw, y, winner, grain=grain, blas=False)
    else:
        run_in_ranges(_maxpool_forward_range, n * c, x, kh, kw, sh, sw, y, winner, grain=grain, blas=False)
    return y, winner


def maxpool_backward(grad_y, winner, input_shape, size, stride):
    """Twin of ``numpy_reference.maxpool_backward``: route ``grad_y`` (N, C, OH, OW) to each
    window's winner (from :func:`maxpool_forward`), summing where windows overlap."""
    grad_y = _contiguous(grad_y)
    winner = np.ascontiguousarray(winner, dtype=np.int64)
    (kh, kw), (sh, sw) = size, stride
    n, c = grad_y.shape[:2]
    grad_x = np.empty((n, c, int(input_shape[2]), int(input_shape[3])))
    run_in_ranges(_maxpool_backward_range, n * c, grad_y, winner, kh, kw, sh, sw, grad_x,
                  grain=_grain(int(input_shape[2]) * int(input_shape[3]), MIN_LOOP_WORK), blas=False)
    return grad_x
