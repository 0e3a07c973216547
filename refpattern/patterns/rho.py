"""The quality criterion ρ of a signal estimator (Kindermans et al., 2018, Sec. 4, Eq. 1).

For one neuron (``y = wᵀx``) and estimator ``S`` with distractor estimate ``d̂ = x − S(x)``::

    ρ(S) = 1 − max_v corr(wᵀx, vᵀd̂)                                         (Eq. 1)

For fixed ``S`` the best ``v`` is the least-squares regression of ``y`` on ``d̂``::

    v = Σ⁺c,   max_v corr = sqrt(cᵀΣ⁺c / σ²_y),   c = cov[d̂, y],  Σ = cov[d̂]   (D×D).

``Σ`` is always singular for S_w, S_a, S_a± and the random baseline (``wᵀd̂ = 0`` because
``wᵀa = 1``), so ``Σ⁺`` is a pseudo-inverse with an explicit cut-off: the eigenvalues ``λ`` of
``Σ`` with ``λ ≤ cutoff · λ_max`` (default :data:`DEFAULT_CUTOFF` = 1e-10) are discarded, and so is
every ``λ_k`` below the rounding of ``Σ``'s terms along its own eigenvector, ``2⁻⁴⁰·D·(Σ_i |u_ik|·m_i)²``
(:func:`term_scale`: per input, so an input of small spread keeps its directions).  The
optimum ``ρ = 1`` is reached exactly when ``c = 0`` (Eq. 2), which S_a and S_a± (paper variant)
satisfy on their fitting data.  A layer's ρ is the mean over its neurons; neurons with
``σ²_y = 0`` (up to rounding: ``σ²_y ≤ 1e-12·E[ỹ²]``) are excluded and listed.

Geometry (a useful check): for ``S(x) = a·y`` with ``wᵀa = 1``, ``vᵀd̂ = ((I − w aᵀ)v)ᵀx`` and the
range of ``I − w aᵀ`` is ``{u : aᵀu = 0}``; so ``max_v corr`` is the best correlation of ``y``
with any ``uᵀx``, ``u ⊥ a``.  It depends on the direction of ``a`` only, is 0 exactly when
``a ∝ cov[x, y]`` (S_a), and is close to 1 for a random direction in many dimensions.

How ``Σ`` and ``c`` are obtained without a D×D matrix per neuron *and regime*.  Every estimator
here is ``S(x) = a₊·y·g + a₋·y·(1 − g)`` with the gate ``g = 1[wᵀx + b > 0]`` (``a₊ = a₋ = a``
for S_w, S_a and random).  In the shifted coordinates of the statistics (``x = x̃ + c₀``,
``y = ỹ + γ``) put ``t = (ũ, ṽ, g)`` with ``ũ = ỹ·g``, ``ṽ = ỹ·(1 − g)``; then::

    d̂ = x̃ − B t + const,      B = [a₊, a₋, γ·(a₊ − a₋)]   (D × 3)

so, with ``Σ_x = cov[x̃]`` (D×D, shared by all neurons of the layer), ``K = cov[x̃, t]`` (D×3) and
``T = cov[t]`` (3×3), ``e = (1, 1, 0)`` (``ỹ = eᵀt``)::

    Σ = Σ_x − B Kᵀ − K Bᵀ + B T Bᵀ,     c = K e − B T e,     σ²_y = eᵀ T e.

``K`` and ``T`` come from the same per-neuron sums as the patterns, each regime's own (``Σx̃ũ``,
``Σx̃ṽ``, ``Σx̃g``, ``Σũ``, ``Σṽ``, ``Σũ²``, ``Σṽ²``, ``n₊``: ``sum_xy_plus``, ``sum_xy_minus`` …);
the only extra statistic is ``Σx̃x̃ᵀ`` per layer.
Memory is therefore D×D + O(D·O) per layer, independent of the number of samples, and no
regime-split D×D covariance is needed.  The cost is one D×D eigendecomposition per neuron
(O(O·D³) per layer); ``max_neurons=m`` evaluates a seeded random subsample of ``m`` neurons
per layer (``numpy.random.default_rng([SUBSAMPLE_TAG, seed, k]).choice``) for big layers.

Held-out protocol (the paper's Fig. 3): with ``fit_v_on=X_v``, ``v = Σ_v⁺ c_v`` is fitted on
``X_v`` and the correlation is evaluated on ``X``: ``corr = vᵀc / sqrt(vᵀΣv · σ²_y)`` (0 when
``v = 0`` or ``vᵀΣv = 0``); it may be negative, so ρ may exceed 1.  Patterns given as an
estimator name are fitted on the data ``v`` is fitted on (``X_v`` if given, else ``X``); for the
paper's three-split protocol, pass a ``Patterns`` fitted on a third split.  Where the best
correlation on ``X_v`` is at most :data:`NO_CORRELATION` (1e-6) — always so for S_a and the paper's
S_a± fitted on ``X_v`` itself, whose ``c_v`` is 0 up to rounding — or where ``y`` has no variance on ``X_v``
(``σ²_y ≤ 1e-12·E[ỹ²]`` there: constant data, a single sample) there is no direction to regress
on: ``v = 0`` and the correlation is 0, instead of a direction drawn from rounding noise.

In-sample ρ needs many more observations than inputs: with ``N ≤ D`` the regression fits ``y``
exactly and ρ = 0 whatever the estimator (a dense layer over a big feature map); use the
held-out protocol there.

S_x: ``d̂ ≡ 0``, so ρ is undefined; every value is NaN and ``result.reason`` says why.

Scale.  The statistics are sums in units of a power of two per layer (``σ``,
:mod:`refpattern.patterns.statistics`), so ``Σ``, ``c`` and ``σ²_y`` are of order 1 whatever the
data's scale, and ρ, a ratio, does not depend on ``σ``.  Nothing squares a raw magnitude:
``cᵀΣ⁺c = Σ_k (u_kᵀc / sqrt(λ_k))²`` and the held-out denominator is ``sqrt(vᵀΣv)·sqrt(σ²_y)``.  A
layer whose moments are not finite (an overflow, possible only with huge weights) raises a
``ValueError`` naming it; ρ is never NaN but for S_x and for layers whose every neuron has
``σ²_y = 0``.

:func:`rho` returns one type, :class:`RhoResult`: the per-layer means (it indexes, iterates and
converts with ``numpy.asarray`` like a 1-D array of them) and the per-neuron values.
"""

