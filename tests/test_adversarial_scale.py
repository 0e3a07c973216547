"""Linear models whose signal and distractor differ in scale (legal up to 2⁵³, ``docs/math.md#linear-resolution``):
the planar closed forms keep their digits (``docs/math.md#toy-stable-forms``) and the claims' verdicts come from
the math (``docs/math.md#linear-rounding-scale``)."""

import math

import numpy as np
import pytest

from refpattern.experiments.toy.check import check_claims
from refpattern.linear import planar
from refpattern.linear.config import ClaimOptions
from refpattern.linear.model import LinearModel

A_D = np.array([1.0, 1.0])


def old_one_minus_correlation(t, sigma, sigma_y2=1.0 / 3.0):
    return 1.0 - abs(t) * math.sqrt(sigma_y2) / math.sqrt(t * t * sigma_y2 + sigma * sigma)


def exact_one_minus_correlation(t, sigma):
    mpmath = pytest.importorskip("mpmath")
    with mpmath.workdps(60):
        t, sigma, sigma_y2 = mpmath.mpf(t), mpmath.mpf(sigma), mpmath.mpf(1) / 3
        return 1 - abs(t) * mpmath.sqrt(sigma_y2) / mpmath.sqrt(t * t * sigma_y2 + sigma * sigma)


@pytest.mark.parametrize("t", [0.0, 0.3, -1.7, 5.0])
def test_stable_rho_equals_the_old_formula_at_moderate_scale(t):
    assert planar.one_minus_correlation(t, 1.0) == pytest.approx(old_one_minus_correlation(t, 1.0), rel=1e-14)


@pytest.mark.parametrize("t", [1e5, 1e9, 1e15, 1e30])
def test_stable_rho_keeps_its_digits_where_the_old_one_cancels(t):
    exact = exact_one_minus_correlation(t, 1.0)
    assert planar.one_minus_correlation(t, 1.0) == pytest.approx(float(exact), rel=1e-14)


def test_filter_rho_at_a_large_scale_ratio_is_sigma2_over_2k2():
    # a_s = (s, 0), a_d = (1, 1): k = s/2; ρ(S_w) = σ²/(h(h + kσ_y)) ≈ 3σ²/(2k²) = 6/s² (mpmath: 60 digits)
    s = 1e9
    exact = exact_one_minus_correlation(s / 2, 1.0)
    assert planar.filter_estimator_rho([s, 0.0], A_D, 1.0) == pytest.approx(float(exact), rel=1e-14)
    assert old_one_minus_correlation(s / 2, 1.0) == 0.0  # what the old form returned


@pytest.mark.parametrize("angle", [0.7, 1e-9, 1e-14])
def test_kahan_angle_against_arccos_and_exact_geometry(angle):
    mpmath = pytest.importorskip("mpmath")
    u = np.array([1.0, 0.0])
    v = np.array([math.cos(angle), math.sin(angle)])
    exact = float(mpmath.atan2(mpmath.mpf(v[1]), mpmath.mpf(v[0])))  # the angle of the rounded v, exactly
    assert planar.vector_angle(u, v) == pytest.approx(exact, rel=1e-14)
    if angle > 1e-4:  # where arccos has its digits the two agree
        assert planar.vector_angle(u, v) == pytest.approx(math.acos(u @ v / np.linalg.norm(v)), rel=1e-12)
    assert planar.axis_angle_deg(u, -v) == pytest.approx(math.degrees(exact), rel=1e-14)


def cauchy_closed_probability(s):
    # P(|t| < k) with t ~ Cauchy(−k, γ): (atan(2k/γ) + atan(0))/π; for a_s = (s, 0), a_d = (1, 1): k = γ = s/2
    return math.atan(2.0) / math.pi


@pytest.mark.parametrize("s", [1.0, 1e3, 1e9])
def test_random_baseline_scales_like_one_over_s_and_keeps_its_probability(s):
    reference = planar.filter_estimator_rho([s, 0.0], A_D, 1.0)
    mean, probability = planar.random_pattern_rho(np.array([s, 0.0]), A_D, 1.0, reference)
    assert probability == pytest.approx(cauchy_closed_probability(s), rel=1e-12)
    # independent: E[ρ] = ∫ ρ(t)·Cauchy(t; −s/2, s/2) dt by mpmath at 30 digits
    mpmath = pytest.importorskip("mpmath")
    with mpmath.workdps(30):
        k = mpmath.mpf(s) / 2

        def integrand(t):
            return exact_one_minus_correlation(t, 1.0) * k / (mpmath.pi * ((t + k) ** 2 + k ** 2))

        exact = mpmath.quad(integrand, [-mpmath.inf, -k, -10, 0, 10, mpmath.inf])
    assert mean == pytest.approx(float(exact), rel=1e-9)


