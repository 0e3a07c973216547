"""Facts about the experiment functions (small sizes; the full pipeline is in test_reproduce.py)."""

import base64
import io
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest
from matplotlib.image import imread

import refpattern as rp
from refpattern.experiments import plots
from refpattern.experiments.degradation import (
    ABLATIONS,
    area_under_curve,
    degradation_curves,
    degradation_study,
    order_by_score,
    paper_steps,
    patch_means,
    patch_scores,
    random_orders,
)
from refpattern.experiments.followups import INVARIANT_BY_CONSTRUCTION, SHIFT_MEASURED, input_shift
from refpattern.experiments.gallery import explain_gallery, gallery_summary
from refpattern.experiments.ground_truth import area_fractions, mass_fractions, signal_correlation
from refpattern.experiments.ledger import (
    FAILS,
    HOLDS,
    PARTLY,
    UNRESOLVED,
    Claim,
    claim_card,
    claims_table,
    exit_status,
    failed_claims,
    summary_table,
    with_claim_cards,
)
from refpattern.experiments.method_suite import MethodSpec
from refpattern.experiments.models import mlp
from refpattern.experiments.report import (
    Card,
    Link,
    Section,
    Table,
    format_vector,
    jsonable,
    render_html,
    render_markdown,
    text_table,
)
from refpattern.experiments.rho_layers import constant_zero_inputs, paper_splits, three_splits
from refpattern.experiments.similarity import cosine_similarity, relative_difference, spearman_abs
from refpattern.experiments.surgery import (
    centred_logits,
    factorized_equivalent,
    randomize_top_layers,
    rescaled_equivalent,
    shift_absorbed,
    split_unit_equivalent,
)
from refpattern.network.elementwise import softmax


def small_cnn(seed=0, classes=3):
    rng = np.random.default_rng(seed)
    return rp.Sequential([
        rp.Conv2D(rng.normal(0, 0.5, (3, 1, 3, 3)), rng.normal(0, 0.1, 3), padding=1), rp.ReLU(), rp.MaxPool2D(2),
        rp.Flatten(), rp.Dense(rng.normal(0, 0.3, (classes, 3 * 4 * 4)), rng.normal(0, 0.1, classes)), rp.Softmax(),
    ], input_shape=(1, 8, 8))


# degradation ---------------------------------------------------------------------------------
def test_patch_scores_sum_each_patch_over_channels():
    r = np.arange(2 * 2 * 4 * 4, dtype=float).reshape(2, 2, 4, 4)
    scores = patch_scores(r, 2)
    assert scores.shape == (2, 2, 2)
    assert scores[1, 0, 1] == r[1, :, 0:2, 2:4].sum()
    assert np.isclose(scores.sum(), r.sum())
    with pytest.raises(ValueError, match="divide"):
        patch_scores(r, 3)


def test_patch_means_are_per_channel_means_of_each_patch():
    x = np.random.default_rng(0).normal(size=(3, 2, 4, 6))
    m = patch_means(x, 2)
    assert np.allclose(m[1, 1, 2:4, 4:6], x[1, 1, 2:4, 4:6].mean())
    assert np.allclose(m[0, 0, 0:2, 0:2], x[0, 0, 0:2, 0:2].mean())
    assert np.allclose(m.reshape(3, 2, 2, 2, 3, 2).sum(axis=(3, 5)), x.reshape(3, 2, 2, 2, 3, 2).sum(axis=(3, 5)))


def test_degradation_endpoints():
    net = small_cnn()
    x = np.random.default_rng(1).normal(size=(5, 1, 8, 8))
    order = random_orders(5, 16, seed=2)
    curves = degradation_curves(net, x, order, 2)
    assert curves.shape == (5, 17)
    logits = net.logits(x)
    chosen = np.argmax(logits, axis=1)
    # n = 0: the intact image's top probability
    assert np.allclose(curves[:, 0], softmax(logits)[np.arange(5), chosen])
    # n = all: every patch replaced = the fully mean-replaced image, whatever the order
    full = softmax(net.logits(patch_means(x, 2)))[np.arange(5), chosen]
    assert np.allclose(curves[:, -1], full)
    reversed_curves = degradation_curves(net, x, order[:, ::-1], 2)
    assert np.allclose(reversed_curves[:, -1], curves[:, -1])


