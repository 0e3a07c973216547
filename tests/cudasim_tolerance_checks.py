"""The backend row of the tolerance table for the cuda backend, through numba's CUDA simulator --
run in a process of its own by tests/test_testing.py (``NUMBA_ENABLE_CUDASIM=1`` must be set before
numba is first imported)::

    NUMBA_ENABLE_CUDASIM=1 python -m pytest -q -p no:cacheprovider tests/cudasim_tolerance_checks.py

Every method on a tiny network: the cuda backend against the numpy one, per-sample relative error at
most BACKEND_TOLERANCE.rtol / 100 (docs/conventions.md#tolerances).  On a machine with a GPU and without
the variable the same command checks the real GPU.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import random_cnn
from framework_emulation import relative_error_per_sample

import refpattern as rp
from refpattern.kernels import cuda_kernels
from refpattern.testing import BACKEND_TOLERANCE, assert_explanation_close

if cuda_kernels.cuda is None or not cuda_kernels.cuda.is_available():
    pytest.skip("neither a CUDA GPU nor the simulator is available (set NUMBA_ENABLE_CUDASIM=1)",
                allow_module_level=True)


def test_cuda_backend_within_the_backend_tolerance_for_every_method():
    net = random_cnn(seed=3, bias=0.3)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 2, 9, 9))
    patterns = rp.fit_patterns(net, rng.normal(size=(64, 2, 9, 9)), "a+-", backend="numpy")
    worst = 0.0
    for name in rp.method_names():
        options = {"patterns": patterns} if name.startswith("pattern.") else {}
        if name in ("lrp.zb", "zennit.epsilon_gamma_box"):
            options.update(low=-5.0, high=5.0)
        options.update({"smoothgrad": {"samples": 2}, "integrated_gradients": {"steps": 3}}.get(name, {}))
        cuda = rp.explain(net, x, name, backend="cuda", **options)
        numpy = rp.explain(net, x, name, backend="numpy", **options)
        worst = max(worst, relative_error_per_sample(cuda, numpy).max())
        assert_explanation_close(cuda, net, x, name, rtol=BACKEND_TOLERANCE.rtol, backend="numpy", **options)
    print(f"cuda vs numpy, every method: largest per-sample relative error {worst:.2e}")
    assert worst <= BACKEND_TOLERANCE.rtol / 100
