"""method_info: one frozen record per method, consistent with what explain actually does."""

import dataclasses
import re

import numpy as np
import pytest
from conftest import pattern_cnn

import refpattern as rp
from refpattern.methods import ALIASES, MethodInfo, method_info
from refpattern.methods.registry import GRADIENT_METHODS, METHODS, canonical_name


def test_every_method_has_a_record_reachable_by_every_name():
    assert rp.method_info is method_info
    for name in rp.method_names():
        info = method_info(name)
        assert isinstance(info, MethodInfo) and info.name == name
        assert info.start in ("one", "logit")
        assert all(getattr(info, field) for field in ("bias", "relu_rule", "returns", "citation"))
        assert set(info.aliases) == {alias for alias, target in ALIASES.items() if target == name}
        for alias in info.aliases:
            assert method_info(alias) == info
    with pytest.raises(ValueError, match="unknown method 'lrp.magic'"):
        method_info("lrp.magic")


def test_record_is_frozen_and_its_defaults_are_what_explain_fills_in():
    info = method_info("lrp.epsilon")
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.start = "one"
    with pytest.raises(TypeError):
        info.default_options["epsilon"] = 1.0
    for name in rp.method_names():
        _, defaults = METHODS[name] if name in METHODS else GRADIENT_METHODS[name]
        assert dict(method_info(name).default_options) == defaults


def test_start_value_is_the_one_explain_uses():
    """Composite methods: the start of the composite the registry builds.  Gradient methods: on a
    bias-free linear model every one of them returns a multiple of w_t that does not scale with y_t."""
    rng = np.random.default_rng(2)
    net = pattern_cnn(rng)
    patterns = rp.fit_patterns(net, rng.normal(size=(64, 2, 9, 9)), "a+-")
    required = {"patterns": patterns, "low": -4.0, "high": 4.0}
    for name, (builder, defaults) in METHODS.items():
        options = {**defaults, **{k: v for k, v in required.items() if k in defaults}}
        assert builder(options, net).start == method_info(name).start, name
    w = rng.normal(size=(3, 4))
    linear = rp.Sequential([rp.Dense(w)])
    x = rng.normal(size=(6, 4))
    t = np.argmax(linear.logits(x), axis=1)
    expected = {"input_x_gradient": x * w[t], "integrated_gradients": x * w[t], "smoothgrad": w[t]}
    for name in GRADIENT_METHODS:
        assert method_info(name).start == "one"
        np.testing.assert_allclose(rp.explain(linear, x, name), expected[name], rtol=1e-12, atol=1e-14)


def test_names_claimed_equivalent_in_innvestigate_are_accepted_for_the_same_method():
    """Every iNNvestigate analyzer name a record lists that refpattern accepts resolves to that record's method."""
    for name in rp.method_names():
        info = method_info(name)
        for listed in (info.innvestigate_1, info.innvestigate_2):
            for token in re.findall(r"[a-z_][a-z0-9_.]*[a-z0-9_]", listed or ""):
                try:
                    resolved = canonical_name(token)
                except ValueError:
                    continue
                assert resolved == name, f"{name}: {token} resolves to {resolved}"


def test_records_state_the_documented_differences():
    assert "abs=False" in method_info("gradient").captum
    assert "(n−1)/n" in method_info("integrated_gradients").differences
    assert "output_pattern='a+'" in method_info("pattern.net").differences
    assert "ZPlus()" in method_info("lrp.alpha_1_beta_0").zennit
    assert method_info("lrp.z_plus").zennit == "zennit.rules.ZPlus(zero_params=['bias'])"
