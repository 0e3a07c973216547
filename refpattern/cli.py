"""The ``refpattern`` command line: ``refpattern --help`` lists the commands.

Each command lives in its own module exposing ``add_arguments(parser)`` and
``run(args) -> int`` (the exit status); this file only wires them up and turns a user's mistake
into one line on stderr and an exit status (``docs/conventions.md#command-line``), never a
traceback:

- a wrong option or value (argparse, with the arguments' types of
  :mod:`refpattern.command_arguments`): the usage and one error line, status 2;
- ``--backend cuda`` without a usable GPU: one line, status 2, before any work;
- a :class:`~refpattern.command_arguments.UsageError` or a ``MemoryError`` from a command:
  one line, status 2; an :class:`~refpattern.command_arguments.OutputError` (the report could
  not be written): one line, status 3; Ctrl-C: one line, status 130;
- stdout closed by its reader (``refpattern info net.npz | head``): no message, status 141.

Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from refpattern.command_arguments import (
    EXIT_BROKEN_PIPE,
    EXIT_INTERRUPTED,
    EXIT_OUTPUT,
    EXIT_STATUS_HELP,
    EXIT_USAGE,
    OutputError,
    UsageError,
)

COMMANDS = {
    "verify": ("refpattern.experiments.verify",
               "check every claim of the paper's linear toy example (Sec. 2, 4), or of any linear model "
               "(--config), and write a report"),
    "reproduce": ("refpattern.experiments.reproduce",
                  "reproduce the paper's CNN experiments (Fig. 3, 4, 5) over seeds, on built-in images or "
                  "digits, and write a report"),
    "train": ("refpattern.train_demo", "train the demo CNN on the built-in synthetic image task and report accuracy"),
    "golden": ("refpattern.experiments.golden",
               "write a golden suite (small networks, inputs, every method's output, certified against 50-digit "
               "arithmetic) for other libraries' tests"),
    "fit": ("refpattern.commands.fit",
            "fit patterns for a network stored on disk (in this process, or on Dask: --workers, --scheduler)"),
    "explain": ("refpattern.commands.explain",
                "explain stored inputs with a stored network (.npy out, --png heat maps)"),
    "rho": ("refpattern.commands.rho", "the quality criterion rho per kernel layer of stored patterns on stored data"),
    "info": ("refpattern.commands.info", "describe a network or patterns file (layers, shapes, estimator, degenerate "
             "neurons, checksum and fingerprint)"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="refpattern",
        description="Reference implementation of PatternNet, PatternAttribution and the methods they are "
                    "compared with (Kindermans et al., ICLR 2018).",
        epilog=EXIT_STATUS_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from refpattern import __version__

    parser.add_argument("--version", action="version", version=f"refpattern {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for name, (module_name, help_text) in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name != module_name:
                raise
            continue  # a command whose module is not there yet is not offered
        sub = commands.add_parser(name, help=help_text, description=help_text, epilog=EXIT_STATUS_HELP,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return parser


def check_backend(args) -> None:
    """Raise :class:`UsageError` (one line) if the command asks for a backend this machine cannot
    run (``--backend cuda`` without a GPU or numba-cuda), before any work starts."""
    name = getattr(args, "backend", None)
    if name is None:
        return
    from refpattern.kernels import get_backend

    try:
        get_backend(name)
    except (RuntimeError, ValueError, ImportError) as error:
        raise UsageError(f"--backend {name}: " + " ".join(str(error).split())) from None


def _status(code) -> int:
    """The exit status ``sys.exit(code)`` would give (argparse exits with 0 or 2)."""
    if code is None:
        return 0
    return code if isinstance(code, int) else 1


def main(argv=None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``) and return its exit status (usage
    errors included: argparse's exit is caught); ``python -m refpattern`` exits with it."""
    try:
        status = _run_command_line(argv)
        sys.stdout.flush()  # a pipe closed by its reader fails here, not in the interpreter's exit
        return status
    except BrokenPipeError:
        # the reader of stdout went away (`refpattern info net.npz | head`): nothing left to say to it; point
        # stdout at /dev/null so that Python's own flush at exit does not print a traceback either
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):  # a stdout without a file descriptor (captured)
            pass
        return EXIT_BROKEN_PIPE


def _run_command_line(argv) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_request:  # --help, --version (0) or a usage error already printed (2)
        return _status(exit_request.code)
    if getattr(args, "run", None) is None:
        parser.print_help()
        return 0
    prefix = f"refpattern {args.command}"
    try:
        check_backend(args)
        return int(args.run(args) or 0)
    except UsageError as error:
        print(f"{prefix}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except MemoryError as error:
        detail = f" ({error})" if str(error) else ""
        sizes = " (--samples)" if hasattr(args, "samples") else ""  # explain, fit, rho: sizes are in options/files
        print(f"{prefix}: error: out of memory{detail}; try smaller sizes{sizes}", file=sys.stderr)
        return EXIT_USAGE
    except OutputError as error:
        print(f"{prefix}: error: {error}", file=sys.stderr)
        return EXIT_OUTPUT
    except KeyboardInterrupt:
        print(f"{prefix}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
