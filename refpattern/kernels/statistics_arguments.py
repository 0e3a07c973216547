"""Argument checks shared by the fused pattern-statistics kernels (Numba CPU and numba.cuda).

Both kernels add one batch of a kernel layer into caller-owned running sums; this module turns
their arguments into contiguous float64 arrays and refuses anything that does not fit, with a
message naming the argument, the expected shape and the one received.  Plain NumPy, so the
CUDA module needs no SciPy.
"""

from __future__ import annotations

import numpy as np


def check_output(array, name, shape, dtype):
    """The caller's running sum: must be a writable, C-contiguous array of ``shape`` and ``dtype``."""
    if not isinstance(array, np.ndarray) or array.shape != shape or array.dtype != dtype:
        got = f"shape {getattr(array, 'shape', None)}, dtype {getattr(array, 'dtype', type(array).__name__)}"
        raise ValueError(f"accumulate_statistics: {name} must be a {np.dtype(dtype)} array of shape {shape}, "
                         f"got {got}")
    if not (array.flags.c_contiguous and array.flags.writeable):
        raise ValueError(f"accumulate_statistics: {name} must be C-contiguous and writable")


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
    n_out, d = weight_matrix.shape
    if shift.shape != (d,):
        raise ValueError(f"accumulate_statistics: shift must have shape ({d},), got {shift.shape}")
    check_output(products, "products", (d, 3 * n_out), np.float64)
    check_output(sum_x, "sum_x", (d,), np.float64)
    check_output(n_plus, "n_plus", (n_out,), np.int64)
    check_output(output_sums, "output_sums", (4, n_out), np.float64)
    if sum_xx is not None:
        check_output(sum_xx, "sum_xx", (d, d), np.float64)
    n_samples = x.shape[0]
    if conv is None:
        if x.shape != (n_samples, d) or z.shape != (n_samples, n_out):
            raise ValueError(f"accumulate_statistics (Dense): expected x ({n_samples}, {d}) and z ({n_samples}, "
                             f"{n_out}), got {x.shape} and {z.shape}")
    else:
        (kh, kw), _, _ = conv
        if x.ndim != 4 or x.shape[1] * kh * kw != d or z.ndim != 4 or z.shape[:2] != (n_samples, n_out):
            raise ValueError(f"accumulate_statistics (Conv2D): x {x.shape}, z {z.shape} do not fit a weight "
                             f"matrix ({n_out}, {d}) with kernel ({kh}, {kw})")
    return x, z, weight_matrix, shift
