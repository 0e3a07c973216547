"""The linear laboratory's closed forms (refpattern/linear/) against large-sample estimates and independent formulas.

Every statistical check allows ``Z = 5`` standard errors measured on the same draw (batch means over
``K`` disjoint batches: ``sd/√K``, so the tolerance follows the sample size), or the binomial /
Monte-Carlo standard error of a mean over directions; with fixed seeds the tests are deterministic
and a wrong closed form is off by many standard errors.  The estimates are computed here from
their definitions (``docs/math.md#s-a``, ``#sapm-paper``, ``#rho-closed-form``), not with the code
under test.
"""

import numpy as np
import pytest
from scipy import special

from refpattern.experiments.toy import model as toy
from refpattern.linear import closed_forms as cf
from refpattern.linear.model import KIND_FOURTH_MOMENT, LinearModel
from refpattern.linear.sampling import Draw
from refpattern.methods import explain
from refpattern.network import Dense, Sequential
from refpattern.patterns import fit_patterns

Z = 5.0
N = 200_000
K = 40


def batch_se(estimate, *arrays, k=K):
    """``sd/√k`` of ``estimate`` over ``k`` disjoint batches of the rows of ``arrays``."""
    values = np.array([estimate(*parts) for parts in zip(*(np.array_split(a, k) for a in arrays))])
    return values.std(axis=0, ddof=1) / np.sqrt(k)


def assert_within(measured, expected, se, what=""):
    gap = np.abs(np.asarray(measured) - np.asarray(expected))
    assert np.all(gap <= Z * np.asarray(se) + 1e-12), (what, measured, expected, gap / np.maximum(se, 1e-300))


def mixed_model(**changes):
    """Four dimensions, a uniform and a Rademacher signal, three correlated distractors with means and a
    covariance with the signal, anisotropic noise: no closed form is exact here."""
    parameters = dict(
        signal_directions=[[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.5, 0.0]], signal_kinds=["uniform", "rademacher"],
        signal_scales=[1.0, 0.7], distractor_directions=[[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0],
                                                         [0.5, 0.0, 0.0, 1.0]],
        distractor_mean=[0.5, -1.0, 0.0], distractor_covariance=[[1.0, 0.3, 0.0], [0.3, 0.5, 0.0], [0.0, 0.0, 2.0]],
        cross_covariance=[[0.2, 0.0], [0.0, 0.1], [0.0, 0.0]], noise_covariance=[0.1, 0.2, 0.05, 0.3])
    parameters.update(changes)
    return LinearModel(**parameters)


CORRELATED = LinearModel([[1.0, 0.0]], "uniform", 1.0, [[1.0, 1.0]], 0.0, 1.0, cross_covariance=[[0.2]])
GAUSSIAN = LinearModel([[1.0, 0.0, 0.0]], "gaussian", 1.5, [[1.0, 1.0, 0.0]], 1.0, 1.0, noise_covariance=0.05)
NOISY_UNIFORM = LinearModel([[1.0, 0.0, 0.0]], "uniform", 1.0, [[1.0, 1.0, 0.5]], 0.5, 1.0, noise_covariance=0.1)
RADEMACHER = LinearModel([[1.0, 0.0]], "rademacher", 0.8, [[0.6, 1.0]], 0.5, 0.5)


def data(model, n=N, seed=0):
    whole = Draw(model, n, seed).all()
    return whole.X, whole.s, whole.d


# --- drawing -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("mu, sigma, rotation", [(0.0, 1.0, 0.0), (1.0, 0.5, 30.0), (-0.7, 2.0, -25.0)])
def test_the_toy_model_draws_make_toys_numbers_to_the_last_bit(mu, sigma, rotation):
    made = toy.make_toy(3001, mu=mu, sigma=sigma, rotation_deg=rotation, seed=4)
    drawn = Draw(toy.toy_model(mu, sigma, rotation), 3001, 4).all()
    assert np.array_equal(drawn.X, made.X) and np.array_equal(drawn.s[:, 0], made.y)
    isotropic = toy.make_toy(3001, noise="isotropic", sigma_n=0.3, seed=4)
    assert np.array_equal(Draw(toy.toy_model().with_isotropic_noise(0.3), 3001, 4).all().X, isotropic.X)


