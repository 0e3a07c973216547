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

This module builds and certifies the suite and runs the command; the networks are in
``refpattern/experiments/golden_networks.py`` and the README text in ``golden_readme.py``.  Their public
names are imported here too, so ``from refpattern.experiments.golden import NETWORKS, readme, …``
works as before.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import platform
import tempfile
from dataclasses import dataclass
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
from refpattern.experiments.golden_exact import (
    DEFAULT_DIGITS,
    MINIMUM_DIGITS,
    ExactTwin,
    check_digits,
    import_mpmath,
    ulps,
)
from refpattern.experiments.golden_networks import (  # noqa: F401
    DEFAULT_SAMPLES,
    FIT_SAMPLES,
    LARGEST_CONDITION,
    NETWORKS,
    GoldenNetwork,
    check_network_names,
    golden_networks,
    logit_condition,
)
from refpattern.experiments.golden_readme import README_TEMPLATE, readme  # noqa: F401
from refpattern.files import write_files_atomically
from refpattern.network import Sequential
from refpattern.network.validation import check_count, check_seed
from refpattern.patterns import Patterns, fit_patterns
from refpattern.progress import Progress
from refpattern.testing import load_reference, save_reference

FORMAT = "refpattern.golden"
VERSION = 1
DEFAULT_OUT = "refpattern-golden"
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
    """One output's record: the ulps per sample (None where not measurable: a zero exact output against a
    nonzero one, or a NaN/inf value), their largest measured value, and whether every one was measured and
    is within ``bound`` (a NaN would compare false and drop out of a plain ``max``)."""
    known = [v for v in values if v is not None and math.isfinite(v)]
    largest = max(known, default=0.0)
    within = len(known) == len(values) and largest <= bound
    return {"ulps": [round(v, 4) if v is not None and math.isfinite(v) else None for v in values],
            "max_ulps": round(largest, 4), "bound_ulps": bound, "within_bound": within}


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

    ``samples`` an int >= 1, ``seed`` an int >= 0, ``certify`` a bool, ``digits`` an int >=
    :data:`~refpattern.experiments.golden_exact.MINIMUM_DIGITS`, ``names`` None (every network) or a list of
    distinct names of :data:`NETWORKS`; anything else is refused before any work.
    ``twin_class``: the exact twin (a subclass with a rule broken on purpose shows that the
    certificate can fail, ``tests/test_golden.py``)."""
    samples, seed, names = check_count(samples, "samples"), check_seed(seed, "seed"), check_network_names(names)
    if not isinstance(certify, (bool, np.bool_)):
        raise TypeError(f"certify: expected True or False, got {certify!r} ({type(certify).__name__})")
    certify, digits = bool(certify), check_digits(digits)
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
    parser.add_argument("--digits", default=DEFAULT_DIGITS,
                        type=integer_at_least(MINIMUM_DIGITS, "the certificate needs far more than float64's 17"),
                        help=f"decimal digits of the exact twin, >= {MINIMUM_DIGITS} (default {DEFAULT_DIGITS})")
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
