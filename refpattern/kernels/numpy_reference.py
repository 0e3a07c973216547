"""Plain-NumPy reference kernels: the readable twins of every fast kernel.

Each function reads like its equation.  The Numba and numba.cuda kernels in this
package are tested against these to about 1e-12 relative in float64.  Like them, these
functions assume valid input (the layers and the statistics check their arguments).

Layouts (``docs/conventions.md#layouts``):

- images are NCHW: ``x`` has shape ``(N, C, H, W)``;
- convolution weights are ``(out_ch, in_ch, kh, kw)``;
- a receptive-field patch is flattened in ``(C, kh, kw)`` order;
- convolution is cross-correlation (no kernel flip) with zero padding
  ``padding = ((top, bottom), (left, right))`` (``docs/conventions.md#padding``; the layer resolves
  its other forms, ``"same"`` included, before a kernel is called);
- output size is ``(H + top + bottom - kh) // stride_h + 1`` (floor, as in PyTorch;
  ``docs/conventions.md#output-size``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

#: Largest patch matrix (rows × D elements) :func:`accumulate_statistics` builds at once.
MAX_PATCH_ELEMENTS = 1 << 22


def conv_output_size(size: int, kernel: int, stride: int, before: int, after: int) -> int:
    """Output length of one spatial axis padded by ``before`` and ``after`` zeros:
    ``(size + before + after - kernel) // stride + 1`` (``docs/conventions.md#output-size``)."""
    return (size + before + after - kernel) // stride + 1


def pad_images(x: np.ndarray, padding) -> np.ndarray:
    """Zero-pad the two spatial axes of ``x`` ``(N, C, H, W)`` by
    ``padding = ((top, bottom), (left, right))``: shape ``(N, C, top + H + bottom, left + W + right)``."""
    (top, bottom), (left, right) = padding
    if top == bottom == left == right == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))


def extract_patches(x, kernel_size, stride, padding):
    """All receptive-field patches of a convolution.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    kernel_size, stride : pairs of int
    padding : ``((top, bottom), (left, right))``

    Returns
    -------
    patches : ndarray, shape (N, OH, OW, C, kh, kw)
        ``patches[n, p, q]`` is the input window whose top-left corner is at
        ``(p*stride_h - top, q*stride_w - left)``; padded positions are zero.
        A strided *view* of the padded input (no copy).
    """
    kh, kw = kernel_size
    sh, sw = stride
    (top, bottom), (left, right) = padding
    xp = pad_images(x, padding)
    windows = sliding_window_view(xp, (kh, kw), axis=(2, 3))  # (N, C, H', W', kh, kw)
    windows = windows[:, :, ::sh, ::sw]
    oh = conv_output_size(x.shape[2], kh, sh, top, bottom)
    ow = conv_output_size(x.shape[3], kw, sw, left, right)
    windows = windows[:, :, :oh, :ow]
    return windows.transpose(0, 2, 3, 1, 4, 5)


def patch_matrix(x, kernel_size, stride, padding):
    """Patches as a matrix ``(N*OH*OW, C*kh*kw)``: one row per observation, (C, kh, kw) order."""
    patches = extract_patches(x, kernel_size, stride, padding)
    n, oh, ow = patches.shape[:3]
    return patches.reshape(n * oh * ow, -1)


def split_by_gate(upstream, output):
    """The two regimes of a gated step: ``(upstream·1[output > 0], upstream·1[output ≤ 0])``,
    the second one None where it is all zero (it would add nothing)."""
    gate = output > 0
    closed = np.where(gate, 0.0, upstream)
    return np.where(gate, upstream, 0.0), (closed if closed.any() else None)


def relu_forward(x):
    """``max(x, 0)`` entry by entry (the ReLU layer's output)."""
    return np.maximum(x, 0.0)


def relu_backward(grad_y, x):
    """The ReLU's vector-Jacobian product: ``grad_y · 1[x > 0]`` (the gate is closed at 0)."""
    return grad_y * (x > 0)


def dense_forward(x, weight):
    """``y = x @ weightᵀ`` (no bias): x (N, in), weight (out, in) -> (N, out)."""
    return x @ weight.T


def dense_backward_input(grad_y, weight):
    """Vector-Jacobian product of :func:`dense_forward` with respect to ``x``: ``grad_y @ weight``,
    (N, out) -> (N, in)."""
    return grad_y @ weight


def conv2d_forward(x, weight, stride, padding):
    """Cross-correlation without bias.

    ``y[n, o, p, q] = Σ_{c,i,j} weight[o, c, i, j] · x_pad[n, c, p*sh + i, q*sw + j]``

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    weight : ndarray, shape (O, C, kh, kw)
    stride : pair of int
    padding : ``((top, bottom), (left, right))``

    Returns
    -------
    y : ndarray, shape (N, O, OH, OW)
    """
    kh, kw = weight.shape[2:]
    patches = extract_patches(x, (kh, kw), stride, padding)
    y = np.tensordot(patches, weight, axes=([3, 4, 5], [1, 2, 3]))  # (N, OH, OW, O)
    return np.ascontiguousarray(y.transpose(0, 3, 1, 2))


