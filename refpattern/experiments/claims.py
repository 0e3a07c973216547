"""The verdict rules of the CNN experiments' claims (``refpattern reproduce``, ``docs/math.md#verdict-rules``).

Every claim is measured on several independent seeds (:mod:`.intervals`).  A claim is cut into
*parts*, each one number with a threshold and a side, exactly as the claim's statement reads
("ρ(random) below 0.1 in layer Conv2D 0", "AUC(PA S_a±) − AUC(PA S_x) below 0").  A part
**holds** when the 95 % t-interval of its number over seeds lies entirely on the stated side,
**fails** when it lies entirely on the other side, and is **unresolved** when it contains the
threshold.  The claim's verdict combines its parts (:func:`combine`):

* every part holds → ``"holds"``;
* some parts hold and some fail → ``"partly"``, with the condition naming the parts that hold
  (the printed criterion is met there, and clearly not met elsewhere);
* some part fails and none holds → ``"fails"``;
* otherwise (parts unresolved, the rest holding) → ``"unresolved"``, printed "not resolved at
  this sample size".

So no rule is a formality: every one of them gives ``"fails"`` when its numbers lie on the
wrong side (``tests/test_claim_rules.py`` feeds each rule numbers that must fail, hold and stay
unresolved).  Rows fixed by construction (a method that is invariant or not by its algebra, a
filter whose pattern is zero by its definition) are not parts of any claim; the report lists
them as checks of the code.

Thresholds are module constants, chosen before looking at results and never tuned.  Where the
paper judges its ``S_a±``, the same rule is also applied to ``S_a`` and to the within-regime
variant ``S_a± (regime)`` (``docs/math.md#sapm-regime``) as separate claims (keys ``….s_a`` and
``….regime``), so a failure of the paper's estimator can be told from a failure of the method.
These claims are findings about the paper, not checks of this code: none must hold
(``must_hold=False``), so no verdict changes the exit status.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from refpattern.experiments.degradation import RANDOM_ORDER
from refpattern.experiments.intervals import ABOVE, BELOW, CONFIDENCE, Interval, side_of, t_interval
from refpattern.experiments.ledger import FAILS, HOLDS, PARTLY, UNRESOLVED, Claim

RANDOM_RHO_MAX = 0.1
"""Fig. 3: "random removes almost no correlation" means ρ_random < this in every layer."""

MEANINGFUL_RHO_GAIN = 0.1
"""Fig. 3: an estimator "helps" in a layer when its ρ exceeds random's by at least this."""

SUPPRESSOR_RATIO_MAX = 0.05
"""Wilming et al.: a suppressor weight below this fraction of the signal feature's counts as "zero"."""

SUPPRESSOR_MASS_FACTOR = 0.2
"""Suppressor images: "little mass" = less than this fraction of the gradient's mass on the suppressor."""

CASCADE_STABLE = 0.8
"""Sixt et al.: a map is "independent of later layers" if its Spearman(|·|) to the trained map stays above this."""

CASCADE_CHANGED = 0.5
"""…while a parameter-sensitive method (the gradient) falls below this."""

VISIBLE_CHANGE = 0.05
"""A relative map difference ‖E − E'‖/‖E‖ of at least this is visible in a heat map; below it two maps
look the same.  Used by the input-shift and implementation-invariance claims."""

PAPER = "S_a±"
"""The paper's estimator (``variant="paper"``)."""

REGIME = "S_a± (regime)"
"""The within-regime variant of S_a± (``docs/math.md#sapm-regime``)."""

SUBJECTS = (PAPER, REGIME, "S_a")
"""The estimators a claim about the paper's S_a± is also judged with, the paper's first."""

KEY_SUFFIX = {PAPER: "", REGIME: ".regime", "S_a": ".s_a"}
"""The claim key of each subject: ``fig4_first``, ``fig4_first.regime``, ``fig4_first.s_a``."""

TITLE_SUFFIX = {PAPER: "", REGIME: " — with S_a± (regime) instead", "S_a": " — with S_a instead"}

COMBINATION = ("each part holds when its 95 % t-interval over seeds lies wholly on the stated side of the "
               "threshold, fails when it lies wholly on the other side; the claim holds when every part holds, "
               "partly when some hold and some fail, fails when a part fails and none holds, else it is not "
               "resolved at this sample size")
