"""The claims about the filter ``w`` (``docs/math.md#toy-claims``: claims 1, 2, 3 and 5), on any linear model.

* claim 1: ``w`` is not parallel to the signal ``a_s`` (:func:`claim_filter_not_parallel`);
* claim 2: rotating the distractors rotates ``w``, while the learned pattern ``S_a`` stays at its
  closed form (``a_s`` when the distractors are independent of the signal; :func:`claim_rotation`);
* claim 3: Gradient, DeConvNet and Guided Backprop all return ``w`` (:func:`claim_gradient_methods`);
* claim 5: isotropic noise instead of a distractor only shrinks ``w`` (:func:`claim_isotropic`).

Each measured filter is compared with its closed form (``docs/math.md#linear-filter``): to
the data's own rounding where ``wᵀx + b = s_k`` exactly (the toy; ``docs/math.md#linear-least-squares``),
within ±Z batch-means standard errors otherwise — where the batches hold enough samples per dimension for a
least-squares fit (:data:`~.measurements.LEAST_SQUARES_SAMPLES_PER_DIMENSION`); a claim that cannot be measured at
this ``N`` is returned as ``None`` with the reason.
"""

from __future__ import annotations

import numpy as np

from refpattern.experiments.ledger import FAILS, HOLDS, Claim
from refpattern.experiments.report import format_vector
from refpattern.experiments.toy.measurements import (
    LEAST_SQUARES_SAMPLES_PER_DIMENSION,
    Sample,
    closed_form_filter_rounding,
    exact_vector_text,
    filter_unresolved,
    fit,
    neuron_pattern,
    output_unresolved,
    part_least_squares,
    sample_least_squares,
    sample_max,
    vector_text,
)
from refpattern.experiments.toy.tolerances import (
    BATCHES,
    DEGREES_PER_RADIAN,
    EPSILON,
    EXACT,
    Z,
    batch_standard_error,
    in_standard_errors,
    magnitude,
    resolved_from_zero,
    rounding_bound,
    within,
)
from refpattern.linear import closed_forms
from refpattern.linear.planar import axis_angle_deg
from refpattern.methods import explain

PARALLEL_DEG = 1e-6
"""A closed-form angle below this many degrees counts as parallel."""


def least_squares_measurable(sample: Sample) -> str:
    """Why the least-squares filter cannot be measured on ``sample`` ("" when it can)."""
    if sample.exact or sample.parts_measurable(LEAST_SQUARES_SAMPLES_PER_DIMENSION, BATCHES):
        return ""
    need = BATCHES * LEAST_SQUARES_SAMPLES_PER_DIMENSION * sample.model.dimension
    return (f"the least-squares filter's batch-means error needs N ≥ {BATCHES}·{LEAST_SQUARES_SAMPLES_PER_DIMENSION}"
            f"·D = {need} (N = {sample.n})")


def filter_with_error(sample: Sample):
    """``(w, se, angle, angle_se, batches, rounding)``: the least-squares filter, its batch-means SE (None where
    ``wᵀx + b = s_k`` exactly: a rounding tolerance applies), its angle to ``a_s``, that angle's SE, the
    batches' filters and how far rounding alone can move each component of ``w``
    (:func:`~.measurements.resolved_least_squares`)."""
    fitted, rounding = sample_least_squares(sample)
    angle = axis_angle_deg(fitted, sample.a_s)
    if sample.exact:
        return fitted, None, angle, None, None, rounding
    intercept = bool(np.any(sample.model.mean))
    batches = np.array([part_least_squares(part, sample.k, intercept)
                        for part in sample.draw.parts(BATCHES)])
    angles = np.array([axis_angle_deg(w, sample.a_s) for w in batches])
    return fitted, batch_standard_error(batches), angle, float(batch_standard_error(angles)), batches, rounding


def rounding_angle_deg(w, rounding) -> float:
    """How far rounding alone can turn ``w``, in degrees: ``sin δθ ≤ |δw|/|w|`` with ``|δw| ≤ |rounding|``,
    plus ``Z·ε`` of the angle's own computation."""
    return DEGREES_PER_RADIAN * (float(np.linalg.norm(rounding) / np.linalg.norm(w)) + Z * EPSILON)


def filter_statement(sample: Sample, angle: float) -> str:
    """Claim 1's statement: what the closed form says about ``w`` and ``a_s``."""
    if angle > PARALLEL_DEG:
        return "w is not parallel to a_s: the weights do not show the signal"
    return "w is parallel to a_s here: the weights show the signal"


