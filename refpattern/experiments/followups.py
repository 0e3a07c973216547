"""Claims from follow-up work, measured on the built-in data (``docs/math.md#followups``).

Each function runs one experiment and returns plain numbers (JSON-ready); the verdicts are
drawn in :mod:`refpattern.experiments.claims`.

- :func:`cascading_randomization` — Sixt, Granz & Landgraf (ICML 2020).
- :func:`input_shift` — Kindermans, Hooker et al. (2017), "The (un)reliability of saliency methods".
- :func:`linear_suppressor` — Wilming et al. (2022, 2023).
- :func:`implementation_invariance` — are functionally identical networks explained alike?

Patterns are always fitted again for a changed network (they are part of the method: a user
of the changed network would fit them on its data).
"""

from __future__ import annotations

import numpy as np

from refpattern.datasets import make_linear_suppressor, suppressor_pattern
from refpattern.experiments.method_suite import (
    LRP_EPSILON,
    MethodSpec,
    estimator_labels,
    fit_all_patterns,
    pattern_attribution_specs,
    pattern_net_specs,
)
from refpattern.experiments.similarity import cosine_similarity, relative_difference, spearman_abs
from refpattern.experiments.surgery import (
    centred_logits,
    factorized_equivalent,
    randomize_top_layers,
    rescaled_equivalent,
    shift_absorbed,
    split_unit_equivalent,
)
from refpattern.network import Dense, Sequential, Softmax
from refpattern.network.validation import check_level
from refpattern.patterns import fit_patterns
from refpattern.train import train

PATTERN_SUBJECTS = ("S_a±", "S_a± (regime)", "S_a")
"""The estimators of the pattern methods in the follow-ups (the paper's S_a± first)."""


def _layer_name(layer) -> str:
    return type(layer).__name__


def cascade_specs(patterns_by_label: dict) -> list:
    """The methods compared under cascading randomisation (``{label: Patterns}`` of that network)."""
    return [
        MethodSpec("gradient", "gradient", "gradient"),
        MethodSpec("guided backprop", "guided_backprop", "signal"),
        MethodSpec("LRP-ε", "lrp.epsilon", "attribution", {"epsilon": LRP_EPSILON}),
        MethodSpec("LRP-α1β0", "lrp.alpha_beta", "attribution", {"alpha": 1.0, "beta": 0.0}),
    ] + pattern_net_specs({k: v for k, v in patterns_by_label.items() if k == "S_a±"}) + \
        pattern_attribution_specs(patterns_by_label)


def cascading_randomization(net, X_fit, x, *, seed: int = 0, backend=None, subjects=PATTERN_SUBJECTS) -> dict:
    """Re-randomise the top 1, 2, … kernel layers (all but the first) and compare each method's map
    with its map on the trained network (same input, same target class: the trained net's choice).
    PatternAttribution runs with every estimator of ``subjects``, its patterns fitted again on
    ``X_fit`` for every randomised network.

    Returns ``{"randomized": [names of the layers randomised at each step],
    "methods": {label: {"spearman_abs": [...], "cosine": [...]}}}``, one entry per step.
    """
    subjects = estimator_labels(subjects, "cascading_randomization subjects")
    kernels = net.kernel_layers
    if len(kernels) < 2:
        raise ValueError(f"cascading_randomization: the network has {len(kernels)} kernel layer(s); it needs at "
                         "least two (every kernel layer but the first is re-randomised in turn)")
    target = np.argmax(net.logits(x, backend), axis=1)
    reference = {spec.label: spec(net, x, target, backend)
                 for spec in cascade_specs(fit_all_patterns(net, X_fit, subjects, seed, backend))}
    result = {"randomized": [], "methods": {label: {"spearman_abs": [], "cosine": []} for label in reference}}
    for count in range(1, len(kernels)):
        randomized = randomize_top_layers(net, count, seed=seed + count)
        patterns = fit_all_patterns(randomized, X_fit, subjects, seed, backend)
        names = [f"{_layer_name(layer)} {k}" for k, layer in enumerate(kernels)][len(kernels) - count:]
        result["randomized"].append(", ".join(names))
        for spec in cascade_specs(patterns):
            explanation = spec(randomized, x, target, backend)
            row = result["methods"][spec.label]
            row["spearman_abs"].append(spearman_abs(reference[spec.label], explanation))
            row["cosine"].append(cosine_similarity(reference[spec.label], explanation))
    return result


