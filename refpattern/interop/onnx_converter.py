"""``from_onnx``: an ONNX graph that is one chain of layers as a refpattern :class:`~refpattern.Sequential`
(``docs/conventions.md#converters``).

onnx is imported inside :func:`from_onnx` only; without it the call raises an ``ImportError``
naming ``pip install "refpattern[onnx]"``.  ONNX images are NCHW and its Conv weights
``(out, in, kh, kw)``, refpattern's layouts, so only Gemm/MatMul weights are transposed.
Initializers (and ``Constant`` nodes) are read with ``onnx.numpy_helper`` and cast to float64.
"""

from __future__ import annotations

import math
import os

import numpy as np

from refpattern.interop.conversion import ChainBuilder, UnsupportedLayerError
from refpattern.interop.frameworks import import_framework
from refpattern.network.conv2d import Conv2D, same_padding
from refpattern.network.dense import Dense
from refpattern.network.elementwise import Flatten, ReLU, Softmax
from refpattern.network.maxpool import MaxPool2D

CONVERTER = "from_onnx"
SUPPORTED = ("Conv, Gemm, MatMul (+ Add), Relu, MaxPool, Flatten, Reshape to (N, -1), Softmax (last), "
             "BatchNormalization (folded into the layer before), Identity and Dropout (left out), Constant")
AUTO_PADS = ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")
#: BatchNormalization's default ``epsilon``: ONNX attributes are float32, so the default 1e-5 is float32(1e-5)
#: (9.99999974738e-06), as onnx.reference and onnxruntime use it.
ONNX_BATCHNORM_EPSILON = float(np.float32(1e-5))


def _attributes(helper, node) -> dict:
    values = {}
    for attribute in node.attribute:
        value = helper.get_attribute_value(attribute)
        values[attribute.name] = value.decode() if isinstance(value, bytes) else value
    return values


def _describe(node, attributes) -> str:
    shown = ", ".join(f"{key}={value!r}" for key, value in sorted(attributes.items()) if key != "value")
    return f"{node.op_type}({shown})" if shown else node.op_type