def conv2d_backward_input(grad_y, weight, input_shape, stride, padding):
    """Vector-Jacobian product of :func:`conv2d_forward` with respect to ``x``.

    ``grad_x[n, c, p*sh + i - top, q*sw + j - left] += Σ_o grad_y[n, o, p, q] · weight[o, c, i, j]``
    (what falls on the padding is dropped).

    Parameters
    ----------
    grad_y : ndarray, shape (N, O, OH, OW)
    weight : ndarray, shape (O, C, kh, kw)
    input_shape : tuple (N, C, H, W)
    stride : pair of int
    padding : ``((top, bottom), (left, right))``

    Returns
    -------
    grad_x : ndarray, shape input_shape
    """
    n, c, h, w = input_shape
    kh, kw = weight.shape[2:]
    sh, sw = stride
    (top, bottom), (left, right) = padding
    oh, ow = grad_y.shape[2:]
    grad_padded = np.zeros((n, c, top + h + bottom, left + w + right))
    for i in range(kh):
        for j in range(kw):
            contribution = np.einsum("nopq,oc->ncpq", grad_y, weight[:, :, i, j])
            grad_padded[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw] += contribution
    return np.ascontiguousarray(grad_padded[:, :, top:top + h, left:left + w])


def conv2d_backward_weight(grad_y, x, kernel_size, stride, padding):
    """Gradient of ``Σ grad_y · conv2d_forward(x, weight)`` with respect to ``weight``.

    ``grad_w[o, c, i, j] = Σ_{n,p,q} grad_y[n, o, p, q] · x_pad[n, c, p*sh + i, q*sw + j]``

    Returns
    -------
    grad_w : ndarray, shape (O, C, kh, kw)
    """
    patches = extract_patches(x, kernel_size, stride, padding)  # (N, OH, OW, C, kh, kw)
    return np.tensordot(grad_y, patches, axes=([0, 2, 3], [0, 1, 2]))


def maxpool_forward(x, size, stride):
    """Max-pooling with the index of the winner in each window.

    Ties go to the first maximum in row-major window order (``np.argmax``).

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    size, stride : pairs of int

    Returns
    -------
    y : ndarray, shape (N, C, OH, OW)
    winner : ndarray of int64, shape (N, C, OH, OW)
        Flat index ``i*kw + j`` of the winner inside its window.
    """
    kh, kw = size
    sh, sw = stride
    oh = conv_output_size(x.shape[2], kh, sh, 0, 0)
    ow = conv_output_size(x.shape[3], kw, sw, 0, 0)
    windows = sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw][:, :, :oh, :ow]
    flat = windows.reshape(windows.shape[:4] + (kh * kw,))
    winner = np.argmax(flat, axis=-1)
    y = np.take_along_axis(flat, winner[..., None], axis=-1)[..., 0]
    return np.ascontiguousarray(y), winner


def maxpool_backward(grad_y, winner, input_shape, size, stride):
    """Route ``grad_y`` to the forward winner of each window (summing where windows overlap).

    Returns
    -------
    grad_x : ndarray, shape input_shape
    """
    kh, kw = size
    sh, sw = stride
    oh, ow = grad_y.shape[2:]
    grad_x = np.zeros(input_shape)
    for i in range(kh):
        for j in range(kw):
            routed = np.where(winner == i * kw + j, grad_y, 0.0)
            grad_x[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw] += routed
    return grad_x


# --------------------------------------------------------------------------------------
# pattern statistics of one kernel layer (the readable twin of the fused statistics kernels)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchSums:
    """Sums over one batch of ``M`` observations, in shifted coordinates (:func:`batch_sums`)."""

    n: int
    n_plus: np.ndarray
    sum_x: np.ndarray
    sum_x_plus: np.ndarray
    sum_x_minus: np.ndarray
    sum_y_minus: np.ndarray
    sum_y_plus: np.ndarray
    sum_yy_minus: np.ndarray
    sum_yy_plus: np.ndarray
    sum_xy_minus: np.ndarray
    sum_xy_plus: np.ndarray
    sum_xx: np.ndarray | None = None


