"""The S_a± statistics of one layer on the GPU: numba.cuda kernels vs torch (unfold + cuBLAS), float64.

Per layer the same per-batch sums (``refpattern.kernels.cuda_statistics``)::

    P̃ᵀ·[Ỹ⊙(1 − G) | Ỹ⊙G | G] (D, 3O),  Σx̃,  Σg,  Σỹ⊙(1 − g),  Σỹ⊙g,  Σỹ²⊙(1 − g),  Σỹ²⊙g
    with  Ỹ = P̃Wᵀ,  G = [z > 0]

computed three ways on the same inputs: the NumPy twin on the CPU (``batch_sums`` on the
readable path: the reference), the numba.cuda kernels, and torch on the same card (``unfold``,
then cuBLAS GEMMs and reductions, all float64, inputs already on the device).  Both GPU results
must equal the CPU's to 1e-10 relative to the sum of the magnitudes of each entry's terms (checked
and printed; the only assertion here).  Times are
the best of several runs after a warm-up, with ``synchronize`` around each; the numba.cuda time is
given on device arrays (kernels only) and through the host API (copies in and out included).

Layers: the conv layer of ``docs/backends.md#cuda-gemm`` (64→128, 3×3, pad 1, batch 64 at 32×32), the
second conv layer of ``bench_cnn`` (32→32 at 32×32, batch 256), and a dense 4096→256 (batch 256).

Skips cleanly without a GPU (and under the CUDA simulator, far too slow for these sizes).
Run on the GPU machine through ``benchmarks/gpu.sh``; by hand:
``python -m pytest benchmarks/bench_gpu.py -s`` or ``python benchmarks/bench_gpu.py``.
"""

from __future__ import annotations

import os
import time

import numpy as np

from refpattern.kernels import cuda_statistics as cs
from refpattern.kernels import numpy_reference as ref
from refpattern.kernels.numpy_reference import batch_sums

RTOL = 1e-10
REPEATS = 10

# name, (N, C, H, W) or (N, D), O, conv (kernel, stride, padding ((top, bottom), (left, right))) or None
LAYERS = [
    ("conv 64→128 3×3 pad 1, 64×32×32", (64, 64, 32, 32), 128, ((3, 3), (1, 1), ((1, 1), (1, 1)))),
    ("bench_cnn conv 32→32, 256×32×32", (256, 32, 32, 32), 32, ((3, 3), (1, 1), ((1, 1), (1, 1)))),
    ("dense 4096→256, batch 256", (256, 4096), 256, None),
]


def gpu_unavailable_reason():
    """None when a real GPU is usable, else why not."""
    if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0"):
        return "NUMBA_ENABLE_CUDASIM is set: the simulator is far too slow for benchmark sizes"
    if cs.cuda is None:
        return "numba.cuda is not importable"
    if not cs.cuda.is_available():
        return "no CUDA GPU found"
    return None


def make_layer(shape, n_out, conv, seed=0):
    """x, weight matrix (O, D), bias, z = layer output (CPU, NumPy reference), shift = mean observation."""
    rng = np.random.default_rng(seed)
    x = np.maximum(rng.normal(0.2, 1.0, shape), 0.0)  # ReLU-like inputs, as inside a network
    d = int(np.prod(shape[1:])) if conv is None else shape[1] * conv[0][0] * conv[0][1]
    weight = rng.normal(0.0, np.sqrt(2.0 / d), (n_out, d))
    bias = rng.normal(0.0, 0.1, n_out)
    if conv is None:
        z = x @ weight.T + bias
        shift = x.mean(axis=0)
    else:
        kernel, stride, padding = conv
        w4 = weight.reshape((n_out, shape[1]) + kernel)
        z = ref.conv2d_forward(x, w4, stride, padding) + bias[:, None, None]
        shift = ref.extract_patches(x, kernel, stride, padding).mean(axis=(0, 1, 2)).reshape(-1)
    return x, weight, z, shift


