"""Pattern fits on Dask: the statistics of a ``dask.array.Array``, chunk by chunk on the workers,
merged in a tree (``docs/conventions.md#dask-fits``).

:func:`refpattern.fit_statistics`, :func:`refpattern.fit_patterns` (with or without
``memory_limit``) and :func:`refpattern.rho` take a Dask array ``X`` of samples ``(N, …)``, chunked
along the samples, from any source Dask reads (a ``.npy`` file through a memory map, Zarr, HDF5, a
stack of files); they come here (:func:`accumulate_dask_array`).  One pass over the data is one
Dask computation::

    chunk 0 ─ statistics ─┐
    chunk 1 ─ statistics ─┴─ merge ─┐
    chunk 2 ─ statistics ─┐         ├─ merge  →  the statistics of X
    chunk 3 ─ statistics ─┴─ merge ─┘

- a *statistics* task (:func:`chunk_statistics`) streams its chunk in batches of ``batch_size``
  through the network (:func:`~refpattern.patterns.streaming.stream_batches`, the code of a
  single-process fit) into fresh sums, taken around the chunk's own shift ``c`` (the mean of its
  first samples, :mod:`refpattern.patterns.statistics`);
- a *merge* task (:func:`merge_chunk_statistics`) merges :data:`SPLIT_EVERY` = 2 results with
  :meth:`LayerStatistics.merge <refpattern.patterns.statistics.LayerStatistics.merge>`, which
  re-centres the right one onto the left one's shift and adds; the tree keeps the chunks' order,
  so the result is taken around chunk 0's shift, as a single-process fit's (when chunk 0 holds at
  least a batch, exactly that shift).

Every chunk stores the input sums of the regimes a single-process fit stores: a small task per pass
(:func:`first_samples_regimes`) chooses the flags ``closed_inputs`` from the data's first
``min(REGIME_CHOICE_SAMPLES, batch_size)`` samples, as a single-process fit's first batch does, and each
chunk task presets them (:meth:`LayerStatistics.preset_regimes`), so no merge turns a chunk's small
regime into a difference of sums over the whole chunk (``docs/math.md#regime-input-sums``).  The sums
are those of a single-process fit up to rounding, whatever the chunking, the number of workers or the
order in which chunks finish: the counts and degenerate entries agree exactly, the patterns to ≤ 1e-12
relative in every regime (``docs/conventions.md#dask-fits``, ``tests/test_patterns_distributed.py``).

The network travels once per worker: with a ``distributed`` client it is scattered to every worker
(``broadcast=True``) as its network file (:meth:`Sequential.save <refpattern.Sequential.save>`:
no pickle, a checksum, bit-exact, read-only parameters on the worker), and every task on a worker
uses that copy; with Dask's local schedulers it is one node of the graph.  Tasks send back the sums
only (:class:`ChunkStatistics`, no weights): :func:`~refpattern.patterns.passes.statistics_bytes`
per kernel layer (S_a±: about 3 × the network's weights; ``second_moment`` adds ``8·D²`` per layer).

Scheduler: the ``distributed`` client in use (``distributed.Client(...)``, which makes itself the
default, or ``with client.as_current()``), else Dask's configured local scheduler (threads by
default; ``dask.config.set(scheduler="processes")``, ``"synchronous"``).  With a client:

- a lost worker costs what it held: the scheduler recomputes those chunks (and merges) elsewhere
  (``distributed.scheduler.allowed-failures``, 3 by default, bounds how often a task may be on a
  dying worker);
- every task, the chunk-loading tasks of ``X`` included, is retried up to ``refpattern.retries``
  times (:data:`RETRIES` = 2 by default; ``dask.config.set({"refpattern.retries": n})``) when it
  raises; a data error of refpattern's own (NaN, a shape, a magnitude float64 cannot carry) is
  deterministic, so it is not retried: the task returns it, and it is raised here as the same
  ``ValueError``/``TypeError``, naming the chunk and its samples;
- progress: the sample counter of :mod:`refpattern.progress` advances as chunks finish.

Memory per worker thread: while a chunk runs, the chunk, one set of sums (``statistics_bytes``)
and one batch's activations; a merge holds its two inputs and its result (3 sets of sums, plus a
layer's re-centring temporaries).  Results wait for their merge partner in the worker's memory;
Dask's ordering runs the merges of a subtree before starting far-away chunks, so a few sets of
sums wait at a time.  Workers with one thread each (``--nthreads 1``; the Numba kernels use the
cores) keep this per worker.

Importing this module imports no Dask: ``import refpattern`` never does.  The Dask modules are
imported when a Dask array arrives (:func:`import_dask`: an ``ImportError`` naming the extra
``pip install "refpattern[dask]"`` when they are missing).
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import io
import math
import os
import re
import sys
import uuid

import numpy as np

from refpattern.kernels import get_backend
from refpattern.network.sequential import Sequential
from refpattern.network.validation import check_count
from refpattern.patterns.statistics import REGIME_CHOICE_SAMPLES, LayerStatistics, regime_flags
from refpattern.patterns.streaming import check_batch_size, check_network, stream_batches
from refpattern.progress import Progress

#: The refpattern extra that installs Dask (``pip install "refpattern[dask]"``).
DASK_EXTRA = "dask"
#: Results merged by one merge task (a binary tree).
SPLIT_EVERY = 2
#: Retries of a task that raised, with a ``distributed`` client (``dask.config`` key ``refpattern.retries``).
RETRIES = 2
#: Key prefixes of the tasks (the dashboard shows them under these names).
CHUNK_TASK, MERGE_TASK, COUNT_TASK, NETWORK_KEY = ("refpattern-chunk-statistics", "refpattern-merge-statistics",
                                                   "refpattern-chunk-samples", "refpattern-network")
#: Key prefix of the task that chooses every chunk's ``closed_inputs`` from the data's first samples.
REGIME_TASK = "refpattern-regime-flags"

#: The sums of a :class:`LayerStatistics` that travel, with the flags ``closed_inputs`` that say which regime
#: each neuron's stored input sums hold (module docstring of refpattern.patterns.statistics).
SENT_SUMS = ("n_plus", "sum_x", "closed_inputs", "products", "output_sums", "sum_xx")


def import_dask(module: str = "dask"):
    """Import a Dask module (``"dask"``, ``"dask.array"``, ``"distributed"``), or raise an
    ``ImportError`` that names it and the extra installing it: ``pip install "refpattern[dask]"``."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(f"{module} is not installed (refpattern needs it for fits on Dask arrays and clusters); "
                          f'install it with: pip install "refpattern[{DASK_EXTRA}]"  [{error}]') from error


