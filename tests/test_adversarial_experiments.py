"""Adversarial inputs to the experiments' statistics and entry points (``refpattern/experiments``,
``docs/math.md#repetition``): extreme magnitudes, boundary levels, values and options of the wrong
type.  Each test checks a number against an independent computation, or that a refusal names the
argument."""

import math
import re

import numpy as np
import pytest
from scipy import stats

from refpattern.experiments.intervals import ABOVE, BELOW, paired_difference, side_of, t_interval
from refpattern.experiments.ledger import HOLDS, UNRESOLVED

BASE = np.array([0.31, -0.28, 0.35, 0.30, 0.33])


def scipy_interval(values, level=0.95):
    """SciPy's own t-interval: ``(mean, low, high)``."""
    values = np.asarray(values, dtype=np.float64)
    low, high = stats.t.interval(level, len(values) - 1, loc=values.mean(), scale=stats.sem(values))
    return values.mean(), low, high


# --- intervals: magnitudes at the ends of float64 ---------------------------------------------------
@pytest.mark.parametrize("scale", [1e300, 1e-300, 1e-310])
def test_t_interval_at_extreme_magnitudes_equals_scipy_at_unit_scale(scale):
    # the squares of the deviations overflow (1e300) or underflow to 0 (1e-300): the interval of
    # scale·x is scale times the interval of x all the same
    interval = t_interval(scale * BASE)
    expected = scale * np.array(scipy_interval(BASE))
    rel = 1e-12 if scale >= 1e-300 else 1e-9  # 1e-310 is subnormal: fewer significant bits in the values
    assert interval.n == 5
    assert (interval.mean, interval.low, interval.high) == pytest.approx(tuple(expected), rel=rel)
    assert interval.low < interval.mean < interval.high


@pytest.mark.parametrize("scale", [1e300, 1e-300])
def test_interval_text_keeps_four_significant_digits_at_extreme_magnitudes(scale):
    # fixed point printed 300 digits at 1e300 and "0.000 [0.000, 0.000]" at 1e-300
    text = t_interval(scale * BASE).text()
    numbers = re.fullmatch(r"(\S+) \[(\S+), (\S+)\]", text).groups()
    assert len(text) < 40 and all(re.fullmatch(r"-?\d\.\d{3}e[+-]\d{3}", x) for x in numbers), text
    expected = scale * np.array(scipy_interval(BASE))
    assert [float(x) for x in numbers] == pytest.approx(list(expected), rel=5e-4)  # rounded to 4 digits
    assert t_interval([2 * scale]).text() == f"{2 * scale:.3e} [n/a]"  # a mean without an interval too


@pytest.mark.parametrize("digits, error", [(-1, ValueError), (2.0, TypeError), (True, TypeError), ("3", TypeError)])
def test_interval_text_refuses_digits_that_are_not_a_count(digits, error):
    # a negative count reached Python's format mini-language ("Format specifier missing precision")
    with pytest.raises(error, match="Interval.text digits"):
        t_interval([0.30, 0.31, 0.29]).text(digits)
    # no decimals: below 10⁰ the numbers keep one significant digit (scientific), as the rule for small values says
    assert t_interval([0.30, 0.31, 0.29]).text(0) == "3e-01 [3e-01, 3e-01]"


def test_interval_text_of_ordinary_values_is_fixed_point_with_three_decimals():
    mean, low, high = scipy_interval(BASE)
    assert t_interval(BASE).text() == f"{mean:.3f} [{low:.3f}, {high:.3f}]"
    assert t_interval(BASE).text(2) == f"{mean:.2f} [{low:.2f}, {high:.2f}]"
    assert t_interval([0.0, 0.0, 0.0]).text() == "0.000 [0.000, 0.000]"
    # one notation for the interval, chosen by its largest number: a mean near 0 stays fixed point
    mean, low, high = scipy_interval([1e-4, -1e-4, 0.05, -0.05])
    assert t_interval([1e-4, -1e-4, 0.05, -0.05]).text() == f"0.000 [{low:.3f}, {high:.3f}]"


