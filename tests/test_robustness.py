"""No silent NaN or wrong number at any scale (``docs/conventions.md#scale``).

The facts: a network whose biases are scaled with its input is positively homogeneous,
``f(s·x; s·b) = s·f(x; b)`` for ``s > 0`` (ReLU, max-pooling and the linear maps are), so

- its gates, and therefore the patterns of every estimator and ρ, are those of ``s = 1``;
- each explanation is ``s^d`` times the one at ``s = 1`` with the degree ``d`` of its method
  (:data:`METHODS` below states it per method and which options scale along).

Swept from 1e-300 to 1e300 every 10 decades: every result is that value to rounding, or a
``ValueError`` naming the magnitude; between 1e-150 and 1e150 it must be the value.
"""

import re

import numpy as np
import pytest
from conftest import random_cnn

import refpattern as rp
from refpattern.network.validation import LARGEST_MAGNITUDE, SMALLEST_MAGNITUDE
from refpattern.patterns import LayerStatistics, fit_statistics, patterns_from_statistics
from refpattern.patterns.statistics import scale_for

SCALES = [10.0 ** k for k in range(-300, 301, 10)]
#: Every result must be correct (not refused) for data within this range.
REQUIRED = (1e-150, 1e150)
RTOL = 1e-10
#: A refusal names a magnitude (a number in e-notation next to the word).
REFUSAL = re.compile(r"magnitude[^0-9]*\d(\.\d+)?e[+-]\d+")


def scaled_net(net, s):
    """``net`` with every bias multiplied by ``s``: ``f(s·x) = s·f(x)`` exactly in exact arithmetic."""
    return net.with_layers([layer.with_parameters(layer.weight, layer.bias * s) if layer.is_kernel else layer
                            for layer in net.layers])


@pytest.fixture(scope="module")
def setting():
    net = random_cnn(seed=5)  # biases 0.1·N(0, 1); every method gives a non-zero explanation on it
    x = np.random.default_rng(0).normal(size=(48,) + net.input_shape)
    return net, x


def correct_or_refused(scale, compute, check):
    """``check(compute())`` if it computes; else the refusal must be a ValueError naming the
    magnitude, and only outside :data:`REQUIRED`.  Returns "correct" or "refused"."""
    try:
        result = compute()
    except ValueError as error:
        assert not REQUIRED[0] <= scale <= REQUIRED[1], f"refused at scale {scale:g}: {error}"
        assert REFUSAL.search(str(error)), f"the refusal at scale {scale:g} names no magnitude: {error}"
        return "refused"
    check(result)
    return "correct"


def assert_scaled(got, expected, where):
    assert np.all(np.isfinite(got)), f"{where}: not finite"
    peak = np.max(np.abs(expected))
    assert peak > 0, f"{where}: the unit-scale value is 0, the comparison would prove nothing"
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=RTOL * peak, err_msg=where)


ESTIMATORS = [("a", {}), ("a+-", {}), ("a+-", {"variant": "regime"}), ("w", {}), ("random", {"seed": 3}), ("x", {})]


@pytest.mark.parametrize("estimator, options", ESTIMATORS, ids=lambda v: str(v))
def test_patterns_are_scale_invariant_or_refused(setting, estimator, options):
    net, x = setting
    reference = rp.fit_patterns(net, x, estimator, **options)
    outcomes = set()
    for s in SCALES:
        def check(patterns, s=s):
            for k in range(len(patterns)):
                for field in ("a_plus", "a_minus"):
                    want = getattr(reference[k], field)
                    if want is not None:
                        assert_scaled(np.asarray(getattr(patterns[k], field)), want, f"{estimator} {field} {k} {s:g}")
                np.testing.assert_array_equal(patterns[k].counts.n_plus, reference[k].counts.n_plus)
                assert [(d.neuron, d.regime, d.zeroed) for d in patterns[k].degenerate] == \
                       [(d.neuron, d.regime, d.zeroed) for d in reference[k].degenerate]

        outcomes.add(correct_or_refused(s, lambda s=s: rp.fit_patterns(scaled_net(net, s), x * s, estimator,
                                                                       **options), check))
    assert outcomes == {"correct", "refused"}  # 1e±300 are beyond what float64 carries through a fit


