"""The backend seam: one small function that hands out a set of kernels by name.

Every backend module exposes the same functions with the same signatures as
:mod:`refpattern.kernels.numpy_reference` (the readable reference):

``split_by_gate``, ``dense_forward``, ``dense_backward_input``, ``conv2d_forward``, ``conv2d_backward_input``,
``conv2d_backward_weight``, ``maxpool_forward``, ``maxpool_backward``.

The fused pattern-statistics pass has the same seam one level up:
:data:`refpattern.patterns.statistics.SUMS_BACKENDS` maps ``"numpy"`` to the readable path
(:func:`refpattern.patterns.batch_sums`), ``"numba"`` to :mod:`.numba_statistics` and ``"cuda"``
to :mod:`.cuda_statistics`; both fast kernels are held to the readable path in the tests.

The rest of refpattern asks :func:`get_kernels` and never knows which backend ran.
"""

from __future__ import annotations

BACKENDS = ("numpy", "numba", "cuda")
DEFAULT_BACKEND = "numba"


def resolve_backend(backend: str | None) -> str:
    """Validate a backend name; ``None`` means :data:`DEFAULT_BACKEND`."""
    if backend is None:
        return DEFAULT_BACKEND
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    return backend


def get_kernels(backend: str | None = None):
    """Return the kernel module for ``backend`` (``"numpy"``, ``"numba"`` or ``"cuda"``)."""
    backend = resolve_backend(backend)
    if backend == "numpy":
        from refpattern.kernels import numpy_reference

        return numpy_reference
    if backend == "numba":
        from refpattern.kernels import numba_cpu

        return numba_cpu
    from refpattern.kernels import cuda_kernels

    cuda_kernels.require_cuda()
    return cuda_kernels
