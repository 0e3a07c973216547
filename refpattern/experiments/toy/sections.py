"""The text of the ``refpattern verify`` report, built from one :class:`~.check.ToyCheck`."""

from __future__ import annotations

from refpattern.experiments.ledger import claims_table, failed_claims
from refpattern.experiments.report import Section
from refpattern.experiments.toy.tolerances import BATCHES, EXACT, RELATIVE_EXACT, Z

TITLE = "refpattern verify: the linear toy example (docs/math.md#toy-verify)"

FIGURE = "toy"
"""Name of the toy figure in the report (written as ``toy.png``)."""


def summary(claims) -> str:
    """One line: every claim as predicted, or which must-hold claims are not."""
    failed = failed_claims(claims)
    if failed:
        return f"{len(failed)} claim(s) that must hold do not: {', '.join(c.key for c in failed)}"
    return f"all {len(claims)} claims came out as the paper and the closed forms predict"


def toy_report_sections(check, versions: dict, seconds: float) -> list:
    """The report: the run and its tolerances, the claims table, the toy figure :data:`FIGURE`."""
    described = (f"N = {check.n_samples} samples per data set, seed = {check.seed}, "
                 f"refpattern {versions['refpattern']}, NumPy {versions['numpy']}, Python {versions['python']}; "
                 f"{seconds:.1f} s.")
    tolerances = (f"Statistical tolerances: ±{Z:g} standard errors, the SE measured by batch means over {BATCHES} "
                  f"disjoint batches of the same draw (SE = sd/√{BATCHES}); identities to {EXACT:.0e} absolute or "
                  f"{RELATIVE_EXACT:.0e} relative (rounding).  A verdict other than the expected one is in capitals.")
    text = summary(check.claims)
    return [
        Section("Claims", [described, tolerances, text[0].upper() + text[1:] + "."], [claims_table(check.claims)]),
        Section("The toy example", [], [], [FIGURE]),
        Section("Numbers", ["Every number is in `report.json`; the closed forms are derived in "
                            "`refpattern/experiments/toy/model.py`."]),
    ]
