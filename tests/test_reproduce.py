"""``refpattern reproduce`` end to end at a tiny size: the report folder, the claims next to their
figures, the repetitions over seeds and the refusals that come before any work."""

import contextlib
import io
import json
import re

import pytest

from refpattern.cli import main
from refpattern.experiments import reproduce
from refpattern.experiments.ledger import VERDICT_TEXT, VERDICTS

#: The pipeline at a size that runs in seconds (the numbers mean little; the shape of the report is tested).
TINY = reproduce.Settings(seeds=2, train_samples=256, test_samples=128, rho_samples=192, degradation_images=8,
                          patch=4, gallery_images=2, score_images=32, followup_images=8, ig_steps=4,
                          smoothgrad_samples=2, suppressor_samples=400, mlp_rho=False,
                          deep_cascade=True)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("reproduce")
    stderr, stdout = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(reproduce, "QUICK", TINY)
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(stdout):
            status = main(["reproduce", "--quick", "--out", str(out)])
    (out / "stderr.txt").write_text(stderr.getvalue(), encoding="utf-8")
    return status, out, stdout.getvalue()


def test_progress_lines_come_from_refpattern_progress(report):
    _, out, _ = report
    lines = (out / "stderr.txt").read_text(encoding="utf-8").splitlines()
    assert len(lines) >= 10
    assert all(re.fullmatch(r"\[reproduce +\d+\.\d s\] \S.*", line) for line in lines), lines
    assert sum("repetition" in line for line in lines) == TINY.seeds


def test_reproduce_exits_zero_and_writes_the_report(report):
    status, out, stdout = report
    assert status == 0
    for name in ("report.md", "report.html", "report.json"):
        assert (out / name).is_file()
    assert len(list(out.glob("*.png"))) >= 8
    assert "not resolved at this sample size" in stdout or "hold" in stdout
    assert f"({TINY.seeds} seeds, 95 % intervals)" in stdout


def test_html_is_self_contained_and_every_claim_sits_under_its_figure(report):
    _, out, _ = report
    page = (out / "report.html").read_text(encoding="utf-8")
    numbers = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert page.count("data:image/png;base64,") >= 8
    assert 'src="http' not in page and "src='http" not in page
    for claim in numbers["claims"]:
        anchor = "claim-" + re.sub(r"[^\w-]", "-", claim["key"])
        card = page.index(f'id="{anchor}"')
        assert f'href="#{anchor}"' in page                           # the summary links to the card
        if claim["figure"]:
            assert page.index(f'id="figure-{claim["figure"]}"') < card  # the figure comes first
        text = page[card:page.index("</div></div>", card)]
        assert "rule" in text and VERDICT_TEXT[claim["verdict"]] in text
        number = r"-?\d+\.\d+(?:e[+-]\d+)?"  # fixed point, or scientific outside 1e-3 … 1e6
        assert re.search(rf"\[{number}, {number}\]|\[n/a[]:]", text), claim["key"]   # an interval


def test_json_has_a_verdict_and_the_per_seed_numbers_of_every_claim(report):
    _, out, _ = report
    numbers = json.loads((out / "report.json").read_text(encoding="utf-8"))
    claims = numbers["claims"]
    assert len(claims) >= 20
    for claim in claims:
        assert set(claim) >= {"key", "claim", "expected", "measured", "verdict", "must_hold", "numbers", "rule"}
        assert claim["verdict"] in VERDICTS
        assert not claim["must_hold"]          # findings about the paper: no verdict fails the run
        for part in claim["numbers"]["parts"]:
            assert len(part["interval"]["values"]) == TINY.seeds
    assert numbers["failed"] == [] and numbers["exit_status"] == 0
    keys = {c["key"] for c in claims}
    assert {"fig3_random", "fig3_sapm_dense", "fig3_sapm_dense.regime", "fig4_ranking", "fig4_first",
            "fig4_first.s_a", "fig4_first.regime", "signal_recovery.regime", "cascade", "input_shift",
            "suppressor_linear", "implementation_invariance"} <= keys
    results = numbers["results"]
    seeds = results["seeds"]
    assert len(seeds) == len(set(seeds)) == TINY.seeds
    runs = results["synthetic"]["per_seed"]
    assert [run["seed"] for run in runs] == seeds
    for run in runs:
        assert set(run["fig4"]["auc"]) >= {"PA S_a±", "PA S_x", "PA S_w", "PA S_a", "PA S_a± (regime)", "random"}
        # every degradation curve ends at the same point: all patches replaced by their means
        assert len({round(curve[-1], 12) for curve in run["fig4"]["curves"].values()}) == 1
        # the shifted and rebuilt networks are the same function
        assert run["input_shift"]["max_logit_difference"] < 1e-9
        for row in run["implementation_invariance"]["constructions"].values():
            assert row["max_logit_difference"] < 1e-9 and row["relative_difference"]["gradient"] < 1e-9


def test_markdown_lists_the_claims_and_the_interval_method(report):
    _, out, _ = report
    text = (out / "report.md").read_text(encoding="utf-8")
    assert "## Summary" in text and "| verdict |" in text
    assert "Student-t interval" in text and "docs/math.md#repetition" in text
    assert text.count("![") >= 8
    assert "*why it differs*" in text or "holds" in text


def test_the_gallery_is_labelled(report):
    _, out, _ = report
    numbers = json.loads((out / "report.json").read_text(encoding="utf-8"))
    gallery = numbers["results"]["synthetic"]["gallery"]["image"]
    assert gallery["seeds"] == TINY.seeds and len(gallery["label"]) == TINY.gallery_images
    assert all(len(c["values"]) == TINY.seeds for c in gallery["confidence"])
    text = (out / "report.md").read_text(encoding="utf-8")
    assert "columns, left to right: input, true signal, label, prediction, confidence" in text


def test_too_few_seeds_are_refused_before_any_work(monkeypatch, capsys):
    monkeypatch.setattr(reproduce, "run_experiments", _no_work)
    assert main(["reproduce", "--seeds", "1"]) == 2
    assert "--seeds: must be at least 2" in capsys.readouterr().err


def test_digits_without_scikit_learn_is_refused_naming_the_extra(monkeypatch, capsys, tmp_path):
    import refpattern.datasets

    monkeypatch.setattr(reproduce, "run_experiments", _no_work)
    monkeypatch.setattr(refpattern.datasets, "digits_available", lambda: False)
    assert main(["reproduce", "--data", "digits", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "scikit-learn" in err and 'refpattern[data]' in err and "Traceback" not in err


def _no_work(*args, **kwargs):
    raise AssertionError("the command started working before refusing its arguments")