def cpu_reference(x, weight, z, shift, conv):
    """The NumPy twin: the sums, and the same sums over the magnitudes of their terms (the scale that
    any summation order's rounding is proportional to; ``Σx̃`` is near 0 by design)."""
    o = weight.shape[0]
    if conv is None:
        patches, gate = x, z > 0
    else:
        patches = ref.patch_matrix(x, *conv)
        gate = np.moveaxis(z, 1, -1).reshape(-1, o) > 0
    shifted = patches - shift
    y = shifted @ weight.T
    result = []
    for sums in (batch_sums(shifted, y, gate), batch_sums(np.abs(shifted), np.abs(y), gate)):
        result.append(as_dict(np.concatenate([sums.sum_xy_minus, sums.sum_xy_plus, sums.sum_x_plus], axis=1),
                              sums.sum_x, sums.n_plus, sums.sum_y_minus, sums.sum_y_plus, sums.sum_yy_minus,
                              sums.sum_yy_plus))
    return result


def as_dict(products, sum_x, n_plus, sum_y_minus, sum_y_plus, sum_yy_minus, sum_yy_plus):
    return {"products": np.asarray(products), "sum_x": np.asarray(sum_x), "n_plus": np.asarray(n_plus, np.float64),
            "sum_y_minus": np.asarray(sum_y_minus), "sum_y_plus": np.asarray(sum_y_plus),
            "sum_yy_minus": np.asarray(sum_yy_minus), "sum_yy_plus": np.asarray(sum_yy_plus)}


def max_relative_error(got, want, scale):
    """``max |got − want| / Σ|terms|`` over every entry of every sum."""
    return max(float(np.max(np.abs(got[k] - want[k]) / np.maximum(scale[k], 1e-300))) for k in want)


def best_time(function, synchronize, repeats=REPEATS):
    function()
    synchronize()
    best = float("inf")
    for _ in range(repeats):
        synchronize()
        start = time.perf_counter()
        function()
        synchronize()
        best = min(best, time.perf_counter() - start)
    return best


# --- numba.cuda ----------------------------------------------------------------------------------


def numba_cuda_run(x, weight, z, shift, conv):
    """(device-only timing function, host-API timing function, result dict)."""
    cuda = cs.cuda
    o, d = weight.shape
    if conv is None:
        x4, z4, geometry = x.reshape(x.shape + (1, 1)), z.reshape(z.shape + (1, 1)), (1, 1, 1, 1, 0, 0, 1, 1)
    else:
        (kh, kw), (sh, sw), (ph, pw) = conv
        x4, z4, geometry = x, z, (kh, kw, sh, sw, ph, pw, z.shape[2], z.shape[3])
    x_dev, z_dev = cuda.to_device(np.ascontiguousarray(x4)), cuda.to_device(np.ascontiguousarray(z4))
    weight_dev, shift_dev = cuda.to_device(weight), cuda.to_device(shift)
    products, sum_x, vectors = (cuda.device_array((d, 3 * o)), cuda.device_array((1, d)), cuda.device_array((5, o)))

    def on_device():
        products.copy_to_device(np.zeros((d, 3 * o)))  # the kernels add: start from zero each run
        sum_x.copy_to_device(np.zeros((1, d)))
        vectors.copy_to_device(np.zeros((5, o)))
        cs.accumulate_on_device(x_dev, z_dev, weight_dev, shift_dev, geometry, products, sum_x, vectors)

    def through_host():
        sums = {"products": np.zeros((d, 3 * o)), "sum_x": np.zeros(d), "n_plus": np.zeros(o, np.int64),
                "output_sums": np.zeros((4, o))}
        cs.accumulate_statistics(x, z, weight, shift, conv, **sums)
        return sums

    on_device()
    cuda.synchronize()
    v = vectors.copy_to_host()
    result = as_dict(products.copy_to_host(), sum_x.copy_to_host()[0], v[0], *v[1:])
    host = through_host()
    host_result = as_dict(host["products"], host["sum_x"], host["n_plus"], *host["output_sums"])
    return on_device, through_host, result, host_result


# --- torch ---------------------------------------------------------------------------------------


