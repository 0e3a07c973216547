"""A pattern fit under a memory limit: the statistics in several passes over the data.

The sums of one kernel layer with ``D`` inputs per neuron and ``O`` neurons hold three (D, O)
float64 arrays (:mod:`refpattern.patterns.statistics`): 3 × the layer's weights.  A one-pass
S_a± fit of VGG-16 therefore holds its weights (1.03 GiB), the sums of every kernel layer
(3.09 GiB; the 25088→4096 dense layer alone 2.30 GiB) and the patterns it returns (2.06 GiB).
With ``fit_patterns(..., memory_limit=...)`` the sums held at once stay under the limit:

1. :func:`plan_passes` takes the kernel layers in forward order; a layer whose sums exceed the
   limit is split into the fewest equal-ish blocks of neurons that each fit; the items (whole
   layers or blocks) are packed greedily into passes, in forward order, while a pass's sums stay
   within the limit.
2. :func:`~refpattern.patterns.fit.fit_patterns_in_passes` runs over all the data once per pass,
   with statistics only for that pass's items (the forward pass stops after the last of them),
   then estimates their patterns (:class:`~refpattern.patterns.estimate.LayerEstimate`, which
   stitches the blocks of a layer into its full pattern arrays) and drops their sums before the
   next pass.

This module plans, and checks what the passes read (:func:`check_same_batches`,
:func:`check_same_shift`); it reads no data.

The numbers are those of the one-pass fit: a neuron's sums depend only on the data and on the
layer's shift ``c``, which every block takes from the same first chunk of the first batch, and its
pattern depends only on its own sums.  The price is time: every pass runs the forward pass again,
up to its last layer.
"""

from __future__ import annotations

import numbers
import re

import numpy as np

#: Unit suffixes of a memory limit given as text, in bytes (KiB … 1024-based, kB … 1000-based).
MEMORY_UNITS = {"": 1, "B": 1, "KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30, "TIB": 1 << 40,
                "KB": 10 ** 3, "MB": 10 ** 6, "GB": 10 ** 9, "TB": 10 ** 12}
_MEMORY_TEXT = re.compile(r"\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([A-Za-z]*)\s*")


def parse_memory_limit(memory_limit, name: str = "memory_limit"):
    """``memory_limit`` in bytes: None, a positive int, or text such as ``"512MiB"``,
    ``"1.5GiB"``, ``"300MB"`` or ``"4096"``.

    KiB, MiB, GiB, TiB are powers of 1024; kB, MB, GB, TB powers of 1000 (case-insensitive);
    plain digits (or a ``B`` suffix) are bytes; a fractional amount of a unit is rounded down to
    whole bytes.  Raises ``ValueError`` naming ``name`` and the value for anything else (a bool, a
    float, zero, a negative number, unknown text).
    """
    if memory_limit is None:
        return None
    expected = 'a positive int number of bytes or text such as "512MiB", "1.5GiB", "300MB"'
    if isinstance(memory_limit, (bool, np.bool_)) or not isinstance(memory_limit, (numbers.Integral, str)):
        raise ValueError(f"{name}: expected None, {expected}; got {memory_limit!r} "
                        f"({type(memory_limit).__name__})")
    if isinstance(memory_limit, str):
        match = _MEMORY_TEXT.fullmatch(memory_limit)
        unit = match and MEMORY_UNITS.get(match.group(2).upper())
        if not unit:
            units = "KiB, MiB, GiB, TiB (1024-based), kB, MB, GB, TB (1000-based) or B"
            raise ValueError(f"{name}: expected {expected} (units {units}); got {memory_limit!r}")
        if unit == 1 and "." in match.group(1):
            raise ValueError(f"{name}: expected {expected} (a fraction needs a unit); got {memory_limit!r}")
        value = int(float(match.group(1)) * unit)
    else:
        value = int(memory_limit)
    if value < 1:
        raise ValueError(f"{name}: expected {expected}; got {memory_limit!r} ({value} bytes)")
    return value


