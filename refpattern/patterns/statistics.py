"""Sufficient statistics for the signal estimators and for ρ: sums that stream and merge.

For one kernel layer (Dense or Conv2D) with ``O`` output neurons and ``D`` inputs per neuron
(``D = in`` for Dense, ``D = C·kh·kw`` for Conv2D), every *observation* is one input vector
``x ∈ R^D``: a sample for Dense, a (sample, output position) receptive-field patch for Conv2D,
taken with the layer's own stride and zero padding (padded border patches included) and
flattened in ``(C, kh, kw)`` order (``docs/math.md#observations``).  Neuron ``o`` sees

- ``y_o = w_oᵀx`` (no bias: a bias never changes a covariance), and
- the ReLU gate ``g_o = 1[w_oᵀx + b_o > 0]`` (bias included), which splits the observations
  into the gate-open regime (``+``) and the gate-closed regime (``−``).

Everything the estimators (``S_a``, ``S_a±``, Sec. 4) and ρ (Eq. 1) need is a function of sums
over observations.  To stay accurate when the inputs carry a large offset, the sums are taken
around a *shift* ``c ∈ R^D`` (the mean observation of the first samples seen, :data:`SHIFT_SAMPLE_ELEMENTS`,
rounded to a binary grid a thousandth of each feature's spread, :func:`grid_shift`),
and, so that products of inputs neither overflow nor turn subnormal at any data scale, in units
of a power of two ``σ = 2^e`` per layer, the *scale* (``docs/conventions.md#scale``)::

    x̃ = (x − c)/σ,    ỹ_o = w_oᵀx̃ = y_o/σ − γ_o,    γ_o = w_oᵀc/σ.

``σ = 1`` while the largest input magnitude seen lies in [2⁻¹⁰⁰, 2¹⁰⁰] (then nothing is scaled and
the numbers are exactly those of unscaled sums); otherwise ``σ`` is the power of two just above
it (:func:`scale_for`), and a later batch more than 2¹⁰⁰·σ in magnitude re-scales the sums kept
so far (:meth:`LayerStatistics.rescale`: a multiplication by a power of two, exact but for
contributions too small to matter).  The kernels receive ``x/σ`` and ``c/σ``, so every backend
sees numbers near 1 and stays bit-compatible with its NumPy twin; every estimator and ρ is a
ratio in which ``σ`` cancels.  The input of a layer is first checked against the magnitudes
float64 carries at all (:func:`~refpattern.network.validation.check_magnitude`).

Sums kept (shapes; ``+`` means "over observations with g_o = 1", ``−`` "with g_o = 0", per neuron):

======================  ==========  ===================================
``n``                   int         number of observations
``n_plus``              (O,)        ``Σ g``
``sum_x``               (D,)        ``Σ x̃``
``closed_inputs``       (O,) bool   which regime's input sums a neuron keeps (chosen at its first batch)
``regime_input_sums``   (D, O)      ``Σ x̃ (g ⊕ f)ᵀ``         = P̃ᵀ·(G ⊕ F): column o is ``Σ x̃(1 − g_o)`` where
                                    ``f_o = closed_inputs[o]``, else ``Σ x̃ g_o``
``sum_y_minus``         (O,)        ``Σ ỹ⊙(1 − g)``
``sum_y_plus``          (O,)        ``Σ ỹ⊙g``
``sum_yy_minus``        (O,)        ``Σ ỹ²⊙(1 − g)``
``sum_yy_plus``         (O,)        ``Σ ỹ²⊙g``
``sum_xy_minus``        (D, O)      ``Σ x̃ (ỹ⊙(1 − g))ᵀ``    = P̃ᵀ·(Ỹ⊙(1 − G))
``sum_xy_plus``         (D, O)      ``Σ x̃ (ỹ⊙g)ᵀ``          = P̃ᵀ·(Ỹ⊙G)
``sum_xx``              (D, D)      ``Σ x̃ x̃ᵀ`` (optional, only ρ needs it; shared by all neurons)
======================  ==========  ===================================

The sums over all observations are read as the two regimes' sums added (``sum_y = sum_y_minus +
sum_y_plus``, ``sum_yy``, ``sum_xy`` likewise, read-only), and the gate-closed count as the
difference ``n − n_plus``.  Each regime's sums of ``ỹ`` are taken directly rather than as ``Σ − Σ₊``:
a regime with few observations, or whose sums are small next to the other's, would otherwise get the
rounding of the sums over *all* observations, which can be hundreds of times its own
(``docs/math.md#statistics-regimes``).  The input sums ``Σx̃g`` and ``Σx̃(1 − g)`` share one block
(a fourth would add a third to the products): per neuron it keeps the regime that held *fewer*
observations in the first samples of the first batch the statistics saw (``closed_inputs``,
:data:`REGIME_CHOICE_SAMPLES`, :func:`regime_flags`, fixed from then on; a Dask fit presets the data's
first samples' flags in every chunk, :meth:`LayerStatistics.preset_regimes`), summed
directly, and the other is the difference ``sum_x − column`` (:meth:`LayerStatistics.open_input_sums`,
:meth:`LayerStatistics.closed_input_sums`, and the read-only ``sum_x_plus``, ``sum_x_minus``; exactly 0
for a regime without observations).  The shift makes ``Σx̃`` small, so the difference has about the
accuracy of the stored sum, whose terms are the larger regime's; the small regime, whose own terms
are few, keeps them (``docs/math.md#regime-input-sums``).  Memory is independent of the number of observations.

Two accumulators merge exactly (up to rounding): the second is first brought to the common scale
and re-centred onto the first one's shift, see :meth:`LayerStatistics.rescaled` and
:meth:`LayerStatistics.recentered`.  Accumulators that keep
different sums (``sum_xx`` or not) or belong to different layers are refused, and so are two that
already hold some of the same data (``a.merge(a)``, ``a.merge(b).merge(b)``: every accumulator
carries a random token, a merge the union of both, :attr:`LayerStatistics.sources`).

The per-batch work is one kernel of the backend seam, ``accumulate_statistics`` (its readable
twin is ``numpy_reference.accumulate_statistics``, which adds :func:`batch_sums` of the shifted
patch matrix; the Numba CPU and numba.cuda kernels are fused passes held to it in the tests).
A backend may also offer ``forward_statistics`` (Numba CPU does), which computes the layer's
output in the same pass instead of taking it (read off ``Ỹ``, with the gate's sign checked
against a rounding bound): a fit then builds each layer's patch matrix once and runs one product
for the forward pass and the statistics together (:meth:`LayerStatistics.forward_accumulate`).
So that a fused kernel can add ``P̃ᵀ·[Ỹ⊙(1 − G) | Ỹ⊙G | G ⊕ F]`` with one in-place GEMM, the three
(D, O) sums live side by side in one C-ordered (D, 3O) buffer, ``LayerStatistics.products``
(``sum_xy_minus``, ``sum_xy_plus`` and ``regime_input_sums`` are views of its column blocks), and the four
(O,) sums in one (4, O) buffer, ``LayerStatistics.output_sums`` (``sum_y_minus``, ``sum_y_plus``,
``sum_yy_minus``, ``sum_yy_plus`` are views of its rows).  :class:`LayerStatistics` checks every
batch (shapes that fit the layer) before a kernel sees it.
"""

