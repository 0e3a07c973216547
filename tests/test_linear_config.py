"""Linear-model configuration files (refpattern/linear/config.py, docs/math.md#linear-config): the ready
ones load, a file's rules make the directions they say, and ``refpattern verify --config`` refuses an
unusable file with one line naming the key (exit status 2, no traceback)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from refpattern.cli import main
from refpattern.experiments.toy.model import toy_model
from refpattern.linear.config import ConfigError, config_names, load_config

ROOT = Path(__file__).resolve().parents[1]

TOY = """
dimension = 2
[signal]
directions = [[1.0, 0.0]]
[distractor]
directions = [[1.0, 1.0]]
mean = 0.0
covariance = 1.0
"""


def write(tmp_path, text, name="model.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_ready_configurations_load():
    assert config_names() == ["correlated-distractor", "many-distractors-d100", "many-distractors-d1000",
                              "paper-toy", "relu-network"]
    for name in config_names():
        config = load_config(name)
        assert config.name == name and config.samples >= 10_000 and config.model.describe()


def test_the_paper_toy_configuration_is_the_toy_model():
    config, toy = load_config("paper-toy"), toy_model()
    for attribute in ("signal_directions", "distractor_directions", "distractor_mean", "distractor_covariance",
                      "noise_covariance", "signal_scales", "input_covariance", "effective_directions"):
        assert np.array_equal(getattr(config.model, attribute), getattr(toy, attribute)), attribute
    assert config.model.signal_kinds == ("uniform",) and config.samples == 1_000_000 and config.network is None


def test_the_default_configuration_does_not_depend_on_package_data(monkeypatch, tmp_path):
    from refpattern.linear import config as configuration

    assert configuration.DEFAULT_TOML == (configuration.CONFIG_FOLDER / "paper-toy.toml").read_text(encoding="utf-8")
    monkeypatch.setattr(configuration, "CONFIG_FOLDER", tmp_path)  # an installation without the .toml files
    built_in = load_config()
    assert built_in.source == "paper-toy (built in)" and config_names() == ["paper-toy"]
    assert np.array_equal(built_in.model.input_covariance, toy_model().input_covariance)


def test_a_configuration_by_path_and_its_defaults(tmp_path):
    config = load_config(str(write(tmp_path, TOY, "mine.toml")))
    assert config.name == "mine" and config.samples is None
    assert config.claims.rotations_deg == (-25.0, 0.0, 25.0, 45.0, 65.0, 90.0, 115.0)
    assert np.array_equal(config.model.input_covariance, toy_model().input_covariance)


def test_direction_rules(tmp_path):
    text = """
