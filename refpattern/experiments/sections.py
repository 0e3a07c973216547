"""The reproduce report, built from the per-seed numbers: sections, figures, claims.

Each experiment gets a section: what was done, its figure (means over seeds with 95 %
intervals), right under it the claims judged on that figure as cards (what the paper says, the
measured intervals, the rule, the verdict and, for a claim that does not reproduce, why —
:mod:`.disagreements`), then the detailed numbers.  :class:`Report` collects the sections,
figures and claims of every data set; :func:`front_matter` puts the summary on top.
"""

from __future__ import annotations

import numpy as np

from refpattern.experiments import claims as rules
from refpattern.experiments import plots
from refpattern.experiments.claims import COMBINATION, PAPER, SUBJECTS
from refpattern.experiments.degradation import ABLATIONS
from refpattern.experiments.disagreements import explanation, family
from refpattern.experiments.gallery import gallery_summary
from refpattern.experiments.intervals import CONFIDENCE, stack_runs, t_interval
from refpattern.experiments.ledger import HOLDS, VERDICTS, claim_card, summary_table, verdict_counts
from refpattern.experiments.method_suite import ESTIMATORS, LRP_EPSILON, full_suite
from refpattern.experiments.report import Section, Table, format_vector


class Report:
    """What the report accumulates: ``sections``, ``figures`` (name → PNG), ``captions`` and ``claims``."""

    def __init__(self):
        self.sections, self.figures, self.captions, self.claims = [], {}, {}, []

    def figure(self, name: str, drawn) -> str:
        self.figures[name], self.captions[name] = drawn
        return name

    def section(self, title, paragraphs=(), figures=(), claims=(), tables=(), numbers_title="Numbers"):
        """A section: text, figures, then its claims as cards; ``tables`` go into a subsection below."""
        first = len(self.claims) + 1
        self.claims += list(claims)
        cards = [claim_card(c, first + i) for i, c in enumerate(claims)]
        self.sections.append(Section(title, list(paragraphs), [], list(figures), cards))
        if tables:
            self.sections.append(Section(f"{title} — {numbers_title.lower()}", [], list(tables), level=3))


def interval_text(values, digits: int = 3) -> str:
    """``"0.312 [0.290, 0.334]"``: the mean over seeds and its 95 % interval."""
    return t_interval(values).text(digits)


def spread_text(values, digits: int = 2) -> str:
    """``"0.98 ± 0.01"``: mean and half-width of the 95 % interval (for narrow gallery columns)."""
    interval = t_interval(values)
    if not np.isfinite(interval.half_width):
        return f"{interval.mean:.{digits}f}"
    return f"{interval.mean:.{digits}f} ± {interval.half_width:.{digits}f}"


def _explained(report, claims, context, seeds, ablations_for=None):
    """Attach the "why it differs" text to every claim that does not hold (what differs from the paper
    is written once per family of claims, in the first card that needs it)."""
    first_index, written = len(report.claims) + 1, {}
    for number, claim in enumerate(claims, first_index):
        if claim.verdict == HOLDS:
            continue
        ablations = ablations_for(claim) if ablations_for else None
        kind = family(claim.key)
        claim.explanation = explanation(claim, context, ablations, seeds, written.get(kind, 0))
        written.setdefault(kind, number)
    return claims


def fig3_context(result: dict, architecture: str, data: str) -> dict:
    """The numbers the Fig. 3 "what differs" text needs: the split size and the first dense layer's inputs
    (read off ``architecture``, :func:`refpattern.experiments.models.architecture`)."""
    n = int(np.min(result["n_per_split"]))
    dense = [int(part.split("→")[0].split()[-1]) for part in architecture.split(", ") if part.startswith("dense ")]
    inputs = dense[0] if dense else 0
    return {"architecture": architecture, "data": data, "n_per_split": n, "dense_inputs": inputs,
            "ratio": n / inputs if inputs else float("nan")}


def _verdict(claims, key) -> str:
    return next(c.verdict for c in claims if c.key == key)


