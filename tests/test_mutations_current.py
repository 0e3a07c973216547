"""The mutation check (``tests/mutations/run_mutations.py``) still points at the current code: each
mutation's ``old`` text occurs exactly once in its file, so that running the script mutates what it
says instead of stopping at a stale entry (as it did after the kernels were rewritten)."""

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_mutations():
    path = ROOT / "tests" / "mutations" / "run_mutations.py"
    spec = importlib.util.spec_from_file_location("run_mutations", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module.MUTATIONS


def test_every_mutation_finds_its_text_once():
    mutations = load_mutations()
    assert len(mutations) >= 28
    stale = {m.name: (ROOT / m.file).read_text(encoding="utf-8").count(m.old) for m in mutations}
    assert {name: count for name, count in stale.items() if count != 1} == {}
    for m in mutations:
        assert m.old != m.new, m.name
        for test in m.tests:
            assert (ROOT / test).exists(), (m.name, test)
