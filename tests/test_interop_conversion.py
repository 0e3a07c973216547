"""What the converters share, without any framework: BatchNorm folding against the unfolded formula,
the chain builder's refusals, and the ImportError that names the extra when a framework is missing
(docs/conventions.md#converters)."""

import pathlib
import subprocess
import sys

import numpy as np
import pytest

import refpattern as rp
from refpattern.interop import UnsupportedLayerError, fold_batchnorm, from_keras, from_onnx, from_torch
from refpattern.interop.conversion import ChainBuilder


@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_folded_layer_equals_kernel_then_batchnorm(kind):
    """W'x + b' = γ (Wx + b − μ) / sqrt(σ² + eps) + β, the BatchNorm computed after the layer as written."""
    rng = np.random.default_rng(0)
    gamma, beta, mean = rng.normal(size=4), rng.normal(size=4), rng.normal(size=4)
    variance, eps = rng.uniform(0.2, 2.0, size=4), 1e-3
    if kind == "dense":
        layer = rp.Dense(rng.normal(size=(4, 5)), rng.normal(size=4))
        x = rng.normal(size=(3, 5))
        axis = (slice(None),)
    else:
        layer = rp.Conv2D(rng.normal(size=(4, 2, 3, 3)), rng.normal(size=4), stride=2, padding=((0, 1), (1, 0)))
        x = rng.normal(size=(3, 2, 6, 7))
        axis = (slice(None), None, None)
    z = layer.forward(x)
    expected = gamma[axis] * (z - mean[axis]) / np.sqrt(variance[axis] + eps) + beta[axis]
    given = [np.array(a) for a in (layer.weight, layer.bias, gamma, beta, mean, variance)]
    weight, bias = fold_batchnorm(*given, eps)
    folded = layer.with_parameters(weight, bias).forward(x)
    np.testing.assert_allclose(folded, expected, rtol=1e-13, atol=1e-13 * np.abs(expected).max())
    for array, original in zip(given, (layer.weight, layer.bias, gamma, beta, mean, variance)):
        np.testing.assert_array_equal(array, original)  # nothing passed in is modified


def test_fold_batchnorm_refuses_bad_statistics():
    weight, ones = np.ones((2, 3)), np.ones(2)
    with pytest.raises(ValueError, match=r"variance \+ epsilon must be > 0.*channels \[1\]"):
        fold_batchnorm(weight, ones, ones, ones, ones, np.array([1.0, -1.0]), 0.5)
    with pytest.raises(ValueError, match=r"gamma must have shape \(2,\)"):
        fold_batchnorm(weight, ones, np.ones(3), ones, ones, ones, 1e-5)


def test_chain_builder_refusals_name_the_layer_and_position():
    builder = ChainBuilder("from_test", (2, 6, 6))
    with pytest.raises(UnsupportedLayerError, match=r"from_test: layer 0 \('bn'\), BN: .* is the first layer") as info:
        builder.fold_batchnorm("layer 0 ('bn')", "BN", *np.ones((4, 2)), 1e-5)
    assert info.value.position == "layer 0 ('bn')" and info.value.layer == "BN"
    builder.add(rp.Conv2D(np.ones((2, 2, 3, 3))), "layer 0", "conv")
    builder.add(rp.ReLU(), "layer 1", "relu")
    with pytest.raises(UnsupportedLayerError, match=r"layer 2, BN: .* this one follows ReLU"):
        builder.fold_batchnorm("layer 2", "BN", *np.ones((4, 2)), 1e-5)
    builder.add(rp.Flatten(), "layer 3", "flatten")
    with pytest.raises(ValueError, match=r"layer 4, dense: does not fit its input of per-sample shape \(32,\)"):
        builder.add(rp.Dense(np.ones((3, 5))), "layer 4", "dense")
    builder.add(rp.Dense(np.ones((3, 32))), "layer 4", "dense")
    builder.add(rp.Softmax(), "layer 5", "softmax")
    with pytest.raises(UnsupportedLayerError, match=r"layer 6, relu: comes after the softmax at layer 5"):
        builder.add(rp.ReLU(), "layer 6", "relu")
    net = builder.network()
    assert net.input_shape == (2, 6, 6) and len(net) == 5
    with pytest.raises(ValueError, match="converts to no layer"):
        ChainBuilder("from_test", (3,)).network()
    with pytest.raises(ValueError, match=r"input_shape must be the per-sample shape \(C, H, W\) or \(F,\)"):
        ChainBuilder("from_test", (1, 2))


@pytest.mark.parametrize("module, extra, convert", [
    ("torch", "torch", lambda: from_torch(object(), (1,))),
    ("keras", "keras", lambda: from_keras(object())),
    ("onnx", "onnx", lambda: from_onnx("model.onnx")),
])
def test_missing_framework_names_the_extra(monkeypatch, module, extra, convert):
    monkeypatch.setitem(sys.modules, module, None)  # makes "import <module>" fail as if it were not installed
    with pytest.raises(ImportError, match=rf'{module} is not installed.*pip install "refpattern\[{extra}\]"'):
        convert()


def test_importing_interop_imports_no_framework():
    """The frameworks are extras: refpattern.interop (converters included) imports none of them until called."""
    code = ("import sys, refpattern, refpattern.interop, refpattern.testing\n"
            "loaded = sorted({'torch', 'keras', 'onnx', 'onnxruntime', 'tensorflow'} & set(sys.modules))\n"
            "assert not loaded, loaded\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            cwd=pathlib.Path(__file__).resolve().parents[1])
    assert result.returncode == 0, result.stderr
