"""Which rule applies to which layer: kept apart from the rule math (as zennit's composites).

A :class:`Composite` is a small, inspectable mapping.  Lookup order for layer ``l``:

1. ``layer_rules[l]`` (by position in ``net.layers``), if present;
2. for kernel layers: ``first_kernel`` for the first Dense/Conv2D layer if set; else
   ``first_conv`` for the first Conv2D layer if set; else ``dense`` (Dense) or ``conv``
   (Conv2D) if set; else ``kernel``;
3. for ReLU: ``relu``;
4. for MaxPool2D and Flatten: the layer's own exact backward (routing to the forward winner).

``start`` is where the backward pass begins at the explained logit ``y_t``:
``"one"`` (gradient-type methods) or ``"logit"`` (attribution and signal methods start from
the value ``y_t``), ``docs/conventions.md#start-values``.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field

import numpy as np

from refpattern.methods.relu_rules import DeconvReLU, GatedReLU, GuidedReLU, LayerBackward, PassReLU
from refpattern.methods.rule import Rule
from refpattern.methods.rules import (
    AlphaBetaRule,
    EpsilonRule,
    FlatRule,
    GammaRule,
    GatedPatternRule,
    GradientRule,
    IdentitySignalRule,
    WSquareRule,
    ZBRule,
)
from refpattern.network.conv2d import Conv2D
from refpattern.network.dense import Dense
from refpattern.network.elementwise import ReLU

STARTS = ("one", "logit")
#: The built-in rules that read a kernel layer's weights and linear map (Dense, Conv2D only).
KERNEL_RULES = (GradientRule, EpsilonRule, AlphaBetaRule, ZBRule, WSquareRule, FlatRule, GammaRule, GatedPatternRule,
                IdentitySignalRule)
#: The built-in rules of a ReLU layer: elementwise in the signal and the ReLU's input, of one shape.
RELU_RULES = (GatedReLU, DeconvReLU, GuidedReLU, PassReLU)


@dataclass
class Composite:
    """Rules per layer type, with optional per-layer overrides.

    Example: LRP-ε above, z^B on the input layer, explaining from the logit value::

        Composite(kernel=EpsilonRule(1e-3), first_kernel=ZBRule(0, 1), relu=PassReLU(), start="logit")

    By layer type, as zennit's ``EpsilonPlus`` (z⁺ on convolutions, ε on dense layers;
    :mod:`refpattern.methods.presets`)::

        Composite(conv=AlphaBetaRule(1, 0), dense=EpsilonRule(1e-6), relu=PassReLU(), start="logit")
    """

    kernel: object = field(default_factory=GradientRule)
    relu: object = field(default_factory=GatedReLU)
    first_kernel: object | None = None
    layer_rules: dict = field(default_factory=dict)
    start: str = "one"
    dense: object | None = None
    conv: object | None = None
    first_conv: object | None = None

    def __post_init__(self):
        if self.start not in STARTS:
            raise ValueError(f"Composite: start must be one of {STARTS}, got {self.start!r}")
        for where in ("kernel", "relu"):
            if getattr(self, where) is None:
                raise TypeError(f"Composite: {where} must be a refpattern.methods.Rule (every network may have such "
                                "layers), got None")
        if not isinstance(self.layer_rules, dict):
            raise TypeError(f"Composite: layer_rules must be a dict {{position in net.layers: Rule}}, got "
                            f"{type(self.layer_rules).__name__}")
        for index in self.layer_rules:
            if isinstance(index, (bool, np.bool_)) or not isinstance(index, numbers.Integral):
                raise TypeError(f"Composite: layer_rules keys must be positions in net.layers (ints >= 0), got "
                                f"{index!r} ({type(index).__name__})")
            if index < 0:
                raise ValueError(f"Composite: layer_rules keys must be positions in net.layers (ints >= 0), got "
                                 f"{index} (a position from the end is not read)")
        rules = {"kernel": self.kernel, "relu": self.relu, "first_kernel": self.first_kernel, "dense": self.dense,
                 "conv": self.conv, "first_conv": self.first_conv,
                 **{f"layer_rules[{index!r}]": rule for index, rule in self.layer_rules.items()}}
        for where, rule in rules.items():
            if rule is not None and not isinstance(rule, Rule):
                raise TypeError(f"Composite: {where} must be a refpattern.methods.Rule (with backward(layer, x, "
                                f"output, upstream, backend)), got {type(rule).__name__}")

    def check_network(self, net) -> None:
        """Refuse (``ValueError`` naming the layer and the rule) a composite that does not fit ``net``:
        a ``layer_rules`` position that is not a layer up to the logits, a built-in kernel rule
        (:data:`KERNEL_RULES`) on a layer without weights, a built-in ReLU rule (:data:`RELU_RULES`)
        on a layer other than a ReLU.  A rule of your own is not checked here."""
        layers = net.logit_layers
        for index in self.layer_rules:
            if index >= len(layers):
                raise ValueError(f"Composite: layer_rules[{index}] is not a layer the backward pass visits: the "
                                 f"network has {len(layers)} layers up to its logits (positions 0..{len(layers) - 1})")
        for index, layer in enumerate(layers):
            rule = self.rule_for(index, layer, net)
            if not isinstance(rule, Rule):  # a field set to something else after construction
                raise TypeError(f"Composite: layer {index} ({layer!r}) gets {type(rule).__name__}, not a "
                                "refpattern.methods.Rule")
            if isinstance(rule, KERNEL_RULES) and not layer.is_kernel:
                raise ValueError(f"Composite: layer {index} ({layer!r}) gets {type(rule).__name__}, a rule for a "
                                 "Dense or Conv2D layer (it reads the layer's weights)")
            if isinstance(rule, RELU_RULES) and not isinstance(layer, ReLU):
                raise ValueError(f"Composite: layer {index} ({layer!r}) gets {type(rule).__name__}, a rule for a "
                                 "ReLU layer (its signal and input have one shape)")

    def rule_for(self, index: int, layer, net) -> Rule:
        """The rule that ``net.layers[index]`` uses."""
        if index in self.layer_rules:
            return self.layer_rules[index]
        if layer.is_kernel:
            if self.first_kernel is not None and index == net.kernel_indices[0]:
                return self.first_kernel
            if self.first_conv is not None and index == _first_conv_index(net):
                return self.first_conv
            if self.dense is not None and isinstance(layer, Dense):
                return self.dense
            if self.conv is not None and isinstance(layer, Conv2D):
                return self.conv
            return self.kernel
        if isinstance(layer, ReLU):
            return self.relu
        return LayerBackward()


def _first_conv_index(net):
    """Position of the first Conv2D layer in ``net.layers`` (None without one)."""
    return next((index for index in net.kernel_indices if isinstance(net.layers[index], Conv2D)), None)
