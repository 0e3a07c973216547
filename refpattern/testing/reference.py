"""Reference files: :func:`save_reference` writes refpattern's explanations of a batch, the network
in PyTorch and Keras layouts and the exact options to one ``.npz`` file (no pickle);
:func:`load_reference` reads it back (both re-exported by :mod:`refpattern.testing`).

``load_reference`` is self-contained (NumPy and ``json`` only, imported inside it): a test suite
that cannot install refpattern may copy it, and ``tests/peer_reference_check.py`` compiles it from
this file's text alone.
"""

from __future__ import annotations

import json
import numbers
import os
import pathlib
from collections.abc import Mapping

import numpy as np

import refpattern
from refpattern.files import write_atomically
from refpattern.interop.layouts import conv_weight_to_keras, dense_weight_to_keras, nchw_to_nhwc, network_weights
from refpattern.kernels import resolve_backend
from refpattern.methods import explain, method_info
from refpattern.methods.integrated_gradients import path_rule
from refpattern.methods.registry import GRADIENT_METHODS, METHODS, canonical_name
from refpattern.methods.smoothgrad import smoothgrad_noise
from refpattern.methods.targets import resolve_targets
from refpattern.network.conv2d import Conv2D
from refpattern.network.sequential import Sequential
from refpattern.network.validation import check_options

REFERENCE_FORMAT = "refpattern.reference"
REFERENCE_VERSION = 1
MANIFEST_ENTRY = "manifest.json"

CONVENTIONS = {
    "explained": "the pre-softmax logit y_t of each sample; t is the argmax logit unless targets are given "
                 "(docs/conventions.md#explained-logit)",
    "start_values": {"one": "1 at y_t (gradient-type methods)",
                     "logit": "the value y_t at y_t (LRP, deep Taylor, PatternNet, PatternAttribution)"},
    "stabilizer": "a denominator z becomes z + s·sgn(z) with sgn(0) = +1; s = 0 divides exactly and 0/0 gives 0",
    "relu_gate": "open iff z > 0 (bias included)",
    "maxpool_ties": "the first maximum in row-major window order gets the whole signal, in every method",
    "dtype": "float64 throughout",
    "layouts": {"NCHW": "refpattern and PyTorch", "NHWC": "Keras channels_last",
                "torch": "Dense weight (out, in); Conv2D weight (out, in, kh, kw)",
                "keras": "Dense kernel (in, out), the first Dense after a Flatten of (C, H, W) with its inputs in "
                         "(H, W, C) order; Conv2D kernel (kh, kw, in, out)",
                "padding": "((top, bottom), (left, right)) zero padding"},
    "notes": "docs/conventions.md",
}


