"""Training with the hand-written gradients: loss decreases, accuracy rises, the input net is untouched."""

import io
import re

import numpy as np
import pytest

from refpattern.datasets import make_image_task
from refpattern.progress import Progress
from refpattern.train import demo_cnn, loss_gradients, softmax_cross_entropy, train


def test_training_learns_the_synthetic_task():
    task = make_image_task(256, seed=3)
    net = demo_cnn(task.input_shape, task.n_classes, seed=0)
    before = [np.array(layer.weight) for layer in net.kernel_layers]
    result = train(net, task.X, task.labels, epochs=4, batch_size=32, progress=False)
    assert result.loss[-1] < result.loss[0]
    assert result.accuracy[-1] >= 0.9  # chance is 0.25
    for layer, w in zip(net.kernel_layers, before):
        np.testing.assert_array_equal(layer.weight, w)


def test_cross_entropy_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    z, labels = rng.normal(size=(3, 4)), np.array([0, 3, 1])
    _, grad = softmax_cross_entropy(z, labels)
    h = 1e-6
    for index in [(0, 0), (1, 3), (2, 2)]:
        up, down = z.copy(), z.copy()
        up[index] += h
        down[index] -= h
        numeric = (softmax_cross_entropy(up, labels)[0] - softmax_cross_entropy(down, labels)[0]) / (2 * h)
        assert np.isclose(grad[index], numeric, rtol=1e-7, atol=1e-10)


def test_loss_gradient_of_a_weight_matches_finite_differences():
    task = make_image_task(16, seed=1)
    net = demo_cnn(task.input_shape, task.n_classes, seed=2)
    _, gradients = loss_gradients(net, task.X, task.labels)
    index = net.kernel_indices[0]
    layer = net.layers[index]
    h = 1e-6
    for position in [(0, 0, 1, 1), (5, 0, 2, 0)]:
        w_up, w_down = np.array(layer.weight), np.array(layer.weight)
        w_up[position] += h
        w_down[position] -= h
        nets = [net.with_layers([layer.with_parameters(w, layer.bias) if i == index else other
                                 for i, other in enumerate(net.layers)]) for w in (w_up, w_down)]
        losses = [loss_gradients(n, task.X, task.labels)[0] for n in nets]
        assert np.isclose(gradients[index][0][position], (losses[0] - losses[1]) / (2 * h), rtol=1e-5, atol=1e-9)


def test_train_refuses_bad_labels():
    task = make_image_task(16, seed=1)
    net = demo_cnn(task.input_shape, task.n_classes)
    with pytest.raises(ValueError, match="labels"):
        train(net, task.X, task.labels + 10, epochs=1)
    with pytest.raises(ValueError, match="labels"):
        train(net, task.X, task.labels[:3], epochs=1)


def test_training_reports_each_epoch_through_refpattern_progress(capsys):
    task = make_image_task(64, seed=3)
    net = demo_cnn(task.input_shape, task.n_classes, seed=0)
    train(net, task.X, task.labels, epochs=2, progress=True)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    for epoch, line in enumerate(lines, 1):
        pattern = rf"\[train +\d+\.\d s\] epoch {epoch}/2: loss \d+\.\d{{4}}, training accuracy [01]\.\d{{3}}"
        assert re.fullmatch(pattern, line)
    train(net, task.X, task.labels, epochs=1, progress=None)   # stderr is not a terminal here: silent
    assert capsys.readouterr().err == ""
    stream = io.StringIO()
    train(net, task.X, task.labels, epochs=1, progress=Progress("caller", enabled=True, stream=stream))
    assert re.fullmatch(r"\[caller +\d+\.\d s\] epoch 1/1: .*\n", stream.getvalue())
