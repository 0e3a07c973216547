"""Pattern fit (S_a±, paper variant) on ``bench_cnn`` with 2048 fitting samples, batches of 256.

Timings of the same work, all in this process (minimum of several runs, interleaved, after a
warm-up that also loads the JIT):

- **the whole fit**, ``fit_patterns(net, X, backend=…)``: ``"numba"`` (one fused pass per kernel
  layer, :func:`refpattern.kernels.numba_statistics.forward_statistics`, which computes the
  layer's output and adds its statistics from one patch matrix and one product) vs the plain
  NumPy path ``"numpy"`` (``layer.forward`` then the readable statistics path; target: ≥ 5×
  faster);
- **the BLAS floor** of the fit: the products it needs, done by ``numpy.matmul`` on patch
  matrices extracted beforehand (outside the timer), per kernel layer and batch ``Ỹ = P̃·Wᵀ``
  (which is also the fit's forward product) and ``P̃ᵀ·[Ỹ⊙(1 − G) | Ỹ⊙G | G]`` (target: the whole fit
  within 1.5× of it);
- **the statistics pass alone** (every kernel layer's ``LayerStatistics.accumulate`` on one
  batch's forward activations, repeated to 2048 samples): the fused
  ``accumulate_statistics`` kernel (the path for a block of a layer's neurons, and the CUDA
  backend's) vs the readable NumPy path, and against the same floor;
- for scale, the network's Numba forward pass alone (``net.logits``), which the fit no longer
  runs separately.

Run: ``python -m pytest benchmarks/bench_patterns.py -s`` (prints the table; asserts only that
the backends agree), or ``python benchmarks/bench_patterns.py``.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from networks import bench_cnn, bench_inputs

from refpattern.kernels.numpy_reference import patch_matrix
from refpattern.network.conv2d import Conv2D
from refpattern.patterns import fit_patterns
from refpattern.patterns.statistics import NetworkStatistics

N_FIT = 2048
BATCH = 256


def timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def fit(net, X, backend):
    return fit_patterns(net, X, "a+-", batch_size=BATCH, backend=backend, progress=False)


def one_batch_activations(net, x):
    """``(layer input, layer output)`` of every kernel layer for one batch (NumPy forward pass)."""
    trace = net.trace(x, "numpy")
    return [(trace[index], trace[index + 1]) for index in net.kernel_indices]


def statistics_pass(net, pairs, backend, repeats):
    """Every kernel layer's accumulate on the same batch ``repeats`` times (fresh statistics), with
    the ``backend``'s ``accumulate_statistics``."""
    stats = NetworkStatistics.empty(net)
    for _ in range(repeats):
        for layer_stats, (x, z) in zip(stats, pairs):
            layer_stats.accumulate(x, z, backend)
    return stats


def floor_operands(net, pairs):
    """Per kernel layer, extracted beforehand: ``P̃`` (M, D), ``Wᵀ`` (D, O) and ``R = [Ỹ⊙(1 − G) | Ỹ⊙G | G]``
    (M, 3O)."""
    operands = []
    for layer, (x, z) in zip(net.kernel_layers, pairs):
        weight = layer.weight.reshape(layer.weight.shape[0], -1)
        if isinstance(layer, Conv2D):
            patches = patch_matrix(x, layer.kernel_size, layer.stride, layer.pads(x.shape[2:]))
            gate = np.moveaxis(z, 1, -1).reshape(-1, weight.shape[0]) > 0
        else:
            patches, gate = x, z > 0
        shifted = np.ascontiguousarray(patches - patches.mean(axis=0))
        y = shifted @ weight.T
        right = np.ascontiguousarray(np.concatenate([y * ~gate, y * gate, gate.astype(np.float64)], axis=1))
        operands.append((shifted, np.ascontiguousarray(weight.T), right))
    return operands


def blas_floor(operands, repeats):
    """``numpy.matmul`` of ``Ỹ = P̃·Wᵀ`` and ``P̃ᵀ·R`` for every layer, ``repeats`` times."""
    for _ in range(repeats):
        for shifted, weight_t, right in operands:
            np.matmul(shifted, weight_t)
            np.matmul(shifted.T, right)


