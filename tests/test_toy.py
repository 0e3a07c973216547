"""The toy example's closed forms (refpattern/experiments/toy/model.py) against their definitions and Monte Carlo.

Statistical checks allow ``Z = 5`` standard errors, the standard error measured on the same
draw (batch means over ``K`` disjoint batches, or the estimator's influence function); with
fixed seeds they are deterministic, and a wrong closed form is off by many standard errors.
"""

import numpy as np
import pytest

from refpattern.experiments.toy import model as toy

Z = 5.0
N = 200_000


def batch_standard_error(estimate, arrays, k=40):
    """Standard error of ``estimate(*arrays)`` from ``k`` disjoint batches: ``sd(batch values)/√k``."""
    values = np.array([estimate(*parts) for parts in zip(*(np.array_split(a, k) for a in arrays))])
    return values.std(axis=0, ddof=1) / np.sqrt(k)


def within(measured, expected, se):
    """``|measured − expected| ≤ Z·se`` plus a rounding floor (for components that are exact)."""
    return bool(np.all(np.abs(np.asarray(measured) - expected) <= Z * np.asarray(se) + 1e-12))


def activation_pattern_from_definition(X, y):
    """``a = cov[x, y] / σ²_y`` straight from the definition (``docs/math.md#s-a``)."""
    xc, yc = X - X.mean(axis=0), y - y.mean()
    return (xc * yc[:, None]).mean(axis=0) / (yc ** 2).mean()


def relu_patterns_from_definition(X, w, variant):
    """``a₊, a₋`` of ``S_a±`` straight from ``docs/math.md#sapm-paper`` (bias 0)."""
    y = X @ w
    result = []
    for regime in (y > 0, y <= 0):
        e_xy = (X[regime] * y[regime, None]).mean(axis=0)
        e_x = X[regime].mean(axis=0)
        e_y = y.mean() if variant == "paper" else y[regime].mean()
        numerator = e_xy - e_x * e_y
        result.append(numerator / (w @ numerator))
    return np.concatenate(result)


# --- the filter --------------------------------------------------------------------------------

def test_default_filter_is_one_minus_one_and_reads_y_exactly():
    data = toy.make_toy(1000, mu=0.7, sigma=2.0, seed=3)
    np.testing.assert_array_equal(data.w, [1.0, -1.0])
    np.testing.assert_allclose(data.X @ data.w, data.y, rtol=0, atol=1e-13)
    assert toy.axis_angle_deg(data.w, data.a_s) == pytest.approx(45.0, abs=1e-12)


@pytest.mark.parametrize("rotation", [-80.0, -30.0, 0.0, 20.0, 45.0, 100.0])
def test_optimal_filter_conditions_and_rotation(rotation):
    a_s, a_d = toy.SIGNAL_DIRECTION, toy.distractor_direction(rotation)
    w = toy.optimal_filter(a_s, a_d)
    assert w @ a_s == pytest.approx(1.0, abs=1e-12)
    assert w @ a_d == pytest.approx(0.0, abs=1e-12)
    # w is perpendicular to a_d, so it turns with a_d: direction(w) = direction(a_d) − 90° (mod 180°)
    turned = (toy.direction_deg(w) - (toy.direction_deg(a_d) - 90.0)) % 180.0
    assert min(turned, 180.0 - turned) == pytest.approx(0.0, abs=1e-9)
    assert np.linalg.norm(a_d) == pytest.approx(np.sqrt(2.0))


def test_least_squares_on_data_gives_the_closed_form_filter():
    for rotation in (0.0, 30.0):
        data = toy.make_toy(5000, mu=1.0, rotation_deg=rotation, seed=1)
        fitted = np.linalg.lstsq(data.X, data.y, rcond=None)[0]
        np.testing.assert_allclose(fitted, data.w, rtol=0, atol=1e-10)


def test_parallel_distractor_has_no_filter():
    with pytest.raises(ValueError, match="parallel"):
        toy.make_toy(10, rotation_deg=-45.0)


