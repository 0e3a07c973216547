"""First-call JIT cost of the Numba kernels: a fresh process with an empty cache vs one that reuses it.

Every ``@njit`` kernel of refpattern is compiled with ``cache=True``.  Here two fresh Python
processes share one ``NUMBA_CACHE_DIR`` that starts empty (a temporary directory, so the
project's own ``__pycache__`` is not used):

1. the first process compiles every kernel it calls and writes the cache;
2. the second process loads them from that cache.

In each, on ``bench_cnn`` with 8 samples: the first ``fit_patterns(..., backend="numba")`` call
(conv and max-pool forward kernels + the fused statistics kernels), a second identical call (the
steady-state time, to subtract), then the first and second ``explain(..., "pattern.attribution")``
(the backward kernels).  ``import refpattern`` is timed as well.

Run: ``python -m pytest benchmarks/bench_jit.py -s``, or ``python benchmarks/bench_jit.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent
REPO_ROOT = BENCHMARKS.parent


def child() -> dict:
    """Runs in the fresh process: the timings of its first and second calls."""
    start = time.perf_counter()
    from networks import bench_cnn, bench_inputs

    import refpattern as rp

    result = {"import": time.perf_counter() - start}
    net, x = bench_cnn(), bench_inputs(8)
    for name in ("fit first", "fit second"):
        start = time.perf_counter()
        patterns = rp.fit_patterns(net, x, "a+-", backend="numba", progress=False)
        result[name] = time.perf_counter() - start
    for name in ("explain first", "explain second"):
        start = time.perf_counter()
        rp.explain(net, x, "pattern.attribution", patterns=patterns, backend="numba")
        result[name] = time.perf_counter() - start
    return result


def run_child(cache_dir: str) -> dict:
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir,
               PYTHONPATH=os.pathsep.join([str(REPO_ROOT), str(BENCHMARKS)]))
    command = [sys.executable, str(Path(__file__).resolve()), "child"]
    result = subprocess.run(command, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=1800)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def jit_table() -> str:
    with tempfile.TemporaryDirectory(prefix="refpattern-numba-cache-") as cache_dir:
        cold = run_child(cache_dir)
        files = sum(1 for _ in Path(cache_dir).rglob("*.nbc"))
        warm = run_child(cache_dir)
    lines = [f"Numba JIT, bench_cnn with 8 samples, NUMBA_CACHE_DIR = a fresh temporary directory "
             f"({files} compiled kernels cached by the first process)",
             f"{'':36}{'empty cache':>12}{'cache reused':>14}"]
    for name in ("import", "fit first", "fit second", "explain first", "explain second"):
        lines.append(f"{name + ' (s)':36}{cold[name]:>12.2f}{warm[name]:>14.2f}")
    for what in ("fit", "explain"):
        lines.append(f"{what}: first-call overhead {cold[what + ' first'] - cold[what + ' second']:.2f} s with an "
                     f"empty cache, {warm[what + ' first'] - warm[what + ' second']:.2f} s from the cache")
    return "\n".join(lines)


def test_jit_first_call_vs_cached(capsys):
    table = jit_table()
    with capsys.disabled():
        print("\n" + table)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        print(json.dumps(child()))
    else:
        print(jit_table())
