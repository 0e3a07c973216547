"""Reading a command's DATA (and INPUTS): samples ``(N, …)`` in refpattern's layout (images NCHW)
from a ``.npy`` file, an array of an ``.npz`` archive or a Zarr array (``docs/conventions.md#file-commands``).

===========================  =====================================================================
DATA                         read
===========================  =====================================================================
``x.npy``                    through a memory map, batch by batch (never whole)
``x.npz:NAME``               the array ``NAME`` of the archive (``--array NAME`` says the same; an
                             archive of one array needs neither); a member of a zip archive is
                             read whole into memory
``x.zarr``, a Zarr folder    ``zarr.open`` (``x.zarr:NAME`` or ``--array NAME`` for an array in a
                             group), chunk by chunk (``pip install zarr``)
===========================  =====================================================================

In this process the data are read in batches (:meth:`DataFile.batches`, as often as a fit under a
memory limit needs); with Dask (``--workers``/``--scheduler``) they become a Dask array of chunks
of ``--chunk-size`` samples (:meth:`DataFile.dask_array`): a ``.npy`` file and a Zarr store are
read by the workers themselves (:func:`refpattern.patterns.distributed.dask_array_from_npy`,
``dask.array.from_zarr``), so every worker must see the path; an ``.npz`` member is read here and its
chunks sent to the workers.

Checked before any work (:meth:`DataFile.check_network`, a
:class:`~refpattern.command_arguments.UsageError` otherwise): the file exists and holds one array
of at least one axis, of a floating-point dtype (refpattern refuses integer inputs, which are
usually labels), with a per-sample shape the network takes.
"""

from __future__ import annotations

import importlib
import os
import zipfile

import numpy as np

from refpattern.command_arguments import UsageError


def add_data_arguments(parser, name: str = "DATA", help_text: str = "the samples") -> None:
    """The positional data argument (``dest`` is ``name.lower()``) and ``--array``."""
    parser.add_argument(name.lower(), metavar=name,
                        help=f"{help_text}: a .npy file, an .npz archive (x.npz:NAME for one of several arrays) or "
                             "a Zarr array (x.zarr, x.zarr:NAME in a group), samples first, images NCHW")
    if not any(action.dest == "array" for action in parser._actions):
        parser.add_argument("--array", default=None, metavar="NAME",
                            help="the array of an .npz archive or a Zarr group (same as PATH:NAME)")


def split_name(spec: str, array: str | None):
    """``"x.npz:train"`` → ``("x.npz", "train")``; a path that exists as given keeps its colons."""
    if os.path.exists(spec) or ":" not in spec:
        return spec, array
    path, _, name = spec.rpartition(":")
    if array is not None and array != name:
        raise UsageError(f"{spec}: names the array {name!r}, --array says {array!r}")
    return path, name


