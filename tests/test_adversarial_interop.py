"""Adversarial cases of the converters and layouts (docs/conventions.md#converters,
docs/conventions.md#interop-layouts): models that convert but would compute something else than the
framework's own forward pass, and layout functions that must return new arrays.

The framework tests are marked ``peers`` and skip when their framework is not installed."""

import os

import numpy as np
import pytest

import refpattern as rp

peers = pytest.mark.peers


def relative_error(actual, expected):
    return float(np.max(np.abs(actual - expected)) / np.max(np.abs(expected)))


# -- PyTorch ---------------------------------------------------------------------------------------

@pytest.fixture
def torch():
    return pytest.importorskip("torch", reason="torch is not installed (pip install \"refpattern[torch]\")")


@peers
def test_a_module_held_twice_in_the_chain_is_converted_at_each_place_it_runs(torch):
    """nn.Sequential.forward runs a shared ReLU, Linear or Sequential once per place; named_children() yields it
    once, which dropped the second ReLU / Linear and changed the logits by 10-50 % (found by an audit)."""
    from refpattern.interop import from_torch

    nn = torch.nn
    torch.manual_seed(0)
    relu, square, block = nn.ReLU(), nn.Linear(5, 5), nn.Sequential(nn.Linear(5, 5), nn.ReLU())
    model = nn.Sequential(nn.Linear(4, 5), relu, square, relu, square, block, block, nn.Linear(5, 3)).double()
    net = from_torch(model, (4,))
    assert len(net.layers) == 10  # Linear, ReLU, (Linear, ReLU) × 2 through `square`/`relu`, block × 2, Linear
    x = np.random.default_rng(0).normal(size=(6, 4))
    inputs = torch.from_numpy(x).requires_grad_(True)
    logits = model(inputs)
    assert relative_error(net.forward(x), logits.detach().numpy()) <= 1e-12
    targets = logits.argmax(dim=1)
    logits.gather(1, targets[:, None]).sum().backward()
    assert relative_error(rp.explain(net, x, "gradient", target=targets.numpy()), inputs.grad.numpy()) <= 1e-12


@peers
def test_global_forward_hooks_are_refused(torch):
    """register_module_forward_hook runs on every module and may change its output (here: doubles every Linear)."""
    from refpattern.interop import UnsupportedLayerError, from_torch

    model = torch.nn.Sequential(torch.nn.Linear(4, 3))
    registration = torch.nn.modules.module.register_module_forward_hook(lambda module, inputs, output: 2 * output)
    try:
        with pytest.raises(UnsupportedLayerError, match=r"from_torch: the model, Sequential: global forward hooks "
                                                        r"are registered \(_global_forward_hooks"):
            from_torch(model, (4,))
    finally:
        registration.remove()
    assert len(from_torch(model, (4,)).layers) == 1  # once removed, the model converts


def _double_the_input_gradient(module, grad_input, grad_output):
    return tuple(None if grad is None else 2 * grad for grad in grad_input)


def _double_the_output_gradient(module, grad_output):
    return tuple(2 * grad for grad in grad_output)


_BACKWARD_HOOKS = {  # kind → (how to register it on the model below, the refusal expected)
    "full on a layer": (lambda torch, model: model[0].register_full_backward_hook(_double_the_input_gradient),
                        r"layer 0 \('0'\), Linear.*: has backward hooks \(_backward_hooks, by "
                        r"register_full_backward_hook\)"),
    "full pre on a layer": (lambda torch, model: model[2].register_full_backward_pre_hook(_double_the_output_gradient),
                            r"layer 3 \('2'\), Linear.*: has backward hooks \(_backward_pre_hooks, by "
                            r"register_full_backward_pre_hook\)"),
    "legacy on a nested Sequential": (lambda torch, model: model[1].register_backward_hook(_double_the_input_gradient),
                                      r"'1', Sequential: has backward hooks \(_backward_hooks, by "
                                      r"register_backward_hook\)"),
    "full on the model": (lambda torch, model: model.register_full_backward_hook(_double_the_input_gradient),
                          r"the model, Sequential: has backward hooks \(_backward_hooks, by "
                          r"register_full_backward_hook\)"),
    "global full": (lambda torch, model: torch.nn.modules.module.register_module_full_backward_hook(
                        _double_the_input_gradient),
                    r"the model, Sequential: global backward hooks are registered \(_global_backward_hooks, by "
                    r"torch.nn.modules.module.register_module_full_backward_hook\)"),
    "global full pre": (lambda torch, model: torch.nn.modules.module.register_module_full_backward_pre_hook(
                            _double_the_output_gradient),
                        r"the model, Sequential: global backward hooks are registered \(_global_backward_pre_hooks, "
                        r"by torch.nn.modules.module.register_module_full_backward_pre_hook\)"),
}


