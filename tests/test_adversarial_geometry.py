"""Every method on adversarial geometries: odd and non-square images (7 × 13, 1 × N, N × 1), kernels 1 × k, 5 × 5
and as large as the image, strides 2/3 that do not divide the size, asymmetric, "same" (even kernels) and
oversized padding, max-pooling that overlaps (3/2), leaves gaps (2/3) or does not cover the image, exact ties
(integer-valued inputs), many channels on few pixels, single channels, stacked Dense layers, with and without
biases.

Without peers (the main suite): the numpy and numba backends agree on every method
(``docs/conventions.md#tolerances``, 1e-12), a sample explained alone is the sample explained in a batch, the LRP
rules equal their definitions written out on dense matrices (``tests/dense_reference.py``), PatternNet and
PatternAttribution equal the gated backward pass over dense pattern matrices (``docs/math.md#rule-patternnet``,
``docs/math.md#rule-patternattribution``), and S_a± (``docs/math.md#sapm-paper``) equals its formula evaluated
on the explicit patch matrix built with loops.

With peers (``-m peers``; torch, Zennit 0.4.6, Captum): logits and gradients against torch autograd, DeConvNet,
Guided Backprop and Integrated Gradients against Captum, the LRP rules against Zennit, on a torch twin built here
from the same arrays (asymmetric padding as ``nn.ZeroPad2d`` in front of the convolution). The conventions are
mirrored as in ``tests/test_peers_zennit_captum.py``; in addition, Zennit's ``Flat``, ``WSquare`` and ``ZBox``
read the zeros a ``ZeroPad2d`` adds as inputs that exist (refpattern's rules do not,
``docs/math.md#rule-w-square``), so those are compared only on networks whose padding is inside ``nn.Conv2d``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from dense_reference import (
    conv_matrix,
    dense_activations,
    dense_layers,
    explicit_padding,
    lrp_dense,
    rule_alpha_beta,
    rule_epsilon,
    rule_flat,
    rule_gamma,
    rule_w_square,
    rule_zb,
)

import refpattern as rp
from refpattern.methods import captum_quadrature

RTOL = 1e-12

# A geometry: input shape and layers.  ("conv", out, (kh, kw), (sh, sw), padding as Conv2D takes it),
# ("relu",), ("pool", size, stride), ("flatten",), ("dense", out).
GEOMETRIES = {
    "odd 7x13, 5x5 stride 2, overlapping pool 3/2": ((2, 7, 13), [
        ("conv", 3, (5, 5), (2, 2), 2), ("relu",), ("pool", (3, 3), (2, 2)), ("flatten",), ("dense", 4), ("relu",),
        ("dense", 3)]),
    "asymmetric padding, stride (2, 3), gapped pool 2/3": ((2, 9, 11), [
        ("conv", 3, (3, 2), (2, 3), ((0, 2), (1, 0))), ("relu",), ("pool", (2, 2), (3, 3)), ("flatten",),
        ("dense", 3)]),
    "same padding, even kernels, stride (2, 3)": ((2, 7, 6), [
        ("conv", 3, (4, 4), (1, 1), "same"), ("relu",), ("conv", 2, (2, 4), (2, 3), "same"), ("relu",), ("flatten",),
        ("dense", 3)]),
    "1xN image, 1x3 kernel, 1x2 pool": ((2, 1, 11), [
        ("conv", 3, (1, 3), (1, 1), ((0, 0), (1, 1))), ("relu",), ("pool", (1, 2), (1, 2)), ("flatten",),
        ("dense", 3)]),
    "Nx1 image, 3x1 kernel, stride 3": ((1, 10, 1), [
        ("conv", 4, (3, 1), (3, 1), ((1, 0), (0, 0))), ("relu",), ("flatten",), ("dense", 5), ("relu",),
        ("dense", 3)]),
    "kernel = image, then 1x1": ((2, 5, 7), [
        ("conv", 6, (5, 7), (1, 1), 0), ("relu",), ("conv", 3, (1, 1), (1, 1), 0), ("relu",), ("flatten",),
        ("dense", 3)]),
    "33 channels, padding larger than the kernel": ((33, 3, 4), [
        ("conv", 3, (2, 2), (1, 1), ((3, 2), (2, 3))), ("relu",), ("flatten",), ("dense", 3)]),
    "pool not covering the image, stride 3 kernel 2": ((2, 8, 10), [
        ("conv", 3, (2, 2), (3, 3), 0), ("relu",), ("pool", (2, 3), (2, 3)), ("flatten",), ("dense", 4),
        ("dense", 3)]),
    "pool first on ties, bottom padding out of reach": ((2, 7, 8), [
        ("pool", (3, 3), (2, 2)), ("conv", 3, (2, 2), (2, 2), ((0, 3), (1, 0))), ("relu",), ("pool", (2, 2), (1, 1)),
        ("flatten",), ("dense", 3)]),
}


def build(name, seed=0, bias=True):
    """The refpattern network of a geometry (weights ~ N(0, 1/fan-in), biases ~ N(0, 0.5²) or none)."""
    input_shape, spec = GEOMETRIES[name]
    rng = np.random.default_rng(seed)
    layers, shape = [], input_shape
    for item in spec:
        if item[0] == "conv":
            _, out, (kh, kw), stride, padding = item
            weight = rng.normal(0, 1 / math.sqrt(shape[0] * kh * kw), (out, shape[0], kh, kw))
            layer = rp.Conv2D(weight, rng.normal(0, 0.5, out) if bias else None, stride=stride, padding=padding)
        elif item[0] == "dense":
            layer = rp.Dense(rng.normal(0, 1 / math.sqrt(shape[0]), (item[1], shape[0])),
                             rng.normal(0, 0.5, item[1]) if bias else None)
        elif item[0] == "pool":
            layer = rp.MaxPool2D(item[1], item[2])
        else:
            layer = rp.ReLU() if item[0] == "relu" else rp.Flatten()
        layers.append(layer)
        shape = layer.output_shape(shape)
    return rp.Sequential(layers, input_shape=input_shape)


def batch(net, n=5, kind="normal", seed=1):
    """``n`` inputs: normal, uniform on [0, 1] ("unit"), or integers in -2 … 2 ("ties": pooling windows tie)."""
    rng = np.random.default_rng(seed)
    shape = (n,) + tuple(net.input_shape)
    if kind == "unit":
        return rng.uniform(0, 1, shape)
    if kind == "ties":
        return rng.integers(-2, 3, shape).astype(np.float64)
    return rng.normal(size=shape)


def relative_error(actual, expected):
    """The largest per-sample ``max|actual − expected| / max|expected|``."""
    actual, expected = (np.asarray(a).reshape(len(a), -1) for a in (actual, expected))
    scale = np.maximum(np.abs(expected).max(axis=1), np.finfo(float).tiny)
    return float(np.max(np.abs(actual - expected).max(axis=1) / scale))


def targets(net, x):
    return np.argmax(net.logits(x, backend="numpy"), axis=1)


# --- the dense-matrix references -------------------------------------------------------------------------------

def pattern_dense(net, x_sample, target, patterns, attribution):
    """PatternNet (``a``) or PatternAttribution (``w ⊙ a``) for one sample over dense matrices built with loops:
    ``R_in = A₊ᵀ(R ⊙ 1[z > 0]) + A₋ᵀ(R ⊙ 1[z ≤ 0])`` per kernel layer (``z`` its output, bias included), the ReLU's
    forward mask, the max-pool's routing matrix; start ``y_t``."""
    steps = dense_layers(net, x_sample)
    activations = dense_activations(steps, x_sample)
    matrices, shape, k = [], x_sample.shape, 0
    for layer in net.logit_layers:
        if layer.is_kernel:
            plus, minus = patterns[k].a_plus, patterns[k].a_minus
            if attribution:
                plus, minus = plus * layer.weight, minus * layer.weight
            if isinstance(layer, rp.Conv2D):
                plus = conv_matrix(rp.Conv2D(plus, None, layer.stride, layer.padding), shape)[0]
                minus = conv_matrix(rp.Conv2D(minus, None, layer.stride, layer.padding), shape)[0]
            matrices.append((plus, minus))
            k += 1
        shape = layer.output_shape(shape)
    relevance = np.zeros_like(activations[-1])
    relevance[target] = activations[-1][target]
    for index in range(len(steps) - 1, -1, -1):
        step = steps[index]
        if step[0] == "kernel":
            k -= 1
            z = activations[index + 1]
            relevance = matrices[k][0].T @ (relevance * (z > 0)) + matrices[k][1].T @ (relevance * (z <= 0))
        elif step[0] == "relu":
            relevance = relevance * (activations[index] > 0)
        else:
            relevance = step[1].T @ relevance
    return relevance.reshape(x_sample.shape)


