"""notebooks/05_linear_laboratory.ipynb: stored executed (its figures and tables are the point), small,
without an error, and it still runs top to bottom with this checkout (its asserts compare every closed
form with its estimate: running it is a test).  Every notebook is stored with its outputs and
tests/test_notebooks.py re-executes 01–05; this file adds the checks of notebook 05's own content."""

import pathlib

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

REPO = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "05_linear_laboratory.ipynb"


def test_the_notebook_is_stored_executed_small_and_without_errors():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert [cell.execution_count for cell in code] == list(range(1, len(code) + 1)), "execute it top to bottom"
    outputs = [output for cell in code for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert sum(o.output_type == "display_data" and "image/png" in o.get("data", {}) for o in outputs) == 2
    assert NOTEBOOK.stat().st_size < 300_000
    text = "".join(cell.source for cell in notebook.cells)
    for anchor in ("linear-model", "linear-random-baseline", "linear-relu-patterns", "sapm-mu-bias", "linear-verify"):
        assert f"docs/math.md#{anchor}" in text
