"""From statistics to :class:`~refpattern.patterns.container.Patterns`: a layer's patterns, block by block.

The estimator (:mod:`refpattern.patterns.estimators`) does the arithmetic of each neuron; this
module allocates a layer's pattern arrays, feeds them the statistics of one block of neurons
after another, keeps the counts and turns the estimator's notes into
:class:`~refpattern.patterns.layer_patterns.DegenerateNeuron` entries.
"""

from __future__ import annotations

import numpy as np

from refpattern.network.sequential import Sequential
from refpattern.network.validation import all_finite
from refpattern.patterns.container import Patterns, network_fingerprint
from refpattern.patterns.estimators import Estimator, resolve_estimator
from refpattern.patterns.layer_patterns import DegenerateNeuron, LayerPatterns, RegimeCounts
from refpattern.patterns.statistics import NetworkStatistics

#: The order of a layer's degenerate entries: zeroed over all observations, kept from few
#: observations, then the gate-open and gate-closed regimes; by neuron within each group.
NOTE_GROUPS = ("all", "few", "plus", "minus")


class LayerEstimate:
    """The patterns of one kernel layer, estimated block of neurons by block of neurons.

    A single-pass fit has one block, the whole layer (:func:`estimate_layer`); a fit under a
    memory limit (:func:`refpattern.patterns.fit.fit_patterns_in_passes`) takes a wide layer's
    statistics in blocks of neurons, one pass over the data each, and adds each block here as
    soon as its pass is done, so that its sums can be dropped.  The layer's pattern arrays are
    allocated once, (O, D) each, and every block fills its rows; every number of a neuron depends
    only on that neuron's sums (and on ``n``, ``Σx̃`` and ``c``, which all blocks share), so blocks
    give the same patterns, counts and :class:`DegenerateNeuron` entries as the whole layer.

    Parameters
    ----------
    layer : Dense or Conv2D
    kernel_index, layer_index : int
        ``k`` and ``net.kernel_indices[k]``.
    estimator : Estimator
        Resolved at the public API (:func:`~refpattern.patterns.estimators.resolve_estimator`).
    """

    def __init__(self, layer, kernel_index, layer_index, estimator: Estimator):
        if not isinstance(estimator, Estimator):
            raise TypeError(f"estimator: expected a refpattern Estimator, got {type(estimator).__name__}")
        self.layer, self.kernel_index, self.layer_index = layer, int(kernel_index), int(layer_index)
        self.estimator = estimator
        self.shape = tuple(layer.weight.shape)
        o, d = self.shape[0], int(np.prod(self.shape[1:]))
        names = estimator.fields if estimator.needs_data else ()
        self.arrays = {name: np.empty((o, d)) for name in names}  # every row is written by one block
        self.filled = np.zeros(o, dtype=bool)
        self.counts = None  # RegimeCounts once a block was added
        self.n_samples = 0
        self.notes = {group: [] for group in NOTE_GROUPS}

    def _keep(self, notes, start: int, count_of) -> None:
        """File the estimator's notes ``(neuron, regime, reason, zeroed)`` (neurons local to ``start``)."""
        for o, regime, reason, zeroed in notes:
            group = "few" if regime == "all" and not zeroed else regime
            self.notes[group].append(DegenerateNeuron(self.kernel_index, start + int(o), regime, reason,
                                                      count_of(int(o), regime), zeroed))

    def add(self, stats) -> None:
        """Estimate the neurons ``stats.neurons`` from their statistics (a ``LayerStatistics``)."""
        rows = stats.neurons
        where = f"kernel layer {self.kernel_index} ({stats.layer_name}), neurons {rows.start}:{rows.stop}"
        if stats.kernel_index != self.kernel_index or stats.kernel_shape != self.shape:
            raise ValueError(f"{where}: statistics of kernel layer {stats.kernel_index} (weight shape "
                             f"{stats.kernel_shape}) given for kernel layer {self.kernel_index} (weight shape "
                             f"{self.shape})")
        if self.filled[rows].any():
            raise ValueError(f"{where}: neurons {np.flatnonzero(self.filled[rows]) + rows.start} were estimated "
                             "already")
        if self.estimator.needs_data and stats.n == 0:
            raise ValueError(f"estimator {self.estimator!r} needs statistics from data (kernel layer "
                             f"{self.kernel_index})")
        if self.counts is None:
            o = self.shape[0]
            self.n_samples = stats.n
            self.counts = RegimeCounts(np.full(o, stats.n, dtype=np.int64), np.zeros(o, dtype=np.int64),
                                       np.zeros(o, dtype=np.int64))
        elif stats.n != self.n_samples:
            raise ValueError(f"{where}: {stats.n} observations, but the layer's other neurons had "
                             f"{self.n_samples} (the blocks were fitted on different data)")
        self.counts.n_plus[rows] = stats.n_plus
        self.counts.n_minus[rows] = stats.n_minus
        if self.estimator.needs_data:
            stats.check_finite()
            counts = {"all": lambda o: stats.n, "plus": lambda o: int(stats.n_plus[o]),
                      "minus": lambda o: int(stats.n_minus[o])}
            notes = self.estimator.from_statistics(stats, {name: array[rows] for name, array in self.arrays.items()})
            self._keep(notes, rows.start, lambda o, regime: counts[regime](o))
            self._check_finite({name: array[rows] for name, array in self.arrays.items()}, where)
        self.filled[rows] = True

    def _check_finite(self, arrays, where: str) -> None:
        """Refuse a pattern that is not finite (a ``ValueError`` naming the layer and the neurons):
        a fit never returns NaN or inf."""
        for name, array in arrays.items():
            if not all_finite(array):
                bad = np.flatnonzero(~np.isfinite(array).all(axis=1))
                raise ValueError(f"{where}: estimator {self.estimator!r} gives non-finite {name} for neurons "
                                 f"{bad[:10].tolist()}{' …' if bad.size > 10 else ''} (float64 overflow: the "
                                 "filters are too small or too large); rescale the weights")

    def result(self) -> LayerPatterns:
        """The layer's :class:`LayerPatterns` once every neuron was added (the data-free
        estimators need no block; added blocks then only give the counts)."""
        if (self.estimator.needs_data or self.counts is not None) and not self.filled.all():
            if self.counts is None:
                raise ValueError(f"estimator {self.estimator!r} needs statistics from data (kernel layer "
                                 f"{self.kernel_index})")
            missing = np.flatnonzero(~self.filled)
            raise ValueError(f"kernel layer {self.kernel_index} ({self.layer!r}): no statistics for neurons "
                             f"{missing[:10].tolist()}{' …' if missing.size > 10 else ''} ({missing.size} of "
                             f"{self.shape[0]})")
        if not self.estimator.needs_data:
            arrays, notes = self.estimator.from_weights(self.layer.weight.reshape(self.shape[0], -1),
                                                        self.kernel_index)
            self._check_finite(arrays, f"kernel layer {self.kernel_index} ({self.layer!r})")
            self.arrays.update(arrays)
            self._keep(notes, 0, lambda o, regime: self.n_samples)
        # the order of a single pass: per group, by neuron (blocks may come in any order)
        degenerate = [d for group in NOTE_GROUPS for d in sorted(self.notes[group], key=lambda d: d.neuron)]
        arrays = {name: array.reshape(self.shape) for name, array in self.arrays.items()}
        return LayerPatterns(self.kernel_index, self.layer_index, repr(self.layer), self.shape, counts=self.counts,
                             n_samples=self.n_samples, degenerate=degenerate, copy=False,  # fresh arrays: no copy
                             **arrays)


