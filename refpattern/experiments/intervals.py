"""Repetition over seeds and the confidence intervals every reproduced number is reported with
(``docs/math.md#repetition``).

Each experiment of ``refpattern reproduce`` is run once per *repetition seed*; a repetition
draws its own data, initialises and trains its own networks and cuts its own fit/evaluation
splits, so the S values of one number (S seeds) are independent.  A number is reported as the
mean over seeds with a two-sided Student-t interval::

    x̄ = (1/S)·Σ_s x_s,   sd = sqrt(Σ_s (x_s − x̄)² / (S − 1)),
    x̄ ± t_{1−α/2, S−1} · sd / √S                          (α = 0.05: a 95 % interval)

A comparison of two methods measured on the same seeds is the interval of the per-seed
differences (a paired interval, :func:`paired_difference`): the spread shared by both methods
(the data draw, the network) cancels.

A verdict is read off an interval and a threshold (:func:`side_of`): the statement holds when
the whole interval lies on its side of the threshold, fails when the whole interval lies on
the other side, and is *unresolved* when the interval contains the threshold — more seeds
would be needed to tell.  With fewer than two finite values there is no interval (it is
``(−inf, inf)``) and every comparison is unresolved.

Undefined values (NaN, e.g. the correlation of a constant map) are left out.  An infinite value
(a measurement that overflowed in its seed) is not: it makes the spread infinite, so there is no
interval (``(−inf, inf)``, every comparison unresolved), the mean is that infinity (NaN when both
signs occur), and :attr:`Interval.infinite` counts such seeds, which the text, the JSON and the figures
show (``docs/math.md#repetition-infinite``; the figures as ``∞ on k/S seeds``).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
from scipy.stats import t as student_t

from refpattern.experiments.ledger import FAILS, HOLDS, UNRESOLVED
from refpattern.network.validation import check_count, check_level, check_seed

CONFIDENCE = 0.95
"""Coverage of every interval in the reports (two-sided)."""

FIXED_POINT_LIMIT = 1e6
"""Magnitude from which :meth:`Interval.text` writes numbers in scientific notation (as it does
below ``10^−digits``, where fixed point would print zeros)."""

ABOVE, BELOW = "above", "below"
"""The two sides a statement can put a number on (:func:`side_of`)."""


@dataclass(frozen=True)
class Interval:
    """The mean of a number over seeds and its two-sided Student-t confidence interval.

    Attributes
    ----------
    mean, low, high : float
        ``x̄`` and ``x̄ ∓ t·sd/√n`` (``±inf`` with fewer than two finite values or any infinite one;
        NaN with no value at all).
    n : int
        Finite values used (NaN values, e.g. an undefined correlation, are left out).
    level : float
        Coverage, e.g. 0.95.
    values : tuple of float
        The per-seed values as given (NaN and ±inf kept), in seed order.
    infinite : int
        Seeds whose value is infinite (overflowed); with any there is no interval, and ``mean`` is
        ``±inf`` (NaN when both signs occur or a paired difference is ``inf − inf``).
    """

    mean: float
    low: float
    high: float
    n: int
    level: float
    values: tuple
    infinite: int = 0

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def text(self, digits: int = 3) -> str:
        """``"0.312 [0.290, 0.334]"``; ``"0.312 [n/a]"`` without an interval; ``"n/a"`` without values;
        ``"inf [n/a: 1 of 5 seeds infinite]"`` when some seed's value is infinite.

        Fixed point with ``digits`` decimals while the largest finite magnitude ``m`` of the mean and
        bounds is 0 or ``10^−digits ≤ m <`` :data:`FIXED_POINT_LIMIT`; outside that range all three
        in scientific notation with ``digits`` decimals (``"2.020e+299 [-1.334e+299, 5.374e+299]"``), so that
        they keep ``digits + 1`` significant digits at any magnitude (``docs/conventions.md#interval-text``).
        """
        digits = check_count(digits, "Interval.text digits", minimum=0)
        if self.n == 0 and self.infinite == 0:
            return "n/a"
        style = _style([self.mean, self.low, self.high], digits)
        mean = _number(self.mean, digits, style)
        if self.infinite:
            return f"{mean} [n/a: {self.infinite} of {len(self.values)} seeds infinite]"
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            return f"{mean} [n/a]"
        return f"{mean} [{_number(self.low, digits, style)}, {_number(self.high, digits, style)}]"

    def to_json(self) -> dict:
        def plain(x):
            return float(x) if math.isfinite(x) else None

        return {"mean": plain(self.mean), "low": plain(self.low), "high": plain(self.high), "n": self.n,
                "level": self.level, "values": [plain(float(v)) for v in self.values], "infinite": self.infinite}


def _style(numbers, digits: int) -> str:
    """``"f"`` (fixed point) when the largest finite magnitude of ``numbers`` is 0 or in
    ``[10^−digits, FIXED_POINT_LIMIT)``, else ``"e"``: one notation for an interval's three numbers."""
    largest = max((abs(x) for x in numbers if math.isfinite(x)), default=0.0)
    return "f" if largest == 0 or 10.0 ** -digits <= largest < FIXED_POINT_LIMIT else "e"


def _number(x: float, digits: int, style: str) -> str:
    """``x`` with ``digits`` decimals in format ``style``; a value that rounds to zero has no minus sign."""
    text = f"{x:.{digits}{style}}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def t_interval(values, level: float = CONFIDENCE) -> Interval:
    """The mean of ``values`` (one per seed; NaN left out) with its Student-t interval of coverage ``level``.

    ``x̄ ± t_{(1+level)/2, n−1}·sd/√n``; all values equal give a zero-width interval; one value
    gives ``(−inf, inf)``; none gives NaN throughout.  An infinite value (an overflow in its seed)
    is not left out: the spread is then infinite, so the interval is ``(−inf, inf)``, the mean is
    that infinity (NaN with both signs) and ``infinite`` counts those seeds.
    """
    level = check_level(level, "t_interval level", 0.0, 1.0, low_open=True)
    raw = _real_values(values, "t_interval values")
    return _interval(raw, level, np.isinf(raw))


def _interval(raw: np.ndarray, level: float, infinite: np.ndarray) -> Interval:
    """:func:`t_interval` of the float64 values ``raw``, where the seeds marked in ``infinite``
    overflowed (their value is ``±inf``, or NaN for a difference ``inf − inf``)."""
    count = int(np.count_nonzero(infinite))
    if count:  # an infinite spread: no interval; the mean is the infinities' sign when they agree
        signs = np.sign(raw[infinite])
        mean = float(signs[0]) * math.inf if np.all(signs == signs[0]) else math.nan
        return Interval(mean, -math.inf, math.inf, int(np.count_nonzero(np.isfinite(raw))), level,
                        tuple(raw.tolist()), count)
    finite = raw[np.isfinite(raw)]
    n = int(finite.size)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0, level, tuple(raw.tolist()))
    if np.ptp(finite) == 0:  # equal values (or one): the mean is that value and there is no spread (no rounding)
        value = float(finite[0])
        low, high = (value, value) if n > 1 else (-math.inf, math.inf)
        return Interval(value, low, high, n, level, tuple(raw.tolist()))
    # in units of a power of two near max|x| (exact: the same bits), so that neither the squares of the
    # variance overflow (1e300) nor underflow to zero (1e-300)
    exponent = math.frexp(float(np.max(np.abs(finite))))[1]
    scaled = np.ldexp(finite, -exponent)
    mean = float(np.mean(scaled))
    quantile = float(student_t.ppf((1.0 + level) / 2.0, n - 1))
    if not math.isfinite(quantile):  # (1 + level)/2 rounds to 1 for a level within 1e-16 of 1
        quantile = float(student_t.isf((1.0 - level) / 2.0, n - 1))
    half = quantile * float(np.std(scaled, ddof=1)) / math.sqrt(n)
    with np.errstate(over="ignore"):  # a bound beyond the largest float is inf
        low, centre, high = (float(np.ldexp(v, exponent)) for v in (mean - half, mean, mean + half))
    return Interval(centre, low, high, n, level, tuple(raw.tolist()))


