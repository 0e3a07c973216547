"""numba.cuda kernels against their NumPy twins, to 1e-12 -- run in a process of their own.

Not collected by the main test run (the name does not match ``test_*.py``);
``tests/test_kernels_cuda_sim.py`` runs it in a subprocess with ``NUMBA_ENABLE_CUDASIM=1``
(the variable must be set before numba is first imported)::

    NUMBA_ENABLE_CUDASIM=1 python -m pytest -q -p no:cacheprovider tests/cudasim_checks.py

Without the variable, on a machine with a GPU, the same command checks the real GPU.

The CUDA simulator runs every GPU thread as a Python thread, so the shapes are tiny; they
are chosen so that every bounds check in the kernels takes both branches: ragged last
blocks (element counts and matrix sides that are not multiples of the block/tile size),
output positions whose window touches each of the four padded edges, and GEMM slabs that
run past the last row.
"""

from __future__ import annotations

import numpy as np
import pytest

from refpattern.kernels import cuda_kernels as ck
from refpattern.kernels import cuda_statistics, get_backend, numba_cpu
from refpattern.kernels import numpy_reference as ref

if ck.cuda is None or not ck.cuda.is_available():
    pytest.skip(
        "neither a CUDA GPU nor the simulator is available (set NUMBA_ENABLE_CUDASIM=1)",
        allow_module_level=True,
    )

RTOL = 1e-12

# (N, C, O, H, W, kernel, stride, padding ((top, bottom), (left, right))); 5x7 images
CONV_CASES = [
    # 2*3*5*7 = 210 outputs: 2 blocks of 128, the second ragged; every padded edge touched
    pytest.param(2, 2, 3, 5, 7, (3, 3), (1, 1), ((1, 1), (1, 1)), id="3x3-pad1-ragged-block"),
    # non-square kernel, stride and padding; padding wider than half the kernel
    pytest.param(1, 3, 2, 5, 7, (3, 2), (2, 3), ((2, 2), (1, 1)), id="nonsquare-stride-pad"),
    # stride larger than the kernel (input pixels no window sees), fewer outputs than a block
    pytest.param(3, 1, 2, 5, 7, (2, 4), (3, 2), ((0, 0), (2, 2)), id="gappy-stride"),
    # one output per (n, o): the whole padded image is one window
    pytest.param(1, 2, 1, 5, 7, (7, 9), (1, 1), ((1, 1), (1, 1)), id="window-covers-image"),
    # 2*4*4*8 = 256 outputs: exactly two full blocks (no ragged block)
    pytest.param(2, 2, 4, 4, 8, (1, 1), (1, 1), ((0, 0), (0, 0)), id="exact-blocks"),
    # asymmetric padding: Keras "same" with stride 2 (the odd zero after), and pads on one side only
    pytest.param(2, 2, 3, 4, 8, (3, 3), (2, 2), ((0, 1), (0, 1)), id="asymmetric-same-stride2"),
    pytest.param(1, 2, 2, 5, 7, (2, 3), (1, 2), ((2, 0), (0, 3)), id="asymmetric-one-side"),
    # the whole asymmetrically padded image is one window
    pytest.param(1, 1, 2, 5, 7, (8, 8), (1, 1), ((3, 0), (0, 1)), id="window-covers-asymmetric"),
]

# (N, D, F) of a.T @ b with 16x16 tiles
GEMM_CASES = [
    pytest.param(37, 19, 21, id="ragged-N-D-F"),
    pytest.param(5, 3, 17, id="single-slab-F-just-over-a-tile"),
    pytest.param(16, 16, 16, id="exactly-one-tile"),
    pytest.param(33, 40, 2, id="three-slabs-three-row-tiles"),
    pytest.param(1, 1, 1, id="scalar"),
]


@pytest.mark.parametrize("n, c, o, h, w, kernel, stride, padding", CONV_CASES)
def test_conv2d_forward_matches_reference(n, c, o, h, w, kernel, stride, padding):
    rng = np.random.default_rng(n * 100 + c * 10 + o)
    x = rng.standard_normal((n, c, h, w))
    weight = rng.standard_normal((o, c) + kernel)
    x_before, weight_before = x.copy(), weight.copy()
    y = ck.conv2d_forward(x, weight, stride, padding)
    expected = ref.conv2d_forward(x, weight, stride, padding)
    scale = np.max(ref.conv2d_forward(np.abs(x), np.abs(weight), stride, padding))
    assert y.shape == expected.shape and y.dtype == np.float64
    np.testing.assert_allclose(y, expected, rtol=RTOL, atol=RTOL * scale)
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(weight, weight_before)


