"""``from_torch``: a PyTorch ``nn.Sequential`` as a refpattern :class:`~refpattern.Sequential`
(``docs/conventions.md#converters``).

torch is imported inside :func:`from_torch` only; without it the call raises an ``ImportError``
naming ``pip install "refpattern[torch]"``.  refpattern's layouts are PyTorch's, so weights are
copied as they are (as float64) and inputs and explanations need no transposition.
"""

from __future__ import annotations

import numpy as np

from refpattern.interop.conversion import ChainBuilder
from refpattern.interop.frameworks import import_framework
from refpattern.network.conv2d import Conv2D
from refpattern.network.dense import Dense
from refpattern.network.elementwise import Flatten, ReLU, Softmax
from refpattern.network.maxpool import MaxPool2D

CONVERTER = "from_torch"
#: Modules that are the identity in inference (``module.eval()``) and are left out.
DROPPED = ("Identity", "Dropout", "Dropout1d", "Dropout2d", "AlphaDropout", "FeatureAlphaDropout")


def _leaves(torch, module, prefix=""):
    """``(name, module)`` of every non-Sequential module in forward order, nested Sequentials opened.

    Read from ``module._modules``, which ``nn.Sequential.forward`` runs through, and not from
    ``named_children()``, which yields a module held twice only once: a ReLU, Linear or Sequential
    reused in the chain runs twice in the forward pass and is converted twice."""
    for name, child in module._modules.items():
        path = f"{prefix}.{name}" if prefix else name
        if type(child) is torch.nn.Sequential:
            yield from _leaves(torch, child, path)
        else:
            yield path, child


def _array(torch, tensor, builder, position, description) -> np.ndarray:
    """A parameter or buffer as a new float64 NumPy array; a complex tensor (a cast would drop its
    imaginary part) or one on the meta device (no values) is refused, naming the module."""
    if tensor.is_complex():
        builder.refuse(position, description, f"has a complex parameter ({tensor.dtype}); only real weights are "
                                              "converted")
    if tensor.is_meta:
        builder.refuse(position, description, "has parameters on the meta device, which hold no values; load or "
                                              "initialise the weights first")
    return tensor.detach().to(device="cpu", dtype=torch.float64).numpy().copy()


def _hooks(module) -> list:
    """The names of the forward hooks registered on ``module`` (they may change what it computes)."""
    return [kind for kind in ("_forward_pre_hooks", "_forward_hooks") if getattr(module, kind, None)]


def _backward_hooks(module) -> list:
    """The backward hooks registered on ``module``, each as ``"<attribute>, by <registration>"``: they may
    change the gradient torch computes through it, which refpattern's would then not match."""
    legacy = getattr(module, "_is_full_backward_hook", None) is False  # set by the legacy register_backward_hook
    registered = {"_backward_pre_hooks": "register_full_backward_pre_hook",
                  "_backward_hooks": "register_backward_hook" if legacy else "register_full_backward_hook"}
    return [f"{kind}, by {registration}" for kind, registration in registered.items() if getattr(module, kind, None)]


def _global_backward_hooks(torch) -> list:
    """The global backward hooks (``torch.nn.modules.module.register_module_*backward*_hook``), as
    :func:`_backward_hooks` names them; they run on every module."""
    module = torch.nn.modules.module
    legacy = getattr(module, "_global_is_full_backward_hook", None) is False
    registered = {"_global_backward_pre_hooks": "register_module_full_backward_pre_hook",
                  "_global_backward_hooks": "register_module_backward_hook" if legacy else
                  "register_module_full_backward_hook"}
    return [f"{kind}, by torch.nn.modules.module.{registration}" for kind, registration in registered.items()
            if getattr(module, kind, None)]


def _refuse_hooks(builder, position, description, module, check_forward=True) -> None:
    """Refuse ``module`` if it carries forward hooks (when ``check_forward``) or backward hooks."""
    if check_forward and _hooks(module):
        builder.refuse(position, description, f"has forward hooks ({', '.join(_hooks(module))}), which may change "
                                              "what it computes (weight_norm and spectral_norm work by hooks too); "
                                              "remove them first")
    if _backward_hooks(module):
        builder.refuse(position, description, f"has backward hooks ({'; '.join(_backward_hooks(module))}), which "
                                              "may change the gradient torch computes through it, so that "
                                              "refpattern's would not match it; remove them first (handle.remove())")


