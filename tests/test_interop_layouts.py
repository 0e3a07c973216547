"""Layouts between refpattern (= PyTorch) and Keras channels-last, each checked against an explicit loop
or an independent channels-last forward pass (docs/conventions.md#interop-layouts)."""

import numpy as np
import pytest
from conftest import random_cnn
from framework_emulation import keras_forward

import refpattern as rp
from refpattern.interop import (
    FRAMEWORK_EXTRAS,
    conv_weight_from_keras,
    conv_weight_to_keras,
    dense_weight_from_keras,
    dense_weight_to_keras,
    flatten_permutation,
    import_framework,
    layer_padding,
    nchw_to_nhwc,
    network_weights,
    nhwc_to_nchw,
)


def test_image_layouts_against_an_explicit_loop():
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 5))
    y = nchw_to_nhwc(x)
    assert y.shape == (2, 4, 5, 3) and y.flags.c_contiguous
    for n, c, h, w in np.ndindex(*x.shape):
        assert y[n, h, w, c] == x[n, c, h, w]
    np.testing.assert_array_equal(nhwc_to_nchw(y), x)
    flat = np.arange(6.0).reshape(2, 3)
    out = nchw_to_nhwc(flat)
    np.testing.assert_array_equal(out, flat)
    assert out is not flat
    with pytest.raises(ValueError, match=r"expected a batch of images \(N, C, H, W\)"):
        nchw_to_nhwc(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match=r"\(N, H, W, C\)"):
        nhwc_to_nchw(np.zeros(3))


@pytest.mark.parametrize("dtype", [object, bool, complex, "U1"])
@pytest.mark.parametrize("function, shape", [(nchw_to_nhwc, (1, 2, 3, 3)), (nhwc_to_nchw, (1, 3, 3, 2)),
                                             (nchw_to_nhwc, (1, 4)), (conv_weight_to_keras, (1, 2, 3, 3)),
                                             (dense_weight_from_keras, (4, 2))])
def test_layout_functions_refuse_what_is_not_real_numbers(function, shape, dtype):
    """The image layouts transposed an object, bool, complex or string array as it came, and the weight layouts
    took a complex one; a layout of real numbers is what refpattern, Keras and PyTorch read."""
    given = np.zeros(shape, dtype=dtype)
    with pytest.raises(TypeError, match=rf"^{function.__name__}.*expected a real numeric array.*got dtype"):
        function(given)


def test_layout_functions_keep_integer_and_float_dtypes():
    x = np.arange(24, dtype=np.int32).reshape(1, 2, 3, 4)
    for function, dtype in ((nchw_to_nhwc, np.int32), (nhwc_to_nchw, np.int32)):
        assert function(x).dtype == dtype
    assert nchw_to_nhwc(x.astype(np.float32)).dtype == np.float32
    assert nchw_to_nhwc(x)[0, 1, 2, 1] == x[0, 1, 1, 2]


@pytest.mark.parametrize("shape", [(3, 4, 5), (1, 2, 2), (2, 1, 3)])
def test_flatten_permutation_against_an_explicit_loop(shape):
    """Keras flattens (H, W, C): its k-th feature, in loop order h, w, c, is refpattern's (c·H + h)·W + w."""
    channels, height, width = shape
    expected = [(c * height + h) * width + w for h in range(height) for w in range(width) for c in range(channels)]
    permutation = flatten_permutation(*shape)
    np.testing.assert_array_equal(permutation, expected)
    x = np.random.default_rng(1).normal(size=(2,) + shape)
    np.testing.assert_array_equal(x.reshape(2, -1)[:, permutation], nchw_to_nhwc(x).reshape(2, -1))
    with pytest.raises(ValueError, match="channels must be a positive int"):
        flatten_permutation(0, 2, 2)


def test_weight_layouts_round_trip_and_match_explicit_loops():
    rng = np.random.default_rng(2)
    w = rng.normal(size=(4, 3, 2, 5))
    kernel = conv_weight_to_keras(w)
    for o, c, i, j in np.ndindex(*w.shape):
        assert kernel[i, j, c, o] == w[o, c, i, j]
    np.testing.assert_array_equal(conv_weight_from_keras(kernel), w)
    dense = rng.normal(size=(6, 3 * 2 * 5))
    keras_dense = dense_weight_to_keras(dense, flattened_from=(3, 2, 5))
    permutation = flatten_permutation(3, 2, 5)
    for k, o in np.ndindex(*keras_dense.shape):
        assert keras_dense[k, o] == dense[o, permutation[k]]
    np.testing.assert_array_equal(dense_weight_from_keras(keras_dense, flattened_from=(3, 2, 5)), dense)
    np.testing.assert_array_equal(dense_weight_to_keras(dense), dense.T)
    with pytest.raises(ValueError, match="has 24 features, the weight has 30 inputs"):
        dense_weight_to_keras(dense, flattened_from=(3, 2, 4))
    with pytest.raises(ValueError, match=r"expected 4 axes \(out, in, kh, kw\)"):
        conv_weight_to_keras(dense)


