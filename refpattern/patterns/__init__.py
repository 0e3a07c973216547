"""Patterns: statistics → estimators → ρ, and the ``Patterns`` container with its file format.

Kindermans et al., "Learning how to explain neural networks: PatternNet and PatternAttribution",
ICLR 2018, Sec. 4; ``docs/math.md#estimators`` (estimators) and ``docs/math.md#rho`` (ρ).

- :func:`fit_patterns` — fit ``S_x``, ``S_w``, ``S_a``, ``S_a±`` or the random baseline (a name
  or an :class:`Estimator`, resolved once by :func:`resolve_estimator`);
- :func:`fit_statistics` / :func:`patterns_from_statistics` — the same in two steps (statistics
  stream over batches and merge across workers with ``.merge``);
- :func:`rho` — the quality criterion ρ per kernel layer (Eq. 1);
- :class:`Patterns` — the result: ``patterns[k].a_plus`` / ``.a_minus``, ``.report()``,
  ``.check_network(net)`` (a :class:`PatternsMismatchWarning` when the network's weights are
  not those the patterns were fitted on, :func:`network_fingerprint`), ``.save(path)`` /
  ``Patterns.load(path)``.
"""

from refpattern.kernels.numpy_reference import BatchSums, batch_sums
from refpattern.patterns.container import (
    MissingFingerprintWarning,
    Patterns,
    PatternsMismatchWarning,
    network_fingerprint,
)
from refpattern.patterns.estimate import patterns_from_statistics
from refpattern.patterns.estimators import (
    Estimator,
    Filter,
    Identity,
    Linear,
    RandomDirection,
    TwoComponent,
    resolve_estimator,
)
from refpattern.patterns.fit import fit_patterns, fit_statistics
from refpattern.patterns.layer_patterns import DegenerateNeuron, LayerPatterns, RegimeCounts
from refpattern.patterns.rho import RhoResult, rho
from refpattern.patterns.statistics import LayerStatistics, NetworkStatistics

__all__ = [
    "BatchSums", "DegenerateNeuron", "Estimator", "Filter", "Identity", "LayerPatterns", "LayerStatistics", "Linear",
    "MissingFingerprintWarning", "NetworkStatistics", "Patterns", "PatternsMismatchWarning", "RandomDirection",
    "RegimeCounts", "RhoResult", "TwoComponent", "batch_sums", "fit_patterns", "fit_statistics", "network_fingerprint",
    "patterns_from_statistics", "resolve_estimator", "rho",
]
