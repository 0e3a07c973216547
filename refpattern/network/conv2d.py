"""2-D convolution layer (cross-correlation, zero padding): forward and exact backward."""

from __future__ import annotations

import numpy as np

from refpattern.kernels import get_backend
from refpattern.kernels.numpy_reference import conv_output_size
from refpattern.network.validation import (
    check_layer_input,
    check_layer_upstream,
    check_layer_weight,
    check_pair,
    kernel_parameters,
)


class Conv2D:
    """``y[n, o, p, q] = Σ_{c,i,j} W[o, c, i, j] · x_pad[n, c, p·sh + i, q·sw + j] + b[o]``.

    Parameters
    ----------
    weight : array, shape (out_ch, in_ch, kh, kw)
        Cross-correlation kernel (no flip, as in PyTorch).  Neuron ``o`` at any output
        position has the filter ``w = weight[o].ravel()`` over a patch flattened in
        ``(C, kh, kw)`` order.
    bias : array, shape (out_ch,), optional
    stride, padding : int or pair of int
        Zero padding on both sides of each spatial axis.

    Shapes: input ``(N, in_ch, H, W)`` (NCHW), output ``(N, out_ch, OH, OW)`` with
    ``OH = (H + 2·ph − kh) // sh + 1`` (floor).  Every method checks its arrays (a
    ``TypeError``/``ValueError`` naming this layer) before a kernel sees them.
    """

    is_kernel = True

    def __init__(self, weight, bias=None, stride=1, padding=0):
        self.weight, self.bias = kernel_parameters(weight, bias, "Conv2D", "(out_ch, in_ch, kh, kw)")
        self.stride = check_pair(stride, "Conv2D stride", minimum=1)
        self.padding = check_pair(padding, "Conv2D padding", minimum=0)

    @property
    def kernel_size(self) -> tuple[int, int]:
        return tuple(self.weight.shape[2:])

    @classmethod
    def he(cls, in_ch, out_ch, kernel_size, rng, stride=1, padding=0, bias=0.0) -> Conv2D:
        """He-initialised layer: ``weight ~ N(0, 2/(in_ch·kh·kw))``, constant ``bias``."""
        kh, kw = check_pair(kernel_size, "Conv2D kernel_size", minimum=1)
        std = np.sqrt(2.0 / (in_ch * kh * kw))
        return cls(rng.normal(0.0, std, size=(out_ch, in_ch, kh, kw)), np.full(out_ch, float(bias)), stride, padding)

    def with_parameters(self, weight, bias) -> Conv2D:
        return Conv2D(weight, bias, self.stride, self.padding)

    def __repr__(self) -> str:
        o, c, kh, kw = self.weight.shape
        return f"Conv2D({c}->{o}, kernel=({kh}, {kw}), stride={self.stride}, padding={self.padding})"

    def output_shape(self, input_shape: tuple) -> tuple:
        """Per-sample output ``(out_ch, OH, OW)`` for per-sample input ``(in_ch, H, W)``."""
        o, c, kh, kw = self.weight.shape
        if len(input_shape) != 3:
            raise ValueError(f"expected a per-sample input (C, H, W) = ({c}, H, W), got shape {input_shape}")
        if input_shape[0] != c:
            raise ValueError(f"expected {c} input channels, got {input_shape[0]} (input shape {input_shape})")
        oh = conv_output_size(input_shape[1], kh, self.stride[0], self.padding[0])
        ow = conv_output_size(input_shape[2], kw, self.stride[1], self.padding[1])
        if oh < 1 or ow < 1:
            raise ValueError(f"input {input_shape[1:]} (padded by {self.padding}) is smaller than the kernel "
                             f"({kh}, {kw})")
        return (o, oh, ow)

    def linear(self, x, weight, backend=None):
        """Cross-correlation of ``x`` with ``weight`` (this layer's stride/padding), no bias."""
        check_layer_input(self, x)
        check_layer_weight(self, weight)
        return get_backend(backend).conv2d_forward(x, weight, self.stride, self.padding)

    def linear_transpose(self, grad_y, weight, input_shape, backend=None):
        """Vector-Jacobian product of :meth:`linear` with respect to its input."""
        check_layer_upstream(self, grad_y, input_shape)
        check_layer_weight(self, weight)
        return get_backend(backend).conv2d_backward_input(grad_y, weight, tuple(input_shape), self.stride,
                                                          self.padding)

    def forward(self, x, backend=None):
        """(N, C, H, W) -> (N, O, OH, OW)."""
        y = self.linear(x, self.weight, backend)  # a fresh array: add the bias in place
        y += self.bias[None, :, None, None]
        return y

    def backward(self, x, grad_y, backend=None):
        """``∂L/∂x`` = transposed convolution of ``grad_y`` with ``W``: (N, O, OH, OW) -> (N, C, H, W)."""
        return self.linear_transpose(grad_y, self.weight, x.shape, backend)

    def parameter_gradients(self, x, grad_y, backend=None):
        """``(∂L/∂W, ∂L/∂b)``, shapes (O, C, kh, kw) and (O,)."""
        check_layer_input(self, x)
        check_layer_upstream(self, grad_y, x.shape)
        grad_w = get_backend(backend).conv2d_backward_weight(grad_y, x, self.kernel_size, self.stride, self.padding)
        return grad_w, grad_y.sum(axis=(0, 2, 3))
