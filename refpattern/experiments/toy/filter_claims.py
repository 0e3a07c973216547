"""The toy's claims about the filter ``w`` (``docs/math.md#toy-claims``: claims 1, 2, 3 and 5).

* claim 1: ``w`` is not parallel to the signal ``a_s`` (:func:`claim_filter_not_parallel`);
* claim 2: rotating the distractor ``a_d`` rotates ``w``, while the learned pattern ``S_a``
  stays at ``a_s`` (:func:`claim_rotation`);
* claim 3: Gradient, DeConvNet and Guided Backprop all return ``w`` (:func:`claim_gradient_methods`);
* claim 5: isotropic noise instead of a distractor only shrinks ``w``, to
  ``w = a_s/(|a_s|² + σ_n²/σ²_y)`` (:func:`claim_isotropic`).
"""

from __future__ import annotations

import numpy as np

from refpattern.experiments.ledger import FAILS, HOLDS, Claim
from refpattern.experiments.report import format_vector
from refpattern.experiments.toy import model
from refpattern.experiments.toy.measurements import fit, least_squares_filter, neuron_pattern
from refpattern.experiments.toy.tolerances import (
    EXACT,
    Z,
    batch_standard_error,
    batch_values,
    in_standard_errors,
    within,
)
from refpattern.methods import explain

ROTATIONS_DEG = (-25.0, 0.0, 25.0, 45.0, 65.0, 90.0, 115.0)
"""Rotations of ``a_d`` for claim 2: ``a_d`` points at 20°, 45°, …, 160°."""

SIGMA_N = 1.0
"""Isotropic-noise standard deviation for claim 5."""


def claim_filter_not_parallel(data) -> Claim:
    """The least-squares filter is the closed form ``w = (1, −1)`` (``wᵀx = y`` exactly), at 45° to ``a_s``."""
    fitted = least_squares_filter(data.X, data.y)
    angle = model.axis_angle_deg(fitted, data.a_s)
    gap = float(np.max(np.abs(fitted - data.w)))
    holds = gap <= 1e3 * EXACT and abs(angle - 45.0) <= 1e-6
    return Claim(
        "filter_not_parallel", "w is not parallel to a_s: the weights do not show the signal",
        "w = (1, −1) (wᵀa_s = 1, wᵀa_d = 0), ∠(w, a_s) = 45°",
        f"least-squares w = {format_vector(fitted)} (|w − (1, −1)|∞ = {gap:.1e}), ∠(w, a_s) = {angle:.9f}°",
        HOLDS if holds else FAILS,
        source="docs/math.md#toy-claim-1", must_hold=True,
        numbers={"w_least_squares": fitted, "w_closed_form": data.w, "max_abs_gap": gap, "angle_deg": angle,
                 "w_dot_a_s": float(data.w @ data.a_s), "w_dot_a_d": float(data.w @ data.a_d),
                 "tolerance_gap": 1e3 * EXACT, "tolerance_angle_deg": 1e-6},
    )


def claim_rotation(n_samples, seed):
    """For each rotation of ``a_d``: ``w ⊥ a_d`` turns with it, the fitted ``S_a`` pattern stays at
    ``∠a_s = 0°`` (±Z batch-means SE).  Returns ``(claim, rows)``, one row per rotation (for the figure)."""
    rows = []
    for rotation in ROTATIONS_DEG:
        data = model.make_toy(n_samples, rotation_deg=rotation, seed=seed)
        net = data.model()
        fitted = least_squares_filter(data.X, data.y)
        a = neuron_pattern(fit(net, data.X, "a", seed))
        angles = batch_values(lambda part, net=net: model.direction_deg(neuron_pattern(fit(net, part, "a", seed))),
                              data.X)
        angle_se = float(batch_standard_error(angles))
        rows.append({
            "rotation_deg": rotation, "a_d": data.a_d, "a_d_direction_deg": model.direction_deg(data.a_d),
            "w_closed_form": data.w, "w_least_squares": fitted,
            "w_direction_deg": model.direction_deg(fitted), "w_closed_form_direction_deg": model.direction_deg(data.w),
            "w_gap": float(np.max(np.abs(fitted - data.w))),
            "pattern": a, "pattern_direction_deg": model.direction_deg(a), "pattern_direction_se_deg": angle_se,
            "pattern_within": within(model.direction_deg(a), 0.0, angle_se),
        })
    w_gap = max(r["w_gap"] for r in rows)
    worst = max(rows, key=lambda r: abs(r["pattern_direction_deg"]) / max(r["pattern_direction_se_deg"], 1e-300))
    holds = w_gap <= 1e3 * EXACT and all(r["pattern_within"] for r in rows)
    directions = ", ".join(f"{round(r['a_d_direction_deg']) + 0:d}" for r in rows)
    w_directions = ", ".join(f"{round(r['w_direction_deg']) + 0:d}" for r in rows)
    return Claim(
        "rotation", "rotating a_d rotates w; the learned pattern S_a stays at a_s",
        f"a_d at {directions}°: w at a_d − 90° = {w_directions}°; ∠S_a = 0° (±{Z:.0f} SE)",
        f"max |w − w*|∞ = {w_gap:.1e}; ∠S_a ∈ [{min(r['pattern_direction_deg'] for r in rows):+.3f}°, "
        f"{max(r['pattern_direction_deg'] for r in rows):+.3f}°], worst "
        f"{abs(worst['pattern_direction_deg']) / worst['pattern_direction_se_deg']:.1f} SE",
        HOLDS if holds else FAILS,
        source="docs/math.md#toy-claim-2", must_hold=True,
        numbers={"rows": rows, "max_w_gap": w_gap, "tolerance_w_gap": 1e3 * EXACT},
    ), rows