def test_batches_of_any_size_and_streaming_give_the_same_rows():
    model = mixed_model()
    kept = Draw(model, 5003, seed=[2, 7]).all()
    streamed = Draw(model, 5003, seed=[2, 7], in_memory=False)
    for size in (1, 999, 4096, 10_000):
        rows = np.concatenate([batch.X for batch in streamed.batches(size, 11, 4500)])
        assert np.array_equal(rows, kept.X[11:4500])
    parts = list(streamed.parts(50))
    assert [len(p) for p in parts] == [len(a) for a in np.array_split(kept.X, 50)]
    assert all(np.array_equal(p.s, a) for p, a in zip(parts, np.array_split(kept.s, 50)))
    assert kept.X.flags.writeable is False


def test_a_draw_has_the_models_moments():
    """Mean, covariance of x, cov[d, s], and the signal's second and fourth moments against the model."""
    model = mixed_model()
    X, s, d = data(model)
    assert_within(X.mean(axis=0), model.mean, batch_se(lambda x: x.mean(axis=0), X), "E[x]")
    covariance = np.cov(X.T, bias=True)
    se = batch_se(lambda x: np.cov(x.T, bias=True), X)
    assert_within(covariance, model.input_covariance, se, "cov[x]")
    cross = lambda d, s: ((d - d.mean(0))[:, :, None] * (s - s.mean(0))[:, None, :]).mean(0)  # noqa: E731
    assert_within(cross(d, s), model.cross_covariance, batch_se(cross, d, s), "cov[d, s]")
    assert_within((s ** 2).mean(0), model.signal_variances, batch_se(lambda s: (s ** 2).mean(0), s) + 1e-9, "σ²")
    fourth = [KIND_FOURTH_MOMENT[kind] * c ** 4 for kind, c in zip(model.signal_kinds, model.signal_scales)]
    assert_within((s ** 4).mean(0), fourth, batch_se(lambda s: (s ** 4).mean(0), s) + 1e-15, "E[s⁴]")


# --- the filter and S_a -----------------------------------------------------------------------------

def least_squares(X, y):
    """The filter part of the least-squares fit of ``y`` on ``(x, 1)``."""
    return np.linalg.lstsq(np.column_stack([X, np.ones(len(y))]), y, rcond=None)[0][:-1]


@pytest.mark.parametrize("model", [mixed_model(), CORRELATED, GAUSSIAN, toy.toy_model(0.5, 1.0, 30.0),
                                   toy.toy_model().with_isotropic_noise(0.8)],
                         ids=["mixed", "correlated", "gaussian", "toy-rotated", "isotropic"])
def test_the_optimal_filter_is_the_least_squares_filter(model):
    w, b = cf.optimal_filter(model)
    X, s, _ = data(model)
    y = s[:, model.explained]
    assert_within(least_squares(X, y), w, batch_se(least_squares, X, y), "w")
    # its normal equations, and the pattern of S_a they imply: p_k/(wᵀp_k)
    p = model.effective_directions[model.explained]
    np.testing.assert_allclose(model.input_covariance @ w, model.signal_variances[model.explained] * p, atol=1e-12)
    assert (X @ w + b).mean() == pytest.approx(0.0, abs=Z * (X @ w).std() / np.sqrt(len(y)))
    pattern = lambda X: np.cov(X.T, X @ w, bias=True)[:-1, -1] / np.var(X @ w)  # noqa: E731
    assert_within(pattern(X), cf.signal_pattern(model), batch_se(pattern, X), "S_a")