def explicit_patches(net, X, k):
    """Kernel layer ``k``'s observations built with loops: the patch matrix ``P`` (rows in ``(n, p, q)`` order,
    columns in ``(c, i, j)`` order, zeros on the padding), its filters ``W`` (O, D) and gates ``G = [z > 0]``."""
    index = net.kernel_indices[k]
    layer = net.layers[index]
    activations = net.trace(X, backend="numpy")
    x, z = activations[index], activations[index + 1]
    if isinstance(layer, rp.Dense):
        return x, layer.weight, z > 0
    (top, _), (left, _) = explicit_padding(layer, *x.shape[2:])
    out, channels, kh, kw = layer.weight.shape
    rows, gates = [], []
    for n in range(x.shape[0]):
        for p in range(z.shape[2]):
            for q in range(z.shape[3]):
                patch = np.zeros((channels, kh, kw))
                for i in range(kh):
                    for j in range(kw):
                        h, w = p * layer.stride[0] - top + i, q * layer.stride[1] - left + j
                        if 0 <= h < x.shape[2] and 0 <= w < x.shape[3]:
                            patch[:, i, j] = x[n, :, h, w]
                rows.append(patch.ravel())
                gates.append(z[n, :, p, q] > 0)
    return np.array(rows), layer.weight.reshape(out, -1), np.array(gates)