from __future__ import annotations

import functools

import numpy as np
import threadpoolctl

from refpattern.network.validation import all_finite, check_count, check_level, check_seed
from refpattern.patterns.container import Patterns
from refpattern.patterns.estimate import estimate_network
from refpattern.patterns.estimators import ZERO_TOLERANCE, is_rounding_noise, resolve_estimator
from refpattern.patterns.fit import check_batch_size, check_network, fit_statistics

#: Relative eigenvalue cut-off of the pseudo-inverse ``Σ⁺``.
DEFAULT_CUTOFF = 1e-10
#: An eigenvalue of ``Σ`` below this × D × its terms' scale along its eigenvector is rounding noise (``term_scale``).
ROUNDING_FLOOR = 2.0 ** -40
#: First entropy word of the neuron-subsample generator (ASCII "RHOSUB").
SUBSAMPLE_TAG = 0x52484F535542
#: A regression on the ``v`` split whose best correlation is at most this has no direction: ``v = 0``.
NO_CORRELATION = 1e-6
#: Largest stack of per-neuron D×D matrices held at once (elements).
MAX_STACK_ELEMENTS = 1 << 23



class RhoResult(np.lib.mixins.NDArrayOperatorsMixin):
    """ρ of one estimator on one network: per kernel layer and per neuron.

    Attributes
    ----------
    values : ndarray, shape (L,)
        ρ per kernel layer: the mean over the layer's evaluated neurons (NaN where none could be
        evaluated, or for S_x).  ``result[k]``, ``len(result)``, ``iter(result)``,
        ``numpy.asarray(result)``, arithmetic and comparisons (``result < 0.1``) read these.
    per_neuron : tuple of ndarray
        Per layer, ρ of every neuron, (O,) (NaN for excluded and not-evaluated neurons).
    reason : str or None
        Why some values are NaN (S_x; a layer whose every neuron has ``σ²_y = 0``).
    excluded : tuple of int arrays
        Per layer, the neurons left out of the mean because ``σ²_y = 0``.
    neurons : tuple of int arrays
        Per layer, the neurons evaluated (all unless ``max_neurons`` was given).
    """

    def __init__(self, values, per_neuron, reason=None, excluded=(), neurons=()):
        self.values = np.array(values, dtype=np.float64)
        self.values.setflags(write=False)
        self.per_neuron = tuple(np.asarray(v, dtype=np.float64) for v in per_neuron)
        self.reason, self.excluded, self.neurons = reason, tuple(excluded), tuple(neurons)

    def __array__(self, dtype=None, copy=None):
        values = self.values if dtype is None else self.values.astype(dtype)
        return values.copy() if copy or (copy is None and values is self.values) else values

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        """NumPy functions and operators act on :attr:`values` (and return plain arrays)."""
        if any(isinstance(out, RhoResult) for out in kwargs.get("out", ())):
            return NotImplemented  # the values are read-only
        inputs = tuple(item.values if isinstance(item, RhoResult) else item for item in inputs)
        return getattr(ufunc, method)(*inputs, **kwargs)

    @property
    def shape(self) -> tuple:
        """``(L,)``, the shape of :attr:`values`."""
        return self.values.shape

    def __getitem__(self, k):
        return self.values[k]

    def __len__(self) -> int:
        return len(self.values)

    def __iter__(self):
        return iter(self.values)

    def __repr__(self) -> str:
        reason = f", reason={self.reason!r}" if self.reason else ""
        return f"RhoResult({np.array2string(self.values, precision=4)}{reason})"