def _real_values(values, name: str) -> np.ndarray:
    """``values`` as a flat float64 array (``None`` → NaN); a complex, text or date value is refused, not cast."""
    array = values if isinstance(values, np.ndarray) else np.asarray(values, dtype=object)
    if array.dtype.kind not in "biufO":
        raise TypeError(f"{name}: expected real numbers (one per seed), got an array of dtype {array.dtype}")
    flat = array.reshape(-1)
    if array.dtype.kind == "O":
        wrong = [v for v in flat if v is not None and (isinstance(v, (str, bytes)) or not isinstance(v, numbers.Real))]
        if wrong:
            raise TypeError(f"{name}: expected real numbers (one per seed, None for an undefined one), got "
                            f"{wrong[0]!r} ({type(wrong[0]).__name__})")
        flat = np.array([math.nan if v is None else float(v) for v in flat], dtype=np.float64)
    return np.asarray(flat, dtype=np.float64)


def paired_difference(a, b, level: float = CONFIDENCE) -> Interval:
    """The interval of ``a_s − b_s`` over seeds ``s`` (both measured on the same seeds)."""
    if np.shape(a) != np.shape(b):
        raise ValueError(f"paired_difference: one value per seed for both, got shapes {np.shape(a)} and {np.shape(b)}")
    level = check_level(level, "paired_difference level", 0.0, 1.0, low_open=True)
    a, b = _real_values(a, "paired_difference a"), _real_values(b, "paired_difference b")
    with np.errstate(invalid="ignore"):  # inf − inf is NaN, but that seed overflowed: counted as infinite
        return _interval(a - b, level, np.isinf(a) | np.isinf(b))