def test_a_spread_of_1e_minus_300_is_not_reported_as_significant():
    # the values 1e-300, 2e-300, 3e-300 used to give a zero-width interval (the variance underflowed),
    # so that "above 1.5e-300" held; the interval contains it
    interval = t_interval([1e-300, 2e-300, 3e-300])
    assert interval.half_width == pytest.approx(stats.t.ppf(0.975, 2) * 1e-300 / math.sqrt(3), rel=1e-12)
    assert side_of(interval, 1.5e-300, ABOVE) == UNRESOLVED


def test_t_interval_of_values_near_the_largest_float_has_a_finite_mean():
    values = np.array([1.0e308, 1.7e308, 1.79e308])  # their sum overflows, and so does the upper bound
    interval = t_interval(values)
    mean, low, _ = scipy_interval(values / 1e300)
    assert (interval.mean, interval.low) == pytest.approx((1e300 * mean, 1e300 * low), rel=1e-12)
    assert interval.high == math.inf and interval.n == 3


def test_t_interval_with_a_level_within_1e_16_of_1_is_finite():
    level = float(np.nextafter(1.0, 0.0))  # (1 + level)/2 rounds to 1
    interval = t_interval([1.0, 2.0, 3.0], level)
    half = stats.t.isf((1 - level) / 2, 2) * 1.0 / math.sqrt(3)
    assert math.isfinite(interval.half_width) and interval.half_width == pytest.approx(half, rel=1e-12)
    assert side_of(interval, 0.0, ABOVE) == UNRESOLVED


# --- intervals: values that are not real numbers ----------------------------------------------------
@pytest.mark.parametrize("values", [np.array([1 + 1j, 2.0, 3.0]), ["0.1", "0.2"], "abc", [1.0, "x"],
                                    np.array(["2020-01-01", "2020-01-02"], dtype="datetime64[D]"), {"a": 1.0}])
def test_t_interval_refuses_values_that_are_not_real_numbers(values):
    with pytest.raises(TypeError, match="t_interval values: expected real numbers"):
        t_interval(values)


def test_t_interval_takes_none_as_an_undefined_value_and_bools_as_0_and_1():
    assert t_interval([0.2, None, 0.4]).n == 2
    assert t_interval([0.2, None, 0.4]).mean == pytest.approx(0.3, rel=1e-15)
    assert t_interval(np.array([True, False, True, True])).mean == 0.75


def test_paired_difference_refuses_complex_and_names_the_argument():
    with pytest.raises(TypeError, match="paired_difference b: expected real numbers"):
        paired_difference([1.0, 2.0], np.array([1.0, 1j]))


# --- intervals: a seed whose measurement overflowed ------------------------------------------------
def test_an_infinite_value_leaves_no_interval_and_is_counted_not_dropped():
    # the four finite values alone give a tight interval wholly above 0.1; the seed that overflowed
    # makes the spread infinite (sd = inf), so nothing can be said at this confidence
    tight = t_interval([0.30, 0.31, 0.29, 0.30])
    assert side_of(tight, 0.1, ABOVE) == HOLDS
    interval = t_interval([0.30, 0.31, math.inf, 0.29, 0.30])
    assert (interval.mean, interval.low, interval.high) == (math.inf, -math.inf, math.inf)
    assert interval.n == 4 and interval.infinite == 1
    assert side_of(interval, 0.1, ABOVE) == UNRESOLVED and side_of(interval, 0.1, BELOW) == UNRESOLVED
    assert interval.text() == "inf [n/a: 1 of 5 seeds infinite]"
    data = interval.to_json()
    assert data["infinite"] == 1 and data["n"] == 4 and data["mean"] is None and data["values"][2] is None


def test_infinities_of_both_signs_have_no_mean_and_only_infinities_are_not_n_a():
    mixed = t_interval([-math.inf, 1.0, math.inf, math.nan])
    assert math.isnan(mixed.mean) and (mixed.low, mixed.high) == (-math.inf, math.inf)
    assert mixed.n == 1 and mixed.infinite == 2 and mixed.text() == "nan [n/a: 2 of 4 seeds infinite]"
    only = t_interval([-math.inf, -math.inf])
    assert only.n == 0 and only.mean == -math.inf and only.text() == "-inf [n/a: 2 of 2 seeds infinite]"
    assert side_of(only, 0.0, BELOW) == UNRESOLVED