# --- the algebra ------------------------------------------------------------------------------

def distractor_moments(stats, a_plus, a_minus, neurons):
    """``Σ = cov[d̂]``, ``c = cov[d̂, y]`` and ``σ²_y`` for some neurons of one layer (module docstring).

    Parameters
    ----------
    stats : LayerStatistics with ``second_moment=True``
    a_plus, a_minus : ndarray, shape (O, D)
    neurons : int array, shape (m,)

    Returns
    -------
    sigma : (m, D, D),  c : (m, D),  var_y : (m,)
    """
    n = float(stats.n)
    mean_x = stats.sum_x / n
    cov_x = stats.sum_xx / n - np.outer(mean_x, mean_x)
    s_ym, s_yp = stats.sum_y_minus[neurons], stats.sum_y_plus[neurons]
    s_yym, s_yyp = stats.sum_yy_minus[neurons], stats.sum_yy_plus[neurons]
    n_p = stats.n_plus[neurons].astype(np.float64)
    # t = (ũ, ṽ, g):  E[x̃ tᵀ] (m, D, 3), E[t] (m, 3), E[t tᵀ] (m, 3, 3)
    s_xyp = stats.sum_xy_plus[:, neurons]
    e_xt = np.stack([s_xyp, stats.sum_xy_minus[:, neurons], stats.open_input_sums(neurons)], axis=-1)
    e_xt = e_xt.transpose(1, 0, 2) / n
    mean_t = np.stack([s_yp, s_ym, n_p], axis=-1) / n
    zeros = np.zeros_like(s_yp)
    e_tt = np.stack([np.stack([s_yyp, zeros, s_yp], -1),
                     np.stack([zeros, s_yym, zeros], -1),
                     np.stack([s_yp, zeros, n_p], -1)], axis=1) / n
    k_xt = e_xt - mean_x[None, :, None] * mean_t[:, None, :]
    t_cov = e_tt - mean_t[:, :, None] * mean_t[:, None, :]
    gamma = stats.scaled_gamma[neurons]  # γ in the units of the sums, as t (σ cancels in ρ)
    a_p, a_m = a_plus[neurons], a_minus[neurons]
    b = np.stack([a_p, a_m, gamma[:, None] * (a_p - a_m)], axis=-1)  # (m, D, 3)
    b_kt = b @ k_xt.transpose(0, 2, 1)
    sigma = cov_x[None] - b_kt - b_kt.transpose(0, 2, 1) + b @ t_cov @ b.transpose(0, 2, 1)
    sigma = (sigma + sigma.transpose(0, 2, 1)) / 2
    e = np.array([1.0, 1.0, 0.0])
    c = k_xt @ e - np.einsum("mdj,mj->md", b, t_cov @ e)
    var_y = t_cov @ e @ e
    return sigma, c, var_y


