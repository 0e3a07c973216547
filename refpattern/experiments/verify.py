"""``refpattern verify``: check every claim of the paper's linear toy example and write a report.

The claims (``docs/math.md#toy-verify``, and the closed forms of
:mod:`refpattern.experiments.toy.model`) are measured on fresh draws by
:func:`~refpattern.experiments.toy.check.check_toy_claims`; the command prints the claims table,
writes ``report.md``, ``report.html`` (figure embedded), ``toy.png`` and ``report.json`` to
``--out``, and exits with status 1 when a claim that must hold does not come out as expected
(``docs/conventions.md#command-line``: a value out of range or an output folder that cannot be
written is refused by the parser, status 2, before any claim is measured).
"""

from __future__ import annotations

import sys
from pathlib import Path

from refpattern.command_arguments import OutputError, integer_at_least, output_folder, seed
from refpattern.experiments.ledger import TERMINAL_WIDTHS, claims_json, claims_table, exit_status, with_claim_cards
from refpattern.experiments.report import software_versions, text_table, write_report
from refpattern.experiments.toy.check import MIN_SAMPLES, check_toy_claims
from refpattern.experiments.toy.figure import toy_figure
from refpattern.experiments.toy.sections import FIGURE, TITLE, summary, toy_report_sections
from refpattern.experiments.toy.tolerances import BATCHES, EXACT, RELATIVE_EXACT, Z
from refpattern.progress import Progress

#: The files the report folder receives.
REPORT_FILES = ("report.md", "report.html", "report.json", f"{FIGURE}.png")


def add_arguments(parser) -> None:
    parser.add_argument("--seed", type=seed, default=0, help="seed of every random draw, >= 0 (default 0)")
    parser.add_argument("--samples", type=integer_at_least(MIN_SAMPLES, "the error-rate check needs two batch sizes "
                                                                        "with enough batches each"),
                        default=1_000_000, help=f"samples N per toy data set (default 1000000; at least {MIN_SAMPLES})")
    parser.add_argument("--out", type=output_folder(REPORT_FILES), default="refpattern-report",
                        help="folder for report.md, report.html, report.json and toy.png (default ./refpattern-report)")


def run(args) -> int:
    """Measure every claim, write the report, print the table; 0 if every must-hold claim is as expected."""
    if args.samples < MIN_SAMPLES:
        print(f"refpattern verify: --samples must be at least {MIN_SAMPLES} (got {args.samples}): the error-rate "
              "check needs two batch sizes with enough batches each", file=sys.stderr)
        return 2
    progress = Progress("verify", enabled=True)
    check = check_toy_claims(args.samples, args.seed, progress)
    progress(f"drawing {FIGURE}.png")
    png, caption = toy_figure(check)
    versions, seconds = software_versions(), progress.seconds
    numbers = {"samples": args.samples, "seed": args.seed, "elapsed_s": seconds, "versions": versions,
               "z": Z, "batches": BATCHES, "exact": EXACT, "relative_exact": RELATIVE_EXACT,
               **claims_json(check.claims), "figure": f"{FIGURE}.png"}
    out = Path(args.out)
    try:
        sections = with_claim_cards(toy_report_sections(check, versions, seconds), check.claims, FIGURE)
        write_report(out, TITLE, sections, {FIGURE: png}, numbers, {FIGURE: caption})
    except OSError as error:
        raise OutputError(f"cannot write the report to {out}: {error}") from error
    table = claims_table(check.claims)
    print(text_table(table.header, table.rows, TERMINAL_WIDTHS, rule_every_row=True))
    print(f"\n{summary(check.claims)}")
    print(f"N = {args.samples}, seed = {args.seed}, {seconds:.1f} s; report written to {out.resolve()} "
          f"(report.md, report.html, report.json, {FIGURE}.png)")
    return exit_status(check.claims)
