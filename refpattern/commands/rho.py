"""``refpattern rho MODEL DATA --patterns P``: the quality criterion ρ (Eq. 1) per kernel layer
(``docs/conventions.md#file-commands``, ``docs/conventions.md#rho-json``, ``docs/math.md#rho``).

:func:`refpattern.rho` of the network MODEL on DATA with the patterns file ``--patterns`` (or an
estimator fitted on the spot, ``--estimator NAME``), in-sample, or with ``--fit-v-on DATA2`` the
paper's held-out protocol (``v`` fitted on DATA2, the correlation evaluated on DATA).  In this
process, or on Dask (``--workers``/``--scheduler``: the statistics of DATA and DATA2 as in
``refpattern fit``).  ``--estimator`` takes ``--variant`` (S_a± only) and ``--seed`` (``random``
only) as ``refpattern fit`` does, refused with another estimator or with ``--patterns`` (whose file
fixes them).  Prints one row per kernel layer: its position, the layer, the neurons evaluated and
excluded (``σ²_y = 0``) and ρ (the mean over the evaluated neurons, 4 decimals).  ``--out R.json``
also writes the numbers in full (:func:`rho_report`: every ρ as the shortest decimal that reads back
as the same float64, NaN as ``null`` with the reason), atomically; an existing file needs
``--overwrite``, an input file is refused.

Exit status: 0 printed (and written); 2 a usage error before any work (as ``refpattern fit``, and
patterns of another network) or data refpattern refuses; 3 ``--out`` could not be written; 130 Ctrl-C.
"""

from __future__ import annotations

import json
import math
import time

import numpy as np

from refpattern.command_arguments import FILE_COMMAND_EXIT_STATUS_HELP, UsageError, integer_at_least
from refpattern.commands.cluster import add_cluster_arguments, check_dask_installed, dask_client, uses_dask
from refpattern.commands.data_files import DataFile, add_data_arguments
from refpattern.commands.explain import load_patterns
from refpattern.commands.fit import add_common_arguments, add_estimator_options, estimator_from_arguments
from refpattern.commands.model_files import add_model_arguments, load_network
from refpattern.commands.output_files import add_output_arguments, check_not_an_input, check_output_file, write_output
from refpattern.patterns import rho
from refpattern.progress import Progress


def add_arguments(parser) -> None:
    parser.epilog = FILE_COMMAND_EXIT_STATUS_HELP
    add_model_arguments(parser)
    add_data_arguments(parser, "DATA", "where the correlation is evaluated")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--patterns", default=None, metavar="P.npz", help="fitted patterns (refpattern fit)")
    which.add_argument("--estimator", default=None, metavar="NAME",
                       help="fit this estimator on the spot (on DATA2 with --fit-v-on, else on DATA): a+-, a, w, "
                            "x, random")
    add_estimator_options(parser)
    parser.add_argument("--fit-v-on", default=None, metavar="DATA2",
                        help="fit v on DATA2 and evaluate on DATA (the paper's held-out protocol; default in-sample)")
    parser.add_argument("--max-neurons", type=integer_at_least(1), default=None, metavar="M",
                        help="evaluate at most M neurons per layer (a seeded random subsample)")
    add_common_arguments(parser)
    add_cluster_arguments(parser)
    add_output_arguments(parser, "also the numbers in full, as JSON (rho per kernel layer as exact float64, NaN as "
                         "null with the reason; the estimator, the files)", required=False)


def table(net, result) -> str:
    """The per-layer table of a :class:`~refpattern.patterns.RhoResult`."""
    rows = [("kernel layer", "layer", "neurons", "excluded", "rho")]
    for k, (index, layer) in enumerate(zip(net.kernel_indices, net.kernel_layers)):
        value = result[k]
        rows.append((str(k), f"net.layers[{index}] {layer!r}", str(len(result.neurons[k])),
                     str(len(result.excluded[k])), "nan" if np.isnan(value) else f"{value:.4f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) if i < 2 else cell.rjust(width) for i, (cell, width) in
                       enumerate(zip(row, widths))).rstrip() for row in rows]
    if result.reason:
        lines.append(f"note: {result.reason}")
    return "\n".join(lines)


