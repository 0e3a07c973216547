"""What the ``refpattern`` commands accept, checked before any work starts
(``docs/conventions.md#command-line``).

Argument types for ``argparse`` (a wrong value is a usage error: the command's usage and one
line ``refpattern <command>: error: …`` on stderr, exit status 2), the check of an output
folder, and the exceptions a command raises for a mistake found after parsing
(:class:`UsageError`, status 2) or for a report it could not write (:class:`OutputError`,
status 3).  ``refpattern.cli.main`` turns both into one line on stderr, never a traceback.
This module imports nothing of refpattern.
"""

from __future__ import annotations

import argparse
import os
import tempfile

#: The exit status of every command.
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_OUTPUT = 3
EXIT_INTERRUPTED = 130
#: 128 + SIGPIPE, as the shell reports a command whose reader went away (``refpattern info f | head``).
EXIT_BROKEN_PIPE = 141

EXIT_STATUS_HELP = f"""\
exit status:
  {EXIT_OK}    done (verify: every claim that must hold came out as expected;
       train: the target accuracy was reached)
  {EXIT_FAILED}    verify: a claim that must hold did not; train: the target accuracy
       was not reached
  {EXIT_USAGE}    usage error: an unknown option, a number out of range, an output folder
       that is a file or cannot be written, --backend cuda without a usable GPU
  {EXIT_OUTPUT}    the report could not be written (disk full, ...); files already
       there are unchanged
  {EXIT_INTERRUPTED}  interrupted (Ctrl-C)
  {EXIT_BROKEN_PIPE}  the output's reader went away (a pipe into head): the rest is dropped
"""

#: The exit status of the commands on files (``fit``, ``explain``, ``rho``, ``info``; their ``--help`` epilog).
FILE_COMMAND_EXIT_STATUS_HELP = f"""\
exit status:
  {EXIT_OK}    done: the output files were written (info, rho: the summary printed)
  {EXIT_USAGE}    usage error: an unknown option or value, a number out of range, an input
       file that is missing, unreadable or not of the kind or shape needed, an
       output that exists (without --overwrite) or cannot be written,
       --backend cuda without a usable GPU
  {EXIT_OUTPUT}    the output files could not be written (disk full, ...); files already
       there are unchanged
  {EXIT_INTERRUPTED}  interrupted (Ctrl-C)
  {EXIT_BROKEN_PIPE}  the output's reader went away (a pipe into head): the rest is dropped
"""


class UsageError(Exception):
    """A user mistake found after the arguments were parsed (exit status 2, one line on stderr)."""


class OutputError(Exception):
    """The command's files could not be written (exit status 3, one line on stderr)."""


def integer_at_least(minimum: int, why: str = "", maximum: int | None = None):
    """An ``argparse`` type: an int ``≥ minimum`` (and ``≤ maximum`` if given); ``why`` is said when the
    value is out of range."""

    def parse(text: str) -> int:
        try:
            value = int(text, 10)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        reason = f" ({why})" if why else ""
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}{reason}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"must be at most {maximum}, got {value}{reason}")
        return value

    parse.__name__ = f"integer >= {minimum}"  # argparse names the type in some messages
    return parse


#: A seed of ``numpy.random.default_rng``: a non-negative int.
seed = integer_at_least(0, "a seed is a non-negative integer")


def fraction(text: str) -> float:
    """An ``argparse`` type: a number in [0, 1]."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}") from None
    if not 0.0 <= value <= 1.0:  # NaN fails too
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def check_output_folder(path: str, files=()) -> str:
    """Raise ``ValueError`` unless a report can be written into the folder ``path``.

    The folder may exist (then it must be a folder, writable, and none of ``files`` in it may be
    a folder) or not (then its nearest existing parent must be a writable folder; it is created
    when the report is written).  Writability is tried, not guessed from permission bits: a
    temporary file is created and removed.  Returns ``path``.
    """
    if not path:
        raise ValueError("the output folder is an empty path")
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"{path} is a file, expected a folder for the report")
    existing = os.path.abspath(path)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise ValueError(f"cannot create the folder {path}: {existing} is a file")
    for name in files:
        if os.path.isdir(os.path.join(path, name)):
            raise ValueError(f"{os.path.join(path, name)} is a folder, but the report writes a file there")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise ValueError(f"cannot write into {existing} ({reason})") from None
    return path


def output_folder(files=()):
    """An ``argparse`` type: a folder a report with ``files`` can be written to (:func:`check_output_folder`)."""

    def parse(text: str) -> str:
        try:
            return check_output_folder(text, files)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    parse.__name__ = "output folder"
    return parse


__all__ = ["EXIT_BROKEN_PIPE", "EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_OUTPUT", "EXIT_STATUS_HELP",
           "EXIT_USAGE", "FILE_COMMAND_EXIT_STATUS_HELP", "OutputError", "UsageError", "check_output_folder",
           "fraction", "integer_at_least", "output_folder", "seed"]
