"""The backend seam: :func:`get_backend` hands out every kernel of one backend by name.

A :class:`Backend` holds the layer operations and the pattern-statistics kernels of one
implementation, all with the signatures of :mod:`refpattern.kernels.numpy_reference` (the
readable reference twins):

- ``"numpy"``: every function from ``numpy_reference``; no ``forward_statistics``.
- ``"numba"`` (the default): the layer operations from ``numba_cpu``, ``accumulate_statistics``
  and ``forward_statistics`` from ``numba_statistics``.
- ``"cuda"``: the layer operations from ``numba_cpu`` except ``conv2d_forward`` from
  ``cuda_kernels``; ``accumulate_statistics`` from ``cuda_statistics``; no ``forward_statistics``.

Layer operations: ``split_by_gate``, ``dense_forward``, ``dense_backward_input``,
``conv2d_forward``, ``conv2d_backward_input``, ``conv2d_backward_weight``, ``maxpool_forward``,
``maxpool_backward``, ``relu_forward``, ``relu_backward``.  ``accumulate_statistics`` adds one
batch of a kernel layer to running sums; ``forward_statistics`` (where a backend has one) also
returns the layer output from the same pass, and None means "run the forward pass, then
``accumulate_statistics``".

Every kernel assumes valid input: the layers and :class:`~refpattern.patterns.statistics.LayerStatistics`
check arguments once, at their public methods.  The kernel modules import nothing of refpattern
outside this package, and nothing outside this file chooses a backend module.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

BACKENDS = ("numpy", "numba", "cuda")
DEFAULT_BACKEND = "numba"

LAYER_OPERATIONS = ("split_by_gate", "dense_forward", "dense_backward_input", "conv2d_forward",
                    "conv2d_backward_input", "conv2d_backward_weight", "maxpool_forward", "maxpool_backward",
                    "relu_forward", "relu_backward")


@dataclass(frozen=True)
class Backend:
    """The kernels of one backend (module docstring); every field but ``name`` is a function."""

    name: str
    split_by_gate: Callable
    dense_forward: Callable
    dense_backward_input: Callable
    conv2d_forward: Callable
    conv2d_backward_input: Callable
    conv2d_backward_weight: Callable
    maxpool_forward: Callable
    maxpool_backward: Callable
    relu_forward: Callable
    relu_backward: Callable
    accumulate_statistics: Callable
    forward_statistics: Callable | None = None


def resolve_backend(backend) -> str:
    """Validate a backend name (or take a :class:`Backend`'s); ``None`` means :data:`DEFAULT_BACKEND`."""
    if backend is None:
        return DEFAULT_BACKEND
    if isinstance(backend, Backend):
        return backend.name
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    return backend


def _layer_operations(module, **overrides) -> dict:
    return {name: overrides.get(name, getattr(module, name)) for name in LAYER_OPERATIONS}


@functools.cache
def _build(name: str) -> Backend:
    if name == "numpy":
        from refpattern.kernels import numpy_reference

        return Backend(name, **_layer_operations(numpy_reference),
                       accumulate_statistics=numpy_reference.accumulate_statistics)
    from refpattern.kernels import numba_cpu

    if name == "numba":
        from refpattern.kernels import numba_statistics

        return Backend(name, **_layer_operations(numba_cpu),
                       accumulate_statistics=numba_statistics.accumulate_statistics,
                       forward_statistics=numba_statistics.forward_statistics)
    from refpattern.kernels import cuda_kernels, cuda_statistics

    return Backend(name, **_layer_operations(numba_cpu, conv2d_forward=cuda_kernels.conv2d_forward),
                   accumulate_statistics=cuda_statistics.accumulate_statistics)


def get_backend(backend=None) -> Backend:
    """The :class:`Backend` named ``backend`` (``"numpy"``, ``"numba"`` or ``"cuda"``; None: the
    default; a :class:`Backend` is returned as it is).

    Raises ``ValueError`` for another name, and for ``"cuda"`` a ``RuntimeError`` that says what
    to do when no CUDA device (or simulator) is usable.
    """
    if isinstance(backend, Backend):
        return backend
    name = resolve_backend(backend)
    if name == "cuda":
        from refpattern.kernels.cuda_kernels import require_cuda

        require_cuda()
    return _build(name)


__all__ = ["BACKENDS", "DEFAULT_BACKEND", "LAYER_OPERATIONS", "Backend", "get_backend", "resolve_backend"]
