"""Scaling of a pattern fit on Dask (``refpattern.patterns.distributed``): measured here, estimated beyond.

1. ``bench_cnn`` (``networks.py``), S_a±, 16 384 samples in 16 chunks of 1024 (batches of 256), numba:
   one process (no Dask; a child process with the workers' thread settings, one BLAS thread) vs a
   ``distributed.LocalCluster`` of 1 and of 2 worker processes with one thread each, in one run, in
   :data:`ROUNDS` rounds of 8 chunks that every configuration fits in turn (so that a change of the
   shared machine's load hits all alike; cluster start-up and the workers' first JIT load excluded:
   a small fit warms each cluster).
   Printed: seconds, speed-up and efficiency, the bytes one chunk's result holds (what a merge can
   receive from another worker), the bytes the workers actually sent
   (``transfer_outgoing_bytes_total``) per merge, each worker's peak RSS, the load average before
   and after, and the largest relative difference of the patterns from the one-process fit (in the
   regimes holding ≥ 10 % of the observations, and in all).
2. ``vgg16_shaped()`` (224×224): the statistics of a chunk of a few images in this process (what a
   worker's chunk task runs) — seconds per image —, the bytes of a chunk's result (the sums, no
   weights), and the merge rate (bytes of sums merged per second) measured on the VGG-16 sums of
   every layer but the 25088→4096 one, merged with themselves (the largest layer would need 3 ×
   2.3 GiB more here; the merge is linear in the bytes).

The data are drawn chunk by chunk from seeded generators (``numpy.random.default_rng([1, i])``), on
the workers for the Dask runs, so no run reads files and all runs see the same samples.  Nothing is
asserted about time; the benchmark checks only that the fits agree (≤ 1e-12 relative).

Run: ``python -m pytest benchmarks/bench_distributed.py -s`` (~4 min here), or
``python benchmarks/bench_distributed.py`` (the repository root on ``PYTHONPATH``); needs the extra
``dask``.  The estimate for VGG-16 on 50 000 ImageNet images built from these figures is in
``benchmarks/README.md``.
"""

from __future__ import annotations

import os
import pickle
import resource
import sys
import time
from pathlib import Path

import numpy as np

BENCHMARKS = Path(__file__).resolve().parent
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))

from networks import bench_cnn, bench_inputs, vgg16_shaped  # noqa: E402

import refpattern as rp  # noqa: E402
from refpattern.patterns.distributed import ChunkStatistics, merge_chunk_statistics  # noqa: E402

CNN_SAMPLES, CNN_CHUNK, CNN_BATCH = 16384, 1024, 256
VGG_IMAGES, VGG_BATCH = 2, 2
MIB, GIB = 2 ** 20, 2 ** 30


def cnn_chunk(index: int, samples: int) -> np.ndarray:
    """Chunk ``index`` of the benchmark data: ``samples`` standard-normal 3×32×32 images."""
    return np.random.default_rng([1, index]).normal(size=(samples, 3, 32, 32))


def cnn_sizes(total=CNN_SAMPLES, chunk=CNN_CHUNK):
    return [min(chunk, total - start) for start in range(0, total, chunk)]


def cnn_batches(total=CNN_SAMPLES, chunk=CNN_CHUNK, batch=CNN_BATCH, first_chunk=0):
    """The same samples as :func:`cnn_dask_array`, in this process, batch by batch."""
    for index, size in enumerate(cnn_sizes(total, chunk), start=first_chunk):
        x = cnn_chunk(index, size)
        for start in range(0, size, batch):
            yield x[start:start + batch]


def cnn_dask_array(total=CNN_SAMPLES, chunk=CNN_CHUNK, first_chunk=0):
    """The benchmark data (chunks ``first_chunk``, … of :func:`cnn_chunk`) as a Dask array whose
    chunks are drawn where they are fitted."""
    import dask
    import dask.array as da

    draw = dask.delayed(cnn_chunk, pure=True)
    return da.concatenate([da.from_delayed(draw(index, size), (size, 3, 32, 32), np.float64)
                           for index, size in enumerate(cnn_sizes(total, chunk), start=first_chunk)])


def largest_relative_difference(got, want) -> tuple:
    """Largest difference of the patterns relative to each layer's largest entry: over the regimes
    holding at least 10 % of the observations, and over all (docs/conventions.md#dask-fits)."""
    balanced = everywhere = 0.0
    for g, w in zip(got, want):
        for name, count in (("a_plus", w.counts.n_plus), ("a_minus", w.counts.n_minus)):
            scale = max(float(np.max(np.abs(getattr(w, name)))), 1e-300)
            rows = np.abs(getattr(g, name) - getattr(w, name)).reshape(w.shape[0], -1).max(axis=1) / scale
            everywhere = max(everywhere, float(rows.max()))
            balanced = max(balanced, float(np.max(rows[count >= 0.1 * w.n_samples], initial=0.0)))
    return balanced, everywhere