def sa_pm_paper(P, W, G):
    """The paper's S_a± (Eq. 8) per neuron and regime, from the observations themselves (no shift, no running
    sums): ``(E_r[xy] − E_r[x]·E[y]) / wᵀ(…)``; None for an empty or ill-conditioned regime."""
    Y = P @ W.T
    patterns = {}
    for o in range(W.shape[0]):
        for regime, gate in (("plus", G[:, o]), ("minus", ~G[:, o])):
            if gate.sum() < 10:
                patterns[o, regime] = None
                continue
            numerator = (P[gate] * Y[gate, o][:, None]).mean(axis=0) - P[gate].mean(axis=0) * Y[:, o].mean()
            denominator = W[o] @ numerator
            well_conditioned = abs(denominator) > 1e-6 * (np.abs(W[o]) @ np.abs(numerator))
            patterns[o, regime] = numerator / denominator if well_conditioned else None
    return patterns


# --- backends, batches, dense references (no peers) ------------------------------------------------------------

METHOD_OPTIONS = {"lrp.zb": {"low": 0.0, "high": 1.0}, "zennit.epsilon_gamma_box": {"low": 0.0, "high": 1.0},
                  "integrated_gradients": {"steps": 5}, "smoothgrad": {"samples": 3, "seed": [3, 1, 4, 1, 5]}}


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no bias"])
@pytest.mark.parametrize("name", GEOMETRIES)
def test_numpy_and_numba_agree_and_a_sample_alone_is_the_sample_in_the_batch(name, bias):
    net = build(name, bias=bias)
    x, unit = batch(net, kind="ties" if name.startswith("pool first") else "normal"), batch(net, kind="unit")
    patterns = {estimator: rp.fit_patterns(net, batch(net, 40, seed=2), estimator, backend="numpy")
                for estimator in ("a+-", "a")}
    patterns["w"], patterns["x"] = rp.fit_patterns(net, None, "w"), rp.fit_patterns(net, None, "x")
    worst = {}
    for method in rp.method_names():
        data = unit if method in ("lrp.zb", "zennit.epsilon_gamma_box", "lrp.gamma") else x
        t = targets(net, data)
        cases = ([{"patterns": p} for p in patterns.values()] if method.startswith("pattern.")
                 else [METHOD_OPTIONS.get(method, {})])
        for options in cases:
            by_numpy = rp.explain(net, data, method, target=t, backend="numpy", **options)
            by_numba = rp.explain(net, data, method, target=t, backend="numba", **options)
            worst[method] = max(worst.get(method, 0.0), relative_error(by_numba, by_numpy))
            if method == "smoothgrad":
                options = dict(options, seed=options["seed"][2:3])
            for backend, in_batch in (("numpy", by_numpy), ("numba", by_numba)):
                alone = rp.explain(net, data[2:3], method, target=t[2:3], backend=backend, **options)
                worst[method] = max(worst[method], relative_error(alone, in_batch[2:3]))
    print(f"{name}: largest relative difference {max(worst.values()):.1e} ({max(worst, key=worst.get)})")
    assert max(worst.values()) <= RTOL, worst


