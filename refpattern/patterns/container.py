"""``Patterns``: the fitted signal estimator of every kernel layer, with its report and file format.

A :class:`Patterns` holds one :class:`LayerPatterns` per kernel layer (``patterns[k]`` belongs to
``net.kernel_layers[k]``), each with arrays in the kernel's own layout: ``(out, in)`` for Dense,
``(out_ch, in_ch, kh, kw)`` for Conv2D.  They are plain read-only NumPy arrays that a user can
inspect, compare and save.

File format (``.npz`` written and read with ``allow_pickle=False``), version 1::

    format_name     "refpattern.Patterns"
    format_version  1
    estimator       the estimator's canonical name: "x" | "w" | "a" | "a+-" | "random" | another
                    registered Estimator's name
    variant         "paper" | "regime" | ""   ("" when the estimator has no variant)
    seed            int (the random estimator's seed; −1 when unused)
    n_layers        L
    layer_{k}.shape, layer_{k}.layer_index, layer_{k}.layer_name, layer_{k}.n_samples
    layer_{k}.<field> for each of the estimator's ``fields``: ``a`` ("w", "a", "random"),
                    ``a_plus`` and ``a_minus`` ("a+-"), none ("x")
    layer_{k}.counts                              (3, O) int64 rows n, n₊, n₋; absent if not fitted on data
    layer_{k}.degenerate_{neuron,regime,reason,count,zeroed}
    checksum        SHA-256 over every other entry (name, dtype, shape, bytes)

:meth:`Patterns.load` refuses a file that is not a readable zip archive, lacks or adds entries,
has another format version, has arrays whose shapes or values contradict each other, or whose
checksum does not match, always with a ``ValueError`` naming the problem.
:meth:`Patterns.check_network` refuses patterns that do not fit a network.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
import zlib
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from refpattern.patterns.estimators import Estimator, estimator_from_file

FORMAT_NAME = "refpattern.Patterns"
FORMAT_VERSION = 1


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


def _readonly(array, copy=True):
    """A read-only float64 array; ``copy=False`` takes over an array the library just made
    (saves a layer-sized copy, e.g. 2 × 822 MB for VGG-16's first dense layer)."""
    if array is None:
        return None
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
        just created and hold no other reference to.
    """

    def __init__(self, kernel_index, layer_index, layer_name, shape, a=None, a_plus=None, a_minus=None,
                 counts=None, n_samples=0, degenerate=(), copy=True):
        self.kernel_index, self.layer_index = int(kernel_index), int(layer_index)
        self.layer_name = str(layer_name)
        self.shape = tuple(int(s) for s in shape)
        self.a = _readonly(a, copy)
        if self.a is not None:
            if a_plus is not None or a_minus is not None:
                raise ValueError("LayerPatterns: give either a (one pattern) or a_plus/a_minus, not both")
            self.a_plus = self.a_minus = self.a
        else:
            self.a_plus, self.a_minus = _readonly(a_plus, copy), _readonly(a_minus, copy)
        for label, value in (("a", self.a), ("a_plus", self.a_plus), ("a_minus", self.a_minus)):
            if value is not None and value.shape != self.shape:
                raise ValueError(f"kernel layer {kernel_index} ({layer_name}): {label} has shape {value.shape}, "
                                 f"expected {self.shape}")
        if counts is not None:
            counts = RegimeCounts(*(np.array(c, dtype=np.int64) for c in counts))
            for c in counts:
                c.setflags(write=False)
        self.counts = counts
        self.n_samples = int(n_samples)
        self.degenerate = tuple(degenerate)

    def __repr__(self) -> str:
        return (f"LayerPatterns(kernel layer {self.kernel_index}, {self.layer_name}, shape {self.shape}, "
                f"{len(self.degenerate)} degenerate entries)")


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

    # file format -------------------------------------------------------------
    def _arrays(self) -> dict:
        arrays = {
            "format_name": np.array(FORMAT_NAME),
            "format_version": np.array(FORMAT_VERSION, dtype=np.int64),
            "estimator": np.array(self.estimator.name),
            "variant": np.array(self.variant or ""),
            "seed": np.array(-1 if self.seed is None else self.seed, dtype=np.int64),
            "n_layers": np.array(len(self), dtype=np.int64),
        }
        for k, layer in enumerate(self.layers):
            p = f"layer_{k}."
            arrays[p + "shape"] = np.array(layer.shape, dtype=np.int64)
            arrays[p + "layer_index"] = np.array(layer.layer_index, dtype=np.int64)
            arrays[p + "layer_name"] = np.array(layer.layer_name)
            arrays[p + "n_samples"] = np.array(layer.n_samples, dtype=np.int64)
            for field in self.estimator.fields:
                arrays[p + field] = np.asarray(getattr(layer, field))
            if layer.counts is not None:
                arrays[p + "counts"] = np.stack(layer.counts)
            deg = layer.degenerate
            arrays[p + "degenerate_neuron"] = np.array([d.neuron for d in deg], dtype=np.int64)
            arrays[p + "degenerate_regime"] = np.array([d.regime for d in deg], dtype="<U8")
            arrays[p + "degenerate_reason"] = np.array([d.reason for d in deg], dtype=str) if deg \
                else np.array([], dtype="<U1")
            arrays[p + "degenerate_count"] = np.array([d.count for d in deg], dtype=np.int64)
            arrays[p + "degenerate_zeroed"] = np.array([d.zeroed for d in deg], dtype=bool)
        arrays["checksum"] = np.array(_checksum(arrays))
        return arrays

    def save(self, path) -> None:
        """Write an ``.npz`` file at exactly ``path`` (no suffix is added), or into a binary file
        object; see the module docstring."""
        if hasattr(path, "write"):
            np.savez(path, **self._arrays())
            return
        with open(path, "wb") as handle:
            np.savez(handle, **self._arrays())

    @classmethod
    def load(cls, path) -> Patterns:
        """Read a file (path or binary file object) written by :meth:`save`, checking it completely
        (module docstring).

        Raises ``ValueError`` for a truncated, corrupt or tampered file or another format version.
        """
        name = getattr(path, "name", "<file object>") if hasattr(path, "read") else os.fspath(path)
        try:
            loaded = np.load(path, allow_pickle=False)
            if not isinstance(loaded, np.lib.npyio.NpzFile):
                raise ValueError("a single .npy array, not an .npz archive")
            with loaded as archive:
                arrays = {key: archive[key] for key in archive.files}
        except FileNotFoundError:
            raise
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error, NotImplementedError) as error:
            raise ValueError(f"{name}: not a readable refpattern patterns file "
                             f"({type(error).__name__}: {error})") from None
        return _from_arrays(arrays, name)


def _checksum(arrays: dict) -> str:
    digest = hashlib.sha256()
    for key in sorted(k for k in arrays if k != "checksum"):
        value = np.ascontiguousarray(arrays[key])
        digest.update(f"{key}|{value.dtype.str}|{value.shape}|".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def _from_arrays(arrays: dict, name: str) -> Patterns:
    """Build and validate :class:`Patterns` from the entries of a file (module docstring)."""

    def fail(message):
        raise ValueError(f"{name}: {message}")

    def scalar(key, kind):
        if key not in arrays:
            fail(f"missing entry {key!r} (truncated or not a refpattern patterns file)")
        value = arrays[key]
        if value.shape != () or value.dtype.kind not in kind:
            fail(f"entry {key!r} should be a scalar of kind {kind!r}, got dtype {value.dtype} shape {value.shape}")
        return value.item()

    if scalar("format_name", "U") != FORMAT_NAME:
        fail(f"format_name is {arrays['format_name'].item()!r}, expected {FORMAT_NAME!r}")
    version = scalar("format_version", "i")
    if version != FORMAT_VERSION:
        fail(f"format version {version} is not supported (this refpattern reads version {FORMAT_VERSION})")
    try:
        estimator = estimator_from_file(scalar("estimator", "U"), scalar("variant", "U"), scalar("seed", "i"))
    except ValueError as error:
        fail(str(error))
    n_layers = scalar("n_layers", "i")
    if n_layers < 0:
        fail(f"n_layers is {n_layers}")
    if "checksum" not in arrays:
        fail("missing entry 'checksum'")

    expected_keys = {"format_name", "format_version", "estimator", "variant", "seed", "n_layers", "checksum"}
    layers = []
    for k in range(n_layers):
        p = f"layer_{k}."
        shape_key = p + "shape"
        if shape_key not in arrays:
            fail(f"missing entry {shape_key!r}")
        shape = arrays[shape_key]
        if shape.dtype.kind != "i" or shape.ndim != 1 or shape.size not in (2, 4) or np.any(shape < 1):
            fail(f"{shape_key} should be 2 or 4 positive ints, got {shape!r}")
        shape = tuple(int(s) for s in shape)
        n_out = shape[0]
        layer_index = scalar(p + "layer_index", "i")
        layer_name = scalar(p + "layer_name", "U")
        n_samples = scalar(p + "n_samples", "i")
        keys = [shape_key, p + "layer_index", p + "layer_name", p + "n_samples"]
        patterns = {}
        for label in estimator.fields:
            key = p + label
            if key not in arrays:
                fail(f"missing entry {key!r}")
            value = arrays[key]
            if value.dtype != np.float64 or value.shape != shape:
                fail(f"{key} has dtype {value.dtype} and shape {value.shape}; expected float64 of shape {shape} "
                     f"(kernel layer {k}, {layer_name})")
            if not np.all(np.isfinite(value)):
                fail(f"{key} contains NaN or inf")
            patterns[label] = value
            keys.append(key)
        counts = None
        if p + "counts" in arrays:
            counts = arrays[p + "counts"]
            keys.append(p + "counts")
            if counts.dtype.kind != "i" or counts.shape != (3, n_out):
                fail(f"{p}counts should be int of shape (3, {n_out}), got {counts.dtype} {counts.shape}")
            if np.any(counts < 0) or np.any(counts[0] != counts[1] + counts[2]) or np.any(counts[0] != n_samples):
                fail(f"{p}counts are inconsistent (need n = n₊ + n₋ = n_samples = {n_samples})")
            counts = RegimeCounts(*counts)
        deg_keys = {f: p + "degenerate_" + f for f in ("neuron", "regime", "reason", "count", "zeroed")}
        deg = {}
        for field_name, key in deg_keys.items():
            if key not in arrays:
                fail(f"missing entry {key!r}")
            if arrays[key].ndim != 1:
                fail(f"{key} should be 1-D, got shape {arrays[key].shape}")
            deg[field_name] = arrays[key]
            keys.append(key)
        lengths = {v.shape[0] for v in deg.values()}
        if len(lengths) != 1:
            fail(f"kernel layer {k}: degenerate entries have different lengths {sorted(lengths)}")
        if (deg["neuron"].dtype.kind != "i" or deg["count"].dtype.kind != "i" or deg["zeroed"].dtype != bool
                or deg["regime"].dtype.kind != "U" or deg["reason"].dtype.kind != "U"):
            fail(f"kernel layer {k}: degenerate entries have wrong dtypes")
        if np.any(deg["neuron"] < 0) or np.any(deg["neuron"] >= n_out):
            fail(f"kernel layer {k}: a degenerate neuron index is outside 0..{n_out - 1}")
        if not set(deg["regime"].tolist()) <= set(REGIMES):
            fail(f"kernel layer {k}: unknown regime in {sorted(set(deg['regime'].tolist()))}")
        degenerate = [DegenerateNeuron(k, int(nr), str(rg), str(rs), int(ct), bool(zr))
                      for nr, rg, rs, ct, zr in zip(deg["neuron"], deg["regime"], deg["reason"], deg["count"],
                                                     deg["zeroed"])]
        expected_keys.update(keys)
        layers.append(LayerPatterns(k, layer_index, layer_name, shape, counts=counts, n_samples=n_samples,
                                    degenerate=degenerate, **patterns))
    extra = sorted(set(arrays) - expected_keys)
    if extra:
        fail(f"unexpected entries {extra} (tampered file or another layer count)")
    checksum = arrays["checksum"]
    if checksum.shape != () or checksum.dtype.kind != "U" or checksum.item() != _checksum(arrays):
        fail("checksum mismatch: the file was modified or is corrupt")
    return Patterns(estimator, layers)
