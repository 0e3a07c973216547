"""Adversarial inputs to building networks and bringing models in: each refusal is a TypeError/ValueError that
names the layer or argument (never a ZeroDivisionError, AttributeError, IndexError or a silently wrong shape),
and what is legal gives the number an independent computation gives (docs/conventions.md#float64,
docs/conventions.md#converters)."""

import io
import math

import numpy as np
import pytest

import refpattern as rp
from refpattern.interop import export_patterns, innvestigate_patterns, network_weights
from refpattern.network import Conv2D, Dense, Flatten, MaxPool2D, ReLU, Sequential, Softmax
from refpattern.network.file_format import checksum, network_arrays

rng = np.random.default_rng(0)


# --- kernel layers with an empty axis -----------------------------------------------------------------------

@pytest.mark.parametrize("make, name", [
    (lambda: Dense(np.zeros((0, 3))), "Dense weight"),
    (lambda: Dense(np.zeros((3, 0))), "Dense weight"),
    (lambda: Conv2D(np.zeros((2, 1, 0, 3))), "Conv2D weight"),  # an empty window gave H + 1 outputs of bias
    (lambda: Conv2D(np.zeros((0, 1, 3, 3))), "Conv2D weight"),
    (lambda: Conv2D(np.zeros((2, 0, 3, 3))), "Conv2D weight"),
])
def test_a_weight_with_an_empty_axis_is_refused(make, name):
    with pytest.raises(ValueError, match=f"{name}: .*every axis >= 1"):
        make()


def test_a_network_file_with_an_empty_kernel_is_refused(tmp_path):
    net = Sequential([Conv2D(rng.normal(size=(2, 1, 3, 3))), Flatten()], input_shape=(1, 4, 4))
    arrays = network_arrays(net.layers, net.input_shape)
    arrays["layer_0.weight"] = np.zeros((2, 1, 0, 3))
    arrays["checksum"] = np.array(checksum(arrays))  # re-signed: only the consistency check can catch it
    path = tmp_path / "empty.npz"
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=r"empty\.npz: layer 0 \(Conv2D\): .*every axis >= 1"):
        Sequential.load(path)


# --- .he(...) -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("call, error, name", [
    (lambda: Dense.he(0, 2, rng), ValueError, "Dense.he n_in"),  # was ZeroDivisionError
    (lambda: Dense.he(-2, 2, rng), ValueError, "Dense.he n_in"),  # was a NaN standard deviation
    (lambda: Dense.he(3, 0, rng), ValueError, "Dense.he n_out"),
    (lambda: Dense.he(2.5, 2, rng), TypeError, "Dense.he n_in"),
    (lambda: Dense.he(True, 2, rng), TypeError, "Dense.he n_in"),
    (lambda: Dense.he(3, 2, None), TypeError, "Dense.he rng"),  # was AttributeError
    (lambda: Dense.he(3, 2, 0), TypeError, "Dense.he rng"),
    (lambda: Dense.he(3, 2, rng, bias="a"), TypeError, "Dense.he bias"),
    (lambda: Dense.he(3, 2, rng, bias=np.inf), ValueError, "Dense.he bias"),
    (lambda: Conv2D.he(0, 2, 3, rng), ValueError, "Conv2D.he in_ch"),  # was ZeroDivisionError
    (lambda: Conv2D.he(-1, 2, 3, rng), ValueError, "Conv2D.he in_ch"),
    (lambda: Conv2D.he(1, 2.0, 3, rng), TypeError, "Conv2D.he out_ch"),
    (lambda: Conv2D.he(1, 2, 3, None), TypeError, "Conv2D.he rng"),
    (lambda: Conv2D.he(1, 2, 3, rng, bias=None), TypeError, "Conv2D.he bias"),
    (lambda: Conv2D.he(1, 2, 3, rng, bias=np.array([1.0, 2.0])), TypeError, "Conv2D.he bias"),
])
def test_he_refuses_bad_arguments_by_name(call, error, name):
    with pytest.raises(error, match=name):
        call()


