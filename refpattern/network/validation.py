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


def check_layer_input(layer, x, name: str = "x") -> tuple:
    """Check an array a layer method receives (its input, or any array of the input's shape);
    return the per-sample output shape.

    ``x`` must be a floating-point ndarray with a batch axis whose per-sample shape ``layer``
    accepts (``layer.output_shape``).  Raises ``TypeError``/``ValueError`` naming the layer, what
    it expected and what came.  Cheap (no pass over the data): the kernels behind the layer
    assume this was checked.
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{layer!r}: {name} must be a numpy.ndarray of floats, got {type(x).__name__}")
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{layer!r}: {name} must be a floating-point array, got dtype {x.dtype}")
    if x.ndim < 2:
        raise ValueError(f"{layer!r}: {name} must be a batch (N, ...) of per-sample arrays, got shape {x.shape}")
    try:
        return tuple(layer.output_shape(tuple(x.shape[1:])))
    except ValueError as error:
        raise ValueError(f"{layer!r}: {name} of shape {x.shape}: {error}") from None


def check_layer_upstream(layer, upstream, input_shape, name: str = "grad_y") -> None:
    """Check a signal arriving at a layer's output: a floating-point ndarray shaped like the
    layer's output for an input of shape ``input_shape`` (already checked)."""
    expected = (int(input_shape[0]),) + tuple(layer.output_shape(tuple(input_shape[1:])))
    if not isinstance(upstream, np.ndarray) or not np.issubdtype(upstream.dtype, np.floating):
        raise TypeError(f"{layer!r}: {name} must be a numpy.ndarray of floats shaped like the layer output "
                        f"{expected}, got {type(upstream).__name__} {getattr(upstream, 'dtype', '')}")
    if upstream.shape != expected:
        raise ValueError(f"{layer!r}: {name} must have the shape of the layer output {expected} (input shape "
                         f"{tuple(input_shape)}), got {upstream.shape}")


def check_layer_weight(layer, weight, name: str = "weight") -> None:
    """Check a weight handed to a kernel layer's linear map: a floating-point ndarray of the
    layer's own weight shape."""
    if not isinstance(weight, np.ndarray) or not np.issubdtype(weight.dtype, np.floating):
        raise TypeError(f"{layer!r}: {name} must be a numpy.ndarray of floats, got {type(weight).__name__}")
    if weight.shape != layer.weight.shape:
        raise ValueError(f"{layer!r}: {name} must have the layer's weight shape {layer.weight.shape}, "
                         f"got {weight.shape}")


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


#: The padding names :func:`check_padding` accepts (``docs/conventions.md#padding``).
PADDING_NAMES = ("valid", "same")


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _is_int_pair(value) -> bool:
    return isinstance(value, (tuple, list)) and len(value) == 2 and all(_is_int(v) for v in value)


def check_padding(value, name: str):
    """Normalise a convolution's zero padding (``docs/conventions.md#padding``).

    Accepted: an int ``p`` (``p`` on every side), a pair ``(ph, pw)`` (``ph`` on top and bottom,
    ``pw`` left and right), a pair of pairs ``((top, bottom), (left, right))``, ``"valid"`` (no
    padding) or ``"same"``.  Returns ``((top, bottom), (left, right))`` of Python ints, or the
    string ``"same"`` (resolved per input size by the layer).  Anything else (a bool, a negative
    pad, a float, a malformed tuple, another string) raises a ``ValueError`` that names ``name``,
    the accepted forms and the value that came.
    """
    forms = ("expected an int >= 0, a pair (ph, pw), a pair of pairs ((top, bottom), (left, right)), "
             f"{PADDING_NAMES[0]!r} or {PADDING_NAMES[1]!r}")
    if isinstance(value, str):
        if value == "same":
            return "same"
        if value == "valid":
            return ((0, 0), (0, 0))
        raise ValueError(f"{name}: unknown padding {value!r}; {forms}")
    if _is_int(value):
        pads = ((int(value), int(value)), (int(value), int(value)))
    elif _is_int_pair(value):
        pads = ((int(value[0]), int(value[0])), (int(value[1]), int(value[1])))
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(_is_int_pair(v) for v in value):
        pads = ((int(value[0][0]), int(value[0][1])), (int(value[1][0]), int(value[1][1])))
    else:
        raise ValueError(f"{name}: {forms}; got {value!r}")
    if min(min(pads[0]), min(pads[1])) < 0:
        raise ValueError(f"{name}: every pad must be >= 0, got {value!r} (((top, bottom), (left, right)) = {pads})")
    return pads


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
