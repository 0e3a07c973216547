"""Similarity of two explanation maps, per sample, averaged (for the follow-up experiments)."""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata


def _flat(a):
    return np.asarray(a, dtype=np.float64).reshape(np.shape(a)[0], -1)


def cosine_similarity(a, b) -> float:
    """Mean over samples of ``⟨a, b⟩ / (‖a‖‖b‖)`` (a sample with a zero map counts as 0)."""
    a, b = _flat(a), _flat(b)
    norm = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    dot = (a * b).sum(axis=1)
    return float(np.mean(np.divide(dot, norm, out=np.zeros_like(dot), where=norm > 0)))


def spearman_abs(a, b) -> float:
    """Mean over samples of Spearman's rank correlation of ``|a|`` and ``|b|`` over pixels
    (the measure of Adebayo et al., 2018; a constant map counts as 0)."""
    a, b = _flat(np.abs(a)), _flat(np.abs(b))
    values = []
    for row_a, row_b in zip(a, b):
        ra, rb = rankdata(row_a) - (len(row_a) + 1) / 2, rankdata(row_b) - (len(row_b) + 1) / 2
        norm = np.sqrt((ra * ra).sum() * (rb * rb).sum())
        values.append((ra * rb).sum() / norm if norm > 0 else 0.0)
    return float(np.mean(values))


def relative_difference(a, b) -> float:
    """Mean over samples of ``‖a − b‖ / ‖a‖`` (``‖a − b‖`` itself where ``‖a‖ = 0``)."""
    a, b = _flat(a), _flat(b)
    norm = np.linalg.norm(a, axis=1)
    diff = np.linalg.norm(a - b, axis=1)
    return float(np.mean(np.where(norm > 0, diff / np.where(norm > 0, norm, 1.0), diff)))
