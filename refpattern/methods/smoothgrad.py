"""SmoothGrad (Smilkov et al., 2017): the mean gradient over noisy copies of the input.

``SG(x) = (1/K) Σ_k ∇_x y_t(x + η_k)``, ``η_k ~ N(0, σ²)``, ``σ = noise_level · (max x − min x)``
per sample; the target ``t`` is chosen on the un-noised input (``docs/conventions.md#smoothgrad``).

Where the noise comes from (:func:`smoothgrad_noise`):

- ``seed`` an int (default 0): ONE draw for the whole batch,
  ``ε = default_rng(seed).standard_normal((samples,) + x.shape)``.  A sample's noise therefore
  depends on the batch it is in (its size and its position): the same sample explained alone, or
  in another batch, gets other noise.
- ``seed`` one int per sample (a sequence or integer array of shape ``(N,)``): sample ``n``'s noise
  is its own draw, ``ε[:, n] = default_rng([SMOOTHGRAD_TAG, seed[n]]).standard_normal((samples,) +
  x.shape[1:])``, whatever batch it is in: explaining ``x[n:n+1]`` with ``seed=[seed[n]]`` gives the
  noise, and so the explanation, it gets in the batch.
- ``noise=`` an explicit array of perturbations, used as-is.
"""

from __future__ import annotations

import numpy as np

from refpattern.network.validation import check_count, check_level, check_seed

DEFAULT_SAMPLES = 32
DEFAULT_NOISE_LEVEL = 0.15
DEFAULT_SEED = 0
#: First entropy word of a per-sample noise generator (ASCII "SMOOTHG"): keeps the draw apart from
#: a user's ``default_rng(seed)`` (NumPy's SeedSequence ignores trailing zeros).
SMOOTHGRAD_TAG = 0x534D4F4F544847


def check_noise_seed(seed, n_samples: int):
    """``seed``: None (the default, 0), a non-negative int, or one non-negative int per sample
    (a sequence or an integer array of shape ``(N,)``); returned as an int, or an int64 array (uint64 for
    an unsigned one).
    Floats (also in an array), bools and masked arrays are refused with the option's name."""
    name = "smoothgrad option seed"
    if seed is None:
        return DEFAULT_SEED
    if isinstance(seed, np.ma.MaskedArray):
        raise TypeError(f"{name}: a masked array is refused; give one non-negative int per sample")
    if isinstance(seed, np.ndarray) and seed.ndim == 0:
        seed = seed[()]  # a 0-d array: its scalar, checked as one
    if np.ndim(seed) == 0:
        return check_seed(seed, name)
    try:
        seeds = np.asarray(seed)
    except Exception as error:  # a ragged list and the like
        raise TypeError(f"{name}: expected a non-negative int or one per sample, got {type(seed).__name__} "
                        f"({error})") from None
    if seeds.dtype == bool or not np.issubdtype(seeds.dtype, np.integer):
        raise TypeError(f"{name}: expected a non-negative int or one per sample (integers), got an array of dtype "
                        f"{seeds.dtype}")
    if seeds.shape != (n_samples,):
        raise ValueError(f"{name}: expected one int per sample, shape ({n_samples},), got shape {seeds.shape}")
    if np.any(seeds < 0):
        raise ValueError(f"{name}: expected non-negative ints, got {int(seeds[seeds < 0][0])}")
    # unsigned seeds stay unsigned: a uint64 seed >= 2^63 cast to int64 would turn negative
    return seeds.astype(np.uint64 if np.issubdtype(seeds.dtype, np.unsignedinteger) else np.int64)


def smoothgrad_noise(x, samples, noise_level, seed, noise):
    """The perturbations ``η``, shape ``(samples,) + x.shape``, all at once: the readable twin of
    :func:`noise_draws` (the same numbers, stacked).

    With ``noise`` given it is used as-is (``η_k = noise[k]``; ``noise_level`` and ``seed``
    must then be left out, ``samples`` may be omitted and must agree if given).  Otherwise
    ``η_k = σ·ε_k`` with ``σ = noise_level·(max x − min x)`` per sample and ``ε ~ N(0, 1)``: from
    ``numpy.random.default_rng(seed)`` for the whole batch when ``seed`` is an int, per sample
    from ``default_rng([SMOOTHGRAD_TAG, seed[n]])`` when it is one int per sample (module
    docstring).  Every option is checked by name (``samples`` an int >= 1, ``noise_level`` a
    finite number >= 0, ``seed`` non-negative ints); a ``σ`` too large for float64 is refused.
    """
    count, draws = noise_draws(x, samples, noise_level, seed, noise)
    return np.stack(list(draws)) if count else np.empty((0,) + x.shape)


