"""Speed against the machine itself, in one run: the DGEMM rate, the fit's and every explain
method's fraction of it, batch-1 latency against PyTorch float64, and throughput curves.

Everything is measured in this process (the curves' fits in fresh subprocesses, for their peak
RSS) and compared with anchors timed in the same run, in interleaved rounds, taking the minimum of
each figure over the rounds: the machines this runs on are shared, and single runs move by ±30 %.
The load average is printed with every table.

- **DGEMM rate**: ``scipy.linalg.blas.dgemm`` of two square ``DGEMM_SIZE``² float64 matrices
  (``2·n³`` FLOP), BLAS threading as it does by itself (all cores).
- **The fit's fraction**: ``fit_patterns(net, X, "a+-")`` on ``bench_cnn``, ``FIT_SAMPLES`` samples
  in batches of ``FIT_BATCH``; its FLOP are those of its products, per kernel layer with ``M``
  observations, ``D`` inputs and ``O`` neurons ``2·M·D·O`` for ``Ỹ = P̃Wᵀ`` (also the fit's
  forward pass) and ``2·M·D·3O`` for ``P̃ᵀ·[Ỹ⊙(1 − G) | Ỹ⊙G | G]``: 8 × the network's multiply-adds per
  sample (204 MFLOP for ``bench_cnn``).  Fraction = FLOP / time / DGEMM rate (target ≥ 0.75).
- **Each explain method's fraction**: ``explain(net, x, method)`` on a batch of ``BATCH``; FLOP of
  the forward pass and of the backward pass to the input, 4 × the multiply-adds per sample (102
  MFLOP; the methods measured here run one product per kernel layer each way).  Target ≥ 0.70.
- **Batch-1 latency** of every method (``refpattern.method_names()``) and, where the same numbers
  can be computed with PyTorch float64 (``bench_explain.py``'s anchors, checked to agree first), of
  torch; and the per-call overhead: the same calls on ``bench_cnn_tiny`` (the same 14 layers with
  a handful of weights, so that the arithmetic is negligible), split into the input checks, the
  forward pass (its magnitude checks included), the target and start signal, and the backward pass.
- **Curves**: explain samples/s against the batch size (1, 8, 64, 256); fit samples/s and peak RSS
  against the number of samples (1k … 8k; ``--long`` adds 16k … 64k) and against the width of
  ``bench_cnn`` (channels and dense units × 0.5, 1, 2), each fit in a fresh subprocess with its
  data drawn batch by batch (never all in memory).

Run from the repository root: ``python benchmarks/bench_peak.py`` (about 4 minutes; ``--quick``
for one round and shorter curves), with torch where it is installed (e.g. the peers environment).
``python -m pytest benchmarks/bench_peak.py -s`` prints the same report.  Nothing here asserts a
time; only that refpattern and torch agree before they are timed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from bench_patterns import blas_floor, floor_operands, one_batch_activations
from networks import bench_cnn, bench_inputs, best_time

import refpattern as rp
from refpattern.kernels import workers

BENCHMARKS = Path(__file__).resolve().parent
DGEMM_SIZE = 2048
BATCH = 64
FIT_SAMPLES, FIT_BATCH = 2048, 256
#: The methods whose fraction of the DGEMM rate is a target (one product per kernel layer each way).
FRACTION_METHODS = ("gradient", "lrp.epsilon", "pattern.attribution", "pattern.net")
CURVE_BATCHES = (1, 8, 64, 256)
CURVE_SAMPLES, CURVE_SAMPLES_LONG = (1024, 2048, 4096, 8192), (16384, 32768, 65536)
CURVE_WIDTHS = (0.5, 1.0, 2.0)
#: Options every method needs on bench_cnn's inputs (standard normal): z^B's bounds.
BOUNDS = {"low": -5.0, "high": 5.0}


def load_average() -> str:
    try:
        return "/".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:  # pragma: no cover
        return "n/a"


# --------------------------------------------------------------------------------------
# FLOP counts
# --------------------------------------------------------------------------------------


def multiply_adds(net) -> list:
    """Per kernel layer, ``(name, M, D, O)`` per sample: observations, inputs and neurons
    (``M·D·O`` multiply-adds in its forward product)."""
    rows = []
    shapes = net.output_shapes(net.input_shape)
    for index in net.kernel_indices:
        layer = net.layers[index]
        o = layer.weight.shape[0]
        d = int(np.prod(layer.weight.shape[1:]))
        m = int(np.prod(shapes[index + 1][1:])) if isinstance(layer, rp.Conv2D) else 1
        rows.append((repr(layer), m, d, o))
    return rows


def fit_flop_per_sample(net) -> float:
    """``2·M·D·O`` (``Ỹ = P̃Wᵀ``) + ``2·M·D·3O`` (``P̃ᵀ·[Ỹ⊙(1 − G) | Ỹ⊙G | G]``) summed over the kernel layers."""
    return float(sum(8 * m * d * o for _, m, d, o in multiply_adds(net)))


def explain_flop_per_sample(net) -> float:
    """The forward products and the products of the backward pass to the input: ``2·2·M·D·O`` per layer."""
    return float(sum(4 * m * d * o for _, m, d, o in multiply_adds(net)))


# --------------------------------------------------------------------------------------
# networks and options
# --------------------------------------------------------------------------------------


def bench_cnn_width(width: float, seed: int = 0) -> rp.Sequential:
    """``bench_cnn`` with its channels (32, 32, 64, 64) and dense units (256) scaled by ``width``."""
    if width == 1.0:
        return bench_cnn(seed)
    rng = np.random.default_rng(seed)
    a, b, dense = max(1, round(32 * width)), max(1, round(64 * width)), max(1, round(256 * width))
    return rp.Sequential([
        rp.Conv2D.he(3, a, 3, rng, padding=1), rp.ReLU(),
        rp.Conv2D.he(a, a, 3, rng, padding=1), rp.ReLU(), rp.MaxPool2D(2),
        rp.Conv2D.he(a, b, 3, rng, padding=1), rp.ReLU(),
        rp.Conv2D.he(b, b, 3, rng, padding=1), rp.ReLU(), rp.MaxPool2D(2),
        rp.Flatten(), rp.Dense.he(b * 64, dense, rng), rp.ReLU(), rp.Dense.he(dense, 10, rng),
    ], input_shape=(3, 32, 32))


def bench_cnn_tiny(seed: int = 0) -> rp.Sequential:
    """``bench_cnn``'s 14 layers with one or two channels on a 1×8×8 input: a call's overhead alone."""
    rng = np.random.default_rng(seed)
    return rp.Sequential([
        rp.Conv2D.he(1, 2, 3, rng, padding=1), rp.ReLU(),
        rp.Conv2D.he(2, 2, 3, rng, padding=1), rp.ReLU(), rp.MaxPool2D(2),
        rp.Conv2D.he(2, 2, 3, rng, padding=1), rp.ReLU(),
        rp.Conv2D.he(2, 2, 3, rng, padding=1), rp.ReLU(), rp.MaxPool2D(2),
        rp.Flatten(), rp.Dense.he(8, 4, rng), rp.ReLU(), rp.Dense.he(4, 3, rng),
    ], input_shape=(1, 8, 8))


def method_options(method: str, patterns) -> dict:
    """What ``method`` needs besides the defaults: patterns, or z^B's input bounds."""
    if method.startswith("pattern."):
        return {"patterns": patterns}
    if method in ("lrp.zb", "zennit.epsilon_gamma_box"):
        return dict(BOUNDS)
    return {}


