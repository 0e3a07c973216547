"""Signal estimators (Kindermans et al., 2018, Sec. 4) as objects: the one module that knows their names.

A name given at the public API (``fit_patterns(net, X, "a+-", variant=…, seed=…)``, an
iNNvestigate alias such as ``"relu"``, or an :class:`Estimator` object) is resolved once, by
:func:`resolve_estimator`, into an :class:`Estimator`; everything below the API receives that
object and asks it, never its name.  Each estimator knows its canonical name, its label, its
variant and seed, whether it needs data and which statistics it reads, which pattern arrays a
layer gets, and how it computes them (``docs/math.md#estimators``).  Per neuron with filter ``w``
(``y = wᵀx``, no bias; gate ``wᵀx + b > 0``):

- ``S_x(x) = x``                    (:class:`Identity`) identity; no arrays.
- ``S_w(x) = w·wᵀx / (wᵀw)``        (:class:`Filter`) ``a = w / (wᵀw)``.
- ``S_a(x) = a·wᵀx``                (:class:`Linear`) ``a = cov[x, y] / σ²_y``.
- ``S_a±(x) = a₊·wᵀx`` if the gate is open, else ``a₋·wᵀx`` (:class:`TwoComponent`), with,
  ``variant="paper"`` (the paper, iNNvestigate's and nn-patterns' "relu" patterns)::

      a₊ = (E₊[xy] − E₊[x]·E[y]) / (wᵀE₊[xy] − wᵀE₊[x]·E[y])        E[y]: over ALL observations

  and ``a₋`` likewise with ``E₋``; ``variant="regime"`` uses the within-regime mean ``E₊[y]``
  instead of ``E[y]``, i.e. ``a₊ = cov₊[x, y] / var₊[y]``.
- ``random`` (:class:`RandomDirection`): ``a = r / (wᵀr)``, ``r ~ N(0, I_D)`` per neuron.  The scale
  matters for ρ: with ``wᵀa ≠ 1`` the distractor ``x − a·y`` keeps a multiple of ``y``
  (``wᵀd̂ = (1 − wᵀa)·y``) and ρ would be 0 trivially; every other estimator also has ``wᵀa = 1``.
  The draw is ``numpy.random.default_rng([RANDOM_TAG, seed, k])`` for kernel layer ``k``, one row
  of ``standard_normal((O, D))`` per neuron.  (The constant tag keeps the draw apart from a user's
  ``default_rng(seed)``: NumPy's SeedSequence ignores trailing zeros, so ``default_rng([0, 0])``
  would repeat ``default_rng(0)``, e.g. the very generator that drew the weights, and make the
  random patterns equal ``S_w``.)

What each S_a± variant satisfies on its fitting data (Eq. 2, per regime ``r ∈ {+, −}``)::

    paper:   E_r[(x − a_r·y)·(y − E[y])] = 0      (hence, summed over regimes, cov[x − S_a±(x), y] = 0)
    regime:  cov_r[x − a_r·y, y] = 0              (but cov[x − S_a±(x), y] ≠ 0 in general)

Both hold because ``a_r = N_r / (wᵀN_r)`` (``N_r`` the numerator).  The paper variant is not
invariant to a shift of ``x``: in the shifted coordinates of the statistics (``x = x̃ + c``,
``y = ỹ + γ``, ``γ = wᵀc``)::

    E₊[xy] − E₊[x]·E[y] = E₊[x̃ỹ] − E₊[x̃]·E[ỹ] + c·(E₊[ỹ] − E[ỹ])

and its ``wᵀ`` is ``E₊[ỹ²] − E₊[ỹ]·E[ỹ] + γ·(E₊[ỹ] − E[ỹ])``; the ``c`` term is exactly the
dependence on the origin.  S_a and the regime variant are shift-invariant.

Degenerate neurons.  A denominator that is zero up to rounding (``|den| ≤`` :data:`ZERO_TOLERANCE`
× the sum of the magnitudes of its terms: a zero kernel, a constant output) or a regime with no
observation (a dead unit, a never-negative unit) gives a zero pattern in that regime, as in
iNNvestigate, and a note.  The sum of magnitudes is taken in the shifted coordinates, where a
layer input that is the same for every sample but for the rounding of the forward pass (a
constant batch through a padded convolution with the Numba kernels) has moments that are all
rounding noise; so a denominator is also zero when ``|den| ≤`` :data:`ROUNDING_TOLERANCE` ·
``E_r[y²]``, the second moment of ``y`` itself (``E_r[(ỹ + γ)²]``): a spread of ``y`` below 2⁻⁴⁰
of its magnitude, which float64 data far from that limit never has
(``docs/conventions.md#degenerate``).  A regime with fewer than :data:`FEW_SAMPLES` observations is noted
but kept.  No NaN and no warning is produced.

Adding an estimator is one subclass of :class:`Estimator` (anywhere: subclassing registers its
``name`` for :func:`resolve_estimator` and for reading saved patterns).  Patterns are returned
in rows, (O, D) per layer; :mod:`refpattern.patterns.estimate` reshapes them to the kernel's layout.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from refpattern.network.validation import check_seed

#: A denominator with ``|den| ≤ ZERO_TOLERANCE · (sum of |terms|)`` counts as zero.
ZERO_TOLERANCE = 1e-12
#: A variance-like denominator with ``|den| ≤ ROUNDING_TOLERANCE · E[y²]`` (``y`` unshifted) is the
#: rounding noise of the forward pass (a spread of ``y`` below 2⁻⁴⁰ of its magnitude) and counts as zero.
ROUNDING_TOLERANCE = 2.0 ** -80
#: First entropy word of the random estimator's generator (ASCII "RANDPAT").
RANDOM_TAG = 0x52414E44504154
#: A regime with fewer observations than this is noted (the pattern is kept).
FEW_SAMPLES = 10
#: Largest (D, neurons) temporary of the estimator step, in elements (see :func:`neuron_blocks`).
BLOCK_ELEMENTS = 1 << 21
#: The variants of S_a± (module docstring).
VARIANTS = ("paper", "regime")

#: The pattern arrays a layer can have (``LayerPatterns`` attributes): one pattern, one per gate regime, none.
FIELD_LAYOUTS = (("a",), ("a_plus", "a_minus"), ())

#: Every estimator class by canonical name and alias (filled by :meth:`Estimator.__init_subclass__`).
REGISTRY: dict = {}


class Estimator:
    """A signal estimator ``S(x)``: what a fit asks about it, and how it computes a layer's patterns.

    A data estimator implements :meth:`from_statistics`, a data-free one :meth:`from_weights`.
    Both return *notes* ``(neuron, regime, reason, zeroed)`` about degenerate neurons: ``regime``
    ``"all"``, ``"plus"`` or ``"minus"``; ``zeroed`` False for a pattern kept from few samples.

    The attributes below are class attributes; a subclass sets them.

    Attributes
    ----------
    name : str
        The canonical name (saved in pattern files), e.g. ``"a+-"``.
    label : str
        For tables and figures, e.g. ``"S_a±"``.
    aliases : tuple of str
        Other names accepted for it (iNNvestigate's ``"relu"`` …).
    fields : tuple of str
        The pattern arrays of a layer: ``("a",)`` (one pattern), ``("a_plus", "a_minus")`` (one per
        gate regime) or ``()`` (S_x: no fixed pattern).
    statistics : tuple of str
        The sums of :class:`~refpattern.patterns.statistics.LayerStatistics` it reads; empty for an
        estimator computed from the weights alone (then it needs no data).
    variants : tuple of str
        The variants it offers (the first is the default); empty if it has none.
    seeded : bool
        Whether it draws random numbers (then it takes a ``seed``).
    """

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    aliases: ClassVar[tuple] = ()
    fields: ClassVar[tuple] = ("a",)
    statistics: ClassVar[tuple] = ()
    variants: ClassVar[tuple] = ()
    seeded: ClassVar[bool] = False

    def __init_subclass__(cls, **options):
        super().__init_subclass__(**options)
        if cls.fields not in FIELD_LAYOUTS:
            raise TypeError(f"{cls.__qualname__}.fields must be one of {FIELD_LAYOUTS}, got {cls.fields!r}")
        for key in (cls.name, *cls.aliases) if cls.name else ():
            known = REGISTRY.get(key)
            if known is not None and known.__qualname__ != cls.__qualname__:
                raise ValueError(f"estimator name {key!r} is taken by {known.__qualname__}")
            REGISTRY[key] = cls

    def __init__(self, variant: str | None = None, seed=None):
        if not self.variants and variant is not None:
            raise ValueError(f"estimator {self.name!r} has no variant, got variant={variant!r}")
        if not self.seeded and seed is not None:
            raise ValueError(f"estimator {self.name!r} draws no random numbers, got seed={seed!r}")
        variant = self.variants[0] if self.variants and variant is None else variant
        if self.variants and variant not in self.variants:
            raise ValueError(f"variant must be one of {self.variants} for estimator {self.name!r}, got {variant!r}")
        self.variant = variant
        self.seed = check_seed(0 if seed is None else seed) if self.seeded else None

    @property
    def needs_data(self) -> bool:
        """Whether its patterns come from statistics of data (else from the weights alone)."""
        return bool(self.statistics)

    @property
    def has_pattern(self) -> bool:
        """Whether a layer gets pattern arrays (S_x has none: ``S_x(x) = x``)."""
        return bool(self.fields)

    def from_statistics(self, stats, out: dict) -> list:
        """Write the patterns of the neurons ``stats`` covers into ``out[field]`` ((O, D) rows each,
        O = ``stats.n_neurons``; every row written) and return the notes (local neuron indices)."""
        raise NotImplementedError(f"{type(self).__name__} computes no patterns from statistics")

    def from_weights(self, weight, kernel_index: int) -> tuple:
        """``({field: (O, D) array}, notes)`` from the filters ``weight`` (O, D) of kernel layer ``kernel_index``."""
        raise NotImplementedError(f"{type(self).__name__} computes no patterns from the weights alone")

    def _key(self) -> tuple:
        return type(self), self.variant, self.seed

    def __eq__(self, other) -> bool:
        return isinstance(other, Estimator) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        options = (f", variant={self.variant!r}" if self.variant else "") + (
            f", seed={self.seed}" if self.seeded else "")
        return f"{type(self).__name__}({self.name!r}{options})"


def resolve_estimator(estimator, variant: str | None = None, seed=None) -> Estimator:
    """The :class:`Estimator` for a name, an iNNvestigate alias, a subclass or an instance.

    ``variant`` (S_a±: ``"paper"``, the default, or ``"regime"``) and ``seed`` (random: an int,
    default 0) configure a name; an estimator that has no variant or seed ignores them (a
    variant must still be one of :data:`VARIANTS`).  With an instance they must be None or agree
    with it.  Raises ``TypeError``/``ValueError`` naming what came; a ``seed`` given is checked
    (:func:`~refpattern.network.validation.check_seed`) even where the estimator ignores it.
    """
    if seed is not None:
        seed = check_seed(seed)
    if (isinstance(estimator, Estimator) or isinstance(estimator, type) and issubclass(estimator, Estimator)) \
            and not estimator.name:
        raise TypeError(f"estimator: {estimator!r} is the abstract base or a subclass without a name, which computes "
                        "no patterns; give a name such as 'a+-' or a concrete Estimator (TwoComponent, Linear, …)")
    if isinstance(estimator, Estimator):
        for option, given, own in (("variant", variant, estimator.variant), ("seed", seed, estimator.seed)):
            if given is not None and given != own:
                raise ValueError(f"{option}={given!r} contradicts the estimator {estimator!r}; leave it out")
        return estimator
    if isinstance(estimator, type) and issubclass(estimator, Estimator):
        cls = estimator
    elif isinstance(estimator, str):
        cls = REGISTRY.get(estimator)
        if cls is None:
            raise ValueError(f"estimator must be one of {', '.join(repr(name) for name in REGISTRY)}; "
                             f"got {estimator!r}")
    else:
        raise TypeError(f"estimator: expected a name such as 'a+-' or a refpattern Estimator, got "
                        f"{type(estimator).__name__}")
    if variant is not None and variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    return cls(variant if cls.variants else None, seed if cls.seeded else None)


def estimator_from_file(name: str, variant: str, seed: int) -> Estimator:
    """The estimator a pattern file names (``variant`` "" and ``seed`` −1 when unused).

    Raises ``ValueError`` for an unknown name or options that contradict the estimator.
    """
    cls = REGISTRY.get(name)
    if cls is None or cls.name != name:
        raise ValueError(f"unknown estimator {name!r}")
    if cls.variants and variant not in cls.variants:
        raise ValueError(f"estimator {name!r} needs a variant in {cls.variants}, got {variant!r}")
    if not cls.variants and variant != "":
        raise ValueError(f"estimator {name!r} has no variant, got {variant!r}")
    if cls.seeded and seed < 0:
        raise ValueError(f"estimator {name!r} needs a seed >= 0, got {seed}")
    if not cls.seeded and seed != -1:
        raise ValueError(f"estimator {name!r} draws no random numbers, so its seed entry must be -1, got {seed}")
    return cls(variant or None, seed if cls.seeded else None)


# --- the arithmetic the estimators share ----------------------------------------------------

def is_zero(denominator, scale):
    """``|denominator| ≤ ZERO_TOLERANCE · scale`` (elementwise; exact zero when ``scale`` is 0)."""
    return np.abs(denominator) <= ZERO_TOLERANCE * scale


def is_rounding_noise(denominator, y_mean, yy_mean, gamma):
    """``|denominator| ≤ ROUNDING_TOLERANCE · E[y²]`` with ``E[y²] = E[(ỹ + γ)²] = E[ỹ²] + γ·(2E[ỹ] + γ)``
    (the second moment of the unshifted ``y``, in the units of the sums; elementwise)."""
    return np.abs(denominator) <= ROUNDING_TOLERANCE * np.abs(yy_mean + gamma * (2 * y_mean + gamma))


def divide_columns(numerator, denominator, zero):
    """``numerator[:, o] / denominator[o]``, and 0 where ``zero[o]``; (D, O) -> (O, D)."""
    out = np.zeros(numerator.shape)
    np.divide(numerator, denominator[None, :], out=out, where=~zero[None, :])
    return out.T


def neuron_blocks(stats, budget=None):
    """Slices of neurons whose (D, block) temporaries have at most ``budget`` elements
    (default :data:`BLOCK_ELEMENTS`); the estimators work block by block, so a wide layer
    (VGG-16's 25088→4096) never needs more than a few such blocks on top of its sums."""
    budget = BLOCK_ELEMENTS if budget is None else budget
    size = max(1, budget // max(1, stats.n_inputs))
    return [slice(start, min(start + size, stats.n_neurons)) for start in range(0, stats.n_neurons, size)]


# --- the five estimators of the paper --------------------------------------------------------

class Identity(Estimator):
    """``S_x(x) = x``: the whole input is signal; no pattern (PatternAttribution with it is LRP-z
    on bias-free nets, ``docs/math.md#pattern-equivalences``)."""

    name, label, aliases, fields = "x", "S_x", ("identity",), ()

    def from_weights(self, weight, kernel_index):
        return {}, []


class Filter(Estimator):
    """``S_w(x) = w·wᵀx / (wᵀw)``: ``a = w / (wᵀw)`` per row of ``weight`` (O, D)."""

    name, label = "w", "S_w"

    def from_weights(self, weight, kernel_index):
        norm2 = np.einsum("od,od->o", weight, weight)
        zero = norm2 == 0
        a = np.zeros(weight.shape)
        np.divide(weight, norm2[:, None], out=a, where=~zero[:, None])
        return {"a": a}, [(o, "all", "zero kernel (wᵀw = 0)", True) for o in np.flatnonzero(zero)]


class RandomDirection(Estimator):
    """Random baseline: ``a = r / (wᵀr)``, ``r ~ N(0, I_D)`` per neuron; zero if ``wᵀr`` is 0 up to rounding."""

    name, label, seeded = "random", "random", True

    def from_weights(self, weight, kernel_index):
        rng = np.random.default_rng([RANDOM_TAG, self.seed, int(kernel_index)])
        r = rng.standard_normal(weight.shape)
        wr = np.einsum("od,od->o", weight, r)
        scale = np.sqrt(np.einsum("od,od->o", weight, weight) * np.einsum("od,od->o", r, r))
        zero = is_zero(wr, scale)
        a = np.zeros(weight.shape)
        np.divide(r, wr[:, None], out=a, where=~zero[:, None])
        return {"a": a}, [(o, "all", "wᵀr = 0 (zero kernel)", True) for o in np.flatnonzero(zero)]


class Linear(Estimator):
    """``S_a``: ``a = cov[x, y] / σ²_y`` (shift-invariant; computed in shifted coordinates)."""

    name, label, aliases = "a", "S_a", ("linear",)
    statistics = ("n", "sum_x", "sum_y_minus", "sum_y_plus", "sum_yy_minus", "sum_yy_plus", "sum_xy_minus",
                  "sum_xy_plus")

    def from_statistics(self, stats, out):
        a = out["a"]
        notes = []
        for block in neuron_blocks(stats):
            m = stats.moments(block)
            numerator = m["xy"] - np.outer(m["x"], m["y"])
            denominator = m["yy"] - m["y"] ** 2
            zero = (is_zero(denominator, m["yy"] + m["y"] ** 2)
                    | is_rounding_noise(denominator, m["y"], m["yy"], stats.scaled_gamma[block]))
            notes += [(block.start + o, "all", "σ²_y = 0 (zero kernel or constant output)", True)
                      for o in np.flatnonzero(zero)]
            a[block] = divide_columns(numerator, denominator, zero)
        if stats.n < FEW_SAMPLES:
            zeroed = {note[0] for note in notes}
            notes += [(o, "all", f"only {stats.n} observation(s)", False)
                      for o in range(stats.n_neurons) if o not in zeroed]
        return notes


class TwoComponent(Estimator):
    """``S_a±``: ``(a₊, a₋)`` for the open and closed gate, ``variant`` ``"paper"`` or ``"regime"``
    (module docstring)."""

    name, label, aliases = "a+-", "S_a±", ("relu", "a±")
    fields = ("a_plus", "a_minus")
    statistics = ("n", "n_plus", "sum_x", "sum_x_plus", "sum_x_minus", "sum_y_minus", "sum_y_plus", "sum_yy_minus",
                  "sum_yy_plus", "sum_xy_minus", "sum_xy_plus")
    variants = VARIANTS

    def from_statistics(self, stats, out):
        shift = stats.scaled_shift  # c and γ in the units of the sums (σ cancels in every ratio)
        counts = {"plus": stats.n_plus, "minus": stats.n_minus}
        gammas = stats.scaled_gamma
        notes = {regime: [] for regime in counts}
        for block in neuron_blocks(stats):
            m = stats.moments(block)
            gamma = gammas[block]
            for regime, sign in (("plus", "₊"), ("minus", "₋")):
                x_r, y_r, yy_r, xy_r = m["x_" + regime], m["y_" + regime], m["yy_" + regime], m["xy_" + regime]
                if self.variant == "paper":
                    y_ref = m["y"]
                    numerator = xy_r - x_r * y_ref + np.outer(shift, y_r - y_ref)
                    denominator = yy_r - y_r * y_ref + gamma * (y_r - y_ref)
                    scale = yy_r + np.abs(y_r * y_ref) + np.abs(gamma) * (np.abs(y_r) + np.abs(y_ref))
                    what = f"wᵀE{sign}[xy] − wᵀE{sign}[x]·E[y] = 0"
                else:
                    numerator = xy_r - x_r * y_r
                    denominator = yy_r - y_r ** 2
                    scale = yy_r + y_r ** 2
                    what = f"var{sign}[y] = 0"
                empty = counts[regime][block] == 0
                zero = empty | is_zero(denominator, scale) | is_rounding_noise(denominator, y_r, yy_r, gamma)
                out["a_" + regime][block] = divide_columns(numerator, denominator, zero)
                for local in range(block.stop - block.start):
                    o = block.start + local
                    n_r = int(counts[regime][o])
                    if empty[local]:
                        notes[regime].append((o, regime, "no observation with the gate "
                                              f"{'open' if regime == 'plus' else 'closed'}", True))
                    elif zero[local]:
                        notes[regime].append((o, regime, f"zero denominator ({what})", True))
                    elif n_r < FEW_SAMPLES:
                        notes[regime].append((o, regime, f"only {n_r} observation(s) in this regime", False))
        return notes["plus"] + notes["minus"]


__all__ = ["BLOCK_ELEMENTS", "FEW_SAMPLES", "RANDOM_TAG", "REGISTRY", "ROUNDING_TOLERANCE", "VARIANTS",
           "ZERO_TOLERANCE", "Estimator", "Filter", "Identity", "Linear", "RandomDirection", "TwoComponent",
           "check_seed", "estimator_from_file", "resolve_estimator"]
