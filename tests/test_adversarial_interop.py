"""Adversarial cases of the converters and layouts (docs/conventions.md#converters,
docs/conventions.md#interop-layouts): models that convert but would compute something else than the
framework's own forward pass, and layout functions that must return new arrays.

The framework tests are marked ``peers`` and skip when their framework is not installed."""

import numpy as np
import pytest

import refpattern as rp

peers = pytest.mark.peers


def relative_error(actual, expected):
    return float(np.max(np.abs(actual - expected)) / np.max(np.abs(expected)))


# -- PyTorch ---------------------------------------------------------------------------------------

@pytest.fixture
def torch():
    return pytest.importorskip("torch", reason="torch is not installed (pip install \"refpattern[torch]\")")


@peers
def test_a_module_held_twice_in_the_chain_is_converted_at_each_place_it_runs(torch):
    """nn.Sequential.forward runs a shared ReLU, Linear or Sequential once per place; named_children() yields it
    once, which dropped the second ReLU / Linear and changed the logits by 10-50 % (found by an audit)."""
    from refpattern.interop import from_torch

    nn = torch.nn
    torch.manual_seed(0)
    relu, square, block = nn.ReLU(), nn.Linear(5, 5), nn.Sequential(nn.Linear(5, 5), nn.ReLU())
    model = nn.Sequential(nn.Linear(4, 5), relu, square, relu, square, block, block, nn.Linear(5, 3)).double()
    net = from_torch(model, (4,))
    assert len(net.layers) == 10  # Linear, ReLU, (Linear, ReLU) × 2 through `square`/`relu`, block × 2, Linear
    x = np.random.default_rng(0).normal(size=(6, 4))
    inputs = torch.from_numpy(x).requires_grad_(True)
    logits = model(inputs)
    assert relative_error(net.forward(x), logits.detach().numpy()) <= 1e-12
    targets = logits.argmax(dim=1)
    logits.gather(1, targets[:, None]).sum().backward()
    assert relative_error(rp.explain(net, x, "gradient", target=targets.numpy()), inputs.grad.numpy()) <= 1e-12


@peers
def test_global_forward_hooks_are_refused(torch):
    """register_module_forward_hook runs on every module and may change its output (here: doubles every Linear)."""
    from refpattern.interop import UnsupportedLayerError, from_torch

    model = torch.nn.Sequential(torch.nn.Linear(4, 3))
    registration = torch.nn.modules.module.register_module_forward_hook(lambda module, inputs, output: 2 * output)
    try:
        with pytest.raises(UnsupportedLayerError, match=r"from_torch: the model, Sequential: global forward hooks "
                                                        r"are registered \(_global_forward_hooks"):
            from_torch(model, (4,))
    finally:
        registration.remove()
    assert len(from_torch(model, (4,)).layers) == 1  # once removed, the model converts
