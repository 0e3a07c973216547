"""Explanation methods: rules (the math), composites (which rule where), and ``explain``.

- rules (:class:`Rule` subclasses): ``GradientRule``, ``EpsilonRule``, ``AlphaBetaRule``,
  ``ZBRule``, ``WSquareRule``, ``FlatRule``, ``GammaRule``, ``GatedPatternRule``,
  ``IdentitySignalRule``; ReLU rules ``GatedReLU``, ``DeconvReLU``, ``GuidedReLU``, ``PassReLU``;
- :class:`Composite` (which rule on which layer) and :mod:`refpattern.methods.presets`
  (zennit's named composites);
- :func:`explain`, :func:`method_names`, :func:`method_info` (a method's conventions and its
  names in Zennit, Captum and iNNvestigate).
"""

from refpattern.methods import presets
from refpattern.methods.catalogue import MethodInfo, method_info
from refpattern.methods.composite import Composite
from refpattern.methods.explain import explain, logit_of_target
from refpattern.methods.integrated_gradients import captum_quadrature
from refpattern.methods.registry import ALIASES, method_names
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
    stabilized_divide,
)

__all__ = [
    "ALIASES", "AlphaBetaRule", "Composite", "DeconvReLU", "EpsilonRule", "FlatRule", "GammaRule", "GatedPatternRule",
    "GatedReLU", "GradientRule", "GuidedReLU", "IdentitySignalRule", "LayerBackward", "MethodInfo", "PassReLU", "Rule",
    "WSquareRule", "ZBRule", "captum_quadrature", "explain", "logit_of_target", "method_info", "method_names",
    "presets", "stabilized_divide",
]