def test_degradation_replaces_patches_in_the_given_order():
    # a linear "network" that reads only the sum of one patch makes the step visible
    weight = np.zeros((2, 16))
    weight[0, 0] = 1.0  # logit 0 = x[0, 0]; patch 0 is the 2×2 block in the top-left corner
    net = rp.Sequential([rp.Flatten(), rp.Dense(weight), rp.Softmax()], input_shape=(1, 4, 4))
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 0, 0] = 4.0
    order = np.array([[3, 0, 1, 2]])
    curves = degradation_curves(net, x, order, 2)
    p = softmax(np.array([[4.0, 0.0], [1.0, 0.0]]))[:, 0]  # patch 0 mean is 4/4 = 1
    assert np.allclose(curves[0], [p[0], p[0], p[1], p[1], p[1]])


def test_order_by_score_is_decreasing_and_stable():
    scores = np.array([[[1.0, 3.0], [3.0, -2.0]]])
    assert order_by_score(scores).tolist() == [[1, 2, 0, 3]]


def test_area_under_curve_of_a_constant_curve_is_the_constant():
    assert area_under_curve(np.full(17, 0.25)) == pytest.approx(0.25)
    assert np.allclose(area_under_curve(np.array([[1.0, 0.0], [0.5, 0.5]])), [0.5, 0.5])


def test_degradation_with_given_replacement_values_and_fewer_steps():
    net = small_cnn()
    x = np.random.default_rng(1).normal(size=(4, 1, 8, 8))
    order = random_orders(4, 16, seed=2)
    # replacing every patch by the image itself changes nothing: a flat curve at the intact probability
    unchanged = degradation_curves(net, x, order, 2, replacement=x, steps=5)
    assert unchanged.shape == (4, 6)
    assert np.allclose(unchanged, unchanged[:, :1])
    # a replacement image: after all patches, the network sees exactly that image
    mean_image = np.full((1, 8, 8), 0.25)
    replaced = degradation_curves(net, x, order, 2, replacement=mean_image)
    chosen = np.argmax(net.logits(x), axis=1)
    expected = softmax(net.logits(np.broadcast_to(mean_image, x.shape).copy()))[np.arange(4), chosen]
    assert np.allclose(replaced[:, -1], expected)
    # the first steps of a shortened curve are the full curve's
    assert np.allclose(degradation_curves(net, x, order, 2, steps=3), degradation_curves(net, x, order, 2)[:, :4])
    with pytest.raises(ValueError, match="steps"):
        degradation_curves(net, x, order, 2, steps=17)
    with pytest.raises(ValueError, match="broadcast"):
        degradation_curves(net, x, order, 2, replacement=np.zeros((2, 3)))


def test_paper_steps_is_the_papers_share_of_the_patches():
    assert paper_steps(625) == 100          # the paper: at most 100 of 625 patches
    assert paper_steps(64) == 11 and paper_steps(16) == 3 and paper_steps(256) == 41


def test_degradation_study_protocols_agree_with_direct_computation():
    net = small_cnn()
    x = np.random.default_rng(3).normal(size=(5, 1, 8, 8))
    specs = [MethodSpec("gradient", "gradient", "gradient"), MethodSpec("LRP-z", "lrp.z", "attribution")]
    mean_image = np.zeros((1, 8, 8))
    study = degradation_study(net, x, specs, 2, mean_image, seed=4)
    assert set(study["ablations"]) == set(ABLATIONS) - {"main"}
    assert set(study["auc"]) == {"gradient", "LRP-z", "random"}
    order = order_by_score(patch_scores(rp.explain(net, x, "lrp.z"), 2))
    full = degradation_curves(net, x, order, 2)
    assert study["auc"]["LRP-z"] == pytest.approx(area_under_curve(full.mean(axis=0)))
    first = paper_steps(16)
    assert study["ablations"]["first16"]["auc"]["LRP-z"] == pytest.approx(np.mean(full[:, :first + 1]))
    pixels = order_by_score(patch_scores(rp.explain(net, x, "lrp.z"), 1))
    direct = degradation_curves(net, x, pixels, 1, replacement=mean_image, steps=paper_steps(64))
    assert study["ablations"]["pixels"]["auc"]["LRP-z"] == pytest.approx(np.mean(direct))
    assert study["ablations"]["pixels"]["steps"] == paper_steps(64)


