"""refpattern as the oracle in another library's test suite.

Three tools (``docs/conventions.md#oracle-testing``):

- :func:`assert_explanation_close` (and :func:`compare_explanation`, which returns the numbers
  instead of raising): compute refpattern's explanation of ``x`` and compare another library's
  with it; on a mismatch the ``AssertionError`` names the worst sample and position, the
  relative error of every sample, and which of the usual convention slips the numbers show
  (one-hot instead of ``y_t`` start, Captum's trapezoid weights, iNNvestigate's single output
  pattern, NHWC↔NCHW, float32 round-off, a constant scale);
- :func:`save_reference` / :func:`load_reference`: one ``.npz`` file (no pickle) with the
  network in PyTorch and Keras layouts, the inputs, targets, ``y_t``, every requested method's
  explanation and exact options, refpattern's version and conventions, for a test suite that
  cannot install refpattern (``load_reference`` needs only NumPy and ``json`` and may be copied);
- the tolerance table: :data:`BACKEND_TOLERANCE`, :data:`FLOAT64_TOLERANCE`,
  :data:`FLOAT32_TOLERANCE` (``docs/conventions.md#tolerances``).

How two explanations are compared: sample ``n`` passes when every entry satisfies
``|actual − reference| ≤ atol + rtol·max|reference_n|`` — the scale is the sample's largest
reference magnitude, so entries near zero are judged against the map, not against themselves.
The relative error of a sample is ``max|actual_n − reference_n| / max|reference_n|``.

Tolerances (``docs/conventions.md#tolerances``), as per-sample relative errors; the measured
column is the largest value ``tests/test_testing.py`` sees on its two test networks, which it
asserts to stay below the tolerance by the headroom shown:

=======================================  ===========  ==========  ===========
comparison                               measured     ``rtol``    headroom
=======================================  ===========  ==========  ===========
numba or cuda (simulator) vs numpy       7.1e-16      1e-12       ≥ 100×
a float64 framework (other kernels)      1.1e-15      1e-10       ≥ 10⁴×
a float32 framework                      2.6e-6       1e-4        ≥ 10×
=======================================  ===========  ==========  ===========

The framework rows come from the same networks run as dense matrices with NumPy in float64 or
float32 (``tests/framework_emulation.py``: gradient, LRP-ε, PatternAttribution).  The test
networks are tiny; deeper and wider networks accumulate more rounding, and LRP divides by
denominators that can be small — hence the headroom.  ``atol`` is 0 in every row.
"""

from __future__ import annotations

import json
import numbers
import pathlib
from dataclasses import dataclass

import numpy as np

import refpattern
from refpattern.files import write_atomically
from refpattern.interop.layouts import (
    conv_weight_to_keras,
    dense_weight_to_keras,
    nchw_to_nhwc,
    network_weights,
    nhwc_to_nchw,
)
from refpattern.kernels import resolve_backend
from refpattern.methods import Composite, explain, method_info
from refpattern.methods.integrated_gradients import path_rule
from refpattern.methods.registry import GRADIENT_METHODS, METHODS, canonical_name
from refpattern.methods.smoothgrad import smoothgrad_noise
from refpattern.methods.targets import resolve_targets
from refpattern.network.conv2d import Conv2D
from refpattern.network.sequential import Sequential
from refpattern.network.validation import check_options


@dataclass(frozen=True)
class Tolerance:
    """``|actual − reference| ≤ atol + rtol·max|reference_n|`` per sample ``n``."""

    rtol: float
    atol: float = 0.0


#: refpattern's backends against each other (numpy, numba, cuda and its simulator).
BACKEND_TOLERANCE = Tolerance(rtol=1e-12)
#: Another framework computing in float64 (the default of :func:`assert_explanation_close`).
FLOAT64_TOLERANCE = Tolerance(rtol=1e-10)
#: Another framework computing in float32.
FLOAT32_TOLERANCE = Tolerance(rtol=1e-4)
TOLERANCES = {"backends": BACKEND_TOLERANCE, "float64": FLOAT64_TOLERANCE, "float32": FLOAT32_TOLERANCE}