def claim_gradient_methods(data, net) -> Claim:
    """On the linear model ``wᵀx`` every sample's Gradient, DeConvNet and Guided Backprop map is ``w``."""
    gaps = {}
    for method in ("gradient", "deconvnet", "guided_backprop"):
        explanation = explain(net, data.X, method)
        gaps[method] = float(np.max(np.abs(explanation - data.w)))
    holds = all(g <= EXACT for g in gaps.values())
    return Claim(
        "gradient_methods_return_w", "Gradient, DeConvNet and Guided Backprop all return w",
        f"every sample's explanation = w = (1, −1) (to {EXACT:.0e})",
        "max |R − w| = " + ", ".join(f"{m} {g:.1e}" for m, g in gaps.items()),
        HOLDS if holds else FAILS,
        source="docs/math.md#toy-claim-3", must_hold=True,
        numbers={"max_abs_gap": gaps, "tolerance": EXACT},
    )


def claim_isotropic(data) -> Claim:
    """On isotropic-noise data the least-squares ``w`` is ``a_s/(|a_s|² + σ_n²/σ²_y)``: parallel to
    ``a_s`` and shorter than ``1/|a_s|``."""
    fitted = least_squares_filter(data.X, data.y)
    batches = batch_values(lambda part: least_squares_filter(part[:, :2], part[:, 2]),
                           np.column_stack([data.X, data.y]))
    se = batch_standard_error(batches)
    angles = np.array([model.direction_deg(w) for w in batches])
    angle = model.direction_deg(fitted)
    angle_se = float(batch_standard_error(angles))
    norms = np.linalg.norm(batches, axis=1)
    norm, norm_se = float(np.linalg.norm(fitted)), float(batch_standard_error(norms))
    closed = model.isotropic_ls_filter(data.a_s, data.sigma_n)
    unshrunk = 1.0 / np.linalg.norm(data.a_s)
    holds = within(fitted, closed, se) and within(angle, 0.0, angle_se) and norm < unshrunk - Z * norm_se
    return Claim(
        "isotropic_noise_shrinks_w", "isotropic noise instead of a distractor only shrinks w",
        f"w = a_s/(|a_s|² + σ_n²/σ²_y) = {format_vector(closed)}: ∥ a_s, |w| = {np.linalg.norm(closed):.3f} "
        f"< 1/|a_s| = {unshrunk:g}",
        f"least-squares w = {format_vector(fitted, 5)} ({in_standard_errors(fitted, closed, se):.1f} SE), "
        f"∠(w, a_s) = {angle:+.3f}° ± {angle_se:.3f}°",
        HOLDS if holds else FAILS,
        source="docs/math.md#toy-claim-5", must_hold=True,
        numbers={"sigma_n": data.sigma_n, "w_least_squares": fitted, "standard_error": se, "w_closed_form": closed,
                 "direction_deg": angle, "direction_se_deg": angle_se, "norm": norm, "norm_se": norm_se,
                 "unshrunk_norm": unshrunk,
                 "pattern_closed_form": model.isotropic_activation_pattern(data.a_s, data.sigma_n)},
    )

