"""Every argument is checked by refpattern and refused with its name and the accepted range
(``docs/conventions.md#arguments``); NumPy scalars are accepted and give the same numbers."""

import numpy as np
import pytest
from conftest import random_cnn

import refpattern as rp


@pytest.fixture(scope="module")
def case():
    net = random_cnn(seed=5)
    x = np.random.default_rng(0).normal(size=(24,) + net.input_shape)
    return net, x, np.arange(24) % 3


def explain(method, **options):
    return lambda net, x, labels: rp.explain(net, x[:2], method, **options)


REFUSED = [
    # SmoothGrad: seeds, counts, levels
    (explain("smoothgrad", seed=-1), ValueError, r"smoothgrad option seed: expected a non-negative int, got -1"),
    (explain("smoothgrad", seed=1.5), TypeError, r"smoothgrad option seed: expected a non-negative int, got 1\.5"),
    (explain("smoothgrad", seed=2.0), TypeError, r"smoothgrad option seed: .*got 2\.0 \(float\)"),
    (explain("smoothgrad", seed=True), TypeError, r"smoothgrad option seed: .*got True"),
    (explain("smoothgrad", seed=np.array([1.0, 2.0])), TypeError, r"smoothgrad option seed: .*dtype float64"),
    (explain("smoothgrad", seed=[1, 2, 3]), ValueError, r"smoothgrad option seed: expected one int per sample, "
                                                        r"shape \(2,\), got shape \(3,\)"),
    (explain("smoothgrad", seed=[1, -2]), ValueError, r"smoothgrad option seed: expected non-negative ints, got -2"),
    (explain("smoothgrad", noise_level="abc"), TypeError,
     r"smoothgrad option noise_level: expected a real number in \[0, inf\), got 'abc'"),
    (explain("smoothgrad", noise_level=-0.1), ValueError, r"smoothgrad option noise_level: expected a finite number "
                                                          r"in \[0, inf\), got -0\.1"),
    (explain("smoothgrad", noise_level=np.nan), ValueError, r"smoothgrad option noise_level: .*got nan"),
    (explain("smoothgrad", noise_level=1e308), ValueError, r"smoothgrad option noise_level: σ = .* overflows float64"),
    (explain("smoothgrad", samples=0), ValueError, r"smoothgrad option samples: expected an int >= 1, got 0"),
    (explain("smoothgrad", samples=2.0), TypeError, r"smoothgrad option samples: expected an int >= 1, got 2\.0"),
    # the options of the other methods
    (explain("integrated_gradients", steps=0), ValueError, r"integrated_gradients option steps: expected an int >= 1"),
    (explain("integrated_gradients", steps=2.5), TypeError, r"integrated_gradients option steps: .*got 2\.5"),
    (explain("integrated_gradients", baseline="zero"), TypeError, r"integrated_gradients option baseline: "),
    (explain("lrp.epsilon", epsilon=-1.0), ValueError, r"lrp\.epsilon option epsilon: expected a finite number in "
                                                       r"\[0, inf\), got -1\.0"),
    (explain("lrp.epsilon", epsilon="abc"), TypeError, r"lrp\.epsilon option epsilon: expected a real number"),
    (explain("lrp.epsilon", epsilon=np.inf), ValueError, r"lrp\.epsilon option epsilon: .*got inf"),
    (explain("lrp.alpha_beta", stabilizer=-1e-6), ValueError, r"lrp\.alpha_beta option stabilizer: .*\[0, inf\)"),
    (explain("lrp.alpha_beta", alpha=0.5, beta=-0.5), ValueError, r"lrp\.alpha_beta option alpha: .*\[1, inf\)"),
    (explain("lrp.alpha_beta", alpha=2.0, beta="1"), TypeError, r"lrp\.alpha_beta option beta: expected a real"),
    (explain("lrp.w_square", stabilizer=None), TypeError, r"lrp\.w_square option stabilizer: expected a real"),
    (explain("deep_taylor", low="abc", high=1.0), TypeError, r"deep_taylor option low: expected a real numeric"),
    (explain("lrp.zb", low=-1.0, high=[np.nan]), ValueError, r"lrp\.zb option high: contains NaN or inf"),
    (explain("lrp.zb", low=-1e300, high=1.0), ValueError, r"lrp\.zb option low: reaches magnitude 1e\+300, above"),
    # fits, ρ and training
    (lambda net, x, y: rp.fit_patterns(net, x, "random", seed=-1), ValueError, r"seed: expected a non-negative int"),
    (lambda net, x, y: rp.fit_patterns(net, x, "random", seed=1.5), TypeError, r"seed: .*got 1\.5"),
    (lambda net, x, y: rp.fit_patterns(net, x, "a", seed=1.5), TypeError, r"seed: .*got 1\.5"),
    (lambda net, x, y: rp.fit_patterns(net, x, batch_size=0), ValueError, r"batch_size: expected an int >= 1, got 0"),
    (lambda net, x, y: rp.fit_patterns(net, x, batch_size=8.0), TypeError, r"batch_size: expected an int >= 1"),
    (lambda net, x, y: rp.fit_statistics(net, x, batch_size=-3), ValueError, r"batch_size: .*got -3"),
    (lambda net, x, y: rp.rho(net, x, "a", seed=1.5), TypeError, r"seed: expected a non-negative int, got 1\.5"),
    (lambda net, x, y: rp.rho(net, x, "a", seed=-1), ValueError, r"seed: expected a non-negative int, got -1"),
    (lambda net, x, y: rp.rho(net, x, "a", max_neurons=0), ValueError, r"max_neurons: expected an int >= 1, got 0"),
    (lambda net, x, y: rp.rho(net, x, "a", max_neurons=1.0), TypeError, r"max_neurons: expected an int >= 1"),
    (lambda net, x, y: rp.rho(net, x, "a", cutoff=1.5), ValueError, r"cutoff: expected a finite number in \[0, 1\)"),
    (lambda net, x, y: rp.rho(net, x, "a", cutoff="small"), TypeError, r"cutoff: expected a real number"),
    (lambda net, x, y: rp.rho(net, x, "a", batch_size=0), ValueError, r"batch_size: expected an int >= 1"),
    (lambda net, x, y: rp.train(net, x, y, epochs=0), ValueError, r"train epochs: expected an int >= 1, got 0"),
    (lambda net, x, y: rp.train(net, x, y, epochs=1.5), TypeError, r"train epochs: .*got 1\.5"),
    (lambda net, x, y: rp.train(net, x, y, batch_size=0), ValueError, r"train batch_size: expected an int >= 1"),
    (lambda net, x, y: rp.train(net, x, y, learning_rate=0.0), ValueError,
     r"train learning_rate: expected a finite number in \(0, inf\), got 0\.0"),
    (lambda net, x, y: rp.train(net, x, y, learning_rate="fast"), TypeError, r"train learning_rate: expected a real"),
    (lambda net, x, y: rp.train(net, x, y, seed=-1), ValueError, r"train seed: expected a non-negative int, got -1"),
    (lambda net, x, y: rp.train(net, x, y, seed=0.5), TypeError, r"train seed: .*got 0\.5"),
    (lambda net, x, y: rp.train(net, x, y, betas=(1.0, 0.999)), ValueError, r"train betas\[0\]: .*\[0, 1\)"),
    (lambda net, x, y: rp.train(net, x, y, betas=0.9), TypeError, r"train betas: expected a pair"),
    (lambda net, x, y: rp.train(net, x, y, weight_decay=-1.0), ValueError, r"train weight_decay: .*\[0, inf\)"),
    (lambda net, x, y: rp.train(net, x, y, target_accuracy=2.0), ValueError, r"train target_accuracy: .*\[0, 1\]"),
]


