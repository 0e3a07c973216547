"""A synthetic linear model ``x = A_sᵀs + A_dᵀd + ε`` in ``D`` dimensions (``docs/math.md#linear-model``).

* ``K`` signal components ``s = (s_1, …, s_K)``, independent (so ``Σ_ss = diag(σ²_k)``; a mixture of
  sources is written through the directions), each symmetric with mean 0:
  ``"uniform"`` on ``[−c, c]`` (variance ``c²/3``), ``"gaussian"`` ``N(0, c²)`` (variance
  ``c²``) or ``"rademacher"`` ``±c`` (variance ``c²``), ``c`` the component's ``scale``;
  row ``k`` of ``signal_directions`` (K, D) is ``a_s,k``.
* ``M`` distractors ``d = μ + B·s + L·z``, ``z ~ N(0, I_M)``: any mean ``μ``, any covariance
  ``Σ_dd = cov[d]`` and any cross-covariance ``Σ_ds = cov[d, s]`` (M, K) with the signal, so that
  ``(s, d)`` has the covariance ``[[Σ_ss, Σ_dsᵀ], [Σ_ds, Σ_dd]]``; ``B = Σ_ds Σ_ss⁻¹`` and
  ``L Lᵀ = Σ_dd − B Σ_ss Bᵀ``, which is positive semi-definite exactly when that joint matrix is a
  covariance (else refused).  Row ``m`` of ``distractor_directions`` (M, D) is ``a_d,m``.
* noise ``ε ~ N(0, Σ_ε)``, any positive semi-definite ``Σ_ε`` (0 allowed).

Folding the distractor's signal part into the signal gives the form every closed form uses
(``docs/math.md#linear-model``)::

    x = μ_x + Σ_k p_k s_k + g,    μ_x = A_dᵀμ,    p_k = a_s,k + A_dᵀB_k (the *effective* signal
                                                   direction, rows of ``effective_directions``),
    g ~ N(0, Σ_g),  Σ_g = A_dᵀ L Lᵀ A_d + Σ_ε,  independent of s,
    Σ_x = Σ_k σ²_k p_k p_kᵀ + Σ_g.

Nothing here draws or fits; sampling is :mod:`refpattern.linear.sampling`, the closed forms are
:mod:`refpattern.linear.closed_forms`.  Every array the model holds is a read-only float64 copy.
"""

from __future__ import annotations

import numpy as np

SIGNAL_KINDS = ("uniform", "gaussian", "rademacher")
"""The signal distributions: uniform on ``[−c, c]``, ``N(0, c²)``, ``±c`` with probability 1/2 each."""

KIND_VARIANCE = {"uniform": 1.0 / 3.0, "gaussian": 1.0, "rademacher": 1.0}
"""``var[s]/c²`` of each kind (uniform: ``c²/3``; the toy's ``σ²_y = 1/3``)."""

KIND_FOURTH_MOMENT = {"uniform": 1.0 / 5.0, "gaussian": 3.0, "rademacher": 1.0}
"""``E[s⁴]/c⁴`` of each kind (uniform: ``c⁴/5``)."""

TINY, HUGE = float(np.finfo(np.float64).tiny), float(np.finfo(np.float64).max)
"""float64's normal range: a variance outside it (a scale whose square underflows or overflows) is refused."""

UNIT_ROUNDOFF = float(np.finfo(np.float64).eps) / 2.0
"""``u = 2⁻⁵³``: float64 rounds ``x + δ`` back to ``x`` when ``|δ|`` is below half an ulp of ``x``, which lies
between ``u·|x|/2`` and ``u·|x|``."""

RESOLUTION_RATIO = 1.0 / UNIT_ROUNDOFF
"""``1/u = 2⁵³ ≈ 9.0e15``: a random source whose every part is this many times smaller than another part in a
coordinate it reaches is lost to rounding there (``docs/math.md#linear-resolution``): refused."""

PSD_TOLERANCE = 1e-12
"""A covariance is positive semi-definite when its smallest eigenvalue is ≥ −this × its largest."""

DEFAULT_NAMES = {
    "signal_directions": "signal_directions", "signal_kinds": "signal_kinds", "signal_scales": "signal_scales",
    "distractor_directions": "distractor_directions", "distractor_mean": "distractor_mean",
    "distractor_covariance": "distractor_covariance", "cross_covariance": "cross_covariance",
    "noise_covariance": "noise_covariance", "explained": "explained",
}


