"""Numba CPU kernels: the fast twins of :mod:`refpattern.kernels.numpy_reference`.

Same eight functions, same signatures, same results (to about 1e-12 relative in float64;
``tests/test_kernels_numba.py`` holds each one to its NumPy twin):
``split_by_gate``, ``dense_forward``, ``dense_backward_input``, ``conv2d_forward``,
``conv2d_backward_input``, ``conv2d_backward_weight``, ``maxpool_forward``, ``maxpool_backward``.

The kernels assume valid input: the layers (:mod:`refpattern.network`) check shapes, strides
and paddings once, at their public methods.  A kernel only makes its arrays C-contiguous
float64 (a no-op for arrays that already are; the caller's arrays are never written) and calls
one private ``@njit`` loop:

- convolution: per sample, *im2col* (the ``(C·kh·kw, OH·OW)`` patch matrix of one image, in a
  reused buffer; an image whose patch matrix exceeds :data:`MAX_PATCH_ELEMENTS` is taken a band
  of output rows at a time) and one BLAS GEMM; the backward pass to the input is the transposed
  GEMM followed by *col2im*, the scatter-add of the patch matrix back onto the image;
- max-pooling: direct loops over each window (forward) and over the winners (backward);
- dense layers: one BLAS GEMM (``scipy.linalg.blas.dgemm`` on transposed views, no copy).

Every loop is serial and every GEMM goes to one BLAS library (SciPy's, which Numba's ``np.dot``
also calls), so that no second thread pool competes with BLAS's threads; the measurements behind
that choice are in ``benchmarks/README.md`` ("Why the kernels are serial").
"""

from __future__ import annotations

import numpy as np
from numba import njit
from scipy.linalg.blas import dgemm

from refpattern.kernels.numpy_reference import conv_output_size

__all__ = [
    "split_by_gate",
    "dense_forward",
    "dense_backward_input",
    "conv2d_forward",
    "conv2d_backward_input",
    "conv2d_backward_weight",
    "maxpool_forward",
    "maxpool_backward",
]


#: Largest patch buffer (entries) :func:`conv2d_forward` builds for one sample; a larger image is
#: taken a band of output rows at a time.
MAX_PATCH_ELEMENTS = 1 << 20


def _contiguous(array) -> np.ndarray:
    """``array`` as C-contiguous float64 (itself when it already is; the kernels only read it)."""
    return np.ascontiguousarray(array, dtype=np.float64)


# --------------------------------------------------------------------------------------
# patch matrix (im2col) and its adjoint (col2im)
# --------------------------------------------------------------------------------------
# Plain bounds checks in the innermost loop: LLVM vectorises these (benchmarks/README.md).


@njit(cache=True)
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
    cols : (C*kh*kw, ≥ (row_end − row_begin)*OW) float64, overwritten (positions on the padding
        become 0)
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


@njit(cache=True)
def _col2im_add(cols, kh, kw, sh, sw, top, left, oh, ow, image):
    """Adjoint of :func:`_im2col`: scatter-add each patch entry back onto its pixel.

    ``image[c, p*sh + i - top, q*sw + j - left] += cols[(c*kh + i)*kw + j, p*OW + q]``
    (entries that fall on the padding are dropped).

    Parameters
    ----------
    cols : (C*kh*kw, OH*OW) float64
    image : (C, H, W) float64, accumulated into
    """
    channels, height, width = image.shape
    for c in range(channels):
        for i in range(kh):
            for j in range(kw):
                k = (c * kh + i) * kw + j
                for p in range(oh):
                    r = p * sh + i - top
                    if r < 0 or r >= height:
                        continue
                    base = p * ow
                    for q in range(ow):
                        s = q * sw + j - left
                        if s >= 0 and s < width:
                            image[c, r, s] += cols[k, base + q]


# --------------------------------------------------------------------------------------
# convolution kernels
# --------------------------------------------------------------------------------------