@pytest.mark.parametrize("estimator", ["a", "a+-", "w", "x"])
def test_rho_is_scale_invariant_or_refused(setting, estimator):
    net, x = setting
    reference = rp.rho(net, x, estimator)
    for s in SCALES[::2]:
        def check(result, s=s):
            for k, (got, want) in enumerate(zip(result.per_neuron, reference.per_neuron)):
                np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
                np.testing.assert_allclose(got, want, rtol=0, atol=1e-9, err_msg=f"rho {estimator} {k} {s:g}")
            assert result.reason == reference.reason

        correct_or_refused(s, lambda s=s: rp.rho(scaled_net(net, s), x * s, estimator), check)


#: (method, options at scale s, degree d): explain(s·x; s·b, options(s)) = s^d · explain(x; b, options(1)).
METHODS = [
    ("gradient", lambda s: {}, 0),                 # ∇f(s·x) = ∇f(x): f is homogeneous of degree 1
    ("deconvnet", lambda s: {}, 0),                # gradient-type, ReLU rule independent of the scale
    ("guided_backprop", lambda s: {}, 0),
    ("smoothgrad", lambda s: {"samples": 3}, 0),   # σ ∝ range(x) scales too: the same ε, gradients of degree 0
    ("input_x_gradient", lambda s: {}, 1),         # x ⊙ ∇f
    ("integrated_gradients", lambda s: {"steps": 4}, 1),  # baseline 0 scales trivially
    ("lrp.z", lambda s: {}, 1),                    # start y_t (degree 1) times x_i w_ij / z_j (degree 0)
    ("lrp.epsilon", lambda s: {"epsilon": 1e-3 * s}, 1),  # ε is added to z: it is in the data's units
    ("lrp.alpha_beta", lambda s: {"stabilizer": 1e-6 * s}, 1),
    ("lrp.alpha_1_beta_0", lambda s: {"stabilizer": 1e-6 * s}, 1),
    ("lrp.alpha_2_beta_1", lambda s: {"stabilizer": 1e-6 * s}, 1),
    ("lrp.z_plus", lambda s: {"stabilizer": 1e-6 * s}, 1),
    ("lrp.w_square", lambda s: {}, 1),             # denominators Σ w² + stabiliser: the weights' units
    ("lrp.flat", lambda s: {}, 1),                 # denominators Σ 1 + stabiliser: a count, no units
    ("lrp.gamma", lambda s: {"stabilizer": 1e-6 * s}, 1),  # z of (w + γw⁺) with the bias: the data's units
    ("zennit.epsilon_plus", lambda s: {"epsilon": 1e-6 * s, "stabilizer": 1e-6 * s}, 1),  # ε and z⁺
    ("zennit.epsilon_alpha2_beta1", lambda s: {"epsilon": 1e-6 * s, "stabilizer": 1e-6 * s}, 1),
    # the flat first layer shares the stabiliser with z⁺/αβ above it; a count and data units do not
    # scale alike, so these run exact (stabiliser 0: a zero denominator passes nothing)
    ("zennit.epsilon_plus_flat", lambda s: {"epsilon": 1e-6 * s, "stabilizer": 0.0}, 1),
    ("zennit.epsilon_alpha2_beta1_flat", lambda s: {"epsilon": 1e-6 * s, "stabilizer": 0.0}, 1),
    ("zennit.epsilon_gamma_box", lambda s: {"low": -4 * s, "high": 4 * s, "epsilon": 1e-6 * s,
                                             "stabilizer": 1e-6 * s}, 1),  # z^B, γ and ε all in the data's units
    ("lrp.zb", lambda s: {"low": -4 * s, "high": 4 * s, "stabilizer": 1e-6 * s, "epsilon": 1e-6 * s}, 1),
    ("deep_taylor", lambda s: {"stabilizer": 0.0}, 1),  # w² (weights' units) below, z⁺ (data's units) above
    ("deep_taylor", lambda s: {"low": -4 * s, "high": 4 * s, "stabilizer": 1e-6 * s}, 1),  # z^B and z⁺
    ("pattern.net", lambda s: {"patterns": "a+-"}, 1),  # start y_t, patterns scale-invariant
    ("pattern.attribution", lambda s: {"patterns": "a+-"}, 1),
    ("pattern.attribution", lambda s: {"patterns": "x"}, 1),  # S_x: x_i w_ij R_j / y_j
]


def test_the_sweep_covers_every_method():
    assert {method for method, _, _ in METHODS} == set(rp.method_names())