def test_a_correlated_distractor_is_signal_for_s_a():
    """``a = a_s + a_d·cov[ε, y]/σ²_y = (1, 0) + 0.6·(1, 1)``, and the filter still reads ``y`` exactly."""
    np.testing.assert_allclose(cf.signal_pattern(CORRELATED), [1.6, 0.6], atol=1e-15)
    w, b = cf.optimal_filter(CORRELATED)
    assert cf.reads_exactly(CORRELATED, w, b)
    X, s, _ = data(CORRELATED, 1000)
    np.testing.assert_allclose(X @ w + b, s[:, 0], atol=1e-13)


def test_the_activation_pattern_of_any_filter():
    model = mixed_model()
    w = np.array([0.3, -1.0, 0.5, 2.0])
    X, _, _ = data(model)
    pattern = lambda X: np.cov(X.T, X @ w, bias=True)[:-1, -1] / np.var(X @ w)  # noqa: E731
    assert_within(pattern(X), cf.activation_pattern(model, w), batch_se(pattern, X))


# --- S_a± ----------------------------------------------------------------------------------------------

def relu_patterns_from_definition(X, w, b, variant):
    """``a₊, a₋`` straight from ``docs/math.md#sapm-paper`` / ``#sapm-regime`` (gate ``wᵀx + b > 0``)."""
    y = X @ w
    result = []
    for regime in (y + b > 0, y + b <= 0):
        e_xy = (X[regime] * y[regime, None]).mean(axis=0)
        e_x = X[regime].mean(axis=0)
        e_y = y.mean() if variant == "paper" else y[regime].mean()
        numerator = e_xy - e_x * e_y
        result.append(numerator / (w @ numerator))
    return np.concatenate(result)


RELU_CASES = {
    "toy μ=1, optimal filter (1.5μ)": (toy.toy_model(1.0), None, None),
    "gaussian signal + noise, optimal filter": (GAUSSIAN, None, None),
    "rademacher signal, optimal filter": (RADEMACHER, None, None),
    "gaussian, a hidden unit with bias": (GAUSSIAN, np.array([0.8, -0.3, 1.0]), 0.4),
    "uniform + noise, a hidden unit (quadrature)": (NOISY_UNIFORM, np.array([1.0, -0.4, 0.3]), -0.2),
    "rademacher, a hidden unit with noise-free gate": (RADEMACHER, np.array([1.0, 0.2]), 0.1),
    "uniform, sharp gate away from 0": (toy.toy_model(0.5), np.array([1.0, -1.0]), -0.3),
}


@pytest.mark.parametrize("case", list(RELU_CASES))
@pytest.mark.parametrize("variant", ["paper", "regime"])
def test_relu_patterns_against_their_definition(case, variant):
    model, w, b = RELU_CASES[case]
    if w is None:
        w, b = cf.optimal_filter(model)
    if variant == "regime" and model.signal_kinds[0] == "rademacher" and cf.reads_exactly(model, w, b):
        # s_k is ±c: constant within each regime, var_r[y] = 0 — no regime pattern (zero, as a fit gives)
        assert not np.any(np.concatenate(cf.relu_patterns(model, w, b, variant)))
        return
    X, _, _ = data(model)
    measured = relu_patterns_from_definition(X, w, b, variant)
    se = batch_se(lambda X: relu_patterns_from_definition(X, w, b, variant), X)
    assert_within(measured, np.concatenate(cf.relu_patterns(model, w, b, variant)), se, case)