def _json_value(value, entry: str, arrays: dict):
    """A JSON-ready form of an option value; arrays go to ``arrays[entry]`` as ``{"array": entry}``."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, (np.ndarray, list, tuple)):
        array = np.asarray(value)
        if array.dtype == object:
            raise TypeError(f"save_reference: option {entry!r} cannot be stored (an object array)")
        arrays[entry] = np.array(array)
        return {"array": entry, "shape": list(array.shape), "dtype": str(array.dtype)}
    raise TypeError(f"save_reference: option {entry!r} of type {type(value).__name__} cannot be stored")


def _pattern_entries(patterns, net, keras_layers, prefix: str, arrays: dict):
    """Patterns in both layouts: ``{"estimator", "variant", "layers": [{"a_plus": {"torch", "keras"}, …}]}``."""
    flattened = {layer["index"]: layer.get("flattened_from") for layer in keras_layers if layer["type"] == "Dense"}
    layers = []
    for k, (index, layer) in enumerate(zip(net.kernel_indices, net.kernel_layers)):
        entry = {}
        for field in ("a_plus", "a_minus"):
            value = getattr(patterns[k], field)
            if value is None:
                continue
            keras = conv_weight_to_keras(value) if isinstance(layer, Conv2D) else \
                dense_weight_to_keras(value, flattened.get(index))
            entry[field] = {}
            for layout, array in (("torch", np.array(value)), ("keras", keras)):
                name = f"{prefix}.{k}.{field}.{layout}"
                arrays[name] = array
                entry[field][layout] = {"array": name, "shape": list(array.shape), "dtype": str(array.dtype)}
        layers.append(entry)
    return {"estimator": str(patterns.estimator), "variant": patterns.variant, "layers": layers}


def _network_entries(net, layout: str, arrays: dict):
    layers = []
    for layer in network_weights(net, layout):
        entry = {}
        for key, value in layer.items():
            if isinstance(value, np.ndarray):
                name = f"network.{layout}.{layer['index']}.{key}"
                arrays[name] = value
                entry[key] = {"array": name, "shape": list(value.shape), "dtype": str(value.dtype)}
            else:
                entry[key] = value
        layers.append(entry)
    return layers


def save_reference(path, net, x, methods, *, targets=None, backend=None, options=None) -> pathlib.Path:
    """Write refpattern's explanations of ``x`` to one ``.npz`` file (``docs/conventions.md#reference-file``).

    Parameters
    ----------
    path : str, bytes or path-like
        Written as given (no suffix is added); ``.npz`` is the convention.  Its folder must exist.
    net : Sequential
        Needs ``input_shape`` (or an image input whose shape fixes it) for the Keras layout.
    x : ndarray (N, C, H, W) or (N, F)
        In refpattern's layout; the file holds it as NCHW and NHWC.
    methods : str or sequence of str
        Method names or aliases; stored under their canonical names.
    targets : None, int or N ints
        As ``explain``'s ``target``; resolved once (argmax when None) and stored.
    options : dict, optional
        ``{method: {option: value}}`` for any of ``methods``; arrays and ``Patterns`` are stored
        as arrays (patterns in both layouts).

    Notes
    -----
    The file: an entry ``manifest.json`` (a JSON string: format, version, refpattern's version,
    the conventions, the network's layers in both layouts, and per method its canonical name,
    start value, exact options with defaults filled, the nodes/weights or noise it used, and the
    names of its array entries) plus one array entry per array.  Read it with
    :func:`load_reference`; no pickle anywhere.
    """
    if not isinstance(net, Sequential):
        raise TypeError(f"save_reference: net must be a refpattern.Sequential, got {type(net).__name__}")
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"save_reference: path must be a file path (str, bytes or os.PathLike), got "
                        f"{type(path).__name__}")
    x = net.check_input(x)
    if isinstance(methods, str):
        methods = [methods]
    if not hasattr(methods, "__iter__"):
        raise TypeError(f"save_reference: methods must be a method name or a sequence of them, got "
                        f"{type(methods).__name__}")
    methods = list(methods)
    if not methods or not all(isinstance(m, str) for m in methods):
        raise TypeError(f"save_reference: methods must be method names (str), got {methods!r}")
    names = [canonical_name(m) for m in methods]
    if len(set(names)) != len(names):
        raise ValueError(f"save_reference: a method is listed twice in {methods!r} (canonical names {names})")
    if not (options is None or isinstance(options, Mapping)):
        raise TypeError(f"save_reference: options must be a dict {{method: {{option: value}}}}, got "
                        f"{type(options).__name__}")
    options = {} if options is None else dict(options)
    by_canonical = {}
    for key, value in options.items():
        if not isinstance(key, str):
            raise TypeError(f"save_reference: options' keys must be method names (str), got {key!r}")
        canonical = canonical_name(key)
        if canonical not in names:
            raise ValueError(f"save_reference: options given for {key!r}, which is not among the methods {names}")
        if not isinstance(value, dict):
            raise TypeError(f"save_reference: options[{key!r}] must be a dict of options, got {type(value).__name__}")
        by_canonical[canonical] = value
    backend_name = resolve_backend(backend)
    logits = net.logits(x, backend)
    resolved_targets = resolve_targets(logits, targets)
    rows = np.arange(len(resolved_targets))
    arrays = {"x.NCHW": np.array(x), "targets": resolved_targets.astype(np.int64),
              "y_t": logits[rows, resolved_targets], "logits": logits}
    image = x.ndim == 4
    if image:
        arrays["x.NHWC"] = nchw_to_nhwc(x)
    network = {"input_shape": list(net.input_shape or x.shape[1:])}
    if net.input_shape is None:
        net = Sequential(net.layers, input_shape=x.shape[1:])
    for layout in ("torch", "keras"):
        network[layout] = _network_entries(net, layout, arrays)
    keras_layers = network_weights(net, "keras")

    records = {}
    for requested, name in zip(methods, names):
        given = by_canonical.get(name, {})
        _, defaults = METHODS[name] if name in METHODS else GRADIENT_METHODS[name]
        filled = check_options(name, given, defaults)
        explanation = explain(net, x, name, resolved_targets, backend=backend, **given)
        stored = {}
        for option, value in filled.items():
            if option == "patterns" and value is not None:
                stored[option] = _pattern_entries(value, net, keras_layers, f"options.{name}.patterns", arrays)
            else:
                stored[option] = _json_value(value, f"options.{name}.{option}", arrays)
        resolved = {}
        if name == "integrated_gradients":
            nodes, weights = path_rule(filled["steps"], filled["quadrature"], filled["alphas"], filled["weights"])
            resolved["alphas"] = _json_value(nodes, f"resolved.{name}.alphas", arrays)
            resolved["weights"] = _json_value(weights, f"resolved.{name}.weights", arrays)
        if name == "smoothgrad":
            noise = smoothgrad_noise(x, filled["samples"], filled["noise_level"], filled["seed"], filled["noise"])
            resolved["noise.NCHW"] = _json_value(noise, f"resolved.{name}.noise.NCHW", arrays)
            if image:
                moved = np.ascontiguousarray(np.moveaxis(noise, 2, -1))
                resolved["noise.NHWC"] = _json_value(moved, f"resolved.{name}.noise.NHWC", arrays)
        outputs = {"NCHW": f"explanation.{name}.NCHW"}
        arrays[outputs["NCHW"]] = explanation
        if image:
            outputs["NHWC"] = f"explanation.{name}.NHWC"
            arrays[outputs["NHWC"]] = nchw_to_nhwc(explanation)
        info = method_info(name)
        records[name] = {"requested_as": requested, "start": info.start, "bias": info.bias,
                         "relu_rule": info.relu_rule, "returns": info.returns, "citation": info.citation,
                         "options": stored, "resolved": resolved, "explanation": outputs}

    manifest = {"format": REFERENCE_FORMAT, "version": REFERENCE_VERSION,
                "refpattern_version": refpattern.__version__, "backend": backend_name,
                "conventions": CONVENTIONS,
                "input": {"NCHW": "x.NCHW", "NHWC": "x.NHWC" if image else None, "shape_NCHW": list(x.shape)},
                "targets": {"given": _json_value(targets, "targets.given", arrays), "resolved": "targets"},
                "y_t": "y_t", "logits": "logits", "network": network, "methods": records}
    manifest["entries"] = sorted(arrays)
    arrays[MANIFEST_ENTRY] = np.array(json.dumps(manifest, ensure_ascii=False, sort_keys=True))
    path = pathlib.Path(path)
    write_atomically(path, lambda handle: np.savez(handle, **arrays))  # a failed write keeps an old file
    return path


def load_reference(path) -> dict:
    """Read a file of :func:`save_reference` with NumPy and ``json`` only (no refpattern, no pickle).

    This function is self-contained: a test suite may copy it as it stands.  Returns a dict:

    - ``"manifest"``: the JSON manifest as written (plain lists and dicts);
    - ``"x"``: ``{"NCHW": array, "NHWC": array or None}``; ``"targets"``, ``"y_t"``, ``"logits"``;
    - ``"network"``: ``{"input_shape": list, "torch": [layer dicts], "keras": [layer dicts]}``
      with every array in place;
    - ``"explanations"``: ``{method: {"NCHW": array, "NHWC": array}}``;
    - ``"options"``, ``"resolved"``: ``{method: {name: value}}`` with arrays in place;
    - ``"conventions"``, ``"refpattern_version"``.

    Raises ``ValueError`` naming the file for one that is not a readable ``.npz`` archive (truncated,
    corrupt or crafted), has no manifest or one that is not the JSON object ``save_reference`` writes
    (format, version 1, its keys), lacks an entry the manifest lists or refers to, holds an entry
    whose shape or dtype is not the one the manifest declares, or explanations, targets, ``y_t`` or
    logits that do not fit the inputs; ``FileNotFoundError`` for a missing one; ``TypeError`` for a
    ``path`` that is neither a path nor a binary file object (a text stream included).
    """
    import io
    import json
    import os
    import zipfile
    import zlib

    import numpy as np

    if not (hasattr(path, "read") or isinstance(path, (str, bytes, os.PathLike))):
        raise TypeError(f"load_reference: path should be a file path or a binary file object, got "
                        f"{type(path).__name__}")
    if hasattr(path, "read") and (isinstance(path, io.TextIOBase)
                                  or (isinstance(getattr(path, "mode", None), str) and "b" not in path.mode)):
        raise TypeError(f"load_reference: path should be a file path or a binary file object (open(..., 'rb'), "
                        f"io.BytesIO), got the text stream {type(path).__name__}: open the file in binary mode")
    name = getattr(path, "name", "<file object>") if hasattr(path, "read") else path
    try:
        from lzma import LZMAError
    except ImportError:  # a Python built without lzma: zipfile refuses LZMA members with NotImplementedError
        LZMAError = zlib.error
    # what a damaged or crafted archive raises (MemoryError: an entry whose header declares a huge shape;
    # RuntimeError: an encrypted member; LZMAError: corrupt LZMA data)
    unreadable = (OSError, ValueError, EOFError, KeyError, NotImplementedError, MemoryError, RuntimeError,
                  zipfile.BadZipFile, zlib.error, LZMAError)

    def fail(message):
        raise ValueError(f"{name}: {message}")

    try:
        archive = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise
    except unreadable as error:
        fail(f"not a readable refpattern reference file ({type(error).__name__}: {error})")
    if not isinstance(archive, np.lib.npyio.NpzFile):
        fail("not a refpattern reference file (a single .npy array, not an .npz archive)")
    with archive:
        try:
            arrays = {entry: archive[entry] for entry in archive.files}
        except unreadable as error:
            fail(f"not a readable refpattern reference file ({type(error).__name__}: {error})")
    if "manifest.json" not in arrays:
        fail("not a refpattern reference file (no manifest.json entry)")
    text = arrays.pop("manifest.json")
    if text.shape != () or text.dtype.kind != "U":
        fail(f"manifest.json should be one text entry, got dtype {text.dtype} shape {text.shape}")
    try:
        manifest = json.loads(str(text))
    except (ValueError, RecursionError) as error:
        fail(f"manifest.json is not JSON ({type(error).__name__}: {error})")
    if not isinstance(manifest, dict):
        fail(f"manifest.json should hold a JSON object, got {type(manifest).__name__}")
    version = manifest.get("version")
    if manifest.get("format") != "refpattern.reference" or type(version) is not int or version != 1:
        fail(f"format {manifest.get('format')!r} version {version!r}; expected 'refpattern.reference' version 1")
    for key, kind, word in (("entries", list, "array"), ("methods", dict, "object"), ("network", dict, "object"),
                            ("conventions", dict, "object"), ("refpattern_version", str, "string")):
        if not isinstance(manifest.get(key), kind):
            fail(f"manifest.json: {key!r} should be a JSON {word}, got {type(manifest.get(key)).__name__}")
    missing = sorted(set(map(str, manifest["entries"])) - set(arrays))
    if missing:
        fail(f"entries listed in the manifest are missing: {missing}")
    for entry in ("x.NCHW", "targets", "y_t", "logits"):
        if entry not in arrays:
            fail(f"missing entry {entry!r}")
    x = {"NCHW": arrays["x.NCHW"], "NHWC": arrays.get("x.NHWC")}
    if x["NCHW"].ndim < 2 or x["NCHW"].dtype.kind != "f":
        fail(f"x.NCHW should be a float batch of at least 2 dimensions, got dtype {x['NCHW'].dtype} shape "
             f"{x['NCHW'].shape}")
    n = x["NCHW"].shape[0]
    if x["NHWC"] is not None and x["NHWC"].shape != x["NCHW"].shape[:1] + x["NCHW"].shape[2:] + x["NCHW"].shape[1:2]:
        fail(f"x.NHWC has shape {x['NHWC'].shape}, which is not x.NCHW's {x['NCHW'].shape} in NHWC order")
    for entry, ndim in (("targets", 1), ("y_t", 1), ("logits", 2)):
        if arrays[entry].ndim != ndim or arrays[entry].shape[0] != n:
            fail(f"{entry} has shape {arrays[entry].shape}; expected {ndim} dimension(s) and one row per sample "
                 f"of x ({n})")
    for method, record in manifest["methods"].items():
        if not (isinstance(record, dict) and all(isinstance(record.get(key), dict)
                                                 for key in ("explanation", "options", "resolved"))):
            fail(f"manifest.json: method {method!r} should have the objects 'explanation', 'options' and "
                 "'resolved'")
        for layout, entry in record["explanation"].items():
            if not (isinstance(entry, str) and entry in arrays):
                fail(f"method {method!r}: its explanation entry {entry!r} is not in the file")
            if x.get(layout) is None or arrays[entry].shape != x[layout].shape:
                fail(f"method {method!r}: its explanation {entry!r} has shape {arrays[entry].shape}, which is not "
                     f"the shape of the inputs in layout {layout!r}")

    def resolve(value):
        if isinstance(value, dict):
            if set(value) == {"array", "shape", "dtype"}:
                if not (isinstance(value["array"], str) and value["array"] in arrays):
                    fail(f"the manifest refers to an entry {value['array']!r} that is not in the file")
                array = arrays[value["array"]]
                try:  # the declared dtype in this machine's byte order (a file may come from another)
                    declared = np.dtype(value["dtype"]).newbyteorder("=")
                except (TypeError, ValueError):
                    declared = None
                if list(array.shape) != value["shape"] or array.dtype.newbyteorder("=") != declared:
                    fail(f"entry {value['array']!r} has shape {list(array.shape)} and dtype {array.dtype}; the "
                         f"manifest declares shape {value['shape']} and dtype {value['dtype']}")
                return array
            return {key: resolve(item) for key, item in value.items()}
        if isinstance(value, list):
            return [resolve(item) for item in value]
        return value

    methods = manifest["methods"]
    try:
        network = resolve(manifest["network"])
        options = {method: resolve(record["options"]) for method, record in methods.items()}
        resolved = {method: resolve(record["resolved"]) for method, record in methods.items()}
    except RecursionError:
        fail("manifest.json is nested too deeply to be one save_reference writes")
    return {
        "manifest": manifest,
        "refpattern_version": manifest["refpattern_version"],
        "conventions": manifest["conventions"],
        "x": x,
        "targets": arrays["targets"],
        "y_t": arrays["y_t"],
        "logits": arrays["logits"],
        "network": network,
        "explanations": {method: {layout: arrays[entry] for layout, entry in record["explanation"].items()}
                         for method, record in methods.items()},
        "options": options,
        "resolved": resolved,
    }