@pytest.mark.parametrize("s", [1e-280, 1e-150, 1e150, 1e280])
def test_the_backends_agree_far_from_unit_scale(setting, s):
    net, x = setting
    net_s = scaled_net(net, s)
    reference = rp.fit_patterns(net, x, "a+-", backend="numpy")
    rho_numpy = rp.rho(net_s, x * s, "a+-", backend="numpy")
    for backend in ("numpy", "numba"):
        patterns = rp.fit_patterns(net_s, x * s, "a+-", backend=backend)
        for k in range(len(patterns)):
            assert_scaled(np.asarray(patterns[k].a_plus), reference[k].a_plus, f"{backend} layer {k}")
    np.testing.assert_allclose(rp.rho(net_s, x * s, "a+-", backend="numba"), rho_numpy, rtol=0, atol=1e-9)


# the patterns fitted at unit scale are used on the net with scaled biases on purpose (patterns are
# scale-invariant); the fingerprint check rightly warns that the biases differ
@pytest.mark.filterwarnings("ignore::refpattern.patterns.PatternsMismatchWarning")
@pytest.mark.parametrize("method, options, degree", METHODS, ids=[f"{m[0]}-{i}" for i, m in enumerate(METHODS)])
def test_explanations_scale_as_their_homogeneity_says_or_are_refused(setting, method, options, degree):
    net, x = setting
    x = x[:4]
    fitted = {}

    def resolved(s):
        opts = options(s)
        if "patterns" in opts:
            name = opts["patterns"]
            fitted.setdefault(name, rp.fit_patterns(net, setting[1], name))
            opts["patterns"] = fitted[name]
        return opts

    reference = rp.explain(net, x, method, **resolved(1.0))
    for s in SCALES:
        correct_or_refused(s, lambda s=s: rp.explain(scaled_net(net, s), x * s, method, **resolved(s)),
                           lambda got, s=s: assert_scaled(got, reference * s ** degree, f"{method} at {s:g}"))


def test_the_range_is_refused_before_anything_is_fitted_naming_the_magnitude(setting):
    net, x = setting
    big, tiny = 4 * LARGEST_MAGNITUDE / np.abs(x).max(), SMALLEST_MAGNITUDE / 4 / np.abs(x).max()
    for s, words in ((big, r"reaches magnitude {}, above .* 2\^960"),
                     (tiny, r"largest magnitude in its input is {}, below .* 2\^-960")):
        words = words.format(re.escape(f"{np.abs(x * s).max():.4g}"))
        where = r"X \(batch 1\): kernel layer 0 \(net\.layers\[0\], Conv2D"
        with pytest.raises(ValueError, match=where + r".*" + words):
            rp.fit_patterns(net, x * s)
        with pytest.raises(ValueError, match=where + r".*" + words):
            rp.rho(net, x * s, "a")
        with pytest.raises(ValueError, match=r"explain 'gradient': layer 0 \(Conv2D.*" + words):
            rp.explain(net, x * s, "gradient")
        with pytest.raises(ValueError, match=r"layer 0 \(Conv2D.*" + words):
            net.forward(x * s)
    np.testing.assert_array_equal(rp.explain(net, 0 * x[:2], "gradient").shape, (2,) + net.input_shape)  # 0 is fine


def test_an_overflow_of_the_output_bound_is_refused_naming_the_layer():
    dense = rp.Dense(np.full((2, 3), 1e201))
    net = rp.Sequential([dense], input_shape=(3,))
    with pytest.raises(ValueError, match=r"layer 0 \(Dense\(in=3, out=2\)\): its output can reach .* = 3e\+301"):
        net.logits(np.ones((1, 3)) * 1e100)


def test_an_overflow_in_the_backward_pass_names_the_method_the_layer_and_the_magnitude():
    """Forward magnitudes stay small (1e-280 … 1e170) but the gradient is 1e450: it cannot be a float64."""
    net = rp.Sequential([rp.Dense(np.full((2, 2), 1e150)), rp.ReLU(), rp.Dense(np.full((2, 2), 1e150)), rp.ReLU(),
                         rp.Dense(np.full((2, 2), 1e150))], input_shape=(2,))
    x = np.full((1, 2), 1e-280)
    assert np.all(np.isfinite(net.logits(x)))
    for method in ("gradient", "input_x_gradient", "integrated_gradients", "smoothgrad"):
        with pytest.raises(ValueError, match=rf"explain '{method}': the backward pass overflows float64 at layer "
                                             r"\d \(Dense.*magnitude \d"):
            rp.explain(net, x, method)


