"""The figures of the report, drawn with matplotlib's Agg renderer.

Every ``*_figure`` function returns ``(png_bytes, caption)``.  Figures are
:class:`matplotlib.figure.Figure` objects printed by
:class:`~matplotlib.backends.backend_agg.FigureCanvasAgg`: no pyplot, no display and no change
to the process-wide backend.  A plotting error propagates to the caller.

Numbers measured over seeds are given with one value per seed along the first axis; a figure
shows their mean and, as error bars or a band, the 95 % Student-t interval over seeds
(:func:`refpattern.experiments.intervals.t_interval`, ``docs/math.md#repetition``).  A single
value per quantity (one seed) is drawn without error bars.  A quantity whose value is infinite on
``k`` of the ``S`` seeds has no mean or interval to draw; it is marked ``"∞ on k/S seeds"`` where its
interval would be (at the top of the value axis for ``+inf``, the bottom for ``−inf``, the middle
when both signs occur) and the caption says so (``docs/math.md#repetition-infinite``).

Display conventions (``docs/conventions.md#display``): a signal ``x`` (an input, or the output of a
signal method) is shown as ``x / (2·max|x|) + 1/2`` in grey (0 → mid-grey); an attribution or
gradient as a heat map, red positive and blue negative.  The gallery (:func:`gallery_figure`)
shares one colour scale per column — ``max|x|`` or ``max|Σ_c R|`` over the column's images — and
draws it as a colour bar under the column (``docs/math.md#fig5-gallery``), so the rows of a column
can be compared.
"""

from __future__ import annotations

import io
import textwrap

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from refpattern.experiments.degradation import RANDOM_ORDER
from refpattern.experiments.intervals import t_interval


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


def mean_and_error(values) -> tuple:
    """Mean over seeds, the half-widths of the 95 % t-interval and the number of seeds whose value is
    infinite (``(mean, error, infinite)``, arrays over the trailing axes of ``values`` ``(S, ...)``);
    values with one seed (or given without a seed axis) get no error (NaN), and so does a quantity
    infinite on some seed (``infinite > 0``; its mean is ``±inf``, NaN with both signs,
    ``docs/math.md#repetition-infinite``)."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 0:
        values = values[None]
    flat = values.reshape(values.shape[0], -1)
    intervals = [t_interval(flat[:, j]) for j in range(flat.shape[1])]
    mean = np.array([i.mean for i in intervals]).reshape(values.shape[1:])
    error = np.array([i.half_width if np.isfinite(i.half_width) else np.nan for i in intervals])
    infinite = np.array([i.infinite for i in intervals], dtype=np.int64)
    return mean, error.reshape(values.shape[1:]), infinite.reshape(values.shape[1:])


def infinite_mark(count: int, seeds: int) -> str:
    """The mark of a value infinite on ``count`` of ``seeds`` seeds: ``"∞ on 1/3 seeds"``."""
    return f"∞ on {count}/{seeds} seeds"


INFINITE_CAPTION = (" ∞ on k/S seeds: the value was infinite (overflowed) on k of the S seeds, so no mean or "
                    "interval is drawn there (see docs/math.md#repetition-infinite).")
"""Added to a figure's caption when some value it would draw is infinite on a seed."""


def _mark_infinite(axis, places, mean, infinite, seeds: int, value_axis: str = "y", colour="black") -> None:
    """Write :func:`infinite_mark` where each interval with ``infinite > 0`` would be drawn: at ``places``
    (data coordinates along the other axis) and, along ``value_axis``, at the top of the axis for
    ``mean = +inf``, the bottom for ``−inf`` and the middle for NaN (both signs)."""
    for place, centre, count in zip(np.atleast_1d(places), np.atleast_1d(mean), np.atleast_1d(infinite),
                                    strict=True):
        if count == 0:
            continue
        # +inf: the far end of the value axis (top, right); −inf: the near end; NaN (both signs): the middle
        fraction, side = (0.98, 1) if centre > 0 else (0.02, 0) if centre < 0 else (0.5, 0.5)
        text = infinite_mark(int(count), seeds)
        if value_axis == "y":
            axis.text(place, fraction, text, transform=axis.get_xaxis_transform(), rotation=90, fontsize=6,
                      color=colour, ha="center", va={1: "top", 0: "bottom", 0.5: "center"}[side])
        else:
            axis.text(fraction, place, text, transform=axis.get_yaxis_transform(), fontsize=6, color=colour,
                      va="center", ha={1: "right", 0: "left", 0.5: "center"}[side])


