"""Adversarial audit of what experiments run on besides the explain/patterns core: ``train`` and
``demo_cnn``, the experiments' statistics and reports, the Dask fits, ``golden`` and progress.

Every test states the fact it holds: a refusal names the argument (or layer) and what came, a
number equals an independent computation.
"""

import numpy as np
import pytest

from refpattern.network import Conv2D, Dense, Flatten, ReLU, Sequential, Softmax
from refpattern.train import demo_cnn, train


def small_net(classes=3, softmax=True):
    rng = np.random.default_rng(1)
    layers = [Dense.he(4, 5, rng), ReLU(), Dense.he(5, classes, rng)] + ([Softmax()] if softmax else [])
    return Sequential(layers, input_shape=(4,))


def small_data(n=12):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 4)), rng.integers(0, 3, size=n)


# --- train: what the network must be ---------------------------------------------------------------

@pytest.mark.parametrize("net", [None, "net", Dense(np.eye(3, 4), np.zeros(3))])
def test_train_refuses_what_is_not_a_sequential(net):
    X, y = small_data()
    with pytest.raises(TypeError, match=r"train net: expected a refpattern\.Sequential, got"):
        train(net, X, y, epochs=1)


@pytest.mark.parametrize("layers", [[ReLU(), Softmax()], [Flatten()]])
def test_train_refuses_a_network_without_parameters(layers):
    X, y = small_data()
    with pytest.raises(ValueError, match="train net: the network has no kernel layer"):
        train(Sequential(layers, input_shape=(4,)), X, y, epochs=1)


def test_train_refuses_logits_that_are_not_flat():
    # Before: the cross-entropy ran along the last image axis and numpy failed on the accuracy.
    net = Sequential([Conv2D.he(1, 3, 3, np.random.default_rng(0), padding=1)], input_shape=(1, 4, 4))
    X = np.random.default_rng(0).normal(size=(6, 1, 4, 4))
    with pytest.raises(ValueError, match=r"train net: .*flat logits \(classes,\).*\(3, 4, 4\)"):
        train(net, X, np.zeros(6, dtype=int), epochs=1)


# --- train: divergence is reported, never a silent NaN or a frozen weight ---------------------------

def test_a_diverging_learning_rate_is_named_as_training_divergence():
    X, y = small_data()
    with pytest.raises(ValueError, match=r"train: training diverged at epoch 1, after 1 Adam step.*learning_rate "
                                         r"1e\+300") as caught:
        train(small_net(), X, y, epochs=3, learning_rate=1e300)
    assert "layer 2" in str(caught.value)


def test_a_gradient_whose_square_overflows_is_refused_rather_than_freezing_the_weights():
    # Adam's first step moves every parameter by learning_rate·g/(|g|+1e-8) ≈ learning_rate·sign(g);
    # with g ≈ 1e300 (weight decay), g² overflowed, v = inf and the step silently became 0.
    X, y = small_data()
    pattern = r"training diverged.*weight_decay 1e\+300.*layer \d+ \(Dense.*weight gradient"
    with pytest.raises(ValueError, match=pattern):
        train(small_net(), X, y, epochs=1, weight_decay=1e300, learning_rate=0.1)


def test_an_overflow_before_any_step_is_left_to_the_data_error():
    # Data near the top of the accepted range and large weights: the first forward pass overflows;
    # no step was taken, so it is the data's error, not a divergence.
    net = Sequential([Dense(np.full((2, 4), 1e20), np.zeros(2))], input_shape=(4,))
    X = np.full((4, 4), 1e288)
    with pytest.raises(ValueError, match=r"layer 0 .*output can reach") as caught:
        train(net, X, np.zeros(4, dtype=int), epochs=1)
    assert "diverged" not in str(caught.value)


def test_a_large_but_finite_learning_rate_still_trains_as_adam_says():
    # One full batch, one step, bias-corrected Adam: every parameter moves by
    # −lr·g/(|g| + 1e-8) with g the loss gradient (independent closed form of the first step).
    from refpattern.train import loss_gradients

    X, y = small_data()
    net = small_net()
    lr = 1e3
    _, gradients = loss_gradients(net, X, y)
    result = train(net, X, y, epochs=1, batch_size=len(y), learning_rate=lr)
    for index, (gw, gb) in gradients.items():
        layer, trained = net.layers[index], result.net.layers[index]
        np.testing.assert_allclose(trained.weight, layer.weight - lr * gw / (np.abs(gw) + 1e-8), rtol=1e-12)
        np.testing.assert_allclose(trained.bias, layer.bias - lr * gb / (np.abs(gb) + 1e-8), rtol=1e-12)


