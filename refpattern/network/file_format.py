"""The file format of :class:`~refpattern.network.sequential.Sequential` (``Sequential.save`` /
``Sequential.load``), ``docs/conventions.md#network-file-format``.

File format (``.npz`` written and read with ``allow_pickle=False``), version 1::

    format_name         "refpattern.Sequential"
    format_version      1
    n_layers            L
    input_shape         (d,) int64: the per-sample input shape; shape (0,) when the network has none
    has_input_shape     bool: whether ``input_shape`` is the network's (False: built without one)
    layer_{i}.type      "Dense" | "Conv2D" | "ReLU" | "MaxPool2D" | "Flatten" | "Softmax"
    layer_{i}.weight    float64, Dense (out, in), Conv2D (out_ch, in_ch, kh, kw)
    layer_{i}.bias      float64 (out,)                                   (Dense, Conv2D)
    layer_{i}.stride    (2,) int64 ``(sh, sw)``                          (Conv2D, MaxPool2D)
    layer_{i}.padding   Conv2D: (2, 2) int64 ``((top, bottom), (left, right))``, or the string "same"
    layer_{i}.size      (2,) int64 ``(kh, kw)``                          (MaxPool2D)
    checksum            SHA-256 over every other entry (name, dtype, shape, bytes, sorted by name)

``i`` runs over ``net.layers`` (0 … L − 1, in forward order); a layer has exactly the entries its
type lists.  Parameters are stored as the layer holds them (float64, C order), so a round trip
changes no bit: the loaded network's outputs, explanations, fits and fingerprints equal the
original's.

:func:`read_file` refuses, always with a ``ValueError`` that names the file and the problem: a
file that is not a readable zip archive (truncated, garbage, a single ``.npy``), an entry holding
pickled objects (an object array, which ``allow_pickle=False`` does not read), a foreign archive
(no or another ``format_name``), a file of a newer format version ("written by a newer refpattern;
this one reads version 1"), a checksum that does not match (a value, a shape or a dtype changed
after writing, an entry added or removed), and entries that contradict each other or the layers
(a layer type this refpattern does not know, a missing or extra entry, a bias of the wrong length,
a non-finite weight, a stride of 0, a Softmax that is not last, an input shape the layers do not
fit).  The checksum is checked before the entries' consistency, so a file changed after writing is
reported as such; a consistent-looking file whose checksum was recomputed is still checked entry
by entry.  Writing goes through :func:`refpattern.files.write_atomically`
(``docs/conventions.md#atomic-files``).
"""

from __future__ import annotations

import numpy as np

from refpattern.files import archive_checksum, check_file_target, file_name, read_npz, write_atomically
from refpattern.network.conv2d import Conv2D
from refpattern.network.dense import Dense
from refpattern.network.elementwise import Flatten, ReLU, Softmax
from refpattern.network.maxpool import MaxPool2D

FORMAT_NAME = "refpattern.Sequential"
FORMAT_VERSION = 1

#: The entries (besides ``layer_{i}.type``) each layer type has.
LAYER_ENTRIES = {
    "Dense": ("weight", "bias"),
    "Conv2D": ("weight", "bias", "stride", "padding"),
    "ReLU": (),
    "MaxPool2D": ("size", "stride"),
    "Flatten": (),
    "Softmax": (),
}
_HEADER = ("format_name", "format_version", "n_layers", "input_shape", "has_input_shape", "checksum")


def checksum(arrays: dict) -> str:
    """SHA-256 (hex) over every entry but ``checksum`` (:func:`refpattern.files.archive_checksum`,
    the same construction as the patterns file)."""
    return archive_checksum(arrays)


