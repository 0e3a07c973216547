"""Which explanation methods the experiments compare, with which options.

One :class:`MethodSpec` per row of every table: a label for humans, the ``explain`` name and
options, and the kind of output (a *signal* in input units, shown as an image; an
*attribution* or a *gradient*, shown as a heat map).  The pattern methods need fitted
patterns, one :class:`refpattern.patterns.Patterns` per estimator, passed in by the caller as
``{label: patterns}`` with the labels of :data:`ESTIMATORS` (:func:`fit_all_patterns` fits them
from one pass of statistics).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from refpattern.methods import explain
from refpattern.patterns import fit_statistics, patterns_from_statistics

KINDS = ("signal", "attribution", "gradient")

ESTIMATORS = {"S_x": ("x", None), "S_w": ("w", None), "S_a": ("a", None), "S_a±": ("a+-", "paper"),
              "S_a± (regime)": ("a+-", "regime")}
"""The signal estimators of the experiments: printable label → ``(estimator, variant)``
(``docs/math.md#estimators``; ``S_a±`` is the paper's, ``S_a± (regime)`` the within-regime variant)."""

PATTERN_SIGNALS = ("S_a±", "S_a± (regime)", "S_a")
"""The estimators PatternNet is shown with (when their patterns are given)."""

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


def fit_all_patterns(net, X, labels=tuple(ESTIMATORS), seed: int = 0, backend=None) -> dict:
    """``{label: Patterns}`` for the estimators ``labels`` of :data:`ESTIMATORS`, all from one pass of
    statistics over ``X`` (:func:`refpattern.patterns.fit_statistics`)."""
    labels = estimator_labels(labels, "fit_all_patterns labels")
    stats = fit_statistics(net, X, backend=backend)
    return {label: patterns_from_statistics(net, stats, *ESTIMATORS[label], seed) for label in labels}


def estimator_labels(labels, name: str) -> tuple:
    """``labels`` as a tuple of keys of :data:`ESTIMATORS`; a single string (a sequence of letters),
    an unknown label or none at all is refused, naming ``name``."""
    if isinstance(labels, str) or not isinstance(labels, (list, tuple)):
        raise TypeError(f"{name}: expected a list or tuple of labels of {tuple(ESTIMATORS)}, got {labels!r}")
    unknown = [label for label in labels if label not in ESTIMATORS]
    if unknown or not labels:
        raise ValueError(f"{name}: expected one or more labels of {tuple(ESTIMATORS)}, got {tuple(labels)!r}")
    return tuple(labels)


def check_spec_labels(specs, name: str, reserved=()) -> list:
    """``specs`` as a list; two specs with one label (the second's map would silently replace the
    first's) or a label in ``reserved`` are refused, naming ``name``."""
    specs = list(specs)
    labels = [spec.label for spec in specs]
    taken = sorted({label for label in labels if label in reserved})
    if taken:
        raise ValueError(f"{name}: the label(s) {taken} are reserved for the baseline here")
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise ValueError(f"{name}: every method needs its own label (one map per label), got {repeated} more than once")
    return specs


def pattern_attribution_specs(patterns_by_label: dict) -> list:
    """PatternAttribution with each estimator given (``{label: Patterns}``), labelled ``PA S_x``, ``PA S_w``, …"""
    return [MethodSpec(f"PA {label}", "pattern.attribution", "attribution", {"patterns": patterns})
            for label, patterns in patterns_by_label.items()]


def pattern_net_specs(patterns_by_label: dict) -> list:
    """PatternNet with the estimators of :data:`PATTERN_SIGNALS` that are given, labelled ``PatternNet S_a±``, …"""
    return [MethodSpec(f"PatternNet {label}", "pattern.net", "signal", {"patterns": patterns_by_label[label]})
            for label in PATTERN_SIGNALS if label in patterns_by_label]


def degradation_suite(patterns_by_label: dict, *, ig_steps: int = 32, smoothgrad_samples: int = 16,
                      seed: int = 0) -> list:
    """The methods of the degradation test (Fig. 4): PatternAttribution with every estimator
    (``S_x`` is LRP-z), gradient, guided backprop, integrated gradients, SmoothGrad, LRP-ε."""
    return pattern_attribution_specs(patterns_by_label) + [
        MethodSpec("gradient", "gradient", "gradient"),
        MethodSpec("guided backprop", "guided_backprop", "gradient"),
        MethodSpec("integrated gradients", "integrated_gradients", "attribution", {"steps": ig_steps}),
        MethodSpec("SmoothGrad", "smoothgrad", "gradient", {"samples": smoothgrad_samples, "seed": seed}),
        MethodSpec("LRP-ε", "lrp.epsilon", "attribution", {"epsilon": LRP_EPSILON}),
    ]


def full_suite(patterns_by_label: dict, *, low: float, high: float, ig_steps: int = 32,
               smoothgrad_samples: int = 16, seed: int = 0) -> list:
    """Every method of the library, for the gallery (Fig. 5) and the ground-truth scores.

    ``low``/``high`` bound the input domain for the z^B rule (the data's min and max).
    PatternNet uses ``S_a±``, ``S_a± (regime)`` and ``S_a`` when those patterns are given.
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
    return specs + pattern_net_specs(patterns_by_label) + pattern_attribution_specs(patterns_by_label)


def explain_all(net, x, specs, target=None, backend=None) -> dict:
    """``{label: explanation}`` for every spec, each shaped like ``x``."""
    return {spec.label: spec(net, x, target, backend) for spec in check_spec_labels(specs, "explain_all specs")}