# --- demo_cnn's arguments ----------------------------------------------------------------------------

@pytest.mark.parametrize("shape, error", [((16, 16), ValueError), ((1, 3, 3), ValueError), ((1, 16, 3), ValueError),
                                          (None, TypeError), ((1, 16.0, 16), TypeError), ((0, 16, 16), ValueError)])
def test_demo_cnn_refuses_input_shapes_it_cannot_build_on(shape, error):
    with pytest.raises(error, match="demo_cnn input_shape"):
        demo_cnn(shape)


@pytest.mark.parametrize("seed, error", [(-1, ValueError), (1.5, TypeError), (None, TypeError), (True, TypeError)])
def test_demo_cnn_refuses_bad_seeds_by_name(seed, error):
    with pytest.raises(error, match="demo_cnn seed"):
        demo_cnn(seed=seed)


@pytest.mark.parametrize("classes, error", [(0, ValueError), (2.5, TypeError), (True, TypeError)])
def test_demo_cnn_refuses_bad_class_counts_by_name(classes, error):
    with pytest.raises(error, match="demo_cnn classes"):
        demo_cnn(classes=classes)


def test_demo_cnn_on_the_smallest_image_it_takes():
    net = demo_cnn((2, 4, 5), classes=3, seed=np.int64(1))
    assert net.output_shapes(net.input_shape)[-1] == (3,)


# --- degradation: the patch order must be a permutation ----------------------------------------------

def degradation_setup():
    rng = np.random.default_rng(0)
    net = Sequential([Flatten(), Dense.he(16, 3, rng), Softmax()], input_shape=(1, 4, 4))
    return net, rng.normal(size=(2, 1, 4, 4))


@pytest.mark.parametrize("first_row", [[0, 0, 2, 3], [0, 1, 2, -1], [0, 1, 2, 4]])
def test_degradation_refuses_an_order_that_is_not_a_permutation(first_row):
    # A repeated index left a patch's rank uninitialised (np.empty_like) and a negative one wrapped
    # around: the curves were silently wrong.
    from refpattern.experiments.degradation import degradation_curves

    net, x = degradation_setup()
    order = np.array([first_row, [3, 2, 1, 0]])
    with pytest.raises(ValueError, match=r"degradation: each row of order must be a permutation of 0\.\.3, row 0"):
        degradation_curves(net, x, order, 2)


@pytest.mark.parametrize("dtype", [float, bool])
def test_degradation_refuses_an_order_of_non_integers(dtype):
    from refpattern.experiments.degradation import degradation_curves

    net, x = degradation_setup()
    with pytest.raises(TypeError, match="degradation: order must hold integer patch indices, got dtype"):
        degradation_curves(net, x, np.array([[0, 1, 2, 3], [3, 2, 1, 0]]).astype(dtype), 2)


@pytest.mark.parametrize("name, value, error", [("patch", 2.0, TypeError), ("patch", True, TypeError),
                                                ("patch", None, TypeError), ("patch", 0, ValueError),
                                                ("steps", 2.7, TypeError), ("steps", True, TypeError),
                                                ("steps", -1, ValueError)])
def test_degradation_refuses_patch_and_steps_that_are_not_counts(name, value, error):
    from refpattern.experiments.degradation import degradation_curves

    net, x = degradation_setup()
    arguments = {"patch": 2, name: value}
    with pytest.raises(error, match=f"degradation {name}: expected an int"):
        degradation_curves(net, x, np.array([[0, 1, 2, 3], [3, 2, 1, 0]]), **arguments)


def test_degradation_curve_replacing_the_best_patch_equals_the_independent_computation():
    from refpattern.experiments.degradation import degradation_curves

    net, x = degradation_setup()
    order = np.array([[2, 0, 1, 3], [3, 2, 1, 0]])
    curves = degradation_curves(net, x, order, 2, steps=1)
    degraded = x.copy()
    degraded[0, :, 2:, :2] = x[0, :, 2:, :2].mean()  # image 0's patch 2 (row 1, column 0)
    degraded[1, :, 2:, 2:] = x[1, :, 2:, 2:].mean()  # image 1's patch 3
    chosen = np.argmax(net.forward(x), axis=1)
    np.testing.assert_allclose(curves[:, 1], net.forward(degraded)[[0, 1], chosen], rtol=1e-13)


@pytest.mark.parametrize("arguments, match", [((-1, 4), "random_orders n"), ((2, 0), "random_orders patches"),
                                              ((2, 4, 1.5), "random_orders seed")])
