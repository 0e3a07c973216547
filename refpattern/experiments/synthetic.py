"""One repetition (one seed) of the experiments on the built-in synthetic images.

:func:`run_seed` draws its own data (:func:`refpattern.datasets.make_image_task`, the suppressor
images, the 2-D suppressor), trains its own networks (:mod:`.models`) and cuts its own splits,
then measures Fig. 3 (ρ per layer), Fig. 4 (degradation, with the protocol ablations), the Fig. 5
gallery (on the run's fixed gallery images), the scores against the true signal, the follow-up
claims and the depth ablation (the deeper CNN of :func:`.models.deep_cnn`).  It returns plain
numbers (JSON-ready) and the gallery's maps; :mod:`.reproduce` repeats it over seeds and draws
the verdicts from the intervals (:mod:`.claims`).
"""

from __future__ import annotations

import numpy as np

from refpattern.datasets import make_image_task, make_suppressor_task
from refpattern.experiments.degradation import degradation_study
from refpattern.experiments.followups import (
    cascading_randomization,
    implementation_invariance,
    input_shift,
    linear_suppressor,
)
from refpattern.experiments.gallery import explain_gallery
from refpattern.experiments.ground_truth import area_fractions, score_methods
from refpattern.experiments.method_suite import (
    MethodSpec,
    degradation_suite,
    explain_all,
    fit_all_patterns,
    full_suite,
    pattern_attribution_specs,
    pattern_net_specs,
)
from refpattern.experiments.models import architecture, train_model
from refpattern.experiments.rho_layers import FIG3_ESTIMATORS, rho_per_layer

IMAGE_SIZE = 16
TEXTURE = "checker"
TASK_OPTIONS = {"size": IMAGE_SIZE, "texture": TEXTURE}

GALLERY_SEED_OFFSET = 7919
"""The gallery images are drawn with seed ``base + this``: one fixed draw for every repetition."""

LONG_TRAINING = 10
"""The 2-D suppressor ablation trains the linear classifier this many times longer."""

PAPER_CURVES = ("S_x", "S_w", "S_a", "S_a±", "S_a± (regime)")
"""The PatternAttribution curves of the paper's Fig. 4 (with the regime variant)."""


def gallery_images(base_seed: int, count: int):
    """The fixed gallery: one image per class (cycling) from a draw no network is trained on.
    Returns ``(task, index)`` (an :class:`~refpattern.datasets.ImageTask` and the chosen rows)."""
    task = make_image_task(max(64, 4 * count), seed=base_seed + GALLERY_SEED_OFFSET, **TASK_OPTIONS)
    return task, one_per_class(task.labels, count)


def suppressor_gallery_images(base_seed: int, count: int):
    task = make_suppressor_task(max(64, 4 * count), size=IMAGE_SIZE, seed=base_seed + GALLERY_SEED_OFFSET)
    return task, one_per_class(task.labels, count)


def one_per_class(labels, count: int) -> np.ndarray:
    """``count`` indices, cycling through the classes (first unused sample of each)."""
    classes = np.unique(labels)
    chosen, used = [], set()
    while len(chosen) < min(count, len(labels)):
        for k in classes:
            candidates = [i for i in np.flatnonzero(labels == k) if i not in used]
            if candidates and len(chosen) < count:
                chosen.append(candidates[0])
                used.add(candidates[0])
    return np.array(chosen)


def _model_numbers(model) -> dict:
    return {"train_accuracy": model.train_accuracy, "test_accuracy": model.test_accuracy, "epochs": model.epochs,
            "seconds": model.seconds, "architecture": architecture(model.net)}