def test_relu_patterns_of_an_exact_read_in_words():
    """``a± = a_s ± κμ·a_d``: κ = 1.5 (uniform), √(2/π) (Gaussian), 1 (Rademacher) for ``c = 1``, ``wᵀμ_x = 0``."""
    for kind, kappa in (("uniform", 1.5), ("gaussian", np.sqrt(2 / np.pi)), ("rademacher", 1.0)):
        model = LinearModel([[1.0, 0.0]], kind, 1.0, [[1.0, 1.0]], 0.7, 1.0)
        a_plus, a_minus = cf.relu_patterns(model, *cf.optimal_filter(model))
        np.testing.assert_allclose(a_plus, [1 + kappa * 0.7, kappa * 0.7], atol=1e-15)
        np.testing.assert_allclose(a_minus, [1 - kappa * 0.7, -kappa * 0.7], atol=1e-15)
    np.testing.assert_array_equal(np.concatenate(cf.relu_patterns(toy.toy_model(1.0), [1.0, -1.0], 0.0)),
                                  np.concatenate(toy.relu_patterns([1.0, 0.0], [1.0, 1.0], 1.0)))


def test_two_non_gaussian_components_reaching_the_gate_have_no_closed_form():
    model = mixed_model()
    with pytest.raises(cf.NoClosedForm, match="non-Gaussian"):
        cf.relu_patterns(model, np.array([1.0, 1.0, 0.0, 0.0]), 0.0)


# --- ρ ---------------------------------------------------------------------------------------------------

def rho_from_definition(X, w, a_plus, a_minus=None, b=0.0):
    """``1 − sqrt(cᵀΣ⁺c/σ²_y)`` with ``d̂ = x − a(gate)·y`` (``docs/math.md#rho-closed-form``)."""
    a_minus = a_plus if a_minus is None else a_minus
    y = X @ w
    d_hat = X - np.where((y + b > 0)[:, None], a_plus, a_minus) * y[:, None]
    dc, yc = d_hat - d_hat.mean(axis=0), y - y.mean()
    c = (dc * yc[:, None]).mean(axis=0)
    return 1.0 - np.sqrt(max(c @ np.linalg.pinv(dc.T @ dc / len(y), rcond=1e-10, hermitian=True) @ c
                             / (yc ** 2).mean(), 0.0))


@pytest.mark.parametrize("name", ["S_w", "a_s", "random", "off"])
def test_pattern_rho_against_its_definition(name):
    model = mixed_model()
    w, _ = cf.optimal_filter(model)
    rng = np.random.default_rng(3)
    a = {"S_w": cf.filter_pattern(w), "a_s": model.signal_directions[0] / (w @ model.signal_directions[0]),
         "random": (r := rng.standard_normal(4)) / (w @ r),
         "off": cf.signal_pattern(model) + 0.3 * np.array([0.0, 1.0, -1.0, 0.5])}[name]
    a = a + (1.0 - w @ a) * cf.signal_pattern(model)  # wᵀa = 1 exactly (up to rounding)
    X, _, _ = data(model)
    measured = rho_from_definition(X, w, a)
    assert_within(measured, cf.pattern_rho(model, a), batch_se(lambda X: rho_from_definition(X, w, a), X), name)
    assert cf.pattern_rho(model, cf.signal_pattern(model)) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("model", [toy.toy_model(), toy.toy_model(0.3, 0.6, 40.0), CORRELATED])
def test_the_general_rho_reproduces_the_planar_formulas(model):
    w, _ = cf.optimal_filter(model)
    assert model.is_planar
    rng = np.random.default_rng(5)
    for r in rng.standard_normal((20, 2)):
        a = r / (w @ r)
        assert cf.pattern_rhos(model, a[None, :], w)[0] == pytest.approx(cf.pattern_rho(model, a), abs=1e-12)
    assert cf.pattern_rhos(model, cf.filter_pattern(w)[None, :], w)[0] == pytest.approx(cf.filter_rho(model),
                                                                                       abs=1e-12)


def test_a_pattern_outside_the_data_has_rho_zero():
    """Noise-free, one signal and one distractor in 3-D: ``x`` lives in a plane, and a pattern with a
    component off that plane lets ``v`` read ``y`` exactly (ρ = 0), in closed form and on data."""
    model = LinearModel([[1.0, 0.0, 0.0]], "uniform", 1.0, [[1.0, 1.0, 0.0]], 0.0, 1.0)
    w, _ = cf.optimal_filter(model)
    a = np.array([1.0, 0.2, 0.5])
    a = a / (w @ a)
    X, _, _ = data(model, 20_000)
    assert cf.pattern_rho(model, a) == 0.0
    assert rho_from_definition(X, w, a) == pytest.approx(0.0, abs=1e-6)
    inside = np.array([1.0, 0.3, 0.0]) / (w @ np.array([1.0, 0.3, 0.0]))
    assert cf.pattern_rho(model, inside) > 0.1


