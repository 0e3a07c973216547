"""The documentation site (``docs/conf.py``, ``docs/api.rst``): every public name is in the API
reference, and the notes' anchors are Sphinx targets.

- :func:`test_every_public_name_is_in_the_api_reference` reads the autosummary entries of
  ``docs/api.rst`` (no Sphinx needed) and checks that every name of ``refpattern.__all__`` and
  every public name of the packages the reference covers (:data:`PACKAGES`: ``__all__`` where
  the module has one, else the names its own source defines at top level without a leading
  underscore) is listed in that package's section as the same object, that every entry
  resolves, and that an entry without a generated page points at one that has a page.
- With ``REFPATTERN_DOCS_HTML`` set to a built site (``docs/_build/html``),
  :func:`test_every_public_name_has_a_page_in_the_built_site` checks the generated pages
  themselves; ``.ci/run`` sets it after building the site.
- Where Sphinx is installed (the ``docs`` extra), the anchor transform of ``docs/conf.py`` is
  run on a two-page project: links to ``<a id="…">`` anchors resolve and a link to a missing
  anchor is a warning (an error in the ``-W`` build); and its docstring check reports prose
  that numpydoc would read as parameter names.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
API = ROOT / "docs" / "api.rst"

#: The packages whose public names the API reference must list, each in its own section.
PACKAGES = ("refpattern", "refpattern.network", "refpattern.patterns", "refpattern.methods", "refpattern.datasets",
            "refpattern.testing", "refpattern.interop", "refpattern.kernels")

CURRENT_MODULE = re.compile(r"^\.\. currentmodule:: (\S+)\s*$")
AUTOSUMMARY = re.compile(r"^\.\. autosummary::\s*$")
OPTION = re.compile(r"^\s+:(\w+):")
ENTRY = re.compile(r"^\s+~?([A-Za-z_][\w.]*)\s*$")


def public_names(module) -> list[str]:
    """``__all__``, or the top-level names the module's own source defines without a leading ``_``."""
    if hasattr(module, "__all__"):
        return list(module.__all__)
    tree = ast.parse(inspect.getsource(module))
    names = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            names += [target.id for target in node.targets if isinstance(target, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.append(node.target.id)
    return [name for name in names if not name.startswith("_")]


def autosummary_entries(text: str) -> list[tuple[str, str, bool]]:
    """``(current module, entry, has :toctree:)`` for every autosummary entry of an rst text."""
    entries, module, inside, toctree = [], None, False, False
    for line in text.splitlines():
        current = CURRENT_MODULE.match(line)
        if current:
            module, inside = current.group(1), False
            continue
        if AUTOSUMMARY.match(line):
            inside, toctree = True, False
            continue
        if not inside:
            continue
        option = OPTION.match(line)
        if option:
            toctree = toctree or option.group(1) == "toctree"
        elif ENTRY.match(line):
            entries.append((module, ENTRY.match(line).group(1), toctree))
        elif line.strip() and not line.startswith(" "):
            inside = False
    return entries


def resolve(full_name: str):
    """The object named ``package.name.name…``: attributes first, as autosummary reads the entry
    (``refpattern.patterns.rho`` is the function, not the module ``rho.py`` of the same name)."""
    parts = full_name.split(".")
    obj, path = importlib.import_module(parts[0]), parts[0]
    for part in parts[1:]:
        path = f"{path}.{part}"
        obj = getattr(obj, part) if hasattr(obj, part) else importlib.import_module(path)
    return obj


def documented() -> list[tuple[str, str, bool]]:
    """``(section module, full name, has a generated page)`` per entry of docs/api.rst."""
    return [(module, f"{module}.{entry}", toctree) for module, entry, toctree in autosummary_entries(API.read_text())]


def test_the_entry_reader_reads_sections_options_and_entries():
    text = (".. currentmodule:: pkg\n\nWords\n\n.. autosummary::\n   :toctree: generated\n   :nosignatures:\n\n"
            "   f\n   ~sub.g\n\n.. autosummary::\n   :nosignatures:\n\n   h\n\nText after.\n\n"
            ".. currentmodule:: pkg.sub\n\n.. autosummary::\n\n   k\n")
    assert autosummary_entries(text) == [("pkg", "f", True), ("pkg", "sub.g", True), ("pkg", "h", False),
                                         ("pkg.sub", "k", False)]


def test_an_entry_resolves_to_the_attribute_before_a_submodule_of_the_same_name():
    assert inspect.isfunction(resolve("refpattern.patterns.rho"))
    assert inspect.isfunction(resolve("refpattern.train"))
    assert inspect.ismodule(resolve("refpattern.methods.presets"))


def test_public_names_of_a_module_without_all_are_what_its_source_defines():
    compare = importlib.import_module("refpattern.testing.compare")  # refpattern.testing itself has __all__
    names = public_names(compare)
    assert "assert_explanation_close" in names and "BACKEND_TOLERANCE" in names and "Tolerance" in names
    assert "np" not in names and "explain" not in names  # imported, not defined there
    assert not [name for name in names if name.startswith("_")]


def test_every_entry_of_the_api_reference_resolves():
    entries = documented()
    assert len(entries) > 100, "the API reference lists fewer entries than the packages export"
    problems = []
    for _, full_name, _ in entries:
        try:
            resolve(full_name)
        except (ImportError, AttributeError) as error:
            problems.append(f"{full_name}: {error!r}")
    assert not problems, "entries of docs/api.rst that do not exist:\n" + "\n".join(problems)


def test_every_public_name_is_in_the_api_reference():
    entries = documented()
    missing = []
    for package_name in PACKAGES:
        package = importlib.import_module(package_name)
        listed = [resolve(full_name) for module, full_name, _ in entries if module == package_name]
        for name in public_names(package):
            obj = getattr(package, name)
            if not any(item is obj for item in listed):
                missing.append(f"{package_name}.{name}")
    assert not missing, ("public names missing from their package's section of docs/api.rst:\n" + "\n".join(missing))


def test_every_entry_without_a_page_links_to_one_with_a_page():
    entries = documented()
    with_page = {full_name for _, full_name, toctree in entries if toctree}
    dangling = [full_name for _, full_name, toctree in entries if not toctree and full_name not in with_page]
    assert not dangling, f"listed without a generated page anywhere: {dangling}"


@pytest.mark.skipif(not os.environ.get("REFPATTERN_DOCS_HTML"), reason="set REFPATTERN_DOCS_HTML to a built site")
def test_every_public_name_has_a_page_in_the_built_site():
    html = Path(os.environ["REFPATTERN_DOCS_HTML"])
    problems = []
    for package_name in PACKAGES:
        package = importlib.import_module(package_name)
        pages = {}
        for module, full_name, toctree in documented():
            if module == package_name or toctree:
                pages.setdefault(id(resolve(full_name)), []).append(full_name)
        for name in public_names(package):
            candidates = [full for full in pages.get(id(getattr(package, name)), [])
                          if (html / "generated" / f"{full}.html").is_file()]
            if not candidates:
                problems.append(f"{package_name}.{name}: no generated page")
            else:
                page = (html / "generated" / f"{candidates[0]}.html").read_text("utf-8")
                if f'id="{candidates[0]}"' not in page and f'id="module-{candidates[0]}"' not in page:
                    problems.append(f"{package_name}.{name}: {candidates[0]}.html does not document it")
    api_page = (html / "api.html").read_text("utf-8")
    assert "generated/refpattern.network.Dense.html" in api_page
    assert not problems, "\n".join(problems)


# --- the notes' anchors in Sphinx ---------------------------------------------------------------------


def load_site_configuration():
    """docs/conf.py as a module (needs the ``docs`` extra)."""
    for name in ("sphinx", "myst_parser", "numpydoc"):
        pytest.importorskip(name)
    specification = importlib.util.spec_from_file_location("refpattern_docs_conf", ROOT / "docs" / "conf.py")
    module = importlib.util.module_from_spec(specification)
    specification.loader.exec_module(module)
    return module


def build_two_pages(tmp_path, link: str) -> str:
    """Build a project of two MyST pages with docs/conf.py's anchor transform; return the warnings."""
    module = load_site_configuration()
    sphinx_application = importlib.import_module("sphinx.application")
    source = tmp_path / "source"
    source.mkdir()
    (source / "conf.py").write_text('extensions = ["myst_parser"]\nroot_doc = "index"\n')
    (source / "index.md").write_text(f"# Index\n\n```{{toctree}}\nnotes\n```\n\nSee {link}.\n")
    (source / "notes.md").write_text('# Notes\n\n<a id="first-part"></a>\n## A heading worded otherwise\n\nText.\n\n'
                                     '<a id="second"></a>\n## Second\n\n<a id="inline-part"></a>\nA paragraph.\n\n'
                                     "Back to [the first part](#first-part).\n")
    warnings = []

    class Collect:
        def write(self, text):
            warnings.append(text)

        def flush(self):
            pass

    application = sphinx_application.Sphinx(str(source), str(source), str(tmp_path / "html"),
                                            str(tmp_path / "doctrees"), "html", status=None, warning=Collect(),
                                            freshenv=True)
    module.explicit_anchors_as_targets(application)
    application.build()
    return "".join(warnings)


def test_links_to_explicit_anchors_resolve_in_sphinx(tmp_path):
    warnings = build_two_pages(tmp_path, "[part](notes.md#first-part), [second](notes.md#second) and "
                                         "[paragraph](notes.md#inline-part)")
    assert warnings == ""
    index = (tmp_path / "html" / "index.html").read_text("utf-8")
    notes = (tmp_path / "html" / "notes.html").read_text("utf-8")
    assert 'href="notes.html#first-part"' in index and 'href="notes.html#second"' in index
    assert 'href="notes.html#inline-part"' in index
    assert '<section id="first-part">' in notes and '<section id="second">' in notes
    assert 'id="inline-part"' in notes and "&lt;a id" not in notes


def test_a_link_to_a_missing_anchor_is_a_warning(tmp_path):
    warnings = build_two_pages(tmp_path, "[nothing](notes.md#no-such-part)")
    assert "no-such-part" in warnings


def test_prose_after_a_parameters_section_is_reported(monkeypatch):
    module = load_site_configuration()
    messages = []

    class Collect:
        def warning(self, message, *arguments):
            messages.append(message % arguments)

    monkeypatch.setattr(module, "LOGGER", Collect())
    head = ["Summary.", "", "Parameters", "----------", "x, y : int", "    Two numbers.", "**options", "    More.", ""]
    module.check_docstring_sections(None, "function", "f", None, None, head + ["Shapes: input (N,) and more words."])
    assert len(messages) == 1 and "f: 'Shapes: input (N,) and more words.' in its Parameters section" in messages[0]
    messages.clear()
    module.check_docstring_sections(None, "function", "f", None, None, head + ["Notes", "-----", "Shapes: input (N,)."])
    assert messages == []
