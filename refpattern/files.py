"""Writing files so that a failed write never destroys the file already there, and reading the
``.npz`` archives refpattern writes without ever unpickling.

Every file refpattern writes (``Patterns.save``, the reports of ``refpattern verify`` and
``refpattern reproduce`` and their figures) goes through :func:`write_atomically` or
:func:`write_files_atomically` (``docs/conventions.md#atomic-files``):

1. the new content is written to a temporary file in the target's own directory
   (``.<name>.<random>.tmp``, so that the rename below stays on one file system), flushed and
   ``fsync``-ed;
2. the temporary file is renamed over the target with ``os.replace``, which is atomic on POSIX
   and Windows: a reader sees the old file or the new one, never a mixture or a truncated file;
3. if anything fails before the rename (disk full, a file-size limit, an exception raised by the
   writer, Ctrl-C), the temporary file is removed and the exception propagates; the target is
   untouched.

The new file gets the permissions of the file it replaces, or ``0o666`` less the umask (what
``open(path, "w")`` gives) when there was none.  A target that is a symbolic link is resolved
first, so the link keeps pointing at the (replaced) file, as a plain ``open`` would write through
it.  :func:`read_npz` reads every entry of an ``.npz`` archive with ``allow_pickle=False`` and turns
whatever a damaged or foreign file raises into one ``ValueError`` that names the file;
:func:`archive_checksum` is the checksum both file formats store.  This module
imports nothing of refpattern (a floor of its own, below every other).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import os
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Mapping

import numpy as np

#: What a file is written with: its bytes, or a function ``write(handle)`` that writes them to
#: the binary file ``handle`` (open for writing, at position 0).
Content = bytes | bytearray | memoryview | Callable


def _current_umask() -> int:
    mask = os.umask(0o022)  # the only way to read the umask is to set it; put it back at once
    os.umask(mask)
    return mask


def _check_path(path) -> None:
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"path: expected a file path (str, bytes or os.PathLike) or, where a binary file object "
                        f"is accepted, one open for binary reading or writing; got {type(path).__name__}")


def _target(path) -> str:
    """The file a write to ``path`` replaces: ``path`` with symbolic links resolved."""
    _check_path(path)
    path = os.fspath(path)
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    return os.path.realpath(path)


def _discard(temporary: str) -> None:
    try:
        os.unlink(temporary)
    except FileNotFoundError:
        pass


def _stage(target: str, content: Content) -> str:
    """Write a temporary file next to ``target`` with ``content``; return its path (removed on failure)."""
    if not (callable(content) or isinstance(content, (bytes, bytearray, memoryview))):
        raise TypeError(f"{target}: content must be bytes or a function write(handle), got {type(content).__name__}")
    if os.path.isdir(target):  # else the rename below fails naming the temporary file, not the target
        raise IsADirectoryError(errno.EISDIR, "is a directory; give the path of a file to write", target)
    directory, name = os.path.split(target)
    if not os.path.isdir(directory or "."):  # else mkstemp's error names the temporary file, not the target
        if os.path.exists(directory):
            raise NotADirectoryError(errno.ENOTDIR, f"{directory!r} is not a directory, so nothing can be written "
                                     "into it", target)
        raise FileNotFoundError(errno.ENOENT, f"the directory {directory!r} does not exist; create it first", target)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory or ".")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            if callable(content):
                content(handle)
            else:
                handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            mode = stat.S_IMODE(os.stat(target).st_mode)
        except FileNotFoundError:
            mode = 0o666 & ~_current_umask()
        os.chmod(temporary, mode)
    except BaseException:
        _discard(temporary)
        raise
    return temporary


def _sync_directory(directory: str) -> None:
    """Make the renames in ``directory`` durable where the platform allows it (best effort)."""
    try:
        descriptor = os.open(directory or ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def write_files_atomically(contents: Mapping) -> None:
    """Write several files; a failure leaves every one of them unchanged.

    Every temporary file is written first; only when all are complete are they renamed into
    place, one after the other.  So a failed write (disk full, an exception in a writer) changes
    none of the targets, and each target is at any moment either its old or its new version.

    Parameters
    ----------
    contents : mapping of path (str or os.PathLike) to bytes or callable
        A file's bytes, or ``write(handle)`` that writes them to the binary ``handle``.  Each
        target's directory must exist.
    """
    staged = []  # (temporary, target)
    try:
        for path, content in contents.items():
            target = _target(path)
            staged.append((_stage(target, content), target))
        for temporary, target in staged:
            os.replace(temporary, target)
    except BaseException:
        for temporary, _ in staged:
            _discard(temporary)  # those already renamed are gone; the rest are removed
        raise
    for directory in {os.path.dirname(target) for _, target in staged}:
        _sync_directory(directory)


def write_atomically(path, content: Content) -> None:
    """Write the file ``path`` through a temporary file and ``os.replace`` (module docstring): its
    bytes, or ``write(handle)`` writing them to a binary handle.  On any failure ``path`` is left
    as it was and no temporary file remains."""
    _check_path(path)
    write_files_atomically({path: content})


def archive_checksum(arrays: Mapping) -> str:
    """SHA-256 (hex) over every entry of ``arrays`` but ``checksum``: per entry, in sorted name
    order, its name, dtype, shape and C-ordered bytes (the ``checksum`` entry of network and
    patterns files)."""
    digest = hashlib.sha256()
    for key in sorted(k for k in arrays if k != "checksum"):
        value = np.ascontiguousarray(arrays[key])
        digest.update(f"{key}|{value.dtype.str}|{value.shape}|".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def is_text_stream(handle) -> bool:
    """Whether the file object ``handle`` reads and writes ``str``, not bytes: an ``io.TextIOBase``
    (``io.StringIO``, ``open(path, "w")``) or a wrapper whose ``mode`` string has no ``"b"``
    (``tempfile.NamedTemporaryFile("w")``)."""
    mode = getattr(handle, "mode", None)
    return isinstance(handle, io.TextIOBase) or (isinstance(mode, str) and "b" not in mode)


def check_file_target(path, direction: str) -> None:
    """Refuse, with a ``TypeError`` naming the argument ``path``, what is neither a file path nor a
    binary file object open for ``direction`` (``"read"`` or ``"write"``): a text stream would
    otherwise fail inside NumPy (``string argument expected, got 'bytes'``) or be read as a
    damaged archive, and a file open for reading only would end a save in ``UnsupportedOperation:
    write``."""
    if hasattr(path, direction):
        if is_text_stream(path):
            mode = "rb" if direction == "read" else "wb"
            raise TypeError(f"path: expected a file path (str, bytes or os.PathLike) or a binary file object "
                            f"(open(..., {mode!r}), io.BytesIO); got the text stream {type(path).__name__}, which "
                            f"cannot {direction} the bytes of an .npz archive: open the file in binary mode")
        able = getattr(path, {"read": "readable", "write": "writable"}[direction], None)
        if callable(able) and not getattr(path, "closed", False) and not able():
            mode, doing = ("rb", "reading") if direction == "read" else ("wb", "writing")
            raise TypeError(f"path: expected a file path (str, bytes or os.PathLike) or a binary file object open "
                            f"for {doing} (open(..., {mode!r}), io.BytesIO); got {type(path).__name__} "
                            f"{getattr(path, 'name', '')!s} open with mode {getattr(path, 'mode', '?')!r}, which "
                            f"cannot {direction}")
        return
    _check_path(path)


def file_name(path) -> str:
    """How messages name ``path``: the path itself, or a file object's ``name`` (``TypeError`` for
    anything that is neither, or a text stream: :func:`check_file_target`)."""
    check_file_target(path, "read")
    name = getattr(path, "name", "<file object>") if hasattr(path, "read") else path
    # a bytes path (or a file opened by one) is named as text, as the file system decodes it, not as b'…'
    return os.fsdecode(name) if isinstance(name, (str, bytes, os.PathLike)) else str(name)


try:
    from lzma import LZMAError
except ImportError:  # a Python built without lzma: zipfile then refuses LZMA members with NotImplementedError
    LZMAError = zlib.error

#: What reading a damaged or crafted archive raises, beyond ``ValueError``: I/O and end of data, a
#: missing member, a broken zip directory, corrupt deflate / bzip2 (``OSError``) / LZMA data and an
#: unsupported compression method.
ARCHIVE_ERRORS = (OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error, LZMAError, NotImplementedError)

#: Deflate's largest compression ratio (1032:1, zlib's technical notes), with room to spare: an
#: archive member that claims to expand beyond this is not one ``numpy.savez`` wrote.
DEFLATE_MAX_RATIO = 1100


def _check_declared_size(archive, key: str, name: str) -> None:
    """Refuse an entry whose ``.npy`` header declares more bytes than its archive member can hold,
    before NumPy allocates them (a crafted header of shape ``(2**40,)`` would otherwise end in a
    ``MemoryError`` or exhaust the machine's memory)."""
    member_name = key + ".npy" if key + ".npy" in archive.zip.namelist() else key
    info = archive.zip.getinfo(member_name)
    if info.flag_bits & 0x1:  # else zipfile raises a RuntimeError asking for a password
        raise ValueError(f"{name}: entry {key!r} is encrypted; numpy.savez never encrypts, so the archive is "
                         "not one refpattern wrote")
    if info.compress_type != zipfile.ZIP_STORED and info.file_size > DEFLATE_MAX_RATIO * info.compress_size + 1024:
        raise ValueError(f"{name}: entry {key!r} claims {info.file_size} bytes from {info.compress_size} compressed "
                         "ones, more than compression can give: the archive is damaged or crafted")
    read_header = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    with archive.zip.open(info) as member:
        version = np.lib.format.read_magic(member)
        if version not in read_header:  # another .npy version: NumPy's own reader judges it
            return
        shape, _, dtype = read_header[version](member)
        header = member.tell()
    declared = dtype.itemsize * int(np.prod(shape, dtype=object))
    if declared > info.file_size - header:
        raise ValueError(f"{name}: entry {key!r} declares shape {shape} of {dtype} ({declared} bytes), but its "
                         f"archive member holds {info.file_size - header} bytes: the archive is damaged or crafted")


def read_npz(path, what: str) -> dict:
    """Every entry of the ``.npz`` archive at ``path`` (a path or a binary file object), read with
    ``allow_pickle=False``.

    ``what`` names the kind of file in the messages (``"refpattern network file"``).  Raises
    ``ValueError`` naming the file for anything that is not a readable archive (a single ``.npy``,
    truncated or garbage bytes) or holds an object array (named by its entry: refpattern never
    unpickles); ``FileNotFoundError`` for a missing file."""
    name = file_name(path)
    try:
        with contextlib.ExitStack() as stack:
            # a path is opened here, not by np.load, which leaves its own handle open when the
            # archive turns out to be truncated
            handle = path if hasattr(path, "read") else stack.enter_context(open(path, "rb"))
            loaded = np.load(handle, allow_pickle=False)
            if not isinstance(loaded, np.lib.npyio.NpzFile):
                raise ValueError("a single .npy array, not an .npz archive")
            with loaded as archive:
                arrays = {}
                for key in archive.files:
                    _check_declared_size(archive, key, name)
                    try:
                        arrays[key] = archive[key]
                    except ValueError as error:
                        if "allow_pickle" not in str(error):
                            raise
                        raise ValueError(f"{name}: entry {key!r} holds pickled Python objects (an object array); "
                                         f"a {what} holds plain numeric and text arrays only, and refpattern "
                                         "never unpickles") from None
    except FileNotFoundError:
        raise
    except ValueError as error:
        if str(error).startswith(f"{name}: "):
            raise
        raise ValueError(f"{name}: not a readable {what} (ValueError: {error})") from None
    except ARCHIVE_ERRORS as error:
        raise ValueError(f"{name}: not a readable {what} ({type(error).__name__}: {error})") from None
    return arrays


__all__ = ["archive_checksum", "check_file_target", "file_name", "is_text_stream", "read_npz", "write_atomically",
           "write_files_atomically"]
