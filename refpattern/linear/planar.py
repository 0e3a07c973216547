"""Closed forms of the planar case: one signal and one distractor in two dimensions, no noise
(``docs/math.md#toy``; the paper's toy of Sec. 2 and its rotations).

With ``x = a_s·y + a_d·ε`` in ``R²`` (``ε`` independent of ``y``, ``wᵀa_s = 1``, ``wᵀa_d = 0``) every
pattern with ``wᵀa = 1`` is ``a_s + t·a_d`` for one number ``t``, which gives ρ, the filter and the
random baseline in a few operations.  These are the formulas ``refpattern verify`` has always
used on the toy; :mod:`refpattern.linear.closed_forms` uses them whenever a model is planar
(:attr:`~refpattern.linear.model.LinearModel.is_planar`, with ``a_s`` the effective signal
direction and ``σ`` the distractor's standard deviation given the signal), and the general forms
otherwise (the tests hold both together to 1e-12).  ``σ²_y`` defaults to ``1/3`` (``y ~ U[−1, 1]``).
"""

from __future__ import annotations

import math

import numpy as np

SIGMA_Y2 = 1.0 / 3.0
"""``σ²_y = Var[y]`` for ``y ~ U[−1, 1]``."""

DISTRACTOR_DIRECTION = np.array([1.0, 1.0])
"""``a_d = (1, 1)ᵀ`` before any rotation."""

HALF_MEAN_OVER_HALF_SECOND_MOMENT = 1.5
"""``E₊[y] / E₊[y²] = (1/2) / (1/3) = 3/2`` for ``y ~ U[−1, 1]`` (the 1.5 in ``a± = a_s ± 1.5μ·a_d``)."""


# --- directions -----------------------------------------------------------------------------

def rotate(v, angle_deg: float) -> np.ndarray:
    """Rotate a 2-vector counter-clockwise by ``angle_deg`` degrees."""
    t = np.deg2rad(angle_deg)
    rotation = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    return rotation @ np.asarray(v, dtype=np.float64)


def direction_deg(v) -> float:
    """The direction of a 2-vector in degrees, ``atan2(v₂, v₁)`` in (−180°, 180°]."""
    v = np.asarray(v, dtype=np.float64)
    return float(np.degrees(np.arctan2(v[1], v[0])))


def vector_angle(u, v) -> float:
    """Angle in radians, in [0, π], between the vectors ``u`` and ``v`` (any dimension), by Kahan's formula
    (``docs/math.md#toy-stable-forms``)::

        ∠(u, v) = 2·atan2(‖|v|·u − |u|·v‖, ‖|v|·u + |u|·v‖)

    which keeps every digit where ``arccos`` of the cosine loses half of them (an angle ``θ`` near 0 has
    ``cos θ = 1 − θ²/2``: below ``θ ≈ 1e-8`` the cosine rounds to 1 and ``arccos`` returns 0).
    """
    u, v = (_unit(np.asarray(x, dtype=np.float64)) for x in (u, v))  # |v|u ∓ |u|v over |u||v|: no overflow
    return float(2.0 * np.arctan2(np.linalg.norm(u - v), np.linalg.norm(u + v)))


def _unit(x) -> np.ndarray:
    """``x/|x|``, scaled by its largest entry first so that ``|x|`` neither overflows nor underflows."""
    largest = np.max(np.abs(x))
    if largest == 0:
        return x
    x = x / largest
    return x / np.linalg.norm(x)


def axis_angle_deg(u, v) -> float:
    """Angle in [0°, 90°] between the *lines* spanned by ``u`` and ``v`` (sign ignored): :func:`vector_angle`
    of ``u`` and ``±v``, the sign that makes ``uᵀv ≥ 0``."""
    u, v = np.asarray(u, dtype=np.float64), np.asarray(v, dtype=np.float64)
    return float(np.degrees(vector_angle(u, v if u @ v >= 0 else -v)))


def distractor_direction(rotation_deg: float = 0.0) -> np.ndarray:
    """``a_d`` = ``(1, 1)ᵀ`` rotated by ``rotation_deg`` (norm √2, direction 45° + rotation)."""
    return rotate(DISTRACTOR_DIRECTION, rotation_deg)


# --- closed forms ------------------------------------------------------------------------------