class _OnnxChain:
    """Walks the nodes of a graph in order, keeping the one tensor the chain has reached."""

    def __init__(self, onnx, model):
        self.helper = onnx.helper
        self.numpy_helper = onnx.numpy_helper
        graph = model.graph
        self.graph = graph
        self.opset = next((entry.version for entry in model.opset_import if entry.domain in ("", "ai.onnx")), None)
        self.constants = {tensor.name: self.numpy_helper.to_array(tensor) for tensor in graph.initializer}
        inputs = [value for value in graph.input if value.name not in self.constants]
        if len(inputs) != 1 or len(graph.output) != 1:
            raise UnsupportedLayerError(CONVERTER, f"graph {graph.name!r}", "graph",
                                        f"has {len(inputs)} inputs and {len(graph.output)} outputs; only single "
                                        "chains (one input, one output) are converted")
        dims = [d.dim_value if d.HasField("dim_value") else None for d in inputs[0].type.tensor_type.shape.dim]
        if len(dims) not in (2, 4) or any(d is None or d < 1 for d in dims[1:]):
            raise ValueError(f"{CONVERTER}: the graph input {inputs[0].name!r} has shape "
                             f"{['?' if d is None else d for d in dims]}; expected (N, C, H, W) or (N, F) with every "
                             "axis but the batch axis fixed")
        self.batch = dims[0]
        self.builder = ChainBuilder(CONVERTER, tuple(dims[1:]))
        self.current = inputs[0].name
        self.used = {name for node in graph.node for name in node.input} | {value.name for value in graph.output}
        self.previous_op = None

    def constant(self, name, position, description, what) -> np.ndarray:
        if name not in self.constants:
            self.builder.refuse(position, description, f"its {what} {name!r} is computed in the graph; it must be "
                                                       "an initializer or a Constant")
        return np.asarray(self.constants[name])

    def walk(self) -> None:
        for index, node in enumerate(self.graph.node):
            name = f"{node.name!r}" if node.name else f"unnamed, output {node.output[0]!r}"
            position = f"node {index} ({name})"
            attributes = _attributes(self.helper, node)
            description = _describe(node, attributes)
            if node.domain not in ("", "ai.onnx"):
                self.builder.refuse(position, description, f"operator domain {node.domain!r}; only the default "
                                                           "ONNX domain is converted")
            if node.op_type == "Constant":
                self._constant(node, attributes, position, description)
                continue
            if node.op_type == "Identity" and node.input and node.input[0] in self.constants:
                self.constants[node.output[0]] = self.constants[node.input[0]]  # a renamed weight (torch exports)
                continue
            data = [tensor for tensor in node.input if tensor and tensor not in self.constants]
            if data != [self.current]:
                self.builder.refuse(position, description, f"reads {data}, not just the chain's current tensor "
                                                           f"{self.current!r} (a branch or a merge); only single "
                                                           "chains are converted")
            if node.op_type not in ("Add",) and node.input[0] != self.current:
                self.builder.refuse(position, description, f"its first input is {node.input[0]!r}, not the chain's "
                                                           f"tensor {self.current!r}")
            for extra in node.output[1:]:
                if extra and extra in self.used:
                    self.builder.refuse(position, description, f"its second output {extra!r} is used; only the "
                                                               "first output of a node is converted")
            handler = getattr(self, f"_op_{node.op_type}", None)
            if handler is None:
                self.builder.refuse(position, description, f"{node.op_type} is not supported; from_onnx converts "
                                                           f"{SUPPORTED}")
            handler(node, attributes, position, description)
            self.previous_op = node.op_type
            self.current = node.output[0]
        if self.graph.output[0].name != self.current:
            raise UnsupportedLayerError(CONVERTER, f"graph output {self.graph.output[0].name!r}", "graph",
                                        f"is not the last node's output {self.current!r}; only single chains are "
                                        "converted")

    # -- operators ----------------------------------------------------------------------------
    def _constant(self, node, attributes, position, description):
        for key in ("value", "value_float", "value_floats", "value_int", "value_ints"):
            if key in attributes:
                value = attributes[key]
                array = self.numpy_helper.to_array(value) if key == "value" else np.asarray(value)
                self.constants[node.output[0]] = array
                return
        self.builder.refuse(position, description, "a Constant without a value/value_float(s)/value_int(s)")

    def _pads(self, attributes, kernel, stride, position, description):
        """``((top, bottom), (left, right))`` or ``"same"`` from ``auto_pad`` and ``pads``."""
        auto_pad = attributes.get("auto_pad", "NOTSET")
        if auto_pad not in AUTO_PADS:
            self.builder.refuse(position, description, f"auto_pad={auto_pad!r}; expected one of {AUTO_PADS}")
        if auto_pad == "VALID":
            return ((0, 0), (0, 0))
        if auto_pad == "SAME_UPPER":
            return "same"
        if auto_pad == "SAME_LOWER":  # the odd zero before: swap the "same" pads
            if len(self.builder.shape) != 3:
                self.builder.refuse(position, description, f"reads a per-sample shape {self.builder.shape}")
            return tuple(same_padding(n, k, s)[::-1] for n, k, s in zip(self.builder.shape[1:], kernel, stride))
        pads = [int(p) for p in attributes.get("pads", (0, 0, 0, 0))]
        if len(pads) != 4 or min(pads) < 0:
            self.builder.refuse(position, description, f"pads={pads}; expected [top, left, bottom, right] >= 0")
        return ((pads[0], pads[2]), (pads[1], pads[3]))

    def _spatial(self, attributes, key, position, description, default):
        value = tuple(int(v) for v in attributes.get(key, default))
        if len(value) != 2:
            self.builder.refuse(position, description, f"{key}={list(value)}; only 2-D operators are converted")
        return value

    def _op_Conv(self, node, attributes, position, description):
        weight = self.constant(node.input[1], position, description, "weight").astype(np.float64)
        if weight.ndim != 4:
            self.builder.refuse(position, description, f"weight of shape {weight.shape}; only 2-D convolutions "
                                                       "(out, in, kh, kw)")
        bias = None
        if len(node.input) > 2 and node.input[2]:
            bias = self.constant(node.input[2], position, description, "bias").astype(np.float64)
        if int(attributes.get("group", 1)) != 1:
            self.builder.refuse(position, description, f"group={attributes['group']}; only group=1 is supported")
        if self._spatial(attributes, "dilations", position, description, (1, 1)) != (1, 1):
            self.builder.refuse(position, description, f"dilations={attributes['dilations']}; only 1 is supported")
        kernel = tuple(weight.shape[2:])
        if self._spatial(attributes, "kernel_shape", position, description, kernel) != kernel:
            self.builder.refuse(position, description, f"kernel_shape={attributes['kernel_shape']} contradicts the "
                                                       f"weight's {kernel}")
        stride = self._spatial(attributes, "strides", position, description, (1, 1))
        padding = self._pads(attributes, kernel, stride, position, description)
        self.builder.add(self.builder.construct(position, description, Conv2D, weight, bias, stride, padding), position,
                         description)

    def _op_Gemm(self, node, attributes, position, description):
        if int(attributes.get("transA", 0)) != 0:
            self.builder.refuse(position, description, "transA=1 transposes the batch; only transA=0")
        matrix = self.constant(node.input[1], position, description, "B").astype(np.float64)
        if matrix.ndim != 2:
            self.builder.refuse(position, description, f"B of shape {matrix.shape}; expected a matrix")
        weight = matrix if int(attributes.get("transB", 0)) else matrix.T
        alpha, beta = float(attributes.get("alpha", 1.0)), float(attributes.get("beta", 1.0))
        if alpha != 1.0:
            weight = alpha * weight
        bias = None
        if len(node.input) > 2 and node.input[2]:
            bias = beta * self._vector(self.constant(node.input[2], position, description, "C"), weight.shape[0],
                                       position, description)
        self.builder.add(self.builder.construct(position, description, Dense, weight, bias), position, description)

    def _op_MatMul(self, node, attributes, position, description):
        matrix = self.constant(node.input[1], position, description, "second input").astype(np.float64)
        if matrix.ndim != 2:
            self.builder.refuse(position, description, f"second input of shape {matrix.shape}; expected a matrix "
                                                       "(in, out)")
        self.builder.add(self.builder.construct(position, description, Dense, matrix.T), position, description)

    def _vector(self, value, size, position, description):
        """A bias given as a scalar, ``(size,)`` or ``(1, size)`` as ``(size,)``."""
        value = np.asarray(value, dtype=np.float64)
        if value.size == 1:
            return np.full(size, float(value.reshape(())))
        if value.shape not in ((size,), (1, size)):
            self.builder.refuse(position, description, f"a bias of shape {value.shape}; expected ({size},) or "
                                                       f"(1, {size})")
        return value.reshape(size)

    def _op_Add(self, node, attributes, position, description):
        """A constant added right after a MatMul, Gemm or Conv: it joins that layer's bias."""
        layer = self.builder.layers[-1] if self.builder.layers else None
        if self.previous_op not in ("MatMul", "Gemm", "Conv") or not isinstance(layer, (Dense, Conv2D)):
            self.builder.refuse(position, description, "an Add is converted only as the bias of the MatMul, Gemm "
                                                       f"or Conv node directly before it (here: {self.previous_op})")
        other = next(tensor for tensor in node.input if tensor != self.current)
        value = self.constant(other, position, description, "addend").astype(np.float64)
        channels = layer.weight.shape[0]
        if isinstance(layer, Conv2D) and value.size != 1:
            if value.shape not in ((channels, 1, 1), (1, channels, 1, 1)):
                self.builder.refuse(position, description, f"adds a constant of shape {value.shape} to a Conv "
                                                           f"output; expected one value per channel ({channels}, 1, "
                                                           "1)")
            value = value.reshape(channels)
        else:
            value = self._vector(value, channels, position, description)
        self.builder.add_to_bias(position, description, value)

    def _op_Relu(self, node, attributes, position, description):
        self.builder.add(ReLU(), position, description)

    def _op_MaxPool(self, node, attributes, position, description):
        size = self._spatial(attributes, "kernel_shape", position, description, ())
        stride = self._spatial(attributes, "strides", position, description, (1, 1))
        if self._spatial(attributes, "dilations", position, description, (1, 1)) != (1, 1):
            self.builder.refuse(position, description, f"dilations={attributes['dilations']}; only 1 is supported")
        if len(self.builder.shape) != 3:
            self.builder.refuse(position, description, f"reads a per-sample shape {self.builder.shape}")
        padding = self._pads(attributes, size, stride, position, description)
        if padding == "same":
            padding = tuple(same_padding(n, k, s) for n, k, s in zip(self.builder.shape[1:], size, stride))
        if any(p for pair in padding for p in pair):
            self.builder.refuse(position, description, f"pads this input by {padding}; refpattern's max-pooling has "
                                                       "no padding")
        if int(attributes.get("ceil_mode", 0)) and any((n - k) % s for n, k, s in
                                                       zip(self.builder.shape[1:], size, stride)):
            self.builder.refuse(position, description, f"ceil_mode=1 on an input of per-sample shape "
                                                       f"{self.builder.shape} adds a partial window; refpattern's "
                                                       "max-pooling floors (ceil_mode is accepted only where every "
                                                       "window fits)")
        self.builder.add(self.builder.construct(position, description, MaxPool2D, size, stride), position, description)

    def _op_Flatten(self, node, attributes, position, description):
        rank = len(self.builder.shape) + 1
        axis = int(attributes.get("axis", 1))
        if (axis + rank if axis < 0 else axis) != 1:
            self.builder.refuse(position, description, f"axis={axis}; only axis=1 (keep the batch axis) is "
                                                       "supported")
        self.builder.add(Flatten(), position, description)

    def _op_Reshape(self, node, attributes, position, description):
        target = [int(v) for v in self.constant(node.input[1], position, description, "shape").reshape(-1)]
        features = math.prod(self.builder.shape)
        batches = {-1} | (set() if int(attributes.get("allowzero", 0)) else {0})
        if self.batch:  # a graph exported with a fixed batch size may reshape to it
            batches.add(self.batch)
        if len(target) != 2 or target[0] not in batches or target[1] not in (-1, features) or target == [-1, -1]:
            self.builder.refuse(position, description, f"shape {target} on a per-sample shape {self.builder.shape}; "
                                                       f"only a flatten to (N, {features}) is converted ([0, -1], "
                                                       f"[-1, {features}] or the graph's fixed batch size)")
        self.builder.add(Flatten(), position, description)

    def _op_Softmax(self, node, attributes, position, description):
        axis = int(attributes.get("axis", -1 if (self.opset or 13) >= 13 else 1))
        if len(self.builder.shape) != 1 or axis not in (1, -1):
            self.builder.refuse(position, description, f"axis={axis} on a per-sample shape {self.builder.shape}; "
                                                       "only a softmax over flat logits")
        self.builder.add(Softmax(), position, description)

    def _refuse_training_is_test(self, node, attributes, position, description):
        """Opsets ≤ 6 give Dropout and BatchNormalization an ``is_test`` attribute whose default 0 is training
        mode (random dropout; normalisation by the batch's own statistics): refused; ``is_test=1`` is inference.
        From opset 7 on there is no ``is_test`` (an ``is_test=0`` given anyway is refused too)."""
        legacy = self.opset is not None and self.opset < 7
        if "is_test" not in attributes and not legacy:
            return
        is_test = int(attributes.get("is_test", 0))
        if not is_test:
            given = f"is_test={is_test}" if "is_test" in attributes else "no is_test (default 0)"
            computes = ("drops random entries" if node.op_type == "Dropout" else
                        "normalises by the batch's own statistics, not the running ones")
            self.builder.refuse(position, description, f"{given} at opset {self.opset} is training mode: it "
                                                       f"{computes}; only inference is converted (is_test=1, or "
                                                       "export the model in inference mode at opset 7 or later)")

    def _op_BatchNormalization(self, node, attributes, position, description):
        self._refuse_training_is_test(node, attributes, position, description)
        if int(attributes.get("training_mode", 0)) or int(attributes.get("spatial", 1)) != 1:
            self.builder.refuse(position, description, "training_mode=1 or spatial=0; only inference with per-channel "
                                                       "statistics is folded")
        gamma, beta, mean, variance = (self.constant(name, position, description, what).astype(np.float64)
                                       for name, what in zip(node.input[1:5], ("scale", "B", "mean", "var")))
        self.builder.fold_batchnorm(position, description, gamma, beta, mean, variance,
                                    float(attributes.get("epsilon", ONNX_BATCHNORM_EPSILON)))

    def _op_Identity(self, node, attributes, position, description):
        pass

    def _op_Dropout(self, node, attributes, position, description):
        self._refuse_training_is_test(node, attributes, position, description)
        if len(node.input) > 2 and node.input[2]:
            training = self.constant(node.input[2], position, description, "training_mode")
            if bool(np.any(training)):
                self.builder.refuse(position, description, "training_mode is true; dropout is left out only in "
                                                           "inference")


