"""Every method against Zennit 0.4.6 and Captum 0.9 on small CNNs converted with from_torch, each to the
float64-framework row of the tolerance table (refpattern.testing.FLOAT64_TOLERANCE, docs/conventions.md#tolerances).

Where a peer's convention differs, the comparison mirrors it through refpattern's documented switches and says so
at the case:

- Zennit's ``Gradient`` attributor multiplies by the ``attr_output`` it is given: gradient-type methods get a
  one-hot (refpattern starts them from 1), LRP methods ``one_hot · y_t`` (refpattern starts them from ``y_t``);
- Captum's ``Saliency`` and ``NoiseTunnel`` take ``abs=False`` (Captum's default returns ``|∇|``);
- Captum's Integrated Gradients: its nodes and float32 step weights, ``captum_quadrature(method, n_steps)``
  passed as ``alphas=``/``weights=`` (the trapezoid's weights sum to (n−1)/n, mirrored, not corrected);
- Zennit's Integrated Gradients: nodes ``torch.linspace(1/n, 1, n)`` (float32), weights ``1/n``;
- SmoothGrad: the perturbations the peer drew (read off its model's inputs) passed as ``noise=``;
- Zennit 0.4.6 squares the bias in ``WSquare`` and keeps ``b⁺`` in ``ZPlus``: ``lrp.w_square``, ``lrp.z_plus`` and
  deep Taylor are compared on a network without biases, where these coincide with refpattern's bias-free rules;
- Zennit 0.4.6's ``Gamma`` is ``w + γw⁺`` for every neuron, refpattern's the generalised form: they coincide for
  inputs ≥ 0 on neurons with ``z > 0``, every hidden neuron that carries relevance in a ReLU network fed with
  x ∈ [0, 1]; the explained logit carries ``y_t`` whatever its sign, and it is positive here
  (tests/test_adversarial_peers.py shows the difference where it is not).

Skipped when torch, Zennit or Captum is not installed (CI's peer stage installs them)."""

import numpy as np
import pytest

import refpattern as rp
from refpattern.interop import from_torch
from refpattern.methods import captum_quadrature
from refpattern.testing import FLOAT64_TOLERANCE, compare_explanation

torch = pytest.importorskip("torch")
zennit = pytest.importorskip("zennit", reason="zennit is not installed (pip install --no-deps zennit==0.4.6)")
captum = pytest.importorskip("captum")
from captum import attr as captum_attr  # noqa: E402
from zennit import composites, rules  # noqa: E402
from zennit.attribution import Gradient, IntegratedGradients, SmoothGrad  # noqa: E402
from zennit.types import Activation, Linear  # noqa: E402

nn = torch.nn
pytestmark = [pytest.mark.peers,  # Captum announces its ReLU hooks; expected here
              pytest.mark.filterwarnings("ignore:Setting backward hooks on ReLU activations:UserWarning")]
RTOL = FLOAT64_TOLERANCE.rtol
INPUT_SHAPE = (3, 8, 8)


def check(actual, net, x, method, label, **options):
    """refpattern.testing's comparison at the float64 tolerance; prints the largest per-sample relative error."""
    comparison = compare_explanation(actual, net, x, method, rtol=RTOL, **options)
    print(f"{label}: largest relative error {np.max(comparison.relative_error):.2e}")
    assert comparison.passed, comparison.message


def small_cnn(seed=0, bias=True):
    """Conv (padding 1) → ReLU → max-pool → conv (stride 2, padding 1) → ReLU → Flatten → Linear → ReLU → Linear,
    float64, eval; ``bias=False`` sets every bias to 0."""
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 5, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(),
        nn.Linear(5 * 2 * 2, 6), nn.ReLU(), nn.Linear(6, 3),
    ).double().eval()
    with torch.no_grad():
        for module in model:
            if hasattr(module, "bias"):
                module.bias.mul_(0.0 if not bias else 3.0)  # larger biases than the default: both signs matter
    return model


def inputs(kind, seed=1):
    rng = np.random.default_rng(seed)
    shape = (4,) + INPUT_SHAPE
    return rng.uniform(0.0, 1.0, size=shape) if kind == "unit" else rng.normal(size=shape)


def targets_of(model, x):
    with torch.no_grad():
        return model(torch.from_numpy(x)).argmax(dim=1)


def zennit_attribution(model, x, composite, start):
    """Zennit's Gradient attributor, seeded with a one-hot (start "one") or one_hot · y_t (start "logit")."""
    targets = targets_of(model, x)

    def attr_output(output):
        one_hot = torch.nn.functional.one_hot(targets, output.shape[1]).to(output)
        return one_hot * output if start == "logit" else one_hot

    with Gradient(model, composite) as attributor:
        _, relevance = attributor(torch.from_numpy(x.copy()), attr_output)
    return relevance.detach().numpy(), targets.numpy()


