"""Network files (Sequential.save / Sequential.load, docs/conventions.md#network-file-format): a round trip
changes no bit — layers, outputs, explanations, fits and fingerprints are identical —; a damaged, foreign,
pickled, tampered, inconsistent or newer file is refused with a ValueError naming the problem; a failed save
keeps the old file."""

import gc
import io
import warnings

import numpy as np
import pytest
from conftest import failing_savez, random_cnn

from refpattern import Conv2D, Dense, Flatten, MaxPool2D, ReLU, Sequential, Softmax, explain, fit_patterns
from refpattern.network import file_format
from refpattern.patterns import network_fingerprint


def every_layer_net(input_shape=(2, 7, 8)):
    """Conv2D with asymmetric pads and stride 2, Conv2D "same" with a 2 × 3 kernel, an overlapping max-pool, a
    flatten, two dense layers and a softmax: every layer type, every padding form the file stores."""
    rng = np.random.default_rng(40)
    conv1 = Conv2D(rng.normal(0, 0.5, (3, 2, 3, 3)), rng.normal(0, 0.2, 3), stride=2, padding=((0, 1), (2, 0)))
    conv2 = Conv2D(rng.normal(0, 0.5, (4, 3, 2, 3)), rng.normal(0, 0.2, 4), stride=(1, 2), padding="same")
    head = Sequential([conv1, ReLU(), conv2, ReLU(), MaxPool2D((2, 1), stride=1)], input_shape=input_shape)
    flat = int(np.prod(head.output_shapes(input_shape)[-1]))
    return Sequential([conv1, ReLU(), conv2, ReLU(), MaxPool2D((2, 1), stride=1), Flatten(),
                       Dense(rng.normal(0, 0.5, (5, flat)), rng.normal(0, 0.2, 5)), ReLU(),
                       Dense(rng.normal(0, 0.5, (3, 5)), rng.normal(0, 0.2, 3)), Softmax()], input_shape=input_shape)


def layer_description(layer):
    """What a layer is, as plain values: its type and every hyper-parameter and parameter."""
    described = {"type": type(layer).__name__}
    for attribute in ("stride", "padding", "size"):
        if hasattr(layer, attribute):
            described[attribute] = getattr(layer, attribute)
    for attribute in ("weight", "bias"):
        if hasattr(layer, attribute):
            value = getattr(layer, attribute)
            described[attribute] = (value.dtype.str, value.shape, value.tobytes())
    return described


def saved(net, tmp_path, name="net.file"):
    path = tmp_path / name
    net.save(path)
    return path


