"""Every LRP rule against an independent dense-matrix re-implementation (tests/dense_reference.py),
and the layer-wise conservation of LRP-z and LRP-ε with what bias and ε absorb, accounted exactly."""

import dense_reference as ref
import numpy as np
import pytest
from conftest import CNN_PADDINGS, random_cnn

import refpattern as rp
from refpattern.methods.backprop import start_signal

CASES = {
    "lrp.z": ({}, lambda a, W, b, R: ref.rule_epsilon(a, W, b, R, 0.0), None),
    "lrp.epsilon": ({"epsilon": 0.25}, lambda a, W, b, R: ref.rule_epsilon(a, W, b, R, 0.25), None),
    "lrp.alpha_beta": ({"alpha": 2.0, "beta": 1.0, "bias": True, "stabilizer": 1e-6},
                       lambda a, W, b, R: ref.rule_alpha_beta(a, W, b, R, 2, 1, True, 1e-6), None),
    "lrp.alpha_1_beta_0": ({}, lambda a, W, b, R: ref.rule_alpha_beta(a, W, b, R, 1, 0, True, 1e-6), None),
    "lrp.z_plus": ({}, lambda a, W, b, R: ref.rule_alpha_beta(a, W, b, R, 1, 0, False, 1e-6), None),
    "lrp.w_square": ({"stabilizer": 1e-3}, lambda a, W, b, R: ref.rule_w_square(a, W, R, 1e-3), None),
}


def _relative_error(a, b):
    """``max|a − b| / max|b|``; ``max|a|`` where ``b`` is all zero (a sample whose units are all dead)."""
    scale = np.max(np.abs(b))
    return np.max(np.abs(a - b)) / scale if scale > 0 else np.max(np.abs(a))


@pytest.mark.parametrize("paddings", CNN_PADDINGS.values(), ids=CNN_PADDINGS.keys())
@pytest.mark.parametrize("method", sorted(CASES))
def test_rule_matches_dense_matrix_reimplementation(method, paddings):
    """Symmetric, asymmetric ((top, bottom), (left, right)) and "same" padding: the dense matrices hold no
    column for the padding, so nothing is sent there and every rule renormalises over existing inputs."""
    padding, shape = paddings
    net = random_cnn(seed=11, paddings=padding, input_shape=shape)
    x = np.random.default_rng(2).normal(size=(3,) + shape)
    options, rule, _ = CASES[method]
    ours = rp.explain(net, x, method, **options)
    targets = np.argmax(net.logits(x), axis=1)
    errors = [_relative_error(ours[n], ref.lrp_dense(net, x[n], targets[n], rule)) for n in range(x.shape[0])]
    print(f"{method}: max relative error vs dense-matrix re-implementation {max(errors):.2e}")
    assert max(errors) <= 1e-12


def test_zb_with_gamma_above_takes_the_given_gamma():
    """lrp.zb with rest="lrp.gamma" refused gamma= as an unknown option, so γ stayed at its default above the
    first layer; now z^B below and LRP-γ with the given γ above match the dense re-implementation."""
    net = random_cnn(seed=12, paddings=CNN_PADDINGS["symmetric"][0], input_shape=CNN_PADDINGS["symmetric"][1])
    shape = CNN_PADDINGS["symmetric"][1]
    x = np.random.default_rng(4).uniform(0.0, 1.0, size=(2,) + shape)
    ours = rp.explain(net, x, "lrp.zb", low=0.0, high=1.0, rest="lrp.gamma", gamma=0.5, stabilizer=1e-6)
    low, high = np.zeros(x[0].size), np.ones(x[0].size)

    def zb(a, W, b, R):
        return ref.rule_zb(a, W, R, low, high, 1e-6)

    def gamma(a, W, b, R):
        return ref.rule_gamma(a, W, b, R, 0.5, 1e-6)

    targets = np.argmax(net.logits(x), axis=1)
    for n in range(2):
        assert _relative_error(ours[n], ref.lrp_dense(net, x[n], targets[n], gamma, first_rule=zb)) <= 1e-12