dimension = 50
[signal]
directions = { axes = [3] }
[distractor]
directions = { random = "unit", count = 6, seed = 2, overlap = 0.6 }
[noise]
covariance = 0.5
[claims]
dimension_sweep = [10, 20]
"""
    config = load_config(str(write(tmp_path, text)))
    model = config.model
    np.testing.assert_array_equal(model.signal_directions[0], np.eye(50)[3])
    np.testing.assert_allclose(np.linalg.norm(model.distractor_directions, axis=1), 1.0, atol=1e-15)
    np.testing.assert_allclose(model.distractor_directions @ np.eye(50)[3], 0.6, atol=1e-15)
    assert len({tuple(row) for row in model.distractor_directions}) == 6
    again = load_config(str(write(tmp_path, text, "again.toml"))).model
    assert np.array_equal(again.distractor_directions, model.distractor_directions)  # seeded
    small = config.model_at(10)
    assert small.dimension == 10 and np.allclose(small.distractor_directions @ np.eye(10)[3], 0.6)
    assert config.claims.dimension_sweep == (10, 20)


REFUSALS = [
    ("dimension = 2\n[signal\n", "not a valid TOML file"),
    (TOY + "colour = 'red'\n", "colour: unknown key"),
    (TOY.replace("mean = 0.0", "mean = 0.0\nmeans = 1.0"), "distractor.means: unknown key"),
    (TOY.replace("dimension = 2", ""), "dimension: missing"),
    (TOY.replace("directions = [[1.0, 0.0]]", "distribution = 'uniform'"), "signal.directions: missing"),
    (TOY.replace("dimension = 2", "dimension = 'two'"), "dimension: expected an integer, got a string"),
    (TOY.replace("mean = 0.0", "mean = true"), "distractor.mean: expected a number, got a boolean"),
    (TOY.replace("mean = 0.0", "mean = nan"), "distractor.mean: not finite (nan)"),
    (TOY.replace("covariance = 1.0", "covariance = inf"), "distractor.covariance: not finite (inf)"),
    (TOY + "[noise]\ncovariance = [[1.0, nan], [0.0, 1.0]]\n", r"noise.covariance[0][1]: not finite (nan)"),
    (TOY.replace("[[1.0, 1.0]]", "[[1.0, 1.0, 0.0]]"), "distractor.directions: expected rows of dimension = 2"),
    (TOY + "[noise]\ncovariance = [[1.0, 2.0], [2.0, 1.0]]\n", "noise.covariance: not a covariance"),
    (TOY.replace("covariance = 1.0", "covariance = 0.1\nsignal_covariance = [[0.5]]"),
     "distractor.covariance with distractor.signal_covariance (the covariance of (s, d)): not a covariance"),
    (TOY.replace("directions = [[1.0, 0.0]]", "directions = [[1.0, 0.0]]\nscale = 0.0"),
     "signal.scale[0]: must be > 0, got 0.0 (a signal with scale 0 makes the signal covariance singular"),
    (TOY + "[claims]\ndimension_sweep = [4]\n", "claims.dimension_sweep: signal.directions must be a rule"),
    (TOY.replace("[[1.0, 0.0]]", "{ axes = [0] }").replace("[[1.0, 1.0]]", "{ random = 'unit', seed = 1 }")
     + "[claims]\ndimension_sweep = [4]\n", "claims.dimension_sweep[0] = 4: the covariance of x is singular"),
    (TOY.replace("distribution", "x") + "[signal.more]\n", "signal.more: unknown key"),
    (TOY.replace("[[1.0, 0.0]]", "{ axes = [5] }"), "signal.directions.axes[0]: axis 5 does not exist"),
    (TOY + "[network]\nhidden = 0\n", "network.hidden: must be at least 1, got 0"),
    (TOY.replace("[[1.0, 1.0]]", "[[1.0, 0.0]]").replace(
        "covariance = 1.0", "covariance = 1.0\nsignal_covariance = [[-0.33333333333333331]]"),
     "signal.directions[0]: the explained component does not reach x"),
]


@pytest.mark.parametrize("text, message", REFUSALS, ids=[m.split(":")[0][:40] for _, m in REFUSALS])
def test_an_unusable_configuration_is_refused_naming_the_key(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as error:
        load_config(str(path))
    assert message in str(error.value) and "\n" not in str(error.value)


def test_verify_refuses_it_with_status_two_and_one_line(tmp_path, capsys):
    path = write(tmp_path, TOY.replace("mean = 0.0", "mean = nan"))
    assert main(["verify", "--config", str(path), "--out", str(tmp_path / "report")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "distractor.mean: not finite (nan)" in err and "Traceback" not in err
    assert main(["verify", "--config", "no-such-model", "--out", str(tmp_path / "report")]) == 2
    assert "not a ready configuration (those are: correlated-distractor" in capsys.readouterr().err
    assert not (tmp_path / "report").exists()


def test_a_malformed_file_is_one_line_in_a_fresh_process(tmp_path):
    path = write(tmp_path, "dimension = 2\n[signal\n")
    result = subprocess.run([sys.executable, "-m", "refpattern", "verify", "--config", str(path), "--out",
                             str(tmp_path / "report")], capture_output=True, text=True, timeout=300,
                            env={"PYTHONPATH": str(ROOT), "PATH": ""}, cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and "not a valid TOML file" in result.stderr
