"""refpattern.testing: the oracle kit (docs/conventions.md#oracle-testing).

- every convention slip made on purpose is named by the diagnosis, and only that one; correct input passes;
- the tolerance table (docs/conventions.md#tolerances) is measured here: backends against each other for
  every method, and the same network run by an emulated float64 and float32 framework
  (tests/framework_emulation.py);
- a reference file round-trips bit for bit, and load_reference runs with nothing but NumPy and json.
"""

import builtins
import inspect
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import pattern_cnn, random_cnn, record_error, run_in_cuda_simulator
from framework_emulation import EMULATED_METHODS, explain_emulated, keras_forward, relative_error_per_sample

import refpattern as rp
from refpattern.interop import nchw_to_nhwc
from refpattern.methods import captum_quadrature, logit_of_target
from refpattern.testing import (
    BACKEND_TOLERANCE,
    FLOAT32_TOLERANCE,
    FLOAT64_TOLERANCE,
    TOLERANCES,
    assert_explanation_close,
    compare_explanation,
    load_reference,
    save_reference,
)

DIAGNOSES = ("layout:", "start: seeded with a one-hot", "start: seeded with y_t", "quadrature:", "sign:", "scale:",
             "output pattern:", "output pattern?:", "precision:", "none of the known convention slips")


@pytest.fixture(scope="module")
def case():
    net = random_cnn(seed=3, bias=0.3)
    x = np.random.default_rng(0).normal(size=(4, 2, 9, 9))
    return net, x, logit_of_target(net, x)


@pytest.fixture(scope="module")
def pattern_case():
    rng = np.random.default_rng(11)
    net = pattern_cnn(rng)
    patterns = rp.fit_patterns(net, rng.normal(size=(400, 2, 9, 9)), "a+-")
    x = rng.normal(size=(8, 2, 9, 9))
    logits = net.logits(x)
    targets = np.where(np.arange(8) % 2 == 0, logits.argmax(axis=1), logits.argmin(axis=1))
    return net, patterns, x, targets


def _diagnoses_in(message):
    return [tag for tag in DIAGNOSES if tag in message]


def _fails_with(expected, actual, net, x, method, **kwargs):
    with pytest.raises(AssertionError) as raised:
        assert_explanation_close(actual, net, x, method, **kwargs)
    message = str(raised.value)
    assert _diagnoses_in(message) == [expected], message
    return message


# --- correct input passes, every slip is named ---------------------------------------------------------

def test_correct_explanations_pass_in_both_layouts(case):
    net, x, _ = case
    for method in ("gradient", "lrp.epsilon", "deconvnet"):
        reference = rp.explain(net, x, method)
        assert_explanation_close(reference, net, x, method)
        assert_explanation_close(nchw_to_nhwc(reference), net, nchw_to_nhwc(x), method, layout="NHWC")
        result = compare_explanation(reference.copy(), net, x, method)
        assert result.passed and result.diagnoses == () and np.all(result.relative_error == 0)


def test_nhwc_comparison_reads_the_array_options_channels_last_too():
    """With layout="NHWC", IG's baseline, SmoothGrad's noise and z^B's / deep Taylor's bounds are NHWC like x: the
    comparison of NHWC maps computed with NHWC options passes — on a C = H = W network, where the NHWC arrays were
    silently read as NCHW (a wrong reference, a failed assertion) — and an NCHW-shaped option is refused."""
    rng = np.random.default_rng(5)
    net = rp.Sequential([rp.Conv2D(rng.normal(size=(2, 3, 2, 2)), rng.normal(size=2)), rp.ReLU(), rp.Flatten(),
                         rp.Dense(rng.normal(size=(3, 8)), None)], input_shape=(3, 3, 3))
    x, sample = rng.normal(size=(2, 3, 3, 3)), rng.normal(size=(3, 3, 3))
    bounds = {"low": -np.abs(sample) - 2.0, "high": np.abs(sample) + 2.0}
    cases = [("integrated_gradients", {"baseline": sample}), ("integrated_gradients", {"baseline": x[::-1].copy()}),
             ("smoothgrad", {"noise": rng.normal(size=(4, 2, 3, 3, 3))}), ("lrp.zb", bounds), ("deep_taylor", bounds)]
    for method, options in cases:
        channels_last = {name: np.moveaxis(value, -3, -1) for name, value in options.items()}
        kept = {name: value.copy() for name, value in channels_last.items()}
        reference = rp.explain(net, x, method, **options)
        assert_explanation_close(nchw_to_nhwc(reference), net, nchw_to_nhwc(x), method, layout="NHWC", **channels_last)
        for name, value in channels_last.items():
            np.testing.assert_array_equal(value, kept[name])  # the caller's arrays are not modified
    tall = rp.Sequential([rp.Conv2D(rng.normal(size=(2, 3, 2, 2)), None), rp.ReLU(), rp.Flatten(),
                          rp.Dense(rng.normal(size=(3, 24)), None)], input_shape=(3, 5, 4))
    x_nhwc = nchw_to_nhwc(rng.normal(size=(2, 3, 5, 4)))
    refusal = r"baseline: with layout='NHWC'.*\(5, 4, 3\) or \(2, 5, 4, 3\), got \(3, 5, 4\)"
    with pytest.raises(ValueError, match=refusal):
        compare_explanation(x_nhwc, tall, x_nhwc, "integrated_gradients", layout="NHWC", baseline=np.zeros((3, 5, 4)))


