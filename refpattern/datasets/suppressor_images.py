"""An image task with a *suppressor* region, in the spirit of Wilming et al. (2022).

Wilming, Budding, Müller, Haufe, "Scrutinizing XAI using linear ground-truth data with
suppressor variables", Machine Learning 111 (2022).  A suppressor is an input that carries no
class information at all but is correlated with a distractor, so a good model *uses* it: it
subtracts the suppressor to cancel the distractor where the signal lives.

Binary task on ``C×size×size`` images, two squares of side ``size//4`` in opposite quadrants:
the *signal square* ``S`` (upper left) and the *suppressor square* ``Q`` (lower right).  A sample of
class ``k ∈ {0, 1}`` is

``x = z·P + ε·D + n``,   ``z = (2k − 1)·y``,  ``y ~ U[0.5, 1.5]``,  ``ε ~ N(0, distractor²)``,  ``n ~ N(0, noise²)``,

with ``P = 1[S]`` (the signal pattern) and ``D = 1[S] + 1[Q]`` (the distractor covers both
squares with the same value).  So every pixel of ``Q`` is ``ε + n``: independent of the class,
yet ``mean_S(x) − mean_Q(x) = z + noise`` removes the distractor exactly.  A classifier that
ignores ``Q`` must decide on ``z + ε``, which errs often when ``distractor`` is about 1.

Ground truth kept per sample: ``signal = z·P``, ``distractor = ε·D``, ``noise``; the masks of
``S`` and ``Q`` say where a faithful explanation of the *signal* should and should not be.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from refpattern.datasets.arguments import check_count, check_seed, check_spread


@dataclass(frozen=True)
class SuppressorImageTask:
    """Arrays of one draw (N samples, C channels, H×W pixels, 2 classes).

    Attributes
    ----------
    X : (N, C, H, W) inputs, float64, ``X = signal + distractor + noise`` exactly
    labels : (N,) int64 in {0, 1}
    signal, distractor, noise : (N, C, H, W)
    amplitude : (N,) the signed signal amplitude ``z = (2k − 1)·y``
    epsilon : (N,) the distractor amplitude ``ε``
    signal_pattern : (C, H, W) ``P = 1[S]``
    distractor_pattern : (C, H, W) ``D = 1[S] + 1[Q]``
    suppressor_region : (C, H, W) bool, ``Q``
    """

    X: np.ndarray
    labels: np.ndarray
    signal: np.ndarray
    distractor: np.ndarray
    noise: np.ndarray
    amplitude: np.ndarray
    epsilon: np.ndarray
    signal_pattern: np.ndarray
    distractor_pattern: np.ndarray
    suppressor_region: np.ndarray

    n_classes = 2

    @property
    def input_shape(self) -> tuple:
        return tuple(self.X.shape[1:])

    @property
    def signal_region(self) -> np.ndarray:
        """(C, H, W) bool: the signal square ``S``."""
        return self.signal_pattern != 0

    @property
    def signal_mask(self) -> np.ndarray:
        """(N, C, H, W) bool: where each sample's signal lives (``S`` for every sample)."""
        return np.broadcast_to(self.signal_region, self.X.shape)

    @property
    def suppressor_mask(self) -> np.ndarray:
        """(N, C, H, W) bool: the suppressor square ``Q`` for every sample."""
        return np.broadcast_to(self.suppressor_region, self.X.shape)

    def subset(self, index) -> SuppressorImageTask:
        """The samples ``index`` (a slice, bool mask or int array) as a new task."""
        return SuppressorImageTask(self.X[index], self.labels[index], self.signal[index], self.distractor[index],
                                   self.noise[index], self.amplitude[index], self.epsilon[index],
                                   self.signal_pattern, self.distractor_pattern, self.suppressor_region)


def suppressor_regions(channels: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The squares ``(S, Q)`` as bool arrays ``(C, size, size)``: side ``size//4``, centred in
    the upper-left and lower-right quadrants."""
    side = max(2, size // 4)
    start = (size // 2 - side) // 2
    signal = np.zeros((channels, size, size), dtype=bool)
    suppressor = np.zeros((channels, size, size), dtype=bool)
    signal[:, start:start + side, start:start + side] = True
    far = size // 2 + start
    suppressor[:, far:far + side, far:far + side] = True
    return signal, suppressor


def make_suppressor_task(n: int = 2048, *, size: int = 16, channels: int = 1, distractor: float = 1.0,
                         noise: float = 0.2, seed: int = 0) -> SuppressorImageTask:
    """Draw ``n`` samples of the suppressor task (module docstring); balanced classes in random order."""
    where = "make_suppressor_task"
    if check_count(n, "n", 0, where) < 2:
        raise ValueError(f"make_suppressor_task: need n >= 2, got {n}")
    if check_count(size, "size", 0, where) < 8:
        raise ValueError(f"make_suppressor_task: size must be >= 8, got {size}")
    check_count(channels, "channels", 1, where)
    check_spread(distractor, "distractor", where)
    check_spread(noise, "noise", where)
    check_seed(seed, where)
    rng = np.random.default_rng(seed)
    signal_region, suppressor_region = suppressor_regions(channels, size)
    signal_pattern = signal_region.astype(np.float64)
    distractor_pattern = signal_pattern + suppressor_region
    labels = rng.permutation(np.arange(n) % 2).astype(np.int64)
    amplitude = (2 * labels - 1) * rng.uniform(0.5, 1.5, size=n)
    epsilon = rng.normal(0.0, distractor, size=n)
    signal = amplitude[:, None, None, None] * signal_pattern[None]
    distractor_part = epsilon[:, None, None, None] * distractor_pattern[None]
    noise_part = rng.normal(0.0, noise, size=signal.shape)
    return SuppressorImageTask(signal + distractor_part + noise_part, labels, signal, distractor_part, noise_part,
                               amplitude, epsilon, signal_pattern, distractor_pattern, suppressor_region)
