"""An adversarial audit of ``refpattern.explain``: degenerate networks, unusual targets, user-made
composites and options.  Each test pins a defect that was found: the exact error type and a message
that names the argument (or layer), or the correct value against an independent computation."""

import numpy as np
import pytest

import refpattern as rp
from refpattern.methods import (
    AlphaBetaRule,
    Composite,
    EpsilonRule,
    GatedPatternRule,
    GatedReLU,
    PassReLU,
    Rule,
    ZBRule,
)


def small_cnn(seed=0):
    rng = np.random.default_rng(seed)
    return rp.Sequential([rp.Conv2D.he(1, 2, 3, rng, padding=1, bias=0.1), rp.ReLU(), rp.MaxPool2D(2), rp.Flatten(),
                          rp.Dense.he(2 * 2 * 2, 3, rng, bias=0.05)], input_shape=(1, 4, 4))


@pytest.fixture
def net():
    return small_cnn()


@pytest.fixture
def x():
    return np.random.default_rng(1).normal(size=(3, 1, 4, 4))


# --- targets ------------------------------------------------------------------------------------

def test_masked_target_entries_are_refused(net, x):
    """A masked class was used with the value under the mask."""
    with pytest.raises(ValueError, match=r"target: a masked array with 1 masked entr"):
        rp.explain(net, x, "gradient", target=np.ma.array([0, 1, 2], mask=[0, 1, 0]))


def test_unmasked_masked_target_is_read_as_its_values(net, x):
    got = rp.explain(net, x, "gradient", target=np.ma.array([0, 1, 2]))
    np.testing.assert_array_equal(got, rp.explain(net, x, "gradient", target=np.array([0, 1, 2])))


def test_unsigned_target_above_int64_is_named_as_given(net, x):
    """A uint64 class 2^63 was reported as the class -9223372036854775808 (wrapped by a cast)."""
    with pytest.raises(ValueError, match=r"target: class 9223372036854775808 is out of range for 3 logits"):
        rp.explain(net, x, "gradient", target=np.array([0, 1, 2 ** 63], dtype=np.uint64))


def test_network_without_a_row_of_logits_is_refused():
    """A network ending in a Conv2D failed with Python's 'too many values to unpack'."""
    conv_only = rp.Sequential([rp.Conv2D(np.ones((2, 1, 3, 3)))])
    with pytest.raises(ValueError, match=r"logits\) must have shape \(N, classes\).*got shape \(1, 2, 2, 2\)"):
        rp.explain(conv_only, np.ones((1, 1, 4, 4)), "lrp.epsilon")


# --- composites and rules of your own -----------------------------------------------------------


@pytest.mark.parametrize("composite, where", [
    (lambda: Composite(relu=EpsilonRule()), r"layer 1 \(ReLU\(\)\) gets EpsilonRule, a rule for a Dense or Conv2D"),
    (lambda: Composite(layer_rules={2: EpsilonRule()}), r"layer 2 \(MaxPool2D.*gets EpsilonRule"),
    (lambda: Composite(kernel=PassReLU()), r"layer 0 \(Conv2D.*gets PassReLU, a rule for a ReLU layer"),
    (lambda: Composite(layer_rules={3: GatedReLU()}), r"layer 3 \(Flatten\(\)\) gets GatedReLU"),
])
def test_a_builtin_rule_on_the_wrong_kind_of_layer_is_refused(net, x, composite, where):
    """A kernel rule on a ReLU or max-pooling layer failed with AttributeError ('linear_transpose'); a ReLU
    rule on another layer with NumPy's broadcast/reshape wording (and the Numba kernel read past its input)."""
    with pytest.raises(ValueError, match=where):
        rp.explain(net, x, composite())


@pytest.mark.parametrize("layer_rules, error, message", [
    ({-1: EpsilonRule()}, ValueError, r"layer_rules keys .* got -1"),
    ({"0": EpsilonRule()}, TypeError, r"layer_rules keys .* got '0' \(str\)"),
    ({True: EpsilonRule()}, TypeError, r"layer_rules keys .* got True \(bool\)"),
    ([EpsilonRule()], TypeError, r"layer_rules must be a dict"),
    (None, TypeError, r"layer_rules must be a dict"),
])
def test_layer_rules_keys_are_positions(layer_rules, error, message):
    """Keys -1 and '0' were silently never used, True was used as position 1, a list failed with AttributeError."""
    with pytest.raises(error, match=message):
        Composite(layer_rules=layer_rules)