"""How parts combine into a verdict, in words (the report prints it once)."""


@dataclass(frozen=True)
class Part:
    """One number of a claim, with its threshold and the side the claim puts it on."""

    name: str
    interval: Interval
    threshold: float
    side: str

    @property
    def verdict(self) -> str:
        return side_of(self.interval, self.threshold, self.side)

    def text(self, digits: int = 3) -> str:
        sign = ">" if self.side == ABOVE else "<"
        return f"{self.name} {self.interval.text(digits)} ({sign} {self.threshold:g}: {self.verdict})"

    def to_json(self) -> dict:
        return {"name": self.name, "interval": self.interval.to_json(), "threshold": self.threshold,
                "side": self.side, "verdict": self.verdict}


def part(name: str, values, threshold: float, side: str) -> Part:
    """A :class:`Part` whose number has one value per seed (``values``), with its 95 % t-interval."""
    return Part(name, t_interval(values, CONFIDENCE), float(threshold), side)


def combine(parts, controls=()) -> tuple:
    """``(verdict, condition)`` of a claim from its parts (module docstring); the condition names
    the parts that hold when the verdict is ``"partly"``.

    ``controls`` are parts the claim's statement also requires but that are not the claim itself
    (the gradient must change under cascading randomisation for "PatternAttribution does not" to
    mean anything): a claim whose parts all hold holds only when its controls hold too; a failed
    control makes it ``"partly"``, an unresolved one ``"unresolved"``.  Controls never turn a
    failed claim into a partial one.
    """
    if not parts:
        raise ValueError("combine: a claim needs at least one part")
    verdicts = [p.verdict for p in parts]
    held = [p.name for p, v in zip(parts, verdicts) if v == HOLDS]
    if len(held) == len(parts):
        failed = [c.name for c in controls if c.verdict == FAILS]
        if failed:
            return PARTLY, "every part holds, but not the control " + ", ".join(failed)
        if any(c.verdict == UNRESOLVED for c in controls):
            return UNRESOLVED, ""
        return HOLDS, ""
    if FAILS in verdicts:
        if held:
            return PARTLY, "holds for " + ", ".join(held)
        return FAILS, ""
    return UNRESOLVED, ""


def judged(key: str, claim: str, expected: str, parts, rule: str, figure: str = "", note: str = "",
           numbers=None, controls=()) -> Claim:
    """The :class:`~refpattern.experiments.ledger.Claim` of ``parts`` (and ``controls``): the verdict by
    :func:`combine`, the measured text lists every part's interval and verdict (then ``note``)."""
    verdict, condition = combine(parts, controls)
    measured = "; ".join(p.text() for p in [*parts, *controls]) + (f". {note}" if note else "")
    return Claim(key, claim, expected, measured, verdict, condition=condition, rule=rule, figure=figure,
                 numbers={"parts": [p.to_json() for p in parts], "controls": [c.to_json() for c in controls],
                          **(numbers or {})})


def _seeds(values) -> np.ndarray:
    """Per-seed values as a float array: (S,) or (S, L)."""
    return np.asarray(values, dtype=np.float64)


