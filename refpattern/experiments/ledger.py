"""The one claim type of the experiments: a statement, what we measured, and a verdict.

``refpattern verify`` (the linear toy, :mod:`refpattern.experiments.toy`) and ``refpattern
reproduce`` (the CNN experiments, :mod:`refpattern.experiments.claims`) both report a list of
:class:`Claim`.  The verdict vocabulary is :data:`VERDICTS`:

* ``"holds"`` — the measurement agrees with the statement;
* ``"partly"`` — it agrees only in part; when the part is a stated condition (the toy's ``S_a±``
  recovers ``a_s`` only when the distractor mean ``μ`` is 0), :attr:`Claim.condition` says which;
* ``"fails"`` — it does not agree;
* ``"unresolved"`` — the measurement cannot tell at this sample size: an interval over seeds
  (:mod:`refpattern.experiments.intervals`) contains the claim's threshold.  Tables print it
  as "not resolved at this sample size" (:data:`VERDICT_TEXT`).

A claim also says which verdict is *expected* (``expected_verdict``: what the paper, or a closed
form derived in this package, predicts) and whether it *must hold* (``must_hold``).  A must-hold
claim that does not come out as expected is a bug in the code or in a derivation, so the command
that measured it exits with status 1 (:func:`exit_status`); the toy's claims must hold, the CNN
experiments' claims are findings about the paper and need not.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from refpattern.experiments.report import Card, Link, Table, jsonable

VERDICTS = ("holds", "partly", "fails", "unresolved")
"""Every verdict a claim can have."""

HOLDS, PARTLY, FAILS, UNRESOLVED = VERDICTS

VERDICT_TEXT = {HOLDS: HOLDS, PARTLY: PARTLY, FAILS: FAILS, UNRESOLVED: "not resolved at this sample size"}
"""How each verdict is printed in tables and reports (``report.json`` keeps the short name)."""

TABLE_HEADER = ("#", "claim", "expected", "measured", "verdict")
"""Columns of the claims table (terminal, Markdown and HTML)."""

TERMINAL_WIDTHS = (2, 32, 34, 46, 22)
"""Characters per column of the claims table on the terminal."""

SUMMARY_HEADER = ("#", "claim", "verdict")
"""Columns of the short claims table (:func:`summary_table`)."""

SUMMARY_WIDTHS = (3, 76, 36)
"""Characters per column of the short claims table on the terminal."""

TONE = {HOLDS: "good", PARTLY: "mixed", FAILS: "bad", UNRESOLVED: "open"}
"""The badge colour of each verdict in the HTML report."""


@dataclass
class Claim:
    """One claim, measured.

    Attributes
    ----------
    key : str
        A stable identifier (``"pattern_recovers_signal"``, ``"fig4_ranking"``).
    claim : str
        The statement, in words.
    expected : str
        What the paper (or a closed form) says the measurement should show.
    measured : str
        What this run measured, in words and numbers.
    verdict : one of :data:`VERDICTS`
    source : str
        Where the statement comes from (``"docs/math.md#toy-claim-1"``); empty when ``claim`` says it.
    condition : str
        Only with verdict ``"partly"``: the condition under which the statement holds
        (``"holds only when μ = 0"``).
    expected_verdict : one of :data:`VERDICTS`
        The verdict the paper or the closed forms predict (default ``"holds"``).
    must_hold : bool
        Whether a verdict other than ``expected_verdict`` makes the run fail (exit status 1).
    numbers : dict
        Every number behind ``measured`` (written to ``report.json``).
    rule : str
        The decision rule in words (how the verdict follows from the numbers); empty when the
        claim's ``expected`` says it.
    figure : str
        The name of the report figure the claim is judged on (the report shows it next to it).
    explanation : str
        For a claim that does not reproduce: what differs from the paper and what an ablation
        showed (written by the report, :mod:`refpattern.experiments.disagreements`).
    """

    key: str
    claim: str
    expected: str
    measured: str
    verdict: str
    source: str = ""
    condition: str = ""
    expected_verdict: str = HOLDS
    must_hold: bool = False
    numbers: dict = field(default_factory=dict)
    rule: str = ""
    figure: str = ""
    explanation: str = ""

    def __post_init__(self):
        for name in ("verdict", "expected_verdict"):
            if getattr(self, name) not in VERDICTS:
                raise ValueError(f"Claim {self.key}: {name} must be one of {VERDICTS}, got {getattr(self, name)!r}")
        if self.condition and self.verdict != PARTLY:
            raise ValueError(f"Claim {self.key}: a condition ({self.condition!r}) goes with the verdict "
                             f"{PARTLY!r} only, not {self.verdict!r}")

    @property
    def as_expected(self) -> bool:
        """The verdict is the expected one."""
        return self.verdict == self.expected_verdict

    @property
    def failed(self) -> bool:
        """A must-hold claim whose verdict is not the expected one."""
        return self.must_hold and not self.as_expected

    def verdict_text(self) -> str:
        """The verdict as shown in tables: with its condition, and in capitals with the expected
        verdict when the claim failed (``"FAILS (expected: holds)"``)."""
        name = VERDICT_TEXT[self.verdict]
        text = f"{name} ({self.condition})" if self.condition else name
        return f"{text.upper()} (expected: {VERDICT_TEXT[self.expected_verdict]})" if self.failed else text

    def to_json(self) -> dict:
        return {"key": self.key, "source": self.source, "claim": self.claim, "expected": self.expected,
                "measured": self.measured, "verdict": self.verdict, "condition": self.condition,
                "expected_verdict": self.expected_verdict, "must_hold": self.must_hold,
                "as_expected": self.as_expected, "rule": self.rule, "figure": self.figure,
                "explanation": self.explanation, "numbers": jsonable(self.numbers)}


def failed_claims(claims) -> list:
    """The must-hold claims whose verdict is not the expected one."""
    return [c for c in claims if c.failed]


def exit_status(claims) -> int:
    """1 when a must-hold claim did not come out as expected, else 0."""
    return 1 if failed_claims(claims) else 0


def verdict_counts(claims) -> dict:
    """``{verdict: number of claims}`` for every verdict of :data:`VERDICTS`."""
    return {v: sum(c.verdict == v for c in claims) for v in VERDICTS}


def claims_json(claims) -> dict:
    """The ``report.json`` entries every claims report has: ``claims``, ``failed``, ``exit_status``."""
    return {"claims": [c.to_json() for c in claims], "failed": [c.key for c in failed_claims(claims)],
            "exit_status": exit_status(claims)}


def claims_table(claims, caption: str = "") -> Table:
    """The claims as a report :class:`~refpattern.experiments.report.Table` (one row per claim)."""
    rows = [[str(index), f"{c.claim} [{c.source}]" if c.source else c.claim, c.expected, c.measured,
             c.verdict_text()] for index, c in enumerate(claims, 1)]
    return Table(list(TABLE_HEADER), rows, caption)


def claim_anchor(claim) -> str:
    """The id of a claim's card in the report (``claim-fig3_random``)."""
    return "claim-" + "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in claim.key)


