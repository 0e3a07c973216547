"""Which explanation methods the experiments compare, with which options.

One :class:`MethodSpec` per row of every table: a label for humans, the ``explain`` name and
options, and the kind of output (a *signal* in input units, shown as an image; an
*attribution* or a *gradient*, shown as a heat map).  The pattern methods need fitted
patterns, one :class:`refpattern.patterns.Patterns` per estimator, passed in by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from refpattern.methods import explain

KINDS = ("signal", "attribution", "gradient")

"""Printable names of the signal estimators (``docs/math.md#estimators``)."""

LRP_EPSILON = 0.01
"""ε of LRP-ε in every experiment (the logits of the trained networks are O(10))."""


@dataclass(frozen=True)
class MethodSpec:
    """One explanation method as the experiments run it: ``explain(net, x, method, **options)``."""

    label: str
    method: str
    kind: str
    options: dict = field(default_factory=dict)

    def __call__(self, net, x, target=None, backend=None) -> np.ndarray:
        return explain(net, x, self.method, target, backend=backend, **self.options)


def pattern_attribution_specs(patterns_by_estimator: dict) -> list:
    """PatternAttribution with each estimator given, labelled ``PA S_x``, ``PA S_w``, …"""
    return [MethodSpec(f"PA {patterns.estimator.label}", "pattern.attribution", "attribution", {"patterns": patterns})
            for patterns in patterns_by_estimator.values()]


def degradation_suite(patterns_by_estimator: dict, *, ig_steps: int = 32, smoothgrad_samples: int = 16,
                      seed: int = 0) -> list:
    """The methods of the degradation test (Fig. 4): PatternAttribution with every estimator
    (``S_x`` is LRP-z), gradient, guided backprop, integrated gradients, SmoothGrad, LRP-ε."""
    return pattern_attribution_specs(patterns_by_estimator) + [
        MethodSpec("gradient", "gradient", "gradient"),
        MethodSpec("guided backprop", "guided_backprop", "gradient"),
        MethodSpec("integrated gradients", "integrated_gradients", "attribution", {"steps": ig_steps}),
        MethodSpec("SmoothGrad", "smoothgrad", "gradient", {"samples": smoothgrad_samples, "seed": seed}),
        MethodSpec("LRP-ε", "lrp.epsilon", "attribution", {"epsilon": LRP_EPSILON}),
    ]


def full_suite(patterns_by_estimator: dict, *, low: float, high: float, ig_steps: int = 32,
               smoothgrad_samples: int = 16, seed: int = 0) -> list:
    """Every method of the library, for the gallery (Fig. 5) and the ground-truth scores.

    ``low``/``high`` bound the input domain for the z^B rule (the data's min and max).
    PatternNet uses ``S_a±`` (and ``S_a``) when those patterns are given.
    """
    specs = [
        MethodSpec("gradient", "gradient", "gradient"),
        MethodSpec("input×gradient", "input_x_gradient", "attribution"),
        MethodSpec("DeConvNet", "deconvnet", "signal"),
        MethodSpec("guided backprop", "guided_backprop", "signal"),
        MethodSpec("integrated gradients", "integrated_gradients", "attribution", {"steps": ig_steps}),
        MethodSpec("SmoothGrad", "smoothgrad", "gradient", {"samples": smoothgrad_samples, "seed": seed}),
        MethodSpec("LRP-z", "lrp.z", "attribution"),
        MethodSpec("LRP-ε", "lrp.epsilon", "attribution", {"epsilon": LRP_EPSILON}),
        MethodSpec("LRP-α1β0", "lrp.alpha_beta", "attribution", {"alpha": 1.0, "beta": 0.0}),
        MethodSpec("LRP-α2β1", "lrp.alpha_beta", "attribution", {"alpha": 2.0, "beta": 1.0}),
        MethodSpec("LRP-w²", "lrp.w_square", "attribution"),
        MethodSpec("LRP-zB", "lrp.zb", "attribution", {"low": low, "high": high}),
        MethodSpec("deep Taylor", "deep_taylor", "attribution"),
    ]
    for name in ("a+-", "a"):
        if name in patterns_by_estimator:
            patterns = patterns_by_estimator[name]
            specs.append(MethodSpec(f"PatternNet {patterns.estimator.label}", "pattern.net", "signal",
                                    {"patterns": patterns}))
    return specs + pattern_attribution_specs(patterns_by_estimator)


def explain_all(net, x, specs, target=None, backend=None) -> dict:
    """``{label: explanation}`` for every spec, each shaped like ``x``."""
    return {spec.label: spec(net, x, target, backend) for spec in specs}
