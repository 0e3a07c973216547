"""What the converters (:func:`~refpattern.interop.from_torch`, :func:`~refpattern.interop.from_keras`,
:func:`~refpattern.interop.from_onnx`) share: the chain of refpattern layers being built, BatchNorm folding
and the refusal of what cannot be converted (``docs/conventions.md#converters``).

A converter walks the other framework's layers (or ONNX nodes) in order and hands each one to a
:class:`ChainBuilder`, which appends the refpattern layer, tracks the per-sample shape (refpattern's
layout: ``(C, H, W)`` or ``(F,)``), folds a BatchNorm into the kernel layer just before it, and
raises :class:`UnsupportedLayerError` — naming the layer, its position and why — for anything else.

BatchNorm folding (``docs/conventions.md#batchnorm-folding``): a kernel layer ``z = W x + b``
followed by ``y = γ (z − μ) / sqrt(σ² + eps) + β`` (per output channel) is one kernel layer with

    s  = γ / sqrt(σ² + eps)
    W' = s ⊙ W      (row / output channel ``o`` of ``W`` times ``s[o]``)
    b' = s ⊙ (b − μ) + β
"""

from __future__ import annotations

import numbers

import numpy as np

from refpattern.network.conv2d import Conv2D
from refpattern.network.dense import Dense
from refpattern.network.elementwise import Softmax
from refpattern.network.sequential import Sequential


class UnsupportedLayerError(ValueError):
    """A layer or operator a converter cannot bring into refpattern.

    Attributes
    ----------
    converter : str
        ``"from_torch"``, ``"from_keras"`` or ``"from_onnx"``.
    position : str
        Where it sits: ``"layer 3 ('features.3')"`` (torch, Keras: the index in the chain and the
        framework's own name) or ``"node 5 ('/conv/Conv')"`` (ONNX: the node index and name).
    layer : str
        What it is (the class or operator and its settings).
    reason : str
        Why it is refused, and what would be accepted.
    """

    def __init__(self, converter: str, position: str, layer: str, reason: str):
        self.converter, self.position, self.layer, self.reason = converter, position, layer, reason
        super().__init__(f"{converter}: {position}, {layer}: {reason}")


def fold_batchnorm(weight, bias, gamma, beta, mean, variance, epsilon):
    """Fold ``y = γ (z − μ) / sqrt(σ² + eps) + β`` into the kernel layer ``z = W x + b`` before it.

    Parameters
    ----------
    weight : ndarray (out, in) or (out, in, kh, kw)
    bias : ndarray (out,)
    gamma, beta, mean, variance : ndarray (out,)
        The BatchNorm's scale, shift and (inference) statistics, per output channel.
    epsilon : float

    Returns
    -------
    (weight', bias') : new float64 arrays, ``W' = s ⊙ W`` (output axis 0), ``b' = s ⊙ (b − μ) + β``
    with ``s = γ / sqrt(σ² + eps)`` (``docs/conventions.md#batchnorm-folding``).

    Raises
    ------
    ValueError
        When a shape does not match ``(out,)`` or ``σ² + eps ≤ 0`` (the BatchNorm divides by zero).
    """
    weight = np.asarray(weight, dtype=np.float64)
    out = weight.shape[0]
    parts = {}
    for name, value in (("bias", bias), ("gamma", gamma), ("beta", beta), ("mean", mean), ("variance", variance)):
        array = np.asarray(value, dtype=np.float64)
        if array.shape != (out,):
            raise ValueError(f"fold_batchnorm: {name} must have shape ({out},) (one per output channel), "
                             f"got {array.shape}")
        parts[name] = array
    if isinstance(epsilon, (bool, np.bool_)) or not isinstance(epsilon, numbers.Real):
        raise TypeError(f"fold_batchnorm: epsilon must be a number, got {epsilon!r}")
    denominator = parts["variance"] + float(epsilon)
    if not np.all(denominator > 0):
        bad = np.flatnonzero(~(denominator > 0)).tolist()
        raise ValueError(f"fold_batchnorm: variance + epsilon must be > 0, got {denominator[bad].tolist()} at "
                         f"channels {bad}")
    scale = parts["gamma"] / np.sqrt(denominator)
    folded_weight = weight * scale.reshape((out,) + (1,) * (weight.ndim - 1))
    folded_bias = scale * (parts["bias"] - parts["mean"]) + parts["beta"]
    return folded_weight, folded_bias


def check_input_shape(input_shape, converter: str) -> tuple:
    """A per-sample input shape in refpattern's layout: ``(C, H, W)`` or ``(F,)``, positive ints."""
    try:
        shape = tuple(input_shape)
    except TypeError:
        raise TypeError(f"{converter}: input_shape must be the per-sample shape (C, H, W) or (F,), "
                        f"got {input_shape!r}") from None
    if len(shape) not in (1, 3) or not all(isinstance(s, numbers.Integral) and not isinstance(s, (bool, np.bool_))
                                           and s >= 1 for s in shape):
        raise ValueError(f"{converter}: input_shape must be the per-sample shape (C, H, W) or (F,) of positive ints "
                         f"(no batch axis), got {input_shape!r}")
    return tuple(int(s) for s in shape)


