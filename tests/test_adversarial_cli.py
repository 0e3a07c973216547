"""An adversarial audit of the command line and the linear laboratory: inputs a user can write that
once ended in a traceback, a silent NaN or a message naming the wrong argument now get one line
naming what is wrong (``docs/conventions.md#command-line``, ``docs/math.md#linear-config``)."""

import numpy as np
import pytest

from refpattern.cli import main
from refpattern.linear.config import ConfigError, load_config

TOY = """
dimension = 2
[signal]
directions = [[1.0, 0.0]]
[distractor]
directions = [[1.0, 1.0]]
"""


def write(tmp_path, text, name="model.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def one_error_line(capsys, prefix):
    """The stderr of a refused command: exactly one line, starting with ``prefix``."""
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(prefix), lines
    return lines[0]


# --- configuration files ------------------------------------------------------------------------

def test_a_binary_file_as_configuration_is_not_toml(tmp_path, capsys):
    path = tmp_path / "net.npz"
    path.write_bytes(b"PK\x03\x04\xff\xfe\x00binary")
    with pytest.raises(ConfigError, match="not a valid TOML file .*UTF-8"):
        load_config(path)
    assert main(["verify", "--config", str(path), "--samples", "10000", "--out", str(tmp_path / "r")]) == 2
    assert "--config" in one_error_line(capsys, "refpattern verify: error:")


@pytest.mark.parametrize("claims, key", [
    ("rotations_deg = [[5.0]]", "claims.rotations_deg"),
    ("biased_mean = [1.0]", "claims.biased_mean"),
])
def test_a_nested_list_where_numbers_go_names_the_key(tmp_path, claims, key):
    with pytest.raises(ConfigError, match=rf"^{key}: expected"):
        load_config(write(tmp_path, TOY + f"[claims]\n{claims}\n"))


def test_an_integer_beyond_float64_names_the_key(tmp_path):
    text = TOY.replace("[[1.0, 1.0]]", "[[1.0, 1" + "0" * 400 + "]]")
    with pytest.raises(ConfigError, match=r"^distractor\.directions\[0\]\[1\]: not finite in float64"):
        load_config(write(tmp_path, text))


@pytest.mark.parametrize("directions, got", [("[]", "an empty list"), ("[[[1.0, 0.0]]]", "a list nested 3 deep")])
def test_directions_of_the_wrong_depth_say_what_came(tmp_path, directions, got):
    text = TOY.replace("directions = [[1.0, 0.0]]", f"directions = {directions}")
    with pytest.raises(ConfigError, match=rf"^signal\.directions: expected rows of dimension = 2 numbers, got {got}$"):
        load_config(write(tmp_path, text))


def test_an_overlap_with_a_zero_signal_direction_is_refused_by_name(tmp_path):
    text = ("dimension = 2\nexplained = 1\n[signal]\ndirections = [[1.0, 0.0], [0.0, 0.0]]\n"
            "[distractor]\ndirections = { random = \"unit\", overlap = 0.5 }\n")
    with pytest.raises(ConfigError, match=r"^distractor\.directions\.overlap: the explained signal direction is 0"):
        load_config(write(tmp_path, text))