@pytest.mark.parametrize("call, error, message", REFUSED, ids=[f"{i}-{r[2][:40]}" for i, r in enumerate(REFUSED)])
def test_a_bad_argument_is_refused_with_its_name_and_range(case, call, error, message):
    net, x, labels = case
    before = x.copy()
    with pytest.raises(error, match=message):
        call(net, x, labels)
    np.testing.assert_array_equal(x, before)


def test_numpy_scalars_are_accepted_and_give_the_same_numbers(case):
    net, x, labels = case
    x2 = x[:2]
    pairs = [
        (dict(samples=np.int64(3), seed=np.uint8(7), noise_level=np.float64(0.2)),
         dict(samples=3, seed=7, noise_level=0.2), "smoothgrad"),
        (dict(steps=np.int32(3)), dict(steps=3), "integrated_gradients"),
        (dict(epsilon=np.float64(1e-3)), dict(epsilon=1e-3), "lrp.epsilon"),
        (dict(alpha=np.int64(2), beta=np.int64(1), stabilizer=np.float32(0.5)),
         dict(alpha=2.0, beta=1.0, stabilizer=float(np.float32(0.5))), "lrp.alpha_beta"),
    ]
    for numpy_options, plain_options, method in pairs:
        np.testing.assert_array_equal(rp.explain(net, x2, method, **numpy_options),
                                      rp.explain(net, x2, method, **plain_options))
    for numpy_options, plain_options in ((dict(estimator="random", seed=np.int64(4)), dict(estimator="random", seed=4)),
                                         (dict(batch_size=np.int16(5)), dict(batch_size=5))):
        for a, b in zip(rp.fit_patterns(net, x, **numpy_options), rp.fit_patterns(net, x, **plain_options)):
            np.testing.assert_array_equal(a.a_plus, b.a_plus)
    np.testing.assert_array_equal(rp.rho(net, x, "w", max_neurons=np.int64(2), seed=np.int8(3), cutoff=np.float32(0)),
                                  rp.rho(net, x, "w", max_neurons=2, seed=3, cutoff=0.0))
    trained = [rp.train(net, x, labels, epochs=epochs, batch_size=size, seed=seed, learning_rate=rate,
                        progress=False).net for epochs, size, seed, rate in
               ((np.int64(1), np.int32(8), np.uint16(2), np.float64(0.01)), (1, 8, 2, 0.01))]
    for a, b in zip(trained[0].kernel_layers, trained[1].kernel_layers):
        np.testing.assert_array_equal(a.weight, b.weight)
