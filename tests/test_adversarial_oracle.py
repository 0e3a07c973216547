"""Adversarial cases of refpattern as an oracle in another library's tests: the comparison helpers
(refpattern.testing.compare), reference files (save_reference / load_reference), and the network and
patterns files written through refpattern/files.py — odd argument types, crafted or hand-edited
archives and unwritable targets that once gave a crash inside, an unclear message or a silent pass."""

import io
import json
import zipfile

import numpy as np
import pytest

import refpattern as rp
from refpattern.testing import compare_explanation, load_reference, save_reference


def dense_net(seed=0):
    rng = np.random.default_rng(seed)
    return rp.Sequential([rp.Dense(rng.normal(size=(5, 4)), rng.normal(size=5)), rp.ReLU(),
                          rp.Dense(rng.normal(size=(3, 5)), rng.normal(size=3))], input_shape=(4,))


def test_a_timedelta_actual_is_not_read_as_numbers():
    """numpy counts timedelta64 as an integer dtype, so a timedelta array was compared as its tick
    counts; it is refused like datetime64, naming the argument and the dtype."""
    net, x = dense_net(), np.random.default_rng(1).normal(size=(2, 4))
    reference = rp.explain(net, x, "gradient")
    ticks = np.round(reference * 1e6).astype("timedelta64[us]")
    with pytest.raises(TypeError, match=r"actual: expected a real numeric array .* got dtype timedelta64\[us\]"):
        compare_explanation(ticks, net, x, "gradient", rtol=1.0)
    # integers stay numbers: an integer map equal to an integer-valued reference passes
    assert compare_explanation(np.zeros((2, 4), dtype=np.int32), rp.Sequential([rp.Dense(np.zeros((3, 4)))]),
                               x, "gradient").passed


def small_patterns():
    net = dense_net()
    return net, rp.fit_patterns(net, np.random.default_rng(2).normal(size=(40, 4)), "a+-")


@pytest.mark.parametrize("kind", ["network", "patterns"])
def test_saving_into_a_missing_or_non_directory_names_the_target_not_a_temporary(tmp_path, kind):
    """The error of a save into a folder that does not exist named the hidden temporary file
    ('.p.npz.x1y2.tmp'), not the path the user gave."""
    net, patterns = small_patterns()
    save = net.save if kind == "network" else patterns.save
    target = tmp_path / "missing" / "p.npz"
    with pytest.raises(FileNotFoundError) as error:
        save(target)
    assert error.value.filename == str(target) and "missing' does not exist" in str(error.value)
    assert ".tmp" not in str(error.value)
    (tmp_path / "file").write_bytes(b"x")
    with pytest.raises(NotADirectoryError, match="is not a directory") as error:
        save(tmp_path / "file" / "p.npz")
    assert error.value.filename == str(tmp_path / "file" / "p.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


@pytest.mark.parametrize("path", [None, 3, 2.5, ["a.npz"]])
def test_a_path_that_is_no_path_is_refused_naming_the_argument(path):
    """None, an int (which open() would take as a file descriptor), a float or a list gave Python's
    'expected str, bytes or os.PathLike object' without naming the argument."""
    net, patterns = small_patterns()
    for call in (net.save, patterns.save, rp.Sequential.load, rp.Patterns.load):
        with pytest.raises(TypeError, match=rf"path: expected a file path .* got {type(path).__name__}"):
            call(path)