def test_one_hot_start_is_diagnosed(case):
    net, x, y_t = case
    reference = rp.explain(net, x, "lrp.epsilon", epsilon=1e-3)
    message = _fails_with("start: seeded with a one-hot", reference / y_t[:, None, None, None], net, x, "lrp.epsilon",
                          epsilon=1e-3)
    assert "worst: sample" in message and "relative error per sample" in message


def test_logit_start_of_a_gradient_method_is_diagnosed(case):
    net, x, y_t = case
    guided = rp.explain(net, x, "guided_backprop")
    _fails_with("start: seeded with y_t", guided * y_t[:, None, None, None], net, x, "guided_backprop")


def test_captum_trapezoid_weights_are_diagnosed_with_their_step_count(case):
    net, x, _ = case
    alphas, weights = captum_quadrature("riemann_trapezoid", 20)
    captum_like = rp.explain(net, x, "integrated_gradients", alphas=alphas, weights=weights)
    message = _fails_with("quadrature:", captum_like, net, x, "integrated_gradients", steps=20, quadrature="trapezoid")
    assert "n = 20" in message and "captum_quadrature('riemann_trapezoid', 20)" in message
    # mirroring Captum's rule with alphas/weights passes
    assert_explanation_close(captum_like, net, x, "integrated_gradients", alphas=alphas, weights=weights)


def test_single_output_pattern_is_diagnosed_on_the_samples_with_nonpositive_logit(pattern_case):
    net, patterns, x, targets = pattern_case
    single = rp.explain(net, x, "pattern.attribution", target=targets, patterns=patterns, output_pattern="a+")
    message = _fails_with("output pattern:", single, net, x, "pattern.attribution", target=targets,
                          patterns=patterns)
    closed = np.flatnonzero(net.logits(x)[np.arange(8), targets] <= 0).tolist()
    assert f"failing samples: {len(closed)} of 8: {closed}" in message
    assert_explanation_close(single, net, x, "pattern.attribution", target=targets, patterns=patterns,
                             output_pattern="a+")


def test_layout_slip_is_diagnosed(case):
    net, x, _ = case
    reference = rp.explain(net, x, "lrp.z")
    message = _fails_with("layout:", nchw_to_nhwc(reference), net, x, "lrp.z")
    assert "pass layout='NHWC'" in message
    square = rp.Sequential([rp.Conv2D(np.random.default_rng(1).normal(size=(3, 3, 2, 2)), padding=0), rp.ReLU(),
                            rp.Flatten(), rp.Dense(np.random.default_rng(2).normal(size=(2, 12)))],
                           input_shape=(3, 3, 3))
    x_square = np.random.default_rng(3).normal(size=(2, 3, 3, 3))  # C = H = W: both layouts have one shape
    gradient = rp.explain(square, x_square, "gradient")
    _fails_with("layout:", nchw_to_nhwc(gradient), square, x_square, "gradient")


def test_float32_framework_is_diagnosed(case):
    net, x, _ = case
    targets = np.argmax(net.logits(x), axis=1)
    in_float32 = explain_emulated(net, x, targets, "lrp.epsilon", np.float32)
    message = _fails_with("precision:", in_float32.astype(np.float32), net, x, "lrp.epsilon")
    assert "actual's dtype is float32" in message
    message = _fails_with("precision:", in_float32, net, x, "lrp.epsilon")
    assert "every entry of actual is a float32 number" in message
    assert_explanation_close(in_float32, net, x, "lrp.epsilon", rtol=FLOAT32_TOLERANCE.rtol)


