"""The commands on files: ``refpattern fit``, ``explain``, ``rho`` and ``info``
(docs/conventions.md#file-commands).  The facts: what they write is what the Python API computes
from the same files (bit for bit in this process, ≤ 1e-12 relative on Dask workers); ``info`` reports
what the files hold (parameter counts, observations, degenerate neurons, the file's checksum, the
weights' fingerprint); a mistake is refused before any work with one line and exit status 2, and
leaves every file as it was."""

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from test_patterns_passes import assert_same_patterns

import refpattern as rp
from refpattern.cli import main
from refpattern.command_arguments import FILE_COMMAND_EXIT_STATUS_HELP
from refpattern.commands import explain as explain_command
from refpattern.commands import fit as fit_command
from refpattern.commands import rho as rho_command

ROOT = Path(__file__).resolve().parents[1]
FILE_COMMANDS = ("fit", "explain", "rho", "info")
SAMPLES = 48


def tiny_net(seed=0):
    rng = np.random.default_rng(seed)
    return rp.Sequential([
        rp.Conv2D(rng.normal(0, 0.5, (3, 1, 3, 3)), rng.normal(0, 0.1, 3), padding=1), rp.ReLU(), rp.MaxPool2D(2),
        rp.Flatten(), rp.Dense(rng.normal(0, 0.3, (4, 48)), rng.normal(0, 0.1, 4)), rp.ReLU(),
        rp.Dense(rng.normal(0, 0.5, (3, 4)), rng.normal(0, 0.1, 3)), rp.Softmax(),
    ], input_shape=(1, 8, 8))


@pytest.fixture
def files(tmp_path):
    """A network file, fitting data (.npy, float32) and a few inputs in an .npz with a label array."""
    net = tiny_net()
    net.save(tmp_path / "net.npz")
    x = np.random.default_rng(1).normal(0.2, 1.0, (SAMPLES, 1, 8, 8)).astype(np.float32)
    np.save(tmp_path / "data.npy", x)
    inputs = np.random.default_rng(2).normal(size=(3, 1, 8, 8))
    np.savez(tmp_path / "inputs.npz", images=inputs, labels=np.arange(3))
    return tmp_path, net, x, inputs


def cli(*argv):
    return main([str(a) for a in argv])