def optimal_filter(a_s, a_d) -> np.ndarray:
    """The filter with ``wᵀa_s = 1`` and ``wᵀa_d = 0`` (``docs/math.md#toy-filter``).

    In two dimensions this is the unique solution of ``[a_sᵀ; a_dᵀ] w = (1, 0)ᵀ``::

        w = (a_d₂, −a_d₁)ᵀ / (a_s₁·a_d₂ − a_s₂·a_d₁),

    i.e. the normal of ``a_d`` scaled so that ``wᵀa_s = 1``.  For ``a_s = (1, 0)``,
    ``a_d = (1, 1)``: ``w = (1, −1)ᵀ``.  Then ``wᵀx = y`` exactly, so ``w`` is also the
    zero-residual least-squares filter for any ``μ, σ``.  Rotating ``a_d`` by θ rotates
    ``w`` by θ (``w ⊥ a_d``).  Raises when ``a_d ∥ a_s`` (no such filter).
    """
    a_s, a_d = np.asarray(a_s, dtype=np.float64), np.asarray(a_d, dtype=np.float64)
    determinant = a_s[0] * a_d[1] - a_s[1] * a_d[0]
    if abs(determinant) < 1e-12 * np.linalg.norm(a_s) * np.linalg.norm(a_d):
        raise ValueError(f"optimal_filter: a_d = {a_d} is parallel to a_s = {a_s}; no w has wᵀa_s = 1 and wᵀa_d = 0")
    return np.array([a_d[1], -a_d[0]]) / determinant


def activation_pattern(a_s, a_d=None) -> np.ndarray:
    """The pattern ``a = cov[x, y]/σ²_y`` of the optimal filter, in closed form: ``a = a_s``.

    With ``y_out = wᵀx = y`` and ``ε`` independent of ``y``:
    ``cov[x, y] = a_s·σ²_y + a_d·cov[ε, y] = a_s·σ²_y``, so ``a = a_s`` for every ``μ``,
    ``σ`` and every direction of ``a_d`` (``a_d`` is accepted for symmetry, unused).
    """
    return np.asarray(a_s, dtype=np.float64).copy()


def relu_patterns(a_s, a_d, mu: float, variant: str = "paper") -> tuple[np.ndarray, np.ndarray]:
    """``(a₊, a₋)`` of ``S_a±`` for the optimal filter (gate ``wᵀx + 0 > 0`` ⇔ ``y > 0``).

    ``variant="paper"`` (``docs/math.md#sapm-mu-bias``, unconditional ``E[y] = 0``)::

        E₊[x y] = a_s·E₊[y²] + a_d·μ·E₊[y] = a_s/3 + a_d·μ/2
        a₊ = E₊[x y] / wᵀE₊[x y] = (a_s/3 + a_d μ/2) / (1/3) = a_s + 1.5 μ·a_d
        a₋ = a_s − 1.5 μ·a_d           (E₋[y] = −1/2)

    so ``S_a±`` recovers ``a_s`` only when ``μ = 0``.  Still ``d̂ = x − S_a±(x) =
    a_d·(ε − 1.5 μ |y|)`` and ``cov[d̂, y] = a_d·(cov[ε, y] − 1.5 μ·cov[|y|, y]) = 0`` (``|y|``
    is even, ``y`` odd), so ρ(S_a±) = 1 and ρ cannot see the bias.

    ``variant="regime"`` (``E₊[x]·E₊[y]``): ``a₊ = cov₊[x, y]/var₊[y] = a_s`` and likewise
    ``a₋ = a_s``, for every ``μ`` (``ε`` is independent of ``y`` within each regime).
    """
    a_s, a_d = np.asarray(a_s, dtype=np.float64), np.asarray(a_d, dtype=np.float64)
    if variant == "paper":
        shift = HALF_MEAN_OVER_HALF_SECOND_MOMENT * mu * a_d
        return a_s + shift, a_s - shift
    if variant == "regime":
        return a_s.copy(), a_s.copy()
    raise ValueError(f"variant: expected 'paper' or 'regime', got {variant!r}")


