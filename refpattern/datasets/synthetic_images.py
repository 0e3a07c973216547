"""A built-in image task with known ground truth: ``x = signal + distractor + noise``.

Each class ``k`` has a fixed spatial *signal pattern* ``P_k`` (a small square at a
class-specific place); a sample of class ``k`` is

``x = y·P_k + ε·D + n``,  ``y ~ U[0.5, 1.5]``, ``ε ~ N(0, distractor²)``, ``n ~ N(0, noise²)``,

where the *distractor pattern* ``D`` (a smooth diagonal ramp over the whole image) is the
same for every class, so it carries no class information but dominates the pixel values —
the image analogue of the paper's linear toy (``docs/math.md#toy``).  Every sample keeps its
true ``signal = y·P_k``, ``distractor = ε·D`` and ``noise`` so explanations can be scored.
No downloads; fully determined by ``seed``.

``texture="checker"`` makes each class square a ±1 checkerboard instead of a flat square
(same place, same size).  The experiments use it for the image-degradation test (Fig. 4):
replacing a 2×2 patch by its own mean erases a checkerboard completely but leaves the
smooth distractor ramp almost untouched, so removing a patch removes exactly its signal.
The default ``texture="flat"`` is the original task, draw for draw.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from refpattern.datasets.arguments import check_count, check_seed, check_spread


@dataclass(frozen=True)
class ImageTask:
    """Arrays of one draw of the task (N samples, C channels, H×W pixels, K classes).

    Attributes
    ----------
    X : (N, C, H, W) inputs, float64
    labels : (N,) int64 classes
    signal, distractor, noise : (N, C, H, W), with ``X = signal + distractor + noise``
    amplitude : (N,) signal amplitude ``y``
    signal_patterns : (K, C, H, W) the ``P_k``
    distractor_pattern : (C, H, W) ``D``
    """

    X: np.ndarray
    labels: np.ndarray
    signal: np.ndarray
    distractor: np.ndarray
    noise: np.ndarray
    amplitude: np.ndarray
    signal_patterns: np.ndarray
    distractor_pattern: np.ndarray

    @property
    def n_classes(self) -> int:
        return self.signal_patterns.shape[0]

    @property
    def input_shape(self) -> tuple:
        return tuple(self.X.shape[1:])

    @property
    def signal_mask(self) -> np.ndarray:
        """(N, C, H, W) bool: the pixels of each sample's own class square (where its signal lives)."""
        return self.signal_patterns[self.labels] != 0

    def subset(self, index) -> ImageTask:
        """The samples ``index`` (a slice, bool mask or int array) as a new task."""
        return ImageTask(self.X[index], self.labels[index], self.signal[index], self.distractor[index],
                         self.noise[index], self.amplitude[index], self.signal_patterns, self.distractor_pattern)


TEXTURES = ("flat", "checker")


def signal_patterns(classes: int, channels: int, size: int, texture: str = "flat") -> np.ndarray:
    """Class patterns ``(K, C, size, size)``: a square of side ``size//4`` per class,
    placed on a ring around the centre, equal in all channels.

    ``texture="flat"``: the square is 1; ``"checker"``: it is ``(−1)^(i+j)`` (pixel row ``i``,
    column ``j`` of the image), so an even-sided square sums to 0.
    """
    if texture not in TEXTURES:
        raise ValueError(f"signal_patterns: texture must be one of {TEXTURES}, got {texture!r}")
    side = max(2, size // 4)
    checker = np.where(np.add.outer(np.arange(size), np.arange(size)) % 2 == 0, 1.0, -1.0)
    patterns = np.zeros((classes, channels, size, size))
    radius = (size - side) / 2 - 1
    for k in range(classes):
        angle = 2 * np.pi * k / classes
        top = int(round((size - side) / 2 - radius * np.sin(angle)))
        left = int(round((size - side) / 2 + radius * np.cos(angle)))
        patterns[k, :, top:top + side, left:left + side] = 1.0
    if texture == "checker":
        patterns = np.where(patterns != 0, patterns * checker, 0.0)
    return patterns


def distractor_pattern(channels: int, size: int) -> np.ndarray:
    """A class-independent smooth ramp ``D[c, i, j] = (i + j)/(2(size−1)) − ½``, sign alternating by channel."""
    ramp = (np.add.outer(np.arange(size), np.arange(size)) / (2 * (size - 1)) - 0.5) * 2
    return np.stack([ramp * (1 if c % 2 == 0 else -1) for c in range(channels)])


def make_image_task(n: int = 2048, *, size: int = 16, channels: int = 1, classes: int = 4,
                    distractor: float = 1.0, noise: float = 0.2, seed: int = 0,
                    texture: str = "flat") -> ImageTask:
    """Draw ``n`` samples of the task (see the module docstring); balanced classes in random order.

    ``texture`` (``"flat"`` or ``"checker"``) only changes the class patterns ``P_k``; the random
    draws are the same for both.
    """
    where = "make_image_task"
    classes = check_count(classes, "classes", 1, where)
    if check_count(n, "n", 0, where) < classes:
        raise ValueError(f"make_image_task: need n >= classes ({classes}), got {n}")
    if check_count(size, "size", 0, where) < 8:
        raise ValueError(f"make_image_task: size must be >= 8, got {size}")
    check_count(channels, "channels", 1, where)
    check_spread(distractor, "distractor", where)
    check_spread(noise, "noise", where)
    check_seed(seed, where)
    rng = np.random.default_rng(seed)
    patterns = signal_patterns(classes, channels, size, texture)
    d_pattern = distractor_pattern(channels, size)
    labels = rng.permutation(np.arange(n) % classes).astype(np.int64)
    amplitude = rng.uniform(0.5, 1.5, size=n)
    epsilon = rng.normal(0.0, distractor, size=n)
    signal = amplitude[:, None, None, None] * patterns[labels]
    distractor_part = epsilon[:, None, None, None] * d_pattern[None]
    noise_part = rng.normal(0.0, noise, size=signal.shape)
    return ImageTask(signal + distractor_part + noise_part, labels, signal, distractor_part, noise_part,
                     amplitude, patterns, d_pattern)
