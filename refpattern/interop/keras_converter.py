"""``from_keras``: a Keras model (channels_last) as a refpattern :class:`~refpattern.Sequential`
(``docs/conventions.md#converters``).

Keras 3 (any backend; tested on ``KERAS_BACKEND=torch``) and tf.keras 2 models, read through what
both APIs share: ``model.layers``, each layer's class name, ``get_config()`` and ``get_weights()``.
Keras is imported inside :func:`from_keras` only; without it the call raises an ``ImportError``
naming ``pip install "refpattern[keras]"``.

The converted network is refpattern's: it takes **NCHW** inputs and returns NCHW explanations.
Convert a Keras batch with :func:`refpattern.interop.nhwc_to_nchw` and an explanation back with
:func:`refpattern.interop.nchw_to_nhwc`; weights are transposed here
(``docs/conventions.md#interop-layouts``).
"""

from __future__ import annotations

import numpy as np

from refpattern.interop.conversion import ChainBuilder, check_input_shape
from refpattern.interop.frameworks import import_framework
from refpattern.interop.layouts import conv_weight_from_keras, dense_weight_from_keras
from refpattern.network.conv2d import Conv2D, same_padding
from refpattern.network.dense import Dense
from refpattern.network.elementwise import Flatten, ReLU, Softmax
from refpattern.network.maxpool import MaxPool2D

CONVERTER = "from_keras"
#: Layers that are the identity in inference and are left out.
DROPPED = ("Dropout", "SpatialDropout1D", "SpatialDropout2D", "GaussianDropout", "GaussianNoise", "AlphaDropout",
           "Identity")
#: Activations a Conv2D, Dense or Activation layer may name → the refpattern layer ("linear" and None add nothing).
ACTIVATION_LAYERS = {"relu": ReLU, "softmax": Softmax, "linear": None, None: None}
ACTIVATIONS = tuple(ACTIVATION_LAYERS)
SUPPORTED = ("InputLayer (skipped), Conv2D, Dense, Activation/ReLU/Softmax, MaxPooling2D, ZeroPadding2D (before a "
             "Conv2D), Flatten, BatchNormalization (folded into the layer before), Dropout (left out)")


#: The top-level packages Keras' own classes are defined in (Keras 3, tf.keras 2, the tf_keras package).
KERAS_PACKAGES = ("keras", "tf_keras", "tensorflow")


def _defined_in_keras(definition) -> bool:
    """Whether a class or function comes from Keras itself, not from the user's code (which may name a
    layer ``Dense`` or ``ReLU`` and compute something else)."""
    return str(getattr(definition, "__module__", None) or "").split(".")[0] in KERAS_PACKAGES


def _pair(value) -> tuple:
    return tuple(int(v) for v in value) if isinstance(value, (tuple, list)) else (int(value), int(value))


def _padding_pairs(value) -> tuple:
    """ZeroPadding2D's ``padding`` (int, pair, pair of pairs) as ``((top, bottom), (left, right))``."""
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(v, (tuple, list)) for v in value):
        return tuple(_pair(v) for v in value)
    height, width = _pair(value)
    return ((height, height), (width, width))


def _is_model(layer) -> bool:
    kind = type(layer)  # on the class: an unbuilt model has no inputs yet, but is a model
    return hasattr(layer, "layers") and hasattr(kind, "inputs") and hasattr(kind, "outputs")


