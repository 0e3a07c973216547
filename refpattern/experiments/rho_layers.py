"""ρ per kernel layer for each signal estimator (Kindermans et al., 2018, Fig. 3).

Split protocol (``docs/math.md#rho-held-out``): the patterns are fitted on one part of the data,
the best distractor projection ``v`` on a second and ρ is measured on a third.  The paper uses the
two halves of the training set and then the validation set (:func:`paper_splits`); on freshly
drawn synthetic data any three disjoint parts of a held-out draw are equivalent
(:func:`three_splits`).  Estimators: random directions (the baseline), ``S_w``, ``S_a``, the
paper's ``S_a±`` and its within-regime variant.  The per-layer ρ is the mean over the layer's
neurons (:func:`refpattern.patterns.rho`).

:func:`constant_zero_inputs` finds the inputs of each kernel layer that are zero in every
observation (digits have pixels that are 0 in every image): for a neuron whose weights touch
such an input, ``S_w`` and a random direction leave ``d̂ᵢ = −aᵢ·y`` there, a copy of the output,
so ``ρ(S_w) = ρ(random) = 0`` exactly (``docs/math.md#zero-inputs``).
"""

from __future__ import annotations

import numpy as np

from refpattern.experiments.method_suite import ESTIMATORS
from refpattern.kernels.numpy_reference import extract_patches
from refpattern.network import Conv2D
from refpattern.network.validation import check_count, check_seed
from refpattern.patterns import fit_statistics, patterns_from_statistics, rho

FIG3_ESTIMATORS = {"random": ("random", None), **{k: v for k, v in ESTIMATORS.items() if k != "S_x"}}
"""Fig. 3's estimators in the report, printable label → ``(estimator, variant)`` (S_x has no ρ:
``docs/math.md#rho-s-x``)."""

FIG3_NAMES = ("random", "w", "a", "a+-")
"""The paper's four estimators by name (the default of :func:`rho_per_layer`; the table's keys are the names)."""


def estimator_table(estimators) -> dict:
    """``label → (estimator, variant)`` from a dict of that form or from a sequence of estimator
    names (each its own label, the paper's variant)."""
    if isinstance(estimators, dict):
        wrong = [label for label, value in estimators.items() if not (isinstance(value, tuple) and len(value) == 2)]
        if wrong:
            raise TypeError(f"estimators: each label maps to an (estimator, variant) pair, got "
                            f"{estimators[wrong[0]]!r} for {wrong[0]!r}")
        return dict(estimators)
    if isinstance(estimators, str):  # 'a+-' would be read as the names 'a', '+', '-'
        raise TypeError(f"estimators: expected a sequence of estimator names or a dict, got the string {estimators!r} "
                        f"(write [{estimators!r}])")
    return {name: (name, None) for name in estimators}


def three_splits(n: int, seed: int = 0) -> tuple:
    """Three disjoint index arrays covering ``0..n−1`` (sizes differ by at most one), shuffled by ``seed``."""
    n = check_count(n, "three_splits n", minimum=3)
    return tuple(np.array_split(np.random.default_rng(check_seed(seed, "three_splits seed")).permutation(n), 3))


def paper_splits(n_train: int, seed: int = 0) -> tuple:
    """The paper's first two parts: the training set's indices ``0..n_train−1`` shuffled by ``seed``
    and cut in two halves (patterns on the first, ``v`` on the second; ρ then on held-out data)."""
    n_train = check_count(n_train, "paper_splits n_train", minimum=2)
    return tuple(np.array_split(np.random.default_rng(check_seed(seed, "paper_splits seed")).permutation(n_train), 2))


def layer_names(net) -> list:
    """``["Conv2D 0", "Conv2D 1", "Dense 2", …]``: the kernel layers, numbered."""
    return [f"{type(layer).__name__} {k}" for k, layer in enumerate(net.kernel_layers)]


def rho_on_splits(net, X_fit, X_v, X_rho, estimators=FIG3_ESTIMATORS, *, seed: int = 0, backend=None) -> dict:
    """``{"layers": [names], "n_per_split": int, "rho": {label: [ρ per kernel layer]}}``: patterns
    fitted on ``X_fit``, ``v`` on ``X_v``, ρ measured on ``X_rho`` (``estimators``: label →
    ``(estimator, variant)``, or estimator names, :func:`estimator_table`)."""
    stats = fit_statistics(net, X_fit, backend=backend)
    table = {}
    for label, (estimator, variant) in estimator_table(estimators).items():
        patterns = patterns_from_statistics(net, stats, estimator, variant, seed)
        values = rho(net, X_rho, patterns, fit_v_on=X_v, backend=backend)
        table[label] = [float(v) for v in np.asarray(values)]
    return {"layers": layer_names(net), "n_per_split": int(min(len(X_fit), len(X_v), len(X_rho))), "rho": table}


def rho_per_layer(net, X, estimators=FIG3_NAMES, *, seed: int = 0, backend=None) -> dict:
    """:func:`rho_on_splits` on the three thirds of ``X`` (:func:`three_splits`), data the network
    was *not* trained on (any draw of the same task).  ``estimators``: names (the default, the
    paper's four, keyed by name) or ``label → (estimator, variant)`` (:data:`FIG3_ESTIMATORS`)."""
    fit_split, v_split, rho_split = three_splits(X.shape[0], seed)
    return rho_on_splits(net, X[fit_split], X[v_split], X[rho_split], estimators, seed=seed, backend=backend)


def constant_zero_inputs(net, X, backend=None) -> list:
    """Per kernel layer, ``{"inputs": D, "zero": m, "neurons_touching": k}``: ``m`` of the layer's ``D``
    inputs (for a Conv2D the patch coordinates ``(C, kh, kw)``, over every patch, zero padding
    included) are 0 in every observation of ``X``, and ``k`` of its ``O`` neurons have a nonzero
    weight on one of them (for those, ρ(S_w) = ρ(random) = 0 exactly: ``docs/math.md#zero-inputs``)."""
    activations = net.trace(X, backend)
    out = []
    for index, layer in zip(net.kernel_indices, net.kernel_layers):
        x = activations[index]
        if isinstance(layer, Conv2D):
            kh, kw = layer.weight.shape[2:]
            patches = extract_patches(x, (kh, kw), layer.stride, layer.pads(x.shape[2:]))
            nonzero = np.any(patches != 0, axis=(0, 1, 2)).reshape(-1)      # (C·kh·kw,)
        else:
            nonzero = np.any(x.reshape(x.shape[0], -1) != 0, axis=0)
        zero = ~nonzero
        weight = np.asarray(layer.weight).reshape(layer.weight.shape[0], -1)
        touching = int(np.sum(np.any(weight[:, zero] != 0, axis=1)))
        out.append({"inputs": int(zero.size), "zero": int(zero.sum()), "neurons_touching": touching,
                    "neurons": int(weight.shape[0])})
    return out
