"""The notebooks: numbered without gaps, stored executed, and they run top to bottom.

The notebooks are stored with their outputs (``python3 notebooks/execute.py`` writes them), so a
code host shows their figures and numbers; each must hold at least one figure (a PNG output),
no error output, and execution counts 1, 2, 3, … in cell order (one run from the top, nothing
re-run or skipped by hand). :func:`test_notebook_runs` executes every notebook again with the
same function as ``notebooks/execute.py`` (kernel python3, a fresh temporary working directory,
``MPLBACKEND=Agg``, this checkout on ``PYTHONPATH``) and fails if a cell raises; the notebooks'
asserts compare hand computations and closed forms with the library, so running them is a test.
"""

import importlib.util
import pathlib
import re

import pytest

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbclient")

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOK_FOLDER = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_FOLDER.glob("*.ipynb"))
NUMBERED = re.compile(r"^(\d\d)_[a-z0-9_]+\.ipynb$")


def load_execute_script():
    specification = importlib.util.spec_from_file_location("notebook_execute", NOTEBOOK_FOLDER / "execute.py")
    module = importlib.util.module_from_spec(specification)
    specification.loader.exec_module(module)
    return module


def code_cells(notebook):
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def test_notebooks_are_numbered_01_02_and_so_on_without_gaps():
    names = [path.name for path in NOTEBOOKS]
    assert len(names) >= 4, names
    unnumbered = [name for name in names if not NUMBERED.match(name)]
    assert not unnumbered, f"name notebooks NN_lowercase_words.ipynb: {unnumbered}"
    numbers = [int(NUMBERED.match(name).group(1)) for name in names]
    assert numbers == list(range(1, len(names) + 1)), f"notebook numbers must run 01, 02, … without gaps: {names}"


def test_the_execute_script_finds_every_notebook():
    assert load_execute_script().numbered_notebooks() == NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_executed(path):
    notebook = nbformat.read(path, as_version=4)
    cells = code_cells(notebook)
    assert cells, f"{path.name} has no code cell"
    counts = [cell.execution_count for cell in cells]
    assert counts == list(range(1, len(cells) + 1)), (
        f"{path.name}: execution counts {counts}; run `python3 notebooks/execute.py {path.relative_to(ROOT)}`")
    errors = [output for cell in cells for output in cell.outputs if output.output_type == "error"]
    assert not errors, f"{path.name} is stored with an error: {errors[0].get('ename')}: {errors[0].get('evalue')}"
    images = [output for cell in cells for output in cell.outputs
              if output.output_type in ("display_data", "execute_result") and "image/png" in output.get("data", {})]
    assert images, f"{path.name} shows no figure (no image/png output)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path):
    executed = load_execute_script().execute_notebook(path)
    cells = code_cells(executed)
    assert [cell.execution_count for cell in cells] == list(range(1, len(cells) + 1))
    assert not [output for cell in cells for output in cell.outputs if output.output_type == "error"]
