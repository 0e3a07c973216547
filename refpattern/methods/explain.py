"""``refpattern.explain``: one entry point for every method."""

from __future__ import annotations

import numpy as np

from refpattern.methods.backprop import modified_backward, start_signal
from refpattern.methods.composite import Composite
from refpattern.methods.registry import GRADIENT_METHODS, METHODS, canonical_name
from refpattern.methods.targets import resolve_targets
from refpattern.network.sequential import Sequential
from refpattern.network.validation import check_options


def explain(net, x, method, target=None, *, backend=None, **options):
    """Explain the pre-softmax logit ``y_t`` of each sample in ``x``.

    Parameters
    ----------
    net : Sequential
    x : ndarray of floats, shape (N, …)
        A batch; never modified.
    method : str or Composite
        One of :func:`refpattern.method_names` (iNNvestigate's names are accepted as aliases),
        or a :class:`~refpattern.methods.Composite` of your own rules.
    target : None, int or sequence of N ints
        ``None`` explains the argmax logit of each sample.
    backend : {"numpy", "numba", "cuda"}, optional
        Where the heavy kernels run; every backend gives the same numbers.
    **options
        Method options (``epsilon=``, ``alpha=``, ``patterns=``, ``steps=``, …); an unknown
        option raises a ``ValueError`` that lists the accepted ones.

    Returns
    -------
    ndarray, float64, shaped like ``x``.
    """
    if not isinstance(net, Sequential):
        raise TypeError(f"net: expected a refpattern.Sequential, got {type(net).__name__}")
    x = net.check_input(x)
    composite = run = None
    if isinstance(method, Composite):
        if options:
            raise ValueError(f"a Composite takes no options, got {sorted(options)}")
        composite = method
    else:
        name = canonical_name(method)
        if name in METHODS:
            builder, defaults = METHODS[name]
            composite = builder(check_options(name, options, defaults), net)
        else:
            run, defaults = GRADIENT_METHODS[name]
            options = check_options(name, options, defaults)

    activations = net.trace(x, backend, check=False)
    targets = resolve_targets(activations[-1], target)
    if composite is not None:
        signal = start_signal(activations[-1], targets, composite.start)
        return modified_backward(net, activations, signal, composite, backend)

    def gradient_at(points, point_activations=None):
        """Gradient of each sample's fixed target logit at ``points`` (shaped like x)."""
        if point_activations is None:
            point_activations = net.trace(points, backend, check=False)
        signal = start_signal(point_activations[-1], targets, "one")
        return modified_backward(net, point_activations, signal, Composite(), backend)

    return run(gradient_at, x, activations, options)


def logit_of_target(net, x, target=None, backend=None) -> np.ndarray:
    """``y_t`` per sample: the explained logit (argmax unless ``target`` is given)."""
    logits = net.logits(x, backend)
    targets = resolve_targets(logits, target)
    return logits[np.arange(len(targets)), targets]
