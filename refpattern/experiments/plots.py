"""The figures of the report.

Every ``*_figure`` function returns ``(png_bytes, caption)``.  With matplotlib installed (Agg
backend, no display) the PNG is a labelled matplotlib figure; without it the built-in renderer
(:mod:`.raster`) draws the same data without text, and the caption carries the axis ranges and
the colour legend.  Display conventions (``docs/paper.md`` §6): a signal ``x`` (an input, or
the output of a signal method) is shown as ``x / (2·max|x|) + 1/2`` in grey (0 → mid-grey); an
attribution or gradient as a heat map, red positive and blue negative, scaled by its own
``max|R|``.
"""

from __future__ import annotations

import io
import sys

import numpy as np

from refpattern.experiments import raster

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:  # the built-in renderer draws the figures instead
    plt = None

RENDERER = "matplotlib" if plt is not None else "builtin"
"""Which renderer draws the figures in this process."""


def png_bytes(figure, dpi: int = 100) -> bytes:
    """The figure as PNG bytes; the figure is closed afterwards."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(figure)
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


def render(figure_function, *args, **kwargs):
    """Call a ``*_figure`` function; if matplotlib fails on it, warn on stderr and draw it with the
    built-in renderer instead, so that a report is always written.  Returns ``(png, caption)``."""
    try:
        return figure_function(*args, **kwargs)
    except Exception as error:  # noqa: BLE001 - any plotting failure falls back, loudly
        if plt is None or kwargs.get("builtin"):
            raise
        print(f"warning: matplotlib failed on {figure_function.__name__} ({type(error).__name__}: {error}); "
              "using the built-in renderer", file=sys.stderr)
        return figure_function(*args, builtin=True, **kwargs)


def _tiles_for(value, kind) -> np.ndarray:
    """One sample as an RGB tile for the built-in renderer."""
    if kind == "signal":
        image = signal_image(value)
        if image.ndim == 3:
            return (np.clip(image, 0, 1) * 255).round().astype(np.uint8)
        return raster.grey(image)
    summed, peak = heat_map(value)
    return raster.blue_white_red(summed / peak)


def rho_figure(result: dict, title: str = "ρ per kernel layer (Fig. 3)", builtin: bool = False):
    """Grouped bars: one group per kernel layer, one bar per estimator."""
    from refpattern.experiments.method_suite import ESTIMATOR_LABELS

    layers, table = result["layers"], result["rho"]
    labels = [ESTIMATOR_LABELS.get(e, e) for e in table]
    values = np.array([[np.nan if v is None else v for v in vs] for vs in table.values()], dtype=float)
    low = min(0.0, float(np.nanmin(values)) - 0.05) if np.isfinite(values).any() else 0.0
    width = 0.8 / len(table)
    offsets = [(i - (len(table) - 1) / 2) * width for i in range(len(table))]
    caption = f"{title}. Bars per kernel layer ({', '.join(layers)}), one per estimator; y from {low:.2f} to 1."
    if plt is not None and not builtin:
        figure, axis = plt.subplots(figsize=(1.6 * len(layers) + 2, 3.2))
        for i, label in enumerate(labels):
            axis.bar(np.arange(len(layers)) + offsets[i], values[i], width, label=label)
        axis.set_xticks(np.arange(len(layers)), layers)
        axis.set_ylabel("ρ (higher: more distractor removed)")
        axis.set_ylim(low, 1.0)
        axis.axhline(0, color="black", linewidth=0.5)
        axis.set_title(title)
        axis.legend(fontsize=8)
        return png_bytes(figure), caption
    canvas = raster.Canvas((-0.5, len(layers) - 0.5), (low, 1.0), width=120 * len(layers) + 60, height=300)
    canvas.axes(y_grid=np.arange(0, 1.01, 0.2))
    for i in range(len(labels)):
        for j in range(len(layers)):
            if np.isfinite(values[i, j]):
                x = j + offsets[i]
                canvas.rect(x - width / 2, 0, x + width / 2, values[i, j], raster.PALETTE[i][1])
    return canvas.png(), caption + " Grid lines every 0.2. Colours: " + raster.legend_text(labels) + "."


def degradation_figure(curves: dict, patch: int, title: str = "Image degradation (Fig. 4)", builtin: bool = False):
    """Mean softmax probability of the initially chosen class against patches replaced, per method."""
    steps = len(next(iter(curves.values()))) - 1
    caption = (f"{title}: mean softmax probability of the initially chosen class (y, 0 to 1) against the number "
               f"of {patch}×{patch} patches replaced by their per-channel mean (x, 0 to {steps}).")
    if plt is not None and not builtin:
        figure, axis = plt.subplots(figsize=(6.5, 4))
        for label, curve in curves.items():
            style = {"color": "black", "linestyle": "--"} if label == "random" else {}
            if label.startswith("PA "):
                style["linewidth"] = 2.2
            axis.plot(np.arange(len(curve)), curve, label=label, **style)
        axis.set_xlabel(f"patches replaced by their per-channel mean ({patch}×{patch} px each)")
        axis.set_ylabel("softmax probability of the initial class")
        axis.set_ylim(0, 1.02)
        axis.set_title(title)
        axis.legend(fontsize=7, ncol=2)
        return png_bytes(figure), caption
    canvas = raster.Canvas((0, steps), (0, 1.0))
    canvas.axes(y_grid=np.arange(0, 1.01, 0.2))
    labels = list(curves)
    for i, label in enumerate(labels):
        canvas.line(np.arange(len(curves[label])), curves[label], raster.PALETTE[i % len(raster.PALETTE)][1],
                    width=3 if label.startswith("PA ") else 2, dashed=label == "random")
    return canvas.png(), caption + " Grid lines every 0.2; random order dashed. Colours: " + raster.legend_text(labels) + "."


def gallery_figure(x, explanations: dict, kinds: dict, truth=None, title: str = "Every method on the same images (Fig. 5)", builtin: bool = False):
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
    if plt is not None and not builtin:
        figure, axes = plt.subplots(n, len(columns), figsize=(1.25 * len(columns), 1.35 * n + 0.6), squeeze=False)
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
    tiles = [[_tiles_for(value[row], kind) for _, value, kind in columns] for row in range(n)]
    return raster.encode_png(raster.tile_grid(tiles)), caption


def cascade_figure(result: dict, measure: str = "spearman_abs", builtin: bool = False):
    """Similarity to the trained network's map against the number of re-randomised top layers."""
    steps = np.arange(1, len(result["randomized"]) + 1)
    name = "Spearman correlation of |map|" if measure == "spearman_abs" else "cosine similarity"
    caption = (f"Cascading randomisation (Sixt et al., 2020): {name} to the trained network's map (y, −0.2 to 1) "
               f"after re-randomising the top 1..{len(steps)} kernel layers (x).")
    labels = list(result["methods"])
    if plt is not None and not builtin:
        figure, axis = plt.subplots(figsize=(6, 3.6))
        for label in labels:
            axis.plot(steps, result["methods"][label][measure], marker="o", label=label,
                      linewidth=2.2 if label.startswith("PA") else 1.2)
        axis.set_xticks(steps, [f"top {k}" for k in steps])
        axis.set_xlabel("kernel layers re-randomised (from the logits down)")
        axis.set_ylabel(name)
        axis.set_ylim(-0.2, 1.05)
        axis.axhline(0, color="black", linewidth=0.5)
        axis.set_title("Cascading randomisation (Sixt et al., 2020)")
        axis.legend(fontsize=7)
        return png_bytes(figure), caption
    canvas = raster.Canvas((0.8, len(steps) + 0.2), (-0.2, 1.0))
    canvas.axes(y_grid=np.arange(0, 1.01, 0.2))
    for i, label in enumerate(labels):
        canvas.line(steps, result["methods"][label][measure], raster.PALETTE[i][1], width=3 if label.startswith("PA") else 2)
    return canvas.png(), caption + " Grid lines every 0.2. Colours: " + raster.legend_text(labels) + "."


