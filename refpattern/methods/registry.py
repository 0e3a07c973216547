"""Method names, their options and defaults, and what each one computes.

Two kinds of method, two tables:

- :data:`METHODS`: a single modified backward pass; a name maps to ``(builder, default
  options)`` with ``builder(options, net) -> Composite``;
- :data:`GRADIENT_METHODS`: methods built from gradients at other inputs (input × gradient,
  Integrated Gradients, SmoothGrad); a name maps to ``(run, default options)`` with
  ``run(gradient_at, x, activations, options) -> explanation``, where ``gradient_at(points,
  activations=None)`` is the gradient of each sample's explained logit at ``points``.

:data:`ALIASES` adds iNNvestigate's names where they mean the same thing.
"""

from __future__ import annotations

from refpattern.methods import presets
from refpattern.methods.composite import Composite
from refpattern.methods.integrated_gradients import integrated_gradients
from refpattern.methods.relu_rules import DeconvReLU, GatedReLU, GuidedReLU, PassReLU
from refpattern.methods.rules import (
    DEFAULT_STABILIZER,
    AlphaBetaRule,
    EpsilonRule,
    FlatRule,
    GammaRule,
    GatedPatternRule,
    GradientRule,
    IdentitySignalRule,
    WSquareRule,
    ZBRule,
    pattern_product,
)
from refpattern.methods.smoothgrad import noise_draws, smoothgrad

DEFAULT_EPSILON = 1e-6


def _gradient(options, net):
    """Gradient (Simonyan et al., 2014): the exact vector-Jacobian product, start 1."""
    return Composite(kernel=GradientRule(), relu=GatedReLU(), start="one")


def _deconvnet(options, net):
    """DeConvNet (Zeiler & Fergus, 2014): ReLU backward ``max(R, 0)``, start 1."""
    return Composite(kernel=GradientRule(), relu=DeconvReLU(), start="one")


def _guided_backprop(options, net):
    """Guided Backprop (Springenberg et al., 2015): ReLU backward ``max(R, 0)·1[z > 0]``, start 1."""
    return Composite(kernel=GradientRule(), relu=GuidedReLU(), start="one")


def _lrp_z(options, net):
    """LRP-z (Bach et al., 2015): LRP-ε with ε = 0, exact division, start ``y_t``."""
    return Composite(kernel=EpsilonRule(0.0), relu=PassReLU(), start="logit")


def _lrp_epsilon(options, net):
    """LRP-ε (Bach et al., 2015) on every kernel layer, start ``y_t``."""
    return Composite(kernel=EpsilonRule(options["epsilon"]), relu=PassReLU(), start="logit")


def _lrp_alpha_beta(options, net):
    """LRP-αβ (Bach et al., 2015) on every kernel layer, start ``y_t``."""
    rule = AlphaBetaRule(options["alpha"], options["beta"], options["bias"], options["stabilizer"])
    return Composite(kernel=rule, relu=PassReLU(), start="logit")


def _fixed_alpha_beta(alpha, beta, bias):
    def build(options, net):
        return Composite(kernel=AlphaBetaRule(alpha, beta, bias, options["stabilizer"]), relu=PassReLU(), start="logit")

    build.__doc__ = f"LRP-αβ with α={alpha}, β={beta}, bias={bias}, start ``y_t``."
    return build


def _lrp_w_square(options, net):
    """w²-rule (Montavon et al., 2017) on every kernel layer, start ``y_t``."""
    return Composite(kernel=WSquareRule(options["stabilizer"]), relu=PassReLU(), start="logit")


def _lrp_flat(options, net):
    """Flat rule (Lapuschkin et al., 2019) on every kernel layer, start ``y_t`` (iNNvestigate's ``lrp.flat``)."""
    return Composite(kernel=FlatRule(options["stabilizer"]), relu=PassReLU(), start="logit")


