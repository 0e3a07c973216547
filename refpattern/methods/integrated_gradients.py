"""Integrated Gradients (Sundararajan, Taly & Yan, ICML 2017).

``IG(x) = (x − x₀) ⊙ Σ_k ω_k ∇_x y_t(x₀ + α_k (x − x₀))`` — a quadrature of
``(x − x₀) ⊙ ∫₀¹ ∇y_t(x₀ + α(x − x₀)) dα``, so that ``Σ IG ≈ y_t(x) − y_t(x₀)`` (completeness).
"""

from __future__ import annotations

import numbers

import numpy as np

QUADRATURES = ("riemann_left", "riemann_right", "riemann_midpoint", "trapezoid", "gauss_legendre")


def quadrature(name: str, steps: int):
    """Nodes ``α_k`` in [0, 1] and weights ``ω_k`` (float64) of an ``n = steps``-point rule.

    - ``riemann_left``: ``α_k = k/n``; ``riemann_right``: ``(k+1)/n``; ``riemann_midpoint``:
      ``(k+½)/n``; all with ``ω_k = 1/n``, ``k = 0..n−1``;
    - ``trapezoid``: ``α_k = k/(n−1)``, ``ω_k = 1/(n−1)`` with both ends halved (n ≥ 2);
    - ``gauss_legendre``: the n-point Gauss–Legendre rule mapped from [−1, 1] to [0, 1].
    """
    if isinstance(steps, (bool, np.bool_)) or not isinstance(steps, numbers.Integral) or steps < 1:
        raise ValueError(f"integrated_gradients: steps must be a positive int, got {steps!r}")
    n = int(steps)
    k = np.arange(n, dtype=np.float64)
    if name == "riemann_left":
        return k / n, np.full(n, 1.0 / n)
    if name == "riemann_right":
        return (k + 1) / n, np.full(n, 1.0 / n)
    if name == "riemann_midpoint":
        return (k + 0.5) / n, np.full(n, 1.0 / n)
    if name == "trapezoid":
        if n < 2:
            raise ValueError("integrated_gradients: the trapezoid rule needs steps >= 2")
        weights = np.full(n, 1.0 / (n - 1))
        weights[[0, -1]] /= 2
        return k / (n - 1), weights
    if name == "gauss_legendre":
        nodes, weights = np.polynomial.legendre.leggauss(n)
        return (nodes + 1) / 2, weights / 2
    raise ValueError(f"integrated_gradients: quadrature must be one of {QUADRATURES}, got {name!r}")


def resolve_baseline(baseline, x) -> np.ndarray:
    """A baseline as an array shaped like ``x``: scalar, one sample's shape, or x's shape."""
    base = np.asarray(baseline)
    if base.dtype == object or not (np.issubdtype(base.dtype, np.floating) or np.issubdtype(base.dtype, np.integer)):
        raise TypeError(f"integrated_gradients: baseline must be numeric, got dtype {base.dtype}")
    base = base.astype(np.float64)
    if base.shape not in ((), x.shape[1:], x.shape):
        raise ValueError(f"integrated_gradients: baseline must be a scalar, shaped like one sample {x.shape[1:]} "
                         f"or like x {x.shape}; got {base.shape}")
    if not np.all(np.isfinite(base)):
        raise ValueError("integrated_gradients: baseline contains NaN or inf")
    return np.broadcast_to(base, x.shape)


def integrated_gradients(gradient_at, x, baseline, steps, quadrature_name):
    """``(x − x₀) ⊙ Σ_k ω_k · gradient_at(x₀ + α_k (x − x₀))``.

    ``gradient_at(points)`` returns the gradient of each sample's (fixed) target logit.
    """
    alphas, weights = quadrature(quadrature_name, steps)
    x0 = resolve_baseline(baseline, x)
    delta = x - x0
    total = np.zeros_like(x)
    for alpha, weight in zip(alphas, weights):
        total += weight * gradient_at(x0 + alpha * delta)
    return delta * total
