"""The arguments the data generators share, checked once at their entry: a count is an int (not a bool,
not a float) at least its minimum, a spread or scale a finite number ≥ 0, a seed what
``numpy.random.default_rng`` takes (None, an int ≥ 0 or a list of them).  A wrong one is a
``TypeError``/``ValueError`` naming the generator and the argument, never NaN data or an error
from inside NumPy."""

from __future__ import annotations

import math
import numbers


def check_count(value, name: str, minimum: int, where: str) -> int:
    """``value`` as an int ``≥ minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{where}: {name} must be an integer, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{where}: {name} must be >= {minimum}, got {value}")
    return int(value)


def check_spread(value, name: str, where: str) -> float:
    """``value`` as a finite float ``≥ 0`` (a standard deviation or a scale; 0 allowed)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where}: {name} must be a number, got {value!r} ({type(value).__name__})")
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{where}: {name} must be finite and >= 0, got {value}")
    return value


def check_seed(value, where: str):
    """``value`` unchanged if it is None, an int ``≥ 0`` or a non-empty list/tuple of them."""
    if isinstance(value, (list, tuple)) and value:
        for index, entry in enumerate(value):
            check_count(entry, f"seed[{index}]", 0, where)
    elif value is not None:
        check_count(value, "seed", 0, where)
    return value


__all__ = ["check_count", "check_seed", "check_spread"]
