"""from_onnx: the converted network's logits equal a float64 run of the same graph (≤ 1e-12 relative), and every
operator or setting it cannot convert is refused by node index and name (docs/conventions.md#converters).

What each graph is compared with:

- graphs without Conv: onnxruntime, which runs Gemm, MatMul, Add, Relu, MaxPool, Flatten, Reshape, Softmax and
  BatchNormalization in float64;
- graphs with Conv (onnxruntime's CPU Conv has no float64 kernel): ONNX's own reference implementation,
  ``onnx.reference.ReferenceEvaluator``, in float64 — and onnxruntime on the same graph cast to float32, to the
  float32 tolerance, so that the padding rules (``SAME_UPPER``/``SAME_LOWER``, asymmetric pads) are also those of
  onnxruntime;
- graphs exported from PyTorch (``torch.onnx.export``): the float64 torch module they came from.

Skipped when onnx is not installed (the README's test command does not install it; CI's peer stage does)."""

import io
import warnings

import numpy as np
import pytest

from refpattern.interop import UnsupportedLayerError, from_onnx
from refpattern.testing import FLOAT32_TOLERANCE

onnx = pytest.importorskip("onnx", reason="onnx is not installed (pip install \"refpattern[onnx]\")")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

pytestmark = pytest.mark.peers


def relative_error(actual, expected):
    return float(np.max(np.abs(actual - expected)) / np.max(np.abs(expected)))