def test_he_accepts_numpy_scalars_and_draws_the_he_distribution():
    dense = Dense.he(np.int64(4), np.int32(3), np.random.default_rng(7), bias=np.float32(0.5))
    expected = np.random.default_rng(7).normal(0.0, math.sqrt(2.0 / 4), size=(3, 4))
    np.testing.assert_array_equal(dense.weight, expected)
    np.testing.assert_array_equal(dense.bias, np.full(3, 0.5))
    conv = Conv2D.he(np.int64(2), 3, (1, 2), np.random.default_rng(7), bias=-1)
    np.testing.assert_array_equal(conv.weight, np.random.default_rng(7).normal(0.0, math.sqrt(2.0 / 4), (3, 2, 1, 2)))
    np.testing.assert_array_equal(conv.bias, np.full(3, -1.0))


# --- layer methods called directly ----------------------------------------------------------------------------

x4 = rng.normal(size=(2, 1, 4, 4))


@pytest.mark.parametrize("call, error, layer", [
    (lambda: ReLU().forward(x4.tolist()), TypeError, "ReLU"),
    (lambda: ReLU().forward(x4 > 0), TypeError, "ReLU"),
    (lambda: ReLU().forward(np.array(1.0)), ValueError, "ReLU"),
    (lambda: ReLU().backward(x4, np.ones((1, 1, 4, 4))), ValueError, "ReLU"),  # broadcast to a (1, …) answer before
    (lambda: ReLU().backward(x4, np.ones((2, 1, 4, 5))), ValueError, "ReLU"),
    (lambda: Flatten().forward(np.array(1.0)), ValueError, "Flatten"),  # was IndexError
    (lambda: Flatten().forward(x4.tolist()), TypeError, "Flatten"),  # was AttributeError
    (lambda: Flatten().backward(x4, np.ones((2, 16)).tolist()), TypeError, "Flatten"),
    (lambda: Flatten().backward(x4, np.ones((1, 16))), ValueError, "Flatten"),
    (lambda: Softmax().forward(np.ones((2, 3)) > 0), TypeError, "Softmax"),
    (lambda: Softmax().forward(x4), ValueError, "Softmax"),
    (lambda: Softmax().backward(np.ones((2, 3)), np.ones((2, 4))), ValueError, "Softmax"),
    (lambda: Dense(np.ones((3, 4))).backward(np.ones((2, 4)).tolist(), np.ones((2, 3))), TypeError, "Dense"),
    (lambda: Conv2D(np.ones((2, 1, 3, 3))).backward(x4.tolist(), np.ones((2, 2, 2, 2))), TypeError, "Conv2D"),
])
def test_layer_methods_refuse_bad_arrays_naming_the_layer(call, error, layer):
    with pytest.raises(error, match=layer):
        call()


def test_parameter_free_layers_compute_their_equations():
    x = rng.normal(size=(3, 2, 2, 2))
    grad = rng.normal(size=x.shape)
    np.testing.assert_array_equal(ReLU().backward(x, grad), np.where(x > 0, grad, 0.0))
    np.testing.assert_array_equal(Flatten().forward(x), np.stack([sample.ravel() for sample in x]))
    assert Flatten().forward(x[:0]).shape == (0, 8)  # an empty batch: NumPy cannot infer -1 from it
    z = rng.normal(size=(3, 4))
    g = rng.normal(size=(3, 4))
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    jacobian_product = np.stack([(np.diag(pi) - np.outer(pi, pi)) @ gi for pi, gi in zip(p, g)])
    np.testing.assert_allclose(Softmax().backward(z, g), jacobian_product, rtol=1e-13, atol=1e-15)


def test_flatten_counts_features_without_int64_wraparound():
    # np.prod wrapped (2**32)**2 around to 0 features
    assert Flatten().output_shape((2 ** 32, 2 ** 32)) == (2 ** 64,)