def rewrite(path, change, resign=False):
    """Load every entry, let ``change(dict)`` edit it, write it back (recomputing the checksum if ``resign``)."""
    with np.load(path, allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    change(arrays)
    if resign:
        arrays["checksum"] = np.array(file_format.checksum(arrays))
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


@pytest.mark.parametrize("with_input_shape", [True, False])
def test_round_trip_is_bit_exact_for_every_layer_type_and_padding_form(tmp_path, with_input_shape):
    net = every_layer_net()
    if not with_input_shape:
        net = Sequential(net.layers)
    path = saved(net, tmp_path)
    assert path.exists() and not (tmp_path / "net.file.npz").exists()  # written exactly at the path given
    loaded = Sequential.load(path)
    assert loaded.input_shape == net.input_shape
    assert [layer_description(layer) for layer in loaded.layers] == [layer_description(layer) for layer in net.layers]
    assert loaded.layers[0].padding == ((0, 1), (2, 0)) and loaded.layers[2].padding == "same"
    assert loaded.layers[2].stride == (1, 2) and loaded.layers[4].size == (2, 1) and loaded.layers[4].stride == (1, 1)
    assert network_fingerprint(loaded) == network_fingerprint(net)

    x = np.random.default_rng(41).normal(size=(4, 2, 7, 8))
    assert np.array_equal(loaded.forward(x), net.forward(x))
    for method, options in (("gradient", {}), ("lrp.epsilon", {"epsilon": 1e-3}), ("lrp.alpha_2_beta_1", {}),
                            ("deep_taylor", {}), ("integrated_gradients", {"steps": 3})):
        assert np.array_equal(explain(loaded, x, method, **options), explain(net, x, method, **options)), method
    train = np.random.default_rng(42).normal(size=(30, 2, 7, 8))
    fitted, refitted = fit_patterns(net, train, "a+-"), fit_patterns(loaded, train, "a+-")
    for before, after in zip(fitted, refitted):
        assert np.array_equal(before.a_plus, after.a_plus) and np.array_equal(before.a_minus, after.a_minus)
    assert np.array_equal(explain(loaded, x, "pattern.attribution", patterns=fitted),
                          explain(net, x, "pattern.attribution", patterns=fitted))


def test_round_trip_of_a_dense_net_through_a_file_object_and_of_the_conftest_cnn(tmp_path):
    rng = np.random.default_rng(43)
    dense = Sequential([Dense(rng.normal(size=(4, 3)), rng.normal(size=4)), ReLU(), Dense(rng.normal(size=(2, 4)))])
    buffer = io.BytesIO()
    dense.save(buffer)
    buffer.seek(0)
    loaded = Sequential.load(buffer)
    assert loaded.input_shape is None and len(loaded) == 3
    assert [layer_description(layer) for layer in loaded.layers] == [layer_description(layer) for layer in dense.layers]
    cnn = random_cnn(paddings=(((0, 1), (2, 0)), "same"))
    again = Sequential.load(saved(cnn, tmp_path))
    x = np.random.default_rng(44).normal(size=(3, 2, 9, 9))
    assert np.array_equal(again.logits(x), cnn.logits(x))
    assert [layer_description(layer) for layer in again.layers] == [layer_description(layer) for layer in cnn.layers]


def test_the_file_holds_what_its_docstring_lists(tmp_path):
    net = every_layer_net()
    with np.load(saved(net, tmp_path), allow_pickle=False) as archive:
        entries = {key: archive[key] for key in archive.files}
    assert entries["format_name"].item() == "refpattern.Sequential" and entries["format_version"].item() == 1
    assert entries["input_shape"].tolist() == [2, 7, 8] and entries["has_input_shape"].item() is True
    types = [entries[f"layer_{i}.type"].item() for i in range(len(net))]
    assert types == [type(layer).__name__ for layer in net.layers]
    assert entries["layer_0.padding"].tolist() == [[0, 1], [2, 0]] and entries["layer_2.padding"].item() == "same"
    assert entries["layer_0.stride"].tolist() == [2, 2] and entries["layer_4.size"].tolist() == [2, 1]
    assert entries["layer_8.weight"].dtype == np.float64 and "layer_5.weight" not in entries
    assert entries["checksum"].item() == file_format.checksum(entries)
    assert all(entry.dtype != object for entry in entries.values())


def test_truncated_file_is_refused_and_closed(tmp_path):
    data = saved(every_layer_net(), tmp_path).read_bytes()
    for keep in (0, 10, len(data) // 3, len(data) // 2, len(data) - 30, len(data) - 1):
        broken = tmp_path / f"cut{keep}.npz"
        broken.write_bytes(data[:keep])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with pytest.raises(ValueError, match=f"cut{keep}.npz: "):
                Sequential.load(broken)
            gc.collect()
        assert not [w for w in caught if issubclass(w.category, ResourceWarning)], "the file was left open"


def test_garbage_foreign_and_pickled_files_are_refused(tmp_path):
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"this is not a zip archive" * 10)
    with pytest.raises(ValueError, match="garbage.npz: not a readable refpattern network file"):
        Sequential.load(garbage)
    single = tmp_path / "single.npy"
    np.save(single, np.ones(3))
    with pytest.raises(ValueError, match="not an .npz archive"):
        Sequential.load(single)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, weights=np.ones(3))
    with pytest.raises(ValueError, match="missing entry 'format_name' .not a refpattern network file"):
        Sequential.load(foreign)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, format_name=np.array("refpattern.Sequential"), layers=np.array([{"type": "Dense"}], dtype=object))
    with pytest.raises(ValueError, match="entry 'layers' holds pickled Python objects"):
        Sequential.load(pickled)
    patterns_file = tmp_path / "patterns.npz"
    net = every_layer_net()
    fit_patterns(net, np.random.default_rng(45).normal(size=(12, 2, 7, 8)), "a").save(patterns_file)
    with pytest.raises(ValueError, match="format_name is 'refpattern.Patterns', expected 'refpattern.Sequential'"):
        Sequential.load(patterns_file)
    with pytest.raises(FileNotFoundError):
        Sequential.load(tmp_path / "missing.npz")