@peers
@pytest.mark.parametrize("kind", sorted(_BACKWARD_HOOKS))
def test_backward_hooks_are_refused_naming_the_module_and_the_hook(torch, kind):
    """A backward hook leaves the forward pass as it is but changes torch's gradient (here: doubles it), which the
    user compares refpattern's with; it converted without a word (found by an audit)."""
    from refpattern.interop import UnsupportedLayerError, from_torch

    nn = torch.nn
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 5), nn.Sequential(nn.ReLU(), nn.Linear(5, 5)), nn.Linear(5, 3)).double()
    x = np.random.default_rng(0).normal(size=(3, 4))
    register, refusal = _BACKWARD_HOOKS[kind]
    handle = register(torch, model)
    try:
        with pytest.raises(UnsupportedLayerError, match=r"^from_torch: " + refusal + r".*remove them first"):
            from_torch(model, (4,))
    finally:
        handle.remove()
    net = from_torch(model, (4,))  # once removed, the model converts and the gradients agree
    inputs = torch.from_numpy(x).requires_grad_(True)
    model(inputs)[:, 1].sum().backward()
    assert relative_error(rp.explain(net, x, "gradient", target=1), inputs.grad.numpy()) <= 1e-12



# -- Keras ------------------------------------------------------------------------------------------

@pytest.fixture
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")  # Keras 3 without TensorFlow: run it on torch
    keras = pytest.importorskip("keras", reason="Keras is not installed (pip install \"refpattern[keras]\")")
    previous, previous_policy = keras.config.floatx(), keras.config.dtype_policy()
    keras.config.set_floatx("float64")
    keras.config.set_dtype_policy("float64")
    keras.utils.set_random_seed(0)
    yield keras
    keras.config.set_floatx(previous)
    keras.config.set_dtype_policy(previous_policy)


def _user_classes(keras):
    """Classes a user may write: named like Keras layers and models, computing something else."""
    layers = keras.layers

    class ReLU(layers.Layer):  # a leaky ReLU under Keras' name
        def call(self, x):
            return keras.ops.where(x > 0, x, 0.1 * x)

    class Dense(layers.Dense):  # a Dense subclass that scales its output, under the name Dense
        def call(self, x):
            return 2.0 * super().call(x)

    class Sequential(keras.Sequential):  # a Sequential whose call is not the chain
        def call(self, x, training=None, mask=None):
            return 2.0 * super().call(x, training=training, mask=mask)

    return ReLU, Dense, Sequential


@peers
@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy:DeprecationWarning")
@pytest.mark.parametrize("case", ["layer named ReLU", "Dense subclass named Dense", "Sequential overriding call",
                                  "nested Sequential overriding call"])
