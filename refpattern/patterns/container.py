"""``Patterns``: the fitted signal estimator of every kernel layer, with its report.

A :class:`Patterns` holds one :class:`~refpattern.patterns.layer_patterns.LayerPatterns` per
kernel layer (``patterns[k]`` belongs to ``net.kernel_layers[k]``), each with arrays in the
kernel's own layout.  :meth:`Patterns.save` and :meth:`Patterns.load` use the file format of
:mod:`refpattern.patterns.file_format`; :meth:`Patterns.check_network` refuses patterns that do
not fit a network.
"""

from __future__ import annotations

import numpy as np

from refpattern.patterns.estimators import Estimator
from refpattern.patterns.file_format import read_file, write_file
from refpattern.patterns.layer_patterns import DegenerateNeuron, LayerPatterns, RegimeCounts


class Patterns:
    """Fitted patterns for every kernel layer of a network (``docs/conventions.md#estimator-names``).

    Attributes
    ----------
    estimator : Estimator
        The estimator that fitted them (``str(patterns.estimator)`` is its name, e.g. ``"a+-"``).
    variant : str or None
        ``"paper"`` or ``"regime"`` for S_a±; None otherwise.
    seed : int or None
        The random estimator's seed; None otherwise.
    layers : tuple of LayerPatterns
        Each with the estimator's ``fields`` as arrays.
    """

    def __init__(self, estimator: Estimator, layers):
        if not isinstance(estimator, Estimator):
            raise TypeError(f"Patterns: estimator must be a refpattern Estimator, got {type(estimator).__name__}")
        self.estimator = estimator
        self.layers = tuple(layers)
        for layer in self.layers:
            missing = [name for name in estimator.fields if getattr(layer, name) is None]
            if missing:
                raise ValueError(f"Patterns: kernel layer {layer.kernel_index} lacks {missing} for estimator "
                                 f"{estimator!r}")

    @property
    def variant(self) -> str | None:
        return self.estimator.variant

    @property
    def seed(self) -> int | None:
        return self.estimator.seed

    # container ---------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, k) -> LayerPatterns:
        return self.layers[k]

    def __iter__(self):
        return iter(self.layers)

    def __repr__(self) -> str:
        variant = f", variant={self.variant!r}" if self.variant else ""
        return f"Patterns(estimator={self.estimator.name!r}{variant}, {len(self)} kernel layers)"

    @property
    def n_samples(self) -> np.ndarray:
        """Observations per kernel layer, (L,) int64."""
        return np.array([layer.n_samples for layer in self.layers], dtype=np.int64)

    @property
    def degenerate(self) -> tuple:
        """All :class:`DegenerateNeuron` entries of all layers."""
        return tuple(d for layer in self.layers for d in layer.degenerate)

    def report(self, max_per_layer: int | None = 20) -> str:
        """Human-readable text: per layer, the neurons whose pattern was set to zero or was
        estimated from few samples (at most ``max_per_layer`` lines each; None for all)."""
        variant = f", variant {self.variant!r}" if self.variant else ""
        lines = [f"Patterns: estimator {self.estimator.name!r}{variant}, {len(self)} kernel layers"]
        for layer in self.layers:
            zeroed = sum(d.zeroed for d in layer.degenerate)
            few = len(layer.degenerate) - zeroed
            head = f"kernel layer {layer.kernel_index} (net.layers[{layer.layer_index}], {layer.layer_name}), " \
                   f"{layer.n_samples} observations: "
            if not layer.degenerate:
                lines.append(head + "no degenerate neurons")
                continue
            lines.append(head + f"{zeroed} zero pattern(s), {few} estimated from few samples")
            shown = layer.degenerate if max_per_layer is None else layer.degenerate[:max_per_layer]
            lines.extend("  " + str(d) for d in shown)
            if len(shown) < len(layer.degenerate):
                lines.append(f"  ... and {len(layer.degenerate) - len(shown)} more")
        return "\n".join(lines)

    def check_network(self, net) -> None:
        """Raise ``ValueError`` unless these patterns fit ``net``'s kernel layers (count and shapes)."""
        kernels = net.kernel_layers
        if len(kernels) != len(self):
            raise ValueError(f"patterns: fitted for {len(self)} kernel layers, the network has {len(kernels)}")
        for k, (layer_patterns, layer) in enumerate(zip(self.layers, kernels)):
            if tuple(layer.weight.shape) != layer_patterns.shape:
                raise ValueError(f"patterns: kernel layer {k} (net.layers[{net.kernel_indices[k]}], {layer!r}) has "
                                 f"weight shape {tuple(layer.weight.shape)}, the patterns have shape "
                                 f"{layer_patterns.shape} (fitted for {layer_patterns.layer_name})")

    # file ----------------------------------------------------------------------
    def save(self, path) -> None:
        """Write an ``.npz`` file at exactly ``path`` (no suffix is added), or into a binary file
        object (:mod:`refpattern.patterns.file_format`)."""
        write_file(self, path)

    @classmethod
    def load(cls, path) -> Patterns:
        """Read a file (path or binary file object) written by :meth:`save`, checking it completely
        (:mod:`refpattern.patterns.file_format`).

        Raises ``ValueError`` for a truncated, corrupt or tampered file or another format version.
        """
        estimator, layers = read_file(path)
        return cls(estimator, layers)


__all__ = ["DegenerateNeuron", "LayerPatterns", "Patterns", "RegimeCounts"]