# Fig. 3 -------------------------------------------------------------------------------------
def fig3_claims(result: dict, prefix: str = "", figure: str = "", where: str = "") -> list:
    """The claims of Sec. 5 on ρ per layer (Fig. 3); ``prefix`` goes before every key, ``where``
    (e.g. ``"Digits, "``) before every statement.

    ``result``: ``{"layers": [names], "rho": {estimator label: (S, L) per seed and layer}}`` with
    the labels ``"random"``, ``"S_w"``, ``"S_a"``, ``"S_a±"`` and ``"S_a± (regime)"``
    (:data:`refpattern.experiments.rho_layers.FIG3_ESTIMATORS`).
    """
    rho = {label: _seeds(v) for label, v in result["rho"].items()}
    layers = list(result["layers"])
    dense = [i for i, name in enumerate(layers) if name.startswith("Dense")]
    claims = []

    parts = [part(layers[i], rho["random"][:, i], RANDOM_RHO_MAX, BELOW) for i in range(len(layers))]
    claims.append(judged(prefix + "fig3_random", where + "Fig. 3: random directions remove almost no correlation",
                         "ρ(random) ≈ 0 in every layer (Sec. 5)", parts,
                         f"each layer: ρ(random) < {RANDOM_RHO_MAX}", figure))

    gain = rho["S_w"] - rho["random"]
    parts = [part(f"{layers[0]} gain", gain[:, 0], MEANINGFUL_RHO_GAIN, ABOVE)]
    parts += [part(f"{layers[i]} gain", gain[:, i], MEANINGFUL_RHO_GAIN, BELOW) for i in range(1, len(layers))]
    claims.append(judged(prefix + "fig3_sw", where + "Fig. 3: S_w helps only in the first layer",
                         "ρ(S_w) > ρ(random) in layer 1 only (Sec. 5)", parts,
                         f"gain = ρ(S_w) − ρ(random) per seed; first layer: gain > {MEANINGFUL_RHO_GAIN}, every "
                         f"other layer: gain < {MEANINGFUL_RHO_GAIN}", figure))

    best_baseline = np.maximum(rho["S_w"], rho["random"])
    for subjects, suffix, title in ((("S_a", PAPER), "", ""), ((REGIME,), ".regime", TITLE_SUFFIX[REGIME])):
        parts = [part(f"{s} {layers[i]} margin", rho[s][:, i] - best_baseline[:, i], MEANINGFUL_RHO_GAIN, ABOVE)
                 for s in subjects for i in range(len(layers))]
        claims.append(judged(prefix + "fig3_sa" + suffix,
                             where + "Fig. 3: S_a and S_a± remove much more correlation, in every layer" + title,
                             "ρ(S_a), ρ(S_a±) ≫ ρ(S_w), ρ(random) everywhere (Sec. 5)", parts,
                             f"per seed, layer and estimator: ρ − max(ρ(S_w), ρ(random)) > {MEANINGFUL_RHO_GAIN}",
                             figure))

    if dense:
        for subject, competitors in ((PAPER, ("random", "S_w", "S_a")), (REGIME, ("random", "S_w", "S_a"))):
            parts = [part(f"{layers[i]} vs {c}", rho[subject][:, i] - rho[c][:, i], 0.0, ABOVE)
                     for i in dense for c in competitors]
            title = where + "Fig. 3: S_a± is the best estimator in the dense layers" + TITLE_SUFFIX[subject]
            claims.append(judged(prefix + "fig3_sapm_dense" + KEY_SUFFIX[subject], title,
                                 "ρ(S_a±) highest in the fully connected layers (Sec. 5)", parts,
                                 f"per seed and dense layer: ρ({subject}) − ρ(other) > 0 for every other "
                                 f"estimator ({', '.join(competitors)})", figure))
    return claims


# Fig. 4 -------------------------------------------------------------------------------------
FIG4_ORDER = ("PA S_a±", "PA S_x", "PA S_w", "PA S_a", RANDOM_ORDER)
"""The paper's ranking by degradation speed, fastest first (Fig. 4)."""


def fig4_claims(auc: dict, prefix: str = "", figure: str = "", where: str = "") -> list:
    """The paper's Fig. 4 ranking and "PatternAttribution with S_a± degrades fastest", the latter
    also with S_a and the regime variant.  ``auc``: ``{label: (S,) AUC per seed}`` (lower is better);
    ``prefix`` and ``where`` as in :func:`fig3_claims`."""
    auc = {label: _seeds(v) for label, v in auc.items()}
    claims = []
    parts = [part(f"{a} − {b}", auc[a] - auc[b], 0.0, BELOW) for a, b in zip(FIG4_ORDER, FIG4_ORDER[1:])]
    claims.append(judged(prefix + "fig4_ranking", where + "Fig. 4: the paper's ranking of image degradation",
                         "AUC order (best first): S_a± ≫ S_x (LRP) > S_w > S_a > random (Fig. 4)", parts,
                         "per seed: AUC(left) − AUC(right) < 0 for each neighbouring pair (lower AUC: faster "
                         "degradation)", figure))
    for subject in SUBJECTS:
        label = f"PA {subject}"
        # the regime variant stands in for the paper's S_a±, so it is not compared with it
        excluded = {subject, PAPER} if subject == REGIME else {subject}
        rivals = [e for e in ("S_x", "S_w", "S_a", PAPER) if e not in excluded]
        others = [f"PA {e}" for e in rivals] + [RANDOM_ORDER]
        parts = [part(f"{label} − {other}", auc[label] - auc[other], 0.0, BELOW) for other in others]
        claims.append(judged(prefix + "fig4_first" + KEY_SUFFIX[subject],
                             where + "Fig. 4: PatternAttribution with S_a± degrades fastest" + TITLE_SUFFIX[subject],
                             "PatternAttribution S_a± has the steepest decline, by a large margin (Fig. 4)", parts,
                             f"per seed: AUC({label}) − AUC(other) < 0 for every other curve of the paper's "
                             "figure", figure))
    return claims


