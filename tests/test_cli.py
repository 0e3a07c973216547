"""The command line lists its commands."""

import subprocess
import sys


def test_help_lists_commands():
    out = subprocess.run([sys.executable, "-m", "refpattern", "--help"], capture_output=True, text=True, check=True).stdout
    for command in ("train", "verify", "reproduce"):
        assert command in out
