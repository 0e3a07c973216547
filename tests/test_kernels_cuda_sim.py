"""The numba.cuda kernels, checked on CPU-only machines through numba's CUDA simulator.

``NUMBA_ENABLE_CUDASIM=1`` only takes effect if it is set before numba is first imported,
so the checks (``tests/cudasim_checks.py``) run in a pytest subprocess of their own.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import run_in_cuda_simulator


@pytest.mark.cudasim
def test_cuda_kernels_match_reference_in_simulator():
    run_in_cuda_simulator(Path(__file__).resolve().with_name("cudasim_checks.py"))


def test_require_cuda_explains_what_to_do_without_a_gpu():
    from refpattern.kernels import cuda_kernels, get_backend

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
        get_backend("cuda")
    with pytest.raises(RuntimeError, match="no CUDA GPU found"):
        cuda_kernels.conv2d_forward([[[[1.0]]]], [[[[1.0]]]], (1, 1), (0, 0))
    with pytest.raises(RuntimeError, match="no CUDA GPU found"):
        cuda_kernels.gemm_at_b([[1.0]], [[1.0]])