# ground truth scores -------------------------------------------------------------------------
def test_mass_fractions_of_a_uniform_map_equal_the_area():
    shape = (3, 1, 4, 4)
    mask = np.zeros(shape, dtype=bool)
    mask[:, :, :2, :] = True
    uniform = -np.ones(shape)
    assert mass_fractions(uniform, {"top": mask})["top"] == pytest.approx(0.5)
    assert area_fractions({"top": mask}, shape)["top"] == pytest.approx(0.5)
    inside = np.where(mask, 2.0, 0.0)
    assert mass_fractions(inside, {"top": mask, "bottom": ~mask}) == {"top": 1.0, "bottom": 0.0}
    assert mass_fractions(np.zeros(shape), {"top": mask})["top"] == 0.0


def test_signal_correlation_is_scale_invariant_and_signed():
    s = np.random.default_rng(0).normal(size=(4, 1, 3, 3))
    assert signal_correlation(3 * s + 1, s) == pytest.approx(1.0)
    assert signal_correlation(-s, s) == pytest.approx(-1.0)


def test_similarities():
    a = np.random.default_rng(0).normal(size=(3, 10))
    assert cosine_similarity(a, 2 * a) == pytest.approx(1.0)
    assert spearman_abs(a, -3 * a) == pytest.approx(1.0)
    assert relative_difference(a, a) == 0.0
    assert relative_difference(a, 2 * a) == pytest.approx(1.0)


def test_three_splits_are_disjoint_and_cover_everything():
    parts = three_splits(10, seed=1)
    assert sorted(np.concatenate(parts).tolist()) == list(range(10))
    assert [len(p) for p in parts] == [4, 3, 3]


def test_paper_splits_halve_the_training_set():
    first, second = paper_splits(11, seed=2)
    assert len(first) == 6 and len(second) == 5
    assert sorted(np.concatenate([first, second]).tolist()) == list(range(11))


def test_constant_zero_inputs_and_the_exact_zero_rho_of_s_w():
    # docs/math.md#zero-inputs: an input that is 0 in every observation gives d̂ᵢ = −aᵢ·y, a copy of y
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 1, 3, 3))
    X[:, 0, 0, 0] = 0.0                                   # pixel 0 is empty in every image
    net = rp.Sequential([rp.Flatten(), rp.Dense(rng.normal(size=(4, 9)), np.zeros(4)), rp.ReLU(),
                         rp.Dense(rng.normal(size=(2, 4)), np.zeros(2)), rp.Softmax()], input_shape=(1, 3, 3))
    found = constant_zero_inputs(net, X)
    assert found[0] == {"inputs": 9, "zero": 1, "neurons_touching": 4, "neurons": 4}
    for estimator in ("w", "random"):
        value = rp.rho(net, X, rp.fit_patterns(net, X, estimator, seed=1))
        assert np.max(np.abs(value.per_neuron[0])) < 1e-9, estimator
    # S_a has aᵢ = cov[xᵢ, y]/σ² = 0 there, so it is not affected
    assert np.min(rp.rho(net, X, rp.fit_patterns(net, X, "a")).per_neuron[0]) > 0.5
    # a Conv2D patch coordinate counts only if it is 0 in every patch, padding included
    conv = rp.Sequential([rp.Conv2D(rng.normal(size=(2, 1, 3, 3)), np.zeros(2), padding=1), rp.ReLU(), rp.Flatten(),
                          rp.Dense(rng.normal(size=(2, 18)), np.zeros(2)), rp.Softmax()], input_shape=(1, 3, 3))
    assert constant_zero_inputs(conv, X)[0]["zero"] == 0
    assert constant_zero_inputs(conv, np.zeros((3, 1, 3, 3)))[0]["zero"] == 9


