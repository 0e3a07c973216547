"""Bad input raises a ValueError/TypeError that names the problem; inputs are never modified."""

import numpy as np
import pytest
from conftest import random_cnn

import refpattern as rp


@pytest.fixture
def x():
    return np.random.default_rng(0).normal(size=(2, 2, 9, 9))


def test_wrong_rank(cnn):
    with pytest.raises(ValueError, match=r"expected 2 input channels|\(C, H, W\)|per-sample shape"):
        rp.explain(cnn, np.zeros((2, 9, 9)), "gradient")


def test_wrong_rank_without_declared_input_shape():
    net = random_cnn()
    net = rp.Sequential(net.layers)  # no input_shape: checked at the call, naming the layer
    with pytest.raises(ValueError, match=r"layer 0 \(Conv2D"):
        rp.explain(net, np.zeros((2, 9, 9)), "gradient")


def test_wrong_channel_count():
    net = rp.Sequential(random_cnn().layers)
    with pytest.raises(ValueError, match="expected 2 input channels, got 3"):
        net.logits(np.zeros((1, 3, 9, 9)))


def test_dense_shape_mismatch_names_the_layer():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"layer 2 \(Dense\(in=7, out=2\)\): expected input of size 7, got 5"):
        rp.Sequential([rp.Dense(rng.normal(size=(5, 4))), rp.ReLU(), rp.Dense(rng.normal(size=(2, 7)))],
                      input_shape=(4,))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_input(cnn, x, bad):
    x[1, 0, 3, 3] = bad
    with pytest.raises(ValueError, match="NaN or inf"):
        rp.explain(cnn, x, "gradient")


@pytest.mark.parametrize("array", [np.zeros((1, 2, 9, 9), dtype=int), np.zeros((1, 2, 9, 9), dtype=bool),
                                   np.zeros((1, 2, 9, 9), dtype=object), np.zeros((1, 2, 9, 9), dtype=complex)])
def test_non_float_input(cnn, array):
    with pytest.raises(TypeError, match="floating-point array"):
        rp.explain(cnn, array, "gradient")


def test_list_input_is_refused(cnn):
    with pytest.raises(TypeError, match="numpy.ndarray"):
        rp.explain(cnn, [[0.0]], "gradient")


@pytest.mark.parametrize("target, error, message", [
    (3, ValueError, "out of range"), (-1, ValueError, "out of range"), ([0, 5], ValueError, "out of range"),
    ([0], ValueError, "one int per sample"), (1.5, TypeError, "expected"), (True, TypeError, "expected"),
    (np.array([0.0, 1.0]), TypeError, "integers"),
])
def test_bad_target(cnn, x, target, error, message):
    with pytest.raises(error, match=message):
        rp.explain(cnn, x, "gradient", target=target)


def test_unknown_method_and_option(cnn, x):
    with pytest.raises(ValueError, match="unknown method 'lrp.magic'"):
        rp.explain(cnn, x, "lrp.magic")
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['epsilon'\]"):
        rp.explain(cnn, x, "gradient", epsilon=1.0)
    with pytest.raises(ValueError, match="unknown option"):
        rp.explain(cnn, x, "lrp.epsilon", alpha=1.0)
    with pytest.raises(TypeError, match="method"):
        rp.explain(cnn, x, 42)


def test_softmax_must_be_last():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="layer 1 is a Softmax but is not the last"):
        rp.Sequential([rp.Dense(rng.normal(size=(3, 4))), rp.Softmax(), rp.Dense(rng.normal(size=(2, 3)))])


def test_bad_layer_parameters():
    with pytest.raises(ValueError, match="Conv2D weight"):
        rp.Conv2D(np.zeros((3, 3)))
    with pytest.raises(TypeError, match="Conv2D stride"):
        rp.Conv2D(np.zeros((1, 1, 2, 2)), stride=1.5)
    with pytest.raises(ValueError, match="Conv2D padding"):
        rp.Conv2D(np.zeros((1, 1, 2, 2)), padding=-1)
    with pytest.raises(ValueError, match="Dense bias"):
        rp.Dense(np.zeros((3, 2)), np.zeros(2))
    with pytest.raises(ValueError, match="NaN or inf"):
        rp.Dense(np.full((3, 2), np.nan))
    with pytest.raises(TypeError, match="Sequential: layer 0"):
        rp.Sequential(["conv"])
    with pytest.raises(ValueError, match="smaller than the kernel"):
        rp.Sequential([rp.Conv2D(np.zeros((1, 1, 5, 5)))], input_shape=(1, 3, 3))


@pytest.mark.parametrize("padding, message", [
    (-1, r"every pad must be >= 0, got -1"),
    ((1, -2), r"every pad must be >= 0, got \(1, -2\)"),
    (((0, 1), (-1, 0)), r"every pad must be >= 0, got \(\(0, 1\), \(-1, 0\)\)"),
    (True, r"expected an int >= 0, a pair \(ph, pw\), a pair of pairs .*; got True"),
    ((1, False), r"got \(1, False\)"),
    (1.5, r"got 1\.5"),
    (None, r"got None"),
    ((1, 2, 3), r"got \(1, 2, 3\)"),
    ((1, (0, 1)), r"got \(1, \(0, 1\)\)"),               # mixed forms: neither a pair nor a pair of pairs
    (((0, 1), (2, 0, 1)), r"got \(\(0, 1\), \(2, 0, 1\)\)"),
    (((0, 1),), r"got \(\(0, 1\),\)"),
    ("SAME", r"unknown padding 'SAME'; expected .*'valid' or 'same'"),
    ("full", r"unknown padding 'full'"),
    (np.array([1, 1]), r"got array\(\[1, 1\]\)"),
])
def test_bad_padding_is_refused_naming_the_layer_and_the_value(padding, message):
    with pytest.raises(ValueError, match=r"Conv2D padding: .*" + message):
        rp.Conv2D(np.zeros((1, 1, 2, 2)), padding=padding)


