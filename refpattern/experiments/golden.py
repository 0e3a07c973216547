"""``refpattern golden --out DIR``: a certified golden suite for other libraries' test suites
(``docs/conventions.md#golden-suite``).

DIR receives, for each of a few SMALL networks (:func:`golden_networks`):

- ``<name>.npz`` — a reference file of :func:`refpattern.testing.save_reference`: the network in
  PyTorch and Keras layouts, the inputs (NCHW and NHWC), targets, ``y_t``, logits, and every method
  of :func:`method_cases` with its exact options (IG's nodes and weights, SmoothGrad's explicit
  perturbations, the S_a± patterns in both layouts).  A method given with a second option value
  (LRP-ε at two ε, PatternAttribution with the single output pattern) is stored under
  ``<method>@<option>=<value>`` next to the canonical name (:func:`merge_option_sets`);
- ``<name>.network.npz`` — the network itself (:meth:`refpattern.Sequential.save`);
- ``<name>.patterns.npz`` — its fitted S_a± patterns (:meth:`refpattern.Patterns.save`), fitted on
  ``<name>.fit_x.npy`` (the fit data, one ``.npy`` array);

and a top-level ``manifest.json`` (every file, the networks, the cases, the certificate) and a
``README.md`` saying how to load the suite from a torch or a Keras test with NumPy and ``json``.

Certified (unless ``--no-certify``): every number the reference files hold — logits, ``y_t``,
every explanation — and the fitted patterns are computed once more in 50-digit arithmetic by the
independent loop-based twin of :mod:`refpattern.experiments.golden_exact` (mpmath, the extra
``golden``), which reads the options, nodes, perturbations and patterns back from the files; the
manifest records refpattern's error against it in ulps of the largest exact entry of each output
(:func:`~refpattern.experiments.golden_exact.ulps`) and whether it is within :data:`ULP_BOUNDS`.

Exit status (``docs/conventions.md#command-line``): 0 written and (when certified) every error
within its bound; 1 written, but an error exceeds its bound; 2 a usage error (an output path that
is a file, mpmath missing without ``--no-certify``), before any work; 3 the files could not be
written (nothing in DIR changed).  Every file is written at once through
:func:`refpattern.files.write_files_atomically`.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import refpattern
from refpattern.command_arguments import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_OUTPUT,
    EXIT_USAGE,
    OutputError,
    UsageError,
    integer_at_least,
    output_folder,
    seed,
)
from refpattern.experiments.golden_exact import DEFAULT_DIGITS, ExactTwin, import_mpmath, ulps
from refpattern.files import write_files_atomically
from refpattern.network import Conv2D, Dense, Flatten, MaxPool2D, ReLU, Sequential, Softmax
from refpattern.patterns import Patterns, fit_patterns
from refpattern.progress import Progress
from refpattern.testing import load_reference, save_reference

FORMAT = "refpattern.golden"
VERSION = 1
DEFAULT_OUT = "refpattern-golden"
#: Samples explained per network, and the fit data for the patterns.
DEFAULT_SAMPLES = 3
FIT_SAMPLES = 128
#: SmoothGrad's explicit perturbations: K draws of N(0, NOISE_SCALE²) per entry.
SMOOTHGRAD_DRAWS = 4
NOISE_SCALE = 0.1
IG_STEPS, IG_QUADRATURE = 4, "gauss_legendre"
EPSILONS = (1e-6, 0.1)

#: Largest error accepted against the exact twin, in ulps of the largest exact entry of an output, by kind
#: of output (``docs/conventions.md#golden-certificate``).  Rounding gives a few ulps on a well-conditioned
#: output; an output that is the small difference of large terms (a logit near 0, LRP-ε with a large ε that
#: absorbs most of the relevance, αβ's two parts, a pattern's covariance over few observations) loses more.
#: The bounds are 2.5–4 × the largest value measured over seeds 0–19 (``docs/conventions.md#golden-certificate``);
#: a wrong rule or convention gives errors of 10⁹ ulps and more.
ULP_BOUNDS = {
    "logits": 256.0,     # every logit, in ulps of the sample's largest |logit|
    "y_t": 128.0,        # the explained logit, in ulps of itself
    "gradient": 32.0,    # gradient, input × gradient, DeConvNet, Guided Backprop, Integrated Gradients, SmoothGrad
    "lrp": 512.0,        # LRP-z, LRP-ε, αβ, z⁺, w², z^B, deep Taylor
    "pattern": 128.0,    # PatternNet, PatternAttribution with the given patterns
    "patterns": 2048.0,  # the fitted S_a± patterns, per kernel layer and regime
}
_KIND = {"gradient": "gradient", "input_x_gradient": "gradient", "deconvnet": "gradient",
         "guided_backprop": "gradient", "integrated_gradients": "gradient", "smoothgrad": "gradient",
         "pattern.net": "pattern", "pattern.attribution": "pattern"}


def bound_kind(method: str) -> str:
    """The :data:`ULP_BOUNDS` row of a method (canonical name)."""
    return _KIND.get(method, "lrp")


@dataclass
class GoldenNetwork:
    """One network of the suite: what it is for, its inputs, targets (None: the argmax) and fit data."""

    name: str
    description: str
    net: Sequential
    x: np.ndarray
    targets: np.ndarray | None
    fit_x: np.ndarray
    notes: dict = field(default_factory=dict)


def _dense_relu(rng, samples):
    net = Sequential([Dense(rng.normal(0, 0.6, (6, 5)), rng.normal(0, 0.3, 6)), ReLU(),
                      Dense(rng.normal(0, 0.6, (4, 6)), rng.normal(0, 0.3, 4)), ReLU(),
                      Dense(rng.normal(0, 0.6, (3, 4)), rng.normal(0, 0.3, 3))], input_shape=(5,))
    golden = GoldenNetwork("dense_relu", "Dense 5→6→4→3 with ReLUs and biases", net, rng.normal(size=(samples, 5)),
                           None, rng.normal(size=(FIT_SAMPLES, 5)))
    return _well_conditioned(golden, lambda n: rng.normal(size=(n, 5)), samples)


def _cnn_padding(rng, samples):
    conv1 = Conv2D(rng.normal(0, 0.5, (3, 2, 3, 3)), rng.normal(0, 0.2, 3), stride=2, padding=((0, 1), (1, 0)))
    conv2 = Conv2D(rng.normal(0, 0.5, (4, 3, 2, 3)), rng.normal(0, 0.2, 4), stride=1, padding="same")
    shape = (2, 7, 6)
    flat = int(np.prod(Sequential([conv1, conv2], input_shape=shape).output_shapes(shape)[-1]))
    net = Sequential([conv1, ReLU(), conv2, ReLU(), Flatten(), Dense(rng.normal(0, 0.4, (5, flat)),
                                                                       rng.normal(0, 0.2, 5)), ReLU(),
                      Dense(rng.normal(0, 0.5, (3, 5)), rng.normal(0, 0.2, 3))], input_shape=shape)
    description = ("Conv2D 3×3 stride 2 with asymmetric padding ((0, 1), (1, 0)), Conv2D 2×3 'same' (on 3×3: rows "
                   "(0, 1), columns (1, 1)), Flatten of (4, 3, 3), Dense 36→5→3")
    golden = GoldenNetwork("cnn_padding", description, net, rng.normal(size=(samples,) + shape), None,
                           rng.normal(size=(FIT_SAMPLES,) + shape))
    return _well_conditioned(golden, lambda n: rng.normal(size=(n,) + shape), samples)


def _tied_windows(net, x) -> int:
    """Max-pool windows (over every sample) whose maximum is positive and reached more than once."""
    pool_index = next(i for i, layer in enumerate(net.layers) if isinstance(layer, MaxPool2D))
    a = net.trace(x)[pool_index]
    (kh, kw), (sh, sw) = net.layers[pool_index].size, net.layers[pool_index].stride
    count = 0
    for p in range((a.shape[2] - kh) // sh + 1):
        for q in range((a.shape[3] - kw) // sw + 1):
            window = a[:, :, p * sh:p * sh + kh, q * sw:q * sw + kw].reshape(a.shape[0], a.shape[1], -1)
            top = window.max(axis=2)
            count += int(np.sum((top > 0) & ((window == top[..., None]).sum(axis=2) > 1)))
    return count


def _maxpool_ties(rng, samples):
    """Inputs on a grid of 1/4 and a 1×1 convolution by 1 and 1/2 (exact in float64): maxima tie exactly."""
    conv = Conv2D(np.array([1.0, 0.5]).reshape(2, 1, 1, 1), np.zeros(2))
    net = Sequential([conv, ReLU(), MaxPool2D(2, stride=1), Flatten(),
                      Dense(rng.normal(0, 0.5, (4, 18)), rng.normal(0, 0.2, 4)), ReLU(),
                      Dense(rng.normal(0, 0.5, (3, 4)), rng.normal(0, 0.2, 3))], input_shape=(1, 4, 4))

    def grid(n):
        return rng.integers(-2, 4, size=(n, 1, 4, 4)).astype(np.float64) / 4

    def tied(n):
        x = grid(n)
        x[:, 0, :2, :2] = np.array([[0.75, 0.75], [0.25, 0.75]])  # a positive tie in the first window of each sample
        return x

    description = ("Conv2D 1×1 (weights 1 and 1/2, no bias), ReLU, MaxPool2D 2×2 stride 1 (overlapping), Dense "
                   "18→4→3; inputs on a grid of 1/4, so pooling windows hold exact ties that carry relevance")
    golden = _well_conditioned(GoldenNetwork("maxpool_ties", description, net, tied(samples), None,
                                             grid(FIT_SAMPLES)), tied, samples)
    golden.notes["tied_windows"] = _tied_windows(net, golden.x)
    return golden


def _batchnorm_folded(rng, samples):
    """Conv2D followed by BatchNorm (inference), folded by hand into the convolution:
    ``W' = W·γ/√(σ² + ε)``, ``b' = (b − μ)·γ/√(σ² + ε) + β`` per output channel."""
    weight, bias = rng.normal(0, 0.5, (3, 1, 3, 3)), rng.normal(0, 0.2, 3)
    gamma, beta = rng.uniform(0.5, 1.5, 3), rng.normal(0, 0.2, 3)
    mean, variance, epsilon = rng.normal(0, 0.3, 3), rng.uniform(0.5, 2.0, 3), 1e-3
    scale = gamma / np.sqrt(variance + epsilon)
    folded = Conv2D(weight * scale[:, None, None, None], (bias - mean) * scale + beta, padding=1)
    net = Sequential([folded, ReLU(), Flatten(), Dense(rng.normal(0, 0.3, (3, 75)), rng.normal(0, 0.2, 3))],
                     input_shape=(1, 5, 5))
    golden = _well_conditioned(GoldenNetwork("batchnorm_folded", "", net, rng.normal(size=(samples, 1, 5, 5)),
                                             None, rng.normal(size=(FIT_SAMPLES, 1, 5, 5))),
                               lambda n: rng.normal(size=(n, 1, 5, 5)), samples)
    x = golden.x
    unfolded = Conv2D(weight, bias, padding=1).forward(x)
    with_norm = (unfolded - mean[None, :, None, None]) / np.sqrt(variance + epsilon)[None, :, None, None] \
        * gamma[None, :, None, None] + beta[None, :, None, None]
    golden.description = "Conv2D 3×3 (padding 1) with a BatchNorm folded into it by hand, ReLU, Flatten, Dense 75→3"
    golden.notes["batchnorm"] = {
        "folding": "W' = W·γ/√(σ² + ε), b' = (b − μ)·γ/√(σ² + ε) + β per output channel",
        "gamma": gamma.tolist(), "beta": beta.tolist(), "mean": mean.tolist(), "variance": variance.tolist(),
        "epsilon": epsilon, "conv_weight": weight.tolist(), "conv_bias": bias.tolist(),
        "largest_difference_folded_vs_conv_then_norm": float(np.max(np.abs(folded.forward(x) - with_norm))),
    }
    return golden


def _softmax_head(rng, samples):
    net = Sequential([Dense(rng.normal(0, 0.6, (5, 4)), rng.normal(0, 0.3, 5)), ReLU(),
                      Dense(rng.normal(0, 0.6, (3, 5)), rng.normal(0, 0.3, 3)), Softmax()], input_shape=(4,))
    golden = GoldenNetwork("softmax_head", "Dense 4→5→3 ending in a Softmax (explanations of the pre-softmax "
                           "logit), explicit targets 0, 1, 2, 0, …", net, rng.normal(size=(samples, 4)),
                           np.arange(samples) % 3, rng.normal(size=(FIT_SAMPLES, 4)))
    return _well_conditioned(golden, lambda n: rng.normal(size=(n, 4)), samples)


#: Largest condition number ``(Σ_k |w_tk·h_k| + |b_t|) / |y_t|`` of an explained logit: an input whose ``y_t``
#: is the small difference of large terms (where every float64 library loses digits, and every method that
#: starts from ``y_t`` with it) is drawn again.
LARGEST_CONDITION = 8.0


def logit_condition(net, x, targets=None) -> np.ndarray:
    """Per sample, ``(Σ_k |w_tk·h_k| + |b_t|) / |y_t|`` of the explained logit ``y_t`` (the argmax unless
    ``targets``), ``h`` the input of the last kernel layer (inf where ``y_t = 0``)."""
    activations = net.trace(x)
    logits, hidden = activations[-1], activations[net.kernel_indices[-1]].reshape(len(x), -1)
    targets = np.argmax(logits, axis=1) if targets is None else np.asarray(targets)
    layer = net.layers[net.kernel_indices[-1]]
    rows = np.arange(len(x))
    terms = np.abs(layer.weight[targets] * hidden).sum(axis=1) + np.abs(layer.bias[targets])
    with np.errstate(divide="ignore"):
        return terms / np.abs(logits[rows, targets])


def _well_conditioned(golden: GoldenNetwork, draw, samples: int) -> GoldenNetwork:
    """``golden`` with every input whose explained logit is ill-conditioned (:data:`LARGEST_CONDITION`)
    replaced by a new draw of ``draw(1)`` (at most 1000 draws)."""
    x = golden.x.copy()
    for n in range(samples):
        for _ in range(1000):
            target = None if golden.targets is None else golden.targets[n:n + 1]
            if logit_condition(golden.net, x[n:n + 1], target)[0] <= LARGEST_CONDITION:
                break
            x[n] = draw(1)[0]
    golden.x = x
    return golden


NETWORKS = {"dense_relu": _dense_relu, "cnn_padding": _cnn_padding, "maxpool_ties": _maxpool_ties,
            "batchnorm_folded": _batchnorm_folded, "softmax_head": _softmax_head}


def golden_networks(samples: int = DEFAULT_SAMPLES, seed: int = 0, names=None) -> list:
    """The networks of the suite (all of :data:`NETWORKS`, or ``names``), each with ``samples`` inputs;
    network ``i`` draws from ``numpy.random.default_rng([seed, i])``."""
    names = list(NETWORKS) if names is None else list(names)
    return [NETWORKS[name](np.random.default_rng([seed, list(NETWORKS).index(name)]), samples) for name in names]


def method_cases(golden: GoldenNetwork, patterns, rng) -> list:
    """``(key, method, options)`` of every case: the canonical name as key for a method's first option
    set, ``<method>@<option>=<value>`` for another."""
    low, high = float(np.floor(golden.x.min())), float(np.ceil(golden.x.max()))
    noise = NOISE_SCALE * rng.standard_normal((SMOOTHGRAD_DRAWS,) + golden.x.shape)
    return [
        ("gradient", "gradient", {}),
        ("input_x_gradient", "input_x_gradient", {}),
        ("deconvnet", "deconvnet", {}),
        ("guided_backprop", "guided_backprop", {}),
        ("lrp.z", "lrp.z", {}),
        ("lrp.epsilon", "lrp.epsilon", {"epsilon": EPSILONS[0]}),
        (f"lrp.epsilon@epsilon={EPSILONS[1]:g}", "lrp.epsilon", {"epsilon": EPSILONS[1]}),
        ("lrp.alpha_1_beta_0", "lrp.alpha_1_beta_0", {}),
        ("lrp.alpha_2_beta_1", "lrp.alpha_2_beta_1", {}),
        ("lrp.z_plus", "lrp.z_plus", {}),
        ("lrp.w_square", "lrp.w_square", {}),
        ("lrp.zb", "lrp.zb", {"low": low, "high": high}),
        ("deep_taylor", "deep_taylor", {}),
        ("integrated_gradients", "integrated_gradients", {"steps": IG_STEPS, "quadrature": IG_QUADRATURE}),
        ("smoothgrad", "smoothgrad", {"noise": noise}),
        ("pattern.net", "pattern.net", {"patterns": patterns}),
        ("pattern.attribution", "pattern.attribution", {"patterns": patterns}),
        ("pattern.attribution@output_pattern=a+", "pattern.attribution", {"patterns": patterns,
                                                                          "output_pattern": "a+"}),
    ]


def _renamed(value, old: str, new: str):
    """A manifest value with every array reference ``{"array": "<kind>.<old>.…"}`` renamed to ``<new>``."""
    if isinstance(value, dict):
        if set(value) == {"array", "shape", "dtype"}:
            return dict(value, array=_rename_entry(value["array"], old, new))
        return {key: _renamed(item, old, new) for key, item in value.items()}
    if isinstance(value, list):
        return [_renamed(item, old, new) for item in value]
    if isinstance(value, str):
        return _rename_entry(value, old, new)
    return value


def _rename_entry(name: str, old: str, new: str) -> str:
    for kind in ("explanation", "options", "resolved"):
        if name.startswith(f"{kind}.{old}."):
            return f"{kind}.{new}.{name[len(kind) + len(old) + 2:]}"
    return name


def _archive(data: bytes) -> dict:
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


def merge_option_sets(main: bytes, extras: dict) -> bytes:
    """One reference file from ``main`` (a :func:`save_reference` file) and ``extras``
    (``{key: file}``, each a :func:`save_reference` file of the same network, inputs and targets with
    one method): each extra's method record and arrays enter ``main`` under ``key``
    (``<method>@<option>=<value>``), its array entries renamed ``explanation.<key>.…``,
    ``options.<key>.…``, ``resolved.<key>.…``.  ``load_reference`` reads the result as it stands."""
    arrays = _archive(main)
    manifest = json.loads(str(arrays["manifest.json"]))
    for key, data in extras.items():
        extra = _archive(data)
        extra_manifest = json.loads(str(extra["manifest.json"]))
        (method, record), = extra_manifest["methods"].items()
        for name in ("x.NCHW", "targets", "y_t"):
            if not np.array_equal(extra[name], arrays[name]):
                raise ValueError(f"merge_option_sets: {key} was computed on other {name}")
        for name, value in extra.items():
            renamed = _rename_entry(name, method, key)
            if renamed != name:
                arrays[renamed] = value
        manifest["methods"][key] = _renamed(record, method, key)
    manifest["entries"] = sorted(name for name in arrays if name != "manifest.json")
    arrays["manifest.json"] = np.array(json.dumps(manifest, ensure_ascii=False, sort_keys=True))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _reference_bytes(directory: str, name: str, net, x, methods, targets, backend, options) -> bytes:
    path = os.path.join(directory, name)
    save_reference(path, net, x, methods, targets=targets, backend=backend, options=options)
    with open(path, "rb") as handle:
        return handle.read()


def _saved(save) -> bytes:
    buffer = io.BytesIO()
    save(buffer)
    return buffer.getvalue()


@dataclass
class GoldenSuite:
    """The files of a suite (``{file name: bytes}``), its manifest, and whether every certified error
    is within its bound (None when not certified)."""

    files: dict
    manifest: dict
    within_bounds: bool | None


def _certificate_entry(values, bound: float) -> dict:
    known = [v for v in values if v is not None]
    largest = max(known, default=0.0)
    within = len(known) == len(values) and largest <= bound
    return {"ulps": [None if v is None else round(v, 4) for v in values], "max_ulps": round(largest, 4),
            "bound_ulps": bound, "within_bound": within}


def certify_network(reference: dict, golden: GoldenNetwork, patterns, twin: ExactTwin) -> dict:
    """The certificate of one network: the file's logits, ``y_t``, every explanation (read back with
    :func:`load_reference`, its options, nodes and perturbations as the file holds them) and the
    fitted patterns, each measured against ``twin`` in ulps (:func:`~refpattern.experiments.golden_exact.ulps`)."""
    x, targets = reference["x"]["NCHW"], reference["targets"]
    forward = [twin.forward(twin.exact(sample)) for sample in x]
    logits = _certificate_entry([ulps(twin, reference["logits"][n], forward[n][-1]) for n in range(len(x))],
                                ULP_BOUNDS["logits"])
    y_t = _certificate_entry([ulps(twin, reference["y_t"][n:n + 1], [forward[n][-1][int(targets[n])]])
                              for n in range(len(x))], ULP_BOUNDS["y_t"])
    exact_argmax = [max(range(len(f[-1])), key=lambda c, f=f: (f[-1][c], -c)) for f in forward]
    certificate = {"logits": logits, "y_t": y_t, "methods": {},
                   "targets_are_exact_argmax": None if golden.targets is not None else
                   bool(all(int(t) == a for t, a in zip(targets, exact_argmax)))}
    manifest = reference["manifest"]
    for key, record in manifest["methods"].items():
        method = record["requested_as"]
        options, resolved = dict(reference["options"][key]), reference["resolved"][key]
        layers = None
        if method in ("pattern.net", "pattern.attribution"):
            layers = [(layer["a_plus"]["torch"], layer["a_minus"]["torch"]) for layer in options["patterns"]["layers"]]
        if method == "integrated_gradients":
            options.update(alphas=resolved["alphas"], weights=resolved["weights"])
        explanation = reference["explanations"][key]["NCHW"]
        values = []
        for n in range(len(x)):
            sample_options = dict(options, noise=resolved["noise.NCHW"][:, n]) if method == "smoothgrad" else options
            exact = twin.explain(method, x[n], int(targets[n]), sample_options, layers)
            values.append(ulps(twin, explanation[n], exact))
        certificate["methods"][key] = {"method": method, **_certificate_entry(values, ULP_BOUNDS[bound_kind(method)])}
    fitted = twin.fit_two_component(golden.fit_x)
    certificate["patterns"] = {}
    for k, (exact_plus, exact_minus) in enumerate(fitted):
        for field_name, exact in (("a_plus", exact_plus), ("a_minus", exact_minus)):
            value = ulps(twin, getattr(patterns[k], field_name), [v for row in exact for v in row])
            certificate["patterns"][f"{k}.{field_name}"] = _certificate_entry([value], ULP_BOUNDS["patterns"])
    entries = [logits, y_t, *certificate["methods"].values(), *certificate["patterns"].values()]
    certificate["within_bounds"] = bool(all(entry["within_bound"] for entry in entries)
                                        and certificate["targets_are_exact_argmax"] is not False)
    return certificate


def _json_options(options: dict) -> dict:
    return {name: ("<the S_a± patterns of <name>.patterns.npz>" if name == "patterns" else
                   f"<array {list(np.shape(value))}>" if isinstance(value, np.ndarray) else value)
            for name, value in options.items()}


def build_suite(samples: int = DEFAULT_SAMPLES, seed: int = 0, backend: str = "numpy", certify: bool = True,
                digits: int = DEFAULT_DIGITS, names=None, progress=None, twin_class=ExactTwin) -> GoldenSuite:
    """Compute every file of the suite in memory (module docstring); nothing is written.

    ``twin_class``: the exact twin (a subclass with a rule broken on purpose shows that the
    certificate can fail, ``tests/test_golden.py``)."""
    progress = Progress.resolve(progress, "golden")
    if certify:
        mpmath = import_mpmath()
    files, networks = {}, {}
    with tempfile.TemporaryDirectory(prefix="refpattern-golden-") as scratch:
        for golden in golden_networks(samples, seed, names):
            name = golden.name
            rng = np.random.default_rng([seed, list(NETWORKS).index(name), 1])
            patterns = fit_patterns(golden.net, golden.fit_x, "a+-", backend=backend)
            cases = method_cases(golden, patterns, rng)
            first = {}
            for key, method, options in cases:
                if key == method:
                    first[method] = options
            main = _reference_bytes(scratch, f"{name}.npz", golden.net, golden.x, list(first), golden.targets,
                                    backend, {method: options for method, options in first.items() if options})
            extras = {key: _reference_bytes(scratch, "extra.npz", golden.net, golden.x, [method], golden.targets,
                                            backend, {method: options})
                      for key, method, options in cases if key != method}
            files[f"{name}.npz"] = merge_option_sets(main, extras)
            files[f"{name}.network.npz"] = _saved(golden.net.save)
            files[f"{name}.patterns.npz"] = _saved(patterns.save)
            files[f"{name}.fit_x.npy"] = _saved(lambda handle, data=golden.fit_x: np.save(handle, data))
            entry = {
                "description": golden.description,
                "reference": f"{name}.npz", "network": f"{name}.network.npz", "patterns": f"{name}.patterns.npz",
                "fit_data": f"{name}.fit_x.npy", "input_shape": list(golden.net.input_shape),
                "samples": int(golden.x.shape[0]), "fit_samples": int(golden.fit_x.shape[0]),
                "targets": "argmax of the logits" if golden.targets is None else [int(t) for t in golden.targets],
                "layers": [repr(layer) for layer in golden.net.layers],
                "patterns_estimator": {"estimator": "a+-", "variant": patterns.variant,
                                       "degenerate": [f"kernel layer {d.layer}: {d}" for d in patterns.degenerate]},
                "cases": {key: {"method": method, "options": _json_options(options)} for key, method, options in cases},
                **golden.notes,
            }
            progress(f"{name}: {len(cases)} explanations of {golden.x.shape[0]} samples, S_a± patterns")
            if certify:
                reference_path = os.path.join(scratch, f"{name}.merged.npz")
                with open(reference_path, "wb") as handle:
                    handle.write(files[f"{name}.npz"])
                # the network and the patterns as their files hold them
                twin = twin_class(Sequential.load(io.BytesIO(files[f"{name}.network.npz"])), digits)
                saved_patterns = Patterns.load(io.BytesIO(files[f"{name}.patterns.npz"]))
                entry["certificate"] = certify_network(load_reference(reference_path), golden, saved_patterns, twin)
                worst = max(entry["certificate"]["methods"].items(), key=lambda item: item[1]["max_ulps"])
                progress(f"{name}: certified against {digits}-digit arithmetic; largest explanation error "
                         f"{worst[1]['max_ulps']:.2f} ulps ({worst[0]})"
                         + ("" if entry["certificate"]["within_bounds"] else " — ABOVE A BOUND"))
            networks[name] = entry
    within = all(entry["certificate"]["within_bounds"] for entry in networks.values()) if certify else None
    manifest = {
        "format": FORMAT, "version": VERSION, "refpattern_version": refpattern.__version__,
        "software": {"numpy": np.__version__, "python": platform.python_version(),
                     "mpmath": mpmath.__version__ if certify else None},
        "backend": backend, "seed": seed, "samples": samples,
        "conventions": "docs/conventions.md#golden-suite (and every convention of docs/conventions.md)",
        "reference_format": "refpattern.testing.save_reference, version 1 (docs/conventions.md#reference-file); "
                            "a key <method>@<option>=<value> is the method with a second option value",
        "certified": bool(certify),
        "certificate": None if not certify else {
            "digits": digits, "bounds_ulps": ULP_BOUNDS, "within_bounds": within,
            "measure": "max_i |refpattern_i − exact_i| / ulp(max_i |exact_i|) per sample and output, "
                       "ulp(m) = 2^(e − 53) for m in [2^(e−1), 2^e)",
            "twin": "refpattern.experiments.golden_exact.ExactTwin: loops over mpmath numbers, independent of "
                    "refpattern's layers, kernels and rules"},
        "networks": networks,
    }
    manifest["files"] = sorted(list(files) + ["manifest.json", "README.md"])
    files["manifest.json"] = (json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=False) + "\n").encode()
    files["README.md"] = readme(manifest).encode()
    return GoldenSuite(files, manifest, within)


def suite_files(names=None) -> tuple:
    """The names of the files a suite of ``names`` (default: every network) writes."""
    names = list(NETWORKS) if names is None else list(names)
    return tuple(f"{name}{suffix}" for name in names
                 for suffix in (".npz", ".network.npz", ".patterns.npz", ".fit_x.npy")) + ("manifest.json", "README.md")


README_TEMPLATE = """\
# refpattern golden suite

