"""The file format of :class:`~refpattern.patterns.container.Patterns`.

File format (``.npz`` written and read with ``allow_pickle=False``), version 2::

    format_name     "refpattern.Patterns"
    format_version  2
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
    fingerprint     (L,) str: per kernel layer the SHA-256 (64 hex characters) of the weights the
                    patterns were fitted on (``container.network_fingerprint``); shape (0,) when
                    unknown
    checksum        SHA-256 over every other entry (name, dtype, shape, bytes)

Version 1 is version 2 without ``fingerprint``; it is still read, as patterns without a
fingerprint (:meth:`Patterns.load` warns).  :meth:`Patterns.load` refuses a file that is not a
readable zip archive, lacks or adds entries, has another format version, has arrays whose shapes
or values contradict each other (layer indices that do not increase with ``k``; an estimator entry
that contradicts the layers' entries: degenerate regimes it never notes, a data estimator without
counts; a pattern row that a degenerate entry says was zeroed but is not zero), or whose checksum
does not match, always with a ``ValueError`` naming the problem.
:meth:`Patterns.check_network` refuses patterns that do not fit a network (count, shapes, the
positions ``layer_index``) (``docs/conventions.md#patterns-file-format``, ``docs/conventions.md#patterns-fingerprint``).
"""

from __future__ import annotations

import numpy as np

from refpattern.files import archive_checksum, check_file_target, file_name, read_npz, write_atomically
from refpattern.patterns.estimators import estimator_from_file
from refpattern.patterns.layer_patterns import REGIMES, DegenerateNeuron, LayerPatterns, RegimeCounts

FORMAT_NAME = "refpattern.Patterns"
FORMAT_VERSION = 2
#: Versions :func:`read_file` reads: 1 (no fingerprint) and 2.
READABLE_VERSIONS = (1, 2)
FINGERPRINT_LENGTH = 64  # SHA-256 in hex


def patterns_arrays(patterns) -> dict:
    """The entries of the file of ``patterns`` (module docstring), its checksum included.

    Raises ``ValueError`` for a seed the file's int64 entry cannot hold (``seed >= 2**63``).
    """
    if patterns.seed is not None and patterns.seed > np.iinfo(np.int64).max:
        raise ValueError(f"seed: the {patterns.estimator.name!r} patterns were drawn with seed {patterns.seed}, which "
                         f"the file's int64 seed entry cannot hold (at most 2**63 - 1 = {np.iinfo(np.int64).max}); "
                         "fit with a smaller seed to save them")
    arrays = {
        "format_name": np.array(FORMAT_NAME),
        "format_version": np.array(FORMAT_VERSION, dtype=np.int64),
        "estimator": np.array(patterns.estimator.name),
        "variant": np.array(patterns.variant or ""),
        "seed": np.array(-1 if patterns.seed is None else patterns.seed, dtype=np.int64),
        "n_layers": np.array(len(patterns), dtype=np.int64),
    }
    for k, layer in enumerate(patterns.layers):
        p = f"layer_{k}."
        arrays[p + "shape"] = np.array(layer.shape, dtype=np.int64)
        arrays[p + "layer_index"] = np.array(layer.layer_index, dtype=np.int64)
        arrays[p + "layer_name"] = np.array(layer.layer_name)
        arrays[p + "n_samples"] = np.array(layer.n_samples, dtype=np.int64)
        for field in patterns.estimator.fields:
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
    fingerprint = () if patterns.fingerprint is None else patterns.fingerprint
    arrays["fingerprint"] = np.array(fingerprint, dtype=f"<U{FINGERPRINT_LENGTH}")
    arrays["checksum"] = np.array(archive_checksum(arrays))
    return arrays


def write_file(patterns, path) -> None:
    """Write the ``.npz`` file of ``patterns`` at exactly ``path`` (no suffix is added), or into a
    binary file object.

    A path is written atomically (:func:`refpattern.files.write_atomically`,
    ``docs/conventions.md#atomic-files``): a temporary file next to it, renamed into place once
    complete, so a failed save (disk full, an exception midway) leaves an existing file intact.
    """
    check_file_target(path, "write")  # a text stream: a TypeError naming path, not NumPy's
    arrays = patterns_arrays(patterns)  # every entry exists before the first byte is written
    if hasattr(path, "write"):
        np.savez(path, **arrays)
        return
    write_atomically(path, lambda handle: np.savez(handle, **arrays))


def read_file(path) -> tuple:
    """The entries of a file written by :func:`write_file` (a path or a binary file object), checked
    completely: ``(estimator, layers, fingerprint, version)`` (:func:`read_entries`).  Raises
    ``ValueError`` for a truncated, corrupt or tampered file or an unsupported format version;
    ``FileNotFoundError`` for a missing one."""
    return read_entries(read_npz(path, "refpattern patterns file"), file_name(path))


