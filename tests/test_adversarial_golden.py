"""Adversarial checks of the golden suite (docs/conventions.md#golden-suite, #golden-certificate): the certificate's
measure does not let a NaN pass as exact, the suite's Python entry points refuse arguments of the wrong type or
range before any work (naming the argument), and the README written into the suite documents every array family
a reference file holds.  The certified values themselves are recomputed here in exact rational arithmetic
(fractions.Fraction), independently of the exact twin, on one tiny case."""

import io
import json
import math
from fractions import Fraction

import numpy as np
import pytest

from refpattern import Dense, ReLU, Sequential
from refpattern.experiments import golden
from refpattern.experiments.golden_networks import golden_networks


def tiny_twin():
    pytest.importorskip("mpmath")
    return golden.ExactTwin(Sequential([Dense(np.eye(2))], input_shape=(2,)))


@pytest.mark.parametrize("actual", [[1.0, np.nan], [np.nan, 2.0], [1.0, np.inf], [-np.inf, 2.0]])
def test_a_nan_or_inf_is_an_infinite_error_not_an_exact_value(actual):
    """Against finite exact values (1, 2) a NaN anywhere is an unbounded error: a NaN after the first entry
    compared false and dropped out of the maximum, so [1, nan] measured 0 ulps — certified exact."""
    twin = tiny_twin()
    assert golden.ulps(twin, np.array(actual), [twin.mpf(1), twin.mpf(2)]) == math.inf


@pytest.mark.parametrize("values", [[0.5, float("nan")], [float("nan"), 0.5], [0.5, math.inf], [0.5, None]])
def test_a_sample_without_a_finite_error_is_never_within_its_bound(values):
    """One sample's NaN ulps dropped out of max() and [0.5, nan] was 'within_bound'; the manifest stays strict JSON
    (no NaN/Infinity) and the measured samples keep their values."""
    entry = golden._certificate_entry(values, 32.0)
    assert entry["within_bound"] is False and entry["max_ulps"] == 0.5
    assert entry["ulps"] == [0.5 if v == 0.5 else None for v in values]
    json.dumps(entry, allow_nan=False)


@pytest.mark.parametrize(("options", "error", "named"), [
    ({"samples": 0}, ValueError, "samples"), ({"samples": 2.5}, TypeError, "samples"),
    ({"samples": True}, TypeError, "samples"), ({"samples": None}, TypeError, "samples"),
    ({"seed": -1}, ValueError, "seed"), ({"seed": "0"}, TypeError, "seed"), ({"seed": True}, TypeError, "seed"),
    ({"names": "softmax_head"}, TypeError, "names"), ({"names": ["vgg"]}, ValueError, "names"),
    ({"names": []}, ValueError, "names"), ({"names": ["softmax_head"] * 2}, ValueError, "names"),
    ({"certify": "no"}, TypeError, "certify"), ({"certify": 0}, TypeError, "certify"),
    ({"digits": 10}, ValueError, "digits"), ({"digits": -5}, ValueError, "digits"),
    ({"digits": 30.5}, TypeError, "digits"), ({"digits": True}, TypeError, "digits"),
])
def test_build_suite_refuses_bad_arguments_before_any_work(options, error, named, monkeypatch):
    """Before: numpy's 'zero-size array to reduction', KeyError 's' for a name given as a string, an empty suite
    'within bounds', a truthy 'no' certifying, a 10-digit 'exact' twin failing every bound, a str seed written to
    the manifest.  Nothing is computed: fit_patterns must not be reached."""
    monkeypatch.setattr(golden, "fit_patterns", lambda *a, **k: pytest.fail("work started"))
    arguments = {"samples": 1, "names": ["softmax_head"], "progress": False, **options}
    with pytest.raises(error, match=rf"^{named}: expected"):
        golden.build_suite(**arguments)


def test_numpy_integers_are_taken_as_ints():
    """np.int64 samples/seed crashed in json.dumps after all the work; now they are ints, and the networks are
    those of the Python ints."""
    a = golden_networks(np.int64(2), np.int64(3), ("softmax_head",))[0]
    b = golden_networks(2, 3, ["softmax_head"])[0]
    assert np.array_equal(a.x, b.x) and np.array_equal(a.fit_x, b.fit_x)
    suite = golden.build_suite(samples=np.int64(1), seed=np.int64(3), certify=False, names=["softmax_head"],
                               progress=False)
    assert suite.manifest["samples"] == 1 and type(suite.manifest["seed"]) is int