def test_random_baseline_of_the_default_toy_is_unchanged():
    # the values the angle quadrature gave (docs/math.md#linear-random-baseline), to a few ulps
    mean, probability = planar.random_pattern_rho(np.array([1.0, 0.0]), A_D, 1.0, 1.0 - 1.0 / math.sqrt(13.0))
    assert mean == pytest.approx(0.5716009011829258, rel=1e-14)
    assert probability == pytest.approx(0.35241638234956674, rel=1e-14)


def test_second_moment_is_a_second_moment():
    # ρ ∈ [0, 1]: E[ρ]² ≤ E[ρ²] ≤ E[ρ]
    for s in (1.0, 1e6):
        mean, _ = planar.random_pattern_rho(np.array([s, 0.0]), A_D, 1.0, 0.5)
        second = planar.random_pattern_rho_second_moment(np.array([s, 0.0]), A_D, 1.0)
        assert mean ** 2 <= second <= mean


@pytest.mark.parametrize("s", [1e4, 1e6])
def test_a_signal_a_million_times_the_distractor_passes_every_claim(s):
    # failed before: isotropic_noise_shrinks_w (shrinkage 3/s³ unresolvable at this N), rho_blind_to_relu_bias
    # (ρ's rounding on the scale of x), rho_random_baseline once E[ρ] was right (a mean of rare directions);
    # at 1e4 rho_ranking and rho_blind_to_relu_bias (ρ kept a rounding-noise direction of Σ, see below)
    # σ_n = 1 in the model's units (the default c·|a_s| = s resolves the shrinkage: docs/math.md#linear-claim-scale)
    report = check_claims(LinearModel([[s, 0.0]], "uniform", 1.0, [[1.0, 1.0]]), 10_000, 0,
                          ClaimOptions(isotropic_sigma=1.0), progress=False)
    assert [c.key for c in report.claims if c.failed] == []
    assert report.claim("isotropic_noise_shrinks_w").numbers["shrinkage_resolved"] is False


@pytest.mark.parametrize("s, seed", [(1e3, 1), (3e3, 2), (1e4, 0), (3e4, 3), (3e5, 1), (1e6, 0)])
def test_rho_keeps_no_rounding_noise_direction(s, seed):
    """ρ(S_a) = 1 exactly (cov[x − a·y, y] = 0).  With D = 2 and one distractor, Σ = cov[d̂] has rank 1; its
    second eigenvalue is the rounding of terms of size s² (here 1e-9…1e-6), above the relative cut-off
    1e-10·λ_max, and wherever it came out positive ρ regressed y on that noise direction: 1 − ρ = 1.4e-9 …
    8.4e-9, beyond the claims' RELATIVE_EXACT, on these draws.  Every eigenvalue below the rounding floor is
    now discarded (refpattern/patterns/rho.py, docs/conventions.md#rho-conventions)."""
    from refpattern.experiments.toy.measurements import Sample, fit, neuron_rho
    from refpattern.experiments.toy.tolerances import RELATIVE_EXACT

    sample = Sample.of(LinearModel([[s, 0.0]], "uniform", 1.0, [[1.0, 1.0]]), 10_000, seed)
    source = sample.inputs()
    assert abs(1.0 - neuron_rho(sample.net, source, fit(sample.net, source, "a", 0))) <= RELATIVE_EXACT


# --- least squares at large scale ratios (docs/math.md#linear-least-squares) --------------------------------