def is_dask_collection(X) -> bool:
    """Whether ``X`` is a Dask collection (an array, a bag, a data frame …), decided without
    importing Dask: Dask's collection protocol (``__dask_graph__``) on an object of a ``dask`` class."""
    module = type(X).__module__ or ""
    return module.split(".")[0] == "dask" and hasattr(X, "__dask_graph__")


# --- what travels ------------------------------------------------------------------------------

def network_from_file_bytes(data: bytes) -> Sequential:
    """The network of a network file held in memory (:meth:`Sequential.load`, checksum checked)."""
    return Sequential.load(io.BytesIO(data))


class NetworkFile:
    """A network that pickles as its network file (:meth:`Sequential.save`): unpickled, it *is* the
    :class:`Sequential`, with read-only parameters equal bit for bit (an unpickled array would be
    writeable, and :class:`LayerStatistics` would then copy every weight it reads).

    A worker in the client's own process (``LocalCluster(processes=False)``, ``Client(processes=False)``)
    receives this object unpickled: :func:`worker_network` reads the network from it there, once."""

    def __init__(self, net: Sequential):
        buffer = io.BytesIO()
        net.save(buffer)
        self.data = buffer.getvalue()
        self.network = None

    def __reduce__(self):
        return network_from_file_bytes, (self.data,)


def worker_network(net) -> Sequential:
    """The :class:`Sequential` a task received: ``net`` itself, or the network of a
    :class:`NetworkFile` that reached a worker without being pickled (read from its bytes on first use)."""
    if isinstance(net, NetworkFile):
        if net.network is None:
            net.network = network_from_file_bytes(net.data)
        return net.network
    return net


