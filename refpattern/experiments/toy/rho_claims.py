"""The claims about ρ (Eq. 1) and the optimum Eq. 2 (``docs/math.md#toy-rho``, ``docs/math.md#linear-rho``,
``docs/math.md#eq2``), on any linear model.

* the ranking ρ(S_a) = 1 ≥ ρ(S_a±), then S_a±, S_w and the random baseline's mean in the order
  their closed forms give (on the toy ρ(S_a±) > ρ(S_w) > E[ρ(random)]), ρ(S_x) undefined;
* ρ(S_w) against its closed form (:func:`~refpattern.linear.closed_forms.filter_rho`);
* the random baseline: one draw's ρ against its closed form, and over many directions the mean of
  ρ and the probability that one beats S_w against :func:`~refpattern.linear.closed_forms.random_baseline`
  (:func:`claim_rho` measures all three);
* ρ(random) against the dimension ``D`` (:func:`claim_rho_against_dimension`);
* Eq. 2: ``cov[x, y] = cov[S(x), y]`` on the fitting data for S_a and S_a± (:func:`claim_optimum_identity`).

ρ measured on data needs batches of :data:`~.measurements.RHO_SAMPLES_PER_DIMENSION` samples per
dimension; below that only what needs no data (the random baseline's distribution) is measured.
"""

from __future__ import annotations

import numpy as np

from refpattern.experiments.ledger import FAILS, HOLDS, Claim
from refpattern.experiments.toy.measurements import (
    RHO_SAMPLES_PER_DIMENSION,
    Sample,
    covariance_rounding,
    fit,
    mean_text,
    neuron_pattern,
    neuron_relu_patterns,
    neuron_rho,
    no_distractor_left,
    relu_signal_estimate,
    rho_rounding,
    rho_text,
    sample_covariance,
)
from refpattern.experiments.toy.tolerances import (
    BATCHES,
    EXACT,
    RELATIVE_EXACT,
    Z,
    batch_standard_error,
    in_standard_errors,
    rounding_bound,
    standard_errors_text,
    within,
)
from refpattern.linear import closed_forms, planar
from refpattern.patterns import resolve_estimator

RANDOM_DIRECTIONS = 2000
"""Draws of the random estimator (seeds 0, 1, …) for the distribution of ρ(random)."""

RELATION_MARGIN = 1e-6
"""Closed forms closer than this are ranked equal (``=`` instead of ``>``)."""


def rho_measurable(sample: Sample) -> str:
    """Why ρ cannot be measured on data here ("" when it can)."""
    if sample.parts_measurable(RHO_SAMPLES_PER_DIMENSION, BATCHES):
        return ""
    return (f"ρ on data needs N ≥ {BATCHES}·{RHO_SAMPLES_PER_DIMENSION}·D = "
            f"{BATCHES * RHO_SAMPLES_PER_DIMENSION * sample.model.dimension} (N = {sample.n})")


def relation(left: float, right: float) -> str:
    """``">"``, ``"<"`` or ``"="`` between two closed forms (``RELATION_MARGIN``)."""
    if left - right > RELATION_MARGIN:
        return ">"
    if right - left > RELATION_MARGIN:
        return "<"
    return "="