def mass_figure(scores: dict, regions, title: str, builtin: bool = False):
    """Stacked bars: share of |explanation| in each ground-truth region, per method."""
    labels = list(scores)
    caption = (f"{title}: share of Σ|E| per region, stacked bars (0 to 1), one per method: {', '.join(labels)}.")
    if plt is not None and not builtin:
        figure, axis = plt.subplots(figsize=(max(6, 0.45 * len(labels) + 2), 3.6))
        bottom = np.zeros(len(labels))
        for region in regions:
            values = np.array([scores[label][f"mass_{region}"] for label in labels])
            axis.bar(np.arange(len(labels)), values, bottom=bottom, label=region)
            bottom += values
        axis.set_xticks(np.arange(len(labels)), labels, rotation=70, ha="right", fontsize=7)
        axis.set_ylabel("share of Σ|E|")
        axis.set_ylim(0, 1)
        axis.set_title(title)
        axis.legend(fontsize=7)
        return png_bytes(figure), caption
    canvas = raster.Canvas((-0.5, len(labels) - 0.5), (0, 1.0), width=30 * len(labels) + 60, height=300)
    canvas.axes(y_grid=np.arange(0, 1.01, 0.2))
    for j, label in enumerate(labels):
        bottom = 0.0
        for i, region in enumerate(regions):
            value = scores[label][f"mass_{region}"]
            canvas.rect(j - 0.35, bottom, j + 0.35, bottom + value, raster.PALETTE[i][1])
            bottom += value
    return canvas.png(), caption + " Colours: " + raster.legend_text(regions) + "."