def isotropic_ls_filter(a_s, sigma_n: float, sigma_y2: float = SIGMA_Y2) -> np.ndarray:
    """Least-squares filter ``argmin_w E[(y − wᵀx)²]`` for ``x = a_s y + n``, ``n ~ N(0, σ_n² I)``.

    ``E[xxᵀ] = σ²_y a_s a_sᵀ + σ_n² I`` and ``E[x y] = σ²_y a_s``; Sherman–Morrison gives::

        w = (σ²_y a_s a_sᵀ + σ_n² I)⁻¹ σ²_y a_s = a_s / (|a_s|² + σ_n²/σ²_y).

    ``w`` stays parallel to ``a_s`` and only shrinks (``|w| < 1/|a_s|``), like an L2 (ridge)
    penalty ``σ_n²/σ²_y``: isotropic noise does not rotate the filter (``docs/math.md#toy-claim-5``).
    """
    a_s = np.asarray(a_s, dtype=np.float64)
    return a_s / (a_s @ a_s + sigma_n ** 2 / sigma_y2)


def isotropic_activation_pattern(a_s, sigma_n: float, sigma_y2: float = SIGMA_Y2) -> np.ndarray:
    """``a = cov[x, wᵀx]/var[wᵀx]`` for the isotropic LS filter: ``a = a_s·(1 + σ_n²/(σ²_y |a_s|²))``.

    From the normal equations ``E[xxᵀ] w = σ²_y a_s``: ``cov[x, wᵀx] = σ²_y a_s`` and
    ``var[wᵀx] = σ²_y wᵀa_s``, so ``a = a_s / (wᵀa_s)`` — parallel to ``a_s`` with ``wᵀa = 1``.
    """
    a_s = np.asarray(a_s, dtype=np.float64)
    return a_s / (isotropic_ls_filter(a_s, sigma_n, sigma_y2) @ a_s)


def pattern_rho(a, a_s, a_d, sigma: float, sigma_y2: float = SIGMA_Y2) -> float:
    """``ρ`` (Eq. 1) of ``S(x) = a·wᵀx`` on distractor data, for any pattern with ``wᵀa = 1``.

    ``w`` is the optimal filter; in two dimensions ``wᵀ(a − a_s) = 0`` puts ``a − a_s`` on the line
    ``w^⊥ = span(a_d)``: ``a = a_s + t·a_d`` with ``t = (a − a_s)ᵀa_d / |a_d|²``.  Then
    ``d̂ = x − a·y = a_d·(ε − t·y)``, a single direction, and the best ``v`` reads
    ``ε − t·y``::

        ρ = 1 − |t|·σ_y / sqrt(t²σ²_y + σ²)      (independent of μ)
          = σ² / (h·(h + |t|σ_y)),   h = hypot(|t|σ_y, σ)      (computed so: no cancellation)

    ``t = 0`` (``S_a``) gives ρ = 1; ``S_w`` has ``t = −k`` (:func:`filter_estimator_rho`); the
    random baseline ``a = r/(wᵀr)`` has a random ``t`` (:func:`random_pattern_rho`).
    """
    a, a_s, a_d = (np.asarray(v, dtype=np.float64) for v in (a, a_s, a_d))
    t = (a - a_s) @ a_d / (a_d @ a_d)
    return one_minus_correlation(t, sigma, sigma_y2)


def one_minus_correlation(t: float, sigma: float, sigma_y2: float = SIGMA_Y2) -> float:
    """``1 − |t|σ_y/√(t²σ²_y + σ²)`` without cancellation (``docs/math.md#toy-stable-forms``): with
    ``h = hypot(|t|σ_y, σ)``, ``1 − |t|σ_y/h = (h − |t|σ_y)/h = σ²/(h·(h + |t|σ_y))``, a product and
    quotient of positive numbers, so correct to a few ulps even where the correlation rounds to 1
    (``|t|σ_y ≫ σ``: ρ ≈ σ²/(2t²σ²_y), which the subtraction returns as 0)."""
    along = abs(float(t)) * math.sqrt(sigma_y2)
    h = math.hypot(along, float(sigma))
    if h == 0.0:  # t = 0 and σ = 0: 1 − 0/0, the old form's nan
        return float("nan")
    return float(sigma) ** 2 / (h * (h + along))


def pattern_t(a, a_s, a_d) -> float:
    """The ``t`` of ``a = a_s + t·a_d`` (:func:`pattern_rho`): ``(a − a_s)ᵀa_d/|a_d|²``; ρ falls with ``|t|``."""
    a, a_s, a_d = (np.asarray(v, dtype=np.float64) for v in (a, a_s, a_d))
    return float((a - a_s) @ a_d / (a_d @ a_d))


