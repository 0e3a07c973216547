"""The named reference networks of the benchmarks (He-initialised with a fixed seed), and the timer they share."""

from __future__ import annotations

import time

import numpy as np

import refpattern as rp


def bench_cnn(seed: int = 0) -> rp.Sequential:
    """``bench_cnn``: input 3×32×32; conv 3→32 3×3 pad 1, ReLU; conv 32→32, ReLU; max-pool 2;
    conv 32→64, ReLU; conv 64→64, ReLU; max-pool 2; flatten; dense 4096→256, ReLU; dense 256→10.

    (The 3×3 convolutions all use padding 1, so the flattened size is 64·8·8 = 4096.)
    """
    rng = np.random.default_rng(seed)
    return rp.Sequential([
        rp.Conv2D.he(3, 32, 3, rng, padding=1), rp.ReLU(),
        rp.Conv2D.he(32, 32, 3, rng, padding=1), rp.ReLU(), rp.MaxPool2D(2),
        rp.Conv2D.he(32, 64, 3, rng, padding=1), rp.ReLU(),
        rp.Conv2D.he(64, 64, 3, rng, padding=1), rp.ReLU(), rp.MaxPool2D(2),
        rp.Flatten(), rp.Dense.he(4096, 256, rng), rp.ReLU(), rp.Dense.he(256, 10, rng),
    ], input_shape=(3, 32, 32))


VGG16_CONFIG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


def vgg16_shaped(seed: int = 0, image_size: int = 224, classes: int = 1000) -> rp.Sequential:
    """A VGG-16-shaped network (Simonyan & Zisserman, 2015) with random He weights, 3×image_size².

    13 conv 3×3 pad 1 layers with ReLU in five blocks, each closed by a 2×2 max-pool; then dense
    25088→4096, ReLU, 4096→4096, ReLU, 4096→classes (for 224×224).
    """
    rng = np.random.default_rng(seed)
    layers, channels = [], 3
    for item in VGG16_CONFIG:
        if item == "M":
            layers.append(rp.MaxPool2D(2))
        else:
            layers += [rp.Conv2D.he(channels, item, 3, rng, padding=1), rp.ReLU()]
            channels = item
    flat = channels * (image_size // 32) ** 2
    layers += [rp.Flatten(), rp.Dense.he(flat, 4096, rng), rp.ReLU(), rp.Dense.he(4096, 4096, rng), rp.ReLU(),
               rp.Dense.he(4096, classes, rng)]
    return rp.Sequential(layers, input_shape=(3, image_size, image_size))


def bench_inputs(n: int, seed: int = 1, shape=(3, 32, 32)) -> np.ndarray:
    """Standard-normal inputs for the benchmarks."""
    return np.random.default_rng(seed).normal(size=(n,) + tuple(shape))


def best_time(function, repeats: int) -> float:
    """Minimum wall time of ``repeats`` calls of ``function()`` (no warm-up)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)
