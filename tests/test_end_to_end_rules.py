"""Whole explanations on small CNNs against independent computations, where the unit tests cannot see.

- DeConvNet and Guided Backprop on a ReLU CNN (``docs/math.md#rules-notation``) against a
  dense-matrix re-implementation (every layer an explicit matrix built with loops,
  ``tests/dense_reference.py``; the ReLU rules applied by their definitions), and different
  from the gradient: on linear models, where the other tests look, no ReLU rule runs.
- PatternNet and PatternAttribution with S_x on a network with non-zero biases against their
  closed forms ``R_i = x_i Σ_j R_j / y_j`` and ``R_i = Σ_j x_i w_ij R_j / y_j`` with
  ``y_j = wᵀx`` *without* the bias (``docs/math.md#rule-pattern-identity``); a neuron with
  ``y_j = 0`` exactly passes nothing.
- ρ does not depend on the units of the data: scaling X by ``c`` scales every layer's input of a
  bias-free ReLU network by ``c`` and leaves every gate, pattern and correlation as it was
  (``docs/conventions.md#rho-conventions``: the eigenvalue cut-off is relative to ``λ_max``).
- Exactly-zero denominators (``docs/conventions.md#stabilisers``): LRP-z passes nothing through a
  neuron with ``z_j = 0``, LRP-ε divides by ``0 + ε·sgn(0) = +ε``.
- Max-pool ties that carry relevance go to the first maximum in row-major window order, in every
  method and backend (``docs/conventions.md#maxpool-ties``).
- Integrated Gradients and SmoothGrad through a bias-free ReLU network, where the gradient is
  constant along each ray ``αx`` (α > 0) and 0 at ``x = 0``: IG is ``x ⊙ ∇y_t(x)`` times the
  quadrature weight on the nodes ``α > 0``; SmoothGrad's σ is each sample's own range.
"""

import types

import dense_reference as ref
import numpy as np
import pytest
from conftest import random_cnn

import refpattern as rp
from refpattern.methods import Composite, EpsilonRule, PassReLU
from refpattern.methods.integrated_gradients import QUADRATURES, quadrature
from refpattern.patterns import fit_patterns

BACKENDS = ["numpy", "numba"]


def relative_error(got, want):
    return np.max(np.abs(got - want)) / np.max(np.abs(want))


# --- a dense-matrix re-implementation of the gradient-type and S_x passes -------------------------


def dense_steps(net, x_sample):
    """``net`` for one sample as explicit matrices (loops, ``tests/dense_reference.py``):
    ``("kernel", W, b, C)`` with ``C`` the 0/1 connectivity of the layer (which input ``i`` feeds
    which output ``j``, padding excluded), ``("relu",)``, ``("route", M)``; and the input of every step."""
    steps, shape, a = [], x_sample.shape, x_sample.ravel()
    inputs = []
    for layer in net.logit_layers:
        if isinstance(layer, rp.Flatten):
            shape = a.shape
            continue
        inputs.append(a)
        if isinstance(layer, rp.Conv2D):
            W, b, out_shape = ref.conv_matrix(layer, shape)
            ones = types.SimpleNamespace(weight=np.ones(layer.weight.shape), bias=np.zeros(len(layer.bias)),
                                         stride=layer.stride, padding=layer.padding)
            C = ref.conv_matrix(ones, shape)[0]
            steps.append(("kernel", W, b, C))
            shape, a = out_shape, W @ a + b
        elif isinstance(layer, rp.Dense):
            W, b = np.array(layer.weight), np.array(layer.bias)
            steps.append(("kernel", W, b, np.ones_like(W)))
            a = W @ a + b
            shape = a.shape
        elif isinstance(layer, rp.ReLU):
            steps.append(("relu",))
            a = np.maximum(a, 0.0)
        elif isinstance(layer, rp.MaxPool2D):
            M, shape = ref.maxpool_matrix(layer, a.reshape(shape))
            steps.append(("route", M))
            a = M @ a
    return steps, inputs, a


