"""``Patterns``: the fitted signal estimator of every kernel layer, with its report.

A :class:`Patterns` holds one :class:`~refpattern.patterns.layer_patterns.LayerPatterns` per
kernel layer (``patterns[k]`` belongs to ``net.kernel_layers[k]``), each with arrays in the
kernel's own layout, and the fingerprint of the weights it was fitted on
(:func:`network_fingerprint`).  :meth:`Patterns.save` and :meth:`Patterns.load` use the file
format of :mod:`refpattern.patterns.file_format`; :meth:`Patterns.check_network` refuses
patterns that do not fit a network and warns (or, with ``strict=True``, refuses) when the
network's weights are not the ones the patterns were fitted on
(``docs/conventions.md#patterns-fingerprint``).
"""

from __future__ import annotations

import hashlib
import numbers
import os
import sys
import warnings
import weakref

import numpy as np

from refpattern.files import file_name
from refpattern.network.sequential import Sequential
from refpattern.network.validation import check_count
from refpattern.patterns.estimators import Estimator
from refpattern.patterns.file_format import read_file, write_file
from refpattern.patterns.layer_patterns import DegenerateNeuron, LayerPatterns, RegimeCounts


class PatternsMismatchWarning(RuntimeWarning):
    """Patterns are used with a network whose kernel weights, biases, strides or paddings are not
    those the patterns were fitted on (:meth:`Patterns.check_network`)."""


class MissingFingerprintWarning(RuntimeWarning):
    """Patterns read from a version-1 file, which has no fingerprint of the weights they were
    fitted on: :meth:`Patterns.check_network` can then compare shapes only."""


def _canonical(value) -> str:
    """A text for a layer attribute (stride, padding) that depends only on its value: ints as
    ints whatever their type, tuples and lists alike, strings (``"same"``) quoted."""
    if value is None:
        return "None"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, (bool, np.bool_)):
        return repr(bool(value))
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return repr(float(value))
    if isinstance(value, np.ndarray):
        return _canonical(value.tolist())
    if isinstance(value, (tuple, list)):
        return "(" + ",".join(_canonical(v) for v in value) + ")"
    return repr(value)


def _padding_per_side(padding):
    """A padding given per axis, ``(ph, pw)``, as per side, ``((ph, ph), (pw, pw))``; anything else
    (already per side, ``"same"``, None) as it is.  So one padding has one fingerprint whichever
    of the two forms the layer stores."""
    if (isinstance(padding, (tuple, list)) and len(padding) == 2
            and all(isinstance(p, numbers.Integral) and not isinstance(p, (bool, np.bool_)) for p in padding)):
        return tuple((int(p), int(p)) for p in padding)
    return padding


def _geometry(layer) -> str:
    """The layer's type, stride and padding as text (read generically: a Dense has neither)."""
    stride = getattr(layer, "stride", None)
    padding = _padding_per_side(getattr(layer, "padding", None))
    return f"{type(layer).__name__}|stride={_canonical(stride)}|padding={_canonical(padding)}"


#: layer -> (weight, bias, geometry, digest); used only while the layer still holds the same
#: read-only arrays (refpattern's layers never change theirs), so explaining a large network
#: many times hashes its weights once.
_DIGESTS = weakref.WeakKeyDictionary()


def layer_fingerprint(layer) -> str:
    """SHA-256 (hex) of one kernel layer: its type, stride and padding, and the shapes and bytes
    (float64, little-endian, C order) of its weight and bias (``docs/conventions.md#patterns-fingerprint``)."""
    weight, bias = layer.weight, getattr(layer, "bias", None)
    geometry = _geometry(layer)
    try:
        cached = _DIGESTS.get(layer)
    except TypeError:  # not weakly referenceable
        cached = None
    if (cached is not None and cached[0] is weight and cached[1] is bias and cached[2] == geometry
            and not weight.flags.writeable and (bias is None or not bias.flags.writeable)):
        return cached[3]
    digest = hashlib.sha256()
    parts = [np.ascontiguousarray(weight, dtype="<f8")]
    parts.append(np.zeros(0, dtype="<f8") if bias is None else np.ascontiguousarray(bias, dtype="<f8"))
    digest.update(f"{geometry}|weight{parts[0].shape}|bias{parts[1].shape}|".encode())
    for part in parts:
        digest.update(memoryview(part).cast("B"))
    text = digest.hexdigest()
    try:
        _DIGESTS[layer] = (weight, bias, geometry, text)
    except TypeError:
        pass
    return text


