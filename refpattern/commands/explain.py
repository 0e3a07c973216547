"""``refpattern explain MODEL INPUTS --method NAME --out OUT.npy``: explanations of stored inputs
(``docs/conventions.md#file-commands``).

:func:`refpattern.explain` of every sample of INPUTS (:mod:`refpattern.commands.data_files`) with
the network MODEL (:mod:`refpattern.commands.model_files`), written as one ``.npy`` array shaped like
INPUTS (float64).  ``--method`` takes every name of :func:`refpattern.method_names` and their
aliases; ``--option key=value`` (repeated) sets a method option, the value read as a Python literal
(``0.01``, ``True``, ``None``, ``(1, 2)``), else as text (``quadrature=gauss_legendre``), or
``key=@file.npy`` for an array; the pattern methods take their patterns from ``--patterns P.npz``
(``refpattern fit``).  ``--target T`` explains logit ``T`` of every sample (or ``T0,T1,…``, one per
sample; default: each sample's argmax).  ``--batch-size`` explains that many samples at a time
(default: all at once; SmoothGrad's noise is then drawn per batch).

``--png DIR`` also writes one image per sample, ``DIR/sample_<i>.png``: the input and its
explanation next to each other, in the project's display convention (``docs/conventions.md#display``:
a signal — the input, and the output of PatternNet, DeConvNet and Guided Backprop — in grey as
``x/(2·max|x|) + 1/2``; an attribution or gradient as the channel sum, red positive, blue negative,
scaled by its own ``max|R|``); images only (samples ``(C, H, W)``).

Exit status: 0 written; 2 a usage error before any work (an unknown method or option, a value out
of range, a missing option (lrp.zb's bounds) or one whose shape does not fit INPUTS (IG's baseline;
:func:`check_options_for_inputs`), each named ``--option KEY``, a pattern method without
``--patterns``, patterns of another network, a bad model file,
inputs the network does not take, a target out of range, an existing output without
``--overwrite``); 3 the files could not be written (existing ones unchanged); 130 Ctrl-C.
"""

from __future__ import annotations

import ast
import os
import time
import warnings

import numpy as np

from refpattern.command_arguments import FILE_COMMAND_EXIT_STATUS_HELP, UsageError, integer_at_least
from refpattern.commands.data_files import DataFile, add_data_arguments
from refpattern.commands.model_files import add_model_arguments, load_network
from refpattern.commands.output_files import (
    add_output_arguments,
    check_not_an_input,
    check_output_file,
    check_output_folder,
    npy_bytes,
    write_output,
    write_outputs,
)
from refpattern.methods import explain, method_info
from refpattern.methods.explain import check_method_options, check_option_shapes, prepare_method
from refpattern.methods.registry import REQUIRED_OPTIONS, canonical_name, missing_options
from refpattern.network.validation import check_options
from refpattern.patterns import Patterns, PatternsMismatchWarning
from refpattern.progress import Progress

#: Methods whose output is a signal in input units, shown as an image rather than a heat map
#: (``docs/conventions.md#display``; the experiments' method suite says the same).
SIGNAL_METHODS = ("pattern.net", "deconvnet", "guided_backprop")


def add_arguments(parser) -> None:
    parser.epilog = FILE_COMMAND_EXIT_STATUS_HELP
    add_model_arguments(parser)
    add_data_arguments(parser, "INPUTS", "the samples to explain")
    parser.add_argument("--method", required=True, metavar="NAME",
                        help="an explanation method (refpattern.method_names(), iNNvestigate's names too)")
    parser.add_argument("--patterns", default=None, metavar="P.npz", help="fitted patterns, for pattern.net and "
                                                                         "pattern.attribution (refpattern fit)")
    parser.add_argument("--target", default=None, metavar="T",
                        help="the logit to explain: one class for every sample, or T0,T1,... one per sample "
                             "(default: each sample's argmax)")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="a method option (repeatable): a Python literal, text, or @file.npy for an array")
    parser.add_argument("--batch-size", type=integer_at_least(1), default=None, metavar="N",
                        help="explain N samples at a time (default: all at once)")
    parser.add_argument("--backend", default=None, choices=["numpy", "numba", "cuda"])
    parser.add_argument("--png", default=None, metavar="DIR",
                        help="also write DIR/sample_<i>.png: each input next to its explanation")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    add_output_arguments(parser, "the explanations (.npy, shaped like INPUTS)")


