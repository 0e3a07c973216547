"""Reading a command's MODEL: a refpattern network file, or what the converters read
(``docs/conventions.md#file-commands``).

=================  ==========================================================================
file               read with
=================  ==========================================================================
``*.npz``          :meth:`refpattern.Sequential.load` (``Sequential.save``'s file: no pickle,
                   checksum; ``docs/conventions.md#network-file-format``)
``*.onnx``         :func:`refpattern.interop.from_onnx` (extra ``onnx``)
``*.keras``        ``keras.saving.load_model`` (safe mode), then :func:`refpattern.interop.from_keras`
                   (extra ``keras``; ``KERAS_BACKEND`` defaults to ``torch``); the network takes
                   NCHW inputs
``*.pt``, ``*.pth``  ``torch.load(..., weights_only=False)`` of a whole ``nn.Sequential``
                   (``torch.save(model, path)``), then :func:`refpattern.interop.from_torch`
                   (extra ``torch``), **only with** ``--allow-pickle``: such a file is a pickle, and
                   unpickling runs whatever code the file holds, so load only files you trust; the
                   input shape is ``--input-shape`` or the data's per-sample shape
=================  ==========================================================================

Every problem — a missing file, a file that is not a model, a layer the converters refuse, a
framework that is not installed, a torch file without ``--allow-pickle`` — is a
:class:`~refpattern.command_arguments.UsageError`: one line, exit status 2, before any work.
"""

from __future__ import annotations

import os
import zipfile

from refpattern.command_arguments import UsageError
from refpattern.network import Sequential

#: Suffixes of the files each reader takes.
NETWORK_SUFFIXES, ONNX_SUFFIXES, KERAS_SUFFIXES, TORCH_SUFFIXES = (".npz",), (".onnx",), (".keras",), (".pt", ".pth")


def add_model_arguments(parser) -> None:
    """MODEL, ``--allow-pickle`` and ``--input-shape``."""
    parser.add_argument("model", metavar="MODEL",
                        help="the network: a refpattern network file (.npz, Sequential.save), an ONNX model (.onnx), "
                             "a Keras model (.keras) or, with --allow-pickle, a torch.save'd nn.Sequential (.pt)")
    parser.add_argument("--allow-pickle", action="store_true",
                        help="allow reading a torch model (.pt/.pth): such a file is a pickle, and loading it runs any "
                             "code the file holds; pass this only for files you trust")
    parser.add_argument("--input-shape", type=input_shape, default=None, metavar="C,H,W",
                        help="per-sample input shape of a torch model (default: the data's; other models store "
                             "theirs, and a different one is refused)")


def input_shape(text: str) -> tuple:
    """An ``argparse`` type: ``"1,16,16"`` → ``(1, 16, 16)`` (positive ints)."""
    import argparse

    try:
        shape = tuple(int(part, 10) for part in text.replace("x", ",").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected positive integers separated by commas (e.g. 3,32,32), got "
                                         f"{text!r}") from None
    if not shape or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers separated by commas, got {text!r}")
    return shape


def file_kind(path: str) -> str:
    """``"network"``, ``"onnx"``, ``"keras"`` or ``"torch"`` by the file's suffix; a file without a known
    suffix that is a zip archive is read as a network file.  Raises :class:`UsageError` otherwise."""
    suffix = os.path.splitext(path)[1].lower()
    for kind, suffixes in (("network", NETWORK_SUFFIXES), ("onnx", ONNX_SUFFIXES), ("keras", KERAS_SUFFIXES),
                           ("torch", TORCH_SUFFIXES)):
        if suffix in suffixes:
            return kind
    if zipfile.is_zipfile(path):
        return "network"
    raise UsageError(f"MODEL {path}: unknown kind of model file (expected a refpattern network file .npz, .onnx, "
                     ".keras, or a torch .pt with --allow-pickle)")


def load_network(path: str, allow_pickle: bool = False, shape=None, data_shape=None) -> Sequential:
    """The refpattern network of the model file ``path`` (module docstring).  ``shape``: ``--input-shape``,
    the per-sample input shape a torch model needs (the other kinds store theirs: a different one is
    refused, as it would be ignored); ``data_shape``: the data's per-sample shape, a torch model's default."""
    if not os.path.exists(path):
        raise UsageError(f"MODEL {path}: no such file")
    if os.path.isdir(path):
        raise UsageError(f"MODEL {path}: a folder, expected a model file")
    kind = file_kind(path)
    if kind != "torch":
        net = _read_network_file(path) if kind == "network" else _convert(path, kind, None)
        if shape is not None and net.input_shape is not None and tuple(net.input_shape) != tuple(shape):
            raise UsageError(f"--input-shape {','.join(map(str, shape))}: MODEL {path} takes samples of shape "
                             f"{tuple(net.input_shape)}; the option is for torch models, which do not store theirs")
        return net
    shape = shape if shape is not None else data_shape
    if not allow_pickle:
        raise UsageError(f"MODEL {path}: a torch file is a pickle, and loading it runs any code stored in it; pass "
                         "--allow-pickle if you trust this file (or export the model to ONNX, or save it with "
                         "refpattern: from_torch(model, shape).save('net.npz'))")
    if shape is None:
        raise UsageError(f"MODEL {path}: a torch model does not store its input shape; pass --input-shape C,H,W")
    return _convert(path, kind, shape)


def _convert(path: str, kind: str, shape) -> Sequential:
    """The ONNX, Keras or torch model at ``path`` converted (``shape``: a torch model's input shape)."""
    from refpattern.interop import from_keras, from_onnx, from_torch, import_framework

    try:
        if kind == "onnx":
            return from_onnx(path)
        if kind == "keras":
            os.environ.setdefault("KERAS_BACKEND", "torch")  # Keras 3's default, TensorFlow, is not an extra
            keras = import_framework("keras")
            return from_keras(keras.saving.load_model(path))
        torch = import_framework("torch")
        module = torch.load(path, map_location="cpu", weights_only=False)
        if not isinstance(module, torch.nn.Module):
            raise ValueError(f"holds a {type(module).__name__}, not a model (torch.save(model, path) of an "
                             "nn.Sequential; a state_dict alone does not say which layers it belongs to)")
        return from_torch(module, shape)
    except ImportError as error:
        raise UsageError(f"MODEL {path}: {' '.join(str(error).split())}") from None
    except Exception as error:  # noqa: BLE001 — a framework's reader may raise anything for a bad file
        raise UsageError(f"MODEL {path}: cannot read it as a {kind} model ({type(error).__name__}: "
                         f"{' '.join(str(error).split())})") from None


def _read_network_file(path: str) -> Sequential:
    try:
        return Sequential.load(path)
    except ValueError as error:
        message = " ".join(str(error).split())
        if "refpattern.Patterns" in message:
            raise UsageError(f"MODEL {path}: a patterns file, not a network (pass it as --patterns)") from None
        raise UsageError(f"MODEL {message}" if message.startswith(path) else f"MODEL {path}: {message}") from None


__all__ = ["add_model_arguments", "file_kind", "input_shape", "load_network"]
