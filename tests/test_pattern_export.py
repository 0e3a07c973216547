"""Patterns in PyTorch and Keras layouts and as iNNvestigate 1.x's list (docs/conventions.md#pattern-export):
each checked by the layouts module's inverse, an explicit loop, a channels-last forward pass, or iNNvestigate's
own formula evaluated on channels-last observations."""

import numpy as np
import pytest
from conftest import random_cnn
from framework_emulation import keras_forward

import refpattern as rp
from refpattern.interop import (
    conv_weight_from_keras,
    dense_weight_from_keras,
    export_patterns,
    innvestigate_patterns,
    nchw_to_nhwc,
    network_weights,
)


@pytest.fixture(scope="module")
def fitted():
    net = random_cnn(seed=5, paddings=(((0, 1), (2, 0)), "same"))
    train = np.random.default_rng(6).normal(size=(60, 2, 9, 9))
    return net, train, rp.fit_patterns(net, train, "a+-", backend="numpy")


def test_keras_export_and_the_layouts_inverse_give_the_patterns_back(fitted):
    net, train, patterns = fitted
    torch = export_patterns(patterns, net, "torch")
    keras = export_patterns(patterns, net, "keras")
    assert [entry["index"] for entry in keras] == list(net.kernel_indices)
    assert [entry["type"] for entry in keras] == ["Conv2D", "Conv2D", "Dense", "Dense"]
    for k, (t, e) in enumerate(zip(torch, keras)):
        for field in ("a_plus", "a_minus"):
            original = getattr(patterns[k], field)
            assert np.array_equal(t[field], original) and t[field] is not original
            back = conv_weight_from_keras(e[field]) if e["type"] == "Conv2D" else \
                dense_weight_from_keras(e[field], e["flattened_from"])
            assert np.array_equal(back, original)
    assert keras[2]["flattened_from"] == (4, 3, 4) and keras[3]["flattened_from"] is None
    single = rp.fit_patterns(net, train, "a", backend="numpy")
    (first, *_) = export_patterns(single, net, "keras")
    assert set(first) == {"kernel_index", "index", "type", "flattened_from", "a"}
    assert np.array_equal(conv_weight_from_keras(first["a"]), single[0].a)


def test_the_flatten_permutation_of_the_exported_dense_pattern_against_an_explicit_loop(fitted):
    net, _, patterns = fitted
    dense = export_patterns(patterns, net, "keras")[2]
    channels, height, width = dense["flattened_from"]
    a_plus = patterns[2].a_plus  # (out, C·H·W) in refpattern's (c, h, w) order
    keras = dense["a_plus"]
    assert keras.shape == (channels * height * width, a_plus.shape[0])
    k = 0
    for h in range(height):
        for w in range(width):
            for c in range(channels):  # Keras flattens (H, W, C): channels vary fastest
                for o in range(a_plus.shape[0]):
                    assert keras[k, o] == a_plus[o, (c * height + h) * width + w]
                k += 1


def test_keras_patterns_run_channels_last_as_the_torch_patterns_run_in_refpattern(fitted):
    """Put each exported pattern where its kernel was: the Keras-layout network, run channels-last from its
    definition, gives the same outputs as refpattern's network with the torch-layout patterns as weights."""
    net, _, patterns = fitted
    x = np.random.default_rng(7).normal(size=(3, 2, 9, 9))
    torch = {entry["index"]: entry["a_plus"] for entry in export_patterns(patterns, net, "torch")}
    keras = {entry["index"]: entry["a_plus"] for entry in export_patterns(patterns, net, "keras")}
    swapped = rp.Sequential([layer.with_parameters(torch[i], layer.bias) if i in torch else layer
                             for i, layer in enumerate(net.layers)], input_shape=net.input_shape)
    layers = network_weights(net, "keras")[:-1]
    for layer in layers:
        if layer["index"] in keras:
            layer["kernel"] = keras[layer["index"]]
    np.testing.assert_allclose(keras_forward(layers, nchw_to_nhwc(x)), swapped.logits(x), rtol=1e-12, atol=1e-12)


def safe_divide(a, b):
    """iNNvestigate's ``a / (b + (b == 0))``: 0 where nothing was observed (a dead neuron)."""
    return a / (b + (b == 0))


