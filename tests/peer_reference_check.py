"""A peer library's test that uses a refpattern reference file without refpattern (run by
tests/test_peers_reference_file.py in a subprocess; not collected by pytest).

    python -I peer_reference_check.py REFERENCE.npz path/to/refpattern/testing/reference.py RTOL

It blocks ``import refpattern`` before anything else, takes ``load_reference`` from the text of
refpattern/testing/reference.py (the function is self-contained: NumPy and json only, as a peer suite would copy it),
rebuilds the network in PyTorch from the file's torch-layout layers, and compares Zennit's and Captum's
explanations with the stored ones: per sample ``max|peer − reference| / max|reference| ≤ RTOL``.
Prints one line per method; exits 1 if any comparison fails.
"""

import ast
import sys

sys.modules["refpattern"] = None  # any "import refpattern" now raises ImportError

import numpy as np  # noqa: E402
import torch  # noqa: E402
from captum import attr as captum_attr  # noqa: E402
from zennit import composites, rules  # noqa: E402
from zennit.attribution import Gradient  # noqa: E402
from zennit.types import Activation, Linear  # noqa: E402


def load_reference_function(testing_path):
    """``load_reference`` compiled from the source text alone, in a namespace without refpattern."""
    with open(testing_path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read())
    function = next(node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "load_reference")
    namespace = {}
    exec(compile(ast.Module(body=[function], type_ignores=[]), testing_path, "exec"), namespace)
    return namespace["load_reference"]


def torch_model(layers):
    """nn.Sequential from the reference file's torch-layout layer dicts (a Softmax is left out: logits)."""
    modules = []
    for layer in layers:
        kind = layer["type"]
        if kind == "Conv2D":
            weight, bias = torch.from_numpy(layer["weight"]), torch.from_numpy(layer["bias"])
            (top, bottom), (left, right) = layer["padding"]
            if (top, left) != (bottom, right):  # torch's Conv2d pads symmetrically: pad first, then a valid conv
                modules.append(torch.nn.ZeroPad2d((left, right, top, bottom)))
                top = left = 0
            conv = torch.nn.Conv2d(weight.shape[1], weight.shape[0], tuple(weight.shape[2:]),
                                   stride=tuple(layer["stride"]), padding=(top, left)).double()
            with torch.no_grad():
                conv.weight.copy_(weight)
                conv.bias.copy_(bias)
            modules.append(conv)
        elif kind == "Dense":
            weight = torch.from_numpy(layer["weight"])
            linear = torch.nn.Linear(weight.shape[1], weight.shape[0]).double()
            with torch.no_grad():
                linear.weight.copy_(weight)
                linear.bias.copy_(torch.from_numpy(layer["bias"]))
            modules.append(linear)
        elif kind == "MaxPool2D":
            modules.append(torch.nn.MaxPool2d(tuple(layer["kernel_size"]), tuple(layer["stride"])))
        elif kind == "ReLU":
            modules.append(torch.nn.ReLU())
        elif kind == "Flatten":
            modules.append(torch.nn.Flatten())
        elif kind != "Softmax":
            raise ValueError(f"layer type {kind} is not handled here")
    return torch.nn.Sequential(*modules).eval()


def zennit_map(model, x, targets, composite, start_at_logit):
    def attr_output(output):
        one_hot = torch.nn.functional.one_hot(targets, output.shape[1]).to(output)
        return one_hot * output if start_at_logit else one_hot

    with Gradient(model, composite) as attributor:
        return attributor(x.clone(), attr_output)[1].detach().numpy()


def peer_explanation(method, model, x, targets, options, resolved):
    """The peer's map for ``method``, with the conventions the file records mirrored (start values, IG nodes)."""
    linear_rules = {
        "lrp.epsilon": lambda: rules.Epsilon(options["epsilon"]),
        "lrp.alpha_2_beta_1": lambda: rules.AlphaBeta(2.0, 1.0),
    }
    if method == "gradient":
        return captum_attr.Saliency(model).attribute(x.clone().requires_grad_(True), target=targets, abs=False)
    if method == "input_x_gradient":
        return captum_attr.InputXGradient(model).attribute(x.clone().requires_grad_(True), target=targets)
    if method == "deconvnet":
        return captum_attr.Deconvolution(model).attribute(x.clone().requires_grad_(True), target=targets)
    if method == "guided_backprop":
        return zennit_map(model, x, targets, composites.GuidedBackprop(), start_at_logit=False)
    if method in linear_rules:
        composite = composites.LayerMapComposite([(Activation, rules.Pass()), (Linear, linear_rules[method]())])
        return zennit_map(model, x, targets, composite, start_at_logit=True)
    if method == "zennit.epsilon_plus":
        return zennit_map(model, x, targets, composites.EpsilonPlus(), start_at_logit=True)
    if method == "integrated_gradients":  # the file's nodes are Captum's Gauss–Legendre nodes for this n
        steps = len(resolved["alphas"])
        alphas = 0.5 * (1 + np.polynomial.legendre.leggauss(steps)[0])
        if not np.array_equal(alphas, resolved["alphas"]):
            raise ValueError("the reference's IG nodes are not Captum's Gauss-Legendre nodes")
        return captum_attr.IntegratedGradients(model).attribute(x.clone(), target=targets, method="gausslegendre",
                                                                n_steps=steps)
    raise ValueError(f"no peer mapping for {method}")


def main(reference_path, testing_path, rtol):
    load_reference = load_reference_function(testing_path)
    reference = load_reference(reference_path)
    model = torch_model(reference["network"]["torch"])
    x = torch.from_numpy(reference["x"]["NCHW"])
    targets = torch.from_numpy(reference["targets"])
    failed = []
    with torch.no_grad():
        logits = model(x).numpy()
    scale = np.max(np.abs(reference["logits"]))
    print(f"logits: torch vs reference {np.max(np.abs(logits - reference['logits'])) / scale:.2e}")
    if np.max(np.abs(logits - reference["logits"])) > rtol * scale:
        failed.append("logits")
    for method, stored in reference["explanations"].items():
        value = peer_explanation(method, model, x, targets, reference["options"][method],
                                 reference["resolved"][method])
        peer = value.detach().numpy() if torch.is_tensor(value) else np.asarray(value)
        expected = stored["NCHW"]
        axes = tuple(range(1, expected.ndim))
        difference, scale = np.max(np.abs(peer - expected), axis=axes), np.max(np.abs(expected), axis=axes)
        error = np.where(scale > 0, difference / np.where(scale > 0, scale, 1.0), np.where(difference > 0, np.inf, 0.0))
        start = reference["manifest"]["methods"][method]["start"]
        print(f"{method}: largest relative error {error.max():.2e} (start {start})")
        if not np.all(error <= rtol):
            failed.append(method)
    if "refpattern" in sys.modules and sys.modules["refpattern"] is not None:
        failed.append("refpattern was imported")
    print("FAILED: " + ", ".join(failed) if failed else "all agree")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], float(sys.argv[3])))