class ChunkStatistics:
    """What a statistics or merge task returns: the sums of the kernel layers taken (no weights:
    the workers hold the network), the samples read, or the data error met instead.

    Attributes
    ----------
    layers : list
        Per kernel layer, None (not taken) or a dict: ``kernel_index``, ``neurons`` (start, stop),
        ``second_moment``, ``shift`` (None before any sample), ``scale``, ``peak``, ``n``,
        ``sources`` (the accumulators' tokens, :attr:`LayerStatistics.sources`) and the arrays of
        :data:`SENT_SUMS`.
    samples : int
    problem : tuple or None
        ``(exception type name, message)`` of a refpattern ``ValueError``/``TypeError`` about the data.
    batches : list
        ``(samples, digest)`` of every batch read, in sample order (merges concatenate them in the
        chunks' order), when the pass asked for them (a fit in several passes compares them,
        :func:`~refpattern.patterns.passes.check_same_batches`); else empty.
    """

    def __init__(self, layers=(), samples=0, problem=None, batches=()):
        self.layers, self.samples, self.problem = list(layers), int(samples), problem
        self.batches = list(batches)

    def __sizeof__(self) -> int:
        """Bytes held, the sums' arrays included: Dask's ``sizeof`` (``sys.getsizeof``) reads this, so the
        scheduler's and the workers' memory accounting (spilling, pausing, the dashboard) see the sums
        (they saw 56 bytes for a result of any size)."""
        held = object.__sizeof__(self) + sum(sys.getsizeof(value) for value in (self.layers, self.batches))
        for entry in self.layers:
            if entry is not None:
                held += sum(value.nbytes for value in entry.values() if isinstance(value, np.ndarray))
        return held + sum(len(digest) for _, digest in self.batches)

    def __repr__(self) -> str:
        if self.problem:
            return f"ChunkStatistics(problem={self.problem[1]!r})"
        return f"ChunkStatistics({self.samples} samples, {sum(entry is not None for entry in self.layers)} layers)"

    @classmethod
    def of(cls, stats, samples: int, batches=()) -> ChunkStatistics:
        """The sums of ``stats`` (a list: a :class:`LayerStatistics` or None per kernel layer)."""
        layers = []
        for s in stats:
            if s is None:
                layers.append(None)
                continue
            entry = {"kernel_index": s.kernel_index, "neurons": (s.neurons.start, s.neurons.stop),
                     "second_moment": s.second_moment, "shift": s.shift, "scale": s.scale, "peak": s.peak, "n": s.n,
                     "sources": tuple(sorted(s.sources))}
            entry.update((name, getattr(s, name)) for name in SENT_SUMS)
            layers.append(entry)
        return cls(layers, samples, batches=batches)

    def statistics(self, net) -> list:
        """The :class:`LayerStatistics` (or None) per kernel layer of ``net``, holding these sums."""
        result = []
        for entry in self.layers:
            if entry is None:
                result.append(None)
                continue
            k = entry["kernel_index"]
            index = net.kernel_indices[k]
            s = LayerStatistics(net.layers[index], k, index, entry["second_moment"], slice(*entry["neurons"]))
            if entry["shift"] is not None:
                shift = np.array(entry["shift"], dtype=np.float64)
                shift.setflags(write=False)
                s.shift = shift
            s.scale, s.peak, s.n = float(entry["scale"]), float(entry["peak"]), int(entry["n"])
            s.sources = frozenset(entry["sources"])
            for name in SENT_SUMS:
                if entry[name] is not None:
                    setattr(s, name, np.array(entry[name]) if not entry[name].flags.writeable else entry[name])
            s.closed_inputs = np.array(s.closed_inputs, dtype=bool)  # the stored columns' regimes travel with them
            s.closed_inputs.setflags(write=False)
            result.append(s)
        return result


def layer_template(stats) -> list:
    """Which statistics a pass takes: per kernel layer None or ``(kernel_index, start, stop, second_moment)``."""
    return [None if s is None else (s.kernel_index, s.neurons.start, s.neurons.stop, s.second_moment) for s in stats]


