"""Degenerate but legal linear models under ``refpattern verify``: every claim holds, fails for a reason of the
math, or is listed as not measured with the reason — never a crash, never a verdict decided by rounding
(``docs/math.md#linear-rounding``)."""

import json
import math

import numpy as np
import pytest

from refpattern import cli
from refpattern.experiments.toy import tolerances
from refpattern.experiments.toy.check import check_claims
from refpattern.experiments.toy.measurements import Sample, fit, input_rank, neuron_pattern
from refpattern.experiments.toy.pattern_claims import claim_error_rate
from refpattern.linear.config import ClaimOptions, config_from_table
from refpattern.linear.model import LinearModel

N = 10_000


def checked(model, n=N, options=None):
    report = check_claims(model, n, 0, options, progress=False)
    assert [c.key for c in report.claims if c.failed] == []
    return report, dict(report.skipped)


def toml_table(text):
    import tomllib

    return tomllib.loads(text)


def test_a_distractor_without_variance_runs_and_says_what_is_0_over_0(tmp_path, capsys):
    config = tmp_path / "flat.toml"
    config.write_text("dimension = 2\n[signal]\ndirections = [[1.0, 0.0]]\n"
                      "[distractor]\ndirections = [[1.0, 1.0]]\ncovariance = 0.0\n")
    status = cli.main(["verify", "--config", str(config), "--samples", str(N), "--out", str(tmp_path / "out")])
    assert status == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    skipped = {entry["key"]: entry["reason"] for entry in report["skipped"]}
    assert "no variance" in skipped["rotation"] and "cov[d] = 0" in skipped["rotation"]
    for key in ("rho_ranking", "rho_filter_closed_form"):
        assert "rank 1" in skipped[key] and "0/0" in skipped[key]
    assert "no sampling error" in skipped["pattern_error_rate"]
    assert "not measured: rotation" in capsys.readouterr().out


def test_d1_with_a_distractor_has_no_plane_and_no_rho():
    model = LinearModel([[1.0]], "uniform", 1.0, [[1.0]])
    report, skipped = checked(model)
    assert "D = 1" in skipped["rotation"]
    assert "D = 1" in skipped["rho_random_baseline"] and "1/w" in skipped["rho_random_baseline"]
    assert "0/0" in skipped["rho_ranking"]
    assert report.claim("pattern_recovers_signal").verdict == "holds"


@pytest.mark.parametrize("text", [
    "dimension = 2\n[signal]\ndirections = [[1.0, 0.0]]\n",                                   # no distractor, no noise
    "dimension = 2\n[signal]\ndirections = [[1.0, 0.0]]\n[distractor]\ndirections = [[2.0, 0.0]]\n",  # parallel
    "dimension = 1\n[signal]\ndirections = [[0.3]]\n[noise]\ncovariance = 0.7\n",              # D = 1 with noise
    "dimension = 3\n[signal]\ndirections = [[0.6, 0.8, 0.0]]\nscale = 3.7\n",                   # rank 1 in D = 3
])
def test_rank_one_models_measure_no_rho_and_no_rate(text):
    model = config_from_table(toml_table(text)).model
    assert input_rank(model) == 1
    report, skipped = checked(model)
    assert {"rho_ranking", "rho_filter_closed_form", "pattern_error_rate"} <= set(skipped)
    assert report.claim("pattern_recovers_signal").verdict == "holds"


def test_rank_is_not_hidden_by_a_source_scale():
    # the signal's variance is 10^30 times the distractor's (within float64's 2^53 per coordinate,
    # docs/math.md#linear-resolution): Σ_x's eigenvalues say "rank 1", its sources do not
    model = LinearModel([[1e15, 0.0]], "uniform", 1.0, [[1.0, 1.0]])
    values = np.linalg.eigvalsh(model.input_covariance)
    assert values[0] < 1e-25 * values[-1]
    assert input_rank(model) == 2


@pytest.mark.parametrize("text", [
    "dimension = 3\n[signal]\ndirections = [[1.0, 0.0, 0.0]]\n[distractor]\ndirections = [[1.0, 1.0, 0.0]]\n",
    "dimension = 3\n[signal]\ndirections = [[0.3, 0.5, -0.2]]\n[distractor]\ndirections = [[1.0, 1.0, 0.4]]\n",
    "dimension = 2\n[signal]\ndirections = [[1.0, 0.0]]\n[distractor]\ndirections = [[2.0, 0.0]]\n"
    "[claims]\nrotations_deg = [0.0, 90.0]\n",                                                 # rotation 0: SE = 0
])
def test_singular_models_with_an_exact_pattern_hold(text):
    config = config_from_table(toml_table(text))
    report = check_claims(config.model, N, 0, config.claims, progress=False)
    assert [c.key for c in report.claims if c.failed] == []
    assert report.claim("rotation").verdict == "holds"


def test_isotropic_noise_below_float64_resolution_is_not_measured():
    # σ_n in the model's units (the default is the signal's own size c·|a_s| = 1e35: docs/math.md#linear-claim-scale)
    model = LinearModel([[1e35, 0.0]], "uniform", 1.0, [[1e35, 1e35]])
    report, skipped = checked(model, options=ClaimOptions(isotropic_sigma=1.0))
    reason = skipped["isotropic_noise_shrinks_w"]
    assert "isotropic_sigma" in reason and "resolution" in reason


