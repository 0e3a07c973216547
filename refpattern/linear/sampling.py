"""Seeded, streaming draws of a :class:`~refpattern.linear.model.LinearModel` (``docs/math.md#linear-sampling``).

A draw of ``N`` samples with a seed is one ``numpy.random.default_rng(seed)`` stream read in a
fixed order, whatever the batches it is read in:

1. the ``N`` values of signal component 1, then the ``N`` of component 2, … (``uniform``:
   ``rng.uniform(−c, c)``, ``gaussian``: ``c·rng.standard_normal()``, ``rademacher``:
   ``c·(2·[rng.random() < 1/2] − 1)``);
2. the ``N × M`` standard normals ``z`` of the distractors, row by row: ``d = μ + z·Lᵀ (+ s·Bᵀ)``;
3. the ``N × D`` standard normals of the noise, row by row: ``ε = z'·L_εᵀ``;

and ``x = s·A_s + d·A_d + ε`` (a term that is zero by construction is not added).  For the
paper's toy this is exactly ``make_toy``'s order (``y``, then ``ε``; the isotropic variant's
noise right after ``y``), so a draw reproduces it to the last bit.  Reading the draw in batches
keeps one generator per block, each started at its block (the blocks before it generated and
dropped once), so batch sizes never change a value and no more than one batch is held.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

SKIP_ROWS = 1 << 16
"""Rows generated at a time while skipping to a block's start."""

IN_MEMORY_BYTES = 128 << 20
"""A draw whose inputs ``X`` take at most this many bytes is generated once and kept."""


@dataclass(frozen=True)
class LinearBatch:
    """Rows ``start … start + len`` of a draw; every array float64.

    Attributes
    ----------
    X : (n, D)     the inputs
    s : (n, K)     the signal amplitudes (``s[:, k]`` is the explained one)
    d : (n, M)     the distractor amplitudes ``μ + B·s + L·z``
    start : int    the first row's index in the draw
    """

    X: np.ndarray
    s: np.ndarray
    d: np.ndarray
    start: int

    def __len__(self) -> int:
        return self.X.shape[0]

    def rows(self, start: int, stop: int) -> LinearBatch:
        """Rows ``start … stop`` of the draw (indices of the draw, within this batch)."""
        i, j = start - self.start, stop - self.start
        return LinearBatch(self.X[i:j], self.s[i:j], self.d[i:j], start)


def outer_sum(amplitudes, directions) -> np.ndarray:
    """``Σ_j amplitudes[:, j]·directions[j]`` (n, D); one term is a product (no rounding from a sum)."""
    if directions.shape[0] == 1:
        return amplitudes[:, :1] * directions[0]
    return amplitudes @ directions


def _signal_values(rng, kind: str, scale: float, n: int) -> np.ndarray:
    if kind == "uniform":
        return rng.uniform(-scale, scale, size=n)
    if kind == "gaussian":
        return scale * rng.standard_normal(n)
    return scale * (2.0 * (rng.random(n) < 0.5) - 1.0)


def check_seed(seed, name: str = "seed"):
    """A seed of ``numpy.random.default_rng``: None, an int ≥ 0, or a sequence of them (not a bool or a
    float).  Raises ``TypeError``/``ValueError`` naming ``name``; returns the seed."""
    entries = list(seed) if isinstance(seed, (list, tuple)) else [seed]
    if seed is None:
        return None
    if isinstance(seed, (list, tuple)) and not entries:
        raise ValueError(f"{name}: expected an integer >= 0 or a sequence of them, got an empty sequence")
    for entry in entries:
        if isinstance(entry, bool) or not isinstance(entry, (int, np.integer)):
            raise TypeError(f"{name}: expected an integer >= 0 or a sequence of them, got {seed!r}")
        if entry < 0:
            raise ValueError(f"{name}: expected an integer >= 0 or a sequence of them, got {seed!r}")
    return seed


