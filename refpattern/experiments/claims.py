"""The verdict rules of the CNN experiments' claims (``refpattern reproduce``).

Each function turns the numbers of one experiment into :class:`~refpattern.experiments.ledger.Claim`
rows: what the paper (or follow-up) says, what we measured, and a verdict ``"holds"``,
``"partly"`` or ``"fails"`` drawn by the fixed rule written next to it (thresholds are module
constants, chosen before looking at results and never tuned).  These claims are findings about
the paper, not checks of this code: none must hold (``must_hold=False``), so no verdict changes
the exit status.  A claim whose experiment did not run is not listed.
"""

from __future__ import annotations

import numpy as np

from refpattern.experiments.degradation import RANDOM_ORDER
from refpattern.experiments.ledger import Claim
from refpattern.experiments.report import format_vector

RANDOM_RHO_MAX = 0.1
"""Fig. 3: "random removes almost no correlation" means ρ_random ≤ this in every layer."""

MEANINGFUL_RHO_GAIN = 0.1
"""Fig. 3: an estimator "helps" in a layer when its ρ exceeds random's by at least this."""

SUPPRESSOR_RATIO_MAX = 0.05
"""Wilming et al.: a suppressor weight ≤ this fraction of the signal feature's counts as "zero"."""

SUPPRESSOR_MASS_FACTOR = 0.2
"""Suppressor images: "little mass" = at most this fraction of the gradient's mass on the suppressor."""

CASCADE_STABLE = 0.8
"""Sixt et al.: a map is "independent of later layers" if its Spearman(|·|) to the trained map stays ≥ this."""

CASCADE_CHANGED = 0.5
"""…while a parameter-sensitive method (the gradient) falls below this."""


# Fig. 3 -------------------------------------------------------------------------------------
def fig3_claims(result: dict) -> list:
    """Four claims of Sec. 5 (Fig. 3) on ρ per layer (``result`` from :func:`.rho_layers.rho_per_layer`)."""
    rho = {k: np.asarray(v, dtype=float) for k, v in result["rho"].items()}
    layers = result["layers"]
    dense = [i for i, name in enumerate(layers) if name.startswith("Dense")]
    claims = []

    worst = float(np.max(np.abs(rho["random"])))
    verdict = "holds" if worst <= RANDOM_RHO_MAX else "partly" if worst <= 2.5 * RANDOM_RHO_MAX else "fails"
    claims.append(Claim("fig3_random", "Fig. 3: random directions remove almost no correlation",
                        "ρ(random) ≈ 0 in every layer",
                        f"ρ(random) per layer {format_vector(rho['random'], 2)}; max |ρ| {worst:.3f} "
                        f"(threshold {RANDOM_RHO_MAX})",
                        verdict))

    gain = rho["w"] - rho["random"]
    first_helps = gain[0] >= MEANINGFUL_RHO_GAIN
    only_first = bool(np.all(gain[1:] < MEANINGFUL_RHO_GAIN))
    verdict = "holds" if first_helps and only_first else "partly" if first_helps or only_first else "fails"
    claims.append(Claim("fig3_sw", "Fig. 3: S_w helps only in the first layer",
                        "ρ(S_w) > ρ(random) in layer 1 only",
                        f"ρ(S_w) {format_vector(rho['w'], 2)}; gain over random {format_vector(gain, 2)} "
                        f"(helps = gain ≥ {MEANINGFUL_RHO_GAIN})",
                        verdict))

    best_other = np.maximum(rho["w"], rho["random"])
    weaker = np.minimum(rho["a"], rho["a+-"])
    with_margin = weaker >= best_other + MEANINGFUL_RHO_GAIN
    verdict = ("holds" if np.all(with_margin)
               else "partly" if np.all(weaker > best_other) or np.mean(with_margin) >= 0.5
               else "fails")
    claims.append(Claim("fig3_sa", "Fig. 3: S_a and S_a± remove much more correlation, in every layer",
                        "ρ(S_a), ρ(S_a±) ≫ ρ(S_w), ρ(random) everywhere",
                        f"ρ(S_a) {format_vector(rho['a'], 2)}, ρ(S_a±) {format_vector(rho['a+-'], 2)}; "
                        f"layers with a margin ≥ {MEANINGFUL_RHO_GAIN} over S_w and random: "
                        f"{int(np.sum(with_margin))}/{len(layers)}",
                        verdict))

    if dense:
        best = [bool(rho["a+-"][i] >= max(rho[k][i] for k in rho)) for i in dense]
        verdict = "holds" if all(best) else "partly" if any(best) else "fails"
        claims.append(Claim("fig3_sapm_dense", "Fig. 3: S_a± is the best estimator in the dense layers",
                            "ρ(S_a±) highest in the fully connected layers",
                            "dense layers " + ", ".join(
                                f"{layers[i]}: S_a± {rho['a+-'][i]:.3f} vs S_a {rho['a'][i]:.3f}" for i in dense),
                            verdict))
    return claims


