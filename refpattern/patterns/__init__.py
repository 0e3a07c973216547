"""Patterns: statistics → estimators → ρ, and the ``Patterns`` container with its file format.

Kindermans et al., "Learning how to explain neural networks: PatternNet and PatternAttribution",
ICLR 2018, Sec. 4; ``docs/paper.md`` §3 (estimators) and §4 (ρ).

- :func:`fit_patterns` — fit ``S_x``, ``S_w``, ``S_a``, ``S_a±`` or the random baseline;
- :func:`fit_statistics` / :func:`patterns_from_statistics` — the same in two steps (statistics
  stream over batches and merge across workers with ``.merge``);
- :func:`rho` — the quality criterion ρ per kernel layer (Eq. 1);
- :class:`Patterns` — the result: ``patterns[k].a_plus`` / ``.a_minus``, ``.report()``,
  ``.check_network(net)``, ``.save(path)`` / ``Patterns.load(path)``.
"""

from refpattern.patterns.container import DegenerateNeuron, LayerPatterns, Patterns, RegimeCounts
from refpattern.patterns.estimators import patterns_from_statistics
from refpattern.patterns.fit import fit_patterns, fit_statistics
from refpattern.patterns.rho import RhoPerNeuron, RhoResult, rho
from refpattern.patterns.statistics import BatchSums, LayerStatistics, NetworkStatistics, batch_sums

__all__ = [
    "BatchSums", "DegenerateNeuron", "LayerPatterns", "LayerStatistics", "NetworkStatistics", "Patterns",
    "RegimeCounts", "RhoPerNeuron", "RhoResult", "batch_sums", "fit_patterns", "fit_statistics",
    "patterns_from_statistics", "rho",
]
