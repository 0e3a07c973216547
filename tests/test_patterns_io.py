"""Patterns files: a round trip changes no bit; a damaged or foreign file is refused with a ValueError;
a failed save keeps the old file; the fingerprint of the weights travels with the patterns."""

import gc
import io
import os
import pathlib
import stat
import warnings

import numpy as np
import pytest
from conftest import failing_savez

from refpattern import Conv2D, Dense, Flatten, ReLU, Sequential, explain, rho
from refpattern.files import archive_checksum
from refpattern.patterns import (
    MissingFingerprintWarning,
    Patterns,
    PatternsMismatchWarning,
    fit_patterns,
    network_fingerprint,
)
from refpattern.patterns.container import layer_fingerprint

VERSION_1_FILE = pathlib.Path(__file__).parent / "data" / "patterns_v1.npz"


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


def test_a_nonzero_row_under_a_zeroed_note_is_refused(tmp_path):
    """A re-signed file whose degenerate entry says "zeroed" over a nonzero row loaded, the note contradicting the
    pattern explain would use; the fitted file itself holds exact zeros there and still loads."""
    rng = np.random.default_rng(32)
    net = Sequential([Dense(rng.normal(size=(3, 2)), [0.0, -1e3, 1e3])])  # neuron 1 never opens, neuron 2 never closes
    patterns = fit_patterns(net, rng.normal(size=(40, 2)), "a+-")
    path = tmp_path / "p.npz"
    patterns.save(path)
    loaded = Patterns.load(path)
    assert [(d.neuron, d.regime, d.zeroed) for d in loaded.degenerate] == [(1, "plus", True), (2, "minus", True)]
    assert not np.any(loaded[0].a_plus[1]) and not np.any(loaded[0].a_minus[2])

    def unzero(arrays):
        arrays["layer_0.a_minus"] = arrays["layer_0.a_minus"].copy()
        arrays["layer_0.a_minus"][2, 1] = 1e-300
        arrays["checksum"] = np.array(archive_checksum(arrays))

    rewrite(path, unzero)
    with pytest.raises(ValueError, match=r"p\.npz: layer_0\.a_minus row 2 is not zero, but layer_0\.degenerate_zeroed"):
        Patterns.load(path)


def test_truncated_file_is_refused(setup, tmp_path):
    net, x = setup
    path = tmp_path / "p.npz"
    fit_patterns(net, x, "a+-").save(path)
    data = path.read_bytes()
    for keep in (0, 10, len(data) // 3, len(data) // 2, len(data) - 30, len(data) - 1):
        broken = tmp_path / f"cut{keep}.npz"
        broken.write_bytes(data[:keep])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with pytest.raises(ValueError, match="cut"):
                Patterns.load(broken)
            gc.collect()
        assert not [w for w in caught if issubclass(w.category, ResourceWarning)], "the file was left open"


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
    with pytest.raises(ValueError, match="pickled.npz: entry 'format_name' holds pickled Python objects.*"
                                         "refpattern patterns file"):
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
    rewrite(path, lambda arrays: arrays.update({"format_version": np.array(3, dtype=np.int64)}))
    with pytest.raises(ValueError, match="format version 3 is not supported"):
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


# --- atomic saving (docs/conventions.md#atomic-files) ------------------------------------------


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"), RuntimeError("midway"),
                                   KeyboardInterrupt()])
