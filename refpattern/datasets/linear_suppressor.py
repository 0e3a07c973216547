"""The two-feature linear suppressor example (Wilming, Kieslich, Clark, Haufe, ICML 2023,
"Theoretical behavior of XAI methods in the presence of suppressor variables").

Data model::

    x₁ = z + η     (signal + distractor)
    x₂ = η         (the suppressor: pure distractor, no class information)

``z = 2k − 1 ∈ {−1, +1}`` codes the class ``k`` (``signal_scale`` times that), ``η ~ N(0, σ²)``.
Closed forms (population moments, ``σ_z² = Var z``; derived here, tested in
``tests/test_datasets.py``):

- ``Σ = cov[x] = [[σ_z² + σ², σ²], [σ², σ²]]``, ``cov[x, z] = (σ_z², 0)ᵀ``.
- The least-squares filter ``w ∝ Σ⁻¹ cov[x, z] = (1, −1)ᵀ`` (because ``det Σ = σ_z² σ²``),
  and ``wᵀx = z`` exactly: the model *needs* ``x₂`` to cancel ``η``.
- For any linear model ``ŷ = wᵀx`` the activation pattern (Haufe et al., 2014;
  ``docs/math.md#s-a``) is ``a = cov[x, ŷ] / σ²_ŷ = Σw / (wᵀΣw)``; for ``w = (1, −1)`` it is
  ``a = (1, 0)ᵀ``: the suppressor ``x₂`` gets weight 0 in the pattern but ``−1`` in the filter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from refpattern.datasets.arguments import check_count, check_seed, check_spread


@dataclass(frozen=True)
class LinearSuppressorData:
    """One draw: ``X = signal + distractor`` exactly.

    Attributes
    ----------
    X : (N, 2)
    labels : (N,) int64 in {0, 1}
    z : (N,) the class signal ``signal_scale·(2k − 1)``
    eta : (N,) the distractor ``η``
    signal : (N, 2) ``(z, 0)``
    distractor : (N, 2) ``(η, η)``
    signal_scale, distractor_std : the parameters of the draw
    """

    X: np.ndarray
    labels: np.ndarray
    z: np.ndarray
    eta: np.ndarray
    signal: np.ndarray
    distractor: np.ndarray
    signal_scale: float
    distractor_std: float


SIGNAL_DIRECTION = np.array([1.0, 0.0])
"""Where ``z`` enters: ``x = (1, 0)ᵀ z + (1, 1)ᵀ η``."""

DISTRACTOR_DIRECTION = np.array([1.0, 1.0])


def make_linear_suppressor(n: int = 4000, *, signal_scale: float = 1.0, distractor_std: float = 1.0,
                           seed: int = 0) -> LinearSuppressorData:
    """Draw ``n`` samples (balanced classes in random order) of the model in the module docstring."""
    where = "make_linear_suppressor"
    if check_count(n, "n", 0, where) < 2:
        raise ValueError(f"make_linear_suppressor: need n >= 2, got {n}")
    check_spread(signal_scale, "signal_scale", where)
    check_spread(distractor_std, "distractor_std", where)
    check_seed(seed, where)
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % 2).astype(np.int64)
    z = signal_scale * (2.0 * labels - 1.0)
    eta = rng.normal(0.0, distractor_std, size=n)
    signal = np.outer(z, SIGNAL_DIRECTION)
    distractor = np.outer(eta, DISTRACTOR_DIRECTION)
    return LinearSuppressorData(signal + distractor, labels, z, eta, signal, distractor,
                                float(signal_scale), float(distractor_std))


def suppressor_covariance(signal_var: float = 1.0, distractor_var: float = 1.0) -> np.ndarray:
    """``Σ = cov[x] = [[σ_z² + σ², σ²], [σ², σ²]]``, shape (2, 2)."""
    return np.array([[signal_var + distractor_var, distractor_var], [distractor_var, distractor_var]])


def suppressor_optimal_filter() -> np.ndarray:
    """``w = (1, −1)ᵀ``: the least-squares direction ``Σ⁻¹ cov[x, z]`` scaled so that ``wᵀx = z``."""
    return np.array([1.0, -1.0])


def suppressor_pattern(w, signal_var: float = 1.0, distractor_var: float = 1.0) -> np.ndarray:
    """The activation pattern ``a = Σw / (wᵀΣw)`` of the linear model ``ŷ = wᵀx`` (population)."""
    w = np.asarray(w, dtype=np.float64)
    sigma = suppressor_covariance(signal_var, distractor_var)
    return sigma @ w / (w @ sigma @ w)