@pytest.mark.parametrize("s", [1e12, 1e-12])
def test_least_squares_keeps_the_small_singular_value(s):
    # x = (s·y + ε, ε) with y = x₁/s − x₂/s exactly: w = (1/s, −1/s); lstsq's default rcond drops a direction
    from refpattern.experiments.toy.measurements import Sample, sample_least_squares, streamed_least_squares

    sample = Sample.of(LinearModel([[s, 0.0]], "uniform", 1.0, [[1.0, 1.0]]), 10_000, 0)
    whole = sample.draw.all()
    expected = np.array([1.0 / s, -1.0 / s])
    fitted, rounding = sample_least_squares(sample)
    streamed, streamed_rounding = streamed_least_squares(lambda: sample.draw.parts(7), lambda b: b.s[:, 0], False)
    for w, bound in ((fitted, rounding), (streamed, streamed_rounding)):
        assert np.all(np.abs(w - expected) <= bound)
        assert np.all(bound < np.abs(expected))  # Z·ε·√N·M: 6 % (s = 1e12), 38 % (s = 1e-12) of w here
    old = np.linalg.lstsq(whole.X, whole.s[:, 0], rcond=None)[0]
    assert np.max(np.abs(old - expected) / np.abs(expected)) > 0.5  # what the default cut returned


def test_least_squares_minimum_norm_is_taken_in_the_unscaled_coordinates():
    # D = 3, two sources: x₃ ≡ 0 can take any weight; and a_d = (1, −1, 1) with no noise leaves a null
    # direction of the data not along an axis: the minimum-norm w is Σ_x⁺'s (closed_forms, eigen-decomposition)
    from refpattern.experiments.toy.measurements import Sample, sample_least_squares
    from refpattern.linear import closed_forms

    model = LinearModel([[1.0, 1.0, 0.0]], "uniform", 3.0, [[1.0, -1.0, 2.0]])
    sample = Sample.of(model, 2000, 0)
    fitted, rounding = sample_least_squares(sample)
    w = closed_forms.pseudo_inverse(model) @ (model.effective_directions[0] * model.signal_variances[0])
    assert fitted == pytest.approx(w, abs=float(np.max(rounding)) + 1e-14)


@pytest.mark.parametrize("s", [1e12, 1e-6, 1e-12])
def test_filter_claims_hold_at_large_scale_ratios(s):
    # failed before: filter_not_parallel (lstsq dropped the small singular value), rotation (w to 1e3·EXACT only;
    # S_a's direction compared where |a_s| = 1e-6 is far inside its SE of 0.02)
    report = check_claims(LinearModel([[s, 0.0]], "uniform", 1.0, [[1.0, 1.0]]), 10_000, 0, progress=False)
    assert report.claim("filter_not_parallel").verdict == "holds"
    assert report.claim("rotation").verdict == "holds"


@pytest.mark.parametrize("s, mean", [(1e-6, 0.0), (1.0, 1e8)])
def test_pattern_attribution_sums_to_y_within_the_rounding_of_y(s, mean):
    # w = 1e6·(1, −1) (s = 1e-6) or x ~ 1e8 (mean): y = wᵀx + b cancels terms 1e6–1e8 times larger than y, so
    # Σ PA − s_k is the rounding of those terms (~1e-10, ~1e-8), not 1e-12; the bound comes from them
    report = check_claims(LinearModel([[s, 0.0]], "uniform", 1.0, [[1.0, 1.0]], distractor_mean=mean), 10_000, 0,
                          progress=False)
    claim = report.claim("pattern_attribution_sums_to_y")
    assert claim.verdict == "holds"
    assert claim.numbers["max_abs_sum_gap"] > 1e-12  # the old fixed EXACT failed it
    assert claim.numbers["bound_sum_gap"] < 1e-3  # still a rounding bound (y is of size 1)


# --- whole-model scaling, the error rate and Eq. 2 at large scale ratios (round 3) ------------------------------

def two_signal_model(scale=1.0):
    # a uniform and a Rademacher component, a distractor and noise: excess kurtosis of both signs reaches y
    return LinearModel([[1.0, 0.0], [0.3, 1.0]], ["uniform", "rademacher"], [scale, 2.0 * scale], [[1.0, 1.0]],
                       distractor_covariance=scale * scale, noise_covariance=0.1 * scale * scale)