@pytest.mark.parametrize("paddings", CNN_PADDINGS.values(), ids=CNN_PADDINGS.keys())
def test_zb_and_deep_taylor_match_dense_reimplementation(paddings):
    padding, shape = paddings
    net = random_cnn(seed=12, paddings=padding, input_shape=shape)
    rng = np.random.default_rng(3)
    low, high = -rng.uniform(1, 2, size=shape), rng.uniform(1, 2, size=shape)
    x = np.clip(rng.normal(size=(2,) + shape), low, high)

    def zb(a, W, b, R):
        return ref.rule_zb(a, W, R, low.ravel(), high.ravel(), 1e-6)

    def eps(a, W, b, R):
        return ref.rule_epsilon(a, W, b, R, 1e-2)

    ours = rp.explain(net, x, "lrp.zb", low=low, high=high, epsilon=1e-2)

    def zplus(a, W, b, R):
        return ref.rule_alpha_beta(a, W, b, R, 1, 0, False, 1e-6)

    def w2(a, W, b, R):
        return ref.rule_w_square(a, W, R, 1e-6)

    dt_bounded = rp.explain(net, x, "deep_taylor", low=low, high=high)
    dt_w2 = rp.explain(net, x, "deep_taylor")
    targets = np.argmax(net.logits(x), axis=1)
    for n in range(2):
        assert _relative_error(ours[n], ref.lrp_dense(net, x[n], targets[n], eps, first_rule=zb)) <= 1e-12
        assert _relative_error(dt_bounded[n], ref.lrp_dense(net, x[n], targets[n], zplus, first_rule=zb)) <= 1e-12
        assert _relative_error(dt_w2[n], ref.lrp_dense(net, x[n], targets[n], zplus, first_rule=w2)) <= 1e-12


@pytest.mark.parametrize("paddings", CNN_PADDINGS.values(), ids=CNN_PADDINGS.keys())
@pytest.mark.parametrize("epsilon", [0.0, 0.3])
def test_conservation_layer_by_layer(epsilon, paddings):
    """Σ_i R_i = Σ_j R_j·(z_j − b_j)/(z_j + ε sgn z_j) at every kernel layer (0 where z_j = 0 for LRP-z);
    ReLU, max-pool and flatten conserve exactly; with asymmetric and "same" padding too (zero padding
    contributes nothing to z_j)."""
    padding, shape = paddings
    net = random_cnn(seed=21, bias=0.5, paddings=padding, input_shape=shape)
    x = np.random.default_rng(4).normal(size=(4,) + shape)
    activations = net.trace(x)
    composite = rp.Composite(kernel=rp.methods.EpsilonRule(epsilon), relu=rp.methods.PassReLU(), start="logit")
    targets = np.argmax(activations[-1], axis=1)
    R = start_signal(activations[-1], targets, "logit")
    np.testing.assert_allclose(R.sum(axis=1), activations[-1][np.arange(4), targets], rtol=1e-15)
    layers = net.logit_layers
    for index in range(len(layers) - 1, -1, -1):
        layer, a = layers[index], activations[index]
        R_in = composite.rule_for(index, layer, net).backward(layer, a, activations[index + 1], R)
        axes = tuple(range(1, R.ndim))
        if layer.is_kernel:
            z = layer.forward(a)
            bias = layer.bias[None, :, None, None] if z.ndim == 4 else layer.bias[None, :]
            denominator = z + epsilon * np.where(z >= 0, 1.0, -1.0)
            kept = np.where(denominator != 0, R * (z - bias) / np.where(denominator != 0, denominator, 1), 0.0)
            expected = kept.sum(axis=axes)
        else:
            expected = R.sum(axis=axes)
        got = R_in.sum(axis=tuple(range(1, R_in.ndim)))
        np.testing.assert_allclose(got, expected, rtol=1e-11, atol=1e-13 * np.abs(R).sum())
        R = R_in


def test_lrp_z_equals_input_times_gradient_without_bias():
    """For a bias-free ReLU net, LRP-z = gradient × input (docs/math.md#pattern-equivalences, S_x)."""
    net = random_cnn(seed=5, bias=0)
    x = np.random.default_rng(8).normal(size=(3, 2, 9, 9))
    np.testing.assert_allclose(rp.explain(net, x, "lrp.z"), rp.explain(net, x, "input_x_gradient"),
                               rtol=1e-10, atol=1e-13)


def test_alpha_beta_rejects_invalid_parameters():
    net = random_cnn()
    x = np.zeros((1, 2, 9, 9))
    with pytest.raises(ValueError, match="alpha - beta = 1"):
        rp.explain(net, x, "lrp.alpha_beta", alpha=2.0, beta=0.5)


def test_stabilizer_sign_convention():
    """z + s·sgn(z) with sgn(0) = +1; s = 0 divides exactly and maps 0/0 to 0."""
    from refpattern.methods import stabilized_divide
    z = np.array([-2.0, 0.0, 3.0])
    np.testing.assert_array_equal(stabilized_divide(np.ones(3), z, 0.5), 1 / np.array([-2.5, 0.5, 3.5]))
    np.testing.assert_array_equal(stabilized_divide(np.ones(3), z, 0.0), np.array([-0.5, 0.0, 1 / 3]))
    # +0.0 and −0.0 are both 0: sgn = +1 for each, on the one-buffer path (float64 arrays of one shape)
    # and on the general one (here a broadcast numerator)
    z = np.array([0.0, -0.0, -1.0])
    want = np.array([2.0, 2.0, 1 / -1.5])
    np.testing.assert_array_equal(stabilized_divide(np.ones(3), z, 0.5), want)
    np.testing.assert_array_equal(stabilized_divide(np.ones((2, 3)), z, 0.5), np.stack([want, want]))