def filter_conditions(sample: Sample) -> str:
    """How the closed-form ``w`` is defined, in words."""
    model = sample.model
    if sample.exact and model.signals == 1 and model.distractors == 1:
        return "wᵀa_s = 1, wᵀa_d = 0"
    if sample.exact:
        return "wᵀx + b = s_k exactly"
    return "w = Σ_x⁺·cov[x, s_k]"


def claim_filter_not_parallel(sample: Sample):
    """The least-squares filter is the closed form (``w = (1, −1)`` on the toy: ``wᵀx = y`` exactly), at
    the closed form's angle to ``a_s`` (45° on the toy).  Returns ``(claim, "")`` or ``(None, why)``: not measured
    where the data's rounding can move ``w`` by as much as ``w`` (:func:`~.measurements.filter_unresolved`)."""
    why = least_squares_measurable(sample) or filter_unresolved(sample)
    if why:
        return None, why
    closed_angle = axis_angle_deg(sample.w, sample.a_s)
    fitted, se, angle, angle_se, _, rounding = filter_with_error(sample)
    gap = float(np.max(np.abs(fitted - sample.w)))
    statement = filter_statement(sample, closed_angle)
    numbers = {"w_least_squares": fitted, "w_closed_form": sample.w, "max_abs_gap": gap, "angle_deg": angle,
               "w_dot_a_s": float(sample.w @ sample.a_s)}
    if sample.model.distractors:
        numbers["w_dot_a_d"] = float(sample.w @ sample.model.distractor_directions[0])
    if se is None:  # w is the closed form to rounding: the data's own (docs/math.md#linear-least-squares)
        # and the closed form's own rounding (docs/math.md#linear-closed-form-rounding)
        rounding = rounding + closed_form_filter_rounding(sample)
        tolerance_angle = rounding_angle_deg(sample.w, rounding)
        holds = (bool(np.all(np.abs(fitted - sample.w) <= rounding))
                 and abs(angle - closed_angle) <= tolerance_angle)
        numbers.update({"tolerance_gap": rounding, "tolerance_angle_deg": tolerance_angle})
        measured = (f"least-squares w = {vector_text(fitted)} (|w − {exact_vector_text(sample.w)}|∞ = {gap:.1e}), "
                    f"∠(w, a_s) = {angle:.9f}°")
    else:
        # where the batches' SE is rounding too (wᵀx + b = s_k to ~1e-12), the closed form's own rounding counts
        closed_rounding = closed_form_filter_rounding(sample)  # docs/math.md#linear-closed-form-rounding
        holds = within(fitted, sample.w, se, rounding_bound(magnitude(sample.w), sample.n) + closed_rounding)
        # at 0° the angle is the norm of w's D − 1 sampling errors across a_s, a χ whose mean is not 0: w's
        # components above test them against 0 one by one instead (docs/math.md#toy-claim-1-parallel)
        parallel = closed_angle <= PARALLEL_DEG
        if not parallel:
            holds = holds and within(angle, closed_angle, angle_se, rounding_bound(DEGREES_PER_RADIAN, sample.n)
                                     + DEGREES_PER_RADIAN * closed_rounding / float(np.linalg.norm(sample.w)))
        numbers.update({"standard_error": se, "angle_standard_error_deg": angle_se,
                        "angle_closed_form_deg": closed_angle})
        measured = (f"least-squares w = {vector_text(fitted, 4)} ({in_standard_errors(fitted, sample.w, se):.1f} SE "
                    f"from the closed form), ∠(w, a_s) = {angle:.3f}° ± {angle_se:.3f}°"
                    + (" (not compared: at 0° it is the norm of w's errors across a_s, tested component by "
                       "component)" if parallel else ""))
    return Claim(
        "filter_not_parallel", statement,
        f"w = {exact_vector_text(sample.w)} ({filter_conditions(sample)}), ∠(w, a_s) = {closed_angle:.6g}°",
        measured, HOLDS if holds else FAILS,
        source="docs/math.md#toy-claim-1", must_hold=True, numbers=numbers,
    ), ""