LAYOUTS = ("NCHW", "NHWC")
_FLOAT32_EPSILON = float(np.finfo(np.float32).eps)


@dataclass(frozen=True)
class ExplanationComparison:
    """The outcome of :func:`compare_explanation`.

    Attributes
    ----------
    passed : bool
    relative_error : ndarray (N,)
        ``max|actual_n − reference_n| / max|reference_n|`` per sample (0 where both are all
        zero, inf where only the reference is); None when the shapes differ or ``actual`` holds
        NaN or inf.
    failing_samples : tuple of int
    worst_sample : int or None
    worst_position : tuple or None
        The entry within the worst sample, in the layout given.
    worst_actual, worst_reference : float or None
    y_t : ndarray (N,)
        The explained logit per sample.
    diagnoses : tuple of str
        The convention slips the numbers show (empty when none does, or when passed).
    message : str
        The report :func:`assert_explanation_close` raises.
    """

    passed: bool
    relative_error: np.ndarray | None
    failing_samples: tuple
    worst_sample: int | None
    worst_position: tuple | None
    worst_actual: float | None
    worst_reference: float | None
    y_t: np.ndarray
    diagnoses: tuple
    message: str


def _check_tolerance(name: str, value, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a number, got {value!r}")
    value = float(value)
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name}: expected a finite number >= 0, got {value}")
    return value


def _relative_errors(actual, reference):
    """Per sample: ``max|a − r|`` and ``max|r|`` (both (N,))."""
    axes = tuple(range(1, reference.ndim))
    difference = np.max(np.abs(actual - reference), axis=axes) if reference.ndim > 1 else np.abs(actual - reference)
    scale = np.max(np.abs(reference), axis=axes) if reference.ndim > 1 else np.abs(reference)
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.where(scale > 0, difference / np.where(scale > 0, scale, 1.0),
                            np.where(difference > 0, np.inf, 0.0))
    return relative, scale


def _close(actual, reference, rtol) -> bool:
    if actual.shape != reference.shape:
        return False
    relative, _ = _relative_errors(actual, reference)
    return bool(np.all(relative <= rtol))


def _format(values, limit=20) -> str:
    values = np.asarray(values, dtype=np.float64)
    shown = ", ".join(f"{v:.3g}" for v in values[:limit])
    return f"[{shown}{', …' if values.size > limit else ''}]"


def _per_sample_scale(actual, reference):
    """Least-squares ``c_n`` with ``actual_n ≈ c_n·reference_n`` and the relative residual, per sample
    (NaN for samples whose reference is all zero)."""
    n = reference.shape[0]
    a, r = actual.reshape(n, -1), reference.reshape(n, -1)
    rr = np.einsum("ij,ij->i", r, r)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.where(rr > 0, np.einsum("ij,ij->i", a, r) / np.where(rr > 0, rr, 1.0), np.nan)
        fitted = c[:, None] * r
        scale = np.max(np.abs(fitted), axis=1)
        residual = np.where(scale > 0, np.max(np.abs(a - fitted), axis=1) / np.where(scale > 0, scale, 1.0), np.nan)
    return c, residual


