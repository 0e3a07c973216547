"""The networks of the golden suite (``refpattern golden``, :mod:`refpattern.experiments.golden`):
:class:`GoldenNetwork`, one builder per network in :data:`NETWORKS` (each with what it tests), and
:func:`golden_networks`; every explained input is redrawn until its logit is well conditioned
(:func:`logit_condition`, :data:`LARGEST_CONDITION`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from refpattern.network import Conv2D, Dense, Flatten, MaxPool2D, ReLU, Sequential, Softmax
from refpattern.network.validation import check_count, check_seed

#: Samples explained per network, and the fit data for the patterns.
DEFAULT_SAMPLES = 3
FIT_SAMPLES = 128


@dataclass
class GoldenNetwork:
    """One network of the suite: what it is for, its inputs, targets (None: the argmax) and fit data."""

    name: str
    description: str
    net: Sequential
    x: np.ndarray
    targets: np.ndarray | None
    fit_x: np.ndarray
    notes: dict = field(default_factory=dict)


def _dense_relu(rng, samples):
    net = Sequential([Dense(rng.normal(0, 0.6, (6, 5)), rng.normal(0, 0.3, 6)), ReLU(),
                      Dense(rng.normal(0, 0.6, (4, 6)), rng.normal(0, 0.3, 4)), ReLU(),
                      Dense(rng.normal(0, 0.6, (3, 4)), rng.normal(0, 0.3, 3))], input_shape=(5,))
    golden = GoldenNetwork("dense_relu", "Dense 5→6→4→3 with ReLUs and biases", net, rng.normal(size=(samples, 5)),
                           None, rng.normal(size=(FIT_SAMPLES, 5)))
    return _well_conditioned(golden, lambda n: rng.normal(size=(n, 5)), samples)


def _cnn_padding(rng, samples):
    conv1 = Conv2D(rng.normal(0, 0.5, (3, 2, 3, 3)), rng.normal(0, 0.2, 3), stride=2, padding=((0, 1), (1, 0)))
    conv2 = Conv2D(rng.normal(0, 0.5, (4, 3, 2, 3)), rng.normal(0, 0.2, 4), stride=1, padding="same")
    shape = (2, 7, 6)
    flat = int(np.prod(Sequential([conv1, conv2], input_shape=shape).output_shapes(shape)[-1]))
    net = Sequential([conv1, ReLU(), conv2, ReLU(), Flatten(), Dense(rng.normal(0, 0.4, (5, flat)),
                                                                       rng.normal(0, 0.2, 5)), ReLU(),
                      Dense(rng.normal(0, 0.5, (3, 5)), rng.normal(0, 0.2, 3))], input_shape=shape)
    description = ("Conv2D 3×3 stride 2 with asymmetric padding ((0, 1), (1, 0)), Conv2D 2×3 'same' (on 3×3: rows "
                   "(0, 1), columns (1, 1)), Flatten of (4, 3, 3), Dense 36→5→3")
    golden = GoldenNetwork("cnn_padding", description, net, rng.normal(size=(samples,) + shape), None,
                           rng.normal(size=(FIT_SAMPLES,) + shape))
    return _well_conditioned(golden, lambda n: rng.normal(size=(n,) + shape), samples)


def _tied_windows(net, x) -> int:
    """Max-pool windows (over every sample) whose maximum is positive and reached more than once."""
    pool_index = next(i for i, layer in enumerate(net.layers) if isinstance(layer, MaxPool2D))
    a = net.trace(x)[pool_index]
    (kh, kw), (sh, sw) = net.layers[pool_index].size, net.layers[pool_index].stride
    count = 0
    for p in range((a.shape[2] - kh) // sh + 1):
        for q in range((a.shape[3] - kw) // sw + 1):
            window = a[:, :, p * sh:p * sh + kh, q * sw:q * sw + kw].reshape(a.shape[0], a.shape[1], -1)
            top = window.max(axis=2)
            count += int(np.sum((top > 0) & ((window == top[..., None]).sum(axis=2) > 1)))
    return count


def _maxpool_ties(rng, samples):
    """Inputs on a grid of 1/4 and a 1×1 convolution by 1 and 1/2 (exact in float64): maxima tie exactly."""
    conv = Conv2D(np.array([1.0, 0.5]).reshape(2, 1, 1, 1), np.zeros(2))
    net = Sequential([conv, ReLU(), MaxPool2D(2, stride=1), Flatten(),
                      Dense(rng.normal(0, 0.5, (4, 18)), rng.normal(0, 0.2, 4)), ReLU(),
                      Dense(rng.normal(0, 0.5, (3, 4)), rng.normal(0, 0.2, 3))], input_shape=(1, 4, 4))

    def grid(n):
        return rng.integers(-2, 4, size=(n, 1, 4, 4)).astype(np.float64) / 4

    def tied(n):
        x = grid(n)
        x[:, 0, :2, :2] = np.array([[0.75, 0.75], [0.25, 0.75]])  # a positive tie in the first window of each sample
        return x

    description = ("Conv2D 1×1 (weights 1 and 1/2, no bias), ReLU, MaxPool2D 2×2 stride 1 (overlapping), Dense "
                   "18→4→3; inputs on a grid of 1/4, so pooling windows hold exact ties that carry relevance")
    golden = _well_conditioned(GoldenNetwork("maxpool_ties", description, net, tied(samples), None,
                                             grid(FIT_SAMPLES)), tied, samples)
    golden.notes["tied_windows"] = _tied_windows(net, golden.x)
    return golden


def _batchnorm_folded(rng, samples):
    """Conv2D followed by BatchNorm (inference), folded by hand into the convolution:
    ``W' = W·γ/√(σ² + ε)``, ``b' = (b − μ)·γ/√(σ² + ε) + β`` per output channel."""
    weight, bias = rng.normal(0, 0.5, (3, 1, 3, 3)), rng.normal(0, 0.2, 3)
    gamma, beta = rng.uniform(0.5, 1.5, 3), rng.normal(0, 0.2, 3)
    mean, variance, epsilon = rng.normal(0, 0.3, 3), rng.uniform(0.5, 2.0, 3), 1e-3
    scale = gamma / np.sqrt(variance + epsilon)
    folded = Conv2D(weight * scale[:, None, None, None], (bias - mean) * scale + beta, padding=1)
    net = Sequential([folded, ReLU(), Flatten(), Dense(rng.normal(0, 0.3, (3, 75)), rng.normal(0, 0.2, 3))],
                     input_shape=(1, 5, 5))
    golden = _well_conditioned(GoldenNetwork("batchnorm_folded", "", net, rng.normal(size=(samples, 1, 5, 5)),
                                             None, rng.normal(size=(FIT_SAMPLES, 1, 5, 5))),
                               lambda n: rng.normal(size=(n, 1, 5, 5)), samples)
    x = golden.x
    unfolded = Conv2D(weight, bias, padding=1).forward(x)
    with_norm = (unfolded - mean[None, :, None, None]) / np.sqrt(variance + epsilon)[None, :, None, None] \
        * gamma[None, :, None, None] + beta[None, :, None, None]
    golden.description = "Conv2D 3×3 (padding 1) with a BatchNorm folded into it by hand, ReLU, Flatten, Dense 75→3"
    golden.notes["batchnorm"] = {
        "folding": "W' = W·γ/√(σ² + ε), b' = (b − μ)·γ/√(σ² + ε) + β per output channel",
        "gamma": gamma.tolist(), "beta": beta.tolist(), "mean": mean.tolist(), "variance": variance.tolist(),
        "epsilon": epsilon, "conv_weight": weight.tolist(), "conv_bias": bias.tolist(),
        "largest_difference_folded_vs_conv_then_norm": float(np.max(np.abs(folded.forward(x) - with_norm))),
    }
    return golden


def _softmax_head(rng, samples):
    net = Sequential([Dense(rng.normal(0, 0.6, (5, 4)), rng.normal(0, 0.3, 5)), ReLU(),
                      Dense(rng.normal(0, 0.6, (3, 5)), rng.normal(0, 0.3, 3)), Softmax()], input_shape=(4,))
    golden = GoldenNetwork("softmax_head", "Dense 4→5→3 ending in a Softmax (explanations of the pre-softmax "
                           "logit), explicit targets 0, 1, 2, 0, …", net, rng.normal(size=(samples, 4)),
                           np.arange(samples) % 3, rng.normal(size=(FIT_SAMPLES, 4)))
    return _well_conditioned(golden, lambda n: rng.normal(size=(n, 4)), samples)


#: Largest condition number ``(Σ_k |w_tk·h_k| + |b_t|) / |y_t|`` of an explained logit: an input whose ``y_t``
#: is the small difference of large terms (where every float64 library loses digits, and every method that
#: starts from ``y_t`` with it) is drawn again.
LARGEST_CONDITION = 8.0


def logit_condition(net, x, targets=None) -> np.ndarray:
    """Per sample, ``(Σ_k |w_tk·h_k| + |b_t|) / |y_t|`` of the explained logit ``y_t`` (the argmax unless
    ``targets``), ``h`` the input of the last kernel layer (inf where ``y_t = 0``)."""
    activations = net.trace(x)
    logits, hidden = activations[-1], activations[net.kernel_indices[-1]].reshape(len(x), -1)
    targets = np.argmax(logits, axis=1) if targets is None else np.asarray(targets)
    layer = net.layers[net.kernel_indices[-1]]
    rows = np.arange(len(x))
    terms = np.abs(layer.weight[targets] * hidden).sum(axis=1) + np.abs(layer.bias[targets])
    with np.errstate(divide="ignore"):
        return terms / np.abs(logits[rows, targets])


def _well_conditioned(golden: GoldenNetwork, draw, samples: int) -> GoldenNetwork:
    """``golden`` with every input whose explained logit is ill-conditioned (:data:`LARGEST_CONDITION`)
    replaced by a new draw of ``draw(1)`` (at most 1000 draws)."""
    x = golden.x.copy()
    for n in range(samples):
        for _ in range(1000):
            target = None if golden.targets is None else golden.targets[n:n + 1]
            if logit_condition(golden.net, x[n:n + 1], target)[0] <= LARGEST_CONDITION:
                break
            x[n] = draw(1)[0]
    golden.x = x
    return golden


NETWORKS = {"dense_relu": _dense_relu, "cnn_padding": _cnn_padding, "maxpool_ties": _maxpool_ties,
            "batchnorm_folded": _batchnorm_folded, "softmax_head": _softmax_head}


def check_network_names(names) -> list:
    """``names`` as a list: None means every network of :data:`NETWORKS`; else a list or tuple of distinct
    names among them, at least one (``TypeError``/``ValueError`` naming ``names`` otherwise)."""
    if names is None:
        return list(NETWORKS)
    if not isinstance(names, (list, tuple)):
        raise TypeError(f"names: expected a list of network names among {', '.join(NETWORKS)}, got {names!r} "
                        f"({type(names).__name__})")
    if not names or len(set(map(repr, names))) != len(names) or not all(
            isinstance(name, str) and name in NETWORKS for name in names):
        raise ValueError(f"names: expected distinct names among {', '.join(NETWORKS)} (at least one), got "
                         f"{list(names)!r}")
    return list(names)


def golden_networks(samples: int = DEFAULT_SAMPLES, seed: int = 0, names=None) -> list:
    """The networks of the suite (all of :data:`NETWORKS`, or ``names``), each with ``samples`` inputs;
    network ``i`` draws from ``numpy.random.default_rng([seed, i])``.  ``samples`` an int >= 1, ``seed`` an
    int >= 0, ``names`` as :func:`check_network_names` takes it."""
    samples, seed = check_count(samples, "samples"), check_seed(seed, "seed")
    names = check_network_names(names)
    return [NETWORKS[name](np.random.default_rng([seed, list(NETWORKS).index(name)]), samples) for name in names]