def test_conv2d_forward_accepts_non_contiguous_input():
    rng = np.random.default_rng(7)
    x = np.ascontiguousarray(rng.standard_normal((2, 2, 7, 5)).transpose(0, 1, 3, 2))
    x_view = x.transpose(0, 1, 3, 2).copy().transpose(0, 1, 3, 2)
    weight = rng.standard_normal((3, 2, 2, 3))
    assert not x_view.flags.c_contiguous
    np.testing.assert_allclose(
        ck.conv2d_forward(x_view, weight, (1, 2), ((1, 0), (0, 2))),
        ref.conv2d_forward(x, weight, (1, 2), ((1, 0), (0, 2))),
        rtol=RTOL,
        atol=1e-11,
    )


@pytest.mark.parametrize("n, d, f", GEMM_CASES)
def test_gemm_at_b_matches_numpy(n, d, f):
    rng = np.random.default_rng(n + d + f)
    a = rng.standard_normal((n, d))
    b = rng.standard_normal((n, f))
    a_before, b_before = a.copy(), b.copy()
    out = ck.gemm_at_b(a, b)
    scale = np.max(np.abs(a).T @ np.abs(b))
    assert out.shape == (d, f) and out.dtype == np.float64
    np.testing.assert_allclose(out, a.T @ b, rtol=RTOL, atol=RTOL * scale)
    np.testing.assert_array_equal(a, a_before)
    np.testing.assert_array_equal(b, b_before)



def test_gemm_at_b_row_tiles_in_several_launches(monkeypatch):
    """CUDA's limit of 65 535 blocks along grid y, lowered to 2: the 3 row tiles of D = 40 go in two launches
    (tiles 0–1, then tile 2 with ``row_begin = 32``); the product is still ``a.T @ b``."""
    monkeypatch.setattr(ck, "MAX_GRID_YZ", 2)
    rng = np.random.default_rng(7)
    a, b = rng.standard_normal((33, 40)), rng.standard_normal((33, 18))
    scale = np.max(np.abs(a).T @ np.abs(b))
    np.testing.assert_allclose(ck.gemm_at_b(a, b), a.T @ b, rtol=RTOL, atol=RTOL * scale)

def test_backend_seam_and_delegated_kernels():
    """``get_backend("cuda")`` works here: the GPU convolution and statistics, the Numba CPU kernels
    for the rest, which match the reference."""
    kernels = get_backend("cuda")
    assert kernels.name == "cuda" and kernels.conv2d_forward is ck.conv2d_forward
    assert kernels.accumulate_statistics is cuda_statistics.accumulate_statistics and kernels.forward_statistics is None
    for name in ("split_by_gate", "dense_forward", "dense_backward_input", "conv2d_backward_input",
                 "conv2d_backward_weight", "maxpool_forward", "maxpool_backward"):
        assert getattr(kernels, name) is getattr(numba_cpu, name)

    rng = np.random.default_rng(8)
    padding = ((1, 0), (0, 1))  # asymmetric: ((top, bottom), (left, right))
    x = rng.standard_normal((2, 2, 5, 7))
    weight = rng.standard_normal((3, 2, 3, 2))
    grad_y = rng.standard_normal(ref.conv2d_forward(x, weight, (2, 1), padding).shape)
    np.testing.assert_allclose(
        kernels.conv2d_backward_input(grad_y, weight, x.shape, (2, 1), padding),
        ref.conv2d_backward_input(grad_y, weight, x.shape, (2, 1), padding),
        rtol=RTOL, atol=1e-11,
    )
    np.testing.assert_allclose(
        kernels.conv2d_backward_weight(grad_y, x, (3, 2), (2, 1), padding),
        ref.conv2d_backward_weight(grad_y, x, (3, 2), (2, 1), padding),
        rtol=RTOL, atol=1e-11,
    )
    y, winner = kernels.maxpool_forward(x, (2, 3), (2, 2))
    y_ref, winner_ref = ref.maxpool_forward(x, (2, 3), (2, 2))
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(winner, winner_ref)
    np.testing.assert_allclose(
        kernels.maxpool_backward(y, winner, x.shape, (2, 3), (2, 2)),
        ref.maxpool_backward(y_ref, winner_ref, x.shape, (2, 3), (2, 2)),
        rtol=RTOL, atol=1e-12,
    )
