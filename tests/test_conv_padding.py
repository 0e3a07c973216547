"""Conv2D's zero padding: asymmetric ``((top, bottom), (left, right))``, ``"valid"`` and ``"same"``
(docs/conventions.md#padding, #same-padding, #output-size).

Each fact is checked against a computation written out here: ``np.pad`` of the input followed by a
"valid" cross-correlation by loops over the output positions, its transpose by the same loops, and
``"same"`` pads worked out by hand from TensorFlow's documented rule.
"""

import math

import numpy as np
import pytest

import refpattern as rp
from refpattern.network.conv2d import same_padding

BACKENDS = ["numpy", "numba"]


def valid_correlation(x_padded, weight, stride):
    """``y[n, o, p, q] = Σ_{c,i,j} weight[o, c, i, j] · x_padded[n, c, p·sh + i, q·sw + j]``, one output position
    at a time (no padding: the input is already padded)."""
    (sh, sw), (kh, kw) = stride, weight.shape[2:]
    oh = (x_padded.shape[2] - kh) // sh + 1
    ow = (x_padded.shape[3] - kw) // sw + 1
    y = np.zeros((x_padded.shape[0], weight.shape[0], oh, ow))
    for p in range(oh):
        for q in range(ow):
            window = x_padded[:, :, p * sh:p * sh + kh, q * sw:q * sw + kw]
            y[:, :, p, q] = np.einsum("ncij,ocij->no", window, weight)
    return y


def valid_correlation_transpose(grad_y, weight, padded_shape, stride):
    """The adjoint of :func:`valid_correlation`: each output position sends ``Σ_o grad_y·weight`` back onto its
    window of the padded input."""
    (sh, sw), (kh, kw) = stride, weight.shape[2:]
    grad = np.zeros(padded_shape)
    for p in range(grad_y.shape[2]):
        for q in range(grad_y.shape[3]):
            grad[:, :, p * sh:p * sh + kh, q * sw:q * sw + kw] += np.einsum("no,ocij->ncij", grad_y[:, :, p, q], weight)
    return grad


def valid_weight_gradient(grad_y, x_padded, kernel_size, stride):
    """``∂/∂W Σ grad_y ⊙ valid_correlation(x_padded, W)``: ``Σ_{n,p,q} grad_y[n, o, p, q] · window[n, c, i, j]``."""
    (sh, sw), (kh, kw) = stride, kernel_size
    grad_w = np.zeros((grad_y.shape[1], x_padded.shape[1], kh, kw))
    for p in range(grad_y.shape[2]):
        for q in range(grad_y.shape[3]):
            window = x_padded[:, :, p * sh:p * sh + kh, q * sw:q * sw + kw]
            grad_w += np.einsum("no,ncij->ocij", grad_y[:, :, p, q], window)
    return grad_w


# (kernel (kh, kw), stride, padding as given, input (H, W), ((top, bottom), (left, right)) it means there)
CASES = [
    pytest.param((3, 3), (2, 2), ((0, 1), (0, 1)), (6, 8), ((0, 1), (0, 1)), id="keras-same-stride2-explicit"),
    pytest.param((3, 2), (1, 2), ((2, 0), (1, 3)), (5, 6), ((2, 0), (1, 3)), id="every-side-different"),
    pytest.param((2, 3), (2, 1), [[0, 3], [2, 0]], (5, 4), ((0, 3), (2, 0)), id="lists-pad-wider-than-kernel"),
    pytest.param((3, 3), (3, 2), ((1, 2), (0, 1)), (7, 6), ((1, 2), (0, 1)), id="stride-drops-bottom-pad"),
    pytest.param((3, 3), (2, 2), "same", (6, 7), ((0, 1), (1, 1)), id="same-stride2-even-and-odd"),
    pytest.param((4, 2), (1, 1), "same", (5, 6), ((1, 2), (0, 1)), id="same-even-kernels"),
    pytest.param((3, 3), (1, 2), "valid", (5, 6), ((0, 0), (0, 0)), id="valid"),
    pytest.param((3, 2), (2, 1), (1, 2), (5, 6), ((1, 1), (2, 2)), id="symmetric-pair"),
]