def test_linear_model_computes_w_dot_x():
    net = toy.linear_model(np.array([2.0, -3.0]))
    x = np.array([[1.0, 1.0], [0.5, -2.0]])
    np.testing.assert_allclose(net.forward(x)[:, 0], x @ [2.0, -3.0])
    assert net.layers[0].weight.shape == (1, 2) and net.layers[0].bias.tolist() == [0.0]


def test_parts_add_up_and_seed_gives_common_random_numbers():
    a = toy.make_toy(100, mu=0.0, seed=5)
    b = toy.make_toy(100, mu=2.0, sigma=3.0, rotation_deg=30.0, seed=5)
    np.testing.assert_array_equal(a.y, b.y)
    np.testing.assert_allclose(a.X, a.s + a.d)
    np.testing.assert_allclose(a.s, a.y[:, None] * a.a_s)
    np.testing.assert_allclose((b.d / b.a_d)[:, 0], 2.0 + 3.0 * ((a.d / a.a_d)[:, 0]))


# --- patterns: closed forms vs Monte Carlo -------------------------------------------------------

@pytest.mark.parametrize("mu, rotation", [(0.0, 0.0), (1.0, 0.0), (-0.5, 40.0)])
def test_activation_pattern_is_a_s(mu, rotation):
    data = toy.make_toy(N, mu=mu, rotation_deg=rotation, seed=11)
    measured = activation_pattern_from_definition(data.X, data.X @ data.w)
    se = batch_standard_error(lambda X: activation_pattern_from_definition(X, X @ data.w), (data.X,))
    expected = toy.activation_pattern(data.a_s, data.a_d)
    np.testing.assert_array_equal(expected, [1.0, 0.0])
    assert within(measured, expected, se), (measured, se)


@pytest.mark.parametrize("mu", [0.0, 1.0, -0.6])
@pytest.mark.parametrize("variant", ["paper", "regime"])
def test_relu_patterns_closed_form(mu, variant):
    data = toy.make_toy(N, mu=mu, rotation_deg=10.0, seed=12)
    measured = relu_patterns_from_definition(data.X, data.w, variant)
    se = batch_standard_error(lambda X: relu_patterns_from_definition(X, data.w, variant), (data.X,))
    a_plus, a_minus = toy.relu_patterns(data.a_s, data.a_d, mu, variant)
    expected = np.concatenate([a_plus, a_minus])
    assert within(measured, expected, se), (measured, expected, se)
    if variant == "paper" and mu != 0:
        # the bias is real: many standard errors away from a_s
        assert np.max(np.abs(measured - np.tile(data.a_s, 2)) / se) > 20


def test_relu_patterns_paper_values_for_mu_one():
    a_plus, a_minus = toy.relu_patterns([1.0, 0.0], [1.0, 1.0], 1.0)
    np.testing.assert_allclose(a_plus, [2.5, 1.5])
    np.testing.assert_allclose(a_minus, [-0.5, -1.5])


def test_biased_relu_patterns_leave_no_covariance_between_distractor_estimate_and_y():
    """``d̂ = x − S_a±(x) = a_d·(ε − 1.5μ|y|)`` has ``cov[d̂, y] = 0`` although ``a± ≠ a_s``."""
    data = toy.make_toy(N, mu=1.0, seed=13)
    a_plus, a_minus = toy.relu_patterns(data.a_s, data.a_d, 1.0)
    y = data.X @ data.w
    d_hat = data.X - np.where((y > 0)[:, None], a_plus, a_minus) * y[:, None]
    np.testing.assert_allclose(d_hat, data.a_d * (data.d[:, :1] / data.a_d[0] - 1.5 * np.abs(y)[:, None]), atol=1e-12)

    def cov_with_y(X):
        yy = X @ data.w
        dd = X - np.where((yy > 0)[:, None], a_plus, a_minus) * yy[:, None]
        return ((dd - dd.mean(axis=0)) * (yy - yy.mean())[:, None]).mean(axis=0)

    assert within(cov_with_y(data.X), 0.0, batch_standard_error(cov_with_y, (data.X,)))