def finite_or_none(value):
    """A float as JSON reads it back exactly (``json`` writes ``repr``), NaN as None (JSON has no NaN)."""
    value = float(value)
    return value if math.isfinite(value) else None


def rho_report(net, result, estimator, files: dict, samples: int) -> dict:
    """What ``--out`` writes: the numbers of a :class:`~refpattern.patterns.RhoResult` in full.

    ``{"rho": [ρ_k per kernel layer], "reason", "estimator": {name, label, variant, seed},
    "samples", "protocol", "files": {MODEL, DATA, …}, "layers": [{kernel_layer, layer_index, layer,
    neurons, excluded, rho}]}``; a ρ is a float64 written as the shortest decimal that reads back as
    the same float (``float.__repr__``), NaN as ``null`` (``reason`` says why).
    """
    layers = [{"kernel_layer": k, "layer_index": int(index), "layer": repr(layer),
               "neurons": len(result.neurons[k]), "excluded": len(result.excluded[k]),
               "rho": finite_or_none(result[k])}
              for k, (index, layer) in enumerate(zip(net.kernel_indices, net.kernel_layers))]
    return {
        "rho": [layer["rho"] for layer in layers],
        "reason": result.reason,
        "estimator": {"name": estimator.name, "label": estimator.label, "variant": estimator.variant,
                      "seed": estimator.seed},
        "samples": samples,
        "protocol": "in-sample" if files.get("--fit-v-on") is None else "held-out (v fitted on --fit-v-on)",
        "files": files,
        "layers": layers,
    }


def run(args) -> int:
    progress = Progress("rho", enabled=not args.quiet)
    estimator = None
    if args.estimator is not None:
        estimator = estimator_from_arguments(args.estimator, args.variant, args.seed)
    else:  # the patterns file holds its estimator, variant and seed: an option would do nothing
        for option, value in (("--variant", args.variant), ("--seed", args.seed)):
            if value is not None:
                raise UsageError(f"{option} {value}: goes with --estimator; the patterns file {args.patterns} was "
                                 "fitted with its own estimator, variant and seed (refpattern info shows them)")
    if args.out is not None:
        check_output_file(args.out, args.overwrite)
    check_dask_installed(args)
    data = DataFile(args.data, args.array)
    held_out = None if args.fit_v_on is None else DataFile(args.fit_v_on, args.array, role="--fit-v-on")
    files = {"MODEL": args.model, "DATA": data.path, "--fit-v-on": None if held_out is None else held_out.path,
             "--patterns": args.patterns}
    if args.out is not None:
        check_not_an_input(args.out, files)
    net = load_network(args.model, args.allow_pickle, args.input_shape, data.shape[1:])
    for source in (data, held_out):
        if source is not None:
            source.check_network(net)
    which = estimator if estimator is not None else load_patterns(args.patterns, net)
    if estimator is None:
        estimator = which.estimator
    start = time.perf_counter()
    with dask_client(args, progress):
        def read(source):
            if source is None:
                return None
            return source.dask_array(args.chunk_size) if uses_dask(args) else source.batches(args.batch_size)()

        try:
            result = rho(net, read(data), which, fit_v_on=read(held_out), batch_size=args.batch_size,
                         max_neurons=args.max_neurons, backend=args.backend, progress=progress)
        except (ValueError, TypeError) as error:
            # rho names the batches "X" whichever file they came from: blame --fit-v-on when only it holds NaN/inf
            blamed = data
            if held_out is not None and not held_out.is_finite(args.batch_size) and data.is_finite(args.batch_size):
                blamed = held_out
            raise UsageError(f"{blamed.label}: {' '.join(str(error).split())}") from None
    protocol = "in-sample" if held_out is None else f"v fitted on {held_out.label.split(' ', 1)[1]}"
    print(f"rho on {data.samples} samples ({protocol}), {time.perf_counter() - start:.1f} s")
    print(table(net, result))
    if args.out is not None:
        named = {"MODEL": args.model, "DATA": args.data, "--fit-v-on": args.fit_v_on, "--patterns": args.patterns,
                 "--array": data.name}
        report = rho_report(net, result, estimator, named, data.samples)
        write_output(args.out, (json.dumps(report, indent=1, ensure_ascii=False, allow_nan=False) + "\n")
                     .encode("utf-8"))
        print(f"wrote {args.out}")
    return 0
