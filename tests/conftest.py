"""Shared small networks for the tests (tiny so that the suite stays fast on 2 cores)."""

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import refpattern as rp

#: Paddings of random_cnn's two convolutions: the default (symmetric), asymmetric ``((top, bottom), (left,
#: right))``, and "same" (on an 8 × 9 input: the first, stride 2, pads rows (0, 1) and columns (1, 1); the second,
#: a 2 × 3 kernel at stride 1, rows (0, 1) and columns (1, 1)).
CNN_PADDINGS = {
    "symmetric": ((1, (1, 0)), (2, 9, 9)),
    "asymmetric": ((((0, 1), (2, 0)), ((1, 0), (0, 2))), (2, 9, 9)),
    "same": (("same", "same"), (2, 8, 9)),
}


def random_cnn(seed=0, bias=0.1, input_shape=(2, 9, 9), classes=3, paddings=(1, (1, 0))):
    """Conv (stride 2, pad 1) → ReLU → max-pool → conv (pad (1, 0)) → ReLU → flatten → dense → ReLU → dense →
    softmax; ``paddings`` of the two convolutions (:data:`CNN_PADDINGS`)."""
    rng = np.random.default_rng(seed)
    c, h, w = input_shape
    conv1 = rp.Conv2D(rng.normal(0, 0.5, (3, c, 3, 3)), rng.normal(0, bias, 3) if bias else None, stride=2,
                      padding=paddings[0])
    conv2 = rp.Conv2D(rng.normal(0, 0.5, (4, 3, 2, 3)), rng.normal(0, bias, 4) if bias else None, stride=1,
                      padding=paddings[1])
    net = rp.Sequential([conv1, rp.ReLU(), rp.MaxPool2D(2, stride=1)], input_shape=input_shape)
    shape = net.output_shapes(input_shape)[-1]
    shape = conv2.output_shape(shape)
    flat = int(np.prod(shape))
    dense1 = rp.Dense(rng.normal(0, 0.5, (6, flat)), rng.normal(0, bias, 6) if bias else None)
    dense2 = rp.Dense(rng.normal(0, 0.5, (classes, 6)), rng.normal(0, bias, classes) if bias else None)
    return rp.Sequential([conv1, rp.ReLU(), rp.MaxPool2D(2, stride=1), conv2, rp.ReLU(), rp.Flatten(),
                          dense1, rp.ReLU(), dense2, rp.Softmax()], input_shape=input_shape)


@pytest.fixture
def cnn():
    return random_cnn()


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def pattern_cnn(rng, first_padding=0):
    """A small ReLU CNN for the pattern tests, input (2, 9, 9):
    conv (stride 1) → conv (stride 2, padding 1) → max-pool → dense → dense."""
    return rp.Sequential([
        rp.Conv2D(rng.normal(0, 0.5, (3, 2, 3, 3)), rng.normal(0, 0.3, 3), padding=first_padding),
        rp.ReLU(),
        rp.Conv2D(rng.normal(0, 0.4, (4, 3, 3, 3)), rng.normal(0, 0.3, 4), stride=2, padding=1),
        rp.ReLU(),
        rp.MaxPool2D(2),
        rp.Flatten(),
        rp.Dense(rng.normal(0, 0.5, (6, 16)), rng.normal(0, 0.3, 6)),
        rp.ReLU(),
        rp.Dense(rng.normal(0, 0.5, (3, 6)), rng.normal(0, 0.3, 3)),
    ], input_shape=(2, 9, 9))


def run_in_cuda_simulator(checks: Path) -> None:
    """Run a pytest file of numba.cuda checks in a subprocess with ``NUMBA_ENABLE_CUDASIM=1``.

    The variable only takes effect if it is set before numba is first imported, hence the
    separate process.  Fails with the subprocess output if a check failed or none ran.
    """
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(checks)]
    result = subprocess.run(command, cwd=Path(__file__).resolve().parents[1], env=env, capture_output=True,
                            text=True, timeout=600)
    output = result.stdout + result.stderr
    print(output)
    assert result.returncode == 0, f"{' '.join(command)} failed (exit {result.returncode}):\n{output}"
    assert "skipped" not in output.splitlines()[-1], f"the simulator checks did not run:\n{output}"


def reference_sums(x, z, weight_matrix, shift, conv):
    """The readable statistics path for the fused-kernel tests: ``batch_sums`` of the batch, and the
    same sums over magnitudes (the rounding scale).  ``conv`` is None (Dense) or
    ``(kernel_size, stride, padding)`` with ``padding = ((top, bottom), (left, right))``."""
    from refpattern.kernels.numpy_reference import patch_matrix
    from refpattern.patterns import batch_sums

    o = weight_matrix.shape[0]
    if conv is None:
        patches, gate = x, z > 0
    else:
        patches = patch_matrix(x, *conv)
        gate = np.moveaxis(z, 1, -1).reshape(-1, o) > 0
    shifted = patches - shift
    y = shifted @ weight_matrix.T
    return batch_sums(shifted, y, gate, True), batch_sums(np.abs(shifted), np.abs(y), gate, True)


