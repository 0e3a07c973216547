"""The same network in PyTorch (nn.Sequential, copied weights) gives the same logits to ≤ 1e-12."""

import numpy as np
import pytest
from conftest import random_cnn

torch = pytest.importorskip("torch", reason="torch is not installed; the hand-built case in test_layers.py covers "
                                            "the same conventions with explicit loops")


def torch_copy(net):
    """``nn.Sequential`` of the same shape as ``random_cnn`` with the weights copied (float64)."""
    conv1, _, _, conv2, _, _, dense1, _, dense2, _ = net.layers
    nn = torch.nn
    model = nn.Sequential(
        nn.Conv2d(2, 3, 3, stride=2, padding=1), nn.ReLU(), nn.MaxPool2d(2, stride=1),
        nn.Conv2d(3, 4, (2, 3), stride=1, padding=(1, 0)), nn.ReLU(), nn.Flatten(),
        nn.Linear(40, 6), nn.ReLU(), nn.Linear(6, 3),
    ).double()
    with torch.no_grad():
        for module, layer in zip([model[0], model[3], model[6], model[8]], [conv1, conv2, dense1, dense2]):
            module.weight.copy_(torch.from_numpy(np.array(layer.weight)))
            module.bias.copy_(torch.from_numpy(np.array(layer.bias)))
    return model


def test_logits_match_torch_sequential():
    net = random_cnn(seed=41)
    model = torch_copy(net)
    x = np.random.default_rng(0).normal(size=(5, 2, 9, 9))
    expected = model(torch.from_numpy(x)).detach().numpy()
    difference = np.max(np.abs(net.logits(x) - expected)) / np.abs(expected).max()
    print(f"logits vs torch: max relative difference {difference:.2e}")
    np.testing.assert_allclose(net.logits(x), expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max())


def test_gradient_matches_torch_autograd():
    net = random_cnn(seed=42)
    model = torch_copy(net)
    x = np.random.default_rng(1).normal(size=(3, 2, 9, 9))
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    logits = model(xt)
    targets = logits.argmax(dim=1)
    logits.gather(1, targets[:, None]).sum().backward()
    from refpattern import explain
    np.testing.assert_allclose(explain(net, x, "gradient"), xt.grad.numpy(), rtol=1e-12, atol=1e-14)
