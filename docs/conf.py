"""Sphinx configuration of refpattern's documentation site.

Build (from the repository root, with the ``docs`` extra installed)::

    sphinx-build -W --keep-going -b html docs docs/_build/html

What the site is made of:

- the notes ``docs/README.md``, ``math.md``, ``conventions.md``, ``backends.md`` as MyST pages,
  unchanged: their explicit ``<a id="…">`` anchors become Sphinx targets
  (:func:`explicit_anchors_as_targets`), so ``[text](math.md#toy-rho)`` resolves, and a link to
  an anchor that does not exist fails the build;
- the notebooks ``notebooks/NN_*.ipynb``, rendered with their stored outputs (myst-nb, never
  executed here); they are copied into ``docs/notebooks/`` when the build starts, with their
  links to the notes (``../docs/math.md#…``, which resolve on a code host) rewritten to the
  site's pages (``../math.md#…``);
- the API reference ``api.rst`` (autosummary + numpydoc, one generated page per object in
  ``docs/generated/``) and ``modules.rst`` (the module docstrings the reference refers to); a
  docstring numpydoc would misread is a warning (:func:`check_docstring_sections`, and numpydoc's
  "Unknown section" is an error);
- the gallery: ``refpattern verify`` and ``refpattern reproduce --quick`` run when the build
  starts and their figures, with the captions of their reports, land in ``docs/_gallery/``
  (about 1.5 minutes on 2 cores). ``REFPATTERN_DOCS_GALLERY=<folder>`` reuses the output of
  earlier runs instead (``<folder>/verify`` and ``<folder>/reproduce``).

Everything the build writes into ``docs/`` is listed in ``docs/.gitignore``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

from docutils import nodes
from numpydoc.docscrape import NumpyDocString
from sphinx.transforms import SphinxTransform
from sphinx.util import logging

LOGGER = logging.getLogger("refpattern.docs")
DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))  # autodoc documents this checkout of refpattern

import refpattern  # noqa: E402  (after the path is set)

# -- project -------------------------------------------------------------------------------------

project = "refpattern"
author = "the refpattern developers"
copyright = "refpattern developers"  # noqa: A001 (Sphinx's name)
release = version = getattr(refpattern, "__version__", "0.1.0")

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_nb",  # loads myst_parser for the notes too
]

root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = ["_build", "_templates", "_gallery", "**.ipynb_checkpoints"]
suppress_warnings: list[str] = []

# -- MyST (notes and notebooks) ------------------------------------------------------------------

myst_enable_extensions = ["dollarmath", "amsmath"]
# MathJax 3 (the site was checked with it); Sphinx's default would be MathJax 4
mathjax_path = "https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"
nb_execution_mode = "off"  # the notebooks are stored executed; CI runs them in tests/test_notebooks.py
nb_merge_streams = True

# -- API reference -------------------------------------------------------------------------------

autosummary_generate = True
autosummary_imported_members = True
autodoc_typehints = "none"  # the docstrings state the types and shapes (numpydoc)
autodoc_member_order = "bysource"
autodoc_preserve_defaults = True
numpydoc_show_class_members = False  # the class template lists the members
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks: set[str] = set()
# numpydoc drops a section it does not know (with a Python warning that -W does not see): fail instead
warnings.filterwarnings("error", message="Unknown section", category=UserWarning, module="numpydoc")

# -- HTML ----------------------------------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = "refpattern"
html_static_path = ["_static"]
html_css_files = ["site.css"]
html_show_sourcelink = False
html_theme_options = {
    "navbar_align": "left",
    "header_links_before_dropdown": 7,
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version", "theme-version"],
}
# pages without sub-pages need no section navigation on the left
html_sidebars = {page: [] for page in ("index", "README", "math", "conventions", "backends", "gallery")}

# -- the notebooks -------------------------------------------------------------------------------

NOTEBOOKS = ROOT / "notebooks"
SITE_NOTEBOOKS = DOCS / "notebooks"
#: A link from a notebook to the notes, as written in the notebook (relative to ``notebooks/``).
NOTES_LINK = re.compile(r"\]\(\.\./docs/")


def copy_notebooks() -> list[str]:
    """Copy ``notebooks/NN_*.ipynb`` into ``docs/notebooks/``; return their document names.

    Links ``](../docs/<note>.md#anchor)`` become ``](../<note>.md#anchor)`` (the notes sit one
    folder up from the copies); nothing else changes, outputs included.
    """
    if SITE_NOTEBOOKS.exists():
        shutil.rmtree(SITE_NOTEBOOKS)
    SITE_NOTEBOOKS.mkdir()
    names = []
    for source in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        notebook = json.loads(source.read_text(encoding="utf-8"))
        for cell in notebook["cells"]:
            if cell["cell_type"] == "markdown":
                text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
                cell["source"] = NOTES_LINK.sub("](../", text)
        (SITE_NOTEBOOKS / source.name).write_text(json.dumps(notebook, indent=1, ensure_ascii=False), encoding="utf-8")
        names.append(f"notebooks/{source.stem}")
    return names


def write_notebook_index(names: list[str]) -> None:
    """``docs/notebooks/index.md``: the notebooks in their numbered order."""
    lines = [
        "# Notebooks",
        "",
        "Step-by-step notebooks, rendered with the outputs they are stored with (CI executes every",
        "one of them and fails if one errors; their asserts compare hand computations and closed",
        "forms with the library). Run them yourself with Jupyter from the `notebooks/` folder.",
        "",
        "```{toctree}",
        ":maxdepth: 1",
        "",
        *[name.removeprefix("notebooks/") for name in names],
        "```",
        "",
    ]
    (SITE_NOTEBOOKS / "index.md").write_text("\n".join(lines), encoding="utf-8")


# -- the gallery ---------------------------------------------------------------------------------

GALLERY = DOCS / "_gallery"
IMAGE = re.compile(r"^!\[[^\]]*\]\(([^)\s]+\.png)\)\s*$")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*$")


def run_command(arguments: list[str], out: Path) -> None:
    """``python -m refpattern <arguments> --out <out>`` on this checkout; raise if it fails to run."""
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
                       MPLBACKEND="Agg")
    command = [sys.executable, "-m", "refpattern", *arguments, "--out", str(out)]
    done = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)
    # verify and reproduce exit 1 when a claim fails: that is a finding, and the figures are written
    if done.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(command)} exited {done.returncode}:\n"
                           f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}")


def report_figures(folder: Path) -> list[tuple[str, str, str]]:
    """``(section, png file name, caption)`` per figure of a report folder, in the report's order.

    Read from ``report.md``: an image line ``![…](name.png)`` under a heading, the caption being
    the italic paragraph after it (if any); figures the report does not show are appended with
    their file name as the caption.
    """
    figures, section = [], ""
    report = folder / "report.md"
    lines = report.read_text(encoding="utf-8").splitlines() if report.is_file() else []
    for index, line in enumerate(lines):
        heading = HEADING.match(line)
        if heading:
            section = heading.group(1)
            continue
        image = IMAGE.match(line.strip())
        if image and (folder / image.group(1)).is_file():
            following = [text.strip() for text in lines[index + 1:index + 3] if text.strip()]
            caption = following[0].strip("*") if following and following[0].startswith("*") else ""
            figures.append((section, image.group(1), caption))
    shown = {name for _, name, _ in figures}
    figures += [("", path.name, path.stem) for path in sorted(folder.glob("*.png")) if path.name not in shown]
    return figures


def rst_text(text: str) -> str:
    """Plain text safe inside reStructuredText (markup characters escaped)."""
    return re.sub(r"([\\*`|_])", r"\\\1", text)


def write_gallery() -> None:
    """Run (or reuse) the toy check and the quick CNN reproduction; write ``_gallery/figures.rst``."""
    reuse = os.environ.get("REFPATTERN_DOCS_GALLERY")
    if GALLERY.exists():
        shutil.rmtree(GALLERY)
    GALLERY.mkdir()
    runs = (("verify", ["verify", "--samples", "20000"], "The linear toy",
             "``refpattern verify --samples 20000``: the paper's Sec. 2 and 4."),
            ("reproduce", ["reproduce", "--quick"], "The CNN experiments",
             "``refpattern reproduce --quick``: the paper's Sec. 5 and the follow-up claims, at a smaller size."))
    blocks = []
    for name, arguments, title, command in runs:
        folder = Path(reuse) / name if reuse else GALLERY / f"run-{name}"
        if not reuse:
            run_command(arguments, folder)
        figures = report_figures(folder)
        if not figures:
            raise RuntimeError(f"no figures in {folder}")
        blocks += [title, "-" * len(title), "", command, ""]
        last_section = None
        for section, png, caption in figures:
            shutil.copyfile(folder / png, GALLERY / f"{name}-{png}")
            if section and section != last_section:
                blocks += [rst_text(section), "~" * len(rst_text(section)), ""]
                last_section = section
            blocks += [f".. figure:: /_gallery/{name}-{png}", f"   :alt: {rst_text(caption or section or png)}", "",
                       f"   {rst_text(caption or png)}", ""]
        if not reuse:
            shutil.rmtree(folder)  # the reports themselves are not part of the site
    (GALLERY / "figures.rst").write_text("\n".join(blocks) + "\n", encoding="utf-8")


# -- docstrings that numpydoc would misread ---------------------------------------------------------

#: A Parameters/Attributes entry's name: one identifier or a comma-separated list of them
#: (``n, n_plus, sum_x, …`` may end in an ellipsis).
ENTRY_NAMES = re.compile(r"\*{0,2}[A-Za-z_]\w*(?:\s*,\s*\*{0,2}[A-Za-z_]\w*)*(?:\s*,\s*(?:…|\.\.\.))?")


def check_docstring_sections(app, what, name, obj, options, lines) -> None:
    """Warn (an error in a ``-W`` build) where numpydoc would read prose as parameter names.

    numpydoc reads everything after a section header as part of that section, so a paragraph
    written after ``Parameters`` or ``Attributes`` becomes a list of bold "parameters". Every
    entry of those sections must be named by identifiers; prose after a section belongs under
    its own header (``Notes``). Runs before numpydoc rewrites the docstring (priority 400).
    """
    if what not in ("class", "function", "method", "exception"):
        return
    try:
        document = NumpyDocString("\n".join(lines))
    except (ValueError, UserWarning) as error:
        LOGGER.warning("%s: the docstring does not parse as numpydoc: %s", name, error)
        return
    for section in ("Parameters", "Other Parameters", "Attributes"):
        for entry in document[section]:
            if not ENTRY_NAMES.fullmatch(entry.name):
                LOGGER.warning("%s: %r in its %s section is not a name; text after a section needs its own "
                               "header (e.g. Notes)", name, entry.name[:60], section)


# -- explicit anchors of the notes ---------------------------------------------------------------

ANCHOR_OPEN = re.compile(r"""^<a\s+(?:id|name)\s*=\s*["']([^"']+)["']\s*>(?:\s*</a>)?$""", re.IGNORECASE)


class ExplicitAnchorsAsTargets(SphinxTransform):
    """``<a id="x"></a>`` in a MyST page becomes the explicit target ``x`` of what it marks.

    The notes mark every citable part with such an anchor on its own line, usually right before
    a heading (``docs/README.md``). As raw HTML Sphinx would pass it through without knowing it,
    and a link ``[…](math.md#x)`` would not resolve. Here the anchor becomes a label of its page,
    like MyST's ``(x)=``: placed right before a heading it names that section (whose HTML id
    becomes ``x``; a heading whose own id is already ``x`` keeps it), elsewhere it is a target
    of the element that follows. Links to it then resolve, and a link to an anchor that does not
    exist is a warning, i.e. an error in a ``-W`` build. Runs before docutils propagates targets
    (priority 260).
    """

    default_priority = 200

    def apply(self, **kwargs) -> None:
        for raw in list(self.document.findall(nodes.raw)):
            if "html" not in raw.get("format", "").split():
                continue
            match = ANCHOR_OPEN.match(raw.astext().strip())
            if not match:
                continue
            anchor, parent = match.group(1), raw.parent
            position = parent.index(raw)
            if position + 1 < len(parent) and parent[position + 1].astext().strip().lower() == "</a>":
                parent.remove(parent[position + 1])
            alone = isinstance(parent, nodes.paragraph) and len(parent) == 1
            section = self.heading_right_after(parent) if alone else None
            if section is not None:
                self.name_section(section, anchor, raw)
                parent.parent.remove(parent)
                continue
            target = nodes.target("", "", ids=[anchor], names=[anchor])
            self.document.note_explicit_target(target, raw)
            (parent if alone else raw).replace_self(target)

    @staticmethod
    def heading_right_after(node):
        """The section whose heading comes right after ``node`` in the page, or None."""
        while node.parent is not None and node.parent.index(node) == len(node.parent) - 1:
            node = node.parent  # the last element of its section: look after the section
        if node.parent is None:
            return None
        following = node.parent[node.parent.index(node) + 1]
        return following if isinstance(following, nodes.section) else None

    def name_section(self, section, anchor: str, raw) -> None:
        """Give ``section`` the id ``anchor`` (unless it has it) and the explicit name ``anchor``."""
        owner = self.document.ids.get(anchor)
        if owner is not None and owner is not section:
            self.document.reporter.error(f'anchor "{anchor}" is already the id of another element', base_node=raw)
            return
        if owner is None:
            section["ids"].insert(0, anchor)
            self.document.ids[anchor] = section
        if anchor not in section["names"]:
            section["names"].append(anchor)
        self.document.nameids[anchor] = anchor
        self.document.nametypes[anchor] = True


def explicit_anchors_as_targets(app) -> None:
    app.add_transform(ExplicitAnchorsAsTargets)


def prepare_sources(app) -> None:
    write_notebook_index(copy_notebooks())
    write_gallery()


def setup(app):
    explicit_anchors_as_targets(app)
    app.connect("builder-inited", prepare_sources)
    app.connect("autodoc-process-docstring", check_docstring_sections, priority=400)
    return {"parallel_read_safe": True}
