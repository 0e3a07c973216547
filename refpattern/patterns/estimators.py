"""Signal estimators (Kindermans et al., 2018, Sec. 4): patterns from the sufficient statistics.

Per neuron with filter ``w`` (``y = wᵀx``, no bias; gate ``wᵀx + b > 0``), ``docs/paper.md`` §3:

- ``S_x(x) = x``                    identity; no arrays.
- ``S_w(x) = w·wᵀx / (wᵀw)``        ``a = w / (wᵀw)``.
- ``S_a(x) = a·wᵀx``                ``a = cov[x, y] / σ²_y``.
- ``S_a±(x) = a₊·wᵀx`` if the gate is open, else ``a₋·wᵀx``, with, ``variant="paper"``
  (the paper, iNNvestigate's and nn-patterns' "relu" patterns)::

      a₊ = (E₊[xy] − E₊[x]·E[y]) / (wᵀE₊[xy] − wᵀE₊[x]·E[y])        E[y]: over ALL observations

  and ``a₋`` likewise with ``E₋``; ``variant="regime"`` uses the within-regime mean ``E₊[y]``
  instead of ``E[y]``, i.e. ``a₊ = cov₊[x, y] / var₊[y]``.
- ``random``: a random direction ``r ~ N(0, I_D)`` per neuron, scaled so that ``wᵀa = 1``:
  ``a = r / (wᵀr)``.  The scale matters for ρ: with ``wᵀa ≠ 1`` the distractor ``x − a·y``
  keeps a multiple of ``y`` (``wᵀd̂ = (1 − wᵀa)·y``) and ρ would be 0 trivially; every other
  estimator also has ``wᵀa = 1``.  The draw is ``numpy.random.default_rng([RANDOM_TAG, seed, k])``
  for kernel layer ``k``, one row of ``standard_normal((O, D))`` per neuron.  (The constant tag
  keeps the draw apart from a user's ``default_rng(seed)``: NumPy's SeedSequence ignores
  trailing zeros, so ``default_rng([0, 0])`` would repeat ``default_rng(0)``, e.g. the very
  generator that drew the weights, and make the random patterns equal ``S_w``.)

What each variant satisfies on its fitting data (Eq. 2, per regime ``r ∈ {+, −}``)::

    paper:   E_r[(x − a_r·y)·(y − E[y])] = 0      (hence, summed over regimes, cov[x − S_a±(x), y] = 0)
    regime:  cov_r[x − a_r·y, y] = 0              (but cov[x − S_a±(x), y] ≠ 0 in general)

Both hold because ``a_r = N_r / (wᵀN_r)`` (``N_r`` the numerator): for the paper variant
``E_r[(x − a_r·y)(y − E[y])] = N_r − a_r·E_r[y(y − E[y])] = N_r − a_r·wᵀN_r = 0``, and weighting
the two regimes by their frequencies gives ``E[d̂·(y − E[y])] = cov[d̂, y] = 0``; the regime
variant is the same computation with ``E_r[y]``, and its overall covariance is
``cov[d̂, y] = Σ_r p_r·E_r[d̂]·(E_r[y] − E[y])``, not zero in general.  The paper variant is not invariant to a shift of ``x``: in the shifted
coordinates of the statistics (``x = x̃ + c``, ``y = ỹ + γ``, ``γ = wᵀc``)::

    E₊[xy] − E₊[x]·E[y] = E₊[x̃ỹ] − E₊[x̃]·E[ỹ] + c·(E₊[ỹ] − E[ỹ])

and its ``wᵀ`` is ``E₊[ỹ²] − E₊[ỹ]·E[ỹ] + γ·(E₊[ỹ] − E[ỹ])``; the ``c`` term is exactly the
dependence on the origin.  S_a and the regime variant are shift-invariant.

Degenerate neurons.  A denominator that is zero up to rounding (``|den| ≤`` :data:`ZERO_TOLERANCE`
× the sum of the magnitudes of its terms: a zero kernel, a constant output) or a regime with no
observation (a dead unit, a never-negative unit) gives a zero pattern in that regime, as in
iNNvestigate, and a :class:`~refpattern.patterns.container.DegenerateNeuron` entry; a regime with
fewer than :data:`FEW_SAMPLES` observations is listed but kept.  No NaN and no warning is produced.

All patterns come back in the kernel's layout: (out, in) for Dense, (out_ch, in_ch, kh, kw) for Conv2D.
"""