def network_arrays(layers, input_shape) -> dict:
    """The entries of the file of a network with ``layers`` and ``input_shape`` (None or a tuple)
    (module docstring), its checksum included."""
    shape = () if input_shape is None else tuple(input_shape)
    arrays = {
        "format_name": np.array(FORMAT_NAME),
        "format_version": np.array(FORMAT_VERSION, dtype=np.int64),
        "n_layers": np.array(len(layers), dtype=np.int64),
        "input_shape": np.array(shape, dtype=np.int64),
        "has_input_shape": np.array(input_shape is not None),
    }
    for i, layer in enumerate(layers):
        p = f"layer_{i}."
        kind = type(layer).__name__
        if kind not in LAYER_ENTRIES:
            raise TypeError(f"layer {i} is a {kind}, which the network file cannot hold "
                            f"(it holds {', '.join(LAYER_ENTRIES)})")
        arrays[p + "type"] = np.array(kind)
        if isinstance(layer, (Dense, Conv2D)):
            arrays[p + "weight"] = np.array(layer.weight, dtype=np.float64)
            arrays[p + "bias"] = np.array(layer.bias, dtype=np.float64)
        if isinstance(layer, Conv2D):
            arrays[p + "stride"] = np.array(layer.stride, dtype=np.int64)
            padding = layer.padding
            arrays[p + "padding"] = np.array("same") if padding == "same" else np.array(padding, dtype=np.int64)
        if isinstance(layer, MaxPool2D):
            arrays[p + "size"] = np.array(layer.size, dtype=np.int64)
            arrays[p + "stride"] = np.array(layer.stride, dtype=np.int64)
    arrays["checksum"] = np.array(checksum(arrays))
    return arrays


def write_file(layers, input_shape, path) -> None:
    """Write the ``.npz`` file of a network at exactly ``path`` (no suffix is added), or into a
    binary file object.

    A path is written atomically (:func:`refpattern.files.write_atomically`,
    ``docs/conventions.md#atomic-files``): a temporary file next to it, renamed into place once
    complete, so a failed save (disk full, an exception midway) leaves an existing file intact.
    """
    check_file_target(path, "write")  # a text stream: a TypeError naming path, not NumPy's
    arrays = network_arrays(layers, input_shape)  # every entry exists before the first byte is written
    if hasattr(path, "write"):
        np.savez(path, **arrays)
        return
    write_atomically(path, lambda handle: np.savez(handle, **arrays))


def read_arrays(path) -> dict:
    """Every entry of the ``.npz`` archive at ``path`` (a path or a binary file object), read with
    ``allow_pickle=False``.  Raises ``ValueError`` (naming the file) for anything that is not a
    readable archive or holds an object array; ``FileNotFoundError`` for a missing file."""
    return read_npz(path, "refpattern network file")


def read_file(path) -> tuple:
    """The layers and input shape of a file written by :func:`write_file` (a path or a binary file
    object), checked completely: ``(layers, input_shape)`` (:func:`read_entries`)."""
    return read_entries(read_arrays(path), file_name(path))