def layer_map(rule, first=None):
    """ReLU passes (zennit's Pass), ``rule`` on every Linear/Conv2d, ``first`` on the first of them."""
    base = [(Activation, rules.Pass()), (Linear, rule)]
    if first is None:
        return composites.LayerMapComposite(base)
    return composites.SpecialFirstLayerMapComposite(base, [(Linear, first)])


ZENNIT_CASES = {
    # method: (composite factory, start, options, input kind, bias)
    "gradient": (lambda: None, "one", {}, "normal", True),
    "guided_backprop": (composites.GuidedBackprop, "one", {}, "normal", True),
    "deconvnet": (composites.DeconvNet, "one", {}, "normal", True),
    "lrp.epsilon": (lambda: layer_map(rules.Epsilon(1e-6)), "logit", {}, "normal", True),
    "lrp.epsilon (ε = 0.25)": (lambda: layer_map(rules.Epsilon(0.25)), "logit", {"epsilon": 0.25}, "normal", True),
    "lrp.z": (lambda: layer_map(rules.Epsilon(0.0)), "logit", {}, "normal", True),
    "lrp.alpha_1_beta_0": (lambda: layer_map(rules.ZPlus()), "logit", {}, "normal", True),
    "lrp.alpha_2_beta_1": (lambda: layer_map(rules.AlphaBeta(2.0, 1.0)), "logit", {}, "normal", True),
    "lrp.z_plus": (lambda: layer_map(rules.ZPlus()), "logit", {}, "normal", False),
    "lrp.w_square": (lambda: layer_map(rules.WSquare()), "logit", {}, "normal", False),
    "lrp.flat": (lambda: layer_map(rules.Flat()), "logit", {}, "normal", True),
    "lrp.gamma": (lambda: layer_map(rules.Gamma(0.25)), "logit", {}, "unit", True),
    "lrp.zb": (lambda: layer_map(rules.Epsilon(1e-6), first=rules.ZBox(0.0, 1.0)), "logit",
               {"low": 0.0, "high": 1.0}, "unit", True),
    "deep_taylor": (lambda: layer_map(rules.ZPlus(), first=rules.WSquare()), "logit", {}, "normal", False),
    "zennit.epsilon_plus": (composites.EpsilonPlus, "logit", {}, "normal", True),
    "zennit.epsilon_alpha2_beta1": (composites.EpsilonAlpha2Beta1, "logit", {}, "normal", True),
    "zennit.epsilon_plus_flat": (composites.EpsilonPlusFlat, "logit", {}, "normal", True),
    "zennit.epsilon_alpha2_beta1_flat": (composites.EpsilonAlpha2Beta1Flat, "logit", {}, "normal", True),
    "zennit.epsilon_gamma_box": (lambda: composites.EpsilonGammaBox(low=0.0, high=1.0), "logit",
                                 {"low": 0.0, "high": 1.0}, "unit", True),
}


@pytest.mark.parametrize("case", ZENNIT_CASES)
def test_zennit(case):
    factory, start, options, kind, bias = ZENNIT_CASES[case]
    method = case.split(" ")[0]
    assert rp.method_info(method).start == start  # the seed mirrors refpattern's documented start value
    model = small_cnn(bias=bias)
    net = from_torch(model, INPUT_SHAPE)
    x = inputs(kind)
    actual, targets = zennit_attribution(model, x, factory(), start)
    check(actual, net, x, method, f"zennit {case}", target=targets, **options)


def test_zennit_integrated_gradients():
    """Zennit: nodes torch.linspace(1/n, 1, n) in float32, each gradient weighted 1/n."""
    model, n = small_cnn(seed=2), 16
    net = from_torch(model, INPUT_SHAPE)
    x = inputs("normal", seed=3)
    targets = targets_of(model, x)
    one_hot = torch.nn.functional.one_hot(targets, 3).double()
    with IntegratedGradients(model, n_iter=n) as attributor:
        _, relevance = attributor(torch.from_numpy(x.copy()), one_hot)
    alphas = torch.linspace(1.0 / n, 1.0, n).numpy().astype(np.float64)
    check(relevance.numpy(), net, x, "integrated_gradients", "zennit IntegratedGradients", target=targets.numpy(),
          alphas=alphas, weights=np.full(n, 1.0 / n))


class InputRecorder:
    """Records every batch the model's first layer receives (a forward pre-hook)."""

    def __init__(self, model):
        self.batches = []
        self.handle = model[0].register_forward_pre_hook(lambda module, args: self.batches.append(args[0].detach()
                                                                                                  .clone()))

    def close(self):
        self.handle.remove()


