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
around a *shift* ``c ∈ R^D`` (the mean observation of the first samples seen, :data:`SHIFT_SAMPLE_ELEMENTS`)::

    x̃ = x − c,    ỹ_o = w_oᵀx̃ = y_o − γ_o,    γ_o = w_oᵀc.

Sums kept (shapes; ``+`` means "over observations with g_o = 1", per neuron):

====================  ========  ===================================
``n``                 int       number of observations
``n_plus``            (O,)      ``Σ g``
``sum_x``             (D,)      ``Σ x̃``
``sum_x_plus``        (D, O)    ``Σ x̃ gᵀ``            = Pᵀ·G
``sum_y``             (O,)      ``Σ ỹ``
``sum_y_plus``        (O,)      ``Σ ỹ⊙g``
``sum_yy``            (O,)      ``Σ ỹ²``
``sum_yy_plus``       (O,)      ``Σ ỹ²⊙g``
``sum_xy``            (D, O)    ``Σ x̃ ỹᵀ``            = Pᵀ·Ỹ
``sum_xy_plus``       (D, O)    ``Σ x̃ (ỹ⊙g)ᵀ``        = Pᵀ·(Ỹ⊙G)
``sum_xx``            (D, D)    ``Σ x̃ x̃ᵀ`` (optional, only ρ needs it; shared by all neurons)
====================  ========  ===================================

The gate-closed sums are differences (``sum_x − sum_x_plus`` …).  Memory is independent of the
number of observations.  Two accumulators merge exactly (up to rounding): the second is first
re-centred onto the first one's shift, see :meth:`LayerStatistics.recentered`.