def option_value(key: str, text: str):
    """``--option key=text``'s value: ``@file.npy`` an array, else a Python literal, else the text."""
    if text.startswith("@"):
        try:
            return np.load(text[1:], allow_pickle=False)
        except (OSError, ValueError) as error:
            raise UsageError(f"--option {key}: cannot read the array {text[1:]} ({type(error).__name__}: {error})") \
                from None
    lowered = {"true": True, "false": False, "none": None, "nan": float("nan"), "inf": float("inf"),
               "+inf": float("inf"), "-inf": float("-inf")}
    if text.lower() in lowered:  # (nan and inf are floats, so that the option's check names them as numbers)
        return lowered[text.lower()]
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_options(method: str, items) -> dict:
    """The ``--option`` items as a dict, checked against the method's options and ranges."""
    options = {}
    for item in items:
        key, equals, text = item.partition("=")
        key = key.strip()
        if not equals or not key:
            raise UsageError(f"--option {item!r}: expected KEY=VALUE")
        if key == "patterns":
            raise UsageError("--option patterns: give the patterns file with --patterns P.npz")
        options[key] = option_value(key, text.strip())
    try:
        check_options(method, options, dict(method_info(method).default_options))
        check_method_options(method, options)
    except (ValueError, TypeError) as error:
        raise UsageError(f"--option: {' '.join(str(error).split())}") from None
    missing = missing_options(method, options)
    if missing:
        needed, what = REQUIRED_OPTIONS[method]
        raise UsageError(f"--option {missing[0]}=…: the method {method} needs "
                         f"{' and '.join(f'--option {option}=…' for option in needed)} ({what})")
    return options


def check_options_for_inputs(net, method: str, options: dict, samples_shape: tuple, batch: int) -> None:
    """Raise :class:`UsageError` naming the option where ``explain`` would refuse one for these inputs
    (``samples_shape``, explained ``batch`` samples at a time): a rule that refuses its options when
    built (lrp.zb's ``rest``, ``low > high``), an IG baseline or z^B bounds of another shape.  Before
    any work, so that the message blames the option rather than INPUTS."""
    try:
        prepare_method(net, method, options)
    except (ValueError, TypeError) as error:
        raise UsageError(f"--option: {' '.join(str(error).split())}") from None
    samples, sample_shape = samples_shape[0], tuple(samples_shape[1:])
    sizes = {min(batch, samples)} | ({samples % batch} if samples % batch else set())
    cut = f" (--batch-size {batch}: x is a batch of {' or '.join(map(str, sorted(sizes)))} samples)" \
        if batch < samples else ""
    for key, value in options.items():
        for size in sorted(sizes, reverse=True):
            try:
                check_option_shapes({key: value}, (size,) + sample_shape)
            except (ValueError, TypeError) as error:
                raise UsageError(f"--option {key}: {' '.join(str(error).split())}{cut}") from None


def parse_target(text, samples: int, classes: int):
    """``--target``: None, one class for every sample, or one per sample; checked against ``classes``."""
    if text is None:
        return None
    try:
        values = [int(part, 10) for part in text.split(",")]
    except ValueError:
        raise UsageError(f"--target {text}: expected a class index or indices separated by commas") from None
    if len(values) not in (1, samples):
        raise UsageError(f"--target {text}: {len(values)} classes for {samples} samples (give one, or one per sample)")
    bad = [v for v in values if not 0 <= v < classes]
    if bad:
        raise UsageError(f"--target {text}: class {bad[0]} out of range; the network has {classes} outputs "
                         f"(0 … {classes - 1})")
    return values[0] if len(values) == 1 else np.array(values)


def load_patterns(path: str, net) -> Patterns:
    """``--patterns``: the file, checked against the network (other shapes or other weights refused)."""
    if not os.path.isfile(path):
        raise UsageError(f"--patterns {path}: no such file")
    try:
        patterns = Patterns.load(path)
        with warnings.catch_warnings():
            warnings.simplefilter("error", PatternsMismatchWarning)
            patterns.check_network(net)
    except (ValueError, PatternsMismatchWarning) as error:
        text = " ".join(str(error).split())
        text = text.removeprefix(f"{path}: ")  # the loader's messages name the file already
        raise UsageError(f"--patterns {path}: {text}") from None
    return patterns


