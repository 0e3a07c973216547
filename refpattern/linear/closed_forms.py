"""Closed forms on a :class:`~refpattern.linear.model.LinearModel` (``docs/math.md#linear-closed-forms``).

For a neuron with filter ``w`` and bias ``b`` on the model's inputs (the model's optimal filter
for the explained component, or any other, e.g. a hidden ReLU unit):

* :func:`optimal_filter` — ``w = Σ_x⁺·cov[x, s_k]``, ``b = −wᵀμ_x`` (``docs/math.md#linear-filter``);
* :func:`activation_pattern` (S_a), :func:`filter_pattern` (S_w), :func:`relu_patterns` (S_a±,
  both variants; ``docs/math.md#linear-relu-patterns``) and the regime moments they rest on
  (:func:`regime_moments`);
* :func:`pattern_rho` (ρ of one pattern, Eq. 1; ``docs/math.md#linear-rho``) and
  :func:`two_regime_rho` (ρ of an ``a₊, a₋`` pair);
* :func:`random_baseline` — the mean of ρ over random directions and the probability that one
  beats a reference, for any ``D`` (``docs/math.md#linear-random-baseline``);
* :func:`activation_pattern_standard_error` — the sampling error of the S_a estimate
  (``docs/math.md#linear-standard-errors``);
* :func:`explanations` — what Gradient, PatternNet and PatternAttribution return
  (``docs/math.md#linear-explanations``).

Where a model is planar (:attr:`~refpattern.linear.model.LinearModel.is_planar`) the optimal
filter, ρ and the random baseline come from :mod:`refpattern.linear.planar`, the toy's own
formulas; the tests hold them against the general ones here.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import integrate, optimize, special

from refpattern.linear import planar
from refpattern.linear.model import KIND_FOURTH_MOMENT, KIND_VARIANCE, LinearModel

EIGENVALUE_CUTOFF = 1e-10
"""Eigenvalues of a covariance ``≤ cutoff·λ_max`` count as zero (as in ``refpattern.rho``)."""

LEAK_TOLERANCE = 1e-12
"""``|p_jᵀw| ≤ tolerance·|p_j|·|w|`` counts as "component ``j`` does not reach the output"."""

QUADRATURE_TOLERANCE = 1e-11
"""Absolute and relative tolerance of every numerical integral."""


class NoClosedForm(ValueError):
    """The quantity has no closed form (or numerical integral) implemented for this model and filter."""


# --- the filter -------------------------------------------------------------------------------------

def _component(model: LinearModel, component) -> int:
    """``component`` as an index ``0 … K−1`` (None: the model's explained one); else an error naming it."""
    if component is None:
        return model.explained
    if isinstance(component, bool) or not isinstance(component, (int, np.integer)):
        raise TypeError(f"component: expected an integer (a signal component) or None, got {component!r}")
    if not 0 <= component < model.signals:
        raise ValueError(f"component: expected a signal component 0…{model.signals - 1}, got {component}")
    return int(component)


def optimal_filter(model: LinearModel, component: int | None = None) -> tuple[np.ndarray, float]:
    """``(w, b)``: the linear least-squares filter of signal component ``k`` (default: the model's
    explained one) and its bias.

    ``w = Σ_x⁺·cov[x, s_k] = Σ_x⁺·p_k·σ²_k`` (the minimum-norm solution when ``Σ_x`` is singular) and
    ``b = −wᵀμ_x``, so that ``wᵀx + b`` is the best affine estimate of ``s_k`` and has mean 0.
    Exact forms where they exist: planar models — Cramer's rule, ``wᵀp_k = 1, wᵀa_d = 0``
    (:func:`refpattern.linear.planar.optimal_filter`); one signal with isotropic noise and no
    distractor — Sherman–Morrison, ``w = a_s/(|a_s|² + σ_n²/σ²_y)``.
    """
    k = _component(model, component)
    p = model.effective_directions[k]
    if model.is_planar and k == 0:
        w = planar.optimal_filter(p, model.distractor_directions[0])
    elif model.signals == 1 and model.distractors == 0 and _is_isotropic(model.noise_covariance):
        w = planar.isotropic_ls_filter(p, math.sqrt(model.noise_covariance[0, 0]), model.signal_variances[0])
    else:
        w = pseudo_inverse(model) @ (p * model.signal_variances[k])
    return w, 0.0 - float(w @ model.mean)  # 0.0 − 0.0 = +0.0: no negative zero bias


def optimal_filter_conditioning(model: LinearModel, component: int | None = None) -> float:
    """How many times float64's rounding of ``Σ_x`` the closed-form ``w`` of :func:`optimal_filter` may carry, in
    units of ``ε·|w|`` (``docs/math.md#linear-closed-form-rounding``): ``κ = λ_max/λ_min`` over the eigenvalues of
    ``Σ_x`` the pseudo-inverse keeps, where ``w = Σ_x⁺·p_k·σ²_k`` (forming ``Σ_x`` and its eigenvectors rounds it by
    ``δΣ`` of a few ``ε·λ_max``, which moves ``w`` by ``Σ_x⁺·δΣ·w``, up to ``κ·ε·|w|``); 0 for the exact forms (planar
    Cramer's rule, Sherman–Morrison), which round ``w`` by a few ``ε·|w|`` only, as the fit does."""
    k = _component(model, component)
    if (model.is_planar and k == 0) or (model.signals == 1 and model.distractors == 0
                                        and _is_isotropic(model.noise_covariance)):
        return 0.0
    values, _, kept = _spectrum(model)
    return float(values[kept][-1] / values[kept][0])


def _is_isotropic(covariance) -> bool:
    diagonal = np.diag(covariance)
    return bool(np.count_nonzero(covariance - np.diag(diagonal)) == 0 and np.all(diagonal == diagonal[0])
                and diagonal[0] > 0)


def _spectrum(model: LinearModel):
    """Eigenvalues and eigenvectors of ``Σ_x``, cached on the model."""
    cache = model.__dict__.setdefault("_closed_form_cache", {})
    if "spectrum" not in cache:
        values, vectors = np.linalg.eigh(model.input_covariance)
        kept = values > EIGENVALUE_CUTOFF * max(values[-1], 0.0)
        cache["spectrum"] = (values, vectors, kept)
    return cache["spectrum"]


def pseudo_inverse(model: LinearModel) -> np.ndarray:
    """``Σ_x⁺`` with eigenvalues ``≤ EIGENVALUE_CUTOFF·λ_max`` discarded."""
    values, vectors, kept = _spectrum(model)
    return (vectors[:, kept] / values[kept]) @ vectors[:, kept].T


def is_full_rank(model: LinearModel) -> bool:
    """``Σ_x`` has no eigenvalue ``≤ EIGENVALUE_CUTOFF·λ_max``."""
    return bool(np.all(_spectrum(model)[2]))


def reads_exactly(model: LinearModel, w, b: float, component: int | None = None) -> bool:
    """``wᵀx + b = s_k`` exactly (up to rounding): the filter reads component ``k`` with gain 1, no
    other component, no Gaussian part, and ``b = −wᵀμ_x`` (the paper's toy: ``wᵀx = y``)."""
    k = _component(model, component)
    w = np.asarray(w, dtype=np.float64)
    gains = model.effective_directions @ w
    scale = np.linalg.norm(model.effective_directions, axis=1) * np.linalg.norm(w)
    others = np.delete(np.arange(model.signals), k)
    gaussian = model.gaussian_variance(w)
    return bool(abs(gains[k] - 1.0) <= 1e-12 and np.all(np.abs(gains[others]) <= LEAK_TOLERANCE * scale[others])
                and gaussian <= 1e-24 * (w @ w) * np.trace(model.input_covariance)
                and abs(w @ model.mean + b) <= 1e-12 * (1.0 + abs(b)))


def output_variance(model: LinearModel, w, b: float | None = None) -> float:
    """``σ²_y = wᵀΣ_x w``; given the bias ``b`` of a filter that reads ``s_k`` exactly
    (:func:`reads_exactly`), ``σ²_k·(wᵀp_k)²`` (no rounding from the quadratic form: the toy's 1/3)."""
    w = np.asarray(w, dtype=np.float64)
    if b is not None and reads_exactly(model, w, b):
        gain = model.effective_directions[model.explained] @ w
        return float(model.signal_variances[model.explained] * gain * gain)
    return float(w @ model.input_covariance @ w)


# --- patterns ------------------------------------------------------------------------------------

def filter_pattern(w) -> np.ndarray:
    """S_w: ``a = w/(wᵀw)`` (``docs/math.md#s-w``)."""
    w = np.asarray(w, dtype=np.float64)
    return w / (w @ w)


def signal_pattern(model: LinearModel, component: int | None = None) -> np.ndarray:
    """S_a's pattern for the optimal filter of component ``k``: ``a = p_k/(wᵀp_k)`` (``docs/math.md#linear-patterns``).

    The normal equations ``Σ_x w = cov[x, s_k] = σ²_k·p_k`` give ``cov[x, wᵀx] = σ²_k·p_k``: the
    activation pattern of the least-squares filter is the effective signal direction
    ``p_k = a_s,k + A_dᵀB_k`` whatever the noise — ``a_s`` itself unless a distractor correlates
    with the signal.  (The toy's ``a = a_s`` and isotropic ``a = a_s/(wᵀa_s)`` to the last bit.)
    """
    k = _component(model, component)
    w = optimal_filter(model, k)[0]
    p = model.effective_directions[k]
    return p / (w @ p)


def activation_pattern(model: LinearModel, w, b: float = 0.0) -> np.ndarray:
    """S_a in the population: ``a = cov[x, y]/σ²_y = Σ_x w/(wᵀΣ_x w)`` (``docs/math.md#s-a``).

    When ``w`` reads component ``k`` exactly (:func:`reads_exactly`) this is the effective signal
    direction ``p_k = a_s,k + A_dᵀB_k`` (``a_s`` for a distractor independent of the signal), and it
    is returned as ``p_k/(wᵀp_k)`` — the toy's ``a = a_s`` to the last bit.
    """
    w = np.asarray(w, dtype=np.float64)
    if reads_exactly(model, w, b):
        p = model.effective_directions[model.explained]
        return p / (p @ w)
    covariance = model.input_covariance @ w
    return covariance / (w @ covariance)


@dataclass(frozen=True)
class RegimeMoments:
    """Moments of one ReLU regime of a neuron ``z = wᵀx + b`` (``docs/math.md#linear-relu-patterns``),
    each an *unnormalised* mean ``E[f·1_r]`` over the whole population (divide by ``p`` for ``E_r[f]``).

    Attributes
    ----------
    p : float           ``P(regime)``
    x : (D,)            ``E[x·1_r]``
    z : float           ``E[z·1_r]``
    xz : (D,)           ``E[x·z·1_r]``
    zz : float          ``E[z²·1_r]``
    xx : (D, D)         ``E[x·xᵀ·1_r]``
    """

    p: float
    x: np.ndarray
    z: float
    xz: np.ndarray
    zz: float
    xx: np.ndarray


@dataclass(frozen=True)
class NeuronLaw:
    """How ``z = wᵀx + b`` is built from the model's sources (``docs/math.md#linear-relu-patterns``)::

        z = m + α·u + η,     x = μ_x + p_u·u + v·η + h,

    ``u`` the one non-Gaussian source that reaches ``z`` (a signal component; ``None`` when every
    source reaching ``z`` is Gaussian), ``η ~ N(0, τ²)`` the Gaussian part of ``z``, and ``h`` the
    rest of ``x``: Gaussian with covariance ``Σ_h − τ²vvᵀ`` plus non-Gaussian signals that do not reach
    ``z``, all independent of ``(u, η)`` with mean 0.
    """

    m: float
    alpha: float
    tau: float
    kind: str | None
    scale: float
    direction: np.ndarray
    v: np.ndarray
    rest_covariance: np.ndarray
    component: int | None


def neuron_law(model: LinearModel, w, b: float) -> NeuronLaw:
    """:class:`NeuronLaw` of the neuron ``(w, b)``; raises :class:`NoClosedForm` when two or more
    non-Gaussian signal components reach ``z``."""
    w = np.asarray(w, dtype=np.float64)
    gains = model.effective_directions @ w
    scale = np.linalg.norm(model.effective_directions, axis=1) * np.linalg.norm(w)
    reaching = [j for j in range(model.signals) if abs(gains[j]) > LEAK_TOLERANCE * scale[j]]
    non_gaussian = [j for j in reaching if model.signal_kinds[j] != "gaussian"]
    if len(non_gaussian) > 1:
        raise NoClosedForm(f"the neuron's output mixes the non-Gaussian signal components {non_gaussian}: its "
                           "regimes have no closed form here (docs/math.md#linear-relu-patterns)")
    u = non_gaussian[0] if non_gaussian else None
    gaussian = model.gaussian_covariance.copy()
    rest = np.zeros_like(gaussian)
    for j in range(model.signals):
        if j == u:
            continue
        outer = model.signal_variances[j] * np.outer(model.effective_directions[j], model.effective_directions[j])
        if model.signal_kinds[j] == "gaussian":
            gaussian += outer
        else:
            rest += outer  # does not reach z: independent of the regime
    tau2 = model.gaussian_variance(w) + sum(model.signal_variances[j] * gains[j] ** 2 for j in range(model.signals)
                                            if j != u and model.signal_kinds[j] == "gaussian")
    if tau2 <= 1e-24 * (w @ w) * max(np.trace(model.input_covariance), 1e-300):
        tau2 = 0.0
    v = gaussian @ w / tau2 if tau2 > 0 else np.zeros(model.dimension)
    rest = rest + gaussian - tau2 * np.outer(v, v)
    direction = model.effective_directions[u] if u is not None else np.zeros(model.dimension)
    return NeuronLaw(m=float(w @ model.mean + b), alpha=float(gains[u]) if u is not None else 0.0,
                     tau=math.sqrt(tau2), kind=model.signal_kinds[u] if u is not None else None,
                     scale=float(model.signal_scales[u]) if u is not None else 0.0, direction=direction, v=v,
                     rest_covariance=rest, component=u)


def _normal_pdf(q):
    return np.exp(-0.5 * q * q) / math.sqrt(2.0 * math.pi)


def _normal_cdf(q):
    return special.ndtr(q)


def _conditional(law: NeuronLaw, u):
    """``(P, η·1, η²·1)`` of the open regime given ``u``: ``E[1_+|u]``, ``E[η 1_+|u]``, ``E[η² 1_+|u]``."""
    if law.tau == 0.0:
        open_ = (law.m + law.alpha * u > 0).astype(np.float64) if np.ndim(u) else float(law.m + law.alpha * u > 0)
        return open_, 0.0 * open_, 0.0 * open_
    q = (law.m + law.alpha * u) / law.tau
    cdf, pdf = _normal_cdf(q), _normal_pdf(q)
    return cdf, law.tau * pdf, law.tau ** 2 * (cdf - q * pdf)


def _open_sums(law: NeuronLaw) -> dict:
    """``E[f·1_+]`` for ``f ∈ {1, u, u², η, uη, η²}`` (``docs/math.md#linear-relu-patterns``)."""
    keys = ("1", "u", "uu", "h", "uh", "hh")
    if law.kind is None:
        values = _conditional(law, 0.0)
        return dict(zip(keys, (values[0], 0.0, 0.0, values[1], 0.0, values[2])))
    c = law.scale
    if law.kind == "rademacher":
        points = np.array([-c, c])
        cdf, h, hh = _conditional(law, points)
        cdf, h, hh = (np.broadcast_to(v, points.shape) for v in (cdf, h, hh))
        return {"1": cdf.mean(), "u": (points * cdf).mean(), "uu": (points ** 2 * cdf).mean(), "h": h.mean(),
                "uh": (points * h).mean(), "hh": hh.mean()}
    if law.tau == 0.0:
        return _open_sums_sharp(law)
    if law.kind == "uniform":
        density, low, high = (lambda u: 1.0 / (2.0 * c)), -c, c
    else:
        density, low, high = (lambda u: _normal_pdf(u / c) / c), -np.inf, np.inf
    edge = -law.m / law.alpha
    points = [edge] if low < edge < high and np.isfinite(low) else None
    result = {}
    for key, power, which in (("1", 0, 0), ("u", 1, 0), ("uu", 2, 0), ("h", 0, 1), ("uh", 1, 1), ("hh", 0, 2)):
        def integrand(u, power=power, which=which):
            return u ** power * _conditional(law, u)[which] * density(u)
        if np.isfinite(low):
            value = integrate.quad(integrand, low, high, points=points, limit=200, epsabs=QUADRATURE_TOLERANCE,
                                   epsrel=QUADRATURE_TOLERANCE)[0]
        else:
            value = sum(integrate.quad(integrand, a, z, limit=200, epsabs=QUADRATURE_TOLERANCE,
                                       epsrel=QUADRATURE_TOLERANCE)[0]
                        for a, z in ((-np.inf, edge), (edge, np.inf)))
        result[key] = value
    return result


def _open_sums_sharp(law: NeuronLaw) -> dict:
    """The open regime ``m + α·u > 0`` of a continuous ``u`` without Gaussian part (exact)."""
    c, t = law.scale, -law.m / law.alpha
    upper = law.alpha > 0  # open where u > t, else where u < t
    if law.kind == "uniform":
        low, high = (max(-c, t), c) if upper else (-c, min(c, t))
        if high <= low:
            return dict.fromkeys(("1", "u", "uu", "h", "uh", "hh"), 0.0)
        return {"1": (high - low) / (2 * c), "u": (high ** 2 - low ** 2) / (4 * c),
                "uu": (high ** 3 - low ** 3) / (6 * c), "h": 0.0, "uh": 0.0, "hh": 0.0}
    q = t / c  # gaussian u ~ N(0, c²): partial moments above q·c
    above = {"1": 1.0 - _normal_cdf(q), "u": c * _normal_pdf(q),
             "uu": c * c * (q * _normal_pdf(q) + 1 - _normal_cdf(q))}
    if not upper:
        above = {"1": 1.0 - above["1"], "u": -above["u"], "uu": c * c - above["uu"]}
    return {**above, "h": 0.0, "uh": 0.0, "hh": 0.0}


def regime_moments(model: LinearModel, w, b: float) -> tuple[RegimeMoments, RegimeMoments]:
    """``(open, closed)``: :class:`RegimeMoments` of the gate-open (``z > 0``) and gate-closed
    (``z ≤ 0``) regimes of the neuron ``(w, b)``, from :class:`NeuronLaw` and one-dimensional
    expectations over ``u`` (exact for ``τ = 0`` and for Rademacher ``u``; an adaptive quadrature to
    1e-11 otherwise; ``docs/math.md#linear-relu-patterns``)."""
    law = neuron_law(model, w, b)
    opened = _open_sums(law)
    variance = model.signal_variances[law.component] if law.component is not None else 0.0
    total = {"1": 1.0, "u": 0.0, "uu": variance, "h": 0.0, "uh": 0.0, "hh": law.tau ** 2}
    closed = {key: total[key] - opened[key] for key in total}
    return _moments(model, law, opened), _moments(model, law, closed)


def _moments(model, law, e) -> RegimeMoments:
    mu, p_u, v, m, alpha = model.mean, law.direction, law.v, law.m, law.alpha
    x = mu * e["1"] + p_u * e["u"] + v * e["h"]
    z = m * e["1"] + alpha * e["u"] + e["h"]
    xz = (mu * z + p_u * (m * e["u"] + alpha * e["uu"] + e["uh"]) + v * (m * e["h"] + alpha * e["uh"] + e["hh"]))
    zz = (m * m * e["1"] + alpha * alpha * e["uu"] + e["hh"] + 2 * m * alpha * e["u"] + 2 * m * e["h"]
          + 2 * alpha * e["uh"])
    first = p_u * e["u"] + v * e["h"]
    xx = (np.outer(mu, mu) * e["1"] + np.outer(mu, first) + np.outer(first, mu) + np.outer(p_u, p_u) * e["uu"]
          + (np.outer(p_u, v) + np.outer(v, p_u)) * e["uh"] + np.outer(v, v) * e["hh"]
          + law.rest_covariance * e["1"])
    return RegimeMoments(float(e["1"]), x, float(z), xz, float(zz), xx)


VARIANTS = ("paper", "regime")


def relu_patterns(model: LinearModel, w, b: float, variant: str = "paper") -> tuple[np.ndarray, np.ndarray]:
    """``(a₊, a₋)`` of S_a± for the neuron ``(w, b)`` in the population (``docs/math.md#linear-relu-patterns``).

    ``variant="paper"``: ``a_r = N_r/(wᵀN_r)``, ``N_r = E[x·y·1_r] − E[x·1_r]·E[y]`` with ``y = wᵀx``
    (``= E[x(z − m)1_r]``: a bias cancels); ``variant="regime"``: ``N_r = cov_r[x, y]``.  A regime
    without probability or with ``wᵀN_r = 0`` gets a zero pattern (as a fit does).

    When ``w`` reads component ``k`` exactly (:func:`reads_exactly`), with ``κ_r = E_r[s_k]/E_r[s²_k]``::

        paper:  a_r = (p_k + μ_x·κ_r) / (wᵀp_k + wᵀμ_x·κ_r),      regime:  a_r = p_k / (wᵀp_k)

    (a Rademacher ``s_k`` is constant within a regime, ``var_r[y] = 0``: the regime variant is a zero
    pattern there, as a fit gives)
    (``κ_± = ±1.5/c`` uniform, ``±√(2/π)/c`` Gaussian, ``±1/c`` Rademacher); the toy's
    ``a± = a_s ± 1.5μ·a_d`` is the uniform case with ``c = 1``, ``wᵀμ_x = 0``.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant: expected one of {VARIANTS}, got {variant!r}")
    w = np.asarray(w, dtype=np.float64)
    if reads_exactly(model, w, b):
        k = model.explained
        p = model.effective_directions[k]
        gain = p @ w
        if variant == "regime":
            if model.signal_kinds[k] == "rademacher":  # s_k is constant within a regime: var_r[y] = 0
                return np.zeros(model.dimension), np.zeros(model.dimension)
            return p / gain, p / gain
        c = float(model.signal_scales[k])
        kappa = {"uniform": 1.5 / c, "gaussian": math.sqrt(2.0 / math.pi) / c, "rademacher": 1.0 / c}
        kappa = kappa[model.signal_kinds[k]]
        offset = w @ model.mean
        return ((p + model.mean * kappa) / (gain + offset * kappa),
                (p + model.mean * -kappa) / (gain + offset * -kappa))
    opened, closed = regime_moments(model, w, b)
    m = float(w @ model.mean + b)
    patterns = []
    for regime in (opened, closed):
        if regime.p <= 1e-15:
            patterns.append(np.zeros(model.dimension))
            continue
        if variant == "paper":
            numerator = regime.xz - m * regime.x
        else:
            numerator = regime.xz - regime.x * (regime.z / regime.p)
        denominator = w @ numerator
        scale = abs(w) @ np.abs(regime.xz) + abs(w) @ np.abs(regime.x) * abs(m if variant == "paper" else regime.z)
        patterns.append(numerator / denominator if abs(denominator) > 1e-12 * max(scale, 1e-300)
                        else np.zeros(model.dimension))
    return patterns[0], patterns[1]


# --- ρ (Eq. 1) ------------------------------------------------------------------------------------

def pattern_rho(model: LinearModel, a, w=None) -> float:
    """ρ (Eq. 1) of ``S(x) = a·wᵀx`` in the population (``docs/math.md#linear-rho``).

    ``w`` defaults to the model's optimal filter.  With ``wᵀa = 1`` and ``a* = Σ_x w/σ²_y`` (S_a),
    ``δ = a − a*``::

        max_v corr(wᵀx, vᵀd̂)² = σ²_y·δᵀΣ_x⁺δ / (1 + σ²_y·δᵀΣ_x⁺δ),     ρ = 1 − sqrt(that)

    when ``a`` lies in the range of ``Σ_x``; ρ = 0 when it does not (a direction the data never
    takes lets ``v`` read ``y`` exactly) or when ``wᵀa ≠ 1`` (``v = w`` reads ``(1 − wᵀa)·y``).
    Planar models with their optimal filter use :func:`refpattern.linear.planar.pattern_rho`.
    """
    a = np.asarray(a, dtype=np.float64)
    if w is None:
        w = optimal_filter(model)[0]
        if model.is_planar:
            return planar.pattern_rho(a, model.effective_directions[0], model.distractor_directions[0],
                                      math.sqrt(model.conditional_distractor_covariance[0, 0]),
                                      model.signal_variances[0])
    return float(pattern_rhos(model, a[None, :], w)[0])


def pattern_rhos(model: LinearModel, patterns, w) -> np.ndarray:
    """:func:`pattern_rho` of each row of ``patterns`` (n, D) for the filter ``w`` (vectorised)."""
    patterns = np.atleast_2d(np.asarray(patterns, dtype=np.float64))
    w = np.asarray(w, dtype=np.float64)
    values, vectors, kept = _spectrum(model)
    sigma_y2 = output_variance(model, w)
    best = model.input_covariance @ w / sigma_y2
    coordinates = (patterns - best) @ vectors
    outside = np.linalg.norm(coordinates[:, ~kept], axis=1) > 1e-9 * np.maximum(np.linalg.norm(patterns, axis=1),
                                                                               1e-300)
    quadratic = sigma_y2 * np.sum(coordinates[:, kept] ** 2 / values[kept], axis=1)
    correlation = np.sqrt(quadratic / (1.0 + quadratic))
    # 1 − c = (1 − c²)/(1 + c) = 1/((1 + q)(1 + c)): no cancellation where c rounds to 1 (docs/math.md#toy-stable-forms)
    rho = 1.0 / ((1.0 + quadratic) * (1.0 + correlation))
    unscaled = np.abs(patterns @ w - 1.0) > 1e-9
    return np.where(outside | unscaled, 0.0, rho)


def filter_rho(model: LinearModel, w=None) -> float:
    """ρ of S_w (``a = w/wᵀw``) for the filter ``w`` (default: the optimal one)."""
    if w is None:
        w = optimal_filter(model)[0]
        if model.is_planar:
            return planar.filter_estimator_rho(model.effective_directions[0], model.distractor_directions[0],
                                               math.sqrt(model.conditional_distractor_covariance[0, 0]),
                                               model.signal_variances[0])
    return float(pattern_rhos(model, filter_pattern(w)[None, :], w)[0])


def two_regime_rho(model: LinearModel, w, b: float, a_plus, a_minus) -> float:
    """ρ (Eq. 1) of ``S(x) = a₊·y`` where ``wᵀx + b > 0``, ``a₋·y`` elsewhere (``y = wᵀx``), in the
    population: ``c = cov[d̂, y]`` and ``Σ = cov[d̂]`` from :func:`regime_moments`, then
    ``1 − sqrt(cᵀΣ⁺c/σ²_y)`` (``docs/math.md#rho-closed-form``; eigenvalues ``≤ 1e-10·λ_max`` dropped)."""
    w = np.asarray(w, dtype=np.float64)
    a_plus, a_minus = np.asarray(a_plus, dtype=np.float64), np.asarray(a_minus, dtype=np.float64)
    regimes = regime_moments(model, w, b)
    mean_d, mean_dy, second = np.zeros(model.dimension), np.zeros(model.dimension), np.zeros((model.dimension,) * 2)
    for regime, a in zip(regimes, (a_plus, a_minus)):
        y1 = regime.z - b * regime.p
        xy = regime.xz - b * regime.x
        yy = regime.zz - 2 * b * regime.z + b * b * regime.p
        mean_d += regime.x - a * y1
        mean_dy += xy - a * yy
        second += regime.xx - np.outer(a, xy) - np.outer(xy, a) + np.outer(a, a) * yy
    mean_y = float(w @ model.mean)
    c = mean_dy - mean_d * mean_y
    sigma = second - np.outer(mean_d, mean_d)
    sigma = (sigma + sigma.T) / 2
    values, vectors = np.linalg.eigh(sigma)
    kept = values > EIGENVALUE_CUTOFF * max(values[-1], 0.0)
    projected = vectors[:, kept].T @ c
    quadratic = float(np.sum(projected ** 2 / values[kept]))
    return 1.0 - math.sqrt(min(max(quadratic / output_variance(model, w), 0.0), 1.0))


# --- the random baseline -----------------------------------------------------------------------------

@dataclass(frozen=True)
class RandomBaseline:
    """ρ of the random baseline ``a = r/(wᵀr)``, ``r ~ N(0, I_D)`` (``docs/math.md#linear-random-baseline``).

    Attributes
    ----------
    mean : float          ``E[ρ]``
    probability : float   ``P(ρ > reference)``
    reference : float
    method : str          how they were computed (closed form or numerical integral)
    """

    mean: float
    probability: float
    reference: float
    method: str


def _grouped_spectrum(model: LinearModel, w):
    """``(λ, b², n)``: the eigenvalues of ``Σ_x`` with their weights ``b_i² = (u_iᵀw)²/σ²_y``, equal
    eigenvalues (within ``1e-12·λ_max``) merged into one with multiplicity ``n`` (isotropic noise
    makes most of them equal: ``D`` terms become a few)."""
    values, vectors, _ = _spectrum(model)
    b2 = (vectors.T @ w) ** 2 / output_variance(model, w)
    edges = np.flatnonzero(np.diff(values) > 1e-12 * max(values[-1], 1e-300)) + 1
    groups = np.split(np.arange(len(values)), edges)
    return (np.array([values[g].mean() for g in groups]), np.array([b2[g].sum() for g in groups]),
            np.array([len(g) for g in groups], dtype=np.float64))


def random_ratio_cdf(model: LinearModel, w, t: float, spectrum=None) -> float:
    """``P(T ≤ t)`` for ``T = (wᵀr)²/(σ²_y·rᵀΣ_x⁻¹r)``, ``r ~ N(0, I)`` (full-rank ``Σ_x``), by Gil-Pelaez
    inversion of the characteristic function of ``Q_t = (wᵀr)²/σ²_y − t·rᵀΣ_x⁻¹r``::

        P(Q_t ≤ 0) = 1/2 − (1/π)∫₀^∞ Im φ(u)/u du,
        φ(u) = Π_i (1 + 2iut/λ_i)^(−1/2) · (1 − 2iu Σ_i b_i²/(1 + 2iut/λ_i))^(−1/2),

    ``λ_i`` the eigenvalues of ``Σ_x``, ``b = Uᵀw/σ_y`` (principal branches are the right ones:
    ``docs/math.md#linear-random-baseline``); ``spectrum`` is :func:`_grouped_spectrum`'s result."""
    if t <= 0.0:
        return 0.0
    if t >= 1.0:
        return 1.0
    values, b2, multiplicity = _grouped_spectrum(model, np.asarray(w, dtype=np.float64)) if spectrum is None \
        else spectrum
    nu = t / values
    scale = 2.0 * (float(np.sum(b2)) + float(np.sum(multiplicity * nu)))

    def phi_imag(x):
        u = x / scale
        first = 1.0 + 2j * u * nu
        log_phi = -0.5 * np.sum(multiplicity * np.log(first)) - 0.5 * np.log(1.0 - 2j * u * np.sum(b2 / first))
        return float(np.exp(log_phi).imag)

    # φ changes on the scales x = scale/(2|μ|) of the form's eigenvalues μ: the negative ones lie between
    # the −t/λ_i, the positive one in (0, |b|²] solves Σ b_i²/(μ + t/λ_i) = 1 (secular equation; none
    # when Σ b_i²λ_i/t ≤ 1).  ∫₀^∞ Im φ(x)/x dx is taken in ξ = log x, split at those scales (each a
    # region of width O(1) in ξ; Im φ falls exponentially in ξ at both ends).
    total = float(np.sum(b2))
    positive = 0.0
    if float(np.sum(b2 / nu)) > 1.0:
        positive = optimize.brentq(lambda mu: float(np.sum(b2 / (mu + nu))) - 1.0, 0.0, total, xtol=1e-300,
                                   rtol=1e-12)
    rates = [r for r in (positive, float(nu.min()), float(nu.max()), total) if r > 0]
    edges = sorted({scale / (2.0 * r) for r in rates} | {1.0})
    breaks = [math.log(e) for e in edges]
    pieces = list(zip([-np.inf] + breaks, breaks + [np.inf]))
    with warnings.catch_warnings():  # a probability within 1e-15 of 0 or 1 cannot meet the relative tolerance
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        value = sum(integrate.quad(lambda xi: phi_imag(math.exp(min(xi, 700.0))) if xi < 700.0 else 0.0, a, z,
                                   limit=200, epsabs=QUADRATURE_TOLERANCE,
                                   epsrel=QUADRATURE_TOLERANCE)[0] for a, z in pieces)
    return float(min(max(0.5 - value / math.pi, 0.0), 1.0))


def random_rho_mean(model: LinearModel, w) -> float:
    """``E[ρ] = E[1 − sqrt(1 − T)] = ∫₀¹ (1 − F_T(t))/(2·sqrt(1 − t)) dt`` (full-rank ``Σ_x``), integrated in
    ``τ = sqrt(t)`` (``F_T`` grows like ``sqrt(t)`` at 0) up to where ``1 − F_T < 1e-14``, with breaks at
    multiples of the first-order ``E[T] ≈ |w|²/(σ²_y tr Σ_x⁻¹)``; the part ``t > 1/2`` in ``v = sqrt(1 − t)``."""
    return _random_rho_moment(model, w, 1)


def random_rho_second_moment(model: LinearModel, w) -> float:
    """``E[ρ²] = ∫₀¹ 2r·P(ρ > r) dr = ∫₀¹ (1 − F_T(t))·r(t)/sqrt(1 − t) dt``, ``r(t) = 1 − sqrt(1 − t)`` (full-rank
    ``Σ_x``; the integrals of :func:`random_rho_mean` with the weight ``2r``), so that the spread of ρ over random
    directions, ``sqrt(E[ρ²] − E[ρ]²)``, is known without sampling: where the mean is made of rare directions (a
    signal far above the noise: median ρ ``7·10⁻⁶``, mean ``10⁻⁴``) a sample of directions misses them and its own
    spread says nothing about its error (``docs/math.md#linear-random-baseline-spread``)."""
    return _random_rho_moment(model, w, 2)


def _random_rho_moment(model: LinearModel, w, order: int) -> float:
    """``E[ρ]`` (``order`` 1) or ``E[ρ²]`` (``order`` 2) of the random baseline (:func:`random_rho_mean`)."""
    w = np.asarray(w, dtype=np.float64)
    spectrum = _grouped_spectrum(model, w)
    values, _, multiplicity = spectrum
    typical = float(w @ w / (output_variance(model, w) * np.sum(multiplicity / values)))

    def tail(t):
        return 1.0 - random_ratio_cdf(model, w, t, spectrum)

    top = min(typical, 0.5)
    while top < 0.5 and tail(top) > 1e-14:
        top = min(2.0 * top, 0.5)
    breaks = [math.sqrt(k * typical) for k in (0.25, 1.0, 4.0, 16.0) if k * typical < top]
    if order == 1:
        def in_tau(tau):
            return tail(tau * tau) * tau / math.sqrt(1.0 - tau * tau)

        def in_v(v):
            return tail(1.0 - v * v)
    else:  # the weight 2r: r = 1 − sqrt(1 − τ²) = τ²/(1 + sqrt(1 − τ²)) (no cancellation at small τ), r = 1 − v
        def in_tau(tau):
            root = math.sqrt(1.0 - tau * tau)
            return tail(tau * tau) * tau / root * 2.0 * tau * tau / (1.0 + root)

        def in_v(v):
            return tail(1.0 - v * v) * 2.0 * (1.0 - v)
    mean = integrate.quad(in_tau, 0.0, math.sqrt(top), points=breaks or None, limit=200, epsabs=1e-12,
                          epsrel=1e-10)[0]
    if top >= 0.5:
        mean += integrate.quad(in_v, 0.0, math.sqrt(0.5), limit=200, epsabs=1e-12, epsrel=1e-10)[0]
    return float(mean)


def random_baseline(model: LinearModel, reference: float, w=None, reference_pattern=None) -> RandomBaseline:
    """``E[ρ]`` of the random baseline and ``P(ρ > reference)`` for the filter ``w`` (default: optimal).

    * planar models: the toy's closed form (uniform line angle: quadrature for the mean, an arc for
      the probability; :func:`refpattern.linear.planar.random_pattern_rho`); given ``reference_pattern`` (the
      pattern whose ρ is ``reference``, shape (D,)), the arc's edge is its ``t`` exactly, not one solved from
      ``reference``, whose ``1 − ρ`` is rounded by up to ``ε/2`` (10 % of it where ``1 − ρ ≈ 10⁻¹⁵``);
    * singular ``Σ_x``: every ``r`` has a component the data never takes, so ρ = 0 always: mean 0,
      probability 0 for ``reference ≥ 0`` (exact);
    * otherwise ρ = 1 − sqrt(1 − T) with ``T`` as in :func:`random_ratio_cdf`:
      ``P(ρ > ρ_ref) = 1 − F_T(1 − (1 − ρ_ref)²)`` and ``E[ρ]`` by :func:`random_rho_mean`
      (numerical integrals to about 1e-10).
    """
    if isinstance(reference, bool) or not isinstance(reference, (int, float, np.integer, np.floating)) \
            or not math.isfinite(reference):
        raise ValueError(f"reference: expected a finite number (a ρ to beat), got {reference!r}")
    reference = float(reference)
    if w is None:
        w = optimal_filter(model)[0]
        if model.is_planar:
            a_p, a_d = model.effective_directions[0], model.distractor_directions[0]
            reference_t = None if reference_pattern is None else planar.pattern_t(reference_pattern, a_p, a_d)
            mean, probability = planar.random_pattern_rho(
                a_p, a_d, math.sqrt(model.conditional_distractor_covariance[0, 0]), reference,
                model.signal_variances[0], reference_t)
            return RandomBaseline(mean, probability, reference, "closed form (2-D: uniform line angle)")
    if not is_full_rank(model):
        return RandomBaseline(0.0, 0.0 if reference >= 0 else 1.0, reference,
                              "exact (singular Σ_x: ρ = 0 for every random direction)")
    probability = 1.0 - random_ratio_cdf(model, w, 1.0 - (1.0 - min(max(reference, 0.0), 1.0)) ** 2)
    if reference >= 1.0:
        probability = 0.0
    return RandomBaseline(random_rho_mean(model, w), float(probability), reference,
                          "numerical integral (Gil-Pelaez inversion of a quadratic form in r)")


def random_baseline_first_order(model: LinearModel, w=None) -> float:
    """The large-``D`` behaviour of ``E[ρ(random)]``: ``|w|²/(2σ²_y·tr Σ_x⁻¹)`` (``E[ρ] ≈ E[T]/2`` and
    ``E[T] ≈ E[(wᵀr)²]/(σ²_y·E[rᵀΣ_x⁻¹r])`` when ``T`` is small; ``docs/math.md#linear-random-baseline``).
    With isotropic noise ``σ_n²`` on ``D − m`` extra axes it falls like ``σ_n²|w|²/(2σ²_y·D)`` → 0."""
    w = optimal_filter(model)[0] if w is None else np.asarray(w, dtype=np.float64)
    values, _, kept = _spectrum(model)
    if not np.all(kept):
        return 0.0
    return float(w @ w / (2.0 * output_variance(model, w) * np.sum(1.0 / values)))


def random_rhos(model: LinearModel, count: int, seed=0, w=None) -> np.ndarray:
    """ρ of ``count`` random directions ``a = r/(wᵀr)``, ``r ~ N(0, I_D)`` from ``default_rng(seed)``,
    each in closed form (:func:`pattern_rhos`) — a Monte Carlo estimate of the distribution."""
    w = optimal_filter(model)[0] if w is None else np.asarray(w, dtype=np.float64)
    r = np.random.default_rng(seed).standard_normal((int(count), model.dimension))
    return pattern_rhos(model, r / (r @ w)[:, None], w)


# --- sampling error of S_a ---------------------------------------------------------------------------

def residual_covariance(model: LinearModel, w, b: float = 0.0) -> np.ndarray:
    """``Σ_r = cov[r]``, ``r = x − E[x] − a·(y − E[y])`` with S_a's pattern ``a`` (the covariance of its
    distractor estimate): ``Σ_j σ²_j·R_j R_jᵀ + Σ_g − a(Σ_g w)ᵀ − (Σ_g w)aᵀ + aaᵀ·wᵀΣ_g w`` with
    ``R_j = p_j − a·wᵀp_j`` (``docs/math.md#linear-standard-errors``)."""
    w = np.asarray(w, dtype=np.float64)
    a = activation_pattern(model, w, b)
    residual_directions = model.effective_directions - np.outer(model.effective_directions @ w, a)
    g = model.gaussian_covariance
    gw = g @ w
    covariance = g - np.outer(a, gw) - np.outer(gw, a) + np.outer(a, a) * float(w @ gw)
    for j in range(model.signals):
        covariance = covariance + model.signal_variances[j] * np.outer(residual_directions[j], residual_directions[j])
    return covariance


def standardized_excess_kurtosis(model: LinearModel) -> np.ndarray:
    """``γ_j = κ₄,j/σ⁴_j = E[s_j⁴]/σ⁴_j − 3`` of each signal component, a number of its kind alone (uniform
    ``(1/5)/(1/3)² − 3 = −1.2``, Gaussian 0, Rademacher ``−2``): free of the scale ``c``, so it neither
    overflows nor underflows where ``c⁴`` would (``docs/math.md#linear-standard-errors``)."""
    return np.array([0.0 if kind == "gaussian" else KIND_FOURTH_MOMENT[kind] / KIND_VARIANCE[kind] ** 2 - 3.0
                     for kind in model.signal_kinds])


def excess_kurtosis(model: LinearModel) -> np.ndarray:
    """``κ₄,j = E[s_j⁴] − 3σ⁴_j = γ_j·σ⁴_j`` of each signal component (uniform ``−1.2σ⁴``, Gaussian 0, Rademacher
    ``−2σ⁴``; ``γ_j`` from :func:`standardized_excess_kurtosis`).  ``σ⁴`` overflows beyond ``c ≈ 10⁷⁷``: the
    closed forms use ``γ_j`` and ratios of variances instead."""
    return standardized_excess_kurtosis(model) * model.signal_variances * model.signal_variances


def activation_pattern_variance(model: LinearModel, w, b: float = 0.0) -> np.ndarray:
    """``n·var[â_i]`` as ``n → ∞`` for each component of the S_a estimate (``docs/math.md#linear-standard-errors``)::

        n·var[â_i] → E[r_i²·ỹ²]/σ⁴_y = (Σ_r,ii·σ²_y + Σ_j R_ij²·α_j²·κ₄,j) / σ⁴_y
                   = Σ_r,ii/σ²_y + Σ_j γ_j·(R_ij·α_j·σ²_j/σ²_y)²,

    ``α_j = wᵀp_j``, ``R_j = p_j − a·α_j``, ``κ₄,j = γ_j·σ⁴_j`` (:func:`standardized_excess_kurtosis`; ``r`` is
    uncorrelated with ``ỹ = y − E[y]``, so the cross terms vanish).  The second line is what is computed: only
    ratios of variances, so a model scaled by ``10¹⁰⁰`` (``σ⁴_y = 10⁴⁰⁰``) gives its finite answer."""
    w = np.asarray(w, dtype=np.float64)
    sigma_y2 = output_variance(model, w)
    a = activation_pattern(model, w, b)
    gains = model.effective_directions @ w
    residual_directions = model.effective_directions - np.outer(gains, a)
    shares = gains * (model.signal_variances / sigma_y2)  # α_j·σ²_j/σ²_y
    excess = (standardized_excess_kurtosis(model)[:, None] * (residual_directions * shares[:, None]) ** 2).sum(axis=0)
    return np.maximum(np.diag(residual_covariance(model, w, b)), 0.0) / sigma_y2 + excess


def activation_pattern_standard_error(model: LinearModel, w, n: int, b: float = 0.0) -> np.ndarray:
    """Standard error per component of the S_a estimate from ``n`` samples: ``sqrt(``
    :func:`activation_pattern_variance` ``/n)``.  Without excess kurtosis in ``r·ỹ`` (every term with
    ``R_j·α_j ≠ 0`` Gaussian — always when ``w`` reads its component exactly) it is written
    ``sqrt(Σ_r,ii)/sqrt(σ²_y·n)``, the toy's ``|a_d|σ/(σ_y√n)`` to the last bit."""
    w = np.asarray(w, dtype=np.float64)
    gains = model.effective_directions @ w
    a = activation_pattern(model, w, b)
    residual_directions = model.effective_directions - np.outer(gains, a)
    if not np.any(residual_directions * (gains * standardized_excess_kurtosis(model))[:, None]):
        diagonal = np.maximum(np.diag(residual_covariance(model, w, b)), 0.0)
        return np.sqrt(diagonal) / np.sqrt(output_variance(model, w, b) * n)
    return np.sqrt(activation_pattern_variance(model, w, b) / n)


# --- explanations --------------------------------------------------------------------------------------

def explanations(w, a, z) -> dict:
    """What the methods return for the linear model ``wᵀx + b`` at outputs ``z`` (n,)
    (``docs/math.md#linear-explanations``): Gradient, DeConvNet and Guided Backprop ``w`` (no ReLU:
    all reduce to ``∂y/∂x``), PatternNet ``a·z`` and PatternAttribution ``w ⊙ a·z`` (started from the
    logit's value ``z``), whose sum over inputs is ``wᵀa·z = z`` when ``wᵀa = 1``."""
    w, a, z = (np.asarray(v, dtype=np.float64) for v in (w, a, z))
    return {"gradient": np.broadcast_to(w, z.shape + w.shape), "pattern.net": z[:, None] * a,
            "pattern.attribution": z[:, None] * (w * a)}
