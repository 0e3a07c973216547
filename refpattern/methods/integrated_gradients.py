"""Integrated Gradients (Sundararajan, Taly & Yan, ICML 2017).

``IG(x) = (x − x₀) ⊙ Σ_k ω_k ∇_x y_t(x₀ + α_k (x − x₀))`` — a quadrature of
``(x − x₀) ⊙ ∫₀¹ ∇y_t(x₀ + α(x − x₀)) dα``, so that ``Σ IG ≈ y_t(x) − y_t(x₀)`` (completeness).

The nodes and weights come from a named rule (``steps``, ``quadrature``; default 64 midpoint
steps, :func:`quadrature`) or are given as they are (``alphas``, ``weights``), e.g. Captum's
(:func:`captum_quadrature`), ``docs/conventions.md#ig-explicit-nodes``.  The default is a float64
midpoint rule because its weights sum to exactly 1, so completeness is off by the quadrature
error alone; Captum's default (50 Gauss–Legendre nodes, float32 weights) and its trapezoid
(weights summing to ``(n − 1)/n``) are reproduced on request, never by default.
"""

from __future__ import annotations

import numbers

import numpy as np

QUADRATURES = ("riemann_left", "riemann_right", "riemann_midpoint", "trapezoid", "gauss_legendre")
DEFAULT_STEPS = 64
DEFAULT_QUADRATURE = "riemann_midpoint"
CAPTUM_METHODS = ("riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid", "gausslegendre")
#: The most Gauss–Legendre nodes :func:`quadrature` and :func:`captum_quadrature` compute.  NumPy's
#: ``leggauss(n)`` (Captum's source of nodes, kept for bit-identical agreement) builds an n×n companion
#: matrix: 8n² bytes and O(n³) time — 134 MB and seconds at 4096, 8 TB at 10⁶ (a MemoryError deep in
#: NumPy).  SciPy's ``roots_legendre`` is no way out: measured at 2 s for 10⁴ nodes and 200 s for 10⁵.
#: For more steps than this a Riemann rule is the tool (``docs/conventions.md#integrated-gradients``).
GAUSS_LEGENDRE_MAX_STEPS = 4096


