"""The shape of the code: no import cycle, each floor imports only the floors below it, and no
estimator name compared as a string outside the one module that defines the estimators.

Every ``import`` statement of every module under ``refpattern/`` counts, at module level and
inside functions (``ast`` walks them all).  ``from refpattern.a import b`` is an edge to
``refpattern.a.b`` when that is a module, else to ``refpattern.a``; importing a submodule does
not count as importing its parent package's ``__init__`` (every package imports its own
submodules, and Python runs the parent first anyway).
"""

from __future__ import annotations

import ast
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "refpattern"


def module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported_modules(name: str, path: pathlib.Path) -> set:
    """The refpattern modules ``name`` imports anywhere in its source."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:  # "import refpattern.a.b" of a name inside a module
                target = target.rpartition(".")[0]
            if target.startswith("refpattern") and target != name:
                found.add(target)
    return found


GRAPH = {name: imported_modules(name, path) for name, path in MODULES.items()}


def find_cycle(graph):
    """One import cycle as a list of modules, or None (iterative depth-first search)."""
    state = {}
    for start in graph:
        if state.get(start):
            continue
        stack = [(start, iter(sorted(graph[start])))]
        path = [start]
        state[start] = "open"
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = "done"
                stack.pop()
                path.pop()
            elif state.get(child) == "open":
                return path[path.index(child):] + [child]
            elif child not in state:
                state[child] = "open"
                stack.append((child, iter(sorted(graph[child]))))
                path.append(child)
    return None


def test_the_walk_sees_module_and_function_level_imports():
    assert len(MODULES) > 40
    assert "refpattern.kernels.numba_cpu" in GRAPH["refpattern.kernels"]  # imported inside get_backend's helper
    assert "refpattern.kernels" in GRAPH["refpattern.network.dense"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle():
    cycle = find_cycle(GRAPH)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


#: What each floor may import (besides itself), from the bottom up; modules not listed here sit
#: at the top (experiments, the command line, the package's own __init__) and may import anything.
FLOORS = {
    "refpattern.progress": (),
    "refpattern.files": (),
    "refpattern.command_arguments": (),
    "refpattern.kernels": (),
    "refpattern.network": ("refpattern.kernels", "refpattern.files"),
    "refpattern.patterns": ("refpattern.kernels", "refpattern.network", "refpattern.progress", "refpattern.files"),
    "refpattern.methods": ("refpattern.kernels", "refpattern.network"),
    "refpattern.datasets": (),
    "refpattern.linear": (),
    "refpattern.train": ("refpattern.network", "refpattern.progress"),
    "refpattern.interop": ("refpattern.kernels", "refpattern.network"),
}


def floor_of(name: str):
    for floor in sorted(FLOORS, key=len, reverse=True):
        if name == floor or name.startswith(floor + "."):
            return floor
    return None


@pytest.mark.parametrize("name", sorted(MODULES))
def test_each_floor_imports_only_the_floors_below_it(name):
    floor = floor_of(name)
    if floor is None:
        return
    allowed = (floor,) + FLOORS[floor]
    wrong = sorted(target for target in GRAPH[name] if floor_of(target) not in allowed)
    assert not wrong, f"{name} ({floor}) imports {wrong}; it may import only {allowed}"


def test_no_estimator_name_is_compared_as_a_string_outside_the_estimator_module():
    """Names are resolved once, at the API (``resolve_estimator``); below it code asks the object."""
    from refpattern.patterns.estimators import REGISTRY

    names = "|".join(re.escape(name) for name in REGISTRY if not name.startswith("test-"))
    literal = rf"""["']({names})["']"""
    comparison = re.compile(rf"(==|!=)\s*{literal}|{literal}\s*(==|!=)|\b(?<!for )\w+\s+in\s*[(\[{{][^)\]}}]*{literal}")
    found = []
    for name, path in MODULES.items():
        if name == "refpattern.patterns.estimators":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            code = line.split("#")[0]
            if comparison.search(code) and not code.lstrip().startswith("for "):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not found, "estimator names compared as strings:\n" + "\n".join(found)
