"""Measuring every claim on fresh draws of a linear model: :func:`check_claims` (and the toy's
:func:`check_toy_claims`).

The claims come from ``docs/math.md#toy-verify`` and ``docs/math.md#linear-verify``, with the
closed forms of :mod:`refpattern.linear.closed_forms`; each is measured by a function of
:mod:`.filter_claims`, :mod:`.pattern_claims`, :mod:`.rho_claims`, :mod:`.relu_claims` or
:mod:`.network_claims` with the tolerances of :mod:`.tolerances`.  Every claim must hold
(``must_hold=True``) with the verdict the closed forms predict.  A claim that does not apply to
the model (no distractor to rotate) or cannot be measured at this ``N`` (a least-squares fit or ρ
in ``D`` dimensions needs enough samples per dimension) is listed in :attr:`ClaimsReport.skipped`
with the reason.  On the paper's toy (the default configuration) this is the check ``refpattern
verify`` has always run, with the same numbers for the same seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from refpattern.experiments.toy.filter_claims import (
    claim_filter_not_parallel,
    claim_gradient_methods,
    claim_isotropic,
    claim_rotation,
)
from refpattern.experiments.toy.measurements import (
    Sample,
    fit,
    mean_text,
    neuron_pattern,
    no_distractor_left,
    output_unresolved,
)
from refpattern.experiments.toy.model import toy_model
from refpattern.experiments.toy.network_claims import ANSWER_KEY, CLOSED_FORM_KEY, claim_network
from refpattern.experiments.toy.pattern_claims import (
    MIN_SAMPLES,
    claim_error_rate,
    claim_pattern_attribution,
    claim_pattern_net,
    claim_pattern_recovers_signal,
    error_rate_unmeasurable,
)
from refpattern.experiments.toy.relu_claims import claim_relu_patterns
from refpattern.experiments.toy.rho_claims import (
    claim_optimum_identity,
    claim_rho,
    claim_rho_against_dimension,
)
from refpattern.experiments.toy.tolerances import BATCHES, batch_standard_error
from refpattern.linear.closed_forms import NoClosedForm
from refpattern.linear.config import ClaimOptions, NetworkOptions
from refpattern.linear.model import LinearModel
from refpattern.progress import Progress

RELU_KEYS = ("relu_patterns_closed_form", "relu_patterns_recover_signal", "rho_blind_to_relu_bias",
             "regime_variant_recovers_signal")
"""The claims about S_a± with a distractor mean (:mod:`.relu_claims`)."""

FITTED_RELU_KEYS = ("relu_patterns_closed_form", "relu_patterns_recover_signal", "regime_variant_recovers_signal")
"""Those that compare S_a± fitted with the gate ``y > 0`` on the data: not measured where ``y = wᵀx + b`` computed
from the data is rounding (:func:`.measurements.output_unresolved`, ``docs/math.md#linear-output-rounding``)."""

SHOWN_POINTS = 2000
"""At most this many samples are kept for the figure (a fixed random subset of the main draw)."""


@dataclass
class FigureData:
    """What the report's figure shows, in the model's plane (:meth:`~refpattern.linear.LinearModel.plane`).

    Attributes
    ----------
    points : (n, 2)     a fixed random subset of the main draw's inputs, in plane coordinates
    values : (n,)       their explained signal amplitudes ``s_k``
    vectors : dict      ``{"w", "a_s", "a_d" (or None), "pattern"}`` in plane coordinates
    n_samples : int     the size of the draw they come from
    dimension : int     ``D`` (the plane is all of ``R²`` when 2)
    """

    points: np.ndarray
    values: np.ndarray
    vectors: dict
    n_samples: int
    dimension: int


@dataclass
class ClaimsReport:
    """The claims of one check, in report order, and what the figure shows.

    Attributes
    ----------
    n_samples, seed : the size and seed of every draw
    claims : list of :class:`~refpattern.experiments.ledger.Claim`
    model : the :class:`~refpattern.linear.LinearModel` checked
    pattern : (D,), the ``S_a`` pattern fitted on the main draw
    rotation_rows : one dict per rotation of the distractors (:func:`.filter_claims.claim_rotation`)
    rho : ``{estimator: in-sample ρ}`` on the main draw (empty when ρ was not measurable)
    figure : :class:`FigureData` or None
    skipped : ``[(key, reason), …]`` claims not measured, and why
    sweep_rows : ρ(random) against ``D`` (:func:`.rho_claims.claim_rho_against_dimension`), or []
    """

    n_samples: int
    seed: int
    claims: list
    model: LinearModel | None = None
    pattern: np.ndarray | None = None
    rotation_rows: list = field(default_factory=list)
    rho: dict = field(default_factory=dict)
    figure: FigureData | None = None
    skipped: list = field(default_factory=list)
    sweep_rows: list = field(default_factory=list)

    def claim(self, key: str):
        """The claim with this key (``KeyError`` if there is none)."""
        for claim in self.claims:
            if claim.key == key:
                return claim
        raise KeyError(f"no claim {key!r} in this report (skipped: {dict(self.skipped).get(key, 'not a claim')})")


ToyCheck = ClaimsReport
"""The name this report had when it covered the toy only."""


def check_claims(model: LinearModel, n: int = 1_000_000, seed: int = 0, options: ClaimOptions | None = None,
                 progress=None, sweep=None, network: NetworkOptions | None = None) -> ClaimsReport:
    """Draw ``model`` with ``seed`` (``n`` samples per data set, at least :data:`MIN_SAMPLES`) and measure
    every claim that applies (``docs/math.md#linear-verify``).

    Parameters
    ----------
    model : LinearModel
    n : int
        Samples per draw (the model, its rotations, its isotropic-noise and biased-mean variants).
    seed : int
    options : ClaimOptions, optional
        Rotations, the isotropic ``σ_n``, the biased mean, the random directions (default: the toy's).
    progress : as for :meth:`refpattern.progress.Progress.resolve`.
    sweep : sequence of LinearModel or of int, optional
        ρ(random) against ``D``: models of the same configuration in other dimensions, or
        dimensions ``≥ D`` to embed this model in (:meth:`~refpattern.linear.LinearModel.embedded`);
        default ``options.dimension_sweep`` embedded.
    network : NetworkOptions, optional
        Also train a shallow ReLU network on the model and check its hidden neurons' patterns
        (:mod:`.network_claims`).
    """
    if not isinstance(model, LinearModel):
        raise TypeError(f"model: expected a refpattern.linear.LinearModel, got {type(model).__name__}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"n: expected an integer, got {type(n).__name__}")
    if n < MIN_SAMPLES:
        raise ValueError(f"n_samples: expected at least {MIN_SAMPLES} (the error-rate claim needs two batch "
                         f"sizes with enough batches), got {n}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise (ValueError if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) else TypeError)(
            f"seed: expected an integer >= 0, got {seed!r}")
    options = ClaimOptions() if options is None else options
    progress = Progress.resolve(progress, "check_claims")
    claims, skipped = [], []

    def add(result, key):
        claim, why = result
        if claim is None:
            skipped.append((key, why))
        else:
            claims.append(claim)

    progress(f"drawing the model (N = {n}, seed = {seed}; {model.describe()})")
    main = Sample.of(model, n, seed)
    figure = figure_data(main)

    progress("claim 1: the filter w against its closed form and a_s")
    add(claim_filter_not_parallel(main), "filter_not_parallel")

    progress(f"claim 2: rotating the distractors ({len(options.rotations_deg)} angles): w turns, S_a stays")
    claim, rotation_rows, why = claim_rotation(model, n, seed, tuple(options.rotations_deg))
    add((claim, why), "rotation")

    progress("claim 3: Gradient, DeConvNet, Guided Backprop on the linear model")
    claims.append(claim_gradient_methods(main))

    progress("claim 4: S_a recovers the signal direction; PatternNet and PatternAttribution")
    pattern_a = fit(main.net, main.inputs(), "a", seed)
    a = neuron_pattern(pattern_a)
    a_se = batch_standard_error([neuron_pattern(fit(main.net, part.X, "a", seed)) for part in main.draw.parts(BATCHES)])
    claims.append(claim_pattern_recovers_signal(main, a, a_se))
    progress("claim 4: the S_a error rate (independent draws at several n)")
    undefined = no_distractor_left(model)
    if undefined:  # every batch fits the same pattern: the error is rounding at every n
        skipped.append(("pattern_error_rate", f"{undefined}, so S_a has no sampling error (Σ_r = 0) and its "
                                              "error no rate"))
    elif error_rate_unmeasurable(main):  # rounding as large as the sampling error at every n
        skipped.append(("pattern_error_rate", error_rate_unmeasurable(main)))
    else:
        claims.append(claim_error_rate(main, seed))
    claims.append(claim_pattern_net(main, pattern_a, a, a_se))
    claims.append(claim_pattern_attribution(main, pattern_a, a))

    sigma_n = options.isotropic_sigma_for(model)
    progress(f"claim 5: isotropic noise (σ_n = {sigma_n:g}) instead of the distractors")
    add(claim_isotropic(model, n, seed, sigma_n), "isotropic_noise_shrinks_w")

    progress("ρ: S_a, S_a±, S_w, random, S_x")
    rho_claims, rho_numbers, rho_why = claim_rho(main, seed, options.random_directions)
    for key, claim, why in zip(("rho_ranking", "rho_filter_closed_form", "rho_random_baseline"), rho_claims, rho_why):
        add((claim, why), key)

    biased = unbiased = None
    if model.distractors:
        unbiased = main if not np.any(model.distractor_mean) else Sample.of(model.with_distractor_mean(0.0), n, seed)
        mean = options.biased_mean_for(model)
        biased_model = model.with_distractor_mean(mean)
        biased = main if np.array_equal(biased_model.distractor_mean, model.distractor_mean) else \
            Sample.of(biased_model, n, seed)
        progress(f"S_a± with a distractor mean (μ = {mean_text(biased.model.distractor_mean)}): paper and regime "
                 "variants")
        try:
            relu = claim_relu_patterns(unbiased, biased, seed, rho_unmeasurable=rho_why[0])
            rounded = output_unresolved(unbiased) or output_unresolved(biased)
            for claim in relu:  # a gate on a y that is rounding: the fitted S_a± are no measurement
                if rounded and claim.key in FITTED_RELU_KEYS:
                    skipped.append((claim.key, rounded))
                else:
                    claims.append(claim)
        except NoClosedForm as error:
            skipped.extend((key, f"no closed form for S_a±: {error}") for key in RELU_KEYS)
    else:
        skipped.extend((key, "no distractor: no distractor mean") for key in RELU_KEYS)

    progress("Eq. 2: cov[x, y] = cov[S(x), y] on the fitting data")
    add(claim_optimum_identity(unbiased or main, biased, seed, a, main), "optimum_identity")

    sweep_rows = []
    models = _sweep_models(model, options, sweep)
    if models:
        progress(f"ρ(random) against D ({', '.join(str(m.dimension) for m in models)})")
        claim = claim_rho_against_dimension(models, model.dimension, options.random_directions, seed)
        claims.append(claim)
        sweep_rows = claim.numbers["rows"]

    if network is not None:
        progress(f"a shallow ReLU network ({network.hidden} hidden units) trained on sign(s_k): its patterns")
        try:
            claims.extend(claim_network(model, network, n, seed, progress))
        except NoClosedForm as error:
            skipped.extend((key, f"no closed form for a hidden neuron's S_a±: {error}")
                           for key in (CLOSED_FORM_KEY, ANSWER_KEY))
    return ClaimsReport(n, seed, claims, model, a, rotation_rows, rho_numbers, figure, skipped, sweep_rows)


def _sweep_models(model, options, sweep) -> list:
    if sweep is None:
        sweep = options.dimension_sweep
    models = []
    for entry in sweep or ():
        models.append(entry if isinstance(entry, LinearModel) else model.embedded(int(entry)))
    return models


def figure_data(sample: Sample) -> FigureData:
    """A fixed random subset (:data:`SHOWN_POINTS`, ``default_rng(0)``) of the draw and the vectors, in the plane."""
    model, draw = sample.model, sample.draw
    shown = np.random.default_rng(0).choice(draw.n, size=min(SHOWN_POINTS, draw.n), replace=False)
    if draw.in_memory:
        whole = draw.all()
        X, values = whole.X[shown], whole.s[shown, model.explained]
    else:
        order = np.argsort(shown)
        X, values = np.zeros((len(shown), model.dimension)), np.zeros(len(shown))
        sorted_rows = shown[order]
        for batch in sample.batches():
            inside = (sorted_rows >= batch.start) & (sorted_rows < batch.start + len(batch))
            X[order[inside]] = batch.X[sorted_rows[inside] - batch.start]
            values[order[inside]] = batch.s[sorted_rows[inside] - batch.start, model.explained]
    basis = model.plane()
    vectors = {"w": basis @ sample.w, "a_s": basis @ sample.a_s,
               "a_d": basis @ model.distractor_directions[0] if model.distractors else None,
               "pattern": basis @ sample.pattern}
    return FigureData(X @ basis.T, values, vectors, draw.n, model.dimension)


def check_toy_claims(n_samples: int = 1_000_000, seed: int = 0, progress=None) -> ClaimsReport:
    """:func:`check_claims` on the paper's toy (``refpattern verify``'s default configuration)."""
    return check_claims(toy_model(), n_samples, seed, progress=progress)