def claim_rotation(model, n_samples, seed, rotations):
    """For each rotation of the distractors (in :meth:`~refpattern.linear.LinearModel.plane`): ``w`` turns
    (closed form against least squares), the fitted ``S_a`` pattern stays at its closed form's direction
    (±Z batch-means SE).  Returns ``(claim, rows, why)``: one row per rotation (for the figure), and
    the claim None with the reason when there is no distractor to rotate.

    A rotation whose model float64 cannot draw (a distractor component turned past ``2⁵³`` times the signal's,
    ``docs/math.md#linear-resolution``) is left out and named; in a rotation whose ``w`` cannot be told from rounding
    (:func:`~.measurements.filter_unresolved`) ``w`` is not compared, and where ``y = wᵀx + b`` is rounding
    (:func:`~.measurements.output_unresolved`) neither is S_a.  Not measured when no rotation is left to compare."""
    if model.distractors == 0:
        return None, [], "no distractor to rotate"
    if model.dimension == 1:
        return None, [], "D = 1: there is no plane to rotate the distractors in"
    if not np.any(model.distractor_covariance):
        return None, [], ("the distractors have no variance (cov[d] = 0): rotating them moves only E[x], so w and "
                          "S_a do not depend on their directions")
    if not rotations:
        return None, [], "no rotations asked for ([claims] rotations_deg = [])"
    rows = []
    why = ""
    undrawable, w_unresolved, y_unresolved = [], {}, {}
    for rotation in rotations:
        try:
            variant = model.rotated(rotation)
        except ValueError as error:  # the rotated distractor swamps the signal in a coordinate: not drawable
            undrawable.append((rotation, str(error)))
            continue
        sample = Sample.of(variant, n_samples, seed)
        why = least_squares_measurable(sample)
        unresolved = "" if why else filter_unresolved(sample)
        if unresolved:
            w_unresolved[rotation] = unresolved
        if why or unresolved:
            fitted, w_se, w_gap, w_rounding = None, None, None, None
        else:
            fitted, w_se, _, _, _, w_rounding = filter_with_error(sample)
            w_gap = float(np.max(np.abs(fitted - sample.w)))
        y_why = output_unresolved(sample)
        if y_why:
            y_unresolved[rotation] = y_why
        net, source = sample.net, sample.inputs()
        a = neuron_pattern(fit(net, source, "a", seed))
        parts = np.array([neuron_pattern(fit(net, part.X, "a", seed)) for part in sample.draw.parts(BATCHES)])
        angles = np.array([model.plane_direction_deg(pattern) for pattern in parts])
        angle_se = float(batch_standard_error(angles))
        pattern_se = batch_standard_error(parts)
        closed_direction = model.plane_direction_deg(sample.pattern)
        direction = model.plane_direction_deg(a)
        # a pattern within Z SE of 0 has no direction at this N (a signal far below the distractor): its
        # components are compared instead, as claim 4 does (docs/math.md#linear-least-squares)
        resolved = bool(np.linalg.norm(sample.pattern) > Z * np.linalg.norm(pattern_se))
        components_resolved = True
        if y_why:  # y is rounding: the fitted pattern is no measurement of cov[x, y]/σ²_y
            pattern_within = None
        elif resolved:
            pattern_within = within(direction, closed_direction, angle_se,
                                    rounding_bound(DEGREES_PER_RADIAN, n_samples))
        else:
            pattern_rounding = rounding_bound(magnitude(sample.pattern), n_samples)
            pattern_within = within(a, sample.pattern, pattern_se, pattern_rounding)
            # claim 4's rule, from the model: can the components tell a* from 0? (docs/math.md#toy-claim-4-resolution)
            closed_se = closed_forms.activation_pattern_standard_error(variant, sample.w, n_samples, sample.b)
            components_resolved = resolved_from_zero(sample.pattern, closed_se, pattern_rounding)
        a_d = variant.distractor_directions[0]
        row = {
            "rotation_deg": rotation, "a_d": a_d, "a_d_direction_deg": model.plane_direction_deg(a_d),
            "w_closed_form": sample.w, "w_least_squares": fitted,
            "w_direction_deg": None if fitted is None else model.plane_direction_deg(fitted),
            "w_closed_form_direction_deg": model.plane_direction_deg(sample.w),
            "w_gap": w_gap, "w_rounding": w_rounding,
            "pattern": a, "pattern_direction_deg": direction, "pattern_direction_se_deg": angle_se,
            "pattern_within": pattern_within, "pattern_direction_resolved": resolved,
            "pattern_standard_error": pattern_se,
        }
        if closed_direction != 0.0:
            row["pattern_closed_form_direction_deg"] = closed_direction
        if not components_resolved:
            row["pattern_resolved"] = False
        if w_se is not None:
            row["w_standard_error"] = w_se
            row["w_within"] = within(fitted, sample.w, w_se, rounding_bound(magnitude(sample.w), n_samples)
                                     + closed_form_filter_rounding(sample))  # docs/math.md#linear-closed-form-rounding
        elif fitted is not None:  # w is the closed form to rounding (docs/math.md#linear-least-squares)
            w_rounding = w_rounding + closed_form_filter_rounding(sample)  # docs/math.md#linear-closed-form-rounding
            row["w_rounding"] = w_rounding
            row["w_within"] = bool(np.all(np.abs(fitted - sample.w) <= w_rounding))
        rows.append(row)
    if not any(r.get("w_within") is not None or r["pattern_within"] is not None for r in rows):
        reasons = [f"{rotation:g}°: {text}" for rotation, text in undrawable]
        reasons += [f"{rotation:g}°: {text}" for rotation, text in y_unresolved.items()]
        return None, rows, "no rotation can be compared: " + "; ".join(reasons)
    compared = [r for r in rows if r["w_gap"] is not None]
    w_gap = max(r["w_gap"] for r in compared) if compared else None
    judged = [r for r in rows if r["pattern_within"] is not None]
    deviations = [r["pattern_direction_deg"] - r.get("pattern_closed_form_direction_deg", 0.0) for r in judged]
    worst_se = [in_standard_errors(deviations[i], 0.0, judged[i]["pattern_direction_se_deg"])
                for i in range(len(judged))]
    holds = all(r.get("w_within", True) for r in rows) and all(r["pattern_within"] for r in judged)
    directions = ", ".join(f"{round(r['a_d_direction_deg']) + 0:d}" for r in rows)
    w_directions = ", ".join(f"{round(r['w_closed_form_direction_deg']) + 0:d}" for r in rows)
    w_text = f"w at a_d − 90° = {w_directions}°" if model.is_planar else f"w at {w_directions}° (closed form)"
    closed_directions = {round(r.get("pattern_closed_form_direction_deg", 0.0), 9) for r in judged or rows}
    if closed_directions == {0.0}:
        pattern_text = f"∠S_a = 0° (±{Z:.0f} SE)"
        pattern_label = "a_s"
    else:
        pattern_text = f"∠S_a = its closed form's (±{Z:.0f} SE)"
        pattern_label = "its closed form cov[x, y]/σ²_y"
    w_measured = f"max |w − w*|∞ = {w_gap:.1e}; " if w_gap is not None else (
        "w not measured by least squares (" + why + "); " if why else "")
    if w_unresolved and w_gap is not None:
        w_measured += (f"w not compared in {len(w_unresolved)} of {len(rows)} rotations (rounding can move it by as "
                       "much as w itself); ")
    elif w_unresolved:
        w_measured = f"w not compared ({next(iter(w_unresolved.values()))}); "
    if undrawable:
        w_measured += (f"rotations {', '.join(f'{r:g}°' for r, _ in undrawable)} left out (the rotated model has a "
                       "source lost to float64 rounding, docs/math.md#linear-resolution); ")
    if y_unresolved:
        w_measured += (f"S_a not compared in {len(y_unresolved)} of {len(rows)} rotations (y = wᵀx + b is rounding "
                       "there, docs/math.md#linear-output-rounding); ")
    unresolved = sum(not r["pattern_direction_resolved"] for r in judged)
    if unresolved:
        w_measured += (f"S_a's direction unresolved at this N in {unresolved} of {len(judged)} rotations (|a*| within "
                       f"{Z:g} SE of 0: its components are compared instead); ")
    vacuous = [r["rotation_deg"] for r in judged if r.get("pattern_resolved") is False]
    if vacuous:
        w_measured += (f"in {len(vacuous)} of {len(judged)} rotations every component of a* is within {Z:g} SE "
                       "(closed form) of 0: S_a not resolved at this N there, only consistency is checked; ")
    numbers = {"rows": rows, "max_w_gap": w_gap}
    if vacuous:
        numbers["pattern_unresolved_rotations"] = vacuous
    if undrawable:
        numbers["left_out"] = undrawable
    if not judged:
        return Claim(
            "rotation", "rotating a_d rotates w", f"a_d at {directions}°: {w_text}",
            f"{w_measured}S_a compared in no rotation", HOLDS if holds else FAILS,
            source="docs/math.md#toy-claim-2", must_hold=True, numbers=numbers,
        ), rows, ""
    worst = max(range(len(judged)), key=lambda i: worst_se[i])
    lower = min(deviations) if closed_directions != {0.0} else min(r["pattern_direction_deg"] for r in judged)
    upper = max(deviations) if closed_directions != {0.0} else max(r["pattern_direction_deg"] for r in judged)
    span = "∠S_a − closed form" if closed_directions != {0.0} else "∠S_a"
    return Claim(
        "rotation", f"rotating a_d rotates w; the learned pattern S_a stays at {pattern_label}",
        f"a_d at {directions}°: {w_text}; {pattern_text}",
        f"{w_measured}{span} ∈ [{lower:+.3f}°, {upper:+.3f}°], worst "
        f"{worst_se[worst]:.1f} SE",
        HOLDS if holds else FAILS,
        source="docs/math.md#toy-claim-2", must_hold=True, numbers=numbers,
    ), rows, ""