def test_random_orders_checks_its_arguments_by_name(arguments, match):
    from refpattern.experiments.degradation import random_orders

    with pytest.raises((TypeError, ValueError), match=match):
        random_orders(*arguments)


# --- similarity and ground-truth scores: scale-free, one shape, finite --------------------------------

SCALES = [1e-300, 1e-200, 1.0, 1e200, 1e300]


@pytest.mark.parametrize("scale", SCALES)
def test_similarities_of_a_map_with_itself_and_its_double_at_any_scale(scale):
    # cos(a, a) = 1, ‖a − 2a‖/‖a‖ = 1, ‖0 − a‖ = ‖a‖ (products of tiny entries underflowed: 0; of
    # huge ones overflowed: NaN).
    from refpattern.experiments.similarity import cosine_similarity, relative_difference, spearman_abs

    a = np.random.default_rng(0).normal(size=(3, 1, 2, 3)) * scale
    assert cosine_similarity(a, a) == pytest.approx(1.0, rel=1e-14)
    assert cosine_similarity(a, -a) == pytest.approx(-1.0, rel=1e-14)
    assert relative_difference(a, 2 * a) == pytest.approx(1.0, rel=1e-14)
    assert spearman_abs(a, a) == pytest.approx(1.0, rel=1e-14)
    if scale < 1e300:  # ‖a‖ itself must be representable
        norms = [math_norm(row) for row in a]
        assert relative_difference(np.zeros_like(a), a) == pytest.approx(np.mean(norms), rel=1e-14)


def math_norm(row):
    import math

    peak = float(np.max(np.abs(row)))
    return peak * math.sqrt(sum((float(v) / peak) ** 2 for v in row.ravel()))


@pytest.mark.parametrize("scale", SCALES)
def test_signal_correlation_at_any_scale(scale):
    from refpattern.experiments.ground_truth import signal_correlation

    e = np.random.default_rng(1).normal(size=(2, 1, 3, 3))
    assert signal_correlation(e * scale, e) == pytest.approx(1.0, rel=1e-14)
    assert signal_correlation(e * scale, -e * scale) == pytest.approx(-1.0, rel=1e-14)


@pytest.mark.parametrize("function", ["cosine_similarity", "spearman_abs", "relative_difference"])
@pytest.mark.parametrize("a, b, match", [
    (np.ones((2, 3)), np.ones((1, 3)), "one shape"),          # was broadcast silently
    (np.ones((2, 3)), np.ones((3, 3)), "one shape"),          # spearman/relative_difference zipped rows
    (np.zeros((0, 3)), np.zeros((0, 3)), "non-empty"),
    (np.array([[np.nan, 1.0]]), np.ones((1, 2)), "first map holds 1 NaN or inf"),  # cosine gave 0
])
def test_similarities_refuse_maps_that_do_not_pair(function, a, b, match):
    from refpattern.experiments import similarity

    with pytest.raises(ValueError, match=f"{function}: .*{match}"):
        getattr(similarity, function)(a, b)


def test_mass_fractions_refuses_masks_that_are_not_bool_or_do_not_fit():
    from refpattern.experiments.ground_truth import mass_fractions

    e = np.random.default_rng(2).normal(size=(2, 1, 3, 3))
    with pytest.raises(TypeError, match="mass_fractions region 'm': expected a bool mask, got dtype int64"):
        mass_fractions(e, {"m": np.ones((1, 3, 3), dtype=np.int64) * 2})  # counted every pixel twice
    with pytest.raises(ValueError, match=r"mass_fractions region 'm': a mask of shape \(4, 4\) does not fit"):
        mass_fractions(e, {"m": np.ones((4, 4), bool)})
    top = np.zeros((1, 3, 3), bool)
    top[0, 0] = True
    expected = np.mean([np.abs(x[0, 0]).sum() / np.abs(x).sum() for x in e])
    assert mass_fractions(e, {"top": top})["top"] == pytest.approx(expected, rel=1e-14)


# --- intervals: arguments by name, runs that do not stack --------------------------------------------

@pytest.mark.parametrize("level, error", [("0.9", TypeError), (None, TypeError), (True, TypeError), (1.0, ValueError),
                                          (0.0, ValueError), (np.nan, ValueError)])
def test_t_interval_refuses_levels_by_name(level, error):
    from refpattern.experiments.intervals import t_interval

    with pytest.raises(error, match="t_interval level"):
        t_interval([1.0, 2.0, 3.0], level)