# --------------------------------------------------------------------------------------
# torch anchors (bench_explain.py's, checked against refpattern before they are timed)
# --------------------------------------------------------------------------------------


def torch_anchors(net, patterns, x, torch):
    """``{method: function(x) -> explanation}`` computing refpattern's numbers with torch float64."""
    from bench_explain import _torch_modules, torch_gradient, torch_lrp_epsilon, torch_pattern_attribution

    modules = _torch_modules(net, torch)
    attribution = _torch_modules(net, torch, [layer.weight * patterns[k].a_plus
                                              for k, layer in enumerate(net.kernel_layers)])
    signal = _torch_modules(net, torch, [patterns[k].a_plus for k in range(len(net.kernel_layers))])

    def targets_of(x):
        with torch.no_grad():
            a = torch.from_numpy(x)
            for kind, module in modules:
                a = torch.relu(a) if kind == "relu" else module(a)
        return a.argmax(dim=1)

    return {
        "gradient": lambda x: torch_gradient(modules, x, targets_of(x), torch),
        "lrp.epsilon": lambda x: torch_lrp_epsilon(modules, x, targets_of(x), torch, 1e-6),
        "pattern.attribution": lambda x: torch_pattern_attribution(modules, attribution, x, targets_of(x), torch),
        "pattern.net": lambda x: torch_pattern_attribution(modules, signal, x, targets_of(x), torch),
    }