def claim_rho(sample: Sample, seed, directions: int = RANDOM_DIRECTIONS):
    """ρ of every estimator on the fitting data; S_w and the random baseline against closed forms.

    Returns ``([ranking, filter closed form, random baseline], {estimator: in-sample ρ}, [why, why, why])``:
    a claim is None, with the reason, where ρ on data is not measurable at this ``N`` or where ρ is ``0/0``
    (S_a, S_w and S_a± leave no distractor when ``Σ_x`` has rank 1; in ``D = 1`` every estimator does:
    ``docs/math.md#linear-rounding``).
    """
    net, model = sample.net, sample.model
    undefined = no_distractor_left(model)
    why = f"{undefined}, so their ρ is 0/0" if undefined else rho_measurable(sample)
    source = sample.inputs()
    # the data-free estimators get the data too when it is in memory (what the toy always did; same patterns)
    estimators = [resolve_estimator(name) for name in ("a", "a+-", "w", "random", "x")]
    patterns = {e.label: fit(net, source if e.needs_data or sample.draw.in_memory else None, e.name, seed)
                for e in estimators}
    closed = {name: closed_forms.pattern_rho(model, neuron_pattern(patterns[name]))
              for name in ("S_w", "random")}
    if model.is_planar:
        closed_w = closed["S_w"]
    else:
        closed_w = closed_forms.filter_rho(model)
    # the random baseline over many directions: closed-form ρ of each draw of the estimator
    draws = np.array([neuron_pattern(fit(net, None, "random", draw)) for draw in range(directions)])
    values = (np.array([closed_forms.pattern_rho(model, a) for a in draws]) if model.is_planar
              else closed_forms.pattern_rhos(model, draws, sample.w))
    filter_pattern = neuron_pattern(patterns["S_w"])
    baseline = closed_forms.random_baseline(model, closed["S_w"], reference_pattern=filter_pattern)
    mean_random, p_beats = baseline.mean, baseline.probability
    mean_se = float(values.std(ddof=1) / np.sqrt(directions))
    if model.is_planar:  # the population spread: a sample of directions misses a mean made of rare ones
        a_d, sigma = model.distractor_directions[0], float(np.sqrt(model.conditional_distractor_covariance[0, 0]))
        second = planar.random_pattern_rho_second_moment(model.effective_directions[0], a_d, sigma,
                                                         model.signal_variances[0])
        mean_se = max(mean_se, float(np.sqrt(max(second - mean_random ** 2, 0.0) / directions)))
    elif closed_forms.is_full_rank(model):  # the same in D dimensions (docs/math.md#linear-random-baseline-spread)
        second = closed_forms.random_rho_second_moment(model, sample.w)
        mean_se = max(mean_se, float(np.sqrt(max(second - mean_random ** 2, 0.0) / directions)))
    if model.is_planar:  # ρ falls with |t|: compare t, exact, not ρ, whose 1 − ρ rounds where ρ is near 1
        a_p, a_d = model.effective_directions[0], model.distractor_directions[0]
        reference_t = abs(planar.pattern_t(filter_pattern, a_p, a_d))
        beats = float(np.mean([abs(planar.pattern_t(a, a_p, a_d)) < reference_t for a in draws]))
    else:
        beats = float(np.mean(values > closed["S_w"]))
    beats_se = float(np.sqrt(p_beats * (1 - p_beats) / directions))
    rho = {}
    if not why:
        rho = {name: neuron_rho(net, source, p) for name, p in patterns.items()}
        # batch ρ with the patterns fixed: the sampling error of ρ for S_w and for this random draw
        rho_se = {name: float(batch_standard_error([neuron_rho(net, part.X, patterns[name])
                                                    for part in sample.draw.parts(BATCHES)]))
                  for name in ("S_w", "random")}
        # the paper's Fig. 3 protocol: patterns on one third, v on the second, ρ on the third (reported only)
        thirds = sample.draw.bounds(3)
        held_out = {resolve_estimator(name).label: neuron_rho(net, sample.inputs(*thirds[2]),
                                                              fit(net, sample.inputs(*thirds[0]), name, seed),
                                                              fit_v_on=sample.inputs(*thirds[1]))
                    for name in ("a", "a+-", "w")}
    claims = [None, None, None]
    sw_vs_random = relation(closed_w, mean_random)
    sapm_vs_sw = relation(1.0, closed_w)
    if not why:
        checks = {
            "rho(S_a) = 1": abs(rho["S_a"] - 1.0) <= RELATIVE_EXACT,
            "rho(S_a) >= rho(S_a±)": rho["S_a±"] <= rho["S_a"] + RELATIVE_EXACT,
        }
        for left, right, expected, gap in (("S_a±", "S_w", sapm_vs_sw, 1.0 - closed_w),
                                           ("S_w", "E[rho(random)]", sw_vs_random, closed_w - mean_random)):
            measured_left = rho[left]
            measured_right = mean_random if right.startswith("E[") else rho[right]
            resolved = abs(gap) >= 2 * Z * rho_se["S_w"]
            name = f"rho({left}) {expected} " + (right if right.startswith("E[") else f"rho({right})")
            if not resolved and expected != "=":
                name += " (not resolved at this N: only consistency is checked)"
            checks[name] = _relation_holds(measured_left, measured_right, expected, rho_se["S_w"], resolved, gap)
        checks["rho(S_x) undefined"] = bool(np.isnan(rho["S_x"]))
        claims[0] = Claim(
            "rho_ranking", "ranking of the signal estimators by ρ (in-sample)",
            f"ρ(S_a) = 1 ≥ ρ(S_a±) {sapm_vs_sw} ρ(S_w) {sw_vs_random} E[ρ(random)]; "
            "ρ(S_x) undefined (not 1)",
            f"ρ: S_a {rho_text(rho['S_a'])}, S_a± {rho_text(rho['S_a±'])}, S_w {rho_text(rho['S_w'])}, "
            f"E[ρ(random)] {mean_random:.4f} (this draw {rho_text(rho['random'])}), S_x {rho_text(rho['S_x'])}",
            HOLDS if all(checks.values()) else FAILS,
            source="docs/math.md#toy-rho", must_hold=True,
            numbers={"rho_in_sample": rho, "checks": checks, "rho_standard_error": rho_se,
                     "mean_rho_random_directions": mean_random, "rho_tolerance_exact": RELATIVE_EXACT,
                     "rho_held_out_three_splits": held_out},
        )
        base = "a_s" if np.array_equal(model.effective_directions[0], model.signal_directions[0]) else "p"
        formula = (f"ρ(S_w) = 1 − |k|σ_y/√(k²σ²_y + σ²), k = a_dᵀ{base}/|a_d|²" if model.is_planar
                   else "ρ(S_w) = 1 − sqrt(q/(1 + q)), q = σ²_y·δᵀΣ_x⁺δ, δ = w/wᵀw − a*")
        special = ": 1 − 1/√13" if model.is_planar and abs(closed_w - (1 - 1 / np.sqrt(13))) < 1e-15 else ""
        claims[1] = Claim(
            "rho_filter_closed_form", "ρ(S_w) matches its closed form",
            f"{formula}{special} = {closed['S_w']:.5f}",
            f"ρ(S_w) = {rho['S_w']:.5f} ± {rho_se['S_w']:.5f} "
            f"({in_standard_errors(rho['S_w'], closed['S_w'], rho_se['S_w']):.1f} SE)",
            HOLDS if within(rho["S_w"], closed["S_w"], rho_se["S_w"],
                            EXACT + rho_rounding(sample, filter_pattern, closed["S_w"])) else FAILS,
            source="docs/math.md#toy-rho", must_hold=True,
            numbers={"measured": rho["S_w"], "closed_form": closed["S_w"], "standard_error": rho_se["S_w"]},
        )
    rounding = rounding_bound(1.0, directions)  # ρ ∈ [0, 1]: the mean of `directions` values
    random_ok = (within(values.mean(), mean_random, mean_se, rounding)
                 and within(beats, p_beats, beats_se, rounding))
    numbers = {}
    this_draw = ""
    if not why:
        # every batch's ρ may be the same rounding (ρ = 0 exactly on a singular Σ_x): its derived bound counts
        # (docs/math.md#linear-rounding-rho)
        draw_rounding = EXACT + rho_rounding(sample, neuron_pattern(patterns["random"]), closed["random"])
        random_ok = random_ok and within(rho["random"], closed["random"], rho_se["random"], draw_rounding)
        numbers = {"measured": rho["random"], "closed_form": closed["random"], "standard_error": rho_se["random"]}
        this_draw = (f"this draw {rho_text(rho['random'])} vs {closed['random']:.5f} "
                     f"({standard_errors_text(rho['random'], closed['random'], rho_se['random'], draw_rounding)}); ")
    numbers.update({"directions": directions, "mean_over_directions": float(values.mean()),
                    "mean_standard_error": mean_se, "mean_quadrature": mean_random,
                    "fraction_beating_S_w": beats, "probability_beating_S_w": p_beats,
                    "fraction_standard_error": beats_se})
    if not model.is_planar:
        numbers["method"] = baseline.method
    if model.is_planar:
        base = "a_s" if np.array_equal(model.effective_directions[0], model.signal_directions[0]) else "p"
        statement = f"the random baseline in 2-D: ρ(a) = 1 − |t|σ_y/√(t²σ²_y + σ²), a = {base} + t·a_d"
    else:
        statement = (f"the random baseline in D = {model.dimension}: ρ(a) = 1 − sqrt(q/(1 + q)), "
                     "q = σ²_y·δᵀΣ_x⁺δ, δ = a − a*")
    claims[2] = Claim(
        "rho_random_baseline", statement,
        f"E[ρ(random)] = {mean_random:.4f}; one direction beats S_w with probability {p_beats:.4f} "
        + ("(so 'S_w > random' is a claim about the mean here)" if p_beats > 0.05 else
           "('random removes almost no correlation' holds for single directions here)"),
        f"{this_draw}over {directions} directions mean {values.mean():.4f}, beats S_w {beats:.4f}",
        HOLDS if random_ok else FAILS,
        source="docs/math.md#toy-random-baseline", must_hold=True, numbers=numbers,
    )
    reasons = [why, why, why if not undefined else ""]
    if model.dimension == 1:  # every pattern with wᵀa = 1 is 1/w: the random one too
        claims[2], reasons[2] = None, ("D = 1: every pattern with wᵀa = 1 is a = 1/w, so every estimator leaves "
                                       "no distractor (d̂ ≡ 0) and ρ is 0/0")
    return claims, rho, reasons