FLAT_AND_GAMMA = {
    "lrp.flat": ({"stabilizer": 1e-3}, lambda a, W, b, R: ref.rule_flat(a, W, R, 1e-3)),
    "lrp.gamma": ({"gamma": 0.25, "stabilizer": 1e-6}, lambda a, W, b, R: ref.rule_gamma(a, W, b, R, 0.25, 1e-6)),
    "lrp.gamma (γ = 1.5, s = 0)": ({"gamma": 1.5, "stabilizer": 0.0},
                                   lambda a, W, b, R: ref.rule_gamma(a, W, b, R, 1.5, 0.0)),
}


@pytest.mark.parametrize("case", sorted(FLAT_AND_GAMMA))
def test_flat_and_gamma_match_dense_matrix_reimplementation(case):
    """Flat (Lapuschkin et al., 2019) and zennit's generalised γ-rule against their definitions written
    neuron by neuron on dense matrices (padding excluded from the flat rule's count)."""
    net = random_cnn(seed=13, bias=0.4)
    x = np.random.default_rng(5).normal(size=(3, 2, 9, 9))
    options, rule = FLAT_AND_GAMMA[case]
    ours = rp.explain(net, x, case.split(" ")[0], **options)
    targets = np.argmax(net.logits(x), axis=1)
    errors = [_relative_error(ours[n], ref.lrp_dense(net, x[n], targets[n], rule)) for n in range(x.shape[0])]
    print(f"{case}: max relative error vs dense-matrix re-implementation {max(errors):.2e}")
    assert max(errors) <= 1e-12


def test_flat_rule_on_a_dense_layer_spreads_relevance_evenly():
    """Dense, s = 0: every input gets Σ_j R_j / n_in, whatever x and w."""
    rng = np.random.default_rng(6)
    layer = rp.Dense(rng.normal(size=(3, 5)), rng.normal(size=3))
    x = rng.normal(size=(2, 5))
    upstream = rng.normal(size=(2, 3))
    got = rp.methods.FlatRule(0.0).backward(layer, x, layer.forward(x), upstream)
    np.testing.assert_allclose(got, np.repeat(upstream.sum(axis=1, keepdims=True) / 5, 5, axis=1), rtol=1e-15)


def test_gamma_rule_is_montavons_rule_on_nonnegative_inputs_and_epsilon_at_gamma_zero():
    """For x ≥ 0 and z_j > 0 zennit's generalised γ-rule is a_i(w + γw⁺)_ij / (Σ_i a_i(w + γw⁺)_ij + b + γb⁺)
    (Montavon et al., 2019); with γ = 0 it is LRP-ε with ε = s wherever z_j ≠ 0."""
    rng = np.random.default_rng(7)
    layer = rp.Dense(rng.normal(size=(4, 6)), rng.normal(size=4))
    x = np.abs(rng.normal(size=(3, 6)))
    z = layer.forward(x)
    upstream = rng.normal(size=(3, 4)) * (z > 0)
    gamma = 0.5
    w = np.array(layer.weight)
    w_up = w + gamma * np.maximum(w, 0)
    b_up = layer.bias + gamma * np.maximum(layer.bias, 0)
    expected = np.stack([(x[n][None, :] * w_up * (upstream[n] / (x[n] @ w_up.T + b_up))[:, None]).sum(axis=0)
                         for n in range(3)])
    got = rp.methods.GammaRule(gamma, stabilizer=0.0).backward(layer, x, z, upstream)
    np.testing.assert_allclose(got, expected, rtol=1e-13)
    x_any = rng.normal(size=(3, 6))
    z_any = layer.forward(x_any)
    upstream_any = rng.normal(size=(3, 4))
    np.testing.assert_allclose(rp.methods.GammaRule(0.0, 1e-3).backward(layer, x_any, z_any, upstream_any),
                               rp.methods.EpsilonRule(1e-3).backward(layer, x_any, z_any, upstream_any), rtol=1e-13)


def test_flat_and_gamma_refuse_bad_parameters():
    with pytest.raises(ValueError, match="lrp.gamma: gamma must be finite and >= 0"):
        rp.methods.GammaRule(-0.1)
    with pytest.raises(TypeError, match="lrp.gamma: gamma must be a number"):
        rp.methods.GammaRule("0.25")
    with pytest.raises(ValueError, match="lrp.flat: stabilizer must be finite"):
        rp.methods.FlatRule(float("nan"))
