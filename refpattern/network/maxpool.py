"""Max-pooling layer: forward keeps the winner, backward routes to it."""

from __future__ import annotations

from refpattern.kernels import get_backend
from refpattern.kernels.numpy_reference import conv_output_size
from refpattern.network.validation import check_layer_input, check_layer_upstream, check_pair


class MaxPool2D:
    """``y[n, c, p, q] = max_{i,j} x[n, c, p·sh + i, q·sw + j]`` over a ``size`` window.

    ``stride`` defaults to ``size``; no padding; floor output size.  Ties go to the first
    maximum in row-major window order.  Every method (gradient, LRP, patterns, …)
    routes the upstream signal to that forward winner (``docs/conventions.md#maxpool-ties``).

    Shapes: ``(N, C, H, W) -> (N, C, OH, OW)``, ``OH = (H − kh) // sh + 1``.
    """

    is_kernel = False

    def __init__(self, size, stride=None):
        self.size = check_pair(size, "MaxPool2D size", minimum=1)
        self.stride = self.size if stride is None else check_pair(stride, "MaxPool2D stride", minimum=1)

    def __repr__(self) -> str:
        return f"MaxPool2D(size={self.size}, stride={self.stride})"

    def output_shape(self, input_shape: tuple) -> tuple:
        if len(input_shape) != 3:
            raise ValueError(f"expected a per-sample input (C, H, W), got shape {input_shape}")
        c, h, w = input_shape
        if h < self.size[0] or w < self.size[1]:
            raise ValueError(f"input ({h}, {w}) is smaller than the pooling window {self.size}")
        return (c, conv_output_size(h, self.size[0], self.stride[0], 0, 0),
                conv_output_size(w, self.size[1], self.stride[1], 0, 0))

    def forward(self, x, backend=None):
        check_layer_input(self, x)
        y, _ = get_backend(backend).maxpool_forward(x, self.size, self.stride)
        return y

    def backward(self, x, grad_y, backend=None):
        """Route ``grad_y`` to each window's forward winner (recomputed from ``x``)."""
        check_layer_input(self, x)
        check_layer_upstream(self, grad_y, x.shape)
        kernels = get_backend(backend)
        _, winner = kernels.maxpool_forward(x, self.size, self.stride)
        return kernels.maxpool_backward(grad_y, winner, x.shape, self.size, self.stride)