def shift_specs(patterns_by_label: dict) -> list:
    """The methods compared under an input shift (``{label: Patterns}`` fitted on the data the network sees)."""
    specs = [
        MethodSpec("gradient", "gradient", "gradient"),
        MethodSpec("guided backprop", "guided_backprop", "signal"),
        MethodSpec("SmoothGrad", "smoothgrad", "gradient", {"samples": 8, "seed": 0}),
        MethodSpec("input×gradient", "input_x_gradient", "attribution"),
        MethodSpec("integrated gradients (baseline 0)", "integrated_gradients", "attribution", {"steps": 16}),
        MethodSpec("LRP-z", "lrp.z", "attribution"),
        MethodSpec("LRP-ε", "lrp.epsilon", "attribution", {"epsilon": LRP_EPSILON}),
        MethodSpec("deep Taylor (w² first layer)", "deep_taylor", "attribution"),
    ]
    return specs + pattern_net_specs(patterns_by_label) + pattern_attribution_specs(patterns_by_label)


SHIFT_EXPECTED_INVARIANT = ("gradient", "guided backprop", "SmoothGrad", "PatternNet S_a", "PA S_a",
                            "PatternNet S_a±", "PA S_a±", "PatternNet S_a± (regime)",
                            "PA S_a± (regime)", "deep Taylor (w² first layer)")
"""Methods expected to be input-shift invariant.  Kindermans, Hooker et al. (2017) report the
gradient-type methods and PatternNet/PatternAttribution as invariant, and input×gradient,
integrated gradients with a zero baseline and LRP as changed; for deep Taylor they show that
invariance depends on the root point — the w² rule used here on the first layer never reads the
input (its root point moves with the data), so it is expected to be invariant."""

SHIFT_MEASURED = ("PatternNet S_a±", "PA S_a±")
"""The only rows whose change is a measurement.  Every other row is fixed by construction
(``docs/math.md#followup-input-shift``): the gradient-type maps and the w² rule never read the
input's offset, S_a and the regime variant are covariances (shift-invariant), and input×gradient,
IG with a zero baseline and LRP-z/ε multiply by the shifted input.  The paper's S_a± moves with
the shift by ``c·(E₊[y] − E[y])`` (``docs/math.md#shift-invariance``): how far its maps move is
what the experiment measures."""


def input_shift(net, X_fit, x, *, shift: float = -1.0, seed: int = 0, tolerance: float = 1e-6,
                backend=None) -> dict:
    """Explain ``x`` with ``net`` and ``x + c`` with the network whose first bias absorbs ``c``.

    Both networks give the same logits (checked, reported as ``max_logit_difference``); patterns
    are fitted on ``X_fit`` and on ``X_fit + c`` respectively.  Returns the relative difference
    ``‖E(x) − E'(x + c)‖/‖E(x)‖`` per method, whether it exceeds ``tolerance`` (rounding), whether
    the method is expected invariant and whether its row is fixed by construction
    (:data:`SHIFT_MEASURED`).
    """
    tolerance = check_level(tolerance, "input_shift tolerance")
    shifted_net = shift_absorbed(net, shift)
    max_logit_difference = float(np.max(np.abs(net.logits(x, backend) - shifted_net.logits(x + shift, backend))))
    target = np.argmax(net.logits(x, backend), axis=1)
    original = shift_specs(fit_all_patterns(net, X_fit, PATTERN_SUBJECTS, seed, backend))
    moved = shift_specs(fit_all_patterns(shifted_net, X_fit + shift, PATTERN_SUBJECTS, seed, backend))
    methods = {}
    for a, b in zip(original, moved):
        difference = relative_difference(a(net, x, target, backend), b(shifted_net, x + shift, target, backend))
        methods[a.label] = {"relative_difference": difference, "changed": bool(difference > tolerance),
                            "expected_invariant": a.label in SHIFT_EXPECTED_INVARIANT,
                            "by_construction": a.label not in SHIFT_MEASURED}
    return {"shift": shift, "max_logit_difference": max_logit_difference, "tolerance": tolerance,
            "methods": methods}


