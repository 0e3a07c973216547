"""``refpattern verify``: check every claim of ``docs/paper.md`` §2–§4 on freshly drawn toy data.

Each claim is measured on data from :mod:`refpattern.toy`, compared with what the paper
(and the closed forms derived in ``refpattern/toy.py``) predict, and given a verdict:
``holds``, ``fails``, or ``holds only when μ = 0`` (a claim that is true only under a
stated condition).  The command prints a table, writes ``report.md``, ``report.json`` and
``toy.png`` to ``--out``, and exits with status 1 when a claim that must hold does not.

How the tolerances are set (never tuned to pass)
-------------------------------------------------
* **Identities** that hold to rounding (the filter solves ``wᵀx = y`` exactly, gradient =
  ``w``, PatternNet = ``a·y``, the in-sample Eq. 2 optimum, …): ``EXACT = 1e-12`` absolute for
  O(1) values, ``RELATIVE_EXACT = 1e-9`` relative for covariances and ρ (sums of up to 10⁶
  float64 terms).
* **Statistical** claims: ``|measured − expected| ≤ Z·SE`` with ``Z = 5``.  The standard error
  is measured on the same draw by batch means: the estimator is rerun on ``K = 50`` disjoint
  batches and ``SE = sd(batch values)/√K``; this needs no model of the estimator, only that its
  error shrinks like ``1/√n``.  With 49 degrees of freedom a true claim exceeds 5 SE with
  probability 7.7·10⁻⁶ per number, so a report of ~50 numbers raises a false alarm for
  fewer than 1 seed in 2500; a wrong closed form or a bug is typically off by hundreds of SE.
* The ``1/√N`` rate is a weighted least-squares slope of ``log RMS error`` on ``log n`` over
  independent draws; its SE comes from the spread of the squared errors (delta method, pooled
  over the sizes; see :func:`claim_error_rate`).
* Two claims of the paper are sharpened where the toy shows they are conditional: ``S_a±``
  recovers ``a_s`` only when ``μ = 0`` (verdict ``holds only when μ = 0``, which is what is
  expected), and "S_w beats the random baseline" holds for the mean over random directions,
  while one random direction beats ``S_w`` with probability ≈ 0.35 in two dimensions.
"""

from __future__ import annotations

import json
import platform
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from refpattern import toy
from refpattern.json_output import jsonable
from refpattern.methods import explain

Z = 5.0
"""Statistical tolerance in standard errors."""

BATCHES = 50
"""Disjoint batches for the batch-means standard error."""

EXACT = 1e-12
"""Absolute tolerance for identities between O(1) float64 values."""

RELATIVE_EXACT = 1e-9
"""Relative tolerance for identities between sums over the data (covariances, ρ)."""

FIT_BATCH_SIZE = 1 << 16
"""``batch_size`` passed to ``fit_patterns`` (it streams; larger batches are just faster)."""

ROTATIONS_DEG = (-25.0, 0.0, 25.0, 45.0, 65.0, 90.0, 115.0)
"""Rotations of ``a_d`` for claim 2: ``a_d`` points at 20°, 45°, …, 160°."""

RANDOM_DIRECTIONS = 2000
"""Draws of the random estimator (seeds 0, 1, …) for the distribution of ρ(random)."""

MU_BIASED = 1.0
"""The distractor mean used for the ``S_a±`` caveat."""

SIGMA_N = 1.0
"""Isotropic-noise standard deviation for claim 5."""

RATE_MIN_BATCHES = 20
"""Claim 4's error rate: every batch size gets at least this many independent batches …"""
RATE_MAX_BATCHES = 1000
"""… and at most this many (to bound the number of fits) …"""
RATE_MIN_BATCH_SIZE = 200
"""… of at least this many samples; sizes step down by ``RATE_STEP`` from ``N / RATE_MIN_BATCHES``."""
RATE_STEP = 10 ** (1 / 3)

MIN_SAMPLES = 10_000
"""Smallest ``--samples``: two batch sizes ≥ ``RATE_MIN_BATCH_SIZE`` with ``RATE_MIN_BATCHES`` batches each."""

HOLDS, FAILS, ONLY_MU_ZERO = "holds", "fails", "holds only when μ = 0"


@dataclass
class Claim:
    """One row of the report."""

    key: str
    source: str
    claim: str
    expected: str
    measured: str
    verdict: str
    expected_verdict: str = HOLDS
    must_hold: bool = True
    numbers: dict = field(default_factory=dict)

    @property
    def as_expected(self) -> bool:
        return self.verdict == self.expected_verdict

    def to_json(self) -> dict:
        return {"key": self.key, "source": self.source, "claim": self.claim, "expected": self.expected,
                "measured": self.measured, "verdict": self.verdict, "expected_verdict": self.expected_verdict,
                "must_hold": self.must_hold, "as_expected": self.as_expected, "numbers": jsonable(self.numbers)}


# --- command line ------------------------------------------------------------------------------

def add_arguments(parser) -> None:
    parser.add_argument("--seed", type=int, default=0, help="seed of every random draw (default 0)")
    parser.add_argument("--samples", type=int, default=1_000_000,
                        help=f"samples N per toy data set (default 1000000; at least {MIN_SAMPLES})")
    parser.add_argument("--out", default="refpattern-report",
                        help="folder for report.md, report.json and toy.png (default ./refpattern-report)")