def summary_table(claims, caption: str = "") -> Table:
    """One row per claim: number, statement (a link to its card) and verdict."""
    rows = [[str(index), Link(c.claim, claim_anchor(c)), c.verdict_text()] for index, c in enumerate(claims, 1)]
    return Table(list(SUMMARY_HEADER), rows, caption)


def claim_card(claim, index: int) -> Card:
    """The claim as a report :class:`~refpattern.experiments.report.Card`: what the paper says, what
    was measured (with its intervals), the rule, the verdict and, if it does not reproduce, why."""
    fields = [("paper / source", claim.expected), ("measured", claim.measured)]
    if claim.rule:
        fields.append(("rule", claim.rule))
    fields.append(("verdict", claim.verdict_text()))
    if claim.explanation:
        fields.append(("why it differs", claim.explanation))
    title = f"Claim {index}: {claim.claim}" + (f" [{claim.source}]" if claim.source else "")
    return Card(claim_anchor(claim), title, claim.verdict_text(), TONE[claim.verdict], fields)


def with_claim_cards(sections, claims, figure: str, first: int = 1) -> list:
    """``sections`` with a card for every claim (:func:`claim_card`, numbered from ``first``) added
    under the section that shows ``figure``, so that each claim sits next to the figure it is
    judged on; the sections are returned (the one with the figure gains the cards)."""
    for section in sections:
        if figure in section.figures:
            section.cards.extend(claim_card(c, first + i) for i, c in enumerate(claims))
            return sections
    raise ValueError(f"with_claim_cards: no section shows the figure {figure!r}")

