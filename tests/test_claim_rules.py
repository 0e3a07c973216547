"""Every claim rule of ``refpattern reproduce`` can fail: each is fed per-seed numbers that must
fail, numbers that must hold and (where the rule has it) numbers it must leave unresolved
(docs/math.md#verdict-rules).  The intervals behind the verdicts are checked against SciPy's own
t-interval and a tabulated quantile (docs/math.md#repetition)."""

import inspect
import math

import numpy as np
import pytest
from scipy import stats

from refpattern.experiments import claims
from refpattern.experiments.claims import ABOVE, BELOW, Part, combine, part
from refpattern.experiments.intervals import (
    paired_difference,
    repetition_seeds,
    side_of,
    stack_runs,
    t_interval,
)
from refpattern.experiments.ledger import FAILS, HOLDS, PARTLY, UNRESOLVED, VERDICT_TEXT, Claim

SEEDS = 5
WIGGLE = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])


def steady(value, spread=0.002):
    """Five per-seed values tightly around ``value`` (an interval far narrower than any threshold gap)."""
    return value + spread * WIGGLE


def noisy(value, spread=0.2):
    """Five per-seed values spread widely around ``value`` (an interval that contains nearby thresholds)."""
    return value + spread * np.array([-1.0, 1.0, -0.5, 0.5, 0.0])


# --- intervals --------------------------------------------------------------------------------
def test_t_interval_equals_scipys_t_interval():
    values = np.array([0.31, 0.28, 0.35, 0.30, 0.33])
    interval = t_interval(values)
    low, high = stats.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=stats.sem(values))
    assert interval.mean == pytest.approx(values.mean())
    assert (interval.low, interval.high) == pytest.approx((low, high), rel=1e-12)
    assert interval.n == 5 and interval.level == 0.95


def test_t_interval_uses_the_tabulated_quantile():
    # three seeds: t_{0.975, 2} = 4.303 (any t table); values 0, 1, 2 have sd 1
    interval = t_interval([0.0, 1.0, 2.0])
    assert interval.half_width == pytest.approx(4.302653 / math.sqrt(3), rel=1e-6)


def test_t_interval_edge_cases():
    same = t_interval([0.7, 0.7, 0.7])
    assert same.low == same.high == pytest.approx(0.7)            # no spread: a point
    one = t_interval([0.7, np.nan])                                # NaN left out, one value: no interval
    assert one.n == 1 and one.low == -math.inf and one.high == math.inf
    assert side_of(one, 0.0, ABOVE) == UNRESOLVED
    none = t_interval([np.nan])
    assert none.n == 0 and side_of(none, 0.0, ABOVE) == UNRESOLVED and none.text() == "n/a"
    with pytest.raises(ValueError, match="level"):
        t_interval([1.0, 2.0], level=1.0)


def test_paired_difference_cancels_what_both_share():
    shared = np.array([0.0, 10.0, -5.0, 3.0, 7.0])                # e.g. the data draw of each seed
    a, b = shared + steady(0.1), shared + steady(0.0, 0.001)
    assert side_of(t_interval(a), 0.0, ABOVE) == UNRESOLVED  # unpaired: the shared spread hides it
    assert side_of(paired_difference(a, b), 0.0, ABOVE) == HOLDS
    with pytest.raises(ValueError, match="one value per seed"):
        paired_difference([1.0, 2.0], [1.0])


def test_side_of_is_three_way():
    assert side_of(t_interval(steady(0.5)), 0.1, ABOVE) == HOLDS
    assert side_of(t_interval(steady(0.5)), 0.1, BELOW) == FAILS
    assert side_of(t_interval(noisy(0.1)), 0.1, ABOVE) == UNRESOLVED
    with pytest.raises(ValueError, match="side"):
        side_of(t_interval(steady(0.5)), 0.1, "left")


def test_repetition_seeds_are_distinct_and_reproducible():
    seeds = repetition_seeds(0, 5)
    assert seeds == repetition_seeds(0, 5) and len(set(seeds)) == 5
    assert set(seeds).isdisjoint(repetition_seeds(1, 5))
    assert repetition_seeds(0, 3) == seeds[:3]


def test_stack_runs_stacks_numbers_and_keeps_names():
    runs = [{"layers": ["a", "b"], "rho": {"x": [0.1, 0.2]}, "n": 3, "flag": True, "v": None},
            {"layers": ["a", "b"], "rho": {"x": [0.3, 0.4]}, "n": 4, "flag": True, "v": 1.0}]
    stacked = stack_runs(runs)
    assert stacked["layers"] == ["a", "b"] and stacked["flag"] is True
    np.testing.assert_array_equal(stacked["rho"]["x"], [[0.1, 0.2], [0.3, 0.4]])
    np.testing.assert_array_equal(stacked["n"], [3, 4])
    assert np.isnan(stacked["v"][0]) and stacked["v"][1] == 1.0