def test_gallery_summary_counts_seeds_and_measures_stability():
    net = small_cnn()
    x = np.random.default_rng(4).normal(size=(3, 1, 8, 8))
    specs = [MethodSpec("gradient", "gradient", "gradient")]
    run = explain_gallery(net, x, specs)
    other = explain_gallery(small_cnn(seed=5), x, specs)
    summary = gallery_summary([run, run, other], labels=run["prediction"])
    assert summary["seeds"] == 3 and summary["prediction"] == run["prediction"].tolist()
    assert all(2 <= a <= 3 for a in summary["agreeing"]) and summary["correct"] == summary["agreeing"]
    identical = gallery_summary([run, run], labels=run["prediction"])
    assert identical["stability"]["gradient"] == pytest.approx(1.0)
    assert summary["stability"]["gradient"] < 1.0
    assert identical["confidence"][0].low == identical["confidence"][0].high == run["confidence"][0]


# surgery: every "equivalent" network computes the same function -------------------------------
def test_equivalent_networks_give_the_same_logits():
    net = mlp((1, 4, 4), 3, seed=1)
    x = np.random.default_rng(2).normal(size=(6, 1, 4, 4))
    for other in (rescaled_equivalent(net, 0, 4.0), split_unit_equivalent(net, 1, 3), factorized_equivalent(net, 5)):
        assert np.allclose(other.logits(x), net.logits(x), atol=1e-12)
    shifted = shift_absorbed(net, -1.5)
    assert np.allclose(shifted.logits(x - 1.5), net.logits(x), atol=1e-12)
    centred = centred_logits(net)
    assert np.allclose(softmax(centred.logits(x)), softmax(net.logits(x)))
    assert np.allclose(centred.logits(x).sum(axis=1), 0)


def test_randomize_top_layers_keeps_the_lower_layers():
    net = mlp((1, 4, 4), 3, seed=1)
    other = randomize_top_layers(net, 2, seed=3)
    assert np.array_equal(other.kernel_layers[0].weight, net.kernel_layers[0].weight)
    assert not np.allclose(other.kernel_layers[1].weight, net.kernel_layers[1].weight)
    assert not np.allclose(other.kernel_layers[2].weight, net.kernel_layers[2].weight)
    assert np.array_equal(randomize_top_layers(net, 0).kernel_layers[2].weight, net.kernel_layers[2].weight)


def test_gradient_is_implementation_invariant_on_the_rebuilt_networks():
    net = mlp((1, 4, 4), 3, seed=1)
    x = np.random.default_rng(2).normal(size=(4, 1, 4, 4))
    g = rp.explain(net, x, "gradient")
    for other in (rescaled_equivalent(net, 0, 4.0), split_unit_equivalent(net, 0, 0), factorized_equivalent(net, 5)):
        assert np.allclose(rp.explain(other, x, "gradient"), g, atol=1e-10)


def test_pattern_attribution_is_invariant_to_positive_rescaling():
    # w ⊙ a is unchanged: the rescaled layer's w·α meets a/α, the next layer's w/α meets a·α
    from refpattern.patterns import fit_patterns

    net = mlp((1, 4, 4), 3, seed=1)
    X = np.random.default_rng(3).normal(size=(300, 1, 4, 4))
    other = rescaled_equivalent(net, 0, 4.0)
    for estimator in ("a", "a+-"):
        e1 = rp.explain(net, X[:5], "pattern.attribution", patterns=fit_patterns(net, X, estimator))
        e2 = rp.explain(other, X[:5], "pattern.attribution", patterns=fit_patterns(other, X, estimator))
        assert np.allclose(e1, e2, atol=1e-9)


def test_pattern_methods_are_invariant_under_the_rebuilds_fixed_by_construction():
    # docs/math.md#followup-implementation-invariance: these rows are checks of the code, not findings
    from refpattern.experiments.followups import implementation_invariance

    net = mlp((1, 4, 4), 3, seed=1)
    X = np.random.default_rng(3).normal(size=(300, 1, 4, 4))
    result = implementation_invariance(net, X, X[:6], seed=0)
    rescaled, duplicated = (result["constructions"][name] for name in INVARIANT_BY_CONSTRUCTION)
    assert rescaled["by_construction"] and duplicated["by_construction"]
    # ReLU(αz) = α·ReLU(z): the rescaled layer's pattern is a/α and the next layer's α·a, for every method
    assert max(rescaled["relative_difference"].values()) < 1e-9
    # a duplicated unit: w ⊙ a with halved outgoing weights leaves PatternAttribution unchanged ...
    assert max(v for k, v in duplicated["relative_difference"].items() if k.startswith("PA ")) < 1e-9
    # ... while PatternNet passes the unit's signal down through both copies, twice
    assert min(v for k, v in duplicated["relative_difference"].items() if k.startswith("PatternNet")) > 1e-3
    assert not result["constructions"]["logit layer factorised W = (W M⁻¹)·M"]["by_construction"]