def estimate_layer(layer, kernel_index, layer_index, stats, estimator: Estimator) -> LayerPatterns:
    """The :class:`LayerPatterns` of one kernel layer from the statistics of all its neurons
    (``stats`` may be None for an estimator that needs no data)."""
    estimate = LayerEstimate(layer, kernel_index, layer_index, estimator)
    if stats is not None:
        estimate.add(stats)
    return estimate.result()


def estimate_network(net, stats, estimator: Estimator) -> Patterns:
    """:class:`Patterns` of every kernel layer of ``net`` from its ``NetworkStatistics`` (or None
    for an estimator that needs no data); ``estimator`` already resolved."""
    if stats is not None:
        stats.check_network(net)
    elif estimator.needs_data:
        raise ValueError(f"estimator {estimator!r} needs statistics (fit_statistics) or data")
    layers = [estimate_layer(net.layers[index], k, index, None if stats is None else stats[k], estimator)
              for k, index in enumerate(net.kernel_indices)]
    return Patterns(estimator, layers, fingerprint=network_fingerprint(net))


def patterns_from_statistics(net, stats, estimator="a+-", variant=None, seed=None) -> Patterns:
    """Patterns of every kernel layer of ``net`` from :class:`~refpattern.patterns.statistics.NetworkStatistics`.

    Parameters
    ----------
    net : Sequential
    stats : NetworkStatistics or None
        From :func:`~refpattern.patterns.fit.fit_statistics` (possibly merged); None is allowed
        for the data-free estimators "x", "w" and "random" (then ``counts`` is None).
    estimator : str or Estimator
        "x", "w", "a", "a+-", "random", iNNvestigate's "linear" (= "a") and "relu" (= "a+-"), or
        an :class:`~refpattern.patterns.estimators.Estimator`.
    variant : {"paper", "regime"} or None
        Only used by "a+-" (None: "paper"; :mod:`refpattern.patterns.estimators`).
    seed : int or None
        Only used by "random" (None: 0).
    """
    if not isinstance(net, Sequential):
        raise TypeError(f"net: expected a refpattern.Sequential, got {type(net).__name__}")
    if stats is not None and not isinstance(stats, NetworkStatistics):
        raise TypeError(f"stats: expected NetworkStatistics (fit_statistics) or None, got {type(stats).__name__}")
    return estimate_network(net, stats, resolve_estimator(estimator, variant, seed))