def network_fingerprint(net) -> tuple:
    """The fingerprint of ``net``'s weights: one :func:`layer_fingerprint` per kernel layer, in the
    order of ``net.kernel_layers`` (a tuple of 64-character hex strings)."""
    return tuple(layer_fingerprint(layer) for layer in net.kernel_layers)


def _check_fingerprint(fingerprint, n_layers: int):
    if fingerprint is None:
        return None
    if isinstance(fingerprint, str) or not hasattr(fingerprint, "__iter__"):
        raise TypeError(f"Patterns: fingerprint must be None or a sequence of {n_layers} SHA-256 hex strings "
                        f"(network_fingerprint(net)), got {type(fingerprint).__name__}")
    fingerprint = tuple(fingerprint)
    if len(fingerprint) != n_layers:
        raise ValueError(f"Patterns: fingerprint has {len(fingerprint)} entries, the patterns have {n_layers} "
                         "kernel layers")
    for k, entry in enumerate(fingerprint):
        if not (isinstance(entry, str) and len(entry) == 64 and all(ch in "0123456789abcdef" for ch in entry)):
            raise ValueError(f"Patterns: fingerprint entry {k} must be a SHA-256 hex digest (64 characters "
                             f"0-9a-f), got {entry!r}")
    return fingerprint


