"""Plain-NumPy reference kernels: the readable twins of every fast kernel.

Each function reads like its equation.  The Numba and numba.cuda kernels in this
package are tested against these to about 1e-12 relative in float64.

Layouts (``docs/paper.md`` §1):

- images are NCHW: ``x`` has shape ``(N, C, H, W)``;
- convolution weights are ``(out_ch, in_ch, kh, kw)``;
- a receptive-field patch is flattened in ``(C, kh, kw)`` order;
- convolution is cross-correlation (no kernel flip) with zero padding;
- output size is ``(H + 2*pad_h - kh) // stride_h + 1`` (floor, as in PyTorch).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def conv_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output length of one spatial axis: ``(size + 2*padding - kernel) // stride + 1``."""
    return (size + 2 * padding - kernel) // stride + 1


def pad_images(x: np.ndarray, padding: tuple[int, int]) -> np.ndarray:
    """Zero-pad the two spatial axes of ``x`` ``(N, C, H, W)`` by ``padding = (ph, pw)``."""
    ph, pw = padding
    if ph == 0 and pw == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))


def extract_patches(x, kernel_size, stride, padding):
    """All receptive-field patches of a convolution.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    kernel_size, stride, padding : pairs of int

    Returns
    -------
    patches : ndarray, shape (N, OH, OW, C, kh, kw)
        ``patches[n, p, q]`` is the input window whose top-left corner is at
        ``(p*stride_h - pad_h, q*stride_w - pad_w)``; padded positions are zero.
        A strided *view* of the padded input (no copy).
    """
    kh, kw = kernel_size
    sh, sw = stride
    xp = pad_images(x, padding)
    windows = sliding_window_view(xp, (kh, kw), axis=(2, 3))  # (N, C, H', W', kh, kw)
    windows = windows[:, :, ::sh, ::sw]
    oh = conv_output_size(x.shape[2], kh, sh, padding[0])
    ow = conv_output_size(x.shape[3], kw, sw, padding[1])
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
    stride, padding : pairs of int

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

    ``grad_x[n, c, p*sh + i - ph, q*sw + j - pw] += Σ_o grad_y[n, o, p, q] · weight[o, c, i, j]``

    Parameters
    ----------
    grad_y : ndarray, shape (N, O, OH, OW)
    weight : ndarray, shape (O, C, kh, kw)
    input_shape : tuple (N, C, H, W)
    stride, padding : pairs of int

    Returns
    -------
    grad_x : ndarray, shape input_shape
    """
    n, c, h, w = input_shape
    kh, kw = weight.shape[2:]
    sh, sw = stride
    ph, pw = padding
    oh, ow = grad_y.shape[2:]
    grad_padded = np.zeros((n, c, h + 2 * ph, w + 2 * pw))
    for i in range(kh):
        for j in range(kw):
            contribution = np.einsum("nopq,oc->ncpq", grad_y, weight[:, :, i, j])
            grad_padded[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw] += contribution
    return np.ascontiguousarray(grad_padded[:, :, ph:ph + h, pw:pw + w])


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
    oh = conv_output_size(x.shape[2], kh, sh, 0)
    ow = conv_output_size(x.shape[3], kw, sw, 0)
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
