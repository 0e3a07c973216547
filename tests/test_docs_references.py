"""Every citation of the project's notes resolves, so no docstring points at a page that is not there.

What is scanned: every text file the project ships or a reader meets (:data:`SCANNED`):
``refpattern/**/*.py``, the cell sources of ``notebooks/*.ipynb``, ``README.md``,
``benchmarks/**/*.py``, ``benchmarks/**/*.sh``, ``benchmarks/**/*.md``, ``tests/**/*.py`` and
``docs/**/*.md``.

What is checked:

- a **citation** is ``docs/<path>.md`` optionally followed by ``#<anchor>`` (e.g.
  ``docs/math.md#estimators``); the file must exist in the repository and, when an anchor is
  given, the anchor must exist in that file;
- the **anchors of a markdown file** are its explicit HTML anchors (``<a id="…">`` or
  ``<a name="…">``, the form the notes use: one on its own line before each citable heading, so
  that rewording a heading never breaks a citation) plus GitHub-style heading slugs (lower case,
  punctuation and symbols dropped, spaces turned into hyphens, ``-1``, ``-2`` … appended to
  repeats; an approximation of GitHub's rule, which is why citations should use explicit
  anchors); lines inside fenced code blocks hold no anchors;
- a **section-sign citation** (a section sign followed by a number, with or without a file name
  before it) is refused: it names no anchor and cannot be resolved; cite
  ``docs/<file>.md#<anchor>`` instead;
- the team's background folder outside the repository (``..`` + ``/shared``) is never mentioned:
  the project's own notes live in ``docs/``;
- inside ``docs/*.md`` every relative markdown link (``[text](math.md#anchor)``,
  ``[text](#anchor)``, ``[text](../README.md)``) points at a file in the repository and, for a
  markdown file with an anchor, at an anchor of that file;
- each notes file has unique explicit anchors and is listed in ``docs/README.md``.

Nothing is skipped: every check runs on every scanned file, and each failure lists
``file:line`` (``notebook:cell N:line M`` for notebooks) with the offending text.
"""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

#: Globs (relative to the repository root) of the files whose text is scanned.
SCANNED = (
    "refpattern/**/*.py",
    "notebooks/*.ipynb",
    "README.md",
    "benchmarks/**/*.py",
    "benchmarks/**/*.sh",
    "benchmarks/**/*.md",
    "tests/**/*.py",
    "docs/**/*.md",
)

#: ``docs/<path>.md`` optionally followed by ``#<anchor>``; not part of a longer path or URL.
CITATION = re.compile(r"(?<![\w./-])docs/(?P<path>[\w./-]+?\.md)(?:#(?P<anchor>[\w-]+))?")
#: A section sign followed by a number: the old, unresolvable citation style.
SECTION_CITATION = re.compile("\u00a7\\s*\\d")
#: The team's background folder outside the repository.
SHARED_FOLDER = re.compile(r"(?:\.\./)+shared\b")
#: Explicit HTML anchors.
EXPLICIT_ANCHOR = re.compile(r"<a\s+(?:[^>]*?\s)?(?:id|name)\s*=\s*[\"']([^\"']+)[\"']", re.IGNORECASE)
#: ATX headings (``#`` … ``######``).
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
#: Inline markdown links ``[text](target)`` (images too).
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^ {0,3}(```|~~~)")


# --- reading the files --------------------------------------------------------------------------

def scanned_files() -> list[Path]:
    files = set()
    for pattern in SCANNED:
        files.update(path for path in ROOT.glob(pattern) if path.is_file())
    return sorted(files)


def text_lines(path: Path):
    """``(location, line)`` pairs: ``file:line``, or ``file:cell N:line M`` for a notebook."""
    relative = path.relative_to(ROOT).as_posix()
    if path.suffix == ".ipynb":
        notebook = json.loads(path.read_text(encoding="utf-8"))
        for number, cell in enumerate(notebook.get("cells", [])):
            source = cell.get("source", "")
            source = "".join(source) if isinstance(source, list) else source
            for line_number, line in enumerate(source.splitlines(), 1):
                yield f"{relative}:cell {number}:line {line_number}", line
        return
    for line_number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        yield f"{relative}:{line_number}", line


def all_lines():
    for path in scanned_files():
        yield from text_lines(path)


# --- anchors of a markdown file ---------------------------------------------------------------------

def github_slug(heading: str) -> str:
    """GitHub's anchor for a heading (approximately): markup and punctuation dropped, lower case,
    spaces to hyphens."""
    text = re.sub(r"<[^>]+>", "", heading)                 # inline HTML
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)   # links keep their text
    text = text.replace("`", "").lower()
    kept = []
    for ch in text:
        category = unicodedata.category(ch)
        if ch in "-_ " or category[0] in "LNM":
            kept.append(ch)
    return "".join(kept).replace(" ", "-")


def markdown_lines_outside_fences(text: str):
    inside = False
    for line in text.splitlines():
        if FENCE.match(line):
            inside = not inside
            continue
        if not inside:
            yield line


def anchors_of(path: Path) -> set[str]:
    """Explicit anchors plus GitHub heading slugs of a markdown file."""
    anchors, seen = set(), {}
    for line in markdown_lines_outside_fences(path.read_text(encoding="utf-8")):
        anchors.update(EXPLICIT_ANCHOR.findall(line))
        heading = HEADING.match(line)
        if heading:
            slug = github_slug(heading.group(2))
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


_ANCHORS: dict[Path, set[str]] = {}


def cached_anchors(path: Path) -> set[str]:
    path = path.resolve()
    if path not in _ANCHORS:
        _ANCHORS[path] = anchors_of(path)
    return _ANCHORS[path]


def resolve(target: Path, anchor: str | None) -> str | None:
    """None if ``target`` (and ``anchor``) exist in the repository, else the problem in words."""
    try:
        target.resolve().relative_to(ROOT)
    except ValueError:
        return "points outside the repository"
    if not target.is_file():
        return "no such file in the repository"
    if anchor and target.suffix == ".md" and anchor not in cached_anchors(target):
        return f"no anchor #{anchor} in {target.resolve().relative_to(ROOT).as_posix()}"
    return None


def report(problems: list[str], what: str) -> str:
    return f"{len(problems)} {what}:\n" + "\n".join(problems)


# --- the checks -----------------------------------------------------------------------------------

def test_every_cited_docs_file_and_anchor_exists():
    problems = []
    for location, line in all_lines():
        for match in CITATION.finditer(line):
            problem = resolve(DOCS / match.group("path"), match.group("anchor"))
            if problem:
                problems.append(f"{location}: {match.group(0)} -- {problem}")
    assert not problems, report(problems, "citation(s) of docs/ that do not resolve")


def test_no_section_sign_citations():
    problems = [f"{location}: {line.strip()}" for location, line in all_lines() if SECTION_CITATION.search(line)]
    assert not problems, report(problems, "section-sign citation(s); cite docs/<file>.md#<anchor> instead")


def test_no_mention_of_the_shared_background_folder():
    problems = [f"{location}: {line.strip()}" for location, line in all_lines() if SHARED_FOLDER.search(line)]
    assert not problems, report(problems, "mention(s) of a folder outside the repository; cite docs/ instead")


def test_links_between_the_notes_resolve():
    problems = []
    for path in sorted(DOCS.glob("**/*.md")):
        relative = path.relative_to(ROOT).as_posix()
        lines = path.read_text(encoding="utf-8").splitlines()
        inside = False
        for line_number, line in enumerate(lines, 1):
            if FENCE.match(line):
                inside = not inside
                continue
            if inside:
                continue
            for target in LINK.findall(line):
                if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):  # http:, https:, mailto:
                    continue
                file_part, _, anchor = target.partition("#")
                problem = resolve(path.parent / file_part if file_part else path, anchor or None)
                if problem:
                    problems.append(f"{relative}:{line_number}: ({target}) -- {problem}")
    assert not problems, report(problems, "link(s) in docs/ that do not resolve")


