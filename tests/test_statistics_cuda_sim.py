"""The numba.cuda statistics kernels, checked on CPU-only machines through numba's CUDA simulator.

``NUMBA_ENABLE_CUDASIM=1`` only takes effect if it is set before numba is first imported, so the
checks (``tests/cudasim_statistics_checks.py``) run in a pytest subprocess of their own.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
CUDASIM_CHECKS = Path(__file__).resolve().with_name("cudasim_statistics_checks.py")


@pytest.mark.cudasim
def test_cuda_statistics_match_reference_in_simulator():
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(CUDASIM_CHECKS)]
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    output = result.stdout + result.stderr
    print(output)
    assert result.returncode == 0, f"{' '.join(command)} failed (exit {result.returncode}):\n{output}"
    assert "skipped" not in output.splitlines()[-1], f"the simulator checks did not run:\n{output}"


def test_cuda_backend_of_fit_explains_what_to_do_without_a_gpu():
    from refpattern.kernels import cuda_statistics
    from refpattern.patterns.statistics import resolve_sums_backend

    if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0"):
        pytest.skip("this process runs under the CUDA simulator")
    if cuda_statistics.cuda is not None and cuda_statistics.cuda.is_available():
        pytest.skip("a CUDA GPU is available")
    with pytest.raises(RuntimeError, match="no CUDA GPU found"):
        resolve_sums_backend("cuda")
    with pytest.raises(RuntimeError, match="no CUDA GPU found"):
        cuda_statistics.accumulate_statistics([[1.0]], [[1.0]], [[1.0]], [0.0], None, None, None, None, None)
