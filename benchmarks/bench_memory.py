"""Peak memory of a pattern fit (S_a±, numba backend), each fit in a fresh subprocess (``ru_maxrss``).

1. ``bench_cnn`` with 2048 vs 16384 fitting samples, streamed as batches of 256 drawn on the fly
   (so the data never sits in memory): the peak should not grow with the sample count
   (target: < 10 % more).
2. ``vgg16_shaped()`` (224×224, random weights) on a handful of images: peak RSS, images per
   second, and the floor that float64 imposes: the network's weights, the S_a± sums of every
   kernel layer (``Σx̃(ỹ⊙(1 − g))ᵀ``, ``Σx̃(ỹ⊙g)ᵀ``, ``Σx̃gᵀ``: 3 × the weights) and the patterns that come
   out (``a₊``, ``a₋``: 2 × the weights) -- 6 × the weights in all, 6.6 GB for VGG-16.
3. The same VGG-16-shaped S_a± fit under ``memory_limit=VGG_MEMORY_LIMIT`` (several passes over the
   data, the 25088→4096 layer in blocks of neurons): target a peak under 4 GiB.  Its float64 floor
   is the weights (1.03 GiB) + the patterns (2.06 GiB) + the sums of one pass (≤ the limit).  The
   batches are drawn one at a time by a function that draws the same batches on every call (the
   fit calls it once per pass).

Run: ``python -m pytest benchmarks/bench_memory.py -s`` (prints a table; never asserts a size or a
time), or ``python benchmarks/bench_memory.py`` for the same table.  One child by hand:
``python benchmarks/bench_memory.py child cnn 2048`` / ``child vgg 4 2`` / ``child vgg-passes 4 2``.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent
REPO_ROOT = BENCHMARKS.parent
CNN_SAMPLES = (2048, 16384)
CNN_BATCH = 256
VGG_IMAGES, VGG_BATCH = 8, 4
#: Sums held at once by the multi-pass VGG-16 fit; weights 1.03 + patterns 2.06 GiB leave ~0.9 GiB under 4 GiB.
VGG_MEMORY_LIMIT = "256MiB"
GIB = 1024 ** 3


def peak_rss_bytes() -> int:
    """``ru_maxrss`` of this process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def current_rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def random_batches(n_samples, batch_size, shape, seed=1):
    """Standard-normal batches drawn one at a time (never the whole data set at once)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    for start in range(0, n_samples, batch_size):
        yield rng.normal(size=(min(batch_size, n_samples - start),) + tuple(shape))


# --------------------------------------------------------------------------------------
# children
# --------------------------------------------------------------------------------------


def child(kind: str, n_samples: int, batch_size: int) -> dict:
    """One fit in this (fresh) process; returns what it measured."""
    if kind == "vgg-passes":
        return child_passes(n_samples, batch_size)
    import numpy as np
    from networks import bench_cnn, bench_inputs, vgg16_shaped

    from refpattern.patterns import fit_statistics, patterns_from_statistics

    net = bench_cnn() if kind == "cnn" else vgg16_shaped()
    shape = net.input_shape
    # load (or compile) every kernel on a tiny network first, so both runs pay the same
    fit_statistics(bench_cnn(), bench_inputs(2), backend="numba")
    weights = sum(layer.weight.nbytes for layer in net.kernel_layers)
    before = {"current": current_rss_bytes(), "peak": peak_rss_bytes()}
    start = time.perf_counter()
    stats = fit_statistics(net, random_batches(n_samples, batch_size, shape), batch_size, backend="numba")
    statistics_seconds = time.perf_counter() - start
    after_statistics = peak_rss_bytes()
    sums = sum(s.products.nbytes + s.sum_x.nbytes for s in stats)
    start = time.perf_counter()
    patterns = patterns_from_statistics(net, stats, "a+-")
    estimate_seconds = time.perf_counter() - start
    outputs = sum(p.a_plus.nbytes + p.a_minus.nbytes for p in patterns)
    assert all(np.isfinite(p.a_plus).all() for p in patterns)
    return {
        "kind": kind, "samples": n_samples, "batch": batch_size,
        "rss_before_fit": before["current"], "peak_before_fit": before["peak"],
        "peak_after_statistics": after_statistics, "peak": peak_rss_bytes(),
        "statistics_seconds": statistics_seconds, "estimate_seconds": estimate_seconds,
        "weights_bytes": weights, "sums_bytes": sums, "patterns_bytes": outputs,
    }


def child_passes(n_images: int, batch_size: int, memory_limit: str = VGG_MEMORY_LIMIT) -> dict:
    """The VGG-16-shaped S_a± fit under ``memory_limit``, in this (fresh) process."""
    import numpy as np
    from networks import bench_cnn, bench_inputs, vgg16_shaped

    from refpattern.patterns import fit_patterns
    from refpattern.patterns.passes import pass_bytes, plan_passes, statistics_bytes

    # load (or compile) every kernel, also the sums of a block of neurons, on a tiny network first
    small = bench_cnn()
    one_neuron = max(statistics_bytes(int(np.prod(layer.weight.shape[1:])), 1) for layer in small.kernel_layers)
    fit_patterns(small, bench_inputs(2), backend="numba", memory_limit=one_neuron)
    net = vgg16_shaped()
    plan = plan_passes(net, memory_limit)
    first_dense = min(k for k, layer in enumerate(net.kernel_layers) if layer.weight.ndim == 2)
    weights = sum(layer.weight.nbytes for layer in net.kernel_layers)
    before = {"current": current_rss_bytes(), "peak": peak_rss_bytes()}
    start = time.perf_counter()
    patterns = fit_patterns(net, lambda: random_batches(n_images, batch_size, net.input_shape), "a+-", batch_size,
                            backend="numba", memory_limit=memory_limit)
    seconds = time.perf_counter() - start
    outputs = sum(p.a_plus.nbytes + p.a_minus.nbytes for p in patterns)
    assert all(np.isfinite(p.a_plus).all() and np.isfinite(p.a_minus).all() for p in patterns)
    return {
        "kind": "vgg-passes", "samples": n_images, "batch": batch_size, "memory_limit": memory_limit,
        "rss_before_fit": before["current"], "peak_before_fit": before["peak"], "peak": peak_rss_bytes(),
        "seconds": seconds, "passes": len(plan),
        "passes_through_convs": sum(max(k for k, _ in items) >= first_dense for items in plan),
        "largest_pass_bytes": max(pass_bytes(net, items) for items in plan),
        "weights_bytes": weights, "patterns_bytes": outputs,
    }


def run_child(kind: str, n_samples: int, batch_size: int) -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO_ROOT), str(BENCHMARKS)]))
    command = [sys.executable, str(Path(__file__).resolve()), "child", kind, str(n_samples), str(batch_size)]
    result = subprocess.run(command, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=3600)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------------
# the tables
# --------------------------------------------------------------------------------------


def cnn_table() -> str:
    runs = [run_child("cnn", n, CNN_BATCH) for n in CNN_SAMPLES]
    small, large = runs
    lines = [f"bench_cnn, S_a± fit (numba), batches of {CNN_BATCH} drawn on the fly, one subprocess per fit",
             f"{'samples':>8} {'peak RSS':>10} {'RSS before fit':>15} {'statistics':>11} {'estimate':>9}"]
    for run in runs:
        lines.append(f"{run['samples']:>8} {run['peak'] / 2**20:>8.0f}MiB {run['rss_before_fit'] / 2**20:>13.0f}MiB "
                     f"{run['statistics_seconds']:>10.1f}s {run['estimate_seconds']:>8.2f}s")
    growth = large["peak"] / small["peak"] - 1
    lines.append(f"peak RSS with {CNN_SAMPLES[1]} vs {CNN_SAMPLES[0]} samples: {100 * growth:+.1f} % "
                 "(target: < 10 % more)")
    return "\n".join(lines)


def vgg_table(images: int = VGG_IMAGES, batch: int = VGG_BATCH) -> str:
    run = run_child("vgg", images, batch)
    floor = run["weights_bytes"] + run["sums_bytes"] + run["patterns_bytes"]
    rate = images / (run["statistics_seconds"] + run["estimate_seconds"])
    return "\n".join([
        f"vgg16_shaped, 224×224, S_a± fit (numba) of {images} images in batches of {batch}, own subprocess",
        f"peak RSS {run['peak'] / GIB:.2f} GiB (after the statistics pass {run['peak_after_statistics'] / GIB:.2f} GiB;"
        f" before the fit {run['rss_before_fit'] / GIB:.2f} GiB)",
        f"time: statistics {run['statistics_seconds']:.1f} s ({images / run['statistics_seconds']:.3f} images/s), "
        f"estimate {run['estimate_seconds']:.1f} s; whole fit {rate:.3f} images/s",
        f"float64 state: weights {run['weights_bytes'] / GIB:.2f} GiB + S_a± sums {run['sums_bytes'] / GIB:.2f} GiB "
        f"+ patterns {run['patterns_bytes'] / GIB:.2f} GiB = {floor / GIB:.2f} GiB; "
        f"peak above that: {(run['peak'] - floor) / GIB:+.2f} GiB",
    ])


def vgg_passes_table(images: int = VGG_IMAGES, batch: int = VGG_BATCH) -> str:
    run = run_child("vgg-passes", images, batch)
    floor = run["weights_bytes"] + run["patterns_bytes"] + run["largest_pass_bytes"]
    met = "met" if run["peak"] < 4 * GIB else "NOT met"
    return "\n".join([
        f"vgg16_shaped, 224×224, S_a± fit (numba) with memory_limit={run['memory_limit']!r} of {images} images in "
        f"batches of {batch} (drawn batch by batch, the same batches again for every pass), own subprocess",
        f"peak RSS {run['peak'] / GIB:.2f} GiB (target < 4 GiB: {met}; before the fit "
        f"{run['rss_before_fit'] / GIB:.2f} GiB)",
        f"{run['passes']} passes over the data; every image went through {run['passes']} forward passes "
        f"({run['passes_through_convs']} of them through all 13 conv layers to the dense layers)",
        f"time: whole fit {run['seconds']:.1f} s ({run['seconds'] / run['passes']:.1f} s per pass), "
        f"{images / run['seconds']:.3f} images/s",
        f"float64 state: weights {run['weights_bytes'] / GIB:.2f} GiB + patterns {run['patterns_bytes'] / GIB:.2f} GiB "
        f"+ sums of the largest pass {run['largest_pass_bytes'] / GIB:.2f} GiB = {floor / GIB:.2f} GiB; "
        f"peak above that: {(run['peak'] - floor) / GIB:+.2f} GiB",
    ])


def test_fit_memory_does_not_grow_with_samples(capsys):
    table = cnn_table()
    with capsys.disabled():
        print("\n" + table)


def test_vgg16_fit_memory(capsys):
    table = vgg_table()
    with capsys.disabled():
        print("\n" + table)


def test_vgg16_fit_memory_in_passes(capsys):
    table = vgg_passes_table()
    with capsys.disabled():
        print("\n" + table)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        print(json.dumps(child(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))))
    else:
        print(cnn_table())
        print(vgg_table())
        print(vgg_passes_table())
