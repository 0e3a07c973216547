"""The tolerances of the toy's claims, and the batch-means standard errors they rest on.

How the tolerances are set (never tuned to pass)
-------------------------------------------------
* **Identities** that hold to rounding (the filter solves ``wᵀx = y`` exactly, gradient =
  ``w``, PatternNet = ``a·y``, ρ(S_a) = 1, …): ``EXACT = 1e-12`` absolute for O(1) values,
  ``RELATIVE_EXACT = 1e-9`` relative for ρ (sums of up to 10⁶ float64 terms).  The in-sample
  Eq. 2 optimum ``cov[x, y] = cov[S(x), y]`` is held to the derived rounding of the covariances and
  of ``y`` instead (:func:`~.measurements.covariance_rounding`, ``docs/math.md#linear-rounding-covariance``),
  which exceeds ``1e-9`` where the sources are far apart in scale.
* **Statistical** claims: ``|measured − expected| ≤ Z·SE`` with ``Z = 5``.  The standard error
  is measured on the same draw by batch means: the estimator is rerun on ``K = 50`` disjoint
  batches and ``SE = sd(batch values)/√K``; this needs no model of the estimator, only that its
  error shrinks like ``1/√n``.  With 49 degrees of freedom a true claim exceeds 5 SE with
  probability 7.7·10⁻⁶ per number, so a report of ~50 numbers raises a false alarm for
  fewer than 1 seed in 2500; a wrong closed form or a bug is typically off by hundreds of SE.
* **Long vectors** (a pattern in ``D = 1000`` dimensions is 1000 numbers): a claim that compares
  ``n > 4`` components at once uses ``Z_n`` with ``n·P(|t₄₉| > Z_n) = 4·P(|t₄₉| > 5)`` (Bonferroni),
  so that its chance of a false alarm is that of four numbers at ``Z = 5`` (``Z_n ≈ 6.9`` for
  ``n = 2000``); vectors of up to four components — every vector of the toy — keep ``Z = 5``.
* **Rounding** where the sampling error is zero: on a degenerate model a measured quantity can have
  no sampling error at all (``x − E[x]`` a multiple of ``y``: every batch fits the same pattern), and
  its batch-means SE then measures rounding only, so ``Z·SE`` is no tolerance.  Every statistical
  comparison therefore also allows the rounding bound ``Z·ε·√N·M`` (:func:`rounding_bound`; ``ε =
  2⁻⁵²``, ``N`` the terms summed, ``M`` the magnitude of the quantity: its largest component, or one
  radian for an angle), ``docs/math.md#linear-rounding``.  It is ``≈ 10⁻¹²·M`` at ``N = 10⁶``,
  far below ``Z·SE`` wherever there is sampling error.
* The ``1/√N`` rate is a weighted least-squares slope of ``log RMS error`` on ``log n`` over
  independent draws; its SE comes from the spread of the squared errors (delta method, pooled
  over the sizes; see :func:`refpattern.experiments.toy.pattern_claims.claim_error_rate`).
* Two claims of the paper are sharpened where the toy shows they are conditional: ``S_a±``
  recovers ``a_s`` only when ``μ = 0`` (verdict ``partly``, condition ``holds only when μ = 0``,
  which is what is expected), and "S_w beats the random baseline" holds for the mean over random
  directions, while one random direction beats ``S_w`` with probability ≈ 0.35 in two dimensions.
"""

from __future__ import annotations

import math

import numpy as np

Z = 5.0
"""Statistical tolerance in standard errors."""

BATCHES = 50
"""Disjoint batches for the batch-means standard error."""

EXACT = 1e-12
"""Absolute tolerance for identities between O(1) float64 values."""

RELATIVE_EXACT = 1e-9
"""Relative tolerance for identities between sums over the data (covariances, ρ)."""


def batch_values(estimate, X, batches: int = BATCHES) -> np.ndarray:
    """``estimate`` on each of ``batches`` disjoint, contiguous batches of the rows of ``X``."""
    return np.array([estimate(part) for part in np.array_split(X, batches)])


def batch_standard_error(values) -> np.ndarray:
    """Batch-means standard error of the full-sample estimate: ``sd(values)/√K`` (per component)."""
    values = np.asarray(values, dtype=np.float64)
    return values.std(axis=0, ddof=1) / np.sqrt(len(values))


BONFERRONI_BASE = 4
"""Vectors of up to this many components are compared at ``Z``; longer ones at :func:`z_for`."""


def z_for(components: int) -> float:
    """``Z`` for a claim comparing ``components`` numbers: ``Z`` up to :data:`BONFERRONI_BASE` of them, else
    the ``Z_n`` with ``n·P(|t_{K−1}| > Z_n) = BONFERRONI_BASE·P(|t_{K−1}| > Z)`` (Student's t with the
    batch-means degrees of freedom)."""
    if components <= BONFERRONI_BASE:
        return Z
    from scipy.stats import t

    tail = t.sf(Z, BATCHES - 1) * BONFERRONI_BASE / components
    return float(max(Z, t.isf(tail, BATCHES - 1)))


