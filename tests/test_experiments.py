"""Facts about the experiment functions (small sizes; the full pipeline is in test_reproduce.py)."""

import base64
import io
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from matplotlib.image import imread

import refpattern as rp
from refpattern.experiments import claims, plots
from refpattern.experiments.degradation import (
    area_under_curve,
    degradation_curves,
    order_by_score,
    patch_means,
    patch_scores,
    random_orders,
)
from refpattern.experiments.ground_truth import area_fractions, mass_fractions, signal_correlation
from refpattern.experiments.ledger import FAILS, HOLDS, PARTLY, Claim, claims_table, exit_status, failed_claims
from refpattern.experiments.models import mlp
from refpattern.experiments.report import Section, Table, format_vector, jsonable, render_html, text_table
from refpattern.experiments.rho_layers import three_splits
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


# claims ledger -------------------------------------------------------------------------------
def test_fig4_verdicts():
    auc = {"PA S_a±": 0.1, "PA S_x": 0.2, "PA S_w": 0.3, "PA S_a": 0.4, "random": 0.9}
    assert claims.fig4_claim(auc).verdict == "holds"
    assert claims.fig4_claim({**auc, "PA S_w": 0.45}).verdict == "partly"
    assert claims.fig4_claim({**auc, "PA S_x": 0.05}).verdict == "fails"
    assert not claims.fig4_claim(auc).must_hold


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


def test_fig3_verdicts():
    result = {"layers": ["Conv2D 0", "Dense 1"],
              "rho": {"random": [0.0, 0.0], "w": [0.5, 0.02], "a": [0.9, 0.8], "a+-": [0.9, 0.85]}}
    verdicts = {c.key: c.verdict for c in claims.fig3_claims(result)}
    assert verdicts == {"fig3_random": "holds", "fig3_sw": "holds", "fig3_sa": "holds", "fig3_sapm_dense": "holds"}


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
    """Each ``*_figure`` of the report on tiny made-up inputs: ``{name: (png, caption)}``."""
    rho = {"layers": ["Conv2D 0", "Dense 1"], "rho": {"random": [0.0, 0.1], "a": [0.9, 0.8]}}
    curves = {"PA S_a±": np.linspace(1, 0.2, 5), "random": np.linspace(1, 0.6, 5)}
    x = np.random.default_rng(0).normal(size=(2, 1, 4, 4))
    cascade = {"randomized": ["Dense 1", "Dense 0"], "methods": {"gradient": {"spearman_abs": [0.3, 0.1]}}}
    scores = {"m": {"mass_signal": 0.6, "mass_suppressor": 0.4}, "n": {"mass_signal": 0.2, "mass_suppressor": 0.8}}
    return {"rho": plots.rho_figure(rho), "degradation": plots.degradation_figure(curves, 2),
            "gallery": plots.gallery_figure(x, {"g": x}, {"g": "gradient"}, truth=x),
            "cascade": plots.cascade_figure(cascade), "mass": plots.mass_figure(scores, ["signal", "suppressor"], "t")}


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


def test_figures_need_no_pyplot():
    # Figure + FigureCanvasAgg: pyplot (and with it the process-wide backend) is never touched
    code = ("import sys, numpy as np; from refpattern.experiments import plots; "
            "plots.degradation_figure({'random': np.linspace(1, 0, 3)}, 2); "
            "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot was imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=pathlib.Path(__file__).resolve().parents[1])


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