def _lrp_references(unit):
    """refpattern method → (options, rule on every kernel layer, rule on the first or None), from the definitions."""
    references = {
        "lrp.epsilon": ({}, lambda a, W, b, R: rule_epsilon(a, W, b, R, 1e-6), None),
        "lrp.z": ({}, lambda a, W, b, R: rule_epsilon(a, W, b, R, 0.0), None),
        "lrp.alpha_2_beta_1": ({}, lambda a, W, b, R: rule_alpha_beta(a, W, b, R, 2, 1, True, 1e-6), None),
        "lrp.alpha_1_beta_0": ({}, lambda a, W, b, R: rule_alpha_beta(a, W, b, R, 1, 0, True, 1e-6), None),
        "lrp.z_plus": ({}, lambda a, W, b, R: rule_alpha_beta(a, W, b, R, 1, 0, False, 1e-6), None),
        "lrp.w_square": ({}, lambda a, W, b, R: rule_w_square(a, W, R, 1e-6), None),
        "lrp.flat": ({}, lambda a, W, b, R: rule_flat(a, W, R, 1e-6), None),
        "lrp.gamma": ({}, lambda a, W, b, R: rule_gamma(a, W, b, R, 0.25, 1e-6), None),
    }
    if unit:
        references["lrp.zb"] = ({"low": 0.0, "high": 1.0}, references["lrp.epsilon"][1],
                                lambda a, W, b, R: rule_zb(a, W, R, np.zeros_like(a), np.ones_like(a), 1e-6))
    return references


@pytest.mark.parametrize("kind", ["normal", "unit"])
@pytest.mark.parametrize("name", [n for n in GEOMETRIES if not n.startswith("pool first")])
def test_lrp_rules_equal_their_definitions_on_dense_matrices(name, kind):
    net = build(name, seed=3)
    x = batch(net, 3, kind=kind, seed=4)
    t = targets(net, x)
    worst = {}
    for method, (options, rule, first) in _lrp_references(kind == "unit").items():
        expected = np.stack([lrp_dense(net, x[n], t[n], rule, first) for n in range(len(x))])
        worst[method] = relative_error(rp.explain(net, x, method, target=t, **options), expected)
    print(f"{name} ({kind}): largest relative error {max(worst.values()):.1e} ({max(worst, key=worst.get)})")
    assert max(worst.values()) <= RTOL, worst


@pytest.mark.parametrize("name", GEOMETRIES)
def test_pattern_methods_equal_the_gated_pass_over_dense_pattern_matrices(name):
    net = build(name, seed=5)
    X, x = batch(net, 40, seed=6), batch(net, 3, seed=7)
    t = targets(net, x)
    worst = 0.0
    for estimator in ("a+-", "a", "w"):
        patterns = rp.fit_patterns(net, None if estimator == "w" else X, estimator)
        for method in ("pattern.net", "pattern.attribution"):
            expected = np.stack([pattern_dense(net, x[n], t[n], patterns, method == "pattern.attribution")
                                 for n in range(len(x))])
            worst = max(worst, relative_error(rp.explain(net, x, method, target=t, patterns=patterns), expected))
    print(f"{name}: largest relative error {worst:.1e}")
    assert worst <= RTOL


@pytest.mark.parametrize("name", GEOMETRIES)
def test_sa_pm_equals_its_formula_on_explicit_patch_matrices(name):
    """Both backends' S_a± (paper variant, streamed in batches around a shift) against Eq. 8 evaluated on the
    observations, every regime with at least 10 observations and a well-conditioned denominator; counts exact."""
    net = build(name, seed=8)
    X = batch(net, 50, seed=9)
    fits = {backend: rp.fit_patterns(net, X, "a+-", batch_size=17, backend=backend) for backend in ("numpy", "numba")}
    worst, compared = 0.0, 0
    for k in range(len(net.kernel_indices)):
        P, W, G = explicit_patches(net, X, k)
        expected = sa_pm_paper(P, W, G)
        for fitted in fits.values():
            assert np.array_equal(fitted[k].counts.n_plus, G.sum(axis=0))
            for (o, regime), pattern in expected.items():
                if pattern is not None:
                    actual = getattr(fitted[k], "a_" + regime).reshape(W.shape[0], -1)[o]
                    worst = max(worst, float(np.max(np.abs(actual - pattern)) / np.max(np.abs(pattern))))
                    compared += 1
    print(f"{name}: {compared} patterns, largest relative error {worst:.1e}")
    assert compared > 0 and worst <= 1e-9  # a ratio of differences of moments: conditioning beyond RTOL