# Fig. 4 -------------------------------------------------------------------------------------
FIG4_ORDER = ("PA S_a±", "PA S_x", "PA S_w", "PA S_a", RANDOM_ORDER)


def fig4_claim(auc: dict) -> Claim:
    """The ranking S_a± ≫ S_x > S_w > S_a > random by area under the degradation curve (lower is better)."""
    values = [auc[label] for label in FIG4_ORDER]
    strict = all(a < b for a, b in zip(values, values[1:]))
    best_and_beat_random = values[0] == min(values) and all(v < values[-1] for v in values[:-1])
    verdict = "holds" if strict else "partly" if best_and_beat_random else "fails"
    measured = ", ".join(f"{label} {auc[label]:.3f}" for label in sorted(FIG4_ORDER, key=lambda k: auc[k]))
    return Claim("fig4_ranking", "Fig. 4: image degradation ranks PatternAttribution S_a± first",
                 "AUC order (best first): S_a± ≫ S_x (LRP) > S_w > S_a > random",
                 f"AUC, best first: {measured}", verdict)


# Ground truth -------------------------------------------------------------------------------
def signal_recovery_claim(scores: dict) -> Claim:
    """PatternNet returns the signal: its output correlates with the true signal better than the
    gradient family's (Sec. 2 and Sec. 5, Fig. 5)."""
    pn = scores["PatternNet S_a±"]["signal_corr"]
    others = {k: scores[k]["signal_corr"] for k in ("gradient", "DeConvNet", "guided backprop")}
    verdict = "holds" if pn > max(others.values()) else "partly" if pn > others["gradient"] else "fails"
    return Claim("signal_recovery", "PatternNet recovers the signal better than gradient, DeConvNet, guided backprop",
                 "PatternNet S_a± ≈ signal; gradient-type maps carry the distractor (Sec. 2, 5)",
                 f"corr with true signal: PatternNet S_a± {pn:.3f}; "
                 + ", ".join(f"{k} {v:.3f}" for k, v in others.items()), verdict)


def suppressor_images_claim(scores: dict) -> Claim:
    """Wilming et al. (2022): pattern-based maps give the suppressor little weight, gradients do not."""
    grad = scores["gradient"]["mass_suppressor"]
    pa = scores["PA S_a±"]["mass_suppressor"]
    pn = scores["PatternNet S_a±"]["mass_suppressor"]
    limit = SUPPRESSOR_MASS_FACTOR * grad
    verdict = ("holds" if pa <= limit and pn <= limit
               else "partly" if min(pa, pn) <= limit or max(pa, pn) < grad
               else "fails")
    return Claim("suppressor_images", "Suppressor images: pattern methods put little mass on the suppressor square",
                 "the pattern gives a suppressor ~0 weight while weights/gradients do not (Wilming et al. 2022)",
                 f"share of |E| on the suppressor square: gradient {grad:.3f}, PatternNet S_a± {pn:.3f}, "
                 f"PA S_a± {pa:.3f} (little = ≤ {SUPPRESSOR_MASS_FACTOR}× gradient's)", verdict)


