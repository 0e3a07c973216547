"""Layouts of inputs, explanations and weights: refpattern (= PyTorch) ↔ Keras channels-last.

``docs/conventions.md#interop-layouts``.  refpattern and PyTorch share every layout:

=========  ================================  ==================================
what       refpattern / PyTorch ("torch")    Keras channels_last ("keras")
=========  ================================  ==================================
image      ``(N, C, H, W)``                  ``(N, H, W, C)``
Dense      weight ``(out, in)``              kernel ``(in, out)``
Conv2D     weight ``(out, in, kh, kw)``      kernel ``(kh, kw, in, out)``
Flatten    ``(C, H, W)`` in C order          ``(H, W, C)`` in C order
=========  ================================  ==================================

A Flatten of a ``(C, H, W)`` map puts feature ``(c, h, w)`` at ``(c·H + h)·W + w`` in refpattern
and at ``(h·W + w)·C + c`` in Keras, so the first Dense layer after it reads its inputs in another
order: its Keras kernel is refpattern's weight with the input axis permuted
(:func:`flatten_permutation`).  Biases, strides, pool sizes and ReLUs need no change.

Every function returns new arrays and leaves its arguments unchanged: a copy even where the transposed view
would already be C-contiguous (an axis of size 1: one channel, a 1 × 1 map, one output), so that writing
into a result never writes into the caller's array.
A masked array (``numpy.ma``) is refused with a ``TypeError``, as refpattern's parameters refuse it: the
transposed result would be a plain array, its mask dropped silently.  So is an array that does not hold real
numbers (bool, complex, string, object); integer and float arrays keep their dtype.
"""

from __future__ import annotations

import numbers

import numpy as np

from refpattern.network.conv2d import Conv2D
from refpattern.network.dense import Dense
from refpattern.network.elementwise import Flatten, ReLU, Softmax
from refpattern.network.maxpool import MaxPool2D
from refpattern.network.sequential import Sequential
from refpattern.network.validation import check_sample_shape

LAYOUTS = ("torch", "keras")


def _refuse_masked(value, name: str) -> None:
    """A masked array is refused, as everywhere in refpattern that takes parameters
    (``docs/conventions.md#input-acceptance``): ``numpy.asarray`` would drop its mask silently."""
    if isinstance(value, np.ma.MaskedArray):
        raise TypeError(f"{name}: a masked array is refused (the result would lose its mask silently); pass "
                        "value.filled(fill) or numpy.ma.getdata(value), and transpose the mask separately if needed")


def _real_array(value, name: str, axes: str) -> np.ndarray:
    """``value`` as an array of real numbers (integer or floating dtype, as given); masked, object, bool,
    complex and string arrays are refused with a ``TypeError`` naming ``name``."""
    _refuse_masked(value, name)
    array = np.asarray(value)
    if array.dtype == bool or not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise TypeError(f"{name}: expected a real numeric array {axes} (integer or float), got dtype {array.dtype}")
    return array


def _array(value, name: str, ndim: int, axes: str) -> np.ndarray:
    array = _real_array(value, name, axes)
    if array.ndim != ndim:
        raise ValueError(f"{name}: expected {ndim} axes {axes}, got shape {array.shape}")
    return array


def nchw_to_nhwc(x) -> np.ndarray:
    """``(N, C, H, W) → (N, H, W, C)``: ``y[n, h, w, c] = x[n, c, h, w]``; a flat batch ``(N, F)``
    has no channel axis and is returned as a copy.  Returns a new C-contiguous array of ``x``'s dtype; a masked,
    bool, complex, string or object array is refused (``TypeError``)."""
    x = _real_array(x, "nchw_to_nhwc", "(N, C, H, W) or (N, F)")
    if x.ndim == 2:
        return x.copy()
    if x.ndim != 4:
        raise ValueError(f"nchw_to_nhwc: expected a batch of images (N, C, H, W) or a flat batch (N, F), "
                         f"got shape {x.shape}")
    return np.array(np.moveaxis(x, 1, -1), order="C")