def test_constant_scale_and_sign_flip_are_diagnosed(case):
    net, x, _ = case
    reference = rp.explain(net, x, "lrp.alpha_2_beta_1")
    message = _fails_with("scale:", 2.5 * reference, net, x, "lrp.alpha_2_beta_1")
    assert "actual = 2.5 · reference" in message
    _fails_with("sign:", -reference, net, x, "lrp.alpha_2_beta_1")


def test_an_unexplained_difference_says_so(case):
    net, x, _ = case
    reference = rp.explain(net, x, "gradient")
    noisy = reference + 0.1 * np.random.default_rng(4).normal(size=reference.shape)
    message = _fails_with("none of the known convention slips", noisy, net, x, "gradient")
    assert "failing samples: 4 of 4" in message
    # float64 rounding under a tolerance tighter than float64 allows is not called float32
    numba = rp.explain(net, x, "lrp.epsilon", backend="numba")
    assert np.any(numba != rp.explain(net, x, "lrp.epsilon", backend="numpy"))
    _fails_with("none of the known convention slips", numba, net, x, "lrp.epsilon", backend="numpy", rtol=1e-18)


def test_a_flat_batch_is_described_without_an_image_layout(case):
    """An MLP's (N, F) batch has no NCHW/NHWC: every message path names its entries as features and lists no layout
    slip among the known ones, whichever layout is passed; an image batch keeps its layout and (CHW) axes."""
    rng = np.random.default_rng(6)
    mlp = rp.Sequential([rp.Dense(rng.normal(size=(5, 4)), rng.normal(size=5)), rp.ReLU(),
                         rp.Dense(rng.normal(size=(3, 5)))], input_shape=(4,))
    x = rng.normal(size=(3, 4))
    reference = rp.explain(mlp, x, "gradient")
    noisy = reference.copy()
    noisy[2, 1] += 10.0 * np.abs(reference).max()  # the worst entry: sample 2, feature 1
    broken = reference.copy()
    broken[1, 2] = np.nan
    for layout in ("NCHW", "NHWC"):
        for actual in (noisy, 2.5 * reference, reference[:, :3], broken):
            message = compare_explanation(actual, mlp, x, "gradient", layout=layout).message
            assert "NCHW" not in message and "NHWC" not in message and "CHW" not in message, message
            assert "a flat (N, F) batch, no layout" in message, message
        result = compare_explanation(noisy, mlp, x, "gradient", layout=layout)
        assert (result.worst_sample, result.worst_position) == (2, (1,))
        assert "worst: sample 2, feature 1: actual" in result.message, result.message
    net, x_image, _ = case
    image_reference = rp.explain(net, x_image, "gradient")
    message = compare_explanation(image_reference + 1.0, net, x_image, "gradient").message
    assert "layout NCHW" in message and "(CHW)" in message and "NHWC/NCHW layout" in message, message


def test_an_unexplained_value_difference_hints_at_inference_mode_without_diagnosing_it(case):
    """Dropout or BatchNorm left in training mode changes values in no pattern the diagnoses test; the message then
    points to the documented eval-mode convention, worded as a hint, never as a diagnosis (nor in .diagnoses), and
    only where no slip explains the values: not beside a found slip, not for a shape mismatch."""
    net, x, _ = case
    reference = rp.explain(net, x, "gradient")
    keep = np.random.default_rng(7).random(reference.shape) > 0.2
    dropout_like = reference * keep / 0.8
    result = compare_explanation(dropout_like, net, x, "gradient")
    hints = [line for line in result.message.splitlines() if "Dropout or BatchNorm" in line]
    assert len(hints) == 1 and hints[0].startswith("  hint, not a diagnosis"), result.message
    assert "model.eval()" in hints[0] and "docs/conventions.md#converter-layers" in hints[0]
    assert result.diagnoses == () and _diagnoses_in(result.message) == ["none of the known convention slips"]
    for slipped in (2.5 * reference, reference[:, :, :, :8]):
        assert "Dropout" not in compare_explanation(slipped, net, x, "gradient").message


