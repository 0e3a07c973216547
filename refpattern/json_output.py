"""Turning results into plain JSON types (shared by ``refpattern verify`` and ``refpattern reproduce``)."""

from __future__ import annotations

import math

import numpy as np


def jsonable(value):
    """Plain JSON types: arrays → lists, NumPy scalars → Python numbers, NaN/inf → None,
    dict keys → strings (recursively)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value
