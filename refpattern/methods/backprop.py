"""One modified backward pass from the explained logit down to the input."""

from __future__ import annotations

import numpy as np


def start_signal(logits, targets, start: str):
    """The signal placed on the logits: ``1`` (``start="one"``) or ``y_t`` (``"logit"``) at ``t``.

    logits: (N, classes); targets: (N,) ints.  Returns (N, classes), zero off the target.
    """
    rows = np.arange(logits.shape[0])
    signal = np.zeros_like(logits)
    signal[rows, targets] = 1.0 if start == "one" else logits[rows, targets]
    return signal


def modified_backward(net, activations, signal, composite, backend=None):
    """Propagate ``signal`` (shaped like the logits) through ``net`` with ``composite``'s rules.

    Parameters
    ----------
    net : Sequential
    activations : list from ``net.trace(x)``: ``[x, a_1, …, logits]``
    signal : ndarray, shape (N, classes)
    composite : Composite
        Each layer's rule gets the layer's input and output from ``activations``
        (:class:`~refpattern.methods.rule.Rule`).

    Returns
    -------
    ndarray shaped like ``x``.
    """
    layers = net.logit_layers
    for index in range(len(layers) - 1, -1, -1):
        layer = layers[index]
        rule = composite.rule_for(index, layer, net)
        signal = rule.backward(layer, activations[index], activations[index + 1], signal, backend)
    return signal