The per-batch work is one kernel of the backend seam, ``accumulate_statistics`` (its readable
twin is ``numpy_reference.accumulate_statistics``, which adds :func:`batch_sums` of the shifted
patch matrix; the Numba CPU and numba.cuda kernels are fused passes held to it in the tests).
A backend may also offer ``forward_statistics`` (Numba CPU does), which computes the layer's
output in the same pass instead of taking it (read off ``Ỹ``, with the gate's sign checked
against a rounding bound): a fit then builds each layer's patch matrix once and runs one product
for the forward pass and the statistics together (:meth:`LayerStatistics.forward_accumulate`).
So that a fused kernel can add ``P̃ᵀ·[Ỹ | Ỹ⊙G | G]`` with one in-place GEMM, the three (D, O)
sums live side by side in one C-ordered (D, 3O) buffer, ``LayerStatistics.products``
(``sum_xy``, ``sum_xy_plus`` and ``sum_x_plus`` are views of its column blocks), and the four
(O,) sums in one (4, O) buffer, ``LayerStatistics.output_sums`` (``sum_y``, ``sum_y_plus``,
``sum_yy``, ``sum_yy_plus`` are views of its rows).  :class:`LayerStatistics` checks every
batch (shapes that fit the layer) before a kernel sees it.
"""

from __future__ import annotations

import numpy as np

from refpattern.kernels import get_backend
from refpattern.kernels.numpy_reference import extract_patches
from refpattern.network.conv2d import Conv2D
from refpattern.network.dense import Dense
from refpattern.network.validation import check_layer_input

#: Names of the per-observation sums, in a fixed order (see the module docstring).
SUM_FIELDS = ("n", "n_plus", "sum_x", "sum_x_plus", "sum_y", "sum_y_plus", "sum_yy", "sum_yy_plus",
              "sum_xy", "sum_xy_plus", "sum_xx")

#: The shift ``c`` is the mean observation of the first samples of the first batch whose patch
#: matrix holds at most this many entries (at least one sample).
SHIFT_SAMPLE_ELEMENTS = 1 << 22


def observation_mean(layer, x):
    """``(1/M)·Σ x`` over the observations of one batch, (D,), without building the patch matrix
    (Conv2D: a mean over a strided view of the input padded by the layer's pads for its size)."""
    if isinstance(layer, Conv2D):
        pads = layer.pads(x.shape[2:])
        patches = extract_patches(x, layer.kernel_size, layer.stride, pads)  # (N, OH, OW, C, kh, kw)
        return patches.mean(axis=(0, 1, 2)).reshape(-1)
    return x.mean(axis=0)


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

    Reading gives a view; assigning copies into the block (so ``stats.sum_xy = …`` still works).
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
        ``c``; None until the first batch.
    second_moment : bool
        Whether ``sum_xx`` is kept.
    n, n_plus, sum_x, … : the sums (module docstring).
    products : ndarray, shape (D, 3O)
        ``[sum_xy | sum_xy_plus | sum_x_plus]``; those three attributes are views of it.
    output_sums : ndarray, shape (4, O)
        ``[sum_y; sum_y_plus; sum_yy; sum_yy_plus]``; those four attributes are views of it.
    """

    sum_xy = ProductColumns(0)
    sum_xy_plus = ProductColumns(1)
    sum_x_plus = ProductColumns(2)
    sum_y = OutputRow(0)
    sum_y_plus = OutputRow(1)
    sum_yy = OutputRow(2)
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
        o, d = weight.shape
        self.shift = None
        self.n = 0
        self.n_plus = np.zeros(o, dtype=np.int64)
        self.sum_x = np.zeros(d)
        self.products = np.zeros((d, 3 * o))
        self.output_sums = np.zeros((4, o))
        self.sum_xx = np.zeros((d, d)) if self.second_moment else None

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
    def gamma(self) -> np.ndarray:
        """``γ_o = w_oᵀc`` (O,): ``y = ỹ + γ``."""
        if self.shift is None:
            return np.zeros(self.n_neurons)
        return self.weight @ self.shift

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
                raise TypeError(f"{self.layer_name}: z must be a floating-point array, got {type(z).__name__}")
            if z.shape != expected:
                raise ValueError(f"{self.layer_name}: z must have the shape of the output of neurons "
                                 f"{self.neurons.start}:{self.neurons.stop} for x {x.shape}, {expected}; got {z.shape}")
        return expected

    def accumulate(self, x, z, backend=None) -> None:
        """Add one batch in place.  ``x``: the layer input, (N, D) or (N, C, H, W); ``z``: the
        output ``wᵀx + b`` of these neurons, (N, O) or (N, O, OH, OW) (only its sign is used, for
        the gate).  The shift ``c`` is the mean observation of the first batch's first samples.

        ``backend``: a name or a :class:`~refpattern.kernels.Backend`, whose
        ``accumulate_statistics`` does the work (``"numpy"``: the readable reference path).
        """
        self._check_batch(x, z)
        if x.shape[0] == 0:
            return
        self._set_shift(x)
        self.n += get_backend(backend).accumulate_statistics(
            x, z, self.weight, self.shift, self._conv(x), self.products, self.sum_x, self.n_plus, self.output_sums,
            self.sum_xx)

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
        self._set_shift(x)
        out, n = backend.forward_statistics(x, self.weight, self.bias, self.shift, self._conv(x), self.products,
                                            self.sum_x, self.n_plus, self.output_sums, self.sum_xx, relu=relu)
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
        shift = observation_mean(self.layer, x[:samples])
        shift.setflags(write=False)
        self.shift = shift

    def _add(self, other) -> None:
        """Add another's sums taken around the same shift (in place: no new (D, O) arrays)."""
        self.n += other.n
        for name in SUM_FIELDS[1:]:
            if name == "sum_xx" and not self.second_moment:
                continue
            total = getattr(self, name)
            total += getattr(other, name)

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

        With ``δ = c − c'`` and ``ε = Wδ`` (so ``x − c' = x̃ + δ``, ``ỹ' = ỹ + ε``), per neuron::

            Σx̃'  = Σx̃ + nδ                     Σỹ'   = Σỹ + nε
            Σx̃'ỹ' = Σx̃ỹ + δΣỹ + εΣx̃ + nδε      Σỹ'²  = Σỹ² + 2εΣỹ + nε²
            Σx̃'x̃'ᵀ = Σx̃x̃ᵀ + δΣx̃ᵀ + Σx̃δᵀ + nδδᵀ

        and the same for the gate-open sums with ``n₊`` in place of ``n``.
        """
        shift = np.asarray(shift, dtype=np.float64)
        if shift.shape != (self.n_inputs,):
            raise ValueError(f"{self.layer_name}: shift must have shape ({self.n_inputs},), got {shift.shape}")
        new = self.copy()
        shift = shift.copy()
        shift.setflags(write=False)
        new.shift = shift
        if self.shift is None or self.n == 0:
            return new
        delta = self.shift - shift
        eps = self.weight @ delta
        n, n_plus = float(self.n), self.n_plus.astype(np.float64)
        new.sum_x = self.sum_x + n * delta
        new.sum_x_plus = self.sum_x_plus + np.outer(delta, n_plus)
        new.sum_y = self.sum_y + n * eps
        new.sum_y_plus = self.sum_y_plus + n_plus * eps
        new.sum_yy = self.sum_yy + 2 * eps * self.sum_y + n * eps ** 2
        new.sum_yy_plus = self.sum_yy_plus + 2 * eps * self.sum_y_plus + n_plus * eps ** 2
        new.sum_xy = self.sum_xy + np.outer(delta, self.sum_y) + np.outer(self.sum_x, eps) + n * np.outer(delta, eps)
        new.sum_xy_plus = (self.sum_xy_plus + np.outer(delta, self.sum_y_plus) + self.sum_x_plus * eps
                           + np.outer(delta, n_plus * eps))
        if self.second_moment:
            new.sum_xx = (self.sum_xx + np.outer(delta, self.sum_x) + np.outer(self.sum_x, delta)
                          + n * np.outer(delta, delta))
        return new

    def merge(self, other: LayerStatistics) -> LayerStatistics:
        """The statistics of both data streams together (a new object; neither is changed).

        ``other`` is re-centred onto this shift, then the sums add.  ``sum_xx`` is kept only if
        both have it.  Raises ``ValueError`` if the two were taken for different layers.
        """
        if not isinstance(other, LayerStatistics):
            raise TypeError(f"merge: expected LayerStatistics, got {type(other).__name__}")
        if not self.describes(other.layer):
            raise ValueError(f"merge: kernel layer {self.kernel_index} statistics are for different layers "
                             f"({self.layer_name}, weight shape {self.kernel_shape} vs {other.layer_name}, "
                             f"weight shape {other.kernel_shape}, or different parameters/stride/padding)")
        if other.neurons != self.neurons:
            raise ValueError(f"merge: kernel layer {self.kernel_index} statistics cover different neurons "
                             f"({self.neurons.start}:{self.neurons.stop} "
                             f"vs {other.neurons.start}:{other.neurons.stop})")
        keep_xx = self.second_moment and other.second_moment
        left, right = self.copy(), other.copy()
        for item in (left, right):
            if not keep_xx:
                item.second_moment, item.sum_xx = False, None
        if right.n == 0:
            return left
        if left.n == 0:
            return right
        right = right.recentered(left.shift)
        left._add(right)
        return left

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
        sum_y, sum_y_plus = self.sum_y[neurons], self.sum_y_plus[neurons]
        sum_yy, sum_yy_plus = self.sum_yy[neurons], self.sum_yy_plus[neurons]
        sum_xy, sum_xy_plus = self.sum_xy[:, neurons], self.sum_xy_plus[:, neurons]
        sum_x_plus = self.sum_x_plus[:, neurons]
        return {
            "x": self.sum_x / n,
            "y": sum_y / n,
            "yy": sum_yy / n,
            "xy": sum_xy / n,
            "x_plus": sum_x_plus / safe_plus,
            "y_plus": sum_y_plus / safe_plus,
            "yy_plus": sum_yy_plus / safe_plus,
            "xy_plus": sum_xy_plus / safe_plus,
            "x_minus": (self.sum_x[:, None] - sum_x_plus) / safe_minus,
            "y_minus": (sum_y - sum_y_plus) / safe_minus,
            "yy_minus": (sum_yy - sum_yy_plus) / safe_minus,
            "xy_minus": (sum_xy - sum_xy_plus) / safe_minus,
        }


class NetworkStatistics:
    """One :class:`LayerStatistics` per kernel layer of a network, in forward order.

    ``stats[k]`` belongs to ``net.kernel_layers[k]``; ``a.merge(b)`` merges layer by layer.
    """

    def __init__(self, layers):
        self.layers = tuple(layers)

    @classmethod
    def empty(cls, net, second_moment: bool = False) -> NetworkStatistics:
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
        """Raise ``ValueError`` unless these statistics were taken for ``net``'s kernel layers."""
        kernels = net.kernel_layers
        if len(kernels) != len(self):
            raise ValueError(f"statistics have {len(self)} kernel layers, the network has {len(kernels)}")
        for k, (s, layer) in enumerate(zip(self.layers, kernels)):
            if not s.describes(layer):
                raise ValueError(f"statistics of kernel layer {k} ({s.layer_name}, weight shape {s.kernel_shape}) "
                                 f"do not belong to {layer!r} (weight shape {tuple(layer.weight.shape)}): "
                                 "type, parameters, stride or padding differ")