def test_bad_arguments_are_refused_and_nothing_is_modified(case):
    net, x, _ = case
    reference = rp.explain(net, x, "gradient")
    given = reference.copy()
    with pytest.raises(ValueError, match="layout: expected one of"):
        assert_explanation_close(given, net, x, "gradient", layout="NWHC")
    with pytest.raises(ValueError, match="rtol: expected a finite number >= 0"):
        assert_explanation_close(given, net, x, "gradient", rtol=-1.0)
    with pytest.raises(TypeError, match="actual: expected a real numeric array"):
        assert_explanation_close(np.array(["a"] * 4), net, x, "gradient")
    with pytest.raises(ValueError, match="unknown option"):
        assert_explanation_close(given, net, x, "gradient", epsilon=1.0)
    broken = given.copy()
    broken[1, 0, 2, 3] = np.nan
    with pytest.raises(AssertionError, match=r"1 NaN or inf entries, the first at \(1, 0, 2, 3\)"):
        assert_explanation_close(broken, net, x, "gradient")
    np.testing.assert_array_equal(given, reference)


# --- the tolerance table, measured -----------------------------------------------------------------------

def _all_method_options(net, rng):
    patterns = rp.fit_patterns(net, rng.normal(size=(128, 2, 9, 9)), "a+-")
    cases = {}
    for name in rp.method_names():
        options = {"patterns": patterns} if name.startswith("pattern.") else {}
        if name in ("lrp.zb", "zennit.epsilon_gamma_box"):
            options.update(low=-5.0, high=5.0)
        options.update({"smoothgrad": {"samples": 4}, "integrated_gradients": {"steps": 8}}.get(name, {}))
        cases[name] = options
    return cases


def _test_network(seed):
    """Two live test networks (every sample's explanations nonzero): the random CNN and the pattern CNN."""
    return random_cnn(seed=3, bias=0.3) if seed == 0 else pattern_cnn(np.random.default_rng(11))


def test_tolerance_table_names():
    assert TOLERANCES == {"backends": BACKEND_TOLERANCE, "float64": FLOAT64_TOLERANCE, "float32": FLOAT32_TOLERANCE}
    assert BACKEND_TOLERANCE.rtol < FLOAT64_TOLERANCE.rtol < FLOAT32_TOLERANCE.rtol


@pytest.mark.parametrize("seed", [0, 1])
def test_backends_agree_within_the_backend_tolerance_for_every_method(seed):
    """numba against numpy, every method, two test networks: at least 100× below BACKEND_TOLERANCE."""
    rng = np.random.default_rng(seed)
    net = _test_network(seed)
    x = rng.normal(size=(4, 2, 9, 9))
    worst = 0.0
    for name, options in _all_method_options(net, rng).items():
        numba = rp.explain(net, x, name, backend="numba", **options)
        numpy = rp.explain(net, x, name, backend="numpy", **options)
        error = relative_error_per_sample(numba, numpy).max()
        record_error(error, name)
        worst = max(worst, error)
        assert_explanation_close(numba, net, x, name, backend="numpy", rtol=BACKEND_TOLERANCE.rtol, **options)
    print(f"numba vs numpy, every method: largest per-sample relative error {worst:.2e}")
    assert worst <= BACKEND_TOLERANCE.rtol / 100


@pytest.mark.cudasim
def test_cuda_backend_within_the_backend_tolerance_in_the_simulator():
    run_in_cuda_simulator(Path(__file__).resolve().with_name("cudasim_tolerance_checks.py"))


def _framework_errors(dtype):
    errors = {}
    for seed in (0, 1):
        rng = np.random.default_rng(seed)
        net = _test_network(seed)
        patterns = rp.fit_patterns(net, rng.normal(size=(256, 2, 9, 9)), "a+-")
        x = rng.normal(size=(6, 2, 9, 9))
        targets = np.argmax(net.logits(x), axis=1)
        for method in EMULATED_METHODS:
            options = {"patterns": patterns} if method == "pattern.attribution" else {}
            reference = rp.explain(net, x, method, target=targets, **options)
            emulated = explain_emulated(net, x, targets, method, dtype, patterns=patterns)
            errors[(seed, method)] = relative_error_per_sample(emulated, reference).max()
            tolerance = FLOAT64_TOLERANCE if dtype == np.float64 else FLOAT32_TOLERANCE
            assert_explanation_close(emulated, net, x, method, target=targets, rtol=tolerance.rtol, **options)
    return errors


