"""The figure of the ``refpattern verify`` report: the data with ``w``, ``a_s``, ``a_d`` and the
learned pattern (in the model's plane when ``D > 2``), the rotation experiment, and ρ(random)
against ``D`` when the check swept it (drawn with the report's Agg conventions,
:mod:`refpattern.experiments.plots`: no pyplot, no display)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from refpattern.experiments.plots import png_bytes
from refpattern.experiments.report import format_vector
from refpattern.experiments.toy.tolerances import Z

DPI = 110
"""Resolution of the PNG."""

AXIS_LIMIT = 4.0
"""Half-width of the scatter plot's axes (wider when 0.5 % of the points lie beyond 4/1.1)."""


def toy_figure(check) -> tuple[bytes, str]:
    """``(png_bytes, caption)`` of a :class:`~refpattern.experiments.toy.check.ClaimsReport`.

    Left: the draw coloured by ``s_k`` (a fixed random subset), with the filter ``w``, the signal
    ``a_s``, the distractor ``a_d`` and the learned ``S_a`` pattern (arrows ×2), in the model's
    plane.  Middle: for each rotation of the distractors, the direction of the fitted ``w`` (closed
    form) and of the learned pattern with ±Z standard errors (closed form).  Right (only when the
    check swept ``D``): ``E[ρ(random)]`` and ``P(random beats S_w)`` against ``D``, closed forms as
    lines, Monte Carlo estimates as points with ±Z SE.
    """
    data, rows, model = check.figure, check.rotation_rows, check.model
    basis = model.plane()
    panels = 1 + bool(rows) + bool(check.sweep_rows)
    figure = Figure(figsize=(12 if panels <= 2 else 17, 5.2), dpi=DPI)
    axes = list(np.atleast_1d(figure.subplots(1, max(panels, 2))))
    left = axes[0]
    peak = max(1.0, float(np.max(np.abs(data.values)))) if len(data.values) else 1.0
    points = left.scatter(data.points[:, 0], data.points[:, 1], c=data.values, cmap="coolwarm", s=6, alpha=0.6,
                          vmin=-peak, vmax=peak)
    figure.colorbar(points, ax=left, label="y (signal amplitude)")
    vectors = [(data.vectors["w"], "black", "filter w"), (data.vectors["a_s"], "tab:green", "signal a_s")]
    if data.vectors["a_d"] is not None:
        vectors.append((data.vectors["a_d"], "tab:purple", "distractor a_d"))
    vectors.append((basis @ check.pattern, "tab:orange", "learned pattern a (S_a)"))
    planar = data.dimension == 2
    for vector, colour, label in vectors:
        learned = "learned" in label
        arrow = vector if planar else vector / max(np.linalg.norm(vector), 1e-300)  # a direction, unit length
        style = {"lw": 2, "linestyle": "--"} if learned else {"lw": 5 if "signal" in label else 2.5, "alpha": 0.75}
        left.annotate("", xy=tuple(2 * arrow), xytext=(0, 0),
                      arrowprops={"arrowstyle": "-|>", "color": colour, **style})
        left.plot([], [], color=colour, lw=2, linestyle="--" if learned else "-",
                  label=f"{label} = {format_vector(vector, 2)}")
    left.set_aspect("equal")
    spread = float(np.percentile(np.abs(data.points), 99.5)) * 1.1 if len(data.points) else 0.0
    limit = max(AXIS_LIMIT, spread)
    left.set_xlim(-limit, limit)
    left.set_ylim(-limit, limit)
    left.axhline(0, color="grey", lw=0.5)
    left.axvline(0, color="grey", lw=0.5)
    left.set_xlabel("x₁" if planar else "e₁ᵀx (along a_s)")
    left.set_ylabel("x₂" if planar else "e₂ᵀx (towards a_d)")
    left.set_title(f"x = a_s·y + a_d·ε (N = {data.n_samples}, arrows ×2)" if planar else
                   f"plane of a_s, a_d (D = {data.dimension}; unit arrows ×2)")
    left.legend(loc="lower left", fontsize=8, framealpha=0.9)
    shown = len(data.points)
    kind = "toy " if planar else ""
    captions = [f"Left: {shown} of the N = {data.n_samples} {kind}samples coloured by y (−{peak:g} to {peak:g}), "
                f"with the filter "
                f"w, the signal a_s, the distractor a_d and the learned S_a pattern (arrows twice their length)"
                + ("." if planar else f", projected on the plane of a_s and a_d (D = {data.dimension}); the arrows "
                                      "show directions (unit length ×2), the legend the projected vectors.")]
    panel = 1
    if rows:
        _rotation_panel(axes[panel], rows, model.is_planar)
        panel += 1
        captions.append(f"{'Right' if panels == 2 else 'Middle'}: direction of the fitted w and of the learned "
                        f"pattern (±{Z:g} SE) for each rotation of a_d; lines: w's closed form a_d − 90° and the "
                        "signal's 0°." if model.is_planar else
                        f"{'Right' if panels == 2 else 'Middle'}: in-plane direction of the fitted w and of the "
                        f"learned pattern (±{Z:g} SE) for each rotation of the distractors; lines and crosses: "
                        "closed forms.")
    if check.sweep_rows:
        _dimension_panel(axes[panel], check.sweep_rows)
        captions.append(f"Right: E[ρ(random)] and P(one random direction beats S_w) against D; lines: closed forms "
                        f"(docs/math.md#linear-random-baseline), points: Monte Carlo over random directions "
                        f"(±{Z:g} SE).")
    if panels == 1:
        axes[1].set_axis_off()
    figure.tight_layout()
    return png_bytes(figure, dpi=DPI), " ".join(captions)


