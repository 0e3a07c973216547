"""Backward rules for the ReLU layer: what each method does with the forward gate.

``x`` is the ReLU's input (its pre-activation), ``output`` its forward output ``max(x, 0)``,
``upstream`` the signal arriving from above (:class:`~refpattern.methods.rule.Rule`).
"""

from __future__ import annotations

from refpattern.kernels import get_backend
from refpattern.methods.rule import Rule


class GatedReLU(Rule):
    """Exact gradient: ``R · 1[x > 0]`` (gradient, PatternNet, PatternAttribution)."""

    def backward(self, layer, x, output, upstream, backend=None):
        return get_backend(backend).relu_backward(upstream, x)


class DeconvReLU(Rule):
    """DeConvNet (Zeiler & Fergus, 2014): ``max(R, 0)``, ignoring the forward gate."""

    def backward(self, layer, x, output, upstream, backend=None):
        return get_backend(backend).relu_forward(upstream)


class GuidedReLU(Rule):
    """Guided Backprop (Springenberg et al., 2015): ``max(R, 0) · 1[x > 0]``."""

    def backward(self, layer, x, output, upstream, backend=None):
        kernels = get_backend(backend)
        return kernels.relu_backward(kernels.relu_forward(upstream), x)


class PassReLU(Rule):
    """LRP and Deep Taylor: relevance passes a ReLU unchanged (Bach et al., 2015)."""

    def backward(self, layer, x, output, upstream, backend=None):
        return upstream


class LayerBackward(Rule):
    """The layer's own exact backward (max-pool routing to the winner, flatten reshape)."""

    def backward(self, layer, x, output, upstream, backend=None):
        return layer.backward(x, upstream, backend)