EPSILON = float(np.finfo(np.float64).eps)
"""``ε = 2⁻⁵²``: the spacing of float64 numbers at 1 (twice the unit roundoff)."""

DEGREES_PER_RADIAN = 180.0 / math.pi
"""The magnitude of an angle in degrees for :func:`rounding_bound` (rounding moves a direction by
about its vector's relative rounding error, in radians)."""


def rounding_bound(magnitude, terms):
    """``Z·ε·√terms·magnitude``: how far float64 rounding alone can move a quantity of this ``magnitude``
    computed from sums of ``terms`` numbers (``docs/math.md#linear-rounding``): each sum's relative
    error is a random walk of ``terms`` roundings of at most ``ε/2`` each, ``Z`` of its spreads.  A float
    for a number; per component (an array) for an array of magnitudes (``docs/math.md#linear-rounding-scale``)."""
    factor = Z * EPSILON * math.sqrt(max(float(terms), 1.0))
    if np.ndim(magnitude) == 0:
        return float(factor * float(magnitude))
    return factor * np.asarray(magnitude, dtype=np.float64)


def coherent_rounding_bound(magnitude, terms):
    """``(terms − 1)·(ε/2)·magnitude``: how far float64 rounding can move a mean of ``terms`` *equal* numbers of this
    ``magnitude`` summed one after another, where the roundings add up instead of walking as in
    :func:`rounding_bound` (``docs/math.md#linear-rounding-repeated-terms``)."""
    factor = (max(float(terms), 1.0) - 1.0) * EPSILON / 2.0
    if np.ndim(magnitude) == 0:
        return float(factor * float(magnitude))
    return factor * np.asarray(magnitude, dtype=np.float64)


def magnitude(*values) -> float:
    """The largest ``|component|`` of ``values`` (the ``M`` of :func:`rounding_bound`)."""
    return float(max(np.max(np.abs(np.asarray(v, dtype=np.float64)), initial=0.0) for v in values))


def within(measured, expected, se, rounding=EXACT) -> bool:
    """``|measured − expected| ≤ Z_n·SE + rounding`` in every component, ``Z_n`` from :func:`z_for` (``Z``
    for up to four components); ``rounding`` is what rounding alone can do where the SE is zero
    (:func:`rounding_bound`; by default ``EXACT``, for O(1) values)."""
    deviation = np.abs(np.asarray(measured) - np.asarray(expected))
    return bool(np.all(deviation <= z_for(deviation.size) * np.asarray(se) + rounding))


def resolved_from_zero(expected, se, rounding=EXACT) -> bool:
    """Whether :func:`within` can tell ``expected`` from 0 at this ``N``: some component ``|expected_i|`` exceeds
    its tolerance ``Z_n·se_i + rounding_i``.  Where none does, the zero vector (or any vector of the size of the
    errors) passes the comparison too, so a "holds" says only that the measurement is consistent, not that it
    recovers ``expected`` (``docs/math.md#toy-claim-4-resolution``).  ``se`` is decided before the measurement is
    looked at: the closed-form SE where the code has one."""
    return not within(np.zeros(np.shape(expected)), expected, se, rounding)


def decided_by_rounding(measured, expected, se, rounding) -> bool:
    """:func:`within` holds only thanks to the rounding allowance: some component is more than ``Z_n·SE`` away
    (the SE is itself rounding on a model without sampling error), every one within ``Z_n·SE + rounding``."""
    deviation = np.abs(np.asarray(measured) - np.asarray(expected))
    beyond = np.any(deviation > z_for(deviation.size) * np.asarray(se))
    return bool(beyond and within(measured, expected, se, rounding))


def standard_errors_text(measured, expected, se, rounding, digits: int = 1, reference: str = "") -> str:
    """``"0.6 SE"`` (``"0.6 SE from a_s"`` with a ``reference``): the largest ``|measured − expected|/SE``
    (:func:`in_standard_errors`); where only the rounding allowance admits the deviation
    (:func:`decided_by_rounding`) it says so, ``"152.5 SE, within the rounding allowance 1.1e-12"``: there the SE
    measures rounding and the allowance, not ``Z·SE``, is the tolerance (``docs/math.md#linear-rounding``)."""
    text = f"{in_standard_errors(measured, expected, se):.{digits}f} SE" + (f" from {reference}" if reference else "")
    if decided_by_rounding(measured, expected, se, rounding):
        text += f", within the rounding allowance {float(np.max(rounding)):.1e}"
    return text


def in_standard_errors(measured, expected, se) -> float:
    """The largest component of ``|measured − expected| / SE``."""
    deviation = np.abs(np.asarray(measured) - np.asarray(expected))
    return float(np.max(deviation / np.maximum(np.asarray(se), np.finfo(float).tiny)))