def test_a_save_that_fails_midway_keeps_the_old_file_and_leaves_no_temporary(setup, tmp_path, monkeypatch, error):
    net, x = setup
    path = tmp_path / "p.npz"
    old = fit_patterns(net, x, "a")
    old.save(path)
    before = path.read_bytes()
    new = fit_patterns(net, x, "a+-")
    monkeypatch.setattr(np, "savez", failing_savez(len(before) // 2, error))
    with pytest.raises(type(error)):
        new.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.npz"]
    assert str(Patterns.load(path).estimator) == "a"
    new.save(path)  # and once nothing fails, the new patterns replace the old ones
    assert str(Patterns.load(path).estimator) == "a+-"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.npz"]


def test_saving_keeps_the_permissions_of_the_file_it_replaces_and_writes_through_a_link(setup, tmp_path):
    net, x = setup
    patterns = fit_patterns(net, x, "w")
    fresh = tmp_path / "fresh.npz"
    patterns.save(fresh)
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~umask  # as open(path, "wb") would create it
    kept = tmp_path / "kept.npz"
    kept.write_bytes(b"old")
    kept.chmod(0o640)
    patterns.save(kept)
    assert stat.S_IMODE(kept.stat().st_mode) == 0o640
    link = tmp_path / "link.npz"
    link.symlink_to(kept)
    fit_patterns(net, x, "a").save(link)
    assert link.is_symlink() and str(Patterns.load(kept).estimator) == "a"


# --- the fingerprint of the weights (docs/conventions.md#patterns-fingerprint) ----------------


def with_weight(net, kernel, change):
    """``net`` with kernel layer ``kernel``'s weight replaced by ``change(weight copy)``."""
    layers = list(net.layers)
    index = net.kernel_indices[kernel]
    layer = layers[index]
    layers[index] = layer.with_parameters(change(np.array(layer.weight)), layer.bias)
    return net.with_layers(layers)


def test_fitting_records_the_fingerprint_of_the_network_and_the_file_keeps_it(setup, tmp_path):
    net, x = setup
    patterns = fit_patterns(net, x, "a+-")
    assert patterns.fingerprint == network_fingerprint(net) and len(patterns.fingerprint) == len(net.kernel_layers)
    assert fit_patterns(net, x, "a+-", memory_limit=4096).fingerprint == patterns.fingerprint  # several passes
    assert fit_patterns(net, None, "w").fingerprint == patterns.fingerprint  # data-free
    patterns.save(tmp_path / "p.npz")
    with np.load(tmp_path / "p.npz") as archive:
        assert int(archive["format_version"]) == 2
        assert tuple(archive["fingerprint"].tolist()) == patterns.fingerprint
    assert Patterns.load(tmp_path / "p.npz").fingerprint == patterns.fingerprint


def test_the_fingerprint_changes_with_each_weight_bias_stride_and_padding_and_only_there(setup):
    net, _ = setup
    base = network_fingerprint(net)
    nudged = with_weight(net, 1, lambda w: np.nextafter(w, np.inf))  # one ulp on every entry of layer 1
    assert [a == b for a, b in zip(base, network_fingerprint(nudged))] == [True, False, True]

    def one_entry_one_ulp(w):
        w[1, 3] = np.nextafter(w[1, 3], 0.0)
        return w

    single = with_weight(net, 2, one_entry_one_ulp)
    assert [a == b for a, b in zip(base, network_fingerprint(single))] == [True, True, False]
    layers = list(net.layers)
    layers[3] = layers[3].with_parameters(layers[3].weight, np.asarray(layers[3].bias) + 1e-12)
    assert [a == b for a, b in zip(base, network_fingerprint(net.with_layers(layers)))] == [True, False, True]
    # a convolution's stride and padding are part of what the patterns were fitted on
    conv = net.layers[0]
    assert layer_fingerprint(Conv2D(conv.weight, conv.bias, stride=2, padding=1)) == base[0]  # copies, same values
    assert layer_fingerprint(Conv2D(conv.weight, conv.bias, stride=np.int64(2), padding=(1, 1))) == base[0]
    assert layer_fingerprint(Conv2D(conv.weight, conv.bias, stride=1, padding=1)) != base[0]
    assert layer_fingerprint(Conv2D(conv.weight, conv.bias, stride=2, padding=0)) != base[0]
    assert layer_fingerprint(Conv2D(conv.weight, conv.bias, stride=2, padding=(1, 0))) != base[0]


def test_weights_that_differ_give_a_warning_naming_the_layer_and_strict_refuses(setup):
    net, x = setup
    patterns = fit_patterns(net, x, "a+-")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        patterns.check_network(net)  # the network it was fitted on: silent
        patterns.check_network(small_cnn(np.random.default_rng(31)), strict=True)  # rebuilt, same weights
    other = with_weight(net, 2, lambda w: w * 1.5)
    with pytest.warns(PatternsMismatchWarning, match=r"kernel layer 2 \(net.layers\[5\], Dense\(in=4, out=2\)\)"):
        patterns.check_network(other)
    with pytest.raises(ValueError, match="kernel layer 2 .* weights, bias, stride or padding differ"):
        patterns.check_network(other, strict=True)
    first = with_weight(with_weight(net, 2, lambda w: w * 1.5), 0, lambda w: -w)
    with pytest.warns(PatternsMismatchWarning, match="kernel layer 0 "):  # the first one that differs
        patterns.check_network(first)
    # explain and rho call check_network: they warn (pointing at the caller) and still run
    with pytest.warns(PatternsMismatchWarning, match="kernel layer 2") as record:
        explained = explain(other, x[:2], "pattern.attribution", patterns=patterns)
    assert record[0].filename == __file__ and explained.shape == x[:2].shape
    with pytest.warns(PatternsMismatchWarning, match="kernel layer 2"):
        rho(other, x, patterns)
    with pytest.raises(TypeError, match="strict"):
        patterns.check_network(net, strict="yes")


def test_a_version_1_file_loads_without_a_fingerprint_and_says_so():
    """``tests/data/patterns_v1.npz`` was written by refpattern 0.1.0 (format version 1, commit
    06ad294) with::

        rng = np.random.default_rng(41)
        net = Sequential([Conv2D(rng.normal(0, 0.5, (2, 1, 3, 3)), rng.normal(0, 0.2, 2), stride=2, padding=1),
                          ReLU(), Flatten(), Dense(rng.normal(0, 0.5, (3, 18)), rng.normal(0, 0.2, 3))],
                         input_shape=(1, 5, 5))
        x = rng.normal(size=(30, 1, 5, 5))
        fit_patterns(net, x, "a+-", backend="numpy").save("patterns_v1.npz")
    """
    rng = np.random.default_rng(41)
    net = Sequential([Conv2D(rng.normal(0, 0.5, (2, 1, 3, 3)), rng.normal(0, 0.2, 2), stride=2, padding=1),
                      ReLU(), Flatten(), Dense(rng.normal(0, 0.5, (3, 18)), rng.normal(0, 0.2, 3))],
                     input_shape=(1, 5, 5))
    x = rng.normal(size=(30, 1, 5, 5))
    with pytest.warns(MissingFingerprintWarning, match="version-1 patterns file"):
        loaded = Patterns.load(VERSION_1_FILE)
    assert loaded.fingerprint is None and "no fingerprint" in loaded.report()
    refit = fit_patterns(net, x, "a+-", backend="numpy")
    assert (loaded.estimator, loaded.variant, len(loaded)) == (refit.estimator, refit.variant, len(refit))
    for got, want in zip(loaded, refit):
        np.testing.assert_allclose(got.a_plus, want.a_plus, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(got.a_minus, want.a_minus, rtol=1e-12, atol=1e-14)
    assert loaded.degenerate == refit.degenerate
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded.check_network(net)  # shapes only, no claim about the weights
    with pytest.raises(ValueError, match="no fingerprint"):
        loaded.check_network(net, strict=True)


def test_patterns_built_without_a_fingerprint_save_and_load_without_one(setup, tmp_path):
    net, x = setup
    fitted = fit_patterns(net, x, "a")
    bare = Patterns(fitted.estimator, fitted.layers)
    assert bare.fingerprint is None
    bare.save(tmp_path / "p.npz")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert Patterns.load(tmp_path / "p.npz").fingerprint is None  # version 2: no warning
    with pytest.raises(ValueError, match="fingerprint has 2 entries"):
        Patterns(fitted.estimator, fitted.layers, fingerprint=fitted.fingerprint[:2])
    with pytest.raises(ValueError, match="SHA-256"):
        Patterns(fitted.estimator, fitted.layers, fingerprint=("x" * 64,) * 3)


def test_a_file_whose_fingerprint_has_the_wrong_length_is_refused(setup, tmp_path):
    net, x = setup
    path = tmp_path / "p.npz"
    fit_patterns(net, x, "a").save(path)

    def drop_one(arrays):
        arrays["fingerprint"] = arrays["fingerprint"][:2]
        arrays["checksum"] = np.array(archive_checksum(arrays))  # a consistent file, one entry short

    rewrite(path, drop_one)
    with pytest.raises(ValueError, match="fingerprint should be 0 or 3 strings"):
        Patterns.load(path)
    rewrite(path, lambda arrays: arrays.pop("fingerprint"))
    with pytest.raises(ValueError, match="missing entry 'fingerprint'"):
        Patterns.load(path)