# --- Sequential ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("input_shape, error", [
    ((2.7,), TypeError),  # was truncated to (2,)
    ((True,), TypeError),
    ("12", TypeError),  # was read as (1, 2)
    (5, TypeError),
    ((None, 3), TypeError),
    ((0,), ValueError),
    ((-3,), ValueError),  # was accepted by a ReLU-only network
    ((), ValueError),
    (np.array([2.0]), TypeError),
])
def test_sequential_refuses_a_malformed_input_shape(input_shape, error):
    with pytest.raises(error, match="Sequential input_shape"):
        Sequential([ReLU()], input_shape=input_shape)


def test_sequential_accepts_integer_input_shapes_of_every_kind():
    for shape in [(3,), [3], np.array([3]), (np.int64(3),)]:
        assert Sequential([Dense(np.ones((2, 3)))], input_shape=shape).input_shape == (3,)


@pytest.mark.parametrize("layers", [Dense(np.ones((2, 2))), None, "ReLU"])
def test_sequential_refuses_layers_that_are_not_a_sequence_of_layers(layers):
    with pytest.raises(TypeError, match="Sequential: layer"):
        Sequential(layers)


# --- export ---------------------------------------------------------------------------------------------------

def test_innvestigate_patterns_of_a_network_without_kernel_layers_is_an_empty_list():
    net = Sequential([ReLU(), Flatten()], input_shape=(2, 2, 2))
    patterns = rp.fit_patterns(net, rng.normal(size=(16, 2, 2, 2)))
    assert innvestigate_patterns(patterns, net) == []  # was IndexError


def test_layouts_refuse_a_float_input_shape_instead_of_truncating_it():
    net = Sequential([Conv2D.he(2, 3, 3, rng, padding="same"), ReLU(), Flatten(), Dense.he(48, 2, rng)],
                     input_shape=(2, 4, 4))
    patterns = rp.fit_patterns(net, rng.normal(size=(32, 2, 4, 4)))
    with pytest.raises(TypeError, match="input_shape"):
        export_patterns(patterns, net, "keras", input_shape=(2.5, 4, 4))  # was read as (2, 4, 4)
    with pytest.raises(TypeError, match="input_shape"):
        network_weights(net, "keras", input_shape=(2.9, 4, 4))


# --- converters (peers) ---------------------------------------------------------------------------------------

@pytest.mark.peers
def test_from_torch_names_the_module_whose_weights_are_not_finite():
    torch = pytest.importorskip("torch")
    conv = torch.nn.Conv2d(1, 2, 3)
    with torch.no_grad():
        conv.weight[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"from_torch: layer 1 \('1'\), Conv2d.*Conv2D weight: contains NaN"):
        rp.interop.from_torch(torch.nn.Sequential(torch.nn.ReLU(), conv), (1, 8, 8))


@pytest.mark.peers
def test_from_torch_refuses_what_it_would_silently_get_wrong():
    torch = pytest.importorskip("torch")
    nn = torch.nn

    class Doubled(nn.Sequential):
        def forward(self, x):
            return 2 * super().forward(x)

    class Plain(nn.Sequential):
        pass

    with pytest.raises(rp.interop.UnsupportedLayerError, match="the model, Doubled: overrides nn.Sequential.forward"):
        rp.interop.from_torch(Doubled(nn.Linear(3, 2)), (3,))  # was converted without the factor 2
    hooked = nn.Sequential(nn.Linear(3, 2))
    hooked[0].register_forward_hook(lambda module, inputs, output: 2 * output)
    with pytest.raises(rp.interop.UnsupportedLayerError, match=r"layer 0 \('0'\).*forward hooks"):
        rp.interop.from_torch(hooked, (3,))
    with pytest.raises(rp.interop.UnsupportedLayerError, match=r"layer 0 \('0'\).*complex"):
        rp.interop.from_torch(nn.Sequential(nn.Linear(3, 2).to(torch.complex64)), (3,))  # imaginary part dropped
    with pytest.raises(rp.interop.UnsupportedLayerError, match=r"layer 0 \('0'\).*meta device"):
        rp.interop.from_torch(nn.Sequential(nn.Linear(3, 2, device="meta")), (3,))  # was NotImplementedError
    plain = Plain(nn.Linear(3, 2)).double()  # a subclass that keeps nn.Sequential.forward converts as before
    x = rng.normal(size=(4, 3))
    np.testing.assert_allclose(rp.interop.from_torch(plain, (3,)).forward(x),
                               plain(torch.from_numpy(x)).detach().numpy(), rtol=1e-14)