@pytest.mark.parametrize("scale", [1e100, 1e-100])
def test_huge_and_tiny_models_give_the_verdicts_of_the_unit_model(scale):
    unit, _ = checked(LinearModel([[1.0, 0.0]], "uniform", 1.0, [[1.0, 1.0]]))
    scaled, skipped = checked(LinearModel([[scale, 0.0]], "uniform", 1.0, [[scale, scale]]))
    verdicts = {c.key: c.verdict for c in scaled.claims}
    assert verdicts == {c.key: c.verdict for c in unit.claims if c.key in verdicts}
    assert set(verdicts) | set(skipped) == {c.key for c in unit.claims} | set(dict(unit.skipped))


def test_the_error_rate_is_scale_free():
    # a power-of-two scale multiplies every draw exactly: κ is the same number, the slope of log RMS the same
    # but for the rounding of log(RMS) − 330·log 2
    unit = Sample.of(LinearModel([[1.0, 0.0]], "uniform", 1.0, [[1.0, 1.0]]), N, 0)
    tiny = Sample.of(LinearModel([[2.0 ** -330, 0.0]], "uniform", 1.0, [[2.0 ** -330, 2.0 ** -330]]), N, 0)
    a, b = claim_error_rate(unit, 0).numbers, claim_error_rate(tiny, 0).numbers
    assert np.isfinite(b["slope_standard_error"])
    assert b["kappa_pooled"] == a["kappa_pooled"]
    assert math.isclose(b["slope"], a["slope"], rel_tol=1e-9)


def test_the_rounding_bound_is_its_formula_and_covers_a_fit_without_sampling_error():
    assert tolerances.rounding_bound(3.0, 10_000) == tolerances.Z * 2.0 ** -52 * 100.0 * 3.0
    assert tolerances.rounding_bound(2.0, 0) == tolerances.Z * 2.0 ** -52 * 2.0
    # x − E[x] = p·y exactly: S_a = cov[x, y]/σ²_y is p/(wᵀp) but for rounding, in every batch
    model = LinearModel([[0.6, 0.8, 0.0]], "uniform", 3.7)
    sample = Sample.of(model, N, 0)
    a = neuron_pattern(fit(sample.net, sample.inputs(), "a", 0))
    expected = model.signal_directions[0] / (sample.w @ model.signal_directions[0])
    deviation = np.max(np.abs(a - expected))
    assert 0.0 < deviation or np.array_equal(a, expected)
    assert deviation <= tolerances.rounding_bound(tolerances.magnitude(expected), N)
    # and the bound is not vacuous: a pattern off by one part in 10^9 is outside it
    assert not tolerances.within(expected * (1 + 1e-9), expected, 0.0,
                                 tolerances.rounding_bound(tolerances.magnitude(expected), N))
    assert math.isclose(tolerances.magnitude([-3.0, 2.0], 1.5), 3.0)


@pytest.mark.parametrize("mean", [2.0, -0.5])
def test_a_constant_distractor_with_a_mean_leaves_the_minimum_norm_filter(mean):
    """``cov[d] = 0``, ``μ ≠ 0``: ``x = a_s·s + μ·a_d`` and every ``w`` with ``wᵀa_s = 1``, whatever its
    component along the constant direction, fits, with ``b`` absorbing ``μ·wᵀa_d``.  The
    closed form is the minimum-norm ``w = a_s/|a_s|² = (1, 0)``; the least-squares fit with an
    appended constant column returned the ``w`` of the minimum-norm pair ``(w, b)``, (1, −0.8) at
    μ = 2, and claim 1 "failed".  Centred inputs give the minimum-norm ``w``."""
    model = LinearModel([[1.0, 0.0]], "uniform", 1.0, [[1.0, 1.0]], distractor_mean=mean, distractor_covariance=0.0)
    report, _ = checked(model)
    claim = report.claim("filter_not_parallel")
    assert claim.verdict == "holds"
    np.testing.assert_allclose(claim.numbers["w_closed_form"], [1.0, 0.0], atol=1e-15)
    np.testing.assert_allclose(claim.numbers["w_least_squares"], [1.0, 0.0], atol=1e-12)


def test_the_s_a_pm_claims_give_the_real_reason_rho_is_not_measured():
    """A distractor without variance but with a mean leaves ``Σ_x`` of rank 1: S_a± leaves ``d̂ ≡ 0`` and its ρ is
    0/0 (``docs/math.md#linear-rounding``), while ``N = 10⁴`` is five times the ``50·20·D`` samples ρ needs in
    ``D = 2``.  The S_a± claims said "ρ(S_a±) = not measured (N too small for D)" whatever the reason; they must say
    the one the ρ claims give."""
    model = LinearModel([[1.0, 0.0]], "uniform", 1.0, [[1.0, 1.0]], distractor_mean=1.0, distractor_covariance=0.0)
    report, skipped = checked(model)
    assert N >= 50 * 20 * model.dimension and "0/0" in skipped["rho_ranking"]
    for key in ("rho_blind_to_relu_bias", "regime_variant_recovers_signal"):
        claim = report.claim(key)
        assert claim.numbers["rho"] is None
        assert "too small" not in claim.measured
        assert skipped["rho_ranking"] in claim.measured