class Draw:
    """``n`` samples of ``model`` for ``seed`` (any ``numpy.random.default_rng`` seed), read in batches.

    ``draw.batches(size)`` yields :class:`LinearBatch` es of ``size`` rows (the last one shorter);
    ``draw.batches(size, start, stop)`` only rows ``start … stop``; ``draw.parts(k)`` the ``k``
    contiguous parts ``numpy.array_split`` would cut.  A draw whose ``X`` fits in
    :data:`IN_MEMORY_BYTES` is generated once and kept (``draw.in_memory``; ``draw.all()`` returns
    it); a larger one is generated afresh, sequentially, for every pass.
    """

    def __init__(self, model, n: int, seed=0, in_memory: bool | None = None):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n: expected an integer >= 1, got {n!r}")
        self.model = model
        self.n = int(n)
        self.seed = check_seed(seed)
        self.in_memory = (self.n * model.dimension * 8 <= IN_MEMORY_BYTES) if in_memory is None else bool(in_memory)
        self._kept = None

    def __len__(self) -> int:
        return self.n

    # --- generation ---------------------------------------------------------------------------

    def _generators(self):
        """One generator per block, each at its block's first value."""
        model, n = self.model, self.n
        rng = np.random.default_rng(self.seed)
        signal = []
        for kind, scale in zip(model.signal_kinds, model.signal_scales):
            signal.append(copy.deepcopy(rng))
            for start in range(0, n, SKIP_ROWS):
                _signal_values(rng, kind, float(scale), min(SKIP_ROWS, n - start))
        distractor = copy.deepcopy(rng)
        if model.has_noise and model.distractors:
            for start in range(0, n, SKIP_ROWS):
                rng.standard_normal((min(SKIP_ROWS, n - start), model.distractors))
        return signal, distractor, rng

    def _generate(self, size: int):
        """All rows, in batches of ``size`` (sequential generation)."""
        model = self.model
        signal_rngs, distractor_rng, noise_rng = self._generators()
        for start in range(0, self.n, size):
            rows = min(size, self.n - start)
            s = np.column_stack([_signal_values(g, kind, float(scale), rows)
                                 for g, kind, scale in zip(signal_rngs, model.signal_kinds, model.signal_scales)])
            X = outer_sum(s, model.signal_directions)
            if model.distractors:
                z = distractor_rng.standard_normal((rows, model.distractors))
                factor = model.distractor_factor
                if np.count_nonzero(factor - np.diag(np.diag(factor))) == 0:
                    d = model.distractor_mean + z * np.diag(factor)
                else:
                    d = model.distractor_mean + z @ factor.T
                if np.any(model.signal_regression):
                    d = d + s @ model.signal_regression.T
                X = X + outer_sum(d, model.distractor_directions)
            else:
                d = np.zeros((rows, 0))
            if model.has_noise:
                z = noise_rng.standard_normal((rows, model.dimension))
                factor = model.noise_factor
                if np.count_nonzero(factor - np.diag(np.diag(factor))) == 0:
                    X = X + z * np.diag(factor)
                else:
                    X = X + z @ factor.T
            yield LinearBatch(X, s, d, start)

    def all(self) -> LinearBatch:
        """Every row at once (generated once and kept when :attr:`in_memory`, else generated now)."""
        if self._kept is not None:
            return self._kept
        pieces = list(self._generate(SKIP_ROWS))
        whole = pieces[0] if len(pieces) == 1 else LinearBatch(
            np.concatenate([p.X for p in pieces]), np.concatenate([p.s for p in pieces]),
            np.concatenate([p.d for p in pieces]), 0)
        for array in (whole.X, whole.s, whole.d):
            array.setflags(write=False)
        if self.in_memory:
            self._kept = whole
        return whole

    def cut(self, edges):
        """Rows ``edges[i] … edges[i+1]`` for each ``i``, as :class:`LinearBatch` es, in order (one
        sequential pass; ``edges`` increasing, within ``0 … n``)."""
        edges = [int(e) for e in edges]
        if self.in_memory:
            whole = self.all()
            for a, b in zip(edges[:-1], edges[1:]):
                yield whole.rows(a, b)
            return
        pending, index = None, 0
        for piece in self._generate(SKIP_ROWS):
            if piece.start + len(piece) <= edges[0]:
                continue
            pending = piece if pending is None else _join(pending, piece)
            end = pending.start + len(pending)
            while index + 1 < len(edges) and end >= edges[index + 1]:
                yield pending.rows(edges[index], edges[index + 1])
                index += 1
            if index + 1 >= len(edges):
                return
            pending = pending.rows(edges[index], end)

    def batches(self, size: int, start: int = 0, stop: int | None = None):
        """:class:`LinearBatch` es of ``size`` rows covering rows ``start … stop`` (default: all)."""
        stop = self.n if stop is None else min(int(stop), self.n)
        yield from self.cut(list(range(start, stop, size)) + [stop])

    def bounds(self, count: int) -> list:
        """``[(start, stop), …]`` of the ``count`` parts ``numpy.array_split`` cuts (the first
        ``n mod count`` one row longer)."""
        base, extra = divmod(self.n, count)
        edges = np.cumsum([0] + [base + 1] * extra + [base] * (count - extra))
        return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]

    def parts(self, count: int):
        """The ``count`` contiguous parts of ``numpy.array_split``, in order, each one :class:`LinearBatch`
        (one sequential pass over the draw)."""
        bounds = self.bounds(count)
        yield from self.cut([a for a, _ in bounds] + [bounds[-1][1]])

    def inputs(self, size: int, start: int = 0, stop: int | None = None):
        """The inputs ``X`` of rows ``start … stop`` for :func:`refpattern.patterns.fit_patterns`/``rho``:
        the array itself when :attr:`in_memory` (cut there into ``size`` batches), else an iterable
        of the same ``size``-row batches whose every ``iter()`` starts over (one generation per pass)."""
        if self.in_memory:
            return self.all().X[start:stop]
        return Inputs(self, size, start, stop)


class Inputs:
    """The inputs of rows ``start … stop`` of a draw in ``size``-row batches; iterating again generates them again."""

    def __init__(self, draw: Draw, size: int, start: int, stop: int | None):
        self.draw, self.size, self.start, self.stop = draw, size, start, stop

    def __iter__(self):
        return (batch.X for batch in self.draw.batches(self.size, self.start, self.stop))


def _join(a: LinearBatch, b: LinearBatch) -> LinearBatch:
    return LinearBatch(np.concatenate([a.X, b.X]), np.concatenate([a.s, b.s]), np.concatenate([a.d, b.d]), a.start)