def run_module(*arguments, cwd=None):
    """``python -m refpattern ARGUMENTS`` in a fresh process (this checkout first on the path)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "refpattern", *map(str, arguments)], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=300)


def stored_checksum(path):
    with np.load(path, allow_pickle=False) as archive:
        return str(archive["checksum"])


# --- help --------------------------------------------------------------------------------------------

def test_help_lists_the_file_commands():
    out = run_module("--help").stdout
    for command in FILE_COMMANDS:
        assert f"    {command} " in out


@pytest.mark.parametrize("command", FILE_COMMANDS)
def test_help_of_each_file_command_lists_the_exit_codes(command, capsys):
    """The commands on files never judge a claim or an accuracy: their --help says what their codes mean."""
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert FILE_COMMAND_EXIT_STATUS_HELP.strip() in out and "verify:" not in out and "train:" not in out


# --- the round trip fit → info → explain, in this process -----------------------------------------------

def test_fit_info_explain_round_trip_in_this_process(files, capsys):
    folder, net, x, inputs = files
    assert cli("fit", folder / "net.npz", folder / "data.npy", "--batch-size", 16, "--out", folder / "p.npz") == 0
    captured = capsys.readouterr()
    assert "fitting S_a± on" in captured.err and f"fit_patterns: {SAMPLES}/{SAMPLES} samples, done" in captured.err
    patterns = rp.Patterns.load(folder / "p.npz")
    want = rp.fit_patterns(net, x.astype(np.float64), "a+-", batch_size=16)
    assert_same_patterns(patterns, want, tol=0.0)  # the same code on the same batches
    assert patterns.fingerprint == rp.patterns.network_fingerprint(net)

    assert cli("info", folder / "p.npz") == 0
    out = capsys.readouterr().out
    assert stored_checksum(folder / "p.npz") in out and "estimator a+- (S_a±), variant paper" in out
    for k, layer in enumerate(patterns):
        zeroed = sum(d.zeroed for d in layer.degenerate)
        row = next(line for line in out.splitlines() if line.startswith(f"  {k} "))
        assert f"{layer.n_samples:,}" in row and patterns.fingerprint[k][:12] in row and f"  {zeroed}  " in row
    assert patterns.report() in out

    assert cli("info", folder / "net.npz") == 0
    out = capsys.readouterr().out
    parameters = sum(layer.weight.size + layer.bias.size for layer in net.kernel_layers)
    assert stored_checksum(folder / "net.npz") in out and f"{parameters:,} parameters" in out
    assert "(3, 8, 8)" in out and "(3, 4, 4)" in out and "(48,)" in out  # conv, pool, flatten outputs

    assert cli("explain", folder / "net.npz", f"{folder / 'inputs.npz'}:images", "--method", "pattern.attribution",
               "--patterns", folder / "p.npz", "--target", "1", "--out", folder / "pa.npy",
               "--png", folder / "maps") == 0
    got = np.load(folder / "pa.npy")
    np.testing.assert_array_equal(got, rp.explain(net, inputs, "pattern.attribution", 1, patterns=patterns))
    pngs = sorted(os.listdir(folder / "maps"))
    assert pngs == ["sample_0.png", "sample_1.png", "sample_2.png"]
    assert all((folder / "maps" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for name in pngs)


def test_explain_options_targets_and_batches(files):
    folder, net, _, inputs = files
    assert cli("explain", folder / "net.npz", folder / "inputs.npz", "--array", "images", "--method", "lrp.epsilon",
               "--option", "epsilon=0.01", "--target", "0,2,1", "--batch-size", 2, "--out", folder / "e.npy") == 0
    want = rp.explain(net, inputs, "lrp.epsilon", np.array([0, 2, 1]), epsilon=0.01)
    # batches of 2 and one batch of 3: the Numba kernels cut the work by batch (docs/backends.md#numba-determinism)
    np.testing.assert_allclose(np.load(folder / "e.npy"), want, rtol=1e-13, atol=1e-15 * np.abs(want).max())
    assert cli("explain", folder / "net.npz", f"{folder / 'inputs.npz'}:images", "--method", "integrated_gradients",
               "--option", "steps=4", "--option", "quadrature=gauss_legendre", "--out", folder / "ig.npy") == 0
    np.testing.assert_array_equal(np.load(folder / "ig.npy"),
                                  rp.explain(net, inputs, "integrated_gradients", steps=4, quadrature="gauss_legendre"))


def test_rho_prints_the_per_layer_table(files, capsys):
    folder, net, x, _ = files
    held_out = np.random.default_rng(5).normal(0.2, 1.0, (SAMPLES, 1, 8, 8))
    np.save(folder / "held_out.npy", held_out)
    assert cli("rho", folder / "net.npz", folder / "data.npy", "--estimator", "w", "--fit-v-on",
               folder / "held_out.npy", "--batch-size", 16) == 0
    out = capsys.readouterr().out
    want = rp.rho(net, x.astype(np.float64), "w", fit_v_on=held_out, batch_size=16)
    for k in range(len(net.kernel_layers)):
        row = next(line for line in out.splitlines() if line.startswith(f"{k} "))
        assert row.split()[-1] == f"{want[k]:.4f}" and int(row.split()[-3]) == len(want.neurons[k])


@pytest.mark.parametrize("estimator, option", [("random", ["--seed", "3"]), ("a+-", ["--variant", "regime"])])
def test_rho_fits_the_estimator_with_its_variant_or_seed_and_writes_every_bit(estimator, option, files, capsys):
    """``rho --estimator NAME --seed S`` / ``--variant V`` is ρ of the patterns ``fit`` writes with the same options
    (it had neither option: ``random`` always used seed 0, S_a± the paper variant), and ``--out`` holds each ρ
    as the float64 itself (the table rounds to 4 decimals)."""
    folder, net, x, _ = files
    assert cli("rho", folder / "net.npz", folder / "data.npy", "--estimator", estimator, *option, "--batch-size", 16,
               "--out", folder / "rho.json", "--quiet") == 0
    assert f"wrote {folder / 'rho.json'}" in capsys.readouterr().out
    written = json.loads((folder / "rho.json").read_text(encoding="utf-8"))
    options = {"seed": 3} if estimator == "random" else {"variant": "regime"}
    fitted = rp.fit_patterns(net, x.astype(np.float64), estimator, batch_size=16, **options)
    want = rp.rho(net, x.astype(np.float64), fitted, batch_size=16)
    assert written["rho"] == [float(value) for value in want]  # bit for bit: JSON keeps repr(float)
    assert [layer["rho"] for layer in written["layers"]] == written["rho"]
    assert written["estimator"] == {"name": estimator, "label": fitted.estimator.label,
                                    "variant": options.get("variant"), "seed": options.get("seed")}
    assert written["files"]["DATA"] == str(folder / "data.npy") and written["reason"] is None
    default = rp.rho(net, x.astype(np.float64), estimator, batch_size=16)  # seed 0 / the paper variant
    assert not np.array_equal(np.asarray(want), np.asarray(default))  # the option changed the numbers


def test_rho_out_writes_nan_as_null_with_the_reason(files, capsys):
    """S_x has no distractor: ρ is NaN, which JSON cannot hold; the file says null and why."""
    folder, net, x, _ = files
    assert cli("rho", folder / "net.npz", folder / "data.npy", "--estimator", "x", "--out", folder / "x.json",
               "--quiet") == 0
    written = json.loads((folder / "x.json").read_text(encoding="utf-8"))
    assert written["rho"] == [None] * len(net.kernel_layers)
    assert written["reason"] == rp.rho(net, x.astype(np.float64), "x").reason and "undefined" in written["reason"]


# --- on Dask workers -------------------------------------------------------------------------------------

def test_fit_info_explain_round_trip_on_two_workers(files, capsys):
    pytest.importorskip("distributed")
    folder, net, x, inputs = files
    assert cli("fit", folder / "net.npz", folder / "data.npy", "--workers", 2, "--chunk-size", 10,
               "--batch-size", 4, "--backend", "numpy", "--out", folder / "p2.npz") == 0
    err = capsys.readouterr().err
    assert "running on a local Dask cluster of 2 worker process(es)" in err
    assert f"fit_patterns: {SAMPLES}/{SAMPLES} samples, done" in err
    patterns = rp.Patterns.load(folder / "p2.npz")
    assert_same_patterns(patterns, rp.fit_patterns(net, x.astype(np.float64), batch_size=4, backend="numpy"))
    assert cli("info", folder / "p2.npz") == 0
    out = capsys.readouterr().out
    assert stored_checksum(folder / "p2.npz") in out and patterns.report() in out
    assert cli("explain", folder / "net.npz", f"{folder / 'inputs.npz'}:images", "--method", "pattern.net",
               "--patterns", folder / "p2.npz", "--out", folder / "pn.npy", "--quiet") == 0
    np.testing.assert_array_equal(np.load(folder / "pn.npy"), rp.explain(net, inputs, "pattern.net", patterns=patterns))


def test_fit_and_rho_on_a_running_scheduler(files, capsys):
    """``--scheduler ADDRESS``: a cluster started elsewhere (here a LocalCluster of this test)."""
    distributed = pytest.importorskip("distributed")
    folder, net, x, _ = files
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=40) as cluster:
        address = cluster.scheduler_address
        assert cli("fit", folder / "net.npz", folder / "data.npy", "--scheduler", address, "--chunk-size", 20,
                   "--batch-size", 8, "--out", folder / "ps.npz") == 0
        assert cli("rho", folder / "net.npz", folder / "data.npy", "--patterns", folder / "ps.npz", "--scheduler",
                   address, "--chunk-size", 16, "--batch-size", 8) == 0
    captured = capsys.readouterr()
    assert f"running on the Dask scheduler {address} (2 worker(s) now)" in captured.err
    patterns = rp.Patterns.load(folder / "ps.npz")
    assert_same_patterns(patterns, rp.fit_patterns(net, x.astype(np.float64), batch_size=8))
    want = rp.rho(net, x.astype(np.float64), patterns, batch_size=8)
    for k in range(len(net.kernel_layers)):
        row = next(line for line in captured.out.splitlines() if line.startswith(f"{k} "))
        assert row.split()[-1] == f"{want[k]:.4f}"


def test_a_zarr_store_as_data(files):
    zarr = pytest.importorskip("zarr")
    folder, net, x, _ = files
    store = zarr.open(str(folder / "data.zarr"), mode="w", shape=x.shape, chunks=(16, 1, 8, 8), dtype="f8")
    store[...] = x
    assert cli("fit", folder / "net.npz", folder / "data.zarr", "--batch-size", 16, "--memory-limit", "2000",
               "--out", folder / "pz.npz", "--quiet") == 0
    assert_same_patterns(rp.Patterns.load(folder / "pz.npz"),
                         rp.fit_patterns(net, x.astype(np.float64), batch_size=16))


# --- refusals: one line, exit 2, before any work, nothing written ------------------------------------------

@pytest.fixture
def no_work(monkeypatch):
    def started(*args, **kwargs):
        raise AssertionError("the command started working before refusing")

    monkeypatch.setattr(fit_command, "fit_patterns", started)
    monkeypatch.setattr(explain_command, "explain", started)
    monkeypatch.setattr(rho_command, "rho", started)


def refusal_cases(folder):
    garbage = folder / "garbage.npz"
    garbage.write_bytes(b"PK\x03\x04 not really a zip archive")
    truncated = folder / "truncated.npz"
    truncated.write_bytes((folder / "net.npz").read_bytes()[:300])
    np.save(folder / "wrong_shape.npy", np.zeros((4, 2, 8, 8)))
    np.save(folder / "labels.npy", np.arange(4))
    (folder / "pickled.pt").write_bytes(b"\x80\x04not checked: refused before reading")
    existing = folder / "existing.npz"
    existing.write_bytes(b"keep me")
    net, data = folder / "net.npz", folder / "data.npy"
    out = ["--out", folder / "new.npz"]
    return {
        "a garbage model file": (["fit", garbage, data, *out], "MODEL", "not a readable refpattern network file"),
        "a truncated model file": (["fit", truncated, data, *out], "MODEL", "not a readable refpattern network file"),
        "a patterns file as the model": (["fit", folder / "p.npz", data, *out], "MODEL", "a patterns file"),
        "a missing model": (["fit", folder / "nope.npz", data, *out], "MODEL", "no such file"),
        "a torch pickle without --allow-pickle": (["fit", folder / "pickled.pt", data, *out], "MODEL",
                                                  "pass --allow-pickle if you trust"),
        "data of another per-sample shape": (["fit", net, folder / "wrong_shape.npy", *out], "DATA",
                                             "per-sample shape (2, 8, 8)"),
        "integer data": (["fit", net, folder / "labels.npy", *out], "DATA", "dtype int64"),
        "an archive of several arrays": (["explain", net, folder / "inputs.npz", "--method", "gradient", *out],
                                         "INPUTS", "holds 2 arrays"),
        "an existing output": (["fit", net, data, "--out", existing], "--out", "exists; pass --overwrite"),
        "an existing explain output": (["explain", net, f"{folder / 'inputs.npz'}:images", "--method", "gradient",
                                        "--out", existing], "--out", "exists; pass --overwrite"),
        "an unknown method": (["explain", net, f"{folder / 'inputs.npz'}:images", "--method", "lrp.nope", *out],
                              "--method", "unknown method 'lrp.nope'"),
        "an unknown option": (["explain", net, f"{folder / 'inputs.npz'}:images", "--method", "lrp.epsilon",
                               "--option", "gamma=0.1", *out], "--option", "unknown option(s) ['gamma']"),
        "an option out of range": (["explain", net, f"{folder / 'inputs.npz'}:images", "--method", "lrp.epsilon",
                                    "--option", "epsilon=-1", *out], "--option", "epsilon"),
        "a pattern method without patterns": (["explain", net, f"{folder / 'inputs.npz'}:images", "--method",
                                               "pattern.net", *out], "--method", "needs --patterns"),
        "a target out of range": (["explain", net, f"{folder / 'inputs.npz'}:images", "--method", "gradient",
                                   "--target", "3", *out], "--target", "class 3 out of range"),
        "an unknown estimator": (["fit", net, data, "--estimator", "b", *out], "--estimator", "b"),
        # both were silently ignored: the file said S_a / S_a± as if the option had been honoured
        "a variant for an estimator without variants": (["fit", net, data, "--estimator", "a", "--variant", "regime",
                                                         *out], "--variant regime", "has no variants"),
        # ignored before: a network file stores its input shape, only a torch model reads --input-shape
        "an input shape other than the network's": (["fit", net, data, "--input-shape", "1,4,4", *out],
                                                    "--input-shape 1,4,4", "takes samples of shape (1, 8, 8)"),
        "a seed for an estimator without randomness": (["fit", net, data, "--seed", "3", *out], "--seed 3",
                                                       "draws no random numbers"),
        # rho had neither option; now as fit: refused where it would do nothing (with --patterns, the file's own)
        "a seed for rho's estimator without randomness": (["rho", net, data, "--estimator", "a+-", "--seed", "1"],
                                                          "--seed 1", "draws no random numbers"),
        "a variant for rho's estimator without variants": (["rho", net, data, "--estimator", "w", "--variant",
                                                            "paper"], "--variant paper", "has no variants"),
        "a seed with rho's patterns file": (["rho", net, data, "--patterns", folder / "p.npz", "--seed", "1"],
                                            "--seed 1", "goes with --estimator"),
        "an existing rho output": (["rho", net, data, "--estimator", "w", "--out", existing], "--out",
                                   "exists; pass --overwrite"),
        "the patterns as rho's output": (["rho", net, data, "--patterns", folder / "p.npz", "--out", folder / "p.npz",
                                          "--overwrite"], "--out", "is the --patterns"),
        # option errors explain found only on the first batch, and blamed on INPUTS
        "lrp.zb without its bounds": (["explain", net, data, "--method", "lrp.zb", "--option", "low=-1", *out],
                                      "--option high=…", "needs --option low=… and --option high=…"),
        "an IG baseline of another shape": (["explain", net, data, "--method", "integrated_gradients", "--option",
                                             "baseline=(1.0, 2.0)", *out], "--option baseline",
                                            "shaped like one sample (1, 8, 8)"),
        "an IG baseline shaped like INPUTS, explained in batches": (
            ["explain", net, data, "--method", "integrated_gradients", "--option", f"baseline=@{data}",
             "--batch-size", "20", *out], "--option baseline", "--batch-size 20: x is a batch of 8 or 20 samples"),
        "z^B bounds of another shape": (["explain", net, data, "--method", "lrp.zb", "--option", "low=(0.0, 0.0)",
                                         "--option", "high=1.0", *out], "--option low", "shaped like one sample"),
        "a memory limit below one neuron's sums": (["fit", net, data, "--memory-limit", "1KiB", *out],
                                                   "--memory-limit", "cannot hold the statistics of even one neuron"),
        # info's argument is FILE, and a damaged file may have been patterns (it said "MODEL … network file")
        "info of a garbage file": (["info", garbage], f"FILE {garbage}",
                                   "not a readable refpattern network or patterns file"),
        # --overwrite replaced the file the result was computed from (the network by patterns, the inputs by maps)
        "the model as fit's output": (["fit", net, data, "--out", net, "--overwrite"], "--out", "is the MODEL"),
        "the data as fit's output": (["fit", net, data, "--out", data, "--overwrite"], "--out", "is the DATA"),
        "the inputs as explain's output": (["explain", net, data, "--method", "gradient", "--out", data,
                                            "--overwrite"], "--out", "is the INPUTS"),
        "the patterns as explain's output": (["explain", net, data, "--method", "pattern.net", "--patterns",
                                              folder / "p.npz", "--out", folder / "p.npz", "--overwrite"],
                                             "--out", "is the --patterns"),
    }


REFUSALS = ["a garbage model file", "a truncated model file", "a patterns file as the model", "a missing model",
            "a torch pickle without --allow-pickle", "data of another per-sample shape", "integer data",
            "an archive of several arrays", "an existing output", "an existing explain output", "an unknown method",
            "an unknown option", "an option out of range", "a pattern method without patterns",
            "a target out of range", "an unknown estimator", "a memory limit below one neuron's sums",
            "info of a garbage file", "the model as fit's output", "the data as fit's output",
            "the inputs as explain's output", "the patterns as explain's output",
            "a variant for an estimator without variants", "a seed for an estimator without randomness",
            "an input shape other than the network's", "a seed for rho's estimator without randomness",
            "a variant for rho's estimator without variants", "a seed with rho's patterns file",
            "an existing rho output", "the patterns as rho's output", "lrp.zb without its bounds",
            "an IG baseline of another shape", "an IG baseline shaped like INPUTS, explained in batches",
            "z^B bounds of another shape"]


@pytest.mark.parametrize("case", REFUSALS)
def test_a_mistake_is_one_line_exit_two_and_nothing_written(case, files, no_work, capsys):
    folder, net, x, _ = files
    rp.fit_patterns(net, x.astype(np.float64)).save(folder / "p.npz")
    argv, prefix, message = refusal_cases(folder)[case]
    before = {path: path.read_bytes() for path in folder.iterdir() if path.is_file()}
    assert cli(*argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"refpattern {argv[0]}: error: {prefix}") and message in err, err
    assert {path: path.read_bytes() for path in folder.iterdir() if path.is_file()} == before
    assert not (folder / "new.npz").exists() and not (folder / "maps").exists()


def test_a_damaged_patterns_file_is_named_once(files, no_work, capsys):
    """The loader's messages name the file already; ``--patterns P:`` does not repeat it."""
    folder, net, x, _ = files
    rp.fit_patterns(net, x.astype(np.float64)).save(folder / "p.npz")
    whole = (folder / "p.npz").read_bytes()
    (folder / "half.npz").write_bytes(whole[:len(whole) // 2])
    assert cli("explain", folder / "net.npz", f"{folder / 'inputs.npz'}:images", "--method", "pattern.net",
               "--patterns", folder / "half.npz", "--out", folder / "new.npz") == 2
    err = capsys.readouterr().err
    assert err.startswith(f"refpattern explain: error: --patterns {folder / 'half.npz'}: ") and "not a readable" in err
    assert err.count("half.npz") == 1, err


@pytest.mark.parametrize("command", ["fit", "rho"])
def test_dask_options_without_dask_name_the_extra(command, files, no_work, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "distributed", None)  # as on a machine without the extra
    folder, *_ = files
    argv = [command, folder / "net.npz", folder / "data.npy", "--workers", 2]
    argv += ["--out", folder / "new.npz"] if command == "fit" else ["--estimator", "w"]
    assert cli(*argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and 'pip install "refpattern[dask]"' in err and "Traceback" not in err


def test_a_mistake_in_a_fresh_process_has_no_traceback(files):
    folder, *_ = files
    (folder / "out.npz").write_bytes(b"keep me")
    result = run_module("fit", folder / "net.npz", folder / "data.npy", "--out", folder / "out.npz")
    assert result.returncode == 2 and result.stdout == "" and "Traceback" not in result.stderr
    assert "exists; pass --overwrite" in result.stderr and (folder / "out.npz").read_bytes() == b"keep me"
    (folder / "bad.onnx").write_bytes(b"not a protobuf")
    result = run_module("info", folder / "bad.onnx")
    assert result.returncode == 2 and "Traceback" not in result.stderr and result.stderr.count("\n") == 1


def test_overwrite_replaces_an_existing_output(files):
    folder, net, x, _ = files
    (folder / "p.npz").write_bytes(b"old")
    assert cli("fit", folder / "net.npz", folder / "data.npy", "--out", folder / "p.npz", "--overwrite",
               "--quiet") == 0
    assert zipfile.is_zipfile(folder / "p.npz")


def test_nan_in_the_data_is_a_usage_error_and_writes_nothing(files, capsys):
    folder, _, x, _ = files
    x = x.copy()
    x[20, 0, 3, 3] = np.nan
    np.save(folder / "nan.npy", x)
    assert cli("fit", folder / "net.npz", folder / "nan.npy", "--batch-size", 16, "--out", folder / "p.npz") == 2
    err = capsys.readouterr().err
    assert "X (batch 2): contains 1 NaN" in err and "Traceback" not in err and not (folder / "p.npz").exists()


def test_a_file_that_cannot_be_written_exits_three(files, monkeypatch, capsys):
    folder, *_ = files
    from refpattern.commands import output_files

    def disk_full(path, content):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(output_files, "write_atomically", disk_full)
    assert cli("fit", folder / "net.npz", folder / "data.npy", "--out", folder / "p.npz", "--quiet") == 3
    assert "No space left on device" in capsys.readouterr().err and not (folder / "p.npz").exists()


# --- models the converters read ------------------------------------------------------------------------

def test_an_onnx_model(files, capsys):
    pytest.importorskip("onnx")
    from test_interop_onnx import dense_graph, make_model

    folder, *_ = files
    nodes, initializers = dense_graph(np.random.default_rng(4), with_batchnorm=False)
    model = make_model(nodes, initializers, [None, 12])
    import onnx

    onnx.save(model, str(folder / "model.onnx"))
    x = np.random.default_rng(6).normal(size=(40, 12))
    np.save(folder / "flat.npy", x)
    net = rp.interop.from_onnx(model)
    assert cli("fit", folder / "model.onnx", folder / "flat.npy", "--out", folder / "onnx.npz", "--quiet") == 0
    assert_same_patterns(rp.Patterns.load(folder / "onnx.npz"), rp.fit_patterns(net, x), tol=0.0)
    assert cli("info", folder / "model.onnx") == 0
    assert "a refpattern network converted from an ONNX model" in capsys.readouterr().out


def test_a_keras_model(files, capsys):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    folder, _, x, _ = files
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3, padding="same", activation="relu"),
                              keras.layers.Flatten(), keras.layers.Dense(3)])
    model.save(folder / "model.keras")
    net = rp.interop.from_keras(model)  # takes NCHW, like the data file
    assert cli("fit", folder / "model.keras", folder / "data.npy", "--out", folder / "keras.npz", "--quiet") == 0
    assert_same_patterns(rp.Patterns.load(folder / "keras.npz"), rp.fit_patterns(net, x.astype(np.float64)),
                         tol=0.0)


def test_a_torch_model_with_allow_pickle(files):
    torch = pytest.importorskip("torch")
    folder, _, x, _ = files
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.Linear(128, 3)).double()
    torch.save(model, folder / "model.pt")
    net = rp.interop.from_torch(model, (1, 8, 8))
    assert cli("fit", folder / "model.pt", folder / "data.npy", "--allow-pickle", "--out", folder / "pt.npz",
               "--quiet") == 0
    assert_same_patterns(rp.Patterns.load(folder / "pt.npz"), rp.fit_patterns(net, x.astype(np.float64)), tol=0.0)
