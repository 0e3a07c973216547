"""from_torch: the converted network's logits equal PyTorch's own float64 forward pass (≤ 1e-12 relative), and
every module or setting it cannot convert is refused by name and position (docs/conventions.md#converters).

Skipped when torch is not installed (the README's test command does not install it; CI's peer stage does)."""

import numpy as np
import pytest

import refpattern as rp
from refpattern.interop import UnsupportedLayerError, from_torch

torch = pytest.importorskip("torch", reason="torch is not installed (pip install \"refpattern[torch]\")")
nn = torch.nn

pytestmark = [pytest.mark.peers, pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel")]


def randomise_batchnorm(model, seed):
    """Non-trivial running statistics and affine parameters for every BatchNorm (then eval())."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
                shape = module.running_mean.shape
                module.running_mean.copy_(torch.randn(shape, generator=generator, dtype=torch.float64))
                module.running_var.copy_(0.5 + torch.rand(shape, generator=generator, dtype=torch.float64))
                if module.weight is not None:
                    module.weight.copy_(torch.randn(shape, generator=generator, dtype=torch.float64))
                    module.bias.copy_(torch.randn(shape, generator=generator, dtype=torch.float64))
    return model.eval()


def relative_error(actual, expected):
    return float(np.max(np.abs(actual - expected)) / np.max(np.abs(expected)))


def cnn(seed=0):
    """Stride 2, "same" padding with an even kernel on an even input (pads (1, 2): asymmetric), a conv without
    bias, BatchNorm2d and BatchNorm1d, max-pooling, nested Sequentials, Dropout/Identity, Flatten → Linear."""
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Sequential(nn.Conv2d(2, 4, 3, stride=2, padding=1), nn.BatchNorm2d(4), nn.ReLU()),
        nn.Conv2d(4, 5, 4, padding="same", bias=False), nn.BatchNorm2d(5, affine=False), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Dropout2d(0.3), nn.Identity(),
        nn.Flatten(),
        nn.Linear(5 * 2 * 2, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(6, 3),
        nn.Softmax(dim=1),
    ).double()
    return randomise_batchnorm(model, seed)


def test_logits_equal_torch_forward():
    model = cnn()
    net = from_torch(model, (2, 8, 8))
    assert [type(layer).__name__ for layer in net.layers] == [
        "Conv2D", "ReLU", "Conv2D", "ReLU", "MaxPool2D", "Flatten", "Dense", "ReLU", "Dense", "Softmax"]
    assert net.layers[2].pads((4, 4)) == ((1, 2), (1, 2))  # torch's "same": k − 1 = 3 zeros, the odd one after
    x = np.random.default_rng(0).normal(size=(6, 2, 8, 8))
    with torch.no_grad():
        logits = model[:-1](torch.from_numpy(x)).numpy()
        probabilities = model(torch.from_numpy(x)).numpy()
    error = relative_error(net.logits(x), logits)
    print(f"from_torch logits vs torch float64: max relative error {error:.2e}")
    assert error <= 1e-12
    assert relative_error(net.forward(x), probabilities) <= 1e-12


def test_parameters_are_float64_copies_of_a_float32_model():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3))  # float32
    net = from_torch(model, (1, 6, 6))
    assert net.layers[0].weight.dtype == np.float64
    np.testing.assert_array_equal(net.layers[0].weight, model[0].weight.detach().numpy().astype(np.float64))
    with torch.no_grad():
        model[0].weight.zero_()
    assert np.any(net.layers[0].weight != 0)  # a copy: changing the module later leaves the network alone
    x = np.random.default_rng(1).normal(size=(2, 1, 6, 6))
    with torch.no_grad():
        model[0].weight.copy_(torch.from_numpy(np.array(net.layers[0].weight, dtype=np.float32)))
        expected = model.double()(torch.from_numpy(x)).numpy()
    assert relative_error(net.logits(x), expected) <= 1e-12


def test_valid_padding_and_trivial_ceil_mode_are_accepted():
    torch.manual_seed(3)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding="valid"), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True),
                          nn.Flatten(), nn.Linear(2 * 3 * 3, 2)).double()
    net = from_torch(model, (1, 8, 8))  # 8 → 6 → 3: every pooling window fits, ceil = floor
    x = np.random.default_rng(2).normal(size=(3, 1, 8, 8))
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    assert relative_error(net.logits(x), expected) <= 1e-12


class SubclassedConv(nn.Conv2d):
    pass


REFUSED = [
    (nn.Conv2d(1, 2, 3, groups=1, dilation=2), r"dilation=\(2, 2\); only dilation 1"),
    (nn.Conv2d(2, 2, 3, groups=2), r"groups=2; only groups=1"),
    (nn.Conv2d(1, 2, 3, padding=1, padding_mode="reflect"), r"padding_mode='reflect'"),
    (SubclassedConv(1, 2, 3), r"SubclassedConv is not supported"),
    (nn.MaxPool2d(2, padding=1), r"padding=1; max-pooling without padding"),
    (nn.MaxPool2d(3, stride=2, ceil_mode=True), r"ceil_mode=True on an input of per-sample shape \(1, 8, 8\)"),
    (nn.MaxPool2d(2, dilation=2), r"dilation=2"),
    (nn.MaxPool2d(2, return_indices=True), r"return_indices=True"),
    (nn.AvgPool2d(2), r"AvgPool2d is not supported; from_torch converts Conv2d, Linear"),
    (nn.Tanh(), r"Tanh is not supported"),
    (nn.Flatten(start_dim=2), r"start_dim=2, end_dim=-1; only Flatten\(start_dim=1, end_dim=-1\)"),
    (nn.BatchNorm2d(1), r"a BatchNorm is folded into the Conv2D/Dense directly before it, and this one follows ReLU"),
]


@pytest.mark.parametrize("module, message", REFUSED, ids=[type(m).__name__ + str(i) for i, (m, _) in
                                                           enumerate(REFUSED)])
def test_refusals_name_the_module_and_its_position(module, message):
    channels = 2 if isinstance(module, nn.Conv2d) and module.groups == 2 else 1
    model = nn.Sequential(nn.ReLU(), nn.Sequential(nn.Identity(), module), nn.Flatten(), nn.Linear(4, 2)).double()
    with pytest.raises(UnsupportedLayerError, match=message) as info:
        from_torch(model, (channels, 8, 8))
    assert info.value.position == "layer 2 ('1.1')"  # chain index (ReLU, Identity, module) and the module's name
    assert info.value.converter == "from_torch" and type(module).__name__ in info.value.layer


def test_more_refusals():
    model = nn.Sequential(nn.Linear(4, 3), nn.Softmax(dim=1), nn.ReLU())
    with pytest.raises(UnsupportedLayerError, match=r"layer 2 \('2'\), ReLU\(\): comes after the softmax at layer 1"):
        from_torch(model, (4,))
    with pytest.raises(UnsupportedLayerError, match=r"layer 1 \('1'\).*dim=0 on a per-sample shape \(3,\)"):
        from_torch(nn.Sequential(nn.Linear(4, 3), nn.Softmax(dim=0)), (4,))
    with pytest.raises(UnsupportedLayerError, match=r"track_running_stats=False"):
        from_torch(nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3, track_running_stats=False)), (4,))
    with pytest.raises(UnsupportedLayerError, match=r"lazy module"):
        from_torch(nn.Sequential(nn.LazyLinear(3)), (4,))
    with pytest.raises(ValueError, match=r"layer 0 \('0'\), Linear.*does not fit its input of per-sample shape "
                                         r"\(1, 4, 4\)"):
        from_torch(nn.Sequential(nn.Linear(16, 3)), (1, 4, 4))
    with pytest.raises(TypeError, match="module must be a torch.nn.Sequential"):
        from_torch(nn.Linear(4, 3), (4,))
    with pytest.raises(ValueError, match="converts to no layer"):
        from_torch(nn.Sequential(nn.Dropout()), (4,))


def test_converted_network_explains_like_autograd():
    """The converted network is a refpattern network like any other: its gradient is torch's autograd gradient."""
    model = cnn(seed=5)
    net = from_torch(model, (2, 8, 8))
    x = np.random.default_rng(4).normal(size=(3, 2, 8, 8))
    inputs = torch.from_numpy(x.copy()).requires_grad_(True)
    logits = model[:-1](inputs)
    targets = logits.argmax(dim=1)
    logits.gather(1, targets[:, None]).sum().backward()
    assert relative_error(rp.explain(net, x, "gradient"), inputs.grad.numpy()) <= 1e-12