@njit(cache=True)
def _conv2d_forward_kernel(x, weight_matrix, kh, kw, sh, sw, top, left, oh, ow, rows_per_chunk):
    """Twin of ``numpy_reference.conv2d_forward``.

    For every sample ``n``: ``y[n] = W · cols(x[n])`` with ``W = weight.reshape(O, C*kh*kw)``,
    ``rows_per_chunk`` output rows at a time (so that the patch buffer stays small for large
    images: VGG-16's second layer would need 231 MB for one 224×224 sample at once).

    Parameters
    ----------
    x : (N, C, H, W) float64, C-contiguous
    weight_matrix : (O, C*kh*kw) float64, C-contiguous

    Returns
    -------
    y : (N, O, OH*OW) float64
    """
    n_samples = x.shape[0]
    out_channels, patch_size = weight_matrix.shape
    y = np.empty((n_samples, out_channels, oh * ow))
    if rows_per_chunk >= oh:  # the whole sample at once, straight into y[n]
        cols = np.empty((patch_size, oh * ow))
        for n in range(n_samples):
            _im2col(x[n], kh, kw, sh, sw, top, left, oh, ow, cols)
            np.dot(weight_matrix, cols, y[n])
        return y
    cols = np.empty((patch_size, rows_per_chunk * ow))
    block = np.empty((out_channels, rows_per_chunk * ow))
    for n in range(n_samples):
        for row_begin in range(0, oh, rows_per_chunk):
            row_end = min(oh, row_begin + rows_per_chunk)
            m = (row_end - row_begin) * ow
            if m != cols.shape[1]:  # the ragged last chunk (BLAS needs contiguous operands)
                cols = np.empty((patch_size, m))
                block = np.empty((out_channels, m))
            _im2col(x[n], kh, kw, sh, sw, top, left, oh, ow, cols, row_begin, row_end)
            np.dot(weight_matrix, cols, block)
            y[n, :, row_begin * ow:row_end * ow] = block
    return y


@njit(cache=True)
def _conv2d_backward_input_kernel(grad_y, weight_matrix_t, channels, height, width,
                                  kh, kw, sh, sw, top, left, oh, ow):
    """Twin of ``numpy_reference.conv2d_backward_input``.

    For every sample ``n``: ``grad_x[n] = col2im(Wᵀ · grad_y[n])``.

    Parameters
    ----------
    grad_y : (N, O, OH*OW) float64, C-contiguous
    weight_matrix_t : (C*kh*kw, O) float64, C-contiguous (``W`` transposed)

    Returns
    -------
    grad_x : (N, C, H, W) float64
    """
    n_samples = grad_y.shape[0]
    patch_size = weight_matrix_t.shape[0]
    grad_x = np.zeros((n_samples, channels, height, width))
    cols = np.empty((patch_size, oh * ow))
    for n in range(n_samples):
        np.dot(weight_matrix_t, grad_y[n], cols)
        _col2im_add(cols, kh, kw, sh, sw, top, left, oh, ow, grad_x[n])
    return grad_x


@njit(cache=True)
def _conv2d_backward_weight_kernel(grad_y, x, kh, kw, sh, sw, top, left, oh, ow):
    """Twin of ``numpy_reference.conv2d_backward_weight``.

    ``grad_W = Σ_n grad_y[n] · cols(x[n])ᵀ``

    Parameters
    ----------
    grad_y : (N, O, OH*OW) float64, C-contiguous
    x : (N, C, H, W) float64, C-contiguous

    Returns
    -------
    grad_weight_matrix : (O, C*kh*kw) float64
    """
    n_samples, out_channels = grad_y.shape[0], grad_y.shape[1]
    patch_size = x.shape[1] * kh * kw
    grad_w = np.zeros((out_channels, patch_size))
    term = np.empty((out_channels, patch_size))
    cols = np.empty((patch_size, oh * ow))
    for n in range(n_samples):
        _im2col(x[n], kh, kw, sh, sw, top, left, oh, ow, cols)
        np.dot(grad_y[n], cols.T, term)
        grad_w += term
    return grad_w


# --------------------------------------------------------------------------------------
# max-pooling kernels
# --------------------------------------------------------------------------------------