from __future__ import annotations

import numpy as np

from refpattern.patterns.container import (
    DegenerateNeuron,
    LayerPatterns,
    Patterns,
    RegimeCounts,
    canonical_estimator,
    check_variant,
)

#: A denominator with ``|den| ≤ ZERO_TOLERANCE · (sum of |terms|)`` counts as zero.
ZERO_TOLERANCE = 1e-12
#: First entropy word of the random estimator's generator (ASCII "RANDPAT").
RANDOM_TAG = 0x52414E44504154
#: A regime with fewer observations than this is reported (the pattern is kept).
FEW_SAMPLES = 10
#: Largest (D, neurons) temporary of the estimator step, in elements (see :func:`neuron_blocks`).
BLOCK_ELEMENTS = 1 << 21


def is_zero(denominator, scale):
    """``|denominator| ≤ ZERO_TOLERANCE · scale`` (elementwise; exact zero when ``scale`` is 0)."""
    return np.abs(denominator) <= ZERO_TOLERANCE * scale


def divide_columns(numerator, denominator, zero):
    """``numerator[:, o] / denominator[o]``, and 0 where ``zero[o]``; (D, O) -> (O, D)."""
    out = np.zeros(numerator.shape)
    np.divide(numerator, denominator[None, :], out=out, where=~zero[None, :])
    return out.T


# --- one estimator each: (O, D) patterns and (neuron, regime, reason, count, zeroed) tuples -----

def pattern_w(weight):
    """S_w: ``a = w / (wᵀw)`` per row of ``weight`` (O, D)."""
    norm2 = np.einsum("od,od->o", weight, weight)
    zero = norm2 == 0
    a = np.zeros(weight.shape)
    np.divide(weight, norm2[:, None], out=a, where=~zero[:, None])
    return a, [(o, "all", "zero kernel (wᵀw = 0)", True) for o in np.flatnonzero(zero)]


def pattern_random(weight, rng):
    """Random baseline: ``a = r / (wᵀr)``, ``r ~ N(0, I_D)`` per neuron; zero if ``wᵀr`` is 0 up to rounding."""
    r = rng.standard_normal(weight.shape)
    wr = np.einsum("od,od->o", weight, r)
    scale = np.sqrt(np.einsum("od,od->o", weight, weight) * np.einsum("od,od->o", r, r))
    zero = is_zero(wr, scale)
    a = np.zeros(weight.shape)
    np.divide(r, wr[:, None], out=a, where=~zero[:, None])
    return a, [(o, "all", "wᵀr = 0 (zero kernel)", True) for o in np.flatnonzero(zero)]