def _lrp_gamma(options, net):
    """LRP-γ (Montavon et al., 2019; zennit's generalised form) on every kernel layer, start ``y_t``."""
    return Composite(kernel=GammaRule(options["gamma"], options["stabilizer"]), relu=PassReLU(), start="logit")


#: Options a method cannot be built without (their default, None, means "not given"), and what they are.
REQUIRED_OPTIONS = {
    "lrp.zb": (("low", "high"), "bounds of the input domain"),
    "zennit.epsilon_gamma_box": (("low", "high"), "bounds of the input domain"),
}


def missing_options(name: str, options: dict) -> list:
    """The :data:`REQUIRED_OPTIONS` of method ``name`` that ``options`` leaves out or sets to None."""
    return [option for option in REQUIRED_OPTIONS.get(name, ((), ""))[0] if options.get(option) is None]


def _check_required(name: str, options: dict) -> None:
    if missing_options(name, options):
        needed, what = REQUIRED_OPTIONS[name]
        raise ValueError(f"{name}: needs {' and '.join(f'{option}=' for option in needed)} ({what})")


def _zennit_preset(name):
    factory = presets.PRESETS[name]

    def build(options, net):
        if name == "epsilon_gamma_box":
            _check_required("zennit.epsilon_gamma_box", options)
            return factory(options["low"], options["high"], options["epsilon"], options["gamma"],
                           options["stabilizer"])
        return factory(options["epsilon"], options["stabilizer"])

    build.__doc__ = f"zennit's ``{name}`` composite (:func:`refpattern.methods.presets.{name}`), start ``y_t``."
    return build


def _lrp_zb(options, net):
    """z^B on the first kernel layer (bounds ``low``/``high``), the ``rest`` method above it."""
    _check_required("lrp.zb", options)
    if not isinstance(options["rest"], str):
        raise TypeError(f"lrp.zb option rest: expected the name of an LRP rule such as 'lrp.epsilon', got "
                        f"{options['rest']!r} ({type(options['rest']).__name__})")
    rest_name = ALIASES.get(options["rest"], options["rest"])
    if rest_name == "lrp.zb" or not rest_name.startswith("lrp.") or rest_name not in METHODS:
        raise ValueError(f"lrp.zb: rest must name an LRP rule such as 'lrp.epsilon', got {options['rest']!r}")
    builder, defaults = METHODS[rest_name]
    zb_defaults = METHODS["lrp.zb"][1]
    for option in sorted(set(zb_defaults) - {"low", "high", "rest", "stabilizer"} - set(defaults)):
        if not _equal(options[option], zb_defaults[option]):  # given, but the rule above would never read it
            raise ValueError(f"lrp.zb: option {option}={options[option]!r} is not used by rest={options['rest']!r}, "
                             f"which takes {', '.join(sorted(defaults)) or 'no options'}")
    rest_options = {k: options[k] for k in defaults if k in options}
    rest = builder({**defaults, **rest_options}, net)
    rest.first_kernel = ZBRule(options["low"], options["high"], options["stabilizer"])
    return rest


def _equal(value, default) -> bool:
    """Whether an option's value is its default (False where comparing them gives no single bool)."""
    try:
        return bool(value == default)
    except (TypeError, ValueError):
        return False


def _deep_taylor(options, net):
    """Deep Taylor decomposition (Montavon et al., 2017) for ReLU nets.

    z⁺ without bias (α=1, β=0, ``bias=False``) on hidden kernel layers; on the first kernel
    layer z^B when ``low``/``high`` are given, else the w²-rule.  Start ``y_t``.
    """
    s = options["stabilizer"]
    if (options["low"] is None) != (options["high"] is None):
        raise ValueError("deep_taylor: give both low= and high=, or neither")
    first = WSquareRule(s) if options["low"] is None else ZBRule(options["low"], options["high"], s)
    return Composite(kernel=AlphaBetaRule(1.0, 0.0, bias=False, stabilizer=s), first_kernel=first,
                     relu=PassReLU(), start="logit")


OUTPUT_PATTERNS = ("a+-", "a+")


