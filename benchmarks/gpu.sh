#!/usr/bin/env bash
# The GPU checks and benchmarks in one command, for a machine with an NVIDIA GPU (docs/backends.md#cuda-gpu).
#
# Run from the repository root on the GPU machine, with the numpy 2.4 wheel carried in .whl/
# (the image's numpy 2.5 breaks numba-cuda 0.30.4). Prepare .whl/ once, on the development machine:
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
#     --platform manylinux2014_x86_64 -d .whl numpy==2.4.6
# (add pytest and its dependencies -- pluggy, iniconfig, packaging -- the same way if the image has no
# pytest; every wheel in .whl/ is installed). Then, with the device tool:
#   run(command="bash benchmarks/gpu.sh", carry=[".whl"], timeout_s=480)
#
# What it runs, without the CUDA simulator:
#   1. tests/cudasim_checks.py and tests/cudasim_statistics_checks.py on the real GPU (every numba.cuda
#      kernel against its NumPy twin, to 1e-12);
#   2. benchmarks/bench_gpu.py: numba.cuda statistics vs torch (unfold + cuBLAS), float64, both checked
#      against the CPU to 1e-10; prints the table.
# Exit status: non-zero if any check failed. The summary is the last lines of the output.
set -uo pipefail
cd "$(dirname "$0")/.."

if compgen -G ".whl/*.whl" > /dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site:$PWD
else
    echo "warning: no .whl/ wheels carried; using the image's numpy ($(python3 -c 'import numpy; print(numpy.__version__)'))" >&2
    export PYTHONPATH=$PWD
fi
unset NUMBA_ENABLE_CUDASIM

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
python3 -c "import numpy, numba, sys; print('python', sys.version.split()[0], 'numpy', numpy.__version__, 'numba', numba.__version__)"
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" 2>/dev/null || echo "torch: not importable"

status=0
echo "== numba.cuda kernels on the GPU (no simulator) =="
python3 -m pytest -q -p no:cacheprovider tests/cudasim_checks.py tests/cudasim_statistics_checks.py 2>&1 | tail -n 40
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

echo "== benchmarks/bench_gpu.py =="
python3 benchmarks/bench_gpu.py 2>&1 | tee /tmp/bench_gpu.txt
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
grep -q "MISMATCH\|skipped" /tmp/bench_gpu.txt && status=1

echo "== summary =="
echo "kernel checks and bench_gpu: $([ $status -eq 0 ] && echo OK || echo FAILED)"
tail -n 5 /tmp/bench_gpu.txt
exit $status