from __future__ import annotations

import math
import uuid

import numpy as np

from refpattern.kernels import get_backend
from refpattern.kernels.numpy_reference import pad_images
from refpattern.network.conv2d import Conv2D
from refpattern.network.dense import Dense
from refpattern.network.sequential import Sequential
from refpattern.network.validation import (
    all_finite,
    check_layer_input,
    check_magnitude,
    largest_row_sum,
    peak_magnitude,
)

#: Names of the per-observation sums, in a fixed order (see the module docstring); ``sum_x_plus`` is
#: read (derived from ``regime_input_sums``), not stored.
SUM_FIELDS = ("n", "n_plus", "sum_x", "sum_x_plus", "sum_y_minus", "sum_y_plus", "sum_yy_minus", "sum_yy_plus",
              "sum_xy_minus", "sum_xy_plus", "sum_xx")

#: The shift ``c`` is the mean observation of the first samples of the first batch whose patch
#: matrix holds at most this many entries (at least one sample).
SHIFT_SAMPLE_ELEMENTS = 1 << 22
#: The shift is rounded to a binary grid of 2^-SHIFT_GRID_BITS of each feature's spread (:func:`grid_shift`).
SHIFT_GRID_BITS = 10
#: The scale ``σ`` is 1 while the largest input magnitude seen lies in [1/UNIT_RANGE, UNIT_RANGE];
#: a batch larger than ``UNIT_RANGE·σ`` re-scales the sums (module docstring).
UNIT_RANGE = 2.0 ** 100

#: How many samples of the first batch choose ``closed_inputs`` (``docs/math.md#regime-input-sums``): every
#: observation of each (a convolution's sample gives one per output position).  The flag only has to tell a
#: small regime from a large one; a fused fit pays a forward pass over these samples once per layer
#: (over the whole first batch it was 3 % of a 2048-sample ``bench_cnn`` fit, 6–25 % of a Dask chunk's).
REGIME_CHOICE_SAMPLES = 16

#: The order of each stored sum in the inputs (``σ`` enters a sum of order k as ``σ^k``).
SUM_ORDERS = {"sum_x": 1, "regime_input_sums": 1, "sum_y_minus": 1, "sum_y_plus": 1, "sum_yy_minus": 2,
              "sum_yy_plus": 2, "sum_xy_minus": 2, "sum_xy_plus": 2, "sum_xx": 2}


def _read_only(array: np.ndarray) -> np.ndarray:
    """``array``, marked read-only (and returned)."""
    array.setflags(write=False)
    return array


def regime_flags(z) -> np.ndarray:
    """The flags ``closed_inputs`` (``docs/math.md#regime-input-sums``) chosen by a layer output ``z``
    ((N, O) or (N, O, OH, OW), the first batch's, or the data's first samples' in a Dask fit): over
    the observations of its first :data:`REGIME_CHOICE_SAMPLES` samples, True for a neuron whose gate
    they close less often than they open it (``n₋ < n₊``: its gate-closed inputs are the small regime
    and are stored), a new bool array (O,)."""
    z = z[:REGIME_CHOICE_SAMPLES]
    opened = np.count_nonzero(z > 0, axis=(0,) + tuple(range(2, z.ndim)))
    return 2 * opened > z.size // z.shape[1]  # n₋ < n₊, n₋ = M − n₊


def scale_for(peak: float) -> float:
    """The scale ``σ`` for inputs of largest magnitude ``peak``: 1 within [2⁻¹⁰⁰, 2¹⁰⁰] (and for 0),
    else the power of two ``2^e`` with ``peak/2^e ∈ [1/2, 1)``."""
    if peak == 0.0 or 1.0 / UNIT_RANGE <= peak <= UNIT_RANGE:
        return 1.0
    return math.ldexp(1.0, math.frexp(peak)[1])


def observation_mean(layer, x):
    """``(1/M)·Σ x`` over the observations of one batch, (D,), without building the patch matrix
    (Conv2D: a mean over a strided view of the input padded by the layer's pads for its size)."""
    return _observation_moments(layer, x)[0]


def _observation_moments(layer, x):
    """Per input feature over the observations of one batch: mean, smallest, largest, each (D,).

    Conv2D: feature ``(c, i, j)`` of observation ``(n, p, q)`` is ``x_pad[n, c, p·sh + i, q·sw + j]`` (``x_pad``
    the input padded by the layer's pads for its size), so its values over all observations are the
    strided slice ``x_pad[:, c, i::sh, j::sw]`` (``OH × OW`` positions per sample): one reduction over
    ``(n, p, q)`` per kernel offset ``(i, j)`` (about 8× faster than reducing the 6-D patch view)."""
    if isinstance(layer, Conv2D):
        (kh, kw), (sh, sw) = layer.kernel_size, layer.stride
        padded = pad_images(x, layer.pads(x.shape[2:]))
        _, oh, ow = layer.output_shape(x.shape[1:])
        moments = np.empty((3, x.shape[1], kh, kw))
        for i in range(kh):
            for j in range(kw):
                values = padded[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]  # (N, C, OH, OW)
                for row, reduce in enumerate((np.mean, np.min, np.max)):
                    moments[row, :, i, j] = reduce(values, axis=(0, 2, 3))
        return tuple(moments.reshape(3, -1))
    return x.mean(axis=0), x.min(axis=0), x.max(axis=0)


