"""The command line: it lists its commands, and they report progress through refpattern.progress."""

import re
import subprocess
import sys

from refpattern.cli import main


def test_help_lists_commands():
    result = subprocess.run([sys.executable, "-m", "refpattern", "--help"], capture_output=True, text=True, check=True)
    out = result.stdout
    for command in ("train", "verify", "reproduce"):
        assert command in out


def test_train_command_reports_through_refpattern_progress(capsys):
    assert main(["train", "--samples", "128", "--epochs", "1", "--target-accuracy", "0"]) == 0
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 2 and re.fullmatch(r"\[train +\d+\.\d s\] training the demo CNN on 128 .*", lines[0])
    assert re.fullmatch(r"\[train +\d+\.\d s\] epoch 1/1: loss .*", lines[1])
    assert "held-out accuracy" in captured.out