def run_seed(settings, seed: int, gallery_x, sup_gallery_x, *, backend=None, progress=None) -> tuple:
    """Every measurement of one repetition.  Returns ``(numbers, gallery)``: ``numbers`` is JSON-ready;
    ``gallery`` holds :func:`.gallery.explain_gallery` of the image and suppressor CNNs on the fixed
    gallery images ``gallery_x`` and ``sup_gallery_x``."""
    s = settings

    def say(message):
        if progress is not None:
            progress(f"seed {seed}: {message}")

    numbers = {"seed": seed}
    train_task = make_image_task(s.train_samples, seed=seed, **TASK_OPTIONS)
    test_task = make_image_task(max(s.test_samples, s.rho_samples), seed=seed + 1, **TASK_OPTIONS)
    sup_train = make_suppressor_task(s.train_samples, size=IMAGE_SIZE, seed=seed + 2)
    sup_test = make_suppressor_task(s.test_samples, size=IMAGE_SIZE, seed=seed + 3)
    models = {}
    for key, name, tr, te in (("cnn", "cnn", train_task, test_task), ("mlp", "mlp", train_task, test_task),
                              ("cnn_suppressor", "cnn", sup_train, sup_test),
                              ("cnn_deep", "cnn_deep", train_task, test_task)):
        models[key] = train_model(name, tr.X, tr.labels, te.X, te.labels, classes=tr.n_classes, seed=seed,
                                  backend=backend)
    numbers["models"] = {k: _model_numbers(m) for k, m in models.items()}
    say("trained " + ", ".join(f"{k} (held-out accuracy {m.test_accuracy:.3f})" for k, m in models.items()))
    cnn, mlp, sup_cnn, deep = (models[k].net for k in ("cnn", "mlp", "cnn_suppressor", "cnn_deep"))
    patterns = fit_all_patterns(cnn, train_task.X, seed=seed, backend=backend)
    sup_patterns = fit_all_patterns(sup_cnn, sup_train.X, seed=seed, backend=backend)

    # Fig. 3
    rho_data = test_task.X[:s.rho_samples]
    numbers["fig3"] = {"cnn": rho_per_layer(cnn, rho_data, FIG3_ESTIMATORS, seed=seed, backend=backend)}
    if s.mlp_rho:
        numbers["fig3"]["mlp"] = rho_per_layer(mlp, rho_data, FIG3_ESTIMATORS, seed=seed, backend=backend)
    say("Fig. 3 " + str({k: np.round(v, 2).tolist() for k, v in numbers["fig3"]["cnn"]["rho"].items()}))

    # Fig. 4 (with the protocol ablations)
    x_deg = test_task.X[:s.degradation_images]
    mean_image = train_task.X.mean(axis=0)
    suite = degradation_suite(patterns, ig_steps=s.ig_steps, smoothgrad_samples=s.smoothgrad_samples, seed=seed)
    numbers["fig4"] = degradation_study(cnn, x_deg, suite, s.patch, mean_image, seed=seed, backend=backend)
    say("Fig. 4 AUC " + ", ".join(f"{k} {v:.3f}" for k, v in numbers["fig4"]["auc"].items()))

    # Fig. 5 gallery and the scores against the truth
    low, high = float(train_task.X.min()), float(train_task.X.max())
    full = full_suite(patterns, low=low, high=high, ig_steps=s.ig_steps, smoothgrad_samples=s.smoothgrad_samples,
                      seed=seed)
    gallery = {"image": explain_gallery(cnn, gallery_x, full, backend)}
    score_task = test_task.subset(slice(0, s.score_images))
    explanations = explain_all(cnn, score_task.X, full, score_task.labels, backend)
    regions = {"signal": score_task.signal_mask}
    numbers["scores_image"] = {"methods": score_methods(explanations, regions, score_task.signal,
                                                        score_task.distractor),
                               "area": area_fractions(regions, score_task.X.shape)}
    sup_low, sup_high = float(sup_train.X.min()), float(sup_train.X.max())
    sup_suite = full_suite(sup_patterns, low=sup_low, high=sup_high, ig_steps=s.ig_steps,
                           smoothgrad_samples=s.smoothgrad_samples, seed=seed)
    gallery["suppressor"] = explain_gallery(sup_cnn, sup_gallery_x, sup_suite, backend)
    sup_score = sup_test.subset(slice(0, s.score_images))
    sup_explanations = explain_all(sup_cnn, sup_score.X, sup_suite, sup_score.labels, backend)
    sup_regions = {"signal": sup_score.signal_mask, "suppressor": sup_score.suppressor_mask,
                   "elsewhere": ~(sup_score.signal_mask | sup_score.suppressor_mask)}
    numbers["scores_suppressor"] = {"methods": score_methods(sup_explanations, sup_regions, sup_score.signal),
                                    "area": area_fractions(sup_regions, sup_score.X.shape)}
    say("Fig. 5 and the scores against the truth")

    # follow-up claims
    x_follow = test_task.X[:s.followup_images]
    fit_data = train_task.X[:min(len(train_task.X), 2048)]
    numbers["cascade"] = cascading_randomization(cnn, fit_data, x_follow, seed=seed, backend=backend)
    numbers["input_shift"] = input_shift(mlp, fit_data, x_follow, seed=seed, backend=backend)
    numbers["linear_suppressor"] = linear_suppressor(n=s.suppressor_samples, seed=seed)
    numbers["implementation_invariance"] = implementation_invariance(mlp, fit_data, x_follow, seed=seed,
                                                                     backend=backend)
    say("follow-up claims")

    # ablations: a deeper network (Fig. 4, Fig. 5 scores, cascade) and a longer-trained linear classifier
    deep_patterns = fit_all_patterns(deep, train_task.X, seed=seed, backend=backend)
    paper_curves = pattern_attribution_specs({k: deep_patterns[k] for k in PAPER_CURVES})
    deep_fig4 = degradation_study(deep, x_deg, paper_curves, s.patch, mean_image, seed=seed, backend=backend)
    signal_specs = [MethodSpec("gradient", "gradient", "gradient"), MethodSpec("DeConvNet", "deconvnet", "signal"),
                    MethodSpec("guided backprop", "guided_backprop", "signal")] + pattern_net_specs(deep_patterns)
    deep_scores = score_methods(explain_all(deep, score_task.X, signal_specs, score_task.labels, backend), regions,
                                score_task.signal, score_task.distractor)
    numbers["ablation_deep"] = {"architecture": architecture(deep), "fig4": {"auc": deep_fig4["auc"]},
                                "scores_image": deep_scores}
    if s.deep_cascade:
        numbers["ablation_deep"]["cascade"] = cascading_randomization(deep, fit_data, x_follow, seed=seed,
                                                                      backend=backend, subjects=("S_a±",))
    numbers["ablation_linear_suppressor"] = linear_suppressor(n=s.suppressor_samples, seed=seed,
                                                              epochs=30 * LONG_TRAINING)
    say("ablations (deeper CNN, longer-trained linear classifier)")
    return numbers, gallery
