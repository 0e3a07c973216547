"""The files a command writes: checked before any work, written atomically.

An output path that exists is refused unless the command was given ``--overwrite``, and one of the
command's input files is refused even then (:func:`check_not_an_input`); its folder must exist and be
writable; nothing is written until the work is done, and then through
:func:`refpattern.files.write_atomically` (``docs/conventions.md#atomic-files``), so a refusal, an
error or Ctrl-C leaves every file as it was.  A write that fails is an
:class:`~refpattern.command_arguments.OutputError` (exit status 3).
"""

from __future__ import annotations

import io
import os
import tempfile

import numpy as np

from refpattern.command_arguments import OutputError, UsageError
from refpattern.files import write_atomically, write_files_atomically


def add_output_arguments(parser, what: str, required: bool = True) -> None:
    """``--out PATH`` (required unless ``required=False``: then None when not given) and ``--overwrite``."""
    parser.add_argument("--out", required=required, default=None, metavar="PATH", help=f"where to write {what}")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace output files that exist (default: refuse; never an input file)")


def check_output_file(path: str, overwrite: bool, option: str = "--out") -> str:
    """Raise :class:`UsageError` unless ``path`` can be written: not a folder, not an existing file
    (unless ``overwrite``), in an existing, writable folder (tried with a temporary file)."""
    if not path:
        raise UsageError(f"{option}: an empty path")
    if os.path.isdir(path):
        raise UsageError(f"{option} {path}: a folder, expected a file path")
    if os.path.lexists(path) and not overwrite:
        raise UsageError(f"{option} {path} exists; pass --overwrite to replace it")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"{option} {path}: the folder {folder} does not exist")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise UsageError(f"{option} {path}: cannot write into {folder} ({error.strerror or type(error).__name__})") \
            from None
    return path


def check_not_an_input(path: str, inputs: dict, option: str = "--out") -> str:
    """Raise :class:`UsageError` if the output ``path`` is one of the command's input files (by any
    name: a link, a relative path) or lies inside an input folder (a Zarr store); ``inputs`` maps
    how messages name each input (``"MODEL"``) to its path.  ``--overwrite`` does not allow it: the
    result would replace the file it was computed from."""
    if not os.path.lexists(path):
        return path  # every input exists, so a new path is none of them
    for label, source in inputs.items():
        if source is None or not os.path.exists(source):
            continue
        if os.path.isdir(source):
            folder = os.path.realpath(source)
            inside = os.path.realpath(path).startswith(folder + os.sep)
        else:
            try:
                inside = os.path.samefile(path, source)
            except OSError:
                inside = os.path.realpath(path) == os.path.realpath(source)
        if inside:
            where = "is" if not os.path.isdir(source) else "lies inside"
            raise UsageError(f"{option} {path} {where} the {label} {source}; writing the result there would replace "
                             "an input (--overwrite replaces earlier outputs only): choose another path")
    return path


def check_output_folder(path: str, names, overwrite: bool, option: str) -> str:
    """Raise :class:`UsageError` unless the files ``names`` can be written into the folder ``path``
    (created if missing; an existing file of those names needs ``overwrite``)."""
    from refpattern.command_arguments import check_output_folder as check_folder

    try:
        check_folder(path)
    except ValueError as error:
        raise UsageError(f"{option}: {error}") from None
    existing = [name for name in names if os.path.lexists(os.path.join(path, name))]
    if existing and not overwrite:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise UsageError(f"{option} {path}: {existing[0]} exists{more}; pass --overwrite to replace")
    return path


def npy_bytes(array) -> bytes:
    """``array`` as the bytes of a ``.npy`` file (no pickle)."""
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)
    return buffer.getvalue()


def write_output(path: str, content) -> None:
    """:func:`refpattern.files.write_atomically`; a failure is an :class:`OutputError` (status 3)."""
    try:
        write_atomically(path, content)
    except OSError as error:
        raise OutputError(f"could not write {path} ({error.strerror or error}); an existing file is unchanged") \
            from None


def write_outputs(contents: dict) -> None:
    """:func:`refpattern.files.write_files_atomically`; a failure is an :class:`OutputError` (status 3)."""
    if not contents:
        return
    try:
        write_files_atomically(contents)
    except OSError as error:
        raise OutputError(f"could not write the files ({error.strerror or error}); existing files are unchanged") \
            from None


__all__ = ["add_output_arguments", "check_not_an_input", "check_output_file", "check_output_folder", "npy_bytes",
           "write_output", "write_outputs"]
