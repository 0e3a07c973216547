"""from_keras on Keras 3 (torch backend, float64 weights): the converted network's logits equal an exact float64
recomputation of the Keras model from its own weights and layer definitions (≤ 1e-12 relative), its
convolutions equal Keras' own float64 forward pass, and every layer it cannot convert is refused by name and
position (docs/conventions.md#converters).

Keras 3 is not float64-exact on the torch backend: ``keras.backend.result_type`` maps float64 to float32 on every
backend but TensorFlow, so Dense (``ops.matmul``) and BatchNormalization compute in float32 even with the
``float64`` dtype policy; this test measures that error of Keras' own forward pass against the exact
recomputation and prints it.  Its convolutions, padding and pooling are float64-exact and are compared directly.

Skipped when Keras is not installed (the README's test command does not install it; CI's peer stage does)."""

import os

import numpy as np
import pytest

import refpattern as rp
from refpattern.interop import UnsupportedLayerError, from_keras, nchw_to_nhwc, nhwc_to_nchw

os.environ.setdefault("KERAS_BACKEND", "torch")  # Keras 3 without TensorFlow: run it on torch
keras = pytest.importorskip("keras", reason="Keras is not installed (pip install \"refpattern[keras]\")")
layers = keras.layers

pytestmark = [pytest.mark.peers,  # Keras 3.15 with NumPy 2 warns inside get_weights(); nothing here depends on it
              pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy:DeprecationWarning")]


@pytest.fixture(autouse=True)
def float64_keras():
    # set_floatx alone does not reach layers once another test has made Keras resolve its global dtype
    # policy (float32 then stays): set both
    previous, previous_policy = keras.config.floatx(), keras.config.dtype_policy()
    keras.config.set_floatx("float64")
    keras.config.set_dtype_policy("float64")
    keras.utils.set_random_seed(0)
    yield
    keras.config.set_floatx(previous)
    keras.config.set_dtype_policy(previous_policy)


def relative_error(actual, expected):
    return float(np.max(np.abs(actual - expected)) / np.max(np.abs(expected)))


def as_numpy(tensor):
    return np.asarray(keras.ops.convert_to_numpy(tensor))


def tf_same_pads(size, kernel, stride):
    """TensorFlow's "same" rule, written out here (tf.nn, "Notes on padding"): the odd zero goes after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def exact_forward(model, x):
    """The model's logits recomputed in float64 with NumPy from each layer's weights and config, channels last,
    by the Keras layer definitions (no refpattern code; a final softmax is left out)."""
    a = x
    for layer in model.layers:
        kind, config, weights = type(layer).__name__, layer.get_config(), layer.get_weights()
        if kind == "ZeroPadding2D":
            (top, bottom), (left, right) = config["padding"]
            a = np.pad(a, ((0, 0), (top, bottom), (left, right), (0, 0)))
        elif kind == "Conv2D":
            kernel = weights[0]
            kh, kw = kernel.shape[:2]
            sh, sw = config["strides"]
            if config["padding"] == "same":
                pads = tf_same_pads(a.shape[1], kh, sh), tf_same_pads(a.shape[2], kw, sw)
                a = np.pad(a, ((0, 0),) + pads + ((0, 0),))
            oh, ow = (a.shape[1] - kh) // sh + 1, (a.shape[2] - kw) // sw + 1
            a = np.stack([np.stack([np.einsum("nijc,ijco->no", a[:, p * sh:p * sh + kh, q * sw:q * sw + kw], kernel)
                                    for q in range(ow)], axis=1) for p in range(oh)], axis=1)
            a = a + (weights[1] if config["use_bias"] else 0.0)
        elif kind == "Dense":
            a = a @ weights[0] + (weights[1] if config["use_bias"] else 0.0)
        elif kind == "BatchNormalization":
            gamma, beta, mean, variance = weights
            a = gamma * (a - mean) / np.sqrt(variance + config["epsilon"]) + beta
        elif kind == "MaxPooling2D":
            (kh, kw), (sh, sw) = config["pool_size"], config["strides"]
            oh, ow = (a.shape[1] - kh) // sh + 1, (a.shape[2] - kw) // sw + 1
            a = np.stack([np.stack([a[:, p * sh:p * sh + kh, q * sw:q * sw + kw].max(axis=(1, 2)) for q in range(ow)],
                                   axis=1) for p in range(oh)], axis=1)
        elif kind == "Flatten":
            a = a.reshape(a.shape[0], -1)
        if config.get("activation") == "relu" or kind == "ReLU":
            a = np.maximum(a, 0)
    return a


def randomise_batchnorm(model, seed):
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            channels = layer.get_weights()[0].shape[0]
            layer.set_weights([rng.normal(size=channels), rng.normal(size=channels), rng.normal(size=channels),
                               rng.uniform(0.5, 2.0, size=channels)])
    return model


def functional_cnn():
    """Stride 2 with "same" on an even input (pads (0, 1)), ZeroPadding2D merged into a "same" conv, BatchNorm,
    a ReLU layer, max-pooling, Flatten → Dropout → Dense (the (H, W, C) permutation), fused relu, a separate
    softmax."""
    inputs = keras.Input((8, 8, 2))
    t = layers.Conv2D(3, 3, strides=2, padding="same", activation="relu")(inputs)
    t = layers.ZeroPadding2D(((1, 0), (0, 1)))(t)
    t = layers.Conv2D(4, (2, 3), padding="same", use_bias=False)(t)
    t = layers.BatchNormalization(epsilon=1e-3)(t)
    t = layers.ReLU()(t)
    t = layers.MaxPooling2D(2)(t)
    t = layers.Flatten()(t)
    t = layers.Dropout(0.2)(t)
    t = layers.Dense(5, activation="relu")(t)
    t = layers.Dense(3)(t)
    outputs = layers.Activation("softmax")(t)
    return randomise_batchnorm(keras.Model(inputs, outputs), 1)


def test_logits_equal_exact_recomputation_of_the_keras_model():
    model = functional_cnn()
    net = from_keras(model)
    assert net.input_shape == (2, 8, 8)
    assert net.layers[0].pads((8, 8)) == ((0, 1), (0, 1))
    assert net.layers[2].padding == ((1, 1), (1, 2))  # ZeroPadding2D ((1, 0), (0, 1)) + "same" of a 2 × 3 kernel
    x = np.random.default_rng(0).normal(size=(6, 8, 8, 2))
    exact = exact_forward(model, x)
    ours = net.logits(nhwc_to_nchw(x))
    error = relative_error(ours, exact)
    keras_logits = as_numpy(keras.Model(model.inputs[0], model.layers[-2].output)(x))
    keras_error = relative_error(keras_logits, exact)
    print(f"from_keras logits vs exact float64 recomputation: {error:.2e}; Keras' own forward pass vs the same: "
          f"{keras_error:.2e} (float32 matmul and batch normalisation on the torch backend)")
    assert error <= 1e-12
    assert 0 < keras_error <= 1e-5  # Keras computes Dense and BatchNormalization in float32 here
    assert relative_error(net.forward(nhwc_to_nchw(x)), as_numpy(model(x))) <= 1e-5


def test_convolutions_padding_and_pooling_equal_keras_own_float64_forward():
    """Without Dense and BatchNormalization Keras' forward pass is float64 on the torch backend: compare directly."""
    model = keras.Sequential([
        keras.Input((8, 8, 2)),
        layers.Conv2D(3, 3, strides=2, padding="same"),  # (0, 1) on an even input
        layers.ReLU(),
        layers.ZeroPadding2D(((0, 2), (1, 0))),
        layers.ZeroPadding2D(1),  # two paddings in a row add up
        layers.Conv2D(4, (3, 2), padding="valid", activation="relu"),
        layers.MaxPooling2D((2, 3), strides=(2, 1)),
        layers.Conv2D(2, 4, strides=3, padding="same"),  # 3 × 4 → 1 × 2: pads rows (0, 1), columns (1, 2)
        layers.Flatten(),  # (1, 2, 2): a Dense-free Flatten must keep Keras' order: refused below unless trivial
    ])
    with pytest.raises(UnsupportedLayerError, match=r"layer 7 \('flatten.*'\).*no Dense layer follows"):
        from_keras(model)
    head = keras.Sequential(model.layers[:-2] + [layers.Conv2D(3, (3, 4)), layers.Flatten()])
    head.build((None, 8, 8, 2))
    net = from_keras(head)
    x = np.random.default_rng(1).normal(size=(4, 8, 8, 2))
    keras_out = as_numpy(head(x))
    error = relative_error(net.logits(nhwc_to_nchw(x)), keras_out)
    print(f"from_keras vs Keras' float64 convolutions: {error:.2e}")
    assert error <= 1e-12
    assert relative_error(exact_forward(head, x), keras_out) <= 1e-12  # the recomputation is Keras' own


def test_sequential_with_fused_softmax_and_a_nested_model():
    inner = keras.Sequential([layers.Conv2D(2, 3, activation="relu"), layers.MaxPooling2D(2, padding="same")])
    inputs = keras.Input((6, 6, 1))
    t = inner(inputs)  # 6 → 4 → 2: "same" pooling pads nothing here
    t = layers.Flatten()(t)
    outputs = layers.Dense(3, activation="softmax")(t)
    model = keras.Model(inputs, outputs)
    net = from_keras(model)
    assert [type(layer).__name__ for layer in net.layers] == ["Conv2D", "ReLU", "MaxPool2D", "Flatten", "Dense",
                                                              "Softmax"]
    x = np.random.default_rng(2).normal(size=(3, 6, 6, 1))
    assert relative_error(net.logits(nhwc_to_nchw(x)), exact_forward(inner, x).reshape(3, -1) @
                          model.layers[-1].get_weights()[0] + model.layers[-1].get_weights()[1]) <= 1e-12
    assert relative_error(net.forward(nhwc_to_nchw(x)), as_numpy(model(x))) <= 1e-5


def test_explanations_come_back_in_keras_layout():
    model = functional_cnn()
    net = from_keras(model)
    x = np.random.default_rng(3).normal(size=(2, 8, 8, 2))
    explanation = nchw_to_nhwc(rp.explain(net, nhwc_to_nchw(x), "gradient"))
    assert explanation.shape == x.shape
    import torch  # the backend of these tests

    inputs = torch.from_numpy(x.copy()).requires_grad_(True)
    logits = keras.Model(model.inputs[0], model.layers[-2].output)(inputs)
    logits.gather(1, logits.argmax(dim=1, keepdim=True)).sum().backward()
    assert relative_error(explanation, inputs.grad.numpy()) <= 1e-5  # Keras' float32 Dense, as above


def chain(*middle, shape=(8, 8, 1)):
    return keras.Sequential([keras.Input(shape), *middle])


REFUSED = [
    (lambda: chain(layers.Conv2D(2, 3, dilation_rate=2)), 0, r"dilation_rate=\(2, 2\); only 1"),
    (lambda: chain(layers.Conv2D(2, 3, groups=2), shape=(8, 8, 2)), 0, r"groups=2; only groups=1"),
    (lambda: chain(layers.Conv2D(2, 3, activation="tanh")), 0, r"activation 'tanh' is not supported"),
    (lambda: chain(layers.AveragePooling2D(2)), 0, r"AveragePooling2D is not supported; from_keras converts"),
    (lambda: chain(layers.LeakyReLU()), 0, r"LeakyReLU is not supported"),
    (lambda: chain(layers.ReLU(max_value=6.0)), 0, r"a clipped, leaky or shifted ReLU"),
    (lambda: chain(layers.MaxPooling2D(3, strides=2, padding="same")), 0, r"padding='same' pads this input"),
    (lambda: chain(layers.ZeroPadding2D(1), layers.MaxPooling2D(2)), 0,
     r"is followed by MaxPooling2D.* not by a Conv2D"),
    (lambda: chain(layers.Conv2D(2, 3), layers.ZeroPadding2D(1)), 1, r"ends the model; zero padding is merged"),
    (lambda: chain(layers.Conv2D(2, 3, activation="relu"), layers.BatchNormalization()), 1,
     r"directly before it, and this one follows ReLU"),
    (lambda: chain(layers.Conv2D(2, 3), layers.BatchNormalization(renorm=True)), 1,
     r"renorm=True \(batch renormalisation"),
    # the shape Keras reads, (H, W, C) as the message says "channels last" (it gave refpattern's (C, H, W))
    (lambda: chain(layers.Dense(3), shape=(8, 6, 2)), 0,
     r"reads a per-sample shape \(8, 6, 2\) \(channels last\).*put a Flatten before it"),
    (lambda: chain(layers.Conv2D(2, 3, data_format="channels_first"), shape=(1, 8, 8)), 0,
     r"data_format='channels_first'"),
    (lambda: chain(layers.Flatten(), layers.Dense(3, activation="softmax"), layers.Dense(2)), 2,
     r"comes after the softmax at layer 1"),
]


@pytest.mark.parametrize("build, index, message", REFUSED, ids=[str(i) for i in range(len(REFUSED))])
def test_refusals_name_the_layer_and_its_position(build, index, message):
    model = build()
    with pytest.raises(UnsupportedLayerError, match=message) as info:
        from_keras(model)
    assert info.value.position.startswith(f"layer {index} ('{model.layers[index].name}')"), info.value.position


def test_branches_are_refused():
    inputs = keras.Input((4,))
    a = layers.Dense(3)(inputs)
    b = layers.Dense(3)(inputs)
    model = keras.Model(inputs, layers.Add()([a, b]))
    with pytest.raises(UnsupportedLayerError, match=r"layer 2 \('dense.*'\).*does not read the output of the layer "
                                                    r"listed before it \(a branch\)"):
        from_keras(model)
    with pytest.raises(TypeError, match="must be a Keras model"):
        from_keras(layers.Dense(3))
    with pytest.raises(ValueError, match=r"no known input shape.*keras.Input\(shape\) or pass input_shape="):
        from_keras(keras.Sequential([layers.Dense(3)]))  # never built
