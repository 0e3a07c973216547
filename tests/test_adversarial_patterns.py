"""Adversarial cases of the patterns area (fit_statistics, fit_patterns, rho, Patterns, refpattern.testing):
degenerate data, odd option values and crafted files that once gave a wrong number or a crash inside."""

import numpy as np
import pytest

import refpattern as rp
from refpattern.patterns import rho


def two_layer_net(seed=0, d=4, hidden=3, out=1):
    rng = np.random.default_rng(seed)
    return rp.Sequential([rp.Dense(rng.normal(size=(hidden, d)), rng.normal(0, 0.1, hidden)), rp.ReLU(),
                          rp.Dense(rng.normal(size=(out, hidden)), rng.normal(0, 0.1, out))], input_shape=(d,))


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("estimator", ["w", "random"])
@pytest.mark.parametrize("v_split", ["constant", "single sample"])
def test_held_out_rho_with_no_variance_on_the_v_split_regresses_on_nothing(backend, estimator, v_split):
    """On a split where every y is constant there is no direction to regress y on: v = 0, so the
    held-out correlation is 0 and ρ = 1 for every neuron, on every backend (before, v was fitted to
    the rounding noise of Σ_v and c_v, giving ρ = 1.105 with numba and 1 with numpy)."""
    if backend == "numba":
        pytest.importorskip("numba")
    net = two_layer_net(seed=0)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(60, 4))
    x_v = np.tile(x[:1], (20, 1)) if v_split == "constant" else x[:1].copy()
    patterns = rp.fit_patterns(net, rng.normal(size=(50, 4)), estimator)
    result = rho(net, x, patterns, fit_v_on=x_v, backend=backend)
    for values in result.per_neuron:
        np.testing.assert_array_equal(values, 1.0)