def test_a_window_that_does_not_fit_the_padded_input_is_refused():
    """The padded input must hold the kernel: a ValueError naming the layer, the pads and the kernel."""
    conv = rp.Conv2D(np.ones((1, 1, 4, 3)), padding=((0, 1), (1, 0)))
    with pytest.raises(ValueError, match=r"Conv2D\(1->1.*padding=\(\(0, 1\), \(1, 0\)\)\).*x of shape "
                                         r"\(1, 1, 2, 2\).*\(\(0, 1\), \(1, 0\)\)\) is smaller than the "
                                         r"kernel \(4, 3\)"):
        conv.forward(np.zeros((1, 1, 2, 2)))
    conv.forward(np.zeros((1, 1, 3, 2)))  # 3 + 0 + 1 rows, 2 + 1 + 0 columns: one window
    with pytest.raises(ValueError, match="smaller than the kernel"):
        rp.Sequential([rp.Conv2D(np.ones((1, 1, 3, 3)), padding="valid")], input_shape=(1, 2, 5))
    with pytest.raises(ValueError, match=r"Conv2D\(1->1.*pads expects the input's spatial size \(H, W\).*got \(4,\)"):
        conv.pads((4,))
    with pytest.raises(ValueError, match=r"pads expects .* got \(4, -1\)"):
        rp.Conv2D(np.ones((1, 1, 2, 2)), padding="same").pads((4, -1))


@pytest.mark.parametrize("method, options", [
    ("gradient", {}), ("deconvnet", {}), ("guided_backprop", {}), ("input_x_gradient", {}), ("lrp.z", {}),
    ("lrp.epsilon", {"epsilon": 0.1}), ("lrp.alpha_2_beta_1", {}), ("lrp.w_square", {}), ("deep_taylor", {}),
    ("lrp.zb", {"low": -3.0, "high": 3.0}), ("integrated_gradients", {"steps": 4}), ("smoothgrad", {"samples": 2}),
])
def test_inputs_are_never_modified(cnn, x, method, options):
    before = x.copy()
    weights = [np.array(layer.weight) for layer in cnn.kernel_layers]
    explanation = rp.explain(cnn, x, method, **options)
    np.testing.assert_array_equal(x, before)
    for layer, w in zip(cnn.kernel_layers, weights):
        np.testing.assert_array_equal(layer.weight, w)
    assert explanation.dtype == np.float64 and explanation.shape == x.shape
    assert np.all(np.isfinite(explanation))


def test_layer_parameters_are_copied_and_read_only():
    w = np.ones((2, 3))
    layer = rp.Dense(w)
    w[0, 0] = 5.0
    assert layer.weight[0, 0] == 1.0
    with pytest.raises(ValueError):
        layer.weight[0, 0] = 2.0


def test_float32_input_is_accepted_as_float64(cnn, x):
    np.testing.assert_array_equal(rp.explain(cnn, x.astype(np.float32), "gradient"),
                                  rp.explain(cnn, x.astype(np.float32).astype(np.float64), "gradient"))


def test_layers_check_their_arrays_before_a_kernel_sees_them():
    """The kernels assume valid input; every layer method checks its arrays and names the layer."""
    conv = rp.Conv2D(np.ones((2, 3, 3, 3)), stride=2, padding=1)
    x = np.zeros((2, 3, 5, 5))
    with pytest.raises(ValueError, match=r"Conv2D\(3->2.*x of shape \(2, 4, 5, 5\).*expected 3 input channels, got 4"):
        conv.forward(np.zeros((2, 4, 5, 5)))
    with pytest.raises(ValueError, match=r"Conv2D\(3->2.*smaller than the kernel"):
        conv.linear(np.zeros((2, 3, 1, 0)), conv.weight)
    with pytest.raises(ValueError,
                       match=r"weight must have the layer's weight shape \(2, 3, 3, 3\), got \(2, 3, 2, 3\)"):
        conv.linear(x, np.zeros((2, 3, 2, 3)))
    with pytest.raises(ValueError,
                       match=r"grad_y must have the shape of the layer output \(2, 2, 3, 3\).*got \(2, 2, 4, 4\)"):
        conv.backward(x, np.zeros((2, 2, 4, 4)))
    with pytest.raises(ValueError, match=r"grad_y must have the shape"):
        conv.parameter_gradients(x, np.zeros((2, 2, 4, 4)))
    with pytest.raises(TypeError, match=r"x must be a floating-point array, got dtype int64"):
        conv.forward(np.zeros((2, 3, 5, 5), dtype=np.int64))
    with pytest.raises(TypeError, match=r"x must be a numpy.ndarray"):
        conv.forward([[[[1.0]]]])
    dense = rp.Dense(np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"Dense\(in=4, out=2\): x of shape \(3, 5\): expected input of size 4, got 5"):
        dense.forward(np.zeros((3, 5)))
    with pytest.raises(ValueError,
                       match=r"Dense\(in=4, out=2\): grad_y must have the shape of the layer output \(3, 2\)"):
        dense.linear_transpose(np.zeros((3, 5)), dense.weight, (3, 4))
    pool = rp.MaxPool2D(2)
    with pytest.raises(ValueError, match=r"MaxPool2D.*grad_y must have the shape of the layer output \(2, 3, 2, 2\)"):
        pool.backward(x, np.zeros((2, 3, 2, 3)))
    with pytest.raises(ValueError, match=r"MaxPool2D.*smaller than the pooling window"):
        pool.forward(np.zeros((1, 1, 1, 4)))
