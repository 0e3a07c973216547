"""The one claim type of the experiments: a statement, what we measured, and a verdict.

``refpattern verify`` (the linear toy, :mod:`refpattern.experiments.toy`) and ``refpattern
reproduce`` (the CNN experiments, :mod:`refpattern.experiments.claims`) both report a list of
:class:`Claim`.  The verdict vocabulary is :data:`VERDICTS`:

* ``"holds"`` — the measurement agrees with the statement;
* ``"partly"`` — it agrees only in part; when the part is a stated condition (the toy's ``S_a±``
  recovers ``a_s`` only when the distractor mean ``μ`` is 0), :attr:`Claim.condition` says which;
* ``"fails"`` — it does not agree.

A claim also says which verdict is *expected* (``expected_verdict``: what the paper, or a closed
form derived in this package, predicts) and whether it *must hold* (``must_hold``).  A must-hold
claim that does not come out as expected is a bug in the code or in a derivation, so the command
that measured it exits with status 1 (:func:`exit_status`); the toy's claims must hold, the CNN
experiments' claims are findings about the paper and need not.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from refpattern.experiments.report import Table, jsonable

VERDICTS = ("holds", "partly", "fails")
"""Every verdict a claim can have."""

HOLDS, PARTLY, FAILS = VERDICTS

TABLE_HEADER = ("#", "claim", "expected", "measured", "verdict")
"""Columns of the claims table (terminal, Markdown and HTML)."""

TERMINAL_WIDTHS = (2, 32, 34, 46, 22)
"""Characters per column of the claims table on the terminal."""


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
        text = f"{self.verdict} ({self.condition})" if self.condition else self.verdict
        return f"{text.upper()} (expected: {self.expected_verdict})" if self.failed else text

    def to_json(self) -> dict:
        return {"key": self.key, "source": self.source, "claim": self.claim, "expected": self.expected,
                "measured": self.measured, "verdict": self.verdict, "condition": self.condition,
                "expected_verdict": self.expected_verdict, "must_hold": self.must_hold,
                "as_expected": self.as_expected, "numbers": jsonable(self.numbers)}


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
