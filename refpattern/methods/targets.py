"""Which logit is explained for each sample."""

from __future__ import annotations

import numbers

import numpy as np


def resolve_targets(logits, target) -> np.ndarray:
    """Turn ``target`` into one class index per sample.

    ``None``: the argmax logit of each sample (first one on ties); an int: that class for
    every sample; a sequence/array of ints of length N: one per sample.
    Raises ``TypeError``/``ValueError`` for non-integers and classes out of range.
    """
    n, classes = logits.shape
    if target is None:
        return np.argmax(logits, axis=1)
    if isinstance(target, (bool, np.bool_)):
        raise TypeError(f"target: expected None, an int or one int per sample, got {target!r}")
    if isinstance(target, numbers.Integral):
        targets = np.full(n, int(target))
    else:
        targets = np.asarray(target)
        if targets.dtype == bool or not np.issubdtype(targets.dtype, np.integer):
            raise TypeError(f"target: expected integers, got dtype {targets.dtype}")
        if targets.shape != (n,):
            raise ValueError(f"target: expected one int per sample, shape ({n},), got shape {targets.shape}")
        targets = targets.astype(np.int64)
    if np.any(targets < 0) or np.any(targets >= classes):
        bad = targets[(targets < 0) | (targets >= classes)][0]
        raise ValueError(f"target: class {int(bad)} is out of range for {classes} logits (0..{classes - 1})")
    return targets