def claim_gradient_methods(sample: Sample) -> Claim:
    """On the linear model ``wᵀx + b`` every sample's Gradient, DeConvNet and Guided Backprop map is ``w``."""
    gaps = {}
    for method in ("gradient", "deconvnet", "guided_backprop"):
        gaps[method] = sample_max(sample, lambda batch, method=method: np.max(np.abs(
            explain(sample.net, batch.X, method) - sample.w)))
    holds = all(g <= EXACT for g in gaps.values())
    return Claim(
        "gradient_methods_return_w", "Gradient, DeConvNet and Guided Backprop all return w",
        f"every sample's explanation = w = {exact_vector_text(sample.w)} (to {EXACT:.0e})",
        "max |R − w| = " + ", ".join(f"{m} {g:.1e}" for m, g in gaps.items()),
        HOLDS if holds else FAILS,
        source="docs/math.md#toy-claim-3", must_hold=True,
        numbers={"max_abs_gap": gaps, "tolerance": EXACT},
    )


def claim_isotropic(model, n_samples, seed, sigma_n):
    """On isotropic-noise data (no distractor, noise ``σ_n² I``) the least-squares ``w`` is its closed form
    (``a_s/(|a_s|² + σ_n²/σ²_y)`` for one signal): in the span of the signal directions (parallel to
    ``a_s`` for one signal) and shorter than the noiseless filter.  Returns ``(claim, why)``."""
    variant = model.with_isotropic_noise(sigma_n)
    sample = Sample.of(variant, n_samples, seed)
    if sample.exact:  # σ_n²·|w|² below the rounding of σ²_y: the filter reads s_k to the last bit
        share = float(sigma_n) ** 2 * float(sample.w @ sample.w) / closed_forms.output_variance(variant, sample.w)
        return None, (f"σ_n = {float(sigma_n):g} is below float64's resolution on this model (the noise's share of "
                      f"σ²_y, σ_n²|w|²/σ²_y = {share:.1e}, is under rounding): w cannot be seen to shrink; give a "
                      "larger [claims] isotropic_sigma")
    why = least_squares_measurable(sample)
    if why:
        return None, why
    fitted, se, _, _, batches, _ = filter_with_error(sample)
    closed = sample.w
    noiseless = np.linalg.pinv(model.signal_directions.T)[model.explained]  # wᵀa_s,j = δ_jk, minimum norm
    unshrunk = float(np.linalg.norm(noiseless))
    norms = np.linalg.norm(batches, axis=1)
    norm, norm_se = float(np.linalg.norm(fitted)), float(batch_standard_error(norms))
    resolution = float(Z * np.linalg.norm(se))
    if not np.linalg.norm(closed) > resolution:  # w is 0 within its errors: it has no direction to compare
        return None, (f"at σ_n = {float(sigma_n):g} the noise buries the signal at this N: |w*| = "
                      f"{np.linalg.norm(closed):.3g} is within {Z:g} SE ({resolution:.3g}) of 0, so the direction "
                      "of the least-squares w cannot be resolved; give a smaller [claims] isotropic_sigma or more "
                      "samples")
    numbers = {"sigma_n": float(sigma_n), "w_least_squares": fitted, "standard_error": se, "w_closed_form": closed}
    at_closed_form = within(fitted, closed, se, rounding_bound(magnitude(closed), n_samples))
    if model.signals == 1:
        angles = np.array([model.plane_direction_deg(w) for w in batches])
        angle = model.plane_direction_deg(fitted)
        angle_se = float(batch_standard_error(angles))
        closed_angle = model.plane_direction_deg(closed)
        unshrunk = 1.0 / np.linalg.norm(model.signal_directions[0])
        holds = (at_closed_form
                 and within(angle, closed_angle, angle_se, rounding_bound(DEGREES_PER_RADIAN, n_samples))
                 and _shrinks(norm, np.linalg.norm(closed), unshrunk, norm_se, n_samples))
        numbers.update({"direction_deg": angle, "direction_se_deg": angle_se})
        expected = (f"w = a_s/(|a_s|² + σ_n²/σ²_y) = {vector_text(closed)}: ∥ a_s, |w| = {np.linalg.norm(closed):.3f} "
                    f"< 1/|a_s| = {unshrunk:g}")
        measured = (f"least-squares w = {vector_text(fitted, 5)} ({in_standard_errors(fitted, closed, se):.1f} SE), "
                    f"∠(w, a_s) = {angle:+.3f}° ± {angle_se:.3f}°")
        statement = "isotropic noise instead of a distractor only shrinks w"
    else:
        span = model.signal_directions.T @ np.linalg.pinv(model.signal_directions.T)
        outside = float(np.linalg.norm(fitted - span @ fitted))
        outside_se = float(batch_standard_error([np.linalg.norm(w - span @ w) for w in batches]))
        # the part outside the span compared with 0 component by component: its norm is a χ of the D − K errors,
        # never 0 in mean, so `norm ≤ Z·SE(norm)` failed 1 % of true models (docs/math.md#toy-claim-5)
        outside_components_se = batch_standard_error([w - span @ w for w in batches])
        holds = (at_closed_form
                 and within(fitted - span @ fitted, np.zeros(len(fitted)), outside_components_se,
                            rounding_bound(magnitude(closed), n_samples))
                 and _shrinks(norm, np.linalg.norm(closed), unshrunk, norm_se, n_samples))
        numbers.update({"outside_signal_span": outside, "outside_signal_span_se": outside_se})
        expected = (f"w = Σ_x⁻¹·cov[x, s_k] = {vector_text(closed)} in span(a_s,1…a_s,K), |w| = "
                    f"{np.linalg.norm(closed):.3f} < {unshrunk:.3f} (noiseless)")
        measured = (f"least-squares w {in_standard_errors(fitted, closed, se):.1f} SE from the closed form; "
                    f"|w − span| = {outside:.2e} ± {outside_se:.1e}")
        statement = "isotropic noise instead of distractors keeps w in the signal span and shrinks it"
    resolved = _shrinkage_resolved(np.linalg.norm(closed), unshrunk, norm_se)
    if not resolved:
        measured += (f"; the shrinkage 1/|a_s| − |w*| = {unshrunk - np.linalg.norm(closed):.1e} is under {2 * Z:g} SE "
                     f"of |w| ({norm_se:.1e}): not resolved at this N, only consistency is checked")
    numbers.update({"norm": norm, "norm_se": norm_se, "unshrunk_norm": unshrunk,
                    "pattern_closed_form": sample.pattern})
    if not resolved:
        numbers["shrinkage_resolved"] = False
    return Claim(
        "isotropic_noise_shrinks_w", statement, expected, measured,
        HOLDS if holds else FAILS,
        source="docs/math.md#toy-claim-5", must_hold=True, numbers=numbers,
    ), ""


def _shrinkage_resolved(closed_norm, unshrunk, norm_se) -> bool:
    """The closed forms' shrinkage ``unshrunk − |w*|`` is at least ``2·Z`` standard errors of the measured ``|w|``
    (as the ρ ranking decides a gap; below that this ``N`` cannot tell ``|w*|`` from ``unshrunk``)."""
    return bool(unshrunk - closed_norm >= 2 * Z * norm_se)


def _shrinks(norm, closed_norm, unshrunk, norm_se, n_samples) -> bool:
    """``|w| < unshrunk − Z·SE`` where the shrinkage is resolved; else only that the measurement does not
    contradict it, ``|w| < unshrunk + Z·SE`` (plus what rounding can do to a norm of this size)."""
    if _shrinkage_resolved(closed_norm, unshrunk, norm_se):
        return bool(norm < unshrunk - Z * norm_se)
    return bool(norm < unshrunk + Z * norm_se + rounding_bound(unshrunk, n_samples))


__all__ = ["claim_filter_not_parallel", "claim_gradient_methods", "claim_isotropic", "claim_rotation",
           "format_vector"]
