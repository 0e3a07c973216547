"""Backward rules for kernel layers (Dense, Conv2D): one small, cited object per rule.

Every rule is a :class:`~refpattern.methods.rule.Rule`:
``rule.backward(layer, x, output, upstream, backend) -> downstream``, where ``x`` is the layer
input ``(N, …)``, ``output`` the layer's forward output ``z = layer.forward(x)`` (bias included,
as the forward pass computed it), ``upstream`` is shaped like ``output`` and the result like
``x``.  Rules only use the layer's linear map ``f(x; V) = layer.linear(x, V)`` and its transpose
``fᵀ(g; V) = layer.linear_transpose(g, V, x.shape)``, for any weight ``V`` of the layer's shape,
so one rule serves Dense and Conv2D alike (for a convolution the sum over ``i`` runs over the
receptive field of output neuron ``j``; zero padding adds nothing).

Notation (``docs/math.md#rules-notation``): ``z_j = Σ_i x_i w_ij + b_j``; ``R_j`` is upstream.

Stabilisers: a denominator ``z`` becomes ``z + s·sgn(z)`` with ``sgn(0) := +1``
(:func:`stabilized_divide`).  ``s = 0`` divides exactly, and a term whose denominator is
exactly zero contributes zero.
"""

from __future__ import annotations

import numbers
import weakref

import numpy as np

from refpattern.kernels import get_backend
from refpattern.methods.rule import Rule
from refpattern.network.validation import as_float_array, check_level

DEFAULT_STABILIZER = 1e-6


def stabilized_divide(numerator, denominator, stabilizer):
    """``numerator / (denominator + s·sgn(denominator))`` with ``sgn(0) = +1``.

    With ``stabilizer == 0`` the division is exact and entries whose denominator is exactly
    0 give 0 (never NaN).
    """
    if stabilizer == 0:
        out = np.zeros(np.broadcast(numerator, denominator).shape)
        np.divide(numerator, denominator, out=out, where=denominator != 0)
        return out
    if not (isinstance(numerator, np.ndarray) and isinstance(denominator, np.ndarray)
            and numerator.shape == denominator.shape and numerator.dtype == denominator.dtype == np.float64):
        return numerator / (denominator + stabilizer * np.where(denominator >= 0, 1.0, -1.0))
    # the same numbers in one buffer and four passes: ``s·sgn(z)`` is ``copysign(s, z + 0.0)`` (adding
    # 0.0 turns −0.0 into +0.0, whose sign counts as +1 here), and ``±s`` is exactly ``s · ±1.0``
    out = np.add(denominator, 0.0)
    np.copysign(stabilizer, out, out=out)
    np.add(denominator, out, out=out)
    return np.divide(numerator, out, out=out)


def _bias_shaped(layer, bias, like):
    """Broadcast a per-neuron vector ``(out,)`` against a layer output ``like``."""
    if like.ndim == 4:
        return bias[None, :, None, None]
    return bias[None, :]


def _check_stabilizer(rule: str, value) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):  # Fraction too
        raise TypeError(f"{rule}: stabilizer must be a number, got {value!r}")
    value = float(value)
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{rule}: stabilizer must be finite and >= 0, got {value}")
    return value


class GradientRule(Rule):
    """Exact vector-Jacobian product: ``R_i = Σ_j w_ij R_j`` (Simonyan et al., 2014)."""

    def backward(self, layer, x, output, upstream, backend=None):
        return layer.linear_transpose(upstream, layer.weight, x.shape, backend)


class EpsilonRule(Rule):
    """LRP-ε (Bach et al., 2015): ``R_i = Σ_j x_i w_ij R_j / (z_j + ε·sgn(z_j))``, bias inside ``z``.

    ``epsilon = 0`` is LRP-z: exact division; a neuron with ``z_j = 0`` passes nothing.
    """

    def __init__(self, epsilon=0.0):
        self.epsilon = _check_stabilizer("lrp.epsilon epsilon", epsilon)

    def backward(self, layer, x, output, upstream, backend=None):
        s = stabilized_divide(upstream, output, self.epsilon)
        relevance = layer.linear_transpose(s, layer.weight, x.shape, backend)  # a fresh array: x · it in place
        return np.multiply(x, relevance, out=relevance)


