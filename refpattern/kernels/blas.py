"""BLAS ``dgemm`` for ``@njit(nogil=True)`` code: strided row-major views and ``beta``.

Numba's ``np.dot`` inside ``@njit`` code multiplies contiguous arrays into a fresh or a contiguous
``out`` array.  The fast kernels also need to write a product into a block of a larger array (a
band of an image's output rows, a column block of the running sums) and to add a product into
running sums in place (``beta = 1``, no temporary the size of the sums).  :func:`gemm` does both
by calling the same BLAS function Numba's ``np.dot`` and ``scipy.linalg.blas`` call, SciPy's
``dgemm`` (``scipy.linalg.cython_blas``), through a function pointer passed as an argument
(:data:`DGEMM`): a pointer passed as an argument keeps the compiled kernels cacheable, one read
from a global would not.

:func:`gemv` is the matrix-vector product of the same BLAS: a GEMM with one row would pack the whole
matrix first (a dense layer's weights, for a batch of one sample), a GEMV reads it once.

Layout: every array is a 2-D float64 view whose rows are contiguous (``strides[1] == 8``; rows may
be further apart, e.g. a column block of a C-ordered matrix).  BLAS is column-major, so the
row-major product ``C = op(A)·op(B)`` is computed as ``Cᵀ = op(B)ᵀ·op(A)ᵀ`` on the same memory,
with no copy.
"""

from __future__ import annotations

import ctypes

import numpy as np
from numba import njit
from numba.extending import get_cython_function_address

__all__ = ["DGEMM", "DGEMV", "gemm", "gemv"]

#: SciPy's ``dgemm`` as a ctypes function (Fortran calling convention: all 13 arguments by pointer);
#: pass it to :func:`gemm` as its first argument.
DGEMM = ctypes.CFUNCTYPE(None, *([ctypes.c_void_p] * 13))(
    get_cython_function_address("scipy.linalg.cython_blas", "dgemm"))
#: SciPy's ``dgemv`` (11 arguments by pointer); pass it to :func:`gemv`.
DGEMV = ctypes.CFUNCTYPE(None, *([ctypes.c_void_p] * 11))(
    get_cython_function_address("scipy.linalg.cython_blas", "dgemv"))

_NO_TRANSPOSE, _TRANSPOSE = 78, 84  # ord("N"), ord("T")


@njit(cache=True, nogil=True)
def _call_dgemm(dgemm, flag_a, flag_b, m, n, k, a, lda, b, ldb, beta, c, ldc):
    """``dgemm`` in BLAS's own (column-major) terms; ``a``, ``b``, ``c`` are the arrays' ``.ctypes``
    (one compiled version for every layout of the arrays they come from)."""
    flags = np.empty(2, dtype=np.uint8)
    flags[0], flags[1] = flag_a, flag_b
    sizes = np.empty(6, dtype=np.int32)
    sizes[0], sizes[1], sizes[2], sizes[3], sizes[4], sizes[5] = m, n, k, lda, ldb, ldc
    scalars = np.empty(2)
    scalars[0], scalars[1] = 1.0, beta
    dgemm(flags[0:].ctypes, flags[1:].ctypes, sizes[0:].ctypes, sizes[1:].ctypes, sizes[2:].ctypes,
          scalars[0:].ctypes, a, sizes[3:].ctypes, b, sizes[4:].ctypes, scalars[1:].ctypes, c, sizes[5:].ctypes)


@njit(cache=True, nogil=True, inline="always")
def gemm(dgemm, a, b, c, beta, transpose_a, transpose_b):
    """``c ← op(a)·op(b) + beta·c`` in place, ``op(a) = aᵀ`` when ``transpose_a`` (likewise ``b``).

    Parameters
    ----------
    dgemm : :data:`DGEMM`
    a, b, c : 2-D float64 arrays with contiguous rows (``strides[1] == 8``)
        ``op(a)`` (M, K), ``op(b)`` (K, N), ``c`` (M, N); ``c`` must not overlap ``a`` or ``b``.
    beta : float
        0 overwrites ``c`` (its old values are never read, NaN included), 1 adds to it.

    Inlined into its callers (``inline="always"``): compiling it once per combination of array
    layouts cost a third of the kernels' first-call compilation.
    """
    m, n = c.shape
    k = a.shape[0] if transpose_a else a.shape[1]
    if m == 0 or n == 0:
        return
    if k == 0:  # an empty sum: BLAS would be asked for leading dimensions of empty operands
        for i in range(m):  # (plain loops: an in-place array expression costs seconds of compilation)
            for j in range(n):
                c[i, j] = 0.0 if beta == 0.0 else c[i, j] * beta
        return
    # Cᵀ (N, M) = op(b)ᵀ · op(a)ᵀ in column-major terms; the memory of a row-major (r, s) view is the
    # column-major (s, r) matrix with leading dimension strides[0] / 8
    _call_dgemm(dgemm, _TRANSPOSE if transpose_b else _NO_TRANSPOSE, _TRANSPOSE if transpose_a else _NO_TRANSPOSE,
                n, m, k, b.ctypes, max(1, b.strides[0] // 8, b.shape[1]), a.ctypes,
                max(1, a.strides[0] // 8, a.shape[1]), beta, c.ctypes, max(1, c.strides[0] // 8, c.shape[1]))


@njit(cache=True, nogil=True)
def gemv(dgemv, a, x, y, transpose_a):
    """``y ← op(a)·x`` (``op(a) = aᵀ`` when ``transpose_a``) for a 2-D float64 view ``a`` with contiguous
    rows and contiguous 1-D ``x``, ``y`` (``y`` must not overlap ``a`` or ``x``).

    Parameters
    ----------
    dgemv : :data:`DGEMV`
    a : (M, K), or (K, M) when ``transpose_a``; x : (K,); y : (M,), overwritten
    """
    rows, columns = a.shape
    if y.shape[0] == 0:
        return
    if x.shape[0] == 0:
        y[:] = 0.0
        return
    # the memory of the row-major (rows, columns) view is the column-major (columns, rows) matrix
    flags = np.empty(1, dtype=np.uint8)
    flags[0] = _NO_TRANSPOSE if transpose_a else _TRANSPOSE
    sizes = np.empty(4, dtype=np.int32)
    sizes[0], sizes[1] = columns, rows
    sizes[2] = max(1, a.strides[0] // 8, columns)
    sizes[3] = 1
    scalars = np.empty(2)
    scalars[0], scalars[1] = 1.0, 0.0
    dgemv(flags.ctypes, sizes[0:].ctypes, sizes[1:].ctypes, scalars[0:].ctypes, a.ctypes, sizes[2:].ctypes,
          x.ctypes, sizes[3:].ctypes, scalars[1:].ctypes, y.ctypes, sizes[3:].ctypes)