def test_float64_framework_tolerance():
    """The same network as dense float64 matrices (other summation order): at least 10⁴× below FLOAT64_TOLERANCE."""
    errors = _framework_errors(np.float64)
    for (seed, method), error in errors.items():
        record_error(error, f"{method}, network {seed}")
    print(f"emulated float64 framework: largest per-sample relative error {max(errors.values()):.2e}")
    assert max(errors.values()) <= FLOAT64_TOLERANCE.rtol / 1e4


def test_float32_framework_tolerance():
    """The same network run in float32: at least 10× below FLOAT32_TOLERANCE, and beyond the float64 one
    (so a float32 framework needs its own row)."""
    errors = _framework_errors(np.float32)
    for (seed, method), error in errors.items():
        record_error(error, f"{method}, network {seed}")
    print(f"emulated float32 framework: largest per-sample relative error {max(errors.values()):.2e}")
    assert max(errors.values()) <= FLOAT32_TOLERANCE.rtol / 10
    assert min(errors.values()) > FLOAT64_TOLERANCE.rtol


# --- reference files ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def reference_file(tmp_path_factory, pattern_case):
    net, patterns, x, targets = pattern_case
    x = x[:4]
    methods = ["gradient", "lrp.epsilon", "integrated_gradients", "smoothgrad", "pattern.attribution",
               "zennit.epsilon_gamma_box", "input_t_gradient"]
    options = {"lrp.epsilon": {"epsilon": 1e-3},
               "integrated_gradients": {"baseline": 0.1 * x[0], "steps": 5, "quadrature": "gauss_legendre"},
               "smoothgrad": {"samples": 3, "noise_level": 0.2, "seed": 7},
               "pattern.attribution": {"patterns": patterns},
               "zennit.epsilon_gamma_box": {"low": -np.ones(x.shape[1:]), "high": 2.0}}
    path = tmp_path_factory.mktemp("oracle") / "reference.npz"
    written = save_reference(path, net, x, methods, targets=[0, 1, 2, 0], options=options)
    return written, net, x, methods, options, patterns


def test_reference_round_trip_is_bit_exact(reference_file):
    path, net, x, methods, options, patterns = reference_file
    loaded = load_reference(path)
    targets = np.array([0, 1, 2, 0])
    assert loaded["x"]["NCHW"].dtype == np.float64 and np.array_equal(loaded["x"]["NCHW"], x)
    np.testing.assert_array_equal(loaded["x"]["NHWC"], nchw_to_nhwc(x))
    np.testing.assert_array_equal(loaded["targets"], targets)
    logits = net.logits(x)
    np.testing.assert_array_equal(loaded["logits"], logits)
    np.testing.assert_array_equal(loaded["y_t"], logits[np.arange(4), targets])
    assert set(loaded["explanations"]) == {rp.method_info(m).name for m in methods}
    for name, outputs in loaded["explanations"].items():
        expected = rp.explain(net, x, name, target=targets, **options.get(name, {}))
        np.testing.assert_array_equal(outputs["NCHW"], expected)
        np.testing.assert_array_equal(outputs["NHWC"], nchw_to_nhwc(expected))
    assert loaded["explanations"]["input_x_gradient"]["NCHW"].shape == x.shape
    assert loaded["refpattern_version"] == rp.__version__
    # exact options: defaults filled, arrays in place
    assert loaded["options"]["lrp.epsilon"] == {"epsilon": 1e-3}
    ig = loaded["options"]["integrated_gradients"]
    np.testing.assert_array_equal(ig["baseline"], 0.1 * x[0])
    assert ig["steps"] == 5 and ig["quadrature"] == "gauss_legendre" and ig["alphas"] is None
    nodes, weights = rp.methods.integrated_gradients.quadrature("gauss_legendre", 5)
    np.testing.assert_array_equal(loaded["resolved"]["integrated_gradients"]["alphas"], nodes)
    np.testing.assert_array_equal(loaded["resolved"]["integrated_gradients"]["weights"], weights)
    noise = loaded["resolved"]["smoothgrad"]["noise.NCHW"]
    assert noise.shape == (3,) + x.shape
    np.testing.assert_array_equal(rp.explain(net, x, "smoothgrad", target=targets, noise=noise),
                                  loaded["explanations"]["smoothgrad"]["NCHW"])
    np.testing.assert_array_equal(loaded["resolved"]["smoothgrad"]["noise.NHWC"], np.moveaxis(noise, 2, -1))
    stored_patterns = loaded["options"]["pattern.attribution"]["patterns"]
    assert stored_patterns["estimator"] == "a+-"
    for k, layer in enumerate(stored_patterns["layers"]):
        np.testing.assert_array_equal(layer["a_plus"]["torch"], patterns[k].a_plus)
        np.testing.assert_array_equal(layer["a_minus"]["torch"], patterns[k].a_minus)
    np.testing.assert_array_equal(loaded["options"]["zennit.epsilon_gamma_box"]["low"], -np.ones(x.shape[1:]))
    record = loaded["manifest"]["methods"]["pattern.attribution"]
    assert record["start"] == "logit" and loaded["manifest"]["methods"]["gradient"]["start"] == "one"
    assert loaded["manifest"]["methods"]["input_x_gradient"]["requested_as"] == "input_t_gradient"


