"""Fitting patterns: stream data through the network, accumulate statistics, estimate.

``fit_patterns(net, X)`` = ``patterns_from_statistics(net, fit_statistics(net, X))``.  The
statistics (:mod:`refpattern.patterns.statistics`) are sums, so the two steps can be split:
workers fit statistics on shards and ``stats_a.merge(stats_b)`` combines them exactly.
"""

from __future__ import annotations

import numbers
import sys
import time

import numpy as np

from refpattern.network.elementwise import ReLU
from refpattern.network.sequential import Sequential
from refpattern.patterns.container import canonical_estimator, check_variant
from refpattern.patterns.estimators import patterns_from_statistics
from refpattern.patterns.statistics import NetworkStatistics, resolve_forward_sums, resolve_sums_backend


class Progress:
    """A one-line progress counter on stderr (no dependency).

    ``enabled=None`` shows it only when stderr is a terminal.  ``total`` (samples) may be None.
    """

    def __init__(self, label: str, total=None, enabled=None, stream=None):
        self.stream = sys.stderr if stream is None else stream
        if enabled is None:
            isatty = getattr(self.stream, "isatty", None)
            enabled = bool(isatty and isatty())
        self.label, self.total, self.enabled = label, total, bool(enabled)
        self.done, self._last = 0, 0.0

    def update(self, samples: int) -> None:
        self.done += int(samples)
        now = time.monotonic()
        if self.enabled and now - self._last >= 0.1:
            self._last = now
            of = f"/{self.total}" if self.total is not None else ""
            self.stream.write(f"\r{self.label}: {self.done}{of} samples")
            self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            of = f"/{self.total}" if self.total is not None else ""
            self.stream.write(f"\r{self.label}: {self.done}{of} samples, done\n")
            self.stream.flush()


def check_batch_size(batch_size) -> int:
    if isinstance(batch_size, (bool, np.bool_)) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    return int(batch_size)


def iter_batches(X, batch_size: int):
    """Batches of ``X``: slices of ``batch_size`` samples of an array, or the items of an iterable
    of arrays (each one a batch, used as given).  Yields arrays; never copies an array input."""
    if isinstance(X, np.ndarray):
        if X.ndim == 0:
            yield X  # refused by net.check_input with a clear message
            return
        for start in range(0, X.shape[0], batch_size):
            yield X[start:start + batch_size]
        return
    if isinstance(X, (str, bytes)) or not hasattr(X, "__iter__"):
        raise TypeError(f"X: expected an array or an iterable of arrays (batches), got {type(X).__name__}")
    yield from X


def accumulate_batch(net, stats, x, backend, fused, forward_fused=None) -> None:
    """The forward pass of one batch, adding each kernel layer's (input, output) to its statistics
    as soon as both exist.  Only two activations are alive at a time (the same numbers as
    ``net.trace`` up to rounding, without keeping the whole trace).

    Parameters
    ----------
    stats : sequence
        One entry per kernel layer of ``net`` (``stats[k]`` for ``net.kernel_layers[k]``): a
        :class:`~refpattern.patterns.statistics.LayerStatistics` to add to, possibly for a block
        of the layer's neurons, or None for a layer this pass takes no statistics of.  The
        forward pass stops after the last kernel layer that has statistics.
    backend : str
        The forward pass's kernel backend.
    fused : callable or None
        The backend's fused ``accumulate_statistics`` (None: the readable NumPy path).
    forward_fused : callable or None
        The backend's ``forward_statistics``, which computes a kernel layer's output *and* adds
        its statistics in one pass over the patches; used for statistics that cover the whole
        layer.
    """
    taken = [k for k, layer_stats in enumerate(stats) if layer_stats is not None]
    if not taken:
        return
    layers = net.layers[:net.kernel_indices[taken[-1]] + 1]
    a = x
    kernel = 0
    skip_relu = False
    for index, layer in enumerate(layers):
        if skip_relu:  # already applied in place below
            skip_relu = False
            continue
        if not layer.is_kernel:
            a = layer.forward(a, backend)
            continue
        layer_stats = stats[kernel]
        kernel += 1
        relu_next = index + 1 < len(layers) and isinstance(layers[index + 1], ReLU)
        if layer_stats is not None and forward_fused is not None and layer_stats.covers_layer:
            a = layer_stats.forward_accumulate(a, forward_fused, relu=relu_next)
            skip_relu = relu_next
            continue
        out = layer.forward(a, backend)
        if layer_stats is not None:
            layer_stats.accumulate(a, out if layer_stats.covers_layer else out[:, layer_stats.neurons], fused)
        if relu_next:
            np.maximum(out, 0.0, out=out)  # the kernel output is ours and no longer needed
            skip_relu = True
        a = out