def test_user_classes_named_like_keras_ones_are_refused(keras, case):
    """Layers were recognised by their class name alone: a user's ReLU or Dense converted to refpattern's and a
    Sequential's own call() was ignored, each converting silently to other logits (found by an audit)."""
    from refpattern.interop import UnsupportedLayerError, from_keras

    layers = keras.layers
    ReLU, Dense, Sequential = _user_classes(keras)
    if case == "layer named ReLU":
        model, match = keras.Sequential([keras.Input((4,)), layers.Dense(3), ReLU(), layers.Dense(2)]), \
            r"layer 1 \('re_lu.*'\), ReLU: ReLU is defined in '.*', not by Keras"
    elif case == "Dense subclass named Dense":
        model, match = keras.Sequential([keras.Input((4,)), Dense(3)]), \
            r"layer 0 \('dense.*'\), Dense \(units=3.*is defined in '.*', not by Keras"
    elif case == "Sequential overriding call":
        model, match = Sequential([keras.Input((4,)), layers.Dense(3)]), \
            r"model 'sequential.*', Sequential: overrides call"
    else:
        inner = Sequential([keras.Input((4,)), layers.Dense(3)])
        model, match = keras.Sequential([keras.Input((4,)), inner, layers.Dense(2)]), \
            r"model 0 \('sequential.*'\), Sequential: overrides call"
    with pytest.raises(UnsupportedLayerError, match=match):
        from_keras(model)


@peers
@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy:DeprecationWarning")
def test_a_subclass_that_keeps_keras_call_still_converts(keras):
    from refpattern.interop import from_keras

    class Plain(keras.Sequential):
        pass

    model = Plain([keras.Input((4,)), keras.layers.Dense(3, activation="relu"), keras.layers.Dense(2)])
    net = from_keras(model)
    x = np.random.default_rng(0).normal(size=(5, 4))
    weights = model.get_weights()
    expected = np.maximum(x @ weights[0] + weights[1], 0.0) @ weights[2] + weights[3]  # Keras' Dense, by hand
    assert relative_error(net.forward(x), expected) <= 1e-12


@peers
@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy:DeprecationWarning")
def test_an_input_shape_that_contradicts_the_models_own_is_refused(keras):
    from refpattern.interop import from_keras, nhwc_to_nchw

    model = keras.Sequential([keras.Input((8, 8, 2)), keras.layers.Conv2D(3, 3), keras.layers.ReLU(),
                              keras.layers.Conv2D(1, 6)])
    # before: converted for 10×10 inputs, a network the Keras model (fixed at 8×8) is not
    with pytest.raises(ValueError, match=r"input_shape \(10, 10, 2\) contradicts the model's own input shape"):
        from_keras(model, input_shape=(10, 10, 2))
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 2))
    same = from_keras(model, input_shape=(8, 8, 2))  # the model's own shape, given again: the same network
    keras_out = keras.ops.convert_to_numpy(model(x)).reshape(2, -1)
    assert relative_error(same.forward(nhwc_to_nchw(x)).reshape(2, -1), keras_out) <= 1e-12


# -- ONNX -------------------------------------------------------------------------------------------

@pytest.fixture
def onnx():
    return pytest.importorskip("onnx", reason="onnx is not installed (pip install \"refpattern[onnx]\")")


def _opset_6_gemm_then(onnx, op, is_test):
    """x (N, 4) → Gemm → ``op`` (Dropout or BatchNormalization), at opset 6 (IR 3: initializers are graph inputs too),
    ``is_test`` given or (None) left at its default; with the weights, for the computation by hand."""
    helper, rng = onnx.helper, np.random.default_rng(0)
    weights = {"W": rng.normal(size=(4, 3)), "b": rng.normal(size=3), "scale": rng.uniform(0.5, 2.0, 3),
               "B": rng.normal(size=3), "mean": rng.normal(size=3), "var": rng.uniform(0.5, 2.0, 3)}
    attributes = {} if is_test is None else {"is_test": is_test}
    nodes = [helper.make_node("Gemm", ["x", "W", "b"], ["h"], name="gemm"),
             helper.make_node("Dropout", ["h"], ["y"], name="drop", ratio=0.5, **attributes) if op == "Dropout" else
             helper.make_node("BatchNormalization", ["h", "scale", "B", "mean", "var"], ["y"], name="norm",
                              **attributes)]
    used = ("W", "b") if op == "Dropout" else tuple(weights)
    initializers = [onnx.numpy_helper.from_array(weights[name], name) for name in used]
    double = onnx.TensorProto.DOUBLE
    inputs = [helper.make_tensor_value_info("x", double, [None, 4])] + \
        [helper.make_tensor_value_info(name, double, list(weights[name].shape)) for name in used]
    graph = helper.make_graph(nodes, "opset6", inputs, [helper.make_tensor_value_info("y", double, [None, 3])],
                              initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 6)], ir_version=3)
    onnx.checker.check_model(model)
    return model, weights


