"""Input checks shared by layers, networks and methods.

Every check raises a ``TypeError`` (wrong kind of object) or a ``ValueError`` (right
kind, wrong value or shape) whose message names what was expected and what came.
Nothing here modifies its argument.

Three kinds of check live here, each in one place:

- what a network accepts as input (:func:`check_batch`, ``docs/conventions.md#input-acceptance``);
- the arguments every public function names (:func:`check_seed`, :func:`check_count`,
  :func:`check_level`), so that ``seed=1.5`` or ``noise_level="abc"`` is refused with the
  argument's name and the accepted range, never with NumPy's words;
- the magnitudes float64 can carry through a kernel layer (:func:`check_magnitude`,
  ``docs/conventions.md#scale``).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

#: Largest magnitude accepted in the input of a kernel layer: a sum of up to 2⁶³ terms of this
#: size stays below float64's largest number (≈ 2¹⁰²⁴), so means and sums over a batch cannot overflow.
LARGEST_MAGNITUDE = 2.0 ** 960
#: Smallest largest-magnitude accepted in the input of a kernel layer (0, an all-zero input, is
#: accepted too): below it, products with the weights come near float64's subnormal numbers
#: (< 2⁻¹⁰²²), whose absolute rounding (2⁻¹⁰⁷⁴) is no longer small next to the values.
SMALLEST_MAGNITUDE = 2.0 ** -960
#: Largest bound ``max_o Σ_i |w_oi|·max|x| + max|b|`` accepted on a kernel layer's output (and so on
#: every sum of magnitudes a rule forms from it, e.g. the positive part of LRP-αβ).
LARGEST_OUTPUT_BOUND = 2.0 ** 1000
#: Rows of a weight matrix whose magnitudes :func:`largest_row_sum` sums at once.
ROW_SUM_BLOCK_ELEMENTS = 1 << 20


def as_float_array(value, name: str, *, allow_nonfinite: bool = False) -> np.ndarray:
    """Return ``value`` as a plain float64 ndarray (a new array if a conversion was needed).

    Accepts NumPy arrays (subclasses read as plain arrays; masked arrays refused) and nested
    sequences of real floating-point or integer values *for parameters*; see :func:`check_batch`
    for the stricter rule on inputs.
    """
    if isinstance(value, np.ma.MaskedArray):
        raise TypeError(f"{name}: a masked array is refused (its masked entries have no value); pass "
                        "value.filled(fill) or numpy.ma.getdata(value)")
    if isinstance(value, np.ndarray):
        array = np.ndarray.view(value, np.ndarray)  # the values only (numpy.matrix and other subclasses)
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
    if weight.size == 0:  # no neuron, no input or an empty kernel window: nothing a layer computes
        raise ValueError(f"{layer} weight: expected shape {layout} with every axis >= 1, got {weight.shape}")
    if bias is None:
        bias = np.zeros(weight.shape[0])
    bias = np.array(as_float_array(bias, f"{layer} bias"), dtype=np.float64)
    if bias.shape != (weight.shape[0],):
        raise ValueError(f"{layer} bias: expected shape ({weight.shape[0]},), got {bias.shape}")
    weight.setflags(write=False)
    bias.setflags(write=False)
    return weight, bias


def check_batch(x, name: str = "x") -> np.ndarray:
    """Validate a batch of network inputs; return it as a plain, C-ordered float64 ndarray.

    The one place where refpattern decides what it accepts as input
    (``docs/conventions.md#input-acceptance``); ``x`` itself is never modified, and returned as
    it is when it already is a C-ordered float64 ndarray (no copy):

    - a NumPy array of a real floating-point dtype (float16/32/64, converted to float64), of any
      memory layout (Fortran order, negative or zero strides, read-only: copied to C order);
    - an ndarray subclass (``numpy.matrix``, your own subclass) is read as the plain ndarray of
      its values, so the result equals that of ``numpy.asarray(x)`` and is a plain ndarray;
    - a masked array (``numpy.ma.MaskedArray``) is read the same way if no entry is masked; with
      masked entries it is refused (``ValueError``): refpattern does not guess values for them
      (pass ``x.filled(value)``);
    - integer, boolean, complex and object arrays are refused with a ``TypeError`` so that a user
      never explains a silently-cast label array; so are lists and other array-likes (pass
      ``numpy.asarray(x, dtype=float)``);
    - NaN or inf, a 0-d array and an empty batch raise a ``ValueError``.
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name}: expected a numpy.ndarray of floats, got {type(x).__name__} (lists and other "
                        "array-likes are refused: pass numpy.asarray(x, dtype=float))")
    if isinstance(x, np.ma.MaskedArray):
        masked = int(np.count_nonzero(np.ma.getmaskarray(x)))
        if masked:
            raise ValueError(f"{name}: a masked array with {masked} masked entr{'y' if masked == 1 else 'ies'} of "
                             f"{x.size}; refpattern does not guess values for masked entries: pass x.filled(value) "
                             "(or numpy.ma.getdata(x) to use the values under the mask)")
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{name}: expected a floating-point array, got dtype {x.dtype}")
    if x.ndim == 0:
        raise ValueError(f"{name}: expected a batch (first axis = samples), got a 0-d array")
    if x.shape[0] == 0:
        raise ValueError(f"{name}: the batch is empty (shape {x.shape})")
    if type(x) is not np.ndarray:
        x = np.ndarray.view(x, np.ndarray)  # the values only: no subclass arithmetic (matrix products, masks)
    x = np.ascontiguousarray(x, dtype=np.float64)
    if not all_finite(x):
        bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
        raise ValueError(f"{name}: contains {bad} NaN or inf value(s)")
    return x