def test_statistics_are_kept_in_units_of_a_power_of_two(setting):
    net, x = setting
    for s in (1.0, 2.0 ** 90, 2.0 ** -90):  # within [2^-100, 2^100]: nothing is scaled
        assert all(layer.scale == 1.0 for layer in fit_statistics(scaled_net(net, s), x * s))
    for s in (1e200, 1e-200):
        for layer in fit_statistics(scaled_net(net, s), x * s, second_moment=True):
            assert np.frexp(layer.scale)[0] == 0.5  # a power of two: scaling is exact
            assert 0.5 <= layer.peak / layer.scale < 1.0
            for name in ("products", "output_sums", "sum_xx"):  # sums of x̃, ỹ ~ 1: of order n, whatever s
                assert 0 < np.abs(getattr(layer, name)).max() < 10 * layer.n


def bias_free(net):
    """``net`` without biases (homogeneous whatever the scale of its input)."""
    return net.with_layers([layer.with_parameters(layer.weight, None) if layer.is_kernel else layer
                            for layer in net.layers])


def long_double_sums(stats, batches, weight, bias):
    """The sums of a Dense layer's statistics over ``batches``, around its shift and in its units,
    in extended precision (np.longdouble: a wider exponent, so no product of these data under- or
    overflows): an independent computation of what the float64 sums must hold."""
    shift = stats.shift.astype(np.longdouble)
    x = np.concatenate(batches).astype(np.longdouble)
    gate = (np.concatenate(batches) @ weight.T + bias > 0).astype(np.longdouble)
    xt = (x - shift) / np.longdouble(stats.scale)
    yt = xt @ weight.T.astype(np.longdouble)
    closed = 1 - gate
    sums = {"sum_x": xt.sum(0), "sum_x_plus": xt.T @ gate, "sum_y_minus": (yt * closed).sum(0),
            "sum_y_plus": (yt * gate).sum(0), "sum_yy_minus": (yt * yt * closed).sum(0),
            "sum_yy_plus": (yt * yt * gate).sum(0), "sum_xy_minus": xt.T @ (yt * closed),
            "sum_xy_plus": xt.T @ (yt * gate), "sum_xx": xt.T @ xt}
    scale = {"sum_x": np.abs(xt).sum(0), "sum_x_plus": np.abs(xt).T @ gate, "sum_y_minus": np.abs(yt * closed).sum(0),
             "sum_y_plus": np.abs(yt * gate).sum(0), "sum_yy_minus": (yt * yt * closed).sum(0),
             "sum_yy_plus": (yt * yt * gate).sum(0), "sum_xy_minus": np.abs(xt).T @ np.abs(yt * closed),
             "sum_xy_plus": np.abs(xt).T @ np.abs(yt * gate), "sum_xx": np.abs(xt).T @ np.abs(xt)}
    return sums, scale


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("first, second", [(2.0 ** -150, 2.0 ** 150), (1.0, 1e200), (1e-200, 1.0), (0.0, 1e-250),
                                           (0.0, 1e250), (1e250, 1e-250)])
def test_the_sums_of_batches_of_far_apart_scales_are_right(backend, first, second):
    """A batch far larger than those before re-scales the sums kept so far; an all-zero first batch
    leaves the scale to the next one; a far smaller batch adds what float64 can hold of it.  The
    sums equal an extended-precision computation to ~1e-13 of the sum of their terms' magnitudes."""
    rng = np.random.default_rng(11)
    weight, bias = rng.normal(size=(3, 4)), rng.normal(size=3)
    batches = [rng.normal(size=(7, 4)) * first + 0.3 * first, rng.normal(size=(9, 4)) * second]
    stats = LayerStatistics(rp.Dense(weight, bias), 0, 0, second_moment=True)
    for x in batches:
        z = x @ weight.T + bias
        stats.accumulate(x, z, backend)
    assert stats.scale == scale_for(max(abs(first), abs(second)) * np.abs(batches[1] / second).max())
    want, magnitude = long_double_sums(stats, batches, weight, bias)
    for name, value in want.items():
        error = np.abs(getattr(stats, name) - value) / np.maximum(magnitude[name], np.finfo(float).tiny)
        assert float(error.max()) < 1e-13, (name, float(error.max()))
    assert stats.n == 16 and np.all(np.isfinite(stats.products))