def test_input_shift_rows_fixed_by_construction_come_out_as_the_algebra_says():
    # docs/math.md#followup-input-shift: only the paper's S_a± rows are measurements
    net = mlp((1, 4, 4), 3, seed=2)
    X = np.random.default_rng(5).normal(size=(300, 1, 4, 4))
    result = input_shift(net, X, X[:6], seed=0)
    assert result["max_logit_difference"] < 1e-9
    for label, row in result["methods"].items():
        assert row["by_construction"] == (label not in SHIFT_MEASURED)
        if row["by_construction"]:
            assert row["changed"] != row["expected_invariant"], label


# claims ledger -------------------------------------------------------------------------------
def test_a_claim_refuses_a_verdict_outside_the_vocabulary():
    with pytest.raises(ValueError, match="verdict"):
        Claim("k", "c", "p", "m", "maybe")
    with pytest.raises(ValueError, match="expected_verdict"):
        Claim("k", "c", "p", "m", HOLDS, expected_verdict="holds only when μ = 0")
    with pytest.raises(ValueError, match="condition"):   # a condition explains a partial verdict only
        Claim("k", "c", "p", "m", HOLDS, condition="only when μ = 0")
    assert Claim("k", "c", "p", "m", PARTLY, condition="holds only when μ = 0").verdict_text() == \
        "partly (holds only when μ = 0)"


def test_only_must_hold_claims_that_are_not_as_expected_fail_the_run():
    as_expected = Claim("ok", "c", "e", "m", PARTLY, expected_verdict=PARTLY, must_hold=True)
    finding = Claim("finding", "c", "e", "m", FAILS)                       # must_hold False by default
    better_than_expected = Claim("better", "c", "e", "m", HOLDS, expected_verdict=PARTLY, must_hold=True)
    broken = Claim("broken", "c", "e", "m", FAILS, must_hold=True)
    assert exit_status([as_expected, finding]) == 0 and failed_claims([as_expected, finding]) == []
    assert failed_claims([as_expected, finding, better_than_expected, broken]) == [better_than_expected, broken]
    assert exit_status([finding, broken]) == 1
    table = claims_table([finding, broken])
    assert table.header == ["#", "claim", "expected", "measured", "verdict"]
    assert [row[-1] for row in table.rows] == ["fails", "FAILS (expected: holds)"]


def test_claim_cards_and_the_summary_table_link_to_each_other():
    claim = Claim("fig4_first.regime", "c <1>", "paper", "m", UNRESOLVED, rule="r", explanation="why")
    card = claim_card(claim, 7)
    assert card.anchor == "claim-fig4_first-regime" and card.tone == "open"
    assert card.badge == "not resolved at this sample size"
    assert [label for label, _ in card.fields] == ["paper / source", "measured", "rule", "verdict", "why it differs"]
    table = summary_table([claim])
    assert table.rows[0][1] == Link("c <1>", card.anchor)
    page = render_html("t", [Section("s", tables=[table], cards=[card])], {})
    assert f'href="#{card.anchor}"' in page and f'id="{card.anchor}"' in page and "c &lt;1&gt;" in page
    markdown = render_markdown("t", [Section("s", tables=[table], cards=[card])], {})
    assert f"[c <1>](#{card.anchor})" in markdown and f'<a id="{card.anchor}"></a>' in markdown
    with pytest.raises(ValueError, match="tone"):
        Card("a", "t", "b", tone="purple")