def all_finite(array) -> bool:
    """Whether every entry of ``array`` is finite: the sum is NaN or inf if one entry is, so one
    pass without a temporary decides the usual case; a non-finite sum (maybe an overflow of finite
    entries) is settled entry by entry."""
    with np.errstate(over="ignore", invalid="ignore"):  # a sum that overflows is settled below, silently
        if array.size == 0 or math.isfinite(float(np.sum(array))):
            return True
    return bool(np.isfinite(array).all())


def peak_magnitude(array) -> float:
    """``max |array|`` (0.0 for an empty array); NaN if an entry is NaN, inf if one is infinite."""
    if array.size == 0:
        return 0.0
    high, low = float(np.max(array)), float(np.min(array))
    if math.isnan(high) or math.isnan(low):
        return math.nan
    return max(high, -low)


def largest_row_sum(weight) -> float:
    """``max_o Σ_i |w_oi|`` over the filters of a kernel layer (``weight`` reshaped to (O, D)), in
    blocks of rows so that no temporary the size of the weights is made."""
    rows = weight.reshape(weight.shape[0], -1)
    block = max(1, ROW_SUM_BLOCK_ELEMENTS // max(1, rows.shape[1]))
    largest = 0.0
    for start in range(0, rows.shape[0], block):
        largest = max(largest, float(np.abs(rows[start:start + block]).sum(axis=1).max(initial=0.0)))
    return largest


def check_magnitude(x, where: str, row_sum: float | None = None, bias_peak: float = 0.0) -> float:
    """Check the input ``x`` of a kernel layer against the magnitudes float64 carries; return ``max |x|``.

    ``docs/conventions.md#scale``: ``max |x|`` must be finite and either 0 or within
    [:data:`SMALLEST_MAGNITUDE`, :data:`LARGEST_MAGNITUDE`] (2⁻⁹⁶⁰ … 2⁹⁶⁰, about 1e-289 … 1e289);
    with ``row_sum`` (the layer's :func:`largest_row_sum`) and ``bias_peak`` (``max |b|``), the bound
    ``row_sum·max|x| + bias_peak`` on the layer's output must not exceed :data:`LARGEST_OUTPUT_BOUND`.
    Raises ``ValueError`` starting with ``where`` (the layer) and naming the magnitude seen.
    """
    peak = peak_magnitude(x)
    if not math.isfinite(peak):
        raise ValueError(f"{where}: its input holds NaN or inf (an earlier layer overflowed float64); the "
                         "input of the network was finite: rescale the data or the weights")
    if peak > LARGEST_MAGNITUDE:
        raise ValueError(f"{where}: its input reaches magnitude {peak:.4g}, above the largest refpattern accepts, "
                         f"2^960 ≈ {LARGEST_MAGNITUDE:.4g} (float64 sums of such numbers overflow); rescale the data")
    if 0.0 < peak < SMALLEST_MAGNITUDE:
        raise ValueError(f"{where}: the largest magnitude in its input is {peak:.4g}, below the smallest refpattern "
                         f"accepts, 2^-960 ≈ {SMALLEST_MAGNITUDE:.4g} (float64 products of such numbers are "
                         "subnormal and lose their precision); rescale the data")
    if row_sum is not None:
        bound = row_sum * peak + bias_peak
        if not bound <= LARGEST_OUTPUT_BOUND:
            raise ValueError(f"{where}: its output can reach max_o Σ|w| · max|x| + max|b| = {row_sum:.4g} · "
                             f"{peak:.4g} + {bias_peak:.4g} = {bound:.4g}, above 2^1000 ≈ {LARGEST_OUTPUT_BOUND:.4g} "
                             "where float64 sums overflow; rescale the data or the weights")
    return peak


# --- the arguments every public function names ---------------------------------------------------

def check_seed(seed, name: str = "seed") -> int:
    """A seed: a non-negative int (``numpy.random.default_rng`` takes nothing else); a NumPy integer
    scalar is accepted, a float (even 2.0) refused rather than truncated, a bool refused."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"{name}: expected a non-negative int, got {seed!r} ({type(seed).__name__})")
    if seed < 0:
        raise ValueError(f"{name}: expected a non-negative int, got {seed}")
    return int(seed)


def check_count(value, name: str, minimum: int = 1) -> int:
    """A count (``samples``, ``steps``, ``batch_size``, ``epochs`` …): an int ``>= minimum``; NumPy
    integer scalars are accepted, floats and bools refused."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected an int >= {minimum}, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value}")
    return int(value)


