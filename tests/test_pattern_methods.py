"""PatternNet and PatternAttribution with fitted patterns: identities with other methods.

- One linear layer, S_a: PatternNet returns the signal ``a_t·y_t``; PatternAttribution
  ``w_t ⊙ a_t · y_t`` sums to ``y_t`` because ``wᵀa = 1``.
- S_w (``a = w/(wᵀw)``): PatternAttribution's weights are ``w ⊙ a = w²/Σw²``, the w²-rule
  (Montavon et al., 2017) — but with the forward ReLU gate: LRP's w²-rule passes relevance
  through ReLUs unchanged (also through dead ones), PatternAttribution gates them.  So on a
  ReLU CNN it equals ``Composite(kernel=WSquareRule(0), relu=GatedReLU(), start="logit")``
  when no convolution has padding; with zero padding the w²-rule renormalises over the inputs
  that exist (``Σ_i`` skips the padding) while ``S_w`` always divides by the full ``wᵀw``, so
  the two differ on border pixels.
- S_x: PatternAttribution ``x_i w_ij R_j / y_j`` is LRP-z on a zero-bias ReLU network.
"""

import numpy as np
import pytest

from refpattern import Composite, Conv2D, Dense, Flatten, MaxPool2D, ReLU, Sequential, explain
from refpattern.methods import GatedReLU, WSquareRule
from refpattern.patterns import fit_patterns


def relu_cnn(rng, padding=0, bias=True):
    def b(n):
        return rng.normal(0, 0.2, n) if bias else np.zeros(n)

    return Sequential([
        Conv2D(rng.normal(0, 0.5, (3, 2, 3, 3)), b(3), padding=padding),
        ReLU(),
        Conv2D(rng.normal(0, 0.4, (4, 3, 3, 3)), b(4), stride=2, padding=padding),
        ReLU(),
        MaxPool2D(2),
        Flatten(),
        Dense(rng.normal(0, 0.5, (5, 4 * (2 if padding else 1) ** 2)), b(5)),
        ReLU(),
        Dense(rng.normal(0, 0.5, (3, 5)), b(3)),
    ], input_shape=(2, 10, 10))


def relative_error(a, b):
    return np.max(np.abs(a - b)) / np.max(np.abs(b))


@pytest.mark.parametrize("bias", [0.0, 0.7])
def test_linear_model_pattern_net_is_the_signal_and_attribution_sums_to_the_logit(bias):
    rng = np.random.default_rng(41)
    w = rng.normal(size=(3, 4))
    net = Sequential([Dense(w, np.full(3, bias))])
    x = rng.normal(size=(200, 4)) @ rng.normal(size=(4, 4))
    patterns = fit_patterns(net, x, "a")
    a = patterns[0].a
    logits = net.logits(x[:20])
    target = np.argmax(logits, axis=1)
    y_t = logits[np.arange(20), target]
    signal = explain(net, x[:20], "pattern.net", patterns=patterns)
    np.testing.assert_allclose(signal, a[target] * y_t[:, None], rtol=1e-12, atol=1e-12)
    attribution = explain(net, x[:20], "pattern.attribution", patterns=patterns)
    np.testing.assert_allclose(attribution.sum(axis=1), y_t, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(attribution, w[target] * a[target] * y_t[:, None], rtol=1e-12, atol=1e-12)


def test_linear_model_with_S_a_pm_uses_the_closed_gate_pattern_below_zero():
    """Without a ReLU after the layer, PatternNet uses a₊ where wᵀx + b > 0 and a₋ elsewhere."""
    rng = np.random.default_rng(42)
    net = Sequential([Dense(rng.normal(size=(1, 3)), [0.2])])
    x = rng.normal(size=(300, 3))
    patterns = fit_patterns(net, x, "a+-", variant="regime")
    z = net.logits(x)[:, 0]
    expected = np.where((z > 0)[:, None], patterns[0].a_plus[0], patterns[0].a_minus[0]) * z[:, None]
    np.testing.assert_allclose(explain(net, x, "pattern.net", patterns=patterns), expected, rtol=1e-12, atol=1e-13)
    assert not np.allclose(patterns[0].a_plus, patterns[0].a_minus)


def test_S_w_attribution_is_the_w_square_rule_on_one_layer():
    rng = np.random.default_rng(43)
    net = Sequential([Dense(rng.normal(size=(3, 5)), rng.normal(size=3))])
    x = rng.normal(size=(10, 5))
    patterns = fit_patterns(net, None, "w")
    attribution = explain(net, x, "pattern.attribution", patterns=patterns)
    w_square = explain(net, x, "lrp.w_square", stabilizer=0.0)
    assert relative_error(attribution, w_square) <= 1e-12


def test_S_w_attribution_is_the_gated_w_square_rule_on_a_relu_cnn():
    rng = np.random.default_rng(44)
    net = relu_cnn(rng, padding=0)
    x = rng.normal(size=(6, 2, 10, 10))
    patterns = fit_patterns(net, x, "w")
    attribution = explain(net, x, "pattern.attribution", patterns=patterns)
    gated_w_square = explain(net, x, Composite(kernel=WSquareRule(0.0), relu=GatedReLU(), start="logit"))
    assert relative_error(attribution, gated_w_square) <= 1e-12
    # LRP's w²-rule passes relevance through dead ReLUs, so it is a different heat map
    assert relative_error(attribution, explain(net, x, "lrp.w_square", stabilizer=0.0)) > 1e-3


def test_S_w_attribution_and_w_square_differ_on_padded_borders():
    rng = np.random.default_rng(45)
    net = Sequential([Conv2D(rng.normal(size=(2, 1, 3, 3)), padding=1), Flatten(),
                      Dense(rng.normal(size=(1, 2 * 25)))], input_shape=(1, 5, 5))
    x = rng.normal(size=(3, 1, 5, 5))
    patterns = fit_patterns(net, None, "w")
    attribution = explain(net, x, "pattern.attribution", patterns=patterns)
    w_square = explain(net, x, Composite(kernel=WSquareRule(0.0), relu=GatedReLU(), start="logit"))
    interior = (slice(None), slice(None), slice(2, 3), slice(2, 3))  # only pixels fed by no border neuron
    assert relative_error(attribution[interior], w_square[interior]) <= 1e-12
    assert relative_error(attribution, w_square) > 1e-3
    # the w²-rule conserves relevance at every neuron; S_w loses the weight that falls on padding
    logit = net.logits(x)[:, 0]
    np.testing.assert_allclose(w_square.sum(axis=(1, 2, 3)), logit, rtol=1e-12)
    assert np.all(np.abs(attribution.sum(axis=(1, 2, 3)) - logit) > 1e-6)


def test_S_x_attribution_is_lrp_z_on_a_zero_bias_relu_cnn():
    rng = np.random.default_rng(46)
    net = relu_cnn(rng, padding=1, bias=False)
    x = rng.normal(size=(5, 2, 10, 10))
    patterns = fit_patterns(net, x, "x")
    attribution = explain(net, x, "pattern.attribution", patterns=patterns)
    assert relative_error(attribution, explain(net, x, "lrp.z")) <= 1e-12