def test_with_claim_cards_puts_the_claims_under_their_figure():
    claims = [Claim("a", "c1", "e", "m", HOLDS), Claim("b", "c2", "e", "m", FAILS)]
    sections = [Section("Claims", tables=[claims_table(claims)]), Section("The figure", figures=["toy"])]
    with_claim_cards(sections, claims, "toy")
    assert sections[0].cards == [] and [card.anchor for card in sections[1].cards] == ["claim-a", "claim-b"]
    assert sections[1].cards[1].title.startswith("Claim 2: c2")
    with pytest.raises(ValueError, match="no section shows"):
        with_claim_cards(sections, claims, "missing")


# report --------------------------------------------------------------------------------------
def test_jsonable_turns_nan_into_null_and_arrays_into_lists():
    assert jsonable({"a": np.array([1.0, np.nan]), "b": np.float64(np.inf), "c": np.int64(3)}) == \
        {"a": [1.0, None], "b": None, "c": 3}


def test_format_vector_rounds_without_negative_zero_and_marks_missing_values():
    assert format_vector(np.array([1.0, -1e-4, -0.25])) == "(1.000, 0.000, -0.250)"
    assert format_vector([0.5, None, np.nan], 2) == "(0.50, n/a, n/a)"
    assert format_vector(np.array([[-6.4e-16, 2e-3]]), 1, "e") == "(-6.4e-16, 2.0e-03)"


def test_text_table_wraps_cells_and_rules_rows():
    text = text_table(["a", "b"], [["one two three", 1.5], ["x", None]], widths=[7, 5], rule_every_row=True)
    assert text.splitlines() == ["a       | b", "--------+------", "one two | 1.500", "three   |",
                                 "--------+------", "x       | n/a", "--------+------"]


def every_figure():
    """Each ``*_figure`` of the report on tiny made-up inputs (three seeds): ``{name: (png, caption)}``."""
    rng = np.random.default_rng(0)
    rho = {"layers": ["Conv2D 0", "Dense 1"], "rho": {"random": rng.normal(0, 0.02, (3, 2)),
                                                      "a": 0.8 + rng.normal(0, 0.05, (3, 2))}}
    curves = {"PA S_a±": np.linspace(1, 0.2, 5) + rng.normal(0, 0.02, (3, 5)),
              "random": np.linspace(1, 0.6, 5) + rng.normal(0, 0.02, (3, 5))}
    x = rng.normal(size=(2, 1, 4, 4))
    cascade = {"randomized": ["Dense 1", "Dense 0"], "methods": {"gradient": {"spearman_abs": [[0.3, 0.1],
                                                                                           [0.4, 0.2]]}}}
    scores = {"m": {"mass_signal": [0.6, 0.5], "mass_suppressor": [0.4, 0.5]},
              "n": {"mass_signal": [0.2, 0.3], "mass_suppressor": [0.8, 0.7]}}
    rows = {"label": ["0", "1"], "prediction": ["0 (3/3)", "1 (2/3)"], "confidence": ["0.99 ± 0.01", "0.7 ± 0.2"]}
    return {"rho": plots.rho_figure(rho), "degradation": plots.degradation_figure(curves, 2),
            "gallery": plots.gallery_figure(x, {"g": x, "s": x}, {"g": "gradient", "s": "signal"}, truth=x, rows=rows),
            "cascade": plots.cascade_figure(cascade), "mass": plots.mass_figure(scores, ["signal", "suppressor"], "t"),
            "intervals": plots.interval_figure({"a": [0.1, 0.2, 0.15], "b": [0.5, 0.6, 0.55]}, "t", "AUC"),
            "two series": plots.interval_figure({"a": {"signal": [0.1, 0.2], "distractor": [0.5, 0.4]}}, "t", "corr",
                                                lower_is_better=False, reference=0.0)}


def test_every_figure_is_a_png_with_non_uniform_pixels():
    for name, (png, caption) in every_figure().items():
        assert png[:8] == b"\x89PNG\r\n\x1a\n", name
        pixels = imread(io.BytesIO(png), format="png")
        assert pixels.ndim == 3 and min(pixels.shape[:2]) > 50, name
        assert np.ptp(pixels[..., :3]) > 0.5, f"{name}: the image is (almost) uniform"
        assert caption, name


