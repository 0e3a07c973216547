"""Fitting patterns: stream data through the network, accumulate statistics, estimate.

``fit_patterns(net, X)`` = ``patterns_from_statistics(net, fit_statistics(net, X))``.  The
statistics (:mod:`refpattern.patterns.statistics`) are sums, so the two steps can be split:
workers fit statistics on shards and ``stats_a.merge(stats_b)`` combines them exactly.  Under a
memory limit the statistics are taken in several passes over the data
(:mod:`refpattern.patterns.passes` plans them).  Every pass over the data is :func:`stream_batches`
(:mod:`refpattern.patterns.streaming`); a Dask array is read chunk by chunk on Dask's workers and
the chunks' statistics merged in a tree (:mod:`refpattern.patterns.distributed`), one Dask
computation per pass.
"""

from __future__ import annotations

import numpy as np

from refpattern.kernels import get_backend
from refpattern.patterns.container import Patterns, network_fingerprint
from refpattern.patterns.distributed import accumulate_dask_array, is_dask_collection
from refpattern.patterns.estimate import LayerEstimate, estimate_network
from refpattern.patterns.estimators import resolve_estimator
from refpattern.patterns.passes import (
    block_inputs,
    check_plan,
    check_same_batches,
    check_same_shift,
    data_source,
    parse_memory_limit,
    plan_passes,
)
from refpattern.patterns.statistics import LayerStatistics, NetworkStatistics
from refpattern.patterns.streaming import (
    accumulate_batch,
    check_batch_size,
    check_network,
    iter_batches,
    samples_total,
    stream_batches,
)
from refpattern.progress import Progress


def fit_statistics(net, X, batch_size: int = 256, backend=None, second_moment: bool = False,
                   progress=None, label: str = "fit_statistics") -> NetworkStatistics:
    """Sufficient statistics of every kernel layer of ``net`` over the data ``X``.

    Parameters
    ----------
    net : Sequential
    X : ndarray (N, …), iterable of ndarrays or dask.array.Array (N, …)
        An array is cut into batches of ``batch_size`` samples; an iterable (list, generator)
        yields batches.  Every batch is checked with ``net.check_input``.  A Dask array, chunked
        along the samples, is fitted chunk by chunk on Dask's workers (the ``distributed`` client in
        use, else Dask's local scheduler) and the chunks' statistics merged in a tree: the same
        statistics up to rounding (:mod:`refpattern.patterns.distributed`, ``docs/conventions.md#dask-fits``).
    batch_size : int
    backend : {"numpy", "numba", "cuda"} or None
        The kernels of the forward pass and of the statistics (:func:`refpattern.kernels.get_backend`;
        None: the project default; "numpy": the readable reference path); every backend gives the
        same statistics up to rounding.
    second_moment : bool
        Also keep ``Σ x̃x̃ᵀ`` (D, D) per layer (ρ needs it).
    progress : bool, None or refpattern.progress.Progress
        A sample counter on stderr; None: only when stderr is a terminal.
    label : str
        The counter's name.

    Returns
    -------
    NetworkStatistics
        Memory independent of the number of samples.
    """
    check_network(net)
    batch_size = check_batch_size(batch_size)
    if not isinstance(second_moment, (bool, np.bool_)):
        raise TypeError(f"second_moment: expected True or False, got {second_moment!r}")
    backend = get_backend(backend)
    stats = NetworkStatistics.empty(net, second_moment)
    if is_dask_collection(X):  # chunks on Dask's workers, merged in a tree (refpattern.patterns.distributed)
        layers = list(stats)
        accumulate_dask_array(net, layers, X, batch_size, backend, Progress.resolve(progress, label), label)
        return NetworkStatistics(layers)
    counter = Progress.resolve(progress, label).counter(label, samples_total(X))
    if stream_batches(net, stats, X, batch_size, backend, counter) == 0:
        raise ValueError("X: no data (an empty array or an iterable without batches)")
    return stats