# --- the tasks -----------------------------------------------------------------------------------

_BATCH_ERROR = re.compile(r"X \(batch (\d+)\): (.*)", re.DOTALL)
_QUIET = Progress("refpattern chunk", enabled=False)


def first_samples_regimes(net, head, template, backend_name: str):
    """A task: per entry of ``template`` (:func:`layer_template`) the flags ``closed_inputs`` that a
    single-process fit's first batch would choose (:func:`~refpattern.patterns.statistics.regime_flags`
    of those neurons' output), from ``head``, the data's first ``min(REGIME_CHOICE_SAMPLES, batch_size)``
    samples pushed through the network's layers; None for a layer not taken.  Every chunk task presets
    them (:meth:`LayerStatistics.preset_regimes`), so no merge converts a column
    (``docs/conventions.md#dask-fits``).  Returns None (each chunk then chooses its own flags, as
    before) when ``head`` holds no sample or data refpattern refuses: the chunk task that reads those
    samples names the error.  The flags only say which regime's input sums are stored; any flags give
    the same statistics up to rounding."""
    net = worker_network(net)
    backend = get_backend(backend_name)
    taken = [k for k, entry in enumerate(template) if entry is not None]
    try:
        a = net.check_input(head, "X (its first samples)")
        if a.shape[0] == 0:
            return None
        flags = [None] * len(template)
        kernel = 0
        for layer in net.layers[:net.kernel_indices[taken[-1]] + 1] if taken else ():
            with np.errstate(over="ignore", invalid="ignore"):  # magnitudes are the chunk tasks' to refuse
                a = layer.forward(a, backend)
            if layer.is_kernel:
                entry = template[kernel]
                if entry is not None:
                    flags[kernel] = regime_flags(a[:, entry[1]:entry[2]])
                kernel += 1
    except (ValueError, TypeError):
        return None
    return flags


def chunk_statistics(net, chunk, where: str, template, batch_size: int, backend_name: str,
                     digests: bool = False, regimes=None) -> ChunkStatistics:
    """A worker's task: the statistics of one chunk ``(n, …)`` of the samples, in fresh sums
    (``template``: :func:`layer_template`), streamed in batches of ``batch_size``; with ``digests``
    also the digest of every batch (:attr:`ChunkStatistics.batches`).  ``regimes``: None (each
    layer's first batch chooses ``closed_inputs``) or, per kernel layer, the flags its sums take
    (:func:`first_samples_regimes`, :meth:`LayerStatistics.preset_regimes`).  A refpattern
    data error (``ValueError``/``TypeError``) is returned, naming ``where`` (the chunk and its
    samples), not raised: it is deterministic, so a retry would only repeat it."""
    net = worker_network(net)
    stats = [None if entry is None else LayerStatistics(net.layers[net.kernel_indices[entry[0]]], entry[0],
                                                        net.kernel_indices[entry[0]], entry[3], slice(*entry[1:3]))
             for entry in template]
    for s, flags in zip(stats, regimes or ()):
        if s is not None and flags is not None:
            s.preset_regimes(flags)
    batches = [] if digests else None
    try:
        samples = stream_batches(net, stats, chunk, batch_size, get_backend(backend_name), _QUIET.counter(where),
                                 batches)
    except (ValueError, TypeError) as error:
        text = str(error)
        match = _BATCH_ERROR.fullmatch(text)
        if match:
            text = f"X ({where}, batch {match.group(1)} of the chunk): {match.group(2)}"
        else:
            text = f"X ({where}): {text}"
        return ChunkStatistics(problem=(type(error).__name__, text))
    return ChunkStatistics.of(stats, samples, batches or ())


def merge_chunk_statistics(net, *results) -> ChunkStatistics:
    """A worker's task: ``results`` (in sample order) merged left to right
    (:meth:`LayerStatistics.merge`: re-centred onto the first one's shift); the first data error
    among them instead, if any."""
    for result in results:
        if result.problem:
            return result
    net = worker_network(net)
    merged = results[0].statistics(net)
    for result in results[1:]:
        other = result.statistics(net)
        merged = [None if a is None else a.merge(b) for a, b in zip(merged, other)]
    return ChunkStatistics.of(merged, sum(result.samples for result in results),
                              [batch for result in results for batch in result.batches])