def statistics_bytes(n_inputs: int, n_neurons: int, second_moment: bool = False) -> int:
    """Bytes of the arrays a :class:`~refpattern.patterns.statistics.LayerStatistics` of
    ``n_neurons`` neurons (a layer or a block of its neurons) with ``n_inputs`` inputs each holds.

    ``products`` (D, 3O) float64 (``Σx̃(ỹ⊙(1 − g))ᵀ``, ``Σx̃(ỹ⊙g)ᵀ``, each neuron's ``Σx̃gᵀ`` or
    ``Σx̃(1 − g)ᵀ``), ``sum_x`` and the shift ``c`` (D,) each, ``n_plus`` (O,) int64, ``sum_y_minus``,
    ``sum_y_plus``, ``sum_yy_minus``, ``sum_yy_plus`` and its copy of the bias (O,) each, the flags
    ``closed_inputs`` (O,) bool, and ``sum_xx`` (D, D) with ``second_moment``::

        8 · (3·D·O + 2·D + 6·O) + O   (+ 8·D² with second_moment)

    The filters are a read-only view of the layer's weights and cost nothing.
    """
    d, o = int(n_inputs), int(n_neurons)
    return 8 * (3 * d * o + 2 * d + 6 * o + (d * d if second_moment else 0)) + o


def layer_statistics_bytes(layer, neurons=None) -> int:
    """:func:`statistics_bytes` of a kernel layer (or of the block ``neurons``, a slice)."""
    n_out = layer.weight.shape[0]
    start, stop, _ = (slice(None) if neurons is None else neurons).indices(n_out)
    return statistics_bytes(int(np.prod(layer.weight.shape[1:])), stop - start)


