"""Patterns files: a round trip changes no bit; a damaged or foreign file is refused with a ValueError."""

import io

import numpy as np
import pytest

from refpattern import Conv2D, Dense, Flatten, ReLU, Sequential, explain
from refpattern.patterns import Patterns, fit_patterns


def small_cnn(rng, out_channels=3):
    return Sequential([
        Conv2D(rng.normal(0, 0.5, (out_channels, 1, 3, 3)), rng.normal(0, 0.2, out_channels), stride=2, padding=1),
        ReLU(),
        Flatten(),
        Dense(rng.normal(0, 0.5, (4, out_channels * 9)), rng.normal(0, 0.2, 4)),
        ReLU(),
        Dense(rng.normal(0, 0.5, (2, 4)), [0.1, -0.1]),
    ], input_shape=(1, 6, 6))


@pytest.fixture(scope="module")
def setup():
    rng = np.random.default_rng(31)
    net = small_cnn(rng)
    x = rng.normal(size=(25, 1, 6, 6))
    return net, x


def rewrite(path, change):
    """Load every entry of an .npz, let ``change(dict)`` edit it, and write it back."""
    with np.load(path, allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    change(arrays)
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


@pytest.mark.parametrize("estimator,variant", [("a+-", "paper"), ("a+-", "regime"), ("a", "paper"),
                                               ("w", "paper"), ("random", "paper"), ("x", "paper")])
def test_round_trip_gives_bit_identical_explanations(setup, tmp_path, estimator, variant):
    net, x = setup
    patterns = fit_patterns(net, x, estimator, variant=variant, seed=4)
    path = tmp_path / "patterns.file"  # no .npz suffix: save must write exactly here
    patterns.save(path)
    assert path.exists() and not (tmp_path / "patterns.file.npz").exists()
    loaded = Patterns.load(path)
    assert (loaded.estimator, loaded.variant, loaded.seed, len(loaded)) == (
        patterns.estimator, patterns.variant, patterns.seed, len(patterns))
    np.testing.assert_array_equal(loaded.n_samples, patterns.n_samples)
    assert loaded.report() == patterns.report()
    for got, want in zip(loaded, patterns):
        for name in ("a", "a_plus", "a_minus"):
            g, w = getattr(got, name), getattr(want, name)
            assert (g is None) == (w is None) and (g is None or np.array_equal(g, w))
        for g, w in zip(got.counts, want.counts):
            np.testing.assert_array_equal(g, w)
        assert got.degenerate == want.degenerate
    for method in ("pattern.attribution", "pattern.net"):
        before = explain(net, x[:5], method, patterns=patterns)
        after = explain(net, x[:5], method, patterns=loaded)
        assert np.array_equal(before, after)  # bit for bit


def test_degenerate_report_survives_the_round_trip(tmp_path):
    rng = np.random.default_rng(32)
    net = Sequential([Dense(rng.normal(size=(3, 2)), [0.0, -1e3, 1e3])])
    patterns = fit_patterns(net, rng.normal(size=(40, 2)), "a+-")
    assert len(patterns.degenerate) == 2
    patterns.save(tmp_path / "p.npz")
    assert Patterns.load(tmp_path / "p.npz").degenerate == patterns.degenerate


def test_truncated_file_is_refused(setup, tmp_path):
    net, x = setup
    path = tmp_path / "p.npz"
    fit_patterns(net, x, "a+-").save(path)
    data = path.read_bytes()
    for keep in (0, 10, len(data) // 3, len(data) // 2, len(data) - 30, len(data) - 1):
        broken = tmp_path / f"cut{keep}.npz"
        broken.write_bytes(data[:keep])
        with pytest.raises(ValueError, match="cut"):
            Patterns.load(broken)


def test_garbage_and_foreign_npz_are_refused(tmp_path):
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"this is not a zip archive" * 10)
    with pytest.raises(ValueError, match="not a readable"):
        Patterns.load(garbage)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, weights=np.ones(3))
    with pytest.raises(ValueError, match="format_name"):
        Patterns.load(foreign)
    single = tmp_path / "single.npy"
    np.save(single, np.ones(3))
    with pytest.raises(ValueError, match="not an .npz archive"):
        Patterns.load(single)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, format_name=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError):
        Patterns.load(pickled)


def test_tampered_shape_is_refused(setup, tmp_path):
    net, x = setup
    path = tmp_path / "p.npz"
    fit_patterns(net, x, "a+-").save(path)

    def wrong_shape(arrays):
        arrays["layer_1.a_plus"] = arrays["layer_1.a_plus"][:, :-1]

    rewrite(path, wrong_shape)
    with pytest.raises(ValueError, match=r"layer_1\.a_plus.*shape \(4, 26\).*\(4, 27\)"):
        Patterns.load(path)


def test_tampered_value_is_refused(setup, tmp_path):
    net, x = setup
    path = tmp_path / "p.npz"
    fit_patterns(net, x, "a").save(path)

    def nudge(arrays):
        arrays["layer_0.a"] = arrays["layer_0.a"].copy()
        arrays["layer_0.a"][0, 0, 0, 0] += 1e-9

    rewrite(path, nudge)
    with pytest.raises(ValueError, match="checksum"):
        Patterns.load(path)


def test_inconsistent_counts_and_extra_entries_are_refused(setup, tmp_path):
    net, x = setup
    path = tmp_path / "p.npz"
    fit_patterns(net, x, "a+-").save(path)
    original = path.read_bytes()

    def bad_counts(arrays):
        arrays["layer_2.counts"] = arrays["layer_2.counts"] + np.array([[1], [0], [0]])

    rewrite(path, bad_counts)
    with pytest.raises(ValueError, match="counts"):
        Patterns.load(path)
    path.write_bytes(original)
    rewrite(path, lambda arrays: arrays.update({"layer_9.a_plus": np.zeros((2, 2))}))
    with pytest.raises(ValueError, match="unexpected entries"):
        Patterns.load(path)


def test_other_format_version_is_refused(setup, tmp_path):
    net, x = setup
    path = tmp_path / "p.npz"
    fit_patterns(net, x, "w").save(path)
    rewrite(path, lambda arrays: arrays.update({"format_version": np.array(2, dtype=np.int64)}))
    with pytest.raises(ValueError, match="format version 2"):
        Patterns.load(path)


def test_patterns_of_another_network_are_refused(setup, tmp_path):
    net, x = setup
    patterns = fit_patterns(net, x, "a+-")
    other = small_cnn(np.random.default_rng(33), out_channels=5)
    with pytest.raises(ValueError, match=r"kernel layer 0 .*\(5, 1, 3, 3\).*\(3, 1, 3, 3\)"):
        patterns.check_network(other)
    with pytest.raises(ValueError, match="kernel layer 0"):
        explain(other, x[:2], "pattern.attribution", patterns=patterns)
    shallow = Sequential([Flatten(), Dense(np.ones((2, 36)))])
    with pytest.raises(ValueError, match="3 kernel layers, the network has 1"):
        patterns.check_network(shallow)


def test_file_objects_work_too():
    rng = np.random.default_rng(34)
    net = Sequential([Dense(rng.normal(size=(2, 3)))])
    patterns = fit_patterns(net, rng.normal(size=(20, 3)), "a")
    buffer = io.BytesIO()
    patterns.save(buffer)
    buffer.seek(0)
    np.testing.assert_array_equal(Patterns.load(buffer)[0].a, patterns[0].a)
