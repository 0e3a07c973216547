"""One pass over the data: batches of an array or an iterable, each through the network's forward
pass, each kernel layer's (input, output) added to its statistics as soon as both exist.

Every fit reads its data through :func:`stream_batches` — :func:`refpattern.patterns.fit.fit_statistics`,
the passes of a fit under a memory limit, and a worker's chunk of a fit on Dask
(:mod:`refpattern.patterns.distributed`) — so all of them take the same numbers from the same batch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import numpy as np

from refpattern.network.elementwise import ReLU
from refpattern.network.sequential import Sequential
from refpattern.network.validation import check_count


def check_batch_size(batch_size) -> int:
    """``batch_size``: an int >= 1 (:func:`~refpattern.network.validation.check_count`)."""
    return check_count(batch_size, "batch_size")


def check_network(net) -> None:
    if not isinstance(net, Sequential):
        raise TypeError(f"net: expected a refpattern.Sequential, got {type(net).__name__}")


def iter_batches(X, batch_size: int):
    """Batches of ``X``: slices of ``batch_size`` samples of an array, or the items of an iterable
    of arrays (each one a batch, used as given).  Yields arrays; never copies an array input."""
    if isinstance(X, np.ndarray):
        if X.ndim == 0:
            yield X  # refused by net.check_input with a clear message
            return
        for start in range(0, X.shape[0], batch_size):
            yield X[start:start + batch_size]
        return
    if isinstance(X, (str, bytes, Mapping, set, frozenset)) or not hasattr(X, "__iter__"):
        # (a dict iterates its keys and a set has no order: neither is a sequence of batches)
        raise TypeError(f"X: expected an array or an iterable of arrays (batches), got {type(X).__name__}")
    yield from X


def accumulate_batch(net, stats, x, backend) -> None:
    """The forward pass of one batch, adding each kernel layer's (input, output) to its statistics
    as soon as both exist.  Only two activations are alive at a time (the same numbers as
    ``net.trace`` up to rounding, without keeping the whole trace).

    Parameters
    ----------
    stats : sequence
        One entry per kernel layer of ``net`` (``stats[k]`` for ``net.kernel_layers[k]``): a
        :class:`~refpattern.patterns.statistics.LayerStatistics` to add to, possibly for a block
        of the layer's neurons, or None for a layer this pass takes no statistics of.  The
        forward pass stops after the last kernel layer that has statistics.
    backend : Backend
        The kernels (:func:`refpattern.kernels.get_backend`).  Where the backend has a
        ``forward_statistics``, a kernel layer whose statistics cover the whole layer gets its
        output and its statistics from one pass over the patches.
    """
    taken = [k for k, layer_stats in enumerate(stats) if layer_stats is not None]
    if not taken:
        return
    layers = net.layers[:net.kernel_indices[taken[-1]] + 1]
    a = x
    kernel = 0
    skip_relu = False
    for index, layer in enumerate(layers):
        if skip_relu:  # already applied in place below
            skip_relu = False
            continue
        if not layer.is_kernel:
            a = layer.forward(a, backend)
            continue
        layer_stats = stats[kernel]
        kernel += 1
        relu_next = index + 1 < len(layers) and isinstance(layers[index + 1], ReLU)
        if layer_stats is not None and backend.forward_statistics is not None and layer_stats.covers_layer:
            a = layer_stats.forward_accumulate(a, backend, relu=relu_next)
            skip_relu = relu_next
            continue
        out = layer.forward(a, backend)
        if layer_stats is not None:
            layer_stats.accumulate(a, out if layer_stats.covers_layer else out[:, layer_stats.neurons], backend)
        if relu_next:
            np.maximum(out, 0.0, out=out)  # the kernel output is ours and no longer needed
            skip_relu = True
        a = out


def batch_digest(x) -> bytes:
    """The SHA-256 digest (its first 16 bytes) of one checked batch ``x`` (``net.check_input``:
    float64, C order): its shape, then its values' bytes in C order.  Equal digests mean the same
    values in the same shape (a float32 or Fortran-ordered batch reads as the float64 C-ordered
    array it converts to); one changed value, sample or batch boundary changes the digest
    (``docs/backends.md#memory-limit-same-data``).  SHA-256 rather than BLAKE2b: with the CPU's SHA
    instructions it reads about 1.7 GB/s, BLAKE2b 0.9."""
    x = np.ascontiguousarray(x, dtype=np.float64)  # no copy for a checked batch
    digest = hashlib.sha256(np.asarray(x.shape, dtype=np.int64).tobytes())
    digest.update(x)
    return digest.digest()[:16]


def stream_batches(net, stats, X, batch_size: int, backend, counter, batches=None) -> int:
    """One pass over the data: every batch of ``X`` checked (``net.check_input``, batches counted
    from 1 in messages) and added to ``stats`` (:func:`accumulate_batch`); returns the number of
    samples read.  ``batches``: None, or a list to which ``(samples, batch_digest(x))`` of every
    batch is appended in order (what a fit in several passes compares across passes,
    :func:`~refpattern.patterns.passes.check_same_batches`)."""
    samples = 0
    for number, batch in enumerate(iter_batches(X, batch_size), start=1):
        x = net.check_input(batch, f"X (batch {number})")
        if batches is not None:
            batches.append((x.shape[0], batch_digest(x)))
        try:
            accumulate_batch(net, stats, x, backend)
        except ValueError as error:  # a magnitude float64 cannot carry (docs/conventions.md#scale)
            raise ValueError(f"X (batch {number}): {error}") from None
        samples += x.shape[0]
        counter.update(x.shape[0])
    counter.close()
    return samples


def samples_total(X):
    """The number of samples of ``X`` when it is an array (for a progress counter's total), else None."""
    return X.shape[0] if isinstance(X, np.ndarray) and X.ndim else None


__all__ = ["accumulate_batch", "batch_digest", "check_batch_size", "check_network", "iter_batches", "samples_total",
           "stream_batches"]
