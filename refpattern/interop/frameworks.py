"""Optional frameworks (torch, Keras, ONNX): imported on first use, or an ``ImportError`` that names
the pip extra installing them (``docs/conventions.md#interop-layouts``)."""

from __future__ import annotations

import importlib

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