def test_a_tampered_value_or_consistent_shape_fails_the_checksum(tmp_path):
    path = saved(every_layer_net(), tmp_path)
    original = path.read_bytes()

    def nudge(arrays):
        arrays["layer_6.weight"] = arrays["layer_6.weight"].copy()
        arrays["layer_6.weight"][1, 2] = np.nextafter(arrays["layer_6.weight"][1, 2], np.inf)  # one bit

    rewrite(path, nudge)
    with pytest.raises(ValueError, match="checksum mismatch"):
        Sequential.load(path)

    def fewer_classes(arrays):  # a network that would still work: 2 classes instead of 3
        arrays["layer_8.weight"] = arrays["layer_8.weight"][:2]
        arrays["layer_8.bias"] = arrays["layer_8.bias"][:2]

    path.write_bytes(original)
    rewrite(path, fewer_classes)
    with pytest.raises(ValueError, match="checksum mismatch"):
        Sequential.load(path)
    path.write_bytes(original)
    rewrite(path, lambda arrays: arrays.update({"layer_0.stride": np.array([1, 1])}))
    with pytest.raises(ValueError, match="checksum mismatch"):
        Sequential.load(path)


@pytest.mark.parametrize("change,message", [
    (lambda a: a.update({"layer_6.bias": a["layer_6.bias"][:-1]}),
     r"layer 6 \(Dense\): weight \(5, \d+\) and bias \(4,\) do not fit"),
    (lambda a: a.update({"layer_1.type": np.array("BatchNorm")}),
     "layer 1 has type 'BatchNorm', which this refpattern does not know"),
    (lambda a: a.pop("layer_2.padding"), r"layer 2 \(Conv2D\): missing entry 'layer_2.padding'"),
    (lambda a: a.update({"layer_10.type": np.array("ReLU")}), r"unexpected entries \['layer_10.type'\]"),
    (lambda a: a.update({"layer_8.type": np.array("Softmax"), "layer_9.type": np.array("Softmax")}),
     r"unexpected entries \['layer_8.bias', 'layer_8.weight'\]"),
    (lambda a: a.update({"layer_5.type": np.array("Softmax")}), "layer 5 is a Softmax but is not the last layer"),
    (lambda a: a.update({"layer_6.weight": a["layer_6.weight"][:, :-1], "layer_6.bias": a["layer_6.bias"]}),
     r"do not form a network: layer 6 .*expected input of size"),
    (lambda a: a.update({"layer_4.stride": np.array([0, 1])}), r"layer_4.stride should be 2 ints >= 1"),
    (lambda a: a.update({"layer_0.padding": np.array("full")}), "layer_0.padding should be 'same' or"),
    (lambda a: a.update({"layer_0.weight": a["layer_0.weight"].astype(np.float32)}), "should be float64"),
    (lambda a: a.update({"layer_8.bias": np.array([0.0, np.nan, 1.0])}), "contains NaN or inf"),
    (lambda a: a.update({"input_shape": np.array([2, 7, 9])}), "do not form a network"),
    (lambda a: a.update({"n_layers": np.array(11)}), "missing entry 'layer_10.type'"),
])
def test_inconsistent_entries_are_refused_even_with_a_valid_checksum(tmp_path, change, message):
    """The checksum is recomputed after the change, so only the consistency checks stand between the file and a
    broken network."""
    path = saved(every_layer_net(), tmp_path)
    rewrite(path, change, resign=True)
    with pytest.raises(ValueError, match=message):
        Sequential.load(path)


def test_a_newer_format_version_is_refused_with_the_version_this_one_reads(tmp_path):
    path = saved(every_layer_net(), tmp_path)
    rewrite(path, lambda arrays: arrays.update({"format_version": np.array(2, dtype=np.int64)}), resign=True)
    with pytest.raises(ValueError, match="format version 2: written by a newer refpattern; this one reads version 1"):
        Sequential.load(path)
    rewrite(path, lambda arrays: arrays.update({"format_version": np.array(0, dtype=np.int64)}), resign=True)
    with pytest.raises(ValueError, match="format version 0 is not a version of this format"):
        Sequential.load(path)


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"), RuntimeError("midway"),
                                   KeyboardInterrupt()])
def test_a_save_interrupted_midway_leaves_the_existing_file_intact(tmp_path, monkeypatch, error):
    old = every_layer_net()
    path = saved(old, tmp_path, "net.npz")
    before = path.read_bytes()
    new = Sequential([Dense(np.ones((2, 3)))])
    monkeypatch.setattr(np, "savez", failing_savez(len(before) // 2, error))
    with pytest.raises(type(error)):
        new.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.npz"]  # no temporary file left behind
    assert len(Sequential.load(path)) == len(old)
    new.save(path)
    assert len(Sequential.load(path)) == 1