def _pair(value) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def _conv2d(torch, builder, module, position, description):
    if module.groups != 1:
        builder.refuse(position, description, f"groups={module.groups}; only groups=1 is supported")
    if _pair(module.dilation) != (1, 1):
        builder.refuse(position, description, f"dilation={module.dilation}; only dilation 1 is supported")
    if module.padding_mode != "zeros":
        builder.refuse(position, description, f"padding_mode={module.padding_mode!r}; only 'zeros' is supported")
    padding = module.padding if isinstance(module.padding, str) else _pair(module.padding)
    bias = None if module.bias is None else _array(torch, module.bias, builder, position, description)
    weight = _array(torch, module.weight, builder, position, description)
    builder.add(builder.construct(position, description, Conv2D, weight, bias, _pair(module.stride), padding), position,
                description)


def _linear(torch, builder, module, position, description):
    bias = None if module.bias is None else _array(torch, module.bias, builder, position, description)
    weight = _array(torch, module.weight, builder, position, description)
    builder.add(builder.construct(position, description, Dense, weight, bias), position, description)


def _maxpool2d(builder, module, position, description):
    size = _pair(module.kernel_size)
    stride = size if module.stride is None else _pair(module.stride)
    if _pair(module.padding) != (0, 0):
        builder.refuse(position, description, f"padding={module.padding}; max-pooling without padding only")
    if _pair(module.dilation) != (1, 1):
        builder.refuse(position, description, f"dilation={module.dilation}; only dilation 1 is supported")
    if module.return_indices:
        builder.refuse(position, description, "return_indices=True returns a pair; a chain passes one tensor")
    if module.ceil_mode:
        if len(builder.shape) != 3 or any((n - k) % s for n, k, s in zip(builder.shape[1:], size, stride)):
            builder.refuse(position, description, f"ceil_mode=True on an input of per-sample shape {builder.shape} "
                                                  "adds a partial window; refpattern's max-pooling floors (ceil_mode "
                                                  "is accepted only where every window fits, (H − k) % s = 0)")
    builder.add(builder.construct(position, description, MaxPool2D, size, stride), position, description)


def _batchnorm(torch, builder, module, position, description, kind):
    if module.running_mean is None or module.running_var is None:
        builder.refuse(position, description, "has no running statistics (track_running_stats=False): it "
                                              "normalises by batch statistics, which cannot be folded")
    expected = 3 if kind == "BatchNorm2d" else 1
    if len(builder.shape) != expected:
        builder.refuse(position, description, f"reads a per-sample input of shape {builder.shape}; {kind} is folded "
                                              f"into a {'Conv2d' if expected == 3 else 'Linear'} before it")
    channels = builder.shape[0]
    arrays = [None if tensor is None else _array(torch, tensor, builder, position, description)
              for tensor in (module.weight, module.bias, module.running_mean, module.running_var)]
    gamma = np.ones(channels) if arrays[0] is None else arrays[0]
    beta = np.zeros(channels) if arrays[1] is None else arrays[1]
    builder.fold_batchnorm(position, description, gamma, beta, arrays[2], arrays[3], float(module.eps))


def _flatten(builder, module, position, description):
    ndim = len(builder.shape) + 1  # with the batch axis
    if module.start_dim not in (1, 1 - ndim) or module.end_dim not in (-1, ndim - 1):
        builder.refuse(position, description, f"start_dim={module.start_dim}, end_dim={module.end_dim}; only "
                                              "Flatten(start_dim=1, end_dim=-1) (keep the batch axis, flatten the "
                                              "rest) is supported")
    builder.add(Flatten(), position, description)


def _softmax(builder, module, position, description):
    if len(builder.shape) != 1 or module.dim not in (None, 1, -1):
        builder.refuse(position, description, f"dim={module.dim} on a per-sample shape {builder.shape}; only a "
                                              "softmax over the classes of flat logits (dim=1 or -1) is supported")
    builder.add(Softmax(), position, description)