Written by `refpattern golden` (refpattern {version}, backend `{backend}`, seed {seed}){certified}.
What every number means: refpattern's `docs/conventions.md` (explained logit `y_t`, start values,
stabilisers `z + s·sgn(z)` with `sgn(0) = +1`, max-pool ties to the first maximum, ReLU gates,
layouts); `manifest.json` lists every file, network, case and option.

| network | what it tests |
|---|---|
{table}

Files per network `<name>`: `<name>.npz` (inputs `x.NCHW`/`x.NHWC`, `targets`, `y_t`, `logits`, the network
in both layouts under `manifest.json`'s `network`, and `explanation.<case>.NCHW`/`.NHWC` per case),
`<name>.network.npz` (the network for `refpattern.Sequential.load`), `<name>.patterns.npz` (its S_a±
patterns for `refpattern.Patterns.load`, also inside `<name>.npz` in both layouts) and `<name>.fit_x.npy`
(the data they were fitted on). A case `<method>@<option>=<value>` is the method with a second option value.

## Reading the suite (NumPy and json only)

```python
import json, numpy as np
suite = json.load(open("manifest.json"))          # run from this folder

def load(name):                                   # one network's reference file
    with np.load(suite["networks"][name]["reference"], allow_pickle=False) as f:
        ref = {{key: f[key] for key in f.files}}
    return ref, json.loads(str(ref["manifest.json"]))   # arrays; the file's own manifest

ref, meta = load("dense_relu")
expected = ref[meta["methods"]["lrp.epsilon"]["explanation"]["NCHW"]]   # options: meta["methods"][...]["options"]
```

## From a torch test

```python
import torch

def torch_model(ref, meta):                       # the network up to its logits, float64
    layers = []
    for L in meta["network"]["torch"]:            # padding is ((top, bottom), (left, right))
        if L["type"] == "Conv2D":
            (t, b), (l, r) = L["padding"]; w = ref[L["weight"]["array"]]
            layers += [torch.nn.ZeroPad2d((l, r, t, b)), torch.nn.Conv2d(w.shape[1], w.shape[0], w.shape[2:],
                                                                          stride=tuple(L["stride"]))]
        elif L["type"] == "Dense":
            layers.append(torch.nn.Linear(*ref[L["weight"]["array"]].shape[::-1]))
        elif L["type"] == "MaxPool2D":
            layers.append(torch.nn.MaxPool2d(tuple(L["kernel_size"]), tuple(L["stride"])))
        elif L["type"] in ("ReLU", "Flatten"):
            layers.append(getattr(torch.nn, L["type"])())
        if "weight" in L:
            layers[-1].weight.data = torch.tensor(ref[L["weight"]["array"]])
            layers[-1].bias.data = torch.tensor(ref[L["bias"]["array"]])
    return torch.nn.Sequential(*layers).double()

for name in suite["networks"]:
    ref, meta = load(name)
    x = torch.tensor(ref["x.NCHW"], requires_grad=True)
    logits = torch_model(ref, meta)(x)
    np.testing.assert_allclose(logits.detach().numpy(), ref["logits"], rtol=1e-12, atol=1e-14)
    logits[range(len(x)), torch.tensor(ref["targets"])].sum().backward()    # gradient of y_t
    np.testing.assert_allclose(x.grad.numpy(), ref[meta["methods"]["gradient"]["explanation"]["NCHW"]],
                               rtol=1e-10, atol=1e-14)
```

## From a Keras test (channels last)

```python
import keras
keras.config.set_floatx("float64")
keras.config.set_dtype_policy("float64")   # in a test suite Keras may have fixed float32 layers already

def keras_model(ref, meta):                       # kernels (kh, kw, in, out) and (in, out); Flatten order (H, W, C)
    model = keras.Sequential([keras.Input(tuple(meta["network"]["keras"][0]["input_shape"]))])
    for L in meta["network"]["keras"]:
        if L["type"] == "Conv2D":
            k = ref[L["kernel"]["array"]]
            model.add(keras.layers.ZeroPadding2D(tuple(map(tuple, L["padding"]))))
            model.add(keras.layers.Conv2D(k.shape[3], k.shape[:2], strides=tuple(L["strides"])))
        elif L["type"] == "Dense":
            model.add(keras.layers.Dense(ref[L["kernel"]["array"]].shape[1]))
        elif L["type"] == "MaxPool2D":
            model.add(keras.layers.MaxPooling2D(tuple(L["pool_size"]), tuple(L["strides"])))
        elif L["type"] in ("ReLU", "Flatten"):
            model.add(getattr(keras.layers, L["type"])())
        if "kernel" in L:
            model.layers[-1].set_weights([ref[L["kernel"]["array"]], ref[L["bias"]["array"]]])
    return model

for name in suite["networks"]:
    ref, meta = load(name)
    x = ref["x.NHWC"] if "x.NHWC" in ref else ref["x.NCHW"]   # images NHWC; flat inputs have no layout
    np.testing.assert_allclose(keras_model(ref, meta)(x), ref["logits"], rtol=1e-12, atol=1e-14)
    entries = meta["methods"]["gradient"]["explanation"]
    expected = ref[entries.get("NHWC", entries["NCHW"])]     # the gradient, channels last
```

Gradient-type methods start from 1 at `y_t`, LRP, deep Taylor, PatternNet and PatternAttribution from
the value `y_t`; max-pooling routes to the first maximum of a window (`maxpool_ties` fails a library that
breaks ties otherwise). Compare maps as `refpattern.testing` does: per sample,
`|actual − expected| ≤ rtol·max|expected_n|` (rtol 1e-10 for a float64 library, 1e-4 for float32).
iNNvestigate 1.x takes the patterns as a list of Keras kernels,
`[layer["a_plus"]["keras"] for layer in meta["methods"]["pattern.attribution"]["options"]["patterns"]["layers"]]`
(as arrays: `ref[...["array"]]`), and uses one pattern per layer: compare it with the case
`pattern.attribution@output_pattern=a+`. These snippets were written for torch ≥ 2 and Keras 3 and not
run by refpattern (neither is one of its dependencies).
{certificate}"""


def readme(manifest: dict) -> str:
    """The suite's README.md: what each network tests and how to load the suite from torch and Keras."""
    table = "\n".join(f"| `{name}` | {entry['description']} |" for name, entry in manifest["networks"].items())
    certified, certificate = "", ""
    if manifest["certified"]:
        bounds = manifest["certificate"]["bounds_ulps"]
        certified = f", certified against {manifest['certificate']['digits']}-digit arithmetic"
        rows = []
        for name, entry in manifest["networks"].items():
            methods = entry["certificate"]["methods"]
            worst = max(methods.items(), key=lambda item: item[1]["max_ulps"])
            patterns = max(value["max_ulps"] for value in entry["certificate"]["patterns"].values())
            rows.append(f"| `{name}` | {entry['certificate']['logits']['max_ulps']:.2f} | "
                        f"{worst[1]['max_ulps']:.2f} (`{worst[0]}`) | {patterns:.2f} | "
                        f"{'yes' if entry['certificate']['within_bounds'] else '**no**'} |")
        certificate = ("\n## Certificate\n\nEvery logit, `y_t`, explanation and pattern was computed again in "
                       f"{manifest['certificate']['digits']}-digit arithmetic by a loop-based twin independent of "
                       "refpattern's code (mpmath). Largest error of refpattern's float64 numbers, in ulps of the "
                       "largest exact entry of each output (per network; every value is in `manifest.json`):\n\n"
                       "| network | logits | explanations | S_a± patterns | within bounds |\n|---|---|---|---|---|\n"
                       + "\n".join(rows) + "\n\nBounds (ulps): "
                       + ", ".join(f"{kind} {bound:g}" for kind, bound in bounds.items()) + ".\n")
    return README_TEMPLATE.format(version=manifest["refpattern_version"], backend=manifest["backend"],
                                  seed=manifest["seed"], certified=certified, table=table, certificate=certificate)


# --- the command ------------------------------------------------------------------------------------------

#: The exit status of ``refpattern golden`` (its ``--help`` epilog).
EXIT_STATUS_HELP = f"""\
exit status:
  {EXIT_OK}    the suite was written (certified: every error within its bound)
  {EXIT_FAILED}    the suite was written, but a certified error exceeds its bound
       (manifest.json: within_bound false)
  {EXIT_USAGE}    usage error: an unknown option or network, a number out of range, an
       output folder that is a file or cannot be written, mpmath missing
       without --no-certify, --backend cuda without a usable GPU
  {EXIT_OUTPUT}    the suite could not be written (disk full, ...); files already
       there are unchanged
  {EXIT_INTERRUPTED}  interrupted (Ctrl-C)
"""


def add_arguments(parser) -> None:
    parser.epilog = EXIT_STATUS_HELP
    parser.add_argument("--out", type=output_folder(suite_files()), default=DEFAULT_OUT,
                        help=f"folder for the suite (default ./{DEFAULT_OUT}); created if missing")
    parser.add_argument("--samples", type=integer_at_least(1), default=DEFAULT_SAMPLES,
                        help=f"inputs explained per network, >= 1 (default {DEFAULT_SAMPLES})")
    parser.add_argument("--seed", type=seed, default=0, help="seed of the networks and their inputs, >= 0 (default 0)")
    parser.add_argument("--backend", default="numpy", choices=["numpy", "numba", "cuda"],
                        help="where refpattern computes the suite (default numpy, the readable reference kernels)")
    parser.add_argument("--networks", default=",".join(NETWORKS), type=_network_names,
                        help=f"comma-separated subset of {', '.join(NETWORKS)} (default: all)")
    parser.add_argument("--digits", type=integer_at_least(30, "the certificate needs far more than float64's 17"),
                        default=DEFAULT_DIGITS,
                        help=f"decimal digits of the exact twin, >= 30 (default {DEFAULT_DIGITS})")
    parser.add_argument("--no-certify", dest="certify", action="store_false",
                        help="skip the exact 50-digit certificate (no mpmath needed)")


def _network_names(text: str) -> list:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in NETWORKS]
    if unknown or not names or len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"expected distinct names among {', '.join(NETWORKS)}, got {text!r}")
    return names