def divide_or_zero(numerator, denominator):
    out = np.zeros_like(numerator)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


RELU_RULES = {
    "gradient": lambda R, z: R * (z > 0),
    "deconvnet": lambda R, z: np.maximum(R, 0.0),                  # Zeiler & Fergus (2014)
    "guided_backprop": lambda R, z: np.maximum(R, 0.0) * (z > 0),  # Springenberg et al. (2015)
}


def backprop_dense(net, x_sample, target, method):
    """Gradient, DeConvNet or Guided Backprop of logit ``target`` for one sample: start 1, ``Wᵀ``
    through kernel layers, the method's ReLU rule, max-pool routed to the winner."""
    steps, inputs, logits = dense_steps(net, x_sample)
    R = np.zeros_like(logits)
    R[target] = 1.0
    for step, a in zip(reversed(steps), reversed(inputs)):
        if step[0] == "kernel":
            R = step[1].T @ R
        elif step[0] == "relu":
            R = RELU_RULES[method](R, a)
        else:
            R = step[1].T @ R
    return R.reshape(x_sample.shape)


def identity_signal_dense(net, x_sample, target, attribution):
    """PatternNet (``attribution=False``) or PatternAttribution with S_x for one sample, from
    ``docs/math.md#rule-pattern-identity``: start ``y_t``; per kernel layer ``y = Wa`` without
    bias and ``R ← a ⊙ Vᵀ(R / y)`` (0 where ``y = 0``) with ``V = C`` (PatternNet: ``Σ_j`` over the
    outputs ``i`` feeds) or ``V = W``; ReLU gated by the forward pass; max-pool routed."""
    steps, inputs, logits = dense_steps(net, x_sample)
    R = np.zeros_like(logits)
    R[target] = logits[target]
    for step, a in zip(reversed(steps), reversed(inputs)):
        if step[0] == "kernel":
            _, W, _, C = step
            R = a * ((W if attribution else C).T @ divide_or_zero(R, W @ a))
        elif step[0] == "relu":
            R = R * (a > 0)
        else:
            R = step[1].T @ R
    return R.reshape(x_sample.shape)


# --- DeConvNet and Guided Backprop --------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("method", ["gradient", "deconvnet", "guided_backprop"])
def test_gradient_type_methods_on_a_cnn_match_the_dense_reimplementation(method, backend):
    net = random_cnn(seed=13, bias=0.3)
    x = np.random.default_rng(5).normal(size=(3, 2, 9, 9))
    ours = rp.explain(net, x, method, backend=backend)
    targets = np.argmax(net.logits(x), axis=1)
    for n in range(len(x)):
        assert relative_error(ours[n], backprop_dense(net, x[n], targets[n], method)) <= 1e-12


def test_deconvnet_and_guided_backprop_differ_from_the_gradient_on_a_cnn():
    """The comparison above is only worth something where the ReLU rules change the result."""
    net = random_cnn(seed=13, bias=0.3)
    x = np.random.default_rng(5).normal(size=(3, 2, 9, 9))
    results = {method: rp.explain(net, x, method) for method in RELU_RULES}
    for n in range(len(x)):
        assert relative_error(results["deconvnet"][n], results["gradient"][n]) > 0.05
        assert relative_error(results["guided_backprop"][n], results["gradient"][n]) > 0.05
        assert relative_error(results["guided_backprop"][n], results["deconvnet"][n]) > 0.05
    # Guided Backprop never sends a negative signal through a ReLU; the gradient does
    assert rp.explain(net, x, "gradient").min() < 0