def models_table(models: dict, caption: str) -> Table:
    rows = [[name, row["architecture"], interval_text(row["train_accuracy"]), interval_text(row["test_accuracy"]),
             interval_text(row["epochs"], 1)] for name, row in models.items()]
    return Table(["model", "architecture", "train accuracy", "held-out accuracy", "epochs"], rows, caption)


def rho_table(result: dict, caption: str) -> Table:
    return Table(["estimator", *result["layers"]],
                 [[label, *[interval_text(values[:, i]) for i in range(values.shape[1])]]
                  for label, values in result["rho"].items()], caption)


def auc_table(fig4: dict, extra=None, caption: str = "") -> Table:
    """Methods × protocols: AUC mean [95 % interval]; ``extra``: ``{column: {label: (S,)}}``."""
    protocols = ["main", *fig4["ablations"]]
    columns = {"main": fig4["auc"], **{p: fig4["ablations"][p]["auc"] for p in fig4["ablations"]}, **(extra or {})}
    order = sorted(fig4["auc"], key=lambda k: float(np.mean(fig4["auc"][k])))
    header = ["method", *protocols, *(extra or {})]
    rows = [[label, *[interval_text(columns[c][label]) if label in columns[c] else "—" for c in header[1:]]]
            for label in order]
    return Table(header, rows, caption)


def gallery_rows(summary: dict, class_names=None) -> dict:
    """The gallery's text columns: label, prediction (with the seeds that agree), confidence."""
    name = (lambda k: str(k)) if class_names is None else (lambda k: class_names[k])
    seeds = summary["seeds"]
    return {"label": [name(k) for k in summary["label"]],
            "prediction": [f"{name(p)} ({a}/{seeds})" for p, a in zip(summary["prediction"], summary["agreeing"])],
            "confidence": [spread_text(i.values) for i in summary["confidence"]]}


def split_by_kind(explanations: dict, kinds: dict) -> tuple:
    """``(signals and gradients, attributions)``: the gallery drawn as two figures of moderate width."""
    first = {k: v for k, v in explanations.items() if kinds[k] != "attribution"}
    second = {k: v for k, v in explanations.items() if kinds[k] == "attribution"}
    return first, second


def gallery_figures(report, prefix: str, title: str, x, runs: list, labels, kinds: dict, truth=None,
                    class_names=None) -> tuple:
    """The two labelled gallery figures of one data set and its summary over seeds."""
    summary = gallery_summary(runs, labels)
    rows = gallery_rows(summary, class_names)
    signals, attributions = split_by_kind(runs[0]["explanations"], kinds)
    names = [report.figure(f"{prefix}_signals", plots.gallery_figure(
                 x, signals, kinds, truth, f"{title}: signals and gradients (first seed's network)", rows)),
             report.figure(f"{prefix}_attributions", plots.gallery_figure(
                 x, attributions, kinds, None, f"{title}: attributions (first seed's network)", rows))]
    return names, summary


