"""A reference file written by refpattern.testing.save_reference, read by a peer's test that does not import
refpattern (tests/peer_reference_check.py in a subprocess with ``import refpattern`` blocked), rebuilt in PyTorch
from the file's layers and compared with Zennit's and Captum's maps (docs/conventions.md#reference-file).

The network comes from from_torch and has "same" padding with an even kernel, stored as the asymmetric pads
((1, 2), (1, 2)) that the peer side must rebuild with ZeroPad2d."""

import pathlib
import subprocess
import sys

import numpy as np
import pytest

from refpattern.interop import from_torch
from refpattern.methods import captum_quadrature
from refpattern.testing import FLOAT64_TOLERANCE, load_reference, save_reference

torch = pytest.importorskip("torch")
pytest.importorskip("zennit", reason="zennit is not installed (pip install --no-deps zennit==0.4.6)")
pytest.importorskip("captum")

pytestmark = [pytest.mark.peers, pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel")]
TESTS = pathlib.Path(__file__).resolve().parent
TESTING_SOURCE = TESTS.parent / "refpattern" / "testing" / "reference.py"
METHODS = ["gradient", "input_x_gradient", "guided_backprop", "deconvnet", "lrp.epsilon", "lrp.alpha_2_beta_1",
           "zennit.epsilon_plus", "integrated_gradients"]


def test_reference_file_agrees_with_zennit_and_captum_without_refpattern(tmp_path):
    torch.manual_seed(1)
    nn = torch.nn
    model = nn.Sequential(nn.Conv2d(2, 3, 4, padding="same"), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(),
                          nn.Linear(4 * 2 * 2, 3), nn.Softmax(dim=1)).double().eval()
    net = from_torch(model, (2, 8, 8))
    x = np.random.default_rng(0).normal(size=(3, 2, 8, 8))
    alphas, weights = captum_quadrature("gausslegendre", 20)
    path = save_reference(tmp_path / "reference.npz", net, x, METHODS,
                          options={"lrp.epsilon": {"epsilon": 1e-3},
                                   "integrated_gradients": {"alphas": alphas, "weights": weights}})
    stored = load_reference(path)["explanations"]
    for method in METHODS:  # every sample's map has something in it: the comparisons below are not of zeros
        assert np.all(np.any(stored[method]["NCHW"].reshape(len(x), -1) != 0, axis=1)), method
    command = [sys.executable, "-I", str(TESTS / "peer_reference_check.py"), str(path), str(TESTING_SOURCE),
               repr(FLOAT64_TOLERANCE.rtol)]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    print(output)
    assert result.returncode == 0, output
    for method in METHODS:
        assert f"{method}: largest relative error" in result.stdout
    assert "all agree" in result.stdout
