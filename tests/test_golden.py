"""``refpattern golden`` (docs/conventions.md#golden-suite): the suite read back with NumPy and json only equals
refpattern's explanations of its networks; the certificate agrees with an exact 50-digit computation to the bounds
the docs state; the exact twin is independent (a rule broken in it makes the certificate fail); mistakes are
refused before any work."""

import ast
import io
import json
import pathlib
import re

import numpy as np
import pytest

from refpattern import Patterns, Sequential, explain, fit_patterns
from refpattern.cli import main
from refpattern.experiments import golden
from refpattern.interop import nchw_to_nhwc

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    pytest.importorskip("mpmath")
    out = tmp_path_factory.mktemp("golden") / "suite"
    status = main(["golden", "--out", str(out), "--samples", "2"])
    return out, status


def read_reference(path):
    """A reference file with NumPy and json only (what a torch or Keras test does)."""
    with np.load(path, allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    return arrays, json.loads(str(arrays["manifest.json"]))


def resolved_options(record, arrays, patterns):
    """A method's options as the file holds them, array references read, the patterns from the patterns file."""
    options = {}
    for name, value in record["options"].items():
        if name == "patterns":
            options[name] = patterns
        elif isinstance(value, dict) and set(value) == {"array", "shape", "dtype"}:
            options[name] = arrays[value["array"]]
        else:
            options[name] = value
    return options


def test_the_suite_read_with_numpy_and_json_equals_refpattern_on_its_networks(suite):
    out, status = suite
    assert status == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["format"] == "refpattern.golden" and manifest["certified"] is True
    assert sorted(p.name for p in out.iterdir()) == sorted(manifest["files"]) == sorted(golden.suite_files())
    assert list(manifest["networks"]) == list(golden.NETWORKS)
    for name, entry in manifest["networks"].items():
        arrays, meta = read_reference(out / entry["reference"])
        net = Sequential.load(out / entry["network"])
        patterns = Patterns.load(out / entry["patterns"])
        x, targets = arrays["x.NCHW"], arrays["targets"]
        assert x.shape[0] == 2 and tuple(x.shape[1:]) == net.input_shape
        logits = net.logits(x, "numpy")
        assert np.array_equal(arrays["logits"], logits) and np.array_equal(arrays["y_t"], logits[[0, 1], targets])
        if entry["targets"] == "argmax of the logits":
            assert np.array_equal(targets, np.argmax(logits, axis=1))
        else:
            assert targets.tolist() == entry["targets"] == [0, 1]
        # the patterns: refitted on the fit data they equal the file; the reference holds them too
        refit = fit_patterns(net, np.load(out / entry["fit_data"]), "a+-", backend="numpy")
        for k, layer in enumerate(meta["methods"]["pattern.net"]["options"]["patterns"]["layers"]):
            for field in ("a_plus", "a_minus"):
                assert np.array_equal(getattr(refit[k], field), getattr(patterns[k], field))
                assert np.array_equal(arrays[layer[field]["torch"]["array"]], getattr(patterns[k], field))
        assert set(meta["methods"]) == set(entry["cases"]) and len(meta["methods"]) == 18
        for key, record in meta["methods"].items():
            method = entry["cases"][key]["method"]
            assert record["requested_as"] == method
            options = resolved_options(record, arrays, patterns)
            expected = explain(net, x, method, targets, backend="numpy", **options)
            stored = arrays[record["explanation"]["NCHW"]]
            assert np.array_equal(stored, expected), (name, key)
            if x.ndim == 4:
                assert np.array_equal(arrays[record["explanation"]["NHWC"]], nchw_to_nhwc(stored))
        assert meta["methods"]["lrp.epsilon@epsilon=0.1"]["options"]["epsilon"] == 0.1
        assert meta["methods"]["lrp.epsilon"]["options"]["epsilon"] == 1e-6
        assert meta["methods"]["pattern.attribution@output_pattern=a+"]["options"]["output_pattern"] == "a+"
    ties = manifest["networks"]["maxpool_ties"]
    assert ties["tied_windows"] >= 2  # exact positive ties in the pooling windows of the explained inputs
    folding = manifest["networks"]["batchnorm_folded"]["batchnorm"]
    assert folding["largest_difference_folded_vs_conv_then_norm"] < 1e-13


def test_the_load_snippet_of_the_readme_runs_and_every_snippet_compiles(suite, monkeypatch):
    out, _ = suite
    text = (out / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) == 3 and "import torch" in blocks[1] and "import keras" in blocks[2]
    for block in blocks:
        compile(block, "README.md", "exec")
    monkeypatch.chdir(out)
    scope = {}
    exec(blocks[0], scope)  # NumPy and json only
    ref, meta = scope["load"]("cnn_padding")
    assert scope["expected"].shape == (2, 5)  # dense_relu's LRP-ε map
    assert ref["x.NHWC"].shape == (2, 7, 6, 2) and meta["network"]["torch"][0]["padding"] == [[0, 1], [1, 0]]
    assert meta["network"]["torch"][2]["type"] == "Conv2D" and meta["network"]["torch"][2]["padding"] == [[0, 1],
                                                                                                            [1, 1]]


def documented_bounds():
    """The bounds table of docs/conventions.md#golden-certificate: ``{kind: ulps}``."""
    text = (ROOT / "docs" / "conventions.md").read_text(encoding="utf-8")
    section = text[text.index('<a id="golden-certificate"></a>'):]
    section = section[:section.index("\n<a id=", 1)] if "\n<a id=" in section[1:] else section
    return {kind: float(bound) for kind, bound in re.findall(r"^\| `(\w+)` \| (\d+) \|", section, re.M)}


def test_the_certificate_is_within_the_bounds_the_docs_state(suite):
    out, _ = suite
    assert documented_bounds() == golden.ULP_BOUNDS
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["certificate"]["digits"] == 50 and manifest["certificate"]["within_bounds"] is True
    largest = {}
    for entry in manifest["networks"].values():
        certificate = entry["certificate"]
        assert certificate["within_bounds"] is True and certificate["targets_are_exact_argmax"] in (True, None)
        outputs = [("logits", certificate["logits"]), ("y_t", certificate["y_t"])]
        outputs += [(golden.bound_kind(value["method"]), value) for value in certificate["methods"].values()]
        outputs += [("patterns", value) for value in certificate["patterns"].values()]
        assert len(certificate["methods"]) == 18 and len(certificate["patterns"]) >= 4
        for kind, value in outputs:
            assert all(u is not None and u <= golden.ULP_BOUNDS[kind] for u in value["ulps"]), (kind, value)
            largest[kind] = max(largest.get(kind, 0.0), value["max_ulps"])
    # rounding, not exactness: refpattern's float64 numbers differ from the exact ones by a few ulps
    assert 0 < largest["gradient"] <= 8 and 0 < largest["lrp"] <= 32 and 0 < largest["pattern"] <= 16
    dense = manifest["networks"]["dense_relu"]["certificate"]["methods"]
    assert dense["gradient"]["max_ulps"] <= 2 and dense["lrp.epsilon"]["max_ulps"] <= 4


class BiasFreeEpsilon(golden.ExactTwin):
    """A deliberately wrong LRP-ε in the twin: the denominator without the bias."""

    def rule_epsilon(self, epsilon):
        correct = super().rule_epsilon(epsilon)

        def rule(record, x, z, upstream):
            without_bias = [value - record["bias"][record["channel"][j]] for j, value in enumerate(z)]
            return correct(record, x, without_bias, upstream)

        return rule


class LastMaximum(golden.ExactTwin):
    """A deliberately wrong max-pooling in the twin: ties go to the last maximum."""

    def maxpool_winner(self, values):
        best = 0
        for position, value in enumerate(values):
            if value >= values[best]:
                best = position
        return best


def test_a_wrong_rule_in_the_exact_twin_makes_the_certificate_fail():
    """The certificate compares with the twin's own rules, not with refpattern's: break one in the twin and the
    outputs that use it are off by many orders of magnitude more than rounding; the others stay certified."""
    pytest.importorskip("mpmath")
    wrong = golden.build_suite(samples=2, names=["dense_relu"], progress=False, twin_class=BiasFreeEpsilon)
    methods = wrong.manifest["networks"]["dense_relu"]["certificate"]["methods"]
    assert wrong.within_bounds is False
    for key in ("lrp.z", "lrp.epsilon", "lrp.epsilon@epsilon=0.1"):
        assert methods[key]["max_ulps"] > 1e6 and not methods[key]["within_bound"]
    for key in ("gradient", "lrp.alpha_2_beta_1", "pattern.attribution"):
        assert methods[key]["within_bound"]
    ties = golden.build_suite(samples=2, names=["maxpool_ties"], progress=False, twin_class=LastMaximum)
    methods = ties.manifest["networks"]["maxpool_ties"]["certificate"]["methods"]
    assert ties.within_bounds is False
    assert max(methods[key]["max_ulps"] for key in ("gradient", "lrp.epsilon", "pattern.net")) > 1e6


def test_the_exact_twin_imports_no_refpattern_computation():
    """Independence by construction: golden_exact imports the layer classes (to read their parameters) and the
    optional-import helper, nothing that computes, and reads nothing of a layer but its parameters."""
    tree = ast.parse((ROOT / "refpattern" / "experiments" / "golden_exact.py").read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert {name for name in imported if name.startswith("refpattern")} == {
        "refpattern.interop", "refpattern.network.conv2d", "refpattern.network.dense",
        "refpattern.network.elementwise", "refpattern.network.maxpool"}
    read = {(node.value.id, node.attr) for node in ast.walk(tree) if isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name) and node.value.id in ("layer", "net")}
    assert read == {("layer", "weight"), ("layer", "bias"), ("layer", "stride"), ("layer", "padding"),
                    ("layer", "size"), ("net", "layers"), ("net", "input_shape")}


def test_mistakes_are_refused_before_any_work(tmp_path, monkeypatch, capsys):
    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder")
    assert main(["golden", "--out", str(a_file), "--no-certify"]) == 2
    assert "is a file" in capsys.readouterr().err
    assert main(["golden", "--out", str(tmp_path / "x"), "--networks", "dense_relu,vgg"]) == 2
    assert "expected distinct names among" in capsys.readouterr().err
    assert main(["golden", "--out", str(tmp_path / "x"), "--digits", "16"]) == 2

    def missing():
        raise ImportError('mpmath is not installed (refpattern needs it for this step only); install it with: '
                          'pip install "refpattern[golden]"')

    monkeypatch.setattr(golden, "import_mpmath", missing)
    assert main(["golden", "--out", str(tmp_path / "y")]) == 2
    error = capsys.readouterr().err
    assert 'pip install "refpattern[golden]"' in error and "--no-certify" in error and "Traceback" not in error
    assert not (tmp_path / "y").exists()
    # without the certificate mpmath is not needed
    assert main(["golden", "--out", str(tmp_path / "y"), "--no-certify", "--samples", "1", "--networks",
                 "softmax_head"]) == 0
    manifest = json.loads((tmp_path / "y" / "manifest.json").read_text())
    assert manifest["certified"] is False and "certificate" not in manifest["networks"]["softmax_head"]
    assert sorted(p.name for p in (tmp_path / "y").iterdir()) == sorted(golden.suite_files(["softmax_head"]))


def test_merged_option_sets_keep_each_reference_readable(tmp_path):
    """merge_option_sets adds the extra method under its key, renames exactly its entries and keeps the main
    file's; load_reference reads the result."""
    from refpattern import Dense, ReLU
    from refpattern.testing import load_reference, save_reference

    rng = np.random.default_rng(3)
    net = Sequential([Dense(rng.normal(size=(3, 2)), rng.normal(size=3)), ReLU(), Dense(rng.normal(size=(2, 3)))],
                     input_shape=(2,))
    x = rng.normal(size=(2, 2))

    def written(name, methods, options):
        save_reference(tmp_path / name, net, x, methods, options=options)
        return (tmp_path / name).read_bytes()

    main_file = written("main.npz", ["lrp.epsilon", "gradient"], {"lrp.epsilon": {"epsilon": 1e-3}})
    extra = written("extra.npz", ["lrp.epsilon"], {"lrp.epsilon": {"epsilon": 0.5}})
    (tmp_path / "merged.npz").write_bytes(golden.merge_option_sets(main_file, {"lrp.epsilon@epsilon=0.5": extra}))
    reference = load_reference(tmp_path / "merged.npz")
    assert set(reference["explanations"]) == {"lrp.epsilon", "gradient", "lrp.epsilon@epsilon=0.5"}
    assert reference["options"]["lrp.epsilon@epsilon=0.5"]["epsilon"] == 0.5
    assert reference["manifest"]["methods"]["lrp.epsilon@epsilon=0.5"]["explanation"]["NCHW"] == \
        "explanation.lrp.epsilon@epsilon=0.5.NCHW"
    assert np.array_equal(reference["explanations"]["lrp.epsilon@epsilon=0.5"]["NCHW"],
                          explain(net, x, "lrp.epsilon", epsilon=0.5))
    assert np.array_equal(reference["explanations"]["lrp.epsilon"]["NCHW"], explain(net, x, "lrp.epsilon",
                                                                                    epsilon=1e-3))
    with np.load(tmp_path / "extra.npz", allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    arrays["x.NCHW"] = arrays["x.NCHW"] + 1
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    with pytest.raises(ValueError, match="computed on other x.NCHW"):
        golden.merge_option_sets(main_file, {"bad": buffer.getvalue()})


def test_an_error_above_its_bound_is_written_and_exits_1_and_a_failed_write_exits_3(tmp_path, monkeypatch, capsys):
    pytest.importorskip("mpmath")
    monkeypatch.setitem(golden.ULP_BOUNDS, "gradient", 0.0)  # rounding alone now exceeds it
    out = tmp_path / "strict"
    assert main(["golden", "--out", str(out), "--networks", "dense_relu", "--samples", "1"]) == 1
    assert "a certified error exceeds its bound" in capsys.readouterr().out
    manifest = json.loads((out / "manifest.json").read_text())
    certificate = manifest["networks"]["dense_relu"]["certificate"]
    assert manifest["certificate"]["within_bounds"] is False and certificate["within_bounds"] is False
    assert not certificate["methods"]["gradient"]["within_bound"] and certificate["methods"]["lrp.z"]["within_bound"]
    monkeypatch.undo()

    def disk_full(contents):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(golden, "write_files_atomically", disk_full)
    before = sorted((p.name, p.read_bytes()) for p in out.iterdir())
    assert main(["golden", "--out", str(out), "--networks", "dense_relu", "--samples", "1", "--no-certify"]) == 3
    assert "cannot write the golden suite" in capsys.readouterr().err
    assert sorted((p.name, p.read_bytes()) for p in out.iterdir()) == before
