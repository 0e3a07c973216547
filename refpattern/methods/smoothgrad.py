"""SmoothGrad (Smilkov et al., 2017): the mean gradient over noisy copies of the input.

``SG(x) = (1/K) Σ_k ∇_x y_t(x + η_k)``, ``η_k ~ N(0, σ²)``, ``σ = noise_level · (max x − min x)``
per sample; the target ``t`` is chosen on the un-noised input.
"""

from __future__ import annotations

import numbers

import numpy as np

DEFAULT_SAMPLES = 32
DEFAULT_NOISE_LEVEL = 0.15
DEFAULT_SEED = 0


def smoothgrad_noise(x, samples, noise_level, seed, noise):
    """The perturbations ``η``, shape ``(samples,) + x.shape``.

    With ``noise`` given it is used as-is (``η_k = noise[k]``; ``noise_level`` and ``seed``
    must then be left out, ``samples`` may be omitted and must agree if given).  Otherwise
    ``η_k = σ·ε_k`` with ``ε ~ N(0, 1)`` from ``numpy.random.default_rng(seed)``.
    """
    if noise is not None:
        if noise_level is not None or seed is not None:
            raise ValueError("smoothgrad: give either noise= or noise_level=/seed=, not both")
        noise = np.asarray(noise)
        if noise.dtype == object or not np.issubdtype(noise.dtype, np.floating):
            raise TypeError(f"smoothgrad: noise must be a float array, got dtype {noise.dtype}")
        if noise.ndim != x.ndim + 1 or noise.shape[1:] != x.shape:
            raise ValueError(f"smoothgrad: noise must have shape (samples,) + {x.shape}, got {noise.shape}")
        if samples is not None and samples != noise.shape[0]:
            raise ValueError(f"smoothgrad: samples={samples} disagrees with noise.shape[0]={noise.shape[0]}")
        if not np.all(np.isfinite(noise)):
            raise ValueError("smoothgrad: noise contains NaN or inf")
        return noise.astype(np.float64)
    samples = DEFAULT_SAMPLES if samples is None else samples
    if isinstance(samples, (bool, np.bool_)) or not isinstance(samples, numbers.Integral) or samples < 1:
        raise ValueError(f"smoothgrad: samples must be a positive int, got {samples!r}")
    noise_level = DEFAULT_NOISE_LEVEL if noise_level is None else float(noise_level)
    if not np.isfinite(noise_level) or noise_level < 0:
        raise ValueError(f"smoothgrad: noise_level must be finite and >= 0, got {noise_level}")
    rng = np.random.default_rng(DEFAULT_SEED if seed is None else seed)
    axes = tuple(range(1, x.ndim))
    sigma = noise_level * (x.max(axis=axes) - x.min(axis=axes))
    sigma = sigma.reshape((-1,) + (1,) * (x.ndim - 1))
    return sigma * rng.standard_normal((int(samples),) + x.shape)


def smoothgrad(gradient_at, x, noise):
    """``(1/K) Σ_k gradient_at(x + η_k)``."""
    total = np.zeros_like(x)
    for eta in noise:
        total += gradient_at(x + eta)
    return total / noise.shape[0]
