"""Atomic files (``refpattern.files``, ``docs/conventions.md#atomic-files``): a write that fails at any
point leaves the file already there byte for byte, and no temporary file behind."""

import errno
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from refpattern.files import read_npz, write_atomically, write_files_atomically

ROOT = Path(__file__).resolve().parents[1]


def listing(folder):
    return sorted(path.name for path in Path(folder).iterdir())


def test_a_write_replaces_the_file_in_one_step(tmp_path):
    path = tmp_path / "out.txt"
    write_atomically(path, b"first")
    write_atomically(path, lambda handle: handle.write(b"second, longer"))
    assert path.read_bytes() == b"second, longer" and listing(tmp_path) == ["out.txt"]
    write_atomically(str(path), b"")
    assert path.read_bytes() == b""


@pytest.mark.parametrize("error", [OSError(errno.ENOSPC, "No space left on device"), ValueError("midway"),
                                   KeyboardInterrupt()])
def test_a_writer_that_fails_midway_changes_nothing(tmp_path, error):
    path = tmp_path / "out.bin"
    path.write_bytes(b"old content")

    def write(handle):
        handle.write(b"new content that never completes")
        handle.flush()
        raise error

    with pytest.raises(type(error)):
        write_atomically(path, write)
    assert path.read_bytes() == b"old content" and listing(tmp_path) == ["out.bin"]


def test_several_files_are_replaced_only_when_every_one_was_written(tmp_path):
    for name in ("a", "b", "c"):
        (tmp_path / name).write_bytes(b"old " + name.encode())

    def fails(handle):
        handle.write(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        write_files_atomically({tmp_path / "a": b"new a", tmp_path / "b": b"new b", tmp_path / "c": fails})
    assert [(tmp_path / n).read_bytes() for n in "abc"] == [b"old a", b"old b", b"old c"]
    assert listing(tmp_path) == ["a", "b", "c"]
    write_files_atomically({tmp_path / "a": b"new a", tmp_path / "b": b"new b", tmp_path / "c": b"new c"})
    assert [(tmp_path / n).read_bytes() for n in "abc"] == [b"new a", b"new b", b"new c"]


def test_a_target_that_cannot_be_written_leaves_no_temporary(tmp_path):
    (tmp_path / "folder").mkdir()
    with pytest.raises(IsADirectoryError):
        write_atomically(tmp_path / "folder", b"x")
    with pytest.raises(FileNotFoundError):
        write_atomically(tmp_path / "missing" / "out.txt", b"x")
    with pytest.raises(TypeError, match="bytes or a function"):
        write_atomically(tmp_path / "out.txt", "text, not bytes")
    assert listing(tmp_path) == ["folder"] and listing(tmp_path / "folder") == []


@pytest.mark.skipif(not hasattr(os, "fork") or sys.platform == "darwin", reason="RLIMIT_FSIZE test for Linux")
def test_a_file_size_limit_hit_while_saving_patterns_keeps_the_old_file(tmp_path):
    """A real failed write: the process may not write files over 16 KiB (``RLIMIT_FSIZE``; Python
    ignores SIGXFSZ, so the write fails with EFBIG), and the new patterns file is larger."""
    import numpy as np

    from refpattern import Dense, Sequential
    from refpattern.patterns import Patterns, fit_patterns

    path = tmp_path / "patterns.npz"
    fit_patterns(Sequential([Dense(np.eye(2))]), None, "w").save(path)
    before = path.read_bytes()
    assert len(before) < 16384
    script = textwrap.dedent(f"""
        import errno, resource, sys
        import numpy as np
        from refpattern import Dense, Sequential
        from refpattern.patterns import fit_patterns
        patterns = fit_patterns(Sequential([Dense(np.ones((64, 64)))]), None, "w")
        resource.setrlimit(resource.RLIMIT_FSIZE, (16384, 16384))
        try:
            patterns.save({str(path)!r})
        except OSError as error:
            sys.exit(0 if error.errno == errno.EFBIG else 3)
        sys.exit(4)  # the save did not hit the limit
    """)
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert path.read_bytes() == before and listing(tmp_path) == ["patterns.npz"]
    assert len(Patterns.load(path)) == 1


def _archive_with_header(path, shape, data: bytes, compress: bool = False) -> None:
    """A one-entry ``.npz`` whose ``.npy`` header declares ``shape`` (float64) over ``data``."""
    import io
    import zipfile

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": shape})
    mode = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", compression=mode) as archive:
        archive.writestr("weights.npy", header.getvalue() + data)


@pytest.mark.parametrize("compress", [False, True])
def test_an_entry_declaring_more_than_its_archive_holds_is_refused_before_allocating(tmp_path, compress):

    path = tmp_path / "crafted.npz"
    _archive_with_header(path, (2 ** 40,), np.arange(4.0).tobytes(), compress)  # 8 TiB declared, 32 bytes held
    with pytest.raises(ValueError, match=r"crafted\.npz: entry 'weights' declares shape \(1099511627776,\)"):
        read_npz(path, "refpattern network file")
    _archive_with_header(path, (4,), np.arange(4.0).tobytes(), compress)  # the honest header reads back
    np.testing.assert_array_equal(read_npz(path, "refpattern network file")["weights"], np.arange(4.0))


def test_a_member_claiming_more_than_deflate_can_expand_is_refused(tmp_path):
    import zipfile


    path = tmp_path / "bomb.npz"
    _archive_with_header(path, (4,), np.arange(4.0).tobytes(), compress=True)
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("weights.npy")
    # the uncompressed size in the central directory (offset 24 from its signature) set to 1 GiB
    central = raw.rindex(b"PK\x01\x02")
    raw[central + 24:central + 28] = (2 ** 30).to_bytes(4, "little")
    path.write_bytes(bytes(raw))
    assert info.compress_size < 1024
    with pytest.raises(ValueError, match="bomb.npz: entry 'weights' claims 1073741824 bytes"):
        read_npz(path, "refpattern network file")


def test_saving_onto_a_directory_names_the_directory(tmp_path):

    folder = tmp_path / "out"
    folder.mkdir()
    with pytest.raises(IsADirectoryError, match="is a directory") as caught:
        write_atomically(folder, b"x")
    assert caught.value.filename == os.path.realpath(folder)
    assert list(folder.iterdir()) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["out"]