class AlphaBetaRule(Rule):
    """LRP-αβ (Bach et al., 2015; Montavon et al., 2017), ``α − β = 1``, ``α ≥ 1``, ``β ≥ 0``.

    With ``p_ij = (x_i w_ij)⁺`` and ``n_ij = (x_i w_ij)⁻``:
    ``R_i = Σ_j (α·p_ij / (Σ_i p_ij + b_j⁺) − β·n_ij / (Σ_i n_ij + b_j⁻)) R_j``;
    ``bias=False`` drops ``b⁺``/``b⁻``.  α=1, β=0 is the z⁺ rule.

    Implementation: ``(x w)⁺ = x⁺w⁺ + x⁻w⁻`` and ``(x w)⁻ = x⁺w⁻ + x⁻w⁺`` elementwise.
    """

    def __init__(self, alpha=1.0, beta=0.0, bias=True, stabilizer=DEFAULT_STABILIZER):
        alpha, beta = check_level(alpha, "lrp.alpha_beta alpha", 1.0), check_level(beta, "lrp.alpha_beta beta")
        if abs(alpha - beta - 1) > 1e-12:
            raise ValueError("lrp.alpha_beta: needs alpha - beta = 1, alpha >= 1, beta >= 0; "
                             f"got alpha={alpha}, beta={beta}")
        if not isinstance(bias, (bool, np.bool_)):
            raise TypeError(f"lrp.alpha_beta: bias must be True or False, got {bias!r}")
        self.alpha, self.beta, self.bias = alpha, beta, bool(bias)
        self.stabilizer = _check_stabilizer("lrp.alpha_beta", stabilizer)

    def _part(self, layer, x_pos, x_neg, w_a, w_b, bias, upstream, backend):
        """``Σ_j (x⁺w_a + x⁻w_b)_ij R_j / (Σ_i (x⁺w_a + x⁻w_b)_ij + bias_j)``."""
        z = layer.linear(x_pos, w_a, backend) + layer.linear(x_neg, w_b, backend)
        if self.bias:
            z = z + _bias_shaped(layer, bias, z)
        s = stabilized_divide(upstream, z, self.stabilizer)
        return (x_pos * layer.linear_transpose(s, w_a, x_pos.shape, backend)
                + x_neg * layer.linear_transpose(s, w_b, x_neg.shape, backend))

    def backward(self, layer, x, output, upstream, backend=None):
        x_pos, x_neg = np.maximum(x, 0.0), np.minimum(x, 0.0)
        w_pos, w_neg = np.maximum(layer.weight, 0.0), np.minimum(layer.weight, 0.0)
        b_pos, b_neg = np.maximum(layer.bias, 0.0), np.minimum(layer.bias, 0.0)
        relevance = self.alpha * self._part(layer, x_pos, x_neg, w_pos, w_neg, b_pos, upstream, backend)
        if self.beta != 0:
            relevance = relevance - self.beta * self._part(layer, x_pos, x_neg, w_neg, w_pos, b_neg, upstream, backend)
        return relevance


def check_bound_shape(bound, name: str, x_shape: tuple) -> None:
    """Raise ``ValueError`` unless the bound ``name`` of z^B (``low`` or ``high``) is a scalar or shaped
    like one sample of inputs shaped ``x_shape`` (N, …)."""
    shape = np.shape(bound)
    if shape and shape != tuple(x_shape[1:]):
        raise ValueError(f"lrp.zb: {name} must be a scalar or shaped like one sample {tuple(x_shape[1:])}, "
                         f"got {shape}")