def _drawn(mean, infinite):
    """``mean`` with NaN where the value is infinite on some seed (nothing is drawn there)."""
    return np.where(infinite > 0, np.nan, mean)


def _single_axis(figsize, title: str, ylabel: str, ylim) -> tuple:
    """A new figure with one axis, titled, with its y label and fixed y range: ``(figure, axis)``."""
    figure = Figure(figsize=figsize)
    axis = figure.subplots()
    axis.set_title(title)
    axis.set_ylabel(ylabel)
    if ylim is not None:
        axis.set_ylim(*ylim)
    return figure, axis


def _png_with_legend(figure: Figure, axis, fontsize: int = 7, **options) -> bytes:
    """Draw the axis legend, then the figure as PNG bytes."""
    axis.legend(fontsize=fontsize, **options)
    return png_bytes(figure)


def _seed_note(seeds: int) -> str:
    return f"means over {seeds} seeds with 95 % t-intervals" if seeds > 1 else "one seed, no error bars"


def rho_figure(result: dict, title: str = "ρ per kernel layer (Fig. 3)"):
    """Grouped bars: one group per kernel layer, one bar per estimator (mean over seeds, 95 % interval).

    ``result``: ``{"layers": [names], "rho": {label: (S, L) per seed, or (L,)}}``.
    """
    layers, table = result["layers"], result["rho"]
    labels = list(table)
    stacked = [np.atleast_2d(np.asarray(vs, dtype=float)) for vs in table.values()]  # None → NaN
    for label, values in zip(labels, stacked):
        if values.shape[1] != len(layers):
            raise ValueError(f"rho_figure: {label} has {values.shape[1]} values per seed for {len(layers)} layers")
    summary = [mean_and_error(v) for v in stacked]
    means = np.array([m for m, _, _ in summary])
    errors = np.nan_to_num(np.array([e for _, e, _ in summary]))
    finite = np.isfinite(means)
    # the axis holds every interval whole (held-out ρ can exceed 1, and few seeds give wide intervals)
    low = min(0.0, float((means - errors)[finite].min()) - 0.05) if finite.any() else 0.0
    high = max(1.05, float((means + errors)[finite].max()) + 0.05) if finite.any() else 1.05
    width = 0.8 / len(table)
    offsets = [(i - (len(table) - 1) / 2) * width for i in range(len(table))]
    caption = (f"{title}. Bars per kernel layer ({', '.join(layers)}), one per estimator "
               f"({_seed_note(stacked[0].shape[0])}); y from {low:.2f} to {high:.2f}.")
    missing = [f"{label} ({'every layer' if np.all(np.isnan(m) & (k == 0)) else 'some layers'})"
               for label, (m, _, k) in zip(labels, summary, strict=True) if np.any(np.isnan(m) & (k == 0))]
    if missing:  # a bar that is not drawn must not read as an interval drawn (S_x: ρ undefined)
        caption += f" No bar where ρ is NaN (undefined or not measured): {', '.join(missing)}."
    if any(np.any(k > 0) for _, _, k in summary):
        caption += INFINITE_CAPTION
    figure, axis = _single_axis((1.6 * len(layers) + 2, 3.2), title, "ρ (higher: more distractor removed)",
                                (low, high))
    for i, label in enumerate(labels):
        mean, error, infinite = summary[i]
        axis.bar(np.arange(len(layers)) + offsets[i], _drawn(mean, infinite), width, label=label,
                 yerr=None if np.all(np.isnan(error)) else error, capsize=2, error_kw={"linewidth": 0.8})
        _mark_infinite(axis, np.arange(len(layers)) + offsets[i], mean, infinite, stacked[i].shape[0],
                       colour=f"C{i % 10}")
    axis.set_xticks(np.arange(len(layers)), layers)
    axis.axhline(0, color="black", linewidth=0.5)
    return _png_with_legend(figure, axis, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0)), caption