def explain_floor_operands(net, x) -> list:
    """Per kernel layer, for the batch ``x``, operands shaped like the two products of an explanation:
    the forward ``P·Wᵀ`` ((B·M, D)·(D, O)) and the backward to the input, either ``U·W`` ((B·M, O)·(O, D);
    col2im, which adds the patches back into the image, is not a product) or, from
    ``ROWS_BACKWARD_MIN_CHANNELS`` input channels on, as the refpattern kernel does, the forward
    convolution of the upstream signal with the flipped kernel ((B·M_in, O·kh·kw)·(O·kh·kw, C)).
    Only the shapes matter for the time; the entries are standard normal."""
    from refpattern.kernels.numba_cpu import ROWS_BACKWARD_MIN_CHANNELS

    rng = np.random.default_rng(0)
    batch = len(x)
    operands = []
    for _, m, d, o in multiply_adds(net):
        operands.append((rng.normal(size=(batch * m, d)), rng.normal(size=(d, o))))
    for index, (_, m, d, o) in zip(net.kernel_indices, multiply_adds(net)):
        layer = net.layers[index]
        channels = layer.weight.shape[1]
        if isinstance(layer, rp.Conv2D) and channels >= ROWS_BACKWARD_MIN_CHANNELS:
            m_in = int(np.prod(net.output_shapes(net.input_shape)[index][1:]))
            k = o * d // channels
            operands.append((rng.normal(size=(batch * m_in, k)), rng.normal(size=(k, channels))))
        else:
            operands.append((rng.normal(size=(batch * m, o)), rng.normal(size=(o, d))))
    return operands


def explain_floor(operands) -> None:
    """``numpy.matmul`` of every operand pair (the forward and the backward products of every kernel layer)."""
    for left, right in operands:
        np.matmul(left, right)


def import_torch(threads: int):
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    return torch


# --------------------------------------------------------------------------------------
# the measurements
# --------------------------------------------------------------------------------------