def _pattern_composite(options, net, attribution: bool):
    patterns = options["patterns"]
    name = "pattern.attribution" if attribution else "pattern.net"
    output_pattern = options["output_pattern"]
    if not isinstance(output_pattern, str) or output_pattern not in OUTPUT_PATTERNS:
        raise ValueError(f"{name}: output_pattern must be one of {OUTPUT_PATTERNS}, got {output_pattern!r}")
    if patterns is None:
        raise ValueError(f"{name}: needs patterns= (from refpattern.fit_patterns)")
    if not hasattr(patterns, "check_network"):
        raise TypeError(f"{name}: patterns must be a refpattern.Patterns, got {type(patterns).__name__}")
    patterns.check_network(net)
    layer_rules = {}
    for k, index in enumerate(net.kernel_indices):
        layer = net.layers[index]
        p = patterns[k]
        if not patterns.estimator.has_pattern:  # S_x(x) = x: no fixed pattern
            layer_rules[index] = IdentitySignalRule(attribution)
            continue
        a_plus, a_minus = p.a_plus, p.a_minus
        if output_pattern == "a+" and index == net.kernel_indices[-1]:  # iNNvestigate 1.x: one pattern
            a_minus = a_plus
        if attribution:
            a_plus, a_minus = pattern_product(layer.weight, a_plus), pattern_product(layer.weight, a_minus)
        layer_rules[index] = GatedPatternRule(a_plus, a_minus, f"{name} (kernel layer {k})")
    return Composite(kernel=GradientRule(), relu=GatedReLU(), layer_rules=layer_rules, start="logit")


def _pattern_net(options, net):
    """PatternNet (Kindermans et al., 2018): the gradient pass with weights → patterns ``a±``,
    ReLU gated by the forward pass, start ``y_t``.  Output: the estimated signal.

    ``output_pattern="a+-"`` (default) uses ``a₊`` where the last kernel layer's neuron is open
    (``y_t > 0``) and ``a₋`` where it is closed, as every other layer does; ``"a+"`` uses ``a₊``
    for both there, as iNNvestigate 1.x (one pattern per layer) does.  The default is the paper's
    two-component estimator S_a± applied at every kernel layer alike: it defines ``a₋`` for the
    closed regime, which acts wherever no ReLU follows a kernel layer — typically only at the
    output layer (``docs/conventions.md#output-pattern``)."""
    return _pattern_composite(options, net, attribution=False)


def _pattern_attribution(options, net):
    """PatternAttribution (Kindermans et al., 2018): weights → ``w ⊙ a±``, ReLU gated, start ``y_t``;
    ``output_pattern`` as for PatternNet."""
    return _pattern_composite(options, net, attribution=True)


_STAB = {"stabilizer": DEFAULT_STABILIZER}