def _check_holds_a_model(model, parsed: str) -> None:
    """Refuse a ModelProto without a graph, or with an empty one (no node, input or output): what protobuf makes of
    empty bytes and of many that are no model (a message of unknown or default fields parses without an error).
    ``parsed`` says what came, e.g. "the 0 bytes given parse as an onnx.ModelProto"."""
    graph = model.graph
    if model.HasField("graph") and (graph.node or graph.input or graph.output):
        return
    what = "no graph" if not model.HasField("graph") else "an empty graph (no node, input or output)"
    raise ValueError(f"from_onnx: not an ONNX model: {parsed} with {what}; pass a model, the bytes of a .onnx file "
                     "(model.SerializeToString()) or its path")


def from_onnx(model_or_path):
    """Convert an ONNX model that is one chain of layers into a refpattern :class:`~refpattern.Sequential`.

    Parameters
    ----------
    model_or_path : onnx.ModelProto, bytes, str or path-like
        A model, its serialised bytes, or a ``.onnx`` file.  The graph has one input ``(N, C, H, W)``
        or ``(N, F)`` (every axis but ``N`` fixed) and one output, and every node reads the output
        of the node before it (weights are initializers or ``Constant`` nodes).  Accepted operators
        (default domain):

        - ``Conv`` (2-D, ``group=1``, ``dilations`` 1): ``strides``; ``auto_pad`` ``NOTSET`` with
          explicit ``pads = [top, left, bottom, right]`` (asymmetric allowed), ``VALID``,
          ``SAME_UPPER`` (refpattern's ``"same"``: the odd zero after) and ``SAME_LOWER`` (the
          odd zero before, as explicit pads for the graph's input size);
        - ``Gemm`` (``transA=0``; ``transB``, ``alpha``, ``beta`` applied to the weights and
          bias), ``MatMul`` by a constant ``(in, out)`` matrix, optionally followed by an ``Add``
          of a constant (the bias; an ``Add`` after a ``Conv`` joins its bias likewise);
        - ``Relu``, ``Flatten`` (``axis=1``), ``Reshape`` to ``(N, −1)`` (shape ``[0, −1]``,
          ``[−1, F]``, or the graph's fixed batch size — the converted network takes any batch);
        - ``MaxPool`` without padding (``SAME_*`` where it pads nothing), ``ceil_mode`` only where
          every window fits, one output;
        - ``Softmax`` over flat logits, last only;
        - ``BatchNormalization`` (inference) directly after a Conv/Gemm/MatMul(+Add): folded
          (``docs/conventions.md#batchnorm-folding``);
        - ``Identity``, ``Dropout`` (inference): left out.

        Before opset 7, ``Dropout`` and ``BatchNormalization`` carry ``is_test``, whose default 0 is
        training mode: converted only with ``is_test=1``, refused otherwise.

    Returns
    -------
    Sequential
        With ``input_shape`` from the graph; parameters as float64.

    Raises
    ------
    ImportError
        onnx is not installed (``pip install "refpattern[onnx]"``).
    TypeError
        ``model_or_path`` is none of the accepted kinds.
    ValueError
        The bytes or the file are not a readable ONNX model (``OSError`` for a missing file), or they
        (or the ``ModelProto`` given) parse as a model without a graph or with an empty one (empty
        bytes do); the message says what came (the number of bytes, the file).
    UnsupportedLayerError
        (a ``ValueError``) for any other operator or setting, or a graph that is not one chain;
        the message names the node's index and name, and why.
    """
    onnx = import_framework("onnx")
    import_framework("onnx.numpy_helper")
    if isinstance(model_or_path, onnx.ModelProto):
        model, parsed = model_or_path, "the onnx.ModelProto given is one"
    elif isinstance(model_or_path, (bytes, bytearray, str, os.PathLike)):
        if isinstance(model_or_path, (bytes, bytearray)):
            source = f"the {len(model_or_path)} bytes given"
            parsed = f"{source} parse as an onnx.ModelProto"
        else:
            source = os.fspath(model_or_path)
            parsed = f"the file {source!r} parses as an onnx.ModelProto"
        try:
            if isinstance(model_or_path, (bytes, bytearray)):
                model = onnx.load_from_string(bytes(model_or_path))
            else:
                model = onnx.load(os.fspath(model_or_path))
        except OSError:  # a missing file, a directory: the operating system's own error
            raise
        except Exception as error:  # protobuf's DecodeError and the like: not an ONNX model
            raise ValueError(f"from_onnx: could not read an ONNX model from {source} ({type(error).__name__}: "
                             f"{error})") from None
    else:
        raise TypeError(f"from_onnx: expected an onnx.ModelProto, its bytes or a path to a .onnx file, got "
                        f"{type(model_or_path).__name__}")
    _check_holds_a_model(model, parsed)
    chain = _OnnxChain(onnx, model)
    chain.walk()
    return chain.builder.network()
