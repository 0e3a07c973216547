"""A network as a plain sequence of layers, and its file (:meth:`Sequential.save`, :meth:`Sequential.load`)."""

from __future__ import annotations

from collections.abc import Iterable

from refpattern.network.conv2d import Conv2D
from refpattern.network.dense import Dense
from refpattern.network.elementwise import Flatten, ReLU, Softmax
from refpattern.network.file_format import read_file, write_file
from refpattern.network.maxpool import MaxPool2D
from refpattern.network.validation import (
    check_batch,
    check_magnitude,
    check_sample_shape,
    largest_row_sum,
    peak_magnitude,
)

LAYER_TYPES = (Dense, Conv2D, ReLU, MaxPool2D, Flatten, Softmax)


class Sequential:
    """A feed-forward network ``layers[0] → layers[1] → …``.

    Parameters
    ----------
    layers : sequence of Dense, Conv2D, ReLU, MaxPool2D, Flatten, Softmax
        A :class:`Softmax` may only be the last layer.
    input_shape : tuple, optional
        Per-sample input shape (without the batch axis), e.g. ``(3, 32, 32)``: ints >= 1 (a
        float, a bool or a string is refused, not truncated).  When given, shapes are checked
        now; otherwise at every call.  A mismatch names the layer and
        both shapes.

    Attributes
    ----------
    layers : tuple of layers
    kernel_indices : tuple of int
        Positions of the Dense and Conv2D layers in forward order; kernel layer ``k``
        (as in ``patterns[k]``) is ``layers[kernel_indices[k]]``.
    """

    def __init__(self, layers, input_shape=None):
        if not isinstance(layers, Iterable) or isinstance(layers, (str, bytes)):
            raise TypeError(f"Sequential: layers must be a sequence of layers, e.g. [Dense(...), ReLU()], got "
                            f"{type(layers).__name__}")
        layers = tuple(layers)
        if not layers:
            raise ValueError("Sequential: needs at least one layer")
        for index, layer in enumerate(layers):
            if not isinstance(layer, LAYER_TYPES):
                names = ", ".join(t.__name__ for t in LAYER_TYPES)
                raise TypeError(f"Sequential: layer {index} is a {type(layer).__name__}; expected one of {names}")
            if isinstance(layer, Softmax) and index != len(layers) - 1:
                raise ValueError(f"Sequential: layer {index} is a Softmax but is not the last layer "
                                 f"(of {len(layers)}); Softmax is only allowed last")
        self.layers = layers
        self.kernel_indices = tuple(i for i, layer in enumerate(layers) if layer.is_kernel)
        self.input_shape = None if input_shape is None else check_sample_shape(input_shape, "Sequential input_shape")
        if self.input_shape is not None:
            self.output_shapes(self.input_shape)
        self._output_bounds = {}  # layer index -> (max_o Σ|w_o|, max|b|), computed on first use

    def __repr__(self) -> str:
        inner = ",\n    ".join(repr(layer) for layer in self.layers)
        return f"Sequential([\n    {inner},\n])"

    def __len__(self) -> int:
        return len(self.layers)

    @property
    def kernel_layers(self) -> tuple:
        """The Dense and Conv2D layers in forward order (``patterns[k]`` belongs to the k-th)."""
        return tuple(self.layers[i] for i in self.kernel_indices)

    @property
    def logit_layers(self) -> tuple:
        """The layers up to the logits: all layers but a final Softmax."""
        if isinstance(self.layers[-1], Softmax):
            return self.layers[:-1]
        return self.layers

    def output_shapes(self, input_shape) -> list:
        """Per-sample shapes ``[input, after layer 0, after layer 1, …]``; raises on a mismatch."""
        shapes = [tuple(input_shape)]
        for index, layer in enumerate(self.layers):
            try:
                shapes.append(tuple(layer.output_shape(shapes[-1])))
            except ValueError as error:
                raise ValueError(f"layer {index} ({layer!r}): {error} (input shape {shapes[-1]})") from None
        return shapes

    def check_input(self, x, name: str = "x"):
        """Validate a batch and return it as a plain C-ordered float64 ndarray
        (:func:`~refpattern.network.validation.check_batch`: float dtype, finite, subclasses read as
        plain arrays, masked entries refused, ``docs/conventions.md#input-acceptance``), with a
        per-sample shape that fits every layer.  ``x`` is never modified."""
        x = check_batch(x, name)
        if self.input_shape is not None and tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(f"{name}: expected per-sample shape {self.input_shape}, got {tuple(x.shape[1:])} "
                             f"(batch shape {x.shape})")
        self.output_shapes(x.shape[1:])
        return x

    def output_bound(self, index: int) -> tuple:
        """``(max_o Σ_i |w_oi|, max_o |b_o|)`` of the kernel layer ``layers[index]``: its output is at
        most ``first · max|x| + second`` in magnitude (kept once computed; layers never change)."""
        if index not in self._output_bounds:
            layer = self.layers[index]
            self._output_bounds[index] = (largest_row_sum(layer.weight), peak_magnitude(layer.bias))
        return self._output_bounds[index]

    def check_magnitudes(self, index: int, x, context: str = "") -> float:
        """Check the input ``x`` of kernel layer ``layers[index]`` against the magnitudes float64
        carries (:func:`~refpattern.network.validation.check_magnitude`, ``docs/conventions.md#scale``);
        return ``max |x|``.  The ``ValueError`` starts with ``context`` and names the layer."""
        row_sum, bias_peak = self.output_bound(index)
        where = f"{context + ': ' if context else ''}layer {index} ({self.layers[index]!r})"
        return check_magnitude(x, where, row_sum, bias_peak)

    def trace(self, x, backend=None, check: bool = True, context: str = "") -> list:
        """Forward pass up to the logits, keeping every intermediate.

        Returns ``[x, a_1, …, a_L]`` where ``a_{l+1} = logit_layers[l](a_l)`` and ``a_L`` are the
        logits, shape ``(N, classes)``.  ``check``: validate ``x`` first (:meth:`check_input`).
        The input of every kernel layer is checked against the magnitudes float64 carries
        (:meth:`check_magnitudes`) before the layer runs, so an overflow raises a ``ValueError``
        (starting with ``context``, naming the layer and the magnitude) instead of giving inf or NaN.
        """
        if check:
            x = self.check_input(x)
        activations = [x]
        for index, layer in enumerate(self.logit_layers):
            if layer.is_kernel:
                self.check_magnitudes(index, activations[-1], context)
            activations.append(layer.forward(activations[-1], backend))
        return activations

    def logits(self, x, backend=None):
        """The output before a final Softmax, shape (N, classes)."""
        return self.trace(x, backend)[-1]

    def forward(self, x, backend=None):
        """The output of the last layer (the softmax probabilities if the net ends in Softmax)."""
        z = self.logits(x, backend)
        if isinstance(self.layers[-1], Softmax):
            return self.layers[-1].forward(z)
        return z

    __call__ = forward

    def with_layers(self, layers) -> Sequential:
        """A new network of the same kind with other layers (the original is unchanged)."""
        return Sequential(layers, self.input_shape)

    # file ----------------------------------------------------------------------
    def save(self, path) -> None:
        """Write the network to an ``.npz`` file at exactly ``path`` (no suffix is added), atomically
        (a failed save leaves an existing file intact), or into a binary file object.

        The file holds every layer's type and hyper-parameters (Conv2D stride and padding as
        given, explicit pads or ``"same"``; MaxPool2D size and stride), every parameter in
        float64, the input shape, a format name and version and a SHA-256 checksum; no pickle
        (:mod:`refpattern.network.file_format`, ``docs/conventions.md#network-file-format``).
        """
        write_file(self.layers, self.input_shape, path)

    @classmethod
    def load(cls, path) -> Sequential:
        """Read a network written by :meth:`save` (a path or a binary file object), checking it
        completely; the result equals the saved network bit for bit (its outputs, explanations and
        fits too).

        Raises ``ValueError`` naming the problem for a truncated or garbage file, a foreign
        ``.npz``, pickled objects, a checksum mismatch (a value or shape changed after writing),
        inconsistent entries (a bias of the wrong length, an unknown layer type, …) or a file of
        a newer format version; ``FileNotFoundError`` for a missing file
        (:mod:`refpattern.network.file_format`).
        """
        layers, input_shape = read_file(path)
        try:
            return cls(layers, input_shape)
        except (TypeError, ValueError) as error:
            name = getattr(path, "name", "<file object>") if hasattr(path, "read") else str(path)
            raise ValueError(f"{name}: the layers do not form a network: {error}") from None