# --- the combination of parts -------------------------------------------------------------------
def fixed(name, verdict):
    """A part whose interval gives ``verdict`` against threshold 0 (side above)."""
    values = {HOLDS: steady(1.0), FAILS: steady(-1.0), UNRESOLVED: noisy(0.0)}[verdict]
    made = part(name, values, 0.0, ABOVE)
    assert made.verdict == verdict
    return made


@pytest.mark.parametrize("verdicts,expected", [
    ((HOLDS, HOLDS), HOLDS),
    ((FAILS, FAILS), FAILS),
    ((HOLDS, FAILS), PARTLY),
    ((HOLDS, FAILS, UNRESOLVED), PARTLY),
    ((FAILS, UNRESOLVED), FAILS),
    ((HOLDS, UNRESOLVED), UNRESOLVED),
    ((UNRESOLVED,), UNRESOLVED),
])
def test_combine(verdicts, expected):
    verdict, condition = combine([fixed(f"p{i}", v) for i, v in enumerate(verdicts)])
    assert verdict == expected
    assert bool(condition) == (expected == PARTLY)
    if expected == PARTLY:
        assert condition == "holds for " + ", ".join(f"p{i}" for i, v in enumerate(verdicts) if v == HOLDS)


def test_controls_can_only_withhold_a_holds():
    assert combine([fixed("a", HOLDS)], [fixed("c", FAILS)])[0] == PARTLY
    assert combine([fixed("a", HOLDS)], [fixed("c", UNRESOLVED)])[0] == UNRESOLVED
    assert combine([fixed("a", HOLDS)], [fixed("c", HOLDS)])[0] == HOLDS
    assert combine([fixed("a", FAILS)], [fixed("c", HOLDS)])[0] == FAILS   # a control never rescues a claim
    with pytest.raises(ValueError, match="at least one part"):
        combine([])


def test_the_unresolved_verdict_is_printed_in_words():
    claim = Claim("k", "c", "e", "m", UNRESOLVED)
    assert claim.verdict_text() == VERDICT_TEXT[UNRESOLVED] == "not resolved at this sample size"
    assert Claim("k", "c", "e", "m", UNRESOLVED, must_hold=True).failed   # a must-hold claim must be decided
    assert isinstance(Part("p", t_interval(steady(1.0)), 0.0, ABOVE).text(), str)


# --- every rule, fed numbers that must fail, hold and stay unresolved ---------------------------
LAYERS = ["Conv2D 0", "Conv2D 1", "Dense 2", "Dense 3"]


def fig3_result(**means):
    """ρ per layer for each estimator, five seeds tightly around the given per-layer values."""
    defaults = {"random": [0.0] * 4, "S_w": [0.4, 0.0, 0.0, 0.0], "S_a": [0.9, 0.9, 0.6, 0.6],
                "S_a±": [0.9, 0.9, 0.8, 0.8], "S_a± (regime)": [0.9, 0.9, 0.8, 0.8]}
    defaults.update(means)
    rho = {}
    for label, values in defaults.items():
        rho[label] = np.stack([steady(v) if not callable(v) else v() for v in values], axis=1)
    return {"layers": LAYERS, "rho": rho}


def verdicts(found):
    return {c.key: c.verdict for c in found}


def test_fig3_rules_hold_fail_and_stay_unresolved():
    assert set(verdicts(claims.fig3_claims(fig3_result())).values()) == {HOLDS}
    failing = verdicts(claims.fig3_claims(fig3_result(
        random=[0.5] * 4, S_w=[0.5, 0.9, 0.9, 0.9], S_a=[0.5] * 4, **{"S_a±": [0.5] * 4,
                                                                     "S_a± (regime)": [0.5] * 4})))
    assert failing["fig3_random"] == FAILS
    assert failing["fig3_sw"] == FAILS                       # no gain in layer 1, gains above it
    assert failing["fig3_sa"] == FAILS and failing["fig3_sa.regime"] == FAILS
    assert failing["fig3_sapm_dense"] == FAILS               # S_a± ties S_a exactly, so it is not above it
    partial = verdicts(claims.fig3_claims(fig3_result(S_w=[0.4, 0.4, 0.0, 0.0])))
    assert partial["fig3_sw"] == PARTLY
    shaky = lambda: noisy(0.1)                                # noqa: E731
    unresolved = verdicts(claims.fig3_claims(fig3_result(
        random=[shaky] * 4, **{"S_a±": [0.9, 0.9, lambda: noisy(0.6), lambda: noisy(0.6)]})))
    assert unresolved["fig3_random"] == UNRESOLVED
    assert unresolved["fig3_sapm_dense"] == UNRESOLVED