# Fig. 5 and the ground truth ----------------------------------------------------------------
SIGNAL_RIVALS = ("gradient", "DeConvNet", "guided backprop")


def signal_recovery_claims(scores: dict, figure: str = "", subjects=SUBJECTS) -> list:
    """PatternNet returns the signal: its output correlates with the true signal better than the
    gradient family's (Sec. 2, 5; Fig. 5).  ``scores``: ``{label: {"signal_corr": (S,)}}``."""
    claims = []
    for subject in subjects:
        label = f"PatternNet {subject}"
        corr = _seeds(scores[label]["signal_corr"])
        parts = [part(f"vs {rival}", corr - _seeds(scores[rival]["signal_corr"]), 0.0, ABOVE)
                 for rival in SIGNAL_RIVALS]
        claims.append(judged("signal_recovery" + KEY_SUFFIX[subject],
                             "PatternNet recovers the signal better than gradient, DeConvNet, guided backprop"
                             + TITLE_SUFFIX[subject],
                             "PatternNet S_a± ≈ signal; gradient-type maps carry the distractor (Sec. 2, 5)", parts,
                             f"per seed: corr({label}, true signal) − corr(rival, true signal) > 0 for each rival",
                             figure))
    return claims


def suppressor_images_claims(scores: dict, figure: str = "") -> list:
    """Wilming et al. (2022): pattern-based maps give the suppressor little weight, gradients do not.
    ``scores``: ``{label: {"mass_suppressor": (S,)}}``."""
    claims = []
    gradient = _seeds(scores["gradient"]["mass_suppressor"])
    for subject in SUBJECTS:
        parts = [part(f"{method} {subject} − {SUPPRESSOR_MASS_FACTOR}·gradient",
                      _seeds(scores[f"{method} {subject}"]["mass_suppressor"]) - SUPPRESSOR_MASS_FACTOR * gradient,
                      0.0, BELOW) for method in ("PatternNet", "PA")]
        claims.append(judged("suppressor_images" + KEY_SUFFIX[subject],
                             "Suppressor images: pattern methods put little mass on the suppressor square"
                             + TITLE_SUFFIX[subject],
                             "the pattern gives a suppressor ~0 weight while weights/gradients do not "
                             "(Wilming et al. 2022)", parts,
                             f"per seed: share of |E| on the suppressor square < {SUPPRESSOR_MASS_FACTOR} × the "
                             "gradient's share, for PatternNet and for PatternAttribution", figure))
    return claims


# Follow-ups ---------------------------------------------------------------------------------
def cascade_claims(result: dict, figure: str = "", subjects=SUBJECTS) -> list:
    """Sixt et al. (2020): PatternAttribution becomes independent of the later layers' parameters.
    ``result``: ``{"randomized": [step names], "methods": {label: {"spearman_abs": (S, K)}}}``."""
    steps = list(result["randomized"])
    gradient = _seeds(result["methods"]["gradient"]["spearman_abs"])
    control = part(f"control: gradient, top {len(steps)} randomised", gradient[:, -1], CASCADE_CHANGED, BELOW)
    claims = []
    for subject in subjects:
        pa = _seeds(result["methods"][f"PA {subject}"]["spearman_abs"])
        parts = [part(f"PA {subject}, top {k + 1} randomised", pa[:, k], CASCADE_STABLE, ABOVE)
                 for k in range(len(steps))]
        claims.append(judged("cascade" + KEY_SUFFIX[subject],
                             "PatternAttribution becomes independent of the later layers' parameters"
                             + TITLE_SUFFIX[subject],
                             "modified-backprop maps barely change when later layers are re-randomised "
                             "(Sixt et al. 2020)", parts,
                             f"per seed: Spearman(|map|) to the trained map > {CASCADE_STABLE} at every step, while "
                             f"the gradient's is < {CASCADE_CHANGED} with all layers above the first randomised (a "
                             "control: it must hold for the claim to hold)", figure, controls=[control]))
    return claims