def innvestigate_relu_patterns(layers, x_nhwc):
    """iNNvestigate 1.x's ``ReLUPositivePattern`` written out on channels-last observations (innvestigate/tools/
    pattern.py): per kernel layer, X the neuron-wise inputs (Dense: the flat input; Conv2D: each padded window
    flattened in (kh, kw, in) order), Y = X·K without bias, mask = output with bias > 0;
    mean_x = Σ mask·X / count, mean_xy = Σ mask·X·Y / count, mean_y = Σ Y / N (all observations);
    A = (mean_xy − mean_x·mean_y) / diag(Kᵀ(mean_xy − mean_x·mean_y)), reshaped to the kernel's shape; every
    division is iNNvestigate's safe one."""
    found, a = [], x_nhwc
    for layer in layers:
        if layer["type"] in ("Dense", "Conv2D"):
            kernel = layer["kernel"]
            if layer["type"] == "Dense":
                observations = a
            else:
                (top, bottom), (left, right) = layer["padding"]
                padded = np.pad(a, ((0, 0), (top, bottom), (left, right), (0, 0)))
                kh, kw = kernel.shape[:2]
                sh, sw = layer["strides"]
                oh, ow = (padded.shape[1] - kh) // sh + 1, (padded.shape[2] - kw) // sw + 1
                observations = np.array([padded[n, p * sh:p * sh + kh, q * sw:q * sw + kw, :].ravel()
                                         for n in range(a.shape[0]) for p in range(oh) for q in range(ow)])
            flat_kernel = kernel.reshape(-1, kernel.shape[-1])
            y = observations @ flat_kernel
            mask = (y + layer["bias"] > 0).astype(float)
            count = mask.sum(axis=0)
            mean_x = safe_divide(observations.T @ mask, count)
            mean_xy = safe_divide(observations.T @ (y * mask), count)
            mean_y = y.mean(axis=0)
            covariance = mean_xy - mean_x * mean_y
            found.append(safe_divide(covariance, np.diag(flat_kernel.T @ covariance)[None, :]).reshape(kernel.shape))
        a = keras_forward([layer], a)
    return found


def test_the_innvestigate_list_is_one_keras_array_per_kernel_layer_equal_to_a_plus(fitted):
    net, train, patterns = fitted
    listed = innvestigate_patterns(patterns, net)
    assert [array.shape for array in listed] == [(3, 3, 2, 3), (2, 3, 3, 4), (48, 6), (6, 3)]
    conv = patterns[0].a_plus
    for o, c, i, j in np.ndindex(*conv.shape):
        assert listed[0][i, j, c, o] == conv[o, c, i, j]
    assert np.array_equal(listed[3], patterns[3].a_plus.T)
    keras = export_patterns(patterns, net, "keras")
    assert all(np.array_equal(array, entry["a_plus"]) for array, entry in zip(listed, keras))
    # and it is what iNNvestigate's own formula gives on the channels-last data (up to rounding)
    expected = innvestigate_relu_patterns(network_weights(net, "keras")[:-1], nchw_to_nhwc(train))
    for array, reference in zip(listed, expected):
        np.testing.assert_allclose(array, reference, rtol=1e-9, atol=1e-12 * np.abs(reference).max())
    single = rp.fit_patterns(net, train, "a", backend="numpy")
    assert np.array_equal(innvestigate_patterns(single, net)[3], single[3].a.T)


def test_export_refuses_what_it_cannot_export(fitted):
    net, train, patterns = fitted
    identity = rp.fit_patterns(net, train[:10], "x", backend="numpy")
    with pytest.raises(ValueError, match="estimator 'x' has no fixed pattern to export"):
        export_patterns(identity, net)
    with pytest.raises(ValueError, match="layout must be one of"):
        export_patterns(patterns, net, "caffe")
    shapeless = rp.Sequential(net.layers)
    with pytest.raises(ValueError, match=r"export_patterns: the Keras layout needs input_shape="):
        innvestigate_patterns(patterns, shapeless)
    assert np.array_equal(innvestigate_patterns(patterns, shapeless, input_shape=(2, 9, 9))[2],
                          innvestigate_patterns(patterns, net)[2])
    other = random_cnn(seed=5, classes=4, paddings=(((0, 1), (2, 0)), "same"))
    with pytest.raises(ValueError, match="kernel layer 3"):
        export_patterns(patterns, other)
    with pytest.raises(TypeError, match="must be a refpattern.Patterns"):
        export_patterns([p.a_plus for p in patterns], net)