def test_zennit_smoothgrad_with_its_own_noise():
    """Zennit draws torch.randn · σ (σ = noise_level·(max − min), as refpattern) and its last sample has no noise;
    the noise it drew, read off the model's inputs, is passed as noise=."""
    model, samples = small_cnn(seed=4), 5
    net = from_torch(model, INPUT_SHAPE)
    x = inputs("normal", seed=5)
    targets = targets_of(model, x)
    one_hot = torch.nn.functional.one_hot(targets, 3).double()
    recorder = InputRecorder(model)
    torch.manual_seed(0)
    with SmoothGrad(model, noise_level=0.2, n_iter=samples) as attributor:
        _, relevance = attributor(torch.from_numpy(x.copy()), one_hot)
    recorder.close()
    assert len(recorder.batches) == samples
    noise = np.stack([batch.numpy() - x for batch in recorder.batches])
    assert np.all(noise[-1] == 0)
    check(relevance.numpy(), net, x, "smoothgrad", "zennit SmoothGrad", target=targets.numpy(), noise=noise)


CAPTUM_GRADIENTS = {
    "gradient": (lambda model: captum_attr.Saliency(model), {"abs": False}),
    "input_x_gradient": (lambda model: captum_attr.InputXGradient(model), {}),
    "guided_backprop": (lambda model: captum_attr.GuidedBackprop(model), {}),
    "deconvnet": (lambda model: captum_attr.Deconvolution(model), {}),
}


@pytest.mark.parametrize("method", CAPTUM_GRADIENTS)
def test_captum_gradient_methods(method):
    factory, arguments = CAPTUM_GRADIENTS[method]
    model = small_cnn(seed=6)
    net = from_torch(model, INPUT_SHAPE)
    x = inputs("normal", seed=7)
    targets = targets_of(model, x)
    actual = factory(model).attribute(torch.from_numpy(x.copy()).requires_grad_(True), target=targets, **arguments)
    check(actual.detach().numpy(), net, x, method, f"captum {method}", target=targets.numpy())


@pytest.mark.parametrize("rule, steps", [("gausslegendre", 50), ("riemann_trapezoid", 16), ("riemann_left", 16),
                                         ("riemann_right", 16), ("riemann_middle", 16)])
def test_captum_integrated_gradients(rule, steps):
    """Captum's nodes and float32 step weights, mirrored with captum_quadrature (the trapezoid's weights sum to
    (n−1)/n in Captum, and so they do here)."""
    model = small_cnn(seed=8)
    net = from_torch(model, INPUT_SHAPE)
    x = inputs("normal", seed=9)
    targets = targets_of(model, x)
    actual = captum_attr.IntegratedGradients(model).attribute(torch.from_numpy(x.copy()), target=targets,
                                                              method=rule, n_steps=steps)
    alphas, weights = captum_quadrature(rule, steps)
    check(actual.detach().numpy(), net, x, "integrated_gradients", f"captum IntegratedGradients {rule}",
          target=targets.numpy(), alphas=alphas, weights=weights)


def test_captum_noise_tunnel_smoothgrad_with_its_own_noise():
    """NoiseTunnel(Saliency) with abs=False; the perturbations Captum drew (sample n's k-th at row n·S + k of the
    batch the model saw) are passed as noise=."""
    model, samples = small_cnn(seed=10), 4
    net = from_torch(model, INPUT_SHAPE)
    x = inputs("normal", seed=11)
    targets = targets_of(model, x)
    recorder = InputRecorder(model)
    torch.manual_seed(0)
    actual = captum_attr.NoiseTunnel(captum_attr.Saliency(model)).attribute(
        torch.from_numpy(x.copy()), nt_type="smoothgrad", nt_samples=samples, stdevs=0.3, target=targets, abs=False)
    recorder.close()
    (batch,) = recorder.batches
    noise = (batch.numpy().reshape((len(x), samples) + INPUT_SHAPE) - x[:, None]).swapaxes(0, 1)
    assert np.all(noise != 0)
    check(actual.detach().numpy(), net, x, "smoothgrad", "captum NoiseTunnel smoothgrad", target=targets.numpy(),
          noise=noise)


def test_captum_lrp_epsilon_on_a_dense_network():
    """Captum's LRP (EpsilonRule on Linear, ReLU passing) starts from y_t like refpattern; its stabiliser is
    ε·sign(z) with sign(0) = 0, which differs only where z = 0 (never on random data).  A dense network: Captum's
    LRP has no rule for Flatten, and its max-pooling rule is ε-stabilised, not winner routing."""
    rules_module = pytest.importorskip("captum.attr._utils.lrp_rules")
    torch.manual_seed(12)
    model = nn.Sequential(nn.Linear(10, 8), nn.ReLU(), nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 3)).double().eval()
    for module in model:
        if isinstance(module, nn.Linear):
            module.rule = rules_module.EpsilonRule(epsilon=1e-6)
    net = from_torch(model, (10,))
    x = np.random.default_rng(13).normal(size=(5, 10))
    targets = targets_of(model, x)
    actual = captum_attr.LRP(model).attribute(torch.from_numpy(x.copy()).requires_grad_(True), target=targets)
    check(actual.detach().numpy(), net, x, "lrp.epsilon", "captum LRP EpsilonRule", target=targets.numpy(),
          epsilon=1e-6)