def degradation_figure(curves: dict, patch: int, title: str = "Image degradation (Fig. 4)"):
    """Small multiples, one panel per method: the mean softmax probability of the initially chosen class
    against patches replaced (mean over seeds, a band of the 95 % interval), with the random order dashed
    in every panel for reference.  ``curves``: ``{label: (S, P + 1) or (P + 1,)}``."""
    stacked = {label: np.atleast_2d(np.asarray(c, dtype=float)) for label, c in curves.items()}
    steps = next(iter(stacked.values())).shape[1] - 1
    seeds = next(iter(stacked.values())).shape[0]
    labels = [label for label in stacked if label != RANDOM_ORDER] or list(stacked)
    columns = min(4, max(1, len(labels)))
    rows = int(np.ceil(len(labels) / columns))
    caption = (f"{title}: one panel per method, the mean softmax probability of the initially chosen class (y, 0 to 1) "
               f"against the number of {patch}×{patch} patches replaced by their per-channel mean (x, 0 to {steps}); "
               f"{_seed_note(seeds)} (bands); the random order dashed in every panel.")
    figure = Figure(figsize=(2.3 * columns + 0.4, 1.9 * rows + 0.6))
    axes = figure.subplots(rows, columns, squeeze=False, sharex=True, sharey=True)
    reference = mean_and_error(stacked[RANDOM_ORDER]) if RANDOM_ORDER in stacked else None
    x = np.arange(steps + 1)
    if any(np.any(mean_and_error(c)[2] > 0) for c in stacked.values()):
        caption += INFINITE_CAPTION
    for k, axis in enumerate(axes.ravel()):
        if k >= len(labels):
            axis.axis("off")
            continue
        label = labels[k]
        mean, error, infinite = mean_and_error(stacked[label])
        if reference is not None:
            axis.plot(x, _drawn(reference[0], reference[2]), color="black", linestyle="--", linewidth=0.9)
            if label != RANDOM_ORDER:
                _mark_infinite(axis, x, reference[0], reference[2], seeds)
        axis.plot(x, _drawn(mean, infinite), color=f"C{k % 10}", linewidth=2.0 if label.startswith("PA ") else 1.4)
        if not np.all(np.isnan(error)):
            axis.fill_between(x, mean - error, mean + error, color=f"C{k % 10}", alpha=0.25, linewidth=0)
        _mark_infinite(axis, x, mean, infinite, seeds, colour=f"C{k % 10}")
        axis.set_title(label, fontsize=8)
        axis.set_ylim(0, 1.02)
        axis.tick_params(labelsize=7)
    for axis in axes[-1]:
        axis.set_xlabel("patches replaced", fontsize=7)
    for axis in axes[:, 0]:
        axis.set_ylabel("probability", fontsize=7)
    figure.suptitle(title, fontsize=9)
    return png_bytes(figure), caption


def interval_figure(values: dict, title: str, xlabel: str, lower_is_better: bool = True, reference=None):
    """Dots with 95 % interval bars, one row per label, sorted best first.

    ``values``: ``{label: (S,) per seed}`` or ``{label: {series: (S,)}}`` (several series per row, each
    its own marker); ``reference``: an optional vertical line (e.g. 0).
    """
    series = {label: (v if isinstance(v, dict) else {"": v}) for label, v in values.items()}
    names = list(next(iter(series.values())))
    summary = {(label, name): mean_and_error(np.asarray(s[name], dtype=float)) for label, s in series.items()
               for name in names}
    first = {label: summary[label, names[0]][0] for label in series}
    # best first; a row without a finite mean (NaN, or infinite on a seed) is not ranked: last, either way
    order = sorted(series, key=lambda k: (not np.isfinite(first[k]),
                                          (first[k] if lower_is_better else -first[k]) if np.isfinite(first[k]) else 0))
    caption = (f"{title}: {xlabel} per method, " + ("lower" if lower_is_better else "higher") +
               f" is better, best at the top; dots are means over seeds, bars 95 % t-intervals "
               f"({', '.join(n for n in names if n) or 'one series'}).")
    if any(np.any(k > 0) for _, _, k in summary.values()):
        caption += INFINITE_CAPTION
    figure = Figure(figsize=(6.5, 0.3 * len(order) + 1.2))
    axis = figure.subplots()
    axis.set_title(title)
    markers = ("o", "s", "^", "D")
    for k, name in enumerate(names):
        shift = (k - (len(names) - 1) / 2) * 0.2
        for row, label in enumerate(order):
            mean, error, infinite = summary[label, name]
            axis.errorbar(_drawn(mean, infinite), row + shift, xerr=None if np.isnan(error) else error,
                          fmt=markers[k % 4], color=f"C{k}", markersize=4, capsize=2,
                          label=name if row == 0 and name else None)
            _mark_infinite(axis, row + shift, mean, infinite, np.atleast_1d(series[label][name]).shape[0],
                           value_axis="x", colour=f"C{k}")
    if reference is not None:
        axis.axvline(reference, color="black", linewidth=0.5)
    axis.set_yticks(np.arange(len(order)), order, fontsize=7)
    axis.invert_yaxis()
    if any(np.any(k > 0) for _, _, k in summary.values()):  # a row with only a mark: keep every row inside
        axis.set_ylim(len(order) - 0.5, -0.5)
    axis.set_xlabel(xlabel)
    if any(names):
        axis.legend(fontsize=7)
    return png_bytes(figure), caption