def test_layer_rules_past_the_logits_are_refused(x):
    """A position past the last layer, or the position of a final Softmax, was silently never used."""
    layers = small_cnn().layers + (rp.Softmax(),)
    with_softmax = rp.Sequential(layers, input_shape=(1, 4, 4))
    for index in (5, 99):
        with pytest.raises(ValueError, match=rf"layer_rules\[{index}\] is not a layer .* has 5 layers up to"):
            rp.explain(with_softmax, x, Composite(layer_rules={index: EpsilonRule()}))


@pytest.mark.parametrize("where", ["kernel", "relu"])
def test_a_missing_kernel_or_relu_rule_is_refused(where):
    """Composite(kernel=None) was accepted and failed in the backward pass with AttributeError."""
    with pytest.raises(TypeError, match=rf"Composite: {where} must be a refpattern.methods.Rule"):
        Composite(**{where: None})


class ReturnsWhat(Rule):
    """A rule of one's own that returns ``make(the gradient step)``."""

    def __init__(self, make):
        self.make = make

    def backward(self, layer, x, output, upstream, backend=None):
        return self.make(layer.linear_transpose(upstream, layer.weight, x.shape, backend))


@pytest.mark.parametrize("make, got", [
    (lambda g: g.tolist(), "returned list"),
    (lambda g: g.astype(np.float32), "dtype float32"),
    (lambda g: g.astype(np.int64), "dtype int64"),
    (lambda g: g.reshape(len(g), -1)[:, :3], r"shape \(3, 3\)"),
])
def test_a_rule_result_that_is_not_a_float64_array_shaped_like_the_input_is_refused(net, x, make, got):
    """A list failed with AttributeError; a float32, int or wrongly shaped result at the first layer was
    returned as the explanation."""
    composite = Composite(first_kernel=ReturnsWhat(make))
    with pytest.raises(TypeError, match=rf"rule ReturnsWhat at layer 0 \(Conv2D.*{got}.*float64 numpy.ndarray shaped"):
        rp.explain(net, x, composite)


def test_a_rule_of_ones_own_that_returns_the_gradient_step_gives_the_gradient(net, x):
    composite = Composite(kernel=ReturnsWhat(lambda g: g))
    np.testing.assert_array_equal(rp.explain(net, x, composite), rp.explain(net, x, "gradient"))


# --- rule objects built directly ----------------------------------------------------------------


@pytest.mark.parametrize("alpha, beta, error, message", [
    ("2", 1, TypeError, r"lrp.alpha_beta alpha: expected a real number .* got '2' \(str\)"),
    (True, False, TypeError, r"lrp.alpha_beta alpha: .* got True \(bool\)"),
    (np.array([2.0]), 1, TypeError, r"lrp.alpha_beta alpha: .* got array"),
    (2, None, TypeError, r"lrp.alpha_beta beta: .* got None"),
    (0.5, -0.5, ValueError, r"lrp.alpha_beta alpha: expected a finite number in \[1, inf\), got 0.5"),
    (2, 0.5, ValueError, r"alpha - beta = 1"),
])
def test_alpha_beta_rule_checks_its_arguments_by_name(alpha, beta, error, message):
    """AlphaBetaRule("2", 1) and AlphaBetaRule(True, False) were accepted as numbers; an array or None
    failed with float()'s wording."""
    with pytest.raises(error, match=message):
        AlphaBetaRule(alpha, beta)


@pytest.mark.parametrize("low, error, message", [
    ("a", TypeError, r"lrp.zb low: expected a real numeric array, got dtype <U1"),
    (False, TypeError, r"lrp.zb low: expected a real numeric array, got dtype bool"),
    (np.ma.array([0.0], mask=[True]), TypeError, r"lrp.zb low: a masked array is refused"),
    (np.nan, ValueError, r"lrp.zb low: contains NaN or inf"),
])
def test_zb_rule_checks_its_bounds_by_name(low, error, message):
    """ZBRule("a", 1) failed with 'could not convert string to float'; False was the bound 0; a masked
    bound lost its mask."""
    with pytest.raises(error, match=message):
        ZBRule(low, 1.0)


def test_gated_pattern_rule_checks_its_patterns_by_name():
    with pytest.raises(TypeError, match=r"mine: open-gate pattern: expected a real numeric array"):
        GatedPatternRule("a", np.zeros((2, 2)), "mine")
    with pytest.raises(TypeError, match=r"mine: closed-gate pattern: a masked array is refused"):
        GatedPatternRule(np.zeros((2, 2)), np.ma.array(np.zeros((2, 2)), mask=True), "mine")


# --- lrp.zb's rest ----------------------------------------------------------------------------------

