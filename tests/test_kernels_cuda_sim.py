"""The numba.cuda kernels, checked on CPU-only machines through numba's CUDA simulator.

``NUMBA_ENABLE_CUDASIM=1`` only takes effect if it is set before numba is first imported,
so the checks (``tests/cudasim_checks.py``) run in a pytest subprocess of their own.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
CUDASIM_CHECKS = Path(__file__).resolve().with_name("cudasim_checks.py")


@pytest.mark.cudasim
def test_cuda_kernels_match_reference_in_simulator():
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(CUDASIM_CHECKS)]
    result = subprocess.run(
        command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    output = result.stdout + result.stderr
    print(output)
    assert result.returncode == 0, f"{' '.join(command)} failed (exit {result.returncode}):\n{output}"
    assert "skipped" not in output.splitlines()[-1], f"the simulator checks did not run:\n{output}"


def test_require_cuda_explains_what_to_do_without_a_gpu():
    from refpattern.kernels import cuda_kernels, get_kernels

    if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0"):
        pytest.skip("this process runs under the CUDA simulator")
    if cuda_kernels.cuda is not None and cuda_kernels.cuda.is_available():
        pytest.skip("a CUDA GPU is available")

    with pytest.raises(RuntimeError) as raised:
        cuda_kernels.require_cuda()
    message = str(raised.value)
    for needed in ("no CUDA GPU found", 'backend="numba"', 'backend="numpy"',
                   "NUMBA_ENABLE_CUDASIM=1", "pip install refpattern[cuda]"):
        assert needed in message, f"{needed!r} missing from: {message}"

    with pytest.raises(RuntimeError, match="no CUDA GPU found"):
        get_kernels("cuda")
    with pytest.raises(RuntimeError, match="no CUDA GPU found"):
        cuda_kernels.conv2d_forward([[[[1.0]]]], [[[[1.0]]]], (1, 1), (0, 0))
    with pytest.raises(RuntimeError, match="no CUDA GPU found"):
        cuda_kernels.gemm_at_b([[1.0]], [[1.0]])
