"""``refpattern reproduce --quick`` end to end: the report folder and the claims table."""

import contextlib
import io
import json
import re

import pytest

from refpattern.cli import main
from refpattern.experiments.ledger import VERDICTS


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("reproduce")
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        status = main(["reproduce", "--quick", "--out", str(out)])
    (out / "stderr.txt").write_text(stderr.getvalue(), encoding="utf-8")
    return status, out


def test_progress_lines_come_from_refpattern_progress(report):
    _, out = report
    lines = (out / "stderr.txt").read_text(encoding="utf-8").splitlines()
    assert len(lines) >= 10
    assert all(re.fullmatch(r"\[reproduce +\d+\.\d s\] \S.*", line) for line in lines), lines


def test_reproduce_quick_exits_zero_and_writes_the_report(report):
    status, out = report
    assert status == 0
    for name in ("report.md", "report.html", "report.json"):
        assert (out / name).is_file()
    assert len(list(out.glob("*.png"))) >= 4


def test_html_is_self_contained(report):
    _, out = report
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") >= 4
    assert 'src="http' not in page and "src='http" not in page


def test_json_has_a_verdict_for_every_claim(report, capsys):
    _, out = report
    numbers = json.loads((out / "report.json").read_text(encoding="utf-8"))
    claims = numbers["claims"]
    assert len(claims) >= 10
    for claim in claims:
        assert set(claim) >= {"key", "claim", "expected", "measured", "verdict", "must_hold", "numbers"}
        assert claim["verdict"] in VERDICTS
        assert not claim["must_hold"]          # findings about the paper: no verdict fails the run
    assert numbers["failed"] == [] and numbers["exit_status"] == 0
    keys = {c["key"] for c in claims}
    assert {"fig3_random", "fig4_ranking", "cascade", "input_shift", "suppressor_linear",
            "implementation_invariance"} <= keys
    results = numbers["results"]
    assert set(results["fig4"]["auc"]) >= {"PA S_a±", "PA S_x", "PA S_w", "PA S_a", "random", "gradient"}
    # every degradation curve ends at the same point: all patches replaced by their means
    ends = {round(curve[-1], 12) for curve in results["fig4"]["mean_curves"].values()}
    assert len(ends) == 1
    # the shifted network is the same function
    assert results["input_shift"]["max_logit_difference"] < 1e-9
    for row in results["implementation_invariance"]["constructions"].values():
        assert row["max_logit_difference"] < 1e-9
        assert row["relative_difference"]["gradient"] < 1e-9


def test_markdown_lists_the_claims(report):
    _, out = report
    text = (out / "report.md").read_text(encoding="utf-8")
    assert "## Claims" in text and "| verdict |" in text
    assert text.count("![") >= 4
