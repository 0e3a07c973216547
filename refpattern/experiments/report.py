"""The one report writer of the experiments (``refpattern verify`` and ``refpattern reproduce``).

:func:`write_report` writes the report folder: ``report.md``, a self-contained ``report.html``
(figures embedded as base64 PNG), the PNG files, and ``report.json`` with every number, all
atomically (``docs/conventions.md#atomic-files``): a failed write leaves the old report intact.

A report is built from *sections*: a title, paragraphs of Markdown-light text (plain text and
``code``), tables (header + rows of cells; a cell may be a :class:`Link`), figures (name → PNG
bytes) and *cards* (:class:`Card`: a boxed block with a badge and labelled fields — a claim
shown right under the figure it is judged on), rendered in that order; a section of level 3 is
a subsection.  The same sections render to Markdown and to HTML, so the two files always say
the same thing; :func:`text_table` renders a table for the terminal.  The formatting of single values lives here too:
:func:`format_cell` (a table cell), :func:`format_vector` (a vector in running text) and
:func:`jsonable` (plain JSON types for ``report.json``).
"""

from __future__ import annotations

import base64
import html
import importlib
import json
import math
import os
import platform
import re
import textwrap
from dataclasses import dataclass, field

import numpy as np

from refpattern import __version__
from refpattern.files import write_files_atomically


@dataclass
class Table:
    header: list
    rows: list
    caption: str = ""


@dataclass(frozen=True)
class Link:
    """A table cell that links to an anchor of the same report (``#claim-fig3_random``)."""

    text: str
    anchor: str

    def __str__(self) -> str:
        return self.text


TONES = ("good", "mixed", "bad", "open", "plain")
"""Badge colours of a :class:`Card`: green, amber, red, grey, none."""


@dataclass
class Card:
    """A boxed block: a title with a badge, and labelled fields ``[(label, text), …]`` (text in
    the Markdown-light of paragraphs).  ``anchor`` is its id in the page (links point at it)."""

    anchor: str
    title: str
    badge: str
    tone: str = "plain"
    fields: list = field(default_factory=list)

    def __post_init__(self):
        if self.tone not in TONES:
            raise ValueError(f"Card {self.anchor}: tone must be one of {TONES}, got {self.tone!r}")


@dataclass
class Section:
    title: str
    paragraphs: list = field(default_factory=list)
    tables: list = field(default_factory=list)
    figures: list = field(default_factory=list)  # names of figures (keys of the figure dict)
    cards: list = field(default_factory=list)
    level: int = 2                               # 2: a section, 3: a subsection