def _read_only(array) -> np.ndarray:
    array = np.array(array, dtype=np.float64, copy=True)
    array.setflags(write=False)
    return array


def _real(value, name: str, expected: str = "a number or nested lists of numbers of equal lengths") -> np.ndarray:
    """``value`` as a float64 array, refusing what is not real numbers: ``TypeError`` naming ``name`` for
    booleans, strings, None, complex numbers and other objects (never read as 1, 0, NaN or a parsed string),
    ``ValueError`` for a masked array with masked entries (no value is guessed) or a ragged list."""
    if isinstance(value, np.ma.MaskedArray):
        if np.ma.is_masked(value):
            raise ValueError(f"{name}: a masked array with {int(np.ma.count_masked(value))} masked entries "
                             "(refpattern does not guess values: pass value.filled(...))")
        value = np.ma.getdata(value)
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected {expected}, got {value!r}") from None
    if array.dtype.kind not in "iuf":
        what = {"b": "booleans", "U": "strings", "S": "bytes", "c": "complex numbers"}.get(
            array.dtype.kind, "objects that are not numbers" if array.dtype.kind == "O" else str(array.dtype))
        raise TypeError(f"{name}: expected real numbers, got {what} ({value!r})")
    return np.array(array, dtype=np.float64)


def _matrix(value, shape, name) -> np.ndarray:
    array = _real(value, name, f"numbers of shape {tuple(shape)}")
    if array.shape != tuple(shape):
        raise ValueError(f"{name}: expected shape {tuple(shape)}, got {array.shape}")
    bad = np.argwhere(~np.isfinite(array))
    if len(bad):
        where = "".join(f"[{i}]" for i in bad[0])
        raise ValueError(f"{name}{where}: not finite ({array[tuple(bad[0])]})")
    return array


def covariance_factor(covariance, name: str, scale: float | None = None) -> np.ndarray:
    """``L`` with ``L Lᵀ = covariance`` (n, n), for a positive semi-definite covariance.

    A diagonal covariance gets ``L = diag(sqrt(c_ii))`` exactly (so a variance ``σ²`` gives the
    standard deviation ``σ`` to the last bit); any other the eigen-factor ``U·sqrt(max(λ, 0))``.
    Raises ``ValueError`` naming ``name`` when the matrix is not symmetric or has a variance or an
    eigenvalue below ``−PSD_TOLERANCE × scale`` (not a covariance).  ``scale``: the magnitude of the
    numbers ``covariance`` was computed from (a conditional covariance ``Σ_d − Σ_ds Σ_s⁻¹ Σ_sd`` is a
    difference of such numbers, and a perfectly correlated distractor leaves rounding of either
    sign there); default the largest of ``|covariance|`` and its largest eigenvalue.
    """
    c = np.asarray(covariance, dtype=np.float64)
    if c.size == 0:
        return c.copy()
    largest = float(np.max(np.abs(c)))
    if not np.allclose(c, c.T, rtol=0.0, atol=1e-12 * largest):
        raise ValueError(f"{name}: a covariance must be symmetric, got {c.tolist()}")
    scale = largest if scale is None else max(float(scale), largest)
    if np.count_nonzero(c - np.diag(np.diag(c))) == 0:
        diagonal = np.diag(c)
        if np.any(diagonal < -PSD_TOLERANCE * scale):
            index = int(np.argmin(diagonal))
            raise ValueError(f"{name}: not a covariance (a negative variance, {diagonal[index]:.6g} at "
                             f"[{index}][{index}])")
        return np.diag(np.sqrt(np.maximum(diagonal, 0.0)))
    values, vectors = np.linalg.eigh((c + c.T) / 2)
    if values[0] < -PSD_TOLERANCE * max(values[-1], scale) - 1e-300:
        raise ValueError(f"{name}: not a covariance (not positive semi-definite: smallest eigenvalue "
                         f"{values[0]:.3g}, largest {values[-1]:.3g})")
    return vectors * np.sqrt(np.maximum(values, 0.0))