def test_an_all_zero_first_batch_leaves_the_scale_to_the_next(setting):
    net, x = setting
    free, a, b = bias_free(net), x[:16], x[16:]
    reference = rp.fit_patterns(free, [np.zeros_like(a), b])
    for s in (1e-250, 1e250):
        patterns = rp.fit_patterns(free, [np.zeros_like(a), b * s])
        for k in range(len(patterns)):
            for field in ("a_plus", "a_minus"):
                assert_scaled(np.asarray(getattr(patterns[k], field)), getattr(reference[k], field), f"layer {k}")


def test_merging_statistics_of_different_scales_equals_one_stream(setting):
    """Two shards whose scales differ (2^112 vs 2^114: both far from 1, both matter) merge into the
    statistics of the stream of both."""
    net, x = setting
    free = bias_free(net)
    a, b = x[:20] * 2.0 ** 110, x[20:] * 2.0 ** 112
    first, second = fit_statistics(free, b, second_moment=True), fit_statistics(free, a, second_moment=True)
    assert all(f.scale > s.scale > 1.0 for f, s in zip(first, second))
    merged = first.merge(second)
    stream = fit_statistics(free, [b, a], second_moment=True)
    for got, want in zip(merged, stream):
        assert got.scale == want.scale and got.n == want.n
        np.testing.assert_array_equal(got.n_plus, want.n_plus)
        for name in ("sum_x", "products", "output_sums", "sum_xx"):
            value = getattr(want, name)
            np.testing.assert_allclose(getattr(got, name), value, rtol=1e-9, atol=1e-9 * np.abs(value).max())
    left, right = patterns_from_statistics(free, merged), patterns_from_statistics(free, stream)
    for k in range(len(left)):
        assert_scaled(np.asarray(left[k].a_plus), right[k].a_plus, f"merged layer {k}")
    assert np.allclose(rp.rho(free, [b, a], right), rp.rho(free, np.concatenate([b, a]), left), atol=1e-9)


def test_merge_refuses_statistics_that_keep_different_sums(setting):
    net, x = setting
    with_xx, without = fit_statistics(net, x[:8], second_moment=True), fit_statistics(net, x[8:16])
    for a, b in ((with_xx, without), (without, with_xx)):
        with pytest.raises(ValueError, match=r"kernel layer 0 statistics keep different sums: .*second_moment.*"
                                             r"would drop sum_xx"):
            a.merge(b)


def test_merge_says_what_differs(setting):
    net, x = setting
    conv = net.layers[0]
    first = rp.Sequential([conv], input_shape=net.input_shape)
    other_stride = rp.Sequential([rp.Conv2D(conv.weight, conv.bias, stride=1, padding=1)], input_shape=net.input_shape)
    with pytest.raises(ValueError, match=r"different layers .*: stride \(2, 2\) vs \(1, 1\) differ"):
        fit_statistics(first, x[:8]).merge(fit_statistics(other_stride, x[:8]))
    other_weights = net.with_layers([conv.with_parameters(conv.weight * 2, conv.bias)] + list(net.layers[1:]))
    stats = fit_statistics(net, x[:8])
    with pytest.raises(ValueError, match=r"different layers .*: weights \(largest difference [0-9.e+-]+\) differ"):
        stats.merge(fit_statistics(other_weights, x[:8]))
    with pytest.raises(ValueError, match=r"do not belong to .*: weights \(largest difference"):
        patterns_from_statistics(other_weights, stats)


def test_patterns_and_rho_are_never_nan_even_with_huge_weights():
    """y = wᵀx overflows once squared (|w| = 1e160 on unit data): a clear error, not NaN patterns."""
    net = rp.Sequential([rp.Dense(np.random.default_rng(1).normal(size=(2, 3)) * 1e160)], input_shape=(3,))
    x = np.random.default_rng(2).normal(size=(30, 3))
    with pytest.raises(ValueError, match=r"kernel layer 0 .*overflowed float64 .*rescale the weights"):
        rp.fit_patterns(net, x, "a")
    with pytest.raises(ValueError, match=r"kernel layer 0 .*overflowed float64"):
        rp.rho(net, x, "a+-")