def _relation_holds(left, right, expected: str, se: float, resolved: bool = True, gap: float = 0.0) -> bool:
    """The measured relation: ``left − right > Z·se`` for ``">"`` (the ranking is resolved); where the closed
    forms' gap is under ``2·Z·se`` (this ``N`` cannot resolve it) only that the measurement does not
    contradict it, ``left − right > −Z·se``; ``"="``: ``|left − right| ≤ |gap| + Z·se``, ``gap`` the closed forms'
    own difference (under ``RELATION_MARGIN``, e.g. 6e-18 against 1e-9 at a signal 1e9 times the distractor)."""
    sign = {">": 1.0, "<": -1.0}.get(expected)
    if sign is None:
        return abs(left - right) <= abs(gap) + Z * se + RELATIVE_EXACT
    difference = sign * (left - right)
    return difference > Z * se if resolved else difference > -Z * se


def claim_rho_against_dimension(models, reference_dimension: int, directions: int, seed) -> Claim:
    """``E[ρ(random)]`` and ``P(one direction beats S_w)`` for the same configuration in several
    dimensions: closed forms (:func:`~refpattern.linear.closed_forms.random_baseline`) against
    ``directions`` random directions per dimension (each ρ in closed form), and the first-order
    large-``D`` value ``|w|²/(2σ²_y·tr Σ_x⁻¹)`` → 0 (``docs/math.md#linear-random-baseline``)."""
    rows = []
    for index, model in enumerate(models):
        w = closed_forms.optimal_filter(model)[0]
        reference = closed_forms.filter_rho(model)
        baseline = closed_forms.random_baseline(model, reference)
        values = closed_forms.random_rhos(model, directions, seed=[seed, 2, index], w=w)
        mean_se = float(values.std(ddof=1) / np.sqrt(directions))
        beats = float(np.mean(values > reference))
        beats_se = float(np.sqrt(max(baseline.probability * (1 - baseline.probability), 0.0) / directions))
        rows.append({"dimension": model.dimension, "rho_S_w": reference, "mean_closed_form": baseline.mean,
                     "mean_estimate": float(values.mean()), "mean_standard_error": mean_se,
                     "probability_closed_form": baseline.probability, "fraction_estimate": beats,
                     "fraction_standard_error": beats_se,
                     "first_order": closed_forms.random_baseline_first_order(model, w), "method": baseline.method,
                     "mean_within": within(values.mean(), baseline.mean, mean_se, rounding_bound(1.0, directions)),
                     "fraction_within": within(beats, baseline.probability, beats_se,
                                               rounding_bound(1.0, directions))})
    holds = all(r["mean_within"] and r["fraction_within"] for r in rows)
    first, last = rows[0], rows[-1]
    worst = max(max(abs(r["mean_estimate"] - r["mean_closed_form"]) / max(r["mean_standard_error"], 1e-300),
                    abs(r["fraction_estimate"] - r["probability_closed_form"])
                    / max(r["fraction_standard_error"], 1e-300) if r["fraction_standard_error"] > 0
                    else 0.0) for r in rows)
    return Claim(
        "rho_random_against_dimension",
        "in high dimensions a random direction removes almost no correlation (ρ(random) → 0 as D grows)",
        f"E[ρ(random)] = {first['mean_closed_form']:.4f} at D = {first['dimension']} … {last['mean_closed_form']:.4f} "
        f"at D = {last['dimension']} (first order |w|²/(2σ²_y tr Σ_x⁻¹) = {last['first_order']:.4f}); "
        f"P(beats S_w) {first['probability_closed_form']:.4f} … {last['probability_closed_form']:.4f}",
        f"{directions} directions per D: mean {first['mean_estimate']:.4f} … {last['mean_estimate']:.4f}, "
        f"beats S_w {first['fraction_estimate']:.4f} … {last['fraction_estimate']:.4f}; worst {worst:.1f} SE "
        f"(this model: D = {reference_dimension})",
        HOLDS if holds else FAILS,
        source="docs/math.md#linear-random-baseline", must_hold=True,
        numbers={"rows": rows, "directions": directions},
    )