def test_two_regime_rho_against_its_definition():
    model, w, b = GAUSSIAN, np.array([0.8, -0.3, 1.0]), 0.4
    X, _, _ = data(model)
    for a_plus, a_minus in (cf.relu_patterns(model, w, b, "regime"), cf.relu_patterns(model, w, b, "paper"),
                            (cf.activation_pattern(model, w) + [0.1, 0.0, -0.08], cf.activation_pattern(model, w))):
        measured = rho_from_definition(X, w, a_plus, a_minus, b)
        se = batch_se(lambda X, p=a_plus, m=a_minus: rho_from_definition(X, w, p, m, b), X)
        assert_within(measured, cf.two_regime_rho(model, w, b, a_plus, a_minus), se)
    # the paper variant satisfies Eq. 2 in the population: ρ = 1
    assert cf.two_regime_rho(model, w, b, *cf.relu_patterns(model, w, b, "paper")) == pytest.approx(1.0, abs=1e-6)


# --- the random baseline ------------------------------------------------------------------------------

@pytest.mark.parametrize("mu, sigma, rotation", [(0.0, 1.0, 0.0), (0.0, 0.5, 30.0), (1.0, 2.0, -20.0)])
def test_the_random_baseline_in_2d_by_gil_pelaez_equals_the_planar_closed_form(mu, sigma, rotation):
    model = toy.toy_model(mu, sigma, rotation)
    w, _ = cf.optimal_filter(model)
    reference = cf.filter_rho(model)
    planar = cf.random_baseline(model, reference)
    general = cf.random_baseline(model, reference, w=w)
    assert "2-D" in planar.method and "Gil-Pelaez" in general.method
    assert general.mean == pytest.approx(planar.mean, abs=1e-10)
    assert general.probability == pytest.approx(planar.probability, abs=1e-10)


@pytest.mark.parametrize("dimension", [3, 10, 60])
def test_the_random_baseline_with_isotropic_covariance_is_a_beta_law(dimension):
    """``Σ_x ∝ I``: ``T ~ Beta(1/2, (D − 1)/2)``, ``E[ρ] = 1 − Γ(D/2)²/(Γ((D−1)/2)Γ((D+1)/2))``."""
    model = LinearModel([np.eye(dimension)[0]], "gaussian", 1.0,
                        noise_covariance=np.r_[0.0, np.ones(dimension - 1) * 1.0])  # Σ_x = I
    np.testing.assert_allclose(model.input_covariance, np.eye(dimension))
    w, _ = cf.optimal_filter(model)
    reference = 0.3
    result = cf.random_baseline(model, reference, w=w)
    mean = 1 - np.exp(2 * special.gammaln(dimension / 2) - special.gammaln((dimension - 1) / 2)
                      - special.gammaln((dimension + 1) / 2))
    probability = 1 - special.betainc(0.5, (dimension - 1) / 2, 1 - (1 - reference) ** 2)
    assert result.mean == pytest.approx(mean, abs=1e-9)
    assert result.probability == pytest.approx(probability, abs=1e-9)


