"""Moving networks, inputs and explanations between refpattern and other frameworks.

refpattern's layouts are PyTorch's (images NCHW, Dense weight ``(out, in)``, Conv2D weight
``(out, in, kh, kw)``, Flatten in ``(C, H, W)`` order); :mod:`refpattern.interop.layouts` turns
them into Keras' channels-last layouts and back (``docs/conventions.md#interop-layouts``);
:mod:`refpattern.interop.export` gives fitted patterns in those layouts and in iNNvestigate 1.x's
list (``docs/conventions.md#pattern-export``).

Frameworks are optional: nothing here imports torch, Keras or ONNX.  Code that needs one calls
:func:`import_framework`, which imports it on first use or raises an ``ImportError`` naming the
pip extra that installs it.
"""

from __future__ import annotations

import importlib

from refpattern.interop.export import export_patterns, innvestigate_patterns
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

#: Framework module → the refpattern extra (``pip install "refpattern[extra]"``) that provides it.
FRAMEWORK_EXTRAS = {"torch": "torch", "keras": "keras", "tensorflow": "keras", "onnx": "onnx",
                    "onnxruntime": "onnx"}


def import_framework(module: str, extra: str | None = None):
    """Import an optional framework module, e.g. ``import_framework("torch")``.

    Parameters
    ----------
    module : str
        The module to import (``"torch"``, ``"keras"``, ``"onnx"``, …).
    extra : str, optional
        The refpattern extra that installs it; defaults to :data:`FRAMEWORK_EXTRAS` for the
        module's top-level package.

    Raises
    ------
    ImportError
        When the module cannot be imported; the message names the module and the command
        ``pip install "refpattern[<extra>]"``.
    """
    if not isinstance(module, str) or not module:
        raise TypeError(f"import_framework: module must be a module name (str), got {module!r}")
    if extra is None:
        extra = FRAMEWORK_EXTRAS.get(module.split(".")[0])
    try:
        return importlib.import_module(module)
    except ImportError as error:
        install = f'pip install "refpattern[{extra}]"' if extra else f"pip install {module.split('.')[0]}"
        raise ImportError(f"{module} is not installed (refpattern needs it for this step only); install it with: "
                          f"{install}  [{error}]") from error


__all__ = [
    "FRAMEWORK_EXTRAS", "LAYOUTS", "conv_weight_from_keras", "conv_weight_to_keras", "dense_weight_from_keras",
    "dense_weight_to_keras", "export_patterns", "flatten_permutation", "flattened_inputs", "import_framework",
    "innvestigate_patterns", "layer_padding", "nchw_to_nhwc", "network_weights", "nhwc_to_nchw",
]