def test_fig3_keys_and_statements_can_name_the_data_set():
    found = claims.fig3_claims(fig3_result(), prefix="digits.", where="Digits, ")
    assert all(c.key.startswith("digits.") and c.claim.startswith("Digits, Fig. 3") for c in found)


def fig4_auc(**means):
    defaults = {"PA S_a±": 0.1, "PA S_x": 0.2, "PA S_w": 0.3, "PA S_a": 0.4, "PA S_a± (regime)": 0.15,
                "random": 0.9}
    defaults.update(means)
    return {label: (v if isinstance(v, np.ndarray) else steady(v)) for label, v in defaults.items()}


def test_fig4_rules_hold_fail_and_stay_unresolved():
    holding = verdicts(claims.fig4_claims(fig4_auc()))
    assert holding["fig4_ranking"] == HOLDS and holding["fig4_first"] == HOLDS
    assert holding["fig4_first.regime"] == HOLDS
    assert holding["fig4_first.s_a"] == PARTLY              # S_a beats only the random order
    reversed_order = dict(zip(claims.FIG4_ORDER, [0.9, 0.4, 0.3, 0.2, 0.1]))
    failing = verdicts(claims.fig4_claims(fig4_auc(**reversed_order, **{"PA S_a± (regime)": 0.95})))
    assert failing["fig4_ranking"] == FAILS and failing["fig4_first"] == FAILS
    assert failing["fig4_first.regime"] == FAILS
    assert verdicts(claims.fig4_claims(fig4_auc(**{"PA S_w": 0.05})))["fig4_ranking"] == PARTLY
    close = verdicts(claims.fig4_claims(fig4_auc(**{"PA S_x": noisy(0.1)})))
    assert close["fig4_first"] == UNRESOLVED


def scores(**corr):
    base = {"gradient": 0.5, "DeConvNet": 0.5, "guided backprop": 0.5, "PatternNet S_a±": 0.9,
            "PatternNet S_a± (regime)": 0.9, "PatternNet S_a": 0.9}
    base.update(corr)
    return {label: {"signal_corr": v if isinstance(v, np.ndarray) else steady(v)} for label, v in base.items()}


def test_signal_recovery_rules():
    assert set(verdicts(claims.signal_recovery_claims(scores())).values()) == {HOLDS}
    found = verdicts(claims.signal_recovery_claims(scores(**{"PatternNet S_a±": 0.2, "PatternNet S_a": 0.7,
                                                             "DeConvNet": 0.8})))
    assert found["signal_recovery"] == FAILS
    assert found["signal_recovery.s_a"] == PARTLY            # beats gradient and GBP, not DeConvNet
    assert verdicts(claims.signal_recovery_claims(scores(**{"PatternNet S_a±": noisy(0.5)})))[
        "signal_recovery"] == UNRESOLVED


def masses(**mass):
    base = {"gradient": 0.5, **{f"{m} {e}": 0.02 for m in ("PatternNet", "PA") for e in claims.SUBJECTS}}
    base.update(mass)
    return {label: {"mass_suppressor": v if isinstance(v, np.ndarray) else steady(v)} for label, v in base.items()}


def test_suppressor_images_rules():
    assert set(verdicts(claims.suppressor_images_claims(masses())).values()) == {HOLDS}
    found = verdicts(claims.suppressor_images_claims(masses(**{"PatternNet S_a±": 0.5, "PA S_a±": 0.5,
                                                               "PA S_a": 0.5})))
    assert found["suppressor_images"] == FAILS and found["suppressor_images.s_a"] == PARTLY
    found = verdicts(claims.suppressor_images_claims(masses(**{"PatternNet S_a±": noisy(0.1),
                                                               "PA S_a±": noisy(0.1)})))
    assert found["suppressor_images"] == UNRESOLVED         # 0.2 × gradient = 0.1 lies inside the interval