def leading_samples(count: int, *chunks) -> np.ndarray:
    """A task: the first ``count`` samples of ``chunks`` (consecutive chunks of ``X``, in order), or
    all of them if they hold fewer."""
    if len(chunks) == 1:
        return chunks[0][:count]
    return np.concatenate([chunk[:count] for chunk in chunks])[:count]


def chunk_samples(result: ChunkStatistics) -> int:
    """A tiny task per chunk, for the progress counter: the samples the chunk held (0 on a data error)."""
    return result.samples


# --- data ---------------------------------------------------------------------------------------

def read_npy_rows(path: str, start: int, stop: int) -> np.ndarray:
    """Rows ``start:stop`` of the ``.npy`` file at ``path``, read through a memory map (a copy of those rows only)."""
    return np.array(np.load(path, mmap_mode="r", allow_pickle=False)[start:stop])


def dask_array_from_npy(path, samples_per_chunk: int):
    """The ``.npy`` file at ``path`` as a Dask array of chunks of ``samples_per_chunk`` samples
    (the last one smaller), each read by the worker that needs it through a memory map
    (:func:`read_npy_rows`): the data never pass through the client or the scheduler, so the
    workers must see ``path`` (a shared or copied file system; the path is made absolute).
    ``dask.array.from_array(numpy.load(path, mmap_mode="r"))`` would pickle the whole array
    into the graph instead.  Raises ``ValueError`` for a file that is not a ``.npy`` array of
    at least one axis."""
    dask, array = import_dask("dask"), import_dask("dask.array")
    samples_per_chunk = check_batch_size(samples_per_chunk)
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"dask_array_from_npy path: expected a path to a .npy file, got {type(path).__name__}")
    path = os.path.abspath(os.fspath(path))
    try:
        mapped = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        if isinstance(error, FileNotFoundError):
            raise
        raise ValueError(f"{path}: not a readable .npy array ({type(error).__name__}: {error})") from None
    if not isinstance(mapped, np.ndarray) or mapped.ndim == 0:
        raise ValueError(f"{path}: expected a .npy array of samples (N, ...), got "
                         f"{'a 0-d array' if isinstance(mapped, np.ndarray) else type(mapped).__name__}")
    shape, dtype = mapped.shape, mapped.dtype
    del mapped
    read = dask.delayed(read_npy_rows, pure=True)
    blocks = [array.from_delayed(read(path, start, min(start + samples_per_chunk, shape[0])),
                                 (min(start + samples_per_chunk, shape[0]) - start,) + shape[1:], dtype)
              for start in range(0, shape[0], samples_per_chunk)]
    if not blocks:
        return array.zeros((0,) + shape[1:], dtype=dtype, chunks=(1,) + shape[1:])
    return array.concatenate(blocks, axis=0)


# --- the client's side ---------------------------------------------------------------------------

def current_client():
    """The ``distributed`` client in use, or None (``distributed`` is not imported here: a client
    exists only if the caller imported it)."""
    distributed = sys.modules.get("distributed")
    if distributed is None:
        return None
    try:
        return distributed.default_client()
    except ValueError:
        return None


def check_dask_array(net, X):
    """``X`` as a Dask array of whole samples: one chunk along every axis but the first (re-chunked
    if it has more).  Raises ``TypeError`` for another Dask collection or a non-float dtype,
    ``ValueError`` for a per-sample shape the network does not take or no samples, naming both
    shapes, before anything is computed."""
    array = import_dask("dask.array")
    if not isinstance(X, array.Array):
        raise TypeError(f"X: a Dask {type(X).__name__}; pass a dask.array.Array of samples (N, …) chunked along the "
                        "first axis")
    if X.ndim == 0:
        raise ValueError("X: expected a batch (first axis = samples), got a 0-d Dask array")
    if not np.issubdtype(X.dtype, np.floating):
        raise TypeError(f"X: expected a floating-point Dask array, got dtype {X.dtype} (pass X.astype(float) if "
                        "these are inputs, not labels)")
    shape = tuple(int(s) for s in X.shape[1:])
    if net.input_shape is not None and shape != net.input_shape:
        raise ValueError(f"X: expected per-sample shape {net.input_shape}, got {shape} (Dask array shape {X.shape})")
    net.output_shapes(shape)
    if any(len(chunks) > 1 for chunks in X.chunks[1:]):
        X = X.rechunk({axis: -1 for axis in range(1, X.ndim)})
    if not math.isnan(X.shape[0]) and X.shape[0] == 0:
        raise ValueError(f"X: no data (a Dask array of shape {X.shape})")
    return X