def _diagnose(actual, reference, actual_dtype, relative, failing, y_t, start, method_name, explain_variant,
              layout, rtol):
    """The convention slips the numbers show, each computed, as sentences."""
    found = []
    loose = max(rtol, FLOAT32_TOLERANCE.rtol)
    other = {"NCHW": "NHWC", "NHWC": "NCHW"}[layout]
    if actual.ndim == 4:
        for moved, label in ((np.moveaxis(actual, 1, -1), "NCHW→NHWC"), (np.moveaxis(actual, -1, 1), "NHWC→NCHW")):
            if moved.shape == reference.shape and _close(moved, reference, loose):
                worst = _relative_errors(moved, reference)[0].max()
                found.append(f"layout: actual is the reference in {other} order — transposed {label} it matches "
                             f"(largest relative error {worst:.3g}); pass layout='{other}' or transpose it "
                             f"(refpattern.interop.nchw_to_nhwc / nhwc_to_nchw)")
    if actual.shape != reference.shape:
        return found
    c, residual = _per_sample_scale(actual, reference)
    used = np.isfinite(c)
    if np.any(used) and np.all(residual[used] <= loose):
        cu, yu = c[used], y_t[used]
        with np.errstate(divide="ignore", invalid="ignore"):
            one_hot = np.all(np.abs(cu * yu - 1) <= loose)
            logit = np.all(np.abs(cu - yu) <= loose * np.abs(yu))
        constant = np.all(np.abs(cu - cu.mean()) <= loose * abs(cu.mean()))
        shared = " (every sample has the same y_t, so a constant factor would look the same)" if constant else ""
        if start == "logit" and one_hot:
            found.append("start: seeded with a one-hot (1 at y_t) instead of y_t — actual = reference / y_t on every "
                         f"sample (per-sample factors {_format(cu)}, 1/y_t {_format(1 / yu)}){shared}; start the "
                         "other library from y_t (e.g. zennit attr_output = one_hot · y_t)")
        elif start == "one" and logit:
            found.append("start: seeded with y_t instead of 1 — actual = reference · y_t on every sample (per-sample "
                         f"factors {_format(cu)}, y_t {_format(yu)}){shared}; gradient-type methods start from 1 "
                         "(iNNvestigate's deconvnet/guided_backprop start from y_t)")
        elif constant and abs(cu.mean() - 1) > loose:
            factor = float(cu.mean())
            steps = 1 / (1 - factor) if factor < 1 else np.inf
            if (method_name == "integrated_gradients" and np.isfinite(steps) and steps >= 2
                    and abs(steps - round(steps)) <= 1e-3 * steps):
                n = int(round(steps))
                found.append(f"quadrature: a constant factor {factor:.9g} = (n−1)/n with n = {n}: trapezoid weights "
                             f"that sum to (n−1)/n, as Captum's riemann_trapezoid with n_steps={n}; mirror it with "
                             f"alphas, weights = refpattern.methods.captum_quadrature('riemann_trapezoid', {n})")
            elif abs(factor + 1) <= loose:
                found.append("sign: actual = −reference on every sample (a sign flip)")
            else:
                found.append(f"scale: actual = {factor:.6g} · reference on every sample (a constant overall factor)")
        elif not constant and np.all(cu > 0):
            found.append(f"scale: a different positive factor per sample ({_format(cu)}), neither 1/y_t nor y_t — "
                         "a per-sample normalisation of the map")
    if explain_variant is not None and failing:
        closed = set(np.flatnonzero(y_t <= 0).tolist())
        failing_set = set(failing)
        if failing_set <= closed:
            alternative = explain_variant()
            if _close(actual, alternative, loose):
                found.append(f"output pattern: the differences are exactly on the {len(failing)} sample(s) whose "
                             f"explained logit y_t ≤ 0 {sorted(failing_set)}, and actual equals refpattern's "
                             "output_pattern='a+' explanation: a single-pattern output layer (iNNvestigate 1.x uses "
                             "a₊ only); pass output_pattern='a+'")
            else:
                found.append(f"output pattern?: every failing sample {sorted(failing_set)} has y_t ≤ 0 (where the "
                             "output layer's closed-gate pattern a₋ acts), but output_pattern='a+' does not match "
                             "either")
    finite = relative[np.isfinite(relative)]
    if (finite.size and np.all(np.isfinite(relative))
            and FLOAT64_TOLERANCE.rtol < finite.max() <= FLOAT32_TOLERANCE.rtol):
        evidence = ""
        if actual_dtype == np.float32:
            evidence = "; actual's dtype is float32"
        elif actual_dtype == np.float64 and np.array_equal(actual.astype(np.float32).astype(np.float64), actual):
            evidence = "; every entry of actual is a float32 number"
        found.append(f"precision: errors at float32 round-off level (largest relative error {finite.max():.3g}, "
                     f"float32 epsilon {_FLOAT32_EPSILON:.3g}){evidence} — computed in float32; compare with "
                     f"rtol=refpattern.testing.FLOAT32_TOLERANCE.rtol ({FLOAT32_TOLERANCE.rtol:g}) or compute in "
                     "float64")
    return found