class ChainBuilder:
    """The refpattern layers of a converted chain, built one framework layer at a time.

    Parameters
    ----------
    converter : str
        Names the converter in every error message.
    input_shape : tuple
        Per-sample input shape in refpattern's layout, ``(C, H, W)`` or ``(F,)``.

    Attributes
    ----------
    shape : tuple
        The per-sample shape after the layers added so far.
    layers : list
        The refpattern layers so far.
    """

    def __init__(self, converter: str, input_shape):
        self.converter = converter
        self.input_shape = check_input_shape(input_shape, converter)
        self.shape = self.input_shape
        self.layers = []
        self._fold_target = None  # (position, description) of a kernel layer a BatchNorm may fold into
        self._softmax_at = None

    def refuse(self, position: str, layer: str, reason: str):
        """Raise :class:`UnsupportedLayerError` for this layer."""
        raise UnsupportedLayerError(self.converter, position, layer, reason)

    def construct(self, position: str, description: str, make, *arguments):
        """``make(*arguments)`` — a refpattern layer's constructor or ``with_parameters`` — for the
        framework layer at ``position``; a parameter the layer refuses (NaN or inf, a bias of
        another length, an empty axis) raises the same ``TypeError``/``ValueError`` with this
        converter, the position and the layer in front."""
        try:
            return make(*arguments)
        except (TypeError, ValueError) as error:
            raise type(error)(f"{self.converter}: {position}, {description}: {error}") from None

    def add(self, layer, position: str, description: str) -> None:
        """Append a refpattern layer converted from the framework layer at ``position``."""
        if self._softmax_at is not None:
            self.refuse(position, description, f"comes after the softmax at {self._softmax_at}; a softmax is "
                                               "allowed only as the last layer (every explanation is of a "
                                               "pre-softmax logit)")
        try:
            shape = tuple(layer.output_shape(self.shape))
        except ValueError as error:
            raise ValueError(f"{self.converter}: {position}, {description}: does not fit its input of per-sample "
                             f"shape {self.shape} (refpattern's layout): {error}") from None
        self.layers.append(layer)
        self.shape = shape
        self._fold_target = (position, description) if isinstance(layer, (Conv2D, Dense)) else None
        if isinstance(layer, Softmax):
            self._softmax_at = position

    def fold_batchnorm(self, position: str, description: str, gamma, beta, mean, variance, epsilon) -> None:
        """Fold the BatchNorm at ``position`` into the kernel layer added just before it."""
        if self._fold_target is None:
            previous = f"follows {type(self.layers[-1]).__name__}" if self.layers else "is the first layer"
            self.refuse(position, description,
                        f"a BatchNorm is folded into the Conv2D/Dense directly before it, and this one {previous}")
        layer = self.layers[-1]
        channels = layer.weight.shape[0]
        arrays = [np.asarray(v, dtype=np.float64) for v in (gamma, beta, mean, variance)]
        if any(a.shape != (channels,) for a in arrays):
            self.refuse(position, description, f"its parameters have shapes {[a.shape for a in arrays]}, expected "
                                               f"({channels},) each: one per output channel of the "
                                               f"{type(layer).__name__} at {self._fold_target[0]}")
        try:
            weight, bias = fold_batchnorm(layer.weight, layer.bias, *arrays, epsilon)
        except ValueError as error:
            self.refuse(position, description, str(error))
        # a second BatchNorm folds in as well
        self.layers[-1] = self.construct(position, description, layer.with_parameters, weight, bias)

    def add_to_bias(self, position: str, description: str, value) -> None:
        """Add the per-output constant ``value`` (shape ``(out,)``) to the bias of the kernel layer added just
        before (an ONNX ``Add`` after ``MatMul``/``Gemm``/``Conv``)."""
        if self._fold_target is None:
            self.refuse(position, description, "adds a constant that is not the bias of a Conv2D/Dense directly "
                                               "before it")
        layer = self.layers[-1]
        self.layers[-1] = self.construct(position, description, layer.with_parameters, layer.weight,
                                         layer.bias + np.asarray(value, dtype=np.float64))

    def network(self) -> Sequential:
        """The converted :class:`~refpattern.Sequential` (with ``input_shape``)."""
        if not self.layers:
            raise ValueError(f"{self.converter}: the model converts to no layer at all (only layers that are "
                             "dropped, such as Dropout and Identity)")
        return Sequential(self.layers, input_shape=self.input_shape)
