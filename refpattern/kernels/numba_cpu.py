"""Numba CPU kernels: the fast twins of :mod:`refpattern.kernels.numpy_reference`.

Same eight functions, same signatures, same results (to about 1e-12 relative in
float64; ``tests/test_kernels_numba.py`` holds each one to its NumPy twin):

``split_by_gate``, ``dense_forward``, ``dense_backward_input``, ``conv2d_forward``, ``conv2d_backward_input``,
``conv2d_backward_weight``, ``maxpool_forward``, ``maxpool_backward``.

Layouts are those of the reference: images NCHW, convolution weights
``(O, C, kh, kw)``, receptive-field patches flattened in ``(C, kh, kw)`` order,
cross-correlation with zero padding, floor output size.

Each public function validates its arguments, converts arrays to C-contiguous
float64 (never modifying the caller's arrays) and calls one private ``@njit``
kernel.  The kernels:

- convolution: per sample, *im2col* (the ``(C*kh*kw, OH*OW)`` patch matrix of one
  image, written into a reused buffer; the forward pass takes an image whose patch matrix
  exceeds :data:`MAX_PATCH_ELEMENTS` a band of output rows at a time) followed by one BLAS
  GEMM (``np.dot``);
  the backward pass to the input is the transposed GEMM followed by *col2im*
  (scatter-add of the patch matrix back onto the image).
- max-pooling: direct serial loops over each window (forward) and over the winners
  (routing backward).
- dense layers: one BLAS GEMM (``scipy.linalg.blas.dgemm`` on transposed views, no copy).

Every kernel is serial apart from BLAS, and every BLAS call goes to one library (SciPy's
OpenBLAS, which Numba's ``np.dot`` also calls): an explanation or a fit alternates between
GEMMs and short loops many times, and on 2 cores any second thread pool (NumPy's own
OpenBLAS, Numba's ``prange``) spins against OpenBLAS's threads.  In ``explain`` on ``bench_cnn``
that made the GEMMs about 3x slower than the same GEMMs alone.

Why the convolution kernels run their sample loop serially: the GEMM is the bulk of
the work and OpenBLAS already spreads it over all cores.  Mixing Numba's thread pool
(``parallel=True``) with OpenBLAS's own threads was measured here (2 cores) to be
1.5-4x slower with ``prange`` over samples and about 45x slower with a ``prange``
im2col between GEMMs (the two pools spin against each other), so the conv kernels use one
thread for im2col/col2im and let BLAS use the rest.  The thread count of the GEMM
follows OpenBLAS's own setting (``OPENBLAS_NUM_THREADS``).
"""

from __future__ import annotations

import numbers

import numpy as np
from numba import njit
from scipy.linalg.blas import dgemm

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


# --------------------------------------------------------------------------------------
# argument checks (plain Python)
# --------------------------------------------------------------------------------------


def _pair(value, name: str, *, minimum: int) -> tuple[int, int]:
    """A pair of Python ints, each at least ``minimum`` (``stride``, ``padding``, ...)."""
    try:
        first, second = value
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a pair of ints, got {value!r}") from None
    pair = []
    for item in (first, second):
        if isinstance(item, (bool, np.bool_)) or not isinstance(item, numbers.Integral):
            raise ValueError(f"{name}: expected a pair of ints, got {value!r}")
        if item < minimum:
            raise ValueError(f"{name}: each entry must be >= {minimum}, got {value!r}")
        pair.append(int(item))
    return pair[0], pair[1]


def _float_array(array, name: str, ndim: int) -> np.ndarray:
    """``array`` as a C-contiguous float64 ndarray of ``ndim`` axes, none of them empty.

    Returns the caller's array itself when it already is one (the kernels only read it).
    """
    array = np.ascontiguousarray(array, dtype=np.float64)
    if array.ndim != ndim:
        raise ValueError(f"{name}: expected {ndim} axes, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name}: expected a non-empty array, got shape {array.shape}")
    return array