def grid_shift(mean, low, high):
    """The shift ``c`` (D,): each ``mean_k`` rounded to the binary grid ``2^(⌊log₂(high_k − low_k)⌋ −
    SHIFT_GRID_BITS)`` (``low_k`` itself where the observations are constant).

    Any ``c`` gives the same statistics in exact arithmetic; rounding it to a power-of-two grid a
    thousandth of the feature's spread keeps what the shift is for (``x − c`` of the order of the
    spread, however large the offset) and makes ``x − c`` exact whenever the data lie on a coarser
    binary grid (integers, multiples of 2⁻ᵏ): then a layer with such weights computes ``w·(x − c)``,
    ``b + wᵀc`` and their sum exactly, and the fused forward pass (``docs/backends.md#forward-statistics``)
    hands the next layer the same numbers as ``net.forward`` (``docs/conventions.md#shift-grid``)."""
    mean, low, high = (np.asarray(a, dtype=np.float64) for a in (mean, low, high))
    spread = high - low
    shift = low.copy()  # a constant feature: its value, so that x − c = 0 exactly
    varying = spread > 0
    exponent = np.frexp(spread[varying])[1] - 1 - SHIFT_GRID_BITS  # 2^⌊log₂ spread⌋ / 2^SHIFT_GRID_BITS
    shift[varying] = np.ldexp(np.round(np.ldexp(mean[varying], -exponent)), exponent)
    return shift


def neuron_slice(neurons, n_out: int, name: str) -> slice:
    """``neurons`` (None, or a slice of ``range(n_out)`` with step 1) as ``slice(start, stop)``."""
    if neurons is None:
        return slice(0, n_out)
    if not isinstance(neurons, slice) or neurons.step not in (None, 1):
        raise TypeError(f"{name}: neurons must be None or a slice with step 1, got {neurons!r}")
    start, stop, _ = neurons.indices(n_out)
    if stop <= start:
        raise ValueError(f"{name}: neurons {neurons!r} select no neuron of {n_out}")
    return slice(start, stop)


class ProductColumns:
    """One of the three (D, O) sums, stored as column block ``index`` of ``products`` (D, 3O).

    Reading gives a view; assigning copies into the block (``stats.sum_xy_minus = …``; the sums over all
    observations, ``sum_y``, ``sum_yy``, ``sum_xy``, and the input sums ``sum_x_plus``, ``sum_x_minus`` are
    read-only properties).
    """

    def __init__(self, index: int):
        self.index = index

    def __get__(self, stats, owner=None):
        if stats is None:
            return self
        o = stats.n_neurons
        return stats.products[:, self.index * o:(self.index + 1) * o]

    def __set__(self, stats, value):
        self.__get__(stats)[...] = value


class OutputRow(ProductColumns):
    """One of the four (O,) sums, stored as row ``index`` of ``output_sums`` (4, O)."""

    def __get__(self, stats, owner=None):
        if stats is None:
            return self
        return stats.output_sums[self.index]


