"""Network surgery for the follow-up experiments: new networks built from a trained one.

Every function returns a new :class:`~refpattern.Sequential`; the input network is never
changed.  The ones named *equivalent* compute exactly the same function (up to rounding) and
say in their docstring why.
"""

from __future__ import annotations

import numpy as np

from refpattern.network import Conv2D, Dense, ReLU
from refpattern.network.validation import check_count, check_level, check_seed


def he_std(layer) -> float:
    """He-initialisation scale ``sqrt(2 / fan_in)`` of a Dense or Conv2D layer."""
    return float(np.sqrt(2.0 / np.prod(layer.weight.shape[1:])))


def randomize_top_layers(net, count: int, seed: int = 0):
    """Re-draw the weights of the last ``count`` kernel layers (He-initialised, biases 0), keep the rest.

    The cascading randomisation of Adebayo et al. (2018), used by Sixt et al. (2020): ``count = 1``
    randomises the logit layer, ``count = 2`` also the layer below, and so on.
    """
    count = check_count(count, "randomize_top_layers count", minimum=0)
    if not 0 <= count <= len(net.kernel_indices):
        raise ValueError(f"randomize_top_layers: count must be in 0..{len(net.kernel_indices)}, got {count}")
    rng = np.random.default_rng(check_seed(seed, "randomize_top_layers seed"))
    layers = list(net.layers)
    for index in reversed(net.kernel_indices[len(net.kernel_indices) - count:]):
        layer = layers[index]
        layers[index] = layer.with_parameters(rng.normal(0.0, he_std(layer), layer.weight.shape),
                                              np.zeros_like(layer.bias))
    return net.with_layers(layers)


def first_dense_index(net) -> int:
    """Position of the first kernel layer, which must be Dense (after an optional Flatten)."""
    index = net.kernel_indices[0]
    if not isinstance(net.layers[index], Dense):
        raise ValueError(f"the first kernel layer must be Dense, got {net.layers[index]!r}; "
                         "a padded Conv2D cannot absorb a constant input shift in its bias")
    return index


def shift_absorbed(net, shift):
    """Equivalent network for inputs ``x + c``: the first (Dense) layer's bias becomes ``b − W c``.

    ``W(x + c) + b − Wc = Wx + b``, so every activation above the first layer is unchanged
    (Kindermans, Hooker et al., 2017).  ``shift``: a scalar or an array shaped like one sample.
    """
    index = first_dense_index(net)
    layer = net.layers[index]
    shape = net.input_shape if net.input_shape is not None else (layer.weight.shape[1],)
    c = np.asarray(shift)
    if c.dtype.kind not in "iuf":
        raise TypeError(f"shift_absorbed: shift must be a real number or an array of one sample's shape {shape}, "
                        f"got {shift!r}"[:300])
    if not np.all(np.isfinite(c)):
        raise ValueError("shift_absorbed: shift must be finite")
    try:
        c = np.broadcast_to(c.astype(np.float64), shape).reshape(-1)
    except ValueError:
        raise ValueError(f"shift_absorbed: shift of shape {c.shape} does not broadcast to one sample's shape "
                         f"{shape}") from None
    layers = list(net.layers)
    layers[index] = layer.with_parameters(layer.weight, layer.bias - layer.weight @ c)
    return net.with_layers(layers)


def _next_kernel(net, kernel: int):
    indices = net.kernel_indices
    kernel = check_count(kernel, "kernel", minimum=0)  # −1 would pair the last layer with the first
    if kernel + 1 >= len(indices):
        raise ValueError(f"kernel layer {kernel} has no kernel layer above it")
    index, above = indices[kernel], indices[kernel + 1]
    between = net.layers[index + 1:above]
    if not (isinstance(net.layers[index], Dense) and isinstance(net.layers[above], Dense)
            and all(isinstance(layer, ReLU) for layer in between)):
        raise ValueError(f"kernel layers {kernel} and {kernel + 1} must be Dense layers joined by at most a ReLU")
    return index, above


def rescaled_equivalent(net, kernel: int = 0, factor: float = 4.0):
    """Equivalent network: kernel layer ``kernel`` (weights and bias) times ``factor > 0``, the
    next kernel layer's weights divided by it.  ``ReLU(αz) = α·ReLU(z)`` for ``α > 0``.

    ``factor`` must be a finite number > 0 that keeps every rescaled weight and bias within
    float64's normal range ``[2⁻¹⁰²², max]`` (an entry that was normal may not overflow, become
    subnormal or vanish: the rebuild would no longer compute the same function); else a
    ``ValueError`` naming ``factor``, the range these layers allow and the value given.
    """
    factor = check_level(factor, "rescaled_equivalent factor", 0.0, low_open=True)
    index, above = _next_kernel(net, kernel)
    low, high = net.layers[index], net.layers[above]
    with np.errstate(over="ignore", under="ignore"):  # checked just below, by name
        weight, bias, outgoing = low.weight * factor, low.bias * factor, high.weight / factor
    _check_normal_range(factor, kernel, [(low.weight, weight), (low.bias, bias)], (high.weight, outgoing))
    layers = list(net.layers)
    layers[index] = low.with_parameters(weight, bias)
    layers[above] = high.with_parameters(outgoing, high.bias)
    return net.with_layers(layers)