def test_nan_is_still_left_out_and_not_counted_as_infinite():
    interval = t_interval([0.31, math.nan, -0.28, 0.35, 0.30, 0.33])
    assert interval.n == 5 and interval.infinite == 0 and interval.to_json()["infinite"] == 0
    assert (interval.mean, interval.low, interval.high) == pytest.approx(scipy_interval(BASE), rel=1e-12)


def test_paired_difference_counts_a_seed_where_either_side_overflowed():
    # inf − inf is NaN, but it is a seed whose measurements diverged, not an undefined number
    both = paired_difference([math.inf, 1.0, 2.0, 4.0], [math.inf, 0.0, 0.0, 1.0])
    assert both.infinite == 1 and both.n == 3 and math.isnan(both.mean)
    assert (both.low, both.high) == (-math.inf, math.inf) and side_of(both, 0.0, ABOVE) == UNRESOLVED
    one = paired_difference([1.0, 2.0, 4.0], [0.0, -math.inf, 1.0])
    assert one.infinite == 1 and one.mean == math.inf and one.text() == "inf [n/a: 1 of 3 seeds infinite]"
    finite = paired_difference([1.0, 2.0, 4.0, 5.0], [0.0, 0.0, 1.0, 5.0])
    assert finite.infinite == 0
    assert (finite.mean, finite.low, finite.high) == pytest.approx(scipy_interval([1.0, 2.0, 3.0, 0.0]), rel=1e-12)


# --- verdicts: thresholds that are not numbers ------------------------------------------------------
def test_side_of_refuses_a_nan_threshold_instead_of_calling_it_unresolved():
    with pytest.raises(ValueError, match="side_of: threshold must be a number, got NaN"):
        side_of(t_interval([1.0, 2.0, 3.0]), math.nan, ABOVE)


@pytest.mark.parametrize("threshold", ["0.5", None, True])
def test_side_of_refuses_a_threshold_of_the_wrong_type(threshold):
    with pytest.raises(TypeError, match="side_of: threshold must be a real number"):
        side_of(t_interval([1.0, 2.0, 3.0]), threshold, ABOVE)


def test_side_of_refuses_what_is_not_an_interval():
    with pytest.raises(TypeError, match="side_of: interval must be an Interval"):
        side_of((0.0, 1.0), 0.5, ABOVE)
    assert side_of(t_interval([1.0, 1.1, 1.2]), np.float32(0.5), ABOVE) == HOLDS


# --- surgery: rebuilt networks must compute the same function -------------------------------------
def small_mlp(bias_seed=2):
    """The experiments' MLP on 1×4×4 inputs with nonzero biases (a zero-bias ReLU net is homogeneous,
    which hides a wrong rescaling)."""
    from refpattern.experiments.models import mlp

    net = mlp((1, 4, 4), 3, seed=0, hidden=(6, 5))
    rng = np.random.default_rng(bias_seed)
    return net.with_layers([layer.with_parameters(layer.weight, rng.normal(size=layer.bias.shape))
                            if hasattr(layer, "bias") else layer for layer in net.layers])


def test_rescaled_equivalent_refuses_a_negative_kernel_that_paired_the_last_layer_with_the_first():
    from refpattern.experiments.surgery import rescaled_equivalent

    net = small_mlp()
    x = np.random.default_rng(3).normal(size=(4, 1, 4, 4))
    assert np.max(np.abs(rescaled_equivalent(net, 1).logits(x) - net.logits(x))) < 1e-12  # a true rebuild
    with pytest.raises(ValueError, match="kernel: expected an int >= 0, got -1"):
        rescaled_equivalent(net, -1)  # used to rescale the logit layer and divide the first: another function
    with pytest.raises(TypeError, match="kernel: expected an int >= 0, got True"):
        rescaled_equivalent(net, True)


@pytest.mark.parametrize("factor, error", [(math.nan, ValueError), (math.inf, ValueError), ("4", TypeError),
                                           (True, TypeError)])
def test_rescaled_equivalent_refuses_factors_that_are_not_positive_finite_numbers(factor, error):
    from refpattern.experiments.surgery import rescaled_equivalent

    with pytest.raises(error, match="rescaled_equivalent factor"):
        rescaled_equivalent(small_mlp(), 0, factor)


