"""The toy's claims about the learned pattern ``S_a`` (``docs/math.md#toy-claim-4``).

* ``S_a`` recovers the signal direction: ``a = cov[x, y]/σ²_y = a_s`` (:func:`claim_pattern_recovers_signal`),
  with an error that shrinks like ``1/√N`` (:func:`claim_error_rate`);
* PatternNet returns ``a·y = s`` (:func:`claim_pattern_net`);
* PatternAttribution returns ``w ⊙ a·y``, whose sum is ``y`` (:func:`claim_pattern_attribution`).
"""

from __future__ import annotations

import numpy as np

from refpattern.experiments.ledger import FAILS, HOLDS, Claim
from refpattern.experiments.report import format_vector
from refpattern.experiments.toy import model
from refpattern.experiments.toy.measurements import fit, neuron_pattern
from refpattern.experiments.toy.tolerances import EXACT, Z, in_standard_errors, within
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


def claim_pattern_recovers_signal(data, a, se) -> Claim:
    """The fitted ``a = cov[x, y]/σ²_y`` is ``a_s`` within ±Z·``se`` (batch-means SE) per component;
    the closed-form SE ``|a_d|σ/√(σ²_y N)`` is reported next to it."""
    error = float(np.max(np.abs(a - data.a_s)))
    holds = within(a, data.a_s, se)
    closed_form_se = np.abs(data.a_d) * data.sigma / np.sqrt(model.SIGMA_Y2 * data.n_samples)
    return Claim(
        "pattern_recovers_signal", "S_a recovers the signal direction a_s",
        f"a = cov[x,y]/σ²_y = a_s = (1, 0) (±{Z:.0f} SE per component)",
        f"a = {format_vector(a, 5)}, |a − a_s|∞ = {error:.2e} = {in_standard_errors(a, data.a_s, se):.1f} SE "
        f"(SE {format_vector(se, 1, 'e')})",
        HOLDS if holds else FAILS,
        source="docs/math.md#toy-claim-4", must_hold=True,
        numbers={"a": a, "a_s": data.a_s, "standard_error": se, "max_abs_error": error,
                 "closed_form_standard_error": closed_form_se},
    )