class ZBRule(Rule):
    """z^B rule for a bounded input layer ``l ≤ x ≤ h`` (Montavon et al., 2017); the bias cancels.

    ``R_i = Σ_j (x_i w_ij − l_i w⁺_ij − h_i w⁻_ij) R_j / Σ_i (x_i w_ij − l_i w⁺_ij − h_i w⁻_ij)``.
    ``low``/``high``: scalars or arrays shaped like one sample.  Inputs outside ``[low, high]`` are not
    refused: the formula is computed as written, as Zennit's ``ZBox`` does (``docs/conventions.md#method-names``).
    """

    def __init__(self, low, high, stabilizer=DEFAULT_STABILIZER):
        # real numbers (no bools, strings or masked entries), finite: a TypeError/ValueError naming the bound
        self.low, self.high = as_float_array(low, "lrp.zb low"), as_float_array(high, "lrp.zb high")
        if np.any(self.low > self.high):
            raise ValueError("lrp.zb: needs low <= high everywhere")
        self.stabilizer = _check_stabilizer("lrp.zb", stabilizer)

    def _bounds(self, x):
        for name, bound in (("low", self.low), ("high", self.high)):
            check_bound_shape(bound, name, x.shape)
        return np.broadcast_to(self.low, x.shape), np.broadcast_to(self.high, x.shape)

    def backward(self, layer, x, output, upstream, backend=None):
        low, high = self._bounds(x)
        w, w_pos, w_neg = layer.weight, np.maximum(layer.weight, 0.0), np.minimum(layer.weight, 0.0)
        z = layer.linear(x, w, backend) - layer.linear(low, w_pos, backend) - layer.linear(high, w_neg, backend)
        s = stabilized_divide(upstream, z, self.stabilizer)
        return (x * layer.linear_transpose(s, w, x.shape, backend)
                - low * layer.linear_transpose(s, w_pos, x.shape, backend)
                - high * layer.linear_transpose(s, w_neg, x.shape, backend))


class WSquareRule(Rule):
    """w²-rule (Montavon et al., 2017): ``R_i = Σ_j w_ij² R_j / Σ_i w_ij²``.

    For a convolution ``Σ_i`` runs over the input neurons that exist (not the zero padding).
    """

    def __init__(self, stabilizer=DEFAULT_STABILIZER):
        self.stabilizer = _check_stabilizer("lrp.w_square", stabilizer)

    def backward(self, layer, x, output, upstream, backend=None):
        w2 = layer.weight ** 2
        z = layer.linear(np.ones_like(x), w2, backend)
        s = stabilized_divide(upstream, z, self.stabilizer)
        return layer.linear_transpose(s, w2, x.shape, backend)


class FlatRule(Rule):
    """Flat rule (Lapuschkin et al., 2019, "Unmasking Clever Hans predictors"; zennit ``rules.Flat``):
    ``R_i = Σ_j R_j / (Σ_i 1 + s·sgn(·))`` — every input of neuron ``j``'s receptive field gets
    the same share, whatever its value or weight.

    ``Σ_i 1`` counts the inputs that exist: for a convolution, zero padding is not an input
    (as zennit's ``Flat``, which runs the layer on ``ones_like(input)`` with all weights 1 and
    the bias zeroed).  No bias enters.  ``docs/math.md#rule-flat``.
    """

    def __init__(self, stabilizer=DEFAULT_STABILIZER):
        self.stabilizer = _check_stabilizer("lrp.flat", stabilizer)

    def backward(self, layer, x, output, upstream, backend=None):
        ones = np.ones_like(layer.weight)
        count = layer.linear(np.ones_like(x), ones, backend)
        s = stabilized_divide(upstream, count, self.stabilizer)
        return layer.linear_transpose(s, ones, x.shape, backend)


