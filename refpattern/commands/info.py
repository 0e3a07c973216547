"""``refpattern info FILE``: what a network file or a patterns file holds
(``docs/conventions.md#file-commands``).

- a network (``Sequential.save``'s ``.npz``, or any MODEL the converters read: ``.onnx``,
  ``.keras``, a torch ``.pt`` with ``--allow-pickle``): its input shape, every layer with its
  output shape and parameter count, the totals, the file's checksum (network files) and the
  fingerprint of each kernel layer's weights (the one patterns record,
  ``docs/conventions.md#patterns-fingerprint``);
- patterns (``Patterns.save``'s ``.npz``, ``refpattern fit``): the estimator and variant, per kernel
  layer its shape, observations and degenerate neurons (zeroed, or estimated from few samples), the
  fingerprint of the weights they were fitted on and the checksum; then ``patterns.report()``.

Both file kinds are read completely (checksum and consistency), so a truncated or altered file is
refused.  Exit status: 0 described; 2 a file that is neither (or unreadable), one line.
"""

from __future__ import annotations

import os
import zipfile

import numpy as np

from refpattern.command_arguments import FILE_COMMAND_EXIT_STATUS_HELP, UsageError, integer_at_least
from refpattern.commands.model_files import file_kind, input_shape, load_network
from refpattern.patterns import Patterns, network_fingerprint

#: Characters of a SHA-256 shown in tables (the full value is printed once per file).
SHORT_HASH = 12


def add_arguments(parser) -> None:
    parser.epilog = FILE_COMMAND_EXIT_STATUS_HELP
    parser.add_argument("file", metavar="FILE", help="a network file, a patterns file, or a model the converters read")
    parser.add_argument("--allow-pickle", action="store_true",
                        help="allow reading a torch model (.pt/.pth), which is a pickle: loading it runs any code it "
                             "holds; only for files you trust")
    parser.add_argument("--input-shape", type=input_shape, default=None, metavar="C,H,W",
                        help="per-sample input shape of a torch model")
    parser.add_argument("--max-per-layer", type=integer_at_least(0), default=20, metavar="N",
                        help="patterns: degenerate neurons listed per layer (default 20)")


def format_name(path: str):
    """``(format_name, checksum)`` entries of a refpattern ``.npz``, or ``(None, None)``."""
    if not zipfile.is_zipfile(path):
        return None, None
    try:
        with np.load(path, allow_pickle=False) as archive:
            name = str(archive["format_name"]) if "format_name" in archive.files else None
            stored = str(archive["checksum"]) if "checksum" in archive.files else None
            return name, stored
    except (ValueError, OSError, KeyError, zipfile.BadZipFile, EOFError):
        return None, None


def table(rows) -> list:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]


def describe_network(net, path: str, stored_checksum) -> str:
    kinds = {"onnx": "an ONNX", "keras": "a Keras", "torch": "a torch", "network": "a"}
    lines = [f"{path}: a refpattern network" + (" file (refpattern.Sequential)" if stored_checksum else
                                                 f" converted from {kinds[file_kind(path)]} model")]
    if stored_checksum:
        lines.append(f"checksum (SHA-256 of the entries): {stored_checksum}")
    shapes = net.output_shapes(net.input_shape) if net.input_shape is not None else None
    lines.append(f"input shape: {net.input_shape if net.input_shape is not None else 'not stored (any that fits)'}")
    fingerprints = dict(zip(net.kernel_indices, network_fingerprint(net)))
    rows = [("#", "layer", "output shape", "parameters", "fingerprint")]
    total = 0
    for i, layer in enumerate(net.layers):
        count = int(layer.weight.size + layer.bias.size) if layer.is_kernel else 0
        total += count
        rows.append((str(i), repr(layer), str(shapes[i + 1]) if shapes else "-", f"{count:,}" if count else "-",
                     fingerprints[i][:SHORT_HASH] if i in fingerprints else ""))
    lines.extend(table(rows))
    lines.append(f"{len(net.layers)} layers, {len(net.kernel_layers)} kernel layers, {total:,} parameters "
                 f"({total * 8 / 2 ** 20:.2f} MiB in float64)")
    return "\n".join(lines)


def describe_patterns(patterns, path: str, stored_checksum, max_per_layer: int) -> str:
    variant = f", variant {patterns.variant}" if patterns.variant else ""
    seed = f", seed {patterns.seed}" if patterns.seed is not None else ""
    lines = [f"{path}: refpattern patterns (refpattern.Patterns), estimator {patterns.estimator.name} "
             f"({patterns.estimator.label}){variant}{seed}",
             f"checksum (SHA-256 of the entries): {stored_checksum}"]
    rows = [("kernel", "layer", "shape", "observations", "zeroed", "few samples", "fitted on (fingerprint)")]
    for k, layer in enumerate(patterns.layers):
        zeroed = sum(d.zeroed for d in layer.degenerate)
        fingerprint = patterns.fingerprint[k][:SHORT_HASH] if patterns.fingerprint else "unknown (version 1)"
        rows.append((str(k), f"net.layers[{layer.layer_index}] {layer.layer_name}", str(layer.shape),
                     f"{layer.n_samples:,}", str(zeroed), str(len(layer.degenerate) - zeroed), fingerprint))
    lines.extend(table(rows))
    lines.append(patterns.report(max_per_layer))
    return "\n".join(lines)


def run(args) -> int:
    path = args.file
    if not os.path.exists(path):
        raise UsageError(f"FILE {path}: no such file")
    name, stored = format_name(path)
    if name == "refpattern.Patterns":
        try:
            patterns = Patterns.load(path)
        except ValueError as error:
            raise UsageError(f"FILE {' '.join(str(error).split())}") from None
        print(describe_patterns(patterns, path, stored, args.max_per_layer))
        return 0
    try:
        net = load_network(path, args.allow_pickle, args.input_shape)
    except UsageError as error:  # FILE may have been either kind: say so, under info's own name for it
        text = str(error)
        text = "FILE " + text.removeprefix("MODEL ") if text.startswith("MODEL ") else text
        raise UsageError(text.replace("not a readable refpattern network file",
                                      "not a readable refpattern network or patterns file")) from None
    print(describe_network(net, path, stored if name == "refpattern.Sequential" else None))
    return 0