def quotient_of_fourth_powers(model, w):
    # the formula as it was: (Σ_r,ii·σ²_y + Σ_j R_ij²·α_j²·κ₄,j)/σ⁴_y with κ₄ = E[s⁴] − 3σ⁴ from c⁴
    from refpattern.linear import closed_forms
    from refpattern.linear.model import KIND_FOURTH_MOMENT

    sigma_y2 = closed_forms.output_variance(model, w)
    gains = model.effective_directions @ w
    residual = model.effective_directions - np.outer(gains, closed_forms.activation_pattern(model, w))
    kappa = np.array([KIND_FOURTH_MOMENT[kind] * c ** 4 - 3 * v ** 2
                      for kind, c, v in zip(model.signal_kinds, model.signal_scales, model.signal_variances)])
    excess = (residual ** 2 * (gains ** 2 * kappa)[:, None]).sum(axis=0)
    return (np.diag(closed_forms.residual_covariance(model, w)) * sigma_y2 + excess) / sigma_y2 ** 2


def exact_pattern_variance(scale, w):
    # the same model in 50-digit arithmetic, from its definition (docs/math.md#linear-standard-errors)
    mpmath = pytest.importorskip("mpmath")
    with mpmath.workdps(50):
        f = mpmath.mpf(scale)
        p = [mpmath.matrix([1, 0]), mpmath.matrix([mpmath.mpf("0.3"), 1])]
        c = [f, 2 * f]
        variances = [c[0] ** 2 / 3, c[1] ** 2]
        kappa = [c[0] ** 4 / 5 - 3 * variances[0] ** 2, c[1] ** 4 - 3 * variances[1] ** 2]
        a_d = mpmath.matrix([1, 1])
        gaussian = f * f * (a_d * a_d.T) + mpmath.mpf("0.1") * f * f * mpmath.eye(2)
        w = mpmath.matrix([mpmath.mpf(float(v)) for v in w])
        covariance = gaussian + sum((v * (q * q.T) for v, q in zip(variances, p)), mpmath.zeros(2))
        sigma_y2 = (w.T * covariance * w)[0]
        a = covariance * w / sigma_y2
        gains = [(w.T * q)[0] for q in p]
        residual = [q - a * g for q, g in zip(p, gains)]
        gw = gaussian * w
        r = gaussian - a * gw.T - gw * a.T + a * a.T * (w.T * gw)[0]
        r += sum((v * (q * q.T) for v, q in zip(variances, residual)), mpmath.zeros(2))
        return [float((r[i, i] * sigma_y2 + sum(q[i] ** 2 * g ** 2 * k for q, g, k in zip(residual, gains, kappa)))
                      / sigma_y2 ** 2) for i in range(2)]


W = np.array([0.7, -0.2])


def test_pattern_variance_in_ratio_form_equals_the_quotient_of_fourth_powers():
    from refpattern.linear import closed_forms

    model = two_signal_model()
    assert closed_forms.activation_pattern_variance(model, W) == pytest.approx(quotient_of_fourth_powers(model, W),
                                                                               rel=1e-14)
    assert closed_forms.standardized_excess_kurtosis(model).tolist() == pytest.approx([-1.2, -2.0], rel=1e-15)


@pytest.mark.parametrize("scale", [1.0, 1e150, 1e-150])
def test_pattern_variance_at_1e150_against_50_digits(scale):
    # σ⁴_y = 10⁶⁰⁰ (or 10⁻⁶⁰⁰): the quotient overflows (underflows) float64; the variance itself is scale-free
    from refpattern.linear import closed_forms

    measured = closed_forms.activation_pattern_variance(two_signal_model(scale), W)
    assert np.all(np.isfinite(measured))
    assert measured.tolist() == pytest.approx(exact_pattern_variance(scale, W), rel=1e-12)


def scaled_toy(scale, s=1.0):
    return LinearModel([[s, 0.0]], "uniform", scale, [[1.0, 1.0]], distractor_covariance=scale * scale)


def test_default_claim_sizes_are_the_toys_on_the_toy_and_scale_with_the_model():
    from refpattern.linear.config import ClaimOptions

    options = ClaimOptions()
    assert options.isotropic_sigma_for(scaled_toy(1.0)) == 1.0 and options.biased_mean_for(scaled_toy(1.0)) == 1.0
    assert options.isotropic_sigma_for(scaled_toy(1e100)) == 1e100
    assert options.biased_mean_for(scaled_toy(1e-100)) == 1e-100
    given = ClaimOptions(isotropic_sigma=2.0, biased_mean=3.0)  # given: in the model's units
    assert given.isotropic_sigma_for(scaled_toy(1e100)) == 2.0 and given.biased_mean_for(scaled_toy(1e100)) == 3.0