class LayerStatistics:
    """Streaming, mergeable sums (module docstring) for one kernel layer.

    Attributes
    ----------
    kernel_index : int
        ``k`` in ``net.kernel_layers[k]``.
    layer_index : int
        Position in ``net.layers``.
    layer_name : str
    kernel_shape : tuple
        The layer's weight shape, (out, in) or (out_ch, in_ch, kh, kw).
    neurons : slice
        The layer's output neurons these sums cover, ``slice(start, stop)``; all of them unless
        built with ``neurons=`` (a fit under a memory limit takes a wide layer in blocks of
        neurons, one pass over the data each).  ``O`` below is the size of this block.
    weight : ndarray, shape (O, D)
        The filters ``w_o`` of those neurons as rows (a read-only view of the layer's read-only
        weight; a copy if the layer's array is writable).
    bias : ndarray, shape (O,)
    shift : ndarray, shape (D,) or None
        ``c``, in the inputs' own units; None until the first batch.
    scale : float
        ``σ``, a power of two (1 unless the data are far from unit scale): every sum is in units
        of ``σ^k`` for a sum of order ``k`` (:data:`SUM_ORDERS`), e.g. ``Σx̃ = Σ(x − c)/σ``.
    peak : float
        The largest input magnitude seen, ``max |x|`` over every batch.
    second_moment : bool
        Whether ``sum_xx`` is kept.
    n, n_plus, sum_x, … : the sums (module docstring).
    closed_inputs : ndarray of bool, shape (O,), read-only
        ``f``: per neuron, which regime's input sums ``regime_input_sums`` keeps: True →
        ``Σx̃(1 − g_o)`` (gate closed), False → ``Σx̃g_o`` (gate open).  All False until data arrive;
        the first batch with observations sets it to ``n₋ < n₊`` of that batch's first
        :data:`REGIME_CHOICE_SAMPLES` samples (the smaller regime,
        whose few terms a difference of sums over all observations would drown), and it stays so:
        :meth:`merge` keeps this side's flags (the other side's, if this one holds no data) and brings
        the other's columns to them, ``sum_x − column`` where they differ.  :meth:`preset_regimes` sets
        them before any data instead (a Dask fit's chunks all take the data's first samples' flags).
    regimes_preset : bool
        Whether :meth:`preset_regimes` set ``closed_inputs`` (then the first batch does not choose them).
    products : ndarray, shape (D, 3O)
        ``[sum_xy_minus | sum_xy_plus | regime_input_sums]``; those three attributes are views of it.
    sum_x_plus, sum_x_minus : ndarray, shape (D, O)
        ``Σx̃gᵀ`` and ``Σx̃(1 − g)ᵀ``, read-only new arrays (:meth:`open_input_sums`,
        :meth:`closed_input_sums`).
    output_sums : ndarray, shape (4, O)
        ``[sum_y_minus; sum_y_plus; sum_yy_minus; sum_yy_plus]``; those four attributes are views of it.
    sum_y, sum_yy, sum_xy : ndarray
        The sums over all observations, each the two regimes' sums added (new arrays, read-only
        attributes).
    sources : frozenset of str
        Which accumulators' data these sums hold: a fresh one its own random token, a merge the
        union of both.  :meth:`merge` refuses two statistics that share a token while both hold
        data (``a.merge(a)``, ``a.merge(b).merge(b)``): those observations would count twice.
    """

    sum_xy_minus = ProductColumns(0)
    sum_xy_plus = ProductColumns(1)
    regime_input_sums = ProductColumns(2)
    sum_y_minus = OutputRow(0)
    sum_y_plus = OutputRow(1)
    sum_yy_minus = OutputRow(2)
    sum_yy_plus = OutputRow(3)

    def __init__(self, layer, kernel_index: int, layer_index: int, second_moment: bool = False, neurons=None):
        if not isinstance(layer, (Dense, Conv2D)):
            raise TypeError(f"not a kernel layer: {layer!r}")
        self.neurons = neuron_slice(neurons, layer.weight.shape[0], repr(layer))
        weight = layer.weight.reshape(layer.weight.shape[0], -1)[self.neurons]
        if weight.flags.writeable:
            weight = weight.copy()
        weight.setflags(write=False)
        self.kernel_index, self.layer_index = int(kernel_index), int(layer_index)
        self.layer_name = repr(layer)
        self.kernel_shape = tuple(layer.weight.shape)
        self.weight, self.bias = weight, np.array(layer.bias[self.neurons])
        self.second_moment = bool(second_moment)
        self.layer = layer
        self.where = f"kernel layer {self.kernel_index} (net.layers[{self.layer_index}], {self.layer_name})"
        self.row_sum, self.bias_peak = largest_row_sum(weight), peak_magnitude(self.bias)
        o, d = weight.shape
        self.shift = None
        self.scale, self.peak = 1.0, 0.0
        self.n = 0
        self.n_plus = np.zeros(o, dtype=np.int64)
        self.sum_x = np.zeros(d)
        self.products = np.zeros((d, 3 * o))
        self.closed_inputs = _read_only(np.zeros(o, dtype=bool))
        self.regimes_preset = False
        self.output_sums = np.zeros((4, o))
        self.sum_xx = np.zeros((d, d)) if self.second_moment else None
        self.sources = frozenset((uuid.uuid4().hex,))

    @property
    def n_inputs(self) -> int:
        """``D``."""
        return self.weight.shape[1]

    @property
    def n_neurons(self) -> int:
        """``O``."""
        return self.weight.shape[0]

    @property
    def n_minus(self) -> np.ndarray:
        """Gate-closed counts per neuron, (O,)."""
        return self.n - self.n_plus

    @property
    def sum_y(self) -> np.ndarray:
        """``Σỹ`` over all observations, (O,): ``sum_y_minus + sum_y_plus``."""
        return self.sum_y_minus + self.sum_y_plus

    @property
    def sum_yy(self) -> np.ndarray:
        """``Σỹ²`` over all observations, (O,): ``sum_yy_minus + sum_yy_plus``."""
        return self.sum_yy_minus + self.sum_yy_plus

    @property
    def sum_xy(self) -> np.ndarray:
        """``Σx̃ỹᵀ`` over all observations, (D, O): ``sum_xy_minus + sum_xy_plus``."""
        return self.sum_xy_minus + self.sum_xy_plus

    @property
    def sum_x_plus(self) -> np.ndarray:
        """``Σx̃gᵀ``, (D, O), a read-only new array: :meth:`open_input_sums`."""
        return _read_only(self.open_input_sums())

    @property
    def sum_x_minus(self) -> np.ndarray:
        """``Σx̃(1 − g)ᵀ``, (D, O), a read-only new array: :meth:`closed_input_sums`."""
        return _read_only(self.closed_input_sums())

    def open_input_sums(self, neurons=slice(None)) -> np.ndarray:
        """``Σx̃gᵀ`` of the ``neurons`` (a slice or an index array), (D, m), a new array: the column of
        ``regime_input_sums`` where a neuron keeps its gate-open inputs (``closed_inputs`` False),
        ``sum_x − column`` where it keeps the gate-closed ones; exactly 0 for a neuron whose gate never
        opened (a sum over no observation: the difference of two sums of the same terms, taken in
        different orders, would be their rounding)."""
        return self._regime_inputs(neurons, closed=False)

    def closed_input_sums(self, neurons=slice(None)) -> np.ndarray:
        """``Σx̃(1 − g)ᵀ`` of the ``neurons``, (D, m), a new array: as :meth:`open_input_sums` for the
        gate-closed regime (the column where ``closed_inputs`` is True, ``sum_x − column`` elsewhere;
        exactly 0 for a neuron whose gate never closed)."""
        return self._regime_inputs(neurons, closed=True)

    def _regime_inputs(self, neurons, closed: bool) -> np.ndarray:
        """``Σx̃(1 − g)ᵀ`` (``closed``) or ``Σx̃gᵀ`` of the ``neurons`` (docs/math.md#regime-input-sums)."""
        stored = self.regime_input_sums[:, neurons]
        sums = np.where(self.closed_inputs[neurons] == closed, stored, self.sum_x[:, None] - stored)
        count = self.n_minus if closed else self.n_plus
        sums[:, count[neurons] == 0] = 0.0
        return sums

    @property
    def gamma(self) -> np.ndarray:
        """``w_oᵀc`` (O,), in the inputs' units: ``y = σ·ỹ + wᵀc``."""
        if self.shift is None:
            return np.zeros(self.n_neurons)
        return self.weight @ self.shift

    @property
    def scaled_shift(self) -> np.ndarray:
        """``c/σ`` (D,), the shift in the units of the sums (zeros before the first batch)."""
        if self.shift is None:
            return np.zeros(self.n_inputs)
        return self.shift if self.scale == 1.0 else self.shift / self.scale

    @property
    def scaled_gamma(self) -> np.ndarray:
        """``γ_o = w_oᵀc/σ`` (O,), in the units of the sums: ``y/σ = ỹ + γ``."""
        if self.shift is None:
            return np.zeros(self.n_neurons)
        return self.weight @ self.scaled_shift

    def __repr__(self) -> str:
        block = ""
        if (self.neurons.start, self.neurons.stop) != (0, self.kernel_shape[0]):
            block = f", neurons {self.neurons.start}:{self.neurons.stop}"
        return (f"LayerStatistics(kernel layer {self.kernel_index}, {self.layer_name}{block}, n={self.n}, "
                f"D={self.n_inputs}, O={self.n_neurons})")

    @property
    def covers_layer(self) -> bool:
        """Whether these sums cover every output neuron of the layer."""
        return (self.neurons.start, self.neurons.stop) == (0, self.kernel_shape[0])

    def differences(self, layer) -> list:
        """What differs between ``layer`` and the layer these statistics were taken for, in words
        (empty if they describe it)."""
        if type(layer) is not type(self.layer):
            return [f"layer type {type(self.layer).__name__} vs {type(layer).__name__}"]
        if tuple(layer.weight.shape) != self.kernel_shape:
            return [f"weight shape {self.kernel_shape} vs {tuple(layer.weight.shape)}"]
        found = []
        weight = layer.weight.reshape(layer.weight.shape[0], -1)[self.neurons]
        if not np.array_equal(weight, self.weight):
            found.append(f"weights (largest difference {float(np.max(np.abs(weight - self.weight))):.3g})")
        bias = layer.bias[self.neurons]
        if not np.array_equal(bias, self.bias):
            found.append(f"biases (largest difference {float(np.max(np.abs(bias - self.bias))):.3g})")
        for name in ("stride", "padding"):
            if getattr(layer, name, None) != getattr(self.layer, name, None):
                found.append(f"{name} {getattr(self.layer, name)!r} vs {getattr(layer, name)!r}")
        return found

    def describes(self, layer) -> bool:
        """Whether these statistics were taken for ``layer`` (same type, parameters, stride, padding)."""
        if type(layer) is not type(self.layer) or tuple(layer.weight.shape) != self.kernel_shape:
            return False
        weight = layer.weight.reshape(layer.weight.shape[0], -1)[self.neurons]
        if not (np.array_equal(weight, self.weight) and np.array_equal(layer.bias[self.neurons], self.bias)):
            return False
        if isinstance(layer, Conv2D):
            return layer.stride == self.layer.stride and layer.padding == self.layer.padding
        return True

    # accumulation ------------------------------------------------------------
    def _check_batch(self, x, z=None):
        """``x`` a batch the layer accepts and ``z`` (if given) shaped like the layer output of
        these neurons; returns the expected shape of ``z``."""
        out = check_layer_input(self.layer, x)
        expected = (x.shape[0], self.n_neurons) + tuple(out[1:])
        if z is not None:
            if not isinstance(z, np.ndarray) or not np.issubdtype(z.dtype, np.floating):
                what = f"dtype {z.dtype}" if isinstance(z, np.ndarray) else type(z).__name__
                raise TypeError(f"{self.layer_name}: z must be a floating-point array, got {what}")
            if z.shape != expected:
                raise ValueError(f"{self.layer_name}: z must have the shape of the output of neurons "
                                 f"{self.neurons.start}:{self.neurons.stop} for x {x.shape}, {expected}; got {z.shape}")
            if not all_finite(z):
                raise ValueError(f"{self.layer_name}: z holds NaN or inf; its sign is the ReLU gate of every "
                                 "observation, which NaN does not have")
        return expected

    def accumulate(self, x, z, backend=None) -> None:
        """Add one batch in place.  ``x``: the layer input, (N, D) or (N, C, H, W); ``z``: the
        output ``wᵀx + b`` of these neurons, (N, O) or (N, O, OH, OW) (only its sign is used, for
        the gate).  The shift ``c`` is the mean observation of the first batch's first samples.

        ``backend``: a name or a :class:`~refpattern.kernels.Backend`, whose
        ``accumulate_statistics`` does the work (``"numpy"``: the readable reference path).
        """
        if z is None:
            raise TypeError(f"{self.layer_name}: z must be the layer's output wᵀx + b for the batch x (a "
                            "floating-point array), got None")
        self._check_batch(x, z)
        if x.shape[0] == 0:
            return
        self._accumulate_checked(x, z, get_backend(backend), self._prepare_scale(x))

    def _accumulate_checked(self, x, z, backend, x_scaled) -> None:
        """:meth:`accumulate` of a checked batch whose scaled copy ``x/σ`` is ``x_scaled``."""
        self._set_shift(x)
        self._choose_regimes(z)
        self.n += backend.accumulate_statistics(
            x_scaled, z, self.weight, self.scaled_shift, self._conv(x), self.products, self.sum_x, self.n_plus,
            self.output_sums, self.sum_xx, closed_inputs=self.closed_inputs)

    def _choose_regimes(self, z) -> None:
        """Before the first observations: ``closed_inputs`` from the gates of the first
        :data:`REGIME_CHOICE_SAMPLES` samples of this batch's output ``z`` (:func:`regime_flags`), unless
        :meth:`preset_regimes` set them.  Once the sums hold data the flags stay (the stored columns are
        sums in their convention)."""
        if self.n or self.regimes_preset or z.size == 0:
            return
        self.closed_inputs = _read_only(regime_flags(z))

    def preset_regimes(self, closed_inputs) -> None:
        """Set ``closed_inputs`` before any data, instead of letting the first batch choose them
        (:func:`regime_flags`): a Dask fit gives every chunk the flags of the data's first samples, so
        that no merge converts a column (``docs/conventions.md#dask-fits``).  ``closed_inputs``: bool,
        shape (O,) (copied, read-only).  Raises ``ValueError`` once the sums hold data (their stored
        columns are sums in the flags they have) or for another shape, ``TypeError`` for another dtype."""
        flags = np.asarray(closed_inputs)
        if flags.dtype != np.bool_:
            raise TypeError(f"{self.where}: closed_inputs must be an array of bool, got dtype {flags.dtype}")
        if flags.shape != (self.n_neurons,):
            raise ValueError(f"{self.where}: closed_inputs must have shape ({self.n_neurons},) (one flag per neuron "
                             f"{self.neurons.start}:{self.neurons.stop}), got {flags.shape}")
        if self.n:
            raise ValueError(f"{self.where}: closed_inputs can only be preset before any data; these statistics hold "
                             f"{self.n} observations, whose stored input sums follow the flags they have")
        self.closed_inputs = _read_only(flags.copy())
        self.regimes_preset = True

    def _prepare_scale(self, x):
        """Check the magnitudes of the batch ``x`` (:func:`~refpattern.network.validation.check_magnitude`),
        choose or adapt the scale ``σ`` (module docstring) and return ``x/σ`` (``x`` itself when ``σ = 1``)."""
        peak = check_magnitude(x, self.where, self.row_sum, self.bias_peak)
        if peak > 0.0:
            if self.peak == 0.0:  # every sum is 0 so far (all inputs were 0, and so is c): any scale fits
                self.scale = scale_for(peak)
            elif peak > UNIT_RANGE * self.scale:
                self.rescale(scale_for(peak))
            self.peak = max(self.peak, peak)
        return x if self.scale == 1.0 else x * (1.0 / self.scale)

    def rescale(self, scale: float) -> None:
        """Express the sums in units of another power of two ``scale`` (in place): a sum of order
        ``k`` (:data:`SUM_ORDERS`) is multiplied by ``(σ/scale)^k``, exactly (a power of two) but
        for contributions that fall below float64's smallest numbers, which are negligible next to
        the ones that made the new scale necessary.  Raises ``ValueError`` unless ``scale`` is a
        positive power of two."""
        if (isinstance(scale, (bool, np.bool_)) or not isinstance(scale, (int, float, np.integer, np.floating))
                or not (math.isfinite(scale) and scale > 0 and math.frexp(scale)[0] == 0.5)):
            raise ValueError(f"{self.layer_name}: scale must be a positive power of two (the sums are exact "
                             f"multiples of it), got {scale!r}")
        exponent = math.frexp(self.scale)[1] - math.frexp(scale)[1]  # σ/scale = 2^exponent
        if exponent == 0:
            return
        for name, order in SUM_ORDERS.items():
            value = getattr(self, name)  # sum_xy … are views of products and output_sums: scaled in place
            if value is not None:
                np.ldexp(value, order * exponent, out=value)
        self.scale = float(scale)

    def rescaled(self, scale: float) -> LayerStatistics:
        """The same statistics in units of another power of two ``scale`` (a new object; :meth:`rescale`)."""
        new = self.copy()
        new.rescale(scale)
        return new

    def forward_accumulate(self, x, backend, relu: bool = False):
        """The layer's output for the batch ``x`` (``max(z, 0)`` when ``relu``), with the batch
        added to the sums in the same pass by the backend's ``forward_statistics``.  Only for
        statistics that cover the whole layer, and a backend that has one."""
        backend = get_backend(backend)
        if backend.forward_statistics is None:
            raise ValueError(f"{self.layer_name}: backend {backend.name!r} has no forward_statistics")
        if not self.covers_layer:
            raise ValueError(f"{self.layer_name}: forward_accumulate needs statistics of every neuron, these cover "
                             f"{self.neurons.start}:{self.neurons.stop}")
        self._check_batch(x)
        x_scaled = self._prepare_scale(x)
        if self.scale != 1.0:
            # data far from unit scale: the layer's own forward pass in the data's units, then the
            # statistics of the scaled batch (the fused kernel would need the bias in units of σ)
            out = self.layer.forward(x, backend)
            self._accumulate_checked(x, out, backend, x_scaled)
            return np.maximum(out, 0.0, out=out) if relu else out
        self._set_shift(x)
        if not self.n and not self.regimes_preset and x.shape[0]:
            # the first batch: the gates of its first samples choose closed_inputs before the fused pass sums
            # the inputs of the chosen regimes (the layer's forward pass once more, for those samples only)
            self._choose_regimes(self.layer.forward(x[:REGIME_CHOICE_SAMPLES], backend))
        out, n = backend.forward_statistics(x, self.weight, self.bias, self.shift, self._conv(x), self.products,
                                            self.sum_x, self.n_plus, self.output_sums, self.sum_xx, relu=relu,
                                            closed_inputs=self.closed_inputs)
        self.n += n
        return out

    def _conv(self, x):
        """``(kernel_size, stride, padding)`` for Conv2D, None for Dense (the kernels' ``conv``);
        ``padding`` is the layer's explicit ``((top, bottom), (left, right))`` for the batch ``x``'s
        spatial size (:meth:`Conv2D.pads`, which resolves ``"same"``)."""
        if isinstance(self.layer, Conv2D):
            return self.layer.kernel_size, self.layer.stride, self.layer.pads(x.shape[2:])
        return None

    def _set_shift(self, x) -> None:
        """Take the shift ``c`` (:data:`SHIFT_SAMPLE_ELEMENTS`) if there is none yet."""
        if self.shift is not None or x.shape[0] == 0:
            return
        rows_per_sample = 1
        if isinstance(self.layer, Conv2D):
            _, oh, ow = self.layer.output_shape(x.shape[1:])
            rows_per_sample = oh * ow
        samples = max(1, SHIFT_SAMPLE_ELEMENTS // max(1, rows_per_sample * self.n_inputs))
        shift = grid_shift(*_observation_moments(self.layer, x[:samples]))
        shift.setflags(write=False)
        self.shift = shift

    def _add(self, other) -> None:
        """Add another's sums taken around the same shift, in the same scale and ``closed_inputs``
        (:meth:`_keep_regimes`), in place: no new (D, O) arrays."""
        self.n += other.n
        for name in ("n_plus", "sum_x", "products", "output_sums") + (("sum_xx",) if self.second_moment else ()):
            total = getattr(self, name)
            total += getattr(other, name)

    def _keep_regimes(self, closed_inputs) -> None:
        """Express ``regime_input_sums`` in the flags ``closed_inputs`` (in place): a column whose
        flag changes becomes ``sum_x − column``, the other regime's input sums (exactly 0 where that
        regime has no observation, as :meth:`closed_input_sums` reads them)."""
        changed = np.flatnonzero(self.closed_inputs != closed_inputs)
        if changed.size:
            converted = self.sum_x[:, None] - self.regime_input_sums[:, changed]
            other_count = np.where(self.closed_inputs[changed], self.n_plus[changed], self.n_minus[changed])
            converted[:, other_count == 0] = 0.0
            self.regime_input_sums[:, changed] = converted
        self.closed_inputs = _read_only(np.array(closed_inputs, dtype=bool))

    # merging -----------------------------------------------------------------
    def copy(self) -> LayerStatistics:
        new = LayerStatistics.__new__(LayerStatistics)
        new.__dict__.update(self.__dict__)
        for name, value in self.__dict__.items():
            if isinstance(value, np.ndarray) and value.flags.writeable:  # the sums (weight, bias, shift are read-only)
                setattr(new, name, value.copy())
        return new

    def recentered(self, shift) -> LayerStatistics:
        """The same statistics taken around another shift ``c'`` (a new object).

        With ``δ = c − c'`` and ``ε = Wδ`` (so ``x − c' = x̃ + δ``, ``ỹ' = ỹ + ε``), per neuron and
        regime ``r`` (``Σ_r`` over its ``n_r`` observations; ``Σ₋x̃ = Σx̃ − Σ₊x̃``)::

            Σ_r x̃'  = Σ_r x̃ + n_r δ                          Σ_r ỹ'   = Σ_r ỹ + n_r ε
            Σ_r x̃'ỹ' = Σ_r x̃ỹ + δ Σ_r ỹ + ε Σ_r x̃ + n_r δε    Σ_r ỹ'²  = Σ_r ỹ² + 2ε Σ_r ỹ + n_r ε²
            Σx̃'x̃'ᵀ = Σx̃x̃ᵀ + δΣx̃ᵀ + Σx̃δᵀ + nδδᵀ

        ``δ`` and ``ε`` in units of the scale ``σ`` (``δ = (c − c')/σ``).
        """
        shift = np.asarray(shift, dtype=np.float64)
        if shift.shape != (self.n_inputs,):
            raise ValueError(f"{self.layer_name}: shift must have shape ({self.n_inputs},), got {shift.shape}")
        if not all_finite(shift):
            raise ValueError(f"{self.layer_name}: shift holds NaN or inf")
        new = self.copy()
        shift = shift.copy()
        shift.setflags(write=False)
        new.shift = shift
        if self.shift is None or self.n == 0:
            return new
        delta = self.shift - shift
        if self.scale != 1.0:
            delta = delta / self.scale
        eps = self.weight @ delta
        n, n_plus = float(self.n), self.n_plus.astype(np.float64)
        new.sum_x = self.sum_x + n * delta
        stored_count = np.where(self.closed_inputs, n - n_plus, n_plus)  # of the regime each column sums
        new.regime_input_sums = self.regime_input_sums + np.outer(delta, stored_count)
        for regime, count, sum_x_regime in (("minus", n - n_plus, self.closed_input_sums()),
                                            ("plus", n_plus, self.open_input_sums())):
            sum_y = getattr(self, "sum_y_" + regime)
            setattr(new, "sum_y_" + regime, sum_y + count * eps)
            setattr(new, "sum_yy_" + regime, getattr(self, "sum_yy_" + regime) + 2 * eps * sum_y + count * eps ** 2)
            setattr(new, "sum_xy_" + regime, getattr(self, "sum_xy_" + regime) + np.outer(delta, sum_y)
                    + sum_x_regime * eps + np.outer(delta, count * eps))
        if self.second_moment:
            new.sum_xx = (self.sum_xx + np.outer(delta, self.sum_x) + np.outer(self.sum_x, delta)
                          + n * np.outer(delta, delta))
        return new

    def merge(self, other: LayerStatistics) -> LayerStatistics:
        """The statistics of both data streams together (a new object; neither is changed).

        ``other`` is brought to the common scale (the one of the statistics that saw the larger
        inputs), re-centred onto this shift and its ``regime_input_sums`` brought to these
        ``closed_inputs`` (a column whose flag differs becomes ``sum_x − column``), then the sums add:
        the result keeps this side's ``closed_inputs`` (the other's if this one holds no data).
        Raises ``ValueError``, saying what differs, if the two were taken for different layers (type,
        weight shape, weights, biases, stride, padding) or kernel layers, cover different neurons, keep
        different sums (one with ``sum_xx``, the other without: merging would have to drop it), or already hold some of
        the same data (:attr:`sources`: a double count).
        """
        if not isinstance(other, LayerStatistics):
            raise TypeError(f"merge: expected LayerStatistics, got {type(other).__name__}")
        differences = self.differences(other.layer)
        if differences:
            raise ValueError(f"merge: kernel layer {self.kernel_index} statistics are for different layers "
                             f"({self.layer_name} vs {other.layer_name}): {'; '.join(differences)} differ")
        if other.neurons != self.neurons:
            raise ValueError(f"merge: kernel layer {self.kernel_index} statistics cover different neurons "
                             f"({self.neurons.start}:{self.neurons.stop} "
                             f"vs {other.neurons.start}:{other.neurons.stop})")
        if other.kernel_index != self.kernel_index:
            raise ValueError(f"merge: statistics of kernel layer {self.kernel_index} ({self.layer_name}) and of kernel "
                             f"layer {other.kernel_index} ({other.layer_name}) are of different layers of a network; "
                             "merge the statistics of each layer with those of the same layer")
        if other.second_moment != self.second_moment:
            keeps = {True: "keep the second moment sum_xx (second_moment=True)",
                     False: "do not (second_moment=False)"}
            raise ValueError(f"merge: kernel layer {self.kernel_index} statistics keep different sums: these "
                             f"{keeps[self.second_moment]}, the others {keeps[other.second_moment]}; merging would "
                             "drop sum_xx (ρ needs it): fit both with the same second_moment")
        if self.n and other.n and self.sources & other.sources:
            raise ValueError(f"merge: kernel layer {self.kernel_index} statistics already hold some of the same data "
                             f"({len(self.sources & other.sources)} of their {len(self.sources)} part(s) are in both, "
                             "as in a.merge(a) or a.merge(b).merge(b)); merging would count those observations twice: "
                             "merge every part of the data once")
        left, right = self.copy(), other.copy()
        left.sources = right.sources = self.sources | other.sources
        if right.n == 0:
            return left
        if left.n == 0:
            return right
        scale = right.scale if right.peak > left.peak else left.scale
        left.rescale(scale)
        right.rescale(scale)
        right = right.recentered(left.shift)
        right._keep_regimes(left.closed_inputs)
        left._add(right)
        left.peak = max(left.peak, right.peak)
        return left

    def check_finite(self) -> None:
        """Raise ``ValueError`` (naming the layer) if a sum overflowed float64: possible only with
        weights so large that ``wᵀx`` overflows once squared, as the inputs are scaled."""
        for name in ("sum_x", "products", "output_sums", "sum_xx"):
            value = getattr(self, name)
            if value is not None and not all_finite(value):
                raise ValueError(f"{self.where}: the statistics overflowed float64 ({name} holds inf or NaN; the "
                                 f"filters reach Σ|w| = {self.row_sum:.4g}, the inputs {self.peak:.4g} in magnitude, "
                                 f"taken in units of {self.scale:.4g}); rescale the weights")

    # moments (population, 1/n; shifted coordinates unless said otherwise) ------
    def moments(self, neurons=slice(None)) -> dict:
        """Per-regime means in shifted coordinates; keys ending in ``_plus``/``_minus`` are
        ``E₊``/``E₋`` (0 where the regime is empty).  Shapes: ``x`` (D,), ``x_plus`` (D, O),
        ``y``/``yy`` (O,), ``xy`` (D, O).

        ``neurons``: a slice of neurons (the ``O`` axis) to restrict every per-neuron entry to, so
        that a wide layer can be estimated in blocks of neurons with small temporaries.
        """
        n = max(self.n, 1)
        n_plus = self.n_plus[neurons].astype(np.float64)
        n_minus = self.n - n_plus
        safe_plus, safe_minus = np.maximum(n_plus, 1.0), np.maximum(n_minus, 1.0)
        sum_y_minus, sum_y_plus = self.sum_y_minus[neurons], self.sum_y_plus[neurons]
        sum_yy_minus, sum_yy_plus = self.sum_yy_minus[neurons], self.sum_yy_plus[neurons]
        sum_xy_minus, sum_xy_plus = self.sum_xy_minus[:, neurons], self.sum_xy_plus[:, neurons]
        sum_x_plus = self.open_input_sums(neurons)
        return {
            "x": self.sum_x / n,
            "y": (sum_y_minus + sum_y_plus) / n,
            "yy": (sum_yy_minus + sum_yy_plus) / n,
            "xy": (sum_xy_minus + sum_xy_plus) / n,
            "x_plus": sum_x_plus / safe_plus,
            "y_plus": sum_y_plus / safe_plus,
            "yy_plus": sum_yy_plus / safe_plus,
            "xy_plus": sum_xy_plus / safe_plus,
            "x_minus": self.closed_input_sums(neurons) / safe_minus,
            "y_minus": sum_y_minus / safe_minus,
            "yy_minus": sum_yy_minus / safe_minus,
            "xy_minus": sum_xy_minus / safe_minus,
        }


class NetworkStatistics:
    """One :class:`LayerStatistics` per kernel layer of a network, in forward order.

    ``stats[k]`` belongs to ``net.kernel_layers[k]``; ``a.merge(b)`` merges layer by layer.
    """

    def __init__(self, layers):
        self.layers = tuple(layers)
        for k, layer in enumerate(self.layers):
            if not isinstance(layer, LayerStatistics):
                raise TypeError(f"NetworkStatistics: entry {k} must be a LayerStatistics, got {type(layer).__name__}")

    @classmethod
    def empty(cls, net, second_moment: bool = False) -> NetworkStatistics:
        if not isinstance(net, Sequential):
            raise TypeError(f"net: expected a refpattern.Sequential, got {type(net).__name__}")
        return cls(LayerStatistics(net.layers[index], k, index, second_moment)
                   for k, index in enumerate(net.kernel_indices))

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, k) -> LayerStatistics:
        return self.layers[k]

    def __iter__(self):
        return iter(self.layers)

    def __repr__(self) -> str:
        return f"NetworkStatistics({len(self)} kernel layers, observations {list(self.n_samples)})"

    @property
    def n_samples(self) -> np.ndarray:
        """Observations per kernel layer, (L,) int64."""
        return np.array([s.n for s in self.layers], dtype=np.int64)

    def merge(self, other: NetworkStatistics) -> NetworkStatistics:
        """Layer-wise :meth:`LayerStatistics.merge` (a new object)."""
        if not isinstance(other, NetworkStatistics):
            raise TypeError(f"merge: expected NetworkStatistics, got {type(other).__name__}")
        if len(other) != len(self):
            raise ValueError(f"merge: {len(self)} kernel layers vs {len(other)}")
        return NetworkStatistics(a.merge(b) for a, b in zip(self.layers, other.layers))

    def check_network(self, net) -> None:
        """Raise ``ValueError`` unless these statistics were taken for ``net``'s kernel layers
        (``TypeError`` if ``net`` is not a Sequential)."""
        if not isinstance(net, Sequential):
            raise TypeError(f"net: expected a refpattern.Sequential, got {type(net).__name__}")
        kernels = net.kernel_layers
        if len(kernels) != len(self):
            raise ValueError(f"statistics have {len(self)} kernel layers, the network has {len(kernels)}")
        for k, (s, layer) in enumerate(zip(self.layers, kernels)):
            differences = s.differences(layer)
            if differences:
                raise ValueError(f"statistics of kernel layer {k} ({s.layer_name}, weight shape {s.kernel_shape}) "
                                 f"do not belong to {layer!r} (weight shape {tuple(layer.weight.shape)}): "
                                 f"{'; '.join(differences)} differ")