def random_pattern_rho(a_s, a_d, sigma: float, reference: float, sigma_y2: float = SIGMA_Y2,
                       reference_t: float | None = None) -> tuple[float, float]:
    """Mean of ρ over the random baseline, and the probability that one draw beats ``reference``.

    The random estimator (``docs/math.md#random-baseline``) is ``a = r/(wᵀr)`` with ``r ~ N(0, I)``.
    Writing ``r = α·a_s + β·a_d`` gives ``wᵀr = α`` and ``a = a_s + (β/α)·a_d``, so ``t = β/α``: a
    ratio of two centred jointly Gaussian numbers (``(α, β) ~ N(0, G⁻¹)``, ``G`` the Gram matrix of
    ``a_s, a_d``), which is Cauchy (``docs/math.md#toy-random-baseline``) with

        location t₀ = −a_sᵀa_d/|a_d|² = −k,     scale γ = |det(a_s, a_d)|/|a_d|²,

    (the uniform angle of the line of ``r``, mapped by a Möbius map).  Then ``E[ρ] = ∫ ρ(t)·γ/(π((t − t₀)² +
    γ²)) dt`` (:func:`pattern_rho`'s ρ(t); adaptive quadrature split at the scales of both factors, so that
    neither a narrow ρ (``γ ≫ σ/σ_y``, a signal much larger than the distractor) nor a narrow Cauchy law
    is stepped over), and since ρ falls with ``|t|``, ``ρ > reference`` ⇔ ``|t| < t_ref``, with probability
    ``(atan((t_ref − t₀)/γ) + atan((t_ref + t₀)/γ))/π`` — the arc between the lines of ``a_s ∓ t_ref·a_d``,
    over π.  ``t_ref`` is ``|reference_t|`` where given (the reference pattern's :func:`pattern_t`), else it is
    solved from ``reference``: where ``ρ_ref`` is within ``δ`` of 1, ``1 − ρ_ref`` is rounded by up to a relative
    ``ε/(2δ)`` (``10 %`` at a signal ``10⁻¹⁵`` times the distractor, ``1 − ρ(S_w) ≈ 10⁻¹⁵``), and so would ``t_ref``.
    In two dimensions a random direction therefore beats ``S_w`` quite often (35 % for the default
    toy): the paper's "random removes almost no correlation" is a statement about high dimensions.
    """
    a_s, a_d = np.asarray(a_s, dtype=np.float64), np.asarray(a_d, dtype=np.float64)
    optimal_filter(a_s, a_d)  # refuses a_d ∥ a_s
    norm_d2 = a_d @ a_d
    location = -(a_s @ a_d) / norm_d2
    scale = abs(a_s[0] * a_d[1] - a_s[1] * a_d[0]) / norm_d2
    width = float(sigma) / math.sqrt(sigma_y2)  # ρ(t) = 1/2 … at |t| of this order

    def weighted_rho(t):
        return one_minus_correlation(t, sigma, sigma_y2) * scale / (math.pi * ((t - location) ** 2 + scale ** 2))

    mean = _integral_over_line(weighted_rho, [(0.0, width), (location, scale)])
    if reference_t is not None:
        t_ref = abs(float(reference_t))
        if t_ref == 0.0 or sigma == 0.0:  # no |t| < 0; with σ = 0 every ρ is 0 and none beats
            return float(mean), 0.0
        u, v = a_s - t_ref * a_d, a_s + t_ref * a_d
        return float(mean), vector_angle(u, v) / np.pi
    if reference >= 1.0:
        return float(mean), 0.0
    if reference <= 0.0:  # ρ > 0 for every line but wᵀr = 0 (probability 0); t_ref below would be 0/0
        return float(mean), 1.0
    # |t| at which ρ = reference: (1 − ρ)² (t²σ²_y + σ²) = t²σ²_y, and 1 − (1 − ρ_ref)² = ρ_ref·(2 − ρ_ref),
    # which keeps its digits where ρ_ref is tiny
    t_ref = (1.0 - reference) * sigma / np.sqrt(sigma_y2 * reference * (2.0 - reference))
    u, v = a_s - t_ref * a_d, a_s + t_ref * a_d
    return float(mean), vector_angle(u, v) / np.pi


