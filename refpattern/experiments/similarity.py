"""Similarity of two explanation maps, per sample, averaged (for the follow-up experiments)."""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

#: Rows whose largest magnitude lies outside ``[2⁻¹⁰⁰, 2¹⁰⁰]`` are first multiplied by a power of two
#: (exact) that brings it near 1, so that products of two entries neither overflow nor turn
#: subnormal; every measure here is a ratio in which the factor cancels, and rows inside the range
#: are used as they are (the same numbers as without scaling).
SCALED_RANGE = (2.0 ** -100, 2.0 ** 100)


def flat_pair(a, b, name: str) -> tuple:
    """``a`` and ``b`` as float64 ``(N, pixels)``; refused unless they are non-empty, of one shape
    and finite (``ValueError`` naming ``name``)."""
    a, b = np.asarray(a), np.asarray(b)
    for label, array in (("first", a), ("second", b)):
        if array.dtype.kind not in "biuf":  # complex would lose its imaginary part, text be parsed
            raise TypeError(f"{name}: the {label} map must hold real numbers, got dtype {array.dtype}")
    a, b = a.astype(np.float64, copy=False), b.astype(np.float64, copy=False)
    if a.shape != b.shape or a.ndim < 2 or a.size == 0:
        raise ValueError(f"{name}: expected two non-empty maps of one shape (N, …), got shapes {a.shape} and {b.shape}")
    for label, array in (("first", a), ("second", b)):
        if not np.all(np.isfinite(array)):
            count = np.count_nonzero(~np.isfinite(array))
            raise ValueError(f"{name}: the {label} map holds {count} NaN or inf value(s)")
    return a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1)


def row_exponents(*rows) -> np.ndarray:
    """Per row ``(N, 1)``: the power of two to divide by (0 for rows whose peak over every array in
    ``rows`` lies in :data:`SCALED_RANGE` or is 0)."""
    peak = np.max([np.max(np.abs(r), axis=1) for r in rows], axis=0)[:, None]
    outside = (peak > SCALED_RANGE[1]) | ((peak > 0) & (peak < SCALED_RANGE[0]))
    return np.where(outside, np.frexp(peak)[1], 0)


def scaled_rows(rows, exponents=None) -> np.ndarray:
    """``rows · 2^−e`` per row (:func:`row_exponents`), exact; ``rows`` itself when nothing is scaled."""
    exponents = row_exponents(rows) if exponents is None else exponents
    return rows if not np.any(exponents) else np.ldexp(rows, -exponents)


def cosine_similarity(a, b) -> float:
    """Mean over samples of ``⟨a, b⟩ / (‖a‖‖b‖)`` (a sample with a zero map counts as 0)."""
    a, b = flat_pair(a, b, "cosine_similarity")
    a, b = scaled_rows(a), scaled_rows(b)
    norm = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    dot = (a * b).sum(axis=1)
    return float(np.mean(np.divide(dot, norm, out=np.zeros_like(dot), where=norm > 0)))


def spearman_abs(a, b) -> float:
    """Mean over samples of Spearman's rank correlation of ``|a|`` and ``|b|`` over pixels
    (the measure of Adebayo et al., 2018; a constant map counts as 0)."""
    a, b = flat_pair(a, b, "spearman_abs")
    a, b = np.abs(a), np.abs(b)
    values = []
    for row_a, row_b in zip(a, b):
        ra, rb = rankdata(row_a) - (len(row_a) + 1) / 2, rankdata(row_b) - (len(row_b) + 1) / 2
        norm = np.sqrt((ra * ra).sum() * (rb * rb).sum())
        values.append((ra * rb).sum() / norm if norm > 0 else 0.0)
    return float(np.mean(values))


def relative_difference(a, b) -> float:
    """Mean over samples of ``‖a − b‖ / ‖a‖`` (``‖a − b‖`` itself where ``‖a‖ = 0``)."""
    a, b = flat_pair(a, b, "relative_difference")
    exponents = row_exponents(a, b)  # one factor for a and b: ‖a − b‖ scales with it
    a, b = scaled_rows(a, exponents), scaled_rows(b, exponents)
    norm = np.linalg.norm(a, axis=1)
    diff = np.linalg.norm(a - b, axis=1)
    absolute = diff if not np.any(exponents) else np.ldexp(diff, exponents[:, 0])  # ‖b‖ where a = 0
    return float(np.mean(np.where(norm > 0, diff / np.where(norm > 0, norm, 1.0), absolute)))