def quadrature(name: str, steps: int):
    """Nodes ``α_k`` in [0, 1] and weights ``ω_k`` (float64) of an ``n = steps``-point rule.

    - ``riemann_left``: ``α_k = k/n``; ``riemann_right``: ``(k+1)/n``; ``riemann_midpoint``:
      ``(k+½)/n``; all with ``ω_k = 1/n``, ``k = 0..n−1``;
    - ``trapezoid``: ``α_k = k/(n−1)``, ``ω_k = 1/(n−1)`` with both ends halved (n ≥ 2);
    - ``gauss_legendre``: the n-point Gauss–Legendre rule mapped from [−1, 1] to [0, 1]
      (``numpy.polynomial.legendre.leggauss``), ``n ≤`` :data:`GAUSS_LEGENDRE_MAX_STEPS`.
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
        check_gauss_legendre_steps(n, "integrated_gradients: steps")
        nodes, weights = np.polynomial.legendre.leggauss(n)
        return (nodes + 1) / 2, weights / 2
    raise ValueError(f"integrated_gradients: quadrature must be one of {QUADRATURES}, got {name!r}")


def check_gauss_legendre_steps(n: int, name: str) -> None:
    """A ``ValueError`` naming ``name`` when ``n`` Gauss–Legendre nodes exceed :data:`GAUSS_LEGENDRE_MAX_STEPS`."""
    if n > GAUSS_LEGENDRE_MAX_STEPS:
        raise ValueError(f"{name}: the Gauss–Legendre rule takes at most {GAUSS_LEGENDRE_MAX_STEPS} nodes "
                         f"(numpy's leggauss needs 8·n² bytes and O(n³) time), got {n}; for more steps use a "
                         "Riemann rule such as quadrature='riemann_midpoint'")


def captum_quadrature(method: str = "gausslegendre", n_steps: int = 50):
    """Captum's ``IntegratedGradients`` nodes and step weights, as float64 arrays, for ``alphas=``
    and ``weights=`` (``docs/conventions.md#ig-explicit-nodes``).

    Written from ``captum/attr/_utils/approximation_methods.py`` and
    ``captum/attr/_core/integrated_gradients.py`` (defaults ``method="gausslegendre"``,
    ``n_steps=50``):

    - ``gausslegendre``: nodes ``(1 + ξ_k)/2`` and step sizes ``ω_k/2`` from
      ``numpy.polynomial.legendre.leggauss(n)`` (float64), ``n ≤`` :data:`GAUSS_LEGENDRE_MAX_STEPS`;
    - ``riemann_left|right|middle|trapezoid`` (``n ≥ 2``): step sizes ``1/n`` each, the trapezoid's
      first and last halved — so the trapezoid's weights sum to ``(n − 1)/n``, not 1; nodes
      ``linspace(0, 1 − 1/n)``, ``linspace(1/n, 1)``, ``linspace(1/(2n), 1 − 1/(2n))``,
      ``linspace(0, 1)`` with ``n`` points, computed by ``torch.linspace`` in float32;
    - Captum multiplies the gradients by ``torch.tensor(step_sizes).float()``: the step weights
      are float32 numbers (since Captum's pull request #1227; before it the Gauss–Legendre step
      sizes stayed float64).

    Here the float32 rounding is applied with NumPy: the weights are exactly
    ``float32(step size)``; the Riemann nodes are ``float32(exact node)``, which differ from
    ``torch.linspace``'s float32 arithmetic by one float32 unit in the last place at some nodes
    for most ``n ≥ 4`` (``docs/conventions.md#ig-explicit-nodes``).  Returns ``(alphas, weights)``, each
    of shape ``(n_steps,)``.
    """
    if method not in CAPTUM_METHODS:
        raise ValueError(f"captum_quadrature: method must be one of {CAPTUM_METHODS}, got {method!r}")
    if isinstance(n_steps, (bool, np.bool_)) or not isinstance(n_steps, numbers.Integral):
        raise TypeError(f"captum_quadrature: n_steps must be a positive int, got {n_steps!r}")
    if n_steps < 1:
        raise ValueError(f"captum_quadrature: n_steps must be a positive int, got {n_steps!r}")
    n = int(n_steps)
    if method == "gausslegendre":
        check_gauss_legendre_steps(n, "captum_quadrature: n_steps")
        nodes, sizes = np.polynomial.legendre.leggauss(n)
        return 0.5 * (1 + nodes), (0.5 * sizes).astype(np.float32).astype(np.float64)
    if n < 2:
        raise ValueError(f"captum_quadrature: Captum's Riemann rules need n_steps > 1, got {n}")
    sizes = np.full(n, 1.0 / n)
    k = np.arange(n, dtype=np.float64)
    if method == "riemann_trapezoid":
        sizes[[0, -1]] /= 2
        nodes = k / (n - 1)
    elif method == "riemann_left":
        nodes = k / n
    elif method == "riemann_right":
        nodes = (k + 1) / n
    else:
        nodes = (k + 0.5) / n
    return nodes.astype(np.float32).astype(np.float64), sizes.astype(np.float32).astype(np.float64)


def path_rule(steps=None, quadrature_name=None, alphas=None, weights=None):
    """The nodes and weights ``(α, ω)`` IG uses, float64 arrays of one length.

    Either a named rule (``steps``, ``quadrature_name``; None means 64 and ``riemann_midpoint``)
    or explicit ``alphas`` and ``weights``: 1-D, finite, equally long, ``α_k ∈ [0, 1]``, used as
    given.  Giving explicit nodes together with ``steps`` or ``quadrature`` is refused.
    """
    if alphas is None and weights is None:
        return quadrature(DEFAULT_QUADRATURE if quadrature_name is None else quadrature_name,
                          DEFAULT_STEPS if steps is None else steps)
    if alphas is None or weights is None:
        raise ValueError("integrated_gradients: give both alphas= and weights= (1-D arrays of one length), "
                         f"got only {'alphas' if weights is None else 'weights'}")
    if steps is not None or quadrature_name is not None:
        raise ValueError("integrated_gradients: give either alphas=/weights= or steps=/quadrature=, not both "
                         f"(got steps={steps!r}, quadrature={quadrature_name!r})")
    arrays = []
    for name, value in (("alphas", alphas), ("weights", weights)):
        if isinstance(value, np.ma.MaskedArray):  # as the baseline: a masked entry has no value to use
            raise TypeError(f"integrated_gradients option {name}: a masked array is refused (its masked entries have "
                            "no value); pass value.filled(fill) or numpy.ma.getdata(value)")
        array = np.asarray(value)
        if array.dtype == object or not (np.issubdtype(array.dtype, np.floating)
                                         or np.issubdtype(array.dtype, np.integer)) or array.dtype == bool:
            raise TypeError(f"integrated_gradients: {name} must be a 1-D array of floats, got dtype {array.dtype}")
        if array.ndim != 1 or array.size == 0:
            raise ValueError(f"integrated_gradients: {name} must be a non-empty 1-D array, got shape {array.shape}")
        array = np.array(array, dtype=np.float64)
        if not np.all(np.isfinite(array)):
            raise ValueError(f"integrated_gradients: {name} contains NaN or inf")
        arrays.append(array)
    alphas, weights = arrays
    if alphas.shape != weights.shape:
        raise ValueError(f"integrated_gradients: alphas and weights must have one length, got {alphas.shape[0]} "
                         f"and {weights.shape[0]}")
    if np.any(alphas < 0) or np.any(alphas > 1):
        raise ValueError(f"integrated_gradients: alphas must lie in [0, 1], got values from {alphas.min()} "
                         f"to {alphas.max()}")
    return alphas, weights


def resolve_baseline(baseline, x) -> np.ndarray:
    """A baseline as an array shaped like ``x``: scalar, one sample's shape, or x's shape."""
    return np.broadcast_to(check_baseline(baseline, x.shape), x.shape)


def check_baseline(baseline, x_shape: tuple) -> np.ndarray:
    """The baseline as a float64 array, checked for inputs shaped ``x_shape`` (N, …): numeric, finite,
    a scalar, shaped like one sample or like the inputs (``TypeError``/``ValueError`` otherwise)."""
    x_shape = tuple(x_shape)
    base = np.asarray(baseline)
    if base.dtype == object or not (np.issubdtype(base.dtype, np.floating) or np.issubdtype(base.dtype, np.integer)):
        raise TypeError(f"integrated_gradients: baseline must be numeric, got dtype {base.dtype}")
    base = base.astype(np.float64)
    if base.shape not in ((), x_shape[1:], x_shape):
        raise ValueError(f"integrated_gradients: baseline must be a scalar, shaped like one sample {x_shape[1:]} "
                         f"or like x {x_shape}; got {base.shape}")
    if not np.all(np.isfinite(base)):
        raise ValueError("integrated_gradients: baseline contains NaN or inf")
    return base


def integrated_gradients(gradient_at, x, baseline, steps=None, quadrature_name=None, alphas=None, weights=None):
    """``(x − x₀) ⊙ Σ_k ω_k · gradient_at(x₀ + α_k (x − x₀))`` with ``(α, ω)`` from :func:`path_rule`.

    ``gradient_at(points)`` returns the gradient of each sample's (fixed) target logit.
    """
    alphas, weights = path_rule(steps, quadrature_name, alphas, weights)
    x0 = resolve_baseline(baseline, x)
    delta = x - x0
    total = np.zeros_like(x)
    for alpha, weight in zip(alphas, weights):
        total += weight * gradient_at(x0 + alpha * delta)
    return delta * total
