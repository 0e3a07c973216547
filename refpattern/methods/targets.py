"""Which logit is explained for each sample."""

from __future__ import annotations

import numbers

import numpy as np


def resolve_targets(logits, target) -> np.ndarray:
    """Turn ``target`` into one class index per sample.

    ``None``: the argmax logit of each sample (first one on ties); an int: that class for
    every sample; a sequence/array of ints of length N: one per sample.
    Raises ``TypeError``/``ValueError`` for non-integers, masked entries and classes out of range,
    and a ``ValueError`` when the network's output is not one row of logits per sample, shape
    ``(N, classes)`` (``docs/conventions.md#targets``).
    """
    if logits.ndim != 2:
        raise ValueError(f"explain: the network's output (its logits) must have shape (N, classes), one logit "
                         f"per class and sample, got shape {logits.shape}; end the network in Flatten and Dense")
    n, classes = logits.shape
    if target is None:
        return np.argmax(logits, axis=1)
    if isinstance(target, (bool, np.bool_)):
        raise TypeError(f"target: expected None, an int or one int per sample, got {target!r}")
    if isinstance(target, numbers.Integral):
        if not 0 <= target < classes:
            raise ValueError(f"target: class {int(target)} is out of range for {classes} logits (0..{classes - 1})")
        return np.full(n, int(target))
    if isinstance(target, np.ma.MaskedArray) and np.ma.getmask(target) is not np.ma.nomask and target.mask.any():
        raise ValueError(f"target: a masked array with {int(np.count_nonzero(target.mask))} masked entries; "
                         "refpattern does not guess classes: give one int per sample")
    targets = np.asarray(np.ma.getdata(target) if isinstance(target, np.ma.MaskedArray) else target)
    if targets.size == 0 and targets.dtype == np.float64:  # [] or () read as float64: the length is what is wrong
        raise ValueError(f"target: expected one int per sample, shape ({n},), got an empty sequence")
    if targets.dtype == bool or not np.issubdtype(targets.dtype, np.integer):
        raise TypeError(f"target: expected integers, got dtype {targets.dtype}")
    if targets.shape != (n,):
        raise ValueError(f"target: expected one int per sample, shape ({n},), got shape {targets.shape}")
    outside = (targets < 0) | (targets >= classes)  # before any cast: a uint64 above 2^63 is not a negative class
    if np.any(outside):
        raise ValueError(f"target: class {int(targets[outside][0])} is out of range for {classes} logits "
                         f"(0..{classes - 1})")
    return targets.astype(np.int64)