def _rotation_panel(right, rows, planar: bool) -> None:
    directions = np.array([r["a_d_direction_deg"] for r in rows])
    if planar:
        grid = np.linspace(directions.min() - 5, directions.max() + 5, 200)
        right.plot(grid, grid - 90, color="black", lw=1, label="w closed form (a_d − 90°)")
    else:
        right.plot(directions, [r["w_closed_form_direction_deg"] for r in rows], "x", color="black", ms=9,
                   label="w closed form")
    fitted = [(d, r["w_direction_deg"]) for d, r in zip(directions, rows) if r["w_direction_deg"] is not None]
    if fitted:
        right.plot(*zip(*fitted), "s", color="black", mfc="none", ms=9, label="w fitted (least squares)")
    right.errorbar(directions, [r["pattern_direction_deg"] for r in rows],
                   yerr=[Z * r["pattern_direction_se_deg"] for r in rows], fmt="o", color="tab:orange", capsize=3,
                   label=f"learned pattern S_a (±{Z:g} SE)")
    closed = [r.get("pattern_closed_form_direction_deg", 0.0) for r in rows]
    if not any(closed):
        right.axhline(0, color="tab:green", lw=1, label="signal a_s (0°)")
    else:
        right.plot(directions, closed, "+", color="tab:green", ms=12, label="S_a closed form")
    right.set_xlabel("direction of a_d (degrees)")
    right.set_ylabel("direction (degrees)")
    right.set_title("rotating the distractor: w turns, the pattern stays")
    right.legend(loc="upper left", fontsize=8)
    right.grid(alpha=0.3)


def _dimension_panel(axis, rows) -> None:
    dimensions = np.array([r["dimension"] for r in rows])
    axis.plot(dimensions, [r["mean_closed_form"] for r in rows], color="tab:blue", lw=1.5,
              label="E[ρ(random)] closed form")
    axis.errorbar(dimensions, [r["mean_estimate"] for r in rows], yerr=[Z * r["mean_standard_error"] for r in rows],
                  fmt="o", color="tab:blue", capsize=3, label=f"mean over directions (±{Z:g} SE)")
    axis.plot(dimensions, [r["probability_closed_form"] for r in rows], color="tab:red", lw=1.5,
              label="P(random beats S_w) closed form")
    axis.errorbar(dimensions, [r["fraction_estimate"] for r in rows],
                  yerr=[Z * r["fraction_standard_error"] for r in rows], fmt="s", color="tab:red", capsize=3,
                  label=f"fraction of directions (±{Z:g} SE)")
    axis.plot(dimensions, [r["first_order"] for r in rows], color="grey", lw=1, linestyle=":",
              label="first order |w|²/(2σ²_y tr Σ⁻¹)")
    axis.plot(dimensions, [r["rho_S_w"] for r in rows], color="black", lw=1, linestyle="--", label="ρ(S_w)")
    axis.set_xscale("log")
    axis.set_ylim(-0.02, 1.02)
    axis.set_xlabel("dimension D")
    axis.set_ylabel("ρ / probability")
    axis.set_title("a random direction in D dimensions")
    axis.legend(loc="upper right", fontsize=7)
    axis.grid(alpha=0.3)