def test_t_interval_with_a_float32_level_equals_scipy():
    from scipy import stats

    from refpattern.experiments.intervals import t_interval

    values = [0.3, 0.5, 0.45]
    interval = t_interval(values, np.float32(0.9))
    low, high = stats.t.interval(float(np.float32(0.9)), 2, loc=np.mean(values), scale=stats.sem(values))
    assert (interval.low, interval.high) == pytest.approx((low, high), rel=1e-14)


@pytest.mark.parametrize("base, count, error, match", [(1.5, 2, TypeError, "base"), (True, 2, TypeError, "base"),
                                                       (-1, 2, ValueError, "base"), (0, 2.0, TypeError, "count"),
                                                       (0, 0, ValueError, "count")])
def test_repetition_seeds_refuses_what_it_used_to_truncate(base, count, error, match):
    from refpattern.experiments.intervals import repetition_seeds

    with pytest.raises(error, match=f"repetition_seeds {match}"):
        repetition_seeds(base, count)


@pytest.mark.parametrize("runs, match", [([], "no runs"), ([{"a": 1.0}, {"b": 2.0}], "run 1 has other entries"),
                                         ([[1.0, 2.0], [1.0, 2.0, 3.0]], "the runs. numbers differ in shape")])
def test_stack_runs_refuses_runs_that_do_not_stack(runs, match):
    from refpattern.experiments.intervals import stack_runs

    with pytest.raises(ValueError, match=f"stack_runs: {match}"):
        stack_runs(runs)


# --- Dask: an array of unknown size that holds no samples ---------------------------------------------

def unknown_size_dask_array(keep):
    """A Dask array of the rows ``keep`` of 20 samples, chunked by 5, whose size Dask does not know."""
    dask_array = pytest.importorskip("dask.array")
    X = np.random.default_rng(0).normal(size=(20, 4))
    selected = dask_array.from_array(X, chunks=(5, 4))[dask_array.from_array(keep, chunks=5)]
    assert np.isnan(selected.shape[0])
    return X, selected


@pytest.mark.parametrize("call", ["fit_statistics", "fit_patterns", "fit_patterns_x", "rho", "memory_limit"])
def test_a_dask_array_of_unknown_size_without_samples_is_refused_as_no_data(call):
    # Before: fit_statistics returned statistics of 0 observations and fit_patterns("x") patterns
    # (a NumPy array without samples is refused), rho blamed a float64 overflow.
    dask = pytest.importorskip("dask")
    import refpattern as rp

    net = small_net()
    X, empty = unknown_size_dask_array(np.zeros(20, bool))
    patterns = rp.fit_patterns(net, X, "a+-")
    run = {"fit_statistics": lambda: rp.fit_statistics(net, empty),
           "fit_patterns": lambda: rp.fit_patterns(net, empty, "a+-"),
           "fit_patterns_x": lambda: rp.fit_patterns(net, empty, "x"),
           "rho": lambda: rp.rho(net, empty, patterns),
           "memory_limit": lambda: rp.fit_patterns(net, empty, "a+-", memory_limit=2000)}[call]
    with dask.config.set(scheduler="synchronous"), pytest.raises(ValueError, match=r"X: no data \(a Dask array of "
                                                                                     r"unknown size"):
        run()


def test_a_dask_array_of_unknown_size_with_empty_chunks_fits_its_samples():
    dask = pytest.importorskip("dask")
    import refpattern as rp

    net = small_net()
    keep = np.zeros(20, bool)
    keep[[7, 16, 17]] = True  # chunks 0 and 2 end up empty
    X, selected = unknown_size_dask_array(keep)
    with dask.config.set(scheduler="synchronous"):
        statistics = rp.fit_statistics(net, selected)
        fitted = rp.fit_patterns(net, selected, "a+-")
    assert [s.n for s in statistics] == [3, 3]
    expected = rp.fit_patterns(net, X[keep], "a+-")
    compared = 0
    for ours, theirs in zip(fitted.layers, expected.layers):
        for name, value in vars(theirs).items():
            if isinstance(value, np.ndarray) and value.dtype.kind == "f":
                np.testing.assert_allclose(getattr(ours, name), value, rtol=1e-12, atol=1e-14)
                compared += 1
    assert compared > 0


def test_dask_array_from_npy_names_a_path_that_is_not_one():
    pytest.importorskip("dask.array")
    from refpattern.patterns.distributed import dask_array_from_npy

    with pytest.raises(TypeError, match="dask_array_from_npy path: expected a path to a .npy file, got NoneType"):
        dask_array_from_npy(None, 3)