def layer_and_arrays(kernel, stride, padding, hw, seed=0):
    rng = np.random.default_rng(seed)
    layer = rp.Conv2D(rng.normal(size=(3, 2) + kernel), rng.normal(size=3), stride=stride, padding=padding)
    x = rng.normal(size=(2, 2) + hw)
    grad_y = rng.normal(size=(2,) + layer.output_shape((2,) + hw))
    return layer, x, grad_y


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kernel, stride, padding, hw, pads", CASES)
def test_padded_convolution_is_np_pad_then_valid_convolution(kernel, stride, padding, hw, pads, backend):
    """forward = valid(np.pad(x)) + b; backward = the valid transpose, cropped to the image; ∂W over the padded
    input; ∂b = Σ grad_y."""
    layer, x, grad_y = layer_and_arrays(kernel, stride, padding, hw)
    assert layer.pads(hw) == pads
    (top, bottom), (left, right) = pads
    x_padded = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    weight = np.array(layer.weight)

    y = layer.forward(x, backend)
    want = valid_correlation(x_padded, weight, layer.stride) + layer.bias[None, :, None, None]
    assert y.shape == want.shape == grad_y.shape
    np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-12 * np.max(np.abs(want)))

    grad_x = layer.backward(x, grad_y, backend)
    h, w = hw
    want = valid_correlation_transpose(grad_y, weight, x_padded.shape, layer.stride)[:, :, top:top + h, left:left + w]
    np.testing.assert_allclose(grad_x, want, rtol=1e-12, atol=1e-12 * np.max(np.abs(want)))

    grad_w, grad_b = layer.parameter_gradients(x, grad_y, backend)
    want = valid_weight_gradient(grad_y, x_padded, kernel, layer.stride)
    np.testing.assert_allclose(grad_w, want, rtol=1e-12, atol=1e-12 * np.max(np.abs(want)))
    np.testing.assert_allclose(grad_b, grad_y.sum(axis=(0, 2, 3)), rtol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kernel, stride, padding, hw, pads", CASES)
def test_padded_linear_map_and_its_transpose_are_adjoint(kernel, stride, padding, hw, pads, backend):
    """⟨f(x), g⟩ = ⟨x, fᵀ(g)⟩ for the linear part (no bias), to rounding."""
    layer, x, grad_y = layer_and_arrays(kernel, stride, padding, hw, seed=1)
    forward = np.sum(layer.linear(x, layer.weight, backend) * grad_y)
    transpose = np.sum(x * layer.linear_transpose(grad_y, layer.weight, x.shape, backend))
    scale = np.sum(np.abs(layer.linear(np.abs(x), np.abs(layer.weight), backend)) * np.abs(grad_y))
    assert abs(forward - transpose) <= 1e-13 * scale


# (input length n, kernel k, stride s, (before, after)) worked out by hand from
# out = ceil(n / s), total = max((out − 1)·s + k − n, 0), before = total // 2, after = total − before
SAME_AXES = [
    (8, 3, 2, (0, 1)),  # Keras' stride-2 case on an even input: 0 before, 1 after
    (7, 3, 2, (1, 1)),
    (8, 3, 1, (1, 1)),
    (7, 3, 1, (1, 1)),
    (8, 4, 1, (1, 2)),  # even kernel at stride 1 (PyTorch's padding="same"): the odd zero after
    (7, 4, 1, (1, 2)),
    (8, 4, 2, (1, 1)),
    (7, 4, 2, (1, 2)),
    (8, 2, 2, (0, 0)),
    (7, 2, 2, (0, 1)),
    (5, 1, 2, (0, 0)),
    (6, 5, 3, (1, 1)),
    (3, 5, 1, (2, 2)),  # a kernel larger than the input
    (1, 3, 2, (1, 1)),
]


@pytest.mark.parametrize("n, k, s, pads", SAME_AXES)
def test_same_padding_of_one_axis(n, k, s, pads):
    assert same_padding(n, k, s) == pads
    before, after = pads
    out = (n + before + after - k) // s + 1
    assert out == math.ceil(n / s)
    assert before <= after <= before + 1                        # the odd zero goes after
    if before + after > 0:
        assert (out - 1) * s + k == n + before + after            # the last window ends on the last zero
        assert (n + before + after - 1 - k) // s + 1 < out        # one zero fewer: a window is lost


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("stride", [(1, 1), (2, 2), (1, 2)])
@pytest.mark.parametrize("kernel", [(3, 3), (2, 4), (1, 5)])
@pytest.mark.parametrize("hw", [(6, 8), (7, 5)])
def test_same_gives_ceil_of_input_over_stride(hw, kernel, stride, backend):
    """Stride 1 and 2, even and odd inputs, odd and even kernels: output ``ceil(n / s)`` per axis (the input size
    itself at stride 1), pads from the rule per axis, and forward = the explicit padding's forward."""
    rng = np.random.default_rng(2)
    layer = rp.Conv2D(rng.normal(size=(2, 3) + kernel), rng.normal(size=2), stride=stride, padding="same")
    x = rng.normal(size=(2, 3) + hw)
    expected = (2, math.ceil(hw[0] / stride[0]), math.ceil(hw[1] / stride[1]))
    assert layer.output_shape((3,) + hw) == expected
    pads = layer.pads(hw)
    assert pads == tuple(same_padding(n, k, s) for n, k, s in zip(hw, kernel, stride))
    y = layer.forward(x, backend)
    assert y.shape == (2,) + expected
    explicit = rp.Conv2D(layer.weight, layer.bias, stride=stride, padding=pads)
    np.testing.assert_array_equal(y, explicit.forward(x, backend))


def test_padding_attribute_is_normalised_and_shown_as_given():
    weight = np.ones((1, 1, 2, 2))
    for given, normalised in [(0, ((0, 0), (0, 0))), (2, ((2, 2), (2, 2))), ((1, 3), ((1, 1), (3, 3))),
                              ([[0, 1], [2, 0]], ((0, 1), (2, 0))), ((np.int64(1), np.int32(0)), ((1, 1), (0, 0))),
                              ("valid", ((0, 0), (0, 0)))]:
        layer = rp.Conv2D(weight, padding=given)
        assert layer.padding == normalised
        assert all(type(v) is int for pair in layer.padding for v in pair)
        assert layer.pads((5, 4)) == normalised
        assert f"padding={normalised}" in repr(layer)
    same = rp.Conv2D(weight, stride=2, padding="same")
    assert same.padding == "same" and "padding='same'" in repr(same)
    assert same.with_parameters(weight, same.bias).padding == "same"
    assert same.pads((4, 5)) == ((0, 0), (0, 1))  # 2x2 kernel, stride 2: 4 rows need none, 5 columns one after
    given = [[0, 1], [2, 0]]
    rp.Conv2D(weight, padding=given)
    assert given == [[0, 1], [2, 0]]  # nothing the user passed is modified
