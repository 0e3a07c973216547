"""Numba CPU: the fused pattern-statistics pass of one kernel layer (Dense or Conv2D).

The fast twin of the readable per-batch path in :mod:`refpattern.patterns.statistics`
(``patch_matrix`` → shift → ``Ỹ = P̃Wᵀ`` → :func:`~refpattern.patterns.statistics.batch_sums`);
``tests/test_statistics_kernels.py`` holds the two together to 1e-12 relative.

For one batch with ``M`` observations (rows), ``D`` inputs and ``O`` neurons, with ``P̃`` the
shifted patch matrix (``x̃ = x − c``, padded positions included as ``0 − c``), ``Ỹ = P̃Wᵀ``
and the gate ``G = [z > 0]`` read from the layer's forward output ``z`` (bias included), it adds
in place::

    products += P̃ᵀ·[Ỹ⊙(1 − G) | Ỹ⊙G | G ⊕ F]   (D, 3O): Σx̃(ỹ⊙(1 − g))ᵀ, Σx̃(ỹ⊙g)ᵀ and, per neuron,
                                             Σx̃(1 − g) where F (closed_inputs) is set, else Σx̃g
    sum_x    += Σ x̃                         (D,)
    n_plus   += Σ g                         (O,)  int64
    output_sums += [Σỹ⊙(1 − g); Σỹ⊙g; Σỹ²⊙(1 − g); Σỹ²⊙g]   (4, O)
    sum_xx   += P̃ᵀP̃                        (D, D), only when given (ρ needs it)

How: the observations (rows of ``P̃``; for Conv2D whole output rows ``(n, p)``) are cut into one
contiguous range per worker thread (:func:`refpattern.kernels.workers.run_in_ranges`), and each
worker runs the whole pass over its range in one ``@njit(nogil=True)`` loop
(:func:`_statistics_range`), per chunk of at most :data:`MAX_CHUNK_ELEMENTS` patch entries
(buffers reused, small enough to stay in the core's cache), with BLAS on one thread:

1. a loop writes the shifted patches straight from the input, *transposed* (``P̃ᵀ``, (D, M), the
   im2col layout of :mod:`refpattern.kernels.numba_cpu`), and adds up ``sum_x`` on the way
   (Dense: ``P̃`` = ``x − c`` as (M, D));
2. one GEMM writes ``Ỹᵀ = W·P̃ᵀ`` into the first ``O`` rows of ``right`` (3O, M);
3. a loop reads the gate from ``z``, fills the other ``2O`` rows of ``right``, overwrites the first
   ``O`` with ``Ỹ⊙(1 − G)`` (so ``right = [Ỹ⊙(1 − G) | Ỹ⊙G | G ⊕ F]ᵀ``, the last block the gate of the
   regime whose input sums a neuron keeps, ``docs/math.md#regime-input-sums``) and adds up the ``O``-vectors;
4. ONE GEMM adds ``right·P̃`` into the worker's own ``(3O, D)`` sums, the orientation in which
   BLAS runs these shapes fastest (``benchmarks/README.md``); the caller adds the workers' sums,
   transposed, into ``products`` in range order (``sum_x`` … likewise; the first worker adds
   those in place).

Where the workers' own sums would be large (more than :data:`MAX_WORKER_SUM_ELEMENTS` entries in
all: VGG-16's dense layers), or a call has too few observations to pay for them (fewer than
:data:`MIN_OBSERVATIONS_PER_WORKER` per worker: a dense layer's batch), the pass runs as one range
whose step 4 adds ``P̃ᵀ·right`` straight into the caller's ``products`` with ``beta = 1``
(:func:`refpattern.kernels.blas.gemm` on the C-ordered buffer), BLAS threading as it does by
itself: no (D, O) temporary is ever made, which is what keeps the 25088→4096 layer of VGG-16 within
its 3 × 822 MB of sums.  The sums of a call therefore depend, in the last bits, on the number of
workers; for one machine and thread count they are the same every run.

``forward_statistics`` is the same pass that also returns the layer's output: the fit's forward
pass and its statistics share one patch matrix and one product.  The output is read off the
shifted product, ``z = ỹ + (b + Wc)``, instead of a second GEMM on unshifted patches.  That is
exact for the statistics (they still come from ``Ỹ = P̃Wᵀ``), and ``z`` has an error bound,
``γ·(Σ|w||x̃| + Σ|w||c| + |b|)``, of the size of a direct product's ``γ·(Σ|w||x| + |b|)`` (the shift
``c`` is a mean of the data, so ``|x̃|`` and ``|c|`` are of the size of ``|x|``; with inputs far
from zero, ``|x̃| ≪ |x|``, it is smaller).  The two differ in the last bits, so the fit's
activations equal ``net.forward``'s up to rounding.  Where the bound cannot vouch for the sign of ``z``
(``|z| ≤ τ``, see :func:`_offsets_and_tolerances`) the kernel evaluates ``wᵀx + b`` directly from
``x``, as the forward pass does, so gates are never decided by rounding noise: a zero-bias unit
on an all-zero patch (a dead region after a ReLU) stays exactly 0 and closed, as in the forward pass.

All BLAS calls go to SciPy's BLAS (the library Numba's ``np.dot`` also uses), from ``@njit`` code
(:mod:`refpattern.kernels.blas`).  The kernels assume valid input:
:class:`~refpattern.patterns.statistics.LayerStatistics` checks the batch and owns the running sums
(C-contiguous, of the right shapes).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from refpattern.kernels.blas import DGEMM, gemm
from refpattern.kernels.numpy_reference import conv_output_size
from refpattern.kernels.workers import blas_threads_controllable, run_in_ranges, worker_count

__all__ = ["MAX_CHUNK_ELEMENTS", "MAX_WORKER_SUM_ELEMENTS", "accumulate_statistics", "forward_statistics"]

#: Largest chunk buffer (patch entries ``M·D``, or ``M·3O`` for the right-hand side) a worker
#: builds at once (2 MiB: the core's cache keeps it between the products that read it).
MAX_CHUNK_ELEMENTS = 1 << 18
#: Largest number of sum entries (``products``, and ``sum_xx`` when kept) the workers hold of their
#: own during a call, all together: a layer with larger sums runs on fewer workers, or as one range
#: with BLAS threading as it does by itself (VGG-16's dense layers).
MAX_WORKER_SUM_ELEMENTS = 1 << 23
#: Least multiply-adds a worker is given; smaller batches run on fewer threads.
MIN_WORK_PER_WORKER = 1 << 20
#: Least observations (patch-matrix rows) a worker is given: zeroing its own sums and adding them up
#: costs about as much as its products on a few hundred observations (a dense layer's batch), so
#: such a call runs as one range with BLAS threading as it does by itself.
MIN_OBSERVATIONS_PER_WORKER = 1024

_NO_VECTOR = np.empty(0)
_NO_ROWS = np.empty((0, 0))
_NO_IMAGE = np.empty((0, 0, 0, 0))


# --------------------------------------------------------------------------------------
# the two loops: shifted patches, and the right-hand side with the gate
# --------------------------------------------------------------------------------------


# ``fastmath={"reassoc"}`` (and nothing else: no assumption about NaN, infinities or signed zeros)
# lets LLVM vectorise the running sums; it changes only the order of the additions.


@njit(cache=True, nogil=True, fastmath={"reassoc"})
def _shifted_columns(x, shift, kh, kw, sh, sw, pad_top, pad_left, oh, ow, row_begin, row_end, cols, sum_x):
    """Shifted patches of output rows ``[row_begin, row_end)``, transposed, and their sum.

    An output *row* is a pair ``(n, p)`` numbered ``n·OH + p``; it holds ``OW`` observations.
    ``cols[k, (r − row_begin)·OW + q] = x_pad[n, c, p·sh + i, q·sw + j] − shift[k]`` with
    ``k = (c·kh + i)·kw + j`` (padded positions read 0), and ``sum_x[k] += Σ_m cols[k, m]``.

    x : (N, C, H, W) float64; shift : (D,); cols : (D, (row_end − row_begin)·OW), written;
    pad_top, pad_left : the zero rows above and columns left of the image (the first window starts at
    ``(−pad_top, −pad_left)``; the bottom/right padding enters only through ``OH``, ``OW``)
    """
    channels, height, width = x.shape[1], x.shape[2], x.shape[3]
    for c in range(channels):
        for i in range(kh):
            for j in range(kw):
                k = (c * kh + i) * kw + j
                centre = shift[k]
                total = 0.0
                base = 0
                for r in range(row_begin, row_end):
                    n = r // oh
                    p = r - n * oh
                    rr = p * sh + i - pad_top
                    if rr < 0 or rr >= height:  # the whole row lies on the top/bottom padding
                        for q in range(ow):
                            cols[k, base + q] = -centre
                        total -= ow * centre
                    else:
                        for q in range(ow):
                            s = q * sw + j - pad_left
                            value = -centre
                            if s >= 0 and s < width:
                                value = x[n, c, rr, s] - centre
                            cols[k, base + q] = value
                            total += value
                    base += ow
                sum_x[k] += total


@njit(cache=True, nogil=True, fastmath={"reassoc"})
def _shifted_rows(x, shift, row_begin, row_end, rows, sum_x):
    """Dense: ``rows[m] = x[row_begin + m] − shift`` (M, D) and ``sum_x += Σ_m rows[m]``."""
    d = x.shape[1]
    for m in range(row_end - row_begin):
        for k in range(d):
            value = x[row_begin + m, k] - shift[k]
            rows[m, k] = value
            sum_x[k] += value


@njit(cache=True, nogil=True, fastmath={"reassoc"})
def _gate_rows(z, oh, ow, row_begin, row_end, closed, right, n_plus, output_sums):
    """Fill ``right`` from ``Ỹᵀ`` (its rows ``0…O`` on entry) and the gate, add the O-vectors.

    Observation ``m`` of the chunk is output position ``(n, p, q)`` of row ``r = n·OH + p``;
    ``g = 1[z[n, o, p, q] > 0]``.  ``right[o, m] = ỹ·(1 − g)`` (``ỹ − ỹ·g``: exactly ``ỹ`` or 0),
    ``right[O + o, m] = ỹ·g``, ``right[2O + o, m] = g ⊕ f_o = |g − f_o|`` (``f = closed``: 1 where the
    neuron keeps its gate-closed input sums, so that row is ``1 − g`` there); ``n_plus[o] += Σg``,
    ``output_sums[:, o] += (Σỹ(1 − g), Σỹg, Σỹ²(1 − g), Σỹ²g)``.  (Branch-free: the gate and the flag
    are 0/1 factors, so a random gate costs no mispredicted jumps.)

    z : (N, O, OH, OW) float64 (Dense: (N, O, 1, 1)); closed : (O,) float64, 0 or 1; right : (3O, M) float64
    """
    n_out = z.shape[1]
    for o in range(n_out):
        flag = closed[o]
        count = 0.0
        sum_y_minus = 0.0
        sum_y_plus = 0.0
        sum_yy_minus = 0.0
        sum_yy_plus = 0.0
        base = 0
        for r in range(row_begin, row_end):
            n = r // oh
            p = r - n * oh
            for q in range(ow):
                m = base + q
                y = right[o, m]
                g = 1.0 if z[n, o, p, q] > 0 else 0.0
                y_open = y * g
                y_closed = y - y_open
                right[o, m] = y_closed
                right[n_out + o, m] = y_open
                right[2 * n_out + o, m] = abs(g - flag)
                count += g
                sum_y_minus += y_closed
                sum_y_plus += y_open
                sum_yy_minus += y * y_closed
                sum_yy_plus += y * y_open
            base += ow
        n_plus[o] += int(count)
        output_sums[0, o] += sum_y_minus
        output_sums[1, o] += sum_y_plus
        output_sums[2, o] += sum_yy_minus
        output_sums[3, o] += sum_yy_plus


#: Unit roundoff of float64, ``2⁻⁵³``.
UNIT_ROUNDOFF = 2.0 ** -53


@njit(cache=True, nogil=True)
def _offsets_and_tolerances(weight_matrix, bias, shift, radius):
    """``offset_o = b_o + Σ_k w_ok c_k`` (so that ``z = ỹ + offset``) and the sign tolerance

        ``τ_o = 2·γ_{D+2}·(Σ_k |w_ok|·R_k + Σ_k |w_ok|·|c_k| + |b_o|)``,  ``γ_n = nu / (1 − nu)``.

    With ``x̃ = fl(x − c)`` and any summation order (BLAS blocking, FMA), ``|fl(ỹ) − wᵀ(x − c)| ≤
    γ_{D+2}·Σ|w||x̃|`` and ``|fl(offset) − (b + wᵀc)| ≤ γ_{D+1}·(Σ|w||c| + |b|)``; so a computed
    ``|z| > τ`` has the sign of the exact ``wᵀx + b`` (the factor 2 covers the final rounding and
    leaves a margin).  Serial loops: no BLAS thread pool is woken for these (O, D) passes.
    """
    n_out, d = weight_matrix.shape
    gamma = (d + 2) * UNIT_ROUNDOFF / (1.0 - (d + 2) * UNIT_ROUNDOFF)
    offsets = np.empty(n_out)
    tolerances = np.empty(n_out)
    for o in range(n_out):
        total = 0.0
        magnitude = 0.0
        for k in range(d):
            w = weight_matrix[o, k]
            total += w * shift[k]
            magnitude += abs(w) * (radius[k] + abs(shift[k]))
        offsets[o] = bias[o] + total
        tolerances[o] = 2.0 * gamma * (magnitude + abs(bias[o]))
    return offsets, tolerances


@njit(cache=True, nogil=True)
def _direct_output(x, w_row, b, n, p, q, kh, kw, sh, sw, pad_top, pad_left):
    """``wᵀx + b`` of one observation straight from the input (padded positions skipped: they are
    0), the sum first and the bias last, as the forward pass computes it."""
    channels, height, width = x.shape[1], x.shape[2], x.shape[3]
    total = 0.0
    for c in range(channels):
        for i in range(kh):
            rr = p * sh + i - pad_top
            if rr < 0 or rr >= height:
                continue
            for j in range(kw):
                s = q * sw + j - pad_left
                if s >= 0 and s < width:
                    total += w_row[(c * kh + i) * kw + j] * x[n, c, rr, s]
    return total + b


@njit(cache=True, nogil=True, fastmath={"reassoc"})
def _forward_gate_rows(x, weight_matrix, bias, offsets, tolerances, kh, kw, sh, sw, pad_top, pad_left, oh, ow,
                       row_begin, row_end, relu, out, closed, right, n_plus, output_sums):
    """:func:`_gate_rows` that also writes the layer output: ``z = ỹ + offset_o``, recomputed
    directly from ``x`` (:func:`_direct_output`) when ``|z| ≤ τ_o``; ``g = 1[z > 0]``;
    ``out[n, o, p, q] = z`` (``z·g`` when ``relu``).

    x : (N, C, H, W) (Dense: (N, D, 1, 1) with a 1×1 kernel); out : (N, O, OH, OW), written
    """
    n_out = weight_matrix.shape[0]
    for o in range(n_out):
        flag = closed[o]
        offset = offsets[o]
        tolerance = tolerances[o]
        count = 0.0
        sum_y_minus = 0.0
        sum_y_plus = 0.0
        sum_yy_minus = 0.0
        sum_yy_plus = 0.0
        base = 0
        for r in range(row_begin, row_end):
            n = r // oh
            p = r - n * oh
            for q in range(ow):
                m = base + q
                y = right[o, m]
                z = y + offset
                if abs(z) <= tolerance:  # rare: the sign is not certain, evaluate wᵀx + b exactly as the forward
                    z = _direct_output(x, weight_matrix[o], bias[o], n, p, q, kh, kw, sh, sw, pad_top, pad_left)
                g = 1.0 if z > 0 else 0.0
                if relu:
                    out[n, o, p, q] = z if z > 0 else 0.0
                else:
                    out[n, o, p, q] = z
                y_open = y * g
                y_closed = y - y_open
                right[o, m] = y_closed
                right[n_out + o, m] = y_open
                right[2 * n_out + o, m] = abs(g - flag)
                count += g
                sum_y_minus += y_closed
                sum_y_plus += y_open
                sum_yy_minus += y * y_closed
                sum_yy_plus += y * y_open
            base += ow
        n_plus[o] += int(count)
        output_sums[0, o] += sum_y_minus
        output_sums[1, o] += sum_y_plus
        output_sums[2, o] += sum_yy_minus
        output_sums[3, o] += sum_yy_plus


# --------------------------------------------------------------------------------------
# one worker's range of output rows: the whole pass, chunk by chunk, in one nogil loop
# --------------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _statistics_range(dgemm, dense, x_rows, x_image, weight_matrix, shift, kh, kw, sh, sw, pad_top, pad_left, oh, ow,
                      rows_per_chunk, forward, z, bias, offsets, tolerances, relu, out, closed, products, own_products,
                      sum_x, n_plus, output_sums, sum_xx, second_moment, start, stop):
    """The statistics of output rows ``[start, stop)`` (module docstring, steps 1–4), chunk by chunk.

    An output row is ``r = n·OH + p`` (Dense: the sample ``n``, ``OH = OW = 1``).  With
    ``own_products`` the range adds ``[Ỹ⊙(1 − G) | Ỹ⊙G | G ⊕ F]ᵀ·P̃`` into zeroed sums of its own, *transposed*,
    (3O, D) (BLAS's faster orientation for these shapes: ``benchmarks/README.md``), and returns them
    for the caller to add into ``products`` in range order; without, it adds into ``products``
    (D, 3O) in place.  The range that starts at row 0 adds the other sums (``sum_x`` … ``sum_xx``)
    in place; every other range into zeroed sums of its own, returned likewise.

    dense : the layer is Dense (``x_rows`` (N, D) is read; ``x_image`` is its (N, D, 1, 1) view)
    forward : compute the output into ``out`` (N, O, OH, OW) from ``bias``, ``offsets`` and
        ``tolerances`` (:func:`_forward_gate_rows`); else read the gate from ``z`` (:func:`_gate_rows`)
    closed : (O,) float64, ``F`` (1 where a neuron keeps its gate-closed input sums, :func:`_gate_rows`)
    second_moment : also add ``P̃ᵀP̃`` into ``sum_xx`` (else ``sum_xx`` is an unused (0, 0) array)

    Returns ``(products of this range, sum_x, n_plus, output_sums, sum_xx)``.
    """
    n_out, d = weight_matrix.shape
    if own_products:
        products = np.zeros((3 * n_out, d))
    if start != 0:
        sum_x = np.zeros_like(sum_x)
        n_plus = np.zeros_like(n_plus)
        output_sums = np.zeros_like(output_sums)
        sum_xx = np.zeros_like(sum_xx)
    chunk_rows = min(rows_per_chunk, max(1, stop - start))
    if dense:
        patches = np.empty((chunk_rows * ow, d))   # P̃ (M, D)
    else:
        patches = np.empty((d, chunk_rows * ow))   # P̃ᵀ (D, M)
    right = np.empty((3 * n_out, chunk_rows * ow))  # [Ỹ⊙(1 − G) | Ỹ⊙G | G ⊕ F]ᵀ (3O, M)
    for row_begin in range(start, stop, chunk_rows):
        row_end = min(stop, row_begin + chunk_rows)
        m = (row_end - row_begin) * ow
        # 1. shifted patches (and Σx̃); 2. Ỹᵀ (O, M) = W·P̃ᵀ into the first O rows of `right`
        if dense:
            p_rows = patches[:m]
            _shifted_rows(x_rows, shift, row_begin, row_end, p_rows, sum_x)
            gemm(dgemm, weight_matrix, p_rows, right[:n_out, :m], 0.0, False, True)
        else:
            p_cols = patches[:, :m]
            _shifted_columns(x_image, shift, kh, kw, sh, sw, pad_top, pad_left, oh, ow, row_begin, row_end, p_cols,
                             sum_x)
            gemm(dgemm, weight_matrix, p_cols, right[:n_out, :m], 0.0, False, False)
        # 3. the gate, [Ỹ⊙G | G] and the O-vectors
        if forward:
            _forward_gate_rows(x_image, weight_matrix, bias, offsets, tolerances, kh, kw, sh, sw, pad_top, pad_left,
                               oh, ow, row_begin, row_end, relu, out, closed, right, n_plus, output_sums)
        else:
            _gate_rows(z, oh, ow, row_begin, row_end, closed, right, n_plus, output_sums)
        # 4. P̃ᵀ·[Ỹ⊙(1 − G) | Ỹ⊙G | G ⊕ F]: one GEMM straight into the sums (and P̃ᵀP̃)
        if dense:
            if own_products:
                gemm(dgemm, right[:, :m], p_rows, products, 1.0, False, False)
            else:
                gemm(dgemm, p_rows, right[:, :m], products, 1.0, True, True)
            if second_moment:
                gemm(dgemm, p_rows, p_rows, sum_xx, 1.0, True, False)
        else:
            if own_products:
                gemm(dgemm, right[:, :m], p_cols, products, 1.0, False, True)
            else:
                gemm(dgemm, p_cols, right[:, :m], products, 1.0, False, True)
            if second_moment:
                gemm(dgemm, p_cols, p_cols, sum_xx, 1.0, False, True)
    return products, sum_x, n_plus, output_sums, sum_xx


def _input_radius(x, shift, padded):
    """``R[k] ≥ |x̃_k|`` for every observation: ``max(|max x − c_k|, |min x − c_k|)`` over the
    whole batch, and ``|c_k|`` too when windows reach the zero padding (``x̃ = 0 − c_k`` there)."""
    low, high = x.min(), x.max()
    radius = np.maximum(np.abs(high - shift), np.abs(low - shift))
    if padded:
        np.maximum(radius, np.abs(shift), out=radius)
    return radius


# --------------------------------------------------------------------------------------
# the public functions (arguments already checked by LayerStatistics)
# --------------------------------------------------------------------------------------


def accumulate_statistics(x, z, weight_matrix, shift, conv, products, sum_x, n_plus, output_sums,
                          sum_xx=None, max_chunk_elements=None, closed_inputs=None) -> int:
    """Twin of ``numpy_reference.accumulate_statistics``: add one batch of a kernel layer to the
    running sums, in place (module docstring).

    Parameters
    ----------
    x : ndarray
        The layer input: (N, D) for Dense, (N, C, H, W) for Conv2D.
    z : ndarray
        The layer output ``Wx + b`` (bias included; only its sign is used, for the gate):
        (N, O) or (N, O, OH, OW).
    weight_matrix : ndarray, shape (O, D)
        The filters as rows (Conv2D: ``weight.reshape(O, C·kh·kw)``).
    shift : ndarray, shape (D,)
        ``c``.
    conv : None or tuple
        None for Dense; ``(kernel_size, stride, padding)`` for Conv2D: pairs of int, ``padding``
        as ``((top, bottom), (left, right))``.
    products : ndarray, shape (D, 3O), C-contiguous float64
        ``[Σx̃(ỹ⊙(1 − g))ᵀ | Σx̃(ỹ⊙g)ᵀ | Σx̃(g ⊕ f)ᵀ]``, added to.
    sum_x : (D,) float64; n_plus : (O,) int64; output_sums : (4, O) float64
        ``Σx̃``; ``Σg``; rows ``Σỹ⊙(1 − g), Σỹ⊙g, Σỹ²⊙(1 − g), Σỹ²⊙g``.  All added to.
    sum_xx : (D, D) float64 or None
        ``Σx̃x̃ᵀ``, added to when given.
    max_chunk_elements : int or None
        The largest chunk (patch entries) a worker builds at once (None: :data:`MAX_CHUNK_ELEMENTS`).
    closed_inputs : (O,) bool or None
        ``f``: True where the third block keeps the neuron's gate-closed input sums ``Σx̃(1 − g)``,
        False (and None: every neuron) where it keeps ``Σx̃g`` (``docs/math.md#regime-input-sums``).

    Returns
    -------
    int
        The number of observations added (``N`` or ``N·OH·OW``).
    """
    x, z, weight_matrix, shift = (np.ascontiguousarray(a, dtype=np.float64) for a in (x, z, weight_matrix, shift))
    n_samples, n_out = x.shape[0], weight_matrix.shape[0]
    if conv is None:
        z = z.reshape(n_samples, n_out, 1, 1)
    return _pass(x, weight_matrix, shift, conv, (z.shape[2], z.shape[3]), products, sum_x, n_plus, output_sums,
                 sum_xx, max_chunk_elements, closed_inputs, z=z)


def forward_statistics(x, weight_matrix, bias, shift, conv, products, sum_x, n_plus, output_sums, sum_xx=None,
                       relu=False, max_chunk_elements=None, closed_inputs=None):
    """The layer's output for one batch, with the batch added to the running sums in the same pass.

    Same sums as :func:`accumulate_statistics` (to rounding), but the output ``z = Wx + b`` is
    computed here, from the shifted product (module docstring), instead of being passed in.  Its
    NumPy twin is the layer's NumPy forward pass followed by the readable statistics path;
    ``tests/test_statistics_kernels.py`` holds the output and the sums to it (1e-12 relative)
    and the sign tolerance to exact rational arithmetic.

    Parameters
    ----------
    x, weight_matrix, shift, conv, products, sum_x, n_plus, output_sums, sum_xx, max_chunk_elements, closed_inputs
        As in :func:`accumulate_statistics`.
    bias : ndarray, shape (O,)
    relu : bool
        Return ``max(z, 0)`` instead of ``z`` (the gate is ``z > 0`` either way).

    Returns
    -------
    out : ndarray
        ``z`` (or ``max(z, 0)``): (N, O) for Dense, (N, O, OH, OW) for Conv2D; a new array.
    n : int
        The number of observations added (``N`` or ``N·OH·OW``).
    """
    x, weight_matrix, bias, shift = (np.ascontiguousarray(a, dtype=np.float64)
                                     for a in (x, weight_matrix, bias, shift))
    n_samples, n_out = x.shape[0], weight_matrix.shape[0]
    if conv is None:
        oh = ow = 1
        padded = False
        output_shape = (n_samples, n_out)
    else:
        (kh, kw), (sh, sw), ((pad_top, pad_bottom), (pad_left, pad_right)) = conv
        padded = max(pad_top, pad_bottom, pad_left, pad_right) > 0  # windows may reach the zero padding
        oh = conv_output_size(x.shape[2], kh, sh, pad_top, pad_bottom)
        ow = conv_output_size(x.shape[3], kw, sw, pad_left, pad_right)
        output_shape = (n_samples, n_out, oh, ow)
    if n_samples == 0:
        return np.empty(output_shape), 0
    radius = _input_radius(x, shift, padded)
    offsets, tolerances = _offsets_and_tolerances(weight_matrix, bias, shift, radius)
    out = np.empty((n_samples, n_out, oh, ow))
    n = _pass(x, weight_matrix, shift, conv, (oh, ow), products, sum_x, n_plus, output_sums, sum_xx,
              max_chunk_elements, closed_inputs, forward=(bias, offsets, tolerances, bool(relu), out))
    return out.reshape(output_shape), n


def _pass(x, weight_matrix, shift, conv, output_size, products, sum_x, n_plus, output_sums, sum_xx,
          max_chunk_elements, closed_inputs, z=None, forward=None):
    """The pass both public functions share (:func:`_statistics_range` over the workers): the gate
    read from ``z``, or (``forward = (bias, offsets, tolerances, relu, out)``) the output computed."""
    n_out, d = weight_matrix.shape
    closed = np.zeros(n_out) if closed_inputs is None else np.asarray(closed_inputs, dtype=np.float64)
    n_samples = x.shape[0]
    oh, ow = output_size
    dense = conv is None
    if dense:
        x_rows, x_image, geometry = x, x.reshape(n_samples, d, 1, 1), (1, 1, 1, 1, 0, 0)
    else:  # the bottom/right padding enters through oh, ow only
        (kh, kw), (sh, sw), ((pad_top, _), (pad_left, _)) = conv
        x_rows, x_image, geometry = _NO_ROWS, x, (kh, kw, sh, sw, pad_top, pad_left)
    if forward is None:
        forward_arguments = (False, z, _NO_VECTOR, _NO_VECTOR, _NO_VECTOR, False, _NO_IMAGE)
    else:
        forward_arguments = (True, _NO_IMAGE) + tuple(forward)
    second_moment = sum_xx is not None
    sum_xx_array = sum_xx if second_moment else _NO_ROWS
    rows_total = n_samples * oh
    if max_chunk_elements is None:
        max_chunk_elements = MAX_CHUNK_ELEMENTS
    rows_per_chunk = max(1, max_chunk_elements // (ow * max(d, 3 * n_out)))
    head = (DGEMM, dense, x_rows, x_image, weight_matrix, shift, *geometry, oh, ow, rows_per_chunk,
            *forward_arguments, closed, products)
    tail = (sum_x, n_plus, output_sums, sum_xx_array, second_moment)
    # every worker adds into sums of its own (the (3O, D) products; all but the first worker the others
    # too), where they are small enough to copy and each worker gets enough observations to pay for
    # them; otherwise one range adds in place, with BLAS threading as it does by itself (its GEMMs are
    # large then: a dense layer's batch, VGG-16's dense layers)
    # (with a single worker: one range on one BLAS thread, as every other kernel then runs)
    own = products.size + (sum_xx.size if second_moment else 0)
    workers = worker_count()
    parts = min(workers, MAX_WORKER_SUM_ELEMENTS // max(1, own), rows_total * ow // MIN_OBSERVATIONS_PER_WORKER)
    single = workers == 1 and blas_threads_controllable() and own <= MAX_WORKER_SUM_ELEMENTS
    if parts < 2 and not single:
        _statistics_range(*head, False, *tail, 0, rows_total)
        return rows_total * ow
    ranges = run_in_ranges(_statistics_range, rows_total, *head, True, *tail,
                           grain=max(1, MIN_WORK_PER_WORKER // (ow * d * 4 * n_out)), parts=max(1, parts))
    for number, partial in enumerate(ranges):  # in range order
        products += partial[0].T
        if number:
            sum_x += partial[1]
            n_plus += partial[2]
            output_sums += partial[3]
            if second_moment:
                sum_xx += partial[4]
    return rows_total * ow