class DataFile:
    """One array of samples in a file (module docstring).

    Attributes
    ----------
    label : str
        How messages name it (``"DATA x.npy"``).
    path, name : str
        The file and, for an archive or group, the array's name.
    kind : {"npy", "npz", "zarr"}
    array : array-like
        A NumPy memory map (npy), an ndarray (npz) or a Zarr array; sliced along the samples only.
    """

    def __init__(self, spec: str, array: str | None = None, role: str = "DATA"):
        self.path, self.name = split_name(spec, array)
        self.label = f"{role} {spec}"
        if not os.path.exists(self.path):
            raise UsageError(f"{self.label}: no such file or folder")
        if os.path.isdir(self.path) or self.path.rstrip("/").endswith(".zarr"):
            self.kind, self.array = "zarr", self._open_zarr()
        elif self.path.lower().endswith(".npz") or (not self.path.lower().endswith(".npy")
                                                    and zipfile.is_zipfile(self.path)):
            self.kind, self.array = "npz", self._open_npz()
        else:
            self.kind, self.array = "npy", self._open_npy()
        if len(self.shape) == 0:
            raise UsageError(f"{self.label}: a 0-d array; expected samples (N, ...)")
        if not np.issubdtype(self.dtype, np.floating):
            raise UsageError(f"{self.label}: dtype {self.dtype}; refpattern reads floating-point inputs (store "
                             "them as float32 or float64; integer arrays are refused as they are usually labels)")
        if self.shape[0] == 0:
            raise UsageError(f"{self.label}: no samples (shape {self.shape})")

    def _open_npy(self):
        if self.name is not None:
            raise UsageError(f"{self.label}: a .npy file holds one array; --array/:NAME is for .npz and Zarr")
        try:
            return np.load(self.path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError, EOFError) as error:
            raise UsageError(f"{self.label}: not a readable .npy array ({type(error).__name__}: {error})") from None

    def _open_npz(self):
        try:
            with np.load(self.path, allow_pickle=False) as archive:
                names = list(archive.files)
                if self.name is None:
                    if len(names) != 1:
                        raise UsageError(f"{self.label}: the archive holds {len(names)} arrays "
                                         f"({', '.join(names[:8])}{' ...' if len(names) > 8 else ''}); name one as "
                                         f"{self.path}:NAME or with --array NAME")
                    self.name = names[0]
                if self.name not in names:
                    raise UsageError(f"{self.label}: no array {self.name!r} in the archive (it holds "
                                     f"{', '.join(names[:8])}{' ...' if len(names) > 8 else ''})")
                return archive[self.name]
        except UsageError:
            raise
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as error:
            raise UsageError(f"{self.label}: not a readable .npz archive ({type(error).__name__}: {error})") from None

    def _open_zarr(self):
        try:
            zarr = importlib.import_module("zarr")
        except ImportError:
            raise UsageError(f"{self.label}: reading a Zarr store needs zarr (pip install zarr)") from None
        try:
            opened = zarr.open(self.path, mode="r")
            if self.name is not None:
                opened = opened[self.name]
        except Exception as error:  # noqa: BLE001 — zarr raises its own kinds for a folder that is not a store
            raise UsageError(f"{self.label}: not a readable Zarr array ({type(error).__name__}: {error})") from None
        if not hasattr(opened, "dtype"):
            names = sorted(getattr(opened, "array_keys", lambda: [])())
            raise UsageError(f"{self.label}: a Zarr group; name its array as {self.path}:NAME or with --array NAME "
                             f"(it holds {', '.join(names[:8]) or 'no arrays'})")
        return opened

    @property
    def shape(self) -> tuple:
        return tuple(int(s) for s in self.array.shape)

    @property
    def dtype(self):
        return np.dtype(self.array.dtype)

    @property
    def samples(self) -> int:
        return self.shape[0]

    def check_network(self, net) -> None:
        """Raise :class:`UsageError` unless ``net`` takes this data's per-sample shape."""
        shape = self.shape[1:]
        if net.input_shape is not None and shape != net.input_shape:
            raise UsageError(f"{self.label}: per-sample shape {shape} (array shape {self.shape}), but the network "
                             f"takes {net.input_shape}")
        try:
            net.output_shapes(shape)
        except ValueError as error:
            raise UsageError(f"{self.label}: per-sample shape {shape} does not fit the network: {error}") from None

    def batches(self, batch_size: int):
        """A function returning a fresh iterable of batches (ndarrays) each time it is called (what
        ``fit_patterns`` reads once per pass); a ``.npy`` memory map or an ``.npz`` array as itself."""
        if isinstance(self.array, np.ndarray):
            return lambda: self.array
        return lambda: (np.asarray(self.array[start:start + batch_size])
                        for start in range(0, self.samples, batch_size))

    def is_finite(self, batch_size: int) -> bool:
        """Whether every value is finite (read batch by batch; for telling which file a refusal is about)."""
        return all(np.isfinite(self.read(start, start + batch_size)).all()
                   for start in range(0, self.samples, batch_size))

    def read(self, start: int, stop: int) -> np.ndarray:
        """Samples ``start:stop`` as an ndarray."""
        return np.asarray(self.array[start:stop])

    def dask_array(self, chunk_size: int):
        """A Dask array of chunks of ``chunk_size`` samples (module docstring)."""
        from refpattern.patterns.distributed import dask_array_from_npy, import_dask

        if self.kind == "npy":
            return dask_array_from_npy(self.path, chunk_size)
        array = import_dask("dask.array")
        chunks = (chunk_size,) + self.shape[1:]
        if self.kind == "zarr":
            return array.from_zarr(self.array).rechunk(chunks)
        return array.from_array(self.array, chunks=chunks)


__all__ = ["DataFile", "add_data_arguments", "split_name"]