def run(args) -> int:
    """Build the suite, write it into ``--out`` at once, print the certificate; 0, or 1 when a
    certified error exceeds its bound."""
    if args.certify:
        try:
            import_mpmath()
        except ImportError as error:
            raise UsageError(" ".join(str(error).split()) + "; or run with --no-certify") from None
    progress = Progress("golden", enabled=True)
    progress(f"{len(args.networks)} networks, {args.samples} samples each, backend {args.backend}, writing to "
             f"{args.out}")
    suite = build_suite(args.samples, args.seed, args.backend, args.certify, args.digits, args.networks, progress)
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        write_files_atomically({out / name: content for name, content in suite.files.items()})
    except OSError as error:
        raise OutputError(f"cannot write the golden suite to {out}: {error}") from error
    for name, entry in suite.manifest["networks"].items():
        line = f"{name:17s} {len(entry['cases'])} cases"
        if args.certify:
            certificate = entry["certificate"]
            worst = max(certificate["methods"].values(), key=lambda value: value["max_ulps"])["max_ulps"]
            patterns = max(value["max_ulps"] for value in certificate["patterns"].values())
            line += (f"; logits {certificate['logits']['max_ulps']:.2f}, explanations ≤ {worst:.2f}, patterns "
                     f"≤ {patterns:.2f} ulps; {'within bounds' if certificate['within_bounds'] else 'ABOVE A BOUND'}")
        print(line)
    print(f"golden suite written to {out.resolve()} ({len(suite.files)} files; README.md says how to load it)")
    if suite.within_bounds is False:
        print("refpattern golden: a certified error exceeds its bound (manifest.json: within_bound false)")
        return EXIT_FAILED
    return EXIT_OK