# --- the built-in synthetic images ------------------------------------------------------------
def synthetic_report(report: Report, settings, runs: list, galleries: list, gallery_tasks) -> dict:
    """Sections, figures and claims of the synthetic-image experiments; returns the JSON numbers."""
    s = settings
    seeds = len(runs)
    stacked = stack_runs(runs)
    gallery_task, sup_gallery_task = gallery_tasks
    architecture = stacked["models"]["cnn"]["architecture"]

    report.section("Setup: built-in synthetic images", [
        "Images are 1×16×16, `x = signal + distractor + noise` (`refpattern.datasets.make_image_task`, 4 classes, "
        "texture `checker`: each class is a ±1 checkerboard square of side 4 at its own place, scaled by "
        "`y ~ U[0.5, 1.5]`; the distractor is a smooth ramp `ε·D`, `ε ~ N(0, 1)`, the same for all classes; noise "
        "`N(0, 0.2²)`). The suppressor images (`make_suppressor_task`) are binary: the signal square carries `±y` "
        "plus a distractor `ε`, a second square carries only `ε` (the suppressor).",
        f"Each of the {seeds} repetitions draws its own training set ({s.train_samples} images) and held-out set, "
        "trains its own networks with Adam (`refpattern.train.train`, stop at 99 % training accuracy, at most 20 "
        "epochs) and cuts its own splits. Patterns are fitted on the training set. Explanations are of the "
        "pre-softmax logit of the predicted class (the true class for the ground-truth scores). LRP-ε uses "
        f"ε = {LRP_EPSILON}; integrated gradients {s.ig_steps} midpoint steps from a zero baseline; SmoothGrad "
        f"{s.smoothgrad_samples} samples, noise level 0.15."],
        tables=[models_table(stacked["models"], "Trained networks, mean [95 % interval] over seeds")],
        numbers_title="Networks")

    # Fig. 3
    fig3 = stacked["fig3"]
    figures = [report.figure("fig3_rho_cnn", plots.rho_figure(fig3["cnn"], "ρ per kernel layer, CNN (Fig. 3)"))]
    if "mlp" in fig3:
        figures.append(report.figure("fig3_rho_mlp", plots.rho_figure(fig3["mlp"], "ρ per kernel layer, MLP")))
    fig3_claims = rules.fig3_claims(fig3["cnn"], figure="fig3_rho_cnn")
    mlp_claims = rules.fig3_claims(fig3["mlp"]) if "mlp" in fig3 else []
    context = fig3_context(fig3["cnn"], architecture, "16×16 synthetic images (signal + ramp distractor + noise)")
    _explained(report, fig3_claims, context, seeds,
               lambda c: {"the MLP (three dense layers)": _verdict(mlp_claims, c.key)} if mlp_claims else {})
    report.section("Fig. 3: ρ per kernel layer", [
        "Three disjoint thirds of a held-out draw: patterns fitted on the first, the distractor projection `v` on "
        "the second, ρ = 1 − corr(wᵀx, vᵀ(x − S(x))) measured on the third (docs/math.md#rho-held-out); the layer "
        "value is the mean over its neurons. Higher ρ: the estimator leaves less of the output's information in "
        "its distractor estimate. Paper (VGG-16): random ≈ 0; S_w helps only in layer 1; S_a and S_a± much higher "
        "everywhere; S_a± best in the dense layers. `S_a± (regime)` is the within-regime variant "
        "(docs/math.md#sapm-regime)."], figures, fig3_claims,
        [rho_table(result, f"ρ per kernel layer, {model.upper()}, mean [95 % interval] over {seeds} seeds")
         for model, result in fig3.items()])

    # Fig. 4
    fig4 = stacked["fig4"]
    deep = stacked["ablation_deep"]
    curves = {label: np.asarray(values) for label, values in fig4["curves"].items()}
    figures = [report.figure("fig4_degradation", plots.degradation_figure(curves, s.patch)),
               report.figure("fig4_auc", plots.interval_figure(fig4["auc"], "Image degradation: area under the curve",
                                                               "AUC (mean of the curve)"))]
    fig4_claims = rules.fig4_claims(fig4["auc"], figure="fig4_auc")
    ablation_claims = {p: rules.fig4_claims(fig4["ablations"][p]["auc"]) for p in fig4["ablations"]}
    deep_claims = rules.fig4_claims({**deep["fig4"]["auc"]}) if _has_paper_curves(deep["fig4"]["auc"]) else []
    context = {"architecture": architecture, "patch": s.patch, "patch_share": s.patch / 16,
               "patches": int(fig4["patches"][0])}

    def fig4_ablations(claim):
        out = {f"protocol {p}": _verdict(found, claim.key) for p, found in ablation_claims.items()}
        if deep_claims:
            out["the deeper CNN (six kernel layers)"] = _verdict(deep_claims, claim.key)
        return out

    _explained(report, fig4_claims, context, seeds, fig4_ablations)
    report.section("Fig. 4: image degradation", [
        f"{s.degradation_images} held-out images per seed cut into {int(fig4['patches'][0])} non-overlapping "
        f"{s.patch}×{s.patch} patches. Patches are sorted by the summed attribution (signed, all channels) and "
        "replaced, in that order, by their own per-channel mean; the curve is the mean softmax probability of the "
        "class chosen on the intact image (docs/math.md#fig4). AUC = mean of the curve over n = 0..all; lower is "
        "better. PA S_x is PatternAttribution with the identity estimator, i.e. LRP-z. The random order is one "
        "permutation per image.",
        "Protocol ablations (docs/math.md#fig4-ablation), on the same maps: " + "; ".join(
            f"`{p}`: {text}" for p, text in ABLATIONS.items()) + ". The deeper CNN has six kernel layers "
        f"({deep['architecture']})."], figures, fig4_claims,
        [auc_table(fig4, {"deeper CNN": deep["fig4"]["auc"]},
                   f"AUC per method and protocol, mean [95 % interval] over {seeds} seeds (lower: faster)")])

    # Fig. 5: gallery and the scores against the truth
    kinds = _kinds(galleries[0]["image"]["explanations"])
    gallery_names, image_gallery = gallery_figures(
        report, "fig5_gallery", "Fig. 5, synthetic images", gallery_task.X, [g["image"] for g in galleries],
        gallery_task.labels, kinds, gallery_task.signal)
    scores = stacked["scores_image"]["methods"]
    score_figure = report.figure("fig5_scores", plots.interval_figure(
        {label: {"signal": row["signal_corr"], "distractor": row["distractor_corr"]} for label, row in scores.items()},
        "Correlation of each map with the true signal and with the true distractor", "Pearson correlation",
        lower_is_better=False, reference=0.0))
    signal_claims = rules.signal_recovery_claims(scores, figure="fig5_scores")
    deep_signal = rules.signal_recovery_claims(deep["scores_image"])
    _explained(report, signal_claims, {"architecture": architecture}, seeds,
               lambda c: {"the deeper CNN (six kernel layers)": _verdict(deep_signal, c.key)})
    for claim in signal_claims:
        label = _subject_label(claim.key, "PatternNet ")
        if claim.verdict != HOLDS:
            claim.explanation += (f" Distractor kept: corr({label}, true distractor) "
                                  f"{interval_text(scores[label]['distractor_corr'])}, gradient "
                                  f"{interval_text(scores['gradient']['distractor_corr'])}; deeper CNN: "
                                  f"{interval_text(deep['scores_image'][label]['distractor_corr'])}.")
    area = float(np.mean(stacked["scores_image"]["area"]["signal"]))
    report.section("Fig. 5: every method on the same images", [
        f"The {len(gallery_task.X)} gallery images are one fixed held-out draw, explained by every seed's network; "
        "the figures show the first seed's maps. The label columns give the true class, the majority prediction "
        f"over the {seeds} seeds' networks (how many agree) and the confidence (softmax probability of the "
        "predicted class, mean ± half-width of the 95 % interval over seeds). Each image column has one colour "
        "scale (colour bar below it): signals in grey (0 mid-grey), attributions red/blue "
        "(docs/math.md#fig5-gallery).",
        "Scores against the known truth (docs/math.md#fig5): corr = Pearson correlation over pixels between the map "
        "and the true signal (or the true distractor ramp), averaged over images; mass = share of Σ|E| on each "
        f"image's own signal square (its area, {area:.3f}, is the chance level). The correlation is meant for "
        "signal methods: an attribution is positive wherever the evidence is, whatever the sign of the ±1 "
        "checkerboard, so its correlation with the signed signal is near 0 by construction — read its mass on the "
        "signal square instead. Stability = mean Spearman correlation of |map| between two seeds' networks on the "
        "gallery images."],
        gallery_names + [score_figure], signal_claims,
        [Table(["method", "corr with signal", "corr with distractor", "mass on signal square", "stability"],
               [[label, interval_text(row["signal_corr"]), interval_text(row["distractor_corr"]),
                 interval_text(row["mass_signal"]), image_gallery["stability"].get(label)]
                for label, row in scores.items()],
               f"Image task, CNN, mean [95 % interval] over {seeds} seeds"),
         Table(["method", "corr with signal", "corr with distractor"],
               [[label, interval_text(row["signal_corr"]), interval_text(row["distractor_corr"])]
                for label, row in deep["scores_image"].items()],
               f"Ablation: the deeper CNN ({deep['architecture']})")])

    # suppressor images
    sup_kinds = _kinds(galleries[0]["suppressor"]["explanations"])
    sup_names, _ = gallery_figures(report, "suppressor_gallery", "Suppressor images (signal upper left, "
                                   "suppressor lower right)", sup_gallery_task.X,
                                   [g["suppressor"] for g in galleries], sup_gallery_task.labels, sup_kinds,
                                   sup_gallery_task.signal)
    sup_scores = stacked["scores_suppressor"]["methods"]
    regions = ["signal", "suppressor", "elsewhere"]
    mass_name = report.figure("suppressor_mass", plots.mass_figure(sup_scores, regions,
                                                                   "Suppressor images: where |explanation| lies"))
    sup_claims = rules.suppressor_images_claims(sup_scores, figure="suppressor_mass")
    linear = stacked["linear_suppressor"]
    linear_claim = rules.linear_suppressor_claim(linear)
    _explained(report, sup_claims, {"architecture": architecture}, seeds,
               lambda c: {"the linear 2-D suppressor, Wilming et al.'s own setting (claim suppressor_linear, its own "
                          "rule)": linear_claim.verdict})
    sup_area = {k: float(np.mean(v)) for k, v in stacked["scores_suppressor"]["area"].items()}
    report.section("Suppressor images (Wilming et al., 2022)", [
        "Binary task; the suppressor square carries only the distractor, which the network needs to cancel the "
        "distractor on the signal square. Mass = share of Σ|E| in each region (areas: " + ", ".join(
            f"{k} {v:.3f}" for k, v in sup_area.items()) + ")."],
        sup_names + [mass_name], sup_claims,
        [Table(["method", "mass on signal", "mass on suppressor", "mass elsewhere", "corr with signal"],
               [[label, interval_text(row["mass_signal"]), interval_text(row["mass_suppressor"]),
                 interval_text(row["mass_elsewhere"]), interval_text(row["signal_corr"])]
                for label, row in sup_scores.items()],
               f"Suppressor task, CNN, mean [95 % interval] over {seeds} seeds")])

    # follow-ups
    cascade = stacked["cascade"]
    cascade_name = report.figure("cascade", plots.cascade_figure(cascade))
    cascade_claims = rules.cascade_claims(cascade, figure="cascade")
    deep_cascade = deep.get("cascade")
    context = {"architecture": architecture, "steps": len(cascade["randomized"])}

    def cascade_ablation(claim):
        if deep_cascade is None or not claim.key.endswith("cascade"):
            return {}
        deep_claim = rules.cascade_claims(deep_cascade, subjects=(PAPER,))[0]
        return {"the deeper CNN (six kernel layers)": deep_claim.verdict}

    _explained(report, cascade_claims, context, seeds, cascade_ablation)
    report.section("Follow-up: cascading randomisation (Sixt et al., 2020)", [
        "The top 1, 2, … kernel layers of the trained CNN are re-drawn (He initialisation, zero bias); patterns are "
        "fitted again for each randomised network; each map is compared with the trained network's map for the "
        "same image and class (Spearman correlation of |map| over pixels, mean over images) "
        "(docs/math.md#followup-cascading)."], [cascade_name], cascade_claims,
        [Table(["method", *[f"top {i + 1}" for i in range(len(cascade["randomized"]))]],
               [[label, *[interval_text(row["spearman_abs"][:, k]) for k in range(row["spearman_abs"].shape[1])]]
                for label, row in cascade["methods"].items()],
               f"Spearman(|map|) to the trained map, mean [95 % interval] over {seeds} seeds; randomised at each "
               "step: " + " | ".join(cascade["randomized"])),
         *([Table(["method", *[f"top {i + 1}" for i in range(len(deep_cascade["randomized"]))]],
                  [[label, *[interval_text(row["spearman_abs"][:, k]) for k in range(row["spearman_abs"].shape[1])]]
                   for label, row in deep_cascade["methods"].items()], "Ablation: the deeper CNN")]
           if deep_cascade is not None else [])])

    shift = stacked["input_shift"]
    shift_claim = rules.input_shift_claim(shift)
    _explained(report, [shift_claim], {}, seeds)
    report.section("Follow-up: input shift absorbed by the first bias (Kindermans et al., 2017)", [
        f"The MLP sees x + c (c = {float(np.mean(shift['shift'])):g}) and its first bias becomes b − W c, so all "
        f"logits agree (largest difference over seeds {float(np.max(shift['max_logit_difference'])):.1e}). "
        "Patterns are fitted on the shifted training data. Rows fixed by construction are checks of the code, not "
        "findings (docs/math.md#followup-input-shift)."], [], [shift_claim],
        [Table(["method", "relative difference", "fixed by construction", "expected invariant"],
               [[label, interval_text(row["relative_difference"]), row["by_construction"], row["expected_invariant"]]
                for label, row in shift["methods"].items()], f"Mean [95 % interval] over {seeds} seeds")])

    longer = stacked["ablation_linear_suppressor"]
    longer_claim = rules.linear_suppressor_claim(longer)
    _explained(report, [linear_claim], {}, seeds,
               lambda c: {f"training {int(longer['epochs'][0])} instead of {int(linear['epochs'][0])} epochs":
                          longer_claim.verdict})
    report.section("Follow-up: the 2-D linear suppressor (Wilming et al., 2023)", [
        f"x₁ = z + η, x₂ = η, z = ±1, η ~ N(0, 1), {int(linear['n'][0])} samples per seed. Two linear models: a "
        f"softmax classifier trained for {int(linear['epochs'][0])} epochs (logits centred; same probabilities) and "
        "the least-squares filter Σ̂⁻¹cov̂[x, z]. S_a is fitted on the data; ratio = mean|E₂| / mean|E₁| of the "
        "explained logit. The least-squares filter's pattern is ∝ cov̂[x, z] by construction, so it is a check, "
        "not a finding (docs/math.md#followup-suppressor)."], [], [linear_claim],
        [Table(["model", "accuracy", "gradient ratio", "S_a pattern ratio", "PA S_a ratio"],
               [[name, interval_text(row["accuracy"]), interval_text(row["ratios"]["gradient"]),
                 interval_text(row["ratios"]["PatternNet S_a"]), interval_text(row["ratios"]["PA S_a"])]
                for name, row in [*linear["models"].items(),
                                  *[(f"{k} ({int(longer['epochs'][0])} epochs)", v)
                                    for k, v in longer["models"].items() if k == "trained"]]],
               f"Mean [95 % interval] over {seeds} seeds")])

    inv = stacked["implementation_invariance"]
    inv_claims = rules.implementation_invariance_claims(inv)
    _explained(report, inv_claims, {}, seeds)
    labels = list(next(iter(inv["constructions"].values()))["relative_difference"])
    report.section("Follow-up: implementation invariance", [
        "Three rebuilds of the trained MLP that compute the same function; patterns fitted again for each; relative "
        "difference ‖E − E'‖/‖E‖ of the maps (mean over images). The rescaled layer and the duplicated unit leave "
        "PatternAttribution unchanged by construction (PatternNet only the rescaled layer: it passes a duplicated "
        "unit's signal down twice); the factorised logit layer is the measurement "
        "(docs/math.md#followup-implementation-invariance)."], [], inv_claims,
        [Table(["construction", "max logit difference", "PA fixed by construction", *labels],
               [[name, float(np.max(row["max_logit_difference"])), row["by_construction"],
                 *[interval_text(row["relative_difference"][k]) for k in labels]]
                for name, row in inv["constructions"].items()], f"Mean [95 % interval] over {seeds} seeds")])

    return {"per_seed": runs, "gallery": {"image": _gallery_json(image_gallery)}}