def run(args) -> int:
    """Run every check, print the table, write the report; 0 if every must-hold claim holds."""
    if args.samples < MIN_SAMPLES:
        print(f"refpattern verify: --samples must be at least {MIN_SAMPLES} (got {args.samples}): the error-rate "
              f"check needs {RATE_MIN_BATCHES} batches at two sizes ≥ {RATE_MIN_BATCH_SIZE}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    progress = _Progress(started)
    claims, figure_data = verify_claims(args.samples, args.seed, progress)
    failed = [c for c in claims if c.must_hold and not c.as_expected]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    figure = "toy.png"
    try:
        import matplotlib  # noqa: F401  (a declared dependency; the claims do not need it)
    except ModuleNotFoundError:
        figure = None
        progress("matplotlib is not installed: no toy.png (pip install matplotlib); the claims are unaffected")
    else:
        progress("drawing toy.png")
        draw_figure(figure_data, out / figure)
    elapsed = time.perf_counter() - started
    header = _header(args.samples, args.seed, elapsed)
    (out / "report.md").write_text(markdown_report(claims, header, failed, figure), encoding="utf-8")
    report = {**header, "z": Z, "batches": BATCHES, "exact": EXACT, "relative_exact": RELATIVE_EXACT,
              "claims": [c.to_json() for c in claims], "failed": [c.key for c in failed],
              "exit_status": 1 if failed else 0, "figure": figure}
    (out / "report.json").write_text(json.dumps(jsonable(report), indent=2, allow_nan=False) + "\n", encoding="utf-8")
    print(text_table(claims))
    if failed:
        print(f"\n{len(failed)} claim(s) that must hold do not: {', '.join(c.key for c in failed)}")
    else:
        print(f"\nall {len(claims)} claims came out as the paper and the closed forms predict")
    written = "report.md, report.json" + (f", {figure}" if figure else "")
    print(f"N = {args.samples}, seed = {args.seed}, {elapsed:.1f} s; report written to {out.resolve()} ({written})")
    return 1 if failed else 0


class _Progress:
    def __init__(self, started):
        self.started = started

    def __call__(self, message: str) -> None:
        print(f"[verify {time.perf_counter() - self.started:6.1f} s] {message}", file=sys.stderr, flush=True)


# --- statistics helpers --------------------------------------------------------------------------

def batch_values(estimate, X, batches: int = BATCHES) -> np.ndarray:
    """``estimate`` on each of ``batches`` disjoint, contiguous batches of the rows of ``X``."""
    return np.array([estimate(part) for part in np.array_split(X, batches)])


def batch_standard_error(values) -> np.ndarray:
    """Batch-means standard error of the full-sample estimate: ``sd(values)/√K`` (per component)."""
    values = np.asarray(values, dtype=np.float64)
    return values.std(axis=0, ddof=1) / np.sqrt(len(values))


def within(measured, expected, se) -> bool:
    """``|measured − expected| ≤ Z·SE`` in every component (plus the rounding floor ``EXACT``)."""
    return bool(np.all(np.abs(np.asarray(measured) - np.asarray(expected)) <= Z * np.asarray(se) + EXACT))


def in_standard_errors(measured, expected, se) -> float:
    """The largest component of ``|measured − expected| / SE``."""
    deviation = np.abs(np.asarray(measured) - np.asarray(expected))
    return float(np.max(deviation / np.maximum(np.asarray(se), np.finfo(float).tiny)))


def covariance_with(X, y) -> np.ndarray:
    """``cov[x, y]`` over the rows (normalised by N), shape (d,)."""
    return ((X - X.mean(axis=0)) * (y - y.mean())[:, None]).mean(axis=0)


def least_squares_filter(X, y) -> np.ndarray:
    """``argmin_w Σ (y − wᵀx)²`` (no intercept; the toy's inputs have mean zero or ``wᵀx = y`` exactly)."""
    return np.linalg.lstsq(X, y, rcond=None)[0]


# --- pattern helpers -------------------------------------------------------------------------------

def _fit(net, X, estimator, seed, variant="paper"):
    from refpattern.patterns import fit_patterns

    return fit_patterns(net, X, estimator=estimator, batch_size=FIT_BATCH_SIZE, variant=variant, seed=seed,
                        progress=False)


def _pattern_a(patterns) -> np.ndarray:
    """The single neuron's ``a`` (estimators "a", "w", "random"), shape (2,)."""
    return np.asarray(patterns[0].a, dtype=np.float64)[0]


def _patterns_pm(patterns) -> np.ndarray:
    """The single neuron's ``(a₊, a₋)`` stacked, shape (4,)."""
    return np.concatenate([np.asarray(patterns[0].a_plus, dtype=np.float64)[0],
                           np.asarray(patterns[0].a_minus, dtype=np.float64)[0]])


def _rho(net, X, patterns) -> float:
    from refpattern.patterns import rho

    return float(np.asarray(rho(net, X, patterns, batch_size=FIT_BATCH_SIZE, progress=False), dtype=np.float64)[0])


def _signal_estimate(patterns_pm, y, bias=0.0) -> np.ndarray:
    """``S_a±(x) = a₊·y`` where ``y + b > 0`` else ``a₋·y``, shape (N, 2)."""
    a_plus, a_minus = patterns_pm[:2], patterns_pm[2:]
    return np.where((y + bias > 0)[:, None], a_plus, a_minus) * y[:, None]


# --- the claims ---------------------------------------------------------------------------------------

def verify_claims(n_samples: int, seed: int, progress=lambda message: None):
    """Measure every claim; returns ``(claims, figure_data)``."""
    claims = []
    progress(f"drawing the toy data (N = {n_samples}, seed = {seed}, μ = 0, σ = 1, a_d = (1, 1))")
    data = toy.make_toy(n_samples, seed=seed)
    net = data.model()
    y_out = net.forward(data.X)[:, 0]

    progress("claim 1: the filter w is not parallel to the signal a_s")
    claims.append(claim_filter_not_parallel(data))

    progress(f"claim 2: rotating a_d ({len(ROTATIONS_DEG)} angles): w turns, S_a stays at a_s")
    claim, rotation_rows = claim_rotation(n_samples, seed)
    claims.append(claim)

    progress("claim 3: Gradient, DeConvNet, Guided Backprop on the linear model")
    claims.append(claim_gradient_methods(data, net))

    progress("claim 4: S_a recovers a_s; PatternNet and PatternAttribution")
    pattern_a = _fit(net, data.X, "a", seed)
    a = _pattern_a(pattern_a)
    a_batches = batch_values(lambda part: _pattern_a(_fit(net, part, "a", seed)), data.X)
    claims.append(claim_pattern_recovers_signal(data, a, batch_standard_error(a_batches)))
    progress("claim 4: the S_a error rate (independent draws at several n)")
    claims.append(claim_error_rate(n_samples, seed, net))
    claims.append(claim_pattern_net(data, net, pattern_a, a, y_out, batch_standard_error(a_batches)))
    claims.append(claim_pattern_attribution(data, net, pattern_a, a, y_out))

    progress(f"claim 5: isotropic noise (σ_n = {SIGMA_N}) only shrinks w")
    isotropic = toy.make_toy(n_samples, noise="isotropic", sigma_n=SIGMA_N, seed=seed)
    claims.append(claim_isotropic(isotropic))

    progress("ρ: S_a, S_a±, S_w, random, S_x")
    rho_claims, rho_numbers = claim_rho(data, net, seed)
    claims.extend(rho_claims)

    progress(f"S_a± with a distractor mean μ = {MU_BIASED}: paper and regime variants")
    biased = toy.make_toy(n_samples, mu=MU_BIASED, seed=seed)
    claims.extend(claim_relu_patterns(data, biased, net, seed))

    progress("Eq. 2: cov[x, y] = cov[S(x), y] on the fitting data")
    claims.append(claim_optimum_identity(data, biased, net, seed, a))

    figure_data = {"data": data, "a": a, "rotation_rows": rotation_rows, "rho": rho_numbers}
    return claims, figure_data


def claim_filter_not_parallel(data) -> Claim:
    fitted = least_squares_filter(data.X, data.y)
    angle = toy.axis_angle_deg(fitted, data.a_s)
    gap = float(np.max(np.abs(fitted - data.w)))
    holds = gap <= 1e3 * EXACT and abs(angle - 45.0) <= 1e-6
    return Claim(
        "filter_not_parallel", "§2 claim 1", "w is not parallel to a_s: the weights do not show the signal",
        "w = (1, −1) (wᵀa_s = 1, wᵀa_d = 0), ∠(w, a_s) = 45°",
        f"least-squares w = {_vec(fitted)} (|w − (1, −1)|∞ = {gap:.1e}), ∠(w, a_s) = {angle:.9f}°",
        HOLDS if holds else FAILS,
        numbers={"w_least_squares": fitted, "w_closed_form": data.w, "max_abs_gap": gap, "angle_deg": angle,
                 "w_dot_a_s": float(data.w @ data.a_s), "w_dot_a_d": float(data.w @ data.a_d),
                 "tolerance_gap": 1e3 * EXACT, "tolerance_angle_deg": 1e-6},
    )


def claim_rotation(n_samples, seed):
    rows = []
    for rotation in ROTATIONS_DEG:
        data = toy.make_toy(n_samples, rotation_deg=rotation, seed=seed)
        net = data.model()
        fitted = least_squares_filter(data.X, data.y)
        a = _pattern_a(_fit(net, data.X, "a", seed))
        angles = batch_values(lambda part: toy.direction_deg(_pattern_a(_fit(net, part, "a", seed))), data.X)
        angle_se = float(batch_standard_error(angles))
        rows.append({
            "rotation_deg": rotation, "a_d": data.a_d, "a_d_direction_deg": toy.direction_deg(data.a_d),
            "w_closed_form": data.w, "w_least_squares": fitted,
            "w_direction_deg": toy.direction_deg(fitted), "w_closed_form_direction_deg": toy.direction_deg(data.w),
            "w_gap": float(np.max(np.abs(fitted - data.w))),
            "pattern": a, "pattern_direction_deg": toy.direction_deg(a), "pattern_direction_se_deg": angle_se,
            "pattern_within": within(toy.direction_deg(a), 0.0, angle_se),
        })
    w_gap = max(r["w_gap"] for r in rows)
    worst = max(rows, key=lambda r: abs(r["pattern_direction_deg"]) / max(r["pattern_direction_se_deg"], 1e-300))
    holds = w_gap <= 1e3 * EXACT and all(r["pattern_within"] for r in rows)
    directions = ", ".join(f"{round(r['a_d_direction_deg']) + 0:d}" for r in rows)
    w_directions = ", ".join(f"{round(r['w_direction_deg']) + 0:d}" for r in rows)
    return Claim(
        "rotation", "§2 claim 2", "rotating a_d rotates w; the learned pattern S_a stays at a_s",
        f"a_d at {directions}°: w at a_d − 90° = {w_directions}°; ∠S_a = 0° (±{Z:.0f} SE)",
        f"max |w − w*|∞ = {w_gap:.1e}; ∠S_a ∈ [{min(r['pattern_direction_deg'] for r in rows):+.3f}°, "
        f"{max(r['pattern_direction_deg'] for r in rows):+.3f}°], worst "
        f"{abs(worst['pattern_direction_deg']) / worst['pattern_direction_se_deg']:.1f} SE",
        HOLDS if holds else FAILS,
        numbers={"rows": rows, "max_w_gap": w_gap, "tolerance_w_gap": 1e3 * EXACT},
    ), rows


def claim_gradient_methods(data, net) -> Claim:
    gaps = {}
    for method in ("gradient", "deconvnet", "guided_backprop"):
        explanation = explain(net, data.X, method)
        gaps[method] = float(np.max(np.abs(explanation - data.w)))
    holds = all(g <= EXACT for g in gaps.values())
    return Claim(
        "gradient_methods_return_w", "§2 claim 3", "Gradient, DeConvNet and Guided Backprop all return w",
        f"every sample's explanation = w = (1, −1) (to {EXACT:.0e})",
        "max |R − w| = " + ", ".join(f"{m} {g:.1e}" for m, g in gaps.items()),
        HOLDS if holds else FAILS, numbers={"max_abs_gap": gaps, "tolerance": EXACT},
    )


def claim_pattern_recovers_signal(data, a, se) -> Claim:
    error = float(np.max(np.abs(a - data.a_s)))
    holds = within(a, data.a_s, se)
    return Claim(
        "pattern_recovers_signal", "§2 claim 4", "S_a recovers the signal direction a_s",
        f"a = cov[x,y]/σ²_y = a_s = (1, 0) (±{Z:.0f} SE per component)",
        f"a = {_vec(a, 5)}, |a − a_s|∞ = {error:.2e} = {in_standard_errors(a, data.a_s, se):.1f} SE "
        f"(SE {_vec(se, 1, 'e')})",
        HOLDS if holds else FAILS,
        numbers={"a": a, "a_s": data.a_s, "standard_error": se, "max_abs_error": error,
                 "closed_form_standard_error": np.abs(data.a_d) * data.sigma / np.sqrt(toy.SIGMA_Y2 * data.n_samples)},
    )


def claim_error_rate(n_samples, seed, net) -> Claim:
    """RMS of ``|a − a_s|`` at several batch sizes ``n``, slope of ``log RMS`` on ``log n``.

    Each size gets its own fresh draw (so the sizes are independent), split into
    ``m ≥ RATE_MIN_BATCHES`` batches of ``n``; ``RMS_n² = mean_batches |a − a_s|²``.  By the
    delta method ``var(log RMS_n) = κ / (4m)`` with ``κ = var(e²)/E[e²]²`` (κ = 2 for a
    Gaussian error along one direction, as here), pooled over sizes, so the weighted
    least-squares slope has ``SE = sqrt(κ/4 / Σ m (log n − mean)²)``.
    """
    sizes, rms, chunks, kappas = [], [], [], []
    n = n_samples // RATE_MIN_BATCHES
    level = 0
    while n >= RATE_MIN_BATCH_SIZE:
        m = min(n_samples // n, RATE_MAX_BATCHES)
        draw = toy.make_toy(n * m, seed=[seed, 1, level])
        errors = np.array([np.sum((_pattern_a(_fit(net, part, "a", seed)) - draw.a_s) ** 2)
                           for part in np.split(draw.X, m)])
        sizes.append(n)
        chunks.append(m)
        rms.append(np.sqrt(errors.mean()))
        kappas.append(errors.var(ddof=1) / errors.mean() ** 2)
        level += 1
        n = int(round(sizes[0] / RATE_STEP ** level))
    m, x, y = np.array(chunks), np.log(sizes), np.log(rms)
    kappa = float(np.sum((m - 1) * kappas) / np.sum(m - 1))
    x_bar = np.sum(m * x) / m.sum()
    slope = float(np.sum(m * (x - x_bar) * y) / np.sum(m * (x - x_bar) ** 2)) if len(sizes) > 1 else np.nan
    slope_se = float(np.sqrt(kappa / 4 / np.sum(m * (x - x_bar) ** 2))) if len(sizes) > 1 else np.nan
    holds = len(sizes) >= 2 and abs(slope + 0.5) <= Z * slope_se
    asymptotic = np.sqrt(2.0) * 1.0 / np.sqrt(toy.SIGMA_Y2)  # RMS·√n → |a_d|·σ/σ_y
    scaled = np.sqrt(sizes) * np.array(rms)
    return Claim(
        "pattern_error_rate", "§2 claim 4", "the S_a error shrinks like 1/√N",
        f"slope of log RMS|a − a_s| vs log n = −0.5 (±{Z:.0f} SE); RMS·√n → |a_d|σ/σ_y = {asymptotic:.3f}",
        f"slope {slope:+.3f} ± {slope_se:.3f} over n = {sizes[-1]}…{sizes[0]} ({len(sizes)} sizes, "
        f"{int(m.sum())} fits); RMS·√n = {scaled.min():.3f}…{scaled.max():.3f}",
        HOLDS if holds else FAILS,
        numbers={"sizes": sizes, "batches_per_size": chunks, "rms_error": rms, "kappa_per_size": kappas,
                 "kappa_pooled": kappa, "slope": slope, "slope_standard_error": slope_se,
                 "rms_times_sqrt_n": scaled, "asymptotic_rms_times_sqrt_n": asymptotic},
    )


def claim_pattern_net(data, net, patterns, a, y_out, se) -> Claim:
    signal = explain(net, data.X, "pattern.net", patterns=patterns)
    identity_gap = float(np.max(np.abs(signal - a * y_out[:, None])))
    signal_gap = float(np.max(np.abs(signal - data.s)))
    bound = float(np.max(Z * se) * np.max(np.abs(data.y)) + EXACT)  # PatternNet − s = (a − a_s)·y
    holds = identity_gap <= EXACT and signal_gap <= bound
    return Claim(
        "pattern_net_returns_signal", "§2 claim 4", "PatternNet returns a_s·y = s",
        f"PatternNet(x) = a·y exactly (to {EXACT:.0e}); = s up to the pattern's error (≤ {Z:.0f} SE·|y|)",
        f"max |PN − a·y| = {identity_gap:.1e}; max |PN − s| = {signal_gap:.2e} (bound {bound:.2e})",
        HOLDS if holds else FAILS,
        numbers={"max_abs_gap_to_a_y": identity_gap, "max_abs_gap_to_s": signal_gap, "bound_gap_to_s": bound},
    )


def claim_pattern_attribution(data, net, patterns, a, y_out) -> Claim:
    attribution = explain(net, data.X, "pattern.attribution", patterns=patterns)
    identity_gap = float(np.max(np.abs(attribution - data.w * a * y_out[:, None])))
    sum_gap = float(np.max(np.abs(attribution.sum(axis=1) - data.y)))
    holds = identity_gap <= EXACT and sum_gap <= EXACT
    return Claim(
        "pattern_attribution_sums_to_y", "§2 claim 4", "PatternAttribution returns w ⊙ a_s·y, whose sum is y",
        f"PA(x) = w ⊙ a·y and Σ_i PA_i = y (wᵀa = 1), both to {EXACT:.0e}",
        f"max |PA − w⊙a·y| = {identity_gap:.1e}; max |ΣPA − y| = {sum_gap:.1e}; wᵀa − 1 = {data.w @ a - 1:.1e}",
        HOLDS if holds else FAILS,
        numbers={"max_abs_gap_to_w_a_y": identity_gap, "max_abs_sum_gap": sum_gap, "w_dot_a_minus_1": float(data.w @ a - 1)},
    )


def claim_isotropic(data) -> Claim:
    fitted = least_squares_filter(data.X, data.y)
    batches = batch_values(lambda part: least_squares_filter(part[:, :2], part[:, 2]),
                           np.column_stack([data.X, data.y]))
    se = batch_standard_error(batches)
    angles = np.array([toy.direction_deg(w) for w in batches])
    angle = toy.direction_deg(fitted)
    angle_se = float(batch_standard_error(angles))
    norms = np.linalg.norm(batches, axis=1)
    norm, norm_se = float(np.linalg.norm(fitted)), float(batch_standard_error(norms))
    closed = toy.isotropic_ls_filter(data.a_s, data.sigma_n)
    unshrunk = 1.0 / np.linalg.norm(data.a_s)
    holds = within(fitted, closed, se) and within(angle, 0.0, angle_se) and norm < unshrunk - Z * norm_se
    return Claim(
        "isotropic_noise_shrinks_w", "§2 claim 5", "isotropic noise instead of a distractor only shrinks w",
        f"w = a_s/(|a_s|² + σ_n²/σ²_y) = {_vec(closed)}: ∥ a_s, |w| = {np.linalg.norm(closed):.3f} "
        f"< 1/|a_s| = {unshrunk:g}",
        f"least-squares w = {_vec(fitted, 5)} ({in_standard_errors(fitted, closed, se):.1f} SE), "
        f"∠(w, a_s) = {angle:+.3f}° ± {angle_se:.3f}°",
        HOLDS if holds else FAILS,
        numbers={"sigma_n": data.sigma_n, "w_least_squares": fitted, "standard_error": se, "w_closed_form": closed,
                 "direction_deg": angle, "direction_se_deg": angle_se, "norm": norm, "norm_se": norm_se,
                 "unshrunk_norm": unshrunk,
                 "pattern_closed_form": toy.isotropic_activation_pattern(data.a_s, data.sigma_n)},
    )


def claim_rho(data, net, seed):
    """ρ of every estimator on the fitting data; S_w and the random baseline against closed forms."""
    from refpattern.patterns import rho as rho_function

    patterns = {name: _fit(net, data.X, estimator, seed)
                for name, estimator in (("S_a", "a"), ("S_a±", "a+-"), ("S_w", "w"), ("random", "random"), ("S_x", "x"))}
    rho = {name: _rho(net, data.X, p) for name, p in patterns.items()}
    # batch ρ with the patterns fixed: the sampling error of ρ for S_w and for this random draw
    rho_se = {name: float(batch_standard_error(batch_values(lambda part: _rho(net, part, patterns[name]), data.X)))
              for name in ("S_w", "random")}
    closed = {name: toy.pattern_rho(_pattern_a(patterns[name]), data.a_s, data.a_d, data.sigma)
              for name in ("S_w", "random")}
    # the random baseline over many directions: closed-form ρ of each draw of the estimator
    directions = np.array([toy.pattern_rho(_pattern_a(_fit(net, None, "random", draw)), data.a_s, data.a_d, data.sigma)
                           for draw in range(RANDOM_DIRECTIONS)])
    mean_random, p_beats = toy.random_pattern_rho(data.a_s, data.a_d, data.sigma, closed["S_w"])
    mean_se = float(directions.std(ddof=1) / np.sqrt(RANDOM_DIRECTIONS))
    beats = float(np.mean(directions > closed["S_w"]))
    beats_se = float(np.sqrt(p_beats * (1 - p_beats) / RANDOM_DIRECTIONS))

    # the paper's Fig. 3 protocol: patterns on one third, v on the second, ρ on the third (reported only)
    first, second, third = np.array_split(data.X, 3)
    held_out = {name: float(np.asarray(rho_function(net, third, _fit(net, first, estimator, seed), fit_v_on=second,
                                                    batch_size=FIT_BATCH_SIZE, progress=False))[0])
                for name, estimator in (("S_a", "a"), ("S_a±", "a+-"), ("S_w", "w"))}

    checks = {
        "rho(S_a) = 1": abs(rho["S_a"] - 1.0) <= RELATIVE_EXACT,
        "rho(S_a) >= rho(S_a±)": rho["S_a±"] <= rho["S_a"] + RELATIVE_EXACT,
        "rho(S_a±) > rho(S_w)": rho["S_a±"] - rho["S_w"] > Z * rho_se["S_w"],
        "rho(S_w) > E[rho(random)]": rho["S_w"] - mean_random > Z * rho_se["S_w"],
        "rho(S_x) undefined": bool(np.isnan(rho["S_x"])),
    }
    ranking = Claim(
        "rho_ranking", "§4 (Fig. 3)", "ranking of the signal estimators by ρ (in-sample)",
        "ρ(S_a) = 1 ≥ ρ(S_a±) > ρ(S_w) > E[ρ(random)]; ρ(S_x) undefined (not 1)",
        f"ρ: S_a {_rho_text(rho['S_a'])}, S_a± {_rho_text(rho['S_a±'])}, S_w {_rho_text(rho['S_w'])}, "
        f"E[ρ(random)] {mean_random:.4f} (this draw {_rho_text(rho['random'])}), S_x {_rho_text(rho['S_x'])}",
        HOLDS if all(checks.values()) else FAILS,
        numbers={"rho_in_sample": rho, "checks": checks, "rho_standard_error": rho_se,
                 "mean_rho_random_directions": mean_random, "rho_tolerance_exact": RELATIVE_EXACT,
                 "rho_held_out_three_splits": held_out},
    )
    filter_rho = Claim(
        "rho_filter_closed_form", "§4", "ρ(S_w) matches its closed form",
        f"ρ(S_w) = 1 − |k|σ_y/√(k²σ²_y + σ²), k = a_dᵀa_s/|a_d|²: 1 − 1/√13 = {closed['S_w']:.5f}",
        f"ρ(S_w) = {rho['S_w']:.5f} ± {rho_se['S_w']:.5f} "
        f"({in_standard_errors(rho['S_w'], closed['S_w'], rho_se['S_w']):.1f} SE)",
        HOLDS if within(rho["S_w"], closed["S_w"], rho_se["S_w"]) else FAILS,
        numbers={"measured": rho["S_w"], "closed_form": closed["S_w"], "standard_error": rho_se["S_w"]},
    )
    random_ok = (within(rho["random"], closed["random"], rho_se["random"])
                 and within(directions.mean(), mean_random, mean_se) and within(beats, p_beats, beats_se))
    random_rho = Claim(
        "rho_random_baseline", "§4 (Fig. 3)",
        "the random baseline in 2-D: ρ(a) = 1 − |t|σ_y/√(t²σ²_y + σ²), a = a_s + t·a_d",
        f"E[ρ(random)] = {mean_random:.4f}; one direction beats S_w with probability {p_beats:.4f} "
        f"(so 'S_w > random' is a claim about the mean here)",
        f"this draw {_rho_text(rho['random'])} vs {closed['random']:.5f} "
        f"({in_standard_errors(rho['random'], closed['random'], rho_se['random']):.1f} SE); over {RANDOM_DIRECTIONS} "
        f"directions mean {directions.mean():.4f}, beats S_w {beats:.4f}",
        HOLDS if random_ok else FAILS,
        numbers={"measured": rho["random"], "closed_form": closed["random"], "standard_error": rho_se["random"],
                 "directions": RANDOM_DIRECTIONS, "mean_over_directions": float(directions.mean()),
                 "mean_standard_error": mean_se, "mean_quadrature": mean_random,
                 "fraction_beating_S_w": beats, "probability_beating_S_w": p_beats, "fraction_standard_error": beats_se},
    )
    return [ranking, filter_rho, random_rho], rho


def claim_relu_patterns(data, biased, net, seed):
    """``S_a±`` at μ = 0 and at μ = MU_BIASED, paper and regime variants."""
    fitted, se = {}, {}
    for label, sample in (("mu0", data), ("mu1", biased)):
        for variant in ("paper", "regime"):
            fitted[label, variant] = _patterns_pm(_fit(net, sample.X, "a+-", seed, variant))
            se[label, variant] = batch_standard_error(
                batch_values(lambda part: _patterns_pm(_fit(net, part, "a+-", seed, variant)), sample.X))
    a_s2 = np.tile(data.a_s, 2)
    closed = np.concatenate(toy.relu_patterns(biased.a_s, biased.a_d, MU_BIASED, "paper"))
    mu = f"μ = {MU_BIASED:g}"
    claims = []

    measured, error = fitted["mu1", "paper"], se["mu1", "paper"]
    claims.append(Claim(
        "relu_patterns_closed_form", "§3 subtlety", f"S_a± (paper variant) at {mu} equals its closed form",
        f"a₊ = a_s + 1.5μ·a_d = {_vec(closed[:2])}, a₋ = a_s − 1.5μ·a_d = {_vec(closed[2:])}",
        f"a₊ = {_vec(measured[:2], 4)}, a₋ = {_vec(measured[2:], 4)} ({in_standard_errors(measured, closed, error):.1f} SE)",
        HOLDS if within(measured, closed, error) else FAILS,
        numbers={"mu": MU_BIASED, "measured": measured, "closed_form": closed, "standard_error": error},
    ))

    at_zero = within(fitted["mu0", "paper"], a_s2, se["mu0", "paper"])
    at_mu = within(fitted["mu1", "paper"], a_s2, se["mu1", "paper"])
    verdict = (HOLDS if at_mu else ONLY_MU_ZERO) if at_zero else FAILS
    claims.append(Claim(
        "relu_patterns_recover_signal", "§3 subtlety", "S_a± (paper variant) recovers a_s",
        f"a₊ = a₋ = a_s at μ = 0; off by 1.5|μ|·|a_d| = {1.5 * MU_BIASED * np.sqrt(2):.3f} at {mu}",
        f"μ = 0: {in_standard_errors(fitted['mu0', 'paper'], a_s2, se['mu0', 'paper']):.1f} SE from a_s; "
        f"{mu}: |a₊ − a_s| = {np.linalg.norm(fitted['mu1', 'paper'][:2] - data.a_s):.3f} "
        f"({in_standard_errors(fitted['mu1', 'paper'], a_s2, se['mu1', 'paper']):.0f} SE)",
        verdict, expected_verdict=ONLY_MU_ZERO,
        numbers={"mu0": fitted["mu0", "paper"], "mu0_standard_error": se["mu0", "paper"],
                 "mu1": fitted["mu1", "paper"], "mu1_standard_error": se["mu1", "paper"], "a_s": data.a_s},
    ))

    # ρ cannot see the bias: cov[d̂, y] = 0 and ρ = 1 on the fitting data
    y = net.forward(biased.X)[:, 0]
    d_hat = biased.X - _signal_estimate(fitted["mu1", "paper"], y)
    covariance = covariance_with(d_hat, y)
    scale = float(np.max(np.abs(covariance_with(biased.X, y))))
    rho_biased = _rho(net, biased.X, _fit(net, biased.X, "a+-", seed, "paper"))
    blind = bool(np.max(np.abs(covariance)) <= RELATIVE_EXACT * scale and abs(rho_biased - 1.0) <= RELATIVE_EXACT)
    claims.append(Claim(
        "rho_blind_to_relu_bias", "§3 subtlety", f"ρ cannot see the S_a± bias at {mu}",
        "cov[d̂, y] = a_d·(cov[ε, y] − 1.5μ·cov[|y|, y]) = 0, so ρ(S_a±) = 1 although a± ≠ a_s",
        f"cov[d̂, y] = {_vec(covariance, 1, 'e')}; ρ(S_a±) = {_rho_text(rho_biased)}",
        HOLDS if blind else FAILS,
        numbers={"cov_d_hat_y": covariance, "cov_x_y_scale": scale, "rho": rho_biased},
    ))

    regime, regime_se = fitted["mu1", "regime"], se["mu1", "regime"]
    rho_regime = _rho(net, biased.X, _fit(net, biased.X, "a+-", seed, "regime"))
    claims.append(Claim(
        "regime_variant_recovers_signal", "§3 subtlety", f"S_a± with variant=\"regime\" recovers a_s at {mu}",
        "a₊ = cov₊[x, y]/var₊[y] = a_s and a₋ = a_s for every μ",
        f"a₊ = {_vec(regime[:2], 4)}, a₋ = {_vec(regime[2:], 4)} ({in_standard_errors(regime, a_s2, regime_se):.1f} SE); "
        f"ρ = {_rho_text(rho_regime)}",
        HOLDS if within(regime, a_s2, regime_se) else FAILS,
        numbers={"measured": regime, "standard_error": regime_se, "rho": rho_regime,
                 "mu0_measured": fitted["mu0", "regime"], "mu0_standard_error": se["mu0", "regime"]},
    ))
    return claims


def claim_optimum_identity(data, biased, net, seed, a) -> Claim:
    """Eq. 2: ``cov[x, y] = cov[S(x), y]`` on the fitting data for S_a and S_a± (paper)."""
    gaps = {}
    y = net.forward(data.X)[:, 0]
    target = covariance_with(data.X, y)
    gaps["S_a"] = float(np.max(np.abs(covariance_with(a * y[:, None], y) - target)) / np.max(np.abs(target)))
    for label, sample in (("S_a± (μ = 0)", data), (f"S_a± (μ = {MU_BIASED:g})", biased)):
        y_s = net.forward(sample.X)[:, 0]
        pm = _patterns_pm(_fit(net, sample.X, "a+-", seed))
        target_s = covariance_with(sample.X, y_s)
        gaps[label] = float(np.max(np.abs(covariance_with(_signal_estimate(pm, y_s), y_s) - target_s))
                            / np.max(np.abs(target_s)))
    w_pattern = _pattern_a(_fit(net, data.X, "w", seed))
    contrast = float(np.max(np.abs(covariance_with(w_pattern * y[:, None], y) - target)) / np.max(np.abs(target)))
    holds = all(g <= RELATIVE_EXACT for g in gaps.values())
    return Claim(
        "optimum_identity", "§4 Eq. 2", "S_a and S_a± reach the optimum cov[x, y] = cov[S(x), y] on their fitting data",
        f"relative gap ≤ {RELATIVE_EXACT:.0e} (rounding); S_w does not (contrast)",
        "relative gap: " + ", ".join(f"{k} {g:.1e}" for k, g in gaps.items()) + f"; S_w {contrast:.2f}",
        HOLDS if holds else FAILS,
        numbers={"relative_gap": gaps, "S_w_relative_gap": contrast, "tolerance": RELATIVE_EXACT},
    )


# --- output ---------------------------------------------------------------------------------------------

COLUMNS = (("#", 2), ("claim", 32), ("expected", 34), ("measured", 46), ("verdict", 22))


def _row_cells(index, claim):
    verdict = claim.verdict if claim.as_expected else f"{claim.verdict.upper()} (expected: {claim.expected_verdict})"
    return [str(index), f"{claim.claim} [{claim.source}]", claim.expected, claim.measured, verdict]


def text_table(claims) -> str:
    """The claims as a fixed-width table for the terminal."""
    def render(cells):
        wrapped = [textwrap.wrap(text, width) or [""] for text, (_, width) in zip(cells, COLUMNS)]
        lines = []
        for i in range(max(len(w) for w in wrapped)):
            lines.append(" | ".join((w[i] if i < len(w) else "").ljust(width)
                                    for w, (_, width) in zip(wrapped, COLUMNS)).rstrip())
        return lines

    rule = "-+-".join("-" * width for _, width in COLUMNS)
    lines = render([name for name, _ in COLUMNS]) + [rule]
    for index, claim in enumerate(claims, 1):
        lines += render(_row_cells(index, claim)) + [rule]
    return "\n".join(lines)


def markdown_report(claims, header, failed, figure="toy.png") -> str:
    def cell(text):
        return text.replace("|", "\\|")

    lines = [
        "# refpattern verify: the linear toy example (docs/paper.md §2–§4)", "",
        f"N = {header['samples']} samples per data set, seed = {header['seed']}, "
        f"refpattern {header['versions']['refpattern']}, NumPy {header['versions']['numpy']}, "
        f"Python {header['versions']['python']}; {header['elapsed_s']:.1f} s.", "",
        f"Statistical tolerances: ±{Z:g} standard errors, the SE measured by batch means over {BATCHES} disjoint "
        f"batches of the same draw (SE = sd/√{BATCHES}); identities to {EXACT:.0e} absolute or "
        f"{RELATIVE_EXACT:.0e} relative (rounding).  A verdict other than the expected one is in capitals.", "",
        "| # | claim | expected | measured | verdict |", "|---|---|---|---|---|",
    ]
    for index, claim in enumerate(claims, 1):
        lines.append("| " + " | ".join(cell(c) for c in _row_cells(index, claim)) + " |")
    lines.append("")
    if failed:
        lines.append(f"**{len(failed)} claim(s) that must hold do not:** " + ", ".join(c.key for c in failed))
    else:
        lines.append(f"All {len(claims)} claims came out as the paper and the closed forms predict.")
    if figure:
        lines += ["", f"![toy example]({figure})"]
    lines += ["", "Every number is in `report.json`; closed forms are derived in `refpattern/toy.py`.", ""]
    return "\n".join(lines)


def draw_figure(figure_data, path) -> None:
    """Left: the data coloured by y with w, a_s, a_d and the learned a. Right: the rotation experiment."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    data, a, rows = figure_data["data"], figure_data["a"], figure_data["rotation_rows"]
    figure = Figure(figsize=(12, 5.2), dpi=110)
    FigureCanvasAgg(figure)
    left, right = figure.subplots(1, 2)

    shown = np.random.default_rng(0).choice(data.n_samples, size=min(2000, data.n_samples), replace=False)
    points = left.scatter(data.X[shown, 0], data.X[shown, 1], c=data.y[shown], cmap="coolwarm", s=6, alpha=0.6,
                          vmin=-1, vmax=1)
    figure.colorbar(points, ax=left, label="y (signal amplitude)")
    for vector, colour, label in ((data.w, "black", "filter w"), (data.a_s, "tab:green", "signal a_s"),
                                  (data.a_d, "tab:purple", "distractor a_d"), (a, "tab:orange", "learned pattern a (S_a)")):
        learned = "learned" in label
        style = {"lw": 2, "linestyle": "--"} if learned else {"lw": 5 if "signal" in label else 2.5, "alpha": 0.75}
        left.annotate("", xy=tuple(2 * vector), xytext=(0, 0), arrowprops={"arrowstyle": "-|>", "color": colour, **style})
        left.plot([], [], color=colour, lw=2, linestyle="--" if learned else "-", label=f"{label} = {_vec(vector, 2)}")
    left.set_aspect("equal")
    limit = 4.0
    left.set_xlim(-limit, limit)
    left.set_ylim(-limit, limit)
    left.axhline(0, color="grey", lw=0.5)
    left.axvline(0, color="grey", lw=0.5)
    left.set_xlabel("x₁")
    left.set_ylabel("x₂")
    left.set_title(f"x = a_s·y + a_d·ε (N = {data.n_samples}, arrows ×2)")
    left.legend(loc="lower left", fontsize=8, framealpha=0.9)

    directions = np.array([r["a_d_direction_deg"] for r in rows])
    grid = np.linspace(directions.min() - 5, directions.max() + 5, 200)
    right.plot(grid, grid - 90, color="black", lw=1, label="w closed form (a_d − 90°)")
    right.plot(directions, [r["w_direction_deg"] for r in rows], "s", color="black", mfc="none", ms=9,
               label="w fitted (least squares)")
    right.errorbar(directions, [r["pattern_direction_deg"] for r in rows],
                   yerr=[Z * r["pattern_direction_se_deg"] for r in rows], fmt="o", color="tab:orange", capsize=3,
                   label=f"learned pattern S_a (±{Z:g} SE)")
    right.axhline(0, color="tab:green", lw=1, label="signal a_s (0°)")
    right.set_xlabel("direction of a_d (degrees)")
    right.set_ylabel("direction (degrees)")
    right.set_title("rotating the distractor: w turns, the pattern stays")
    right.legend(loc="upper left", fontsize=8)
    right.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path)


def _header(n_samples, seed, elapsed) -> dict:
    import importlib

    import refpattern

    versions = {"refpattern": refpattern.__version__, "numpy": np.__version__}
    for name in ("scipy", "matplotlib"):
        try:
            versions[name] = importlib.import_module(name).__version__
        except ModuleNotFoundError:
            versions[name] = None
    versions["python"] = platform.python_version()
    versions["platform"] = platform.platform()
    return {"samples": n_samples, "seed": seed, "elapsed_s": elapsed, "versions": versions}


def _vec(v, digits=3, style="f") -> str:
    """``(x₁, x₂, …)`` with ``digits`` digits; a value that rounds to zero prints without a minus sign."""
    def number(x):
        text = f"{float(x):.{digits}{style}}"
        return text[1:] if text.startswith("-") and float(text) == 0 else text

    return "(" + ", ".join(number(x) for x in np.ravel(v)) + ")"


def _rho_text(value) -> str:
    return "undefined" if np.isnan(value) else f"{value:.6f}".replace("-0.000000", "0.000000")