def short_number(x: float) -> str:
    """A colour-bar tick in at most about 6 characters: ``140``, ``-4.2``, ``0.054``, ``3e-04``, ``2e+05``."""
    size = abs(x)
    if size == 0:
        return "0"
    if 10 <= size < 1000:
        return f"{x:.0f}"
    return f"{x:.2g}" if 0.01 <= size < 10 else f"{x:.0e}"


def column_title(label: str, width: int = 13) -> str:
    """A gallery column's title, wrapped to lines of ``width`` characters."""
    return "\n".join(textwrap.wrap(label, width)) or label


def column_scale(kind: str, value) -> float:
    """The shared colour limit of a gallery column ``(N, C, H, W)``: ``max|x|`` over its images for a
    signal, ``max|Σ_c R|`` for a heat map; 1 if the column is all zero."""
    value = np.asarray(value, dtype=float)
    shown = value if kind == "signal" else value.sum(axis=1)
    peak = float(np.max(np.abs(shown)))
    return peak if peak > 0 else 1.0


def gallery_figure(x, explanations: dict, kinds: dict, truth=None,
                   title: str = "Every method on the same images (Fig. 5)", rows=None):
    """Rows: images; columns: the input (and its true signal), the text columns of ``rows``, then every method.

    ``explanations``: ``{label: (N, C, H, W)}``; ``kinds``: ``{label: "signal" | "attribution" | "gradient"}``;
    ``truth``: optional (N, C, H, W) true signals, shown next to the input; ``rows``: optional
    ``{"label": [...], "prediction": [...], "confidence": [...]}`` (strings per image, e.g. the
    paper's label / prediction / confidence columns).  Every image column shares one colour scale
    (``max|x|`` for signals shown in grey, ``max|Σ_c R|`` for heat maps), drawn as a colour bar
    under it.
    """
    columns = [("input", x, "signal")]
    if truth is not None:
        columns.append(("true signal", truth, "signal"))
    text_columns = list(rows or {})
    columns += [(label, value, kinds[label]) for label, value in explanations.items()]
    n = x.shape[0]
    total = len(columns) + len(text_columns)
    caption = (f"{title}. Rows: {n} images; columns, left to right: {columns[0][0]}"
               + (", true signal" if truth is not None else "")
               + (f", {', '.join(text_columns)}" if text_columns else "")
               + f", {', '.join(c[0] for c in columns[1 + (truth is not None):])}. "
               "Grey: a signal, 0 mid-grey, scaled by the column's max|x|; heat maps: red positive, blue "
               "negative, white 0, scaled by the column's max|Σ_c R|; one colour bar per column.")
    figure = Figure(figsize=(1.05 * total + 0.4, 1.1 * n + 1.3))
    heights = [1.0] * n + [0.12]
    widths = []
    order = []  # what each grid column holds: ("image", index) or ("text", name)
    leading = 2 if truth is not None else 1
    for k in range(leading):
        order.append(("image", k))
        widths.append(1.0)
    for name in text_columns:
        order.append(("text", name))
        widths.append(0.9)
    for k in range(leading, len(columns)):
        order.append(("image", k))
        widths.append(1.0)
    grid = figure.add_gridspec(n + 1, len(order), height_ratios=heights, width_ratios=widths, hspace=0.12,
                               wspace=0.08)
    for col, (what, which) in enumerate(order):
        if what == "text":
            for row in range(n):
                axis = figure.add_subplot(grid[row, col])
                axis.axis("off")
                axis.text(0.5, 0.5, str(rows[which][row]), ha="center", va="center", fontsize=7, wrap=True,
                          transform=axis.transAxes)
                if row == 0:
                    axis.set_title(column_title(which), fontsize=6.5)
            continue
        label, value, kind = columns[which]
        peak = column_scale(kind, value)
        colours = "gray" if kind == "signal" else "bwr"
        for row in range(n):
            axis = figure.add_subplot(grid[row, col])
            sample = value[row]
            if kind == "signal" and sample.shape[0] == 3:
                axis.imshow(np.clip(np.transpose(sample, (1, 2, 0)) / (2 * peak) + 0.5, 0, 1),
                            interpolation="nearest")
            else:
                shown = (sample[0] if sample.shape[0] == 1 else sample.mean(axis=0)) if kind == "signal" \
                    else sample.sum(axis=0)
                axis.imshow(shown, cmap=colours, vmin=-peak, vmax=peak, interpolation="nearest")
            axis.set_xticks([])
            axis.set_yticks([])
            if row == 0:
                axis.set_title(column_title(label), fontsize=6.5)
        bar_axis = figure.add_subplot(grid[n, col])
        scale = ScalarMappable(norm=Normalize(-peak, peak), cmap=colours)
        bar = figure.colorbar(scale, cax=bar_axis, orientation="horizontal", ticks=[-peak, peak])
        low, high = bar.ax.set_xticklabels([short_number(-peak), short_number(peak)], fontsize=5)
        low.set_horizontalalignment("left")
        high.set_horizontalalignment("right")
    figure.suptitle(title, fontsize=9)
    return png_bytes(figure), caption


