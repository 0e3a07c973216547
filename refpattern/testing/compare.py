"""Comparing another library's explanation with refpattern's, and naming the convention slip a
mismatch shows: :class:`Tolerance` and the tolerance table, :class:`ExplanationComparison`,
:func:`compare_explanation` and :func:`assert_explanation_close` (re-exported by
:mod:`refpattern.testing`, whose docstring describes the comparison and the tolerances).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from refpattern.interop.layouts import nchw_to_nhwc, nhwc_to_nchw
from refpattern.methods import Composite, explain, method_info
from refpattern.methods.registry import canonical_name
from refpattern.methods.targets import resolve_targets
from refpattern.network.sequential import Sequential


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
        The entry within the worst sample, in the layout given (``(f,)`` in a flat ``(N, F)`` batch).
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


#: Options that hold arrays shaped like the inputs, and the shapes each takes besides a scalar: one
#: sample, the batch, or ``(samples,) +`` the batch (SmoothGrad's perturbations).
_IMAGE_OPTIONS = {"baseline": ("sample", "batch"), "low": ("sample",), "high": ("sample",), "noise": ("samples",)}


def _image_options_to_nchw(options: dict, x_shape: tuple) -> dict:
    """With ``layout="NHWC"``: the image-shaped array options (IG's ``baseline``, z^B's and deep
    Taylor's ``low``/``high``, SmoothGrad's ``noise``), given channels-last like ``x``, moved to
    refpattern's channels-first layout (``docs/conventions.md#oracle-testing``).  Scalars pass as
    they are; an array of another shape is refused naming the option and the NHWC shapes it may take."""
    converted = dict(options)
    for name, kinds in _IMAGE_OPTIONS.items():
        value = options.get(name)
        if value is None or np.ndim(value) == 0:
            continue
        shapes = {"sample": tuple(x_shape[1:]), "batch": tuple(x_shape)}
        accepted = [shapes[kind] for kind in kinds if kind in shapes]
        shape = np.shape(value)
        if shape in accepted or ("samples" in kinds and len(shape) == 5 and shape[1:] == tuple(x_shape)):
            converted[name] = np.moveaxis(value, -1, -3)  # (…, H, W, C) → (…, C, H, W); keeps a mask
            continue
        wanted = (f"shape (samples,) + {tuple(x_shape)}" if "samples" in kinds
                  else "a scalar or shape " + " or ".join(str(a) for a in accepted))
        raise ValueError(f"{name}: with layout='NHWC' the array options are channels-last like x {tuple(x_shape)}: "
                         f"expected {wanted}, got {shape}")
    return converted


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
    if layout == "NHWC" and x.ndim == 4:
        options = _image_options_to_nchw(options, x.shape)
    reference_nchw = explain(net, x_nchw, method, target, backend=backend, **options)
    reference = nchw_to_nhwc(reference_nchw) if layout == "NHWC" and reference_nchw.ndim == 4 else reference_nchw
    logits = net.logits(x_nchw, backend)
    targets = resolve_targets(logits, target)
    y_t = logits[np.arange(len(targets)), targets]

    if isinstance(actual, np.ma.MaskedArray) and np.ma.count_masked(actual):
        raise ValueError(f"actual: a masked array with {np.ma.count_masked(actual)} masked entries of {actual.size}; "
                         "a masked entry has no value to compare (pass actual.filled(value), or numpy.ma.getdata"
                         "(actual) to compare the values under the mask)")
    try:
        raw = np.asarray(actual)
    except Exception as error:
        raise TypeError(f"actual: could not read it as an array ({error})") from None
    if raw.dtype.kind not in "fiu":  # timedelta64 counts as an integer to numpy.issubdtype; it is no number here
        raise TypeError(f"actual: expected a real numeric array (float, int or uint), got dtype {raw.dtype}")
    actual_dtype = raw.dtype
    actual64 = raw.astype(np.float64)
    name = method if isinstance(method, str) else "a Composite"
    if isinstance(method, Composite):
        start, method_name = method.start, None
    else:
        method_name = canonical_name(method)
        start = method_info(method_name).start
    image = x.ndim == 4
    batch = f"layout {layout}" if image else ("a flat (N, F) batch, no layout" if x.ndim == 2 else "no image layout")
    header = (f"explanation of {name!r} differs from refpattern's ({batch}, rtol={rtol:g}, atol={atol:g}: "
              "|actual − reference| ≤ atol + rtol·max|reference_n| per sample n)")

    if actual64.shape != reference.shape:
        diagnoses = tuple(_diagnose(actual64, reference, actual_dtype, np.array([np.inf]), (), y_t, start,
                                    method_name, None, layout, rtol))
        lines = [header, f"  shape: actual {actual64.shape}, reference {reference.shape}"]
        lines += _diagnosis_lines(diagnoses, image)
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
             f"  worst: sample {worst_sample}, {_entry_name(worst_position, layout, image)}: actual "
             f"{actual64[worst]:.9g}, reference {reference[worst]:.9g}, |difference| {difference[worst]:.3g} "
             f"(sample scale max|reference| = {scale[worst_sample]:.3g})",
             f"  relative error per sample (max|a_n − r_n| / max|r_n|): {_format(relative)}",
             f"  failing samples: {len(failing)} of {len(scale)}: {list(failing)[:20]}",
             f"  explained logit y_t per sample: {_format(y_t)}"]
    lines += _diagnosis_lines(diagnoses, image)
    if not diagnoses:
        lines.append(_EVAL_MODE_HINT)
    return ExplanationComparison(False, relative, failing, worst_sample, worst_position, float(actual64[worst]),
                                 float(reference[worst]), y_t, diagnoses, "\n".join(lines))


def _entry_name(position, layout, image) -> str:
    """The worst entry within its sample: ``position (c, h, w) (CHW)`` (or ``(h, w, c) (HWC)``) in an
    image batch, ``feature f`` in a flat ``(N, F)`` batch, the bare index otherwise."""
    if image:
        return f"position {position} ({layout[1:]})"
    if len(position) == 1:
        return f"feature {position[0]}"
    return f"position {position}"


def _diagnosis_lines(diagnoses, image):
    """The diagnosis part of the message; the layout slip is listed among the known ones only for an
    image batch, the only kind it is tested on."""
    if not diagnoses:
        layout = "NHWC/NCHW layout, " if image else ""
        return ["  diagnosis: none of the known convention slips (one-hot or y_t start, trapezoid weights, single "
                f"output pattern, {layout}float32 round-off, a constant or per-sample scale) explains the difference"]
    return ["  diagnosis:"] + [f"    - {d}" for d in diagnoses]


#: Added where the values differ and no slip explains them: a hint, not a diagnosis — the comparison
#: sees numbers, not the model (``docs/conventions.md#oracle-diagnoses``).
_EVAL_MODE_HINT = ("  hint, not a diagnosis (the model is not seen here): a model with Dropout or BatchNorm must run "
                   "in inference mode (torch model.eval(), Keras training=False), the network refpattern converts "
                   "(docs/conventions.md#converter-layers)")


def assert_explanation_close(actual, net, x, method, *, target=None, layout="NCHW", rtol=None, atol=None,
                             backend=None, **options) -> None:
    """Assert that another library's explanation ``actual`` equals refpattern's.

    Parameters
    ----------
    actual : array-like, shaped like ``x``
        The explanation under test (a NumPy array, or anything ``numpy.asarray`` reads, e.g. a
        CPU tensor); never modified.  A masked array with masked entries is refused (``ValueError``).
    net : Sequential
        The same network in refpattern (:mod:`refpattern.interop` for the layouts).
    x : ndarray of floats
        The explained batch, in ``layout``: ``(N, C, H, W)`` for ``"NCHW"``, ``(N, H, W, C)``
        for ``"NHWC"`` (then ``actual`` is NHWC too, and so are the image-shaped array options:
        ``baseline`` ``(H, W, C)`` or ``(N, H, W, C)``, ``low``/``high`` ``(H, W, C)``, ``noise``
        ``(samples, N, H, W, C)``); a flat ``(N, F)`` batch has no layout.
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
        With the worst sample and position (``feature f`` in a flat ``(N, F)`` batch), each
        sample's relative error, ``y_t``, and the convention slips the numbers show; where none
        explains differing values, a one-line hint (not a diagnosis) to run a model with Dropout
        or BatchNorm in inference mode (``docs/conventions.md#oracle-diagnoses``).
    TypeError, ValueError
        For arguments that are not what is expected (layout, tolerances, method, options).
    """
    comparison = compare_explanation(actual, net, x, method, target=target, layout=layout, rtol=rtol, atol=atol,
                                     backend=backend, **options)
    if not comparison.passed:
        raise AssertionError(comparison.message)
