"""Another framework, emulated: the same network run as dense matrices in a chosen dtype.

A framework that explains the same network computes the same formulas with its own kernels, its own
summation order and, often, float32.  This module does that with NumPy only: every layer of one sample
becomes a dense matrix (``tests/dense_reference.py``, built in float64 and cast once, as a framework
casts its weights), and the forward pass and three backward passes run entirely in ``dtype``:

- ``gradient``: start 1 at ``y_t``, ``R ← Wᵀ R``, ReLU ``R·1[z > 0]``, max-pool routed to the winner;
- ``lrp.epsilon``: start ``y_t``, ``R ← a ⊙ Wᵀ (R / (z + ε·sgn z))`` with ``sgn(0) = +1``, ReLU passes;
- ``pattern.attribution``: start ``y_t``, ``R ← V₊ᵀ(R·1[z > 0]) + V₋ᵀ(R·1[z ≤ 0])`` with ``V± = w ⊙ a±``,
  ReLU gated.

Nothing here calls refpattern's kernels or rules.  ``tests/test_testing.py`` measures the difference to
refpattern's float64 result to state the tolerances of ``docs/conventions.md#tolerances``.

:func:`keras_forward` runs a network given in Keras' channels-last layout (``refpattern.interop``) the
way Keras defines its layers.
"""

from __future__ import annotations

import dense_reference as ref
import numpy as np

import refpattern as rp

EMULATED_METHODS = ("gradient", "lrp.epsilon", "pattern.attribution")


def _pattern_matrices(net, x_sample, patterns):
    """Per kernel layer, the dense matrices of ``w ⊙ a₊`` and ``w ⊙ a₋`` (float64)."""
    shapes = net.output_shapes(x_sample.shape)
    matrices = []
    for k, (index, layer) in enumerate(zip(net.kernel_indices, net.kernel_layers)):
        pair = []
        for a in (patterns[k].a_plus, patterns[k].a_minus):
            v = np.array(layer.weight) * a
            if isinstance(layer, rp.Conv2D):
                pair.append(ref.conv_matrix(layer.with_parameters(v, layer.bias), shapes[index])[0])
            else:
                pair.append(v)
        matrices.append(pair)
    return matrices


def explain_emulated(net, x, targets, method, dtype, epsilon=1e-6, patterns=None):
    """``method``'s explanation of each sample of ``x`` (refpattern's layout), computed in ``dtype``;
    returned as float64, shaped like ``x``."""
    if method not in EMULATED_METHODS:
        raise ValueError(f"explain_emulated: method must be one of {EMULATED_METHODS}, got {method!r}")
    out = np.zeros(x.shape)
    for n in range(x.shape[0]):
        steps = ref.dense_layers(net, x[n])
        cast = [tuple(np.asarray(part, dtype=dtype) if isinstance(part, np.ndarray) else part for part in step)
                for step in steps]
        pattern_list = _pattern_matrices(net, x[n], patterns) if method == "pattern.attribution" else None
        activations = [x[n].ravel().astype(dtype)]
        for step in cast:
            a = activations[-1]
            if step[0] == "kernel":
                activations.append(step[1] @ a + step[2])
            elif step[0] == "relu":
                activations.append(np.maximum(a, dtype(0)))
            else:
                activations.append(step[1] @ a)
        logits = activations[-1]
        relevance = np.zeros_like(logits)
        relevance[targets[n]] = dtype(1) if method == "gradient" else logits[targets[n]]
        kernel_steps = [i for i, step in enumerate(cast) if step[0] == "kernel"]
        for index in range(len(cast) - 1, -1, -1):
            step, a, z = cast[index], activations[index], activations[index + 1]
            if step[0] == "kernel":
                if method == "gradient":
                    relevance = step[1].T @ relevance
                elif method == "lrp.epsilon":
                    sign = np.where(z >= 0, dtype(1), dtype(-1))
                    relevance = a * (step[1].T @ (relevance / (z + dtype(epsilon) * sign)))
                else:
                    v_plus, v_minus = (np.asarray(m, dtype=dtype) for m in pattern_list[kernel_steps.index(index)])
                    relevance = v_plus.T @ (relevance * (z > 0)) + v_minus.T @ (relevance * (z <= 0))
            elif step[0] == "relu":
                if method != "lrp.epsilon":
                    relevance = relevance * (a > 0)
            else:
                relevance = step[1].T @ relevance
            assert relevance.dtype == dtype, (method, step[0], relevance.dtype)
        out[n] = relevance.astype(np.float64).reshape(x.shape[1:])
    return out


def relative_error_per_sample(actual, reference) -> np.ndarray:
    """``max|actual_n − reference_n| / max|reference_n|`` per sample (the measure of refpattern.testing);
    a sample whose reference is all zero is refused, so that no measurement is vacuous."""
    axes = tuple(range(1, reference.ndim))
    scale = np.max(np.abs(reference), axis=axes)
    assert np.all(scale > 0), f"a sample's reference explanation is all zero: {scale}"
    return np.max(np.abs(actual - reference), axis=axes) / scale


def keras_forward(layers, x_nhwc):
    """Logits of a network given as Keras-layout layer dicts (``refpattern.interop.network_weights(net,
    "keras")`` or a reference file's), run channels-last with NumPy only from the Keras layer definitions:
    ZeroPadding2D + 'valid' Conv2D (cross-correlation), MaxPooling2D, ReLU, Flatten of (H, W, C), Dense;
    a Softmax is skipped (logits)."""
    a = x_nhwc
    for layer in layers:
        kind = layer["type"]
        if kind == "Conv2D":
            (top, bottom), (left, right) = layer["padding"]
            a = np.pad(a, ((0, 0), (top, bottom), (left, right), (0, 0)))
            kh, kw, _, out = layer["kernel"].shape
            sh, sw = layer["strides"]
            oh, ow = (a.shape[1] - kh) // sh + 1, (a.shape[2] - kw) // sw + 1
            z = np.zeros((a.shape[0], oh, ow, out))
            for p in range(oh):
                for q in range(ow):
                    window = a[:, p * sh:p * sh + kh, q * sw:q * sw + kw, :]
                    z[:, p, q, :] = np.einsum("nijc,ijco->no", window, layer["kernel"])
            a = z + layer["bias"]
        elif kind == "MaxPool2D":
            (kh, kw), (sh, sw) = layer["pool_size"], layer["strides"]
            oh, ow = (a.shape[1] - kh) // sh + 1, (a.shape[2] - kw) // sw + 1
            a = np.stack([np.stack([a[:, p * sh:p * sh + kh, q * sw:q * sw + kw, :].max(axis=(1, 2))
                                    for q in range(ow)], axis=1) for p in range(oh)], axis=1)
        elif kind == "ReLU":
            a = np.maximum(a, 0)
        elif kind == "Flatten":
            a = a.reshape(a.shape[0], -1)
        elif kind == "Dense":
            a = a @ layer["kernel"] + layer["bias"]
    return a
