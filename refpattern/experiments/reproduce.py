"""``refpattern reproduce``: the paper's CNN experiments and the follow-up claims on built-in data.

Runs, in order (progress lines on stderr):

1. data with ground truth (:mod:`refpattern.datasets`) and trained networks (:mod:`.models`);
2. Fig. 3 — ρ per kernel layer for random, S_w, S_a, S_a± (three-split protocol);
3. Fig. 4 — image degradation, AUC per method;
4. Fig. 5 — a gallery of every method on the same images;
5. scores of every method against the true signal / suppressor regions;
6. the follow-up claims of ``docs/math.md#followups``;

then writes ``report.md``, ``report.html`` (figures embedded), the PNGs and ``report.json`` into
``--out`` and prints the claims table.  ``--quick`` uses smaller data (for tests, < 2 min).
A seed out of range or an output folder that cannot be written is refused by the parser before
anything runs (``docs/conventions.md#command-line``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from refpattern.command_arguments import OutputError, output_folder, seed
from refpattern.datasets import make_image_task, make_suppressor_task
from refpattern.progress import Progress

DEFAULT_OUT = "refpattern-reproduce"


@dataclass(frozen=True)
class Settings:
    """Sizes of one run (``--quick`` or the default)."""

    train_samples: int
    test_samples: int
    rho_samples: int          # split into three thirds for Fig. 3
    degradation_images: int
    patch: int                # degradation patch side in pixels (16×16 images)
    gallery_images: int
    score_images: int
    followup_images: int
    ig_steps: int
    smoothgrad_samples: int
    suppressor_samples: int   # the 2-D linear suppressor
    mlp_rho: bool             # also Fig. 3 for the MLP


QUICK = Settings(train_samples=1024, test_samples=512, rho_samples=768, degradation_images=48, patch=4,
                 gallery_images=3, score_images=128, followup_images=48, ig_steps=16, smoothgrad_samples=8,
                 suppressor_samples=2000, mlp_rho=False)
DEFAULT = Settings(train_samples=4096, test_samples=1024, rho_samples=3072, degradation_images=256, patch=2,
                   gallery_images=4, score_images=512, followup_images=128, ig_steps=32, smoothgrad_samples=16,
                   suppressor_samples=4000, mlp_rho=True)

IMAGE_SIZE = 16
TEXTURE = "checker"


def add_arguments(parser) -> None:
    parser.add_argument("--out", type=output_folder(("report.md", "report.html", "report.json")), default=DEFAULT_OUT,
                        help=f"report folder (default ./{DEFAULT_OUT})")
    parser.add_argument("--quick", action="store_true", help="smaller data and fewer images (under 2 minutes)")
    parser.add_argument("--seed", type=seed, default=0,
                        help="seed of data, training and every random choice, >= 0 (default 0)")
    parser.add_argument("--backend", default=None, choices=["numpy", "numba", "cuda"],
                        help="kernel backend for forward/backward passes (default: the project default, numba)")


def run(args) -> int:
    """Run every experiment, write the report, print the claims table; the status is 0 (no claim
    of the paper must hold: a verdict is a finding, not an error)."""
    from refpattern.experiments.ledger import TERMINAL_WIDTHS, claims_json, claims_table, exit_status, verdict_counts
    from refpattern.experiments.report import text_table, write_report

    settings = QUICK if args.quick else DEFAULT
    progress = Progress("reproduce", enabled=True)
    progress(f"{'quick' if args.quick else 'full'} run, seed {args.seed}, writing to {args.out}")
    results, sections, figures, captions, claims = run_experiments(settings, args.seed, args.backend, progress)
    numbers = {"settings": asdict(settings), "seed": args.seed, "quick": bool(args.quick),
               **claims_json(claims), "results": results, "seconds": progress.seconds}
    try:
        paths = write_report(args.out, "refpattern reproduce: PatternNet and PatternAttribution on built-in data",
                             sections, figures, numbers, captions)
    except OSError as error:
        raise OutputError(f"cannot write the report to {args.out}: {error}") from error
    progress(f"wrote {paths['md']}, {paths['html']}, {paths['json']} and {len(paths['figures'])} figures")
    table = claims_table(claims)
    print(text_table(table.header, table.rows, TERMINAL_WIDTHS, rule_every_row=True))
    counts = verdict_counts(claims)
    print(f"\n{counts['holds']} hold, {counts['partly']} partly, {counts['fails']} fail; report in {args.out}")
    return exit_status(claims)


def run_experiments(settings: Settings, seed: int = 0, backend=None, progress=None):
    """Everything but the writing: returns ``(results, sections, figures, captions, claims)``.

    ``progress``: ``None``, ``True``, ``False`` or a :class:`refpattern.progress.Progress`
    (:meth:`~refpattern.progress.Progress.resolve`; ``None`` reports only to a terminal).
    """
    from refpattern.experiments import claims as rules
    from refpattern.experiments import sections as build
    from refpattern.experiments.degradation import (
        RANDOM_ORDER,
        area_under_curve,
        degradation_curves,
        order_by_score,
        patch_scores,
        random_orders,
    )
    from refpattern.experiments.followups import (
        cascading_randomization,
        implementation_invariance,
        input_shift,
        linear_suppressor,
    )
    from refpattern.experiments.ground_truth import area_fractions, score_methods
    from refpattern.experiments.method_suite import degradation_suite, explain_all, full_suite
    from refpattern.experiments.models import architecture, train_model
    from refpattern.experiments.plots import (
        cascade_figure,
        degradation_figure,
        gallery_figure,
        mass_figure,
        rho_figure,
    )
    from refpattern.experiments.rho_layers import rho_per_layer
    from refpattern.patterns import fit_statistics, patterns_from_statistics

    progress = Progress.resolve(progress, "reproduce")
    s = settings
    results, figures, captions, claims = {}, {}, {}, []

    def figure(name, function, *args, **kwargs):
        figures[name], captions[name] = function(*args, **kwargs)

    # 1. data and models ---------------------------------------------------------------------
    progress("data: image task (signal + distractor + noise) and suppressor task")
    task_options = dict(size=IMAGE_SIZE, texture=TEXTURE)
    train_task = make_image_task(s.train_samples, seed=seed, **task_options)
    test_task = make_image_task(max(s.test_samples, s.rho_samples), seed=seed + 1, **task_options)
    sup_train = make_suppressor_task(s.train_samples, size=IMAGE_SIZE, seed=seed + 2)
    sup_test = make_suppressor_task(s.test_samples, size=IMAGE_SIZE, seed=seed + 3)
    models = {}
    for key, name, tr, te in (("cnn", "cnn", train_task, test_task), ("mlp", "mlp", train_task, test_task),
                              ("cnn_suppressor", "cnn", sup_train, sup_test)):
        models[key] = train_model(name, tr.X, tr.labels, te.X, te.labels, classes=tr.n_classes, seed=seed,
                                  backend=backend)
        progress(f"trained {key}: {models[key].describe()}")
    results["models"] = {k: {"train_accuracy": m.train_accuracy, "test_accuracy": m.test_accuracy,
                             "epochs": m.epochs, "seconds": m.seconds, "architecture": architecture(m.net)}
                         for k, m in models.items()}
    cnn, mlp, sup_cnn = models["cnn"].net, models["mlp"].net, models["cnn_suppressor"].net

    def all_patterns(net, X):
        stats = fit_statistics(net, X, backend=backend)
        return {name: patterns_from_statistics(net, stats, name, "paper", seed) for name in ("x", "w", "a", "a+-")}

    patterns = all_patterns(cnn, train_task.X)
    sup_patterns = all_patterns(sup_cnn, sup_train.X)
    progress("fitted patterns S_x, S_w, S_a, S_a± on the training data")

    # 2. Fig. 3 ------------------------------------------------------------------------------
    rho_data = test_task.X[:s.rho_samples]
    results["fig3"] = {"cnn": rho_per_layer(cnn, rho_data, seed=seed)}
    figure("fig3_rho_cnn", rho_figure, results["fig3"]["cnn"], "ρ per kernel layer, CNN (Fig. 3)")
    progress("Fig. 3: ρ per layer (CNN) "
             + str({k: np.round(v, 3).tolist() for k, v in results["fig3"]["cnn"]["rho"].items()}))
    if s.mlp_rho:
        results["fig3"]["mlp"] = rho_per_layer(mlp, rho_data, seed=seed)
        figure("fig3_rho_mlp", rho_figure, results["fig3"]["mlp"], "ρ per kernel layer, MLP (Fig. 3)")
        progress("Fig. 3: ρ per layer (MLP) done")
    claims += rules.fig3_claims(results["fig3"]["cnn"])

    # 3. Fig. 4 ------------------------------------------------------------------------------
    x_deg = test_task.X[:s.degradation_images]
    curves = {}
    for spec in degradation_suite(patterns, ig_steps=s.ig_steps, smoothgrad_samples=s.smoothgrad_samples, seed=seed):
        order = order_by_score(patch_scores(spec(cnn, x_deg, None, backend), s.patch))
        curves[spec.label] = degradation_curves(cnn, x_deg, order, s.patch, backend=backend)
        progress(f"Fig. 4: degradation {spec.label}: AUC {area_under_curve(curves[spec.label].mean(axis=0)):.3f}")
    patches = (IMAGE_SIZE // s.patch) ** 2
    curves[RANDOM_ORDER] = degradation_curves(cnn, x_deg, random_orders(len(x_deg), patches, seed), s.patch,
                                              backend=backend)
    mean_curves = {k: v.mean(axis=0) for k, v in curves.items()}
    auc = {k: float(area_under_curve(v)) for k, v in mean_curves.items()}
    auc_sem = {k: float(np.std(area_under_curve(v)) / np.sqrt(len(v))) for k, v in curves.items()}
    results["fig4"] = {"patch": s.patch, "patches": patches, "images": len(x_deg), "auc": auc, "auc_sem": auc_sem,
                       "mean_curves": {k: v.tolist() for k, v in mean_curves.items()}}
    figure("fig4_degradation", degradation_figure, mean_curves, s.patch)
    claims.append(rules.fig4_claim(auc))
    progress("Fig. 4: done")

    # 4./5. gallery and ground-truth scores --------------------------------------------------
    low, high = float(train_task.X.min()), float(train_task.X.max())
    suite = full_suite(patterns, low=low, high=high, ig_steps=s.ig_steps, smoothgrad_samples=s.smoothgrad_samples,
                       seed=seed)
    kinds = {spec.label: spec.kind for spec in suite}
    gallery_index = _one_per_class(test_task.labels, s.gallery_images)
    x_gal = test_task.X[gallery_index]
    figure("fig5_gallery", gallery_figure, x_gal, explain_all(cnn, x_gal, suite, None, backend), kinds,
           truth=test_task.signal[gallery_index])
    score_task = test_task.subset(slice(0, s.score_images))
    explanations = explain_all(cnn, score_task.X, suite, score_task.labels, backend)
    regions = {"signal": score_task.signal_mask}
    results["scores_image"] = {"methods": score_methods(explanations, regions, score_task.signal),
                               "area": area_fractions(regions, score_task.X.shape)}
    claims.append(rules.signal_recovery_claim(results["scores_image"]["methods"]))
    progress("Fig. 5 gallery and ground-truth scores (image task) done")

    sup_low, sup_high = float(sup_train.X.min()), float(sup_train.X.max())
    sup_suite = full_suite(sup_patterns, low=sup_low, high=sup_high, ig_steps=s.ig_steps,
                           smoothgrad_samples=s.smoothgrad_samples, seed=seed)
    sup_gallery = _one_per_class(sup_test.labels, min(s.gallery_images, 4))
    figure("fig5_gallery_suppressor", gallery_figure, sup_test.X[sup_gallery],
           explain_all(sup_cnn, sup_test.X[sup_gallery], sup_suite, None, backend), kinds,
           truth=sup_test.signal[sup_gallery],
           title="Suppressor images, every method (upper-left square: signal; lower-right: suppressor)")
    sup_score = sup_test.subset(slice(0, s.score_images))
    sup_explanations = explain_all(sup_cnn, sup_score.X, sup_suite, sup_score.labels, backend)
    sup_regions = {"signal": sup_score.signal_mask, "suppressor": sup_score.suppressor_mask,
                   "elsewhere": ~(sup_score.signal_mask | sup_score.suppressor_mask)}
    results["scores_suppressor"] = {"methods": score_methods(sup_explanations, sup_regions, sup_score.signal),
                                    "area": area_fractions(sup_regions, sup_score.X.shape)}
    figure("suppressor_mass", mass_figure, results["scores_suppressor"]["methods"], list(sup_regions),
           "Suppressor images: where |explanation| lies")
    claims.append(rules.suppressor_images_claim(results["scores_suppressor"]["methods"]))
    progress("ground-truth scores (suppressor task) done")

    # 6. follow-up claims --------------------------------------------------------------------
    x_follow = test_task.X[:s.followup_images]
    fit_data = train_task.X[:min(len(train_task.X), 2048)]
    results["cascade"] = cascading_randomization(cnn, fit_data, x_follow, seed=seed, backend=backend)
    figure("cascade", cascade_figure, results["cascade"])
    claims.append(rules.cascade_claim(results["cascade"]))
    progress("cascading randomisation done")
    results["input_shift"] = input_shift(mlp, fit_data, x_follow, seed=seed, backend=backend)
    claims.append(rules.input_shift_claim(results["input_shift"]))
    progress("input shift done")
    results["linear_suppressor"] = linear_suppressor(n=s.suppressor_samples, seed=seed)
    claims.append(rules.linear_suppressor_claim(results["linear_suppressor"]))
    progress("2-D linear suppressor done")
    results["implementation_invariance"] = implementation_invariance(mlp, fit_data, x_follow, seed=seed,
                                                                     backend=backend)
    claims.append(rules.implementation_invariance_claim(results["implementation_invariance"]))
    progress("implementation invariance done")

    sections = build.report_sections(settings, seed, results, claims, figures)
    return results, sections, figures, captions, claims


def _one_per_class(labels, count: int) -> np.ndarray:
    """Indices of the first sample of class 0, 1, …, cycling until ``count`` are chosen."""
    classes = np.unique(labels)
    chosen, used = [], set()
    while len(chosen) < min(count, len(labels)):
        for k in classes:
            candidates = [i for i in np.flatnonzero(labels == k) if i not in used]
            if candidates and len(chosen) < count:
                chosen.append(candidates[0])
                used.add(candidates[0])
    return np.array(chosen)
