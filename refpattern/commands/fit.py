"""``refpattern fit MODEL DATA --out PATTERNS.npz``: fit patterns for a network stored on disk
(``docs/conventions.md#file-commands``).

Reads MODEL (:mod:`refpattern.commands.model_files`) and DATA (:mod:`refpattern.commands.data_files`),
fits ``--estimator`` (default ``a+-``, S_a±; ``--variant paper|regime``, only for S_a±; ``--seed``,
only for ``random``) with
:func:`refpattern.fit_patterns` — in this process, or on Dask with ``--workers N`` / ``--scheduler
ADDRESS``, chunk by chunk (``--chunk-size``) with the statistics merged in a tree
(:mod:`refpattern.patterns.distributed`) — under ``--memory-limit`` if given, and writes the
patterns file (:meth:`refpattern.Patterns.save`, with the fingerprint of the network's weights)
atomically.  A summary goes to stdout, progress to stderr (``--quiet``: none).

Exit status: 0 written; 2 a usage error before any work (a bad model file, data whose per-sample
shape the network does not take, an existing ``--out`` without ``--overwrite``, Dask missing or a
scheduler out of reach) or data refpattern refuses (NaN, …), nothing written; 3 the file could not
be written (an existing one is unchanged); 130 Ctrl-C.
"""

from __future__ import annotations

import argparse
import io
import time

from refpattern.command_arguments import FILE_COMMAND_EXIT_STATUS_HELP, UsageError, integer_at_least
from refpattern.commands.cluster import add_cluster_arguments, check_dask_installed, dask_client, uses_dask
from refpattern.commands.data_files import DataFile, add_data_arguments
from refpattern.commands.model_files import add_model_arguments, load_network
from refpattern.commands.output_files import (
    add_output_arguments,
    check_not_an_input,
    check_output_file,
    write_output,
)
from refpattern.patterns import fit_patterns, resolve_estimator
from refpattern.patterns.passes import parse_memory_limit, plan_passes
from refpattern.progress import Progress

SEED_MAXIMUM = 2 ** 63 - 1
"""The largest ``--seed``: the patterns file stores it as an int64 (``docs/conventions.md#patterns-file-format``)."""


def memory_limit(text: str) -> int:
    """An ``argparse`` type: :func:`~refpattern.patterns.passes.parse_memory_limit`."""
    try:
        return parse_memory_limit(text, "--memory-limit")
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error).removeprefix("--memory-limit: ")) from None


def add_estimator_options(parser) -> None:
    """``--variant`` (S_a± only) and ``--seed`` (``random`` only), read by :func:`estimator_from_arguments`."""
    parser.add_argument("--variant", default=None, choices=["paper", "regime"],
                        help="S_a±: the paper's unconditional E[y] (default) or the within-regime E₊[y]")
    parser.add_argument("--seed", type=integer_at_least(0, "the patterns file stores the seed as a 64-bit integer",
                                                        maximum=SEED_MAXIMUM),
                        default=None, help=f"the random estimator's seed, 0 … {SEED_MAXIMUM}")


def estimator_from_arguments(name: str, variant: str | None, seed: int | None):
    """The :class:`~refpattern.patterns.estimators.Estimator` of ``--estimator NAME [--variant V] [--seed S]``.

    Raises :class:`UsageError` for an unknown name, and for a ``--variant`` or ``--seed`` the
    estimator has no use for: :func:`~refpattern.patterns.resolve_estimator` ignores those, but on
    the command line the option was typed for a reason, so it is refused instead of silently doing
    nothing.
    """
    try:
        estimator = resolve_estimator(name, variant, seed)
    except (ValueError, TypeError) as error:
        raise UsageError(f"--estimator {name}: {error}") from None
    if variant is not None and not estimator.variants:
        raise UsageError(f"--variant {variant}: the estimator {name} ({estimator.label}) has no "
                         "variants; only a+- (S_a±) has (paper, regime)")
    if seed is not None and not estimator.seeded:
        raise UsageError(f"--seed {seed}: the estimator {name} ({estimator.label}) draws no random "
                         "numbers; only random takes a seed")
    return estimator


def add_common_arguments(parser) -> None:
    """``--batch-size``, ``--backend`` and ``--quiet``, as every file command has them."""
    parser.add_argument("--batch-size", type=integer_at_least(1), default=256, metavar="N",
                        help="samples per batch through the network (default 256)")
    parser.add_argument("--backend", default=None, choices=["numpy", "numba", "cuda"],
                        help="the kernels (default numba; on Dask, the workers')")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")


def add_arguments(parser) -> None:
    parser.epilog = FILE_COMMAND_EXIT_STATUS_HELP
    add_model_arguments(parser)
    add_data_arguments(parser, "DATA", "the fitting data")
    parser.add_argument("--estimator", default="a+-", metavar="NAME",
                        help='the signal estimator: a+- (S_a±, default), a, w, x, random; also "relu", "linear"')
    add_estimator_options(parser)
    parser.add_argument("--memory-limit", type=memory_limit, default=None, metavar="BYTES",
                        help='the most bytes of running sums held at once (e.g. "2GiB"): several passes over the data')
    add_common_arguments(parser)
    add_cluster_arguments(parser)
    add_output_arguments(parser, "the patterns (.npz)")


def run(args) -> int:
    progress = Progress("fit", enabled=not args.quiet)
    estimator = estimator_from_arguments(args.estimator, args.variant, args.seed)
    check_output_file(args.out, args.overwrite)
    check_dask_installed(args)
    data = DataFile(args.data, args.array)
    check_not_an_input(args.out, {"MODEL": args.model, "DATA": data.path})
    net = load_network(args.model, args.allow_pickle, args.input_shape, data.shape[1:])
    data.check_network(net)
    try:
        plan_passes(net, args.memory_limit)
    except ValueError as error:
        raise UsageError(f"--memory-limit: {str(error).removeprefix('memory_limit: ')}") from None
    progress(f"fitting {estimator.label} on {data.label.split(' ', 1)[1]} ({data.samples} samples, per-sample shape "
             f"{data.shape[1:]}), {len(net.kernel_layers)} kernel layers")
    start = time.perf_counter()
    with dask_client(args, progress):
        X = data.dask_array(args.chunk_size) if uses_dask(args) else data.batches(args.batch_size)
        try:
            patterns = fit_patterns(net, X, estimator, batch_size=args.batch_size, backend=args.backend,
                                    progress=progress, memory_limit=args.memory_limit)
        except (ValueError, TypeError) as error:
            raise UsageError(f"{data.label}: {' '.join(str(error).split())}") from None
    seconds = time.perf_counter() - start
    buffer = io.BytesIO()
    patterns.save(buffer)
    write_output(args.out, buffer.getvalue())
    zeroed = sum(d.zeroed for d in patterns.degenerate)
    few = len(patterns.degenerate) - zeroed
    print(f"fitted {estimator.label} on {data.samples} samples in {seconds:.1f} s: {len(patterns)} kernel layers, "
          f"{zeroed} zero pattern(s), {few} estimated from few samples; wrote {args.out}")
    return 0
