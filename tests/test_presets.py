"""zennit's named composites as refpattern presets: which rule each layer gets (the rules' math is
tested against dense matrices in tests/test_lrp_rules.py), and the Composite lookup by layer type."""

import numpy as np
import pytest
from conftest import random_cnn

import refpattern as rp
from refpattern.methods import (
    AlphaBetaRule,
    Composite,
    EpsilonRule,
    FlatRule,
    GammaRule,
    PassReLU,
    ZBRule,
    presets,
)


def _by_index(net, conv_rule, dense_rule, first=None):
    """The same composite written out layer by layer (position → rule)."""
    rules = {index: (conv_rule if isinstance(net.layers[index], rp.Conv2D) else dense_rule)
             for index in net.kernel_indices}
    if first is not None:
        rules[first[0]] = first[1]
    return Composite(layer_rules=rules, relu=PassReLU(), start="logit")


@pytest.fixture
def case():
    net = random_cnn(seed=31, bias=0.3)
    x = np.random.default_rng(3).normal(size=(3, 2, 9, 9))
    return net, x


def test_epsilon_plus_and_alpha2_beta1_put_their_rule_on_each_layer_type(case):
    net, x = case
    np.testing.assert_array_equal(
        rp.explain(net, x, "zennit.epsilon_plus", epsilon=1e-3),
        rp.explain(net, x, _by_index(net, AlphaBetaRule(1, 0, bias=True), EpsilonRule(1e-3))))
    np.testing.assert_array_equal(
        rp.explain(net, x, "zennit.epsilon_alpha2_beta1"),
        rp.explain(net, x, _by_index(net, AlphaBetaRule(2, 1, bias=True), EpsilonRule(1e-6))))


def test_flat_presets_put_the_flat_rule_on_the_first_kernel_layer(case):
    net, x = case
    first = (net.kernel_indices[0], FlatRule())
    np.testing.assert_array_equal(
        rp.explain(net, x, "zennit.epsilon_plus_flat"),
        rp.explain(net, x, _by_index(net, AlphaBetaRule(1, 0), EpsilonRule(1e-6), first)))
    np.testing.assert_array_equal(
        rp.explain(net, x, "zennit.epsilon_alpha2_beta1_flat"),
        rp.explain(net, x, _by_index(net, AlphaBetaRule(2, 1), EpsilonRule(1e-6), first)))
    # an MLP's first kernel layer is a Dense: zennit's first_map (type Linear) covers it too
    mlp = rp.Sequential([rp.Dense(np.eye(3) - 0.2), rp.ReLU(), rp.Dense(np.ones((2, 3)))])
    composite = presets.epsilon_plus_flat()
    assert isinstance(composite.rule_for(0, mlp.layers[0], mlp), FlatRule)


def test_epsilon_gamma_box_puts_zb_on_the_first_convolution_only(case):
    net, x = case
    low, high = -3.0, 3.0
    first = (net.kernel_indices[0], ZBRule(low, high))
    np.testing.assert_array_equal(
        rp.explain(net, x, "zennit.epsilon_gamma_box", low=low, high=high, gamma=0.5),
        rp.explain(net, x, _by_index(net, GammaRule(0.5), EpsilonRule(1e-6), first)))
    # without a convolution there is no z^B at all (zennit's first_map matches convolutions only)
    mlp = rp.Sequential([rp.Dense(np.eye(3) - 0.2, [0.1, -0.2, 0.3]), rp.ReLU(), rp.Dense(np.ones((2, 3)))])
    x_flat = np.random.default_rng(4).normal(size=(2, 3))
    np.testing.assert_array_equal(rp.explain(mlp, x_flat, "zennit.epsilon_gamma_box", low=-1, high=1),
                                  rp.explain(mlp, x_flat, "lrp.epsilon"))
    with pytest.raises(ValueError, match="needs low= and high="):
        rp.explain(net, x, "zennit.epsilon_gamma_box")


def test_composite_lookup_order(case):
    """layer_rules, then first_kernel, then first_conv, then dense/conv, then kernel."""
    net, _ = case
    marker = {name: EpsilonRule(float(k)) for k, name in enumerate(
        ["kernel", "dense", "conv", "first_conv", "first_kernel", "override"])}
    conv1, conv2, dense1, dense2 = net.kernel_indices
    composite = Composite(kernel=marker["kernel"], dense=marker["dense"], conv=marker["conv"],
                          first_conv=marker["first_conv"], layer_rules={dense2: marker["override"]})
    assert [composite.rule_for(i, net.layers[i], net) for i in net.kernel_indices] == [
        marker["first_conv"], marker["conv"], marker["dense"], marker["override"]]
    composite.first_kernel = marker["first_kernel"]
    assert composite.rule_for(conv1, net.layers[conv1], net) is marker["first_kernel"]
    assert Composite(kernel=marker["kernel"]).rule_for(dense1, net.layers[dense1], net) is marker["kernel"]
    with pytest.raises(TypeError, match="Composite: conv must be a refpattern.methods.Rule"):
        Composite(conv="z+")