@pytest.mark.parametrize("options, message", [
    (dict(alpha=2.0, beta=1.0), r"lrp.zb: option alpha=2.0 is not used by rest='lrp.epsilon', which takes epsilon"),
    (dict(bias=False), r"option bias=False is not used by rest='lrp.epsilon'"),
    (dict(rest="lrp.alpha_beta", epsilon=0.1), r"option epsilon=0.1 is not used by rest='lrp.alpha_beta'"),
    (dict(rest="lrp.z", epsilon=0.1), r"option epsilon=0.1 is not used by rest='lrp.z', which takes no options"),
    (dict(gamma=0.5), r"option gamma=0.5 is not used by rest='lrp.epsilon', which takes epsilon"),
])
def test_zb_options_that_its_rest_rule_never_reads_are_refused(net, x, options, message):
    """lrp.zb with alpha=2, beta=1 silently ran LRP-ε above the first layer (rest defaults to lrp.epsilon)."""
    with pytest.raises(ValueError, match=message):
        rp.explain(net, x, "lrp.zb", low=-3.0, high=3.0, **options)


def test_zb_with_alpha_beta_above_is_alpha_beta_above(net, x):
    """The options reach the rule above when rest takes them: z^B below, αβ(2, 1) above, as a Composite."""
    got = rp.explain(net, x, "lrp.zb", low=-3.0, high=3.0, rest="lrp.alpha_beta", alpha=2.0, beta=1.0)
    composite = Composite(kernel=AlphaBetaRule(2.0, 1.0), first_kernel=ZBRule(-3.0, 3.0), relu=PassReLU(),
                          start="logit")
    np.testing.assert_array_equal(got, rp.explain(net, x, composite))


@pytest.mark.parametrize("rest", [None, 1, ["lrp.epsilon"]])
def test_zb_rest_of_another_type_is_named(net, x, rest):
    """rest=None failed with 'method: expected a method name', naming no option."""
    with pytest.raises(TypeError, match=r"lrp.zb option rest: expected the name of an LRP rule"):
        rp.explain(net, x, "lrp.zb", low=-3.0, high=3.0, rest=rest)


# --- Integrated Gradients and SmoothGrad options ---------------------------------------------------

@pytest.mark.parametrize("masked", ["alphas", "weights"])
def test_masked_ig_nodes_or_weights_are_refused(net, x, masked):
    """A masked node or weight was used with the value under its mask (the baseline already refused masks)."""
    options = {"alphas": [0.5, 1.0], "weights": [0.5, 0.5]}
    options[masked] = np.ma.array(options[masked], mask=[False, True])
    with pytest.raises(TypeError, match=rf"integrated_gradients option {masked}: a masked array is refused"):
        rp.explain(net, x, "integrated_gradients", **options)


def test_unsigned_per_sample_seeds_above_int64_draw_their_documented_noise(net, x):
    """uint64 seeds >= 2^63 failed with NumPy's 'expected non-negative integer' after an int64 cast.
    The noise is ε[:, n] = default_rng([SMOOTHGRAD_TAG, seed[n]]).standard_normal, scaled by
    σ = noise_level·(max x − min x) (docs/conventions.md#smoothgrad)."""
    from refpattern.methods.smoothgrad import SMOOTHGRAD_TAG

    seeds = np.array([2 ** 63, 2 ** 64 - 1, 7], dtype=np.uint64)
    sigma = 0.15 * (x.max(axis=(1, 2, 3)) - x.min(axis=(1, 2, 3)))
    noise = np.stack([sigma[n] * np.random.default_rng([SMOOTHGRAD_TAG, int(s)]).standard_normal((2, 1, 4, 4))
                      for n, s in enumerate(seeds)], axis=1)
    expected = rp.explain(net, x, "smoothgrad", noise=noise)
    np.testing.assert_array_equal(rp.explain(net, x, "smoothgrad", seed=seeds, samples=2), expected)


def test_gamma_and_the_stabilizer_take_any_real_number_as_epsilon_does():
    from fractions import Fraction

    net = rp.Sequential([rp.Dense(np.eye(3)), rp.ReLU(), rp.Dense(np.ones((2, 3)))], input_shape=(3,))
    x = np.array([[1.0, 2.0, 3.0]])
    # before: Fraction(1, 4) was refused for gamma ("must be a number") while epsilon took it
    as_fraction = rp.explain(net, x, "lrp.gamma", gamma=Fraction(1, 4), stabilizer=Fraction(1, 2 ** 20))
    np.testing.assert_array_equal(as_fraction, rp.explain(net, x, "lrp.gamma", gamma=0.25, stabilizer=2.0 ** -20))
    with pytest.raises(TypeError, match="lrp.gamma: gamma must be a number"):
        rp.explain(net, x, "lrp.gamma", gamma=1j)
