"""The whole repository passes ``ruff check`` with the project's configuration (pyproject.toml [tool.ruff]).

Covers ``refpattern/``, ``tests/``, ``benchmarks/`` and the notebooks' cells.  ruff is a test
dependency, so a missing ruff is a failure, not a skip.
"""

import importlib.util
import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]


def test_ruff_check_passes_on_the_whole_repository():
    if importlib.util.find_spec("ruff") is None:
        pytest.fail('ruff is not installed: it is a test dependency, install it with pip install ".[test]"')
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", str(REPO)],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, f"ruff check found problems:\n{result.stdout}{result.stderr}"
