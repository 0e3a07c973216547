"""Convolution kernels: NumPy reference vs Numba CPU (vs PyTorch CPU float64 when installed).

Shape: batch 64, 32 x 32 x 32 -> 32 channels, 3x3 kernel, stride 1, padding 1 (float64).

Run with pytest-benchmark (the file is not collected by the main test run)::

    python -m pytest benchmarks/bench_kernels.py

or as a plain script from the repository root, which prints only the ratio table::

    python -m benchmarks.bench_kernels

``test_speed_ratios`` times every backend in the same process with ``time.perf_counter``
(minimum of several runs, after a warm-up call that also triggers the JIT) and prints the
speed ratios; it checks that the backends agree, never how fast they are.
"""

from __future__ import annotations

import time
from functools import partial

import numpy as np
import pytest

from refpattern.kernels import get_backend

BATCH, IN_CHANNELS, HEIGHT, WIDTH, OUT_CHANNELS = 64, 32, 32, 32, 32
KERNEL, STRIDE, PADDING = (3, 3), (1, 1), ((1, 1), (1, 1))  # the kernels' padding ((top, bottom), (left, right))
TORCH_PADDING = (1, 1)  # the same symmetric padding in torch's (ph, pw)
OPERATIONS = ("conv2d_forward", "conv2d_backward_input", "conv2d_backward_weight")

try:  # optional comparison; never installed by refpattern
    import torch
except ImportError:  # pragma: no cover - depends on the environment
    torch = None


def make_operands(seed: int = 0) -> dict:
    """x (N, C, H, W), weight (O, C, kh, kw), grad_y (N, O, OH, OW), all float64."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((BATCH, IN_CHANNELS, HEIGHT, WIDTH))
    weight = rng.standard_normal((OUT_CHANNELS, IN_CHANNELS) + KERNEL)
    grad_y = rng.standard_normal((BATCH, OUT_CHANNELS, HEIGHT, WIDTH))  # stride 1, "same" padding
    return {"x": x, "weight": weight, "grad_y": grad_y}


def run_kernel(kernels, operation: str, operands: dict) -> np.ndarray:
    """One call of ``operation`` from a refpattern backend (:func:`refpattern.kernels.get_backend`)."""
    x, weight, grad_y = operands["x"], operands["weight"], operands["grad_y"]
    if operation == "conv2d_forward":
        return kernels.conv2d_forward(x, weight, STRIDE, PADDING)
    if operation == "conv2d_backward_input":
        return kernels.conv2d_backward_input(grad_y, weight, x.shape, STRIDE, PADDING)
    return kernels.conv2d_backward_weight(grad_y, x, KERNEL, STRIDE, PADDING)


def torch_operands(operands: dict) -> dict:
    return {name: torch.from_numpy(array) for name, array in operands.items()}


def run_torch(operation: str, tensors: dict):
    """The same operation with torch CPU float64 (``conv2d`` and its two gradients)."""
    x, weight, grad_y = tensors["x"], tensors["weight"], tensors["grad_y"]
    if operation == "conv2d_forward":
        return torch.nn.functional.conv2d(x, weight, stride=STRIDE, padding=TORCH_PADDING)
    if operation == "conv2d_backward_input":
        return torch.nn.grad.conv2d_input(x.shape, weight, grad_y, stride=STRIDE, padding=TORCH_PADDING)
    return torch.nn.grad.conv2d_weight(x, weight.shape, grad_y, stride=STRIDE, padding=TORCH_PADDING)


def min_time(function, repeats: int) -> float:
    """Best wall-clock time in seconds of ``repeats`` calls, after one warm-up call."""
    function()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def speed_ratio_table(repeats: int = 5) -> str:
    """Time every backend on every operation in this process; return a printable table."""
    operands = make_operands()
    numpy_kernels, numba_kernels = get_backend("numpy"), get_backend("numba")
    tensors = torch_operands(operands) if torch is not None else None
    lines = [
        f"conv2d, batch {BATCH}, {IN_CHANNELS}x{HEIGHT}x{WIDTH} -> {OUT_CHANNELS}, "
        f"{KERNEL[0]}x{KERNEL[1]} stride {STRIDE} pad {PADDING}, float64, min of {repeats}",
        f"{'operation':<24}{'numpy ms':>10}{'numba ms':>10}{'numpy/numba':>13}"
        + (f"{'torch ms':>10}{'torch/numba':>13}" if torch is not None else ""),
    ]
    for operation in OPERATIONS:
        expected = run_kernel(numpy_kernels, operation, operands)
        got = run_kernel(numba_kernels, operation, operands)
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-10, err_msg=operation)
        t_numpy = min_time(partial(run_kernel, numpy_kernels, operation, operands), repeats)
        t_numba = min_time(partial(run_kernel, numba_kernels, operation, operands), repeats)
        line = f"{operation:<24}{t_numpy * 1e3:>10.1f}{t_numba * 1e3:>10.1f}{t_numpy / t_numba:>12.1f}x"
        if tensors is not None:
            np.testing.assert_allclose(
                run_torch(operation, tensors).numpy(), expected, rtol=1e-12, atol=1e-10, err_msg=operation
            )
            t_torch = min_time(partial(run_torch, operation, tensors), repeats)
            line += f"{t_torch * 1e3:>10.1f}{t_torch / t_numba:>12.2f}x"
        lines.append(line)
    if torch is None:
        lines.append("torch is not importable: the torch CPU float64 comparison was skipped")
    else:
        lines.append(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------
# pytest-benchmark
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def operands():
    return make_operands()


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("operation", OPERATIONS)
def test_conv_kernel(benchmark, operands, operation, backend):
    kernels = get_backend(backend)
    run_kernel(kernels, operation, operands)  # warm-up (JIT compile or cache load)
    benchmark.group = operation
    benchmark.extra_info["shape"] = f"{BATCH}x{IN_CHANNELS}x{HEIGHT}x{WIDTH}->{OUT_CHANNELS}"
    benchmark(run_kernel, kernels, operation, operands)


@pytest.mark.parametrize("operation", OPERATIONS)
def test_conv_torch(benchmark, operands, operation):
    if torch is None:
        print("torch is not importable: skipping the torch CPU float64 comparison")
        pytest.skip("torch is not importable")
    tensors = torch_operands(operands)
    run_torch(operation, tensors)
    benchmark.group = operation
    benchmark(run_torch, operation, tensors)


def test_speed_ratios(capsys):
    table = speed_ratio_table()
    with capsys.disabled():
        print("\n" + table)


if __name__ == "__main__":
    print(speed_ratio_table())
