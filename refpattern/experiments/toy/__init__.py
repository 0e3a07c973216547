"""The paper's linear toy example and every claim measured on it (``refpattern verify``).

The claims run on any linear model (:mod:`refpattern.linear`; ``docs/math.md#linear-verify``), the
paper's toy being the default: ``check_claims(model, n=…, seed=…)`` returns a :class:`ClaimsReport`.

Modules (each one idea): :mod:`.model` (the toy's data generator and closed forms),
:mod:`.tolerances` (how far a measurement may be from its prediction: batch-means standard
errors, rounding), :mod:`.measurements` (least-squares filters, covariances, the single
neuron's fitted pattern and ρ), the claims by topic — :mod:`.filter_claims` (claims 1, 2,
3, 5 of ``docs/math.md#toy-claims``), :mod:`.pattern_claims` (claim 4), :mod:`.rho_claims` (ρ,
Eq. 1 and 2, ``docs/math.md#toy-rho``), :mod:`.relu_claims` (``S_a±`` with ``μ ≠ 0``,
``docs/math.md#sapm-mu-bias``), :mod:`.network_claims` (a trained ReLU network's hidden
neurons, ``docs/math.md#linear-relu-network``) — :mod:`.check` (all of them on one seed:
:func:`~.check.check_claims`, :func:`~.check.check_toy_claims`), :mod:`.figure` and :mod:`.sections`
(the report).
"""

from refpattern.experiments.toy.check import ClaimsReport, check_claims, check_toy_claims

__all__ = ["ClaimsReport", "check_claims", "check_toy_claims"]
