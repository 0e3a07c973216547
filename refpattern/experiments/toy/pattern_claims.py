"""The claims about the learned pattern ``S_a`` (``docs/math.md#toy-claim-4``), on any linear model.

* ``S_a`` recovers the signal direction: ``a = cov[x, y]/σ²_y = p_k/(wᵀp_k)`` — ``a_s`` on the toy,
  ``a_s + A_dᵀB_k`` when a distractor correlates with the signal (``docs/math.md#linear-patterns``;
  :func:`claim_pattern_recovers_signal`), with an error that shrinks like ``1/√N``
  (:func:`claim_error_rate`);
* PatternNet returns ``a·y`` — the signal ``p_k·s_k`` where the filter reads ``s_k`` exactly
  (:func:`claim_pattern_net`);
* PatternAttribution returns ``w ⊙ a·y``, whose sum is ``y`` (:func:`claim_pattern_attribution`).
"""

from __future__ import annotations

import numpy as np

from refpattern.experiments.ledger import FAILS, HOLDS, Claim
from refpattern.experiments.toy.measurements import (
    Sample,
    equal_squares,
    exact_vector_text,
    fit,
    neuron_pattern,
    pattern_scale,
    vector_text,
)
from refpattern.experiments.toy.tolerances import (
    EPSILON,
    EXACT,
    Z,
    coherent_rounding_bound,
    magnitude,
    resolved_from_zero,
    rounding_bound,
    standard_errors_text,
    within,
)
from refpattern.linear import closed_forms
from refpattern.linear.sampling import Draw
from refpattern.methods import explain

RATE_MIN_BATCHES = 20
"""The error rate: every batch size gets at least this many independent batches …"""
RATE_MAX_BATCHES = 1000
"""… and at most this many (to bound the number of fits) …"""
RATE_MIN_BATCH_SIZE = 200
"""… of at least this many samples; sizes step down by ``RATE_STEP`` from ``N / RATE_MIN_BATCHES``."""
RATE_STEP = 10 ** (1 / 3)

MIN_SAMPLES = 10_000
"""Smallest sample size of a check: two batch sizes ≥ ``RATE_MIN_BATCH_SIZE`` with ``RATE_MIN_BATCHES`` batches each."""


def pattern_label(sample: Sample) -> str:
    """How the texts call S_a's closed form ``p_k/(wᵀp_k)``: ``a_s`` where it is ``a_s`` (the toy),
    ``a_s/(wᵀa_s)`` where it is parallel to it, ``p`` (``= a_s + A_dᵀB_k``, a distractor correlated with
    the signal) or ``p/(wᵀp)``."""
    a, a_s = sample.pattern, sample.a_s
    p = sample.model.effective_directions[sample.k]
    base = "a_s" if np.array_equal(p, a_s) else "p"
    return base if np.array_equal(a, p) else f"{base}/(wᵀ{base})"


def signal_definition(sample: Sample) -> str:
    """`` (p = a_s + A_dᵀB_k …)`` where the label uses ``p``, else ""."""
    return (" (p = a_s + A_dᵀB_k: the distractors' part correlated with s_k is signal by Eq. 2)"
            if "p" in pattern_label(sample).replace("wᵀp", "") else "")


def claim_pattern_recovers_signal(sample: Sample, a, se) -> Claim:
    """The fitted ``a = cov[x, y]/σ²_y`` is its closed form (``a_s`` on the toy) within ±Z·``se``
    (batch-means SE) per component; the closed-form SE (``docs/math.md#linear-standard-errors``) is
    reported next to it."""
    expected = sample.pattern
    label = pattern_label(sample)
    error = float(np.max(np.abs(a - expected)))
    rounding = rounding_bound(magnitude(expected), sample.n)
    holds = within(a, expected, se, rounding)
    closed_form_se = closed_forms.activation_pattern_standard_error(sample.model, sample.w, sample.n, sample.b)
    # decided from the model before the measurement (docs/math.md#toy-claim-4-resolution)
    resolved = resolved_from_zero(expected, closed_form_se, rounding)
    statement = ("S_a recovers the signal direction a_s" if label.startswith("a_s") else
                 "S_a recovers the signal direction p" + signal_definition(sample))
    numbers = {"a": a, "a_s": sample.a_s, "standard_error": se, "max_abs_error": error,
               "closed_form_standard_error": closed_form_se}
    if label != "a_s":
        numbers["closed_form"] = expected
    measured = (f"a = {vector_text(a, 5)}, |a − {label}|∞ = {error:.2e} = "
                f"{standard_errors_text(a, expected, se, rounding)} (SE {vector_text(se, 1, 'e')})")
    if not resolved:
        measured += "; " + unresolved_pattern_text(label, closed_form_se)
        numbers["pattern_resolved"] = False
    return Claim(
        "pattern_recovers_signal", statement,
        f"a = cov[x,y]/σ²_y = {label} = {exact_vector_text(expected)} (±{Z:.0f} SE per component)",
        measured,
        HOLDS if holds else FAILS,
        source="docs/math.md#toy-claim-4", must_hold=True, numbers=numbers,
    )