@pytest.mark.peers
def test_from_onnx_refuses_unreadable_bytes_and_names_the_node_of_a_bad_weight():
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    with pytest.raises(ValueError, match="from_onnx: could not read an ONNX model"):
        rp.interop.from_onnx(b"garbage")  # was protobuf's DecodeError
    graph = helper.make_graph([helper.make_node("Conv", ["x", "W"], ["y"], name="conv")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.DOUBLE, [1, 1, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.DOUBLE, None)],
                              [numpy_helper.from_array(np.full((2, 1, 3, 3), np.nan), "W")])
    with pytest.raises(ValueError, match=r"from_onnx: node 0 \('conv'\), Conv: Conv2D weight: contains NaN"):
        rp.interop.from_onnx(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))


def test_network_file_round_trip_is_unchanged_by_the_new_checks():
    net = Sequential([Conv2D.he(1, 2, 3, rng, padding="same"), ReLU(), MaxPool2D(2), Flatten(), Dense.he(8, 3, rng),
                      Softmax()], input_shape=(1, 4, 4))
    buffer = io.BytesIO()
    net.save(buffer)
    buffer.seek(0)
    x = rng.normal(size=(3, 1, 4, 4))
    np.testing.assert_array_equal(Sequential.load(buffer).forward(x), net.forward(x))


# --------------------------------------------------------------------------------------
# sizes beyond what an image in memory can have (docs/conventions.md#geometry-limit)
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("make, name", [
    (lambda v: rp.Conv2D(np.ones((2, 1, 3, 3)), np.zeros(2), stride=v), "Conv2D stride"),
    (lambda v: rp.Conv2D(np.ones((2, 1, 3, 3)), np.zeros(2), padding=v), "Conv2D padding"),
    (lambda v: rp.MaxPool2D(v), "MaxPool2D size"),
    (lambda v: rp.MaxPool2D(2, stride=v), "MaxPool2D stride"),
])
@pytest.mark.parametrize("value", [2 ** 31, 2 ** 70])
def test_sizes_past_the_ceiling_are_refused_naming_the_argument(make, name, value):
    # before: a stride of 2**70 reached the Numba kernels and failed there with a TypingError
    with pytest.raises(ValueError, match=f"{name}.*2\\*\\*31 - 1"):
        make(value)


def test_a_stride_at_the_ceiling_is_one_window_like_any_stride_past_the_image():
    rng = np.random.default_rng(0)
    weight, bias, x = rng.normal(size=(2, 1, 3, 3)), rng.normal(size=2), rng.normal(size=(3, 1, 4, 4))
    at_ceiling = rp.Sequential([rp.Conv2D(weight, bias, stride=2 ** 31 - 1), rp.Flatten()], input_shape=(1, 4, 4))
    past_image = rp.Sequential([rp.Conv2D(weight, bias, stride=2), rp.Flatten()], input_shape=(1, 4, 4))
    # only the window at (0, 0) fits either way: y = Σ W·x[:, :, :3, :3] + b
    direct = np.einsum("ocij,ncij->no", weight, x[:, :, :3, :3]) + bias
    np.testing.assert_allclose(at_ceiling.forward(x), direct, rtol=1e-13)
    np.testing.assert_array_equal(at_ceiling.forward(x), past_image.forward(x))
    np.testing.assert_array_equal(rp.explain(at_ceiling, x, "gradient", target=1),
                                  rp.explain(past_image, x, "gradient", target=1))


def test_padding_no_array_could_hold_is_refused_when_the_network_is_built():
    # before: NumPy's "Maximum allowed dimension exceeded" at forward time, naming no layer
    layer = rp.Conv2D(np.ones((2, 1, 3, 3)), np.zeros(2), padding=2 ** 29)
    with pytest.raises(ValueError, match="layer 0 .*Conv2D.*exceeds 2\\*\\*60"):
        rp.Sequential([layer, rp.Flatten()], input_shape=(1, 4, 4))
