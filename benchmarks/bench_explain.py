"""Explaining a batch of 64 on ``bench_cnn``: refpattern (numba and numpy backends) vs PyTorch float64.

The torch anchors compute the same numbers in the same run (checked before timing):

- gradient: autograd of the target logit;
- LRP-ε: the usual "gradient trick" per kernel layer, ``R_in = x ⊙ ∂/∂x (z · stop_grad(R/(z + ε sgn z)))``;
- PatternAttribution: autograd through a copy of the net whose kernels carry ``w ⊙ a₊`` and whose
  ReLU gates are fixed to the forward pass, started from ``y_t``.

Run: ``python -m pytest benchmarks/bench_explain.py -s`` (prints the ratios); torch is optional.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from networks import bench_cnn, bench_inputs, best_time

import refpattern as rp

BATCH = 64
EPSILON = 1e-3


def best_of(function, repeats=5):
    """Minimum wall time of ``repeats`` calls (after one warm-up call)."""
    function()
    return best_time(function, repeats)


def _torch_modules(net, torch, weights=None):
    """``(kind, module)`` pairs mirroring ``net``; ``weights`` optionally replaces kernel weights."""
    modules = []
    k = 0
    for layer in net.logit_layers:
        if isinstance(layer, rp.Conv2D):
            symmetric = layer.padding != "same" and all(before == after for before, after in layer.padding)
            if not symmetric:  # torch.nn.Conv2d pads symmetrically: (ph, pw)
                raise ValueError(f"the torch mirror needs symmetric explicit padding, got {layer!r}")
            (top, _), (left, _) = layer.padding
            m = torch.nn.Conv2d(layer.weight.shape[1], layer.weight.shape[0], layer.kernel_size,
                                stride=layer.stride, padding=(top, left)).double()
        elif isinstance(layer, rp.Dense):
            m = torch.nn.Linear(layer.weight.shape[1], layer.weight.shape[0]).double()
        elif isinstance(layer, rp.ReLU):
            modules.append(("relu", None))
            continue
        elif isinstance(layer, rp.MaxPool2D):
            modules.append(("pool", torch.nn.MaxPool2d(layer.size, layer.stride)))
            continue
        else:
            modules.append(("flatten", torch.nn.Flatten()))
            continue
        with torch.no_grad():
            w = layer.weight if weights is None else weights[k]
            m.weight.copy_(torch.from_numpy(np.array(w)))
            m.bias.copy_(torch.from_numpy(np.array(layer.bias)))
        modules.append(("kernel", m))
        k += 1
    return modules


def torch_gradient(modules, x, targets, torch):
    xt = torch.from_numpy(x).requires_grad_(True)
    a = xt
    for kind, m in modules:
        a = torch.relu(a) if kind == "relu" else m(a)
    a.gather(1, targets[:, None]).sum().backward()
    return xt.grad.numpy()


def torch_lrp_epsilon(modules, x, targets, torch, epsilon):
    activations = [torch.from_numpy(x)]
    with torch.no_grad():
        for kind, m in modules:
            activations.append(torch.relu(activations[-1]) if kind == "relu" else m(activations[-1]))
    logits = activations[-1]
    R = torch.zeros_like(logits)
    R[torch.arange(len(targets)), targets] = logits[torch.arange(len(targets)), targets]
    for index in range(len(modules) - 1, -1, -1):
        kind, m = modules[index]
        a = activations[index]
        if kind == "relu":
            continue
        if kind == "flatten":
            R = R.reshape(a.shape)
            continue
        a = a.detach().requires_grad_(True)
        z = m(a)
        if kind == "pool":
            (grad,) = torch.autograd.grad(z, a, R)
            R = grad
            continue
        s = (R / (z + epsilon * torch.where(z >= 0, 1.0, -1.0).double())).detach()
        (c,) = torch.autograd.grad(z, a, s)
        R = a * c
    return R.detach().numpy()


def torch_pattern_attribution(modules, pa_modules, x, targets, torch):
    """Gradient pass through ``pa_modules`` (weights w ⊙ a₊) with ReLU gates and pool winners of the forward pass."""
    with torch.no_grad():
        activations = [torch.from_numpy(x)]
        for kind, m in modules:
            activations.append(torch.relu(activations[-1]) if kind == "relu" else m(activations[-1]))
    logits = activations[-1]
    rows = torch.arange(len(targets))
    R = torch.zeros_like(logits)
    R[rows, targets] = logits[rows, targets]
    for index in range(len(modules) - 1, -1, -1):
        kind, m = pa_modules[index]
        a = activations[index]
        if kind == "relu":
            R = R * (a > 0)
        elif kind == "flatten":
            R = R.reshape(a.shape)
        else:
            a = a.detach().requires_grad_(True)
            if kind == "pool":
                z = modules[index][1](a)
            elif isinstance(m, torch.nn.Linear):
                z = torch.nn.functional.linear(a, m.weight)
            else:
                z = torch.nn.functional.conv2d(a, m.weight, stride=m.stride, padding=m.padding)
            (R,) = torch.autograd.grad(z, a, R)
    return R.numpy()


@pytest.fixture(scope="module")
def setup():
    from refpattern.patterns import fit_patterns

    net = bench_cnn()
    x = bench_inputs(BATCH)
    patterns = fit_patterns(net, bench_inputs(512, seed=2), estimator="a+-", progress=False)
    return net, x, patterns


def test_explain_ratios_against_torch(setup):
    net, x, patterns = setup
    torch = pytest.importorskip("torch", reason="torch not installed: no PyTorch anchor")
    torch.set_num_threads(2)
    targets = np.argmax(net.logits(x), axis=1)
    targets_t = torch.from_numpy(targets)
    modules = _torch_modules(net, torch)
    pa_weights = [layer.weight * patterns[k].a_plus for k, layer in enumerate(net.kernel_layers)]
    pa_modules = _torch_modules(net, torch, pa_weights)
    cases = {
        "gradient": ({}, lambda: torch_gradient(modules, x, targets_t, torch)),
        "lrp.epsilon": ({"epsilon": EPSILON}, lambda: torch_lrp_epsilon(modules, x, targets_t, torch, EPSILON)),
        "pattern.attribution": ({"patterns": patterns},
                                lambda: torch_pattern_attribution(modules, pa_modules, x, targets_t, torch)),
    }
    print(f"\nbench_cnn, batch {BATCH}, float64, torch threads {torch.get_num_threads()}")
    print(f"{'method':22s} {'numba':>9s} {'numpy':>9s} {'torch':>9s} {'torch/numba':>12s}")
    for method, (options, anchor) in cases.items():
        ours = rp.explain(net, x, method, backend="numba", **options)
        np.testing.assert_allclose(ours, anchor(), rtol=1e-9, atol=1e-12 * np.abs(ours).max())
        t_numba = best_of(partial(rp.explain, net, x, method, backend="numba", **options))
        t_numpy = best_of(partial(rp.explain, net, x, method, backend="numpy", **options), repeats=2)
        t_torch = best_of(anchor)
        print(f"{method:22s} {t_numba * 1e3:7.1f}ms {t_numpy * 1e3:7.1f}ms {t_torch * 1e3:7.1f}ms "
              f"{t_torch / t_numba:11.2f}x")


@pytest.mark.parametrize("method", ["gradient", "lrp.epsilon", "pattern.attribution"])
def test_explain_numba(benchmark, setup, method):
    net, x, patterns = setup
    options = {"patterns": patterns} if method.startswith("pattern") else {}
    benchmark(rp.explain, net, x, method, backend="numba", **options)