def test_the_exact_twin_refuses_too_few_digits():
    pytest.importorskip("mpmath")
    net = Sequential([Dense(np.eye(2))], input_shape=(2,))
    with pytest.raises(ValueError, match=r"^digits: expected an int >= 30"):
        golden.ExactTwin(net, 16)


def test_the_suite_readme_documents_every_array_family_with_its_shape():
    """An oracle user reads the suite without refpattern: each kind of entry the reference file holds
    (options.<case>.…, resolved.<case>.…: the SmoothGrad perturbations and the IG nodes a peer needs) is named in
    the README with its shape."""
    suite = golden.build_suite(samples=1, certify=False, names=["softmax_head"], progress=False)
    text = suite.files["README.md"].decode()
    with np.load(io.BytesIO(suite.files["softmax_head.npz"]), allow_pickle=False) as archive:
        families = {name.split(".")[0] for name in archive.files}
    assert families == {"manifest", "x", "targets", "y_t", "logits", "network", "explanation", "options", "resolved"}
    for family in families - {"manifest"}:
        assert f"`{family}" in text, family
    for shape in ("(N,)", "(N, classes)", "(K, N) + x's sample shape", "(K,)"):
        assert shape in text, shape


def exact_lrp_epsilon(weights, biases, x, target, epsilon):
    """LRP-ε of a Dense/ReLU stack in exact rationals (docs/math.md#rule-lrp-epsilon), written from the equation."""
    activations, a = [x], x
    for k, (w, b) in enumerate(zip(weights, biases)):
        a = [sum((wi * ai for wi, ai in zip(row, a)), Fraction(0)) + bj for row, bj in zip(w, b)]
        if k < len(weights) - 1:
            a = [max(v, Fraction(0)) for v in a]
        activations.append(a)
    relevance = [Fraction(0)] * len(a)
    relevance[target] = a[target]
    for k in range(len(weights) - 1, -1, -1):
        w, b, inputs = weights[k], biases[k], activations[k]
        z = [sum((wi * ai for wi, ai in zip(row, inputs)), Fraction(0)) + bj for row, bj in zip(w, b)]
        relevance = [sum(inputs[i] * w[j][i] * relevance[j] / (z[j] + (epsilon if z[j] >= 0 else -epsilon))
                         for j in range(len(w))) for i in range(len(inputs))]
    return relevance


def test_a_certified_lrp_epsilon_entry_agrees_with_exact_rational_arithmetic():
    """The certificate's recorded ulps of LRP-ε (ε = 0.1) on one dense sample equal refpattern's error against
    exact fractions, computed here without the twin (a recorded error smaller than the real one would be the worst
    defect of an oracle)."""
    pytest.importorskip("mpmath")
    rng = np.random.default_rng(5)
    net = Sequential([Dense(rng.normal(size=(3, 2)), rng.normal(size=3)), ReLU(), Dense(rng.normal(size=(2, 3)),
                                                                                        rng.normal(size=2))],
                     input_shape=(2,))
    x = rng.normal(size=(1, 2))
    from refpattern import explain
    computed = explain(net, x, "lrp.epsilon", epsilon=0.1)[0]
    layers = [net.layers[0], net.layers[2]]
    weights = [[[Fraction(float(v)) for v in row] for row in layer.weight] for layer in layers]
    biases = [[Fraction(float(v)) for v in layer.bias] for layer in layers]
    target = int(np.argmax(net.logits(x)[0]))
    exact = exact_lrp_epsilon(weights, biases, [Fraction(float(v)) for v in x[0]], target, Fraction(0.1))
    error = max(abs(Fraction(float(c)) - e) for c, e in zip(computed, exact))
    scale = max(abs(e) for e in exact)
    exponent = math.frexp(float(scale))[1]
    twin = golden.ExactTwin(net)
    measured = golden.ulps(twin, computed, twin.explain("lrp.epsilon", x[0], target, {"epsilon": 0.1}))
    assert measured == pytest.approx(float(error / Fraction(2) ** (exponent - 53)), rel=1e-9, abs=1e-9)
