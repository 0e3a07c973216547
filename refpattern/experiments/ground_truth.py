"""Scoring explanations against the known truth of the built-in data.

Two numbers per method, each averaged over the samples:

- **mass fraction** of a region ``M``: ``Σ_{i∈M} |E_i| / Σ_i |E_i|`` (0 when ``E ≡ 0``).  A map
  that is uniform in magnitude scores the region's share of the pixels (its *area*), the
  chance level.
- **signal correlation**: Pearson correlation over pixels between ``E`` and the true signal
  ``s`` of that sample (undefined samples, a constant ``E`` or ``s``, are left out);
- **distractor correlation**: the same with the sample's true distractor ``ε·D`` — how much of
  the distractor a map keeps (a signal method that removes it scores near 0).
"""

from __future__ import annotations

import numpy as np

from refpattern.experiments.similarity import flat_pair, scaled_rows


def mass_fractions(explanation, regions: dict) -> dict:
    """``{name: mean over samples of Σ_M |E| / Σ |E|}`` for bool masks shaped like ``explanation``.

    A sample whose explanation is all zero contributes 0 to every region.
    """
    explanation = np.asarray(explanation)
    if explanation.dtype.kind not in "biuf" or explanation.ndim < 2:
        raise TypeError(f"mass_fractions: expected real maps (N, …), got dtype {explanation.dtype} and shape "
                        f"{explanation.shape}")
    if not np.all(np.isfinite(explanation)):  # a NaN map would score 0 in every region, as an all-zero one
        raise ValueError(f"mass_fractions: the explanation holds {np.count_nonzero(~np.isfinite(explanation))} "
                         "NaN or inf value(s)")
    magnitude = np.abs(explanation).reshape(explanation.shape[0], -1)
    total = magnitude.sum(axis=1)
    fractions = {}
    for name, mask in regions.items():
        mask = np.asarray(mask)
        if mask.dtype != bool:  # a mask of 2s would count its pixels twice
            raise TypeError(f"mass_fractions region {name!r}: expected a bool mask, got dtype {mask.dtype}")
        try:
            mask = np.broadcast_to(mask, explanation.shape)
        except ValueError:
            raise ValueError(f"mass_fractions region {name!r}: a mask of shape {mask.shape} does not fit the "
                             f"explanation's shape {explanation.shape}") from None
        inside = (magnitude * mask.reshape(magnitude.shape)).sum(axis=1)
        fractions[name] = float(np.mean(np.divide(inside, total, out=np.zeros_like(inside), where=total > 0)))
    return fractions


def area_fractions(regions: dict, shape) -> dict:
    """``{name: mean share of pixels in the region}``, the score of a uniform map (chance level)."""
    fractions = {}
    for name, mask in regions.items():
        mask = np.asarray(mask)
        if mask.dtype != bool:  # a mask of 2s would give an area of 2
            raise TypeError(f"area_fractions region {name!r}: expected a bool mask, got dtype {mask.dtype}")
        try:
            fractions[name] = float(np.mean(np.broadcast_to(mask, shape)))
        except ValueError:
            raise ValueError(f"area_fractions region {name!r}: a mask of shape {mask.shape} does not fit the shape "
                             f"{tuple(shape)}") from None
    return fractions


def signal_correlation(explanation, signal) -> float:
    """Mean over samples of the Pearson correlation between ``E`` and ``s`` over pixels (NaN if none defined)."""
    e, s = flat_pair(explanation, signal, "signal_correlation")
    e, s = scaled_rows(e), scaled_rows(s)  # exact powers of two: the correlation does not change
    e = e - e.mean(axis=1, keepdims=True)
    s = s - s.mean(axis=1, keepdims=True)
    norm = np.sqrt((e * e).sum(axis=1) * (s * s).sum(axis=1))
    defined = norm > 0
    if not np.any(defined):
        return float("nan")
    return float(np.mean((e * s).sum(axis=1)[defined] / norm[defined]))


def score_methods(explanations: dict, regions: dict, signal, distractor=None) -> dict:
    """``{label: {"mass_<region>": …, "signal_corr": …[, "distractor_corr": …]}}`` for every explanation
    (the distractor correlation when the true ``distractor`` is given)."""
    scores = {}
    for label, explanation in explanations.items():
        row = {f"mass_{name}": value for name, value in mass_fractions(explanation, regions).items()}
        row["signal_corr"] = signal_correlation(explanation, signal)
        if distractor is not None:
            row["distractor_corr"] = signal_correlation(explanation, distractor)
        scores[label] = row
    return scores