class GammaRule(Rule):
    """LRP-γ in zennit's generalised form (Montavon et al., 2019, "Layer-wise relevance propagation:
    an overview"; Andéol et al., 2021; zennit ``rules.Gamma``), ``docs/math.md#rule-gamma``.

    With ``w↑ = w + γw⁺``, ``w↓ = w + γw⁻`` (and the bias likewise, ``b↑ = b + γb⁺``,
    ``b↓ = b + γb⁻``), and the forward output ``z_j = Σ_i x_i w_ij + b_j``:

    - ``z_j > 0``: ``c_ij = x⁺_i w↑_ij + x⁻_i w↓_ij``, denominator ``Σ_i c_ij + b↑_j``;
    - ``z_j < 0``: ``c_ij = x⁺_i w↓_ij + x⁻_i w↑_ij``, denominator ``Σ_i c_ij + b↓_j``;
    - ``z_j = 0``: the neuron passes nothing;

    ``R_i = Σ_j c_ij R_j / (den_j + s·sgn(den_j))``.  For inputs ``x ≥ 0`` (after a ReLU) and
    ``z_j > 0`` this is Montavon et al.'s γ-rule ``a_i (w_ij + γw⁺_ij) / Σ_i a_i (w_ij + γw⁺_ij)``
    with the bias as the weight of a constant input 1; ``γ = 0`` is LRP-ε with ``ε = s`` wherever
    ``z_j ≠ 0``.
    """

    def __init__(self, gamma=0.25, stabilizer=DEFAULT_STABILIZER):
        if isinstance(gamma, (bool, np.bool_)) or not isinstance(gamma, numbers.Real):  # Fraction too
            raise TypeError(f"lrp.gamma: gamma must be a number, got {gamma!r}")
        gamma = float(gamma)
        if not np.isfinite(gamma) or gamma < 0:
            raise ValueError(f"lrp.gamma: gamma must be finite and >= 0, got {gamma}")
        self.gamma = gamma
        self.stabilizer = _check_stabilizer("lrp.gamma", stabilizer)

    def backward(self, layer, x, output, upstream, backend=None):
        g = self.gamma
        w, b = layer.weight, layer.bias
        w_up, w_down = w + g * np.maximum(w, 0.0), w + g * np.minimum(w, 0.0)
        b_up, b_down = b + g * np.maximum(b, 0.0), b + g * np.minimum(b, 0.0)
        x_pos, x_neg = np.maximum(x, 0.0), np.minimum(x, 0.0)
        relevance = np.zeros(x.shape)
        for gate, w_pos_inputs, w_neg_inputs, bias in ((output > 0, w_up, w_down, b_up),
                                                       (output < 0, w_down, w_up, b_down)):
            if not np.any(gate):
                continue
            z = (layer.linear(x_pos, w_pos_inputs, backend) + layer.linear(x_neg, w_neg_inputs, backend)
                 + _bias_shaped(layer, bias, output))
            s = stabilized_divide(upstream * gate, z, self.stabilizer)
            relevance += (x_pos * layer.linear_transpose(s, w_pos_inputs, x.shape, backend)
                          + x_neg * layer.linear_transpose(s, w_neg_inputs, x.shape, backend))
        return relevance


