"""The example of fitting on more than one machine (docs/conventions.md#dask-fits, the block after
``<!-- dask example -->``, also README's "Fitting on more than one machine" section once it is
there) runs as written, as a script, on a LocalCluster of two worker processes.  Its own assert
checks the fact: the cluster's patterns are the single-process ones to 1e-12."""

import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
MARKER = "<!-- dask example -->"


def example(path: pathlib.Path):
    """The ```python block right after the marker in ``path``, or None if the file has no marker."""
    text = path.read_text(encoding="utf-8")
    if MARKER not in text:
        return None
    return re.match(r"\s*```python\n(.*?)```", text.split(MARKER, 1)[1], re.S).group(1)


def test_the_dask_example_runs_as_written(tmp_path):
    pytest.importorskip("distributed")
    code = example(ROOT / "docs" / "conventions.md")
    readme = example(ROOT / "README.md")
    assert readme is None or readme == code, "README's Dask example differs from docs/conventions.md#dask-fits"
    (tmp_path / "example.py").write_text(code, encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    result = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "patterns.npz").exists()