def torch_run(x, weight, z, shift, conv, device="cuda"):
    """(timing function, synchronize, result dict) for torch on ``device``, or None without torch/CUDA."""
    try:
        import torch
    except ImportError:
        return None
    if device == "cuda" and not torch.cuda.is_available():
        return None
    synchronize = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    device = torch.device(device)
    xt, zt = torch.from_numpy(x).to(device), torch.from_numpy(z).to(device)
    wt, shift_t = torch.from_numpy(weight).to(device), torch.from_numpy(shift).to(device)
    o, d = weight.shape

    def statistics():
        if conv is None:
            patches, gate = xt - shift_t, (zt > 0).double()
        else:
            kernel, stride, ((top, _), (left, _)) = conv  # symmetric here: torch's unfold takes (ph, pw)
            cols = torch.nn.functional.unfold(xt, kernel, padding=(top, left), stride=stride)  # (N, D, L)
            patches = cols.transpose(1, 2).reshape(-1, d) - shift_t
            gate = (zt.permute(0, 2, 3, 1).reshape(-1, o) > 0).double()
        y = patches @ wt.T
        y_open = y * gate
        y_closed = y - y_open
        products = patches.T @ torch.cat([y_closed, y_open, gate], dim=1)
        return (products, patches.sum(0), gate.sum(0), y_closed.sum(0), y_open.sum(0), (y * y_closed).sum(0),
                (y * y_open).sum(0))

    result = as_dict(*(t.cpu().numpy() for t in statistics()))
    return statistics, synchronize, result


def gpu_table(layers=LAYERS, torch_device="cuda") -> tuple[str, bool]:
    """The printed summary and whether every GPU result matched the CPU's."""
    reason = gpu_unavailable_reason()
    if reason is not None:
        return f"bench_gpu skipped: {reason}", True
    cuda = cs.cuda
    device = cuda.get_current_device()
    name = device.name.decode() if isinstance(device.name, bytes) else str(device.name)
    lines = [f"S_a± statistics of one layer, float64, on {name}; best of {REPEATS} after a warm-up; "
             f"GPU results vs the CPU NumPy twin (tolerance {RTOL:g} relative)",
             f"{'layer':36}{'numba.cuda':>11}{'(+copies)':>11}{'torch':>9}{'torch/numba':>12}"
             f"{'numba TF/s':>11}{'torch TF/s':>11}{'err numba':>11}{'err torch':>11}"]
    all_ok = True
    for label, shape, n_out, conv in layers:
        x, weight, z, shift = make_layer(shape, n_out, conv)
        want, scale = cpu_reference(x, weight, z, shift, conv)
        m = x.shape[0] if conv is None else z.shape[0] * z.shape[2] * z.shape[3]
        flops = 8.0 * m * weight.shape[0] * weight.shape[1]  # Ỹ (2MDO) + P̃ᵀ[Ỹ|Ỹ⊙G|G] (6MDO)
        on_device, through_host, got, got_host = numba_cuda_run(x, weight, z, shift, conv)
        err_numba = max(max_relative_error(got, want, scale), max_relative_error(got_host, want, scale))
        t_numba = best_time(on_device, cuda.synchronize)
        t_host = best_time(through_host, cuda.synchronize, repeats=3)
        torch_part = torch_run(x, weight, z, shift, conv, torch_device)
        line = f"{label:36}{t_numba * 1e3:>9.2f}ms{t_host * 1e3:>9.1f}ms"
        ok = err_numba <= RTOL
        if torch_part is None:
            line += f"{'n/a':>9}{'':>12}{flops / t_numba / 1e12:>11.2f}{'':>11}{err_numba:>11.1e}{'n/a':>11}"
        else:
            statistics, synchronize, got_torch = torch_part
            err_torch = max_relative_error(got_torch, want, scale)
            t_torch = best_time(statistics, synchronize)
            ok = ok and err_torch <= RTOL
            line += (f"{t_torch * 1e3:>7.2f}ms{t_torch / t_numba:>11.2f}x{flops / t_numba / 1e12:>11.2f}"
                     f"{flops / t_torch / 1e12:>11.2f}{err_numba:>11.1e}{err_torch:>11.1e}")
        lines.append(line + ("" if ok else "   <-- MISMATCH"))
        all_ok = all_ok and ok
    lines.append("all GPU results equal the CPU's to 1e-10 relative" if all_ok
                 else "SOME GPU RESULTS DIFFER FROM THE CPU'S (see MISMATCH)")
    return "\n".join(lines), all_ok


def test_gpu_statistics_vs_torch(capsys):
    import pytest  # only here: the script itself runs without pytest

    reason = gpu_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    table, ok = gpu_table()
    with capsys.disabled():
        print("\n" + table)
    assert ok, "GPU statistics differ from the CPU reference"


if __name__ == "__main__":
    print(gpu_table()[0])