def test_plotting_errors_propagate():
    with pytest.raises(KeyError):
        plots.gallery_figure(np.zeros((1, 1, 4, 4)), {"g": np.zeros((1, 1, 4, 4))}, kinds={})
    with pytest.raises(ValueError):  # 2 layers, 3 values per estimator
        plots.rho_figure({"layers": ["a", "b"], "rho": {"a": [0.1, 0.2, 0.3]}})


def test_rho_figure_holds_every_interval_whole():
    """Three seeds of a held-out ρ that scatter widely: the axis reaches past the interval's top
    (mean + t₀.₉₇₅,₂·s/√3), not to a fixed 1.05, and the caption says so."""
    values = np.array([[0.1, 1.3], [0.2, 0.5], [0.3, 0.9]])  # layer 2: mean 0.9, s = 0.4
    top = 0.9 + 4.302652729749462 * 0.4 / np.sqrt(3)  # scipy.stats.t.ppf(0.975, 2)
    _, caption = plots.rho_figure({"layers": ["a", "b"], "rho": {"S_a": values}})
    shown = float(re.search(r"to (-?[\d.]+)\.$", caption).group(1))
    assert shown >= top > 1.05, (caption, top)


def drawn_marks(monkeypatch, draw):
    """The ∞ marks ``draw()`` writes in its figure's axes: ``[(text, (x, y) as given)]``, and its caption."""
    figures = []
    monkeypatch.setattr(plots, "png_bytes", lambda figure, dpi=100: figures.append(figure) or b"")
    _, caption = draw()
    marks = [(t.get_text(), t.get_position()) for a in figures[0].axes for t in a.texts if "∞" in t.get_text()]
    return marks, caption


def test_figures_mark_a_value_infinite_on_some_seeds(monkeypatch):
    """A quantity infinite on k of S seeds has no mean or interval (docs/math.md#repetition-infinite);
    every figure that draws intervals over seeds writes "∞ on k/S seeds" where it would be, at the top
    of the value axis for +inf, the bottom for −inf, the middle when both signs occur, and says so in
    its caption; with nothing infinite there is no mark."""
    inf = np.inf
    values = np.array([[0.1, 0.5], [0.2, 0.4], [0.3, 0.6]])
    up, down, both = values.copy(), values.copy(), values.copy()
    up[1, 1] = inf
    down[0, 0] = -inf
    both[0, 1], both[2, 1] = inf, -inf
    _, _, count = plots.mean_and_error(both)
    assert count.tolist() == [0, 2]

    marks, caption = drawn_marks(monkeypatch, lambda: plots.rho_figure({"layers": ["a", "b"],
                                                                        "rho": {"u": up, "d": down}}))
    assert sorted((text, y) for text, (_, y) in marks) == [("∞ on 1/3 seeds", 0.02), ("∞ on 1/3 seeds", 0.98)]
    assert "∞ on k/S seeds" in caption
    marks, caption = drawn_marks(monkeypatch, lambda: plots.interval_figure({"a": both[:, 0], "b": both[:, 1]},
                                                                            "t", "AUC"))
    assert [(text, x) for text, (x, _) in marks] == [("∞ on 2/3 seeds", 0.5)] and "∞ on k/S seeds" in caption
    marks, _ = drawn_marks(monkeypatch, lambda: plots.cascade_figure(
        {"randomized": ["Dense 1", "Dense 0"], "methods": {"gradient": {"spearman_abs": up}}}))
    assert [(text, x, y) for text, (x, y) in marks] == [("∞ on 1/3 seeds", 2, 0.98)]
    marks, _ = drawn_marks(monkeypatch, lambda: plots.mass_figure(
        {"m": {"mass_signal": down[:, 0], "mass_suppressor": [0.4, 0.5, 0.6]}}, ["signal", "suppressor"], "t"))
    assert [(text, y) for text, (_, y) in marks] == [("∞ on 1/3 seeds", 0.02)]
    marks, _ = drawn_marks(monkeypatch, lambda: plots.degradation_figure({"PA S_a±": up, "random": values}, 2))
    assert [(text, x) for text, (x, _) in marks] == [("∞ on 1/3 seeds", 1)]

    finite = {"rho": lambda: plots.rho_figure({"layers": ["a", "b"], "rho": {"u": values}}),
              "intervals": lambda: plots.interval_figure({"a": values[:, 0]}, "t", "AUC"),
              "degradation": lambda: plots.degradation_figure({"PA S_a±": values, "random": values}, 2)}
    for name, draw in finite.items():
        marks, caption = drawn_marks(monkeypatch, draw)
        assert marks == [] and "∞" not in caption, name