@pytest.mark.parametrize("scale", [1e100, 1e-100])
def test_every_verdict_of_a_model_scaled_by_1e100_is_the_unscaled_ones(scale):
    # failed before: OverflowError (c⁴, σ⁴_y = 10⁴⁰⁰); at 10⁻¹⁰⁰ the absolute μ = 1 was refused as lost to rounding
    unit = check_claims(scaled_toy(1.0), 10_000, 0, progress=False)
    scaled = check_claims(scaled_toy(scale), 10_000, 0, progress=False)
    assert {c.key: c.verdict for c in scaled.claims} == {c.key: c.verdict for c in unit.claims}
    assert scaled.skipped == unit.skipped == []


def test_error_rate_at_1e15_is_not_measured_from_the_rounding_bound():
    # rounding of a₁ (≈ Z·ε·√n·10¹⁵) exceeds the sampling error √6/√n above n* ≈ 2: no 1/√n rate to see
    from refpattern.experiments.toy.measurements import Sample
    from refpattern.experiments.toy.pattern_claims import error_rate_unmeasurable, rate_sizes

    report = check_claims(scaled_toy(1.0, 1e15), 10_000, 0, progress=False)
    reason = dict(report.skipped)["pattern_error_rate"]
    assert "rounding" in reason and "1/√n" in reason
    assert [c.key for c in report.claims if c.failed] == []
    toy = Sample.of(scaled_toy(1.0), 10_000, 0)
    assert error_rate_unmeasurable(toy) == "" and all(resolved for _, _, resolved in rate_sizes(toy))


@pytest.mark.parametrize("s, mean", [(1e-6, 0.0), (1e-9, 0.0), (1.0, 1e8)])
def test_eq2_and_the_blind_rho_hold_within_the_rounding_of_y(s, mean):
    # failed before on RELATIVE_EXACT = 1e-9: y = wᵀx + b rounds on 10⁶…10⁹-sized terms (or x ~ 10⁸)
    report = check_claims(LinearModel([[s, 0.0]], "uniform", 1.0, [[1.0, 1.0]], distractor_mean=mean), 10_000, 0,
                          progress=False)
    identity = report.claim("optimum_identity")
    assert identity.verdict == "holds" and report.claim("rho_blind_to_relu_bias").verdict == "holds"
    assert max(identity.numbers["relative_gap"].values()) > 1e-9  # the old fixed tolerance failed it
    assert min(identity.numbers["tolerance"].values()) < 1e-3  # still a rounding bound


def test_eq2_where_y_rounds_on_terms_1e12_times_larger():
    # Δy ≈ 10⁻³: S_a's bound is ~0.5 of |cov[x, y]|, S_a± at μ = 1 (|a±| ≈ 2) reaches it: not resolved, not judged
    report = check_claims(scaled_toy(1.0, 1e-12), 10_000, 0, progress=False)
    identity = report.claim("optimum_identity")
    assert identity.verdict == "holds" and "not resolved" in identity.measured
    tolerances = identity.numbers["tolerance"]
    assert tolerances["S_a"] < 1.0 <= tolerances["S_a± (μ = 1)"]
    assert report.claim("rho_blind_to_relu_bias").verdict == "holds"


# --- the edge of the legal range: s = 1e-15 … 2e-16 next to a unit distractor (round 4) ---------------------------

@pytest.mark.parametrize("s", [1e-15, 1e15])
def test_input_precision_from_the_sources_where_sigma_x_rounds_to_singular(s):
    # Σ_x = [[s²/3 + 1, 1], [1, 1]]: det = s²/3, so (Σ_x⁻¹)_11 = 3/s², (Σ_x⁻¹)_22 = 1 + 3/s² (by hand); float64
    # forms Σ_x at s = 1e-15 as the singular [[1, 1], [1, 1]]
    from refpattern.experiments.toy.measurements import input_precision_diagonal

    diagonal = input_precision_diagonal(scaled_toy(1.0, s))
    assert diagonal.tolist() == pytest.approx([3.0 / s ** 2, 1.0 + 3.0 / s ** 2], rel=1e-12)


@pytest.mark.parametrize("s, resolved", [(1.0, True), (1e-12, True), (1e-13, False), (1e-15, False), (1e12, True),
                                         (1e14, False)])
