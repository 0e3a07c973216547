"""Input checks shared by layers, networks and methods.

Every check raises a ``TypeError`` (wrong kind of object) or a ``ValueError`` (right
kind, wrong value or shape) whose message names what was expected and what came.
Nothing here modifies its argument.
"""

from __future__ import annotations

import numbers

import numpy as np


def as_float_array(value, name: str, *, allow_nonfinite: bool = False) -> np.ndarray:
    """Return ``value`` as a float64 ndarray (a new array if a conversion was needed).

    Accepts NumPy arrays and nested sequences of real floating-point or integer
    values *for parameters*; see :func:`check_batch` for the stricter rule on inputs.
    """
    if isinstance(value, np.ndarray):
        array = value
    else:
        try:
            array = np.asarray(value)
        except Exception as error:  # ragged lists and the like
            raise TypeError(f"{name}: could not convert {type(value).__name__} to an array ({error})") from None
    if array.dtype == object or not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise TypeError(f"{name}: expected a real numeric array, got dtype {array.dtype}")
    array = array.astype(np.float64, copy=False)
    if not allow_nonfinite and not np.all(np.isfinite(array)):
        raise ValueError(f"{name}: contains NaN or inf")
    return array


def kernel_parameters(weight, bias, layer: str, layout: str):
    """Copy a kernel layer's ``weight`` and ``bias`` into read-only float64 arrays.

    ``layout`` names the weight axes, e.g. ``"(out, in)"``; the weight must have that many
    axes and the bias (zeros when ``None``) one entry per output neuron.
    """
    weight = np.array(as_float_array(weight, f"{layer} weight"), dtype=np.float64)
    if weight.ndim != layout.count(",") + 1:
        raise ValueError(f"{layer} weight: expected shape {layout}, got {weight.shape}")
    if bias is None:
        bias = np.zeros(weight.shape[0])
    bias = np.array(as_float_array(bias, f"{layer} bias"), dtype=np.float64)
    if bias.shape != (weight.shape[0],):
        raise ValueError(f"{layer} bias: expected shape ({weight.shape[0]},), got {bias.shape}")
    weight.setflags(write=False)
    bias.setflags(write=False)
    return weight, bias


def check_batch(x, name: str = "x") -> np.ndarray:
    """Validate a batch of network inputs and return it as float64 (never modified in place).

    ``x`` must be a NumPy array of a real floating-point dtype (float16/32/64); integer,
    boolean, complex and object arrays are refused with a ``TypeError`` so that a user
    never explains a silently-cast label array.  NaN or inf raise a ``ValueError``.
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name}: expected a numpy.ndarray of floats, got {type(x).__name__}")
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{name}: expected a floating-point array, got dtype {x.dtype}")
    if x.ndim == 0:
        raise ValueError(f"{name}: expected a batch (first axis = samples), got a 0-d array")
    if x.shape[0] == 0:
        raise ValueError(f"{name}: the batch is empty (shape {x.shape})")
    x = x.astype(np.float64, copy=False)
    if not np.all(np.isfinite(x)):
        bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
        raise ValueError(f"{name}: contains {bad} NaN or inf value(s)")
    return x


def check_pair(value, name: str, *, minimum: int) -> tuple[int, int]:
    """Turn an int or a pair of ints into a pair, each at least ``minimum``."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected an int or a pair of ints, got {value!r}")
    if isinstance(value, numbers.Integral):
        pair = (int(value), int(value))
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(
        isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_)) for v in value
    ):
        pair = (int(value[0]), int(value[1]))
    else:
        raise TypeError(f"{name}: expected an int or a pair of ints, got {value!r}")
    if min(pair) < minimum:
        raise ValueError(f"{name}: each value must be >= {minimum}, got {pair}")
    return pair


def check_options(method: str, options: dict, allowed: dict) -> dict:
    """Fill defaults for ``options`` and refuse unknown names.

    ``allowed`` maps option name to its default.
    """
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        known = ", ".join(sorted(allowed)) or "none"
        raise ValueError(f"method {method!r}: unknown option(s) {unknown}; it accepts: {known}")
    filled = dict(allowed)
    filled.update(options)
    return filled
