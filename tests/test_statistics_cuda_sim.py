"""The numba.cuda statistics kernels, checked on CPU-only machines through numba's CUDA simulator.

``NUMBA_ENABLE_CUDASIM=1`` only takes effect if it is set before numba is first imported, so the
checks (``tests/cudasim_statistics_checks.py``) run in a pytest subprocess of their own.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import run_in_cuda_simulator


@pytest.mark.cudasim
def test_cuda_statistics_match_reference_in_simulator():
    run_in_cuda_simulator(Path(__file__).resolve().with_name("cudasim_statistics_checks.py"))


def test_cuda_backend_of_fit_explains_what_to_do_without_a_gpu():
    from refpattern.kernels import cuda_statistics, get_backend

    if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0"):
        pytest.skip("this process runs under the CUDA simulator")
    if cuda_statistics.cuda is not None and cuda_statistics.cuda.is_available():
        pytest.skip("a CUDA GPU is available")
    with pytest.raises(RuntimeError, match="no CUDA GPU found"):
        get_backend("cuda")
    with pytest.raises(RuntimeError, match="no CUDA GPU found"):
        cuda_statistics.accumulate_statistics([[1.0]], [[1.0]], [[1.0]], [0.0], None, None, None, None, None)