def compare_explanation(actual, net, x, method, *, target=None, layout="NCHW", rtol=None, atol=None, backend=None,
                        **options) -> ExplanationComparison:
    """Compare ``actual`` with refpattern's explanation of ``x``; see :func:`assert_explanation_close`."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout: expected one of {LAYOUTS}, got {layout!r}")
    rtol = _check_tolerance("rtol", rtol, FLOAT64_TOLERANCE.rtol)
    atol = _check_tolerance("atol", atol, FLOAT64_TOLERANCE.atol)
    if not isinstance(net, Sequential):
        raise TypeError(f"net: expected a refpattern.Sequential, got {type(net).__name__}")
    if not isinstance(x, np.ndarray):
        raise TypeError(f"x: expected a numpy.ndarray of floats, got {type(x).__name__}")
    x_nchw = nhwc_to_nchw(x) if layout == "NHWC" and x.ndim == 4 else x
    reference_nchw = explain(net, x_nchw, method, target, backend=backend, **options)
    reference = nchw_to_nhwc(reference_nchw) if layout == "NHWC" and reference_nchw.ndim == 4 else reference_nchw
    logits = net.logits(x_nchw, backend)
    targets = resolve_targets(logits, target)
    y_t = logits[np.arange(len(targets)), targets]

    try:
        raw = np.asarray(actual)
    except Exception as error:
        raise TypeError(f"actual: could not read it as an array ({error})") from None
    if raw.dtype == object or not (np.issubdtype(raw.dtype, np.floating) or np.issubdtype(raw.dtype, np.integer)):
        raise TypeError(f"actual: expected a real numeric array, got dtype {raw.dtype}")
    actual_dtype = raw.dtype
    actual64 = raw.astype(np.float64)
    name = method if isinstance(method, str) else "a Composite"
    if isinstance(method, Composite):
        start, method_name = method.start, None
    else:
        method_name = canonical_name(method)
        start = method_info(method_name).start
    header = (f"explanation of {name!r} differs from refpattern's (layout {layout}, rtol={rtol:g}, atol={atol:g}: "
              "|actual − reference| ≤ atol + rtol·max|reference_n| per sample n)")

    if actual64.shape != reference.shape:
        diagnoses = tuple(_diagnose(actual64, reference, actual_dtype, np.array([np.inf]), (), y_t, start,
                                    method_name, None, layout, rtol))
        lines = [header, f"  shape: actual {actual64.shape}, reference {reference.shape}"]
        lines += _diagnosis_lines(diagnoses)
        return ExplanationComparison(False, None, tuple(range(reference.shape[0])), None, None, None, None, y_t,
                                     diagnoses, "\n".join(lines))
    if not np.all(np.isfinite(actual64)):
        bad = np.argwhere(~np.isfinite(actual64))
        lines = [header, f"  actual holds {len(bad)} NaN or inf entries, the first at {tuple(int(i) for i in bad[0])}"]
        failing = tuple(sorted(set(int(i) for i in bad[:, 0])))
        return ExplanationComparison(False, None, failing, int(bad[0][0]), tuple(int(i) for i in bad[0][1:]),
                                     float(actual64[tuple(bad[0])]), float(reference[tuple(bad[0])]), y_t, (),
                                     "\n".join(lines))

    relative, scale = _relative_errors(actual64, reference)
    shape = (-1,) + (1,) * (reference.ndim - 1)
    allowed = atol + rtol * scale.reshape(shape)
    difference = np.abs(actual64 - reference)
    excess = difference - allowed
    failing = tuple(int(n) for n in np.flatnonzero(np.any((excess > 0).reshape(len(scale), -1), axis=1)))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = difference / np.maximum(scale.reshape(shape), np.finfo(np.float64).tiny)
    worst = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
    worst_sample, worst_position = int(worst[0]), tuple(int(i) for i in worst[1:])
    if not failing:
        return ExplanationComparison(True, relative, (), worst_sample, worst_position, float(actual64[worst]),
                                     float(reference[worst]), y_t, (), "explanations agree")

    explain_variant = None
    if method_name in ("pattern.net", "pattern.attribution") and options.get("output_pattern") != "a+":
        def explain_variant():
            variant = explain(net, x_nchw, method, target, backend=backend, **{**options, "output_pattern": "a+"})
            return nchw_to_nhwc(variant) if layout == "NHWC" and variant.ndim == 4 else variant

    diagnoses = tuple(_diagnose(actual64, reference, actual_dtype, relative, failing, y_t, start, method_name,
                                explain_variant, layout, rtol))
    lines = [header,
             f"  worst: sample {worst_sample}, position {worst_position} ({layout[1:]}): actual "
             f"{actual64[worst]:.9g}, reference {reference[worst]:.9g}, |difference| {difference[worst]:.3g} "
             f"(sample scale max|reference| = {scale[worst_sample]:.3g})",
             f"  relative error per sample (max|a_n − r_n| / max|r_n|): {_format(relative)}",
             f"  failing samples: {len(failing)} of {len(scale)}: {list(failing)[:20]}",
             f"  explained logit y_t per sample: {_format(y_t)}"]
    lines += _diagnosis_lines(diagnoses)
    return ExplanationComparison(False, relative, failing, worst_sample, worst_position, float(actual64[worst]),
                                 float(reference[worst]), y_t, diagnoses, "\n".join(lines))


def _diagnosis_lines(diagnoses):
    if not diagnoses:
        return ["  diagnosis: none of the known convention slips (one-hot or y_t start, trapezoid weights, single "
                "output pattern, NHWC/NCHW layout, float32 round-off, a constant or per-sample scale) explains the "
                "difference"]
    return ["  diagnosis:"] + [f"    - {d}" for d in diagnoses]


def assert_explanation_close(actual, net, x, method, *, target=None, layout="NCHW", rtol=None, atol=None,
                             backend=None, **options) -> None:
    """Assert that another library's explanation ``actual`` equals refpattern's.

    Parameters
    ----------
    actual : array-like, shaped like ``x``
        The explanation under test (a NumPy array, or anything ``numpy.asarray`` reads, e.g. a
        CPU tensor); never modified.
    net : Sequential
        The same network in refpattern (:mod:`refpattern.interop` for the layouts).
    x : ndarray of floats
        The explained batch, in ``layout``: ``(N, C, H, W)`` for ``"NCHW"``, ``(N, H, W, C)``
        for ``"NHWC"`` (then ``actual`` is NHWC too); a flat ``(N, F)`` batch has no layout.
    method : str or Composite
        Any name of :func:`refpattern.method_names` (or alias), with its ``**options``.
    target : None, int or N ints
        The explained class (argmax logit when None), as in :func:`refpattern.explain`.
    rtol, atol : float, optional
        ``|actual − reference| ≤ atol + rtol·max|reference_n|`` per sample; default
        :data:`FLOAT64_TOLERANCE` (use :data:`FLOAT32_TOLERANCE` for a float32 framework).
    backend : str, optional
        Where refpattern computes the reference.

    Raises
    ------
    AssertionError
        With the worst sample and position, each sample's relative error, ``y_t``, and the
        convention slips the numbers show (``docs/conventions.md#oracle-diagnoses``).
    TypeError, ValueError
        For arguments that are not what is expected (layout, tolerances, method, options).
    """
    comparison = compare_explanation(actual, net, x, method, target=target, layout=layout, rtol=rtol, atol=atol,
                                     backend=backend, **options)
    if not comparison.passed:
        raise AssertionError(comparison.message)


# --- reference files ------------------------------------------------------------------------------------

REFERENCE_FORMAT = "refpattern.reference"
REFERENCE_VERSION = 1
MANIFEST_ENTRY = "manifest.json"

CONVENTIONS = {
    "explained": "the pre-softmax logit y_t of each sample; t is the argmax logit unless targets are given "
                 "(docs/conventions.md#explained-logit)",
    "start_values": {"one": "1 at y_t (gradient-type methods)",
                     "logit": "the value y_t at y_t (LRP, deep Taylor, PatternNet, PatternAttribution)"},
    "stabilizer": "a denominator z becomes z + s·sgn(z) with sgn(0) = +1; s = 0 divides exactly and 0/0 gives 0",
    "relu_gate": "open iff z > 0 (bias included)",
    "maxpool_ties": "the first maximum in row-major window order gets the whole signal, in every method",
    "dtype": "float64 throughout",
    "layouts": {"NCHW": "refpattern and PyTorch", "NHWC": "Keras channels_last",
                "torch": "Dense weight (out, in); Conv2D weight (out, in, kh, kw)",
                "keras": "Dense kernel (in, out), the first Dense after a Flatten of (C, H, W) with its inputs in "
                         "(H, W, C) order; Conv2D kernel (kh, kw, in, out)",
                "padding": "((top, bottom), (left, right)) zero padding"},
    "notes": "docs/conventions.md",
}


def _json_value(value, entry: str, arrays: dict):
    """A JSON-ready form of an option value; arrays go to ``arrays[entry]`` as ``{"array": entry}``."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, (np.ndarray, list, tuple)):
        array = np.asarray(value)
        if array.dtype == object:
            raise TypeError(f"save_reference: option {entry!r} cannot be stored (an object array)")
        arrays[entry] = np.array(array)
        return {"array": entry, "shape": list(array.shape), "dtype": str(array.dtype)}
    raise TypeError(f"save_reference: option {entry!r} of type {type(value).__name__} cannot be stored")


def _pattern_entries(patterns, net, keras_layers, prefix: str, arrays: dict):
    """Patterns in both layouts: ``{"estimator", "variant", "layers": [{"a_plus": {"torch", "keras"}, …}]}``."""
    flattened = {layer["index"]: layer.get("flattened_from") for layer in keras_layers if layer["type"] == "Dense"}
    layers = []
    for k, (index, layer) in enumerate(zip(net.kernel_indices, net.kernel_layers)):
        entry = {}
        for field in ("a_plus", "a_minus"):
            value = getattr(patterns[k], field)
            if value is None:
                continue
            keras = conv_weight_to_keras(value) if isinstance(layer, Conv2D) else \
                dense_weight_to_keras(value, flattened.get(index))
            entry[field] = {}
            for layout, array in (("torch", np.array(value)), ("keras", keras)):
                name = f"{prefix}.{k}.{field}.{layout}"
                arrays[name] = array
                entry[field][layout] = {"array": name, "shape": list(array.shape), "dtype": str(array.dtype)}
        layers.append(entry)
    return {"estimator": str(patterns.estimator), "variant": patterns.variant, "layers": layers}


def _network_entries(net, layout: str, arrays: dict):
    layers = []
    for layer in network_weights(net, layout):
        entry = {}
        for key, value in layer.items():
            if isinstance(value, np.ndarray):
                name = f"network.{layout}.{layer['index']}.{key}"
                arrays[name] = value
                entry[key] = {"array": name, "shape": list(value.shape), "dtype": str(value.dtype)}
            else:
                entry[key] = value
        layers.append(entry)
    return layers


def save_reference(path, net, x, methods, *, targets=None, backend=None, options=None) -> pathlib.Path:
    """Write refpattern's explanations of ``x`` to one ``.npz`` file (``docs/conventions.md#reference-file``).

    Parameters
    ----------
    path : str or path-like
        Written as given (no suffix is added); ``.npz`` is the convention.
    net : Sequential
        Needs ``input_shape`` (or an image input whose shape fixes it) for the Keras layout.
    x : ndarray (N, C, H, W) or (N, F)
        In refpattern's layout; the file holds it as NCHW and NHWC.
    methods : str or sequence of str
        Method names or aliases; stored under their canonical names.
    targets : None, int or N ints
        As ``explain``'s ``target``; resolved once (argmax when None) and stored.
    options : dict, optional
        ``{method: {option: value}}`` for any of ``methods``; arrays and ``Patterns`` are stored
        as arrays (patterns in both layouts).

    Notes
    -----
    The file: an entry ``manifest.json`` (a JSON string: format, version, refpattern's version,
    the conventions, the network's layers in both layouts, and per method its canonical name,
    start value, exact options with defaults filled, the nodes/weights or noise it used, and the
    names of its array entries) plus one array entry per array.  Read it with
    :func:`load_reference`; no pickle anywhere.
    """
    if not isinstance(net, Sequential):
        raise TypeError(f"save_reference: net must be a refpattern.Sequential, got {type(net).__name__}")
    x = net.check_input(x)
    if isinstance(methods, str):
        methods = [methods]
    methods = list(methods)
    if not methods or not all(isinstance(m, str) for m in methods):
        raise TypeError(f"save_reference: methods must be method names (str), got {methods!r}")
    names = [canonical_name(m) for m in methods]
    if len(set(names)) != len(names):
        raise ValueError(f"save_reference: a method is listed twice in {methods!r} (canonical names {names})")
    options = {} if options is None else dict(options)
    by_canonical = {}
    for key, value in options.items():
        canonical = canonical_name(key)
        if canonical not in names:
            raise ValueError(f"save_reference: options given for {key!r}, which is not among the methods {names}")
        if not isinstance(value, dict):
            raise TypeError(f"save_reference: options[{key!r}] must be a dict of options, got {type(value).__name__}")
        by_canonical[canonical] = value
    backend_name = resolve_backend(backend)
    logits = net.logits(x, backend)
    resolved_targets = resolve_targets(logits, targets)
    rows = np.arange(len(resolved_targets))
    arrays = {"x.NCHW": np.array(x), "targets": resolved_targets.astype(np.int64),
              "y_t": logits[rows, resolved_targets], "logits": logits}
    image = x.ndim == 4
    if image:
        arrays["x.NHWC"] = nchw_to_nhwc(x)
    network = {"input_shape": list(net.input_shape or x.shape[1:])}
    if net.input_shape is None:
        net = Sequential(net.layers, input_shape=x.shape[1:])
    for layout in ("torch", "keras"):
        network[layout] = _network_entries(net, layout, arrays)
    keras_layers = network_weights(net, "keras")

    records = {}
    for requested, name in zip(methods, names):
        given = by_canonical.get(name, {})
        _, defaults = METHODS[name] if name in METHODS else GRADIENT_METHODS[name]
        filled = check_options(name, given, defaults)
        explanation = explain(net, x, name, resolved_targets, backend=backend, **given)
        stored = {}
        for option, value in filled.items():
            if option == "patterns" and value is not None:
                stored[option] = _pattern_entries(value, net, keras_layers, f"options.{name}.patterns", arrays)
            else:
                stored[option] = _json_value(value, f"options.{name}.{option}", arrays)
        resolved = {}
        if name == "integrated_gradients":
            nodes, weights = path_rule(filled["steps"], filled["quadrature"], filled["alphas"], filled["weights"])
            resolved["alphas"] = _json_value(nodes, f"resolved.{name}.alphas", arrays)
            resolved["weights"] = _json_value(weights, f"resolved.{name}.weights", arrays)
        if name == "smoothgrad":
            noise = smoothgrad_noise(x, filled["samples"], filled["noise_level"], filled["seed"], filled["noise"])
            resolved["noise.NCHW"] = _json_value(noise, f"resolved.{name}.noise.NCHW", arrays)
            if image:
                moved = np.ascontiguousarray(np.moveaxis(noise, 2, -1))
                resolved["noise.NHWC"] = _json_value(moved, f"resolved.{name}.noise.NHWC", arrays)
        outputs = {"NCHW": f"explanation.{name}.NCHW"}
        arrays[outputs["NCHW"]] = explanation
        if image:
            outputs["NHWC"] = f"explanation.{name}.NHWC"
            arrays[outputs["NHWC"]] = nchw_to_nhwc(explanation)
        info = method_info(name)
        records[name] = {"requested_as": requested, "start": info.start, "bias": info.bias,
                         "relu_rule": info.relu_rule, "returns": info.returns, "citation": info.citation,
                         "options": stored, "resolved": resolved, "explanation": outputs}

    manifest = {"format": REFERENCE_FORMAT, "version": REFERENCE_VERSION,
                "refpattern_version": refpattern.__version__, "backend": backend_name,
                "conventions": CONVENTIONS,
                "input": {"NCHW": "x.NCHW", "NHWC": "x.NHWC" if image else None, "shape_NCHW": list(x.shape)},
                "targets": {"given": _json_value(targets, "targets.given", arrays), "resolved": "targets"},
                "y_t": "y_t", "logits": "logits", "network": network, "methods": records}
    manifest["entries"] = sorted(arrays)
    arrays[MANIFEST_ENTRY] = np.array(json.dumps(manifest, ensure_ascii=False, sort_keys=True))
    path = pathlib.Path(path)
    write_atomically(path, lambda handle: np.savez(handle, **arrays))  # a failed write keeps an old file
    return path


def load_reference(path) -> dict:
    """Read a file of :func:`save_reference` with NumPy and ``json`` only (no refpattern, no pickle).

    This function is self-contained: a test suite may copy it as it stands.  Returns a dict:

    - ``"manifest"``: the JSON manifest as written (plain lists and dicts);
    - ``"x"``: ``{"NCHW": array, "NHWC": array or None}``; ``"targets"``, ``"y_t"``, ``"logits"``;
    - ``"network"``: ``{"input_shape": list, "torch": [layer dicts], "keras": [layer dicts]}``
      with every array in place;
    - ``"explanations"``: ``{method: {"NCHW": array, "NHWC": array}}``;
    - ``"options"``, ``"resolved"``: ``{method: {name: value}}`` with arrays in place;
    - ``"conventions"``, ``"refpattern_version"``.
    """
    import json

    import numpy as np

    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    if "manifest.json" not in arrays:
        raise ValueError(f"{path}: not a refpattern reference file (no manifest.json entry)")
    manifest = json.loads(str(arrays.pop("manifest.json")))
    if manifest.get("format") != "refpattern.reference" or manifest.get("version") != 1:
        raise ValueError(f"{path}: format {manifest.get('format')!r} version {manifest.get('version')!r}; expected "
                         "'refpattern.reference' version 1")
    missing = sorted(set(manifest["entries"]) - set(arrays))
    if missing:
        raise ValueError(f"{path}: entries listed in the manifest are missing: {missing}")

    def resolve(value):
        if isinstance(value, dict):
            if set(value) == {"array", "shape", "dtype"}:
                return arrays[value["array"]]
            return {key: resolve(item) for key, item in value.items()}
        if isinstance(value, list):
            return [resolve(item) for item in value]
        return value

    methods = manifest["methods"]
    return {
        "manifest": manifest,
        "refpattern_version": manifest["refpattern_version"],
        "conventions": manifest["conventions"],
        "x": {"NCHW": arrays["x.NCHW"], "NHWC": arrays.get("x.NHWC")},
        "targets": arrays["targets"],
        "y_t": arrays["y_t"],
        "logits": arrays["logits"],
        "network": resolve(manifest["network"]),
        "explanations": {name: {layout: arrays[entry] for layout, entry in record["explanation"].items()}
                         for name, record in methods.items()},
        "options": {name: resolve(record["options"]) for name, record in methods.items()},
        "resolved": {name: resolve(record["resolved"]) for name, record in methods.items()},
    }