def read_entries(arrays: dict, name: str) -> tuple:
    """Validate the entries of a file (module docstring) and return ``(estimator, layers,
    fingerprint, version)``: the :class:`~refpattern.patterns.estimators.Estimator`, the
    :class:`LayerPatterns` it names, the fingerprint (a tuple of L hex strings, or None for a
    version-1 file or one written without it) and the file's format version."""

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
    if version not in READABLE_VERSIONS:
        fail(f"format version {version} is not supported (this refpattern reads versions "
             f"{', '.join(map(str, READABLE_VERSIONS))})")
    estimator_name, variant, seed = scalar("estimator", "U"), scalar("variant", "U"), scalar("seed", "i")
    try:
        estimator = estimator_from_file(estimator_name, variant, seed)
    except ValueError as error:
        fail(str(error))
    n_layers = scalar("n_layers", "i")
    if n_layers < 0:
        fail(f"n_layers is {n_layers}")
    if "checksum" not in arrays:
        fail("missing entry 'checksum'")

    expected_keys = {"format_name", "format_version", "estimator", "variant", "seed", "n_layers", "checksum"}
    fingerprint = None
    if version >= 2:
        expected_keys.add("fingerprint")
        if "fingerprint" not in arrays:
            fail("missing entry 'fingerprint' (truncated file)")
        entry = arrays["fingerprint"]
        if entry.dtype.kind != "U" or entry.ndim != 1 or entry.shape[0] not in (0, n_layers):
            fail(f"fingerprint should be 0 or {n_layers} strings, got dtype {entry.dtype} shape {entry.shape}")
        fingerprint = tuple(str(digest) for digest in entry.tolist()) or None
        if fingerprint is not None and not all(len(digest) == FINGERPRINT_LENGTH
                                               and all(ch in "0123456789abcdef" for ch in digest)
                                               for digest in fingerprint):
            fail(f"fingerprint entries should be SHA-256 hex digests ({FINGERPRINT_LENGTH} characters 0-9a-f)")
    # the regimes a degenerate note of this estimator names: "plus"/"minus" with one pattern per gate
    # regime, "all" otherwise (docs/conventions.md#patterns-file-format)
    regimes = ("plus", "minus") if estimator.fields == ("a_plus", "a_minus") else ("all",)
    layers = []
    previous_index = -1
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
        if layer_index < 0 or n_samples < 0:
            fail(f"kernel layer {k}: layer_index {layer_index} and n_samples {n_samples} must be >= 0")
        if layer_index <= previous_index:
            fail(f"{p}layer_index is {layer_index}, expected more than {previous_index} (layer_{k - 1}.layer_index): "
                 "kernel layer k is net.layers[net.kernel_indices[k]], so the indices increase with k")
        previous_index = layer_index
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
        if np.any(deg["count"] < 0) or np.any(deg["count"] > n_samples):
            fail(f"kernel layer {k}: a degenerate entry's observation count is outside 0..{n_samples} (n_samples)")
        if not set(deg["regime"].tolist()) <= set(REGIMES):
            fail(f"kernel layer {k}: unknown regime in {sorted(set(deg['regime'].tolist()))}")
        if not set(deg["regime"].tolist()) <= set(regimes):
            fail(f"{p}degenerate_regime holds {sorted(set(deg['regime'].tolist()) - set(regimes))}, but estimator "
                 f"{estimator.name!r} notes the regimes {list(regimes)} only: the estimator entry contradicts the "
                 "layer's entries")
        if estimator.needs_data and counts is None:
            fail(f"missing entry '{p}counts': estimator {estimator.name!r} is fitted on data, so every layer of its "
                 "file has counts (the estimator entry contradicts the layer's entries)")
        degenerate = [DegenerateNeuron(k, int(nr), str(rg), str(rs), int(ct), bool(zr))
                      for nr, rg, rs, ct, zr in zip(deg["neuron"], deg["regime"], deg["reason"], deg["count"],
                                                     deg["zeroed"])]
        for note in degenerate:  # a note that says "zeroed" holds for the row it names: exactly zero
            label = "a" if note.regime == "all" else "a_" + note.regime
            if note.zeroed and label in patterns and np.any(patterns[label][note.neuron] != 0):
                fail(f"{p}{label} row {note.neuron} is not zero, but {p}degenerate_zeroed says the pattern of neuron "
                     f"{note.neuron} (regime {note.regime!r}: {note.reason}) was set to zero (tampered file)")
        expected_keys.update(keys)
        layers.append(LayerPatterns(k, layer_index, layer_name, shape, counts=counts, n_samples=n_samples,
                                    degenerate=degenerate, **patterns))
    extra = sorted(set(arrays) - expected_keys)
    if extra:
        fail(f"unexpected entries {extra} (tampered file or another layer count)")
    checksum = arrays["checksum"]
    if checksum.shape != () or checksum.dtype.kind != "U" or checksum.item() != archive_checksum(arrays):
        fail("checksum mismatch: the file was modified or is corrupt")
    return estimator, layers, fingerprint, version