# --- peers: torch, Captum, Zennit ------------------------------------------------------------------------------

def torch_twin(net):
    """``nn.Sequential`` (float64, eval) computing the same function from the same arrays, built from the layers'
    attributes: symmetric padding inside ``nn.Conv2d``, any other padding as ``nn.ZeroPad2d`` in front of it
    (the explicit pads computed here from TensorFlow's "same" rule, ``explicit_padding``)."""
    torch = pytest.importorskip("torch")
    nn = torch.nn
    modules, shape = [], net.input_shape
    for layer in net.layers:
        if isinstance(layer, rp.Conv2D):
            (top, bottom), (left, right) = explicit_padding(layer, *shape[1:])
            out, channels, kh, kw = layer.weight.shape
            symmetric = top == bottom and left == right
            if not symmetric:
                modules.append(nn.ZeroPad2d((left, right, top, bottom)))
            conv = nn.Conv2d(channels, out, (kh, kw), stride=layer.stride, padding=(top, left) if symmetric else 0,
                             dtype=torch.float64)
            with torch.no_grad():
                conv.weight.copy_(torch.from_numpy(np.array(layer.weight)))
                conv.bias.copy_(torch.from_numpy(np.array(layer.bias)))
            modules.append(conv)
        elif isinstance(layer, rp.Dense):
            linear = nn.Linear(layer.weight.shape[1], layer.weight.shape[0], dtype=torch.float64)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(np.array(layer.weight)))
                linear.bias.copy_(torch.from_numpy(np.array(layer.bias)))
            modules.append(linear)
        elif isinstance(layer, rp.MaxPool2D):
            modules.append(nn.MaxPool2d(layer.size, layer.stride))
        else:
            modules.append(nn.ReLU() if isinstance(layer, rp.ReLU) else nn.Flatten())
        shape = layer.output_shape(shape)
    return nn.Sequential(*modules).eval()


@pytest.mark.peers
@pytest.mark.filterwarnings("ignore:Setting backward hooks on ReLU activations:UserWarning")
@pytest.mark.parametrize("name", GEOMETRIES)
def test_logits_gradients_and_captum_agree(name):
    torch = pytest.importorskip("torch")
    captum_attr = pytest.importorskip("captum.attr")
    net = build(name, seed=10)
    model = torch_twin(net)
    worst = {}
    for kind in ("normal", "ties"):
        x = batch(net, kind=kind, seed=11)
        inputs = torch.from_numpy(x.copy()).requires_grad_(True)
        logits = model(inputs)
        t = logits.argmax(dim=1)
        logits.gather(1, t[:, None]).sum().backward()
        worst["logits"] = max(worst.get("logits", 0.0),
                              relative_error(net.logits(x)[None], logits.detach().numpy()[None]))
        gradient = inputs.grad.numpy()
        peers = {"gradient": gradient, "input_x_gradient": gradient * x}
        for method, attribution in (("guided_backprop", captum_attr.GuidedBackprop),
                                    ("deconvnet", captum_attr.Deconvolution)):
            peers[method] = attribution(model).attribute(torch.from_numpy(x.copy()).requires_grad_(True),
                                                         target=t).detach().numpy()
        if kind == "normal":  # exact ties hold at the nodes α·x only up to rounding, where peers break them apart
            integrated = captum_attr.IntegratedGradients(model).attribute(torch.from_numpy(x.copy()), target=t,
                                                                          method="gausslegendre", n_steps=7)
            peers["integrated_gradients"] = integrated.detach().numpy()
        for method, expected in peers.items():
            options = dict(zip(("alphas", "weights"), captum_quadrature("gausslegendre", 7))) \
                if method == "integrated_gradients" else {}
            actual = rp.explain(net, x, method, target=t.numpy(), **options)
            worst[method] = max(worst.get(method, 0.0), relative_error(actual, expected))
    print(f"{name}: largest relative error {max(worst.values()):.1e} ({max(worst, key=worst.get)})")
    assert max(worst.values()) <= RTOL, worst


