"""The figures of the report, drawn with matplotlib's Agg renderer.

Every ``*_figure`` function returns ``(png_bytes, caption)``.  Figures are
:class:`matplotlib.figure.Figure` objects printed by
:class:`~matplotlib.backends.backend_agg.FigureCanvasAgg`: no pyplot, no display and no change
to the process-wide backend.  A plotting error propagates to the caller.

Display conventions (``docs/conventions.md#display``): a signal ``x`` (an input, or the output of a signal
method) is shown as ``x / (2·max|x|) + 1/2`` in grey (0 → mid-grey); an attribution or gradient
as a heat map, red positive and blue negative, scaled by its own ``max|R|``.
"""

from __future__ import annotations

import io

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from refpattern.experiments.degradation import RANDOM_ORDER
from refpattern.patterns import resolve_estimator


def png_bytes(figure: Figure, dpi: int = 100) -> bytes:
    """The figure as PNG bytes (Agg renderer, tight bounding box)."""
    buffer = io.BytesIO()
    FigureCanvasAgg(figure).print_figure(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


def signal_image(x) -> np.ndarray:
    """``x / (2·max|x|) + 1/2`` for one sample ``(C, H, W)``, as ``(H, W)`` (C = 1) or ``(H, W, 3)``;
    an all-zero ``x`` gives mid-grey."""
    peak = np.max(np.abs(x))
    image = x / (2 * peak) + 0.5 if peak > 0 else np.full_like(x, 0.5)
    if image.shape[0] == 1:
        return image[0]
    if image.shape[0] == 3:
        return np.transpose(image, (1, 2, 0))
    return image.mean(axis=0)


def heat_map(r) -> tuple[np.ndarray, float]:
    """Channel sum of one attribution ``(C, H, W)`` and its colour limit ``max|R|`` (1 if all zero)."""
    summed = r.sum(axis=0)
    peak = float(np.max(np.abs(summed)))
    return summed, peak if peak > 0 else 1.0


def _single_axis(figsize, title: str, ylabel: str, ylim) -> tuple:
    """A new figure with one axis, titled, with its y label and fixed y range: ``(figure, axis)``."""
    figure = Figure(figsize=figsize)
    axis = figure.subplots()
    axis.set_title(title)
    axis.set_ylabel(ylabel)
    axis.set_ylim(*ylim)
    return figure, axis


def _png_with_legend(figure: Figure, axis, fontsize: int = 7, **options) -> bytes:
    """Draw the axis legend, then the figure as PNG bytes."""
    axis.legend(fontsize=fontsize, **options)
    return png_bytes(figure)


def rho_figure(result: dict, title: str = "ρ per kernel layer (Fig. 3)"):
    """Grouped bars: one group per kernel layer, one bar per estimator."""
    layers, table = result["layers"], result["rho"]
    labels = [resolve_estimator(e).label for e in table]
    values = np.array([[np.nan if v is None else v for v in vs] for vs in table.values()], dtype=float)
    low = min(0.0, float(np.nanmin(values)) - 0.05) if np.isfinite(values).any() else 0.0
    width = 0.8 / len(table)
    offsets = [(i - (len(table) - 1) / 2) * width for i in range(len(table))]
    caption = f"{title}. Bars per kernel layer ({', '.join(layers)}), one per estimator; y from {low:.2f} to 1."
    figure, axis = _single_axis((1.6 * len(layers) + 2, 3.2), title, "ρ (higher: more distractor removed)", (low, 1.0))
    for i, label in enumerate(labels):
        axis.bar(np.arange(len(layers)) + offsets[i], values[i], width, label=label)
    axis.set_xticks(np.arange(len(layers)), layers)
    axis.axhline(0, color="black", linewidth=0.5)
    return _png_with_legend(figure, axis, fontsize=8), caption


def degradation_figure(curves: dict, patch: int, title: str = "Image degradation (Fig. 4)"):
    """Mean softmax probability of the initially chosen class against patches replaced, per method."""
    steps = len(next(iter(curves.values()))) - 1
    caption = (f"{title}: mean softmax probability of the initially chosen class (y, 0 to 1) against the number "
               f"of {patch}×{patch} patches replaced by their per-channel mean (x, 0 to {steps}).")
    figure, axis = _single_axis((6.5, 4), title, "softmax probability of the initial class", (0, 1.02))
    for label, curve in curves.items():
        style = {"color": "black", "linestyle": "--"} if label == RANDOM_ORDER else {}
        if label.startswith("PA "):
            style["linewidth"] = 2.2
        axis.plot(np.arange(len(curve)), curve, label=label, **style)
    axis.set_xlabel(f"patches replaced by their per-channel mean ({patch}×{patch} px each)")
    return _png_with_legend(figure, axis, ncol=2), caption


def gallery_figure(x, explanations: dict, kinds: dict, truth=None,
                   title: str = "Every method on the same images (Fig. 5)"):
    """Rows: images; columns: the input (and its true signal), then every method.

    ``explanations``: ``{label: (N, C, H, W)}``; ``kinds``: ``{label: "signal" | "attribution" | "gradient"}``;
    ``truth``: optional (N, C, H, W) true signals, shown next to the input.
    """
    columns = [("input", x, "signal")]
    if truth is not None:
        columns.append(("true signal", truth, "signal"))
    columns += [(label, value, kinds[label]) for label, value in explanations.items()]
    n = x.shape[0]
    caption = (f"{title}. Rows: {n} images; columns, left to right: {', '.join(c[0] for c in columns)}. "
               "Grey: x/(2·max|x|) + 1/2; heat maps: red positive, blue negative, white 0.")
    figure = Figure(figsize=(1.25 * len(columns), 1.35 * n + 0.6))
    axes = figure.subplots(n, len(columns), squeeze=False)
    for col, (label, value, kind) in enumerate(columns):
        for row in range(n):
            axis = axes[row, col]
            if kind == "signal":
                axis.imshow(signal_image(value[row]), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            else:
                summed, peak = heat_map(value[row])
                axis.imshow(summed, cmap="bwr", vmin=-peak, vmax=peak, interpolation="nearest")
            axis.set_xticks([])
            axis.set_yticks([])
            if row == 0:
                axis.set_title(label, fontsize=7)
    figure.suptitle(title, fontsize=9)
    return png_bytes(figure), caption


def cascade_figure(result: dict, measure: str = "spearman_abs"):
    """Similarity to the trained network's map against the number of re-randomised top layers."""
    steps = np.arange(1, len(result["randomized"]) + 1)
    name = "Spearman correlation of |map|" if measure == "spearman_abs" else "cosine similarity"
    caption = (f"Cascading randomisation (Sixt et al., 2020): {name} to the trained network's map (y, −0.2 to 1) "
               f"after re-randomising the top 1..{len(steps)} kernel layers (x).")
    figure, axis = _single_axis((6, 3.6), "Cascading randomisation (Sixt et al., 2020)", name, (-0.2, 1.05))
    for label, row in result["methods"].items():
        axis.plot(steps, row[measure], marker="o", label=label, linewidth=2.2 if label.startswith("PA") else 1.2)
    axis.set_xticks(steps, [f"top {k}" for k in steps])
    axis.set_xlabel("kernel layers re-randomised (from the logits down)")
    axis.axhline(0, color="black", linewidth=0.5)
    return _png_with_legend(figure, axis), caption


def mass_figure(scores: dict, regions, title: str):
    """Stacked bars: share of |explanation| in each ground-truth region, per method."""
    labels = list(scores)
    caption = (f"{title}: share of Σ|E| per region, stacked bars (0 to 1), one per method: {', '.join(labels)}.")
    figure, axis = _single_axis((max(6, 0.45 * len(labels) + 2), 3.6), title, "share of Σ|E|", (0, 1))
    bottom = np.zeros(len(labels))
    for region in regions:
        values = np.array([scores[label][f"mass_{region}"] for label in labels])
        axis.bar(np.arange(len(labels)), values, bottom=bottom, label=region)
        bottom += values
    axis.set_xticks(np.arange(len(labels)), labels, rotation=70, ha="right", fontsize=7)
    return _png_with_legend(figure, axis), caption