def claim_optimum_identity(unbiased: Sample, biased: Sample | None, seed, a, fitted_on: Sample | None = None):
    """Eq. 2: ``cov[x, y] = cov[S(x), y]`` on the fitting data for S_a and S_a± (paper), each to the rounding of
    the covariances and of ``y`` (:func:`~.measurements.covariance_rounding`, relative to ``max|cov[x, y]|``).
    ``a`` is S_a's pattern fitted on ``fitted_on`` (default ``unbiased``; the model's own draw when it has a mean:
    its rounding is that of the data it came from).  A pair whose rounding reaches ``max|cov[x, y]|`` itself is
    reported as not resolved (S_a± at ``μ = 10⁸``: ``a± ≈ 1.5·10⁸``); returns ``(claim, why)``, not measured
    where no pair is resolved (a signal ``10¹²`` times below the distractor: ``y`` rounds on ``10¹²``-sized terms)."""
    gaps, tolerances = {}, {}
    net = unbiased.net
    target = sample_covariance(unbiased, lambda batch: (batch.X, net.forward(batch.X)[:, 0] - unbiased.b))
    scale = np.max(np.abs(target))

    def signal_covariance(batch, pattern=a):
        y = net.forward(batch.X)[:, 0] - unbiased.b
        return pattern * y[:, None], y

    gaps["S_a"] = float(np.max(np.abs(sample_covariance(unbiased, signal_covariance) - target)) / scale)
    tolerances["S_a"] = float(np.max(np.maximum(covariance_rounding(unbiased, a),
                                                covariance_rounding(fitted_on or unbiased, a))) / scale)
    pairs = [(f"S_a± (μ = {mean_text(unbiased.model.distractor_mean) if unbiased.model.distractors else 0})",
              unbiased)]
    if biased is not None:
        pairs.append((f"S_a± (μ = {mean_text(biased.model.distractor_mean)})", biased))
    dimension = unbiased.model.dimension
    for label, sample in pairs:
        net_s = sample.net
        pm = neuron_relu_patterns(fit(net_s, sample.inputs(), "a+-", seed))

        def covariances(batch, net_s=net_s, sample=sample, pm=pm):
            y_s = net_s.forward(batch.X)[:, 0] - sample.b
            return relu_signal_estimate(pm, y_s, sample.b), y_s

        target_s = sample_covariance(sample, lambda batch, net_s=net_s, sample=sample: (
            batch.X, net_s.forward(batch.X)[:, 0] - sample.b))
        scale_s = np.max(np.abs(target_s))
        gaps[label] = float(np.max(np.abs(sample_covariance(sample, covariances) - target_s)) / scale_s)
        largest = np.maximum(np.abs(pm[:dimension]), np.abs(pm[dimension:]))
        tolerances[label] = float(np.max(covariance_rounding(sample, largest)) / scale_s)
    unresolved = [label for label, tolerance in tolerances.items() if not tolerance < 1.0]
    if len(unresolved) == len(tolerances):
        return None, (f"the rounding of cov[x, y] and of y = wᵀx + b reaches |cov[x, y]| itself for "
                      f"{', '.join(unresolved)} (relative bound {min(tolerances.values()):.1e} or more; "
                      "docs/math.md#linear-rounding-covariance): the identity cannot be told from rounding")
    w_pattern = neuron_pattern(fit(net, unbiased.inputs() if unbiased.draw.in_memory else None, "w", seed))
    contrast = float(np.max(np.abs(sample_covariance(unbiased, lambda batch: signal_covariance(batch, w_pattern))
                                   - target)) / scale)
    holds = all(gaps[label] <= tolerances[label] for label in gaps if label not in unresolved)
    resolved_bounds = [tolerances[label] for label in gaps if label not in unresolved]
    return Claim(
        "optimum_identity", "S_a and S_a± reach the optimum cov[x, y] = cov[S(x), y] on their fitting data",
        f"relative gap ≤ {max(resolved_bounds):.0e} (rounding); S_w does not (contrast)",
        "relative gap: " + ", ".join(f"{k} {g:.1e}" + (" (not resolved: rounding ≥ |cov[x, y]|)" if k in unresolved
                                                        else "") for k, g in gaps.items()) + f"; S_w {contrast:.2f}",
        HOLDS if holds else FAILS,
        source="docs/math.md#eq2-variants", must_hold=True,
        numbers={"relative_gap": gaps, "S_w_relative_gap": contrast, "tolerance": tolerances},
    ), ""
