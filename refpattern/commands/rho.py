"""``refpattern rho MODEL DATA --patterns P``: the quality criterion ρ (Eq. 1) per kernel layer
(``docs/conventions.md#file-commands``, ``docs/math.md#rho``).

:func:`refpattern.rho` of the network MODEL on DATA with the patterns file ``--patterns`` (or an
estimator fitted on the spot, ``--estimator NAME``), in-sample, or with ``--fit-v-on DATA2`` the
paper's held-out protocol (``v`` fitted on DATA2, the correlation evaluated on DATA).  In this
process, or on Dask (``--workers``/``--scheduler``: the statistics of DATA and DATA2 as in
``refpattern fit``).  Prints one row per kernel layer: its position, the layer, the neurons
evaluated and excluded (``σ²_y = 0``) and ρ (the mean over the evaluated neurons).

Exit status: 0 printed; 2 a usage error before any work (as ``refpattern fit``, and patterns of
another network) or data refpattern refuses; 130 Ctrl-C.
"""

from __future__ import annotations

import time

import numpy as np

from refpattern.command_arguments import FILE_COMMAND_EXIT_STATUS_HELP, UsageError, integer_at_least
from refpattern.commands.cluster import add_cluster_arguments, check_dask_installed, dask_client, uses_dask
from refpattern.commands.data_files import DataFile, add_data_arguments
from refpattern.commands.explain import load_patterns
from refpattern.commands.fit import add_common_arguments
from refpattern.commands.model_files import add_model_arguments, load_network
from refpattern.patterns import resolve_estimator, rho
from refpattern.progress import Progress


def add_arguments(parser) -> None:
    parser.epilog = FILE_COMMAND_EXIT_STATUS_HELP
    add_model_arguments(parser)
    add_data_arguments(parser, "DATA", "where the correlation is evaluated")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--patterns", default=None, metavar="P.npz", help="fitted patterns (refpattern fit)")
    which.add_argument("--estimator", default=None, metavar="NAME",
                       help="fit this estimator on the spot (on DATA2 with --fit-v-on, else on DATA)")
    parser.add_argument("--fit-v-on", default=None, metavar="DATA2",
                        help="fit v on DATA2 and evaluate on DATA (the paper's held-out protocol; default in-sample)")
    parser.add_argument("--max-neurons", type=integer_at_least(1), default=None, metavar="M",
                        help="evaluate at most M neurons per layer (a seeded random subsample)")
    add_common_arguments(parser)
    add_cluster_arguments(parser)


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


def run(args) -> int:
    progress = Progress("rho", enabled=not args.quiet)
    estimator = None
    if args.estimator is not None:
        try:
            estimator = resolve_estimator(args.estimator)
        except (ValueError, TypeError) as error:
            raise UsageError(f"--estimator {args.estimator}: {error}") from None
    check_dask_installed(args)
    data = DataFile(args.data, args.array)
    held_out = None if args.fit_v_on is None else DataFile(args.fit_v_on, args.array, role="--fit-v-on")
    net = load_network(args.model, args.allow_pickle, args.input_shape, data.shape[1:])
    for source in (data, held_out):
        if source is not None:
            source.check_network(net)
    which = estimator if estimator is not None else load_patterns(args.patterns, net)
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
    return 0