class Peak:
    """The anchors and the measured work, timed in interleaved rounds (minimum per figure)."""

    def __init__(self, rounds: int, fit_samples: int = FIT_SAMPLES):
        self.rounds = rounds
        self.net = bench_cnn()
        self.x = bench_inputs(BATCH)
        self.fit_data = bench_inputs(fit_samples, seed=2)
        self.patterns = rp.fit_patterns(self.net, self.fit_data[:512], "a+-", progress=False)
        rng = np.random.default_rng(0)
        self.a = np.asfortranarray(rng.normal(size=(DGEMM_SIZE, DGEMM_SIZE)))
        self.b = np.asfortranarray(rng.normal(size=(DGEMM_SIZE, DGEMM_SIZE)))
        self.times = {}
        self.loads = []
        self.operands = None

    def record(self, name: str, seconds: float) -> None:
        self.times[name] = min(seconds, self.times.get(name, float("inf")))

    def dgemm(self) -> None:
        from scipy.linalg.blas import dgemm

        self.record("dgemm", best_time(lambda: dgemm(1.0, self.a, self.b), 3))

    def dgemm_rate(self) -> float:
        return 2.0 * DGEMM_SIZE ** 3 / self.times["dgemm"]

    def products_alone(self) -> None:
        """The ceiling of any design whose products are BLAS calls: the same FLOP as the fit and as an
        explanation, done by ``numpy.matmul`` (BLAS threads as by default) on operands prepared outside
        the timer, with nothing else (no im2col, ReLU, pooling, checks, allocation of results aside)."""
        if self.operands is None:
            self.operands = (floor_operands(self.net, one_batch_activations(self.net, self.fit_data[:FIT_BATCH])),
                             explain_floor_operands(self.net, self.x))
        fit_operands, explain_operands = self.operands
        batches = len(self.fit_data) // FIT_BATCH
        self.record("fit products alone", best_time(lambda: blas_floor(fit_operands, batches), 1))
        self.record("explain products alone", best_time(lambda: explain_floor(explain_operands), 5))

    def run(self) -> None:
        net, x = self.net, self.x
        for method in FRACTION_METHODS:  # warm-up: the JIT, the caches
            rp.explain(net, x, method, **method_options(method, self.patterns))
        rp.fit_patterns(net, self.fit_data[:FIT_BATCH], "a+-", batch_size=FIT_BATCH, progress=False)
        self.dgemm()
        for _ in range(self.rounds):
            self.loads.append(load_average())
            self.dgemm()
            self.record("fit", best_time(lambda: rp.fit_patterns(net, self.fit_data, "a+-", batch_size=FIT_BATCH,
                                                                 progress=False), 1))
            self.dgemm()
            for method in FRACTION_METHODS:
                options = method_options(method, self.patterns)
                self.record(method, best_time(lambda m=method, o=options: rp.explain(net, x, m, **o), 5))
            self.products_alone()
        self.loads.append(load_average())

    def fraction_table(self) -> str:
        rate = self.dgemm_rate()
        fit_flop = fit_flop_per_sample(self.net) * len(self.fit_data)
        explain_flop = explain_flop_per_sample(self.net) * BATCH
        layers = "; ".join(f"{name} M={m} D={d} O={o}" for name, m, d, o in multiply_adds(self.net))
        lines = [
            f"bench_cnn, float64, {workers.worker_count()} worker thread(s); best of {self.rounds} "
            f"interleaved round(s); load average (1/5/15 min) per round: {', '.join(self.loads)}",
            f"kernel layers per sample: {layers}",
            f"DGEMM {DGEMM_SIZE}² (scipy dgemm, BLAS threads as by default): {rate / 1e9:.1f} GFLOP/s",
            "",
            f"{'work':34}{'seconds':>10}{'GFLOP':>9}{'GFLOP/s':>9}{'of DGEMM':>10}{'target':>8}",
            f"{f'fit S_a± {len(self.fit_data)} samples':34}{self.times['fit']:>10.3f}{fit_flop / 1e9:>9.1f}"
            f"{fit_flop / self.times['fit'] / 1e9:>9.1f}{fit_flop / self.times['fit'] / rate:>10.2f}{'0.75':>8}",
        ]
        for method in FRACTION_METHODS:
            seconds = self.times[method]
            lines.append(f"{f'explain {method}, batch {BATCH}':34}{seconds:>10.4f}{explain_flop / 1e9:>9.2f}"
                         f"{explain_flop / seconds / 1e9:>9.1f}{explain_flop / seconds / rate:>10.2f}{'0.70':>8}")
        lines.append("the same FLOP as BLAS products alone (numpy.matmul, operands prepared outside the timer):")
        for name, flop in (("fit products alone", fit_flop), ("explain products alone", explain_flop)):
            seconds = self.times[name]
            lines.append(f"{name:34}{seconds:>10.4f}{flop / 1e9:>9.2f}{flop / seconds / 1e9:>9.1f}"
                         f"{flop / seconds / rate:>10.2f}")
        return "\n".join(lines)


def latency_table(rounds: int, torch_threads: int, patterns, repeats: int = 20) -> str:
    """Batch-1 latency of every method (and torch's where an anchor exists), and the per-call overhead."""
    net, tiny = bench_cnn(), bench_cnn_tiny()
    x1 = bench_inputs(1)
    tiny_x = bench_inputs(1, shape=(1, 8, 8))
    tiny_patterns = rp.fit_patterns(tiny, bench_inputs(64, shape=(1, 8, 8)), "a+-", progress=False)
    torch = import_torch(torch_threads)
    anchors = {} if torch is None else torch_anchors(net, patterns, x1, torch)
    for method, anchor in anchors.items():  # the same numbers, before anything is timed
        ours = rp.explain(net, x1, method, **method_options(method, patterns))
        np.testing.assert_allclose(ours, anchor(x1), rtol=1e-9, atol=1e-12 * np.abs(ours).max())
    times = {}
    loads = []
    methods = rp.method_names()
    for _ in range(rounds):
        loads.append(load_average())
        for method in methods:
            options = method_options(method, patterns)
            tiny_options = method_options(method, tiny_patterns)
            rp.explain(net, x1, method, **options)
            rp.explain(tiny, tiny_x, method, **tiny_options)
            calls = 2 if method in ("integrated_gradients", "smoothgrad") else repeats
            for key, function in ((method, lambda m=method, o=options: rp.explain(net, x1, m, **o)),
                                  (("tiny", method),
                                   lambda m=method, o=tiny_options: rp.explain(tiny, tiny_x, m, **o))):
                times[key] = min(times.get(key, float("inf")), best_time(function, calls))
            if method in anchors:
                anchors[method](x1)
                times[("torch", method)] = min(times.get(("torch", method), float("inf")),
                                               best_time(lambda a=anchors[method]: a(x1), repeats))
    peer = f"torch {torch.__version__}, {torch_threads} threads" if torch else "torch not installed"
    lines = [f"batch-1 latency, bench_cnn, float64 ({peer}); best of {rounds} round(s); load average per round: "
             f"{', '.join(loads)}",
             f"{'method':34}{'refpattern':>12}{'torch':>10}{'torch/ours':>11}{'overhead':>10}"]
    for method in methods:
        ours = times[method]
        theirs = times.get(("torch", method))
        lines.append(f"{method:34}{ours * 1e3:>10.2f}ms" + (f"{theirs * 1e3:>8.2f}ms{theirs / ours:>10.2f}x" if theirs
                                                             else f"{'—':>10}{'':>11}")
                     + f"{times[('tiny', method)] * 1e3:>8.2f}ms")
    lines.append(overhead_breakdown(tiny, tiny_x, repeats))
    return "\n".join(lines)