def test_figures_need_no_pyplot():
    # Figure + FigureCanvasAgg: pyplot (and with it the process-wide backend) is never touched
    code = ("import sys, numpy as np; from refpattern.experiments import plots; "
            "plots.degradation_figure({'random': np.linspace(1, 0, 3)}, 2); "
            "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot was imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=pathlib.Path(__file__).resolve().parents[1])


def test_gallery_shares_one_colour_scale_per_column():
    x = np.array([[[[1.0, -2.0]]], [[[0.5, 4.0]]]])          # (2, 1, 1, 2)
    assert plots.column_scale("signal", x) == 4.0             # max|x| over the whole column
    r = np.ones((2, 2, 1, 2))                                 # channel sums are 2
    assert plots.column_scale("attribution", r) == 2.0
    assert plots.column_scale("gradient", np.zeros((2, 1, 2, 2))) == 1.0
    assert [plots.short_number(v) for v in (0.0, 140.0, -4.23, 0.054, 3e-4, 2e5)] == \
        ["0", "140", "-4.2", "0.054", "3e-04", "2e+05"]


def test_display_conventions():
    # signals: x / (2·max|x|) + 1/2, so −max → 0, 0 → 1/2, max → 1; all-zero → mid-grey
    x = np.array([[[-2.0, 0.0, 1.0, 2.0]]])
    assert np.allclose(plots.signal_image(x), [[0.0, 0.5, 0.75, 1.0]])
    assert np.allclose(plots.signal_image(np.zeros((1, 2, 2))), 0.5)
    # attributions: channel sum, colour limit max|R| (1 when all zero)
    r = np.array([[[1.0, -3.0]], [[1.0, 0.5]]])
    summed, peak = plots.heat_map(r)
    assert np.allclose(summed, [[2.0, -2.5]]) and peak == 2.5
    assert plots.heat_map(np.zeros((1, 2, 2)))[1] == 1.0


def test_html_embeds_figures_and_escapes_text():
    png, _ = every_figure()["mass"]
    page = render_html("t<1>", [Section("s", ["a `code` & b"], [Table(["h"], [[1.5]])], ["f"])], {"f": png})
    assert "t&lt;1&gt;" in page and "<code>code</code>" in page
    data = page.split("data:image/png;base64,", 1)[1].split('"', 1)[0]
    assert base64.b64decode(data) == png


def drawn_row_order(monkeypatch, draw):
    """The row labels of ``draw()``'s interval figure, top to bottom."""
    figures = []
    monkeypatch.setattr(plots, "png_bytes", lambda figure, dpi=100: figures.append(figure) or b"")
    draw()
    axis = figures[0].axes[0]
    ticks = sorted(zip(axis.get_yticks(), (t.get_text() for t in axis.get_yticklabels())))
    return [label for _, label in ticks]  # the y axis is inverted: the smallest row index is drawn at the top


@pytest.mark.parametrize("lower_is_better", [True, False])
def test_interval_rows_without_a_finite_mean_are_not_ranked_best(monkeypatch, lower_is_better):
    """The interval figure puts the best mean at the top and says so in its caption; a row whose mean is
    NaN (not measured) or infinite on a seed has no value to rank and goes last, whichever direction is
    better — with higher-is-better a NaN row was sorted as −∞·(−1) = the best, at the top."""
    values = {"nan": [np.nan, np.nan, np.nan], "low": [0.1, 0.2, 0.15], "inf": [0.3, np.inf, 0.2],
              "high": [0.7, 0.8, 0.75]}
    order = drawn_row_order(monkeypatch, lambda: plots.interval_figure(values, "t", "AUC",
                                                                        lower_is_better=lower_is_better))
    ranked = ["low", "high"] if lower_is_better else ["high", "low"]
    assert order[:2] == ranked
    assert sorted(order[2:]) == ["inf", "nan"]
