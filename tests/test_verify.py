"""``refpattern verify``: the command runs, every claim comes out as derived, the report is complete."""

import base64
import json
import re

import numpy as np
import pytest

from refpattern import cli
from refpattern.experiments import verify
from refpattern.experiments.ledger import FAILS, HOLDS, PARTLY, VERDICTS, Claim
from refpattern.experiments.toy import tolerances
from refpattern.experiments.toy.check import ClaimsReport, check_toy_claims

REQUIRED_CLAIMS = {
    "filter_not_parallel",              # docs/math.md#toy-claim-1
    "rotation",                         # docs/math.md#toy-claim-2
    "gradient_methods_return_w",        # docs/math.md#toy-claim-3
    "pattern_recovers_signal",          # docs/math.md#toy-claim-4
    "pattern_error_rate",
    "pattern_net_returns_signal",
    "pattern_attribution_sums_to_y",
    "isotropic_noise_shrinks_w",        # docs/math.md#toy-claim-5
    "rho_ranking",                      # docs/math.md#toy-rho
    "rho_filter_closed_form",
    "relu_patterns_closed_form",        # docs/math.md#sapm-mu-bias (μ ≠ 0)
    "relu_patterns_recover_signal",
    "rho_blind_to_relu_bias",
    "regime_variant_recovers_signal",
    "optimum_identity",                 # Eq. 2
}


@pytest.fixture(scope="module")
def verified(tmp_path_factory):
    """One run of ``refpattern verify --samples 20000`` shared by the tests below."""
    out = tmp_path_factory.mktemp("report")
    status = cli.main(["verify", "--samples", "20000", "--seed", "3", "--out", str(out)])
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    return status, out, report


def test_verify_exits_zero_and_writes_the_report(verified):
    status, out, report = verified
    assert status == 0
    assert report["exit_status"] == 0 and report["failed"] == []
    assert (out / "report.md").stat().st_size > 1000
    assert report["samples"] == 20000 and report["seed"] == 3
    assert report["z"] == tolerances.Z and report["batches"] == tolerances.BATCHES
    assert {"refpattern", "numpy", "python"} <= set(report["versions"])


def test_report_lists_every_claim_with_a_verdict(verified):
    _, out, report = verified
    claims = {c["key"]: c for c in report["claims"]}
    assert REQUIRED_CLAIMS <= set(claims)
    for claim in claims.values():
        assert claim["verdict"] in VERDICTS
        assert claim["expected"] and claim["measured"] and claim["numbers"]
        assert claim["as_expected"] and claim["must_hold"], claim
    # the conditional claim is reported as conditional, with the measured numbers behind it
    relu = claims["relu_patterns_recover_signal"]
    assert relu["verdict"] == PARTLY and relu["condition"] == "holds only when μ = 0"
    np.testing.assert_allclose(relu["numbers"]["mu1"], [2.5, 1.5, -0.5, -1.5], atol=0.3)
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert markdown.count("\n| ") >= len(REQUIRED_CLAIMS) + 1
    assert "partly (holds only when μ = 0)" in markdown


def test_reported_numbers_match_the_closed_forms(verified):
    _, _, report = verified
    claims = {c["key"]: c["numbers"] for c in report["claims"]}
    assert claims["filter_not_parallel"]["angle_deg"] == pytest.approx(45.0, abs=1e-9)
    rho = claims["rho_ranking"]["rho_in_sample"]
    assert rho["S_a"] == pytest.approx(1.0, abs=1e-9)
    assert rho["S_x"] is None                                   # undefined, not 1
    assert claims["rho_filter_closed_form"]["closed_form"] == pytest.approx(1 - 1 / np.sqrt(13))
    assert claims["pattern_error_rate"]["slope"] == pytest.approx(-0.5, abs=0.5)
    assert claims["pattern_attribution_sums_to_y"]["max_abs_sum_gap"] <= 1e-12


def test_verify_prints_the_table_and_progress(tmp_path, capsys):
    status = verify.run(_arguments(tmp_path, samples=10_000))
    captured = capsys.readouterr()
    assert status == 0
    assert "claim" in captured.out and "verdict" in captured.out and str(tmp_path) in captured.out
    # progress goes through refpattern.progress: every stderr line is "[verify   12.3 s] message"
    lines = captured.err.splitlines()
    assert len(lines) >= 10
    assert all(re.fullmatch(r"\[verify +\d+\.\d s\] \S.*", line) for line in lines), lines
    assert "[verify" not in captured.out


def test_figure_is_a_real_image(verified):
    pytest.importorskip("matplotlib")
    from matplotlib import image

    _, out, report = verified
    path = out / "toy.png"
    assert report["figure"] == "toy.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 20_000
    pixels = image.imread(path)
    assert pixels.ndim == 3 and pixels.shape[0] > 300 and pixels.shape[1] > 600
    assert pixels[..., :3].std() > 0.05                          # not a blank canvas
    assert len(np.unique(pixels[..., :3].reshape(-1, 3), axis=0)) > 100


def test_html_report_embeds_the_toy_figure_and_the_claims(verified):
    _, out, report = verified
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 1 and base64.b64decode(images[0]) == (out / "toy.png").read_bytes()
    assert 'src="http' not in page
    # one table row per claim below the header, each with its key's statement and its verdict
    assert page.count("<tr>") == len(report["claims"]) + 1
    for claim in report["claims"]:
        assert f"<td>{claim['verdict']}" in page


def test_a_claim_that_must_hold_and_fails_gives_a_nonzero_exit(tmp_path, monkeypatch, capsys):
    broken = Claim("broken", "a claim", "expected", "measured", FAILS, source="docs/math.md#toy", must_hold=True)
    conditional = Claim("conditional", "c", "e", "m", HOLDS, source="docs/math.md#estimators",
                        expected_verdict=PARTLY, must_hold=True)
    finding = Claim("finding", "f", "e", "m", FAILS)  # need not hold: reported, not a failure
    check = ClaimsReport(20000, 0, [broken, conditional, finding])
    monkeypatch.setattr(verify, "check_claims", lambda *arguments, **options: check)
    monkeypatch.setattr(verify, "toy_figure", lambda check: (b"", ""))
    assert verify.run(_arguments(tmp_path)) == 1
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert report["failed"] == ["broken", "conditional"] and report["exit_status"] == 1
    assert "FAILS" in capsys.readouterr().out
    markdown = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "HOLDS (expected: partly)" in markdown and "2 claim(s) that must hold do not" in markdown
    assert "| 3 | f | e | m | fails |" in markdown


def test_too_few_samples_is_refused(tmp_path):
    assert verify.run(_arguments(tmp_path, samples=100)) == 2
    with pytest.raises(ValueError, match="at least"):
        check_toy_claims(100)


def test_batch_standard_error_is_the_standard_error_of_the_mean():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200_000, 1))
    se = tolerances.batch_standard_error(tolerances.batch_values(lambda part: part.mean(axis=0), x))
    # SE of the mean is 1/√N; its batch-means estimate has relative error ≈ 1/√(2(K−1)) = 0.1
    assert se[0] * np.sqrt(len(x)) == pytest.approx(1.0, abs=5 * 0.1)
    assert tolerances.within(0.0, 4.9 * se[0], se[0]) and not tolerances.within(0.0, 5.1 * se[0], se[0])


def _arguments(out, samples=20000, seed=0, config="paper-toy"):
    import argparse

    return argparse.Namespace(samples=samples, seed=seed, out=str(out), config=config)
