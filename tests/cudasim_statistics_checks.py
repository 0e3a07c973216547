"""The numba.cuda statistics kernels against their NumPy twin, to 1e-12 -- in a process of their own.

Not collected by the main test run (the name does not match ``test_*.py``);
``tests/test_statistics_cuda_sim.py`` runs it in a subprocess with ``NUMBA_ENABLE_CUDASIM=1``::

    NUMBA_ENABLE_CUDASIM=1 python -m pytest -q -p no:cacheprovider tests/cudasim_statistics_checks.py

Without the variable, on a machine with a GPU, the same command checks the real GPU
(``benchmarks/gpu.sh``).

The simulator runs every GPU thread as a Python thread, so the shapes are tiny, and the chunk and
split sizes are made small so that every bounds check takes both branches: output tiles that are
ragged in each of the three GEMM axes (``D`` and ``3O`` past 64, ``M`` past 64 in the ``Ỹ``
GEMM), splits that end inside a shared-memory slab, more than one split and more than one chunk
of observations (``m_begin > 0``), patches on every padded edge, and Dense layers.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import check_merge_of_opposite_regimes, reference_sums

from refpattern.kernels import cuda_statistics as cs
from refpattern.kernels.numpy_reference import conv2d_forward

if cs.cuda is None or not cs.cuda.is_available():
    pytest.skip(
        "neither a CUDA GPU nor the simulator is available (set NUMBA_ENABLE_CUDASIM=1)",
        allow_module_level=True,
    )

RTOL = 1e-12


def check(x, z, weight_matrix, shift, conv, second_moment, closed_inputs=None, **options):
    """The kernel's sums against the NumPy twin's; ``closed_inputs`` (O,) bool: the third block holds
    ``Σx̃(1 − g)`` of those neurons, ``Σx̃g`` of the others (None: of every neuron)."""
    o, d = weight_matrix.shape
    sums = {"products": np.zeros((d, 3 * o)), "sum_x": np.zeros(d), "n_plus": np.zeros(o, np.int64),
            "output_sums": np.zeros((4, o)), "sum_xx": np.zeros((d, d)) if second_moment else None}
    x_before, z_before = x.copy(), z.copy()
    n = cs.accumulate_statistics(x, z, weight_matrix, shift, conv, **sums, **options, closed_inputs=closed_inputs)
    want, scale = reference_sums(x, z, weight_matrix, shift, conv)
    assert n == want.n
    flags = np.zeros(o, bool) if closed_inputs is None else closed_inputs
    expected = {"regime_input_sums": (np.where(flags, want.sum_x_minus, want.sum_x_plus),
                                      np.where(flags, scale.sum_x_minus, scale.sum_x_plus))}
    got = {"sum_xy_minus": sums["products"][:, :o], "sum_xy_plus": sums["products"][:, o:2 * o],
           "regime_input_sums": sums["products"][:, 2 * o:], "sum_x": sums["sum_x"],
           "sum_y_minus": sums["output_sums"][0], "sum_y_plus": sums["output_sums"][1],
           "sum_yy_minus": sums["output_sums"][2], "sum_yy_plus": sums["output_sums"][3]}
    if second_moment:
        got["sum_xx"] = sums["sum_xx"]
    for name, value in got.items():
        wanted, magnitude = expected.get(name, (getattr(want, name, None), getattr(scale, name, None)))
        error = np.abs(value - wanted)
        allowed = RTOL * magnitude + 1e-300
        assert np.all(error <= allowed), f"{name}: off by {np.max(error / allowed):.2g} × the allowance"
    np.testing.assert_array_equal(sums["n_plus"], want.n_plus)
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(z, z_before)


def conv_case(seed, n, c, o, h, w, kernel, stride, padding):
    rng = np.random.default_rng(seed)
    x = rng.normal(0.3, 1.0, (n, c, h, w))
    weight = rng.normal(size=(o, c) + kernel)
    z = conv2d_forward(x, weight, stride, padding) + rng.normal(0, 0.5, o)[None, :, None, None]
    shift = rng.normal(0.3, 0.2, c * kernel[0] * kernel[1])
    return x, z, weight.reshape(o, -1), shift, (kernel, stride, padding)


def test_conv_one_tile_every_padded_edge_with_second_moment():
    # D = 12, 3O = 9, M = 2·3·7 = 42: every tile ragged; 2 splits of 32 (the second ends mid-slab)
    x, z, w, shift, conv = conv_case(1, 2, 2, 3, 5, 7, (3, 2), (2, 1), ((1, 1), (1, 1)))
    check(x, z, w, shift, conv, True, rows_per_split=32)


def test_conv_several_tiles_splits_and_chunks():
    # D = 5·3·3 = 45 ... with O = 23: 3O = 69 > 64 (two column tiles); M = 81 > 64 (two Ỹ row tiles);
    # splits of 24 (not a multiple of the 16-deep slab); chunks of 70 observations (m_begin = 70)
    x, z, w, shift, conv = conv_case(2, 1, 5, 23, 9, 9, (3, 3), (1, 1), ((1, 1), (1, 1)))
    check(x, z, w, shift, conv, False, rows_per_split=24, max_chunk_elements=70 * 23)
    # the third block of every other neuron its gate-closed input sums (docs/math.md#regime-input-sums)
    check(x, z, w, shift, conv, False, np.arange(23) % 2 == 0, rows_per_split=24, max_chunk_elements=70 * 23)


def test_conv_reduction_axis_past_one_tile_and_stride_gaps():
    # D = 8·3·3 = 72 > 64: two row tiles of the statistics GEMM and 5 slabs of the Ỹ GEMM;
    # a stride larger than the kernel leaves input pixels no window sees
    x, z, w, shift, conv = conv_case(3, 1, 8, 2, 7, 6, (3, 3), (3, 2), ((2, 2), (0, 0)))
    check(x, z, w, shift, conv, True, rows_per_split=16)


@pytest.mark.parametrize("padding", [
    pytest.param(((0, 1), (0, 1)), id="keras-same-stride2"),   # the odd zero after: bottom / right
    pytest.param(((2, 0), (1, 3)), id="asymmetric-every-side"),
])
def test_conv_asymmetric_padding(padding):
    # D = 2·3·3 = 18, M = 2·OH·OW with the first window at (−top, −left); two splits of 8
    x, z, w, shift, conv = conv_case(4, 2, 2, 3, 6, 5, (3, 3), (2, 1), padding)
    check(x, z, w, shift, conv, True, rows_per_split=8)


@pytest.mark.parametrize("n, d, o", [
    pytest.param(19, 70, 3, id="D-past-one-tile"),
    pytest.param(3, 5, 66, id="O-past-one-tile"),  # two Ỹ column tiles, four statistics column tiles
])
def test_dense(n, d, o):
    rng = np.random.default_rng(4)
    x = rng.normal(-0.2, 1.5, (n, d))
    w = rng.normal(size=(o, d))
    z = x @ w.T + rng.normal(0, 2.0, o)
    check(x, z, w, x.mean(axis=0), None, False, rows_per_split=8, max_chunk_elements=7 * o)
    check(x, z, w, x.mean(axis=0), None, False, rng.random(o) < 0.5, rows_per_split=8, max_chunk_elements=7 * o)


def test_merge_of_statistics_that_keep_opposite_regimes():
    """The fit through the CUDA backend: a merge of two statistics whose stored input sums hold
    opposite regimes equals one pass (:func:`conftest.check_merge_of_opposite_regimes`)."""
    check_merge_of_opposite_regimes("cuda")



def test_column_tiles_in_launches_of_one_block(monkeypatch):
    """CUDA's limit of 65 535 blocks along grid y, lowered to 1: each column tile of ``R`` (3O = 198: four
    tiles) and of ``P̃`` (D = 70: two tiles, for ``Σx̃x̃ᵀ``) in a launch of its own (``column_begin > 0``),
    and chunks of observations one split long; the same sums."""
    monkeypatch.setattr(cs, "MAX_GRID_YZ", 1)
    n, d, o = 11, 70, 66
    rng = np.random.default_rng(6)
    x = rng.normal(-0.2, 1.5, (n, d))
    w = rng.normal(size=(o, d))
    z = x @ w.T + rng.normal(0, 2.0, o)
    check(x, z, w, x.mean(axis=0), None, True, rows_per_split=8)

@pytest.mark.parametrize("scale", [1.0, 1e200, 1e-200])
def test_fit_statistics_through_the_cuda_backend(scale):
    """The whole path: ``fit_patterns(backend="cuda")`` equals the NumPy backend on a small net,
    also far from unit scale (data and biases × ``scale``: the same patterns), where the
    statistics hand the kernel the data in units of a power of two (``docs/conventions.md#scale``)."""
    from refpattern import Conv2D, Dense, Flatten, ReLU, Sequential
    from refpattern.kernels import get_backend
    from refpattern.patterns import fit_patterns

    assert get_backend("cuda").accumulate_statistics is cs.accumulate_statistics
    rng = np.random.default_rng(5)
    conv, dense = rng.normal(size=(2, 1, 3, 3)), rng.normal(size=(2, 100))

    def net(s):
        return Sequential([Conv2D(conv, np.array([0.1, -0.2]) * s, padding=1), ReLU(), Flatten(),
                           Dense(dense, np.array([0.3, -0.1]) * s)], input_shape=(1, 5, 10))

    x = rng.normal(size=(3, 1, 5, 10))
    want = fit_patterns(net(1.0), x, "a+-", batch_size=2, backend="numpy")
    got = fit_patterns(net(scale), x * scale, "a+-", batch_size=2, backend="cuda")
    for g, w in zip(got, want):
        for a, b in ((g.a_plus, w.a_plus), (g.a_minus, w.a_minus)):
            assert np.max(np.abs(a - b)) <= 1e-10 * np.max(np.abs(b))
