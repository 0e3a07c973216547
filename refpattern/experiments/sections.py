"""The text and tables of the reproduce report, built from the numbers of one run."""

from __future__ import annotations

from refpattern.experiments.ledger import claims_table
from refpattern.experiments.method_suite import LRP_EPSILON
from refpattern.experiments.report import Section, Table, format_vector
from refpattern.patterns import resolve_estimator


def report_sections(settings, seed: int, results: dict, claims: list, figures: dict) -> list:
    s = settings
    sections = []

    models = results["models"]
    sections.append(Section("Setup", [
        f"Seed {seed}. Images are 1×16×16, `x = signal + distractor + noise` (`refpattern.datasets.make_image_task`, "
        "4 classes, texture `checker`: each class is a ±1 checkerboard square of side 4 at its own place, scaled by "
        "`y ~ U[0.5, 1.5]`; the distractor is a smooth ramp `ε·D`, `ε ~ N(0, 1)`, the same for all classes; "
        "noise `N(0, 0.2²)`). The suppressor images (`make_suppressor_task`) are binary: the signal square carries "
        "`±y` plus a distractor `ε`, a second square carries only `ε` (the suppressor).",
        f"Training set {s.train_samples} images, held-out set {s.test_samples}; networks trained with Adam "
        "(`refpattern.train.train`, stop at 99 % training accuracy, at most 20 epochs) from the given seed; "
        "nothing is cached on disk. Patterns are fitted on the training set.",
        f"Explanations are of the pre-softmax logit of the predicted class (the true class for the ground-truth "
        f"scores). LRP-ε uses ε = {LRP_EPSILON}; integrated gradients {s.ig_steps} midpoint steps from a zero "
        f"baseline; SmoothGrad {s.smoothgrad_samples} samples, noise level 0.15.",
    ], [Table(["model", "architecture", "train accuracy", "held-out accuracy", "epochs", "seconds"],
              [[k, m["architecture"], m["train_accuracy"], m["test_accuracy"], m["epochs"],
                m["seconds"]] for k, m in models.items()])]))

    sections.append(Section("Claims", [
        "Each claim with the paper's (or follow-up's) statement, what this run measured and a verdict drawn by the "
        "fixed rule written in `refpattern/experiments/claims.py` (never tuned to the results)."],
        [claims_table(claims)]))

    fig3 = results["fig3"]
    tables = []
    for model, result in fig3.items():
        tables.append(Table(["estimator", *result["layers"]],
                            [[resolve_estimator(e).label, *values] for e, values in result["rho"].items()],
                            caption=f"ρ per kernel layer, {model.upper()} ({result['n_per_split']} images per split)"))
    sections.append(Section("Fig. 3: ρ per kernel layer", [
        "Three disjoint thirds of held-out data: patterns fitted on the first, the distractor projection `v` on the "
        "second, ρ = 1 − corr(wᵀx, vᵀ(x − S(x))) measured on the third; the layer value is the mean over its "
        "neurons. Higher ρ: the estimator leaves less of the output's information in its distractor estimate. "
        "Paper (VGG-16): random ≈ 0; S_w helps only in layer 1; S_a and S_a± much higher everywhere; S_a± best "
        "in the dense layers."], tables, [k for k in figures if k.startswith("fig3")]))

    fig4 = results["fig4"]
    order = sorted(fig4["auc"], key=lambda k: fig4["auc"][k])
    sections.append(Section("Fig. 4: image degradation", [
        f"{fig4['images']} held-out images cut into {fig4['patches']} non-overlapping {fig4['patch']}×{fig4['patch']} "
        f"patches (the paper: 9×9 patches on 224×224 images, 625 patches, up to 100 replaced; here the patch is "
        f"{fig4['patch']}/16 of the side and all patches are replaced, n = 0..{fig4['patches']}). Patches are "
        "sorted by the summed attribution (signed, all channels) and replaced, in that order, by their own "
        "per-channel mean; the curve is the mean softmax probability of the class chosen on the intact image. "
        "AUC = mean of the curve over n = 0..all; lower is better. PA S_x is PatternAttribution with the identity "
        "estimator, i.e. LRP-z. The random order is one permutation per image.",
        "Why checkerboard signals: replacing a patch by its own mean erases a checkerboard but barely changes the "
        "smooth distractor, so degradation removes exactly the signal a method points to."],
        [Table(["method", "AUC", "± s.e.m. over images"], [[k, fig4["auc"][k], fig4["auc_sem"][k]] for k in order])],
        ["fig4_degradation"]))

    sections.append(Section("Fig. 5: every method on the same images", [
        "Signals (input, true signal, PatternNet, DeConvNet, guided backprop) are shown as x/(2·max|x|) + 1/2 in "
        "grey; attributions and gradients as heat maps (red positive, blue negative, each scaled by its own "
        "max|R|)."], [], [k for k in figures if k.startswith("fig5")]))

    image_scores = results["scores_image"]
    sup_scores = results["scores_suppressor"]
    sections.append(Section("Scores against the true signal", [
        "mass = share of Σ|E| inside a region (a uniform map scores the region's area, given in the first row); "
        "corr = Pearson correlation over pixels between E and the true signal, averaged over images. "
        "The explained logit is the true class."],
        [Table(["method", "mass on signal square", "corr with signal"],
               [["(area of the region)", image_scores["area"]["signal"], None]]
               + [[k, v["mass_signal"], v["signal_corr"]] for k, v in image_scores["methods"].items()],
               caption="Image task, CNN"),
         Table(["method", "mass on signal", "mass on suppressor", "mass elsewhere", "corr with signal"],
               [["(area of the region)", sup_scores["area"]["signal"], sup_scores["area"]["suppressor"],
                 sup_scores["area"]["elsewhere"], None]]
               + [[k, v["mass_signal"], v["mass_suppressor"], v["mass_elsewhere"], v["signal_corr"]]
                  for k, v in sup_scores["methods"].items()],
               caption="Suppressor task, CNN")],
        ["suppressor_mass"]))

    cascade = results["cascade"]
    sections.append(Section("Follow-up: cascading randomisation (Sixt et al., 2020)", [
        "The top 1, 2, … kernel layers of the trained CNN are re-drawn (He initialisation, zero bias); patterns are "
        "fitted again for each randomised network; each map is compared with the trained network's map for the same "
        "image and class (Spearman correlation of |map| over pixels / cosine of the signed maps, mean over images)."],
        [Table(["method", *[f"top {i + 1}: {names}" for i, names in enumerate(cascade["randomized"])]],
               [[label, *[f"{a:.3f} / {b:.3f}" for a, b in zip(row["spearman_abs"], row["cosine"])]]
                for label, row in cascade["methods"].items()],
               caption="Spearman(|map|) / cosine to the trained network's map")],
        ["cascade"]))

    shift = results["input_shift"]
    sections.append(Section("Follow-up: input shift absorbed by the first bias (Kindermans et al., 2017)", [
        f"The MLP sees x + c (c = {shift['shift']}) and its first bias becomes b − W c, so all logits agree "
        f"(max difference {shift['max_logit_difference']:.1e}). Patterns are fitted on the shifted training data. "
        "`variant=regime` is the within-regime S_a± (`docs/math.md#sapm-regime`)."],
        [Table(["method", "relative difference", "changed", "expected invariant"],
               [[k, v["relative_difference"], v["changed"], v["expected_invariant"]]
                for k, v in shift["methods"].items()])]))

    lin = results["linear_suppressor"]
    sections.append(Section("Follow-up: the 2-D linear suppressor (Wilming et al., 2023)", [
        f"x₁ = z + η, x₂ = η, z = ±1, η ~ N(0, 1), {lin['n']} samples. Two linear models: a softmax classifier "
        f"trained for {lin['epochs']} epochs (logits centred; same probabilities) and the least-squares filter "
        "Σ̂⁻¹cov̂[x, z]. S_a is fitted on the data; ratio = mean|E₂| / mean|E₁| of the explained logit. The "
        "population pattern of a filter w is Σw/(wᵀΣw); for w = (1, −1) it is (1, 0). The data are separable, "
        "so the trained classifier's filter approaches (1, −1) only slowly, and its pattern's x₂ weight is "
        "about the filter's deviation from it."],
        [Table(["model", "accuracy", "filter (class 1)", "fitted pattern", "population pattern", "gradient ratio",
                "S_a pattern ratio", "PA S_a ratio"],
               [[name, row["accuracy"], format_vector(row["filter_class1"]),
                 format_vector(row["pattern_class1_fitted"]), format_vector(row["pattern_class1_population"]),
                 row["ratios"]["gradient"], row["ratios"]["PatternNet S_a"], row["ratios"]["PA S_a"]]
                for name, row in lin["models"].items()])]))

    inv = results["implementation_invariance"]
    labels = list(next(iter(inv["constructions"].values()))["relative_difference"])
    sections.append(Section("Follow-up: implementation invariance", [
        "Three rebuilds of the trained MLP that compute the same function; patterns fitted again for each; "
        "relative difference ‖E − E'‖/‖E‖ of the maps (mean over images)."],
        [Table(["construction", "max logit difference", *labels],
               [[name, row["max_logit_difference"], *[row["relative_difference"][k] for k in labels]]
                for name, row in inv["constructions"].items()])]))
    return sections