def neuron_blocks(stats, budget=None):
    """Slices of neurons whose (D, block) temporaries have at most ``budget`` elements
    (default :data:`BLOCK_ELEMENTS`); the estimators work block by block, so a wide layer
    (VGG-16's 25088→4096) never needs more than a few such blocks on top of its sums."""
    budget = BLOCK_ELEMENTS if budget is None else budget
    size = max(1, budget // max(1, stats.n_inputs))
    return [slice(start, min(start + size, stats.n_neurons)) for start in range(0, stats.n_neurons, size)]


def pattern_a(stats, out=None):
    """S_a: ``a = cov[x, y] / σ²_y`` (shift-invariant; computed in shifted coordinates).

    ``out``: an (O, D) array to write the patterns into (e.g. rows of a whole layer's array
    when ``stats`` cover a block of its neurons); every row is written.  Notes carry neuron
    indices local to ``stats``.
    """
    a = np.zeros((stats.n_neurons, stats.n_inputs)) if out is None else out
    notes = []
    for block in neuron_blocks(stats):
        m = stats.moments(block)
        numerator = m["xy"] - np.outer(m["x"], m["y"])
        denominator = m["yy"] - m["y"] ** 2
        zero = is_zero(denominator, m["yy"] + m["y"] ** 2)
        notes += [(block.start + o, "all", "σ²_y = 0 (zero kernel or constant output)", True)
                  for o in np.flatnonzero(zero)]
        a[block] = divide_columns(numerator, denominator, zero)
    return a, notes


def patterns_a_pm(stats, variant: str = "paper", out=None):
    """S_a±: ``(a₊, a₋)``, each (O, D), for ``variant`` ``"paper"`` or ``"regime"`` (module docstring).

    ``out``: a pair of (O, D) arrays ``(a₊, a₋)`` to write into, as in :func:`pattern_a`.
    """
    check_variant(variant)
    shift = np.zeros(stats.n_inputs) if stats.shift is None else stats.shift
    counts = {"plus": stats.n_plus, "minus": stats.n_minus}
    gammas = stats.gamma
    if out is None:
        out = tuple(np.zeros((stats.n_neurons, stats.n_inputs)) for _ in counts)
    result = dict(zip(counts, out))
    notes = {regime: [] for regime in counts}
    for block in neuron_blocks(stats):
        m = stats.moments(block)
        gamma = gammas[block]
        for regime, sign in (("plus", "₊"), ("minus", "₋")):
            x_r, y_r, yy_r, xy_r = m["x_" + regime], m["y_" + regime], m["yy_" + regime], m["xy_" + regime]
            if variant == "paper":
                y_ref = m["y"]
                numerator = xy_r - x_r * y_ref + np.outer(shift, y_r - y_ref)
                denominator = yy_r - y_r * y_ref + gamma * (y_r - y_ref)
                scale = yy_r + np.abs(y_r * y_ref) + np.abs(gamma) * (np.abs(y_r) + np.abs(y_ref))
            else:
                numerator = xy_r - x_r * y_r
                denominator = yy_r - y_r ** 2
                scale = yy_r + y_r ** 2
            empty = counts[regime][block] == 0
            zero = empty | is_zero(denominator, scale)
            result[regime][block] = divide_columns(numerator, denominator, zero)
            for local in range(block.stop - block.start):
                o = block.start + local
                n_r = int(counts[regime][o])
                if empty[local]:
                    notes[regime].append((o, regime, "no observation with the gate "
                                          f"{'open' if regime == 'plus' else 'closed'}", True))
                elif zero[local]:
                    what = f"wᵀE{sign}[xy] − wᵀE{sign}[x]·E[y] = 0" if variant == "paper" else f"var{sign}[y] = 0"
                    notes[regime].append((o, regime, f"zero denominator ({what})", True))
                elif n_r < FEW_SAMPLES:
                    notes[regime].append((o, regime, f"only {n_r} observation(s) in this regime", False))
    return result["plus"], result["minus"], notes["plus"] + notes["minus"]


# --- a whole layer, from the statistics of all its neurons or of blocks of them ------------------

class LayerEstimate:
    """The patterns of one kernel layer, estimated block of neurons by block of neurons.

    A single-pass fit has one block, the whole layer (:func:`estimate_layer`); a fit under a
    memory limit (:mod:`refpattern.patterns.passes`) takes a wide layer's statistics in blocks
    of neurons, one pass over the data each, and adds each block here as soon as its pass is
    done, so that its sums can be dropped.  The layer's pattern arrays are allocated once, (O, D)
    each, and every block fills its rows; every number of a neuron depends only on that neuron's
    sums (and on ``n``, ``Σx̃`` and ``c``, which all blocks share), so blocks give the same patterns,
    counts and :class:`~refpattern.patterns.container.DegenerateNeuron` entries as the whole layer.

    Parameters
    ----------
    layer : Dense or Conv2D
    kernel_index, layer_index : int
        ``k`` and ``net.kernel_indices[k]``.
    estimator : {"x", "w", "a", "a+-", "random"}
        A canonical name (:func:`~refpattern.patterns.container.canonical_estimator`).
    variant : {"paper", "regime"}
    seed : int
        For "random".
    """

    def __init__(self, layer, kernel_index, layer_index, estimator, variant="paper", seed=0):
        self.layer, self.kernel_index, self.layer_index = layer, int(kernel_index), int(layer_index)
        self.estimator, self.variant, self.seed = canonical_estimator(estimator), check_variant(variant), seed
        self.shape = tuple(layer.weight.shape)
        o, d = self.shape[0], int(np.prod(self.shape[1:]))
        names = {"a": ("a",), "a+-": ("a_plus", "a_minus")}.get(self.estimator, ())
        self.arrays = {name: np.empty((o, d)) for name in names}  # every row is written by one block
        self.filled = np.zeros(o, dtype=bool)
        self.counts = None  # RegimeCounts once a block was added
        self.n_samples = 0
        self.notes = {"all": [], "few": [], "plus": [], "minus": []}  # (neuron, DegenerateNeuron)

    @property
    def needs_statistics(self) -> bool:
        return self.estimator in ("a", "a+-")

    def add(self, stats) -> None:
        """Estimate the neurons ``stats.neurons`` from their statistics (a ``LayerStatistics``)."""
        rows = stats.neurons
        where = f"kernel layer {self.kernel_index} ({stats.layer_name}), neurons {rows.start}:{rows.stop}"
        if stats.kernel_index != self.kernel_index or stats.kernel_shape != self.shape:
            raise ValueError(f"{where}: statistics of kernel layer {stats.kernel_index} (weight shape "
                             f"{stats.kernel_shape}) given for kernel layer {self.kernel_index} (weight shape "
                             f"{self.shape})")
        if self.filled[rows].any():
            raise ValueError(f"{where}: neurons {np.flatnonzero(self.filled[rows]) + rows.start} were estimated "
                             "already")
        if self.needs_statistics and stats.n == 0:
            raise ValueError(f"estimator {self.estimator!r} needs statistics from data (kernel layer "
                             f"{self.kernel_index})")
        if self.counts is None:
            o = self.shape[0]
            self.n_samples = stats.n
            self.counts = RegimeCounts(np.full(o, stats.n, dtype=np.int64), np.zeros(o, dtype=np.int64),
                                       np.zeros(o, dtype=np.int64))
        elif stats.n != self.n_samples:
            raise ValueError(f"{where}: {stats.n} observations, but the layer's other neurons had "
                             f"{self.n_samples} (the blocks were fitted on different data)")
        self.counts.n_plus[rows] = stats.n_plus
        self.counts.n_minus[rows] = stats.n_minus

        def count_of(o, regime):
            return {"all": stats.n, "plus": int(stats.n_plus[o]), "minus": int(stats.n_minus[o])}[regime]

        if self.estimator == "a":
            _, notes = pattern_a(stats, out=self.arrays["a"][rows])
        elif self.estimator == "a+-":
            _, _, notes = patterns_a_pm(stats, self.variant,
                                        out=(self.arrays["a_plus"][rows], self.arrays["a_minus"][rows]))
        else:
            notes = []
        for o, regime, reason, zeroed in notes:
            self.notes[regime].append(DegenerateNeuron(self.kernel_index, rows.start + int(o), regime, reason,
                                                       count_of(o, regime), zeroed))
        self.filled[rows] = True

    def result(self) -> LayerPatterns:
        """The layer's :class:`LayerPatterns` once every neuron was added (the data-free
        estimators need no block; added blocks then only give the counts)."""
        if (self.needs_statistics or self.counts is not None) and not self.filled.all():
            if self.counts is None:
                raise ValueError(f"estimator {self.estimator!r} needs statistics from data (kernel layer "
                                 f"{self.kernel_index})")
            missing = np.flatnonzero(~self.filled)
            raise ValueError(f"kernel layer {self.kernel_index} ({self.layer!r}): no statistics for neurons "
                             f"{missing[:10].tolist()}{' …' if missing.size > 10 else ''} ({missing.size} of "
                             f"{self.shape[0]})")
        weight = self.layer.weight.reshape(self.shape[0], -1)
        extra = []
        if self.estimator == "w":
            a, extra = pattern_w(weight)
            self.arrays["a"] = a
        elif self.estimator == "random":
            a, extra = pattern_random(weight, np.random.default_rng([RANDOM_TAG, int(self.seed),
                                                                     self.kernel_index]))
            self.arrays["a"] = a
        elif self.estimator == "a" and self.n_samples < FEW_SAMPLES:
            zeroed = {d.neuron for d in self.notes["all"]}
            extra = [(o, "all", f"only {self.n_samples} observation(s)", False)
                     for o in range(self.shape[0]) if o not in zeroed]
        self.notes["few" if self.estimator == "a" else "all"] += [
            DegenerateNeuron(self.kernel_index, int(o), regime, reason, self.n_samples, zeroed)
            for o, regime, reason, zeroed in extra]
        # the order of a single pass: per regime, by neuron (blocks may come in any order)
        degenerate = [d for regime in ("all", "few", "plus", "minus")
                      for d in sorted(self.notes[regime], key=lambda d: d.neuron)]
        arrays = {name: array.reshape(self.shape) for name, array in self.arrays.items()}
        return LayerPatterns(self.kernel_index, self.layer_index, repr(self.layer), self.shape, counts=self.counts,
                             n_samples=self.n_samples, degenerate=degenerate, copy=False,  # fresh arrays: no copy
                             **arrays)


def estimate_layer(layer, kernel_index, layer_index, stats, estimator, variant="paper", seed=0) -> LayerPatterns:
    """The :class:`LayerPatterns` of one kernel layer from the statistics of all its neurons
    (``stats`` may be None for "x", "w", "random")."""
    estimate = LayerEstimate(layer, kernel_index, layer_index, estimator, variant, seed)
    if stats is not None:
        estimate.add(stats)
    return estimate.result()


# --- a whole network --------------------------------------------------------------------------

def patterns_from_statistics(net, stats, estimator="a+-", variant="paper", seed=0) -> Patterns:
    """Patterns of every kernel layer of ``net`` from :class:`~refpattern.patterns.statistics.NetworkStatistics`.

    Parameters
    ----------
    net : Sequential
    stats : NetworkStatistics or None
        From :func:`~refpattern.patterns.fit.fit_statistics` (possibly merged); None is allowed
        for the data-free estimators "x", "w" and "random" (then ``counts`` is None).
    estimator : {"x", "w", "a", "a+-", "random"} or iNNvestigate's "linear" (= "a"), "relu" (= "a+-")
    variant : {"paper", "regime"}
        Only used by "a+-" (module docstring).
    seed : int
        Only used by "random".
    """
    estimator = canonical_estimator(estimator)
    check_variant(variant)
    if stats is not None:
        stats.check_network(net)
    elif estimator in ("a", "a+-"):
        raise ValueError(f"estimator {estimator!r} needs statistics (fit_statistics) or data")
    layers = [estimate_layer(net.layers[index], k, index, None if stats is None else stats[k], estimator, variant,
                             seed)
              for k, index in enumerate(net.kernel_indices)]
    return Patterns(estimator, variant, layers, seed=seed if estimator == "random" else None)