@peers
@pytest.mark.parametrize("op", ["Dropout", "BatchNormalization"])
@pytest.mark.parametrize("is_test", [None, 0])
def test_opset_6_training_mode_is_test_is_refused_naming_the_node(onnx, op, is_test):
    """Before opset 7, is_test=0 (its default) is training mode: random dropout, batch statistics. Both converted
    silently as inference (Dropout left out, BatchNormalization folded with the running statistics)."""
    from refpattern.interop import UnsupportedLayerError, from_onnx

    model, _ = _opset_6_gemm_then(onnx, op, is_test)
    node = "'drop'" if op == "Dropout" else "'norm'"
    given = "no is_test \\(default 0\\)" if is_test is None else "is_test=0"
    with pytest.raises(UnsupportedLayerError, match=rf"from_onnx: node 1 \({node}\), {op}.*: {given} at opset 6 is "
                                                    "training mode"):
        from_onnx(model)


@peers
@pytest.mark.parametrize("op", ["Dropout", "BatchNormalization"])
def test_opset_6_inference_is_test_1_converts_to_the_inference_formula(onnx, op):
    from refpattern.interop import from_onnx

    model, w = _opset_6_gemm_then(onnx, op, 1)
    x = np.random.default_rng(1).normal(size=(5, 4))
    expected = x @ w["W"] + w["b"]  # Gemm; Dropout in test mode is Y = X
    if op == "BatchNormalization":  # epsilon's default, a float32 attribute: float32(1e-5)
        expected = w["scale"] * (expected - w["mean"]) / np.sqrt(w["var"] + float(np.float32(1e-5))) + w["B"]
    assert relative_error(from_onnx(model).forward(x), expected) <= 1e-12


_EMPTY_MODELS = [  # what is given → what the message says came
    (b"", r"the 0 bytes given parse as an onnx.ModelProto with no graph"),
    (b"\x08\x07", r"the 2 bytes given parse as an onnx.ModelProto with no graph"),
    (b":\x00", r"the 2 bytes given parse as an onnx.ModelProto with an empty graph"),
    ("empty file", r"the file '.*empty.onnx' parses as an onnx.ModelProto with no graph"),
    ("ModelProto()", r"the onnx.ModelProto given is one with no graph"),
]


@peers
@pytest.mark.parametrize("given, came", _EMPTY_MODELS)
def test_bytes_that_parse_as_an_empty_model_are_not_an_onnx_model(onnx, tmp_path, given, came):
    """Protobuf parses empty bytes (and others: b"\\x08\\x07" is a lone ir_version=7) as a ModelProto without a
    graph, which from_onnx reported as a graph with "0 inputs and 0 outputs" instead of "not an ONNX model"."""
    from refpattern.interop import UnsupportedLayerError, from_onnx

    if given == "empty file":
        given = tmp_path / "empty.onnx"
        given.write_bytes(b"")
    elif given == "ModelProto()":
        given = onnx.ModelProto()
    with pytest.raises(ValueError, match=r"^from_onnx: not an ONNX model: " + came) as raised:
        from_onnx(given)
    assert not isinstance(raised.value, UnsupportedLayerError)  # nothing in it was a layer


# -- layouts ----------------------------------------------------------------------------------------