# --- ρ(S_w) --------------------------------------------------------------------------------------

def rho_of_filter_estimator_from_definition(X, w):
    """``1 − sqrt(cᵀΣ⁺c/σ²_y)`` with ``d̂ = x − w wᵀx/(wᵀw)`` (``docs/math.md#rho-closed-form``)."""
    y = X @ w
    d_hat = X - np.outer(y, w) / (w @ w)
    dc, yc = d_hat - d_hat.mean(axis=0), y - y.mean()
    c = (dc * yc[:, None]).mean(axis=0)
    sigma = dc.T @ dc / len(y)
    return 1.0 - np.sqrt(c @ np.linalg.pinv(sigma, rcond=1e-10) @ c / (yc ** 2).mean())


def test_rho_of_filter_estimator_closed_form():
    assert toy.filter_estimator_rho([1.0, 0.0], [1.0, 1.0], 1.0) == pytest.approx(1.0 - 1.0 / np.sqrt(13.0), abs=1e-15)
    for mu, sigma, rotation in [(0.0, 1.0, 0.0), (2.0, 1.0, 0.0), (0.0, 0.5, 30.0)]:
        data = toy.make_toy(N, mu=mu, sigma=sigma, rotation_deg=rotation, seed=14)
        measured = rho_of_filter_estimator_from_definition(data.X, data.w)
        se = batch_standard_error(lambda X, data=data: rho_of_filter_estimator_from_definition(X, data.w), (data.X,))
        expected = toy.filter_estimator_rho(data.a_s, data.a_d, sigma)
        assert within(measured, expected, se), (mu, sigma, rotation, measured, expected, se)


@pytest.mark.parametrize("t", [0.0, -0.5, 0.3, 2.0])
def test_rho_of_any_pattern_with_unit_gain(t):
    """``a = a_s + t·a_d`` (so ``wᵀa = 1``): ``ρ = 1 − |t|σ_y/√(t²σ²_y + σ²)``, against the definition."""
    data = toy.make_toy(N, mu=0.5, rotation_deg=20.0, seed=16)
    a = data.a_s + t * data.a_d

    def rho_from_definition(X):
        y = X @ data.w
        d_hat = X - np.outer(y, a)
        dc, yc = d_hat - d_hat.mean(axis=0), y - y.mean()
        c = (dc * yc[:, None]).mean(axis=0)
        return 1.0 - np.sqrt(max(c @ np.linalg.pinv(dc.T @ dc / len(y), rcond=1e-10) @ c / (yc ** 2).mean(), 0.0))

    expected = toy.pattern_rho(a, data.a_s, data.a_d, data.sigma)
    assert expected == pytest.approx(1.0 - abs(t) / np.sqrt(3.0 * (t ** 2 / 3.0 + 1.0)), abs=1e-14)
    assert within(rho_from_definition(data.X), expected, batch_standard_error(rho_from_definition, (data.X,)))


@pytest.mark.parametrize("rotation, sigma", [(0.0, 1.0), (30.0, 0.5)])
def test_random_baseline_distribution(rotation, sigma):
    """Mean ρ over random directions ``a = r/(wᵀr)``, and how often one beats S_w, vs Monte Carlo."""
    a_s, a_d = toy.SIGNAL_DIRECTION, toy.distractor_direction(rotation)
    w = toy.optimal_filter(a_s, a_d)
    reference = toy.filter_estimator_rho(a_s, a_d, sigma)
    mean, probability = toy.random_pattern_rho(a_s, a_d, sigma, reference)
    r = np.random.default_rng(17).standard_normal((100_000, 2))
    a = r / (r @ w)[:, None]
    t = (a - a_s) @ a_d / (a_d @ a_d)
    rho = 1.0 - np.abs(t) * np.sqrt(toy.SIGMA_Y2) / np.sqrt(t ** 2 * toy.SIGMA_Y2 + sigma ** 2)
    assert abs(rho.mean() - mean) <= Z * rho.std() / np.sqrt(len(rho))
    assert abs(np.mean(rho > reference) - probability) <= Z * np.sqrt(probability * (1 - probability) / len(rho))
    if rotation == 0.0:
        # the arc between the lines of (1/2, −1/2) and (3/2, 1/2): 45° + atan(1/3)
        assert probability == pytest.approx((45.0 + np.degrees(np.arctan(1 / 3))) / 180.0, abs=1e-12)
        assert mean < reference