@pytest.mark.parametrize("dimension", [3, 10])
def test_the_second_moment_of_the_random_baseline_is_the_beta_laws(dimension):
    """``Σ_x = I``: ``E[ρ²] = E[(1 − sqrt(1 − T))²]``, ``T ~ Beta(1/2, (D − 1)/2)``, by an independent quadrature
    over the Beta density (in ``τ = sqrt(t)``, where it is smooth); ``docs/math.md#linear-random-baseline-spread``."""
    from scipy import integrate, stats

    model = LinearModel([np.eye(dimension)[0]], "gaussian", 1.0,
                        noise_covariance=np.r_[0.0, np.ones(dimension - 1) * 1.0])  # Σ_x = I
    w, _ = cf.optimal_filter(model)
    law = stats.beta(0.5, (dimension - 1) / 2)
    expected = integrate.quad(lambda tau: (1 - np.sqrt(1 - tau * tau)) ** 2 * law.pdf(tau * tau) * 2 * tau,
                              0.0, 1.0, limit=200, epsabs=1e-14, epsrel=1e-12)[0]
    assert cf.random_rho_second_moment(model, w) == pytest.approx(expected, rel=1e-8)


def test_the_random_baseline_against_monte_carlo_in_4d():
    model = mixed_model()
    reference = cf.filter_rho(model)
    result = cf.random_baseline(model, reference)
    rho = cf.random_rhos(model, 40_000, seed=9)
    assert abs(rho.mean() - result.mean) <= Z * rho.std() / np.sqrt(len(rho))
    p = result.probability
    assert abs(np.mean(rho > reference) - p) <= Z * np.sqrt(p * (1 - p) / len(rho))
    assert 0.05 < p < 0.95  # a case where both outcomes occur


def test_the_random_baseline_falls_like_its_first_order_value_in_high_dimensions():
    """Embedding the toy (with noise) in more dimensions: ``E[ρ(random)] → 0`` like ``|w|²/(2σ²_y tr Σ⁻¹)``."""
    base = toy.toy_model().replace(noise_covariance=0.2)
    means = []
    for dimension in (2, 20, 400):
        model = base.embedded(dimension)
        result = cf.random_baseline(model, cf.filter_rho(model))
        means.append(result.mean)
        if dimension == 400:
            assert result.mean == pytest.approx(cf.random_baseline_first_order(model), rel=0.03)
            rho = cf.random_rhos(model, 4000, seed=1)
            assert abs(rho.mean() - result.mean) <= Z * rho.std() / np.sqrt(len(rho))
    assert means[0] > means[1] > means[2] > 0


def test_a_singular_covariance_gives_every_random_direction_rho_zero():
    model = LinearModel([[1.0, 0.0, 0.0]], "uniform", 1.0, [[1.0, 1.0, 0.0]], 0.0, 1.0)
    result = cf.random_baseline(model, 0.5)
    assert (result.mean, result.probability) == (0.0, 0.0) and "singular" in result.method
    assert np.all(cf.random_rhos(model, 100, seed=0) == 0.0)


# --- the sampling error of S_a, and the explanations --------------------------------------------------------

@pytest.mark.parametrize("model", [toy.toy_model(), mixed_model(), NOISY_UNIFORM], ids=["toy", "mixed", "noisy"])
def test_the_standard_error_of_s_a(model):
    """The closed form against the spread of S_a over 400 independent batches of 500 samples (the
    spread's own relative error is 1/√(2·399) ≈ 3.5 %)."""
    w, b = cf.optimal_filter(model)
    X, _, _ = data(model, 400 * 500, seed=11)
    estimates = np.array([np.cov(x.T, x @ w, bias=True)[:-1, -1] / np.var(x @ w) for x in np.split(X, 400)])
    closed = cf.activation_pattern_standard_error(model, w, 500, b)
    relative = 1 / np.sqrt(2 * 399)
    np.testing.assert_allclose(estimates.std(axis=0, ddof=1), closed, rtol=Z * relative, atol=1e-12)
    if model.is_planar:
        np.testing.assert_array_equal(cf.activation_pattern_standard_error(model, w, 10 ** 6),
                                      np.abs([1.0, 1.0]) * 1.0 / np.sqrt(toy.SIGMA_Y2 * 10 ** 6))