def nhwc_to_nchw(x) -> np.ndarray:
    """``(N, H, W, C) → (N, C, H, W)``: ``y[n, c, h, w] = x[n, h, w, c]``; a flat batch ``(N, F)`` is
    returned as a copy.  Returns a new C-contiguous array of ``x``'s dtype; a masked, bool, complex, string or
    object array is refused (``TypeError``)."""
    x = _real_array(x, "nhwc_to_nchw", "(N, H, W, C) or (N, F)")
    if x.ndim == 2:
        return x.copy()
    if x.ndim != 4:
        raise ValueError(f"nhwc_to_nchw: expected a batch of images (N, H, W, C) or a flat batch (N, F), "
                         f"got shape {x.shape}")
    return np.array(np.moveaxis(x, -1, 1), order="C")


def flatten_permutation(channels: int, height: int, width: int) -> np.ndarray:
    """The index array ``p`` (length ``C·H·W``, int64) with ``keras_flat = refpattern_flat[..., p]``.

    Keras feature ``k' = (h·W + w)·C + c`` is refpattern feature ``p[k'] = (c·H + h)·W + w``.
    """
    for name, value in (("channels", channels), ("height", height), ("width", width)):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"flatten_permutation: {name} must be a positive int, got {value!r}")
    return np.arange(channels * height * width, dtype=np.int64).reshape(channels, height, width) \
        .transpose(1, 2, 0).ravel()


def conv_weight_to_keras(weight) -> np.ndarray:
    """Conv2D weight ``(out, in, kh, kw)`` → Keras kernel ``(kh, kw, in, out)`` (both cross-correlate)."""
    weight = _array(weight, "conv_weight_to_keras weight", 4, "(out, in, kh, kw)")
    return np.array(weight.transpose(2, 3, 1, 0), order="C")


def conv_weight_from_keras(kernel) -> np.ndarray:
    """Keras Conv2D kernel ``(kh, kw, in, out)`` → refpattern/PyTorch weight ``(out, in, kh, kw)``."""
    kernel = _array(kernel, "conv_weight_from_keras kernel", 4, "(kh, kw, in, out)")
    return np.array(kernel.transpose(3, 2, 0, 1), order="C")


def _check_flattened(flattened_from, features: int, where: str):
    if flattened_from is None:
        return None
    try:
        shape = tuple(flattened_from)
    except TypeError:
        raise TypeError(f"{where}: flattened_from must be the (C, H, W) shape the Flatten saw, got "
                        f"{flattened_from!r}") from None
    if len(shape) != 3:
        raise ValueError(f"{where}: flattened_from must be the (C, H, W) shape the Flatten saw, got {flattened_from!r}")
    permutation = flatten_permutation(*shape)
    if permutation.size != features:
        raise ValueError(f"{where}: flattened_from {shape} has {permutation.size} features, the weight has "
                         f"{features} inputs")
    return permutation


def dense_weight_to_keras(weight, flattened_from=None) -> np.ndarray:
    """Dense weight ``(out, in)`` → Keras kernel ``(in, out)``.

    ``flattened_from=(C, H, W)`` when the layer reads a Flatten of a ``(C, H, W)`` map: Keras
    kernel row ``k'`` is refpattern input ``p[k']`` (:func:`flatten_permutation`), i.e.
    ``kernel = weight[:, p].T``.
    """
    weight = _array(weight, "dense_weight_to_keras weight", 2, "(out, in)")
    permutation = _check_flattened(flattened_from, weight.shape[1], "dense_weight_to_keras")
    if permutation is not None:
        weight = weight[:, permutation]
    return np.array(weight.T, order="C")