def from_torch(module, input_shape):
    """Convert a PyTorch ``nn.Sequential`` into a refpattern :class:`~refpattern.Sequential`.

    Parameters
    ----------
    module : torch.nn.Sequential
        Nested ``nn.Sequential`` containers are opened.  Accepted modules, in inference form (the
        network of ``module.eval()``, whatever ``module.training`` says):

        - ``Conv2d``: stride, ``padding`` an int, a pair, ``"same"`` or ``"valid"``, with or without
          bias; ``groups``, ``dilation`` and ``padding_mode`` other than 1, 1, ``"zeros"`` refused;
        - ``Linear`` (on a flat input), ``ReLU``, ``Flatten(start_dim=1, end_dim=-1)``;
        - ``MaxPool2d``: kernel size and stride (``stride=None`` is the kernel size); padding,
          dilation and ``return_indices`` refused, ``ceil_mode=True`` only where every window fits;
        - ``Softmax`` over the classes (``dim=1``/``-1``), last only;
        - ``BatchNorm2d`` after a ``Conv2d`` and ``BatchNorm1d`` after a ``Linear``, folded into
          that layer with their running statistics (``docs/conventions.md#batchnorm-folding``);
        - ``Dropout`` (and its variants) and ``Identity``: left out.

        Subclasses of these modules are refused (their ``forward`` may differ), and so is a
        ``module`` that overrides ``nn.Sequential.forward``, and any module with forward hooks
        (they may change its output) or backward hooks (``register_full_backward_hook``,
        ``register_full_backward_pre_hook``, the legacy ``register_backward_hook``: they may change
        torch's gradient, which refpattern's would then not match), as are global forward and
        backward hooks (``register_module_forward_hook``, ``register_module_full_backward_hook`` …).
        A module held twice in the chain (a shared ReLU or Linear) is converted at each place it runs.
    input_shape : tuple
        Per-sample input shape, ``(C, H, W)`` or ``(F,)`` (no batch axis).

    Returns
    -------
    Sequential
        With ``input_shape``; parameters copied as float64.  Its logits equal the module's float64
        forward pass up to rounding (``tests/test_interop_torch.py``).

    Raises
    ------
    ImportError
        torch is not installed (``pip install "refpattern[torch]"``).
    TypeError
        ``module`` is not an ``nn.Sequential``.
    UnsupportedLayerError
        (a ``ValueError``) for any other module or setting; the message names the module, its
        position in the chain and its name in ``module``, and why.
    ValueError
        A layer does not fit the shape it reads (the message names it and both shapes).
    """
    torch = import_framework("torch")
    nn = torch.nn
    if not isinstance(module, nn.Sequential):
        raise TypeError(f"from_torch: module must be a torch.nn.Sequential (nested Sequentials are opened), got "
                        f"{type(module).__name__}")
    builder = ChainBuilder(CONVERTER, input_shape)
    if type(module).forward is not nn.Sequential.forward:
        builder.refuse("the model", type(module).__name__, "overrides nn.Sequential.forward, which may compute "
                                                           "something other than the chain of its modules; pass an "
                                                           "nn.Sequential (a subclass only if it keeps its forward)")
    global_hooks = [kind for kind in ("_global_forward_pre_hooks", "_global_forward_hooks")
                    if getattr(torch.nn.modules.module, kind, None)]
    if global_hooks:
        builder.refuse("the model", type(module).__name__,
                       f"global forward hooks are registered ({', '.join(global_hooks)}, by "
                       "torch.nn.modules.module.register_module_forward_hook or _pre_hook); they run on every module "
                       "and may change what it computes; remove them first")
    if _global_backward_hooks(torch):
        builder.refuse("the model", type(module).__name__,
                       f"global backward hooks are registered ({'; '.join(_global_backward_hooks(torch))}); they run "
                       "on every module and may change the gradient torch computes, so that refpattern's would not "
                       "match it; remove them first (handle.remove())")
    for name, container in [("the model", module)] + [(f"{path!r}", child) for path, child in
                                                      module.named_modules() if path and type(child) is nn.Sequential]:
        if _hooks(container):
            builder.refuse(name, type(container).__name__, f"has forward hooks ({', '.join(_hooks(container))}), "
                                                           "which may change what it computes; remove them first")
        _refuse_hooks(builder, name, type(container).__name__, container, check_forward=False)
    for index, (name, child) in enumerate(_leaves(torch, module)):
        kind = type(child).__name__
        position, description = f"layer {index} ({name!r})", repr(child)
        # a lazy module's own forward hook: refused below as lazy
        _refuse_hooks(builder, position, description, child, check_forward=not kind.startswith("Lazy"))
        if type(child) is nn.Conv2d:
            _conv2d(torch, builder, child, position, description)
        elif type(child) is nn.Linear:
            _linear(torch, builder, child, position, description)
        elif type(child) is nn.ReLU:
            builder.add(ReLU(), position, description)
        elif type(child) is nn.MaxPool2d:
            _maxpool2d(builder, child, position, description)
        elif type(child) in (nn.BatchNorm2d, nn.BatchNorm1d):
            _batchnorm(torch, builder, child, position, description, kind)
        elif type(child) is nn.Flatten:
            _flatten(builder, child, position, description)
        elif type(child) is nn.Softmax:
            _softmax(builder, child, position, description)
        elif kind in DROPPED and type(child) is getattr(nn, kind):
            continue
        elif kind.startswith("Lazy"):
            builder.refuse(position, description, f"{kind} is a lazy module whose parameters are not initialised "
                                                  "yet: run the model once (it then becomes a plain module)")
        else:
            builder.refuse(position, description, f"{kind} is not supported; from_torch converts Conv2d, Linear, "
                                                  "ReLU, MaxPool2d, Flatten, Softmax (last), BatchNorm1d/2d (folded "
                                                  "into the layer before), Dropout and Identity (left out)")
    return builder.network()