def check_merge_of_opposite_regimes(backend):
    """Two statistics whose stored input sums hold opposite regimes (``closed_inputs``: each part's first
    batch opens the gate of a neuron mostly in one and mostly closes it in the other) merge into the
    statistics of all the data: the merge keeps the left side's flags, the right side's column becomes
    ``Σx̃ − column`` where they differ, and every sum as read (each regime's input sums, the products
    with ỹ, the O-vectors) equals one pass over both parts, taken around the same shift, to 1e-12 of
    its largest entry."""
    rng = np.random.default_rng(45)
    kernel = rng.normal(0, 0.5, (4, 1, 3, 3))
    kernel[:2] = np.abs(kernel[:2])   # filters 0, 1 open on bright inputs,
    kernel[2:] = -np.abs(kernel[2:])  # filters 2, 3 on dark ones
    net = rp.Sequential([rp.Conv2D(kernel, np.zeros(4), padding=1), rp.ReLU(), rp.Flatten(),
                         rp.Dense(rng.normal(0, 0.3, (3, 64)), rng.normal(0, 0.1, 3))], input_shape=(1, 4, 4))
    bright, dark = rng.normal(1.5, 1.0, (5, 1, 4, 4)), rng.normal(-1.5, 1.0, (4, 1, 4, 4))
    a = rp.fit_statistics(net, bright, batch_size=5, backend=backend, progress=False)
    b = rp.fit_statistics(net, dark, batch_size=2, backend=backend, progress=False)
    assert np.any(a[0].closed_inputs != b[0].closed_inputs)  # the case this checks
    one_pass = rp.fit_statistics(net, np.concatenate([bright, dark]), batch_size=9, backend=backend, progress=False)
    for left, right in ((a, b), (b, a)):
        merged = left.merge(right)
        for k, (m, one, kept) in enumerate(zip(merged, one_pass, left)):
            np.testing.assert_array_equal(m.closed_inputs, kept.closed_inputs, err_msg=f"kernel layer {k}")
            np.testing.assert_array_equal(m.n_plus, one.n_plus)
            one = one.recentered(m.shift)
            for name in ("sum_x_plus", "sum_x_minus", "sum_xy_minus", "sum_xy_plus", "output_sums"):
                scale = max(np.max(np.abs(getattr(one, name))), 1e-300)
                error = np.max(np.abs(getattr(m, name) - getattr(one, name))) / scale
                record_error(error, f"merge of opposite regimes, {name}")
                assert error <= 1e-12, (backend, k, name, error)


_LARGEST_ERRORS = {}  # module -> {label: largest relative error seen}


def record_error(relative, label=""):
    """Keep the largest relative error a test reached (under ``label``); printed after the module (``-s``)."""
    test = os.environ.get("PYTEST_CURRENT_TEST", "?::?").split(" ")[0]
    module, name = test.split("::")[0], test.split("::")[-1]
    key = f"{name} [{label}]" if label else name
    errors = _LARGEST_ERRORS.setdefault(module, {})
    errors[key] = max(errors.get(key, 0.0), float(relative))


def assert_fields_close(got, want, names, tol, where):
    """For each attribute in ``names``: both None, or arrays equal to ``tol`` relative to ``want``'s
    largest entry (the largest relative error is kept by :func:`record_error` under the name)."""
    for name in names:
        if getattr(want, name) is None:
            assert getattr(got, name) is None, f"{where} {name}: expected None"
            continue
        scale = max(np.max(np.abs(getattr(want, name))), 1e-300)
        relative = np.max(np.abs(getattr(got, name) - getattr(want, name))) / scale
        record_error(relative, name)
        assert relative <= tol, f"{where} {name}: {relative:.2e} relative"


@pytest.fixture(scope="module", autouse=True)
def report_largest_errors(request):
    yield
    module = request.node.nodeid.split("::")[0]
    for key, relative in sorted(_LARGEST_ERRORS.pop(module, {}).items()):
        print(f"\n{key}: largest relative error {relative:.2e}")


def failing_savez(after_bytes, error):
    """A stand-in for ``np.savez`` that writes ``after_bytes`` bytes of a real archive, then fails."""
    real = np.savez

    def savez(file, *args, **kwds):
        buffer = io.BytesIO()
        real(buffer, *args, **kwds)
        file.write(buffer.getvalue()[:after_bytes])
        raise error

    return savez
