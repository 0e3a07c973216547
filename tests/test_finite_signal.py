"""``explain`` never returns a non-finite signal silently, and scans only the steps that could overflow.

The signal on the logits is finite (the forward pass bounds every kernel layer's output); a step
is then either scanned (:class:`FiniteSignal`: a ``ValueError`` naming the method and the layer)
or one that keeps a finite signal finite whatever its values (``keeps_signal_finite``): the ReLU
rules (each entry is an entry of the signal, 0, or its positive part), a flatten's reshape and
max-pooling where no two windows overlap (each input receives at most one entry).  Max-pooling
with overlapping windows adds entries up, so it is scanned.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import random_cnn

import refpattern as rp
from refpattern.methods.explain import FiniteComposite, FiniteSignal, keeps_signal_finite
from refpattern.methods.registry import METHODS
from refpattern.methods.relu_rules import DeconvReLU, GatedReLU, GuidedReLU, LayerBackward, PassReLU
from refpattern.methods.rules import EpsilonRule, GradientRule


def test_the_steps_left_unscanned_are_exactly_those_that_keep_a_finite_signal_finite():
    relu, flatten = rp.ReLU(), rp.Flatten()
    for rule in (GatedReLU(), DeconvReLU(), GuidedReLU(), PassReLU()):
        assert keeps_signal_finite(rule, relu)
    assert keeps_signal_finite(LayerBackward(), flatten)
    assert keeps_signal_finite(LayerBackward(), rp.MaxPool2D(2))
    assert keeps_signal_finite(LayerBackward(), rp.MaxPool2D((2, 3), stride=(3, 3)))
    assert not keeps_signal_finite(LayerBackward(), rp.MaxPool2D(3, stride=1))        # windows overlap
    assert not keeps_signal_finite(LayerBackward(), rp.MaxPool2D((2, 2), stride=(2, 1)))
    dense = rp.Dense(np.ones((2, 3)))
    for rule in (GradientRule(), EpsilonRule(1e-6)):
        assert not keeps_signal_finite(rule, dense)

    class Doubling(GatedReLU):  # a subclass may compute anything: scanned
        def backward(self, layer, x, output, upstream, backend=None):
            return 2 * upstream

    assert not keeps_signal_finite(Doubling(), relu)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_kernel_step_of_every_method_is_scanned(method):
    net = random_cnn()
    options = {"patterns": rp.fit_patterns(net, np.random.default_rng(0).normal(size=(8, 2, 9, 9)))} \
        if method.startswith("pattern.") else {}
    if method in ("lrp.zb", "zennit.epsilon_gamma_box"):
        options.update(low=-3.0, high=3.0)
    builder, defaults = METHODS[method]
    composite = FiniteComposite(builder({**defaults, **options}, net), method)
    for index, layer in enumerate(net.logit_layers):
        rule = composite.rule_for(index, layer, net)
        assert isinstance(rule, FiniteSignal) == (not keeps_signal_finite(rule, layer)), (method, index)
        if layer.is_kernel:
            assert isinstance(rule, FiniteSignal), (method, index)


def amplifier(pool, outputs):
    """``pool`` → flatten → dense ``1e150·I`` → dense ``1e158``: small forward magnitudes, a gradient of
    1e308 at every pooled output."""
    layers = [pool, rp.Flatten(), rp.Dense(1e150 * np.eye(outputs)), rp.Dense(np.full((1, outputs), 1e158))]
    return rp.Sequential(layers, input_shape=(1, 5, 5))


def test_an_overflow_where_overlapping_pooling_windows_add_up_is_refused():
    """Every one of the nine 3×3 windows picks the centre pixel, which receives 9 × 1e308: the forward
    pass stays small (1e-280 … 1e29) but the gradient at the input cannot be a float64."""
    x = np.zeros((1, 1, 5, 5))
    x[0, 0, 2, 2] = 1e-280
    net = amplifier(rp.MaxPool2D(3, stride=1), 9)
    assert np.all(np.isfinite(net.logits(x)))
    with pytest.raises(ValueError, match=r"explain 'gradient': the backward pass overflows float64 at layer 0 "
                                         r"\(MaxPool2D\(size=\(3, 3\), stride=\(1, 1\)\), rule LayerBackward\)"):
        rp.explain(net, x, "gradient")
    # without overlap each pixel receives one entry: finite
    np.testing.assert_allclose(rp.explain(amplifier(rp.MaxPool2D(1), 25), x, "gradient"), np.full((1, 1, 5, 5), 1e308),
                               rtol=1e-15)