@njit(cache=True)
def _maxpool_forward_kernel(x, kh, kw, sh, sw, oh, ow):
    """Twin of ``numpy_reference.maxpool_forward``: the first maximum of each window.

    Like ``np.argmax``: ties go to the first maximum in row-major window order, and a
    NaN counts as the maximum (the first NaN wins).

    Parameters
    ----------
    x : (N, C, H, W) float64, C-contiguous

    Returns
    -------
    y : (N, C, OH, OW) float64
    winner : (N, C, OH, OW) int64, flat index ``i*kw + j`` inside the window
    """
    n_samples, channels = x.shape[0], x.shape[1]
    y = np.empty((n_samples, channels, oh, ow))
    winner = np.empty((n_samples, channels, oh, ow), dtype=np.int64)
    for n in range(n_samples):
        for c in range(channels):
            for p in range(oh):
                r0 = p * sh
                for q in range(ow):
                    s0 = q * sw
                    best = x[n, c, r0, s0]
                    best_k = 0
                    for i in range(kh):
                        for j in range(kw):
                            value = x[n, c, r0 + i, s0 + j]
                            # branch-free: a larger value, or the first NaN, takes over (then nothing does)
                            better = (value > best) | ((value != value) & (best == best))
                            best = value if better else best
                            best_k = i * kw + j if better else best_k
                    y[n, c, p, q] = best
                    winner[n, c, p, q] = best_k
    return y, winner