_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def _warn_from_caller(message: str, category) -> None:
    """``warnings.warn`` pointing at the first frame outside refpattern (the user's call to
    ``explain``, ``rho`` or ``check_network``), whichever path led here."""
    frame, level = sys._getframe(0), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)


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
    fingerprint : tuple of str or None
        :func:`network_fingerprint` of the network the patterns were fitted on: per kernel layer,
        the SHA-256 of its weight and bias bytes, shapes, stride and padding.  ``fit_patterns``
        and ``patterns_from_statistics`` set it; None when unknown (a version-1 file, or
        patterns built by hand without one).
    source : str or None
        The file :meth:`load` read them from (its path, or a file object's ``name``); None for
        patterns fitted or built in memory.  :meth:`check_network` names it and the file's entry
        when the patterns do not fit a network.

    Notes
    -----
    Using patterns with a network (``explain``, ``rho``) calls :meth:`check_network`: a network
    with other kernel counts or shapes is refused (``ValueError``); one with the same shapes but
    other weights gets a :class:`PatternsMismatchWarning` naming the first kernel layer that
    differs, because the patterns then describe another network
    (``docs/conventions.md#patterns-fingerprint``).  ``check_network(net, strict=True)`` refuses
    it instead.
    """

    def __init__(self, estimator: Estimator, layers, fingerprint=None):
        if not isinstance(estimator, Estimator):
            raise TypeError(f"Patterns: estimator must be a refpattern Estimator, got {type(estimator).__name__}")
        self.estimator = estimator
        if not hasattr(layers, "__iter__"):
            raise TypeError(f"Patterns: layers must be a sequence of LayerPatterns, got {type(layers).__name__}")
        self.layers = tuple(layers)
        for k, layer in enumerate(self.layers):
            if not isinstance(layer, LayerPatterns):
                raise TypeError(f"Patterns: layers[{k}] must be a LayerPatterns, got {type(layer).__name__}")
        self.fingerprint = _check_fingerprint(fingerprint, len(self.layers))
        self.source = None
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
        estimated from few samples (at most ``max_per_layer`` lines each, an int >= 0; None for all)."""
        if max_per_layer is not None:
            max_per_layer = check_count(max_per_layer, "report: max_per_layer", minimum=0)
        variant = f", variant {self.variant!r}" if self.variant else ""
        lines = [f"Patterns: estimator {self.estimator.name!r}{variant}, {len(self)} kernel layers"]
        if self.fingerprint is None:
            lines.append("no fingerprint of the weights they were fitted on (a version-1 file or built without "
                         "one): check_network compares shapes only")
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

    def check_network(self, net, strict: bool = False) -> None:
        """Check that these patterns belong to ``net`` (``docs/conventions.md#patterns-fingerprint``).

        Raises ``ValueError`` unless ``net`` has as many kernel layers as the patterns, with the
        same weight shapes, at the same positions in ``net.layers`` (``layer_index ==
        net.kernel_indices[k]``: patterns fitted on a network with other layers between its kernels
        describe another network, and a file's ``layer_{k}.layer_index`` that points elsewhere
        contradicts it); for patterns read by :meth:`load` the message names the file and its
        entry.  Then compares :func:`network_fingerprint` of ``net`` with the
        fingerprint the patterns were fitted on: if a kernel layer's weights, bias, stride or
        padding differ, a :class:`PatternsMismatchWarning` names the first such layer
        (``strict=True``: a ``ValueError``).  Patterns without a fingerprint (a version-1 file)
        pass with ``strict=False`` and are refused with ``strict=True``.
        """
        if not isinstance(strict, (bool, np.bool_)):
            raise TypeError(f"check_network: strict must be True or False, got {strict!r}")
        if not isinstance(net, Sequential):
            raise TypeError(f"check_network: net must be a refpattern.Sequential, got {type(net).__name__}")
        kernels = net.kernel_layers
        # loaded patterns: the file and its entry; others: "patterns"
        where = "patterns" if self.source is None else f"{self.source}: patterns"

        def entry(name):
            return "" if self.source is None else f" (entry {name!r})"

        if len(kernels) != len(self):
            raise ValueError(f"{where}: fitted for {len(self)} kernel layers{entry('n_layers')}, the network has "
                             f"{len(kernels)}")
        for k, (layer_patterns, layer) in enumerate(zip(self.layers, kernels)):
            index = net.kernel_indices[k]
            if tuple(layer.weight.shape) != layer_patterns.shape:
                raise ValueError(f"{where}: kernel layer {k} (net.layers[{index}], {layer!r}) has weight shape "
                                 f"{tuple(layer.weight.shape)}, the patterns have shape {layer_patterns.shape}"
                                 f"{entry(f'layer_{k}.shape')} (fitted for {layer_patterns.layer_name})")
            if layer_patterns.layer_index != index:
                found = (f"net.layers[{layer_patterns.layer_index}] is {net.layers[layer_patterns.layer_index]!r}"
                         if layer_patterns.layer_index < len(net.layers) else
                         f"the network has {len(net.layers)} layers")
                raise ValueError(f"{where}: kernel layer {k} was fitted at net.layers[{layer_patterns.layer_index}]"
                                 f"{entry(f'layer_{k}.layer_index')}, expected net.layers[{index}] ({layer!r}), "
                                 f"where this network has it ({found}): the patterns were fitted on a network "
                                 "with other layers between its kernels, or the file was edited; refit them with "
                                 "fit_patterns on this network")
        if self.fingerprint is None:
            if strict:
                raise ValueError("patterns: no fingerprint of the weights they were fitted on (a version-1 file or "
                                 "built without one), so strict=True cannot confirm they belong to this network; "
                                 "refit them with fit_patterns, or pass strict=False to check shapes only")
            return
        for k, (expected, layer) in enumerate(zip(self.fingerprint, kernels)):
            found = layer_fingerprint(layer)
            if found == expected:
                continue
            message = (f"patterns: kernel layer {k} (net.layers[{net.kernel_indices[k]}], {layer!r}) is not the layer "
                       f"the patterns were fitted on: its weights, bias, stride or padding differ (SHA-256 "
                       f"{found[:12]}…, fitted on {expected[:12]}…); the patterns describe another network, refit "
                       "them with fit_patterns on this one")
            if strict:
                raise ValueError(message)
            _warn_from_caller(message, PatternsMismatchWarning)
            return

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
        A version-1 file loads without a fingerprint, with a :class:`MissingFingerprintWarning`.
        """
        estimator, layers, fingerprint, version = read_file(path)
        name = file_name(path)
        if version == 1:
            _warn_from_caller(f"{name}: a version-1 patterns file, without a fingerprint of the weights the "
                              "patterns were fitted on; check_network (explain, rho) can compare shapes only. "
                              "Refit and save the patterns to add it.", MissingFingerprintWarning)
        patterns = cls(estimator, layers, fingerprint)
        patterns.source = name
        return patterns


__all__ = ["DegenerateNeuron", "LayerPatterns", "MissingFingerprintWarning", "Patterns", "PatternsMismatchWarning",
           "RegimeCounts", "layer_fingerprint", "network_fingerprint"]
