"""The patterns of one kernel layer: its arrays, its counts and its degenerate neurons.

Arrays are in the kernel's own layout: ``(out, in)`` for Dense, ``(out_ch, in_ch, kh, kw)`` for
Conv2D; plain read-only NumPy arrays that a user can inspect, compare and save.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np


class RegimeCounts(NamedTuple):
    """Observations per neuron: all (``n``), gate open (``n_plus``), gate closed (``n_minus``); (O,) int64 each."""

    n: np.ndarray
    n_plus: np.ndarray
    n_minus: np.ndarray


@dataclass(frozen=True)
class DegenerateNeuron:
    """One neuron whose pattern (in one regime) could not be estimated, or only from few samples.

    layer : int           kernel layer index ``k``
    neuron : int          output neuron (channel for Conv2D)
    regime : str          ``"all"`` (S_a, S_w, random), ``"plus"`` or ``"minus"`` (S_a±)
    reason : str          why, in words
    count : int           observations in that regime
    zeroed : bool         True: the pattern was set to zero; False: a warning only (few samples)
    """

    layer: int
    neuron: int
    regime: str
    reason: str
    count: int
    zeroed: bool

    def __str__(self) -> str:
        action = "zero pattern" if self.zeroed else "kept"
        return f"neuron {self.neuron}, regime {self.regime}: {self.reason} (n = {self.count}) -> {action}"


REGIMES = ("all", "plus", "minus")


def _readonly(array, copy=True, label="a", where="LayerPatterns"):
    """A read-only float64 array; ``copy=False`` takes over an array the library just made
    (saves a layer-sized copy, e.g. 2 × 822 MB for VGG-16's first dense layer) and checked finite.
    A given array (``copy=True``) must be real (float or int) and finite: it is what a fit returns and
    what :meth:`Patterns.load` reads back."""
    if array is None:
        return None
    if copy:
        given = np.asarray(array)
        if given.dtype.kind not in "fiu":
            raise TypeError(f"{where}: {label} must be a real (float or int) array, got dtype {given.dtype}")
        if not np.all(np.isfinite(given)):
            raise ValueError(f"{where}: {label} contains NaN or inf; a pattern is finite")
    array = np.array(array, dtype=np.float64) if copy else np.asarray(array, dtype=np.float64)
    array.setflags(write=False)
    return array


class LayerPatterns:
    """The patterns of one kernel layer.

    Attributes
    ----------
    kernel_index, layer_index : int
        ``k`` and the position ``net.kernel_indices[k]`` in ``net.layers``.
    layer_name : str
    shape : tuple
        The kernel's weight shape; every array below has it.
    a : ndarray or None
        The single pattern of S_w, S_a and random; None for S_a± and S_x.
    a_plus, a_minus : ndarray or None
        The patterns used where the gate ``wᵀx + b`` is open / closed.  Both equal ``a`` for
        S_w, S_a and random; None for S_x.
    counts : RegimeCounts or None
        Observations per neuron (None when fitted without data).
    n_samples : int
        Observations of this layer (``N`` for Dense, ``N·OH·OW`` for Conv2D).
    degenerate : tuple of DegenerateNeuron
    copy : bool
        Copy the pattern arrays (default).  The estimators pass ``False`` for arrays they have
        just created, checked finite and hold no other reference to.

    Notes
    -----
    Given arrays must be real (float or int; ``TypeError`` otherwise) and finite, and ``counts``
    three (O,) arrays with ``n = n₊ + n₋ = n_samples`` (``ValueError``): what a fit returns and what
    :meth:`Patterns.load` accepts, so hand-built patterns save and load like fitted ones.
    """

    def __init__(self, kernel_index, layer_index, layer_name, shape, a=None, a_plus=None, a_minus=None,
                 counts=None, n_samples=0, degenerate=(), copy=True):
        self.kernel_index, self.layer_index = int(kernel_index), int(layer_index)
        self.layer_name = str(layer_name)
        self.shape = tuple(int(s) for s in shape)
        where = f"kernel layer {kernel_index} ({layer_name})"
        self.a = _readonly(a, copy, "a", where)
        if self.a is not None:
            if a_plus is not None or a_minus is not None:
                raise ValueError("LayerPatterns: give either a (one pattern) or a_plus/a_minus, not both")
            self.a_plus = self.a_minus = self.a
        else:
            self.a_plus = _readonly(a_plus, copy, "a_plus", where)
            self.a_minus = _readonly(a_minus, copy, "a_minus", where)
        for label, value in (("a", self.a), ("a_plus", self.a_plus), ("a_minus", self.a_minus)):
            if value is not None and value.shape != self.shape:
                raise ValueError(f"kernel layer {kernel_index} ({layer_name}): {label} has shape {value.shape}, "
                                 f"expected {self.shape}")
        self.n_samples = int(n_samples)
        if counts is not None:
            counts = RegimeCounts(*(np.array(c, dtype=np.int64) for c in counts))
            # what the file keeps and Patterns.load checks: one count per neuron, n = n₊ + n₋ = n_samples
            if (any(c.shape != self.shape[:1] for c in counts) or np.any(counts.n_plus < 0)
                    or np.any(counts.n_minus < 0) or np.any(counts.n != counts.n_plus + counts.n_minus)
                    or np.any(counts.n != self.n_samples)):
                raise ValueError(f"{where}: counts must be three arrays of shape {self.shape[:1]} (one count per "
                                 f"neuron) with n = n_plus + n_minus = n_samples = {self.n_samples}, got shapes "
                                 f"{[c.shape for c in counts]}")
            for c in counts:
                c.setflags(write=False)
        self.counts = counts
        self.degenerate = tuple(degenerate)

    def __repr__(self) -> str:
        return (f"LayerPatterns(kernel layer {self.kernel_index}, {self.layer_name}, shape {self.shape}, "
                f"{len(self.degenerate)} degenerate entries)")
