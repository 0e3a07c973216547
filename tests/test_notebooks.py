"""Every notebook runs top to bottom (nbclient, kernel python3, a fresh temporary working directory).

The notebooks are stored without outputs; their asserts compare hand computations and closed
forms with the library, so running them is a test.
"""

import os
import pathlib

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = sorted((pathlib.Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
REPO = str(pathlib.Path(__file__).resolve().parents[1])


def test_there_are_four_notebooks():
    assert [p.name for p in NOTEBOOKS] == ["01_linear_toy.ipynb", "02_estimators_and_rho.ipynb",
                                           "03_patternnet_by_hand.ipynb", "04_cnn_experiments.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: clear the outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, tmp_path, monkeypatch):
    # the kernel is a separate process: let it import this checkout of refpattern
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [REPO, os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
