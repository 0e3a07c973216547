"""The text of the ``refpattern verify`` report, built from one :class:`~.check.ClaimsReport`."""

from __future__ import annotations

from refpattern.experiments.ledger import claims_table, failed_claims
from refpattern.experiments.report import Section, Table
from refpattern.experiments.toy.tolerances import BATCHES, BONFERRONI_BASE, EXACT, RELATIVE_EXACT, Z, z_for

TITLE = "refpattern verify: the linear toy example (docs/math.md#toy-verify)"
"""The report's title for the paper's toy (the default configuration)."""

FIGURE = "toy"
"""Name of the figure in the report (written as ``toy.png``)."""


def title(config_name: str, default: bool) -> str:
    """:data:`TITLE` for the default configuration, else one naming the configuration."""
    return TITLE if default else f"refpattern verify: the linear model {config_name!r} (docs/math.md#linear-verify)"


def summary(claims) -> str:
    """One line: every claim as predicted, or which must-hold claims are not."""
    failed = failed_claims(claims)
    if failed:
        return f"{len(failed)} claim(s) that must hold do not: {', '.join(c.key for c in failed)}"
    return f"all {len(claims)} claims came out as the paper and the closed forms predict"


def dimension_table(rows) -> Table:
    """ρ(random) against ``D``: closed forms and Monte Carlo, one row per dimension."""
    header = ["D", "ρ(S_w)", "E[ρ(random)] closed form", "mean over directions", "P(beats S_w) closed form",
              "fraction beating S_w", "first order"]
    body = [[str(r["dimension"]), f"{r['rho_S_w']:.4f}", f"{r['mean_closed_form']:.5f}",
             f"{r['mean_estimate']:.5f} ± {r['mean_standard_error']:.5f}", f"{r['probability_closed_form']:.4f}",
             f"{r['fraction_estimate']:.4f} ± {r['fraction_standard_error']:.4f}", f"{r['first_order']:.5f}"]
            for r in rows]
    return Table(header, body, "ρ of the random baseline against the dimension D (closed forms: "
                               "docs/math.md#linear-random-baseline; ± one standard error)")


def toy_report_sections(check, versions: dict, seconds: float, description: str = "") -> list:
    """The report: the run and its tolerances, the claims table, the figure :data:`FIGURE`, and
    (when there are) the claims not measured and ρ(random) against ``D``."""
    described = (f"N = {check.n_samples} samples per data set, seed = {check.seed}, "
                 f"refpattern {versions['refpattern']}, NumPy {versions['numpy']}, Python {versions['python']}; "
                 f"{seconds:.1f} s.")
    tolerances = (f"Statistical tolerances: ±{Z:g} standard errors, the SE measured by batch means over {BATCHES} "
                  f"disjoint batches of the same draw (SE = sd/√{BATCHES}; a claim comparing more than "
                  f"{BONFERRONI_BASE} numbers at once uses the Bonferroni Z_n, e.g. {z_for(1000):.2f} for 1000); "
                  f"identities to {EXACT:.0e} absolute or "
                  f"{RELATIVE_EXACT:.0e} relative (rounding), or, where a claim's expected column says so, to a "
                  "bound derived from the rounding of the data (docs/math.md#linear-rounding-scale).  A verdict "
                  "other than the expected one is in capitals.")
    text = summary(check.claims)
    paragraphs = [described] + ([description] if description else []) + [tolerances, text[0].upper() + text[1:] + "."]
    sections = [Section("Claims", paragraphs, [claims_table(check.claims)])]
    if check.skipped:
        sections.append(Section("Not measured", [f"`{key}`: {reason}." for key, reason in check.skipped]))
    if check.sweep_rows:
        sections.append(Section("A random direction against the dimension", [], [dimension_table(check.sweep_rows)]))
    sections += [
        Section("The toy example" if check.model is None or check.model.is_planar else "The model", [], [], [FIGURE]),
        Section("Numbers", ["Every number is in `report.json`; the closed forms are derived in "
                            "`refpattern/experiments/toy/model.py` and `refpattern/linear/closed_forms.py` "
                            "(docs/math.md#linear-closed-forms)."]),
    ]
    return sections
