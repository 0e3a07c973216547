"""Where a command's fit runs: in this process, or on Dask (``docs/conventions.md#file-commands``).

- neither ``--workers`` nor ``--scheduler``: in this process, without Dask (the data read in
  batches);
- ``--workers N``: a ``distributed.LocalCluster`` of N worker processes with one thread each
  (the Numba kernels use the cores), started for this command and closed after it;
- ``--scheduler ADDRESS``: the running Dask scheduler at ADDRESS (``tcp://host:8786``); its
  workers must import refpattern (the same version; a worker that cannot is a usage error naming
  it) and see the data's path.

Dask is the extra ``dask`` (``pip install "refpattern[dask]"``); without it ``--workers`` and
``--scheduler`` are refused (exit status 2) before any work, as is a scheduler that cannot be
reached.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging

from refpattern.command_arguments import UsageError, integer_at_least

#: Samples per Dask chunk unless ``--chunk-size`` says otherwise.
DEFAULT_CHUNK_SIZE = 4096
#: Seconds to wait for a scheduler given with ``--scheduler``.
CONNECT_SECONDS = 20


def add_cluster_arguments(parser) -> None:
    """``--workers``, ``--scheduler`` (exclusive) and ``--chunk-size``."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--workers", type=integer_at_least(1), default=None, metavar="N",
                       help="run on a local Dask cluster of N worker processes (extra: dask)")
    where.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="run on the Dask scheduler at ADDRESS, e.g. tcp://10.0.0.1:8786 (extra: dask); its "
                            "workers must see the data files at the same paths")
    parser.add_argument("--chunk-size", type=integer_at_least(1), default=DEFAULT_CHUNK_SIZE, metavar="SAMPLES",
                        help=f"samples per Dask chunk, one task each (default {DEFAULT_CHUNK_SIZE})")


def uses_dask(args) -> bool:
    return getattr(args, "workers", None) is not None or getattr(args, "scheduler", None) is not None


def _import(module: str):
    from refpattern.patterns.distributed import import_dask

    try:
        return import_dask(module)
    except ImportError as error:
        option = "--workers" if module == "distributed" else "--scheduler"
        raise UsageError(f"{option}: {' '.join(str(error).split())}") from None


def check_dask_installed(args) -> None:
    """Raise :class:`UsageError` (naming the extra) if ``--workers``/``--scheduler`` was given and
    Dask's ``distributed`` cannot be imported; called before any work."""
    if uses_dask(args):
        _import("distributed")


@contextlib.contextmanager
def dask_client(args, progress):
    """A context giving the ``distributed.Client`` the command's options ask for, or None (in this
    process); the client is the default one inside (refpattern's fits use it), and a cluster
    started here is closed on the way out, whatever happens."""
    if not uses_dask(args):
        yield None
        return
    distributed = _import("distributed")
    with contextlib.ExitStack() as stack:
        if args.workers is not None:
            dashboard = ":0" if importlib.util.find_spec("bokeh") is not None else None
            cluster = stack.enter_context(distributed.LocalCluster(
                n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=dashboard,
                silence_logs=logging.ERROR))
            client = stack.enter_context(distributed.Client(cluster))
            where = f"a local Dask cluster of {args.workers} worker process(es)"
        else:
            try:
                client = stack.enter_context(distributed.Client(args.scheduler, timeout=CONNECT_SECONDS))
            except (OSError, TimeoutError, ValueError) as error:
                raise UsageError(f"--scheduler {args.scheduler}: cannot reach a Dask scheduler there "
                                 f"({type(error).__name__}: {' '.join(str(error).split())})") from None
            from refpattern.patterns.distributed import check_workers_import_refpattern

            try:
                check_workers_import_refpattern(client)
            except ImportError as error:
                raise UsageError(f"--scheduler {args.scheduler}: {error}") from None
            workers = len(client.scheduler_info().get("workers", {}))
            where = f"the Dask scheduler {args.scheduler} ({workers} worker(s) now)"
        link = getattr(client, "dashboard_link", None) if args.workers is None or dashboard else None
        progress(f"running on {where}" + (f"; dashboard {link}" if link else ""))
        yield client


__all__ = ["DEFAULT_CHUNK_SIZE", "add_cluster_arguments", "check_dask_installed", "dask_client", "uses_dask"]