def test_keras_layout_forward_gives_refpattern_logits():
    """The whole network in the Keras layout, run channels-last: the same logits (Flatten permutation
    included; the random CNN has stride, asymmetric kernel, one-sided padding and overlapping pools)."""
    net = random_cnn(seed=9)
    x = np.random.default_rng(3).normal(size=(4, 2, 9, 9))
    layers = network_weights(net, "keras")[:-1]  # without the Softmax: logits
    logits = keras_forward(layers, nchw_to_nhwc(x))
    np.testing.assert_allclose(logits, net.logits(x), rtol=1e-12, atol=1e-12)
    # without the permutation the first Dense reads its inputs in the wrong order
    unpermuted = [dict(layer) for layer in layers]
    first_dense = next(layer for layer in unpermuted if layer["type"] == "Dense")
    first_dense["kernel"] = dense_weight_to_keras(net.layers[first_dense["index"]].weight)
    assert not np.allclose(keras_forward(unpermuted, nchw_to_nhwc(x)), net.logits(x))


def test_torch_layout_is_refpattern_own_and_copies():
    net = random_cnn(seed=10)
    layers = network_weights(net)
    assert [layer["type"] for layer in layers] == [type(layer).__name__ for layer in net.layers]
    conv = layers[0]
    np.testing.assert_array_equal(conv["weight"], net.layers[0].weight)
    assert conv["stride"] == (2, 2) and conv["padding"] == ((1, 1), (1, 1)) and conv["kernel_size"] == (3, 3)
    assert layers[3]["padding"] == ((1, 1), (0, 0))
    assert layers[2]["kernel_size"] == (2, 2) and layers[2]["stride"] == (1, 1)
    assert conv["input_shape"] == (2, 9, 9) and conv["output_shape"] == (3, 5, 5)
    conv["weight"][...] = 0.0  # a copy: the network is untouched
    assert np.any(net.layers[0].weight != 0)


def test_network_weights_refuses_what_it_cannot_order():
    net = random_cnn()
    shapeless = rp.Sequential(net.layers)
    with pytest.raises(ValueError, match=r"Keras layout needs input_shape= \(C, H, W\)"):
        network_weights(shapeless, "keras")
    assert network_weights(shapeless, "keras", input_shape=(2, 9, 9))[6]["flattened_from"] == (4, 5, 2)
    assert "input_shape" not in network_weights(shapeless)[0]
    with pytest.raises(ValueError, match="layout must be one of"):
        network_weights(net, "caffe")
    with pytest.raises(TypeError, match="must be a refpattern.Sequential"):
        network_weights(net.layers)
    with pytest.raises(ValueError, match="layer_padding"):
        layer_padding(rp.ReLU())


def test_missing_framework_names_the_extra_to_install():
    with pytest.raises(ImportError, match=r'pip install "refpattern\[torch\]"') as raised:
        import_framework("refpattern_no_such_framework", extra="torch")
    assert "refpattern_no_such_framework is not installed" in str(raised.value)
    assert FRAMEWORK_EXTRAS["tensorflow"] == "keras" and FRAMEWORK_EXTRAS["onnxruntime"] == "onnx"
    assert import_framework("json").dumps([1]) == "[1]"


def test_same_padding_is_written_out_for_the_input_size():
    """A "same" Conv2D gets the explicit pads of its input size in every layout (stride 2, even input:
    the odd zero at the bottom/right), and refuses without an input size."""
    from refpattern.interop.layouts import layer_padding

    layer = rp.Conv2D(np.ones((2, 1, 3, 3)), stride=2, padding="same")
    net = rp.Sequential([layer], input_shape=(1, 6, 8))
    for layout in ("torch", "keras"):
        (entry,) = network_weights(net, layout)
        assert entry["padding"] == ((0, 1), (0, 1)) == layer.pads((6, 8))
    with pytest.raises(ValueError, match="depends on the input size"):
        layer_padding(layer)