def load_average() -> str:
    try:
        return " ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:  # pragma: no cover
        return "n/a"


def ratio_table(n_fit: int = N_FIT, fit_repeats: int = 3, numpy_fit_repeats: int = 1, pass_repeats: int = 3) -> str:
    net = bench_cnn()
    X = bench_inputs(n_fit, seed=2)
    batches = n_fit // BATCH
    load_before = load_average()

    # warm-up (JIT / cache load) and agreement of the two backends
    reference = fit(net, X[:BATCH], "numpy")
    ours = fit(net, X[:BATCH], "numba")
    for got, want in zip(ours, reference):
        for a, b in ((got.a_plus, want.a_plus), (got.a_minus, want.a_minus)):
            assert np.max(np.abs(a - b)) <= 1e-9 * np.max(np.abs(b)), "numba and numpy fits disagree"

    pairs = one_batch_activations(net, X[:BATCH])
    operands = floor_operands(net, pairs)
    statistics_pass(net, pairs, "numba", 1)
    blas_floor(operands, 1)

    def forward_only():
        for start in range(0, n_fit, BATCH):
            net.logits(X[start:start + BATCH], "numba")

    times = {"fit numba": [], "fit numpy": [], "pass numba": [], "pass numpy": [], "floor": [], "forward": []}
    for round_ in range(max(fit_repeats, pass_repeats)):
        if round_ < pass_repeats:
            times["floor"].append(timed(lambda: blas_floor(operands, batches)))
            times["pass numba"].append(timed(lambda: statistics_pass(net, pairs, "numba", batches)))
        if round_ < fit_repeats:
            times["fit numba"].append(timed(lambda: fit(net, X, "numba")))
            times["forward"].append(timed(forward_only))
        if round_ < numpy_fit_repeats:
            times["fit numpy"].append(timed(lambda: fit(net, X, "numpy")))
        if round_ < 1:
            times["pass numpy"].append(timed(lambda: statistics_pass(net, pairs, "numpy", batches)))
    best = {name: min(values) for name, values in times.items()}

    layers = ", ".join(f"D={w.shape[0]} O={w.shape[1]} M={p.shape[0]}" for p, w, _ in operands)
    lines = [
        f"S_a± fit on bench_cnn, {n_fit} samples in batches of {BATCH}, float64 (best of the runs; "
        f"load average before {load_before}, after {load_average()})",
        f"kernel layers per batch: {layers}",
        f"{'':34}{'seconds':>9}",
        f"{'whole fit, numba':34}{best['fit numba']:>9.2f}",
        f"{'whole fit, numpy':34}{best['fit numpy']:>9.2f}",
        f"{'BLAS floor (numpy.matmul)':34}{best['floor']:>9.2f}",
        f"{'statistics pass, fused numba':34}{best['pass numba']:>9.2f}",
        f"{'statistics pass, numpy reference':34}{best['pass numpy']:>9.2f}",
        f"{'forward pass alone (net.logits)':34}{best['forward']:>9.2f}",
        f"fit numpy / numba:                    {best['fit numpy'] / best['fit numba']:6.2f}x  (target >= 5x)",
        f"whole fit numba / BLAS floor:         {best['fit numba'] / best['floor']:6.2f}x  (target <= 1.5x)",
        f"statistics pass numba / BLAS floor:   {best['pass numba'] / best['floor']:6.2f}x",
        f"statistics pass numpy / numba:        {best['pass numpy'] / best['pass numba']:6.2f}x",
    ]
    return "\n".join(lines)


def test_pattern_fit_ratios(capsys):
    table = ratio_table()
    with capsys.disabled():
        print("\n" + table)


@pytest.mark.parametrize("backend", ["numba"])
def test_fit_patterns(benchmark, backend):
    net, X = bench_cnn(), bench_inputs(512, seed=2)
    fit(net, X[:BATCH], backend)
    benchmark.extra_info["samples"] = 512
    benchmark.pedantic(fit, args=(net, X, backend), rounds=3, iterations=1)


if __name__ == "__main__":
    print(ratio_table())