class _KerasChain:
    """Walks a Keras model's layers and feeds a :class:`ChainBuilder`, with the two Keras-only states:
    zero padding waiting for its Conv2D, and a Flatten whose (H, W, C) order the next Dense undoes."""

    def __init__(self, builder: ChainBuilder):
        self.builder = builder
        self.pending_padding = None  # (position, description, ((top, bottom), (left, right)))
        self.flattened_from = None  # (position, description, (C, H, W)) of a Flatten not yet read by a Dense

    # -- the walk ----------------------------------------------------------------------------------
    def model(self, model, prefix: str) -> None:
        if not _defined_in_keras(getattr(type(model), "call", None)):
            where = f"model {prefix} ({model.name!r})" if prefix else f"model {model.name!r}"
            self.builder.refuse(where, type(model).__name__, "overrides call(), which may compute something other "
                                                             "than the chain of its layers; pass a Sequential or "
                                                             "functional model (a subclass only if it keeps its call)")
        layers = list(model.layers)
        if type(model).__name__ != "Sequential":
            self._check_chain(model, layers, prefix)
        for index, layer in enumerate(layers):
            path = f"{prefix}.{index}" if prefix else str(index)
            if _is_model(layer):
                self.model(layer, path)
            else:
                self.layer(layer, f"layer {path} ({layer.name!r})")

    def _check_chain(self, model, layers, prefix):
        """A functional model must be one chain: one input, one output, each layer reading the one before."""
        where = f"model {prefix} ({model.name!r})" if prefix else f"model {model.name!r}"
        if len(model.inputs) != 1 or len(model.outputs) != 1:
            self.builder.refuse(where, type(model).__name__, f"has {len(model.inputs)} inputs and "
                                                             f"{len(model.outputs)} outputs; only single chains "
                                                             "(one input, one output) are converted")
        previous = model.inputs[0]
        for index, layer in enumerate(layers):
            if type(layer).__name__ == "InputLayer":
                continue
            position = f"layer {prefix + '.' if prefix else ''}{index} ({layer.name!r})"
            if len(getattr(layer, "_inbound_nodes", ())) > 1:
                self.builder.refuse(position, type(layer).__name__, "is called more than once (a shared layer); "
                                                                    "only single chains are converted")
            read = layer.input
            if isinstance(read, (list, tuple)):
                self.builder.refuse(position, type(layer).__name__, f"reads {len(read)} tensors (a merge); only "
                                                                    "single chains are converted")
            if read is not previous:
                self.builder.refuse(position, type(layer).__name__, "does not read the output of the layer listed "
                                                                    "before it (a branch); only single chains are "
                                                                    "converted")
            previous = layer.output
        if model.outputs[0] is not previous:
            self.builder.refuse(where, type(model).__name__, "its output is not the last layer's output; only single "
                                                             "chains are converted")

    # -- one layer -------------------------------------------------------------------------------
    def layer(self, layer, position: str) -> None:
        kind = type(layer).__name__
        config = layer.get_config()
        description = f"{kind} {self._summary(kind, config)}".strip()
        if not _defined_in_keras(type(layer)):
            self.builder.refuse(position, description, f"{kind} is defined in {type(layer).__module__!r}, not by "
                                                       "Keras: a custom layer or a subclass of a Keras layer may "
                                                       "compute something other than the Keras layer of its name; "
                                                       "only Keras' own layers are converted")
        if kind == "InputLayer" or kind in DROPPED:
            return
        if config.get("data_format", "channels_last") != "channels_last":
            self.builder.refuse(position, description, f"data_format={config['data_format']!r}; only channels_last "
                                                       "models are converted")
        if kind == "ZeroPadding2D":
            self._zero_padding(position, description, config)
            return
        if kind != "Conv2D" and self.pending_padding is not None:
            padding_at, padding_description, _ = self.pending_padding
            self.builder.refuse(padding_at, padding_description, f"is followed by {description} at {position}, not "
                                                                 "by a Conv2D; zero padding is merged into the next "
                                                                 "Conv2D's padding and is not converted otherwise")
        if kind == "Conv2D":
            self._conv2d(layer, position, description, config)
        elif kind == "Dense":
            self._dense(layer, position, description, config)
        elif kind == "MaxPooling2D":
            self._maxpool(position, description, config)
        elif kind == "Flatten":
            self._flatten(position, description)
        elif kind == "BatchNormalization":
            self._batchnorm(layer, position, description, config)
        elif kind == "ReLU":
            if any(config.get(key) not in (None, 0, 0.0) for key in ("max_value", "negative_slope", "threshold")):
                self.builder.refuse(position, description, "a clipped, leaky or shifted ReLU (max_value, "
                                                           "negative_slope, threshold) is not supported; only "
                                                           "max(x, 0)")
            self.builder.add(ReLU(), position, description)
        elif kind == "Softmax":
            axis = config.get("axis", -1)
            if axis not in (-1, 1, [-1], [1], (-1,), (1,)) or len(self.builder.shape) != 1:
                self.builder.refuse(position, description, f"axis={axis} on a per-sample shape "
                                                           f"{self.builder.shape}; only a softmax over flat logits")
            self._activation("softmax", position, description)
        elif kind == "Activation":
            self._activation(config.get("activation"), position, description)
        else:
            self.builder.refuse(position, description, f"{kind} is not supported; from_keras converts {SUPPORTED}")

    @staticmethod
    def _summary(kind, config) -> str:
        keys = {"Conv2D": ("filters", "kernel_size", "strides", "padding", "activation"),
                "Dense": ("units", "activation"), "MaxPooling2D": ("pool_size", "strides", "padding"),
                "ZeroPadding2D": ("padding",), "Activation": ("activation",), "BatchNormalization": ("axis",)}
        shown = [f"{key}={config[key]!r}" for key in keys.get(kind, ()) if key in config]
        return f"({', '.join(shown)})" if shown else ""

    def _activation(self, name, position, description) -> None:
        if isinstance(name, dict) or name not in ACTIVATIONS:
            self.builder.refuse(position, description, f"activation {name!r} is not supported; only 'relu', "
                                                       "'softmax' (last) and 'linear'/None")
        layer_type = ACTIVATION_LAYERS.get(name)
        if layer_type is Softmax and len(self.builder.shape) != 1:
            self.builder.refuse(position, description, f"a softmax over a per-sample shape {self.builder.shape}; "
                                                       "only a softmax over flat logits is supported")
        if layer_type is not None:
            self.builder.add(layer_type(), position, description)

    def _weights(self, layer, config, position, description, names):
        weights = [np.asarray(w, dtype=np.float64) for w in layer.get_weights()]
        if len(weights) != len(names):
            self.builder.refuse(position, description, f"has {len(weights)} weight arrays, expected {len(names)} "
                                                       f"({', '.join(names)}): is the model built?")
        return dict(zip(names, weights))

    def _zero_padding(self, position, description, config) -> None:
        pads = _padding_pairs(config["padding"])
        if self.pending_padding is not None:  # two ZeroPadding2D in a row add up
            first_position, first_description, earlier = self.pending_padding
            pads = tuple((a + c, b + d) for (a, b), (c, d) in zip(earlier, pads))
            position, description = first_position, f"{first_description} + {description}"
        self.pending_padding = (position, description, pads)

    def _conv2d(self, layer, position, description, config) -> None:
        if _pair(config.get("dilation_rate", 1)) != (1, 1):
            self.builder.refuse(position, description, f"dilation_rate={config['dilation_rate']}; only 1 is supported")
        if int(config.get("groups", 1)) != 1:
            self.builder.refuse(position, description, f"groups={config['groups']}; only groups=1 is supported")
        padding = config["padding"]
        if padding not in ("valid", "same"):
            self.builder.refuse(position, description, f"padding={padding!r}; only 'valid' and 'same'")
        names = ("kernel", "bias") if config.get("use_bias", True) else ("kernel",)
        weights = self._weights(layer, config, position, description, names)
        weight = conv_weight_from_keras(weights["kernel"])
        stride = _pair(config["strides"])
        if self.pending_padding is not None:
            _, padding_description, pads = self.pending_padding
            self.pending_padding = None
            description = f"{padding_description} + {description}"
            if padding == "same":
                if len(self.builder.shape) != 3:
                    self.builder.refuse(position, description, f"reads a per-sample shape {self.builder.shape}")
                padded = [n + a + b for n, (a, b) in zip(self.builder.shape[1:], pads)]
                extra = [same_padding(n, k, s) for n, k, s in zip(padded, weight.shape[2:], stride)]
                pads = tuple((a + c, b + d) for (a, b), (c, d) in zip(pads, extra))
            padding = pads
        self.builder.add(self.builder.construct(position, description, Conv2D, weight, weights.get("bias"), stride,
                                                padding), position, description)
        self._activation(config.get("activation"), position, description)

    def _dense(self, layer, position, description, config) -> None:
        names = ("kernel", "bias") if config.get("use_bias", True) else ("kernel",)
        weights = self._weights(layer, config, position, description, names)
        flattened_from = None
        if self.flattened_from is not None:
            flattened_from = self.flattened_from[2]
            self.flattened_from = None
        if len(self.builder.shape) != 1:
            shape = tuple(self.builder.shape)
            keras_shape = shape[1:] + shape[:1] if len(shape) == 3 else shape  # the builder holds (C, H, W)
            self.builder.refuse(position, description, f"reads a per-sample shape {keras_shape} (channels "
                                                       "last); a Dense layer is converted only on flat inputs "
                                                       "(put a Flatten before it)")
        try:
            weight = dense_weight_from_keras(weights["kernel"], flattened_from)
        except ValueError as error:
            self.builder.refuse(position, description, str(error))
        self.builder.add(self.builder.construct(position, description, Dense, weight, weights.get("bias")), position,
                         description)
        self._activation(config.get("activation"), position, description)

    def _maxpool(self, position, description, config) -> None:
        size = _pair(config["pool_size"])
        stride = size if config.get("strides") is None else _pair(config["strides"])
        if config.get("padding", "valid") == "same":
            if len(self.builder.shape) != 3 or any(sum(same_padding(n, k, s)) for n, k, s in
                                                   zip(self.builder.shape[1:], size, stride)):
                self.builder.refuse(position, description, f"padding='same' pads this input (per-sample shape "
                                                           f"{self.builder.shape}); refpattern's max-pooling has no "
                                                           "padding ('same' is accepted where it pads nothing)")
        elif config.get("padding", "valid") != "valid":
            self.builder.refuse(position, description, f"padding={config['padding']!r}; only 'valid'")
        self.builder.add(self.builder.construct(position, description, MaxPool2D, size, stride), position, description)

    def _flatten(self, position, description) -> None:
        if len(self.builder.shape) == 3:
            self.flattened_from = (position, description, self.builder.shape)
        self.builder.add(Flatten(), position, description)

    def _batchnorm(self, layer, position, description, config) -> None:
        axis = config.get("axis", -1)
        axis = axis[0] if isinstance(axis, (list, tuple)) and len(axis) == 1 else axis
        channel_axes = (-1, len(self.builder.shape))  # channels last, counted with the batch axis
        if axis not in channel_axes:
            self.builder.refuse(position, description, f"axis={config.get('axis')}; only the channel axis (-1) is "
                                                       "supported")
        if config.get("renorm"):  # more weight arrays than the four below: it read as "is the model built?"
            self.builder.refuse(position, description, "renorm=True (batch renormalisation, which keeps further "
                                                       "moving statistics) is not supported; only plain "
                                                       "BatchNormalization is folded")
        names = (("gamma",) if config.get("scale", True) else ()) + (("beta",) if config.get("center", True) else ())
        weights = self._weights(layer, config, position, description, names + ("moving_mean", "moving_variance"))
        channels = self.builder.shape[0]
        self.builder.fold_batchnorm(position, description, weights.get("gamma", np.ones(channels)),
                                    weights.get("beta", np.zeros(channels)), weights["moving_mean"],
                                    weights["moving_variance"], float(config.get("epsilon", 1e-3)))

    def finish(self) -> None:
        if self.pending_padding is not None:
            position, description, _ = self.pending_padding
            self.builder.refuse(position, description, "ends the model; zero padding is merged into the next Conv2D")
        if self.flattened_from is not None:
            position, description, (c, h, w) = self.flattened_from
            if c > 1 and h * w > 1:
                self.builder.refuse(position, description, f"flattens a ({h}, {w}, {c}) map and no Dense layer "
                                                           "follows to take Keras' (H, W, C) feature order; the "
                                                           "network's outputs would come in refpattern's (C, H, W) "
                                                           "order")


