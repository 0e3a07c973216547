"""What each method is, for a user mapping refpattern onto another library: :func:`method_info`.

One frozen :class:`MethodInfo` per canonical method name: its aliases, the options ``explain``
fills in, the start value, where the bias enters, the ReLU rule, what it returns, the paper,
and the names the same computation has in Zennit, Captum and iNNvestigate 1.x/2.x, with the
conventions in which those libraries differ (``docs/conventions.md#method-catalogue``).

The other libraries' names and conventions were read in their sources: ``chr5tphr/zennit``
``src/zennit/{rules,composites,attribution,types}.py``;
``pytorch/captum`` ``captum/attr/_core/{saliency,integrated_gradients,noise_tunnel,
guided_backprop_deconvnet}.py`` and ``captum/attr/_utils/approximation_methods.py``;
``albermax/innvestigate`` ``src/innvestigate/analyzer/{__init__,gradient_based,reverse_base,
pattern_based}.py`` and ``relevance_based/relevance_rule.py``.  ``None`` means no equivalent was
found (or none was checked); it never means "identical under another name".  What is measured:
the peer stage of CI (``tests/test_peers_zennit_captum.py``, Zennit 0.4.6 and Captum 0.9.0)
compares every method both sides have (``docs/conventions.md#peer-tests``); the ``zero_params``
arguments named below exist in newer Zennit releases than the one measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from refpattern.methods.registry import ALIASES, GRADIENT_METHODS, METHODS, canonical_name


@dataclass(frozen=True)
class MethodInfo:
    """One method's conventions and its names elsewhere.

    Attributes
    ----------
    name : str
        Canonical name (:func:`refpattern.method_names`).
    aliases : tuple of str
        Other names ``explain`` accepts for it.
    default_options : mapping
        The options ``explain`` fills in when they are not given (read-only).
    start : {"one", "logit"}
        The signal placed on the explained logit ``y_t`` (``docs/conventions.md#start-values``).
    bias, relu_rule, returns, citation : str
        Where the bias enters, what a ReLU does backward, what the result is, the paper.
    zennit, captum, innvestigate_1, innvestigate_2 : str or None
        The equivalent call or name in that library, or None.
    differences : str
        Where those libraries' defaults or conventions differ from refpattern's.
    """

    name: str
    aliases: tuple
    default_options: MappingProxyType
    start: str
    bias: str
    relu_rule: str
    returns: str
    citation: str
    zennit: str | None
    captum: str | None
    innvestigate_1: str | None
    innvestigate_2: str | None
    differences: str


_GATED = "gated by the forward pass: R·1[z > 0]"
_PASS = "passes relevance unchanged"
_GRADIENT_UNITS = "shaped like x: logit per input unit"
_RELEVANCE_UNITS = "shaped like x: relevance in logit units"
_BACH = "Bach et al., On pixel-wise explanations ... by layer-wise relevance propagation, PLoS ONE 2015"
_MONTAVON_2017 = "Montavon et al., Explaining nonlinear classification decisions with deep Taylor decomposition, " \
                 "Pattern Recognition 2017"
_KINDERMANS = "Kindermans et al., Learning how to explain neural networks: PatternNet and PatternAttribution, " \
              "ICLR 2018"
_ZENNIT = "Anders et al., Software for dataset-wide XAI: ... Zennit, CoRelAy, and ViRelAy, arXiv:2106.13200 (2021)"
_ZENNIT_START = ("Zennit's Gradient attributor starts from the attr_output it is given: a one-hot gives refpattern's "
                 "map divided by y_t per sample; pass one_hot·y_t to match.")
_INNVESTIGATE_AB_BIAS = ("iNNvestigate's AlphaBetaRule(bias=True) puts the whole bias b (b⁺ from the "
                         "positive-weight copy plus b⁻ from the negative-weight copy) into both denominators; "
                         "refpattern and Zennit use b⁺ in the positive and b⁻ in the negative one; the maps "
                         "agree where every bias is 0 (for β = 0: where every bias is ≥ 0).")

#: name → (start, bias, relu_rule, returns, citation, zennit, captum, innvestigate 1.x, innvestigate 2.x, differences)
_TABLE = {
    "gradient": (
        "one", "nowhere (only through the forward gates)", _GATED, _GRADIENT_UNITS + " (∂y_t/∂x)",
        "Simonyan, Vedaldi & Zisserman, Deep inside convolutional networks, ICLR workshop 2014",
        "zennit.attribution.Gradient(model) without a composite, attr_output one-hot",
        "captum.attr.Saliency(model).attribute(x, target=t, abs=False)", "gradient", "gradient",
        "Captum's Saliency returns |∂y_t/∂x| unless abs=False."),
    "input_x_gradient": (
        "one", "nowhere (only through the forward gates)", _GATED, _RELEVANCE_UNITS + " (x ⊙ ∂y_t/∂x)",
        "Shrikumar et al., Not just a black box, arXiv:1605.01713 (2016)",
        None, "captum.attr.InputXGradient(model).attribute(x, target=t)", "input_t_gradient", "input_t_gradient",
        ""),
    "deconvnet": (
        "one", "nowhere", "max(R, 0), ignoring the forward gate", _GRADIENT_UNITS,
        "Zeiler & Fergus, Visualizing and understanding convolutional networks, ECCV 2014",
        "zennit.composites.DeconvNet with zennit.attribution.Gradient, attr_output one-hot",
        "captum.attr.Deconvolution(model).attribute(x, target=t)", "deconvnet", "deconvnet",
        "iNNvestigate's deconvnet keeps the default head mapping (the output value), so it starts from y_t: "
        "its map is refpattern's times y_t per sample."),
    "guided_backprop": (
        "one", "nowhere", "max(R, 0)·1[z > 0]", _GRADIENT_UNITS,
        "Springenberg et al., Striving for simplicity: the all convolutional net, ICLR workshop 2015",
        "zennit.composites.GuidedBackprop with zennit.attribution.Gradient, attr_output one-hot",
        "captum.attr.GuidedBackprop(model).attribute(x, target=t)", "guided_backprop", "guided_backprop",
        "iNNvestigate's guided_backprop starts from y_t (default head mapping): its map is refpattern's times y_t "
        "per sample."),
    "lrp.z": (
        "logit", "inside z_j = Σ_i x_i w_ij + b_j", _PASS, _RELEVANCE_UNITS, _BACH,
        "zennit.rules.Epsilon(epsilon=0) on every Linear/Conv2d", None, "lrp.z", "lrp.z",
        "refpattern gives 0 where z_j = 0; Zennit's Epsilon(0) divides by the unchanged z there. " + _ZENNIT_START),
    "lrp.epsilon": (
        "logit", "inside z_j", _PASS, _RELEVANCE_UNITS, _BACH,
        "zennit.rules.Epsilon(epsilon) on every Linear/Conv2d (default 1e-6 in both)", None, "lrp.epsilon",
        "lrp.epsilon",
        "iNNvestigate's default epsilon is 1e-7 (refpattern's and Zennit's 1e-6); all three add ε·sgn(z) with "
        "sgn(0) = +1. " + _ZENNIT_START),
    "lrp.alpha_beta": (
        "logit", "b⁺ in the positive, b⁻ in the negative denominator (bias=True, the default); none with bias=False",
        _PASS, _RELEVANCE_UNITS, _BACH,
        "zennit.rules.AlphaBeta(alpha, beta) (Zennit's defaults are α=2, β=1)", None, "lrp.alpha_beta",
        "lrp.alpha_beta", _INNVESTIGATE_AB_BIAS),
    "lrp.alpha_1_beta_0": (
        "logit", "b⁺ in the denominator", _PASS, _RELEVANCE_UNITS, _BACH + "; " + _MONTAVON_2017,
        "zennit.rules.ZPlus() (= AlphaBeta(1, 0); b⁺ kept)", None, "lrp.alpha_1_beta_0", "lrp.alpha_1_beta_0",
        _INNVESTIGATE_AB_BIAS),
    "lrp.alpha_2_beta_1": (
        "logit", "b⁺ in the positive, b⁻ in the negative denominator", _PASS, _RELEVANCE_UNITS, _BACH,
        "zennit.rules.AlphaBeta(alpha=2, beta=1)", None, "lrp.alpha_2_beta_1", "lrp.alpha_2_beta_1",
        _INNVESTIGATE_AB_BIAS),
    "lrp.z_plus": (
        "logit", "none (bias=False)", _PASS, _RELEVANCE_UNITS, _MONTAVON_2017,
        "zennit.rules.ZPlus(zero_params=['bias'])", None, "lrp.z_plus (= lrp.alpha_1_beta_0_IB)",
        "lrp.z_plus (= lrp.alpha_1_beta_0_IB)",
        "Zennit's ZPlus() keeps b⁺: it is refpattern's lrp.alpha_1_beta_0, not lrp.z_plus."),
    "lrp.w_square": (
        "logit", "none", _PASS, _RELEVANCE_UNITS + " (independent of x within a layer)", _MONTAVON_2017,
        "zennit.rules.WSquare(zero_params=['bias'])", None, "lrp.w_square", "lrp.w_square",
        "Zennit's WSquare() squares the bias too (denominator Σ_i w_ij² + b_j²) unless zero_params=['bias']."),
    "lrp.flat": (
        "logit", "none", _PASS, _RELEVANCE_UNITS,
        "Lapuschkin et al., Unmasking Clever Hans predictors, Nature Communications 2019",
        "zennit.rules.Flat() on every Linear/Conv2d", None, "lrp.flat", "lrp.flat", ""),
    "lrp.gamma": (
        "logit", "b + γb⁺ (z_j > 0) or b + γb⁻ (z_j < 0) in the denominator", _PASS, _RELEVANCE_UNITS,
        "Montavon et al., Layer-wise relevance propagation: an overview, LNCS 11700 (2019); zennit's generalised form",
        "zennit.rules.Gamma(gamma) on every Linear/Conv2d (default γ = 0.25 in both)", None, None, None,
        "Zennit 0.4.6's Gamma uses w + γw⁺ at every neuron: the same where inputs are ≥ 0 and z_j > 0, not at "
        "a neuron with z_j < 0 that carries relevance, e.g. a negative explained logit y_t."),
    "lrp.zb": (
        "logit", "cancels on the first layer; the rest method's above it", _PASS, _RELEVANCE_UNITS, _MONTAVON_2017,
        "zennit.rules.ZBox(low, high) on the first layer, another rule above", None, None, None,
        "Zennit's ZBox is the same formula (the bias cancels there too)."),
    "deep_taylor": (
        "logit", "none: z⁺ with bias=False above the first layer; z^B or w² on it", _PASS, _RELEVANCE_UNITS,
        _MONTAVON_2017, None, None, "deep_taylor / deep_taylor.bounded", "deep_taylor / deep_taylor.bounded",
        "iNNvestigate's rule choice per layer was not compared here; only the names are known to correspond."),
    "integrated_gradients": (
        "one", "nowhere (only through the forward gates)", _GATED + " at every point of the path",
        _RELEVANCE_UNITS + " (Σ ≈ y_t(x) − y_t(x₀))",
        "Sundararajan, Taly & Yan, Axiomatic attribution for deep networks, ICML 2017",
        None, "captum.attr.IntegratedGradients(model).attribute(x, baselines=x0, target=t, n_steps=n, method=m)",
        "integrated_gradients", "integrated_gradients",
        "refpattern: 64 riemann_midpoint steps in float64 (steps/quadrature None). Captum: 50 Gauss–Legendre steps "
        "with float32 step weights; its riemann_trapezoid weights sum to (n−1)/n — reproduce them with "
        "alphas=/weights= from captum_quadrature(method, n). iNNvestigate's default is steps=64."),
    "smoothgrad": (
        "one", "nowhere", _GATED + " at every noisy copy", _GRADIENT_UNITS,
        "Smilkov et al., SmoothGrad: removing noise by adding noise, arXiv:1706.03825 (2017)",
        None, "captum.attr.NoiseTunnel(Saliency(model)).attribute(x, nt_type='smoothgrad', nt_samples=K, "
              "stdevs=σ, target=t, abs=False)",
        "smoothgrad", "smoothgrad",
        "refpattern: 32 samples, σ = 0.15·(max x − min x) per sample, seeded. Captum: nt_samples=5, stdevs=1.0 "
        "(absolute σ), torch's generator, and Saliency's abs=True unless passed; iNNvestigate: augment_by_n=64. "
        "Pass noise= the other library's perturbations to compare."),
    "pattern.net": (
        "logit", "only in the gate wᵀx + b > 0 that picks a₊ or a₋", _GATED,
        "shaped like x: the estimated signal, in input units", _KINDERMANS,
        None, None, "pattern.net", None,
        "iNNvestigate 1.x keeps one pattern per layer, a₊ also where the output neuron is closed: use "
        "output_pattern='a+'. iNNvestigate 2.x has no pattern analyzers."),
    "pattern.attribution": (
        "logit", "only in the gate wᵀx + b > 0 that picks a₊ or a₋", _GATED, _RELEVANCE_UNITS, _KINDERMANS,
        None, None, "pattern.attribution", None,
        "iNNvestigate 1.x uses w ⊙ a₊ also where the output neuron is closed: use output_pattern='a+'. "
        "iNNvestigate 2.x has no pattern analyzers."),
    "zennit.epsilon_plus": (
        "logit", "inside z_j (ε on Dense); b⁺ (z⁺ on Conv2D)", _PASS, _RELEVANCE_UNITS, _ZENNIT,
        "zennit.composites.EpsilonPlus(epsilon)", None, None, None, _ZENNIT_START),
    "zennit.epsilon_alpha2_beta1": (
        "logit", "inside z_j (ε on Dense); b⁺ / b⁻ (α2β1 on Conv2D)", _PASS, _RELEVANCE_UNITS, _ZENNIT,
        "zennit.composites.EpsilonAlpha2Beta1(epsilon)", None, None, None, _ZENNIT_START),
    "zennit.epsilon_plus_flat": (
        "logit", "as zennit.epsilon_plus; none on the first kernel layer (flat)", _PASS, _RELEVANCE_UNITS, _ZENNIT,
        "zennit.composites.EpsilonPlusFlat(epsilon)", None, None, None, _ZENNIT_START),
    "zennit.epsilon_alpha2_beta1_flat": (
        "logit", "as zennit.epsilon_alpha2_beta1; none on the first kernel layer (flat)", _PASS, _RELEVANCE_UNITS,
        _ZENNIT, "zennit.composites.EpsilonAlpha2Beta1Flat(epsilon)", None, None, None, _ZENNIT_START),
    "zennit.epsilon_gamma_box": (
        "logit", "inside z_j (ε on Dense); b + γb± (γ on Conv2D); cancels (z^B on the first Conv2D)", _PASS,
        _RELEVANCE_UNITS, _ZENNIT, "zennit.composites.EpsilonGammaBox(low, high, epsilon, gamma)", None, None, None,
        _ZENNIT_START),
}


def method_info(name) -> MethodInfo:
    """The :class:`MethodInfo` of a method, by canonical name or alias.

    >>> method_info("lrp.z_plus").zennit
    "zennit.rules.ZPlus(zero_params=['bias'])"
    """
    canonical = canonical_name(name)
    _, defaults = METHODS[canonical] if canonical in METHODS else GRADIENT_METHODS[canonical]
    start, bias, relu, returns, citation, zennit, captum, inn1, inn2, differences = _TABLE[canonical]
    aliases = tuple(sorted(alias for alias, target in ALIASES.items() if target == canonical))
    return MethodInfo(canonical, aliases, MappingProxyType(dict(defaults)), start, bias, relu, returns, citation,
                      zennit, captum, inn1, inn2, differences)