def run(args) -> int:
    progress = Progress("explain", enabled=not args.quiet)
    try:
        method = canonical_name(args.method)
    except ValueError as error:
        raise UsageError(f"--method: {error}") from None
    options = parse_options(method, args.option)
    takes_patterns = "patterns" in method_info(method).default_options
    if takes_patterns and args.patterns is None:
        raise UsageError(f"--method {args.method} needs --patterns P.npz (fit them with refpattern fit)")
    if args.patterns is not None and not takes_patterns:
        raise UsageError(f"--patterns: the method {args.method} takes no patterns")
    check_output_file(args.out, args.overwrite)
    inputs = DataFile(args.inputs, args.array, role="INPUTS")
    option_files = {f"--option {item.partition('=')[0].strip()}": item.partition("=")[2].strip()[1:]
                    for item in args.option if item.partition("=")[2].strip().startswith("@")}
    check_not_an_input(args.out, {"MODEL": args.model, "INPUTS": inputs.path, "--patterns": args.patterns,
                                  **option_files})
    names = [f"sample_{i:0{len(str(inputs.samples - 1))}d}.png" for i in range(inputs.samples)]
    if args.png is not None:
        if len(inputs.shape) != 4:
            raise UsageError(f"--png: heat maps need image samples (C, H, W); {inputs.label} has samples "
                             f"{inputs.shape[1:]}")
        check_output_folder(args.png, names, args.overwrite, "--png")
    net = load_network(args.model, args.allow_pickle, args.input_shape, inputs.shape[1:])
    inputs.check_network(net)
    classes = int(np.prod(net.output_shapes(inputs.shape[1:])[-1]))
    target = parse_target(args.target, inputs.samples, classes)
    if takes_patterns:
        options["patterns"] = load_patterns(args.patterns, net)
    batch = args.batch_size or inputs.samples
    check_options_for_inputs(net, method, options, inputs.shape, batch)

    progress(f"explaining {inputs.samples} samples with {method}")
    counter = progress.counter("explain", inputs.samples)
    result = np.empty(inputs.shape, dtype=np.float64)
    start = time.perf_counter()
    for first in range(0, inputs.samples, batch):
        x = inputs.read(first, first + batch)
        batch_target = target[first:first + batch] if isinstance(target, np.ndarray) else target
        try:
            result[first:first + len(x)] = explain(net, x, method, batch_target, backend=args.backend, **options)
        except (ValueError, TypeError) as error:
            raise UsageError(f"{inputs.label} (samples {first}:{first + len(x)}): {' '.join(str(error).split())}") \
                from None
        counter.update(len(x))
    counter.close()
    seconds = time.perf_counter() - start
    write_output(args.out, npy_bytes(result))
    if args.png is not None:
        os.makedirs(args.png, exist_ok=True)
        write_outputs(heat_map_files(args.png, names, inputs, result, method, progress))
    where = f" and {inputs.samples} images in {args.png}" if args.png is not None else ""
    print(f"explained {inputs.samples} samples with {method} in {seconds:.1f} s; wrote {args.out}{where}")
    return 0


def heat_map_files(folder, names, inputs, result, method, progress) -> dict:
    """``{path: png bytes}``: per sample, the input and its explanation side by side."""
    from matplotlib.figure import Figure

    from refpattern.experiments.plots import heat_map, png_bytes, signal_image

    progress(f"drawing {len(names)} images")
    files = {}
    for i, name in enumerate(names):
        x = inputs.read(i, i + 1)[0]
        figure = Figure(figsize=(4.0, 2.2))
        left, right = figure.subplots(1, 2)
        left.imshow(signal_image(x), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        left.set_title(f"input {i}", fontsize=8)
        if method in SIGNAL_METHODS:
            right.imshow(signal_image(result[i]), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        else:
            summed, peak = heat_map(result[i])
            right.imshow(summed, cmap="bwr", vmin=-peak, vmax=peak, interpolation="nearest")
        right.set_title(method, fontsize=8)
        for axis in (left, right):
            axis.set_xticks([])
            axis.set_yticks([])
        files[os.path.join(folder, name)] = png_bytes(figure)
    return files