def worker_peak_rss(dask_worker=None) -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def worker_sent_bytes(dask_worker) -> int:
    return int(dask_worker.transfer_outgoing_bytes_total)


#: The thread settings ``distributed``'s nanny gives every worker process (``distributed.nanny.pre-spawn-environ``).
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
#: The 16 384 samples are fitted in rounds of this many chunks, each round by every configuration in
#: turn (one process, 1 worker, 2 workers), so that a change of the machine's load hits all alike.
ROUNDS = 2


def one_process_fit(path: str, first_chunk: int, samples: int) -> float:
    """The one-process fit of ``samples`` benchmark samples from chunk ``first_chunk`` on (in a child
    started with :data:`ONE_THREAD`), its patterns saved at ``path``; returns its seconds."""
    net = bench_cnn()
    rp.fit_patterns(net, bench_inputs(64), batch_size=32)  # JIT (or Numba's cache) first
    start = time.perf_counter()
    patterns = rp.fit_patterns(net, cnn_batches(samples, first_chunk=first_chunk), batch_size=CNN_BATCH)
    seconds = time.perf_counter() - start
    patterns.save(path)
    return seconds


def measure_cnn() -> dict:
    import contextlib
    import subprocess
    import tempfile

    from distributed import Client, LocalCluster

    net = bench_cnn()
    names = ("one process", "1 worker(s)", "2 worker(s)")
    result = {name: {"seconds": 0.0, "sent": 0, "difference": (0.0, 0.0)} for name in names}
    result["load_before"] = os.getloadavg()
    samples = CNN_SAMPLES // ROUNDS
    env = dict(os.environ, **ONE_THREAD,
               PYTHONPATH=os.pathsep.join([str(BENCHMARKS.parent), os.environ.get("PYTHONPATH", "")]))
    with contextlib.ExitStack() as stack:
        clients = {}
        for workers in (1, 2):
            cluster = stack.enter_context(LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                                       dashboard_address=None, silence_logs=40))
            clients[f"{workers} worker(s)"] = stack.enter_context(Client(cluster, set_as_default=False))
        folder = stack.enter_context(tempfile.TemporaryDirectory())
        for client in clients.values():
            with client.as_current():
                rp.fit_patterns(net, cnn_dask_array(128, 64), batch_size=32)  # the workers load the kernels
        for number in range(ROUNDS):
            first_chunk = number * len(cnn_sizes(samples))
            path = os.path.join(folder, f"one_process_{number}.npz")
            child = subprocess.run([sys.executable, str(Path(__file__).resolve()), "one-process", path,
                                    str(first_chunk), str(samples)], env=env, capture_output=True, text=True,
                                   check=True, timeout=3600)
            result["one process"]["seconds"] += float(child.stdout.split()[-1])
            reference = rp.Patterns.load(path)
            for name, client in clients.items():
                with client.as_current():
                    sent_before = sum(client.run(worker_sent_bytes).values())
                    start = time.perf_counter()
                    patterns = rp.fit_patterns(net, cnn_dask_array(samples, first_chunk=first_chunk),
                                               batch_size=CNN_BATCH)
                    result[name]["seconds"] += time.perf_counter() - start
                    result[name]["sent"] += sum(client.run(worker_sent_bytes).values()) - sent_before
                    result[name]["worker_peak_rss"] = sorted(client.run(worker_peak_rss).values())
                difference = largest_relative_difference(patterns, reference)
                result[name]["difference"] = tuple(map(max, zip(result[name]["difference"], difference)))
    chunk_stats = rp.fit_statistics(net, cnn_chunk(0, CNN_CHUNK), batch_size=CNN_BATCH)
    one_result = ChunkStatistics.of(list(chunk_stats), CNN_CHUNK)
    result["result_bytes"] = len(pickle.dumps(one_result, protocol=5))
    result["weights_bytes"] = sum(layer.weight.nbytes + layer.bias.nbytes for layer in net.kernel_layers)
    result["merges"] = ROUNDS * (len(cnn_sizes(samples)) - 1)
    start = time.perf_counter()
    for _ in range(5):
        merge_chunk_statistics(net, one_result, one_result)
    result["merge_seconds"] = (time.perf_counter() - start) / 5
    result["load_after"] = os.getloadavg()
    return result