def make_model(nodes, initializers, input_shape, opset=17, element_type=TensorProto.DOUBLE, output_rank=2):
    graph = helper.make_graph(
        nodes, "chain", [helper.make_tensor_value_info("x", element_type, input_shape)],
        [helper.make_tensor_value_info(nodes[-1].output[0], element_type, [None] * output_rank)],
        [numpy_helper.from_array(np.asarray(value), name) for name, value in initializers.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(model)
    return model


def as_float32(nodes, initializers, input_shape, opset=17):
    return make_model(nodes, {name: (value.astype(np.float32) if value.dtype == np.float64 else value)
                              for name, value in initializers.items()}, input_shape, opset, TensorProto.FLOAT)


def onnxruntime_run(model, x):
    onnxruntime = pytest.importorskip("onnxruntime")
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


def dense_graph(rng, with_batchnorm=True):
    """Flatten → Gemm (transB=1, alpha, beta) → BatchNormalization → Relu → MatMul + Add → Dropout → Identity →
    Softmax; MatMul's matrix passes through an Identity node first (as torch's exporter renames shared weights)."""
    nodes = [
        helper.make_node("Identity", ["W2 stored"], ["W2"], name="rename"),
        helper.make_node("Flatten", ["x"], ["flat"], name="flatten"),
        helper.make_node("Gemm", ["flat", "W1", "b1"], ["g"], name="gemm", transB=1, alpha=0.5, beta=2.0),
        helper.make_node("BatchNormalization", ["g", "gamma", "beta", "mean", "var"], ["bn"], name="bn",
                         epsilon=1e-3),
        helper.make_node("Relu", ["bn"], ["r"], name="relu"),
        helper.make_node("MatMul", ["r", "W2"], ["m"], name="matmul"),
        helper.make_node("Add", ["b2", "m"], ["logits"], name="bias"),
        helper.make_node("Dropout", ["logits"], ["d"], name="dropout"),
        helper.make_node("Identity", ["d"], ["i"], name="identity"),
        helper.make_node("Softmax", ["i"], ["p"], name="softmax"),
    ]
    initializers = {"W1": rng.normal(size=(6, 12)), "b1": rng.normal(size=(1, 6)), "W2 stored": rng.normal(size=(6, 3)),
                    "b2": rng.normal(size=3), "gamma": rng.normal(size=6), "beta": rng.normal(size=6),
                    "mean": rng.normal(size=6), "var": rng.uniform(0.5, 2.0, size=6)}
    if not with_batchnorm:
        nodes = [node for node in nodes if node.op_type != "BatchNormalization"]
        nodes[2] = helper.make_node("Gemm", ["flat", "W1", "b1"], ["bn"], name="gemm", transB=1, alpha=0.5, beta=2.0)
    return nodes, initializers


def test_gemm_matmul_batchnorm_graph_equals_onnxruntime_float64():
    rng = np.random.default_rng(0)
    nodes, initializers = dense_graph(rng)
    model = make_model(nodes, initializers, [None, 3, 2, 2])
    net = from_onnx(model)
    assert [type(layer).__name__ for layer in net.layers] == ["Flatten", "Dense", "ReLU", "Dense", "Softmax"]
    x = rng.normal(size=(5, 3, 2, 2))
    probabilities = onnxruntime_run(model, x)
    assert probabilities.dtype == np.float64
    logits_model = make_model(nodes[:7], initializers, [None, 3, 2, 2])
    logits = onnxruntime_run(logits_model, x)
    error = relative_error(net.logits(x), logits)
    print(f"from_onnx logits vs onnxruntime float64 (Gemm, BatchNormalization, MatMul + Add): {error:.2e}")
    assert error <= 1e-12
    assert relative_error(net.forward(x), probabilities) <= 1e-12


def conv_graph(rng, first_padding, pool_padding=None):
    """Conv (stride 2, ``first_padding``) → BatchNormalization → Relu → MaxPool → Conv (asymmetric explicit pads,
    no bias) → Relu → Reshape [0, −1] → Gemm → Softmax, on an even 8 × 8 input."""
    pool = {"kernel_shape": [2, 2], "strides": [2, 2]} if pool_padding is None else pool_padding
    nodes = [
        helper.make_node("Conv", ["x", "W1", "B1"], ["c1"], name="conv1", strides=[2, 2], kernel_shape=[3, 3],
                         **first_padding),
        helper.make_node("BatchNormalization", ["c1", "gamma", "beta", "mean", "var"], ["bn"], name="bn"),
        helper.make_node("Relu", ["bn"], ["r1"], name="relu1"),
        helper.make_node("MaxPool", ["r1"], ["p1"], name="pool", **pool),
        helper.make_node("Conv", ["p1", "W2"], ["c2"], name="conv2", pads=[0, 1, 2, 0]),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("Reshape", ["r2", "shape"], ["flat"], name="reshape"),
        helper.make_node("Gemm", ["flat", "W3", "B3"], ["logits"], name="gemm", transB=1),
        helper.make_node("Softmax", ["logits"], ["p"], name="softmax"),
    ]
    initializers = {"W1": rng.normal(size=(3, 2, 3, 3)), "B1": rng.normal(size=3), "gamma": rng.normal(size=3),
                    "beta": rng.normal(size=3), "mean": rng.normal(size=3), "var": rng.uniform(0.5, 2.0, size=3),
                    "W2": rng.normal(size=(4, 3, 2, 2)), "shape": np.array([0, -1], dtype=np.int64),
                    "W3": rng.normal(size=(3, 4 * 3 * 2)), "B3": rng.normal(size=3)}
    return nodes, initializers


PADDINGS = {
    "same_upper": ({"auto_pad": "SAME_UPPER"}, ((0, 1), (0, 1))),  # 8 at stride 2, kernel 3: the odd zero after
    "same_lower": ({"auto_pad": "SAME_LOWER"}, ((1, 0), (1, 0))),  # the odd zero before
    "explicit": ({"pads": [1, 0, 0, 1]}, ((1, 0), (0, 1))),  # [top, left, bottom, right]
    "valid": ({"auto_pad": "VALID"}, ((0, 0), (0, 0))),
}


@pytest.mark.parametrize("name", PADDINGS)
def test_conv_graph_equals_onnx_reference_float64_and_onnxruntime_float32(name):
    rng = np.random.default_rng(1)
    padding, pads = PADDINGS[name]
    size = 9 if name == "valid" else 8  # VALID: 9 → 4 → 2, like the others' 8 → 4 → 2
    nodes, initializers = conv_graph(rng, padding)
    model = make_model(nodes, initializers, [None, 2, size, size])
    net = from_onnx(model)
    assert net.layers[0].pads((size, size)) == pads
    assert net.layers[3].padding == ((0, 2), (1, 0))
    x = rng.normal(size=(4, 2, size, size))
    logits_model = make_model(nodes[:-1], initializers, [None, 2, size, size])
    reference = ReferenceEvaluator(logits_model).run(None, {"x": x})[0]
    assert reference.dtype == np.float64
    error = relative_error(net.logits(x), reference)
    print(f"from_onnx ({name}) logits vs onnx.reference float64: {error:.2e}")
    assert error <= 1e-12
    runtime32 = onnxruntime_run(as_float32(nodes[:-1], initializers, [None, 2, size, size]), x.astype(np.float32))
    assert relative_error(net.logits(x), runtime32) <= FLOAT32_TOLERANCE.rtol


def test_maxpool_same_padding_accepted_only_where_it_pads_nothing():
    rng = np.random.default_rng(2)
    nodes, initializers = conv_graph(rng, {"auto_pad": "SAME_UPPER"},
                                     {"kernel_shape": [2, 2], "strides": [2, 2], "auto_pad": "SAME_UPPER"})
    net = from_onnx(make_model(nodes, initializers, [None, 2, 8, 8]))  # 4 × 4 pooled 2 by 2: no padding
    x = rng.normal(size=(2, 2, 8, 8))
    reference = ReferenceEvaluator(make_model(nodes[:-1], initializers, [None, 2, 8, 8])).run(None, {"x": x})[0]
    assert relative_error(net.logits(x), reference) <= 1e-12
    nodes, initializers = conv_graph(rng, {"auto_pad": "SAME_UPPER"},
                                     {"kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "SAME_UPPER"})
    with pytest.raises(UnsupportedLayerError, match=r"node 3 \('pool'\), MaxPool.*pads this input by"):
        from_onnx(make_model(nodes, initializers, [None, 2, 8, 8]))


@pytest.mark.parametrize("dynamo", [False, True], ids=["torchscript_exporter", "dynamo_exporter"])
def test_graph_exported_from_torch_equals_the_torch_module(dynamo):
    torch = pytest.importorskip("torch")
    if dynamo:
        pytest.importorskip("onnxscript")
    nn = torch.nn
    torch.manual_seed(0)
    module = nn.Sequential(nn.Conv2d(2, 3, 3, stride=2, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                           nn.Conv2d(3, 4, 2, padding="same"), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 2 * 2, 3),
                           nn.BatchNorm1d(3)).double().eval()
    # ONNX stores epsilon as a float32 attribute: give the module float32(1e-5) so that graph and module agree
    # (with torch's 1e-5 the exported graph itself differs from the module by ~1e-13)
    module[-1].eps = float(np.float32(1e-5))
    with torch.no_grad():
        module[-1].running_mean.normal_()
        module[-1].running_var.uniform_(0.5, 2.0)
    example = (torch.zeros(1, 2, 8, 8, dtype=torch.float64),)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dynamo:  # torch's default exporter; a fixed batch of 1, so Flatten becomes Reshape to [1, -1]
            model = torch.onnx.export(module, example, dynamo=True, verbose=False).model_proto
        else:
            buffer = io.BytesIO()
            torch.onnx.export(module, example, buffer, dynamo=False, input_names=["x"], output_names=["logits"],
                              dynamic_axes={"x": {0: "N"}})
            model = onnx.load_from_string(buffer.getvalue())
    net = from_onnx(model)
    x = np.random.default_rng(3).normal(size=(5, 2, 8, 8))
    with torch.no_grad():
        expected = module(torch.from_numpy(x)).numpy()
    error = relative_error(net.logits(x), expected)
    print(f"from_onnx (torch.onnx.export: {[node.op_type for node in model.graph.node]}) vs the torch module: "
          f"{error:.2e}")
    assert error <= 1e-12


def test_file_and_bytes_are_read(tmp_path):
    rng = np.random.default_rng(4)
    nodes, initializers = dense_graph(rng, with_batchnorm=False)
    model = make_model(nodes, initializers, [None, 12])
    path = tmp_path / "model.onnx"
    onnx.save(model, str(path))
    x = rng.normal(size=(3, 12))
    expected = from_onnx(model).logits(x)
    np.testing.assert_array_equal(from_onnx(path).logits(x), expected)
    np.testing.assert_array_equal(from_onnx(model.SerializeToString()).logits(x), expected)
    with pytest.raises(TypeError, match="expected an onnx.ModelProto"):
        from_onnx(42)


def single(op, inputs=("x",), initializers=None, input_shape=(None, 2, 6, 6), **attributes):
    """x → (a Conv that converts) → ``op`` → output, the op at node 1 named "target"."""
    rng = np.random.default_rng(5)
    values = {"W": rng.normal(size=(2, 2, 1, 1))}
    values.update(initializers or {})
    nodes = [helper.make_node("Conv", ["x", "W"], ["c"], name="conv"),
             helper.make_node(op, ["c" if name == "x" else name for name in inputs], ["y"], name="target",
                              **attributes)]
    return make_model(nodes, values, list(input_shape), output_rank=2 if op in ("Flatten", "Reshape", "Gemm") else 4)


REFUSED = [
    (lambda: single("Conv", ("x", "W2"), {"W2": np.ones((2, 1, 3, 3))}, group=2), r"group=2; only group=1"),
    (lambda: single("Conv", ("x", "W2"), {"W2": np.ones((2, 2, 3, 3))}, dilations=[2, 2]), r"dilations=\[2, 2\]"),
    (lambda: single("AveragePool", kernel_shape=[2, 2]), r"AveragePool is not supported; from_onnx converts"),
    (lambda: single("Sigmoid"), r"Sigmoid is not supported"),
    (lambda: single("MaxPool", kernel_shape=[2, 2], pads=[1, 1, 1, 1]), r"pads this input by"),
    (lambda: single("MaxPool", kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1), r"ceil_mode=1 on an input"),
    (lambda: single("Flatten", axis=2), r"axis=2; only axis=1"),
    (lambda: single("Reshape", ("x", "s"), {"s": np.array([0, 2, -1], dtype=np.int64)}),
     r"shape \[0, 2, -1\].*only a flatten to \(N, 72\)"),
    (lambda: single("Softmax", axis=1), r"axis=1 on a per-sample shape \(2, 6, 6\)"),
    (lambda: single("BatchNormalization", ("x", "g", "g", "g", "g"), {"g": np.ones(2)}, training_mode=1),
     r"training_mode=1"),
    (lambda: single("Add", ("x", "x")), r"reads \['c', 'c'\], not just the chain's current tensor"),
    (lambda: single("Mul", ("x", "k"), {"k": np.ones(1)}), r"Mul is not supported"),
    (lambda: single("Gemm", ("x", "B"), {"B": np.ones((2, 72))}, transA=1), r"transA=1"),
]


@pytest.mark.parametrize("build, message", REFUSED, ids=[str(i) for i in range(len(REFUSED))])
def test_refusals_name_the_node(build, message):
    with pytest.raises(UnsupportedLayerError, match=message) as info:
        from_onnx(build())
    assert info.value.position == "node 1 ('target')" and info.value.converter == "from_onnx"


def test_graph_level_refusals():
    rng = np.random.default_rng(6)
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="relu"), helper.make_node("Relu", ["x"], ["b"], name="two")]
    with pytest.raises(UnsupportedLayerError, match=r"node 1 \('two'\).*reads \['x'\], not just the chain's current "
                                                    r"tensor 'a' \(a branch or a merge\)"):
        from_onnx(make_model(nodes, {}, [None, 4]))
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="relu"), helper.make_node("Relu", ["a"], ["b"], name="r2")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.DOUBLE, [None, 4])],
                              [helper.make_tensor_value_info("a", TensorProto.DOUBLE, None)])
    with pytest.raises(UnsupportedLayerError, match=r"graph output 'a'.*is not the last node's output 'b'"):
        from_onnx(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    with pytest.raises(ValueError, match=r"graph input 'x' has shape \['\?', 4, '\?', 6\]"):
        from_onnx(make_model([helper.make_node("Relu", ["x"], ["y"])], {}, [None, 4, None, 6], output_rank=4))
    weights = {"W": rng.normal(size=(2, 2, 1, 1))}
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu"),
             helper.make_node("BatchNormalization", ["r", "g", "g", "g", "g"], ["y"], name="bn")]
    with pytest.raises(UnsupportedLayerError, match=r"node 1 \('bn'\).*directly before it, and this one follows "
                                                    r"ReLU"):
        from_onnx(make_model(nodes, {**weights, "g": np.ones(2)}, [None, 2, 3, 3], output_rank=4))