def split_neurons(n_inputs: int, n_neurons: int, memory_limit: int, where: str = "a layer") -> list:
    """The fewest equal-ish blocks (sizes differ by at most 1) of ``range(n_neurons)`` whose
    sums each fit ``memory_limit`` bytes, as slices; ``[slice(0, n_neurons)]`` if the whole layer fits.

    Raises ``ValueError`` if even one neuron's sums do not fit.
    """
    if statistics_bytes(n_inputs, 1) > memory_limit:
        raise ValueError(f"memory_limit: {memory_limit} bytes cannot hold the statistics of even one neuron of "
                         f"{where} (D = {n_inputs} inputs per neuron: {statistics_bytes(n_inputs, 1)} bytes); "
                         "give a larger limit")
    low, high = 1, n_neurons  # the most neurons whose sums fit: statistics_bytes grows with O
    while low < high:
        middle = (low + high + 1) // 2
        if statistics_bytes(n_inputs, middle) <= memory_limit:
            low = middle
        else:
            high = middle - 1
    blocks = -(-n_neurons // low)
    bounds = [block * n_neurons // blocks for block in range(blocks + 1)]
    return [slice(start, stop) for start, stop in zip(bounds[:-1], bounds[1:])]


def plan_passes(net, memory_limit) -> list:
    """Which statistics each pass over the data takes, so that no pass holds more than
    ``memory_limit`` bytes of sums (:func:`statistics_bytes`).

    Parameters
    ----------
    net : Sequential
    memory_limit : int, str or None
        As in :func:`parse_memory_limit`; None: one pass with every kernel layer.

    Returns
    -------
    list of passes
        Each pass a list of ``(kernel_index, neurons)`` items, ``neurons`` a ``slice(start, stop)``
        of the layer's output neurons, in forward order.  Every neuron of every kernel layer is in
        exactly one item; a layer appears at most once in a pass; a layer that does not fit the
        limit is split into the fewest equal-ish blocks that do (:func:`split_neurons`), and items
        are packed greedily into passes while a pass's sums stay within the limit.

    Raises ``ValueError`` if the limit cannot hold one neuron's sums of some layer.
    """
    limit = parse_memory_limit(memory_limit)
    kernels = net.kernel_layers
    if limit is None:
        return [[(k, slice(0, layer.weight.shape[0])) for k, layer in enumerate(kernels)]] if kernels else []
    passes, current, used = [], [], 0
    for k, layer in enumerate(kernels):
        n_inputs = int(np.prod(layer.weight.shape[1:]))
        where = f"kernel layer {k} (net.layers[{net.kernel_indices[k]}], {layer!r})"
        for neurons in split_neurons(n_inputs, layer.weight.shape[0], limit, where):
            size = statistics_bytes(n_inputs, neurons.stop - neurons.start)
            if current and (used + size > limit or current[-1][0] == k):
                passes.append(current)
                current, used = [], 0
            current.append((k, neurons))
            used += size
    if current:
        passes.append(current)
    return passes


def check_plan(net, plan) -> list:
    """``plan`` (:func:`plan_passes`) checked against ``net``: a list of passes, each a list of
    ``(kernel_index, neurons)`` items, ``kernel_index`` an int in ``range(len(net.kernel_layers))``
    and a kernel layer at most once per pass (``neurons`` is checked where its statistics are made).
    Returns the plan with plain ints; raises ``TypeError``/``ValueError`` naming the pass and item."""
    kernels = len(net.kernel_indices)
    if not isinstance(plan, (list, tuple)):
        raise TypeError(f"plan: expected a list of passes (plan_passes), each a list of (kernel_index, neurons) "
                        f"items, got {type(plan).__name__}")
    checked = []
    for number, items in enumerate(plan, start=1):
        if not isinstance(items, (list, tuple)):
            raise TypeError(f"plan: pass {number}: expected a list of (kernel_index, neurons) items, got "
                            f"{type(items).__name__}")
        seen = set()
        for item in items:
            if not (isinstance(item, (list, tuple)) and len(item) == 2):
                raise TypeError(f"plan: pass {number}: expected (kernel_index, neurons) items, got {item!r}")
            k = item[0]
            if isinstance(k, (bool, np.bool_)) or not isinstance(k, numbers.Integral):
                raise TypeError(f"plan: pass {number}: kernel_index must be an int, got {k!r} ({type(k).__name__})")
            if not 0 <= k < kernels:
                raise ValueError(f"plan: pass {number}: kernel_index {k} is not one of the network's {kernels} kernel "
                                 f"layers (0 to {kernels - 1})")
            if int(k) in seen:
                raise ValueError(f"plan: pass {number}: kernel layer {k} appears twice (a layer at most once per pass; "
                                 "its blocks of neurons go in different passes)")
            seen.add(int(k))
        checked.append([(int(k), neurons) for k, neurons in items])
    return checked


def pass_bytes(net, items) -> int:
    """:func:`statistics_bytes` of one pass of :func:`plan_passes`."""
    kernels = net.kernel_layers
    return sum(layer_statistics_bytes(kernels[k], neurons) for k, neurons in items)


# --- the data, once per pass, and the blocks' shared shift -------------------------------------

def data_source(X, n_passes: int):
    """A function returning the data ``X`` afresh for each pass (what :func:`iter_batches` reads).

    ``X`` may be an array, a callable returning a fresh array or iterable of batches on every call,
    or an iterable whose ``iter()`` starts over every time (a list, a tuple, a re-iterable
    object).  A one-shot iterator (``iter(X) is X``, e.g. a generator) is refused with a
    ``ValueError`` when ``n_passes > 1``, before anything is read from it.
    """
    if callable(X) and not isinstance(X, np.ndarray):
        return X
    if n_passes > 1 and not isinstance(X, (np.ndarray, str, bytes)) and hasattr(X, "__iter__") and iter(X) is X:
        raise ValueError(
            f"X: the memory limit needs {n_passes} passes over the data, but X is a one-shot iterator "
            f"({type(X).__name__}) that can be read only once; pass an array, a list of batches, an "
            "iterable whose iter() starts over, or a function returning a fresh iterable of batches "
            "(e.g. lambda: my_batches()), or raise memory_limit")
    return lambda: X


def check_same_batches(first, batches, number: int, n_passes: int) -> None:
    """Every pass must read the same data in the same batches: ``batches`` is what pass ``number``
    read, ``first`` what pass 1 read, each a list of ``(samples, digest)`` per batch in order
    (:func:`~refpattern.patterns.streaming.stream_batches`; the digest covers the batch's float64
    values in C order, :func:`~refpattern.patterns.streaming.batch_digest`).  Exact, as the data are
    fed, not as the network computes them: a source that draws new samples, augments at random,
    shuffles or batches otherwise is refused, whichever layers the passes take
    (``docs/backends.md#memory-limit-same-data``).  Raises ``ValueError`` naming the pass and its
    first batch that differs."""
    if batches == first:
        return
    index = next((i for i, (now, before) in enumerate(zip(batches, first)) if now != before),
                 min(len(batches), len(first)))
    start = sum(samples for samples, _ in first[:index])
    where = f"X: pass {number} of {n_passes} saw other data than pass 1"
    if index == min(len(batches), len(first)):  # (the sample counts were compared first)
        what = f"it read {len(batches)} batches, pass 1 read {len(first)}"
    elif batches[index][0] != first[index][0]:
        what = (f"its batch {index + 1} (from sample {start}) holds {batches[index][0]} samples, pass 1's held "
                f"{first[index][0]}")
    else:
        what = f"its batch {index + 1} (samples {start}:{start + first[index][0]}) holds other values than pass 1's"
    raise ValueError(f"{where}: {what}; every pass must read the same data in the same batches (give an array, a "
                     "list of batches or a function returning the same batches on every call: no random draws, "
                     "augmentation or shuffling between calls)")


def check_same_shift(first, stats, number: int) -> None:
    """Blocks of one layer take their shift ``c`` from the same first chunk and see the same inputs:
    ``first`` is :func:`block_inputs` of the layer's first block.  The shifts, and the sums of the
    inputs ``Σx = σ·Σx̃ + n·c`` (every block holds them), must agree up to the rounding of the
    forward pass (which may take another kernel path in another pass): ``1e-9`` of the largest
    shift, and ``1e-9·n·max|x|``.  The second catches a pass whose first batch is the same but whose
    later batches are not."""
    shift, sum_x, scale, peak = first
    where = f"X: in pass {number}, kernel layer {stats.kernel_index} ({stats.layer_name})"
    if np.max(np.abs(stats.shift - shift), initial=0.0) > 1e-9 * float(np.max(np.abs(shift), initial=0.0)):
        raise ValueError(f"{where} saw other data or other batches than in an earlier pass (the mean of its first "
                         "inputs differs); every pass must read the same data in the same batches")
    unit = max(scale, stats.scale)  # powers of two: the ratios below are exact
    n = float(stats.n)
    earlier = sum_x * (scale / unit) + n * (shift / unit)
    now = stats.sum_x * (stats.scale / unit) + n * (stats.shift / unit)
    if np.max(np.abs(now - earlier), initial=0.0) > 1e-9 * n * max(peak, stats.peak) / unit:
        raise ValueError(f"{where} saw other data than in an earlier pass (the sum of its inputs differs); every "
                         "pass must read the same data in the same batches")


def block_inputs(stats) -> tuple:
    """What :func:`check_same_shift` compares a later block of the layer with: ``(c, Σx̃, σ, max|x|)``."""
    return stats.shift, stats.sum_x.copy(), stats.scale, stats.peak


__all__ = ["block_inputs", "check_plan", "check_same_batches", "check_same_shift", "data_source", "parse_memory_limit",
           "pass_bytes", "plan_passes", "split_neurons", "statistics_bytes"]
