"""2-D convolution layer (cross-correlation, zero padding): forward and exact backward.

The padding may be asymmetric, ``((top, bottom), (left, right))``, or ``"same"`` (resolved per
input size as TensorFlow/Keras and PyTorch do), so that converted models need no pad-and-crop
(``docs/conventions.md#padding``).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from refpattern.kernels import get_backend
from refpattern.kernels.numpy_reference import conv_output_size
from refpattern.network.validation import (
    MAX_SAMPLE_ENTRIES,
    check_count,
    check_generator,
    check_layer_input,
    check_layer_upstream,
    check_layer_weight,
    check_level,
    check_padding,
    check_pair,
    kernel_parameters,
)


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """``(before, after)`` zeros of ``"same"`` padding on one axis of length ``size``
    (``docs/conventions.md#same-padding``)::

        out = ceil(size / stride),  total = max((out − 1)·stride + kernel − size, 0),
        before = total // 2,        after = total − before

    (the odd zero goes after: bottom / right), as TensorFlow/Keras and PyTorch pad.
    """
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class Conv2D:
    """``y[n, o, p, q] = Σ_{c,i,j} W[o, c, i, j] · x_pad[n, c, p·sh + i, q·sw + j] + b[o]``.

    Parameters
    ----------
    weight : array, shape (out_ch, in_ch, kh, kw)
        Cross-correlation kernel (no flip, as in PyTorch).  Neuron ``o`` at any output
        position has the filter ``w = weight[o].ravel()`` over a patch flattened in
        ``(C, kh, kw)`` order.
    bias : array, shape (out_ch,), optional
    stride : int or pair of int
    padding : int, pair, pair of pairs, ``"valid"`` or ``"same"``
        Zero padding (``docs/conventions.md#padding``): an int ``p`` on every side, a pair
        ``(ph, pw)`` (``ph`` rows on top and bottom, ``pw`` columns left and right),
        ``((top, bottom), (left, right))``, ``"valid"`` (none), or ``"same"``: per input size,
        ``OH = ceil(H / sh)`` with the odd zero at the bottom / right (:func:`same_padding`,
        ``docs/conventions.md#same-padding``).

    Attributes
    ----------
    padding : ``((top, bottom), (left, right))`` of ints, or ``"same"``
        The padding as given, normalised (read-only).  :meth:`pads` gives the explicit padding
        for an input size (the attribute itself unless ``"same"``).

    Notes
    -----
    Shapes: input ``(N, in_ch, H, W)`` (NCHW), output ``(N, out_ch, OH, OW)`` with
    ``OH = (H + top + bottom − kh) // sh + 1`` (floor; ``docs/conventions.md#output-size``).
    Every method checks its arrays (a ``TypeError``/``ValueError`` naming this layer) before a
    kernel sees them, and hands the kernels the explicit pads of that input.
    """

    is_kernel = True

    def __init__(self, weight, bias=None, stride=1, padding=0):
        self.weight, self.bias = kernel_parameters(weight, bias, "Conv2D", "(out_ch, in_ch, kh, kw)")
        self.stride = check_pair(stride, "Conv2D stride", minimum=1)
        self._padding = check_padding(padding, "Conv2D padding")

    @property
    def padding(self):
        """``((top, bottom), (left, right))`` (Python ints), or ``"same"``."""
        return self._padding

    def pads(self, input_hw) -> tuple[tuple[int, int], tuple[int, int]]:
        """The explicit padding ``((top, bottom), (left, right))`` for a per-sample input of spatial
        size ``input_hw = (H, W)``: :attr:`padding` itself, or for ``"same"`` :func:`same_padding`
        of each axis (``docs/conventions.md#same-padding``)."""
        if not (isinstance(input_hw, (tuple, list)) and len(input_hw) == 2
                and all(isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_)) and v >= 0
                        for v in input_hw)):
            raise ValueError(f"{self!r}: pads expects the input's spatial size (H, W), two ints >= 0, "
                             f"got {input_hw!r}")
        if self._padding != "same":
            return self._padding
        (h, w), (kh, kw) = input_hw, self.kernel_size
        return same_padding(int(h), kh, self.stride[0]), same_padding(int(w), kw, self.stride[1])

    @property
    def kernel_size(self) -> tuple[int, int]:
        return tuple(self.weight.shape[2:])

    @classmethod
    def he(cls, in_ch, out_ch, kernel_size, rng, stride=1, padding=0, bias=0.0) -> Conv2D:
        """He-initialised layer: ``weight ~ N(0, 2/(in_ch·kh·kw))``, constant ``bias``.

        ``in_ch``, ``out_ch``: ints >= 1; ``kernel_size``: an int or a pair of ints >= 1; ``rng``: a
        ``numpy.random.Generator``; ``bias``: a finite real number (each refused with the argument's
        name otherwise)."""
        in_ch, out_ch = check_count(in_ch, "Conv2D.he in_ch"), check_count(out_ch, "Conv2D.he out_ch")
        kh, kw = check_pair(kernel_size, "Conv2D kernel_size", minimum=1)
        rng = check_generator(rng, "Conv2D.he rng")
        bias = check_level(bias, "Conv2D.he bias", low=-math.inf)
        std = np.sqrt(2.0 / (in_ch * kh * kw))
        return cls(rng.normal(0.0, std, size=(out_ch, in_ch, kh, kw)), np.full(out_ch, bias), stride, padding)

    def with_parameters(self, weight, bias) -> Conv2D:
        return Conv2D(weight, bias, self.stride, self.padding)

    def __repr__(self) -> str:
        o, c, kh, kw = self.weight.shape
        return f"Conv2D({c}->{o}, kernel=({kh}, {kw}), stride={self.stride}, padding={self.padding!r})"

    def output_shape(self, input_shape: tuple) -> tuple:
        """Per-sample output ``(out_ch, OH, OW)`` for per-sample input ``(in_ch, H, W)``."""
        o, c, kh, kw = self.weight.shape
        if len(input_shape) != 3:
            raise ValueError(f"expected a per-sample input (C, H, W) = ({c}, H, W), got shape {input_shape}")
        if input_shape[0] != c:
            raise ValueError(f"expected {c} input channels, got {input_shape[0]} (input shape {input_shape})")
        (top, bottom), (left, right) = self.pads(tuple(input_shape[1:]))
        oh = conv_output_size(input_shape[1], kh, self.stride[0], top, bottom)
        ow = conv_output_size(input_shape[2], kw, self.stride[1], left, right)
        if oh < 1 or ow < 1:
            raise ValueError(f"input {tuple(input_shape[1:])} (padded by ((top, bottom), (left, right)) = "
                             f"{((top, bottom), (left, right))}) is smaller than the kernel ({kh}, {kw})")
        padded = c * (input_shape[1] + top + bottom) * (input_shape[2] + left + right)
        if max(padded, o * oh * ow) > MAX_SAMPLE_ENTRIES:
            raise ValueError(f"one sample's padded input ({padded} entries) or output ({o}·{oh}·{ow} entries) "
                             f"exceeds 2**60, more float64 entries than NumPy can allocate "
                             f"(docs/conventions.md#geometry-limit); padding {((top, bottom), (left, right))}, "
                             f"stride {self.stride}")
        return (o, oh, ow)

    def linear(self, x, weight, backend=None):
        """Cross-correlation of ``x`` with ``weight`` (this layer's stride and :meth:`pads`), no bias."""
        check_layer_input(self, x)
        check_layer_weight(self, weight)
        return get_backend(backend).conv2d_forward(x, weight, self.stride, self.pads(x.shape[2:]))

    def linear_transpose(self, grad_y, weight, input_shape, backend=None):
        """Vector-Jacobian product of :meth:`linear` with respect to its input."""
        check_layer_upstream(self, grad_y, input_shape)
        check_layer_weight(self, weight)
        return get_backend(backend).conv2d_backward_input(grad_y, weight, tuple(input_shape), self.stride,
                                                          self.pads(tuple(input_shape[2:])))

    def forward(self, x, backend=None):
        """(N, C, H, W) -> (N, O, OH, OW)."""
        y = self.linear(x, self.weight, backend)  # a fresh array: add the bias in place
        y += self.bias[None, :, None, None]
        return y

    def backward(self, x, grad_y, backend=None):
        """``∂L/∂x`` = transposed convolution of ``grad_y`` with ``W``: (N, O, OH, OW) -> (N, C, H, W)."""
        check_layer_input(self, x)
        return self.linear_transpose(grad_y, self.weight, x.shape, backend)

    def parameter_gradients(self, x, grad_y, backend=None):
        """``(∂L/∂W, ∂L/∂b)``, shapes (O, C, kh, kw) and (O,)."""
        check_layer_input(self, x)
        check_layer_upstream(self, grad_y, x.shape)
        grad_w = get_backend(backend).conv2d_backward_weight(grad_y, x, self.kernel_size, self.stride,
                                                             self.pads(x.shape[2:]))
        return grad_w, grad_y.sum(axis=(0, 2, 3))