class LinearModel:
    """``x = A_sᵀs + A_dᵀd + ε`` (module docstring); which signal component the filter reads is
    ``explained`` (``k``, 0-based).

    Parameters
    ----------
    signal_directions : (K, D)
        Row ``k`` is ``a_s,k``; ``K ≥ 1``.
    signal_kinds : str or sequence of K str
        Each one of :data:`SIGNAL_KINDS`.
    signal_scales : float or (K,)
        ``c > 0`` of each component (0 would make the signal covariance singular: refused).
    distractor_directions : (M, D), optional
        Row ``m`` is ``a_d,m`` (default: no distractor, ``M = 0``).
    distractor_mean : float or (M,)
        ``μ`` (default 0).
    distractor_covariance : float, (M,) or (M, M)
        ``cov[d]``: a number is that variance for every distractor (times ``I``), a vector the
        diagonal (default 1).
    cross_covariance : (M, K), optional
        ``cov[d, s]`` (default 0: the distractors are independent of the signal).
    noise_covariance : float, (D,) or (D, D)
        ``Σ_ε``, read like ``distractor_covariance`` (default 0: no noise).
    explained : int
        ``k``: the signal component the optimal filter extracts (default 0).
    name, description : str
        How reports call the model.
    names : dict, optional
        How messages name each argument (a configuration file passes its keys).

    Raises ``TypeError`` naming the argument for booleans, strings, None or complex numbers where
    real numbers go (and for ``signal_kinds`` that is not a string or a list/tuple of them), and
    ``ValueError`` naming it for a masked array with masked entries, a wrong shape, a non-finite value, a scale that
    is not > 0, a covariance that is not one, an explained component whose direction does not
    reach ``x`` (``p_k = 0``: nothing to filter), or a random source lost to rounding next to a part
    more than ``2⁵³`` times larger in a coordinate (``docs/math.md#linear-resolution``).
    """

    def __init__(self, signal_directions, signal_kinds="uniform", signal_scales=1.0, distractor_directions=None,
                 distractor_mean=0.0, distractor_covariance=1.0, cross_covariance=None, noise_covariance=0.0,
                 explained: int = 0, name: str = "", description: str = "", names=None):
        if names is not None and not isinstance(names, dict):
            raise TypeError(f"names: expected a dict from argument to the name messages give it, got {names!r}")
        names = {**DEFAULT_NAMES, **(names or {})}
        self.names = names
        signal = _real(signal_directions, names["signal_directions"], "K ≥ 1 rows of D ≥ 1 numbers")
        if signal.ndim != 2 or signal.shape[0] < 1 or signal.shape[1] < 1:
            raise ValueError(f"{names['signal_directions']}: expected K ≥ 1 rows of D ≥ 1 numbers, got shape "
                             f"{np.shape(signal)}")
        k_count, dimension = signal.shape
        signal = _matrix(signal, (k_count, dimension), names["signal_directions"])
        if not isinstance(signal_kinds, (str, list, tuple)):
            raise TypeError(f"{names['signal_kinds']}: expected one of {SIGNAL_KINDS} or a list of {k_count} of them, "
                            f"got {signal_kinds!r}")
        kinds = (signal_kinds,) * k_count if isinstance(signal_kinds, str) else tuple(signal_kinds)
        if len(kinds) != k_count:
            raise ValueError(f"{names['signal_kinds']}: expected {k_count} distributions (one per signal "
                             f"component), got {len(kinds)}")
        for index, kind in enumerate(kinds):
            if kind not in SIGNAL_KINDS:
                raise ValueError(f"{names['signal_kinds']}[{index}]: expected one of {SIGNAL_KINDS}, got {kind!r}")
        scales = _matrix(np.broadcast_to(_real(signal_scales, names["signal_scales"]), (k_count,))
                         if np.ndim(signal_scales) == 0 else signal_scales, (k_count,), names["signal_scales"])
        for index, scale in enumerate(scales):
            if not scale > 0:
                raise ValueError(f"{names['signal_scales']}[{index}]: must be > 0, got {scale} (a signal with "
                                 f"scale 0 makes the signal covariance singular: no filter can read it)")
        if distractor_directions is None:
            distractors = np.zeros((0, dimension))
        else:
            distractors = _real(distractor_directions, names["distractor_directions"], f"M rows of {dimension} numbers")
            if distractors.size == 0:
                distractors = np.zeros((0, dimension))
            if distractors.ndim != 2:
                raise ValueError(f"{names['distractor_directions']}: expected M rows of {dimension} numbers, "
                                 f"got shape {distractors.shape}")
        m_count = distractors.shape[0]
        distractors = _matrix(distractors, (m_count, dimension), names["distractor_directions"])
        mean = _matrix(np.full(m_count, float(_real(distractor_mean, names["distractor_mean"])))
                       if np.ndim(distractor_mean) == 0
                       else distractor_mean, (m_count,), names["distractor_mean"])
        covariance = _square(distractor_covariance, m_count, names["distractor_covariance"])
        cross = np.zeros((m_count, k_count)) if cross_covariance is None else \
            _matrix(cross_covariance, (m_count, k_count), names["cross_covariance"])
        noise = _square(noise_covariance, dimension, names["noise_covariance"])
        if isinstance(explained, bool) or not isinstance(explained, (int, np.integer)):
            raise ValueError(f"{names['explained']}: expected an integer, got {explained!r}")
        if not 0 <= explained < k_count:
            raise ValueError(f"{names['explained']}: expected a signal component 0…{k_count - 1}, got {explained}")

        self.signal_directions = _read_only(signal)
        self.signal_kinds = kinds
        self.signal_scales = _read_only(scales)
        self.distractor_directions = _read_only(distractors)
        self.distractor_mean = _read_only(mean)
        self.distractor_covariance = _read_only(covariance)
        self.cross_covariance = _read_only(cross)
        self.noise_covariance = _read_only(noise)
        self.explained = int(explained)
        self.name = str(name)
        self.description = str(description)

        # uniform: c·c/3 (the toy's σ²_y = 1.0/3.0 to the last bit); gaussian and rademacher: c·c
        with np.errstate(over="ignore", under="ignore"):
            variances = np.array([scale * scale / 3.0 if kind == "uniform" else scale * scale
                                  for kind, scale in zip(kinds, scales)])
        for index, variance in enumerate(variances):
            if not TINY <= variance < np.inf:
                raise ValueError(f"{names['signal_scales']}[{index}]: {scales[index]:.3g} gives the variance "
                                 f"{variance:.3g}, outside float64's normal range [{TINY:.3g}, {HUGE:.3g}]; "
                                 "rescale the model")
        _check_resolution(signal, np.sqrt(variances), distractors, np.sqrt(np.maximum(np.diag(covariance), 0.0)),
                          mean, names)
        self.signal_variances = _read_only(variances)
        regression = cross / variances if m_count else np.zeros((0, k_count))
        self.signal_regression = _read_only(regression)
        explained = regression @ np.diag(variances) @ regression.T  # the part of cov[d] that s explains
        conditional = covariance - explained if np.any(regression) else covariance
        self.distractor_factor = _read_only(covariance_factor(
            conditional, f"{names['distractor_covariance']} with {names['cross_covariance']} (the covariance of "
                         "(s, d))" if np.any(regression) else names["distractor_covariance"],
            scale=float(max(np.max(np.abs(covariance), initial=0.0), np.max(np.abs(explained), initial=0.0)))))
        if np.any(regression):  # a perfectly correlated distractor: rounding of either sign is a zero variance
            diagonal = np.arange(m_count)
            rounding = (conditional[diagonal, diagonal] < 0)
            if np.any(rounding):
                conditional = conditional.copy()
                conditional[diagonal[rounding], diagonal[rounding]] = 0.0
        self.conditional_distractor_covariance = _read_only(conditional)
        self.noise_factor = _read_only(covariance_factor(noise, names["noise_covariance"]))
        self.effective_directions = _read_only(signal + regression.T @ distractors if np.any(regression) else signal)
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            self.mean = _read_only(mean @ distractors if m_count else np.zeros(dimension))
            gaussian = distractors.T @ conditional @ distractors + noise if m_count else noise.copy()
            self.gaussian_covariance = _read_only(gaussian)
            p = self.effective_directions
            self.input_covariance = _read_only((p.T * variances) @ p + gaussian)
            explained_variance = variances[self.explained] * float(p[self.explained] @ p[self.explained])
            total_variance = float(np.sum(np.diag(self.input_covariance)))
        if not np.any(self.effective_directions[self.explained]):
            raise ValueError(f"{names['signal_directions']}[{self.explained}]: the explained component does not "
                             "reach x (its effective direction a_s,k + A_dᵀB_k is 0): there is nothing to filter")
        if not (np.all(np.isfinite(self.mean)) and np.all(np.isfinite(self.input_covariance))
                and np.isfinite(total_variance)):
            raise ValueError(f"the model overflows float64: tr Σ_x = {total_variance:.3g}, E[x] up to "
                             f"{np.max(np.abs(self.mean)):.3g} (from {names['signal_directions']}, "
                             f"{names['signal_scales']}, {names['distractor_directions']}, {names['distractor_mean']}, "
                             f"{names['distractor_covariance']}, {names['noise_covariance']}); rescale the model")
        if not explained_variance >= TINY:
            raise ValueError(f"{names['signal_directions']}[{self.explained}]: the explained component's variance in "
                             f"x, σ²_k·|p_k|² = {explained_variance:.3g}, is below float64's normal range "
                             f"({TINY:.3g}); rescale the model")

    def gaussian_variance(self, w) -> float:
        """``wᵀΣ_g w`` computed as ``(A_d w)ᵀ·cov[d | s]·(A_d w) + wᵀΣ_ε w`` (no cancellation when ``w ⊥ a_d``)."""
        w = np.asarray(w, dtype=np.float64)
        reach = self.distractor_directions @ w
        return float(reach @ self.conditional_distractor_covariance @ reach + w @ self.noise_covariance @ w)

    # --- sizes -----------------------------------------------------------------------------------

    @property
    def dimension(self) -> int:
        """``D``."""
        return self.signal_directions.shape[1]

    @property
    def signals(self) -> int:
        """``K``."""
        return self.signal_directions.shape[0]

    @property
    def distractors(self) -> int:
        """``M``."""
        return self.distractor_directions.shape[0]

    @property
    def has_noise(self) -> bool:
        return bool(np.any(self.noise_covariance))

    @property
    def is_planar(self) -> bool:
        """The paper's structure: ``D = 2``, one signal, one distractor, no noise, a full-rank ``Σ_x``.

        There every pattern with ``wᵀa = 1`` is ``p_k + t·a_d`` and the closed forms of
        :mod:`refpattern.linear.planar` apply (``docs/math.md#toy-rho``).
        """
        if not (self.dimension == 2 and self.signals == 1 and self.distractors == 1 and not self.has_noise):
            return False
        p, a_d = self.effective_directions[0], self.distractor_directions[0]
        determinant = p[0] * a_d[1] - p[1] * a_d[0]
        return bool(self.conditional_distractor_covariance[0, 0] > 0
                    and abs(determinant) > 1e-12 * np.linalg.norm(p) * np.linalg.norm(a_d))

    # --- variants -----------------------------------------------------------------------------------

    def parameters(self) -> dict:
        """The constructor's arguments (a variant changes some of them)."""
        return {"signal_directions": self.signal_directions, "signal_kinds": self.signal_kinds,
                "signal_scales": self.signal_scales, "distractor_directions": self.distractor_directions,
                "distractor_mean": self.distractor_mean, "distractor_covariance": self.distractor_covariance,
                "cross_covariance": self.cross_covariance, "noise_covariance": self.noise_covariance,
                "explained": self.explained, "name": self.name, "description": self.description,
                "names": self.names}

    def replace(self, **changes) -> LinearModel:
        """A copy with some constructor arguments changed (validated like a new model)."""
        return LinearModel(**{**self.parameters(), **changes})

    def with_distractor_mean(self, mean) -> LinearModel:
        """The same model with the distractor mean ``μ`` (a number for every distractor, or (M,))."""
        return self.replace(distractor_mean=np.full(self.distractors, float(mean)) if np.ndim(mean) == 0 else mean)

    def with_isotropic_noise(self, sigma: float) -> LinearModel:
        """No distractor; noise ``σ² I`` instead (``docs/math.md#toy-claim-5``); ``σ ≥ 0``."""
        sigma = _real(sigma, "sigma", "a number ≥ 0")
        if sigma.ndim or not np.isfinite(sigma) or not sigma >= 0:
            raise ValueError(f"sigma: expected a finite number ≥ 0 (a standard deviation), got {sigma.tolist()!r}")
        return self.replace(distractor_directions=None, distractor_mean=np.zeros(0),
                            distractor_covariance=np.zeros((0, 0)), cross_covariance=None,
                            noise_covariance=np.diag(np.full(self.dimension, float(sigma) ** 2)))

    def plane(self) -> np.ndarray:
        """``E`` (2, D): the orthonormal basis ``e₁ ∥ a_s,k``, ``e₂`` ⊥ ``e₁`` in the plane of the first
        distractor (the first axis not parallel to ``a_s,k`` when there is none, or it is parallel).

        In the toy ``E = I`` exactly, so coordinates in the plane are the toy's coordinates.
        """
        e1 = self.signal_directions[self.explained] / np.linalg.norm(self.signal_directions[self.explained])
        candidates = list(self.distractor_directions[:1]) + list(np.eye(self.dimension))
        for candidate in candidates:
            rest = candidate - (e1 @ candidate) * e1
            norm = np.linalg.norm(rest)
            if norm > 1e-9 * max(np.linalg.norm(candidate), 1e-300):
                return np.vstack([e1, rest / norm])
        return np.vstack([e1, np.zeros(self.dimension)])  # D = 1: no second axis

    def plane_coordinates(self, v) -> np.ndarray:
        """``E·v``: the coordinates of ``v`` (…, D) in :meth:`plane`."""
        return np.asarray(v, dtype=np.float64) @ self.plane().T

    def plane_direction_deg(self, v) -> float:
        """The direction of ``v`` in :meth:`plane`, ``atan2(e₂ᵀv, e₁ᵀv)`` in degrees (the toy's
        ``direction_deg`` when ``D = 2``)."""
        u, w = self.plane_coordinates(v)
        return float(np.degrees(np.arctan2(w, u)))

    def rotate_in_plane(self, v, angle_deg: float) -> np.ndarray:
        """``v`` with its :meth:`plane` part rotated by ``angle_deg`` (from ``e₁`` towards ``e₂``); the part
        outside the plane is kept.  In the toy this is the 2-D rotation, to the last bit."""
        t = np.deg2rad(angle_deg)
        rotation = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
        basis = self.plane()
        v = np.asarray(v, dtype=np.float64)
        coordinates = basis @ v
        return basis.T @ (rotation @ coordinates) + (v - basis.T @ coordinates)

    def rotated(self, angle_deg: float) -> LinearModel:
        """Every distractor direction rotated by ``angle_deg`` in :meth:`plane` (the signal fixed)."""
        rotated = np.array([self.rotate_in_plane(a_d, angle_deg) for a_d in self.distractor_directions])
        return self.replace(distractor_directions=rotated.reshape(self.distractors, self.dimension))

    def embedded(self, dimension: int, noise_variance: float | None = None) -> LinearModel:
        """The same model in ``dimension ≥ D`` dimensions: directions padded with zeros, the noise
        covariance padded with ``noise_variance`` on the new diagonal (default: the mean of the
        current diagonal).  The ``D``-dimensional part is unchanged, the new axes carry noise only."""
        if isinstance(dimension, bool) or not isinstance(dimension, (int, np.integer)):
            raise TypeError(f"dimension: expected an integer, got {dimension!r}")
        dimension = int(dimension)
        if dimension < self.dimension:
            raise ValueError(f"dimension: expected at least {self.dimension}, got {dimension}")
        extra = dimension - self.dimension
        if noise_variance is None:
            noise_variance = float(np.mean(np.diag(self.noise_covariance)))
        noise = np.zeros((dimension, dimension))
        noise[:self.dimension, :self.dimension] = self.noise_covariance
        noise[self.dimension:, self.dimension:] = np.eye(extra) * float(noise_variance)
        return self.replace(signal_directions=np.pad(self.signal_directions, ((0, 0), (0, extra))),
                            distractor_directions=np.pad(self.distractor_directions, ((0, 0), (0, extra))),
                            noise_covariance=noise)

    def describe(self) -> str:
        """One line: sizes, kinds, mean, noise."""
        kinds = ", ".join(f"{kind}({scale:g})" for kind, scale in zip(self.signal_kinds, self.signal_scales))
        parts = [f"D = {self.dimension}", f"K = {self.signals} signal(s) [{kinds}], explained k = {self.explained}",
                 f"M = {self.distractors} distractor(s)"]
        if self.distractors:
            parts.append(f"μ = {_short(self.distractor_mean)}")
            if np.any(self.cross_covariance):
                parts.append("correlated with the signal")
        noise = f"tr Σ_ε = {np.trace(self.noise_covariance):.3g}" if self.has_noise else "none"
        parts.append(f"noise {noise}")
        return ", ".join(parts)

    def __repr__(self) -> str:
        label = f"{self.name!r}: " if self.name else ""
        return f"LinearModel({label}{self.describe()})"