def read_entries(arrays: dict, name: str) -> tuple:
    """Validate the entries of a network file (module docstring) and return ``(layers,
    input_shape)``: a list of new layers and the per-sample input shape (a tuple, or None).
    The layers are not yet assembled into a ``Sequential`` (which checks their order and shapes
    once more)."""

    def fail(message):
        raise ValueError(f"{name}: {message}")

    def scalar(key, kind, what=""):
        if key not in arrays:
            fail(f"missing entry {key!r}{what}")
        value = arrays[key]
        if value.shape != () or value.dtype.kind not in kind:
            fail(f"entry {key!r} should be a scalar of kind {kind!r}, got dtype {value.dtype} shape {value.shape}")
        return value.item()

    found_name = scalar("format_name", "U", " (not a refpattern network file)")
    if found_name != FORMAT_NAME:
        fail(f"format_name is {found_name!r}, expected {FORMAT_NAME!r} (not a refpattern network file)")
    version = scalar("format_version", "i")
    if version > FORMAT_VERSION:
        fail(f"format version {version}: written by a newer refpattern; this one reads version {FORMAT_VERSION} "
             "(upgrade refpattern to read it)")
    if version != FORMAT_VERSION:
        fail(f"format version {version} is not a version of this format (this refpattern reads version "
             f"{FORMAT_VERSION})")
    stored = scalar("checksum", "U", " (truncated file)")
    if stored != checksum(arrays):
        fail("checksum mismatch: the file was modified after it was written, or is corrupt (a value, a shape, a "
             "dtype or an entry differs from what was written)")

    n_layers = scalar("n_layers", "i")
    if n_layers < 1:
        fail(f"n_layers is {n_layers}; a network has at least one layer")
    has_input_shape = scalar("has_input_shape", "b")
    if "input_shape" not in arrays:
        fail("missing entry 'input_shape'")
    shape = arrays["input_shape"]
    if shape.dtype.kind != "i" or shape.ndim != 1 or np.any(shape < 1) or (not has_input_shape and shape.size):
        fail(f"input_shape should be positive ints (none when has_input_shape is False), got {shape!r}")
    input_shape = tuple(int(s) for s in shape) if has_input_shape else None

    expected = set(_HEADER)
    layers = []
    for i in range(n_layers):
        p = f"layer_{i}."
        kind = scalar(p + "type", "U")
        if kind not in LAYER_ENTRIES:
            fail(f"layer {i} has type {kind!r}, which this refpattern does not know (it knows "
                 f"{', '.join(LAYER_ENTRIES)}); a file of a newer refpattern or a modified one")
        expected.add(p + "type")
        entries = {}
        for entry in LAYER_ENTRIES[kind]:
            key = p + entry
            if key not in arrays:
                fail(f"layer {i} ({kind}): missing entry {key!r}")
            entries[entry] = arrays[key]
            expected.add(key)
        for entry in ("weight", "bias"):
            if entry in entries:
                value = entries[entry]
                if value.dtype.kind != "f" or value.dtype.itemsize != 8:
                    fail(f"layer {i} ({kind}): {p + entry} should be float64, got dtype {value.dtype}")
                if not np.all(np.isfinite(value)):
                    fail(f"layer {i} ({kind}): {p + entry} contains NaN or inf")
        for entry in ("stride", "size"):
            if entry in entries:
                value = entries[entry]
                if value.dtype.kind != "i" or value.shape != (2,) or np.any(value < 1):
                    fail(f"layer {i} ({kind}): {p + entry} should be 2 ints >= 1, got {value!r}")
        try:
            if kind == "Dense":
                weight, bias = entries["weight"], entries["bias"]
                if weight.ndim != 2 or bias.shape != (weight.shape[0],):
                    fail(f"layer {i} (Dense): weight {weight.shape} and bias {bias.shape} do not fit: expected a "
                         f"weight (out, in) and a bias (out,)")
                layers.append(Dense(weight, bias))
            elif kind == "Conv2D":
                weight, bias, padding = entries["weight"], entries["bias"], entries["padding"]
                if weight.ndim != 4 or bias.shape != (weight.shape[0],):
                    fail(f"layer {i} (Conv2D): weight {weight.shape} and bias {bias.shape} do not fit: expected a "
                         f"weight (out_ch, in_ch, kh, kw) and a bias (out_ch,)")
                if padding.dtype.kind == "U" and padding.shape == () and padding.item() == "same":
                    padding = "same"
                elif padding.dtype.kind == "i" and padding.shape == (2, 2) and not np.any(padding < 0):
                    padding = tuple(tuple(int(v) for v in pair) for pair in padding)
                else:
                    fail(f"layer {i} (Conv2D): {p}padding should be 'same' or ((top, bottom), (left, right)) of "
                         f"ints >= 0, got {padding!r}")
                layers.append(Conv2D(weight, bias, tuple(int(s) for s in entries["stride"]), padding))
            elif kind == "MaxPool2D":
                layers.append(MaxPool2D(tuple(int(s) for s in entries["size"]),
                                        tuple(int(s) for s in entries["stride"])))
            else:
                layers.append({"ReLU": ReLU, "Flatten": Flatten, "Softmax": Softmax}[kind]())
        except (TypeError, ValueError) as error:
            if str(error).startswith(f"{name}: "):
                raise
            fail(f"layer {i} ({kind}): {error}")
    extra = sorted(set(arrays) - expected)
    if extra:
        fail(f"unexpected entries {extra} (another layer count or a modified file)")
    return layers, input_shape


__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "LAYER_ENTRIES", "checksum", "network_arrays", "read_arrays",
           "read_entries", "read_file", "write_file"]