def _layout_calls():
    from refpattern.interop import (
        conv_weight_from_keras,
        conv_weight_to_keras,
        dense_weight_from_keras,
        dense_weight_to_keras,
        nchw_to_nhwc,
        nhwc_to_nchw,
    )
    # each with an axis of size 1, where the transposed view is already C-contiguous
    return [(nchw_to_nhwc, (2, 1, 3, 3)), (nchw_to_nhwc, (2, 3, 1, 1)), (nhwc_to_nchw, (2, 3, 3, 1)),
            (nhwc_to_nchw, (2, 1, 1, 3)), (conv_weight_to_keras, (1, 1, 3, 3)), (conv_weight_from_keras, (3, 3, 1, 1)),
            (dense_weight_to_keras, (1, 6)), (dense_weight_from_keras, (6, 1))]


@pytest.mark.parametrize("index", range(8))
def test_layout_functions_return_new_arrays_when_an_axis_has_size_1(index):
    """With one channel, a 1 × 1 map or one output the transposed view is contiguous and was returned as is:
    writing into the result wrote into the caller's array (found by an audit)."""
    function, shape = _layout_calls()[index]
    given = np.random.default_rng(index).normal(size=shape)
    kept = given.copy()
    result = function(given)
    assert not np.shares_memory(result, given) and result.flags.c_contiguous
    assert np.array_equal(result.reshape(-1), kept.reshape(-1))  # a size-1 axis moves: the same order of values
    result[...] = 0.0
    assert np.array_equal(given, kept)


@pytest.mark.parametrize("index", range(8))
def test_layout_functions_refuse_masked_arrays_instead_of_dropping_the_mask(index):
    """numpy.asarray dropped the mask: a masked entry came back as a plain value, its mask gone (found by an audit).
    Refused like masked parameters elsewhere in refpattern (docs/conventions.md#input-acceptance)."""
    function, shape = _layout_calls()[index]
    values = np.random.default_rng(index).normal(size=shape)
    mask = np.zeros(shape, dtype=bool)
    mask.flat[0] = True
    given = np.ma.MaskedArray(values, mask=mask)
    with pytest.raises(TypeError, match=rf"^{function.__name__}.*: a masked array is refused"):
        function(given)
    assert np.array_equal(given.data, values) and np.array_equal(given.mask, mask)  # nothing given was changed


def test_export_of_a_one_output_layer_does_not_share_the_patterns_arrays():
    from refpattern.interop import export_patterns, innvestigate_patterns, network_weights

    rng = np.random.default_rng(0)
    net = rp.Sequential([rp.Dense(rng.normal(size=(4, 6))), rp.ReLU(), rp.Dense(rng.normal(size=(1, 4)))],
                        input_shape=(6,))
    patterns = rp.fit_patterns(net, rng.normal(size=(40, 6)), estimator="a", progress=False)
    exported = export_patterns(patterns, net, "keras")[1]["a"]
    assert np.array_equal(exported, patterns[1].a.T) and not np.shares_memory(exported, patterns[1].a)
    assert not np.shares_memory(innvestigate_patterns(patterns, net)[1], patterns[1].a)
    kernel = network_weights(net, "keras")[2]["kernel"]
    assert np.array_equal(kernel, net.layers[2].weight.T) and not np.shares_memory(kernel, net.layers[2].weight)
    kernel[...] = 0.0  # writable: a new array, not the layer's read-only weight


@pytest.mark.parametrize("flattened_from", [24, 2.5, object()])
def test_a_flattened_from_that_is_no_shape_is_a_type_error_naming_it(flattened_from):
    """Was Python's bare "'int' object is not iterable", naming neither the function nor the argument."""
    from refpattern.interop import dense_weight_from_keras, dense_weight_to_keras

    weight = np.ones((5, 24))
    with pytest.raises(TypeError, match=r"dense_weight_to_keras: flattened_from must be the \(C, H, W\) shape"):
        dense_weight_to_keras(weight, flattened_from)
    with pytest.raises(TypeError, match=r"dense_weight_from_keras: flattened_from must be the \(C, H, W\) shape"):
        dense_weight_from_keras(weight.T, flattened_from)