def _short(values) -> str:
    values = np.ravel(values)
    if len(values) and np.all(values == values[0]):
        return f"{values[0]:g}" if len(values) == 1 else f"{values[0]:g} each"
    return "(" + ", ".join(f"{v:g}" for v in values[:4]) + (", …" if len(values) > 4 else "") + ")"


def _check_resolution(signal, signal_deviations, distractors, distractor_deviations, mean, names) -> None:
    """Refuse a model whose ``x`` float64 cannot hold (``docs/math.md#linear-resolution``).

    The parts of coordinate ``i`` are ``σ_k·|a_s,k[i]|`` (signal components), ``σ_m·|a_d,m[i]|`` (distractors,
    ``σ_m² = Σ_dd[m, m]``) and ``|μ_m·a_d,m[i]|`` (the distractors' mean); ``T_i`` is the largest.  A random source
    ``r`` (a signal component or a distractor with variance) of size ``S_r = max_i`` of its parts is lost to
    rounding in a coordinate ``i`` it reaches when ``T_i > S_r/u`` (:data:`RESOLUTION_RATIO`): a value it
    adds there is about half an ulp of ``x_i`` or less.  Raises ``ValueError`` naming both sources, the coordinate and
    the ratio.  (Noise is left out: a part lost next to independent noise changes ``Σ_x`` at second order.)
    """
    sources = [(f"{names['signal_directions']}[{k}]", signal[k], signal_deviations[k]) for k in range(len(signal))]
    sources += [(f"{names['distractor_directions']}[{m}]", distractors[m], distractor_deviations[m])
                for m in range(len(distractors))]
    with np.errstate(over="ignore", under="ignore"):
        parts = [(f"{label} (standard deviation)", np.abs(direction) * deviation)
                 for label, direction, deviation in sources]
        parts += [(f"{names['distractor_mean']}[{m}] (mean, along {names['distractor_directions']}[{m}])",
                   np.abs(distractors[m] * mean[m])) for m in range(len(distractors))]
        largest = np.max([part for _, part in parts], axis=0)
        for (label, direction, deviation), (_, part) in zip(sources, parts):
            size = float(np.max(part))
            if not deviation > 0 or not size > 0:
                continue  # no variance (or underflow, refused elsewhere): nothing random to lose
            reached = np.flatnonzero(direction != 0)
            ratios = largest[reached] / size
            worst = int(np.argmax(ratios))
            if ratios[worst] > RESOLUTION_RATIO:
                i = int(reached[worst])
                big = next(other for other, p in parts if p[i] == largest[i])
                raise ValueError(
                    f"{label}: lost to float64 rounding in x[{i}], where {big} adds {largest[i]:.3g} against at "
                    f"most {size:.3g} (standard deviation) from {label} in any coordinate: a ratio of "
                    f"{ratios[worst]:.3g} > 1/u = 2^53 = {RESOLUTION_RATIO:.3g} (float64 keeps ~16 digits, "
                    "docs/math.md#linear-resolution); rescale the sources or set that part to 0")


def _square(value, size: int, name: str) -> np.ndarray:
    """A covariance given as a number (× I), a vector (the diagonal) or a (size, size) matrix."""
    if np.ndim(value) == 0:
        number = _matrix(value, (), name)
        return np.eye(size) * float(number)
    array = _real(value, name, f"a number, {size} numbers (the diagonal) or a {size}×{size} matrix")
    if array.ndim == 1 and size > 0:
        return np.diag(_matrix(array, (size,), name))
    return _matrix(array, (size, size), name)
