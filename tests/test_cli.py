"""The command line: it lists its commands, they report progress through refpattern.progress, and a
user's mistake gets one line and an exit status, never a traceback (docs/conventions.md#command-line)."""

import errno
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from refpattern import train_demo
from refpattern.cli import main
from refpattern.command_arguments import EXIT_STATUS_HELP
from refpattern.experiments import reproduce, verify

ROOT = Path(__file__).resolve().parents[1]


def run_module(*arguments, cwd=None):
    """``python -m refpattern ARGUMENTS`` in a fresh process (this checkout first on the path)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "refpattern", *arguments], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=300)


def test_help_lists_commands():
    result = subprocess.run([sys.executable, "-m", "refpattern", "--help"], capture_output=True, text=True, check=True)
    out = result.stdout
    for command in ("train", "verify", "reproduce"):
        assert command in out


def test_train_command_reports_through_refpattern_progress(capsys):
    assert main(["train", "--samples", "128", "--epochs", "1", "--target-accuracy", "0"]) == 0
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 2 and re.fullmatch(r"\[train +\d+\.\d s\] training the demo CNN on 128 .*", lines[0])
    assert re.fullmatch(r"\[train +\d+\.\d s\] epoch 1/1: loss .*", lines[1])
    assert "held-out accuracy" in captured.out


def test_train_that_misses_its_target_accuracy_exits_one(capsys):
    assert main(["train", "--samples", "8", "--epochs", "1", "--target-accuracy", "1"]) == 1
    result = run_module("train", "--samples", "8", "--epochs", "1", "--target-accuracy", "1")
    assert result.returncode == 1 and "Traceback" not in result.stderr and "held-out accuracy" in result.stdout


@pytest.mark.parametrize("command", ["verify", "reproduce", "train"])
def test_help_of_each_command_lists_the_exit_codes(command, capsys):
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert EXIT_STATUS_HELP.strip() in out
    for code in ("0", "1", "2", "3", "130"):
        assert re.search(rf"^ +{code} +\S", out, re.MULTILINE), code


@pytest.fixture
def no_work(monkeypatch):
    """Make any start of real work fail loudly: a refusal must come before it."""
    def started(*args, **kwargs):
        raise AssertionError("the command started working before refusing its arguments")

    monkeypatch.setattr(verify, "check_claims", started)
    monkeypatch.setattr(reproduce, "run_experiments", started)
    monkeypatch.setattr(sys.modules["refpattern.train"], "train", started)  # the module, not refpattern.train()


BAD_NUMBERS = [
    (["verify", "--seed", "-1"], "--seed: must be at least 0, got -1"),
    (["reproduce", "--seed", "-1"], "--seed: must be at least 0, got -1"),
    (["train", "--seed", "-1"], "--seed: must be at least 0, got -1"),
    (["verify", "--samples", "0"], "--samples: must be at least 10000, got 0"),
    (["verify", "--samples", "9999"], "--samples: must be at least 10000, got 9999"),
    (["train", "--samples", "0"], "--samples: must be at least 4, got 0"),
    (["train", "--epochs", "-1"], "--epochs: must be at least 1, got -1"),
    (["train", "--epochs", "0"], "--epochs: must be at least 1, got 0"),
    (["train", "--target-accuracy", "1.5"], "--target-accuracy: must be between 0 and 1"),
    (["train", "--target-accuracy", "nan"], "--target-accuracy: must be between 0 and 1"),
    (["verify", "--samples", "1e6"], "--samples: expected an integer, got '1e6'"),
    (["train", "--backend", "tpu"], "--backend: invalid choice"),
    (["verify", "--no-such-option"], "unrecognized arguments"),
]


@pytest.mark.parametrize("argv,message", BAD_NUMBERS, ids=[" ".join(a) for a, _ in BAD_NUMBERS])
def test_invalid_values_are_usage_errors(argv, message, no_work, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: refpattern ") and message in err and "Traceback" not in err
    assert err.splitlines()[-1].startswith(f"refpattern {argv[0]}: error: argument")  \
        or "unrecognized" in err.splitlines()[-1]


@pytest.mark.parametrize("argv,message", [BAD_NUMBERS[0], BAD_NUMBERS[3], BAD_NUMBERS[4], BAD_NUMBERS[6]],
                         ids=["verify --seed -1", "verify --samples 0", "verify --samples 9999", "train --epochs -1"])
def test_invalid_values_are_usage_errors_in_a_fresh_process(argv, message):
    result = run_module(*argv)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""


def output_cases(tmp_path):
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    report_md_is_a_folder = tmp_path / "report-folder"
    (report_md_is_a_folder / "report.md").mkdir(parents=True)
    return {
        "an existing file": (a_file, "is a file, expected a folder"),
        "a folder below a file": (a_file / "report", "is a file"),
        "a folder in /proc": (Path("/proc/refpattern-report"), "cannot write into /proc"),
        "report.md is a folder": (report_md_is_a_folder, "report.md is a folder"),
    }


CASES = ["an existing file", "a folder below a file", "a folder in /proc", "report.md is a folder"]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("command", ["verify", "reproduce"])
def test_an_output_folder_that_cannot_be_written_is_refused_before_any_work(command, case, tmp_path, no_work,
                                                                            capsys):
    if case == "a folder in /proc" and not Path("/proc/self").is_dir():
        pytest.skip("no /proc here")
    out, message = output_cases(tmp_path)[case]
    assert main([command, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_is_refused(tmp_path, no_work, capsys):
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        assert main(["verify", "--out", str(folder / "report")]) == 2
        assert "cannot write into" in capsys.readouterr().err
    finally:
        folder.chmod(0o700)


@pytest.mark.parametrize("command", ["verify", "reproduce"])
def test_an_output_folder_that_cannot_be_written_is_refused_in_a_fresh_process(command, tmp_path):
    (tmp_path / "a-file").write_text("x")
    result = run_module(command, "--out", str(tmp_path / "a-file"))
    assert result.returncode == 2 and "is a file, expected a folder" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    if Path("/proc/self").is_dir():
        result = run_module(command, "--out", "/proc/refpattern-report")
        assert result.returncode == 2 and "cannot write into /proc" in result.stderr
        assert "Traceback" not in result.stderr


def cuda_is_usable() -> bool:
    try:
        from refpattern.kernels import get_backend

        get_backend("cuda")
        return True
    except (RuntimeError, ImportError):
        return False


@pytest.mark.parametrize("command", ["train", "reproduce"])
def test_backend_cuda_without_a_gpu_is_one_line(command, no_work, capsys):
    if cuda_is_usable():
        pytest.skip("a CUDA device (or the simulator) is usable here")
    assert main([command, "--backend", "cuda"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"refpattern {command}: error: --backend cuda: ")
    assert "no CUDA GPU" in err or "numba.cuda" in err


def test_backend_cuda_without_a_gpu_in_a_fresh_process():
    if cuda_is_usable():
        pytest.skip("a CUDA device (or the simulator) is usable here")
    result = run_module("train", "--backend", "cuda")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and "--backend cuda" in result.stderr


def test_a_claim_that_fails_exits_one(tmp_path, monkeypatch, capsys):
    from refpattern.experiments.ledger import FAILS, Claim
    from refpattern.experiments.toy.check import ToyCheck

    broken = Claim("broken", "a claim", "expected", "measured", FAILS, source="docs/math.md#toy", must_hold=True)
    monkeypatch.setattr(verify, "check_claims", lambda model, n, seed, *rest, **options: ToyCheck(n, seed, [broken]))
    monkeypatch.setattr(verify, "toy_figure", lambda check: (b"png", ""))
    assert main(["verify", "--samples", "10000", "--out", str(tmp_path)]) == 1
    assert "Traceback" not in capsys.readouterr().err


def test_a_report_that_cannot_be_written_exits_three_and_keeps_the_old_one(tmp_path, monkeypatch, capsys):
    from refpattern.experiments.ledger import HOLDS, Claim
    from refpattern.experiments.toy.check import ToyCheck

    fine = Claim("fine", "a claim", "expected", "measured", HOLDS, source="docs/math.md#toy", must_hold=True)
    monkeypatch.setattr(verify, "check_claims", lambda model, n, seed, *rest, **options: ToyCheck(n, seed, [fine]))
    monkeypatch.setattr(verify, "toy_figure", lambda check: (b"png", ""))
    assert main(["verify", "--samples", "10000", "--out", str(tmp_path)]) == 0
    before = {path.name: path.read_bytes() for path in tmp_path.iterdir()}
    assert set(before) == {"report.md", "report.html", "report.json", "toy.png"}
    capsys.readouterr()

    import refpattern.files

    real_fsync = os.fsync
    calls = []

    def disk_full_at_the_third_file(descriptor):  # the third file's data do not fit
        calls.append(descriptor)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(descriptor)

    monkeypatch.setattr(refpattern.files.os, "fsync", disk_full_at_the_third_file)
    status = main(["verify", "--samples", "10000", "--seed", "1", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert status == 3 and "cannot write the report" in err and "No space left" in err and "Traceback" not in err
    assert err.splitlines()[-1].startswith("refpattern verify: error: cannot write the report to ")
    # every file of the old report is still there, byte for byte, and no temporary file is left
    assert {path.name: path.read_bytes() for path in tmp_path.iterdir()} == before


@pytest.mark.parametrize("error,status,message", [(KeyboardInterrupt(), 130, "interrupted"),
                                                  (MemoryError(), 2, "out of memory")])
def test_interrupt_and_out_of_memory_are_one_line(error, status, message, monkeypatch, capsys):
    def run(args):
        raise error

    monkeypatch.setattr(train_demo, "run", run)  # build_parser takes each command's run when main calls it
    assert main(["train"]) == status
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err




def test_a_reader_that_went_away_is_status_141_without_a_traceback(tmp_path):
    """``refpattern info net.npz | head``: the reader closes the pipe; writing to it once ended in a
    BrokenPipeError traceback and status 1.  The read end is closed before the command starts, so its
    first write fails."""
    import numpy as np

    import refpattern as rp

    rp.Sequential([rp.Dense.he(3, 2, np.random.default_rng(0))], input_shape=(3,)).save(tmp_path / "net.npz")
    reader, writer = os.pipe()
    os.close(reader)
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    try:
        result = subprocess.run([sys.executable, "-m", "refpattern", "info", str(tmp_path / "net.npz")],
                                stdout=writer, stderr=subprocess.PIPE, text=True, env=env, timeout=300)
    finally:
        os.close(writer)
    assert result.returncode == 141 and result.stderr == "", result.stderr


def test_train_out_writes_the_network_and_images_the_file_commands_read(tmp_path, capsys):
    """``train --out DIR``: the network is the one ``train`` returns for the same seed (bit for bit), the
    images are the task's, and an existing output is refused before any work without ``--overwrite``."""
    import numpy as np

    import refpattern as rp
    from refpattern.datasets import make_image_task
    from refpattern.train import demo_cnn, train

    out = tmp_path / "demo"
    assert main(["train", "--samples", "16", "--epochs", "1", "--target-accuracy", "0", "--out", str(out)]) == 0
    task, held_out = make_image_task(16, seed=0), make_image_task(train_demo.HELD_OUT, seed=1)
    want = train(demo_cnn(task.input_shape, task.n_classes, seed=0), task.X, task.labels, epochs=1, seed=0,
                 target_accuracy=0.0).net
    got = rp.Sequential.load(out / "net.npz")
    for mine, theirs in zip(got.kernel_layers, want.kernel_layers):
        assert np.array_equal(mine.weight, theirs.weight) and np.array_equal(mine.bias, theirs.bias)
    assert np.array_equal(np.load(out / "images.npy"), task.X)
    assert np.array_equal(np.load(out / "held_out.npy"), held_out.X)
    accuracy = float(np.mean(np.argmax(got.logits(held_out.X), axis=1) == held_out.labels))
    assert f"held-out accuracy {accuracy:.3f}" in capsys.readouterr().out
    before = (out / "net.npz").read_bytes()
    assert main(["train", "--samples", "16", "--epochs", "1", "--out", str(out)]) == 2
    assert "net.npz exists (and 2 more); pass --overwrite" in capsys.readouterr().err
    assert (out / "net.npz").read_bytes() == before
