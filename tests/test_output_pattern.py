"""The output-pattern switch of PatternNet/PatternAttribution (docs/conventions.md#output-pattern).

Default ``output_pattern="a+-"``: the last kernel layer, like every other, uses a₊ where its neuron is
open and a₋ where it is closed; at the output layer only the explained neuron t carries a signal, so
a₋ acts exactly on the samples whose explained logit y_t ≤ 0.  ``"a+"`` uses a₊ there too, as
iNNvestigate 1.x (one pattern per layer) does.  Hence, for every sample n:

- y_t(n) > 0: both give the same explanation, bit for bit (the closed regime adds exact zeros);
- y_t(n) ≤ 0: "a+" is the default explanation of the patterns with a₋ := a₊ at the last layer, and it
  differs from the default wherever a₊_t ≠ a₋_t.
"""

import numpy as np
import pytest
from conftest import pattern_cnn

import refpattern as rp
from refpattern.patterns import Patterns
from refpattern.patterns.layer_patterns import LayerPatterns


def _case():
    rng = np.random.default_rng(11)
    net = pattern_cnn(rng)
    data = rng.normal(size=(400, 2, 9, 9))
    patterns = rp.fit_patterns(net, data, "a+-")
    x = rng.normal(size=(8, 2, 9, 9))
    logits = net.logits(x)
    targets = np.where(np.arange(8) % 2 == 0, logits.argmax(axis=1), logits.argmin(axis=1))
    y_t = logits[np.arange(8), targets]
    assert np.any(y_t > 0) and np.any(y_t <= 0)
    return net, patterns, x, targets, y_t


def _single_output_pattern(patterns):
    """The same patterns with a₋ replaced by a₊ at the last kernel layer."""
    layers = list(patterns.layers)
    last = layers[-1]
    layers[-1] = LayerPatterns(last.kernel_index, last.layer_index, last.layer_name, last.shape,
                               a_plus=last.a_plus, a_minus=last.a_plus, counts=last.counts,
                               n_samples=last.n_samples, degenerate=last.degenerate)
    return Patterns(patterns.estimator, layers)


@pytest.mark.parametrize("method", ["pattern.net", "pattern.attribution"])
def test_single_output_pattern_differs_exactly_where_the_explained_logit_is_not_positive(method):
    net, patterns, x, targets, y_t = _case()
    default = rp.explain(net, x, method, target=targets, patterns=patterns)
    single = rp.explain(net, x, method, target=targets, patterns=patterns, output_pattern="a+")
    positive = y_t > 0
    np.testing.assert_array_equal(single[positive], default[positive])
    differs = np.array([not np.array_equal(single[n], default[n]) for n in range(len(x))])
    np.testing.assert_array_equal(differs, ~positive)
    substituted = rp.explain(net, x, method, target=targets, patterns=_single_output_pattern(patterns))
    np.testing.assert_array_equal(single, substituted)


def test_single_output_pattern_on_a_linear_model_is_a_plus_times_the_logit():
    """One Dense layer: PatternNet gives a₊_t·y_t for every sample with "a+", a₋_t·y_t where y_t ≤ 0 by default."""
    rng = np.random.default_rng(18)
    net = rp.Sequential([rp.Dense(rng.normal(size=(2, 3)), [0.3, -0.2])])
    data = rng.normal(size=(300, 3))
    patterns = rp.fit_patterns(net, data, "a+-", variant="regime")
    x = rng.normal(size=(40, 3))
    target = 0
    y_t = net.logits(x)[:, target]
    a_plus, a_minus = patterns[0].a_plus[target], patterns[0].a_minus[target]
    single = rp.explain(net, x, "pattern.net", target=target, patterns=patterns, output_pattern="a+")
    np.testing.assert_allclose(single, a_plus * y_t[:, None], rtol=1e-13, atol=1e-15)
    default = rp.explain(net, x, "pattern.net", target=target, patterns=patterns)
    expected = np.where((y_t > 0)[:, None], a_plus, a_minus) * y_t[:, None]
    np.testing.assert_allclose(default, expected, rtol=1e-13, atol=1e-15)


def test_output_pattern_refuses_unknown_values():
    net, patterns, x, _, _ = _case()
    with pytest.raises(ValueError, match="output_pattern must be one of"):
        rp.explain(net, x, "pattern.net", patterns=patterns, output_pattern="a-")