def fit_patterns(net, X, estimator="a+-", batch_size=256, variant=None, seed=None, backend=None, progress=None,
                 memory_limit=None):
    """Fit the signal estimator of every kernel layer (Kindermans et al., 2018, Sec. 4; ``docs/math.md#estimators``).

    Parameters
    ----------
    net : Sequential
    X : ndarray (N, …), iterable of ndarrays, callable, or None
        Fitting data (an array is cut into ``batch_size`` batches; an iterable yields batches; a
        callable is called with no argument and returns such an array or iterable, afresh for
        every pass over the data).  None is allowed for the data-free estimators "x", "w" and
        "random" (no counts then).  A Dask array (N, …) is fitted on Dask (:func:`fit_statistics`).
        A fit in several passes (``memory_limit``) reads the data
        once per pass, so X must then give the same batches every time: an array, a list or tuple
        of batches, an iterable whose ``iter()`` starts over, or a callable.  Each pass's batches
        are compared with pass 1's (a digest of their float64 values, exact), and a ``ValueError``
        names the pass and its first batch that differs (``docs/backends.md#memory-limit-same-data``):
        a callable or Dask graph drawing, augmenting or shuffling anew on every call is refused.  A
        one-shot iterator (a generator) is refused with a ``ValueError`` before anything is read from it.
    estimator : {"a+-", "a", "w", "x", "random"} or Estimator
        Also iNNvestigate's names "relu" (= "a+-") and "linear" (= "a"), or an
        :class:`~refpattern.patterns.estimators.Estimator` (then leave ``variant`` and ``seed`` out).
    variant : {"paper", "regime"} or None
        For "a+-": the paper's unconditional ``E[y]`` (None: the default) or the within-regime
        ``E₊[y]`` (:mod:`refpattern.patterns.estimators`).
    seed : int or None
        For "random" (None: 0).
    backend : {"numpy", "numba", "cuda"} or None
        As in :func:`fit_statistics`.
    progress : bool, None or refpattern.progress.Progress
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
    estimator = resolve_estimator(estimator, variant, seed)
    memory_limit = parse_memory_limit(memory_limit)
    if X is None:
        if estimator.needs_data:
            raise ValueError(f"estimator {estimator!r} needs data X")
        return estimate_network(net, None, estimator)
    check_network(net)
    if memory_limit is not None:
        return fit_patterns_in_passes(net, X, plan_passes(net, memory_limit), estimator, batch_size, backend,
                                      progress)
    if callable(X) and not isinstance(X, np.ndarray):
        X = X()
    stats = fit_statistics(net, X, batch_size, backend, progress=progress, label="fit_patterns")
    return estimate_network(net, stats, estimator)


def fit_patterns_in_passes(net, X, plan, estimator, batch_size=256, backend=None, progress=None) -> Patterns:
    """:func:`fit_patterns` in the passes of ``plan`` (:func:`~refpattern.patterns.passes.plan_passes`).

    Each pass builds the :class:`~refpattern.patterns.statistics.LayerStatistics` of its items,
    runs over every batch of ``X`` (:func:`~refpattern.patterns.passes.data_source`), estimates
    the items' patterns and drops their sums.  ``estimator`` may be a name or an Estimator.
    Raises ``ValueError`` if a pass sees a different number of samples than the first one, other
    data or other batches (:func:`~refpattern.patterns.passes.check_same_batches`: a digest of every
    batch's values, compared exactly), or if the blocks of a layer see different data (their
    shifts ``c`` or the sums of their inputs differ); ``TypeError``/``ValueError`` for a plan that is
    not one of ``net``'s (:func:`~refpattern.patterns.passes.check_plan`).  An empty plan (a network without kernel
    layers) still reads and checks the data once.
    """
    estimator = resolve_estimator(estimator)
    batch_size = check_batch_size(batch_size)
    check_network(net)
    plan = check_plan(net, plan) or [[]]  # no kernel layer: still one pass, which checks the data
    data = data_source(X, len(plan))
    backend = get_backend(backend)
    reporter = Progress.resolve(progress, "fit_patterns")
    kernel_indices = net.kernel_indices
    estimates = [LayerEstimate(net.layers[index], k, index, estimator) for k, index in enumerate(kernel_indices)]
    first_blocks = {}  # kernel index -> block_inputs of its first block
    samples_first = batches_first = None
    # the batches' digests, compared across passes; one pass has nothing to compare with, and an
    # array is the same object, cut into the same batches, in every pass
    fingerprint = len(plan) > 1 and not isinstance(X, np.ndarray)
    for number, items in enumerate(plan, start=1):
        stats = [None] * len(kernel_indices)
        for k, neurons in items:
            stats[k] = LayerStatistics(net.layers[kernel_indices[k]], k, kernel_indices[k], neurons=neurons)
        source = data()
        name = f"fit_patterns pass {number}/{len(plan)}"
        batches = [] if fingerprint else None  # (samples, digest) of every batch read, in order
        if is_dask_collection(source):  # one Dask reduction per pass (refpattern.patterns.distributed)
            samples = accumulate_dask_array(net, stats, source, batch_size, backend, reporter, name, batches)
        else:
            counter = reporter.counter(name, samples_total(source))
            samples = stream_batches(net, stats, source, batch_size, backend, counter, batches)
        if samples == 0:
            raise ValueError(f"X: no data in pass {number} of {len(plan)} (an empty array or an iterable without "
                             "batches)")
        if samples_first is None:
            samples_first = samples
        elif samples != samples_first:
            raise ValueError(f"X: pass {number} of {len(plan)} read {samples} samples, pass 1 read {samples_first}; "
                             "every pass must read the same data (give an array, a list of batches or a function "
                             "returning the same batches on every call)")
        if fingerprint:
            if batches_first is None:
                batches_first = batches
            else:
                check_same_batches(batches_first, batches, number, len(plan))
        for k, _ in items:
            check_same_shift(first_blocks.setdefault(k, block_inputs(stats[k])), stats[k], number)
            estimates[k].add(stats[k])
            stats[k] = None  # drop the sums before the next item, the next pass
    return Patterns(estimator, [estimate.result() for estimate in estimates], fingerprint=network_fingerprint(net))


__all__ = ["accumulate_batch", "fit_patterns", "fit_patterns_in_passes", "fit_statistics", "iter_batches",
           "stream_batches"]