def dense_weight_from_keras(kernel, flattened_from=None) -> np.ndarray:
    """Keras Dense kernel ``(in, out)`` → refpattern/PyTorch weight ``(out, in)``; ``flattened_from``
    as in :func:`dense_weight_to_keras` (the inverse permutation is applied)."""
    kernel = _array(kernel, "dense_weight_from_keras kernel", 2, "(in, out)")
    permutation = _check_flattened(flattened_from, kernel.shape[0], "dense_weight_from_keras")
    weight = kernel.T
    if permutation is not None:
        restored = np.empty_like(weight)
        restored[:, permutation] = weight
        weight = restored
    return np.array(weight, order="C")


def layer_padding(layer, input_shape=None) -> tuple:
    """A Conv2D's zero padding as ``((top, bottom), (left, right))`` — the form of Keras'
    ``ZeroPadding2D`` (PyTorch's ``Conv2d(padding=(ph, pw))`` is the symmetric case).

    Accepts a layer whose ``padding`` is a pair ``(ph, pw)`` (both sides alike) or a pair of
    pairs ``((top, bottom), (left, right))``; ``"same"`` padding depends on the input size and
    needs ``input_shape``, the per-sample ``(C, H, W)`` the layer reads (:meth:`Conv2D.pads`).
    """
    padding = getattr(layer, "padding", None)
    if isinstance(padding, str):
        if input_shape is None:
            raise ValueError(f"layer_padding: {layer!r} has padding {padding!r}, which depends on the input size; "
                             "give input_shape= (or build the network with input_shape=)")
        return layer.pads(tuple(input_shape)[-2:])
    try:
        if len(padding) == 2 and all(isinstance(p, numbers.Integral) for p in padding):
            return ((int(padding[0]),) * 2, (int(padding[1]),) * 2)
        if len(padding) == 2 and all(len(p) == 2 and all(isinstance(v, numbers.Integral) for v in p)
                                     for p in padding):
            return tuple((int(p[0]), int(p[1])) for p in padding)
    except TypeError:
        pass
    raise ValueError(f"layer_padding: {layer!r} has padding {padding!r}; expected (ph, pw) or "
                     "((top, bottom), (left, right))")


def flattened_inputs(net, input_shape=None) -> dict:
    """For every Dense layer of ``net`` (by its index in ``net.layers``), the ``(C, H, W)`` map it
    reads flattened — through a Flatten, with any ReLUs between — or None when it reads a flat
    vector.  This is what the Keras layout permutes (:func:`dense_weight_to_keras`).

    ``input_shape``: the per-sample input ``(C, H, W)`` in refpattern's layout, default
    ``net.input_shape``; needed when a Flatten is present (``ValueError`` otherwise).
    """
    if not isinstance(net, Sequential):
        raise TypeError(f"flattened_inputs: net must be a refpattern.Sequential, got {type(net).__name__}")
    input_shape = net.input_shape if input_shape is None else check_sample_shape(input_shape)
    shapes = net.output_shapes(input_shape) if input_shape is not None else None
    found, flattened_from = {}, None
    for index, layer in enumerate(net.layers):
        if isinstance(layer, Dense):
            found[index], flattened_from = flattened_from, None
        elif isinstance(layer, Flatten):
            if shapes is None:
                raise ValueError("the Keras layout needs input_shape= (C, H, W) (or a net built with input_shape) "
                                 "to order the features after a Flatten")
            if len(shapes[index]) == 3:  # a Flatten of a flat vector changes no order
                flattened_from = tuple(shapes[index])
    return found


def _image_shape(shape, layout):
    """A per-sample shape in ``layout``: ``(C, H, W)`` → ``(H, W, C)`` for Keras; flat shapes unchanged."""
    if shape is None or layout == "torch" or len(shape) != 3:
        return None if shape is None else tuple(shape)
    return (shape[1], shape[2], shape[0])