def test_filter_resolution_follows_the_least_squares_bound(s, resolved):
    # the bound is Z·ε·√N·2√3/s of |w| for small s and Z·ε·√N·s/√3 for large s (docs/math.md#linear-least-squares)
    from refpattern.experiments.toy.measurements import Sample, filter_rounding, filter_unresolved
    from refpattern.experiments.toy.tolerances import EPSILON, Z

    sample = Sample.of(scaled_toy(1.0, s), 10_000, 0)
    relative = float(np.max(filter_rounding(sample) / np.abs(sample.w)))
    by_hand = Z * EPSILON * 100.0 * (2.0 * math.sqrt(3.0) / s if s < 1 else s / math.sqrt(3.0))
    if s != 1.0:  # both asymptotes hold to O(min(s, 1/s)²)
        assert relative == pytest.approx(by_hand, rel=0.02)
    assert (filter_unresolved(sample) == "") is resolved


def test_a_signal_1e15_below_the_distractor_fails_no_claim():
    # failed before: filter_not_parallel (the fit dropped the signal's singular value, w ≈ 0), rotation,
    # rho_random_baseline (1 − ρ ≈ 1e-15 kept one digit: P(beats S_w) 0.264 closed, 0.131 measured),
    # regime_variant_recovers_signal (a gate on a y that rounds by Δy = 3.1 > σ_y: (0.46, 0.46) along a_d)
    report = check_claims(scaled_toy(1.0, 1e-15), 10_000, 0, progress=False)
    assert [c.key for c in report.claims if c.failed] == []
    skipped = dict(report.skipped)
    assert "cannot be told from rounding" in skipped["filter_not_parallel"]
    for key in ("relu_patterns_closed_form", "relu_patterns_recover_signal", "regime_variant_recovers_signal"):
        assert "Δy" in skipped[key]
    baseline = report.claim("rho_random_baseline").numbers
    # t ~ Cauchy(−s/2, s/2), beats S_w ⇔ |t| < s/2: atan(2)/π at every s (test above)
    assert baseline["probability_beating_S_w"] == pytest.approx(cauchy_closed_probability(1e-15), rel=1e-12)
    assert abs(baseline["fraction_beating_S_w"] - baseline["probability_beating_S_w"]) < 5 * baseline[
        "fraction_standard_error"]


def test_rotations_that_float64_cannot_draw_are_left_out_not_raised():
    # s = 2e-16 is legal (ratio 8.7e15 < 2^53), but a_d turned to 20° or 160° puts 1.33 in x₁: 1.2e16 > 2^53
    report = check_claims(scaled_toy(1.0, 2e-16), 10_000, 0, progress=False)
    assert [c.key for c in report.claims if c.failed] == []
    left_out = report.claim("rotation").numbers["left_out"]
    assert [rotation for rotation, _ in left_out] == [-25.0, 115.0]
    assert all("lost to float64 rounding" in why for _, why in left_out)


# --- the resolution edge of the pattern claims (docs/math.md#toy-claim-4-resolution) -------------------------------

def distractor_scaled_toy(ratio, mean=0.0):
    """The toy with the distractor ``ratio`` times the signal: ``a* = a_s = (1, 0)``, S_a's SE ``≈ √3·ratio/√N``."""
    return LinearModel([[1.0, 0.0]], "uniform", 1.0, [[1.0, 1.0]], distractor_covariance=ratio * ratio,
                       distractor_mean=mean * ratio)


def pattern_claims_of(model, n=10_000, seed=0):
    """Claim 4, the S_a± claims (ρ left out) and claim 2 at the distractor's own direction (rotation 0°)."""
    from refpattern.experiments.toy.filter_claims import claim_rotation
    from refpattern.experiments.toy.measurements import Sample, fit, neuron_pattern
    from refpattern.experiments.toy.pattern_claims import claim_pattern_recovers_signal
    from refpattern.experiments.toy.relu_claims import claim_relu_patterns
    from refpattern.experiments.toy.tolerances import BATCHES, batch_standard_error

    sample = Sample.of(model, n, seed)
    a = neuron_pattern(fit(sample.net, sample.inputs(), "a", seed))
    parts = sample.draw.parts(BATCHES)
    se = batch_standard_error([neuron_pattern(fit(sample.net, part.X, "a", seed)) for part in parts])
    claims = {"pattern_recovers_signal": claim_pattern_recovers_signal(sample, a, se)}
    biased = Sample.of(model.with_distractor_mean(float(np.sqrt(model.distractor_covariance[0, 0]))), n, seed)
    claims.update((c.key, c) for c in claim_relu_patterns(sample, biased, seed, rho_unmeasurable="left out"))
    claims["rotation"] = claim_rotation(model, n, seed, (0.0,))[0]
    return claims


