"""ρ per kernel layer for each signal estimator (Kindermans et al., 2018, Fig. 3).

Split protocol (``docs/math.md#rho-held-out``): the data are cut into three disjoint thirds; the
patterns are fitted on split 1, the best distractor projection ``v`` on split 2, and ρ is
measured on split 3.  Estimators: random directions (the baseline), ``S_w``, ``S_a``, ``S_a±``.
The per-layer ρ is the mean over the layer's neurons (:func:`refpattern.patterns.rho`).
"""

from __future__ import annotations

import numpy as np

from refpattern.patterns import fit_patterns, rho

FIG3_ESTIMATORS = ("random", "w", "a", "a+-")


def three_splits(n: int, seed: int = 0) -> tuple:
    """Three disjoint index arrays covering ``0..n−1`` (sizes differ by at most one), shuffled by ``seed``."""
    if n < 3:
        raise ValueError(f"three_splits: need at least 3 samples, got {n}")
    return tuple(np.array_split(np.random.default_rng(seed).permutation(n), 3))


def rho_per_layer(net, X, estimators=FIG3_ESTIMATORS, *, seed: int = 0) -> dict:
    """``{"layers": [layer names], "n_per_split": int, "rho": {estimator: [ρ per kernel layer]}}``.

    ``X``: (N, …) data the network was *not* trained on (any draw of the same task).
    """
    fit_split, v_split, rho_split = three_splits(X.shape[0], seed)
    table = {}
    for estimator in estimators:
        patterns = fit_patterns(net, X[fit_split], estimator=estimator, seed=seed)
        values = rho(net, X[rho_split], patterns, fit_v_on=X[v_split])
        table[estimator] = [float(v) for v in np.asarray(values)]
    names = [f"{type(layer).__name__} {k}" for k, layer in enumerate(net.kernel_layers)]
    return {"layers": names, "n_per_split": int(len(rho_split)), "rho": table}