def _subject_label(key: str, prefix: str) -> str:
    for subject in SUBJECTS:
        if key.endswith(rules.KEY_SUFFIX[subject]) and (rules.KEY_SUFFIX[subject] or "." not in key):
            return prefix + subject
    return prefix + PAPER


def _has_paper_curves(auc: dict) -> bool:
    return all(label in auc for label in rules.FIG4_ORDER)


def _kinds(explanations: dict) -> dict:
    """The display kind of every gallery method (as the suite that made the maps declares it)."""
    labels = {spec.label: spec.kind for spec in full_suite(dict.fromkeys(ESTIMATORS), low=0.0, high=1.0)}
    return {label: labels[label] for label in explanations}


def _gallery_json(summary: dict) -> dict:
    return {**summary, "confidence": [i.to_json() for i in summary["confidence"]]}


# --- the digits ---------------------------------------------------------------------------------
def digits_report(report: Report, settings, runs: list, galleries: list, images, gallery_index) -> dict:
    """Sections, figures and claims of the digits experiment; returns the JSON numbers."""
    seeds = len(runs)
    stacked = stack_runs(runs)
    architecture = stacked["models"]["cnn"]["architecture"]
    report.section("Real data: scikit-learn's handwritten digits", [
        "1797 grey 8×8 digits (`sklearn.datasets.load_digits`, bundled with scikit-learn, scaled to [0, 1]); one "
        "image per class is set aside as the gallery, the rest is shuffled per seed into a held-out third "
        f"(about {int(np.mean(stacked['test_samples']))} images) and a training part "
        f"(about {int(np.mean(stacked['train_samples']))}) (docs/math.md#digits). Each seed trains the demo CNN "
        "(`refpattern.train.demo_cnn` on 1×8×8) and a ReLU MLP."],
        tables=[models_table(stacked["models"], f"Digits networks, mean [95 % interval] over {seeds} seeds")],
        numbers_title="Networks")

    fig3 = stacked["fig3"]
    figures = [report.figure(f"digits_fig3_{model}", plots.rho_figure(fig3[model], f"Digits: ρ per kernel layer, "
                                                                                  f"{model.upper()}"))
               for model in fig3]
    claims = rules.fig3_claims(fig3["cnn"], prefix="digits.", figure="digits_fig3_cnn", where="Digits, ")
    mlp_claims = rules.fig3_claims(fig3["mlp"], prefix="digits.")
    _explained(report, claims, fig3_context(fig3["cnn"], architecture, "8×8 handwritten digits"),
               seeds, lambda c: {"the MLP on the digits": _verdict(mlp_claims, c.key)})
    zero_notes = []
    for model, layers in runs[0]["zero_inputs"].items():
        for name, row in zip(fig3[model]["layers"], layers):
            if row["zero"]:
                zero_notes.append(f"{model.upper()} {name}: {row['zero']} of {row['inputs']} inputs, "
                                  f"{row['neurons_touching']} of {row['neurons']} neurons weigh one of them")
    zero_text = ("Inputs that are 0 in every held-out image (first seed; empty border pixels of the digits, or hidden "
                 "units that never fire): " + "; ".join(zero_notes) + ". For a neuron that weighs such an input, "
                 "S_w and a random direction leave d̂ᵢ = −aᵢ·y there, an exact copy of the output, so in-sample "
                 "ρ(S_w) = ρ(random) = 0 exactly, by definition; with the held-out protocol, v fitted on the second "
                 "half carries that copy to the held-out third, and ρ stays at about 0 (docs/math.md#zero-inputs). "
                 "Where ρ(S_w) and ρ(random) are 0 below, this is why — not a finding about S_w."
                 if zero_notes else "No kernel layer has an input that is 0 in every held-out image.")
    report.section("Digits, Fig. 3: ρ per kernel layer", [
        "The paper's split protocol (docs/math.md#rho-held-out): patterns fitted on the first half of the training "
        "part, `v` on its second half, ρ on the held-out third.", zero_text], figures, claims,
        [rho_table(result, f"Digits, ρ per kernel layer, {model.upper()}, mean [95 % interval] over {seeds} seeds")
         for model, result in fig3.items()])

    fig4 = stacked["fig4"]
    curves = {label: np.asarray(values) for label, values in fig4["curves"].items()}
    figures = [report.figure("digits_fig4_degradation", plots.degradation_figure(
                   curves, int(fig4["patch"][0]), "Digits: image degradation (Fig. 4)")),
               report.figure("digits_fig4_auc", plots.interval_figure(
                   fig4["auc"], "Digits: area under the degradation curve", "AUC (mean of the curve)"))]
    claims = rules.fig4_claims(fig4["auc"], prefix="digits.", figure="digits_fig4_auc", where="Digits, ")
    ablation_claims = {p: rules.fig4_claims(fig4["ablations"][p]["auc"], prefix="digits.") for p in fig4["ablations"]}
    _explained(report, claims, {"architecture": architecture, "patch": int(fig4["patch"][0]),
                        "patch_share": float(fig4["patch"][0]) / 8, "patches": int(fig4["patches"][0])}, seeds,
               lambda c: {f"protocol {p}": _verdict(found, c.key) for p, found in ablation_claims.items()})
    report.section("Digits, Fig. 4: image degradation", [
        f"{int(fig4['images'][0])} held-out digits per seed, {int(fig4['patches'][0])} patches of "
        f"{int(fig4['patch'][0])}×{int(fig4['patch'][0])} pixels, replaced by their own mean; the protocol "
        "ablations as for the synthetic images (docs/math.md#fig4-ablation)."], figures, claims,
        [auc_table(fig4, caption=f"Digits, AUC per method and protocol, mean [95 % interval] over {seeds} seeds")])

    kinds = _kinds(galleries[0]["explanations"])
    names, summary = gallery_figures(report, "digits_gallery", "Fig. 5, digits", images.X[gallery_index], galleries,
                                     images.labels[gallery_index], kinds)
    report.section("Digits, Fig. 5: every method on the same digits", [
        "One digit per class, never trained on, explained by every seed's CNN (the figures show the first seed's "
        "maps); label, majority prediction (seeds agreeing) and confidence over seeds as for the synthetic images. "
        "Stability = mean Spearman correlation of |map| between two seeds' networks."], names, [],
        [Table(["method", "stability across seeds"], [[k, v] for k, v in summary["stability"].items()])])
    return {"per_seed": runs, "gallery": _gallery_json(summary), "gallery_index": gallery_index.tolist()}