def test_reference_network_layouts_reproduce_the_logits(reference_file):
    """Both stored layouts are the network: torch layout equal to the layers, Keras layout run channels-last."""
    path, net, x, *_ = reference_file
    loaded = load_reference(path)
    torch_layers = loaded["network"]["torch"]
    for layer, stored in zip(net.layers, torch_layers):
        assert stored["type"] == type(layer).__name__
        if layer.is_kernel:
            np.testing.assert_array_equal(stored["weight"], layer.weight)
            np.testing.assert_array_equal(stored["bias"], layer.bias)
    keras_layers = loaded["network"]["keras"]
    np.testing.assert_allclose(keras_forward(keras_layers, loaded["x"]["NHWC"]), loaded["logits"], rtol=1e-12,
                               atol=1e-12)
    keras_patterns = loaded["options"]["pattern.attribution"]["patterns"]["layers"]
    first_dense = next(i for i, layer in enumerate(keras_layers) if layer["type"] == "Dense")
    k = [i for i, layer in enumerate(keras_layers) if layer["type"] in ("Dense", "Conv2D")].index(first_dense)
    assert keras_patterns[k]["a_plus"]["keras"].shape == keras_layers[first_dense]["kernel"].shape


def test_load_reference_needs_only_numpy_and_json(reference_file):
    """Its source, run in a namespace with nothing but the builtins, reads the file the same way."""
    path = reference_file[0]
    namespace = {"__builtins__": builtins}
    exec(inspect.getsource(load_reference), namespace)
    copied = namespace["load_reference"](path)
    original = load_reference(path)
    assert json.dumps(copied["manifest"], sort_keys=True) == json.dumps(original["manifest"], sort_keys=True)
    for name in original["explanations"]:
        np.testing.assert_array_equal(copied["explanations"][name]["NCHW"], original["explanations"][name]["NCHW"])
    with np.load(path, allow_pickle=False) as archive:
        assert all(archive[name].dtype != object for name in archive.files)


def test_reference_files_refuse_what_they_cannot_store_or_read(tmp_path, case):
    net, x, _ = case
    target = tmp_path / "ref.data"
    assert save_reference(target, net, x[:2], "gradient") == target and target.exists()  # no suffix added
    with pytest.raises(ValueError, match="listed twice"):
        save_reference(tmp_path / "a.npz", net, x, ["gradient", "gradient"])
    with pytest.raises(ValueError, match="not among the methods"):
        save_reference(tmp_path / "a.npz", net, x, ["gradient"], options={"lrp.epsilon": {"epsilon": 1.0}})
    with pytest.raises(TypeError, match="methods must be method names"):
        save_reference(tmp_path / "a.npz", net, x, [rp.Composite()])
    with pytest.raises(ValueError, match="unknown method"):
        save_reference(tmp_path / "a.npz", net, x, ["lrp.magic"])
    # explain checks every option first
    with pytest.raises(TypeError, match="lrp.epsilon option epsilon: expected a real number"):
        save_reference(tmp_path / "a.npz", net, x, ["lrp.epsilon"], options={"lrp.epsilon": {"epsilon": object()}})
    np.savez(tmp_path / "other.npz", a=np.zeros(2))
    with pytest.raises(ValueError, match="not a refpattern reference file"):
        load_reference(tmp_path / "other.npz")
    loaded = dict(np.load(target, allow_pickle=False))
    del loaded["y_t"]
    np.savez(tmp_path / "truncated.npz", **loaded)
    with pytest.raises(ValueError, match=r"missing: \['y_t'\]"):
        load_reference(tmp_path / "truncated.npz")