def fit_statistics(net, X, batch_size: int = 256, backend=None, second_moment: bool = False,
                   progress=None, label: str = "fit_statistics") -> NetworkStatistics:
    """Sufficient statistics of every kernel layer of ``net`` over the data ``X``.

    Parameters
    ----------
    net : Sequential
    X : ndarray (N, …) or iterable of ndarrays
        An array is cut into batches of ``batch_size`` samples; an iterable (list, generator)
        yields batches.  Every batch is checked with ``net.check_input``.
    batch_size : int
    backend : {"numpy", "numba", "cuda"} or None
        Runs the forward pass (None: the project default) and picks the fused per-batch
        statistics kernel registered for it in
        :data:`~refpattern.patterns.statistics.SUMS_BACKENDS` ("numpy": the readable reference
        path); every backend gives the same statistics up to rounding.
    second_moment : bool
        Also keep ``Σ x̃x̃ᵀ`` (D, D) per layer (ρ needs it).
    progress : bool or None
        A progress line on stderr; None: only when stderr is a terminal.

    Returns
    -------
    NetworkStatistics
        Memory independent of the number of samples.
    """
    if not isinstance(net, Sequential):
        raise TypeError(f"net: expected a refpattern.Sequential, got {type(net).__name__}")
    batch_size = check_batch_size(batch_size)
    backend_name, fused = resolve_sums_backend(backend)
    forward_fused = resolve_forward_sums(backend_name)
    stats = NetworkStatistics.empty(net, second_moment)
    total = X.shape[0] if isinstance(X, np.ndarray) and X.ndim else None
    bar = Progress(label, total, progress)
    for number, batch in enumerate(iter_batches(X, batch_size)):
        x = net.check_input(batch, f"X (batch {number})")
        accumulate_batch(net, stats, x, backend_name, fused, forward_fused)
        bar.update(x.shape[0])
    bar.close()
    if len(stats) and stats[0].n == 0:
        raise ValueError("X: no data (an empty array or an iterable without batches)")
    return stats


def fit_patterns(net, X, estimator="a+-", batch_size=256, variant="paper", seed=0, backend=None, progress=None,
                 memory_limit=None):
    """Fit the signal estimator of every kernel layer (Kindermans et al., 2018, Sec. 4; ``docs/paper.md`` §3).

    Parameters
    ----------
    net : Sequential
    X : ndarray (N, …), iterable of ndarrays, callable, or None
        Fitting data (an array is cut into ``batch_size`` batches; an iterable yields batches; a
        callable is called with no argument and returns such an array or iterable, afresh for
        every pass over the data).  None is allowed for the data-free estimators "x", "w" and
        "random" (no counts then).  A fit in several passes (``memory_limit``) reads the data
        once per pass, so X must then give the same batches every time: an array, a list or tuple
        of batches, an iterable whose ``iter()`` starts over, or a callable; a one-shot iterator
        (a generator) is refused with a ``ValueError`` before anything is read from it.
    estimator : {"a+-", "a", "w", "x", "random"}
        Also iNNvestigate's names "relu" (= "a+-") and "linear" (= "a").
    variant : {"paper", "regime"}
        For "a+-": the paper's unconditional ``E[y]`` or the within-regime ``E₊[y]``
        (:mod:`refpattern.patterns.estimators`).
    seed : int
        For "random".
    backend : {"numpy", "numba", "cuda"} or None
        As in :func:`fit_statistics`.
    progress : bool or None
        Progress on stderr; None shows it only when stderr is a terminal.
    memory_limit : int, str or None
        The most bytes of running sums (the statistics) held at once: an int, or text such as
        ``"512MiB"``, ``"1.5GiB"``, ``"300MB"`` (KiB/MiB/GiB: powers of 1024, kB/MB/GB: powers of
        1000).  None (default): one pass over the data with the sums of every kernel layer, about
        3 × the network's weights in float64.  With a limit, the kernel layers (a wide one split
        into blocks of neurons) are fitted in as many passes over the data as the limit needs
        (:func:`~refpattern.patterns.passes.plan_passes`); the patterns, counts and degenerate
        entries are the same as those of one pass.  It bounds the sums only, not the process:
        a fit also holds the network's weights, the patterns it returns (S_a±: 2 × the weights;
        S_a: 1 ×), the activations of one batch and the estimator's temporaries (a few 16 MiB
        blocks).  Unused without data (X None).

    Returns
    -------
    Patterns
        ``patterns[k]`` for ``net.kernel_layers[k]``, arrays in the kernel's layout.
    """
    from refpattern.patterns.passes import fit_patterns_in_passes, parse_memory_limit, plan_passes

    estimator = canonical_estimator(estimator)
    check_variant(variant)
    memory_limit = parse_memory_limit(memory_limit)
    if X is None:
        if estimator in ("a", "a+-"):
            raise ValueError(f"estimator {estimator!r} needs data X")
        return patterns_from_statistics(net, None, estimator, variant, seed)
    if memory_limit is not None:
        if not isinstance(net, Sequential):
            raise TypeError(f"net: expected a refpattern.Sequential, got {type(net).__name__}")
        return fit_patterns_in_passes(net, X, plan_passes(net, memory_limit), estimator, variant, seed, batch_size,
                                      backend, progress)
    if callable(X) and not isinstance(X, np.ndarray):
        X = X()
    stats = fit_statistics(net, X, batch_size, backend, progress=progress, label="fit_patterns")
    return patterns_from_statistics(net, stats, estimator, variant, seed)


__all__ = ["Progress", "fit_patterns", "fit_statistics", "iter_batches", "patterns_from_statistics"]
