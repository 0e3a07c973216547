"""``refpattern reproduce``: the paper's CNN experiments and the follow-up claims, repeated over seeds.

Runs every experiment once per repetition seed (``--seeds``, default 5, ``--quick`` 3; seeds from
:func:`.intervals.repetition_seeds`): each repetition draws its own data, trains its own networks
and cuts its own splits (:func:`.synthetic.run_seed` on the built-in images, :func:`.digits.run_seed`
on scikit-learn's handwritten digits with ``--data digits`` or ``all``).  Every number is then
reported as a mean over seeds with a 95 % Student-t interval (``docs/math.md#repetition``), and
every verdict is drawn from those intervals (:mod:`.claims`, ``docs/math.md#verdict-rules``):

1. Fig. 3 — ρ per kernel layer for random, S_w, S_a, S_a± and its regime variant;
2. Fig. 4 — image degradation, AUC per method, with the protocol ablations;
3. Fig. 5 — a labelled gallery of every method on fixed images, over seeds;
4. scores of every method against the true signal, distractor and suppressor;
5. the follow-up claims of ``docs/math.md#followups``;
6. ablations for the claims that do not reproduce (``docs/math.md#disagreements``);

then writes ``report.md``, ``report.html`` (figures inline, each claim under its figure with its
interval, rule and verdict), the PNGs and ``report.json`` into ``--out`` and prints the claims.
A seed out of range, an output folder that cannot be written or ``--data digits`` without
scikit-learn is refused before anything runs (``docs/conventions.md#command-line``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from refpattern.command_arguments import OutputError, UsageError, integer_at_least, output_folder, seed
from refpattern.progress import Progress

DEFAULT_OUT = "refpattern-reproduce"

DATA_CHOICES = ("synthetic", "digits", "all")
"""``--data``: the built-in synthetic images, scikit-learn's digits, or both."""

MIN_SEEDS = 2
"""An interval over seeds needs at least two of them."""


@dataclass(frozen=True)
class Settings:
    """Sizes of one run (``--quick`` or the default)."""

    seeds: int                # repetitions (independent seeds)
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
    deep_cascade: bool        # also cascading randomisation of the deeper CNN (an ablation)


QUICK = Settings(seeds=3, train_samples=1024, test_samples=512, rho_samples=768, degradation_images=48, patch=4,
                 gallery_images=3, score_images=128, followup_images=48, ig_steps=16, smoothgrad_samples=8,
                 suppressor_samples=2000, mlp_rho=False, deep_cascade=False)
DEFAULT = Settings(seeds=5, train_samples=4096, test_samples=1024, rho_samples=3072, degradation_images=256, patch=2,
                   gallery_images=4, score_images=512, followup_images=128, ig_steps=32, smoothgrad_samples=16,
                   suppressor_samples=4000, mlp_rho=True, deep_cascade=True)


def add_arguments(parser) -> None:
    parser.add_argument("--out", type=output_folder(("report.md", "report.html", "report.json")), default=DEFAULT_OUT,
                        help=f"report folder (default ./{DEFAULT_OUT})")
    parser.add_argument("--quick", action="store_true",
                        help=f"smaller data, fewer images and {QUICK.seeds} seeds (about 30 s on two quiet cores, "
                             "twice that under load)")
    parser.add_argument("--seed", type=seed, default=0,
                        help="base seed: the repetitions' seeds are drawn from it, >= 0 (default 0)")
    parser.add_argument("--seeds", type=integer_at_least(MIN_SEEDS, "an interval over seeds needs two"), default=None,
                        help=f"repetitions, each with its own data, networks and splits (default {DEFAULT.seeds}; "
                             f"--quick {QUICK.seeds}; at least {MIN_SEEDS})")
    parser.add_argument("--data", choices=DATA_CHOICES, default="synthetic",
                        help="synthetic: the built-in images (default); digits: scikit-learn's 8×8 handwritten "
                             "digits (needs the data extra, scikit-learn); all: both")
    parser.add_argument("--backend", default=None, choices=["numpy", "numba", "cuda"],
                        help="kernel backend for forward/backward passes (default: the project default, numba)")