def test_a_pattern_within_its_standard_errors_of_zero_is_reported_not_resolved():
    # a signal 1e9 below the distractor: a* = (1, 0) against a closed-form SE √3·10⁹/√N = 1.7e7 (by hand), so a = 0
    # would pass every component comparison; the claims said "holds (0.0 SE)" as if S_a had been seen to recover a_s
    claims = pattern_claims_of(distractor_scaled_toy(1e9))
    claim4 = claims["pattern_recovers_signal"]
    np.testing.assert_allclose(claim4.numbers["closed_form_standard_error"], math.sqrt(3.0) * 1e9 / 100.0, rtol=1e-12)
    for key, flag in (("pattern_recovers_signal", "pattern_resolved"), ("regime_variant_recovers_signal",
                                                                       "pattern_resolved"),
                      ("relu_patterns_recover_signal", "mu0_resolved")):
        assert claims[key].numbers[flag] is False, key
        assert "not resolved at this N, only consistency is checked" in claims[key].measured, key
    assert claim4.verdict == "holds" and claims["regime_variant_recovers_signal"].verdict == "holds"
    # the bias 1.5μ·a_d (μ = 10⁹) is resolved: the paper variant is still seen to miss a_s at μ ≠ 0
    assert claims["relu_patterns_recover_signal"].verdict == "partly"
    assert "pattern_resolved" not in claims["relu_patterns_closed_form"].numbers
    rotation = claims["rotation"]
    assert rotation.numbers["pattern_unresolved_rotations"] == [0.0] and rotation.verdict == "holds"
    assert "S_a not resolved at this N" in rotation.measured


def test_a_resolved_pattern_is_not_flagged():
    # the toy: S_a's SE √3/√N = 0.017 (the regime variant's ≈ 2√2 times that) against a_s = (1, 0)
    claims = pattern_claims_of(distractor_scaled_toy(1.0))
    for key in ("pattern_recovers_signal", "regime_variant_recovers_signal", "relu_patterns_recover_signal",
                "relu_patterns_closed_form", "rotation"):
        assert claims[key].verdict in ("holds", "partly"), key
        assert "not resolved" not in claims[key].measured, key
        assert not {"pattern_resolved", "mu0_resolved", "pattern_unresolved_rotations"} & set(claims[key].numbers)


def test_where_the_standard_error_is_rounding_the_text_says_the_rounding_allowance_decides():
    # no distractor variance: S_a has no sampling error, its batch-means SE is rounding (1e-17) and the deviation of
    # a few ulps is tens of "SE"; the verdict is the rounding allowance's Z·ε·√N·M (docs/math.md#linear-rounding)
    from refpattern.experiments.toy.tolerances import decided_by_rounding, standard_errors_text

    model = LinearModel([[1.0, 0.0]], "uniform", 1.0, [[1.0, 1.0]], distractor_mean=1.0, distractor_covariance=0.0)
    claims = pattern_claims_of(model)
    claim4 = claims["pattern_recovers_signal"]
    assert claim4.verdict == "holds" and "within the rounding allowance" in claim4.measured
    assert "not resolved" not in claim4.measured  # a* = (1, 0) with no sampling error is resolved
    assert "within the rounding allowance" in claims["regime_variant_recovers_signal"].measured
    # the text follows the comparison: 3 SE is Z·SE's, 30 SE within the allowance the allowance's, 30 SE beyond it none
    assert standard_errors_text([1.3], [1.0], [0.1], 1.0) == "3.0 SE"
    assert standard_errors_text([4.0], [1.0], [0.1], 3.0) == "30.0 SE, within the rounding allowance 3.0e+00"
    assert standard_errors_text([4.0], [1.0], [0.1], 0.1) == "30.0 SE" and not decided_by_rounding([4.0], [1.0],
                                                                                                    [0.1], 0.1)