@njit(cache=True)
def _maxpool_backward_kernel(grad_y, winner, height, width, kh, kw, sh, sw):
    """Twin of ``numpy_reference.maxpool_backward``: route each ``grad_y`` to its winner.

    ``grad_x[n, c, p*sh + i, q*sw + j] += grad_y[n, c, p, q]`` where ``winner = i*kw + j``
    (summed where windows overlap; a winner outside ``[0, kh*kw)`` routes nothing, as in
    the reference).

    Parameters
    ----------
    grad_y : (N, C, OH, OW) float64, C-contiguous
    winner : (N, C, OH, OW) int64, C-contiguous

    Returns
    -------
    grad_x : (N, C, H, W) float64
    """
    n_samples, channels, oh, ow = grad_y.shape
    grad_x = np.zeros((n_samples, channels, height, width))
    for plane in range(n_samples * channels):
        n = plane // channels
        c = plane % channels
        for p in range(oh):
            for q in range(ow):
                k = winner[n, c, p, q]
                if k < 0 or k >= kh * kw:
                    continue
                grad_x[n, c, p * sh + k // kw, q * sw + k % kw] += grad_y[n, c, p, q]
    return grad_x


@njit(cache=True)
def _split_by_gate_kernel(upstream, output):
    """One pass: the gate-open part of ``upstream`` and whether the gate-closed part has a nonzero."""
    flat_up, flat_out = upstream.ravel(), output.ravel()
    open_part = np.empty(flat_up.size)
    closed_nonzero = False
    for i in range(flat_up.size):
        value = flat_up[i]
        is_open = flat_out[i] > 0
        open_part[i] = value if is_open else 0.0
        closed_nonzero |= (not is_open) & (value != 0)
    return open_part.reshape(upstream.shape), closed_nonzero


# --------------------------------------------------------------------------------------
# public functions (same signatures as numpy_reference; arguments already checked by the layer)
# --------------------------------------------------------------------------------------


def split_by_gate(upstream, output):
    """Twin of ``numpy_reference.split_by_gate``: ``(upstream·1[output > 0], upstream·1[output ≤ 0])``,
    the second None where it is all zero; ``upstream`` and ``output`` of one shape."""
    upstream, output = _contiguous(upstream), _contiguous(output)
    open_part, closed_nonzero = _split_by_gate_kernel(upstream, output)
    if not closed_nonzero:
        return open_part, None
    return open_part, np.where(output > 0, 0.0, upstream)


def dense_forward(x, weight):
    """Twin of ``numpy_reference.dense_forward``: ``x @ weightᵀ``, x (N, in), weight (out, in) ->
    (N, out), one BLAS GEMM."""
    x, weight = _contiguous(x), _contiguous(weight)
    # yᵀ (out, N) = W xᵀ; weight.T and x.T are the Fortran views BLAS reads without a copy
    return dgemm(1.0, weight.T, x.T, trans_a=1).T


def dense_backward_input(grad_y, weight):
    """Twin of ``numpy_reference.dense_backward_input``: ``grad_y @ weight``, (N, out) -> (N, in)."""
    grad_y, weight = _contiguous(grad_y), _contiguous(weight)
    # grad_xᵀ (in, N) = Wᵀ grad_yᵀ
    return dgemm(1.0, weight.T, grad_y.T).T


def conv2d_forward(x, weight, stride, padding):
    """Twin of ``numpy_reference.conv2d_forward`` (im2col + GEMM per sample):
    ``y[n, o, p, q] = Σ_{c,i,j} weight[o, c, i, j] · x_pad[n, c, p*sh + i, q*sw + j]``.

    x (N, C, H, W), weight (O, C, kh, kw), stride a pair, padding ``((top, bottom), (left, right))``
    -> y (N, O, OH, OW) with ``OH = (H + top + bottom − kh) // sh + 1``.
    """
    x, weight = _contiguous(x), _contiguous(weight)
    (sh, sw), ((top, bottom), (left, right)) = stride, padding
    n, c, h, w = x.shape
    o, _, kh, kw = weight.shape
    oh, ow = conv_output_size(h, kh, sh, top, bottom), conv_output_size(w, kw, sw, left, right)
    rows_per_chunk = max(1, MAX_PATCH_ELEMENTS // (c * kh * kw * ow))
    y = _conv2d_forward_kernel(x, weight.reshape(o, c * kh * kw), kh, kw, sh, sw, top, left, oh, ow, rows_per_chunk)
    return y.reshape(n, o, oh, ow)


def conv2d_backward_input(grad_y, weight, input_shape, stride, padding):
    """Twin of ``numpy_reference.conv2d_backward_input`` (transposed GEMM + col2im per sample):
    ``grad_x[n, c, p*sh + i - top, q*sw + j - left] += Σ_o grad_y[n, o, p, q] · weight[o, c, i, j]``.

    grad_y (N, O, OH, OW), weight (O, C, kh, kw), input_shape (N, C, H, W), padding
    ``((top, bottom), (left, right))`` -> grad_x (input_shape).
    """
    grad_y, weight = _contiguous(grad_y), _contiguous(weight)
    n, c, h, w = (int(s) for s in input_shape)
    (sh, sw), ((top, _), (left, _)) = stride, padding  # oh, ow come with grad_y
    o, _, kh, kw = weight.shape
    oh, ow = grad_y.shape[2:]
    weight_matrix_t = np.ascontiguousarray(weight.reshape(o, c * kh * kw).T)
    return _conv2d_backward_input_kernel(
        grad_y.reshape(n, o, oh * ow), weight_matrix_t, c, h, w, kh, kw, sh, sw, top, left, oh, ow
    )


def conv2d_backward_weight(grad_y, x, kernel_size, stride, padding):
    """Twin of ``numpy_reference.conv2d_backward_weight`` (im2col + GEMM per sample, summed):
    ``grad_w[o, c, i, j] = Σ_{n,p,q} grad_y[n, o, p, q] · x_pad[n, c, p*sh + i, q*sw + j]``.

    grad_y (N, O, OH, OW), x (N, C, H, W) -> grad_w (O, C, kh, kw).
    """
    grad_y, x = _contiguous(grad_y), _contiguous(x)
    (kh, kw), (sh, sw), ((top, _), (left, _)) = kernel_size, stride, padding  # oh, ow come with grad_y
    n, c = x.shape[:2]
    o, oh, ow = grad_y.shape[1:]
    grad_w = _conv2d_backward_weight_kernel(grad_y.reshape(n, o, oh * ow), x, kh, kw, sh, sw, top, left, oh, ow)
    return grad_w.reshape(o, c, kh, kw)


def maxpool_forward(x, size, stride):
    """Twin of ``numpy_reference.maxpool_forward``: the maximum of each window and the flat index
    ``i*kw + j`` of its winner (first maximum in row-major window order); x (N, C, H, W)."""
    x = _contiguous(x)
    (kh, kw), (sh, sw) = size, stride
    oh, ow = conv_output_size(x.shape[2], kh, sh, 0, 0), conv_output_size(x.shape[3], kw, sw, 0, 0)
    return _maxpool_forward_kernel(x, kh, kw, sh, sw, oh, ow)


def maxpool_backward(grad_y, winner, input_shape, size, stride):
    """Twin of ``numpy_reference.maxpool_backward``: route ``grad_y`` (N, C, OH, OW) to each
    window's winner (from :func:`maxpool_forward`), summing where windows overlap."""
    grad_y = _contiguous(grad_y)
    winner = np.ascontiguousarray(winner, dtype=np.int64)
    (kh, kw), (sh, sw) = size, stride
    return _maxpool_backward_kernel(grad_y, winner, int(input_shape[2]), int(input_shape[3]), kh, kw, sh, sw)