# --- PatternNet and PatternAttribution with S_x on a network with biases ----------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("method", ["pattern.net", "pattern.attribution"])
def test_identity_patterns_on_a_biased_cnn_match_their_closed_form(method, backend):
    net = random_cnn(seed=14, bias=0.5)
    x = np.random.default_rng(6).normal(size=(3, 2, 9, 9))
    patterns = fit_patterns(net, None, "x")
    ours = rp.explain(net, x, method, patterns=patterns, backend=backend)
    targets = np.argmax(net.logits(x), axis=1)
    for n in range(len(x)):
        want = identity_signal_dense(net, x[n], targets[n], attribution=method == "pattern.attribution")
        assert relative_error(ours[n], want) <= 1e-12
    if method == "pattern.attribution":  # the biases matter: LRP-z divides by wᵀx + b instead
        assert relative_error(ours, rp.explain(net, x, "lrp.z")) > 0.01


@pytest.mark.parametrize("method", ["pattern.net", "pattern.attribution"])
def test_identity_patterns_pass_nothing_through_a_neuron_with_y_zero(method):
    """Neuron 0 of the hidden layer has ``y_0 = wᵀx = 1 − 1 + 0 = 0`` exactly but ``z_0 = y_0 + b_0 =
    0.5``: it is active and receives a signal from above, and S_x passes none of it down."""
    W1 = np.array([[1.0, -1.0, 0.0], [0.5, 0.25, -1.0], [2.0, 1.0, 0.5]])
    b1 = np.array([0.5, 0.75, -0.25])
    W2 = np.array([[1.0, -2.0, 0.5], [-1.0, 1.0, 1.0]])
    net = rp.Sequential([rp.Dense(W1, b1), rp.ReLU(), rp.Dense(W2, [0.1, -0.2])])
    x = np.array([[1.0, 1.0, 0.0], [2.0, 2.0, 1.0]])
    assert np.all(x @ W1[0] == 0) and np.all(x @ W1[0] + b1[0] > 0)
    attribution = method == "pattern.attribution"
    ours = rp.explain(net, x, method, patterns=fit_patterns(net, None, "x"), target=0)
    assert np.all(np.isfinite(ours))
    for n in range(len(x)):
        np.testing.assert_allclose(ours[n], identity_signal_dense(net, x[n], 0, attribution), rtol=1e-13, atol=1e-15)
    # by hand for sample 0: y = W1 x = (0, 0.75, 3), h = (0.5, 1.5, 2.75), R_t = y_t = 0.5 − 3 + 1.375 + 0.1
    h = np.maximum(W1 @ x[0] + b1, 0)
    y_t = W2[0] @ h + 0.1
    R_h = h * (W2[0] if attribution else 1.0) * y_t / (W2[0] @ h)
    y1 = W1 @ x[0]
    s = np.array([0.0, R_h[1] / y1[1], R_h[2] / y1[2]])  # neuron 0 passes nothing
    expected = x[0] * ((W1 if attribution else np.ones_like(W1)).T @ s)
    np.testing.assert_allclose(ours[0], expected, rtol=1e-13)


# --- ρ and the units of the data --------------------------------------------------------------------


def bias_free_cnn(rng):
    return rp.Sequential([
        rp.Conv2D(rng.normal(0, 0.5, (3, 2, 3, 3)), None, padding=1), rp.ReLU(),
        rp.Conv2D(rng.normal(0, 0.4, (4, 3, 3, 3)), None, stride=2, padding=1), rp.ReLU(),
        rp.MaxPool2D(2), rp.Flatten(), rp.Dense(rng.normal(0, 0.5, (3, 16))),
    ], input_shape=(2, 8, 8))


@pytest.fixture(scope="module")
def units_case():
    """A bias-free ReLU CNN and three data sets (fit patterns, fit v, evaluate) with correlated
    pixels whose variances span three decades."""
    rng = np.random.default_rng(5)
    net = bias_free_cnn(rng)
    mix = rng.normal(size=(128, 128)) * np.logspace(0, -1.5, 128)
    draw = [(rng.normal(size=(300, 128)) @ mix.T).reshape(300, 2, 8, 8) for _ in range(3)]
    return net, draw