def check_level(value, name: str, low: float = 0.0, high: float = math.inf, *, low_open: bool = False,
                high_open: bool = True) -> float:
    """A real level (``noise_level``, ``epsilon``, ``stabilizer``, ``cutoff``, ``learning_rate`` …):
    a finite number in the interval from ``low`` to ``high`` (closed at ``low`` unless
    ``low_open``, open at ``high`` unless ``high_open`` is False); NumPy scalars are accepted.
    Returns it as a Python float."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a real number in {interval(low, high, low_open, high_open)}, got "
                        f"{value!r} ({type(value).__name__})")
    number = float(value)
    inside = (number > low if low_open else number >= low) and (number < high if high_open else number <= high)
    if not (math.isfinite(number) and inside):
        raise ValueError(f"{name}: expected a finite number in {interval(low, high, low_open, high_open)}, "
                         f"got {value!r}")
    return number


def interval(low, high, low_open: bool, high_open: bool) -> str:
    """``"[0, inf)"`` and the like."""
    return f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"


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
    if type(x) is not np.ndarray:
        raise TypeError(f"{layer!r}: {name} must be a plain numpy.ndarray, got the subclass {type(x).__name__} "
                        "(whose arithmetic may differ: numpy.matrix multiplies as matrices, a masked array hides "
                        "values); pass numpy.asarray(x), or give it to the network, which converts it")
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


def check_generator(rng, name: str = "rng"):
    """A random generator with a ``normal`` method (``numpy.random.Generator``, or a legacy
    ``RandomState``); anything else (a seed, None) is refused with a ``TypeError`` naming ``name``."""
    if not isinstance(rng, (np.random.Generator, np.random.RandomState)):
        raise TypeError(f"{name}: expected a numpy.random.Generator (numpy.random.default_rng(seed)), got "
                        f"{rng!r} ({type(rng).__name__})")
    return rng


#: The largest kernel size, stride, pool size or pad a layer accepts, ``2³¹ − 1``
#: (``docs/conventions.md#geometry-limit``): an image axis longer than that cannot be held in memory,
#: and a larger value would reach the compiled kernels as a Python int they cannot type.
MAX_GEOMETRY = 2 ** 31 - 1
#: The most float64 entries one sample's (padded) array may hold, ``2⁶⁰`` (``2⁶³`` bytes: NumPy's
#: limit on the size of an array).
MAX_SAMPLE_ENTRIES = 2 ** 60


def check_pair(value, name: str, *, minimum: int) -> tuple[int, int]:
    """Turn an int or a pair of ints into a pair, each at least ``minimum`` and at most
    :data:`MAX_GEOMETRY`."""
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
    if max(pair) > MAX_GEOMETRY:
        raise ValueError(f"{name}: each value must be at most 2**31 - 1 = {MAX_GEOMETRY} (docs/conventions.md#"
                         f"geometry-limit), got {pair}")
    return pair


def check_sample_shape(value, name: str = "input_shape") -> tuple[int, ...]:
    """A per-sample shape (no batch axis), e.g. ``(C, H, W)`` or ``(F,)``: a tuple, list or 1-d
    integer array of at least one int >= 1; NumPy integers are accepted, floats (even ``2.0``),
    bools, strings and None are refused rather than truncated or read character by character.
    Returns a tuple of Python ints."""
    if isinstance(value, np.ndarray) and value.ndim == 1 and np.issubdtype(value.dtype, np.integer):
        value = value.tolist()
    if not isinstance(value, (tuple, list)) or not all(_is_int(v) for v in value):
        raise TypeError(f"{name}: expected the per-sample shape as a tuple of ints (no batch axis), e.g. (C, H, W) "
                        f"or (F,), got {value!r} ({type(value).__name__})")
    if not value or min(value) < 1:
        raise ValueError(f"{name}: expected at least one axis, each of size >= 1 (the per-sample shape, no batch "
                         f"axis), got {tuple(value)}")
    return tuple(int(v) for v in value)


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
    if max(max(pads[0]), max(pads[1])) > MAX_GEOMETRY:
        raise ValueError(f"{name}: every pad must be at most 2**31 - 1 = {MAX_GEOMETRY} (docs/conventions.md#"
                         f"geometry-limit), got {value!r}")
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