def input_shift_claim(result: dict) -> Claim:
    """Kindermans, Hooker et al. (2017) list PatternNet and PatternAttribution as input-shift
    invariant; the paper's S_a± is not invariant by its algebra (``docs/math.md#shift-invariance``)
    but how much its maps move is a measurement.  ``result``: ``{"methods": {label:
    {"relative_difference": (S,), "by_construction": bool}}}``; only rows that are not fixed by
    construction are parts (S_a and the regime variant are invariant by construction)."""
    methods = result["methods"]
    parts = [part(label, methods[label]["relative_difference"], VISIBLE_CHANGE, BELOW)
             for label in (f"PatternNet {PAPER}", f"PA {PAPER}")]
    fixed = [label for label, row in methods.items() if row.get("by_construction")]
    note = (f"Not judged, fixed by construction (checks of the code, listed in the report): {', '.join(fixed)}"
            if fixed else "")
    return judged("input_shift", "PatternNet and PatternAttribution (S_a±) are invariant to a constant input shift",
                  "gradient, SmoothGrad, PatternNet, PatternAttribution invariant; input×gradient, IG (zero "
                  "baseline), LRP change (Kindermans et al. 2017)", parts,
                  f"per seed: relative map difference ‖E(x) − E'(x + c)‖/‖E(x)‖ < {VISIBLE_CHANGE} (invisible)",
                  note=note)


def linear_suppressor_claim(result: dict) -> Claim:
    """Wilming et al. (2023) on the trained linear classifier: the S_a pattern gives the suppressor
    less than 0.05 of the signal feature's weight, the gradient does not.  The least-squares filter
    is not judged: its pattern is ``cov̂[x, z]`` by construction.  ``result``: ``{"models":
    {"trained": {"ratios": {label: (S,)}}}}``."""
    ratios = result["models"]["trained"]["ratios"]
    parts = [part("PatternNet S_a ratio", ratios["PatternNet S_a"], SUPPRESSOR_RATIO_MAX, BELOW)]
    control = part("control: gradient ratio", ratios["gradient"], SUPPRESSOR_RATIO_MAX, ABOVE)
    return judged("suppressor_linear",
                  "2-D suppressor: S_a gives the suppressor < 0.05 of the signal feature's weight, the gradient does "
                  "not", "the pattern gives a suppressor zero weight while weights/gradients do not "
                  "(Wilming et al. 2023)", parts,
                  f"trained softmax classifier, per seed: mean|E₂| / mean|E₁| < {SUPPRESSOR_RATIO_MAX} for the S_a "
                  f"pattern; the gradient's > {SUPPRESSOR_RATIO_MAX} is a control (it must hold for the claim to hold)",
                  note="The least-squares filter is not judged: its S_a pattern is ∝ cov̂[x, z] by construction",
                  controls=[control])


def implementation_invariance_claims(result: dict) -> list:
    """"PatternAttribution is not implementation-invariant", measured as the size of the change:
    functionally identical networks whose construction is not invariant by the algebra get maps that
    differ visibly.  ``result``: ``{"constructions": {name: {"relative_difference": {label: (S,)},
    "by_construction": bool}}}``."""
    constructions = result["constructions"]
    measured = [name for name, row in constructions.items() if not row["by_construction"]]
    fixed = [name for name, row in constructions.items() if row["by_construction"]]
    claims = []
    for subject in SUBJECTS:
        label = f"PA {subject}"
        parts = [part(f"{label}, {name}", constructions[name]["relative_difference"][label], VISIBLE_CHANGE, ABOVE)
                 for name in measured]
        claims.append(judged("implementation_invariance" + KEY_SUFFIX[subject],
                             "PatternAttribution is not implementation-invariant: identical functions, visibly "
                             "different maps" + TITLE_SUFFIX[subject],
                             "functionally identical networks can get different PatternAttribution maps", parts,
                             f"per seed: relative map difference > {VISIBLE_CHANGE} (visible)",
                             note=(f"Invariant by construction, not judged: {', '.join(fixed)}" if fixed else "")))
    return claims