def chunk_bounds(X) -> list:
    """``(start, stop)`` of each chunk along the samples; ``(None, None)`` where Dask does not know them."""
    bounds, start = [], 0
    for size in X.chunks[0]:
        if start is None or math.isnan(size):
            bounds.append((None, None))
            start = None
            continue
        bounds.append((start, start + int(size)))
        start += int(size)
    return bounds


def accumulate_dask_array(net, stats, X, batch_size, backend, progress, label: str, batches=None) -> int:
    """One pass over the Dask array ``X``: ``stats[k]`` (an empty :class:`LayerStatistics` to take,
    or None) is replaced by the statistics of every sample of ``X``, computed chunk by chunk on the
    workers and merged in a tree (module docstring).  Returns the number of samples read.

    Parameters
    ----------
    net : Sequential
    stats : list
        One entry per kernel layer, replaced in place.
    X : dask.array.Array, shape (N, …)
    batch_size : int
        Samples per batch within a chunk.
    backend : str, Backend or None
        The kernels the workers use (sent by name).
    progress : refpattern.progress.Progress
        Its counter ``label`` counts the samples of finished chunks.
    batches : list or None
        If a list, ``(samples, digest)`` of every batch of every chunk is appended to it in sample
        order (as :func:`~refpattern.patterns.streaming.stream_batches` does): the chunk tasks send
        their batches' digests back with their sums.

    Raises ``TypeError``/``ValueError`` (:func:`check_dask_array`) before any work, and the
    ``ValueError``/``TypeError`` of the first chunk (in sample order) whose data refpattern
    refuses; what a task raised otherwise (after its retries) propagates.
    """
    dask = import_dask("dask")
    check_network(net)
    batch_size = check_batch_size(batch_size)
    backend_name = get_backend(backend).name
    X = check_dask_array(net, X)
    template = layer_template(stats)
    client = current_client()
    token = uuid.uuid4().hex[:16]
    if client is not None:
        check_workers_import_refpattern(client)
        network = client.scatter({f"{NETWORK_KEY}-{token}": NetworkFile(net)}, broadcast=True, hash=False)
        network = network[f"{NETWORK_KEY}-{token}"]
    else:
        network = dask.delayed(net, name=f"{NETWORK_KEY}-{token}", traverse=False)
    bounds = chunk_bounds(X)
    blocks = X.to_delayed().reshape(-1)
    # the flags closed_inputs of the single-process fit, from the samples its first batch chooses them by,
    # taken from the same block nodes as the chunk tasks, so that each chunk is read once (X[:first], a graph
    # of its own, read chunk 0 a second time); unknown chunk sizes: chunk 0's first ones
    first = min(REGIME_CHOICE_SAMPLES, batch_size)
    covering = 1 if math.isnan(X.shape[0]) else next(i + 1 for i, (_, stop) in enumerate(bounds)
                                                     if stop >= min(first, X.shape[0]))
    head = dask.delayed(leading_samples, pure=True)(first, *blocks[:covering])
    regimes = dask.delayed(first_samples_regimes, pure=True)(network, head, template, backend_name,
                                                             dask_key_name=f"{REGIME_TASK}-{token}")
    task = dask.delayed(chunk_statistics, pure=True)
    level = []
    for i, (block, (start, stop)) in enumerate(zip(blocks, bounds)):
        where = f"chunk {i}" + ("" if start is None else f": samples {start}:{stop}")
        level.append(task(network, block, where, template, batch_size, backend_name, batches is not None, regimes,
                          dask_key_name=(f"{CHUNK_TASK}-{token}", i)))
    leaves, depth = list(level), 0
    merge = dask.delayed(merge_chunk_statistics, pure=True)
    while len(level) > 1:
        depth += 1
        level = [merge(network, *level[i:i + SPLIT_EVERY], dask_key_name=(f"{MERGE_TASK}-{token}", depth, i))
                 if len(level[i:i + SPLIT_EVERY]) > 1 else level[i] for i in range(0, len(level), SPLIT_EVERY)]
    total = None if math.isnan(X.shape[0]) else int(X.shape[0])
    counter = progress.counter(label, total)
    if client is not None:
        result = _compute_on_client(client, level[0], leaves, counter, token)
    else:
        result = _compute_locally(dask, level[0], counter, f"{CHUNK_TASK}-{token}")
    counter.close()
    if result.problem:
        kind, message = result.problem
        raise (TypeError if kind == "TypeError" else ValueError)(message)
    if result.samples == 0:  # only an array of unknown size gets here (check_dask_array refuses a known 0)
        raise ValueError(f"X: no data (a Dask array of unknown size, shape {X.shape}, whose {len(leaves)} chunk(s) "
                         "held no samples)")
    for k, s in enumerate(result.statistics(net)):
        stats[k] = s
    if batches is not None:
        batches.extend(result.batches)
    return result.samples