def term_scale(stats, a_plus, a_minus, neurons):
    """Per neuron and input, (m, D): ``m_i = sqrt(E[x̃_i²]) + Σ_l |B_il|·sqrt(E[t_l²])``, the scale of the
    terms of ``Σ = Σ_x − B Kᵀ − K Bᵀ + B T Bᵀ`` in row and column ``i``: every term of ``Σ_ij`` is at most
    ``m_i·m_j`` (Cauchy–Schwarz on the raw second moments, which bound the covariances and the products
    subtracted to form them), and so is its rounding error, up to a factor of order the unit roundoff
    (``docs/math.md#rho-pseudo-inverse``).  A feature of small spread has a small ``m_i`` whatever the
    others': its rows of ``Σ`` carry their digits."""
    n = float(stats.n)
    second_x = np.abs(np.diag(stats.sum_xx)) / n
    second_u = np.abs(stats.sum_yy_plus[neurons]) / n  # E[ũ²] = E[ỹ²g]
    second_v = np.abs(stats.sum_yy_minus[neurons]) / n  # E[ṽ²] = E[ỹ²(1 − g)]
    second_g = stats.n_plus[neurons].astype(np.float64) / n  # E[g²] = E[g]
    gamma = stats.scaled_gamma[neurons]
    a_p, a_m = a_plus[neurons], a_minus[neurons]
    return (np.sqrt(second_x)[None, :] + np.abs(a_p) * np.sqrt(second_u)[:, None]
            + np.abs(a_m) * np.sqrt(second_v)[:, None]
            + np.abs(gamma[:, None] * (a_p - a_m)) * np.sqrt(second_g)[:, None])


def regression(sigma, c, cutoff, scale=None):
    """``v = Σ⁺c`` and ``cᵀΣ⁺c`` for a stack: eigenvalues ``λ_k ≤ cutoff·λ_max`` are discarded, and every
    ``λ_k ≤ 2⁻⁴⁰·D·(Σ_i |u_ik|·m_i)²`` with ``m = scale`` (m, D) (:func:`term_scale`): the rounding of
    ``Σ``'s terms along the eigenvector ``u_k`` itself, so such an eigenvalue and its direction are
    rounding noise (``docs/math.md#rho-pseudo-inverse``); where every eigenvalue is, no direction is kept.

    sigma (m, D, D), c (m, D) -> v (m, D), explained (m,).  With ``q = Uᵀc``,
    ``cᵀΣ⁺c = Σ_k (q_k/sqrt(λ_k))²`` over the kept eigenvalues: no raw magnitude is squared.
    """
    with single_threaded_lapack():
        lam, u = np.linalg.eigh(sigma)
    lam_max = lam[:, -1:]
    keep = lam > cutoff * lam_max
    if scale is not None:
        along = np.einsum("mdk,md->mk", np.abs(u), scale)  # Σ_i |u_ik|·m_i
        keep &= lam > ROUNDING_FLOOR * sigma.shape[-1] * along * along
    inverse = np.zeros_like(lam)
    np.divide(1.0, lam, out=inverse, where=keep)
    q = np.einsum("mdk,md->mk", u, c)
    v = np.einsum("mdk,mk->md", u, q * inverse)
    whitened = q * np.sqrt(inverse)
    return v, np.einsum("mk,mk->m", whitened, whitened)


@functools.cache
def _thread_pools():
    """The native thread pools of the loaded BLAS/LAPACK libraries (NumPy's and SciPy's OpenBLAS)."""
    return threadpoolctl.ThreadpoolController()


def single_threaded_lapack():
    """A context in which BLAS/LAPACK run on one thread.  The stacks of small ``D×D``
    eigendecompositions of ρ are far slower threaded: each call wakes the pool for little work, and
    NumPy's OpenBLAS threads then spin against SciPy's, which the Numba kernels use (``reproduce
    --quick``: 165 s with the default threads, 26 s on one, on 2 cores)."""
    return _thread_pools().limit(limits=1, user_api="blas")


def _check_moments(stats, moments) -> None:
    """Refuse moments that are not finite (a ``ValueError`` naming the layer) before an
    eigendecomposition sees them."""
    if not all(all_finite(m) for m in moments):
        raise ValueError(f"rho: {stats.where}: the moments of the distractor estimate are not finite (float64 "
                         f"overflow: filters up to Σ|w| = {stats.row_sum:.4g}, patterns or statistics too large); "
                         "rescale the weights")