def random_pattern_rho_second_moment(a_s, a_d, sigma: float, sigma_y2: float = SIGMA_Y2) -> float:
    """``E[ρ²]`` over the random baseline (the law of ``t`` of :func:`random_pattern_rho`), so that the spread of
    ρ over random directions, ``sqrt(E[ρ²] − E[ρ]²)``, is known without sampling: where the mean comes from
    rare directions (a peak of ρ of width ``1/s`` when the signal is ``s`` times the distractor) a sample of
    directions misses them and its own spread says nothing about its error."""
    a_s, a_d = np.asarray(a_s, dtype=np.float64), np.asarray(a_d, dtype=np.float64)
    optimal_filter(a_s, a_d)
    norm_d2 = a_d @ a_d
    location = -(a_s @ a_d) / norm_d2
    scale = abs(a_s[0] * a_d[1] - a_s[1] * a_d[0]) / norm_d2

    def weighted_square(t):
        return one_minus_correlation(t, sigma, sigma_y2) ** 2 * scale / (math.pi * ((t - location) ** 2 + scale ** 2))

    return _integral_over_line(weighted_square, [(0.0, float(sigma) / math.sqrt(sigma_y2)), (location, scale)])


def _integral_over_line(function, bumps) -> float:
    """``∫ function(t) dt`` over the real line for a positive ``function`` made of bumps ``(centre, width)`` with
    tails no heavier than ``1/t²`` (each factor of ``ρ(t)·Cauchy(t)``), by adaptive quadrature (relative 1e-12)
    on pieces split at ``centre ± width·2ʲ`` (so that every piece holds a feature of its own length, whatever
    the ratio of the widths), and beyond ``±R`` (past every bump) in ``v = R/|t|``, where the tails are smooth."""
    from scipy.integrate import quad

    reach = 2.0 * max(abs(centre) + width for centre, width in bumps)
    breaks = {0.0, -reach, reach}
    for centre, width in bumps:
        breaks.add(centre)
        step = width
        while step <= reach:
            breaks.update((centre - step, centre + step))
            step *= 2.0
    breaks = sorted(b for b in breaks if -reach <= b <= reach)
    total = 0.0
    for low, high in zip(breaks[:-1], breaks[1:]):
        total += quad(function, low, high, limit=200, epsabs=0.0, epsrel=1e-12)[0]
    for sign in (-1.0, 1.0):  # ∫_R^∞ f(±t) dt = ∫_0^1 f(±R/v)·R/v² dv
        total += quad(lambda v, sign=sign: 0.0 if v == 0.0 else function(sign * reach / v) * reach / (v * v),
                      0.0, 1.0, limit=200, epsabs=0.0, epsrel=1e-12)[0]
    return float(total)


def filter_estimator_rho(a_s, a_d, sigma: float, sigma_y2: float = SIGMA_Y2) -> float:
    """``ρ(S_w)`` (Eq. 1) on the toy in closed form.

    ``S_w(x) = w wᵀx / (wᵀw)``; in two dimensions ``d̂ = (I − wwᵀ/wᵀw) x`` is the projection
    of ``x`` on the line ``w^⊥ = span(a_d)``::

        d̂ = a_d·u,   u = a_dᵀx / |a_d|² = k·y + ε,   k = a_dᵀa_s / |a_d|².

    ``Σ = cov[d̂] = a_d a_dᵀ (k² σ²_y + σ²)`` and ``c = cov[d̂, y] = a_d k σ²_y``, so
    ``max_v corr = sqrt(cᵀΣ⁺c / σ²_y) = |k| σ_y / sqrt(k² σ²_y + σ²)`` and
    ``ρ(S_w) = 1 − |k| σ_y / sqrt(k² σ²_y + σ²)`` (independent of ``μ``; computed by
    :func:`one_minus_correlation`).  For ``a_d = (1, 1)``, ``σ = 1``: ``k = 1/2``, ``ρ = 1 − 1/√13 ≈ 0.72265``.
    """
    a_s, a_d = np.asarray(a_s, dtype=np.float64), np.asarray(a_d, dtype=np.float64)
    k = (a_d @ a_s) / (a_d @ a_d)
    return one_minus_correlation(k, sigma, sigma_y2)