def linear_suppressor(*, n: int = 4000, seed: int = 0, epochs: int = 30) -> dict:
    """The two-feature suppressor of Wilming et al. (2023): ``x₁ = z + η``, ``x₂ = η``.

    Two linear models with logits ``±wᵀx/2``-like (Dense 2→2, then softmax):

    - ``"trained"``: a softmax classifier trained by :func:`refpattern.train.train` for ``epochs``
      epochs, its logits centred (same probabilities, :func:`.surgery.centred_logits`).  The data
      are separable, so its filter approaches ``(1, −1)`` only slowly;
    - ``"least squares"``: the regression filter ``w = Σ̂⁻¹ cov̂[x, z]`` (the optimal linear
      filter of the data model), logits ``±wᵀx/2``.

    For each, ``S_a`` is fitted on the data and the suppressor-to-signal ratio ``mean|E₂| / mean|E₁|``
    of the explained (argmax) logit is reported for gradient, PatternNet (the pattern ``a``)
    and PatternAttribution, next to the filter and the population pattern ``Σw/(wᵀΣw)``.
    """
    data = make_linear_suppressor(n, seed=seed)
    rng = np.random.default_rng(seed)
    net = Sequential([Dense.he(2, 2, rng), Softmax()], input_shape=(2,))
    trained = train(net, data.X, data.labels, epochs=epochs, seed=seed, progress=False)
    centred = data.X - data.X.mean(axis=0)
    w_ls = np.linalg.solve(centred.T @ centred, centred.T @ (data.z - data.z.mean()))
    least_squares = Sequential([Dense(np.stack([-w_ls / 2, w_ls / 2]),
                                      -np.array([-1, 1]) * (w_ls @ data.X.mean(axis=0)) / 2),
                                Softmax()], input_shape=(2,))
    models = {"trained": centred_logits(trained.net), "least squares": least_squares}
    result = {"n": n, "epochs": epochs, "models": {}}
    for name, model in models.items():
        patterns = fit_patterns(model, data.X, estimator="a", seed=seed)
        ratios = {}
        for label, method, options in (("gradient", "gradient", {}),
                                       ("PatternNet S_a", "pattern.net", {"patterns": patterns}),
                                       ("PA S_a", "pattern.attribution", {"patterns": patterns})):
            magnitude = np.abs(MethodSpec(label, method, "attribution", options)(model, data.X)).mean(axis=0)
            ratios[label] = float(magnitude[1] / magnitude[0])
        w = model.layers[0].weight[1]
        accuracy = float(np.mean(np.argmax(model.logits(data.X), axis=1) == data.labels))
        result["models"][name] = {"accuracy": accuracy, "filter_class1": w.tolist(),
                                  "pattern_class1_fitted": patterns[0].a[1].tolist(),
                                  "pattern_class1_population": suppressor_pattern(w).tolist(), "ratios": ratios}
    return result


INVARIANT_BY_CONSTRUCTION = ("ReLU layer 1 rescaled ×4, next layer ÷4",
                             "hidden unit duplicated, outgoing weights halved")
"""Rebuilds under which PatternAttribution is invariant by its algebra: a positive rescaling meets
``a/α`` in the pattern (``w ⊙ a`` unchanged), and two copies of a unit share its pattern and split
its relevance (their outgoing weights are halved).  PatternNet is invariant under the rescaling
only: it has no weights to halve, so a duplicated unit passes its signal down twice.  Only a
mixing rebuild (the factorised logit layer) is a measurement for PatternAttribution
(``docs/math.md#followup-implementation-invariance``)."""


def implementation_invariance(net, X_fit, x, *, seed: int = 0, tolerance: float = 1e-6, backend=None,
                              subjects=PATTERN_SUBJECTS) -> dict:
    """Explain ``x`` with ``net`` and with three functionally identical rebuilds of it (rescaled
    ReLU layer, duplicated hidden unit, factorised logit layer; :mod:`.surgery`).

    Returns per construction the largest logit difference (rounding level if identical), the
    relative difference of the gradient, PatternNet and PatternAttribution maps (every estimator of
    ``subjects``) and whether the construction is invariant by construction
    (:data:`INVARIANT_BY_CONSTRUCTION`).
    """
    tolerance = check_level(tolerance, "implementation_invariance tolerance")
    subjects = estimator_labels(subjects, "implementation_invariance subjects")
    target = np.argmax(net.logits(x, backend), axis=1)

    def maps(network):
        specs = [MethodSpec("gradient", "gradient", "gradient")]
        patterns = fit_all_patterns(network, X_fit, subjects, seed, backend)
        specs += pattern_net_specs(patterns) + pattern_attribution_specs(patterns)
        return {spec.label: spec(network, x, target, backend) for spec in specs}

    reference = maps(net)
    constructions = {
        INVARIANT_BY_CONSTRUCTION[0]: rescaled_equivalent(net, 0, 4.0),
        INVARIANT_BY_CONSTRUCTION[1]: split_unit_equivalent(net, 0, 0),
        "logit layer factorised W = (W M⁻¹)·M": factorized_equivalent(net, seed),
    }
    result = {"tolerance": tolerance, "constructions": {}}
    for name, other in constructions.items():
        other_maps = maps(other)
        result["constructions"][name] = {
            "max_logit_difference": float(np.max(np.abs(net.logits(x, backend) - other.logits(x, backend)))),
            "relative_difference": {label: relative_difference(reference[label], other_maps[label])
                                    for label in reference},
            "by_construction": name in INVARIANT_BY_CONSTRUCTION,
        }
    return result
