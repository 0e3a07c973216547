"""The worker threads of the Numba CPU kernels, and BLAS's thread count while they run.

A Numba CPU kernel cuts its work (the samples of a batch, the rows of a patch matrix, the columns
of a product) into one contiguous range per worker and runs every range through the same
``@njit(nogil=True)`` function at once: the caller's thread takes the first range and
:func:`worker_count` − 1 pool threads the others (:func:`run_in_ranges`).  Each range calls BLAS
on one thread (:func:`single_threaded_blas`), so the two thread pools never compete: the GEMMs of
the kernels are small (one sample's convolution, a chunk of a patch matrix) and a threaded BLAS
spends more time waking and waiting for its threads than multiplying them, the more so when other
processes load the cores (``benchmarks/README.md``, "Why one BLAS thread per worker").

The ranges are fixed by the size of the work and the number of workers alone (never by timing),
so a kernel gives the same numbers every run on a machine; a kernel whose ranges add partial sums
(the pattern statistics, the weight gradient) can differ in the last bits between worker counts.

:func:`worker_count` is Numba's thread count (``NUMBA_NUM_THREADS``, by default the number of CPU
cores); :func:`set_worker_count` changes it (the benchmarks compare 1 and 2).  Where BLAS's thread
count cannot be controlled (a SciPy built on another BLAS than OpenBLAS), every kernel runs on the
caller's thread alone and BLAS threads as it does by itself.
"""

from __future__ import annotations

import ctypes
import numbers
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

__all__ = ["blas_threads_controllable", "run_in_ranges", "set_worker_count", "single_threaded_blas",
           "split_range", "worker_count"]

_workers = max(1, int(numba.config.NUMBA_NUM_THREADS))
_pool = None
_pool_lock = threading.Lock()


def worker_count() -> int:
    """The number of threads a kernel runs on (1 where BLAS's thread count cannot be controlled)."""
    return _workers if _BLAS.controllable else 1


def set_worker_count(count: int) -> int:
    """Run the kernels on ``count`` threads from now on (an int >= 1, NumPy integers included);
    returns the previous count.  Raises ``TypeError`` for a non-integer (a bool, a float, a string),
    ``ValueError`` for an int below 1."""
    global _workers, _pool
    if isinstance(count, (bool, np.bool_)) or not isinstance(count, numbers.Integral):
        raise TypeError(f"set_worker_count: count must be an int >= 1, got {type(count).__name__} {count!r}")
    count = int(count)
    if count < 1:
        raise ValueError(f"set_worker_count: count must be an int >= 1, got {count}")
    previous, _workers = _workers, count
    with _pool_lock:
        if _pool is not None and count != previous:
            _pool.shutdown(wait=True)
            _pool = None
    return previous


def split_range(n: int, parts: int) -> list:
    """``parts + 1`` bounds cutting ``[0, n)`` into contiguous ranges of sizes differing by at most 1."""
    return [n * t // parts for t in range(parts + 1)]


def _pool_executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max(1, _workers - 1), thread_name_prefix="refpattern-kernel")
        return _pool


def _forget_pool_in_child() -> None:
    """A forked child has none of the parent's threads: it starts its own pool when it needs one."""
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()
    _BLAS.forget_in_child()


class _BlasThreads:
    """BLAS's (SciPy's OpenBLAS) thread count, set to 1 while any kernel runs (a counter, so that
    kernels running at once in several threads of the caller restore it once, after the last)."""

    def __init__(self):
        self.get = self.set = None
        self.lock = threading.Lock()
        self.depth = 0
        self.saved = None
        try:
            from scipy.linalg import cython_blas

            library = ctypes.CDLL(cython_blas.__file__)  # its symbols and those of the BLAS it links
        except (ImportError, OSError):  # pragma: no cover - SciPy is a dependency
            return
        for prefix in ("scipy_openblas", "openblas"):
            for suffix in ("", "64_"):
                try:
                    get = getattr(library, f"{prefix}_get_num_threads{suffix}")
                    set_ = getattr(library, f"{prefix}_set_num_threads{suffix}")
                except AttributeError:
                    continue
                get.restype, get.argtypes = ctypes.c_int, []
                set_.restype, set_.argtypes = None, [ctypes.c_int]
                self.get, self.set = get, set_
                return

    @property
    def controllable(self) -> bool:
        return self.set is not None

    def __enter__(self):
        if self.set is None:
            return self
        with self.lock:
            if self.depth == 0:
                self.saved = int(self.get())
                if self.saved != 1:
                    self.set(1)
            self.depth += 1
        return self

    def __exit__(self, *exc):
        if self.set is None:
            return
        with self.lock:
            self.depth -= 1
            if self.depth == 0 and self.saved not in (None, 1):
                self.set(self.saved)

    def forget_in_child(self) -> None:
        """After a fork inside a kernel (another thread of the parent was in one): restore the count."""
        self.lock = threading.Lock()
        if self.depth and self.saved not in (None, 1):
            self.set(self.saved)
        self.depth = 0


_BLAS = _BlasThreads()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_in_child)


def blas_threads_controllable() -> bool:
    """Whether BLAS's thread count can be set (SciPy on OpenBLAS); else the kernels run on one thread."""
    return _BLAS.controllable


def single_threaded_blas():
    """A context in which BLAS runs on the calling thread alone (a no-op where it cannot be set)."""
    return _BLAS


def run_in_ranges(function, n: int, *args, grain: int = 1, parts: int | None = None, blas: bool = True) -> list:
    """``function(*args, start, stop)`` for contiguous ranges covering ``[0, n)``, at most one per
    worker (and at most ``parts``) and none shorter than ``grain`` (but one range at least), all at
    once, with BLAS on one thread (``blas=False``: for a ``function`` that calls no BLAS, which then
    runs alone on the calling thread without touching BLAS's setting); returns their results in the
    order of the ranges.

    ``function`` must release the GIL (``@njit(nogil=True)``) for the ranges to run in parallel,
    and its ranges must write disjoint memory.  The first range runs on the calling thread; every
    range has finished (or raised) before this returns, and the first exception is raised.
    """
    workers = worker_count() if blas else max(1, _workers)
    parts = max(1, min(workers, n // max(1, grain), workers if parts is None else parts))
    if parts == 1 and not blas:
        return [function(*args, 0, n)]
    with _BLAS:
        if parts == 1:
            return [function(*args, 0, n)]
        bounds = split_range(n, parts)
        pool = _pool_executor()
        futures = [pool.submit(function, *args, bounds[t], bounds[t + 1]) for t in range(1, parts)]
        try:
            first = function(*args, bounds[0], bounds[1])
        finally:
            for future in futures:  # never return (or raise) while a range still writes
                future.exception()
        return [first] + [future.result() for future in futures]
