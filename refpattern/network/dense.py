"""Dense (fully connected) layer: forward and its exact backward, side by side."""

from __future__ import annotations

import math

import numpy as np

from refpattern.kernels import get_backend
from refpattern.network.validation import (
    check_count,
    check_generator,
    check_layer_input,
    check_layer_upstream,
    check_layer_weight,
    check_level,
    kernel_parameters,
)


class Dense:
    """``y = x @ weight.T + bias``.

    Parameters
    ----------
    weight : array, shape (out, in)
        Row ``j`` is the filter ``w_j`` of output neuron ``j``.
    bias : array, shape (out,), optional
        Zero when omitted.  A bias is a constant neuron: it is added for the forward
        value and the ReLU gate but never changes a covariance (``docs/math.md#bias``).

    Notes
    -----
    Shapes: input ``(N, in)``, output ``(N, out)``.  Parameters are copied, stored as
    read-only float64 arrays, and never change; training returns new layers.  Every method
    checks its arrays (a ``TypeError``/``ValueError`` naming this layer) before a kernel sees them.
    """

    is_kernel = True

    def __init__(self, weight, bias=None):
        self.weight, self.bias = kernel_parameters(weight, bias, "Dense", "(out, in)")

    @classmethod
    def he(cls, n_in: int, n_out: int, rng: np.random.Generator, bias: float = 0.0) -> Dense:
        """He-initialised layer: ``weight ~ N(0, 2/n_in)``, constant ``bias``.

        ``n_in``, ``n_out``: ints >= 1; ``rng``: a ``numpy.random.Generator``; ``bias``: a finite
        real number (each refused with the argument's name otherwise)."""
        n_in, n_out = check_count(n_in, "Dense.he n_in"), check_count(n_out, "Dense.he n_out")
        rng = check_generator(rng, "Dense.he rng")
        bias = check_level(bias, "Dense.he bias", low=-math.inf)
        return cls(rng.normal(0.0, np.sqrt(2.0 / n_in), size=(n_out, n_in)), np.full(n_out, bias))

    def with_parameters(self, weight, bias) -> Dense:
        """The same layer with other parameters (used by training and by tests)."""
        return Dense(weight, bias)

    def __repr__(self) -> str:
        return f"Dense(in={self.weight.shape[1]}, out={self.weight.shape[0]})"

    # shapes --------------------------------------------------------------
    def output_shape(self, input_shape: tuple) -> tuple:
        """Per-sample output shape ``(out,)`` for a per-sample input shape ``(in,)``."""
        if len(input_shape) != 1:
            raise ValueError(f"expected a flat input of shape ({self.weight.shape[1]},), got {input_shape}; "
                             "add a Flatten layer")
        if input_shape[0] != self.weight.shape[1]:
            raise ValueError(f"expected input of size {self.weight.shape[1]}, got {input_shape[0]}")
        return (self.weight.shape[0],)

    # the linear map and its transpose, for any weight of this layer's shape ----
    def linear(self, x, weight, backend=None):
        """``x @ weight.T`` without bias.  x: (N, in), weight: (out, in) -> (N, out)."""
        check_layer_input(self, x)
        check_layer_weight(self, weight)
        return get_backend(backend).dense_forward(x, weight)

    def linear_transpose(self, grad_y, weight, input_shape, backend=None):
        """Vector-Jacobian product of :meth:`linear`: ``grad_y @ weight`` -> (N, in)."""
        check_layer_upstream(self, grad_y, input_shape)
        check_layer_weight(self, weight)
        return get_backend(backend).dense_backward_input(grad_y, weight)

    # forward and backward --------------------------------------------------
    def forward(self, x, backend=None):
        """``y = x @ W.T + b``: (N, in) -> (N, out)."""
        y = self.linear(x, self.weight, backend)  # a fresh array: add the bias in place
        y += self.bias
        return y

    def backward(self, x, grad_y, backend=None):
        """``∂L/∂x = grad_y @ W``: (N, out) -> (N, in)."""
        check_layer_input(self, x)
        return self.linear_transpose(grad_y, self.weight, x.shape, backend)

    def parameter_gradients(self, x, grad_y, backend=None):
        """``(∂L/∂W, ∂L/∂b) = (grad_yᵀ x, Σ_n grad_y)``, shapes (out, in) and (out,)."""
        check_layer_input(self, x)
        check_layer_upstream(self, grad_y, x.shape)
        return grad_y.T @ x, grad_y.sum(axis=0)