def claim_error_rate(n_samples, seed, net) -> Claim:
    """RMS of ``|a − a_s|`` at several batch sizes ``n``, slope of ``log RMS`` on ``log n``.

    Each size gets its own fresh draw (so the sizes are independent), split into
    ``m ≥ RATE_MIN_BATCHES`` batches of ``n``; ``RMS_n² = mean_batches |a − a_s|²``.  By the
    delta method ``var(log RMS_n) = κ / (4m)`` with ``κ = var(e²)/E[e²]²`` (κ = 2 for a
    Gaussian error along one direction, as here), pooled over sizes, so the weighted
    least-squares slope has ``SE = sqrt(κ/4 / Σ m (log n − mean)²)``.
    """
    sizes, rms, chunks, kappas = [], [], [], []
    n = n_samples // RATE_MIN_BATCHES
    level = 0
    while n >= RATE_MIN_BATCH_SIZE:
        m = min(n_samples // n, RATE_MAX_BATCHES)
        draw = model.make_toy(n * m, seed=[seed, 1, level])
        errors = np.array([np.sum((neuron_pattern(fit(net, part, "a", seed)) - draw.a_s) ** 2)
                           for part in np.split(draw.X, m)])
        sizes.append(n)
        chunks.append(m)
        rms.append(np.sqrt(errors.mean()))
        kappas.append(errors.var(ddof=1) / errors.mean() ** 2)
        level += 1
        n = int(round(sizes[0] / RATE_STEP ** level))
    m, x, y = np.array(chunks), np.log(sizes), np.log(rms)
    kappa = float(np.sum((m - 1) * kappas) / np.sum(m - 1))
    x_bar = np.sum(m * x) / m.sum()
    slope = float(np.sum(m * (x - x_bar) * y) / np.sum(m * (x - x_bar) ** 2)) if len(sizes) > 1 else np.nan
    slope_se = float(np.sqrt(kappa / 4 / np.sum(m * (x - x_bar) ** 2))) if len(sizes) > 1 else np.nan
    holds = len(sizes) >= 2 and abs(slope + 0.5) <= Z * slope_se
    asymptotic = np.sqrt(2.0) * 1.0 / np.sqrt(model.SIGMA_Y2)  # RMS·√n → |a_d|·σ/σ_y
    scaled = np.sqrt(sizes) * np.array(rms)
    return Claim(
        "pattern_error_rate", "the S_a error shrinks like 1/√N",
        f"slope of log RMS|a − a_s| vs log n = −0.5 (±{Z:.0f} SE); RMS·√n → |a_d|σ/σ_y = {asymptotic:.3f}",
        f"slope {slope:+.3f} ± {slope_se:.3f} over n = {sizes[-1]}…{sizes[0]} ({len(sizes)} sizes, "
        f"{int(m.sum())} fits); RMS·√n = {scaled.min():.3f}…{scaled.max():.3f}",
        HOLDS if holds else FAILS,
        source="docs/math.md#toy-claim-4", must_hold=True,
        numbers={"sizes": sizes, "batches_per_size": chunks, "rms_error": rms, "kappa_per_size": kappas,
                 "kappa_pooled": kappa, "slope": slope, "slope_standard_error": slope_se,
                 "rms_times_sqrt_n": scaled, "asymptotic_rms_times_sqrt_n": asymptotic},
    )


def claim_pattern_net(data, net, patterns, a, y_out, se) -> Claim:
    """PatternNet of ``wᵀx`` is ``a·y`` to rounding, and ``s = a_s·y`` up to ``|a − a_s|·|y| ≤ Z·se·max|y|``."""
    signal = explain(net, data.X, "pattern.net", patterns=patterns)
    identity_gap = float(np.max(np.abs(signal - a * y_out[:, None])))
    signal_gap = float(np.max(np.abs(signal - data.s)))
    bound = float(np.max(Z * se) * np.max(np.abs(data.y)) + EXACT)  # PatternNet − s = (a − a_s)·y
    holds = identity_gap <= EXACT and signal_gap <= bound
    return Claim(
        "pattern_net_returns_signal", "PatternNet returns a_s·y = s",
        f"PatternNet(x) = a·y exactly (to {EXACT:.0e}); = s up to the pattern's error (≤ {Z:.0f} SE·|y|)",
        f"max |PN − a·y| = {identity_gap:.1e}; max |PN − s| = {signal_gap:.2e} (bound {bound:.2e})",
        HOLDS if holds else FAILS,
        source="docs/math.md#toy-claim-4", must_hold=True,
        numbers={"max_abs_gap_to_a_y": identity_gap, "max_abs_gap_to_s": signal_gap, "bound_gap_to_s": bound},
    )


def claim_pattern_attribution(data, net, patterns, a, y_out) -> Claim:
    """PatternAttribution of ``wᵀx`` is ``w ⊙ a·y`` and sums to ``wᵀa·y = y`` (both to rounding)."""
    attribution = explain(net, data.X, "pattern.attribution", patterns=patterns)
    identity_gap = float(np.max(np.abs(attribution - data.w * a * y_out[:, None])))
    sum_gap = float(np.max(np.abs(attribution.sum(axis=1) - data.y)))
    holds = identity_gap <= EXACT and sum_gap <= EXACT
    return Claim(
        "pattern_attribution_sums_to_y", "PatternAttribution returns w ⊙ a_s·y, whose sum is y",
        f"PA(x) = w ⊙ a·y and Σ_i PA_i = y (wᵀa = 1), both to {EXACT:.0e}",
        f"max |PA − w⊙a·y| = {identity_gap:.1e}; max |ΣPA − y| = {sum_gap:.1e}; wᵀa − 1 = {data.w @ a - 1:.1e}",
        HOLDS if holds else FAILS,
        source="docs/math.md#toy-claim-4", must_hold=True,
        numbers={"max_abs_gap_to_w_a_y": identity_gap, "max_abs_sum_gap": sum_gap,
                 "w_dot_a_minus_1": float(data.w @ a - 1)},
    )