def test_explanations_of_the_linear_model():
    rng = np.random.default_rng(0)
    w, b = rng.standard_normal(4), 0.7
    net = Sequential([Dense(w[None, :], [b])])
    X = rng.standard_normal((50, 4))
    patterns = fit_patterns(net, X, "a")
    a = np.asarray(patterns[0].a)[0]
    closed = cf.explanations(w, a, X @ w + b)
    np.testing.assert_allclose(explain(net, X, "gradient"), closed["gradient"], atol=1e-14)
    np.testing.assert_allclose(explain(net, X, "pattern.net", patterns=patterns), closed["pattern.net"], atol=1e-12)
    np.testing.assert_allclose(explain(net, X, "pattern.attribution", patterns=patterns),
                               closed["pattern.attribution"], atol=1e-12)
    np.testing.assert_allclose(closed["pattern.attribution"].sum(axis=1), X @ w + b, atol=1e-12)


# --- what the model accepts -----------------------------------------------------------------------------------

@pytest.mark.parametrize("changes, message", [
    ({"signal_scales": [1.0, 0.0]}, r"signal_scales\[1\]: must be > 0.*singular"),
    ({"signal_kinds": ["uniform", "laplace"]}, r"signal_kinds\[1\]: expected one of"),
    ({"distractor_mean": [0.0, np.nan, 0.0]}, r"distractor_mean\[1\]: not finite"),
    ({"noise_covariance": [[1.0, 2.0, 0, 0], [2.0, 1.0, 0, 0], [0, 0, 1.0, 0], [0, 0, 0, 1.0]]},
     "noise_covariance: not a covariance"),
    ({"distractor_covariance": [0.1, 0.1, 0.1], "cross_covariance": [[1.0, 0.0], [0.0, 0.0], [0.0, 0.0]]},
     r"distractor_covariance with cross_covariance \(the covariance of \(s, d\)\): not a covariance"),
    ({"distractor_directions": [[1.0, 1.0, 0.0]]}, r"distractor_directions: expected shape \(1, 4\), got \(1, 3\)"),
    ({"explained": 2}, r"explained: expected a signal component 0…1"),
    ({"noise_covariance": [[1.0, 0.5, 0, 0], [0.0, 1.0, 0, 0], [0, 0, 1.0, 0], [0, 0, 0, 1.0]]},
     "must be symmetric"),
])
def test_the_model_refuses_bad_arguments_by_name(changes, message):
    with pytest.raises(ValueError, match=message):
        mixed_model(**changes)


def test_an_explained_component_that_does_not_reach_x_is_refused():
    with pytest.raises(ValueError, match="does not reach x"):
        LinearModel([[1.0, 0.0]], "uniform", 1.0, [[1.0, 0.0]], 0.0, 1.0, cross_covariance=[[-1 / 3]])


def test_nothing_passed_in_is_modified_and_the_model_is_read_only():
    directions = np.array([[1.0, 0.0], [0.0, 1.0]])
    noise = np.eye(2) * 0.1
    before = directions.copy(), noise.copy()
    model = LinearModel(directions, "uniform", [1.0, 2.0], noise_covariance=noise)
    directions[0, 0] = 7.0
    assert model.signal_directions[0, 0] == 1.0
    np.testing.assert_array_equal(noise, before[1])
    with pytest.raises(ValueError):
        model.signal_directions[0, 0] = 3.0


@pytest.mark.parametrize("seed, error", [(-1, ValueError), (1.5, TypeError), (True, TypeError), ([3, -2], ValueError),
                                         ([], ValueError)])
def test_a_draw_refuses_a_seed_numpy_would_reinterpret(seed, error):
    with pytest.raises(error, match="seed: expected an integer >= 0"):
        Draw(toy.toy_model(), 10, seed)


def test_ragged_directions_are_refused_by_name():
    with pytest.raises(ValueError, match="signal_directions: expected K ≥ 1 rows of D ≥ 1 numbers"):
        LinearModel([[1.0, 2.0], [3.0]])
