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