@pytest.mark.parametrize("factor", [1e-320, 1e-307, 1e307])
def test_rescaled_equivalent_refuses_factors_that_push_the_weights_out_of_the_normal_range(factor):
    # 1e-320 (subnormal) overflowed the divided weights and Dense refused them without naming factor;
    # 1e-307 made the first layer's weights subnormal and was accepted silently; 1e307 overflows them
    from refpattern.experiments.surgery import rescaled_equivalent

    expected = rf"rescaled_equivalent factor: .*normal range .*; got {re.escape(repr(factor))}$"
    with pytest.raises(ValueError, match=expected):
        rescaled_equivalent(small_mlp(), 0, factor)


def test_rescaled_equivalent_names_the_factors_these_weights_allow():
    from refpattern.experiments.surgery import rescaled_equivalent

    net = small_mlp()
    with pytest.raises(ValueError) as refusal:
        rescaled_equivalent(net, 0, 1e-320)
    lowest, highest = (float(x) for x in re.search(r"about \[(\S+), (\S+)\]", str(refusal.value)).groups())
    low, high = net.layers[net.kernel_indices[0]], net.layers[net.kernel_indices[1]]
    up = np.abs(np.concatenate([low.weight.ravel(), low.bias.ravel()]))
    tiny, largest = np.finfo(np.float64).tiny, np.finfo(np.float64).max
    # independently: the smallest entry times factor stays normal, the largest divided entry stays finite, …
    assert lowest == pytest.approx(max(tiny / up.min(), np.abs(high.weight).max() / largest), rel=1e-3)
    assert highest == pytest.approx(min(largest / up.max(), np.abs(high.weight).min() / tiny), rel=1e-3)
    for factor in (lowest * 1.01, highest / 1.01):   # … and just inside the range every entry does
        rebuilt = rescaled_equivalent(net, 0, factor)
        for layer in (rebuilt.layers[rebuilt.kernel_indices[0]], rebuilt.layers[rebuilt.kernel_indices[1]]):
            magnitudes = np.abs(np.concatenate([layer.weight.ravel(), layer.bias.ravel()]))
            assert np.all((magnitudes >= tiny) & (magnitudes <= largest))
    for factor in (lowest / 1.01, highest * 1.01):
        with pytest.raises(ValueError, match="rescaled_equivalent factor"):
            rescaled_equivalent(net, 0, factor)


@pytest.mark.parametrize("unit, error, match", [(6, ValueError, "has 6 units"), (-1, ValueError, "int >= 0"),
                                                (True, TypeError, "int >= 0"), (1.0, TypeError, "int >= 0")])
def test_split_unit_equivalent_refuses_a_unit_out_of_range_by_name(unit, error, match):
    from refpattern.experiments.surgery import split_unit_equivalent

    with pytest.raises(error, match=f"split_unit_equivalent unit: .*{match}"):
        split_unit_equivalent(small_mlp(), 0, unit)


@pytest.mark.parametrize("shift, error, match", [
    (math.nan, ValueError, "finite"), (None, TypeError, "real number"), ("1", TypeError, "real number"),
    (np.ones(3), ValueError, "broadcast")])
def test_shift_absorbed_refuses_shifts_by_name(shift, error, match):
    from refpattern.experiments.surgery import shift_absorbed

    with pytest.raises(error, match=f"shift_absorbed: shift .*{match}"):
        shift_absorbed(small_mlp(), shift)


@pytest.mark.parametrize("count, seed, error, match", [(1.5, 0, TypeError, "count"), (True, 0, TypeError, "count"),
                                                       (1, -1, ValueError, "seed"), (1, None, TypeError, "seed")])
def test_randomize_top_layers_refuses_counts_and_seeds_by_name(count, seed, error, match):
    from refpattern.experiments.surgery import randomize_top_layers

    with pytest.raises(error, match=f"randomize_top_layers {match}"):
        randomize_top_layers(small_mlp(), count, seed)  # seed None drew a fresh, unrepeatable network


# --- method lists: one map per label, known estimators ---------------------------------------------
def tiny_cnn_and_images():
    from refpattern.experiments.models import build

    net = build("cnn", (1, 4, 4), 3, seed=0)
    return net, np.random.default_rng(0).normal(size=(3, 1, 4, 4))


