"""SmoothGrad: the mean of gradients at the noisy points, reproducible, target from the clean input."""

import numpy as np
import pytest
from conftest import random_cnn

import refpattern as rp


def test_smoothgrad_is_the_mean_of_gradients_at_the_given_noise():
    net = random_cnn(seed=2)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 2, 9, 9))
    noise = 0.3 * rng.normal(size=(5,) + x.shape)
    targets = np.argmax(net.logits(x), axis=1)  # chosen on the un-noised input
    expected = np.mean([rp.explain(net, x + eta, "gradient", target=targets) for eta in noise], axis=0)
    np.testing.assert_allclose(rp.explain(net, x, "smoothgrad", noise=noise), expected, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(rp.explain(net, x, "smoothgrad", noise=noise, samples=5), expected,
                               rtol=1e-13, atol=1e-15)


def test_smoothgrad_seeded_noise_has_the_stated_scale():
    net = random_cnn(seed=2)
    x = np.random.default_rng(1).normal(size=(2, 2, 9, 9))
    a = rp.explain(net, x, "smoothgrad", samples=4, seed=7, noise_level=0.2)
    b = rp.explain(net, x, "smoothgrad", samples=4, seed=7, noise_level=0.2)
    np.testing.assert_array_equal(a, b)
    from refpattern.methods.smoothgrad import smoothgrad_noise
    eta = smoothgrad_noise(x, 4000, 0.2, 7, None)
    sigma = 0.2 * (x.max(axis=(1, 2, 3)) - x.min(axis=(1, 2, 3)))
    measured = eta.std(axis=(0, 2, 3, 4))
    # the std of 4000·162 normal draws is within a few 1/√(2M) of σ
    assert np.all(np.abs(measured / sigma - 1) < 5 / np.sqrt(2 * eta[:, 0].size))


def test_smoothgrad_refuses_inconsistent_noise():
    net = random_cnn()
    x = np.zeros((1, 2, 9, 9))
    with pytest.raises(ValueError, match="disagrees"):
        rp.explain(net, x, "smoothgrad", noise=np.zeros((3,) + x.shape), samples=4)
    with pytest.raises(ValueError, match="shape"):
        rp.explain(net, x, "smoothgrad", noise=np.zeros((3, 2, 9, 9)))
    with pytest.raises(ValueError, match="not both"):
        rp.explain(net, x, "smoothgrad", noise=np.zeros((3,) + x.shape), seed=1)


def test_per_sample_seeds_give_each_sample_its_own_noise_whatever_its_batch():
    """The oracle identity: explaining one sample at a time with its own seed gives exactly the
    noise, and so the explanation, that it gets inside the batch (and in any other batch)."""
    from refpattern.methods.smoothgrad import smoothgrad_noise

    net = random_cnn(seed=5)
    x = np.random.default_rng(3).normal(size=(3, 2, 9, 9))
    seeds = np.array([11, 3, 7])
    batch_noise = smoothgrad_noise(x, 4, 0.2, seeds, None)
    batch = rp.explain(net, x, "smoothgrad", samples=4, noise_level=0.2, seed=seeds)
    for n in range(3):
        alone = x[n:n + 1]
        np.testing.assert_array_equal(smoothgrad_noise(alone, 4, 0.2, [seeds[n]], None)[:, 0], batch_noise[:, n])
        np.testing.assert_allclose(rp.explain(net, alone, "smoothgrad", samples=4, noise_level=0.2, seed=[seeds[n]])[0],
                                   batch[n], rtol=1e-13, atol=1e-15)
    order = [2, 0, 1]
    np.testing.assert_allclose(rp.explain(net, x[order], "smoothgrad", samples=4, noise_level=0.2, seed=seeds[order]),
                               batch[order], rtol=1e-13, atol=1e-15)


def test_per_sample_noise_is_the_documented_draw_at_the_stated_scale():
    from refpattern.methods.smoothgrad import SMOOTHGRAD_TAG, smoothgrad_noise

    x = np.random.default_rng(4).normal(size=(2, 2, 9, 9)) * [[[[1.0]]], [[[3.0]]]]
    eta = smoothgrad_noise(x, 5, 0.1, np.array([0, 9]), None)
    for n, seed in enumerate((0, 9)):
        sigma = 0.1 * (x[n].max() - x[n].min())
        epsilon = np.random.default_rng([SMOOTHGRAD_TAG, seed]).standard_normal((5, 2, 9, 9))
        np.testing.assert_array_equal(eta[:, n], sigma * epsilon)
    # the tag keeps the draw apart from default_rng(seed), the batch draw of an int seed
    assert not np.allclose(smoothgrad_noise(x[:1], 5, 0.1, [9], None), smoothgrad_noise(x[:1], 5, 0.1, 9, None))


def test_an_int_seed_draws_for_the_whole_batch_so_a_sample_alone_gets_other_noise():
    """The documented default: one draw for the batch; the same sample in another batch differs."""
    from refpattern.methods.smoothgrad import smoothgrad_noise

    x = np.random.default_rng(5).normal(size=(3, 2, 9, 9))
    eta = smoothgrad_noise(x, 4, 0.2, 7, None)
    sigma = 0.2 * (x.max(axis=(1, 2, 3)) - x.min(axis=(1, 2, 3)))
    np.testing.assert_array_equal(eta, sigma[:, None, None, None]
                                  * np.random.default_rng(7).standard_normal((4, 3, 2, 9, 9)))
    assert not np.allclose(smoothgrad_noise(x[1:2], 4, 0.2, 7, None)[:, 0], eta[:, 1])


@pytest.mark.parametrize("seed", [7, [3, 1, 4]])
def test_the_draws_one_at_a_time_are_the_numbers_of_one_draw_of_the_whole_array(seed):
    """SmoothGrad holds one perturbation at a time (``noise_draws``): its K draws of ``x.shape`` read the
    generator's stream in the order one draw of ``(K,) + x.shape`` does, so the noise, and the explanation,
    are the numbers the whole-array draw gives (computed here from the generator directly)."""
    from refpattern.methods.smoothgrad import SMOOTHGRAD_TAG, noise_draws

    x = np.random.default_rng(2).normal(size=(3, 2, 4))
    sigma = (0.3 * (x.max(axis=(1, 2)) - x.min(axis=(1, 2))))[:, None, None]
    if isinstance(seed, int):
        whole = sigma * np.random.default_rng(seed).standard_normal((5,) + x.shape)
    else:
        whole = sigma * np.stack([np.random.default_rng([SMOOTHGRAD_TAG, s]).standard_normal((5, 2, 4)) for s in seed],
                                 axis=1)
    count, draws = noise_draws(x, 5, 0.3, seed, None)
    draws = list(draws)
    assert count == 5 and all(eta.shape == x.shape for eta in draws)
    np.testing.assert_array_equal(np.stack(draws), whole)


def test_an_empty_noise_array_is_refused_rather_than_averaged_to_nan():
    x = np.ones((2, 3))
    net = rp.Sequential([rp.Dense(np.eye(3))], input_shape=(3,))
    with pytest.raises(ValueError, match="at least one perturbation"):  # before: 0/0, an explanation of NaN
        rp.explain(net, x, "smoothgrad", noise=np.zeros((0, 2, 3)))
