"""Layers without parameters: ReLU, Flatten, Softmax (forward and backward side by side).

Every method checks its arrays (a ``TypeError``/``ValueError`` naming the layer:
:func:`~refpattern.network.validation.check_layer_input` and ``check_layer_upstream``) before
computing, as the kernel layers do.
"""

from __future__ import annotations

import math

import numpy as np

from refpattern.kernels import get_backend
from refpattern.network.validation import check_layer_input, check_layer_upstream


class ReLU:
    """``y = max(x, 0)``; backward ``∂L/∂x = grad_y · 1[x > 0]`` (the gate is closed at 0)."""

    is_kernel = False

    def __repr__(self) -> str:
        return "ReLU()"

    def output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def forward(self, x, backend=None):
        """``max(x, 0)`` (the backend's ``relu_forward``): (N, ...) -> (N, ...)."""
        check_layer_input(self, x)
        return get_backend(backend).relu_forward(x)

    def backward(self, x, grad_y, backend=None):
        """``grad_y · 1[x > 0]`` (the backend's ``relu_backward``); ``grad_y`` shaped like ``x``."""
        check_layer_input(self, x)
        check_layer_upstream(self, grad_y, x.shape)
        return get_backend(backend).relu_backward(grad_y, x)


class Flatten:
    """Reshape ``(N, C, H, W)`` (or any ``(N, ...)``) to ``(N, C·H·W)`` in C order."""

    is_kernel = False

    def __repr__(self) -> str:
        return "Flatten()"

    def output_shape(self, input_shape: tuple) -> tuple:
        return (math.prod(int(s) for s in input_shape),)  # Python ints: no int64 wrap-around

    def forward(self, x, backend=None):
        """(N, C, H, W) -> (N, C·H·W) (a view where NumPy can give one)."""
        features = check_layer_input(self, x)[0]
        return x.reshape(x.shape[0], features)

    def backward(self, x, grad_y, backend=None):
        """``grad_y`` (N, C·H·W) reshaped to ``x``'s shape (N, C, H, W)."""
        check_layer_input(self, x)
        check_layer_upstream(self, grad_y, x.shape)
        return grad_y.reshape(x.shape)


def softmax(z):
    """``p_k = exp(z_k − max z) / Σ_l exp(z_l − max z)`` over the last axis: the one softmax of refpattern."""
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def log_softmax(z):
    """``log p_k = (z_k − max z) − log Σ_l exp(z_l − max z)`` over the last axis (no ``log`` of an underflowed 0)."""
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


class Softmax:
    """``p_k = exp(z_k − max z) / Σ_l exp(z_l − max z)`` over the last axis.

    Allowed only as the last layer of a :class:`~refpattern.Sequential`; every explanation
    is of the pre-softmax logit (``docs/conventions.md#explained-logit``), so methods never backpropagate
    through it.  Backward (for completeness): ``∂L/∂z = p ⊙ (g − Σ_k g_k p_k)``.
    """

    is_kernel = False

    def __repr__(self) -> str:
        return "Softmax()"

    def output_shape(self, input_shape: tuple) -> tuple:
        if len(input_shape) != 1:
            raise ValueError(f"expected flat logits (classes,), got per-sample shape {input_shape}")
        return tuple(input_shape)

    def forward(self, x, backend=None):
        """Logits (N, classes) -> probabilities (N, classes)."""
        check_layer_input(self, x)
        return softmax(x)

    def backward(self, x, grad_y, backend=None):
        """``grad_y`` (N, classes) at the probabilities -> (N, classes) at the logits."""
        check_layer_input(self, x)
        check_layer_upstream(self, grad_y, x.shape)
        p = softmax(x)
        return p * (grad_y - (grad_y * p).sum(axis=-1, keepdims=True))
