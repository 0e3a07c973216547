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
    """The stderr of a refused command: exactly one error line, starting with ``prefix`` (after the usage,
    for a value argparse refuses)."""
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    if lines and lines[0].startswith("usage: "):
        lines = [line for line in lines if not line.startswith((" ", "usage: "))]
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


# --- the linear model's float64 range --------------------------------------------------------------

@pytest.mark.parametrize("edit, key", [
    ("[signal]\nscale = 1e-300\n", r"signal\.scale\[0\]: 1e-300 gives the variance 0"),   # c² underflows
    ("[signal]\nscale = 1e300\n", r"signal\.scale\[0\]: 1e\+300 gives the variance inf"),  # c² overflows
])
def test_a_scale_whose_variance_leaves_float64_is_refused(tmp_path, edit, key):
    text = TOY.replace("[signal]\n", edit)
    with pytest.raises(ConfigError, match=rf"^{key}, outside float64's normal range"):
        load_config(write(tmp_path, text))


def test_a_direction_too_small_for_its_variance_is_refused(tmp_path):
    """|a_s| = 1e-200: σ²|a_s|² = 1e-400/3 is 0 in float64, so Σ_x would be 0 (no filter, NaN claims)."""
    text = TOY.replace("[[1.0, 0.0]]", "[[1e-200, 0.0]]").replace("[[1.0, 1.0]]", "[[0.0, 1.0]]")
    with pytest.raises(ConfigError, match=r"^signal\.directions\[0\]: the explained component's variance in x"):
        load_config(write(tmp_path, text))


@pytest.mark.parametrize("edit", ["[noise]\ncovariance = 1e308\n",                 # tr Σ_x = 2e308 = inf
                                  "[distractor]\ndirections = [[1e300, 1e300]]\n"])  # a_d a_dᵀ overflows
def test_a_model_whose_covariance_overflows_is_refused(tmp_path, edit, capsys):
    text = TOY.replace("[distractor]\ndirections = [[1.0, 1.0]]\n", edit)
    if "1e300" in edit:  # the signal as large, so that float64 resolves both sources (docs/math.md#linear-resolution)
        text = text.replace("directions = [[1.0, 0.0]]", "directions = [[1e300, 0.0]]")
    with pytest.raises(ConfigError, match=r"^the model overflows float64: tr Σ_x = inf"):
        load_config(write(tmp_path, text))
    assert main(["verify", "--config", str(write(tmp_path, text)), "--samples", "10000",
                 "--out", str(tmp_path / "r")]) == 2
    one_error_line(capsys, "refpattern verify: error: --config")


def test_the_range_check_keeps_a_model_at_its_edges():
    """Scales whose variance is just inside float64's normal range still make a model, with the exact variance."""
    from refpattern.linear.model import LinearModel

    small = LinearModel([[1.0, 0.0]], "gaussian", 1e-150)
    assert small.signal_variances[0] == 1e-150 * 1e-150 == small.input_covariance[0, 0]
    large = LinearModel([[1.0, 0.0]], "gaussian", 1e150)
    assert large.input_covariance[0, 0] == 1e150 * 1e150 and np.isfinite(large.input_covariance).all()



# --- refpattern verify's arguments -----------------------------------------------------------------

def test_too_few_samples_from_the_configuration_name_the_configuration(tmp_path, capsys):
    """``samples = 5`` in the file, no ``--samples``: the message once blamed ``--samples``, which was not given."""
    path = write(tmp_path, "samples = 5\n" + TOY)
    assert main(["verify", "--config", str(path), "--out", str(tmp_path / "r")]) == 2
    line = one_error_line(capsys, f"refpattern verify: error: --config {path}: samples = 5, must be at least 10000")
    assert not (tmp_path / "r").exists() and "--samples" in line  # the way out is named too


def test_a_dimension_too_large_for_memory_names_the_configuration(tmp_path, capsys):
    path = write(tmp_path, "dimension = 100000000\n[signal]\ndirections = { axes = [0] }\n")
    assert main(["verify", "--config", str(path), "--samples", "10000", "--out", str(tmp_path / "r")]) == 2
    one_error_line(capsys, f"refpattern verify: error: --config {path}: the model does not fit in memory")


# --- the file commands ------------------------------------------------------------------------------

@pytest.fixture
def stored(tmp_path):
    """A small network file and data for it: ``(net.npz, x.npy)``."""
    import refpattern as rp

    rng = np.random.default_rng(0)
    net = rp.Sequential([rp.Dense.he(4, 3, rng), rp.ReLU(), rp.Dense.he(3, 2, rng)], input_shape=(4,))
    net.save(tmp_path / "net.npz")
    np.save(tmp_path / "x.npy", rng.standard_normal((12, 4)))
    return str(tmp_path / "net.npz"), str(tmp_path / "x.npy")