def _shape4(value, name: str) -> tuple[int, int, int, int]:
    """An ``(N, C, H, W)`` shape as four positive Python ints."""
    try:
        shape = tuple(int(s) for s in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a shape (N, C, H, W), got {value!r}") from None
    if len(shape) != 4 or min(shape) < 1:
        raise ValueError(f"{name}: expected a shape (N, C, H, W) of positive ints, got {value!r}")
    return shape


def _output_size(size: int, kernel: int, stride: int, padding: int, what: str) -> int:
    """``(size + 2*padding - kernel) // stride + 1``, refusing a window that does not fit."""
    if kernel > size + 2 * padding:
        raise ValueError(
            f"{what}: window of {kernel} does not fit an axis of {size} with padding {padding}"
        )
    return (size + 2 * padding - kernel) // stride + 1


def _check_grad_shape(grad_y: np.ndarray, expected: tuple, what: str) -> None:
    if grad_y.shape != tuple(expected):
        raise ValueError(f"{what}: grad_y should have shape {tuple(expected)}, got {grad_y.shape}")


# --------------------------------------------------------------------------------------
# patch matrix (im2col) and its adjoint (col2im)
# --------------------------------------------------------------------------------------
# Plain bounds checks in the innermost loop: LLVM vectorises these; splitting the loop into
# "left padding / interior / right padding" ranges was measured 2-3x slower.


@njit(cache=True)
def _im2col(image, kh, kw, sh, sw, ph, pw, oh, ow, cols, row_begin=0, row_end=-1):
    """Patch matrix of one image: ``numpy_reference.patch_matrix`` of a single sample,
    *transposed* (one column per output position); only output rows ``[row_begin, row_end)``
    when given (``row_end = -1``: to the last row ``OH``).

    ``cols[(c*kh + i)*kw + j, (p - row_begin)*OW + q] = x_pad[c, p*sh + i, q*sw + j]``

    Parameters
    ----------
    image : (C, H, W) float64
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
                    r = p * sh + i - ph
                    base = (p - row_begin) * ow
                    if r < 0 or r >= height:
                        for q in range(ow):
                            cols[k, base + q] = 0.0
                        continue
                    for q in range(ow):
                        s = q * sw + j - pw
                        if s >= 0 and s < width:
                            cols[k, base + q] = image[c, r, s]
                        else:
                            cols[k, base + q] = 0.0


@njit(cache=True)
def _col2im_add(cols, kh, kw, sh, sw, ph, pw, oh, ow, image):
    """Adjoint of :func:`_im2col`: scatter-add each patch entry back onto its pixel.

    ``image[c, p*sh + i - ph, q*sw + j - pw] += cols[(c*kh + i)*kw + j, p*OW + q]``
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
                    r = p * sh + i - ph
                    if r < 0 or r >= height:
                        continue
                    base = p * ow
                    for q in range(ow):
                        s = q * sw + j - pw
                        if s >= 0 and s < width:
                            image[c, r, s] += cols[k, base + q]


# --------------------------------------------------------------------------------------
# convolution kernels
# --------------------------------------------------------------------------------------


@njit(cache=True)
def _conv2d_forward_kernel(x, weight_matrix, kh, kw, sh, sw, ph, pw, oh, ow, rows_per_chunk):
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
            _im2col(x[n], kh, kw, sh, sw, ph, pw, oh, ow, cols)
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
            _im2col(x[n], kh, kw, sh, sw, ph, pw, oh, ow, cols, row_begin, row_end)
            np.dot(weight_matrix, cols, block)
            y[n, :, row_begin * ow:row_end * ow] = block
    return y


@njit(cache=True)
def _conv2d_backward_input_kernel(grad_y, weight_matrix_t, channels, height, width,
                                  kh, kw, sh, sw, ph, pw, oh, ow):
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
        _col2im_add(cols, kh, kw, sh, sw, ph, pw, oh, ow, grad_x[n])
    return grad_x


@njit(cache=True)
def _conv2d_backward_weight_kernel(grad_y, x, kh, kw, sh, sw, ph, pw, oh, ow):
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
        _im2col(x[n], kh, kw, sh, sw, ph, pw, oh, ow, cols)
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
# public functions (same signatures as numpy_reference)
# --------------------------------------------------------------------------------------


def split_by_gate(upstream, output):
    """``(upstream·1[output > 0], upstream·1[output ≤ 0])``, the second None where it is all zero.

    Parameters
    ----------
    upstream, output : ndarrays of one shape (a layer's incoming signal and its forward output)

    Returns
    -------
    open_part : ndarray, float64
    closed_part : ndarray or None
    """
    upstream = np.ascontiguousarray(upstream, dtype=np.float64)
    output = np.ascontiguousarray(output, dtype=np.float64)
    if upstream.shape != output.shape:
        raise ValueError(f"split_by_gate: upstream {upstream.shape} and output {output.shape} differ in shape")
    open_part, closed_nonzero = _split_by_gate_kernel(upstream, output)
    if not closed_nonzero:
        return open_part, None
    return open_part, np.where(output > 0, 0.0, upstream)


def dense_forward(x, weight):
    """``y = x @ weightᵀ`` without bias (one BLAS GEMM).

    Parameters
    ----------
    x : ndarray, shape (N, in)
    weight : ndarray, shape (out, in)

    Returns
    -------
    y : ndarray, shape (N, out), float64, C-contiguous
    """
    x = _float_array(x, "dense_forward: x", 2)
    weight = _float_array(weight, "dense_forward: weight", 2)
    if weight.shape[1] != x.shape[1]:
        raise ValueError(f"dense_forward: weight {weight.shape} expects {weight.shape[1]} inputs, x {x.shape} has "
                         f"{x.shape[1]}")
    # yᵀ (out, N) = W xᵀ; weight.T and x.T are the Fortran views BLAS reads without a copy
    return dgemm(1.0, weight.T, x.T, trans_a=1).T


def dense_backward_input(grad_y, weight):
    """Vector-Jacobian product of :func:`dense_forward` with respect to ``x``: ``grad_y @ weight``.

    Parameters
    ----------
    grad_y : ndarray, shape (N, out)
    weight : ndarray, shape (out, in)

    Returns
    -------
    grad_x : ndarray, shape (N, in), float64, C-contiguous
    """
    grad_y = _float_array(grad_y, "dense_backward_input: grad_y", 2)
    weight = _float_array(weight, "dense_backward_input: weight", 2)
    if weight.shape[0] != grad_y.shape[1]:
        raise ValueError(f"dense_backward_input: weight {weight.shape} has {weight.shape[0]} outputs, grad_y "
                         f"{grad_y.shape} has {grad_y.shape[1]}")
    # grad_xᵀ (in, N) = Wᵀ grad_yᵀ
    return dgemm(1.0, weight.T, grad_y.T).T


def conv2d_forward(x, weight, stride, padding):
    """Cross-correlation without bias (im2col + GEMM per sample).

    ``y[n, o, p, q] = Σ_{c,i,j} weight[o, c, i, j] · x_pad[n, c, p*sh + i, q*sw + j]``

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    weight : ndarray, shape (O, C, kh, kw)
    stride, padding : pairs of int

    Returns
    -------
    y : ndarray, shape (N, O, OH, OW), float64
    """
    x = _float_array(x, "conv2d_forward: x", 4)
    weight = _float_array(weight, "conv2d_forward: weight", 4)
    sh, sw = _pair(stride, "conv2d_forward: stride", minimum=1)
    ph, pw = _pair(padding, "conv2d_forward: padding", minimum=0)
    n, c, h, w = x.shape
    o, wc, kh, kw = weight.shape
    if wc != c:
        raise ValueError(
            f"conv2d_forward: weight {weight.shape} expects {wc} input channels, x {x.shape} has {c}"
        )
    oh = _output_size(h, kh, sh, ph, "conv2d_forward (height)")
    ow = _output_size(w, kw, sw, pw, "conv2d_forward (width)")
    rows_per_chunk = max(1, MAX_PATCH_ELEMENTS // (c * kh * kw * ow))
    y = _conv2d_forward_kernel(x, weight.reshape(o, c * kh * kw), kh, kw, sh, sw, ph, pw, oh, ow, rows_per_chunk)
    return y.reshape(n, o, oh, ow)


def conv2d_backward_input(grad_y, weight, input_shape, stride, padding):
    """Vector-Jacobian product of :func:`conv2d_forward` with respect to ``x``
    (transposed GEMM + col2im per sample).

    ``grad_x[n, c, p*sh + i - ph, q*sw + j - pw] += Σ_o grad_y[n, o, p, q] · weight[o, c, i, j]``

    Parameters
    ----------
    grad_y : ndarray, shape (N, O, OH, OW)
    weight : ndarray, shape (O, C, kh, kw)
    input_shape : tuple (N, C, H, W)
    stride, padding : pairs of int

    Returns
    -------
    grad_x : ndarray, shape input_shape, float64
    """
    grad_y = _float_array(grad_y, "conv2d_backward_input: grad_y", 4)
    weight = _float_array(weight, "conv2d_backward_input: weight", 4)
    n, c, h, w = _shape4(input_shape, "conv2d_backward_input: input_shape")
    sh, sw = _pair(stride, "conv2d_backward_input: stride", minimum=1)
    ph, pw = _pair(padding, "conv2d_backward_input: padding", minimum=0)
    o, wc, kh, kw = weight.shape
    if wc != c:
        raise ValueError(
            f"conv2d_backward_input: weight {weight.shape} expects {wc} input channels, "
            f"input_shape {(n, c, h, w)} has {c}"
        )
    oh = _output_size(h, kh, sh, ph, "conv2d_backward_input (height)")
    ow = _output_size(w, kw, sw, pw, "conv2d_backward_input (width)")
    _check_grad_shape(grad_y, (n, o, oh, ow), "conv2d_backward_input")
    weight_matrix_t = np.ascontiguousarray(weight.reshape(o, c * kh * kw).T)
    return _conv2d_backward_input_kernel(
        grad_y.reshape(n, o, oh * ow), weight_matrix_t, c, h, w, kh, kw, sh, sw, ph, pw, oh, ow
    )


def conv2d_backward_weight(grad_y, x, kernel_size, stride, padding):
    """Gradient of ``Σ grad_y · conv2d_forward(x, weight)`` with respect to ``weight``
    (im2col + GEMM per sample, summed over the batch).

    ``grad_w[o, c, i, j] = Σ_{n,p,q} grad_y[n, o, p, q] · x_pad[n, c, p*sh + i, q*sw + j]``

    Parameters
    ----------
    grad_y : ndarray, shape (N, O, OH, OW)
    x : ndarray, shape (N, C, H, W)
    kernel_size, stride, padding : pairs of int

    Returns
    -------
    grad_w : ndarray, shape (O, C, kh, kw), float64
    """
    grad_y = _float_array(grad_y, "conv2d_backward_weight: grad_y", 4)
    x = _float_array(x, "conv2d_backward_weight: x", 4)
    kh, kw = _pair(kernel_size, "conv2d_backward_weight: kernel_size", minimum=1)
    sh, sw = _pair(stride, "conv2d_backward_weight: stride", minimum=1)
    ph, pw = _pair(padding, "conv2d_backward_weight: padding", minimum=0)
    n, c, h, w = x.shape
    o = grad_y.shape[1]
    oh = _output_size(h, kh, sh, ph, "conv2d_backward_weight (height)")
    ow = _output_size(w, kw, sw, pw, "conv2d_backward_weight (width)")
    _check_grad_shape(grad_y, (n, o, oh, ow), "conv2d_backward_weight")
    grad_w = _conv2d_backward_weight_kernel(
        grad_y.reshape(n, o, oh * ow), x, kh, kw, sh, sw, ph, pw, oh, ow
    )
    return grad_w.reshape(o, c, kh, kw)


def maxpool_forward(x, size, stride):
    """Max-pooling with the index of the winner in each window (direct loops).

    Ties go to the first maximum in row-major window order (``np.argmax``).

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    size, stride : pairs of int

    Returns
    -------
    y : ndarray, shape (N, C, OH, OW), float64
    winner : ndarray of int64, shape (N, C, OH, OW)
        Flat index ``i*kw + j`` of the winner inside its window.
    """
    x = _float_array(x, "maxpool_forward: x", 4)
    kh, kw = _pair(size, "maxpool_forward: size", minimum=1)
    sh, sw = _pair(stride, "maxpool_forward: stride", minimum=1)
    oh = _output_size(x.shape[2], kh, sh, 0, "maxpool_forward (height)")
    ow = _output_size(x.shape[3], kw, sw, 0, "maxpool_forward (width)")
    return _maxpool_forward_kernel(x, kh, kw, sh, sw, oh, ow)


def maxpool_backward(grad_y, winner, input_shape, size, stride):
    """Route ``grad_y`` to the forward winner of each window (summing where windows overlap).

    Parameters
    ----------
    grad_y : ndarray, shape (N, C, OH, OW)
    winner : ndarray of int, shape (N, C, OH, OW), as returned by :func:`maxpool_forward`
    input_shape : tuple (N, C, H, W)
    size, stride : pairs of int

    Returns
    -------
    grad_x : ndarray, shape input_shape, float64
    """
    grad_y = _float_array(grad_y, "maxpool_backward: grad_y", 4)
    winner = np.asarray(winner)
    if not np.issubdtype(winner.dtype, np.integer):
        raise ValueError(f"maxpool_backward: winner must be an integer array, got dtype {winner.dtype}")
    winner = np.ascontiguousarray(winner, dtype=np.int64)
    n, c, h, w = _shape4(input_shape, "maxpool_backward: input_shape")
    kh, kw = _pair(size, "maxpool_backward: size", minimum=1)
    sh, sw = _pair(stride, "maxpool_backward: stride", minimum=1)
    oh = _output_size(h, kh, sh, 0, "maxpool_backward (height)")
    ow = _output_size(w, kw, sw, 0, "maxpool_backward (width)")
    _check_grad_shape(grad_y, (n, c, oh, ow), "maxpool_backward")
    if winner.shape != grad_y.shape:
        raise ValueError(
            f"maxpool_backward: winner should have the shape of grad_y {grad_y.shape}, got {winner.shape}"
        )
    return _maxpool_backward_kernel(grad_y, winner, h, w, kh, kw, sh, sw)
