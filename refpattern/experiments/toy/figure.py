"""The toy figure of the ``refpattern verify`` report: the data with ``w``, ``a_s``, ``a_d`` and the
learned pattern, and the rotation experiment (drawn with the report's Agg conventions,
:mod:`refpattern.experiments.plots`: no pyplot, no display)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from refpattern.experiments.plots import png_bytes
from refpattern.experiments.report import format_vector
from refpattern.experiments.toy.tolerances import Z

DPI = 110
"""Resolution of the PNG."""

SHOWN_POINTS = 2000
"""At most this many samples are drawn in the scatter plot (a fixed random subset)."""


def toy_figure(check) -> tuple[bytes, str]:
    """``(png_bytes, caption)`` of a :class:`~refpattern.experiments.toy.check.ToyCheck`.

    Left: the default draw coloured by ``y``, with the filter ``w``, the signal ``a_s``, the
    distractor ``a_d`` and the learned ``S_a`` pattern (arrows ×2).  Right: for each rotation of
    ``a_d``, the direction of the fitted ``w`` (closed form ``∠a_d − 90°``) and of the learned
    pattern with ±Z standard errors (closed form 0°).
    """
    data, a, rows = check.data, check.pattern, check.rotation_rows
    figure = Figure(figsize=(12, 5.2), dpi=DPI)
    left, right = figure.subplots(1, 2)

    shown = np.random.default_rng(0).choice(data.n_samples, size=min(SHOWN_POINTS, data.n_samples), replace=False)
    points = left.scatter(data.X[shown, 0], data.X[shown, 1], c=data.y[shown], cmap="coolwarm", s=6, alpha=0.6,
                          vmin=-1, vmax=1)
    figure.colorbar(points, ax=left, label="y (signal amplitude)")
    for vector, colour, label in ((data.w, "black", "filter w"), (data.a_s, "tab:green", "signal a_s"),
                                  (data.a_d, "tab:purple", "distractor a_d"),
                                  (a, "tab:orange", "learned pattern a (S_a)")):
        learned = "learned" in label
        style = {"lw": 2, "linestyle": "--"} if learned else {"lw": 5 if "signal" in label else 2.5, "alpha": 0.75}
        left.annotate("", xy=tuple(2 * vector), xytext=(0, 0),
                      arrowprops={"arrowstyle": "-|>", "color": colour, **style})
        left.plot([], [], color=colour, lw=2, linestyle="--" if learned else "-",
                  label=f"{label} = {format_vector(vector, 2)}")
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
    caption = (f"Left: {len(shown)} of the N = {data.n_samples} toy samples coloured by y (−1 to 1), with the filter "
               f"w, the signal a_s, the distractor a_d and the learned S_a pattern (arrows twice their length). "
               f"Right: direction of the fitted w and of the learned pattern (±{Z:g} SE) for each rotation of a_d; "
               f"lines: w's closed form a_d − 90° and the signal's 0°.")
    return png_bytes(figure, dpi=DPI), caption
