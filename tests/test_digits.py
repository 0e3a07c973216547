"""Real data: scikit-learn's bundled 8×8 digits (the optional ``data`` extra; skipped without it).

The demo CNN must reach 95 % held-out accuracy on them, ρ(S_w) must be exactly 0 in-sample for a
layer that reads the pixels that are empty in every image (docs/math.md#zero-inputs), and one
repetition of the digits experiment must give every number the report needs."""

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="the digits come with scikit-learn: pip install 'refpattern[data]'")

import refpattern as rp  # noqa: E402
from refpattern.datasets import digits_available, load_digits_images  # noqa: E402
from refpattern.experiments import digits  # noqa: E402
from refpattern.experiments.models import train_model  # noqa: E402
from refpattern.experiments.rho_layers import FIG3_ESTIMATORS, constant_zero_inputs  # noqa: E402

TINY = type("Settings", (), {"degradation_images": 16, "ig_steps": 4, "smoothgrad_samples": 2})()


@pytest.fixture(scope="module")
def images():
    return load_digits_images()


def test_the_digits_are_8x8_grey_images_in_0_1(images):
    assert digits_available()
    assert images.X.shape == (1797, 1, 8, 8) and images.X.dtype == np.float64
    assert images.X.min() == 0.0 and images.X.max() == 1.0
    assert np.array_equal(np.unique(images.labels), np.arange(10))
    # sklearn's images hold the grey levels 0…16: every value is a multiple of 1/16
    assert np.allclose(images.X * 16, np.round(images.X * 16))
    empty = np.all(images.X.reshape(len(images.X), -1) == 0, axis=0)
    assert empty.sum() == 3                                    # three pixels are 0 in every image


def test_the_fixed_gallery_and_the_repetition_splits(images):
    gallery = digits.fixed_gallery(images.labels, 0)
    assert sorted(images.labels[gallery].tolist()) == list(range(10))
    train, test = digits.repetition_split(len(images.X), gallery, seed=3)
    assert set(train).isdisjoint(test) and set(gallery).isdisjoint(set(train) | set(test))
    assert len(train) + len(test) + len(gallery) == len(images.X)
    assert len(test) == round(len(images.X[10:]) / 3)
    other_train, _ = digits.repetition_split(len(images.X), gallery, seed=4)
    assert not np.array_equal(train, other_train)


def test_the_demo_cnn_reaches_95_percent_held_out(images):
    gallery = digits.fixed_gallery(images.labels, 0)
    train, test = digits.repetition_split(len(images.X), gallery, seed=1)
    model = train_model("cnn", images.X[train], images.labels[train], images.X[test], images.labels[test],
                        classes=10, seed=1, epochs=40)
    assert model.test_accuracy >= 0.95, model.describe()


def test_empty_pixels_make_rho_of_s_w_exactly_zero_in_sample(images):
    # a dense first layer reads the three empty pixels: d̂ᵢ = −aᵢ·y copies the output there
    rng = np.random.default_rng(0)
    net = rp.Sequential([rp.Flatten(), rp.Dense.he(64, 16, rng), rp.ReLU(), rp.Dense.he(16, 10, rng), rp.Softmax()],
                        input_shape=(1, 8, 8))
    X = images.X[:600]
    zero = constant_zero_inputs(net, X)[0]
    assert zero["zero"] >= 3 and zero["neurons_touching"] == 16
    for estimator in ("w", "random"):
        value = rp.rho(net, X, rp.fit_patterns(net, X, estimator, seed=2))
        assert np.max(np.abs(value.per_neuron[0])) < 1e-9, estimator
    assert np.min(rp.rho(net, X, rp.fit_patterns(net, X, "a")).per_neuron[0]) > 0.1


def test_one_repetition_gives_every_number_of_the_report(images):
    gallery = digits.fixed_gallery(images.labels, 0)
    numbers, explained = digits.run_seed(TINY, images, gallery, seed=5)
    assert numbers["models"]["cnn"]["test_accuracy"] >= 0.9
    for model in ("cnn", "mlp"):
        result = numbers["fig3"][model]
        assert set(result["rho"]) == set(FIG3_ESTIMATORS)
        assert all(len(values) == len(result["layers"]) for values in result["rho"].values())
        assert len(numbers["zero_inputs"][model]) == len(result["layers"])
    fig4 = numbers["fig4"]
    assert fig4["patches"] == 16 and fig4["images"] == TINY.degradation_images
    assert set(fig4["ablations"]) == {"first16", "mean_image", "pixels"}
    assert explained["prediction"].shape == (10,) and set(explained["explanations"]) >= {"PA S_a±", "gradient"}