def cascade(pa=0.95, gradient_last=0.1):
    steps = ["Dense 3", "Dense 3, Dense 2"]
    methods = {"gradient": {"spearman_abs": np.stack([steady(0.3), steady(gradient_last)], axis=1)}}
    for subject in claims.SUBJECTS:
        values = pa if isinstance(pa, np.ndarray) else steady(pa)
        methods[f"PA {subject}"] = {"spearman_abs": np.stack([values, values], axis=1)}
    return {"randomized": steps, "methods": methods}


def test_cascade_rules():
    assert set(verdicts(claims.cascade_claims(cascade())).values()) == {HOLDS}
    assert set(verdicts(claims.cascade_claims(cascade(pa=0.3))).values()) == {FAILS}
    stable_but_so_is_the_gradient = claims.cascade_claims(cascade(gradient_last=0.9))[0]
    assert stable_but_so_is_the_gradient.verdict == PARTLY
    assert "control" in stable_but_so_is_the_gradient.condition
    assert claims.cascade_claims(cascade(pa=0.3, gradient_last=0.9))[0].verdict == FAILS
    assert claims.cascade_claims(cascade(pa=noisy(0.8)))[0].verdict == UNRESOLVED


def shift(difference):
    values = difference if isinstance(difference, np.ndarray) else steady(difference, 0.0002)
    return {"methods": {"PatternNet S_a±": {"relative_difference": values, "by_construction": False},
                        "PA S_a±": {"relative_difference": values, "by_construction": False},
                        "gradient": {"relative_difference": steady(0.0, 0.0), "by_construction": True}}}


def test_input_shift_rule_judges_only_the_rows_that_are_not_fixed_by_construction():
    holding = claims.input_shift_claim(shift(0.001))
    assert holding.verdict == HOLDS and [p["name"] for p in holding.numbers["parts"]] == ["PatternNet S_a±",
                                                                                           "PA S_a±"]
    assert "gradient" in holding.measured                   # listed as fixed by construction, not judged
    assert claims.input_shift_claim(shift(0.5)).verdict == FAILS
    assert claims.input_shift_claim(shift(noisy(claims.VISIBLE_CHANGE, 0.05))).verdict == UNRESOLVED


def linear(pattern_ratio, gradient_ratio=1.0):
    values = pattern_ratio if isinstance(pattern_ratio, np.ndarray) else steady(pattern_ratio, 0.001)
    return {"models": {"trained": {"ratios": {"PatternNet S_a": values, "gradient": steady(gradient_ratio),
                                              "PA S_a": values}},
                       "least squares": {"ratios": {"PatternNet S_a": steady(0.0, 0.0)}}}}


def test_linear_suppressor_rule_ignores_the_least_squares_filter():
    assert claims.linear_suppressor_claim(linear(0.01)).verdict == HOLDS
    assert claims.linear_suppressor_claim(linear(0.2)).verdict == FAILS  # the LS half cannot rescue it
    assert claims.linear_suppressor_claim(linear(0.01, gradient_ratio=0.01)).verdict == PARTLY
    assert claims.linear_suppressor_claim(linear(noisy(0.05, 0.05))).verdict == UNRESOLVED


def invariance(difference):
    values = difference if isinstance(difference, np.ndarray) else steady(difference, 0.0002)
    measured = {f"PA {e}": values for e in claims.SUBJECTS}
    return {"constructions": {
        "rescaled": {"relative_difference": {f"PA {e}": steady(0.0, 0.0) for e in claims.SUBJECTS},
                     "by_construction": True},
        "factorised": {"relative_difference": measured, "by_construction": False}}}


def test_implementation_invariance_rule_judges_only_the_informative_rebuild():
    holding = claims.implementation_invariance_claims(invariance(0.3))
    assert {c.verdict for c in holding} == {HOLDS}
    assert all(len(c.numbers["parts"]) == 1 for c in holding)   # the rescaled rebuild is not a part
    assert {c.verdict for c in claims.implementation_invariance_claims(invariance(0.001))} == {FAILS}
    assert {c.verdict for c in claims.implementation_invariance_claims(
        invariance(noisy(claims.VISIBLE_CHANGE, 0.05)))} == {UNRESOLVED}


def test_every_rule_has_a_failing_test():
    """A new rule in claims.py must be added above: the list of tested rules is complete."""
    tested = {"fig3_claims", "fig4_claims", "signal_recovery_claims", "suppressor_images_claims",
              "cascade_claims", "input_shift_claim", "linear_suppressor_claim", "implementation_invariance_claims"}
    rules = {name for name, function in inspect.getmembers(claims, inspect.isfunction)
             if function.__module__ == claims.__name__ and (name.endswith("_claim") or name.endswith("_claims"))}
    assert rules == tested
