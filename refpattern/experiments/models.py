"""The trained networks of the experiments: a small ReLU CNN with max-pooling, a deeper one (the
depth ablation of the report) and an MLP.

Both are trained by :func:`refpattern.train.train` (Adam, fixed seed) in seconds, so nothing is
cached on disk: the same seed gives the same network, bit for bit, on the same machine.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from refpattern.network import Conv2D, Dense, Flatten, MaxPool2D, ReLU, Sequential, Softmax
from refpattern.train import demo_cnn, train

ARCHITECTURES = ("cnn", "cnn_deep", "mlp")


@dataclass
class TrainedModel:
    """A trained network with the numbers that say how good it is.

    Attributes
    ----------
    name : one of :data:`ARCHITECTURES`
    net : Sequential
    train_accuracy, test_accuracy : float, on the training and on a held-out draw
    epochs : int, epochs run (training stops at ``target_accuracy``)
    seconds : float, training wall time
    """

    name: str
    net: Sequential
    train_accuracy: float
    test_accuracy: float
    epochs: int
    seconds: float

    def describe(self) -> str:
        return (f"{self.name}: train accuracy {self.train_accuracy:.3f}, held-out accuracy {self.test_accuracy:.3f} "
                f"({self.epochs} epochs, {self.seconds:.1f} s)")


def architecture(net) -> str:
    """One line per network, e.g. ``conv3×3 1→8, ReLU, maxpool 2, …, dense 32→4, softmax``."""
    parts = []
    for layer in net.layers:
        name = type(layer).__name__
        if name == "Conv2D":
            o, c, kh, kw = layer.weight.shape
            parts.append(f"conv{kh}×{kw} {c}→{o}")
        elif name == "Dense":
            parts.append(f"dense {layer.weight.shape[1]}→{layer.weight.shape[0]}")
        elif name == "MaxPool2D":
            parts.append(f"maxpool {layer.size[0]}")
        else:
            parts.append(name.lower())
    return ", ".join(parts)


def mlp(input_shape, classes: int, seed: int = 0, hidden=(64, 32)) -> Sequential:
    """He-initialised ReLU MLP: flatten, dense (D → 64), ReLU, dense (64 → 32), ReLU, dense (32 → K), softmax."""
    rng = np.random.default_rng(seed)
    sizes = [int(np.prod(input_shape)), *hidden]
    layers = [Flatten()]
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers += [Dense.he(n_in, n_out, rng), ReLU()]
    layers += [Dense.he(sizes[-1], classes, rng), Softmax()]
    return Sequential(layers, input_shape=tuple(input_shape))


def deep_cnn(input_shape, classes: int, seed: int = 0) -> Sequential:
    """He-initialised ReLU CNN with six kernel layers (the demo CNN with every convolution doubled):
    conv 3×3 (C→8), ReLU, conv 3×3 (8→8), ReLU, max-pool 2, conv 3×3 (8→16), ReLU, conv 3×3
    (16→16), ReLU, max-pool 2, flatten, dense (16·H/4·W/4 → 32), ReLU, dense (32 → K), softmax;
    every convolution padded by 1."""
    rng = np.random.default_rng(seed)
    c, h, w = input_shape
    return Sequential([
        Conv2D.he(c, 8, 3, rng, padding=1), ReLU(), Conv2D.he(8, 8, 3, rng, padding=1), ReLU(), MaxPool2D(2),
        Conv2D.he(8, 16, 3, rng, padding=1), ReLU(), Conv2D.he(16, 16, 3, rng, padding=1), ReLU(), MaxPool2D(2),
        Flatten(), Dense.he(16 * (h // 4) * (w // 4), 32, rng), ReLU(), Dense.he(32, classes, rng), Softmax(),
    ], input_shape=tuple(input_shape))


def build(name: str, input_shape, classes: int, seed: int = 0) -> Sequential:
    """An untrained network: ``"cnn"`` (:func:`refpattern.train.demo_cnn`), ``"cnn_deep"``
    (:func:`deep_cnn`) or ``"mlp"`` (:func:`mlp`)."""
    if name == "cnn":
        return demo_cnn(tuple(input_shape), classes, seed=seed)
    if name == "cnn_deep":
        return deep_cnn(tuple(input_shape), classes, seed=seed)
    if name == "mlp":
        return mlp(input_shape, classes, seed=seed)
    raise ValueError(f"unknown architecture {name!r}; expected one of {ARCHITECTURES}")


def train_model(name: str, X, labels, X_test, labels_test, *, classes: int, seed: int = 0, epochs: int = 20,
                target_accuracy: float = 0.99, backend=None) -> TrainedModel:
    """Build ``name`` with ``seed`` and train it on ``(X, labels)``; accuracy also on ``(X_test, labels_test)``."""
    start = time.perf_counter()
    result = train(build(name, X.shape[1:], classes, seed), X, labels, epochs=epochs, seed=seed,
                   target_accuracy=target_accuracy, progress=False, backend=backend)
    seconds = time.perf_counter() - start
    test_accuracy = float(np.mean(np.argmax(result.net.logits(X_test, backend), axis=1) == labels_test))
    return TrainedModel(name, result.net, result.accuracy[-1], test_accuracy, len(result.accuracy), seconds)
