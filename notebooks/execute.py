"""Execute the notebooks top to bottom and store them with their outputs.

Usage (from anywhere; needs ``nbclient``, ``nbformat`` and ``ipykernel``, the ``test`` extra)::

    python3 notebooks/execute.py                         # every notebooks/NN_*.ipynb
    python3 notebooks/execute.py notebooks/01_linear_toy.ipynb

Each notebook runs in a fresh kernel (``python3``) whose working directory is a new temporary
folder, with ``MPLBACKEND=Agg`` and this checkout first on ``PYTHONPATH``; the notebooks draw
their figures with ``%matplotlib inline``, so the figures are stored as PNG outputs. The
notebook is written back in place only when every cell ran; a cell that raises stops the run
and leaves the file as it was. ``tests/test_notebooks.py`` runs the same function,
:func:`execute_notebook`, on every notebook.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from pathlib import Path

import nbclient
import nbformat

NOTEBOOKS = Path(__file__).resolve().parent
ROOT = NOTEBOOKS.parent
#: Seconds one cell may run before the execution is stopped.
CELL_TIMEOUT = 600


def numbered_notebooks() -> list[Path]:
    """``notebooks/NN_*.ipynb`` in their numbered order."""
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


@contextlib.contextmanager
def kernel_environment():
    """``MPLBACKEND=Agg`` and this checkout first on ``PYTHONPATH`` while a kernel starts."""
    saved = {name: os.environ.get(name) for name in ("MPLBACKEND", "PYTHONPATH")}
    os.environ["MPLBACKEND"] = "Agg"
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), saved["PYTHONPATH"]]))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def execute_notebook(path, timeout: int = CELL_TIMEOUT) -> nbformat.NotebookNode:
    """Run the notebook at ``path`` in a fresh kernel and return it with its outputs.

    Raises ``nbclient.exceptions.CellExecutionError`` (naming the cell) if a cell raises; the
    file at ``path`` is not touched.
    """
    notebook = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory(prefix="refpattern-notebook-") as folder, kernel_environment():
        client = nbclient.NotebookClient(notebook, timeout=timeout, kernel_name="python3", record_timing=False,
                                         resources={"metadata": {"path": folder}})
        client.execute()
    return notebook


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebooks/NN_*.ipynb")
    arguments = parser.parse_args(argv)
    for path in arguments.notebooks or numbered_notebooks():
        print(f"executing {path} ...", flush=True)
        notebook = execute_notebook(path)
        nbformat.write(notebook, path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