def jsonable(value):
    """Plain JSON types: arrays → lists, NumPy scalars → Python numbers, NaN/inf → None,
    dict keys → strings (recursively)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def format_vector(values, digits: int = 3, style: str = "f") -> str:
    """``(x₁, x₂, …)`` with ``digits`` digits in format ``style`` (``"f"`` or ``"e"``); a value
    that rounds to zero prints without a minus sign (``-0.0001`` → ``0.000``), a missing or
    non-finite one as ``n/a``."""
    def number(x):
        if x is None or not math.isfinite(x):
            return "n/a"
        text = f"{float(x):.{digits}{style}}"
        return text[1:] if text.startswith("-") and float(text) == 0 else text

    flat = values if isinstance(values, (list, tuple)) else np.ravel(values)
    return "(" + ", ".join(number(x) for x in flat) + ")"


def format_cell(value) -> str:
    """Numbers with 3 significant decimals (NaN/None → "n/a"), everything else as ``str``."""
    if value is None:
        return "n/a"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            return "n/a"
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e4):
            return f"{value:.2e}"
        return f"{value:.3f}"
    return str(value)


def _markdown_table(table: Table) -> str:
    def cell(v):
        if isinstance(v, Link):
            return f"[{v.text.replace('|', chr(92) + '|')}](#{v.anchor})"
        return format_cell(v).replace("|", "\\|")

    lines = []
    if table.caption:
        lines += [f"*{table.caption}*", ""]
    lines.append("| " + " | ".join(cell(h) for h in table.header) + " |")
    lines.append("|" + "---|" * len(table.header))
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.rows]
    return "\n".join(lines)


def render_markdown(title: str, sections: list, figure_files: dict, captions=None) -> str:
    """The report as Markdown; figures are linked as the PNG files written next to it."""
    captions = captions or {}
    out = [f"# {title}", ""]
    for section in sections:
        out += [f"{'#' * section.level} {section.title}", ""]
        for paragraph in section.paragraphs:
            out += [paragraph, ""]
        for table in section.tables:
            out += [_markdown_table(table), ""]
        for name in section.figures:
            out += [f"![{name}]({figure_files[name]})", ""]
            if captions.get(name):
                out += [f"*{captions[name]}*", ""]
        for card in section.cards:
            out += [f'<a id="{card.anchor}"></a>', "", f"**{card.title}** — *{card.badge}*", ""]
            out += [f"- *{label}*: {text}" for label, text in card.fields] + [""]
    return "\n".join(out)


def _inline_html(text: str) -> str:
    escaped = html.escape(text)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)


def _html_cell(value) -> str:
    if isinstance(value, Link):
        return f"<a href=\"#{html.escape(value.anchor)}\">{html.escape(value.text)}</a>"
    return html.escape(format_cell(value))


def _html_table(table: Table) -> str:
    parts = ["<table>"]
    if table.caption:
        parts.append(f"<caption>{_inline_html(table.caption)}</caption>")
    parts.append("<tr>" + "".join(f"<th>{html.escape(format_cell(h))}</th>" for h in table.header) + "</tr>")
    for row in table.rows:
        parts.append("<tr>" + "".join(f"<td>{_html_cell(v)}</td>" for v in row) + "</tr>")
    parts.append("</table>")
    return "\n".join(parts)


def _html_card(card: Card) -> str:
    rows = "".join(f"<div class=\"field\"><span class=\"label\">{html.escape(label)}</span>"
                   f"<span class=\"text\">{_inline_html(text)}</span></div>" for label, text in card.fields)
    return (f"<div class=\"card\" id=\"{html.escape(card.anchor)}\"><div class=\"card-title\">"
            f"<span class=\"badge tone-{card.tone}\">{html.escape(card.badge)}</span> {_inline_html(card.title)}"
            f"</div>{rows}</div>")


_STYLE = """
body { font-family: sans-serif; max-width: 1100px; margin: 2em auto; line-height: 1.4; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #bbb; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #eee; }
caption { caption-side: top; font-style: italic; text-align: left; padding-bottom: 4px; }
img { max-width: 100%; display: block; margin: 1em 0 0.3em 0; }
figcaption { font-size: 0.85em; color: #444; margin-bottom: 1.5em; }
figure { margin: 0; }
code { background: #f3f3f3; padding: 0 3px; }
h3 { margin-top: 1.6em; }
.card { border: 1px solid #ccc; border-radius: 6px; padding: 0.5em 0.9em; margin: 0.8em 0 1.2em 0; }
.card-title { font-weight: bold; margin-bottom: 0.4em; }
.field { display: flex; gap: 0.8em; font-size: 0.92em; margin: 0.15em 0; }
.field .label { flex: 0 0 9em; color: #555; font-style: italic; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 0.85em; font-weight: normal; }
.tone-good { background: #d4edda; color: #155724; }
.tone-mixed { background: #fff3cd; color: #856404; }
.tone-bad { background: #f8d7da; color: #721c24; }
.tone-open { background: #e2e3e5; color: #383d41; }
.tone-plain { background: #f3f3f3; color: #222; }
"""


def render_html(title: str, sections: list, figures: dict, captions=None) -> str:
    """The report as one HTML page; every figure is embedded as ``data:image/png;base64``."""
    captions = captions or {}
    out = ["<!DOCTYPE html>", "<html><head><meta charset=\"utf-8\">", f"<title>{html.escape(title)}</title>",
           f"<style>{_STYLE}</style></head><body>", f"<h1>{html.escape(title)}</h1>"]
    for section in sections:
        out.append(f"<h{section.level}>{html.escape(section.title)}</h{section.level}>")
        out += [f"<p>{_inline_html(p)}</p>" for p in section.paragraphs]
        out += [_html_table(t) for t in section.tables]
        for name in section.figures:
            data = base64.b64encode(figures[name]).decode("ascii")
            out.append(f"<figure id=\"figure-{html.escape(name)}\"><img alt=\"{html.escape(name)}\" "
                       f"src=\"data:image/png;base64,{data}\">"
                       f"<figcaption>{_inline_html(captions.get(name, ''))}</figcaption></figure>")
        out += [_html_card(card) for card in section.cards]
    out.append("</body></html>")
    return "\n".join(out)


def write_report(out_dir, title: str, sections: list, figures: dict, numbers: dict, captions=None) -> dict:
    """Write report.md, report.html, report.json and ``<figure>.png`` into ``out_dir`` (created).

    Every file is rendered in memory first and then written atomically, all together
    (:func:`refpattern.files.write_files_atomically`, ``docs/conventions.md#atomic-files``): a
    failed write (disk full, a file-size limit) leaves a report already in ``out_dir``
    unchanged and no temporary file behind.

    Returns ``{"md": path, "html": path, "json": path, "figures": [paths]}``.
    """
    unsafe = [name for name in figures if not isinstance(name, str) or not name or name in (".", "..")
              or "/" in name or os.sep in name or (os.altsep and os.altsep in name)]
    if unsafe:  # "../x" would be written outside out_dir, "a/b" fail half-way
        raise ValueError(f"write_report figures: a figure name must be a plain file name, got {unsafe[0]!r}")
    os.makedirs(out_dir, exist_ok=True)
    figure_files = {name: f"{name}.png" for name in figures}
    paths = {"md": os.path.join(out_dir, "report.md"), "html": os.path.join(out_dir, "report.html"),
             "json": os.path.join(out_dir, "report.json")}
    contents = {os.path.join(out_dir, filename): bytes(figures[name]) for name, filename in figure_files.items()}
    contents[paths["md"]] = render_markdown(title, sections, figure_files, captions).encode("utf-8")
    contents[paths["html"]] = render_html(title, sections, figures, captions).encode("utf-8")
    contents[paths["json"]] = json.dumps(jsonable(numbers), indent=1, ensure_ascii=False,
                                         allow_nan=False).encode("utf-8")
    write_files_atomically(contents)
    paths["figures"] = [os.path.join(out_dir, f) for f in figure_files.values()]
    return paths


def text_table(header: list, rows: list, widths=None, rule_every_row: bool = False) -> str:
    """A plain-text table for the terminal: cells wrapped to ``widths`` characters per column
    (default: the widest cell), a rule under the header and, with ``rule_every_row``, under
    every row (so that wrapped rows stay apart)."""
    cells = [[format_cell(v) for v in row] for row in [header, *rows]]
    if widths is None:
        widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    rule = "-+-".join("-" * w for w in widths)
    lines = []
    for index, row in enumerate(cells):
        wrapped = [textwrap.wrap(c, w) or [""] for c, w in zip(row, widths)]
        for k in range(max(len(w) for w in wrapped)):
            lines.append(" | ".join((w[k] if k < len(w) else "").ljust(width)
                                    for w, width in zip(wrapped, widths)).rstrip())
        if index == 0 or rule_every_row:
            lines.append(rule)
    return "\n".join(lines)


def software_versions() -> dict:
    """Versions of refpattern, NumPy, SciPy, matplotlib, Python and the platform (for a report header)."""
    versions = {"refpattern": __version__, "numpy": np.__version__}
    for name in ("scipy", "matplotlib"):
        try:
            versions[name] = importlib.import_module(name).__version__
        except ModuleNotFoundError:
            versions[name] = None
    versions["python"] = platform.python_version()
    versions["platform"] = platform.platform()
    return versions
