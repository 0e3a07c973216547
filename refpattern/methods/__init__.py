"""Explanation methods: rules (the math), composites (which rule where), and ``explain``."""

from refpattern.methods.composite import Composite
from refpattern.methods.explain import explain, logit_of_target
from refpattern.methods.registry import ALIASES, method_names
from refpattern.methods.relu_rules import DeconvReLU, GatedReLU, GuidedReLU, LayerBackward, PassReLU
from refpattern.methods.rule import Rule
from refpattern.methods.rules import (
    AlphaBetaRule,
    EpsilonRule,
    GatedPatternRule,
    GradientRule,
    IdentitySignalRule,
    WSquareRule,
    ZBRule,
    stabilized_divide,
)

__all__ = [
    "ALIASES", "AlphaBetaRule", "Composite", "DeconvReLU", "EpsilonRule", "GatedPatternRule", "GatedReLU",
    "GradientRule", "GuidedReLU", "IdentitySignalRule", "LayerBackward", "PassReLU", "Rule", "WSquareRule", "ZBRule",
    "explain", "logit_of_target", "method_names", "stabilized_divide",
]