def overhead_breakdown(tiny, x, repeats: int) -> str:
    """Where a gradient call's fixed cost goes (on bench_cnn_tiny: no arithmetic to speak of)."""
    from refpattern.methods.backprop import modified_backward, start_signal
    from refpattern.methods.explain import FiniteComposite
    from refpattern.methods.registry import METHODS
    from refpattern.methods.targets import resolve_targets

    composite = FiniteComposite(METHODS["gradient"][0]({}, tiny), "gradient")
    activations = tiny.trace(x, check=False)
    parts = {
        "input checks (check_input)": lambda: tiny.check_input(x),
        "forward pass with magnitude checks (trace)": lambda: tiny.trace(x, check=False),
        "target and start signal": lambda: start_signal(activations[-1], resolve_targets(activations[-1], None),
                                                        "one"),
        "backward pass, every step checked finite": lambda: modified_backward(
            tiny, activations, start_signal(activations[-1], resolve_targets(activations[-1], None), "one"),
            composite),
        "explain(tiny, x, 'gradient') in all": lambda: rp.explain(tiny, x, "gradient"),
    }
    lines = ["per-call overhead of gradient (bench_cnn_tiny: 14 layers, negligible arithmetic):"]
    for name, function in parts.items():
        function()
        lines.append(f"  {name:46}{best_time(function, repeats * 5) * 1e6:>9.1f} µs")
    return "\n".join(lines)


