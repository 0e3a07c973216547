"""Agreement with the peer libraries on adversarial networks and inputs (the audit of refpattern against Zennit 0.4.6
and Captum 0.9): exact max-pool ties in overlapping windows, strides larger than the kernel, 1×1 images, a single
output neuron, a negative explained logit under LRP-γ; and the argument checks of what the peer comparison passes
(targets, ``captum_quadrature``).

The peer cases are marked ``peers`` and skipped when torch, Zennit or Captum is missing, as in
tests/test_peers_zennit_captum.py; the argument checks run everywhere."""

import numpy as np
import pytest

import refpattern as rp
from refpattern.interop import from_torch
from refpattern.methods import captum_quadrature
from refpattern.testing import FLOAT64_TOLERANCE, compare_explanation

RTOL = FLOAT64_TOLERANCE.rtol
PEERS_WARNING = "ignore:Setting backward hooks on ReLU activations:UserWarning"


def peers():
    """torch, zennit's pieces and captum.attr, or a skip."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("zennit", reason="zennit is not installed (pip install --no-deps zennit==0.4.6)")
    pytest.importorskip("captum")
    from captum import attr as captum_attr
    from zennit import composites, rules
    from zennit.attribution import Gradient
    from zennit.types import Activation, Linear
    return torch, captum_attr, composites, rules, Gradient, Activation, Linear


def zennit_map(model, x, composite, targets, start):
    torch, _, _, _, Gradient, _, _ = peers()

    def attr_output(output):
        one_hot = torch.nn.functional.one_hot(torch.from_numpy(targets), output.shape[1]).to(output)
        return one_hot * output if start == "logit" else one_hot

    with Gradient(model, composite) as attributor:
        _, relevance = attributor(torch.from_numpy(x.copy()), attr_output)
    return relevance.detach().numpy()


def check(actual, net, x, method, targets, **options):
    comparison = compare_explanation(actual, net, x, method, target=targets, rtol=RTOL, **options)
    assert comparison.passed, comparison.message


def tie_network(torch):
    """Conv ("same", even kernel: asymmetric zero padding) → ReLU → max-pool 3 stride 1 (overlapping windows) →
    conv stride 3 > kernel 2 (inputs no window reads) → ReLU → max-pool 2 stride 1 → Flatten → Linear."""
    nn = torch.nn
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(2, 3, 2, padding="same"), nn.ReLU(), nn.MaxPool2d(3, stride=1),
                         nn.Conv2d(3, 4, 2, stride=3), nn.ReLU(), nn.MaxPool2d(2, stride=1), nn.Flatten(),
                         nn.Linear(4, 3)).double().eval()


def tie_inputs():
    """Blocks of 3×3 equal pixels in {0, 0.5, 1}: every pooling window holds exact ties."""
    levels = np.random.default_rng(0).integers(0, 3, size=(3, 2, 3, 3)) / 2.0
    return np.repeat(np.repeat(levels, 3, axis=2), 3, axis=3)


@pytest.mark.peers
@pytest.mark.filterwarnings(PEERS_WARNING)
@pytest.mark.parametrize("method", ["gradient", "guided_backprop", "deconvnet", "lrp.epsilon", "lrp.flat",
                                    "zennit.epsilon_plus_flat", "zennit.epsilon_gamma_box"])
def test_zennit_on_exact_ties_in_overlapping_pools(method):
    """Every window ties; torch routes to the first maximum, as refpattern (docs/conventions.md#maxpool-ties). The flat
    rule hands relevance to pooled zeros too, so the tie-break is seen by the relevance, not only by the gradient."""
    torch, _, composites, rules, _, Activation, Linear = peers()
    model = tie_network(torch)
    net = from_torch(model, (2, 9, 9))
    x = tie_inputs()
    targets = net.logits(x).argmax(axis=1)
    bounds = {"low": 0.0, "high": 1.0} if method == "zennit.epsilon_gamma_box" else {}
    composite = {
        "gradient": None, "guided_backprop": composites.GuidedBackprop(), "deconvnet": composites.DeconvNet(),
        "lrp.epsilon": composites.LayerMapComposite([(Activation, rules.Pass()), (Linear, rules.Epsilon(1e-6))]),
        "lrp.flat": composites.LayerMapComposite([(Activation, rules.Pass()), (Linear, rules.Flat())]),
        "zennit.epsilon_plus_flat": composites.EpsilonPlusFlat(),
        "zennit.epsilon_gamma_box": composites.EpsilonGammaBox(low=0.0, high=1.0),
    }[method]
    actual = zennit_map(model, x, composite, targets, rp.method_info(method).start)
    assert np.any(actual != 0)
    check(actual, net, x, method, targets, **bounds)


@pytest.mark.peers
@pytest.mark.filterwarnings(PEERS_WARNING)
def test_captum_on_one_pixel_images_and_a_single_output_neuron():
    """1×1 images through a 3×3 convolution with padding 1 and a 1×1 pool, down to one logit."""
    torch, captum_attr, _, _, _, _, _ = peers()
    nn = torch.nn
    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.ReLU(), nn.MaxPool2d(1), nn.Conv2d(4, 5, 3, padding=1), nn.ReLU(),
                          nn.Flatten(), nn.Linear(5, 1)).double().eval()
    net = from_torch(model, (3, 1, 1))
    x = np.random.default_rng(1).normal(size=(4, 3, 1, 1))
    targets = np.zeros(4, dtype=np.int64)
    inputs = torch.from_numpy(x.copy()).requires_grad_(True)
    for method, attribution in (("gradient", captum_attr.Saliency(model).attribute(inputs, target=0, abs=False)),
                                ("guided_backprop", captum_attr.GuidedBackprop(model).attribute(inputs, target=0)),
                                ("deconvnet", captum_attr.Deconvolution(model).attribute(inputs, target=0))):
        check(attribution.detach().numpy(), net, x, method, targets)


def gamma_by_hand(w1, b1, w2, b2, x, target, gamma, s=1e-6):
    """LRP-γ in the generalised form (docs/math.md#rule-gamma), written out for Linear → ReLU → Linear on one sample
    x ≥ 0, and Zennit 0.4.6's form (w + γw⁺ at every neuron); returns (generalised, zennit_046)."""
    def up(v):
        return v + gamma * np.maximum(v, 0)

    def down(v):
        return v + gamma * np.minimum(v, 0)

    def step(x, w, b, upstream, z, generalised):
        out = np.zeros_like(x)
        for j in np.flatnonzero(upstream):
            if generalised and z[j] == 0:
                continue
            wj, bj = (up(w[j]), up(b[j])) if (z[j] > 0 or not generalised) else (down(w[j]), down(b[j]))
            c = x * wj  # x ≥ 0 here
            d = c.sum() + bj
            out += c * upstream[j] / (d + s * (1.0 if d >= 0 else -1.0))
        return out

    results = []
    for generalised in (True, False):
        h = w1 @ x + b1
        a = np.maximum(h, 0)
        y = w2 @ a + b2
        top = np.zeros_like(y)
        top[target] = y[target]
        hidden = step(a, w2, b2, top, y, generalised)
        results.append(step(x, w1, b1, hidden, h, generalised))
    return results


@pytest.mark.peers
def test_zennit_046_gamma_differs_where_the_explained_logit_is_negative():
    """x ≥ 0 and every hidden neuron open: Zennit 0.4.6's Gamma equals lrp.gamma where y_t > 0 and not where y_t < 0,
    where refpattern's map is the generalised rule computed by hand (docs/conventions.md#peer-tests)."""
    torch, _, _, rules, _, Activation, Linear = peers()
    from zennit.composites import LayerMapComposite
    w1 = np.array([[1.0, 0.5, -0.25], [0.5, -1.0, 2.0]])
    b1 = np.array([0.5, 0.25])
    w2 = np.array([[1.0, -0.5], [-1.0, 0.5]])
    b2 = np.array([0.125, -0.25])
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.ReLU(), torch.nn.Linear(2, 2)).double().eval()
    with torch.no_grad():
        for module, weight, bias in ((model[0], w1, b1), (model[2], w2, b2)):
            module.weight.copy_(torch.from_numpy(weight))
            module.bias.copy_(torch.from_numpy(bias))
    net = from_torch(model, (3,))
    x = np.array([[1.0, 0.0, 0.5], [0.0, 0.0, 1.0]])
    targets = np.array([0, 0])
    y = net.logits(x)[np.arange(2), targets]
    assert np.all(net.layers[0].forward(x) > 0) and y[0] > 0 > y[1]
    ours = rp.explain(net, x, "lrp.gamma", target=targets)
    theirs = zennit_map(model, x, LayerMapComposite([(Activation, rules.Pass()), (Linear, rules.Gamma(0.25))]),
                        targets, "logit")
    for n in range(2):
        generalised, zennit_046 = gamma_by_hand(w1, b1, w2, b2, x[n], targets[n], 0.25)
        np.testing.assert_allclose(ours[n], generalised, rtol=1e-14, atol=0)
        np.testing.assert_allclose(theirs[n], zennit_046, rtol=1e-14, atol=0)
    np.testing.assert_allclose(theirs[0], ours[0], rtol=1e-14, atol=0)
    assert np.max(np.abs(theirs[1] - ours[1])) > 0.1 * np.max(np.abs(ours[1]))


def test_an_empty_target_sequence_is_refused_for_its_length():
    """``target=[]`` reads as a float64 array; the error says the length is wrong, not that floats were given."""
    net = rp.Sequential([rp.Dense(np.eye(2), np.zeros(2))], input_shape=(2,))
    x = np.ones((3, 2))
    for empty in ([], ()):
        with pytest.raises(ValueError, match=r"target: expected one int per sample, shape \(3,\), got an empty"):
            rp.explain(net, x, "gradient", target=empty)
    with pytest.raises(ValueError, match=r"target: expected one int per sample, shape \(3,\), got shape \(0,\)"):
        rp.explain(net, x, "gradient", target=np.array([], dtype=np.int64))


@pytest.mark.parametrize("n_steps", [2.0, True, "4", None, np.array(3)])
def test_captum_quadrature_refuses_a_step_count_that_is_not_an_int_with_a_type_error(n_steps):
    with pytest.raises(TypeError, match="captum_quadrature: n_steps must be a positive int"):
        captum_quadrature("riemann_left", n_steps)


@pytest.mark.parametrize("n_steps", [0, -1])
def test_captum_quadrature_refuses_a_step_count_below_one_with_a_value_error(n_steps):
    with pytest.raises(ValueError, match="captum_quadrature: n_steps must be a positive int"):
        captum_quadrature("gausslegendre", n_steps)