# --- isotropic noise ------------------------------------------------------------------------------

@pytest.mark.parametrize("sigma_n", [0.3, 1.0])
def test_isotropic_noise_only_shrinks_the_filter(sigma_n):
    data = toy.make_toy(N, noise="isotropic", sigma_n=sigma_n, seed=15)
    assert data.a_d is None

    def lstsq(X, y):
        return np.linalg.lstsq(X, y, rcond=None)[0]

    measured = lstsq(data.X, data.y)
    se = batch_standard_error(lstsq, (data.X, data.y))
    expected = toy.isotropic_ls_filter(data.a_s, sigma_n)
    np.testing.assert_allclose(expected, data.w)
    np.testing.assert_allclose(expected, data.a_s / (1.0 + 3.0 * sigma_n ** 2))
    assert within(measured, expected, se), (measured, expected, se)
    assert np.linalg.norm(expected) < 1.0 / np.linalg.norm(data.a_s)
    # its activation pattern stays parallel to a_s as well
    pattern = activation_pattern_from_definition(data.X, data.X @ expected)
    pattern_se = batch_standard_error(lambda X: activation_pattern_from_definition(X, X @ expected), (data.X,))
    assert within(pattern, toy.isotropic_activation_pattern(data.a_s, sigma_n), pattern_se)


# --- symbolic derivations (sympy, when installed) ---------------------------------------------------

def test_closed_forms_symbolically():
    sp = pytest.importorskip("sympy")
    y, mu = sp.symbols("y mu", real=True)
    d1, d2 = sp.symbols("d1 d2", real=True, nonzero=True)
    a_s, a_d = sp.Matrix([1, 0]), sp.Matrix([d1, d2])
    w = sp.Matrix([d2, -d1]) / d2                       # optimal_filter for a_s = (1, 0)
    assert sp.simplify(w.dot(a_s)) == 1 and sp.simplify(w.dot(a_d)) == 0
    mean_y = sp.integrate(y / 2, (y, -1, 1))            # E[y] = 0 over all samples
    for sign, (lo, hi) in ((+1, (0, 1)), (-1, (-1, 0))):
        def regime_mean(f, lo=lo, hi=hi):
            return sp.integrate(f, (y, lo, hi))  # density 1 on a half

        e_xy = a_s * regime_mean(y ** 2) + a_d * mu * regime_mean(y)   # ε independent of y, E[ε] = μ
        e_x = a_s * regime_mean(y) + a_d * mu
        paper = e_xy - e_x * mean_y
        regime = e_xy - e_x * regime_mean(y)
        assert sp.simplify(paper / w.dot(paper) - (a_s + sign * sp.Rational(3, 2) * mu * a_d)) == sp.zeros(2, 1)
        assert sp.simplify(regime / w.dot(regime) - a_s) == sp.zeros(2, 1)
    s1, s2, sigma_n, sigma_y2 = sp.symbols("s1 s2 sigma_n sigma_y2", positive=True)
    signal = sp.Matrix([s1, s2])
    normal_matrix = sigma_y2 * signal * signal.T + sigma_n ** 2 * sp.eye(2)
    least_squares = normal_matrix.inv() * signal * sigma_y2
    assert sp.simplify(least_squares - signal / (signal.dot(signal) + sigma_n ** 2 / sigma_y2)) == sp.zeros(2, 1)