def test_fit_refuses_a_seed_the_patterns_file_cannot_store(stored, tmp_path, capsys):
    """``--seed 2**63`` once fitted and then crashed with OverflowError writing the int64 seed."""
    from refpattern import Patterns

    net, data = stored
    out = tmp_path / "p.npz"
    assert main(["fit", net, data, "--estimator", "random", "--seed", str(2 ** 63), "--out", str(out)]) == 2
    line = one_error_line(capsys, "refpattern fit: error: argument --seed: must be at most 9223372036854775807")
    assert "64-bit" in line and not out.exists()
    assert main(["fit", net, data, "--estimator", "random", "--seed", str(2 ** 63 - 1), "--out", str(out),
                 "--quiet"]) == 0
    assert Patterns.load(out).seed == 2 ** 63 - 1


def test_info_refuses_a_negative_count(stored, tmp_path, capsys):
    net, data = stored
    assert main(["fit", net, data, "--out", str(tmp_path / "p.npz"), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["info", str(tmp_path / "p.npz"), "--max-per-layer", "-5"]) == 2
    one_error_line(capsys, "refpattern info: error: argument --max-per-layer: must be at least 0, got -5")


def test_rho_blames_the_held_out_file_that_holds_nan(stored, tmp_path, capsys):
    """NaN in ``--fit-v-on`` only: the message once named DATA, the clean file."""
    net, data = stored
    bad = np.load(data)
    bad[3, 1] = np.nan
    np.save(tmp_path / "held_out.npy", bad)
    assert main(["rho", net, data, "--estimator", "a", "--fit-v-on", str(tmp_path / "held_out.npy"), "--quiet"]) == 2
    one_error_line(capsys, f"refpattern rho: error: --fit-v-on {tmp_path / 'held_out.npy'}: ")
    assert main(["rho", net, str(tmp_path / "held_out.npy"), "--estimator", "a", "--fit-v-on", data, "--quiet"]) == 2
    one_error_line(capsys, f"refpattern rho: error: DATA {tmp_path / 'held_out.npy'}: ")


def test_out_of_memory_points_at_samples_only_where_the_command_has_it(stored, tmp_path, capsys):
    """explain with ``steps`` of 1e14 (728 TiB of nodes): one line, exit 2, and no advice about an option
    the command does not have."""
    net, data = stored
    assert main(["explain", net, data, "--method", "integrated_gradients", "--option", "steps=99999999999999",
                 "--out", str(tmp_path / "e.npy"), "--quiet"]) == 2
    line = one_error_line(capsys, "refpattern explain: error: out of memory")
    assert "--samples" not in line and not (tmp_path / "e.npy").exists()


# --- the data generators --------------------------------------------------------------------------------

@pytest.mark.parametrize("generator, arguments, error, message", [
    ("make_image_task", {"n": 8, "classes": 0}, ValueError, "classes must be >= 1, got 0"),         # was IndexError
    ("make_image_task", {"n": 8, "channels": 0}, ValueError, "channels must be >= 1, got 0"),       # was np.stack's
    ("make_image_task", {"n": 8, "noise": float("nan")}, ValueError, "noise must be finite"),      # was NaN images
    ("make_image_task", {"n": 8, "distractor": float("inf")}, ValueError, "distractor must be finite"),
    ("make_image_task", {"n": "8"}, TypeError, "n must be an integer, got '8'"),
    ("make_image_task", {"n": 8, "seed": 1.5}, TypeError, "seed must be an integer, got 1.5"),
    ("make_suppressor_task", {"n": 4, "channels": 0}, ValueError, "channels must be >= 1"),      # was empty images
    ("make_suppressor_task", {"n": 4, "noise": -1.0}, ValueError, "noise must be finite and >= 0, got -1.0"),
    ("make_linear_suppressor", {"n": 4, "signal_scale": float("nan")}, ValueError, "signal_scale must be finite"),
    ("make_linear_suppressor", {"n": True}, TypeError, "n must be an integer, got True"),
])
def test_the_generators_refuse_bad_arguments_by_name(generator, arguments, error, message):
    from refpattern import datasets

    with pytest.raises(error, match=rf"^{generator}: {message}"):
        getattr(datasets, generator)(**arguments)


def test_the_generators_still_take_numpy_integers_and_seed_sequences():
    from refpattern.datasets import make_image_task

    task = make_image_task(np.int64(8), size=np.int32(9), seed=[1, 2])
    again = make_image_task(8, size=9, seed=[1, 2])
    assert task.X.shape == (8, 1, 9, 9) and np.array_equal(task.X, again.X)
    assert np.array_equal(task.X, task.signal + task.distractor + task.noise)


@pytest.mark.parametrize("config", ["", "  "])
def test_an_empty_configuration_is_refused_not_read_as_the_default(config, capsys):
    # before: `verify --config ""` ran (and reported) the default model as if no --config was given
    assert main(["verify", "--config", config, "--samples", "10000"]) == 2
    assert "--config: expected a configuration name" in one_error_line(capsys, "refpattern verify: error: --config")


@pytest.mark.parametrize("text, value", [("nan", None), ("NaN", None), ("inf", np.inf), ("-inf", -np.inf)])
def test_nan_and_inf_as_option_values_are_numbers(text, value):
    from refpattern.commands.explain import option_value

    read = option_value("epsilon", text)  # before: the text 'nan', which a range check named as a string
    assert isinstance(read, float) and (np.isnan(read) if value is None else read == value)