def from_keras(model, input_shape=None):
    """Convert a single-chain Keras model into a refpattern :class:`~refpattern.Sequential` (NCHW).

    Parameters
    ----------
    model : keras.Model
        A ``Sequential`` or a functional model that is one chain (one input, one output, every layer
        reading the one listed before it); nested chain models are opened.  channels_last only.
        Accepted layers:

        - ``InputLayer``: skipped;
        - ``Conv2D``: strides, ``padding="valid"|"same"``, ``use_bias``; ``dilation_rate`` and
          ``groups`` other than 1 refused; the kernel ``(kh, kw, in, out)`` is transposed to
          ``(out, in, kh, kw)``;
        - ``Dense`` on a flat input; after a ``Flatten`` of an ``(H, W, C)`` map its kernel rows are
          permuted from Keras' ``(H, W, C)`` feature order to refpattern's ``(C, H, W)``
          (:func:`~refpattern.interop.flatten_permutation`);
        - a fused ``activation`` of Conv2D/Dense and the ``Activation``, ``ReLU`` and ``Softmax``
          layers: ``"relu"`` (a refpattern ReLU), ``"softmax"`` (a Softmax, last only),
          ``"linear"``/None (nothing);
        - ``MaxPooling2D``: pool size and strides, ``padding="valid"`` (``"same"`` only where it
          pads nothing);
        - ``ZeroPadding2D``: added to the next Conv2D's padding (refused if no Conv2D follows);
        - ``Flatten``;
        - ``BatchNormalization`` on the channel axis, directly after a Conv2D/Dense (no
          activation between): folded into it with the moving statistics
          (``docs/conventions.md#batchnorm-folding``);
        - ``Dropout`` (and its variants), ``Identity``: left out.

        Layers are recognised by their class, which must be Keras' own: a custom layer or a subclass
        (even one named ``Dense`` or ``ReLU``) is refused, and so is a model (or nested model) whose
        class overrides ``call``.
    input_shape : tuple, optional
        Per-sample input shape in **Keras' layout** ``(H, W, C)`` or ``(F,)``, needed only when the
        model does not fix it (``model.input_shape`` has None in it).

    Returns
    -------
    Sequential
        Taking NCHW inputs, with ``input_shape = (C, H, W)``; parameters as float64.  Convert inputs
        with :func:`~refpattern.interop.nhwc_to_nchw` and explanations back with
        :func:`~refpattern.interop.nchw_to_nhwc`.

    Raises
    ------
    ImportError
        Keras is not installed (``pip install "refpattern[keras]"``).
    TypeError
        ``model`` is not a Keras model.
    UnsupportedLayerError
        (a ``ValueError``) for any other layer or setting; the message names the layer, its
        position (``layer 3``: ``model.layers[3]``; ``layer 2.1`` inside a nested model) and its
        Keras name, and why.
    """
    import_framework("keras")
    if not _is_model(model):
        raise TypeError(f"from_keras: model must be a Keras model (Sequential or functional), got "
                        f"{type(model).__name__}")
    if input_shape is None:
        try:
            keras_shape = tuple(model.input_shape)[1:]
        except (AttributeError, ValueError, TypeError) as error:
            raise ValueError(f"from_keras: the model has no known input shape ({error}); build it with "
                             "keras.Input(shape) or pass input_shape=(H, W, C)") from None
        if any(s is None for s in keras_shape):
            raise ValueError(f"from_keras: the model's input shape {model.input_shape} is not fixed; pass "
                             "input_shape=(H, W, C) (Keras' layout, no batch axis)")
    else:
        keras_shape = check_input_shape(input_shape, CONVERTER)
        try:
            fixed = tuple(model.input_shape)[1:]
        except (AttributeError, ValueError, TypeError):  # not built yet: input_shape decides
            fixed = None
        if fixed is not None and (len(fixed) != len(keras_shape)
                                  or any(f is not None and f != s for f, s in zip(fixed, keras_shape, strict=True))):
            # (before: a conv-only model converted for the given shape, not for the one the model fixes)
            raise ValueError(f"from_keras: input_shape {tuple(keras_shape)} contradicts the model's own input shape "
                             f"{model.input_shape} (no batch axis: {fixed}); leave input_shape out, or give the "
                             "model's shape with its None axes filled")
    shape = tuple(int(s) for s in keras_shape)
    refpattern_shape = (shape[2], shape[0], shape[1]) if len(shape) == 3 else shape
    chain = _KerasChain(ChainBuilder(CONVERTER, refpattern_shape))
    chain.model(model, "")
    chain.finish()
    return chain.builder.network()
