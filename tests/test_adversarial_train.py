"""Adversarial audit of what experiments run on besides the explain/patterns core: ``train`` and
``demo_cnn``, the experiments' statistics and reports, the Dask fits, ``golden`` and progress.

Every test states the fact it holds: a refusal names the argument (or layer) and what came, a
number equals an independent computation.
"""

import numpy as np
import pytest

from refpattern.network import Conv2D, Dense, Flatten, ReLU, Sequential, Softmax
from refpattern.train import train


def small_net(classes=3, softmax=True):
    rng = np.random.default_rng(1)
    layers = [Dense.he(4, 5, rng), ReLU(), Dense.he(5, classes, rng)] + ([Softmax()] if softmax else [])
    return Sequential(layers, input_shape=(4,))


def small_data(n=12):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 4)), rng.integers(0, 3, size=n)


# --- train: what the network must be ---------------------------------------------------------------

@pytest.mark.parametrize("net", [None, "net", Dense(np.eye(3, 4), np.zeros(3))])
def test_train_refuses_what_is_not_a_sequential(net):
    X, y = small_data()
    with pytest.raises(TypeError, match=r"train net: expected a refpattern\.Sequential, got"):
        train(net, X, y, epochs=1)


@pytest.mark.parametrize("layers", [[ReLU(), Softmax()], [Flatten()]])
def test_train_refuses_a_network_without_parameters(layers):
    X, y = small_data()
    with pytest.raises(ValueError, match="train net: the network has no kernel layer"):
        train(Sequential(layers, input_shape=(4,)), X, y, epochs=1)


def test_train_refuses_logits_that_are_not_flat():
    # Before: the cross-entropy ran along the last image axis and numpy failed on the accuracy.
    net = Sequential([Conv2D.he(1, 3, 3, np.random.default_rng(0), padding=1)], input_shape=(1, 4, 4))
    X = np.random.default_rng(0).normal(size=(6, 1, 4, 4))
    with pytest.raises(ValueError, match=r"train net: .*flat logits \(classes,\).*\(3, 4, 4\)"):
        train(net, X, np.zeros(6, dtype=int), epochs=1)