def side_of(interval: Interval, threshold: float, side: str) -> str:
    """The verdict of "the number lies ``side`` ``threshold``" (``side`` ``"above"`` or ``"below"``).

    ``"holds"`` when the whole interval is strictly on that side, ``"fails"`` when it is strictly
    on the other side or is the single point ``threshold`` (every seed gave exactly the threshold:
    the strict statement is false for sure), ``"unresolved"`` when it contains ``threshold`` (or
    there is no interval: fewer than two finite values, or an infinite one).
    """
    if not isinstance(interval, Interval):
        raise TypeError(f"side_of: interval must be an Interval (t_interval's result), got {type(interval).__name__}")
    if isinstance(threshold, (bool, np.bool_)) or not isinstance(threshold, numbers.Real):
        raise TypeError(f"side_of: threshold must be a real number, got {threshold!r} ({type(threshold).__name__})")
    if math.isnan(threshold):
        raise ValueError("side_of: threshold must be a number, got NaN (no side of it can hold)")
    if side not in (ABOVE, BELOW):
        raise ValueError(f"side_of: side must be {ABOVE!r} or {BELOW!r}, got {side!r}")
    if interval.n == 0 or interval.infinite or math.isnan(interval.low) or math.isnan(interval.high):
        return UNRESOLVED
    if interval.low == interval.high == threshold:
        return FAILS
    if side == ABOVE:
        return HOLDS if interval.low > threshold else FAILS if interval.high < threshold else UNRESOLVED
    return HOLDS if interval.high < threshold else FAILS if interval.low > threshold else UNRESOLVED


def repetition_seeds(base: int, count: int) -> list:
    """``count`` independent seeds for the repetitions of a run with seed ``base``.

    Drawn by ``numpy.random.SeedSequence(base)`` (32-bit integers), so that repetitions do not
    share data draws: a repetition's own draws use its seed and a few offsets from it.
    """
    base, count = check_seed(base, "repetition_seeds base"), check_count(count, "repetition_seeds count")
    return [int(s) for s in np.random.SeedSequence(base).generate_state(count, dtype=np.uint32)]


def stack_runs(runs: list):
    """The per-seed results of a repetition, stacked along a new first axis (one entry per seed).

    ``runs`` are results of the same shape (nested dicts and lists, as one repetition returns
    them): a number becomes an array ``(S,)``, a list of numbers an array ``(S, L)``; dicts are
    stacked key by key; anything else (names, flags, lists of text) is taken from the first run
    (it is the same in every run).  ``None`` (an undefined number) becomes NaN.
    """
    if not runs:
        raise ValueError("stack_runs: no runs to stack (one result per seed expected)")
    first = runs[0]
    if isinstance(first, dict):
        for index, run in enumerate(runs):
            if not isinstance(run, dict) or run.keys() != first.keys():
                raise ValueError(f"stack_runs: run {index} has other entries than run 0 "
                                 f"({sorted(run) if isinstance(run, dict) else type(run).__name__} vs {sorted(first)})")
        return {key: stack_runs([run[key] for run in runs]) for key in first}
    if _numeric(first):
        values = [np.asarray(run, dtype=np.float64) for run in runs]
        if any(v.shape != values[0].shape for v in values):
            raise ValueError(f"stack_runs: the runs' numbers differ in shape: {[v.shape for v in values]}")
        return np.asarray(values, dtype=np.float64)
    return first


def _numeric(value) -> bool:
    if isinstance(value, (bool, np.bool_, str)):
        return False
    if value is None or isinstance(value, (int, float, np.integer, np.floating)):
        return True
    if isinstance(value, np.ndarray):
        return value.dtype.kind in "fiu"
    if isinstance(value, (list, tuple)):
        return bool(value) and all(_numeric(v) and not isinstance(v, dict) for v in value)
    return False
