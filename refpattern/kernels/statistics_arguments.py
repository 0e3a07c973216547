"""Argument checks shared by the fused pattern-statistics kernels (Numba CPU and numba.cuda).

Both kernels add one batch of a kernel layer into caller-owned running sums; this module turns
their arguments into contiguous float64 arrays and refuses anything that does not fit, with a
message naming the argument, the expected shape and the one received.  Plain NumPy, so the
CUDA module needs no SciPy.
"""

from __future__ import annotations

import numpy as np

from refpattern.kernels.numpy_reference import conv_output_size


def check_output(array, name, shape, dtype, what="accumulate_statistics"):
    """The caller's running sum: must be a writable, C-contiguous array of ``shape`` and ``dtype``."""
    if not isinstance(array, np.ndarray) or array.shape != shape or array.dtype != dtype:
        got = f"shape {getattr(array, 'shape', None)}, dtype {getattr(array, 'dtype', type(array).__name__)}"
        raise ValueError(f"{what}: {name} must be a {np.dtype(dtype)} array of shape {shape}, "
                         f"got {got}")
    if not (array.flags.c_contiguous and array.flags.writeable):
        raise ValueError(f"{what}: {name} must be C-contiguous and writable")


def check_statistics_arguments(x, z, weight_matrix, shift, conv, products, sum_x, n_plus, output_sums, sum_xx):
    """Validate the arguments of ``accumulate_statistics`` (see the Numba CPU kernel's docstring).

    Returns ``(x, z, weight_matrix, shift)`` as C-contiguous float64 arrays (copies only where
    needed; the caller's inputs are never written).  Shapes: Dense ``x`` (N, D), ``z`` (N, O);
    Conv2D ``x`` (N, C, H, W) with ``C·kh·kw = D``, ``z`` (N, O, OH, OW); ``weight_matrix`` (O, D);
    ``shift`` (D,); ``products`` (D, 3O); ``sum_x`` (D,); ``n_plus`` (O,) int64; ``output_sums``
    (4, O); ``sum_xx`` (D, D) or None.
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    z = np.ascontiguousarray(z, dtype=np.float64)
    weight_matrix = np.ascontiguousarray(weight_matrix, dtype=np.float64)
    shift = np.ascontiguousarray(shift, dtype=np.float64)
    check_shapes(x, z.shape, weight_matrix, shift, conv, products, sum_x, n_plus, output_sums, sum_xx)
    return x, z, weight_matrix, shift


def check_shapes(x, z_shape, weight_matrix, shift, conv, products, sum_x, n_plus, output_sums, sum_xx,
                 what="accumulate_statistics"):
    """The shape checks of :func:`check_statistics_arguments` (arrays already converted)."""
    n_out, d = weight_matrix.shape
    if shift.shape != (d,):
        raise ValueError(f"{what}: shift must have shape ({d},), got {shift.shape}")
    check_output(products, "products", (d, 3 * n_out), np.float64, what)
    check_output(sum_x, "sum_x", (d,), np.float64, what)
    check_output(n_plus, "n_plus", (n_out,), np.int64, what)
    check_output(output_sums, "output_sums", (4, n_out), np.float64, what)
    if sum_xx is not None:
        check_output(sum_xx, "sum_xx", (d, d), np.float64, what)
    n_samples = x.shape[0]
    if conv is None:
        if x.shape != (n_samples, d) or tuple(z_shape) != (n_samples, n_out):
            raise ValueError(f"{what} (Dense): expected x ({n_samples}, {d}) and z ({n_samples}, "
                             f"{n_out}), got {x.shape} and {tuple(z_shape)}")
    else:
        (kh, kw), _, _ = conv
        if x.ndim != 4 or x.shape[1] * kh * kw != d or len(z_shape) != 4 or tuple(z_shape[:2]) != (n_samples, n_out):
            raise ValueError(f"{what} (Conv2D): x {x.shape}, z {tuple(z_shape)} do not fit a weight "
                             f"matrix ({n_out}, {d}) with kernel ({kh}, {kw})")


def check_forward_arguments(x, weight_matrix, bias, shift, conv, products, sum_x, n_plus, output_sums, sum_xx):
    """Validate the arguments of ``forward_statistics`` (``accumulate_statistics`` without ``z``,
    with ``bias`` (O,)).  Returns ``(x, weight_matrix, bias, shift, output_shape)``: contiguous
    float64 arrays (copies only where needed) and the shape of the layer output,
    ``(N, O)`` for Dense, ``(N, O, OH, OW)`` for Conv2D."""
    weight_matrix = np.ascontiguousarray(weight_matrix, dtype=np.float64)
    if weight_matrix.ndim != 2:
        raise ValueError(f"forward_statistics: weight_matrix must be (O, D), got shape {weight_matrix.shape}")
    n_out = weight_matrix.shape[0]
    bias = np.ascontiguousarray(bias, dtype=np.float64)
    if bias.shape != (n_out,):
        raise ValueError(f"forward_statistics: bias must have shape ({n_out},), got {bias.shape}")
    x = np.ascontiguousarray(x, dtype=np.float64)
    n_samples = x.shape[0] if x.ndim else 0
    if conv is None:
        output_shape = (n_samples, n_out)
    else:
        if x.ndim != 4:
            raise ValueError(f"forward_statistics (Conv2D): x must be (N, C, H, W), got shape {x.shape}")
        (kh, kw), (sh, sw), (ph, pw) = conv
        oh, ow = conv_output_size(x.shape[2], kh, sh, ph), conv_output_size(x.shape[3], kw, sw, pw)
        if oh < 1 or ow < 1:
            raise ValueError(f"forward_statistics (Conv2D): a ({kh}, {kw}) window does not fit x {x.shape} "
                             f"with padding ({ph}, {pw})")
        output_shape = (n_samples, n_out, oh, ow)
    shift = np.ascontiguousarray(shift, dtype=np.float64)
    check_shapes(x, output_shape, weight_matrix, shift, conv, products, sum_x, n_plus, output_sums, sum_xx,
                 "forward_statistics")
    return x, weight_matrix, bias, shift, output_shape
