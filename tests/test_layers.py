"""Layer forward passes against independent loop implementations; max-pool tie convention."""

import dense_reference as ref
import numpy as np
from conftest import random_cnn

import refpattern as rp


def test_network_logits_equal_dense_matrix_network():
    """Conv (explicit loop matrices), routing matrices and dense layers give the same logits."""
    net = random_cnn(seed=31)
    x = np.random.default_rng(0).normal(size=(3, 2, 9, 9))
    for n in range(3):
        a = x[n].ravel()
        for step in ref.dense_layers(net, x[n]):
            if step[0] == "kernel":
                a = step[1] @ a + step[2]
            elif step[0] == "relu":
                a = np.maximum(a, 0)
            else:
                a = step[1] @ a
        np.testing.assert_allclose(net.logits(x[n:n + 1])[0], a, rtol=1e-12, atol=1e-13)


def test_maxpool_ties_go_to_the_first_maximum_in_row_major_order():
    x = np.zeros((1, 1, 2, 4))
    x[0, 0] = [[1, 3, 5, 5], [3, 2, 5, 1]]
    pool = rp.MaxPool2D(2)
    np.testing.assert_array_equal(pool.forward(x)[0, 0], [[3, 5]])
    routed = pool.backward(x, np.ones((1, 1, 1, 2)))
    np.testing.assert_array_equal(routed[0, 0], [[0, 1, 1, 0], [0, 0, 0, 0]])


def test_overlapping_maxpool_sums_routes():
    x = np.array([[[[0.0, 1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]]])
    pool = rp.MaxPool2D(2, stride=1)
    g = np.array([[[[1.0, 2.0], [4.0, 8.0]]]])
    routed = pool.backward(x, g)
    assert routed[0, 0, 0, 1] == 3.0  # winner of the two top windows
    assert routed.sum() == g.sum()


def test_flatten_is_c_order_and_softmax_sums_to_one():
    x = np.arange(24.0).reshape(2, 3, 2, 2)
    np.testing.assert_array_equal(rp.Flatten().forward(x)[1], np.arange(12.0, 24.0))
    z = np.random.default_rng(0).normal(size=(4, 5)) * 50
    p = rp.Softmax().forward(z)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-15)
    assert np.all(np.isfinite(p))


def test_softmax_backward_matches_finite_differences():
    z = np.random.default_rng(1).normal(size=(1, 4))
    g = np.array([[0.3, -1.0, 2.0, 0.5]])
    analytic = rp.Softmax().backward(z, g)
    h = 1e-6
    numeric = np.array([
        (np.sum(g * rp.Softmax().forward(z + h * e)) - np.sum(g * rp.Softmax().forward(z - h * e))) / (2 * h)
        for e in np.eye(4)[:, None, :]
    ])
    np.testing.assert_allclose(analytic[0], numeric, rtol=1e-8)


def test_forward_of_softmax_net_is_softmax_of_logits(cnn):
    x = np.random.default_rng(2).normal(size=(2, 2, 9, 9))
    np.testing.assert_allclose(cnn.forward(x), rp.Softmax().forward(cnn.logits(x)), rtol=1e-15)