class GatedPatternRule(Rule):
    """The kernel-layer step of PatternNet and PatternAttribution (Kindermans et al., 2018, Sec. 4.3;
    ``docs/math.md#rule-patternnet``).

    The gradient step with the weights replaced by ``V₊`` where this layer's gate is open
    (``z_j = wᵀx + b > 0``) and by ``V₋`` where it is closed:
    ``R_i = Σ_j (V₊_ij·1[z_j > 0] + V₋_ij·1[z_j ≤ 0]) R_j``.
    PatternNet uses ``V± = a±`` (the patterns), PatternAttribution ``V± = w ⊙ a±``.  Where a
    ReLU follows the layer, its gate zeroes ``R_j`` for closed neurons, so only ``a₊`` acts.
    """

    def __init__(self, open_weight, closed_weight, name: str):
        # real arrays, masked ones refused; not scanned for NaN here (fitted patterns are finite, and the
        # backward pass refuses a non-finite signal, naming the layer)
        self.open_weight = as_float_array(open_weight, f"{name}: open-gate pattern", allow_nonfinite=True)
        self.closed_weight = as_float_array(closed_weight, f"{name}: closed-gate pattern", allow_nonfinite=True)
        self.name = name

    def backward(self, layer, x, output, upstream, backend=None):
        for label, v in (("open", self.open_weight), ("closed", self.closed_weight)):
            if v.shape != layer.weight.shape:
                raise ValueError(f"{self.name}: {label}-gate pattern has shape {v.shape}, layer {layer!r} "
                                 f"has weight shape {layer.weight.shape}")
        if output.shape != upstream.shape:
            raise ValueError(f"{self.name}: upstream {upstream.shape} and the layer output {output.shape} of "
                             f"{layer!r} differ in shape")
        open_part, closed_part = get_backend(backend).split_by_gate(upstream, output)
        downstream = layer.linear_transpose(open_part, self.open_weight, x.shape, backend)
        # the closed regime is None when its upstream is all zero (it would add exactly nothing):
        # where a ReLU follows it always is, so PatternNet/PatternAttribution cost one product per layer
        if closed_part is not None:
            downstream += layer.linear_transpose(closed_part, self.closed_weight, x.shape, backend)
        return downstream


#: PatternAttribution's ``w ⊙ a`` of read-only arrays of at most this many entries is kept for the next
#: call (a dense layer's product is a few milliseconds of a one-sample explanation; VGG-16's largest,
#: 800 MB, is not kept).
PATTERN_PRODUCT_CACHE_ELEMENTS = 1 << 22
_PATTERN_PRODUCTS = {}  # id(pattern array) -> (weak reference to it, weight array, w ⊙ a); dropped with it


def pattern_product(weight, pattern):
    """``weight ⊙ pattern`` (PatternAttribution's ``V = w ⊙ a``, ``docs/math.md#rule-patternnet``), a
    read-only array.  Where both are read-only (a layer's weights and fitted patterns are) and small
    enough (:data:`PATTERN_PRODUCT_CACHE_ELEMENTS`), the product is kept with the pattern array and
    handed out again for the same weight array: the same numbers, without recomputing them per call."""
    keep = (isinstance(weight, np.ndarray) and isinstance(pattern, np.ndarray) and not weight.flags.writeable
            and not pattern.flags.writeable and pattern.size <= PATTERN_PRODUCT_CACHE_ELEMENTS)
    if keep:
        kept = _PATTERN_PRODUCTS.get(id(pattern))
        if kept is not None and kept[0]() is pattern and kept[1] is weight:
            return kept[2]
    product = np.multiply(weight, pattern)
    product.setflags(write=False)
    if keep:
        key = id(pattern)
        _PATTERN_PRODUCTS[key] = (weakref.ref(pattern, lambda _, key=key: _PATTERN_PRODUCTS.pop(key, None)), weight,
                                  product)
    return product


class IdentitySignalRule(Rule):
    """PatternNet/PatternAttribution step for the identity estimator ``S_x(x) = x``.

    ``S_x`` has no fixed pattern: ``S_x(x) = x = a(x)·y`` with ``a(x) = x / y`` and
    ``y_j = wᵀx`` (no bias, ``docs/math.md#bias``).  PatternNet step:
    ``R_i = x_i Σ_j R_j / y_j``; PatternAttribution step (``w ⊙ a``):
    ``R_i = Σ_j x_i w_ij R_j / y_j``, which is LRP-z wherever the biases are zero.
    A neuron with ``y_j = 0`` passes nothing.
    """

    def __init__(self, attribution: bool):
        self.attribution = bool(attribution)

    def backward(self, layer, x, output, upstream, backend=None):
        y = layer.linear(x, layer.weight, backend)
        s = stabilized_divide(upstream, y, 0.0)
        weight = layer.weight if self.attribution else np.ones_like(layer.weight)
        return x * layer.linear_transpose(s, weight, x.shape, backend)