# Follow-ups ---------------------------------------------------------------------------------
def linear_suppressor_claim(result: dict) -> Claim:
    """Holds if, for both linear models, the S_a pattern ratio is ≤ 0.05 and the gradient's is not."""
    ok = {}
    parts = []
    for name, row in result["models"].items():
        r = row["ratios"]
        ok[name] = r["PatternNet S_a"] <= SUPPRESSOR_RATIO_MAX < r["gradient"]
        parts.append(f"{name} (filter {format_vector(row['filter_class1'], 2)}): gradient {r['gradient']:.3f}, "
                     f"S_a pattern {r['PatternNet S_a']:.4f}, PA S_a {r['PA S_a']:.4f}")
    verdict = "holds" if all(ok.values()) else "partly" if any(ok.values()) else "fails"
    return Claim("suppressor_linear",
                 "2-D suppressor: S_a gives the suppressor ≤ 0.05 of the signal feature's weight, "
                 "the gradient does not",
                 "the pattern gives a suppressor zero weight while weights/gradients do not (Wilming et al. 2023)",
                 "|x₂| / |x₁| weight — " + "; ".join(parts), verdict)


def cascade_claim(result: dict) -> Claim:
    pa = np.asarray(result["methods"]["PA S_a±"]["spearman_abs"])
    grad = np.asarray(result["methods"]["gradient"]["spearman_abs"])
    if np.all(pa >= CASCADE_STABLE) and grad[-1] < CASCADE_CHANGED:
        verdict = "holds"
    elif np.all(pa > grad):
        verdict = "partly"
    else:
        verdict = "fails"
    return Claim("cascade", "PatternAttribution becomes independent of the later layers' parameters",
                 "modified-backprop maps barely change when later layers are re-randomised (Sixt et al. 2020)",
                 f"Spearman(|map|) to the trained map, top 1..{len(pa)} kernel layers randomised: "
                 f"PA S_a± {format_vector(pa, 2)}, "
                 f"gradient {format_vector(grad, 2)} "
                 f"(stable = all ≥ {CASCADE_STABLE} while gradient < {CASCADE_CHANGED})",
                 verdict)


def input_shift_claim(result: dict) -> Claim:
    methods = result["methods"]
    mismatched = [label for label, row in methods.items() if row["changed"] == row["expected_invariant"]]
    changed = [label for label, row in methods.items() if row["changed"]]
    matches = len(methods) - len(mismatched)
    verdict = "holds" if not mismatched else "partly" if matches >= 2 * len(methods) / 3 else "fails"
    return Claim("input_shift", "A constant input shift absorbed by the first bias changes some explanations",
                 "gradient, SmoothGrad, PatternNet, PatternAttribution invariant; input×gradient, IG (zero "
                 "baseline), LRP change (Kindermans et al. 2017); deep Taylor with the w² rule invariant",
                 f"changed (rel. diff > {result['tolerance']:g}): {', '.join(changed) or 'none'}; "
                 f"not as expected: {', '.join(mismatched) or 'none'}", verdict)


def implementation_invariance_claim(result: dict) -> Claim:
    tol = result["tolerance"]
    parts, broken = [], 0
    for name, row in result["constructions"].items():
        diff = row["relative_difference"]
        pa = max(diff["PA S_a"], diff["PA S_a±"])
        broken += pa > tol
        parts.append(f"{name}: PA {pa:.2g} (gradient {diff['gradient']:.1g})")
    verdict = "holds" if broken else "fails"
    return Claim("implementation_invariance", "PatternAttribution is not implementation-invariant",
                 "functionally identical networks can get different PatternAttribution maps",
                 f"relative map difference, {'; '.join(parts)}; {broken}/{len(parts)} constructions differ (> {tol:g})",
                 verdict)