def noise_draws(x, samples, noise_level, seed, noise):
    """``(K, η_1, η_2, …)`` as the count ``K`` and an iterator over the ``η_k`` (each ``x.shape``):
    :func:`smoothgrad_noise`'s numbers one perturbation at a time, so that an explanation holds one
    ``η_k`` instead of all ``K`` (``K·N·D`` floats).  Every option is checked here, before the first
    draw.  The draws are the same numbers as one draw of the whole array: a NumPy ``Generator`` fills
    ``standard_normal((K,) + shape)`` in C order from one stream, and ``K`` draws of ``shape`` read
    the same stream in the same order (``tests/test_smoothgrad.py`` holds the two to equality).
    """
    if samples is not None:
        samples = check_count(samples, "smoothgrad option samples")
    if noise is not None:
        if noise_level is not None or seed is not None:
            raise ValueError("smoothgrad: give either noise= or noise_level=/seed=, not both")
        if isinstance(noise, np.ma.MaskedArray):
            raise TypeError("smoothgrad option noise: a masked array is refused (its masked entries have no value)")
        noise = np.asarray(noise)
        if noise.dtype == object or not np.issubdtype(noise.dtype, np.floating):
            raise TypeError(f"smoothgrad: noise must be a float array, got dtype {noise.dtype}")
        if noise.ndim != x.ndim + 1 or noise.shape[1:] != x.shape:
            raise ValueError(f"smoothgrad: noise must have shape (samples,) + {x.shape}, got {noise.shape}")
        if noise.shape[0] == 0:  # (a mean over no perturbation would be 0/0)
            raise ValueError(f"smoothgrad: noise must hold at least one perturbation, got shape {noise.shape}")
        if samples is not None and samples != noise.shape[0]:
            raise ValueError(f"smoothgrad: samples={samples} disagrees with noise.shape[0]={noise.shape[0]}")
        if not np.all(np.isfinite(noise)):
            raise ValueError("smoothgrad: noise contains NaN or inf")
        return noise.shape[0], (eta.astype(np.float64) for eta in noise)
    samples = DEFAULT_SAMPLES if samples is None else samples
    noise_level = DEFAULT_NOISE_LEVEL if noise_level is None else check_level(noise_level,
                                                                               "smoothgrad option noise_level")
    seed = check_noise_seed(seed, x.shape[0])
    axes = tuple(range(1, x.ndim))
    high, low = x.max(axis=axes), x.min(axis=axes)
    with np.errstate(over="ignore"):  # an overflow is refused below, with the option's name
        sigma = noise_level * (high - low)
        if not np.all(np.isfinite(sigma)):
            sigma = 2.0 * noise_level * (high / 2 - low / 2)  # the range of a sample alone may overflow
    if not np.all(np.isfinite(sigma)):
        n = int(np.flatnonzero(~np.isfinite(sigma))[0])
        raise ValueError(f"smoothgrad option noise_level: σ = noise_level·(max x − min x) = {noise_level:g}·"
                         f"({high[n]:.4g} − {low[n]:.4g}) overflows float64 for sample {n}; choose a smaller "
                         "noise_level or rescale the data")
    sigma = sigma.reshape((-1,) + (1,) * (x.ndim - 1))
    if isinstance(seed, int):
        generator = np.random.default_rng(seed)
        return samples, (sigma * generator.standard_normal(x.shape) for _ in range(samples))
    generators = [np.random.default_rng([SMOOTHGRAD_TAG, int(s)]) for s in seed]
    return samples, (sigma * np.stack([g.standard_normal(x.shape[1:]) for g in generators])
                     for _ in range(samples))


def smoothgrad(gradient_at, x, noise):
    """``(1/K) Σ_k gradient_at(x + η_k)``: ``noise`` an array ``(K,) + x.shape`` or an iterable of the
    ``η_k`` (:func:`noise_draws`; ``K ≥ 1``, checked there)."""
    total = np.zeros_like(x)
    k = 0
    for eta in noise:
        total += gradient_at(x + eta)
        k += 1
    return total / k
