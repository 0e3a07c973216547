"""The README's usage example runs as written, and its commands are the ones CI runs."""

import pathlib
import re

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def test_usage_example_runs(tmp_path, monkeypatch):
    code = re.search(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S).group(1)
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert (tmp_path / "patterns.npz").exists()
    loaded = namespace["rp"].Patterns.load(tmp_path / "patterns.npz")
    assert loaded.estimator == namespace["rp"].patterns.TwoComponent("paper") and len(loaded) == 2


def test_readme_names_both_commands():
    text = README.read_text(encoding="utf-8")
    assert "<!-- main command -->" in text and "<!-- test command -->" in text
    assert "refpattern verify" in text
