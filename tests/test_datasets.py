"""Ground truth of the built-in data: the decompositions are exact and the closed forms hold."""

import numpy as np
import pytest

from refpattern.datasets import (
    make_image_task,
    make_linear_suppressor,
    make_suppressor_task,
    suppressor_covariance,
    suppressor_optimal_filter,
    suppressor_pattern,
)
from refpattern.datasets.synthetic_images import signal_patterns


@pytest.mark.parametrize("texture", ["flat", "checker"])
def test_image_task_is_exactly_signal_plus_distractor_plus_noise(texture):
    task = make_image_task(64, size=16, channels=2, classes=4, seed=3, texture=texture)
    assert np.array_equal(task.X, task.signal + task.distractor + task.noise)
    assert np.allclose(task.signal, task.amplitude[:, None, None, None] * task.signal_patterns[task.labels])
    # the distractor is one pattern for every class, scaled per sample
    eps = task.distractor[:, 0, 0, 0] / task.distractor_pattern[0, 0, 0]
    assert np.allclose(task.distractor, eps[:, None, None, None] * task.distractor_pattern[None])
    assert np.array_equal(task.signal_mask, task.signal_patterns[task.labels] != 0)
    assert np.all(task.signal[~task.signal_mask] == 0)


def test_texture_changes_only_the_class_patterns():
    flat, checker = make_image_task(32, seed=5), make_image_task(32, seed=5, texture="checker")
    assert np.array_equal(flat.distractor, checker.distractor)
    assert np.array_equal(flat.noise, checker.noise)
    assert np.array_equal(flat.labels, checker.labels)
    assert np.array_equal(np.abs(checker.signal_patterns), flat.signal_patterns)
    # a checkerboard square of even side sums to zero: a 2×2 patch mean erases it
    assert np.allclose(checker.signal_patterns.sum(axis=(1, 2, 3)), 0)
    with pytest.raises(ValueError, match="texture"):
        signal_patterns(4, 1, 16, texture="stripes")


def test_default_image_task_is_unchanged_for_existing_callers():
    # the original generator: patterns are flat unit squares, same draws as before the texture option
    task = make_image_task(8, seed=0)
    assert set(np.unique(task.signal_patterns)) == {0.0, 1.0}
    rng = np.random.default_rng(0)
    labels = rng.permutation(np.arange(8) % 4)
    assert np.array_equal(task.labels, labels)


def test_suppressor_images_ground_truth():
    task = make_suppressor_task(400, size=16, seed=1, distractor=1.0, noise=0.2)
    assert np.array_equal(task.X, task.signal + task.distractor + task.noise)
    S, Q = task.signal_region, task.suppressor_region
    assert S.sum() == Q.sum() == 16 and not np.any(S & Q)
    # the suppressor square holds only distractor and noise: no signal there, ever
    assert np.all(task.signal[:, Q] == 0)
    # the distractor is the same in both squares, so mean_S − mean_Q = z + noise exactly
    difference = task.X[:, S].mean(axis=1) - task.X[:, Q].mean(axis=1)
    assert np.allclose(difference, task.amplitude + task.noise[:, S].mean(axis=1) - task.noise[:, Q].mean(axis=1))
    assert np.array_equal(task.amplitude > 0, task.labels == 1)
    # the suppressor carries no class information but is strongly correlated with the signal square
    q_mean = task.X[:, Q].mean(axis=1)
    assert abs(np.corrcoef(q_mean, task.labels)[0, 1]) < 0.15
    assert np.corrcoef(q_mean, task.X[:, S].mean(axis=1))[0, 1] > 0.5
    # cancelling the distractor classifies perfectly here; the signal square alone does not
    assert np.mean((difference > 0) == task.labels) == 1.0
    assert np.mean((task.X[:, S].mean(axis=1) > 0) == task.labels) < 0.95


def test_linear_suppressor_construction():
    data = make_linear_suppressor(1000, seed=2)
    assert np.array_equal(data.X, data.signal + data.distractor)
    assert np.array_equal(data.X[:, 1], data.eta)                       # x₂ = η, pure distractor
    assert np.allclose(data.X[:, 0] - data.X[:, 1], data.z)             # (1, −1)ᵀx = z exactly
    assert np.array_equal(data.z, 2.0 * data.labels - 1.0)
    assert np.all(data.signal[:, 1] == 0)


def test_linear_suppressor_closed_forms():
    var_z, var_eta = 1.0, 2.5
    sigma = suppressor_covariance(var_z, var_eta)
    w = suppressor_optimal_filter()
    # w ∝ Σ⁻¹ cov[x, z] with cov[x, z] = (σ_z², 0)
    direction = np.linalg.solve(sigma, np.array([var_z, 0.0]))
    assert np.allclose(direction / direction[0], w)
    # the pattern of the optimal filter gives the suppressor exactly zero weight
    assert np.allclose(suppressor_pattern(w, var_z, var_eta), [1.0, 0.0])
    # any filter: a = Σw/(wᵀΣw), so wᵀa = 1
    other = np.array([0.7, -0.2])
    assert np.isclose(other @ suppressor_pattern(other, var_z, var_eta), 1.0)


def test_linear_suppressor_sample_pattern_matches_closed_form():
    data = make_linear_suppressor(20000, seed=4, distractor_std=1.5)
    w = suppressor_optimal_filter()
    y = data.X @ w
    sample = np.array([np.cov(data.X[:, i], y)[0, 1] for i in range(2)]) / np.var(y, ddof=1)
    assert np.allclose(sample, suppressor_pattern(w, 1.0, 1.5 ** 2), atol=0.03)
    # the empirical covariance matches Σ
    assert np.allclose(np.cov(data.X.T), suppressor_covariance(1.0, 1.5 ** 2), atol=0.08)
