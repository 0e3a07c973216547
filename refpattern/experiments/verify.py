"""``refpattern verify``: check every claim on a linear model — the paper's toy by default — and write a report.

The claims (``docs/math.md#toy-verify``, ``docs/math.md#linear-verify``, and the closed forms of
:mod:`refpattern.linear.closed_forms`) are measured on fresh draws by
:func:`~refpattern.experiments.toy.check.check_claims`; the model is a configuration
(``--config NAME|FILE``, :mod:`refpattern.linear.config`; default ``paper-toy``).  The command
prints the claims table, writes ``report.md``, ``report.html`` (figure embedded), ``toy.png``
and ``report.json`` to ``--out``, and exits with status 1 when a claim that must hold does not
come out as expected (``docs/conventions.md#command-line``: a value out of range, an output
folder that cannot be written or a configuration that cannot be used is refused with status 2,
one line, before any claim is measured).
"""

from __future__ import annotations

from pathlib import Path

from refpattern.command_arguments import OutputError, UsageError, integer_at_least, output_folder, seed
from refpattern.experiments.ledger import TERMINAL_WIDTHS, claims_json, claims_table, exit_status, with_claim_cards
from refpattern.experiments.report import software_versions, text_table, write_report
from refpattern.experiments.toy.check import MIN_SAMPLES, check_claims
from refpattern.experiments.toy.figure import toy_figure
from refpattern.experiments.toy.sections import FIGURE, summary, title, toy_report_sections
from refpattern.experiments.toy.tolerances import BATCHES, EXACT, RELATIVE_EXACT, Z
from refpattern.linear.config import DEFAULT_CONFIG, ConfigError, config_names, load_config
from refpattern.progress import Progress

#: The files the report folder receives.
REPORT_FILES = ("report.md", "report.html", "report.json", f"{FIGURE}.png")

DEFAULT_SAMPLES = 1_000_000
"""``--samples`` when neither the command line nor the configuration gives it."""


def add_arguments(parser) -> None:
    parser.add_argument("--config", default=DEFAULT_CONFIG, metavar="NAME|FILE",
                        help=f"the linear model: a ready configuration ({', '.join(config_names())}) or a TOML "
                             f"file (docs/math.md#linear-config; default {DEFAULT_CONFIG})")
    parser.add_argument("--seed", type=seed, default=0, help="seed of every random draw, >= 0 (default 0)")
    parser.add_argument("--samples", type=integer_at_least(MIN_SAMPLES, "the error-rate check needs two batch sizes "
                                                                        "with enough batches each"),
                        default=None, help=f"samples N per data set (default: the configuration's, else "
                                           f"{DEFAULT_SAMPLES}; at least {MIN_SAMPLES})")
    parser.add_argument("--out", type=output_folder(REPORT_FILES), default="refpattern-report",
                        help="folder for report.md, report.html, report.json and toy.png (default ./refpattern-report)")


def run(args) -> int:
    """Measure every claim, write the report, print the table; 0 if every must-hold claim is as expected."""
    config_name = getattr(args, "config", None)
    if config_name is None:
        config_name = DEFAULT_CONFIG
    elif not str(config_name).strip():  # before: an empty --config ran the default model as if none was given
        raise UsageError(f"--config: expected a configuration name ({', '.join(config_names())}) or a TOML file, "
                         f"got {config_name!r}")
    try:
        config = load_config(config_name)
    except ConfigError as error:
        raise UsageError(f"--config {config_name}: {error}") from None
    except MemoryError as error:  # a dimension (or dimension_sweep) whose D×D covariance does not fit
        raise UsageError(f"--config {config_name}: the model does not fit in memory ({error}); give a smaller "
                         "dimension") from None
    samples = args.samples if args.samples is not None else (config.samples or DEFAULT_SAMPLES)
    if samples < MIN_SAMPLES:  # argparse checks --samples on the command line; run() may be called directly
        given = args.samples is not None
        source = f"--samples {samples}:" if given else f"--config {config_name}: samples = {samples},"
        raise UsageError(f"{source} must be at least {MIN_SAMPLES} (the error-rate check needs two batch sizes "
                         "with enough batches each)" + ("" if given else "; or give --samples"))
    progress = Progress("verify", enabled=True)
    sweep = [config.model_at(d) for d in config.claims.dimension_sweep]
    check = check_claims(config.model, samples, args.seed, config.claims, progress, sweep=sweep,
                         network=config.network)
    progress(f"drawing {FIGURE}.png")
    png, caption = toy_figure(check)
    versions, seconds = software_versions(), progress.seconds
    default = config_name == DEFAULT_CONFIG
    numbers = {"samples": samples, "seed": args.seed, "elapsed_s": seconds, "versions": versions,
               "z": Z, "batches": BATCHES, "exact": EXACT, "relative_exact": RELATIVE_EXACT,
               **claims_json(check.claims), "figure": f"{FIGURE}.png",
               "config": config.name, "config_source": config.source, "model": config.model.describe(),
               "skipped": [{"key": key, "reason": reason} for key, reason in check.skipped]}
    description = "" if default else f"Model {config.name!r} ({config.source}): {config.model.describe()}."
    out = Path(args.out)
    try:
        sections = with_claim_cards(toy_report_sections(check, versions, seconds, description), check.claims, FIGURE)
        write_report(out, title(config.name, default), sections, {FIGURE: png}, numbers, {FIGURE: caption})
    except OSError as error:
        raise OutputError(f"cannot write the report to {out}: {error}") from error
    table = claims_table(check.claims)
    print(text_table(table.header, table.rows, TERMINAL_WIDTHS, rule_every_row=True))
    for key, reason in check.skipped:
        print(f"not measured: {key} ({reason})")
    print(f"\n{summary(check.claims)}")
    print(f"{config.name}: N = {samples}, seed = {args.seed}, {seconds:.1f} s; report written to {out.resolve()} "
          f"(report.md, report.html, report.json, {FIGURE}.png)")
    return exit_status(check.claims)