METHODS = {
    "gradient": (_gradient, {}),
    "deconvnet": (_deconvnet, {}),
    "guided_backprop": (_guided_backprop, {}),
    "lrp.z": (_lrp_z, {}),
    "lrp.epsilon": (_lrp_epsilon, {"epsilon": DEFAULT_EPSILON}),
    "lrp.alpha_beta": (_lrp_alpha_beta, {"alpha": 1.0, "beta": 0.0, "bias": True, **_STAB}),
    "lrp.alpha_1_beta_0": (_fixed_alpha_beta(1.0, 0.0, True), dict(_STAB)),
    "lrp.alpha_2_beta_1": (_fixed_alpha_beta(2.0, 1.0, True), dict(_STAB)),
    "lrp.z_plus": (_fixed_alpha_beta(1.0, 0.0, False), dict(_STAB)),
    "lrp.w_square": (_lrp_w_square, dict(_STAB)),
    "lrp.flat": (_lrp_flat, dict(_STAB)),
    "lrp.gamma": (_lrp_gamma, {"gamma": presets.ZENNIT_GAMMA, **_STAB}),
    # every option of an LRP rule that rest= may name, so that it reaches that rule (γ for rest="lrp.gamma")
    "lrp.zb": (_lrp_zb, {"low": None, "high": None, "rest": "lrp.epsilon", "epsilon": DEFAULT_EPSILON,
                         "alpha": 1.0, "beta": 0.0, "bias": True, "gamma": presets.ZENNIT_GAMMA, **_STAB}),
    "deep_taylor": (_deep_taylor, {"low": None, "high": None, **_STAB}),
    "pattern.net": (_pattern_net, {"patterns": None, "output_pattern": "a+-"}),
    "pattern.attribution": (_pattern_attribution, {"patterns": None, "output_pattern": "a+-"}),
    **{f"zennit.{name}": (_zennit_preset(name), {"epsilon": presets.ZENNIT_EPSILON, **_STAB})
       for name in presets.PRESETS if name != "epsilon_gamma_box"},
    "zennit.epsilon_gamma_box": (_zennit_preset("epsilon_gamma_box"),
                                 {"low": None, "high": None, "epsilon": presets.ZENNIT_EPSILON,
                                  "gamma": presets.ZENNIT_GAMMA, **_STAB}),
}
COMPOSITE_METHODS = frozenset(METHODS)



def _input_x_gradient(gradient_at, x, activations, options):
    """Input × gradient (Shrikumar et al., 2016): ``x ⊙ ∇y_t(x)`` (the forward pass of x is reused)."""
    return x * gradient_at(x, activations)


def _integrated_gradients(gradient_at, x, activations, options):
    """Integrated Gradients (:mod:`refpattern.methods.integrated_gradients`)."""
    return integrated_gradients(gradient_at, x, options["baseline"], options["steps"], options["quadrature"],
                                options["alphas"], options["weights"])


def _smoothgrad(gradient_at, x, activations, options):
    """SmoothGrad (:mod:`refpattern.methods.smoothgrad`)."""
    _, noise = noise_draws(x, options["samples"], options["noise_level"], options["seed"], options["noise"])
    return smoothgrad(gradient_at, x, noise)


GRADIENT_METHODS = {
    "input_x_gradient": (_input_x_gradient, {}),
    # steps/quadrature None: 64 riemann_midpoint steps unless alphas=/weights= are given (path_rule)
    "integrated_gradients": (_integrated_gradients, {"baseline": 0.0, "steps": None, "quadrature": None,
                                                     "alphas": None, "weights": None}),
    "smoothgrad": (_smoothgrad, {"samples": None, "noise_level": None, "seed": None, "noise": None}),
}

ALIASES = {
    "input_t_gradient": "input_x_gradient",
    "gradient_x_input": "input_x_gradient",
    "deconv": "deconvnet",
    "guided": "guided_backprop",
    "guided_backpropagation": "guided_backprop",
    "lrp.zplus": "lrp.z_plus",
    "lrp.epsilon_rule": "lrp.epsilon",
    "lrp.w2": "lrp.w_square",
    "lrp.alpha_1_beta_0_IB": "lrp.z_plus",
    "deep_taylor.bounded": "deep_taylor",
    "integrated_gradient": "integrated_gradients",
    "integrated-gradients": "integrated_gradients",
    "pattern_net": "pattern.net",
    "patternnet": "pattern.net",
    "pattern_attribution": "pattern.attribution",
    "patternattribution": "pattern.attribution",
}


def canonical_name(method) -> str:
    """The canonical method name for ``method`` (an alias or a canonical name)."""
    if not isinstance(method, str):
        raise TypeError(f"method: expected a method name (str) or a Composite, got {type(method).__name__}")
    name = ALIASES.get(method, method)
    if name not in METHODS and name not in GRADIENT_METHODS:
        raise ValueError(f"unknown method {method!r}; known methods: {', '.join(method_names())}")
    return name


def method_names() -> list:
    """All canonical method names, sorted."""
    return sorted(set(METHODS) | set(GRADIENT_METHODS))
