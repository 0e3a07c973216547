"""Measuring every claim of the linear toy on fresh draws: :func:`check_toy_claims`.

The claims come from ``docs/math.md#toy-verify`` and from the closed forms derived in
:mod:`refpattern.experiments.toy.model`; each is measured by a function of
:mod:`.filter_claims`, :mod:`.pattern_claims`, :mod:`.rho_claims` or :mod:`.relu_claims`
with the tolerances of :mod:`.tolerances`.  Every claim must hold (``must_hold=True``), with
the verdict the closed forms predict.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from refpattern.experiments.toy import model
from refpattern.experiments.toy.filter_claims import (
    ROTATIONS_DEG,
    SIGMA_N,
    claim_filter_not_parallel,
    claim_gradient_methods,
    claim_isotropic,
    claim_rotation,
)
from refpattern.experiments.toy.measurements import fit, neuron_pattern
from refpattern.experiments.toy.pattern_claims import (
    MIN_SAMPLES,
    claim_error_rate,
    claim_pattern_attribution,
    claim_pattern_net,
    claim_pattern_recovers_signal,
)
from refpattern.experiments.toy.relu_claims import MU_BIASED, claim_relu_patterns
from refpattern.experiments.toy.rho_claims import claim_optimum_identity, claim_rho
from refpattern.experiments.toy.tolerances import batch_standard_error, batch_values
from refpattern.progress import Progress


@dataclass
class ToyCheck:
    """The claims of one check, in report order, and what the toy figure shows.

    Attributes
    ----------
    n_samples, seed : the size and seed of every draw
    claims : list of :class:`~refpattern.experiments.ledger.Claim`
    data : ToyData, the default draw (μ = 0, σ = 1, ``a_d = (1, 1)``)
    pattern : (2,), the ``S_a`` pattern fitted on ``data``
    rotation_rows : one dict per rotation of ``a_d`` (:func:`.filter_claims.claim_rotation`)
    rho : ``{estimator: in-sample ρ}`` on ``data``
    """

    n_samples: int
    seed: int
    claims: list
    data: model.ToyData
    pattern: np.ndarray
    rotation_rows: list
    rho: dict


def check_toy_claims(n_samples: int = 1_000_000, seed: int = 0, progress=None) -> ToyCheck:
    """Draw the toy data with ``seed`` (``n_samples`` per data set, at least :data:`MIN_SAMPLES`)
    and measure every claim; ``progress`` as for :meth:`refpattern.progress.Progress.resolve`."""
    if n_samples < MIN_SAMPLES:
        raise ValueError(f"n_samples: expected at least {MIN_SAMPLES} (the error-rate claim needs two batch "
                         f"sizes with enough batches), got {n_samples}")
    progress = Progress.resolve(progress, "check_toy_claims")
    claims = []
    progress(f"drawing the toy data (N = {n_samples}, seed = {seed}, μ = 0, σ = 1, a_d = (1, 1))")
    data = model.make_toy(n_samples, seed=seed)
    net = data.model()
    y_out = net.forward(data.X)[:, 0]

    progress("claim 1: the filter w is not parallel to the signal a_s")
    claims.append(claim_filter_not_parallel(data))

    progress(f"claim 2: rotating a_d ({len(ROTATIONS_DEG)} angles): w turns, S_a stays at a_s")
    claim, rotation_rows = claim_rotation(n_samples, seed)
    claims.append(claim)

    progress("claim 3: Gradient, DeConvNet, Guided Backprop on the linear model")
    claims.append(claim_gradient_methods(data, net))

    progress("claim 4: S_a recovers a_s; PatternNet and PatternAttribution")
    pattern_a = fit(net, data.X, "a", seed)
    a = neuron_pattern(pattern_a)
    a_batches = batch_values(lambda part: neuron_pattern(fit(net, part, "a", seed)), data.X)
    claims.append(claim_pattern_recovers_signal(data, a, batch_standard_error(a_batches)))
    progress("claim 4: the S_a error rate (independent draws at several n)")
    claims.append(claim_error_rate(n_samples, seed, net))
    claims.append(claim_pattern_net(data, net, pattern_a, a, y_out, batch_standard_error(a_batches)))
    claims.append(claim_pattern_attribution(data, net, pattern_a, a, y_out))

    progress(f"claim 5: isotropic noise (σ_n = {SIGMA_N}) only shrinks w")
    isotropic = model.make_toy(n_samples, noise="isotropic", sigma_n=SIGMA_N, seed=seed)
    claims.append(claim_isotropic(isotropic))

    progress("ρ: S_a, S_a±, S_w, random, S_x")
    rho_claims, rho_numbers = claim_rho(data, net, seed)
    claims.extend(rho_claims)

    progress(f"S_a± with a distractor mean μ = {MU_BIASED}: paper and regime variants")
    biased = model.make_toy(n_samples, mu=MU_BIASED, seed=seed)
    claims.extend(claim_relu_patterns(data, biased, net, seed))

    progress("Eq. 2: cov[x, y] = cov[S(x), y] on the fitting data")
    claims.append(claim_optimum_identity(data, biased, net, seed, a))
    return ToyCheck(n_samples, seed, claims, data, a, rotation_rows, rho_numbers)