def check_workers_import_refpattern(client) -> None:
    """Raise ``ImportError`` naming the workers of ``client`` that cannot import refpattern (every
    task runs refpattern's code there), before anything is sent: the scatter of the network failed
    there with a bare ``Exception`` wrapping a ``ModuleNotFoundError`` from Dask's deserializer.
    One round trip (``client.run`` of :func:`importlib.util.find_spec`, which any worker can unpickle)."""
    found = client.run(importlib.util.find_spec, "refpattern", on_error="return")
    missing = sorted(address for address, spec in found.items()
                     if not isinstance(spec, importlib.machinery.ModuleSpec))
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise ImportError(f"refpattern cannot be imported on {len(missing)} of the {len(found)} Dask worker(s) "
                          f"({shown}); a fit runs refpattern's code on every worker: install the same refpattern "
                          "there (pip install refpattern), or start the workers where it is importable")


def configured_retries(dask) -> int:
    """``dask.config``'s ``refpattern.retries`` (:data:`RETRIES` when unset): an int >= 0, else a
    ``TypeError``/``ValueError`` naming the key, before any work."""
    return check_count(dask.config.get("refpattern.retries", RETRIES), 'dask.config "refpattern.retries"', minimum=0)


def _compute_on_client(client, root, leaves, counter, token) -> ChunkStatistics:
    """Run the tree on a ``distributed`` client with retries; the counter advances as chunks finish."""
    dask = import_dask("dask")
    distributed = import_dask("distributed")
    count = dask.delayed(chunk_samples, pure=True)
    markers = [count(leaf, dask_key_name=(f"{COUNT_TASK}-{token}", i)) for i, leaf in enumerate(leaves)]
    retries = configured_retries(dask)
    futures = client.compute([root, *markers], retries=retries)
    try:
        for future in distributed.as_completed(futures[1:]):
            counter.update(future.result())
        return futures[0].result()
    finally:
        client.cancel(futures)  # on an error or Ctrl-C, nothing keeps running; done futures are released


def _compute_locally(dask, root, counter, chunk_key) -> ChunkStatistics:
    """Run the tree on Dask's configured local scheduler; the counter advances as chunks finish."""
    callbacks = importlib.import_module("dask.callbacks")

    def finished(key, result, dsk, state, worker_id):
        if isinstance(key, tuple) and key[0] == chunk_key:
            counter.update(result.samples)

    with callbacks.Callback(posttask=finished):
        (result,) = dask.compute(root)
    return result


__all__ = ["ChunkStatistics", "DASK_EXTRA", "NetworkFile", "RETRIES", "SPLIT_EVERY", "accumulate_dask_array",
           "check_dask_array", "chunk_statistics", "dask_array_from_npy", "first_samples_regimes", "import_dask",
           "is_dask_collection",
           "merge_chunk_statistics", "read_npy_rows", "worker_network"]