def test_degradation_study_refuses_a_method_labelled_random_that_the_baseline_overwrote():
    from refpattern.experiments.degradation import degradation_study
    from refpattern.experiments.method_suite import MethodSpec

    net, x = tiny_cnn_and_images()
    gradient = MethodSpec("gradient", "gradient", "gradient")
    with pytest.raises(ValueError, match=r"degradation_study specs: the label\(s\) \['random'\] are reserved"):
        degradation_study(net, x, [MethodSpec("random", "gradient", "gradient")], 2, x.mean(axis=0))
    with pytest.raises(ValueError, match=r"degradation_study specs: .*\['gradient'\] more than once"):
        degradation_study(net, x, [gradient, gradient], 2, x.mean(axis=0))
    with pytest.raises(ValueError, match="degradation_study: mean_image is required"):
        degradation_study(net, x, [gradient], 2, None)  # its "mean_image" protocol used the patches' own means


def test_explain_all_and_explain_gallery_refuse_two_methods_with_one_label():
    from refpattern.experiments.gallery import explain_gallery
    from refpattern.experiments.method_suite import MethodSpec, explain_all

    net, x = tiny_cnn_and_images()
    specs = [MethodSpec("map", "gradient", "gradient"), MethodSpec("map", "lrp.z", "attribution")]
    with pytest.raises(ValueError, match=r"explain_all specs: .*\['map'\] more than once"):
        explain_all(net, x, specs)
    with pytest.raises(ValueError, match=r"explain_gallery specs: .*\['map'\] more than once"):
        explain_gallery(net, x, specs)


@pytest.mark.parametrize("subjects, error", [((), ValueError), (("S_z",), ValueError), ("S_a", TypeError)])
def test_cascading_randomization_names_its_subjects(subjects, error):
    from refpattern.experiments.followups import cascading_randomization

    net, x = tiny_cnn_and_images()
    with pytest.raises(error, match="cascading_randomization subjects"):
        cascading_randomization(net, x, x, subjects=subjects)  # used to end in KeyError


def test_cascading_randomization_needs_two_kernel_layers():
    from refpattern.experiments.followups import cascading_randomization
    from refpattern.network import Dense, Flatten, Sequential

    net = Sequential([Flatten(), Dense.he(16, 3, np.random.default_rng(0))], input_shape=(1, 4, 4))
    x = np.random.default_rng(0).normal(size=(3, 1, 4, 4))
    with pytest.raises(ValueError, match="cascading_randomization: the network has 1 kernel layer"):
        cascading_randomization(net, x, x)  # returned empty rows that the claim then indexed at [-1]


@pytest.mark.parametrize("tolerance, error", [(math.nan, ValueError), (-1.0, ValueError), ("x", TypeError)])
def test_followups_name_a_tolerance_that_is_not_a_non_negative_number(tolerance, error):
    from refpattern.experiments.followups import implementation_invariance, input_shift

    net = small_mlp()
    x = np.random.default_rng(0).normal(size=(3, 1, 4, 4))
    with pytest.raises(error, match="input_shift tolerance"):
        input_shift(net, x, x, tolerance=tolerance)  # NaN made every row "unchanged"
    with pytest.raises(error, match="implementation_invariance tolerance"):
        implementation_invariance(net, x, x, tolerance=tolerance)


def test_gallery_summary_refuses_labels_of_another_length_and_no_runs():
    from refpattern.experiments.gallery import gallery_summary

    run = {"prediction": np.array([0, 1, 2]), "confidence": np.array([0.5, 0.6, 0.7]), "explanations": {}}
    with pytest.raises(ValueError, match=r"gallery_summary labels: one true class per gallery image \(3\)"):
        gallery_summary([run, run], [0])
    with pytest.raises(ValueError, match=r"gallery_summary labels: .*got shape \(4,\)"):
        gallery_summary([run, run], [0, 1, 2, 3])  # the fourth label was silently reported
    with pytest.raises(ValueError, match="gallery_summary: no runs"):
        gallery_summary([], [0, 1, 2])