@pytest.mark.parametrize("estimator", ["w", "a", "a+-", "random"])
def test_rho_does_not_depend_on_the_units_of_the_data(units_case, estimator):
    net, (X_patterns, X_v, X) = units_case

    def rho_values(scale):
        patterns = fit_patterns(net, scale * X_patterns, estimator)
        in_sample = rp.rho(net, scale * X, patterns)
        held_out = rp.rho(net, scale * X, patterns, fit_v_on=scale * X_v)
        named = rp.rho(net, scale * X, estimator)  # patterns fitted in-sample
        return [np.concatenate(result.per_neuron) for result in (in_sample, held_out, named)]

    unit = rho_values(1.0)
    assert all(np.all(np.isfinite(values)) for values in unit)
    assert np.min(unit[0]) < 0.99 or estimator in ("a", "a+-")  # not all trivially 1
    for scale in (1e-6, 1e-3, 1e3, 1e6):
        for got, want in zip(rho_values(scale), unit):
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-11, err_msg=f"scale {scale}")


# --- exactly-zero denominators ------------------------------------------------------------------------


def zero_denominator_net():
    """Dense(2→2) → ReLU → Dense(2→2), no biases.  For ``x = (1, 2)`` the hidden layer is
    ``h = (3, 3)`` and logit 0 is ``h₁ − h₂ = 0`` exactly, with contributions ``(3, −3)``."""
    W1 = np.array([[1.0, 1.0], [-1.0, 2.0]])
    W2 = np.array([[1.0, -1.0], [0.5, 0.25]])
    return rp.Sequential([rp.Dense(W1), rp.ReLU(), rp.Dense(W2)]), W1, W2, np.array([[1.0, 2.0]])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("epsilon", [0.0, 1e-3, 0.5])
def test_an_exactly_zero_denominator_in_a_whole_explanation(epsilon, backend):
    """Explaining logit 0 from a unit signal (``start="one"``): its ``z = 0`` exactly.  LRP-z
    (ε = 0) passes nothing; LRP-ε divides by ``0 + ε·sgn(0) = +ε`` (``sgn(0) = +1``), so
    ``R_h = h ⊙ w₀ / ε`` and, through the first layer (``z₁ = h``),
    ``R_x = x ⊙ W₁ᵀ(R_h / (h + ε))``."""
    net, W1, W2, x = zero_denominator_net()
    h = W1 @ x[0]
    assert np.all(h == 3.0) and W2[0] @ h == 0.0
    composite = Composite(kernel=EpsilonRule(epsilon), relu=PassReLU(), start="one")
    ours = rp.explain(net, x, composite, target=0, backend=backend)
    if epsilon == 0:
        assert np.all(ours == 0.0)
        return
    R_h = h * W2[0] / epsilon
    expected = x[0] * (W1.T @ (R_h / (h + epsilon)))
    np.testing.assert_allclose(ours[0], expected, rtol=1e-13)
    assert expected[0] > 0 > expected[1] or expected[0] < 0 < expected[1]  # the sign is sgn(0)'s


@pytest.mark.parametrize("method,options", [("lrp.z", {}), ("lrp.epsilon", {"epsilon": 0.1}),
                                            ("lrp.alpha_beta", {"alpha": 2.0, "beta": 1.0})])
