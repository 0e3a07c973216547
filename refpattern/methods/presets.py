"""Composites named as zennit's (``zennit.composites``), built from refpattern's rules.

Each factory returns a :class:`~refpattern.methods.composite.Composite` with the rule zennit's
composite of the same name puts on each layer type, ReLU passing relevance unchanged (zennit's
``Pass`` on activations) and the start value ``y_t``; ``explain(net, x, "zennit.epsilon_plus")``
and the other ``"zennit.*"`` method names build the same composites
(``docs/conventions.md#zennit-presets``).

What matches zennit, rule by rule, as read in ``chr5tphr/zennit`` ``src/zennit/rules.py`` and
``src/zennit/composites.py``:

- "dense" is ``torch.nn.Linear`` (refpattern's :class:`~refpattern.Dense`), "convolution" a
  ``Conv2d`` (:class:`~refpattern.Conv2D`);
- ``Epsilon(epsilon=1e-6)``: :class:`~refpattern.methods.rules.EpsilonRule`, bias inside ``z``,
  ``z + ε·sgn(z)`` with ``sgn(0) = +1`` in both;
- ``ZPlus()``: :class:`~refpattern.methods.rules.AlphaBetaRule` ``(1, 0, bias=True)`` — zennit
  keeps ``b⁺`` in the denominator (it zeroes the bias only in the ``x⁻w⁻`` term);
- ``AlphaBeta(2, 1)``: ``AlphaBetaRule(2, 1, bias=True)`` (``b⁺`` / ``b⁻``);
- ``Flat()``: :class:`~refpattern.methods.rules.FlatRule` (bias zeroed, padding not counted);
- ``Gamma(0.25)``: :class:`~refpattern.methods.rules.GammaRule` (zennit's generalised form);
- ``ZBox(low, high)``: :class:`~refpattern.methods.rules.ZBRule` (the bias cancels in both);
- every stabiliser ``1e-6``, added as ``s·sgn(z)``.

Where zennit's conventions differ (the agreement is measured in CI's peer stage against Zennit
0.4.6, ``docs/conventions.md#peer-tests``):
zennit's ``Gradient`` attributor starts from the ``attr_output`` it is given (a one-hot gives
refpattern's map divided by ``y_t``; pass ``one_hot · y_t`` to match), a softmax must be
removed by the user, and average pooling and sums (``Norm`` rule) have no refpattern layer.
"""

from __future__ import annotations

from refpattern.methods.composite import Composite
from refpattern.methods.relu_rules import PassReLU
from refpattern.methods.rules import (
    DEFAULT_STABILIZER,
    AlphaBetaRule,
    EpsilonRule,
    FlatRule,
    GammaRule,
    ZBRule,
)

ZENNIT_EPSILON = 1e-6
ZENNIT_GAMMA = 0.25


def epsilon_plus(epsilon=ZENNIT_EPSILON, stabilizer=DEFAULT_STABILIZER) -> Composite:
    """zennit ``EpsilonPlus``: z⁺ (α=1, β=0, ``b⁺`` kept) on every Conv2D, LRP-ε on every Dense."""
    return Composite(conv=AlphaBetaRule(1.0, 0.0, bias=True, stabilizer=stabilizer), dense=EpsilonRule(epsilon),
                     relu=PassReLU(), start="logit")


def epsilon_alpha2_beta1(epsilon=ZENNIT_EPSILON, stabilizer=DEFAULT_STABILIZER) -> Composite:
    """zennit ``EpsilonAlpha2Beta1``: α=2, β=1 (bias kept) on every Conv2D, LRP-ε on every Dense."""
    return Composite(conv=AlphaBetaRule(2.0, 1.0, bias=True, stabilizer=stabilizer), dense=EpsilonRule(epsilon),
                     relu=PassReLU(), start="logit")


def epsilon_plus_flat(epsilon=ZENNIT_EPSILON, stabilizer=DEFAULT_STABILIZER) -> Composite:
    """zennit ``EpsilonPlusFlat``: :func:`epsilon_plus` with the flat rule on the first kernel layer
    (zennit's ``first_map`` uses its ``Linear`` type, which covers Linear and Conv alike)."""
    composite = epsilon_plus(epsilon, stabilizer)
    composite.first_kernel = FlatRule(stabilizer)
    return composite


def epsilon_alpha2_beta1_flat(epsilon=ZENNIT_EPSILON, stabilizer=DEFAULT_STABILIZER) -> Composite:
    """zennit ``EpsilonAlpha2Beta1Flat``: :func:`epsilon_alpha2_beta1` with the flat rule on the first
    kernel layer."""
    composite = epsilon_alpha2_beta1(epsilon, stabilizer)
    composite.first_kernel = FlatRule(stabilizer)
    return composite


def epsilon_gamma_box(low, high, epsilon=ZENNIT_EPSILON, gamma=ZENNIT_GAMMA,
                      stabilizer=DEFAULT_STABILIZER) -> Composite:
    """zennit ``EpsilonGammaBox``: z^B (bounds ``low``/``high``) on the first Conv2D, LRP-γ on the
    other Conv2D layers, LRP-ε on every Dense (zennit's ``first_map`` matches convolutions only,
    so a Dense layer before the first convolution keeps LRP-ε)."""
    return Composite(conv=GammaRule(gamma, stabilizer), dense=EpsilonRule(epsilon),
                     first_conv=ZBRule(low, high, stabilizer), relu=PassReLU(), start="logit")


#: zennit's registered composite names (``zennit.composites.COMPOSITES``) → factory.
PRESETS = {
    "epsilon_plus": epsilon_plus,
    "epsilon_alpha2_beta1": epsilon_alpha2_beta1,
    "epsilon_plus_flat": epsilon_plus_flat,
    "epsilon_alpha2_beta1_flat": epsilon_alpha2_beta1_flat,
    "epsilon_gamma_box": epsilon_gamma_box,
}