def explain_curve(rounds: int, patterns) -> str:
    net = bench_cnn()
    lines = [f"explain samples/s against the batch size (bench_cnn; load average {load_average()})",
             f"{'method':22}" + "".join(f"{f'batch {b}':>12}" for b in CURVE_BATCHES)]
    for method in ("gradient", "pattern.attribution"):
        options = method_options(method, patterns)
        row = f"{method:22}"
        for batch in CURVE_BATCHES:
            x = bench_inputs(batch)
            rp.explain(net, x, method, **options)
            seconds = min(best_time(lambda x=x, m=method, o=options: rp.explain(net, x, m, **o), max(2, 64 // batch))
                          for _ in range(rounds))
            row += f"{batch / seconds:>12.0f}"
        lines.append(row)
    return "\n".join(lines)


# --------------------------------------------------------------------------------------
# fit curves: one fresh subprocess per fit (peak RSS)
# --------------------------------------------------------------------------------------


def _status_bytes(field: str) -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def reset_peak_rss() -> int:
    """Reset this process's peak RSS to its current RSS where Linux allows it (``/proc/self/clear_refs``),
    and return the current RSS: ``ru_maxrss`` alone would keep the parent's RSS at the fork that started
    this process.  Elsewhere: ``ru_maxrss`` as it is."""
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return _status_bytes("VmRSS") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def peak_rss() -> int:
    """The peak RSS since :func:`reset_peak_rss` (``VmHWM``; ``ru_maxrss`` where there is none)."""
    return _status_bytes("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def fit_child(samples: int, width: float) -> dict:
    """One S_a± fit of ``bench_cnn_width(width)`` on ``samples`` streamed samples, in this fresh process;
    the DGEMM rate is measured after the fit (OpenBLAS's own buffers would count in the peak RSS)."""
    from scipy.linalg.blas import dgemm

    net = bench_cnn_width(width)
    rp.fit_patterns(net, bench_inputs(FIT_BATCH), "a+-", batch_size=FIT_BATCH, progress=False)  # JIT, caches

    def batches():
        draw = np.random.default_rng(1)
        for start in range(0, samples, FIT_BATCH):
            yield draw.normal(size=(min(FIT_BATCH, samples - start),) + net.input_shape)

    before = reset_peak_rss()
    load = load_average()
    start = time.perf_counter()
    rp.fit_patterns(net, batches(), "a+-", batch_size=FIT_BATCH, progress=False)
    seconds = time.perf_counter() - start
    peak = peak_rss()
    square = np.asfortranarray(np.random.default_rng(0).normal(size=(DGEMM_SIZE, DGEMM_SIZE)))
    dgemm_seconds = best_time(lambda: dgemm(1.0, square, square), 3)
    return {"samples": samples, "width": width, "seconds": seconds, "peak_rss": peak, "rss_before": before,
            "flop": fit_flop_per_sample(net) * samples, "dgemm_rate": 2.0 * DGEMM_SIZE ** 3 / dgemm_seconds,
            "load": load}


def run_fit_child(samples: int, width: float) -> dict:
    result = subprocess.run([sys.executable, str(Path(__file__).resolve()), "fit-child", str(samples), str(width)],
                            capture_output=True, text=True, check=True, cwd=BENCHMARKS.parent,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(
                                [str(BENCHMARKS.parent), str(BENCHMARKS), os.environ.get("PYTHONPATH", "")])})
    return json.loads(result.stdout.strip().splitlines()[-1])


def fit_curves(samples_list, widths) -> str:
    mib = 1024 ** 2
    lines = ["fit S_a± samples/s and peak RSS, each fit in a fresh process with its data drawn batch by batch",
             f"{'network':18}{'samples':>9}{'seconds':>9}{'samples/s':>11}{'GFLOP/s':>9}{'of DGEMM':>10}"
             f"{'peak RSS':>11}{'before':>10}  load (1/5/15 min)"]
    runs = [(samples, 1.0) for samples in samples_list] + [(FIT_SAMPLES, width) for width in widths if width != 1.0]
    for samples, width in runs:
        r = run_fit_child(samples, width)
        lines.append(f"{f'bench_cnn ×{width:g}':18}{samples:>9}{r['seconds']:>9.2f}{samples / r['seconds']:>11.0f}"
                     f"{r['flop'] / r['seconds'] / 1e9:>9.1f}{r['flop'] / r['seconds'] / r['dgemm_rate']:>10.2f}"
                     f"{r['peak_rss'] / mib:>8.0f}MiB{r['rss_before'] / mib:>7.0f}MiB  {r['load']}")
    return "\n".join(lines)


def report(quick: bool = False, long: bool = False, torch_threads: int = 2) -> str:
    rounds = 1 if quick else 3
    peak = Peak(rounds, fit_samples=1024 if quick else FIT_SAMPLES)
    peak.run()
    sections = [peak.fraction_table(), latency_table(rounds, torch_threads, peak.patterns, repeats=10 if quick else 20),
                explain_curve(rounds, peak.patterns)]
    samples = CURVE_SAMPLES[:2] if quick else CURVE_SAMPLES + (CURVE_SAMPLES_LONG if long else ())
    sections.append(fit_curves(samples, () if quick else CURVE_WIDTHS))
    return "\n\n".join(sections)


def test_peak_report(capsys):
    text = report(quick=True)
    with capsys.disabled():
        print("\n" + text)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one round, shorter curves (about a minute)")
    parser.add_argument("--long", action="store_true", help="fit curve up to 65536 samples (minutes more)")
    parser.add_argument("--torch-threads", type=int, default=2)
    parser.add_argument("--only", choices=("fractions", "latency", "curves"), help="one section only")
    arguments = parser.parse_args(argv)
    if arguments.only == "fractions":
        peak = Peak(1 if arguments.quick else 3)
        peak.run()
        print(peak.fraction_table())
    elif arguments.only == "latency":
        patterns = rp.fit_patterns(bench_cnn(), bench_inputs(512, seed=2), "a+-", progress=False)
        print(latency_table(1 if arguments.quick else 3, arguments.torch_threads, patterns))
    elif arguments.only == "curves":
        patterns = rp.fit_patterns(bench_cnn(), bench_inputs(512, seed=2), "a+-", progress=False)
        print(explain_curve(1, patterns))
        print(fit_curves(CURVE_SAMPLES + (CURVE_SAMPLES_LONG if arguments.long else ()), CURVE_WIDTHS))
    else:
        print(report(arguments.quick, arguments.long, arguments.torch_threads))
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "fit-child":
        print(json.dumps(fit_child(int(sys.argv[2]), float(sys.argv[3]))))
    else:
        sys.exit(main())
