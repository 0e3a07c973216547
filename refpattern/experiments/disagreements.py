"""Why a claim does not reproduce: what differs from the paper, and what an ablation showed
(``docs/math.md#disagreements``).

For every claim whose verdict is not "holds", the report says what differs between the paper's
setting and this one (network depth and width, data, protocol details) and, where a cheap
ablation tests that difference, the verdict the *same rule* gives on the ablation's numbers.
The ablations are fixed in advance (:data:`refpattern.experiments.degradation.ABLATIONS`, the
deeper CNN of :func:`refpattern.experiments.models.deep_cnn`, a ten times longer training of the
linear classifier, the MLP for Fig. 3); an ablation that makes the claim hold is a candidate
explanation of the disagreement, one that does not leaves it standing.  Nothing here changes a
verdict: findings stand as findings.
"""

from __future__ import annotations

from refpattern.experiments.ledger import FAILS, HOLDS, PARTLY, UNRESOLVED, VERDICT_TEXT

PAPER_SETTING = ("Paper: VGG-16 on ImageNet (13 convolutional layers of 64–512 channels, dense layers "
                 "25 088→4 096→4 096→1 000, 224×224 colour photographs)")

DIFFERENCES = {
    "fig3": (PAPER_SETTING + "; patterns from one half of the 1.28 M training images, v from the other half, ρ on "
             "the 50 000 validation images. Here: {architecture} on {data}, {n_per_split} images per split; the "
             "first dense layer has {dense_inputs} inputs, so v is regressed on about {ratio:.1f} observations per "
             "input, close to the degenerate N ≤ D of docs/math.md#rho-held-out, and its ρ moves from split to "
             "split; S_a and S_a± differ only in how they split the two ReLU regimes."),
    "fig4": (PAPER_SETTING + "; 9×9 patches (4 % of the image side, 625 patches), at most 100 of them (16 %) "
             "replaced, the curve shown over those steps. Here: {architecture}, {patch}×{patch} patches "
             "({patch_share:.0%} of the side, {patches} patches), every patch replaced and the AUC taken over all "
             "of them; checkerboard class signals, so a patch-mean replacement removes exactly the signal."),
    "signal_recovery": (PAPER_SETTING + "; the paper shows PatternNet's signal qualitatively (Fig. 5, 6) and gives "
                        "no correlation with a true signal (there is none on ImageNet). Here: {architecture}, the "
                        "true signal is known and the distractor is a smooth ramp shared by all classes."),
    "suppressor_images": ("Wilming et al. (2022) derive the suppressor result for linear models. Here: a ReLU CNN "
                          "({architecture}) on binary images whose suppressor square carries only the distractor."),
    "cascade": ("Sixt et al. (2020) randomise VGG-16 and argue that the effect builds up with depth (the "
                "modified backward pass converges to a rank-one map over many layers). Here: {architecture}, so "
                "at most {steps} layers can be randomised above the first."),
    "input_shift": ("Not a reproduction of the paper: Kindermans, Hooker et al. (2017) list PatternNet and "
                    "PatternAttribution as shift invariant. The paper's S_a± uses the unconditional E[y] "
                    "(docs/math.md#sapm-paper), so its patterns move by c·(E₊[y] − E[y]) under a shift c "
                    "(docs/math.md#shift-invariance); S_a and the regime variant are invariant by construction."),
    "suppressor_linear": ("Wilming et al. (2023) state the pattern result for the optimal filter. The data are "
                          "separable, so the trained softmax classifier's filter approaches (1, −1) only slowly, "
                          "and its pattern's x₂ weight is about the filter's deviation from it."),
    "implementation_invariance": ("A property of the method, not a reproduction: the factorised logit layer "
                                  "W = (W M⁻¹)·M inserts a linear layer with its own patterns; M = Q·diag(d) with "
                                  "d ∈ [0.5, 2] is well conditioned, so the change can be small."),
}
"""What differs from the paper, per claim family (formatted with the run's numbers)."""


def family(key: str) -> str:
    """The claim family of a key: ``"digits.fig4_first.regime"`` → ``"fig4"``."""
    name = key.split(".")[1] if key.startswith("digits.") else key.split(".")[0]
    for prefix in ("fig3", "fig4"):
        if name.startswith(prefix):
            return prefix
    return name


def ablation_sentence(results: dict) -> str:
    """``results``: ``{ablation: verdict}`` → one sentence listing the verdicts, and what they mean."""
    if not results:
        return ""
    listed = "; ".join(f"{what}: {VERDICT_TEXT[verdict]}" for what, verdict in results.items())
    held = [what for what, verdict in results.items() if verdict == HOLDS]
    if held:
        meaning = ("the claim holds with " + ", ".join(held) + ": that difference is a candidate explanation of the "
                   f"disagreement (one of {len(results)} ablations, each judged at 95 % without a correction for "
                   "their number)")
    elif all(verdict in (FAILS, PARTLY) for verdict in results.values()):
        meaning = "the claim does not hold under any of them: these differences do not explain the disagreement"
    else:
        meaning = "none of them makes the claim hold at this sample size (some are not resolved)"
    return f"Ablations (the same rule on the ablation's numbers unless noted) — {listed}. So {meaning}."


def unresolved_sentence(claim, seeds: int) -> str:
    parts = [p for p in claim.numbers.get("parts", []) if p["verdict"] == UNRESOLVED]
    if not parts:
        return ""
    names = ", ".join(p["name"] for p in parts)
    return (f"With {seeds} seeds the intervals of {names} contain their thresholds: the difference is within the "
            "seed-to-seed spread; more seeds (--seeds) would decide it.")


def explanation(claim, context: dict, ablations=None, seeds: int = 0, differences_in: int = 0) -> str:
    """The "why it differs" text of a claim that does not hold (empty for one that holds).

    ``differences_in``: the number of an earlier claim whose card already says what differs from
    the paper (the text is then not repeated); 0 to write it here.
    """
    if claim.verdict == HOLDS:
        return ""
    if differences_in:
        text = f"What differs from the paper: as for claim {differences_in}."
    else:
        template = DIFFERENCES.get(family(claim.key), "")
        try:
            text = template.format(**context)
        except KeyError:
            text = template
    pieces = [text, unresolved_sentence(claim, seeds), ablation_sentence(ablations or {})]
    return " ".join(piece for piece in pieces if piece)
