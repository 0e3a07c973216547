"""What the toy's claims measure on a draw: least-squares filters, covariances, and the pattern
and ρ of the toy's single output neuron, fitted with :func:`refpattern.patterns.fit_patterns`.

Every function works on the float64 arrays of :class:`~refpattern.experiments.toy.model.ToyData`
and the one-neuron linear model ``wᵀx`` (:func:`~refpattern.experiments.toy.model.linear_model`).
"""

from __future__ import annotations

import numpy as np

from refpattern.patterns import fit_patterns, rho

FIT_BATCH_SIZE = 1 << 16
"""``batch_size`` passed to ``fit_patterns`` and ``rho`` (they stream; larger batches are just faster)."""


def covariance_with(X, y) -> np.ndarray:
    """``cov[x, y]`` over the rows (normalised by N), shape (d,)."""
    return ((X - X.mean(axis=0)) * (y - y.mean())[:, None]).mean(axis=0)


def least_squares_filter(X, y) -> np.ndarray:
    """``argmin_w Σ (y − wᵀx)²`` (no intercept; the toy's inputs have mean zero or ``wᵀx = y`` exactly)."""
    return np.linalg.lstsq(X, y, rcond=None)[0]


def fit(net, X, estimator, seed, variant="paper"):
    """The patterns of ``net`` fitted on ``X`` (no progress lines: the claims fit thousands of times)."""
    return fit_patterns(net, X, estimator=estimator, batch_size=FIT_BATCH_SIZE, variant=variant, seed=seed,
                        progress=False)


def neuron_pattern(patterns) -> np.ndarray:
    """The single neuron's ``a`` (estimators "a", "w", "random"), shape (2,)."""
    return np.asarray(patterns[0].a, dtype=np.float64)[0]


def neuron_relu_patterns(patterns) -> np.ndarray:
    """The single neuron's ``(a₊, a₋)`` stacked, shape (4,)."""
    return np.concatenate([np.asarray(patterns[0].a_plus, dtype=np.float64)[0],
                           np.asarray(patterns[0].a_minus, dtype=np.float64)[0]])


def neuron_rho(net, X, patterns, fit_v_on=None) -> float:
    """ρ (Eq. 1) of the single neuron on ``X`` (``v`` fitted on ``fit_v_on``, default ``X``)."""
    return float(np.asarray(rho(net, X, patterns, fit_v_on=fit_v_on, batch_size=FIT_BATCH_SIZE, progress=False),
                            dtype=np.float64)[0])


def relu_signal_estimate(relu_patterns, y, bias=0.0) -> np.ndarray:
    """``S_a±(x) = a₊·y`` where ``y + b > 0`` else ``a₋·y``, shape (N, 2)."""
    a_plus, a_minus = relu_patterns[:2], relu_patterns[2:]
    return np.where((y + bias > 0)[:, None], a_plus, a_minus) * y[:, None]


def rho_text(value) -> str:
    """ρ with six decimals, or ``"undefined"`` (NaN: the estimator leaves no distractor, as ``S_x``)."""
    return "undefined" if np.isnan(value) else f"{value:.6f}".replace("-0.000000", "0.000000")