def every_hidden_kernel_feeds_a_relu(net):
    """Whether every kernel layer but the last is followed (next to it) by a ReLU."""
    layers = net.logit_layers
    return all(isinstance(layers[index + 1], rp.ReLU) for index in net.kernel_indices[:-1])


@pytest.mark.peers
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no bias"])
@pytest.mark.parametrize("name", GEOMETRIES)
def test_lrp_rules_agree_with_zennit(name, bias):
    torch = pytest.importorskip("torch")
    pytest.importorskip("zennit", reason="zennit is not installed (pip install --no-deps zennit==0.4.6)")
    from zennit import composites, rules
    from zennit.attribution import Gradient
    from zennit.types import Activation, Linear

    def layer_map(rule, first=None):
        base = [(Activation, rules.Pass()), (Linear, rule)]
        if first is None:
            return composites.LayerMapComposite(base)
        return composites.SpecialFirstLayerMapComposite(base, [(Linear, first)])

    # method: (composite, options, input kind, reads the padding as inputs); z_plus, w_square, deep Taylor only
    # without biases (Zennit 0.4.6 keeps b⁺ in ZPlus and squares the bias in WSquare); γ on samples where it applies
    cases = {
        "lrp.epsilon": (lambda: layer_map(rules.Epsilon(1e-6)), {}, "normal", False),
        "lrp.alpha_1_beta_0": (lambda: layer_map(rules.ZPlus()), {}, "normal", False),
        "lrp.alpha_2_beta_1": (lambda: layer_map(rules.AlphaBeta(2.0, 1.0)), {}, "normal", False),
        "lrp.flat": (lambda: layer_map(rules.Flat()), {}, "normal", True),
        "lrp.gamma": (lambda: layer_map(rules.Gamma(0.25)), {}, "unit", False),
        "lrp.zb": (lambda: layer_map(rules.Epsilon(1e-6), first=rules.ZBox(0.0, 1.0)), {"low": 0.0, "high": 1.0},
                   "unit", True),
        "zennit.epsilon_plus": (composites.EpsilonPlus, {}, "normal", False),
        "zennit.epsilon_alpha2_beta1_flat": (composites.EpsilonAlpha2Beta1Flat, {}, "normal", True),
        "zennit.epsilon_gamma_box": (lambda: composites.EpsilonGammaBox(low=0.0, high=1.0),
                                     {"low": 0.0, "high": 1.0}, "unit", True),
    }
    if not bias:
        cases.update({
            "lrp.z_plus": (lambda: layer_map(rules.ZPlus()), {}, "normal", False),
            "lrp.w_square": (lambda: layer_map(rules.WSquare()), {}, "normal", True),
            "deep_taylor": (lambda: layer_map(rules.ZPlus(), first=rules.WSquare()), {}, "normal", True),
        })
    net = build(name, seed=12, bias=bias)
    model = torch_twin(net)
    pads_outside = any(isinstance(module, torch.nn.ZeroPad2d) for module in model)
    worst, compared = {}, 0
    for method, (composite, options, kind, reads_padding) in cases.items():
        if reads_padding and pads_outside:
            continue
        x = batch(net, kind=kind, seed=13)
        with torch.no_grad():
            logits = model(torch.from_numpy(x))
        t = logits.argmax(dim=1)

        def attr_output(output, t=t):  # Zennit multiplies by what it is given: one_hot·y_t, refpattern's start
            return torch.nn.functional.one_hot(t, output.shape[1]).to(output) * output

        with Gradient(model, composite()) as attributor:
            _, expected = attributor(torch.from_numpy(x.copy()), attr_output)
        actual = rp.explain(net, x, method, target=t.numpy(), **options)
        samples = np.arange(len(x))
        if method == "lrp.gamma":
            # Zennit 0.4.6's Gamma is w + γw⁺ for every neuron, refpattern's the generalised form: they coincide on
            # neurons with z > 0 for inputs ≥ 0, which are the only ones that carry relevance where every kernel
            # layer but the logit layer feeds a ReLU, on samples with y_t > 0
            if not every_hidden_kernel_feeds_a_relu(net):
                continue
            samples = samples[logits.numpy()[samples, t.numpy()] > 0]
            if samples.size == 0:
                continue
        worst[method] = relative_error(actual[samples], expected.numpy()[samples])
        compared += len(samples)
    print(f"{name}: {compared} maps, largest relative error {max(worst.values()):.1e} ({max(worst, key=worst.get)})")
    assert compared > 0 and max(worst.values()) <= RTOL, worst