def run(args) -> int:
    """Run every experiment, write the report, print the claims table; the status is 0 (no claim
    of the paper must hold: a verdict is a finding, not an error)."""
    from refpattern.datasets import digits_available
    from refpattern.datasets.digits import EXTRA
    from refpattern.experiments.ledger import SUMMARY_WIDTHS, claims_json, exit_status, summary_table, verdict_counts
    from refpattern.experiments.report import text_table, write_report

    data = getattr(args, "data", "synthetic")
    if data != "synthetic" and not digits_available():
        raise UsageError(f"--data {data}: the digits experiment needs scikit-learn: {EXTRA}")
    settings = QUICK if args.quick else DEFAULT
    if getattr(args, "seeds", None) is not None:
        settings = replace(settings, seeds=args.seeds)
    progress = Progress("reproduce", enabled=True)
    progress(f"{'quick' if args.quick else 'full'} run, data {data}, {settings.seeds} seeds from base seed "
             f"{args.seed}, writing to {args.out}")
    results, sections, figures, captions, claims = run_experiments(settings, args.seed, args.backend, progress,
                                                                   data=data)
    numbers = {"settings": asdict(settings), "seed": args.seed, "quick": bool(args.quick), "data": data,
               **claims_json(claims), "results": results, "seconds": progress.seconds}
    try:
        paths = write_report(args.out, "refpattern reproduce: PatternNet and PatternAttribution, repeated over seeds",
                             sections, figures, numbers, captions)
    except OSError as error:
        raise OutputError(f"cannot write the report to {args.out}: {error}") from error
    progress(f"wrote {paths['md']}, {paths['html']}, {paths['json']} and {len(paths['figures'])} figures")
    table = summary_table(claims)
    print(text_table(table.header, table.rows, SUMMARY_WIDTHS, rule_every_row=True))
    counts = verdict_counts(claims)
    print(f"\n{counts['holds']} hold, {counts['partly']} partly, {counts['fails']} fail, {counts['unresolved']} not "
          f"resolved at this sample size ({settings.seeds} seeds, 95 % intervals); report in {args.out}")
    return exit_status(claims)


def run_experiments(settings: Settings, seed: int = 0, backend=None, progress=None, *, data: str = "synthetic"):
    """Everything but the writing: returns ``(results, sections, figures, captions, claims)``.

    ``progress``: ``None``, ``True``, ``False`` or a :class:`refpattern.progress.Progress`
    (:meth:`~refpattern.progress.Progress.resolve`; ``None`` reports only to a terminal).
    """
    from refpattern.experiments import digits as digits_run
    from refpattern.experiments import sections as build
    from refpattern.experiments import synthetic
    from refpattern.experiments.intervals import repetition_seeds

    if data not in DATA_CHOICES:
        raise ValueError(f"run_experiments: data must be one of {DATA_CHOICES}, got {data!r}")
    progress = Progress.resolve(progress, "reproduce")
    seeds = repetition_seeds(seed, settings.seeds)
    results = {"base_seed": seed, "seeds": seeds}
    report = build.Report()

    if data in ("synthetic", "all"):
        gallery_task, gallery_index = synthetic.gallery_images(seed, settings.gallery_images)
        sup_task, sup_index = synthetic.suppressor_gallery_images(seed, min(settings.gallery_images, 4))
        runs, galleries = [], []
        for number, repetition in enumerate(seeds, 1):
            progress(f"synthetic images, repetition {number}/{len(seeds)} (seed {repetition})")
            numbers, gallery = synthetic.run_seed(settings, repetition, gallery_task.X[gallery_index],
                                                  sup_task.X[sup_index], backend=backend, progress=progress)
            runs.append(numbers)
            galleries.append(gallery)
        results["synthetic"] = build.synthetic_report(report, settings, runs, galleries,
                                                      (gallery_task.subset(gallery_index), sup_task.subset(sup_index)))
    if data in ("digits", "all"):
        from refpattern.datasets import load_digits_images

        images = load_digits_images()
        gallery_index = digits_run.fixed_gallery(images.labels, seed)
        runs, galleries = [], []
        for number, repetition in enumerate(seeds, 1):
            progress(f"digits, repetition {number}/{len(seeds)} (seed {repetition})")
            numbers, gallery = digits_run.run_seed(settings, images, gallery_index, repetition, backend=backend,
                                                   progress=progress)
            runs.append(numbers)
            galleries.append(gallery)
        results["digits"] = build.digits_report(report, settings, runs, galleries, images, gallery_index)
    sections = build.front_matter(report, settings, seed, seeds, data) + report.sections
    return results, sections, report.figures, report.captions, report.claims