def network_weights(net, layout: str = "torch", input_shape=None) -> list:
    """Every layer of ``net`` as a dict in ``layout``, in forward order.

    Parameters
    ----------
    net : Sequential
    layout : {"torch", "keras"}
        ``"torch"``: refpattern's own layouts, PyTorch's names (``weight``, ``bias``, ``stride``,
        ``kernel_size``).  ``"keras"``: channels-last layouts, Keras' names (``kernel``,
        ``bias``, ``strides``, ``pool_size``), the first Dense after a Flatten of a
        ``(C, H, W)`` map permuted (:func:`dense_weight_to_keras`).
    input_shape : tuple, optional
        Per-sample input shape ``(C, H, W)`` (refpattern's layout); defaults to
        ``net.input_shape``.  Needed for the Keras layout when a Flatten of an image feeds a
        Dense layer; when known, every dict also has ``input_shape``/``output_shape`` in ``layout``.

    Returns
    -------
    list of dict, one per layer, each with ``"type"`` (``"Dense"``, ``"Conv2D"``, ``"MaxPool2D"``,
    ``"ReLU"``, ``"Flatten"``, ``"Softmax"``) and ``"index"`` (position in ``net.layers``):

    - Dense: torch ``weight (out, in)``, ``bias (out,)``; keras ``kernel (in, out)``, ``bias``
      and ``flattened_from`` (the ``(C, H, W)`` it reads flattened, or None);
    - Conv2D: torch ``weight (out, in, kh, kw)``, ``bias``, ``stride (sh, sw)``,
      ``kernel_size``; keras ``kernel (kh, kw, in, out)``, ``bias``, ``strides``; both
      ``padding ((top, bottom), (left, right))`` (Keras: a ``ZeroPadding2D`` before a
      ``padding="valid"`` Conv2D);
    - MaxPool2D: torch ``kernel_size``, ``stride``; keras ``pool_size``, ``strides``
      (no padding, floor output size).

    Arrays are new float64 arrays.
    """
    if not isinstance(net, Sequential):
        raise TypeError(f"network_weights: net must be a refpattern.Sequential, got {type(net).__name__}")
    if layout not in LAYOUTS:
        raise ValueError(f"network_weights: layout must be one of {LAYOUTS}, got {layout!r}")
    input_shape = net.input_shape if input_shape is None else check_sample_shape(input_shape)
    shapes = net.output_shapes(input_shape) if input_shape is not None else None
    keras = layout == "keras"
    if keras:
        try:
            flattened = flattened_inputs(net, input_shape)
        except ValueError as error:
            raise ValueError(f"network_weights: {error}") from None
    layers = []
    for index, layer in enumerate(net.layers):
        entry = {"type": type(layer).__name__, "index": index}
        if shapes is not None:
            entry["input_shape"] = _image_shape(shapes[index], layout)
            entry["output_shape"] = _image_shape(shapes[index + 1], layout)
        if isinstance(layer, Dense):
            if keras:
                entry["kernel"] = dense_weight_to_keras(layer.weight, flattened[index])
                entry["flattened_from"] = flattened[index]
            else:
                entry["weight"] = np.array(layer.weight)
            entry["bias"] = np.array(layer.bias)
        elif isinstance(layer, Conv2D):
            if keras:
                entry["kernel"] = conv_weight_to_keras(layer.weight)
                entry["strides"] = tuple(layer.stride)
            else:
                entry["weight"] = np.array(layer.weight)
                entry["kernel_size"] = tuple(layer.kernel_size)
                entry["stride"] = tuple(layer.stride)
            entry["bias"] = np.array(layer.bias)
            entry["padding"] = layer_padding(layer, None if shapes is None else shapes[index])
        elif isinstance(layer, MaxPool2D):
            entry.update({"pool_size": tuple(layer.size), "strides": tuple(layer.stride)} if keras else
                         {"kernel_size": tuple(layer.size), "stride": tuple(layer.stride)})
        elif not isinstance(layer, (ReLU, Softmax, Flatten)):
            raise TypeError(f"network_weights: layer {index} is a {type(layer).__name__}, which has no layout here")
        layers.append(entry)
    return layers
