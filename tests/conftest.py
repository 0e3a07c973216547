"""Shared small networks for the tests (tiny so that the suite stays fast on 2 cores)."""

import numpy as np
import pytest

import refpattern as rp


def random_cnn(seed=0, bias=0.1, input_shape=(2, 9, 9), classes=3):
    """Conv (stride 2, pad 1) → ReLU → max-pool → conv (pad 1) → ReLU → flatten → dense → ReLU → dense → softmax."""
    rng = np.random.default_rng(seed)
    c, h, w = input_shape
    conv1 = rp.Conv2D(rng.normal(0, 0.5, (3, c, 3, 3)), rng.normal(0, bias, 3) if bias else None, stride=2, padding=1)
    conv2 = rp.Conv2D(rng.normal(0, 0.5, (4, 3, 2, 3)), rng.normal(0, bias, 4) if bias else None, stride=1, padding=(1, 0))
    net = rp.Sequential([conv1, rp.ReLU(), rp.MaxPool2D(2, stride=1)], input_shape=input_shape)
    shape = net.output_shapes(input_shape)[-1]
    shape = conv2.output_shape(shape)
    flat = int(np.prod(shape))
    dense1 = rp.Dense(rng.normal(0, 0.5, (6, flat)), rng.normal(0, bias, 6) if bias else None)
    dense2 = rp.Dense(rng.normal(0, 0.5, (classes, 6)), rng.normal(0, bias, classes) if bias else None)
    return rp.Sequential([conv1, rp.ReLU(), rp.MaxPool2D(2, stride=1), conv2, rp.ReLU(), rp.Flatten(),
                          dense1, rp.ReLU(), dense2, rp.Softmax()], input_shape=input_shape)


@pytest.fixture
def cnn():
    return random_cnn()


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def pattern_cnn(rng, first_padding=0):
    """A small ReLU CNN for the pattern tests, input (2, 9, 9):
    conv (stride 1) → conv (stride 2, padding 1) → max-pool → dense → dense."""
    return rp.Sequential([
        rp.Conv2D(rng.normal(0, 0.5, (3, 2, 3, 3)), rng.normal(0, 0.3, 3), padding=first_padding),
        rp.ReLU(),
        rp.Conv2D(rng.normal(0, 0.4, (4, 3, 3, 3)), rng.normal(0, 0.3, 4), stride=2, padding=1),
        rp.ReLU(),
        rp.MaxPool2D(2),
        rp.Flatten(),
        rp.Dense(rng.normal(0, 0.5, (6, 16)), rng.normal(0, 0.3, 6)),
        rp.ReLU(),
        rp.Dense(rng.normal(0, 0.5, (3, 6)), rng.normal(0, 0.3, 3)),
    ], input_shape=(2, 9, 9))