def test_a_dead_hidden_neuron_with_z_zero_gives_a_finite_explanation(method, options):
    """A hidden neuron with ``z_j = 0`` exactly (contributions 3 and −3) receives no relevance
    (its output is 0) and sends none; nothing becomes NaN (0/0)."""
    W1 = np.array([[1.0, -1.0], [1.0, 0.5], [-0.5, 1.0]])
    W2 = np.array([[1.0, 2.0, -1.0], [0.5, -0.5, 1.0]])
    net = rp.Sequential([rp.Dense(W1), rp.ReLU(), rp.Dense(W2, [0.2, 0.1])])
    x = np.array([[3.0, 3.0], [1.0, 2.0]])
    assert W1[0] @ x[0] == 0.0
    ours = rp.explain(net, x, method, target=0, **options)
    assert np.all(np.isfinite(ours))
    rules = {"lrp.z": lambda a, W, b, R: ref.rule_epsilon(a, W, b, R, 0.0),
             "lrp.epsilon": lambda a, W, b, R: ref.rule_epsilon(a, W, b, R, 0.1),
             "lrp.alpha_beta": lambda a, W, b, R: ref.rule_alpha_beta(a, W, b, R, 2.0, 1.0, True, 1e-6)}
    for n in range(len(x)):
        np.testing.assert_allclose(ours[n], ref.lrp_dense(net, x[n], 0, rules[method]), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("at", ["low", "high"])
def test_zb_at_a_bound_gives_relevance_only_to_inputs_with_weights_of_one_sign(at):
    """z^B's terms are ``(x_i − l_i)w⁺_ij + (x_i − h_i)w⁻_ij`` (``docs/math.md#rules-notation``): at
    ``x = l`` only the negative weights carry relevance, at ``x = h`` only the positive ones.
    Input 0 has only positive weights, input 1 only negative ones, input 2 both."""
    W1 = np.array([[1.0, -0.5, 0.5], [0.5, -1.0, -0.25], [0.25, -0.75, 1.0]])
    W2 = np.array([[1.0, 0.5, 0.75], [-1.0, 1.0, 0.5]])
    net = rp.Sequential([rp.Dense(W1, [1.0, 2.0, 0.5]), rp.ReLU(), rp.Dense(W2, [0.1, 0.0])])
    low, high = np.array([-1.0, -2.0, -0.5]), np.array([1.0, 0.5, 2.0])
    x = (low if at == "low" else high)[None]
    assert np.all(W1 @ x[0] + np.array([1.0, 2.0, 0.5]) > 0)  # every hidden unit receives relevance
    ours = rp.explain(net, x, "lrp.zb", low=low, high=high, target=0)[0]
    silent, carrying = (0, 1) if at == "low" else (1, 0)
    assert ours[silent] == 0.0 and ours[carrying] != 0.0 and ours[2] != 0.0


# --- max-pool ties that carry relevance ------------------------------------------------------------

#: Input of the tie network: window (0, 0) has a tie between (0, 1) and (1, 0); window (0, 1) is
#: all 4s (a four-way tie); windows (1, 0) and (1, 1) have single winners.
TIE_IMAGE = np.array([[1.0, 5.0, 4.0, 4.0],
                      [5.0, 2.0, 4.0, 4.0],
                      [0.5, 1.5, 3.0, 0.25],
                      [2.5, 1.0, 1.0, 2.0]])
FIRST_WINNERS = [(0, 1), (0, 2), (3, 0), (2, 2)]
TIED_LOSERS = [(1, 0), (0, 3), (1, 2), (1, 3)]


def tie_network():
    """1×1 convolution (weight 1, bias 0: the identity) → ReLU → 2×2 max-pool → Dense → ReLU →
    Dense.  On ``TIE_IMAGE`` the pooled values are (5, 4, 2.5, 3), every hidden unit is active and
    logit 0 sends every pooled value a positive signal (column sums of ``W1`` weighted by ``W2[0] > 0``),
    so even DeConvNet and Guided Backprop (which drop negative signals) route something to each window."""
    W1 = np.array([[0.5, -0.25, 0.75, 1.0], [1.0, 0.5, -0.5, 0.25], [-0.25, 1.0, 0.5, 0.5]])
    W2 = np.array([[1.0, 0.5, 0.75], [0.25, 1.0, -1.0]])
    return rp.Sequential([rp.Conv2D(np.ones((1, 1, 1, 1)), [0.0]), rp.ReLU(), rp.MaxPool2D(2), rp.Flatten(),
                          rp.Dense(W1, [0.1, 0.2, 0.3]), rp.ReLU(), rp.Dense(W2, [0.0, 0.1])],
                         input_shape=(1, 4, 4))


TIE_METHODS = {
    "gradient": {}, "input_x_gradient": {}, "deconvnet": {}, "guided_backprop": {}, "lrp.z": {},
    "lrp.epsilon": {"epsilon": 0.01}, "lrp.alpha_beta": {"alpha": 2.0, "beta": 1.0}, "lrp.z_plus": {},
    "lrp.w_square": {}, "lrp.zb": {"low": 0.0, "high": 6.0}, "deep_taylor": {},
    "integrated_gradients": {"steps": 4}, "smoothgrad": {"noise": np.zeros((2, 1, 1, 4, 4))},
    "pattern.net": "a+-", "pattern.attribution": "a+-", "pattern.attribution[S_x]": "x",
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("method", sorted(TIE_METHODS))
def test_max_pool_ties_route_to_the_first_maximum_in_every_method(method, backend):
    net = tie_network()
    x = TIE_IMAGE[None, None]
    options = TIE_METHODS[method]
    if isinstance(options, str):  # a pattern method: patterns fitted on positive images
        data = np.random.default_rng(8).uniform(0.5, 5.0, size=(64, 1, 4, 4))
        options = {"patterns": fit_patterns(net, data if options != "x" else None, options, backend=backend)}
    explanation = rp.explain(net, x, method.split("[")[0], target=0, backend=backend, **options)[0, 0]
    for winner, loser in zip(FIRST_WINNERS, TIED_LOSERS):
        assert explanation[loser] == 0.0, f"{method}: the tied pixel {loser} got {explanation[loser]}"
        assert explanation[winner] != 0.0, f"{method}: the first maximum {winner} got nothing"


# --- Integrated Gradients and SmoothGrad through a ReLU network ------------------------------------------


@pytest.mark.parametrize("quadrature_name", QUADRATURES)
def test_integrated_gradients_through_a_bias_free_relu_network(quadrature_name):
    """Without biases, ``y_t(αx) = α·y_t(x)`` for α > 0 with the same gates and max-pool
    winners, so ``∇y_t(αx) = ∇y_t(x)``; at ``x = 0`` every gate is closed and the gradient is
    0.  So ``IG = x ⊙ ∇y_t(x) · Σ_{k: α_k > 0} ω_k``: ``1 − 1/(2(n−1))`` for the trapezoid,
    ``1 − 1/n`` for the left Riemann sum, 1 for the rest."""
    net = random_cnn(seed=15, bias=0.0)
    x = np.random.default_rng(7).normal(size=(2, 2, 9, 9))
    steps = 5
    nodes, _ = quadrature(quadrature_name, steps)
    factor = {"trapezoid": 1 - 1 / (2 * (steps - 1)), "riemann_left": 1 - 1 / steps}.get(quadrature_name, 1.0)
    assert (nodes[0] == 0) == (quadrature_name in ("trapezoid", "riemann_left"))
    targets = np.argmax(net.logits(x), axis=1)
    expected = factor * x * rp.explain(net, x, "gradient", target=targets)
    ours = rp.explain(net, x, "integrated_gradients", steps=steps, quadrature=quadrature_name)
    np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=1e-14)


def test_smoothgrad_noise_is_scaled_by_each_samples_own_range():
    """σ = noise_level·(max x − min x) per sample: rescaling one sample of the batch changes
    nothing for the other (same seed, so the same standard-normal draws), and through a
    bias-free ReLU network (gradient homogeneous of degree 0) ``SG(c·x) = SG(x)``."""
    net = random_cnn(seed=16, bias=0.0)
    x = np.random.default_rng(9).normal(size=(2, 2, 9, 9))
    options = dict(samples=6, seed=3, noise_level=0.2, target=[0, 1])
    both = rp.explain(net, x, "smoothgrad", **options)
    widened = rp.explain(net, np.stack([x[0], 10.0 * x[1]]), "smoothgrad", **options)
    np.testing.assert_array_equal(widened[0], both[0])
    scaled = rp.explain(net, np.stack([0.01 * x[0], 100.0 * x[1]]), "smoothgrad", **options)
    np.testing.assert_allclose(scaled, both, rtol=1e-10, atol=1e-12)
    assert relative_error(both, rp.explain(net, x, "gradient", target=[0, 1])) > 0.01  # the noise matters
