"""What the claims measure on a draw of a linear model: least-squares filters, covariances, and the
pattern and ρ of the model's output neuron, fitted with :func:`refpattern.patterns.fit_patterns`.

A :class:`Sample` bundles a model (:class:`~refpattern.linear.LinearModel`), one draw of it
(:class:`~refpattern.linear.sampling.Draw`), its optimal filter ``(w, b)`` and the one-neuron
network ``wᵀx + b``.  A draw small enough is held in memory and every function here computes as
the toy always did (the same arrays, the same operations); a larger one streams, and the
functions accumulate over its batches (least squares by a triangular factor updated batch by batch).
Least squares keeps every direction the data resolves (:func:`resolved_least_squares`,
``docs/math.md#linear-least-squares``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from refpattern.experiments.report import format_vector
from refpattern.experiments.toy.tolerances import EPSILON, Z, coherent_rounding_bound, rounding_bound
from refpattern.linear import closed_forms
from refpattern.linear.model import LinearModel
from refpattern.linear.sampling import Draw
from refpattern.network import Dense, Sequential
from refpattern.patterns import fit_patterns, rho
from refpattern.patterns.rho import DEFAULT_CUTOFF

FIT_BATCH_SIZE = 1 << 16
"""``batch_size`` passed to ``fit_patterns`` and ``rho`` (they stream; larger batches are just faster)."""

LEAST_SQUARES_SAMPLES_PER_DIMENSION = 10
"""A statistical least-squares claim needs batches of at least this many samples per input dimension."""

RHO_SAMPLES_PER_DIMENSION = 20
"""ρ measured on data needs batches of at least this many samples per input dimension (with fewer,
the regression of Eq. 1 fits noise: ``docs/math.md#rho-held-out``)."""


def linear_network(w, b: float = 0.0) -> Sequential:
    """``Sequential([Dense(w[None, :], [b])])``: one output ``wᵀx + b``."""
    w = np.asarray(w, dtype=np.float64)
    return Sequential([Dense(w[None, :], [float(b)])])


@dataclass
class Sample:
    """A model, one draw of it, its optimal filter and the network ``wᵀx + b``.

    Attributes
    ----------
    model, draw, w, b, net
    exact : bool        ``wᵀx + b = s_k`` exactly (:func:`~refpattern.linear.closed_forms.reads_exactly`)
    pattern : (D,)      S_a's closed form (``p_k/(wᵀp_k)`` for the optimal filter; ``a_s`` on the toy)
    """

    model: LinearModel
    draw: Draw
    w: np.ndarray
    b: float
    net: Sequential
    exact: bool
    pattern: np.ndarray

    @classmethod
    def of(cls, model: LinearModel, n: int, seed, w=None, b=None) -> Sample:
        """Draw ``n`` samples of ``model`` with ``seed``; ``w, b`` default to the optimal filter."""
        if w is None:
            w, b = closed_forms.optimal_filter(model)
            pattern = closed_forms.signal_pattern(model)
        else:
            pattern = closed_forms.activation_pattern(model, w, b)
        draw = Draw(model, n, seed)
        return cls(model, draw, w, b, linear_network(w, b), closed_forms.reads_exactly(model, w, b), pattern)

    @property
    def n(self) -> int:
        return self.draw.n

    @property
    def k(self) -> int:
        return self.model.explained

    @property
    def a_s(self) -> np.ndarray:
        """The explained component's direction ``a_s,k``."""
        return self.model.signal_directions[self.k]

    def inputs(self, start: int = 0, stop: int | None = None):
        """The inputs for ``fit_patterns``/``rho`` (an array in memory, else a re-iterable source)."""
        return self.draw.inputs(FIT_BATCH_SIZE, start, stop)

    def batches(self):
        return self.draw.batches(FIT_BATCH_SIZE)

    def parts_measurable(self, per_dimension: int, parts: int) -> bool:
        """Each of ``parts`` batches holds at least ``per_dimension × D`` samples."""
        return self.n // parts >= per_dimension * self.model.dimension


def input_rank(model: LinearModel) -> int:
    """The rank of ``Σ_x = Σ_k σ²_k p_k p_kᵀ + Σ_g``, from the directions its sources vary along, each of
    unit length (so that no source's scale hides another's): the effective signal directions ``p_k ≠ 0`` and
    the eigenvectors of ``Σ_g`` above ``EIGENVALUE_CUTOFF`` of its largest eigenvalue; the rank of their
    Gram matrix with the same cut-off (the closed forms' zero)."""
    cutoff = closed_forms.EIGENVALUE_CUTOFF
    directions = [p / np.linalg.norm(p) for p in model.effective_directions if np.any(p)]
    values, vectors = np.linalg.eigh(model.gaussian_covariance)
    directions += list(vectors[:, values > cutoff * values[-1]].T) if values[-1] > 0 else []
    gram = np.linalg.eigvalsh(np.array(directions).T @ np.array(directions))
    return int(np.count_nonzero(gram > cutoff * gram[-1]))


def no_distractor_left(model: LinearModel) -> str:
    """Why S_a, S_w and S_a± leave no distractor on ``model`` ("" when they leave one).

    Where ``Σ_x`` has rank 1, ``x − E[x] = p·u`` for one number ``u`` per sample, and every pattern of the
    optimal filter is ``p/(wᵀp)``: the distractor estimate ``d̂ = x − a·y`` is 0 for every sample, so ρ is
    ``0/0`` (``docs/math.md#linear-rounding``) and S_a has no sampling error (``Σ_r = 0``)."""
    if input_rank(model) > 1:
        return ""
    why = "D = 1" if model.dimension == 1 else "Σ_x has rank 1 (x − E[x] varies along one direction only)"
    return f"{why}: S_a, S_w and S_a± leave no distractor (d̂ ≡ 0)"


def pattern_scale(sample: Sample) -> np.ndarray:
    """The magnitude of each component of a pattern of ``sample``'s neuron, ``M_i = RMS(x_i)/σ_y``, shape (D,):
    a pattern is ``E[x·y]``-like sums over ``y²``, and its component ``i`` sums terms ``x_i·y``, so float64
    rounds it on the scale of ``x_i``, not of the largest component (``docs/math.md#linear-rounding-scale``):
    a signal ``10¹²`` times the distractor leaves the distractor's components their own digits."""
    model = sample.model
    second = np.diag(model.input_covariance) + model.mean ** 2
    return np.sqrt(second / closed_forms.output_variance(model, sample.w, sample.b))


def source_factor(model: LinearModel) -> np.ndarray:
    """``B`` (D, m) with ``Σ_x = B·Bᵀ``: a column ``σ_j·p_j`` per signal component that reaches ``x`` and
    ``√λ·v`` per eigenvector of ``Σ_g`` above ``EIGENVALUE_CUTOFF`` of its largest eigenvalue.  Built from the
    sources, not from ``Σ_x``, which float64 cannot form where sources differ by more than ``10⁸`` (at a signal
    ``10⁻¹⁵`` times the distractor the toy's ``Σ_x`` rounds to a singular matrix)."""
    columns = [math.sqrt(v) * p for v, p in zip(model.signal_variances, model.effective_directions) if np.any(p)]
    values, vectors = np.linalg.eigh(model.gaussian_covariance)
    if values[-1] > 0:
        kept = values > closed_forms.EIGENVALUE_CUTOFF * values[-1]
        columns += list((np.sqrt(values[kept]) * vectors[:, kept]).T)
    return np.array(columns).T if columns else np.zeros((model.dimension, 0))


def input_precision_diagonal(model: LinearModel) -> np.ndarray:
    """``(Σ_x⁺)_jj``, shape (D,), from :func:`source_factor`: ``(BBᵀ)⁺ = B⁺ᵀB⁺``, and ``B⁺`` from the columns
    scaled to unit length (each source's scale apart, the matrix is as well conditioned as the directions are),
    ``B⁺ = diag(1/|b_k|)·(B·diag(1/|b_k|))⁺`` where ``B`` has full column rank (else ``B⁺`` directly)."""
    factor = source_factor(model)
    norms = np.linalg.norm(factor, axis=0)
    unit = factor / norms
    if np.linalg.matrix_rank(unit) == factor.shape[1]:
        inverse = np.linalg.pinv(unit) / norms[:, None]
    else:
        inverse = np.linalg.pinv(factor)
    return np.sum(inverse ** 2, axis=0)


def filter_rounding(sample: Sample) -> np.ndarray:
    """How far float64 rounding alone can move each component of the least-squares ``w`` where ``wᵀx + b = s_k``
    exactly, shape (D,), from the model (``docs/math.md#linear-least-squares``)::

        Z·ε·√N·M_j + Z·ε·|w|,   M_j = sqrt((Σ_x⁺)_jj)·Σ_l |w_l|·RMS(x_l)

    (:func:`resolved_least_squares`'s bound with ``(AᵀA)⁺ = Σ_x⁺/N`` and ``m_l = √N·RMS(x_l)``, for the closed-form
    ``w``, so that it does not depend on what the fit kept)."""
    model = sample.model
    rms = np.sqrt(np.diag(model.input_covariance) + model.mean ** 2)
    magnitudes = np.sqrt(input_precision_diagonal(model)) * float(np.abs(sample.w) @ rms)
    return rounding_bound(magnitudes, sample.n) + Z * EPSILON * float(np.linalg.norm(sample.w))


def closed_form_filter_rounding(sample: Sample) -> float:
    """``Z·ε·κ·|w|``: how far float64 rounding alone can move the closed-form ``w`` itself, ``κ`` the condition
    number of ``Σ_x`` its pseudo-inverse divides by (0 for the exact planar and isotropic forms;
    :func:`~refpattern.linear.closed_forms.optimal_filter_conditioning`, ``docs/math.md#linear-closed-form-rounding``).
    Where ``wᵀx + b = s_k`` exactly the fit is compared with the closed form to rounding, and this is the closed
    form's share of it (for the optimal filter, the ``w`` of every claim's sample; a noise-free ``D = 5`` model with
    ``κ = 6·10⁴`` and ``|w| = 24`` has its closed-form ``w`` off by ``2·10⁻¹⁰``, the fit by less)."""
    conditioning = closed_forms.optimal_filter_conditioning(sample.model)
    return Z * EPSILON * conditioning * float(np.linalg.norm(sample.w))


def filter_unresolved(sample: Sample) -> str:
    """Why the least-squares ``w`` cannot be told from rounding on ``sample`` ("" when it can): where the filter
    reads ``s_k`` exactly and :func:`filter_rounding` reaches ``|w|``, a fit turned by a radian or more (or ``w = 0``)
    is within the tolerance too (``docs/math.md#linear-least-squares``).  (In norm: a component that is the rounding
    residue of a rotated direction, ``w_2 = 6·10⁻¹⁷`` next to ``w_1 = 1``, is below its bound and harmless.)"""
    if not sample.exact:
        return ""
    bound, size = float(np.linalg.norm(filter_rounding(sample))), float(np.linalg.norm(sample.w))
    if bound < size:
        return ""
    return (f"float64 rounding of the data can move the least-squares w by as much as w itself (bound {bound:.1e} ≥ "
            f"|w| = {size:.1e}, docs/math.md#linear-least-squares): the fitted w cannot be told from rounding")


def output_rounding(sample: Sample) -> float:
    """``Δy = Z·ε·(Σ_j |w_j|·RMS(x_j) + |b|)``: how far float64 rounding alone moves ``y = wᵀx + b`` computed from
    the drawn ``x`` (``docs/math.md#linear-rounding-covariance``)."""
    model = sample.model
    rms = np.sqrt(np.diag(model.input_covariance) + model.mean ** 2)
    return Z * EPSILON * (float(np.abs(sample.w) @ rms) + abs(sample.b))


def output_unresolved(sample: Sample) -> str:
    """Why ``y = wᵀx + b`` computed from the data is rounding rather than the neuron's output ("" when it is not):
    ``Δy`` (:func:`output_rounding`) reaches ``σ_y`` (``docs/math.md#linear-output-rounding``)."""
    delta = output_rounding(sample)
    sigma_y = math.sqrt(closed_forms.output_variance(sample.model, sample.w, sample.b))
    if delta < sigma_y:
        return ""
    return (f"y = wᵀx + b rounds by up to Δy = {delta:.1e} ≥ σ_y = {sigma_y:.2g} (|w| = {np.linalg.norm(sample.w):.1e} "
            "cancels terms much larger than y; docs/math.md#linear-output-rounding): the y computed from the data, and "
            "the patterns fitted to it, are rounding")


def equal_squares(sample: Sample) -> bool:
    """``y = ±c``: the filter reads a Rademacher component exactly, so every ``y²`` of the draw is the same number
    and sums over them round coherently (``docs/math.md#linear-rounding-repeated-terms``)."""
    return bool(sample.exact and sample.model.signal_kinds[sample.model.explained] == "rademacher")


def covariance_rounding(sample: Sample, pattern_magnitude) -> np.ndarray:
    """What float64 rounding alone can do to ``cov[x, y] − cov[S(x), y]`` per component, shape (D,), for a signal
    estimate ``S(x) = a·y`` with ``|a_i| ≤ pattern_magnitude_i`` (S_a±: the larger of ``|a₊,i|``, ``|a₋,i|``) fitted
    on the same draw (``docs/math.md#linear-rounding-covariance``)::

        Z·ε·√N·(RMS(x_i)·σ_y + |a_i|·σ²_y) + 2Δy·(sd(x_i) + 2|a_i|·σ_y)/√N,   Δy = Z·ε·(Σ_j |w_j|·RMS(x_j) + |b|).

    The first term is the rounding of the two covariances, sums of ``N`` terms of the sizes ``|x_i|·|y|`` and
    ``|a_i|·y²`` (:func:`~.tolerances.rounding_bound`); the second is that of ``y = wᵀx + b`` itself, computed once
    for the fit and once for the check (``Δy`` each): a shift ``δ`` of ``y`` moves ``a_i·var[y] − cov[x_i, y]`` by
    ``2a_i·cov[y, δ] − cov[x_i, δ]``, means of ``N`` terms of the sizes ``|a_i|σ_y·δ`` and ``sd(x_i)·δ`` whose
    roundings are uncorrelated with the data (measured: ``s = 10⁻⁶`` gives ``|cov[x, δ]| ≈ 0.3·sd(x)·RMS(δ)/√N``),
    so at most ``(2|a_i|σ_y + sd(x_i))·2Δy/√N``.  ``y`` cancels terms
    ``|w_j x_j|`` much larger than itself where the signal is small next to the distractor (``w = 10⁶·(1, −1)``
    at ``s = 10⁻⁶``) or a mean is large (``x ~ 10⁸``): there the second term is the whole tolerance.

    Where the terms of a sum are all equal their roundings add up instead of walking
    (``docs/math.md#linear-rounding-repeated-terms``): ``y = ±c`` (the filter reads a Rademacher component
    exactly) makes every ``a_i·y²`` equal, and if ``x − E[x]`` is a multiple of ``y`` as well (``Σ_x`` of rank 1)
    every ``x_i·y``; such a mean of ``N`` terms, summed one row after another, rounds by up to ``(N − 1)·(ε/2)``
    of the term, which replaces ``Z·ε·√N``."""
    model = sample.model
    variances = np.diag(model.input_covariance)
    rms = np.sqrt(variances + model.mean ** 2)
    sigma_y = math.sqrt(closed_forms.output_variance(model, sample.w, sample.b))
    a = np.abs(np.asarray(pattern_magnitude, dtype=np.float64))
    if equal_squares(sample):
        products = (coherent_rounding_bound(rms * sigma_y, sample.n) if input_rank(model) == 1
                    else rounding_bound(rms * sigma_y, sample.n))
        sums = products + coherent_rounding_bound(a * sigma_y * sigma_y, sample.n)
    else:
        sums = rounding_bound(rms * sigma_y + a * sigma_y * sigma_y, sample.n)
    return sums + 2.0 * output_rounding(sample) * (np.sqrt(variances) + 2.0 * a * sigma_y) / math.sqrt(sample.n)


def rho_rounding(sample: Sample, pattern, closed_rho: float) -> float:
    """What float64 rounding alone can do to the in-sample ρ of ``S(x) = a·y`` (``a = pattern``, (D,)) on ``sample``,
    whose population value is ``closed_rho`` (``docs/math.md#linear-rounding-rho``)::

        ρ = 1 − R,   R² = cᵀΣ⁺c/σ²_y,   Σ = cov[d̂],   c = cov[d̂, y],   v = Σ⁺c.

    The sums behind ``Σ``, ``c`` and ``σ²_y`` round by ``|E_ij| ≤ η·m_i·m_j``, ``|δc_i| ≤ η·m_i·σ_y`` and
    ``η·σ²_y`` (``m_i = sd(x_i) + |a_i|·σ_y``, the terms' scale of ``docs/math.md#rho-pseudo-inverse``;
    ``η = Z·ε·√N``, :func:`~.tolerances.rounding_bound`); to first order ``cᵀΣ⁺c`` moves by ``2vᵀδc − vᵀEv``, so
    ``R²`` by at most ``δ = η·(1 + Σ_i |v_i|·m_i/σ_y)²`` and ``R`` by ``min(√δ, δ/(2R))``.  ``v``, ``m`` and ``σ_y``
    are the population's.  Large where ``v`` is: a pattern leaving the range of a singular ``Σ_x`` by a small
    angle lets ``v`` read ``y`` along that angle, and every batch's ρ = 0 is then rounding amplified by ``|v|``."""
    model = sample.model
    covariance = model.input_covariance
    a = np.asarray(pattern, dtype=np.float64)
    w = np.asarray(sample.w, dtype=np.float64)
    variance_y = float(w @ covariance @ w)
    if variance_y <= 0:
        return 0.0
    sigma_y = math.sqrt(variance_y)
    read = covariance @ w  # cov[x, y]
    distractor = (covariance - np.outer(a, read) - np.outer(read, a) + variance_y * np.outer(a, a))  # cov[d̂]
    values, vectors = np.linalg.eigh(distractor)
    kept = values > DEFAULT_CUTOFF * values[-1]
    c = read - a * variance_y  # cov[d̂, y]
    v = vectors[:, kept] @ ((vectors[:, kept].T @ c) / values[kept])
    scale = np.sqrt(np.clip(np.diag(covariance), 0.0, None)) + np.abs(a) * sigma_y
    delta = rounding_bound((1.0 + float(np.abs(v) @ scale) / sigma_y) ** 2, sample.n)
    correlation = 1.0 - float(closed_rho)
    return float(min(math.sqrt(delta), delta / (2.0 * correlation))) if correlation > 0 else math.sqrt(delta)


def covariance_with(X, y) -> np.ndarray:
    """``cov[x, y]`` over the rows (normalised by N), shape (d,)."""
    return ((X - X.mean(axis=0)) * (y - y.mean())[:, None]).mean(axis=0)


def streamed_covariance(batches, function) -> np.ndarray:
    """``cov[u, y]`` over every row of ``batches()`` where ``function(batch) = (u (n, d), y (n,))``: two passes."""
    n, sum_u, sum_y = 0, 0.0, 0.0
    for batch in batches():
        u, y = function(batch)
        n += len(y)
        sum_u, sum_y = sum_u + u.sum(axis=0), sum_y + y.sum()
    mean_u, mean_y = sum_u / n, sum_y / n
    total = 0.0
    for batch in batches():
        u, y = function(batch)
        total = total + ((u - mean_u) * (y - mean_y)[:, None]).sum(axis=0)
    return total / n


def sample_covariance(sample: Sample, function) -> np.ndarray:
    """``cov[u, y]`` over the draw with ``function(batch) = (u, y)``: on the whole array in memory
    (:func:`covariance_with`, as the toy did), else streamed."""
    if sample.draw.in_memory:
        return covariance_with(*function(sample.draw.all()))
    return streamed_covariance(sample.batches, function)


def least_squares_design(X, intercept: bool, center=None):
    """``(design, magnitudes)``: the columns a least-squares filter is fitted on, ``x − center`` (``center`` the
    mean of ``X`` when None) with a column of ones appended when ``intercept`` (else ``X`` itself), and the
    Euclidean norm of each design column *before centring*, shape (D,) or (D + 1,): the size float64 rounds that
    column on (:func:`resolved_least_squares`)."""
    X = np.asarray(X, dtype=np.float64)
    magnitudes = np.sqrt(np.einsum("ij,ij->j", X, X))
    if not intercept:
        return X, magnitudes
    centred = X - (X.mean(axis=0) if center is None else center)
    return np.column_stack([centred, np.ones(len(X))]), np.append(magnitudes, math.sqrt(len(X)))


def least_squares_triangle(design, target, triangle=None) -> np.ndarray:
    """The triangular factor ``R`` of ``[design | target]`` (Householder QR), shape (≤ d + 1, d + 1); given the
    ``triangle`` of earlier rows, that of all the rows (``R`` of ``[R_earlier; [design | target]]``: the same
    factor up to signs, so a draw is factored batch by batch)."""
    block = np.column_stack([design, target])
    if triangle is not None:
        block = np.vstack([triangle, block])
    return np.linalg.qr(block, mode="r")


def resolved_least_squares(triangle, magnitudes, terms: int = 1):
    """``(w, rounding)``: ``argmin_w |design·w − target|``, minimum norm, from the triangle of
    :func:`least_squares_triangle`, keeping every direction the data resolves, and how far float64 rounding
    alone can move each component of ``w`` (``docs/math.md#linear-least-squares``), both shape (d,).

    The columns are first scaled to the size they are rounded on (``magnitudes``: each column's norm before
    centring; rounding the data, centring it and the QR move column ``j`` by a few ``u·magnitudes[j]``), so that
    a source ``10¹²`` times smaller than another keeps its digits: on the scaled ``R`` the rounding is a matrix
    of Frobenius norm under ``ε·√d``, and only singular values ``≤ Z·ε·√d`` are what rounding alone can make
    (dropped: the data does not resolve them; a constant input column centres to 0) — times ``log₂(terms)``, the
    roundings of the QR's own sums over ``terms`` rows, which add up where rows repeat (a noise-free Rademacher
    signal: ``15…150 ε``, ``docs/math.md#linear-least-squares-qr-rounding``).  ``np.linalg.lstsq``'s
    default ``rcond = ε·max(N, d)`` relative to the largest singular value dropped the small singular value of a
    distractor ``10¹²`` times smaller (or larger) than the signal and returned ``(1/s, 0)``.  The minimum norm
    is taken in the unscaled coordinates (the closed form's ``Σ_x⁺``): the part of the scaled solution along
    the dropped directions is projected out there.

    ``rounding``: a perturbation ``E`` of the design moves ``w`` by ``−A⁺E·w``, so component ``j`` by at most
    ``|row j of A⁺|·Σ_l |w_l|·|E_l|``, with ``|row j of A⁺| = sqrt((AᵀA)⁺_jj)``; with ``|E_l|`` the rounding of
    ``terms`` roundings of column ``l`` this is :func:`~.tolerances.rounding_bound` of the magnitude
    ``M_j = sqrt((AᵀA)⁺_jj)·Σ_l |w_l|·magnitudes[l]`` (``≈ s/√3`` times ``w``'s component that cancels a
    distractor next to a signal ``s`` times larger), plus ``Z·ε·|w|`` for the solve's own arithmetic (a dropped
    direction's component is 0 only to that)."""
    triangle = np.asarray(triangle, dtype=np.float64)
    d = triangle.shape[1] - 1
    r = np.zeros((d, d))
    rows = min(d, triangle.shape[0])
    r[:rows] = triangle[:rows, :d]
    rhs = np.zeros(d)
    rhs[:rows] = triangle[:rows, d]
    magnitudes = np.asarray(magnitudes, dtype=np.float64)
    scale = np.where(magnitudes > 0, magnitudes, 1.0)
    left, values, right = np.linalg.svd(r / scale)
    # the QR's own sums of `terms` rows round coherently where rows repeat (a Rademacher signal without noise: two
    # distinct rows), up to log₂(terms) roundings (docs/math.md#linear-least-squares-qr-rounding)
    kept = values > Z * EPSILON * math.sqrt(d) * max(1.0, math.log2(max(terms, 1)))
    solution = (right[kept].T @ ((left[:, kept].T @ rhs) / values[kept])) / scale
    if not np.all(kept):
        null = np.linalg.qr((right[~kept] / scale).T)[0]  # R·n = 0 for n = C⁻¹v (v a dropped right vector)
        solution = solution - null @ (null.T @ solution)
    inverse_rows = np.sqrt(np.sum((right[kept].T / values[kept]) ** 2, axis=1)) / scale  # sqrt((AᵀA)⁺_jj)
    rounding = rounding_bound(inverse_rows * float(np.abs(solution) @ magnitudes), terms)
    return solution, rounding + Z * EPSILON * float(np.linalg.norm(solution))  # + the solve's own arithmetic


def least_squares_with_intercept(X, y, intercept: bool) -> np.ndarray:
    """The filter part of the least-squares fit of ``y`` on ``x`` (and a constant when ``intercept``).

    With an intercept the inputs are centred first (on their mean), so that among the filters that
    fit equally well the minimum-norm ``w`` is returned, as the closed forms give it, not the ``w``
    of the minimum-norm pair ``(w, b)``: where an input direction is constant (a distractor with a
    mean but no variance) the two differ (``docs/math.md#linear-rounding``)."""
    solution, _ = least_squares_with_rounding(X, y, intercept)
    return solution


def least_squares_with_rounding(X, y, intercept: bool):
    """:func:`least_squares_with_intercept` and how far rounding alone can move each component of ``w``
    (:func:`resolved_least_squares`), each shape (D,)."""
    design, magnitudes = least_squares_design(X, intercept)
    solution, rounding = resolved_least_squares(least_squares_triangle(design, y), magnitudes, len(X))
    return (solution[:-1], rounding[:-1]) if intercept else (solution, rounding)


def streamed_least_squares(batches, target, intercept: bool, center=None):
    """:func:`least_squares_with_rounding` over streamed batches (``x − center`` with a 1 appended when
    ``intercept``; ``center`` the model's mean input, default 0): the triangle of ``[design | target]`` is
    updated batch by batch (:func:`least_squares_triangle`), never the normal equations, whose Gram matrix
    squares the condition number (a source ``10⁸`` times smaller than another would be lost in it)."""
    triangle, squares, rows = None, 0.0, 0
    for batch in batches():
        design, magnitudes = least_squares_design(batch.X, intercept, 0.0 if center is None else center)
        triangle = least_squares_triangle(design, target(batch), triangle)
        squares, rows = squares + magnitudes ** 2, rows + len(batch)
    solution, rounding = resolved_least_squares(triangle, np.sqrt(squares), rows)
    return (solution[:-1], rounding[:-1]) if intercept else (solution, rounding)


def sample_least_squares(sample: Sample):
    """``(w, rounding)``: the least-squares filter of the explained component ``s_k`` on the draw, with an
    intercept when the model's mean input is not 0 (on the array in memory, else streamed), and how far
    rounding alone can move each of its components (:func:`resolved_least_squares`)."""
    intercept = bool(np.any(sample.model.mean))
    k = sample.k
    if sample.draw.in_memory:
        whole = sample.draw.all()
        return least_squares_with_rounding(whole.X, whole.s[:, k], intercept)
    return streamed_least_squares(sample.batches, lambda batch: batch.s[:, k], intercept,
                                  sample.model.mean if intercept else None)


def part_least_squares(part, k: int, intercept: bool) -> np.ndarray:
    """The least-squares filter on one part (a :class:`~refpattern.linear.sampling.LinearBatch`), centred on
    the part's own mean when ``intercept``."""
    return least_squares_with_intercept(part.X, part.s[:, k], intercept)


def sample_max(sample: Sample, function) -> float:
    """``max`` of ``function(batch)`` (a number per batch) over the draw's batches."""
    return float(max(function(batch) for batch in sample.batches()))


def fit(net, X, estimator, seed, variant="paper"):
    """The patterns of ``net`` fitted on ``X`` (no progress lines: the claims fit thousands of times)."""
    return fit_patterns(net, X, estimator=estimator, batch_size=FIT_BATCH_SIZE, variant=variant, seed=seed,
                        progress=False)


def neuron_pattern(patterns, neuron: int = 0) -> np.ndarray:
    """Neuron ``neuron``'s ``a`` of the first kernel layer (estimators "a", "w", "random"), shape (D,)."""
    return np.asarray(patterns[0].a, dtype=np.float64)[neuron]


def neuron_relu_patterns(patterns, neuron: int = 0) -> np.ndarray:
    """Neuron ``neuron``'s ``(a₊, a₋)`` of the first kernel layer stacked, shape (2D,)."""
    return np.concatenate([np.asarray(patterns[0].a_plus, dtype=np.float64)[neuron],
                           np.asarray(patterns[0].a_minus, dtype=np.float64)[neuron]])


def neuron_rho(net, X, patterns, fit_v_on=None) -> float:
    """ρ (Eq. 1) of the single neuron on ``X`` (``v`` fitted on ``fit_v_on``, default ``X``)."""
    return float(np.asarray(rho(net, X, patterns, fit_v_on=fit_v_on, batch_size=FIT_BATCH_SIZE, progress=False),
                            dtype=np.float64)[0])


def relu_signal_estimate(relu_patterns, y, bias=0.0) -> np.ndarray:
    """``S_a±(x) = a₊·y`` where ``y + b > 0`` else ``a₋·y``, shape (N, D)."""
    half = len(relu_patterns) // 2
    a_plus, a_minus = relu_patterns[:half], relu_patterns[half:]
    return np.where((y + bias > 0)[:, None], a_plus, a_minus) * y[:, None]


def rho_text(value) -> str:
    """ρ with six decimals, or ``"undefined"`` (NaN: the estimator leaves no distractor, as ``S_x``)."""
    return "undefined" if np.isnan(value) else f"{value:.6f}".replace("-0.000000", "0.000000")


# --- text -----------------------------------------------------------------------------------------

SHOWN_ENTRIES = 4
"""Vectors longer than this are shown by their first entries and their length."""


def vector_text(values, digits: int = 3, style: str = "f") -> str:
    """:func:`~refpattern.experiments.report.format_vector`, shortened to the first entries for long vectors."""
    values = np.ravel(values)
    if len(values) <= SHOWN_ENTRIES:
        return format_vector(values, digits, style)
    return format_vector(values[:SHOWN_ENTRIES - 1], digits, style)[:-1] + f", … ({len(values)} entries))"


def exact_vector_text(values) -> str:
    """A vector of small integers as ``(1, −1)`` (typographic minus), any other as :func:`vector_text`."""
    values = np.ravel(np.asarray(values, dtype=np.float64))
    if len(values) <= SHOWN_ENTRIES and np.all(values == np.round(values)) and np.all(np.abs(values) < 1e6):
        return "(" + ", ".join(f"{int(v)}".replace("-", "−") for v in values + 0.0) + ")"
    return vector_text(values)


def mean_text(mean) -> str:
    """``μ`` as the claims print it: ``0``, ``1``, ``-0.5`` or ``(0.5, 1, …)``."""
    values = np.ravel(mean)
    if len(values) and np.all(values == values[0]):
        return f"{values[0]:g}"
    return vector_text(values, 3)