def measure_vgg() -> dict:
    net = vgg16_shaped()
    x = bench_inputs(VGG_IMAGES, shape=(3, 224, 224))
    load_before = os.getloadavg()
    start = time.perf_counter()
    stats = rp.fit_statistics(net, x, batch_size=VGG_BATCH)
    seconds = time.perf_counter() - start
    chunk = ChunkStatistics.of(list(stats), VGG_IMAGES)
    sent_arrays = ("shift", "n_plus", "sum_x", "products", "output_sums")
    layer_bytes = [sum(entry[name].nbytes for name in sent_arrays) for entry in chunk.layers]
    largest = int(np.argmax(layer_bytes))
    subset = ChunkStatistics([None if k == largest else entry for k, entry in enumerate(chunk.layers)], VGG_IMAGES)
    del stats
    start = time.perf_counter()
    merge_chunk_statistics(net, subset, subset)
    merge_seconds = time.perf_counter() - start
    start = time.perf_counter()
    pickled = len(pickle.dumps(subset, protocol=5))
    pickle_seconds = time.perf_counter() - start
    merged_bytes = sum(layer_bytes) - layer_bytes[largest]
    return {"images": VGG_IMAGES, "seconds": seconds, "seconds_per_image": seconds / VGG_IMAGES,
            "result_bytes": sum(layer_bytes), "largest_layer_bytes": layer_bytes[largest],
            "weights_bytes": sum(layer.weight.nbytes + layer.bias.nbytes for layer in net.kernel_layers),
            "merge_rate": merged_bytes / merge_seconds, "merged_bytes": merged_bytes,
            "pickle_rate": pickled / pickle_seconds, "load": (load_before, os.getloadavg())}


def report(cnn: dict, vgg: dict) -> str:
    one, w1, w2 = cnn["one process"]["seconds"], cnn["1 worker(s)"]["seconds"], cnn["2 worker(s)"]["seconds"]
    lines = [f"bench_cnn, S_a±, {CNN_SAMPLES} samples in {len(cnn_sizes())} chunks of {CNN_CHUNK} (fitted in "
             f"{ROUNDS} rounds of {CNN_SAMPLES // ROUNDS}, every configuration in turn), batches of {CNN_BATCH}, "
             f"numba; load average before {cnn['load_before'][0]:.1f}, after {cnn['load_after'][0]:.1f}",
             "| run | seconds | samples/s | speed-up vs 1 worker | vs one process | bytes sent by workers "
             "| worker peak RSS | patterns vs one process |", "|---|---|---|---|---|---|---|---|",
             f"| one process, one thread | {one:.1f} | {CNN_SAMPLES / one:.0f} | {w1 / one:.2f} | 1.00 | | | |"]
    for name in ("1 worker(s)", "2 worker(s)"):
        run = cnn[name]
        lines.append(f"| {name} | {run['seconds']:.1f} | {CNN_SAMPLES / run['seconds']:.0f} | "
                     f"{w1 / run['seconds']:.2f} | {one / run['seconds']:.2f} | {run['sent'] / MIB:.1f} MiB | "
                     f"{', '.join(f'{p / MIB:.0f}' for p in run['worker_peak_rss'])} MiB | "
                     f"{run['difference'][0]:.1e} ({run['difference'][1]:.1e} in all regimes) |")
    merges = cnn["merges"]
    lines += [f"efficiency of 2 workers: {w1 / w2 / 2:.2f} (speed-up {w1 / w2:.2f} over 1 worker)",
              f"one chunk's result: {cnn['result_bytes'] / MIB:.2f} MiB pickled (the weights, "
              f"{cnn['weights_bytes'] / MIB:.2f} MiB, are not sent); {merges} merges; bytes sent by the 2 workers "
              "per merge: "
              f"{cnn['2 worker(s)']['sent'] / merges / MIB:.2f} MiB; one merge {cnn['merge_seconds'] * 1e3:.0f} ms",
              "",
              f"vgg16_shaped 224×224, statistics of {vgg['images']} images (batch {VGG_BATCH}), numba: "
              f"{vgg['seconds']:.1f} s, {vgg['seconds_per_image']:.2f} s/image (load average "
              f"{vgg['load'][0][0]:.1f} → {vgg['load'][1][0]:.1f})",
              f"a chunk's result: {vgg['result_bytes'] / GIB:.2f} GiB of sums (largest layer "
              f"{vgg['largest_layer_bytes'] / GIB:.2f} GiB), weights {vgg['weights_bytes'] / GIB:.2f} GiB",
              f"merge rate {vgg['merge_rate'] / GIB:.2f} GiB of sums per second (on {vgg['merged_bytes'] / GIB:.2f} "
              f"GiB); pickling {vgg['pickle_rate'] / GIB:.2f} GiB/s"]
    return "\n".join(lines)


def test_distributed_scaling(capsys):
    import pytest

    pytest.importorskip("distributed")
    cnn = measure_cnn()
    vgg = measure_vgg()
    with capsys.disabled():
        print("\n" + report(cnn, vgg))
    for name in ("1 worker(s)", "2 worker(s)"):
        assert cnn[name]["difference"][0] <= 1e-12  # regimes of >= 10 % of the observations


if __name__ == "__main__":
    if sys.argv[1:2] == ["one-process"]:
        print(one_process_fit(sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
    else:
        cnn_figures = measure_cnn()
        print(report(cnn_figures, measure_vgg()))