# --- scores and splits: a NaN map is not an all-zero map ----------------------------------------------
def test_mass_fractions_refuses_a_nan_map_that_scored_zero_in_every_region():
    from refpattern.experiments.ground_truth import area_fractions, mass_fractions

    top = np.zeros((1, 3, 3), bool)
    top[0, 0, 0] = True
    e = np.abs(np.random.default_rng(0).normal(size=(2, 1, 3, 3)))
    assert mass_fractions(e, {"top": top})["top"] == pytest.approx(np.mean(e[:, 0, 0, 0] / e.sum(axis=(1, 2, 3))),
                                                                    rel=1e-14)
    e[1, 0, 2, 2] = np.nan
    with pytest.raises(ValueError, match=r"mass_fractions: the explanation holds 1 NaN or inf"):
        mass_fractions(e, {"top": top})
    with pytest.raises(TypeError, match="area_fractions region 'm': expected a bool mask"):
        area_fractions({"m": np.full((1, 3, 3), 2)}, (2, 1, 3, 3))  # gave an "area" of 2


@pytest.mark.parametrize("measure", ["cosine_similarity", "spearman_abs", "relative_difference"])
def test_similarities_refuse_complex_maps_instead_of_dropping_the_imaginary_part(measure):
    from refpattern.experiments import similarity

    with pytest.raises(TypeError, match=f"{measure}: the first map must hold real numbers, got dtype complex128"):
        getattr(similarity, measure)(np.ones((2, 3)) * 1j, np.ones((2, 3)))


@pytest.mark.parametrize("n, seed, error, match", [(3.0, 0, TypeError, "n"), (5, None, TypeError, "seed"),
                                                   (5, -1, ValueError, "seed"), (5, True, TypeError, "seed")])
def test_three_splits_names_counts_and_seeds(n, seed, error, match):
    from refpattern.experiments.rho_layers import three_splits

    with pytest.raises(error, match=f"three_splits {match}"):
        three_splits(n, seed)  # seed None drew an unrepeatable split


def test_rho_per_layer_refuses_one_estimator_name_given_as_a_string():
    from refpattern.experiments.rho_layers import estimator_table

    with pytest.raises(TypeError, match="estimators: .*the string 'a\\+-'"):
        estimator_table("a+-")  # read as the names 'a', '+', '-'
    with pytest.raises(TypeError, match="estimators: each label maps to an \\(estimator, variant\\) pair"):
        estimator_table({"S_a": "a"})
    assert estimator_table(["a", "w"]) == {"a": ("a", None), "w": ("w", None)}


def test_degradation_helpers_refuse_what_has_no_curve():
    from refpattern.experiments.degradation import area_under_curve, paper_steps, patch_scores

    with pytest.raises(ValueError, match="area_under_curve: a curve needs at least one point"):
        area_under_curve(np.empty((3, 0)))  # was NaN with a warning
    with pytest.raises(ValueError, match=r"degradation: expected images \(N, C, H, W\)"):
        patch_scores(np.ones((1, 4, 4)), 2)
    with pytest.raises(ValueError, match="paper_steps patches"):
        paper_steps(-1)
    assert paper_steps(625) == 100 and paper_steps(1) == 1


# --- the report writer: figures stay in the report's folder ------------------------------------------
@pytest.mark.parametrize("name", ["../outside", "a/b", "", ".."])
def test_write_report_refuses_figure_names_that_leave_its_folder(tmp_path, name):
    from refpattern.experiments.report import Section, write_report

    out = tmp_path / "report"
    with pytest.raises(ValueError, match="write_report figures: a figure name must be a plain file name"):
        write_report(str(out), "t", [Section("A", ["text"], [], [], [])], {name: b"png"}, {})
    assert not (tmp_path / "outside.png").exists() and not out.exists()


def test_rho_figure_names_the_bars_it_cannot_draw():
    from refpattern.experiments import plots

    rho = {"layers": ["conv", "dense"], "rho": {"S_x": [[np.nan, np.nan]] * 2, "S_a": [[0.9, np.nan], [0.8, np.nan]],
                                                 "S_w": [[0.1, 0.2], [0.2, 0.3]]}}
    _, caption = plots.rho_figure(rho)
    # before: the caption promised "95 % t-intervals" for every bar, S_x's missing bars included
    assert "No bar where ρ is NaN (undefined or not measured): S_x (every layer), S_a (some layers)." in caption
    assert "S_w (" not in caption
    _, caption = plots.rho_figure({"layers": ["conv"], "rho": {"S_w": [[0.1], [0.2]]}})
    assert "No bar" not in caption