def unresolved_pattern_text(label: str, se, kind: str = "closed-form SE") -> str:
    """What a claim that compares a pattern with its closed form ``label`` says where the closed form is within
    ``Z`` SE of 0 in every component (:func:`~.tolerances.resolved_from_zero`, ``se`` of the ``kind`` the rule
    used; ``docs/math.md#toy-claim-4-resolution``): the filter claims' "not resolved at this N" convention."""
    return (f"{label} is within {Z:g} SE of 0 in every component ({kind} {vector_text(se, 1, 'e')}): "
            "not resolved at this N, only consistency is checked")


def claim_error_rate(sample: Sample, seed) -> Claim:
    """RMS of ``|a − a*|`` (``a*`` the closed form) at several batch sizes ``n``, slope of ``log RMS`` on ``log n``.

    Each size gets its own fresh draw (so the sizes are independent), split into
    ``m ≥ RATE_MIN_BATCHES`` batches of ``n``; ``RMS_n² = mean_batches |a − a*|²``.  By the
    delta method ``var(log RMS_n) = κ / (4m)`` with ``κ = var(e²)/E[e²]²`` (κ = 2 for a
    Gaussian error along one direction, as on the toy), pooled over sizes, so the weighted
    least-squares slope has ``SE = sqrt(κ/4 / Σ m (log n − mean)²)``.  ``RMS·√n`` tends to
    ``sqrt(Σ_i n·var[â_i])`` (``docs/math.md#linear-standard-errors``).
    """
    n_samples, net, expected = sample.n, sample.net, sample.pattern
    sizes, rms, chunks, kappas = [], [], [], []
    for level, n, resolved in rate_sizes(sample):
        if not resolved:  # rounding as large as the sampling error: no 1/√n to see at this n
            continue
        m = min(n_samples // n, RATE_MAX_BATCHES)
        draw = Draw(sample.model, n * m, seed=[seed, 1, level])
        errors = np.array([np.sum((neuron_pattern(fit(net, part.X, "a", seed)) - expected) ** 2)
                           for part in draw.parts(m)])
        sizes.append(n)
        chunks.append(m)
        rms.append(np.sqrt(errors.mean()))
        # κ is scale-free: take it in units of a power of two near |a*|² (exact, and no overflow of e⁴)
        unit = 2.0 ** (2 * np.frexp(magnitude(expected))[1])
        kappas.append((errors / unit).var(ddof=1) / (errors / unit).mean() ** 2)
    m, x, y = np.array(chunks), np.log(sizes), np.log(rms)
    kappa = float(np.sum((m - 1) * kappas) / np.sum(m - 1))
    x_bar = np.sum(m * x) / m.sum()
    slope = float(np.sum(m * (x - x_bar) * y) / np.sum(m * (x - x_bar) ** 2)) if len(sizes) > 1 else np.nan
    slope_se = float(np.sqrt(kappa / 4 / np.sum(m * (x - x_bar) ** 2))) if len(sizes) > 1 else np.nan
    holds = len(sizes) >= 2 and abs(slope + 0.5) <= Z * slope_se
    asymptotic = asymptotic_rms(sample)
    scaled = np.sqrt(sizes) * np.array(rms)
    label = pattern_label(sample)
    model = sample.model
    limit = ("|a_d|σ/σ_y" if sample.exact and model.distractors == 1 and model.signals == 1 and not model.has_noise
             and label == "a_s" else "sqrt(Σ_i n·var[a_i])")
    return Claim(
        "pattern_error_rate", "the S_a error shrinks like 1/√N",
        f"slope of log RMS|a − {label}| vs log n = −0.5 (±{Z:.0f} SE); RMS·√n → {limit} = {asymptotic:.3f}",
        f"slope {slope:+.3f} ± {slope_se:.3f} over n = {sizes[-1]}…{sizes[0]} ({len(sizes)} sizes, "
        f"{int(m.sum())} fits); RMS·√n = {scaled.min():.3f}…{scaled.max():.3f}",
        HOLDS if holds else FAILS,
        source="docs/math.md#toy-claim-4", must_hold=True,
        numbers={"sizes": sizes, "batches_per_size": chunks, "rms_error": rms, "kappa_per_size": kappas,
                 "kappa_pooled": kappa, "slope": slope, "slope_standard_error": slope_se,
                 "rms_times_sqrt_n": scaled, "asymptotic_rms_times_sqrt_n": asymptotic},
    )


def rate_sizes(sample: Sample) -> list:
    """``[(level, n, resolved), …]``: the batch sizes of :func:`claim_error_rate` (``N/RATE_MIN_BATCHES`` stepping
    down by ``RATE_STEP`` to ``RATE_MIN_BATCH_SIZE``; ``level`` seeds each size's draw) and whether S_a's sampling
    error at ``n``, ``sqrt(Σ_i n·var[â_i])/√n`` (:func:`asymptotic_rms`), exceeds what rounding alone does to the
    estimate from ``n`` samples, ``|Z·ε·√n·M|`` with ``M_i = RMS(x_i)/σ_y`` (:func:`~.measurements.pattern_scale`,
    ``docs/math.md#linear-rounding-scale``).  The error falls like ``1/√n`` while rounding grows like ``√n``, so the
    rate is measurable only below ``n* = sqrt(Σ n·var)/|Z·ε·M|``: a signal ``10¹⁵`` times the distractor has
    ``|M| ≈ 10¹⁵`` and ``n* ≈ 2``."""
    sampling = asymptotic_rms(sample)
    scale = float(np.linalg.norm(pattern_scale(sample)))
    rows, n, level = [], sample.n // RATE_MIN_BATCHES, 0
    first = n
    while n >= RATE_MIN_BATCH_SIZE:
        rows.append((level, n, bool(sampling / np.sqrt(n) > rounding_bound(scale, n))))
        level += 1
        n = int(round(first / RATE_STEP ** level))
    return rows


def error_rate_unmeasurable(sample: Sample) -> str:
    """Why S_a's ``1/√N`` error rate cannot be measured on ``sample`` (fewer than two batch sizes where its
    sampling error exceeds its rounding, :func:`rate_sizes`), or ""."""
    rows = rate_sizes(sample)
    if sum(resolved for _, _, resolved in rows) >= 2:
        return ""
    sampling = asymptotic_rms(sample)
    scale = float(np.linalg.norm(pattern_scale(sample)))
    crossing = sampling / (Z * EPSILON * scale)
    return (f"rounding of S_a's estimate (Z·ε·√n·M, |M| = |RMS(x_i)/σ_y| = {scale:.1e}) exceeds its sampling error "
            f"({sampling:.3g}/√n) above n = {crossing:.3g}, so at fewer than two of the batch sizes n = "
            f"{rows[-1][1]}…{rows[0][1]} is there a 1/√n rate to measure (docs/math.md#linear-rounding-scale)")


def asymptotic_rms(sample: Sample) -> float:
    """``lim RMS|â − a|·√n = sqrt(Σ_i n·var[â_i])``; written ``sqrt(tr Σ_r)/σ_y`` without excess kurtosis
    (the toy's ``|a_d|σ/σ_y = √6``, to the last bit)."""
    model, w, b = sample.model, sample.w, sample.b
    se = closed_forms.activation_pattern_standard_error(model, w, 1, b)
    gains = model.effective_directions @ w
    residual = model.effective_directions - np.outer(gains, closed_forms.activation_pattern(model, w, b))
    if not np.any(residual * (gains * closed_forms.standardized_excess_kurtosis(model))[:, None]):
        trace = float(np.trace(closed_forms.residual_covariance(model, w, b)))
        return float(np.sqrt(trace) / np.sqrt(closed_forms.output_variance(model, w, b)))
    return float(np.sqrt(np.sum(se ** 2)))


def signal_reference(sample: Sample, batch, y_out):
    """What PatternNet should return on ``batch``: ``p_k·s_k`` (the signal; ``a_s·y = s`` on the toy) where
    the filter reads ``s_k`` exactly, else the closed-form pattern times the output, ``a*·(wᵀx + b)``."""
    if sample.exact:
        return batch.s[:, sample.k][:, None] * sample.pattern
    return y_out[:, None] * sample.pattern


def amplitude(sample: Sample, batch, y_out):
    """``s_k`` where the filter reads it exactly (the toy's ``y``), else the output ``wᵀx + b``."""
    return batch.s[:, sample.k] if sample.exact else y_out


def claim_pattern_net(sample: Sample, patterns, a, se) -> Claim:
    """PatternNet of ``wᵀx + b`` is ``a·y`` to rounding, and the signal up to ``|a − a*|·|y| ≤ Z·se·max|y|``."""
    net = sample.net
    identity_gap = signal_gap = largest = 0.0
    for batch in sample.batches():
        y_out = net.forward(batch.X)[:, 0]
        signal = explain(net, batch.X, "pattern.net", patterns=patterns)
        identity_gap = max(identity_gap, float(np.max(np.abs(signal - a * y_out[:, None]))))
        signal_gap = max(signal_gap, float(np.max(np.abs(signal - signal_reference(sample, batch, y_out)))))
        largest = max(largest, float(np.max(np.abs(amplitude(sample, batch, y_out)))))
    # PatternNet − signal = (a − a*)·y; where S_a has no sampling error, what rounding alone can do
    bound = max(float(np.max(Z * se) * largest + EXACT), rounding_bound(magnitude(sample.pattern) * largest, sample.n))
    label = pattern_label(sample)
    if sample.exact and label == "a_s":
        statement, target = "PatternNet returns a_s·y = s", "s"
    elif sample.exact:
        statement, target = "PatternNet returns the signal p·s_k" + signal_definition(sample), "p·s_k"
    else:
        statement, target = (f"PatternNet returns {label}·(wᵀx + b) (the filter's output is not s_k here)",
                             f"{label}·y")
    return Claim(
        "pattern_net_returns_signal", statement,
        f"PatternNet(x) = a·y exactly (to {EXACT:.0e}); = {target} up to the pattern's error (≤ {Z:.0f} SE·|y|)",
        f"max |PN − a·y| = {identity_gap:.1e}; max |PN − {target}| = {signal_gap:.2e} (bound {bound:.2e})",
        HOLDS if identity_gap <= EXACT and signal_gap <= bound else FAILS,
        source="docs/math.md#toy-claim-4", must_hold=True,
        numbers={"max_abs_gap_to_a_y": identity_gap, "max_abs_gap_to_s": signal_gap, "bound_gap_to_s": bound},
    )


def claim_pattern_attribution(sample: Sample, patterns, a) -> Claim:
    """PatternAttribution of ``wᵀx + b`` is ``w ⊙ a·y`` and sums to ``wᵀa·y = y`` (both to rounding)."""
    net, w = sample.net, sample.w
    identity_gap = sum_gap = identity_bound = sum_bound = 0.0
    # rounding alone (docs/math.md#linear-rounding-scale): wᵀa − 1 is a ratio of sums over the draw whose terms
    # are of the size Σ_i |w_i|·M_i (M_i = RMS(x_i)/σ_y); each product w_i·a_i·y and the sum of the D of them
    # round on |w_i a_i y|; y = wᵀx + b itself on Σ_i |w_i x_i| + |b| (a distractor 10⁶ times the signal
    # gives w = 10⁶·(1, −1): y cancels 10⁶-sized terms; a mean 10⁸ does the same to x)
    gain_rounding = rounding_bound(float(np.abs(w) @ pattern_scale(sample)), sample.n)
    if equal_squares(sample):  # var[y] sums equal terms y² = c² (docs/math.md#linear-rounding-repeated-terms)
        gain_rounding = coherent_rounding_bound(float(np.abs(w) @ pattern_scale(sample)), sample.n)
    for batch in sample.batches():
        y_out = net.forward(batch.X)[:, 0]
        attribution = explain(net, batch.X, "pattern.attribution", patterns=patterns)
        identity_gap = max(identity_gap, float(np.max(np.abs(attribution - w * a * y_out[:, None]))))
        sum_gap = max(sum_gap, float(np.max(np.abs(attribution.sum(axis=1) - amplitude(sample, batch, y_out)))))
        identity_bound = max(identity_bound, Z * EPSILON * float(np.max(np.abs(w * a) * np.abs(y_out)[:, None])))
        products = gain_rounding + Z * EPSILON * len(w) * float(np.abs(w * a).sum())
        sum_bound = max(sum_bound, float(np.max(np.abs(y_out) * products
                                                + Z * EPSILON * (np.abs(batch.X) @ np.abs(w) + abs(sample.b)))))
    holds = identity_gap <= identity_bound and sum_gap <= sum_bound
    return Claim(
        "pattern_attribution_sums_to_y", f"PatternAttribution returns w ⊙ {pattern_label(sample)}·y, whose sum is y",
        f"PA(x) = w ⊙ a·y and Σ_i PA_i = y (wᵀa = 1), both to rounding ({identity_bound:.0e}, {sum_bound:.0e})",
        f"max |PA − w⊙a·y| = {identity_gap:.1e}; max |ΣPA − y| = {sum_gap:.1e}; wᵀa − 1 = {w @ a - 1:.1e}",
        HOLDS if holds else FAILS,
        source="docs/math.md#toy-claim-4", must_hold=True,
        numbers={"max_abs_gap_to_w_a_y": identity_gap, "max_abs_sum_gap": sum_gap,
                 "w_dot_a_minus_1": float(w @ a - 1), "bound_gap_to_w_a_y": identity_bound,
                 "bound_sum_gap": sum_bound},
    )