def _check_normal_range(factor: float, kernel: int, multiplied: list, divided: tuple) -> None:
    """Refuse ``factor`` when a ``(before, after)`` pair of parameter arrays (``multiplied``: the
    ones times ``factor``; ``divided``: the one divided by it) has an entry that was normal and is
    no longer (subnormal or 0), or one that became infinite."""
    tiny, largest = float(np.finfo(np.float64).tiny), float(np.finfo(np.float64).max)
    outside = [np.isinf(after) | ((np.abs(before) >= tiny) & (np.abs(after) < tiny)) for before, after in
            [*multiplied, divided]]
    if not any(np.any(entries) for entries in outside):
        return

    def normal(array):
        magnitudes = np.abs(array).ravel()
        return magnitudes[magnitudes >= tiny]

    up, down = np.concatenate([normal(before) for before, _ in multiplied]), normal(divided[0])
    lowest = max(tiny / up.min(initial=largest), down.max(initial=0.0) / largest)
    highest = min(largest / up.max(initial=tiny), down.min(initial=largest) / tiny)
    raise ValueError(f"rescaled_equivalent factor: expected a finite number > 0 that keeps the weights and biases "
                     f"of kernel layers {kernel} (times factor) and {kernel + 1} (divided by it) within float64's "
                     f"normal range [{tiny:.4g}, {largest:.4g}], for these layers about [{lowest:.4g}, {highest:.4g}]; "
                     f"got {factor!r}")


def split_unit_equivalent(net, kernel: int = 0, unit: int = 0):
    """Equivalent network: hidden unit ``unit`` of kernel layer ``kernel`` is duplicated, and each
    copy sends half the original outgoing weights (``v·h = (v/2)·h + (v/2)·h``)."""
    index, above = _next_kernel(net, kernel)
    low, high = net.layers[index], net.layers[above]
    unit = check_count(unit, "split_unit_equivalent unit", minimum=0)
    if unit >= low.weight.shape[0]:
        raise ValueError(f"split_unit_equivalent unit: kernel layer {kernel} has {low.weight.shape[0]} units "
                         f"(0..{low.weight.shape[0] - 1}), got {unit}")
    weight = np.vstack([low.weight, low.weight[unit:unit + 1]])
    bias = np.append(low.bias, low.bias[unit])
    outgoing = np.array(high.weight)
    outgoing[:, unit] /= 2
    outgoing = np.hstack([outgoing, outgoing[:, unit:unit + 1]])
    layers = list(net.layers)
    layers[index] = Dense(weight, bias)
    layers[above] = Dense(outgoing, high.bias)
    return net.with_layers(layers)


def factorized_equivalent(net, seed: int = 0):
    """Equivalent network: the logit layer ``W`` becomes two linear layers, ``M`` then ``W M⁻¹``,
    with no ReLU between (``W M⁻¹ M h = W h``); ``M = Q·diag(d)``, ``Q`` a random rotation,
    ``d ~ U[0.5, 2]``, so ``M`` is well conditioned."""
    index = net.kernel_indices[-1]
    layer = net.layers[index]
    if not isinstance(layer, Dense):
        raise ValueError(f"factorized_equivalent: the logit layer must be Dense, got {layer!r}")
    rng = np.random.default_rng(check_seed(seed, "factorized_equivalent seed"))
    h = layer.weight.shape[1]
    q, r = np.linalg.qr(rng.normal(size=(h, h)))
    m = q * np.sign(np.diag(r)) * rng.uniform(0.5, 2.0, size=h)
    layers = list(net.layers)
    layers[index:index + 1] = [Dense(m, np.zeros(h)), Dense(layer.weight @ np.linalg.inv(m), layer.bias)]
    return net.with_layers(layers)


def centred_logits(net):
    """Equivalent classifier: the logit layer's rows minus their mean (weights and bias).

    Softmax is unchanged when the same function is subtracted from every logit, so the
    probabilities are the same; for two classes the logits become ``±(z₁ − z₀)/2``.
    """
    index = net.kernel_indices[-1]
    layer = net.layers[index]
    if not isinstance(layer, (Dense, Conv2D)):
        raise ValueError(f"centred_logits: unexpected logit layer {layer!r}")
    layers = list(net.layers)
    layers[index] = layer.with_parameters(layer.weight - layer.weight.mean(axis=0, keepdims=True),
                                          layer.bias - layer.bias.mean())
    return net.with_layers(layers)
