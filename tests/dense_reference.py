"""An independent, slow re-implementation of a network as dense matrices (as zennit's tests do).

Every kernel layer becomes an explicit matrix ``W[j, i]`` built with plain loops (for a
convolution: ``W[(o, p, q), (c, h, w)] = weight[o, c, i, j]`` where the input pixel lies in
the receptive field), and every LRP rule is written straight from its definition with the
``(i, j)`` contribution matrix.  Nothing here calls refpattern's kernels.
"""

from __future__ import annotations

import math

import numpy as np

import refpattern as rp


def explicit_padding(layer, h, w):
    """``((top, bottom), (left, right))`` of a Conv2D for an ``h × w`` input, written out here:
    ``"same"`` from TensorFlow's documented rule (``out = ceil(n / s)``, the odd zero after)."""
    if layer.padding != "same":
        return layer.padding
    pads = []
    for n, k, s in ((h, layer.weight.shape[2], layer.stride[0]), (w, layer.weight.shape[3], layer.stride[1])):
        total = max((math.ceil(n / s) - 1) * s + k - n, 0)
        pads.append((total // 2, total - total // 2))
    return tuple(pads)


def conv_matrix(layer, input_shape):
    """Dense matrix ``(O·OH·OW, C·H·W)`` of a Conv2D's linear map, built with explicit loops
    (padding ``top`` rows above, ``bottom`` below, ``left``/``right`` columns beside the image)."""
    c_in, h, w = input_shape
    o_ch, _, kh, kw = layer.weight.shape
    (sh, sw), ((top, bottom), (left, right)) = layer.stride, explicit_padding(layer, h, w)
    ph, pw = top, left  # the first window starts at (−top, −left)
    oh = (h + top + bottom - kh) // sh + 1
    ow = (w + left + right - kw) // sw + 1
    matrix = np.zeros((o_ch * oh * ow, c_in * h * w))
    for o in range(o_ch):
        for p in range(oh):
            for q in range(ow):
                row = (o * oh + p) * ow + q
                for c in range(c_in):
                    for i in range(kh):
                        for j in range(kw):
                            hh, ww = p * sh - ph + i, q * sw - pw + j
                            if 0 <= hh < h and 0 <= ww < w:
                                matrix[row, (c * h + hh) * w + ww] = layer.weight[o, c, i, j]
    bias = np.repeat(layer.bias, oh * ow)
    return matrix, bias, (o_ch, oh, ow)


def maxpool_matrix(layer, x_sample):
    """0/1 routing matrix ``(C·OH·OW, C·H·W)`` picking each window's first maximum (loops)."""
    c_in, h, w = x_sample.shape
    (kh, kw), (sh, sw) = layer.size, layer.stride
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    matrix = np.zeros((c_in * oh * ow, c_in * h * w))
    for c in range(c_in):
        for p in range(oh):
            for q in range(ow):
                best, best_index = -np.inf, None
                for i in range(kh):
                    for j in range(kw):
                        value = x_sample[c, p * sh + i, q * sw + j]
                        if value > best:
                            best, best_index = value, (c * h + p * sh + i) * w + q * sw + j
                matrix[(c * oh + p) * ow + q, best_index] = 1.0
    return matrix, (c_in, oh, ow)


def dense_layers(net, x_sample):
    """The network for one sample as a list of ('kernel', W, b) / ('relu',) / ('route', M)."""
    steps, shape, a = [], x_sample.shape, x_sample.ravel()
    for layer in net.logit_layers:
        if isinstance(layer, rp.Conv2D):
            W, b, shape = conv_matrix(layer, shape)
            steps.append(("kernel", W, b))
            a = W @ a + b
        elif isinstance(layer, rp.Dense):
            steps.append(("kernel", np.array(layer.weight), np.array(layer.bias)))
            a = layer.weight @ a + layer.bias
            shape = a.shape
        elif isinstance(layer, rp.ReLU):
            steps.append(("relu",))
            a = np.maximum(a, 0)
        elif isinstance(layer, rp.MaxPool2D):
            M, shape = maxpool_matrix(layer, a.reshape(shape))
            steps.append(("route", M))
            a = M @ a
        elif isinstance(layer, rp.Flatten):
            shape = a.shape
    return steps


def dense_activations(steps, x_sample):
    """The input and every step's output (a list of vectors) of ``x_sample`` through ``steps``
    (:func:`dense_layers`): ``W a + b`` per kernel layer, ``max(a, 0)`` per ReLU, ``M a`` per routing."""
    activations = [x_sample.ravel()]
    for step in steps:
        a = activations[-1]
        if step[0] == "kernel":
            activations.append(step[1] @ a + step[2])
        elif step[0] == "relu":
            activations.append(np.maximum(a, 0))
        else:
            activations.append(step[1] @ a)
    return activations


def gradient_dense(net, x_sample, target):
    """``∂y_target/∂x`` of one sample by the chain rule over the dense matrices: ``Wᵀ`` per kernel layer,
    the ReLU's 0/1 mask of its forward input, ``Mᵀ`` per routing matrix (start: 1 at the target logit)."""
    steps = dense_layers(net, x_sample)
    activations = dense_activations(steps, x_sample)
    g = np.zeros_like(activations[-1])
    g[target] = 1.0
    for index in range(len(steps) - 1, -1, -1):
        step, a = steps[index], activations[index]
        if step[0] == "kernel":
            g = step[1].T @ g
        elif step[0] == "relu":
            g = g * (a > 0)
        else:
            g = step[1].T @ g
    return g.reshape(x_sample.shape)


def _stab(z, s):
    return z + s * np.where(z >= 0, 1.0, -1.0)


def _divide_exact(num, den):
    out = np.zeros_like(num)
    np.divide(num, den, out=out, where=den != 0)
    return out


def rule_epsilon(a, W, b, R, eps):
    """LRP-ε from the definition: ``R_i = Σ_j a_i w_ij R_j / (z_j + ε sgn z_j)``; ε=0 exact."""
    contributions = a[None, :] * W  # (j, i)
    z = contributions.sum(axis=1) + b
    s = _divide_exact(R, z) if eps == 0 else R / _stab(z, eps)
    return (contributions * s[:, None]).sum(axis=0)


def rule_alpha_beta(a, W, b, R, alpha, beta, bias, stabilizer):
    contributions = a[None, :] * W
    p, n = np.maximum(contributions, 0), np.minimum(contributions, 0)
    zp = p.sum(axis=1) + (np.maximum(b, 0) if bias else 0)
    zn = n.sum(axis=1) + (np.minimum(b, 0) if bias else 0)
    return (alpha * p * (R / _stab(zp, stabilizer))[:, None]
            - beta * n * (R / _stab(zn, stabilizer))[:, None]).sum(axis=0)


def rule_zb(a, W, R, low, high, stabilizer):
    contributions = a[None, :] * W - low[None, :] * np.maximum(W, 0) - high[None, :] * np.minimum(W, 0)
    z = contributions.sum(axis=1)
    return (contributions * (R / _stab(z, stabilizer))[:, None]).sum(axis=0)


def rule_w_square(a, W, R, stabilizer):
    w2 = W ** 2
    return (w2 * (R / _stab(w2.sum(axis=1), stabilizer))[:, None]).sum(axis=0)


def rule_flat(a, W, R, stabilizer):
    """Flat rule from the definition: ``R_i = Σ_j 1[i ∈ rf(j)] R_j / (|rf(j)| + s)``; the receptive
    field ``rf(j)`` is read off the nonzero entries of ``W`` (random weights are never exactly 0,
    and zero padding has no column)."""
    structure = (W != 0).astype(np.float64)
    return (structure * (R / _stab(structure.sum(axis=1), stabilizer))[:, None]).sum(axis=0)


def rule_gamma(a, W, b, R, gamma, stabilizer):
    """Generalised LRP-γ from the definition, neuron by neuron with the contribution matrix
    (``z_j > 0``: ``a⁺(w + γw⁺) + a⁻(w + γw⁻)`` over ``Σ + b + γb⁺``; ``z_j < 0``: the roles of
    ``w⁺`` and ``w⁻`` swapped, ``b + γb⁻``; ``z_j = 0``: nothing)."""
    z = W @ a + b
    relevance = np.zeros_like(a)
    a_pos, a_neg = np.maximum(a, 0), np.minimum(a, 0)
    for j in range(W.shape[0]):
        w = W[j]
        up, down = w + gamma * np.maximum(w, 0), w + gamma * np.minimum(w, 0)
        if z[j] > 0:
            c = a_pos * up + a_neg * down
            denominator = c.sum() + b[j] + gamma * max(b[j], 0)
        elif z[j] < 0:
            c = a_pos * down + a_neg * up
            denominator = c.sum() + b[j] + gamma * min(b[j], 0)
        else:
            continue
        relevance += c * R[j] / _stab(np.array(denominator), stabilizer)
    return relevance


def lrp_dense(net, x_sample, target, kernel_rule, first_rule=None):
    """Relevance of ``x_sample`` for logit ``target``; ``kernel_rule(a, W, b, R)`` per kernel layer.

    Starts from ``R = y_t`` at the target logit; ReLU passes relevance; max-pool routes.
    """
    steps = dense_layers(net, x_sample)
    activations = dense_activations(steps, x_sample)
    R = np.zeros_like(activations[-1])
    R[target] = activations[-1][target]
    first_kernel = next(i for i, s in enumerate(steps) if s[0] == "kernel")
    for index in range(len(steps) - 1, -1, -1):
        step, a = steps[index], activations[index]
        if step[0] == "kernel":
            rule = first_rule if (first_rule is not None and index == first_kernel) else kernel_rule
            R = rule(a, step[1], step[2], R)
        elif step[0] == "route":
            R = step[1].T @ R
    return R.reshape(x_sample.shape)
