"""The paper's linear toy example (``docs/math.md#toy``; Kindermans et al., 2018, Fig. 2).

Data model (two input dimensions)::

    x = s + d,   s = a_s·y,   a_s = (1, 0)ᵀ,   y ~ U[−1, 1]
                 d = a_d·ε,   a_d = (1, 1)ᵀ,   ε ~ N(μ, σ²)      (the "distractor")

or, in the isotropic-noise variant, ``d ~ N(0, σ_n² I)`` instead of a distractor.
``a_d`` can be rotated by an angle while the signal stays fixed.

This module holds the data generator :func:`make_toy`, the toy as a general linear model
(:func:`toy_model`, whose draws are :func:`make_toy`'s), the linear model of a filter
(:func:`linear_model`) and, re-exported from :mod:`refpattern.linear.planar`, every closed form
the toy admits; each is derived in its docstring and checked against Monte Carlo in
``tests/test_toy.py`` (and symbolically where sympy is installed); the claims measured on any
linear model are in the other modules of :mod:`refpattern.experiments.toy`.  Moments of
``y ~ U[−1, 1]`` used throughout::

    E[y] = 0,   σ²_y = E[y²] = 1/3,
    E₊[y] = E[y | y > 0] = 1/2,   E₊[y²] = 1/3,   E₋[y] = −1/2,   E₋[y²] = 1/3.

Random numbers: for a given ``seed`` the draws of ``y`` and of the standard-normal
noise are the same whatever ``mu``, ``sigma``, ``rotation_deg`` or ``sigma_n`` are
(common random numbers), so experiments that vary one parameter compare like with like.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from refpattern.linear.model import LinearModel
from refpattern.linear.planar import (  # noqa: F401 (the toy's closed forms, re-exported)
    DISTRACTOR_DIRECTION,
    HALF_MEAN_OVER_HALF_SECOND_MOMENT,
    SIGMA_Y2,
    activation_pattern,
    axis_angle_deg,
    direction_deg,
    distractor_direction,
    filter_estimator_rho,
    isotropic_activation_pattern,
    isotropic_ls_filter,
    optimal_filter,
    pattern_rho,
    random_pattern_rho,
    relu_patterns,
    rotate,
)
from refpattern.network import Dense, Sequential

SIGNAL_DIRECTION = np.array([1.0, 0.0])
"""``a_s = (1, 0)ᵀ``."""

NOISE_KINDS = ("distractor", "isotropic")


@dataclass(frozen=True)
class ToyData:
    """One draw of the toy example; every array is float64.

    Attributes
    ----------
    X : (N, 2)      the inputs ``x = s + d``
    y : (N,)        the signal amplitude ``y ~ U[−1, 1]`` (the target)
    s : (N, 2)      the signal ``a_s·y``
    d : (N, 2)      the distractor ``a_d·ε`` (or the isotropic noise)
    a_s : (2,)      the signal direction
    a_d : (2,) or None
                    the distractor direction (``None`` for isotropic noise)
    w : (2,)        the optimal linear filter in closed form: :func:`optimal_filter` for
                    a distractor (``wᵀx = y`` exactly), :func:`isotropic_ls_filter` for
                    isotropic noise
    noise, mu, sigma, rotation_deg, sigma_n, seed : the parameters of the draw
    """

    X: np.ndarray
    y: np.ndarray
    s: np.ndarray
    d: np.ndarray
    a_s: np.ndarray
    a_d: np.ndarray | None
    w: np.ndarray
    noise: str
    mu: float
    sigma: float
    rotation_deg: float
    sigma_n: float
    seed: int | None

    @property
    def n_samples(self) -> int:
        return self.X.shape[0]

    def model(self) -> Sequential:
        """The linear model ``wᵀx`` (:func:`linear_model` of ``self.w``)."""
        return linear_model(self.w)


def make_toy(n_samples: int = 10_000, *, mu: float = 0.0, sigma: float = 1.0, rotation_deg: float = 0.0,
             noise: str = "distractor", sigma_n: float = 1.0, seed: int | None = 0) -> ToyData:
    """Draw ``n_samples`` points of the toy example.

    Parameters
    ----------
    n_samples : int ≥ 1
    mu, sigma : float
        Mean and standard deviation of the distractor amplitude ``ε ~ N(μ, σ²)``.
    rotation_deg : float
        Rotate ``a_d`` counter-clockwise by this angle (degrees) from ``(1, 1)ᵀ``; the
        signal ``a_s = (1, 0)ᵀ`` stays fixed.  Rotations that make ``a_d`` parallel to
        ``a_s`` (−45°, 135°) have no filter with ``wᵀa_s = 1, wᵀa_d = 0`` and raise.
    noise : {"distractor", "isotropic"}
        ``"isotropic"`` replaces the distractor by ``d ~ N(0, σ_n² I)`` (``mu``, ``sigma``
        and ``rotation_deg`` are then unused and ``a_d`` is ``None``).
    sigma_n : float
        Standard deviation of the isotropic noise.
    seed : int or None
        Seed of ``numpy.random.default_rng``.  ``y`` is drawn first, then the standard
        normals, so the same seed gives the same ``y`` and the same noise shape for any
        parameters.
    """
    n_samples = int(n_samples)
    if n_samples < 1:
        raise ValueError(f"n_samples: expected an integer >= 1, got {n_samples}")
    if noise not in NOISE_KINDS:
        raise ValueError(f"noise: expected one of {NOISE_KINDS}, got {noise!r}")
    if sigma < 0 or sigma_n < 0:
        raise ValueError(f"sigma and sigma_n must be >= 0, got sigma={sigma}, sigma_n={sigma_n}")
    rng = np.random.default_rng(seed)
    a_s = SIGNAL_DIRECTION.copy()
    y = rng.uniform(-1.0, 1.0, size=n_samples)
    s = y[:, None] * a_s
    if noise == "distractor":
        a_d = distractor_direction(rotation_deg)
        w = optimal_filter(a_s, a_d)
        epsilon = mu + sigma * rng.standard_normal(n_samples)
        d = epsilon[:, None] * a_d
    else:
        a_d = None
        w = isotropic_ls_filter(a_s, sigma_n)
        d = sigma_n * rng.standard_normal((n_samples, 2))
    return ToyData(X=s + d, y=y, s=s, d=d, a_s=a_s, a_d=a_d, w=w, noise=noise, mu=float(mu), sigma=float(sigma),
                   rotation_deg=float(rotation_deg), sigma_n=float(sigma_n), seed=seed)


def linear_model(w) -> Sequential:
    """``Sequential([Dense(w[None, :], [0.0])])``: one output ``wᵀx``, bias 0.

    With ``b = 0`` the ReLU-gate regimes of ``S_a±`` are ``wᵀx > 0`` (open) and
    ``wᵀx ≤ 0`` (closed); on distractor data ``wᵀx = y`` so open ⇔ ``y > 0``.
    """
    w = np.asarray(w, dtype=np.float64)
    if w.ndim != 1:
        raise ValueError(f"linear_model: expected a filter of shape (in,), got {w.shape}")
    return Sequential([Dense(w[None, :], [0.0])])


def toy_model(mu: float = 0.0, sigma: float = 1.0, rotation_deg: float = 0.0) -> LinearModel:
    """The toy as a :class:`~refpattern.linear.LinearModel` (``docs/math.md#linear-model``): one uniform
    signal on ``[−1, 1]`` along ``a_s``, one distractor ``N(μ, σ²)`` along ``a_d`` rotated by
    ``rotation_deg``, no noise.  Its draws equal :func:`make_toy`'s to the last bit for the same seed."""
    return LinearModel([SIGNAL_DIRECTION], "uniform", 1.0, [distractor_direction(rotation_deg)], float(mu),
                       float(sigma) ** 2, name="paper-toy",
                       description="the paper's 2-D toy (Sec. 2, Fig. 2): x = a_s·y + a_d·ε")
