"""The README's oracle examples ("Use refpattern as an oracle in your tests") run as written, each in a fresh
interpreter as a user would run it (the Keras one sets Keras' global float type and backend)."""

import os
import pathlib
import re
import subprocess
import sys

import pytest

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"
pytestmark = pytest.mark.peers


def example(name: str) -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(rf"<!-- oracle example: {name} -->\n```python\n(.*?)```", text, re.S)
    assert match, f"README.md has no '<!-- oracle example: {name} -->' python block"
    return match.group(1)


def run(code: str, cwd: pathlib.Path) -> str:
    root = str(README.parent)  # this checkout, ahead of an installed refpattern
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    result = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, f"the README example failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_torch_example_runs(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("captum")
    run(example("torch"), tmp_path)
    assert (tmp_path / "reference.npz").exists()


def test_keras_example_runs(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    if "KERAS_BACKEND" not in os.environ:  # Keras 3 without TensorFlow needs its torch backend to import
        monkeypatch.setenv("KERAS_BACKEND", "torch")
    pytest.importorskip("keras")
    run(example("keras"), tmp_path)