def test_explicit_anchors_are_unique_in_each_notes_file():
    problems = []
    for path in sorted(DOCS.glob("**/*.md")):
        seen = {}
        for line in markdown_lines_outside_fences(path.read_text(encoding="utf-8")):
            for anchor in EXPLICIT_ANCHOR.findall(line):
                seen[anchor] = seen.get(anchor, 0) + 1
        problems += [f"{path.relative_to(ROOT).as_posix()}: #{a} appears {n} times" for a, n in seen.items() if n > 1]
    assert not problems, report(problems, "repeated anchor(s)")


def test_the_notes_index_lists_every_notes_file():
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    listed = {Path(target.partition("#")[0]).name for target in LINK.findall(index)}
    missing = [p.name for p in sorted(DOCS.glob("*.md")) if p.name != "README.md" and p.name not in listed]
    assert not missing, f"docs/README.md does not link: {', '.join(missing)}"


def test_the_scan_sees_the_citations_it_checks():
    """The scan is not silently empty: it reads the code, the notebooks and the notes, and finds
    citations of docs/ in them."""
    files = {path.relative_to(ROOT).as_posix() for path in scanned_files()}
    for required in ("refpattern/patterns/estimators.py", "README.md", "docs/math.md", "docs/conventions.md",
                     "docs/backends.md", "tests/test_docs_references.py"):
        assert required in files, f"{required} is not scanned"
    assert any(name.endswith(".ipynb") for name in files), "no notebook is scanned"
    citations = [match for location, line in all_lines() for match in CITATION.finditer(line)
                 if not location.startswith(("docs/", "tests/test_docs_references.py"))]
    assert citations, "no citation of docs/ found in the code, notebooks or README"


def test_anchor_rules():
    """Facts of the anchor rules this test relies on."""
    assert github_slug("The optimal filter w = (1, −1)") == "the-optimal-filter-w--1-1"
    assert (github_slug("`variant=\"paper\"` (the default): the paper's Eq. 8")
            == "variantpaper-the-default-the-papers-eq-8")
    assert EXPLICIT_ANCHOR.findall('<a id="rho-closed-form"></a>') == ["rho-closed-form"]
    match = CITATION.search("see ``docs/math.md#rho-held-out``.")
    assert (match.group("path"), match.group("anchor")) == ("math.md", "rho-held-out")
    assert CITATION.search("https://example.org/docs/x.md") is None
    assert SECTION_CITATION.search("paper.md \u00a73") and SECTION_CITATION.search("[\u00a72 claim 1]")
    assert SHARED_FOLDER.search("see ../" + "shared/notes") and not SHARED_FOLDER.search("shared memory")
