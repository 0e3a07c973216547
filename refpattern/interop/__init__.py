"""Moving networks, inputs, explanations and patterns between refpattern and other frameworks.

- converters (``docs/conventions.md#converters``): :func:`from_torch` (an ``nn.Sequential``),
  :func:`from_keras` (a single-chain Keras model, channels_last) and :func:`from_onnx` (an ONNX
  graph that is one chain) return a refpattern :class:`~refpattern.Sequential`; BatchNorm is folded
  (:func:`fold_batchnorm`); what cannot be converted raises :class:`UnsupportedLayerError`, naming
  the layer and its position;
- layouts: refpattern's are PyTorch's (images NCHW, Dense weight ``(out, in)``, Conv2D weight
  ``(out, in, kh, kw)``, Flatten in ``(C, H, W)`` order); :mod:`refpattern.interop.layouts` turns
  them into Keras' channels-last layouts and back (``docs/conventions.md#interop-layouts``);
- export: :mod:`refpattern.interop.export` gives fitted patterns in those layouts and in
  iNNvestigate 1.x's list (``docs/conventions.md#pattern-export``).

Frameworks are optional: importing this package imports none of torch, Keras or ONNX.  Code that
needs one calls :func:`import_framework`, which imports it on first use or raises an
``ImportError`` naming the pip extra that installs it (``pip install "refpattern[torch]"``).
"""

from __future__ import annotations

from refpattern.interop.conversion import UnsupportedLayerError, fold_batchnorm
from refpattern.interop.export import export_patterns, innvestigate_patterns
from refpattern.interop.frameworks import FRAMEWORK_EXTRAS, import_framework
from refpattern.interop.keras_converter import from_keras
from refpattern.interop.layouts import (
    LAYOUTS,
    conv_weight_from_keras,
    conv_weight_to_keras,
    dense_weight_from_keras,
    dense_weight_to_keras,
    flatten_permutation,
    flattened_inputs,
    layer_padding,
    nchw_to_nhwc,
    network_weights,
    nhwc_to_nchw,
)
from refpattern.interop.onnx_converter import from_onnx
from refpattern.interop.torch_converter import from_torch

__all__ = [
    "FRAMEWORK_EXTRAS", "LAYOUTS", "UnsupportedLayerError", "conv_weight_from_keras", "conv_weight_to_keras",
    "dense_weight_from_keras", "dense_weight_to_keras", "export_patterns", "flatten_permutation",
    "flattened_inputs", "fold_batchnorm", "from_keras", "from_onnx", "from_torch", "import_framework",
    "innvestigate_patterns", "layer_padding", "nchw_to_nhwc", "network_weights", "nhwc_to_nchw",
]