def _zero_variance(stats, var_y, neurons):
    """``σ²_y = 0`` up to rounding: ``σ²_y ≤ 1e-12·E[ỹ²]`` (shifted), or ``σ²_y ≤ 2⁻⁸⁰·E[y²]``
    (unshifted: the rounding noise of an input that is constant but for the forward pass,
    :data:`~refpattern.patterns.estimators.ROUNDING_TOLERANCE`)."""
    second = stats.sum_yy[neurons] / stats.n
    return (var_y <= ZERO_TOLERANCE * second) | is_rounding_noise(var_y, stats.sum_y[neurons] / stats.n, second,
                                                                 stats.scaled_gamma[neurons])


def layer_rho(stats, a_plus, a_minus, neurons, cutoff, v_stats=None):
    """Per-neuron ``max_v corr`` for ``neurons`` of one layer (NaN where ``σ²_y = 0``), in-sample
    or, with ``v_stats``, with ``v`` fitted on ``v_stats`` (module docstring)."""
    d = stats.n_inputs
    chunk = max(1, MAX_STACK_ELEMENTS // (d * d))
    corr = np.full(len(neurons), np.nan)
    for start in range(0, len(neurons), chunk):
        part = neurons[start:start + chunk]
        sigma, c, var_y = distractor_moments(stats, a_plus, a_minus, part)
        _check_moments(stats, (sigma, c, var_y))
        ok = ~_zero_variance(stats, var_y, part)
        if v_stats is None:
            _, explained = regression(sigma, c, cutoff, term_scale(stats, a_plus, a_minus, part))
            value = np.sqrt(np.clip(explained, 0.0, None) / np.where(ok, var_y, 1.0))
        else:
            sigma_v, c_v, var_y_v = distractor_moments(v_stats, a_plus, a_minus, part)
            _check_moments(v_stats, (sigma_v, c_v))
            v, explained_v = regression(sigma_v, c_v, cutoff, term_scale(v_stats, a_plus, a_minus, part))
            # no correlation left to regress on the v split (S_a, paper S_a± fitted there: c_v = 0 up
            # to rounding), or no variance of y there at all (constant or single-sample X_v: Σ_v, c_v
            # and σ²_y are rounding noise, and so is their ratio): v would be a rounding-noise
            # direction, so it is 0 and the correlation 0
            no_direction = ((np.clip(explained_v, 0.0, None) <= NO_CORRELATION ** 2 * np.abs(var_y_v))
                            | _zero_variance(v_stats, var_y_v, part))
            v[no_direction] = 0.0
            var_v = np.einsum("md,mde,me->m", v, sigma, v)
            numerator = np.einsum("md,md->m", v, c)
            denominator = np.sqrt(np.clip(var_v, 0.0, None)) * np.sqrt(np.where(ok, var_y, 1.0))
            value = np.zeros(len(part))
            np.divide(numerator, denominator, out=value, where=denominator > 0)
        # |corr| ≤ 1 (Cauchy–Schwarz: cᵀΣ⁺c ≤ σ²_y for moments of one joint distribution); beyond it is rounding
        # (in-sample with N ≤ D, where the regression fits y exactly, ρ came out as −2e-15)
        corr[start:start + len(part)] = np.where(ok, np.clip(value, -1.0, 1.0), np.nan)
    return corr


# --- the public function ----------------------------------------------------------------------

def _check_cutoff(cutoff) -> float:
    return check_level(cutoff, "cutoff", 0.0, 1.0)


def _choose_neurons(n_neurons, max_neurons, seed, k):
    if max_neurons is None or max_neurons >= n_neurons:
        return np.arange(n_neurons)
    rng = np.random.default_rng([SUBSAMPLE_TAG, int(seed), int(k)])
    return np.sort(rng.choice(n_neurons, max_neurons, replace=False))


def rho(net, X, patterns_or_estimator, fit_v_on=None, batch_size=256, cutoff=DEFAULT_CUTOFF, variant=None, seed=None,
        max_neurons=None, backend=None, progress=None) -> RhoResult:
    """ρ (Eq. 1) of a signal estimator, per kernel layer and per neuron (module docstring).

    Parameters
    ----------
    net : Sequential
    X : ndarray (N, …) or iterable of batches
        Where the correlation is evaluated (and everything is fitted, unless ``fit_v_on``).
    patterns_or_estimator : Patterns, str or Estimator
        Fitted patterns, or an estimator ("x", "w", "a", "a+-", "random", "linear", "relu" or an
        :class:`~refpattern.patterns.estimators.Estimator`) to fit on ``fit_v_on`` if given, else on ``X``.
    fit_v_on : ndarray or iterable of batches, optional
        Fit ``v`` here and evaluate on ``X`` (the paper's held-out protocol).  Default: in-sample.
    batch_size : int
    cutoff : float
        Relative eigenvalue cut-off of ``Σ⁺`` (default 1e-10).
    variant, seed : as in :func:`~refpattern.patterns.fit.fit_patterns` (used only with an estimator);
        ``seed`` also seeds the neuron subsample of ``max_neurons`` (None: 0).
    max_neurons : int, optional
        Evaluate at most this many neurons per layer (a seeded random subsample).
    backend, progress : as in :func:`~refpattern.patterns.fit.fit_statistics`.

    Returns
    -------
    RhoResult
        ``result[k]`` is ρ of kernel layer ``k`` (NaN for S_x, with ``.reason``);
        ``result.per_neuron[k]`` the (O,) values of its neurons.
    """
    check_network(net)
    cutoff = _check_cutoff(cutoff)
    check_batch_size(batch_size)
    if max_neurons is not None:
        max_neurons = check_count(max_neurons, "max_neurons")
    if seed is not None:
        seed = check_seed(seed)
    if isinstance(patterns_or_estimator, Patterns):
        patterns = patterns_or_estimator
        patterns.check_network(net)
        estimator = patterns.estimator
    else:
        patterns, estimator = None, resolve_estimator(patterns_or_estimator, variant, seed)
    subsample_seed = 0 if seed is None else seed
    kernels = net.kernel_layers
    if not estimator.has_pattern:
        reason = (f"{estimator.label}(x) = x leaves no distractor (d̂ = x − S(x) ≡ 0), so max_v corr(wᵀx, vᵀd̂) "
                  "and ρ are undefined")
        return RhoResult(np.full(len(kernels), np.nan), [np.full(layer.weight.shape[0], np.nan) for layer in kernels],
                         reason, [np.array([], dtype=np.int64) for _ in kernels],
                         [np.arange(layer.weight.shape[0]) for layer in kernels])

    stats = fit_statistics(net, X, batch_size, backend, second_moment=True, progress=progress, label="rho")
    v_stats = None
    if fit_v_on is not None:
        try:
            v_stats = fit_statistics(net, fit_v_on, batch_size, backend, second_moment=True, progress=progress,
                                     label="rho (fit v)")
        except (TypeError, ValueError) as error:  # the data checks name the data "X": here it is fit_v_on
            message = str(error)
            named = "fit_v_on" + message[1:] if message.startswith(("X ", "X:")) else f"fit_v_on: {message}"
            raise type(error)(named) from None
    if patterns is None:
        patterns = estimate_network(net, v_stats if v_stats is not None else stats, estimator)

    per_layer, values, excluded, evaluated, reasons = [], [], [], [], []
    for k, layer in enumerate(kernels):
        o = layer.weight.shape[0]
        a_plus = np.asarray(patterns[k].a_plus).reshape(o, -1)
        a_minus = np.asarray(patterns[k].a_minus).reshape(o, -1)
        neurons = _choose_neurons(o, max_neurons, subsample_seed, k)
        corr = layer_rho(stats[k], a_plus, a_minus, neurons, cutoff, None if v_stats is None else v_stats[k])
        full = np.full(o, np.nan)
        full[neurons] = 1.0 - corr
        per_layer.append(full)
        excluded.append(neurons[np.isnan(corr)])
        evaluated.append(neurons)
        valid = corr[~np.isnan(corr)]
        if valid.size:
            values.append(float(np.mean(1.0 - valid)))
        else:
            values.append(np.nan)
            reasons.append(f"kernel layer {k} ({layer!r}): every evaluated neuron has σ²_y = 0")
    return RhoResult(values, per_layer, "; ".join(reasons) or None, excluded, evaluated)