# --- the top of the report ------------------------------------------------------------------------
def front_matter(report: Report, settings, base_seed: int, seeds: list, data: str) -> list:
    """The summary sections put before the experiments: the verdict counts, how to read the report,
    and the table of every claim (linked to its card)."""
    counts = verdict_counts(report.claims)
    counted = ", ".join(f"{counts[v]} {text}" for v, text in zip(VERDICTS, ("hold", "partly", "fail",
                                                                             "not resolved at this sample size")))
    return [
        Section("Summary", [
            f"{len(report.claims)} claims of the paper and its follow-ups, each measured on {len(seeds)} independent "
            f"seeds (base seed {base_seed}; repetition seeds {format_vector(seeds, 0)}), data: {data}. {counted}.",
            f"How to read it: every number is a mean over seeds with a {CONFIDENCE:.0%} Student-t interval "
            "[low, high] (docs/math.md#repetition); every figure shows these intervals as error bars or bands. A "
            f"claim is cut into parts, each a number with a threshold; {COMBINATION} (docs/math.md#verdict-rules). "
            "Under each figure, its claims: the paper's statement, the measured intervals, the rule and the verdict; "
            "for a claim that does not reproduce, what differs from the paper and what an ablation showed "
            "(docs/math.md#disagreements). The thresholds are fixed in `refpattern/experiments/claims.py`, never "
            "tuned to the results; findings stand as findings."],
            [summary_table(report.claims, "Every claim (click one for its card)")]),
    ]