def cascade_figure(result: dict, measure: str = "spearman_abs"):
    """Similarity to the trained network's map against the number of re-randomised top layers
    (mean over seeds, 95 % interval bars).  ``result["methods"][label][measure]``: (S, K) or (K,)."""
    steps = np.arange(1, len(result["randomized"]) + 1)
    name = "Spearman correlation of |map|" if measure == "spearman_abs" else "cosine similarity"
    first = next(iter(result["methods"].values()))[measure]
    caption = (f"Cascading randomisation (Sixt et al., 2020): {name} to the trained network's map (y, −0.2 to 1) "
               f"after re-randomising the top 1..{len(steps)} kernel layers (x); "
               f"{_seed_note(np.atleast_2d(first).shape[0])}.")
    figure, axis = _single_axis((6, 3.6), "Cascading randomisation (Sixt et al., 2020)", name, (-0.2, 1.05))
    summary = {label: mean_and_error(np.atleast_2d(np.asarray(row[measure], dtype=float)))
               for label, row in result["methods"].items()}
    if any(np.any(k > 0) for _, _, k in summary.values()):
        caption += INFINITE_CAPTION
    for label, row in result["methods"].items():
        mean, error, infinite = summary[label]
        lines = axis.errorbar(steps, _drawn(mean, infinite), yerr=None if np.all(np.isnan(error)) else error,
                              marker="o", markersize=3, capsize=2, label=label,
                              linewidth=2.2 if label.startswith("PA") else 1.2)
        _mark_infinite(axis, steps, mean, infinite, np.atleast_2d(row[measure]).shape[0],
                       colour=lines[0].get_color())
    axis.set_xticks(steps, [f"top {k}" for k in steps])
    axis.set_xlabel("kernel layers re-randomised (from the logits down)")
    axis.axhline(0, color="black", linewidth=0.5)
    return _png_with_legend(figure, axis), caption


def mass_figure(scores: dict, regions, title: str):
    """Grouped bars: share of |explanation| in each ground-truth region, per method (mean over seeds,
    95 % interval bars).  ``scores[label][f"mass_{region}"]``: (S,) or a number."""
    labels = list(scores)
    seeds = np.atleast_1d(scores[labels[0]][f"mass_{list(regions)[0]}"]).shape[0]
    caption = (f"{title}: share of Σ|E| per region (0 to 1), one group of bars per method: {', '.join(labels)}; "
               f"{_seed_note(seeds)}.")
    figure, axis = _single_axis((max(6, 0.55 * len(labels) + 2), 3.6), title, "share of Σ|E|", (0, 1))
    width = 0.8 / len(regions)
    for k, region in enumerate(regions):
        stats = [mean_and_error(np.atleast_1d(np.asarray(scores[label][f"mass_{region}"], dtype=float)))
                 for label in labels]
        mean = np.array([float(m) for m, _, _ in stats])
        error = np.array([float(e) for _, e, _ in stats])
        infinite = np.array([int(i) for _, _, i in stats])
        places = np.arange(len(labels)) + (k - (len(regions) - 1) / 2) * width
        axis.bar(places, _drawn(mean, infinite), width, label=region,
                 yerr=None if np.all(np.isnan(error)) else error, capsize=2, error_kw={"linewidth": 0.8})
        _mark_infinite(axis, places, mean, infinite, seeds, colour=f"C{k % 10}")
        if np.any(infinite > 0) and not caption.endswith(INFINITE_CAPTION):
            caption += INFINITE_CAPTION
    axis.set_xticks(np.arange(len(labels)), labels, rotation=70, ha="right", fontsize=7)
    return _png_with_legend(figure, axis), caption