def batch_sums(patches, y_shifted, gate, second_moment: bool = False) -> BatchSums:
    """The sums of one batch, as their definitions read.

    Parameters
    ----------
    patches : ndarray, shape (M, D)
        ``P̃``: one row per observation, already shifted (``x̃ = x − c``).
    y_shifted : ndarray, shape (M, O)
        ``Ỹ = P̃·Wᵀ``: ``ỹ = wᵀx̃`` for every observation and neuron (no bias).
    gate : ndarray of bool, shape (M, O)
        ``G``: ``wᵀx + b > 0`` (the forward pre-activation, bias included).
    second_moment : bool
        Also return ``sum_xx = P̃ᵀP̃`` (D, D).

    Returns
    -------
    BatchSums
        ``n = M``, ``n_plus = Σg``, ``sum_x = Σx̃``, ``sum_x_plus = P̃ᵀG``, ``sum_x_minus = P̃ᵀ(1 − G)``,
        ``sum_y_minus = Σỹ⊙(1 − g)``,
        ``sum_y_plus = Σỹ⊙g``, ``sum_yy_minus = Σỹ²⊙(1 − g)``, ``sum_yy_plus = Σỹ²⊙g``,
        ``sum_xy_minus = P̃ᵀ(Ỹ⊙(1 − G))``, ``sum_xy_plus = P̃ᵀ(Ỹ⊙G)``: each regime summed over its own
        observations (``docs/math.md#statistics-regimes``).
    """
    g = gate.astype(np.float64)
    y_open = y_shifted * g
    y_closed = y_shifted * (1.0 - g)
    return BatchSums(
        n=int(patches.shape[0]),
        n_plus=np.count_nonzero(gate, axis=0).astype(np.int64),
        sum_x=patches.sum(axis=0),
        sum_x_plus=patches.T @ g,
        sum_x_minus=patches.T @ (1.0 - g),
        sum_y_minus=y_closed.sum(axis=0),
        sum_y_plus=y_open.sum(axis=0),
        sum_yy_minus=(y_closed * y_shifted).sum(axis=0),
        sum_yy_plus=(y_open * y_shifted).sum(axis=0),
        sum_xy_minus=patches.T @ y_closed,
        sum_xy_plus=patches.T @ y_open,
        sum_xx=patches.T @ patches if second_moment else None,
    )


def accumulate_statistics(x, z, weight_matrix, shift, conv, products, sum_x, n_plus, output_sums, sum_xx=None,
                          closed_inputs=None) -> int:
    """Add one batch of a kernel layer to the running sums, in place: the readable twin of
    ``numba_statistics.accumulate_statistics`` and ``cuda_statistics.accumulate_statistics``.

    The observations are the rows of ``P`` (Dense: ``x``; Conv2D: :func:`patch_matrix` of ``x``,
    one row per (sample, output position)), shifted by ``c``; ``Ỹ = P̃Wᵀ`` and the gate
    ``G = [z > 0]`` read from the layer output ``z``.  Then, per chunk of samples whose patch
    matrix has at most :data:`MAX_PATCH_ELEMENTS` entries, :func:`batch_sums` is added::

        products += [P̃ᵀ(Ỹ⊙(1 − G)) | P̃ᵀ(Ỹ⊙G) | P̃ᵀ(G ⊕ F)]    (D, 3O)
        sum_x += Σx̃,  n_plus += Σg,  output_sums += [Σỹ⊙(1 − g); Σỹ⊙g; Σỹ²⊙(1 − g); Σỹ²⊙g],
        sum_xx += P̃ᵀP̃ (if given)

    Parameters
    ----------
    x : (N, D) for Dense, (N, C, H, W) for Conv2D;  z : (N, O) or (N, O, OH, OW), bias included
    weight_matrix : (O, D);  shift : (D,)
    conv : None for Dense, ``(kernel_size, stride, padding)`` for Conv2D, ``padding`` as
        ``((top, bottom), (left, right))``
    products (D, 3O), sum_x (D,), n_plus (O,) int64, output_sums (4, O), sum_xx (D, D) or None
        The running sums, added to in place.
    closed_inputs : (O,) bool or None
        ``F``: which regime's input sums the third block holds, per neuron (``docs/math.md#regime-input-sums``):
        column ``o`` adds ``Σx̃(1 − g_o)`` (the gate-closed inputs, ``F_o`` True) or ``Σx̃g_o`` (False; None:
        False for every neuron), i.e. ``P̃ᵀ(G ⊕ F)``.

    Returns
    -------
    int
        The number of observations added (``N`` or ``N·OH·OW``).
    """
    n_out, d = weight_matrix.shape
    rows_per_sample = 1 if conv is None else z.shape[2] * z.shape[3]
    chunk = max(1, MAX_PATCH_ELEMENTS // max(1, rows_per_sample * d))
    added = 0
    for start in range(0, x.shape[0], chunk):
        x_chunk, z_chunk = x[start:start + chunk], z[start:start + chunk]
        if conv is None:
            patches, gate = x_chunk, z_chunk > 0
        else:
            patches = patch_matrix(x_chunk, *conv)
            gate = np.moveaxis(z_chunk, 1, -1).reshape(-1, n_out) > 0
        shifted = patches - shift
        sums = batch_sums(shifted, shifted @ weight_matrix.T, gate, sum_xx is not None)
        n_plus += sums.n_plus
        sum_x += sums.sum_x
        products[:, :n_out] += sums.sum_xy_minus
        products[:, n_out:2 * n_out] += sums.sum_xy_plus
        products[:, 2 * n_out:] += sums.sum_x_plus if closed_inputs is None else np.where(
            closed_inputs, sums.sum_x_minus, sums.sum_x_plus)
        for row, total in enumerate((sums.sum_y_minus, sums.sum_y_plus, sums.sum_yy_minus, sums.sum_yy_plus)):
            output_sums[row] += total
        if sum_xx is not None:
            sum_xx += sums.sum_xx
        added += sums.n
    return added
