"""Mutation check: does the test suite notice realistic one-line bugs?

Each mutation below is one concrete edit ``(file, old text, new text)`` of the current code, of the
kind a real slip would make: a sign convention, a tie rule, a flipped kernel, an estimator
variant, statistics merged without re-centring, quadrature weights, a slip in a Numba wrapper, a
file written in place, an unchecked command-line value.  For each one this script

1. copies the repository (without ``.git``, with ``__pycache__`` and its compiled Numba kernels,
   modification times kept, so only a mutated kernel module recompiles) to a scratch folder,
2. checks that ``old`` occurs exactly once in ``file`` and replaces it with ``new``,
3. runs the mutation's test files there (``python -m pytest -x``, the scratch copy first on the
   path) and calls the mutation *caught* if a test fails (pytest's status 1), *survived* if all
   pass (status 0) and *broken* otherwise (the mutated code did not even import, or pytest
   could not run),
4. removes the scratch copy.

The working tree is never modified.  Before the mutations, the unmutated copy must pass every
test file used (else the script stops).  Usage (from the repository root; a few minutes on two
cores, most of it pytest start-up and one Numba recompilation per mutated kernel module)::

    python tests/mutations/run_mutations.py            # all mutations
    python tests/mutations/run_mutations.py -k ties    # those whose name contains "ties"
    python tests/mutations/run_mutations.py --list     # print the list and stop

Exit status 0 if every mutation was caught, 1 otherwise.  pytest does not collect this file (no
``test_`` prefix).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

E2E = "tests/test_end_to_end_rules.py"


@dataclass(frozen=True)
class Mutation:
    name: str
    category: str
    file: str
    old: str
    new: str
    tests: tuple


MUTATIONS = [
    # ReLU rules (docs/math.md#rules-notation)
    Mutation("guided_backprop_without_max", "ReLU rule", "refpattern/methods/relu_rules.py",
             "return kernels.relu_backward(kernels.relu_forward(upstream), x)",
             "return kernels.relu_backward(upstream, x)", (E2E,)),
    Mutation("deconvnet_gated_by_the_forward_pass", "ReLU rule", "refpattern/methods/relu_rules.py",
             "return get_backend(backend).relu_forward(upstream)\n",
             "return get_backend(backend).relu_backward(get_backend(backend).relu_forward(upstream), x)\n", (E2E,)),
    # PatternNet / PatternAttribution
    Mutation("identity_signal_divides_by_z_with_bias", "pattern rule", "refpattern/methods/rules.py",
             "y = layer.linear(x, layer.weight, backend)", "y = output", (E2E,)),
    Mutation("pattern_attribution_without_w", "pattern rule", "refpattern/methods/registry.py",
             "a_plus, a_minus = pattern_product(layer.weight, a_plus), pattern_product(layer.weight, a_minus)",
             "a_plus, a_minus = a_plus, a_minus",
             ("tests/test_pattern_methods.py",)),
    # ρ
    Mutation("rho_absolute_eigenvalue_cutoff", "rho cutoff", "refpattern/patterns/rho.py",
             "keep = lam > cutoff * lam_max\n", "keep = lam > cutoff\n", (E2E,)),
    # sign conventions, stabilisers and the bias (docs/conventions.md#stabilisers)
    Mutation("stabiliser_sign_at_zero_is_minus", "stabiliser sign", "refpattern/methods/rules.py",
             "np.where(denominator >= 0, 1.0, -1.0)", "np.where(denominator > 0, 1.0, -1.0)",
             (E2E, "tests/test_lrp_rules.py")),
    Mutation("stabiliser_sign_of_minus_zero_is_minus", "stabiliser sign", "refpattern/methods/rules.py",
             "np.copysign(stabilizer, out, out=out)", "np.copysign(stabilizer, denominator, out=out)",
             (E2E, "tests/test_lrp_rules.py")),
    Mutation("lrp_z_passes_relevance_through_z_zero", "zero denominator", "refpattern/methods/rules.py",
             "np.divide(numerator, denominator, out=out, where=denominator != 0)",
             "np.divide(numerator, np.where(denominator == 0, 1.0, denominator), out=out)", (E2E,)),
    Mutation("alpha_beta_beta_sign", "alpha-beta sign", "refpattern/methods/rules.py",
             "relevance = relevance - self.beta * self._part(", "relevance = relevance + self.beta * self._part(",
             (E2E, "tests/test_lrp_rules.py")),
    Mutation("zb_bounds_swapped", "z^B bounds", "refpattern/methods/rules.py",
             "- low * layer.linear_transpose(s, w_pos, x.shape, backend)",
             "- high * layer.linear_transpose(s, w_pos, x.shape, backend)", (E2E, "tests/test_lrp_rules.py")),
    Mutation("lrp_epsilon_without_bias_in_z", "bias in z", "refpattern/methods/rules.py",
             "s = stabilized_divide(upstream, output, self.epsilon)",
             "s = stabilized_divide(upstream, layer.linear(x, layer.weight, backend), self.epsilon)",
             ("tests/test_lrp_rules.py",)),
    Mutation("lrp_epsilon_starts_from_one", "start value", "refpattern/methods/registry.py",
             'return Composite(kernel=EpsilonRule(options["epsilon"]), relu=PassReLU(), start="logit")',
             'return Composite(kernel=EpsilonRule(options["epsilon"]), relu=PassReLU(), start="one")',
             ("tests/test_lrp_rules.py",)),
    # max-pool ties (docs/conventions.md#maxpool-ties)
    Mutation("maxpool_ties_to_the_last_maximum_numba", "tie routing", "refpattern/kernels/numba_cpu.py",
             "return (value > best) | ((value != value) & (best == best))",
             "return (value >= best) | ((value != value) & (best == best))", (E2E,)),
    Mutation("maxpool_ties_to_the_last_maximum_numpy", "tie routing", "refpattern/kernels/numpy_reference.py",
             "winner = np.argmax(flat, axis=-1)",
             "winner = flat.shape[-1] - 1 - np.argmax(flat[..., ::-1], axis=-1)", (E2E,)),
    # flipped kernels (cross-correlation, docs/conventions.md#conv-layout)
    Mutation("conv_kernel_flipped_numba", "flipped kernel", "refpattern/kernels/numba_cpu.py",
             "np.ascontiguousarray(weight.transpose(2, 0, 1, 3))",
             "np.ascontiguousarray(weight[:, :, ::-1, ::-1].transpose(2, 0, 1, 3))",
             ("tests/test_kernels_numba.py", E2E)),
    Mutation("conv_kernel_flipped_numpy", "flipped kernel", "refpattern/kernels/numpy_reference.py",
             "y = np.tensordot(patches, weight, axes=([3, 4, 5], [1, 2, 3]))",
             "y = np.tensordot(patches, weight[:, :, ::-1, ::-1], axes=([3, 4, 5], [1, 2, 3]))",
             ("tests/test_kernels_numba.py", E2E)),
    # Numba-only slips (the twins must agree)
    Mutation("numba_backward_input_padding_axes_swapped", "Numba-only slip", "refpattern/kernels/numba_cpu.py",
             "channel_block, kh, kw, sh, sw, top, left, oh, ow, band, grad_x,",
             "channel_block, kh, kw, sh, sw, left, top, oh, ow, band, grad_x,", ("tests/test_kernels_numba.py",)),
    Mutation("numba_statistics_padding_axes_swapped", "Numba-only slip", "refpattern/kernels/numba_statistics.py",
             "_shifted_columns(x_image, shift, kh, kw, sh, sw, pad_top, pad_left, oh, ow, row_begin, row_end, p_cols,",
             "_shifted_columns(x_image, shift, kh, kw, sh, sw, pad_left, pad_top, oh, ow, row_begin, row_end, p_cols,",
             ("tests/test_statistics_kernels.py",)),
    # estimators (docs/math.md#estimators)
    Mutation("paper_variant_uses_the_regime_mean", "estimator variant", "refpattern/patterns/estimators.py",
             'y_ref = m["y"]', 'y_ref = m["y_" + regime]', ("tests/test_patterns_estimators.py",)),
    Mutation("filter_pattern_divides_by_the_norm", "estimator variant", "refpattern/patterns/estimators.py",
             "np.divide(weight, norm2[:, None], out=a, where=~zero[:, None])",
             "np.divide(weight, np.sqrt(norm2)[:, None], out=a, where=~zero[:, None])",
             ("tests/test_patterns_estimators.py", "tests/test_pattern_methods.py")),
    # statistics merging (docs/math.md, streaming statistics)
    Mutation("merge_without_recentring", "statistics merging", "refpattern/patterns/statistics.py",
             "right = right.recentered(left.shift)", "right = right.copy()", ("tests/test_patterns_statistics.py",)),
    # each regime's sums over its own observations (docs/math.md#statistics-regimes)
    Mutation("closed_regime_sums_over_all_observations", "regime sums", "refpattern/kernels/numpy_reference.py",
             "y_closed = y_shifted * (1.0 - g)", "y_closed = y_shifted", ("tests/test_patterns_statistics.py",)),
    Mutation("recentring_the_closed_regime_with_all_inputs", "regime sums", "refpattern/patterns/statistics.py",
             '("minus", n - n_plus, self.closed_input_sums())', '("minus", n - n_plus, self.sum_x[:, None])',
             ("tests/test_patterns_statistics.py", "tests/test_statistics_kernels.py")),
    # each neuron's stored input sums follow its closed_inputs flag (docs/math.md#regime-input-sums)
    Mutation("merge_ignores_the_flag_of_the_stored_input_sums", "regime sums", "refpattern/patterns/statistics.py",
             "right._keep_regimes(left.closed_inputs)", "right.closed_inputs = left.closed_inputs",
             ("tests/test_patterns_statistics.py",)),
    Mutation("recentring_moves_the_stored_input_sums_by_the_open_count", "regime sums",
             "refpattern/patterns/statistics.py", "stored_count = np.where(self.closed_inputs, n - n_plus, n_plus)",
             "stored_count = n_plus", ("tests/test_patterns_statistics.py",)),
    Mutation("rho_keeps_eigenvalues_below_the_floor", "rho cutoff", "refpattern/patterns/rho.py",
             "keep &= lam > ROUNDING_FLOOR", "keep &= lam_max > ROUNDING_FLOOR",
             ("tests/test_adversarial_scale.py",)),
    # quadrature weights and SmoothGrad's σ
    Mutation("trapezoid_halves_only_the_first_weight", "quadrature weights",
             "refpattern/methods/integrated_gradients.py", "weights[[0, -1]] /= 2", "weights[[0]] /= 2", (E2E,)),
    Mutation("smoothgrad_sigma_of_the_whole_batch", "SmoothGrad sigma", "refpattern/methods/smoothgrad.py",
             "high, low = x.max(axis=axes), x.min(axis=axes)",
             "high, low = x.max() * np.ones(x.shape[0]), x.min() * np.ones(x.shape[0])", (E2E,)),
    # atomic files and the fingerprint of the weights (docs/conventions.md#robustness)
    Mutation("save_writes_the_target_in_place", "atomic files", "refpattern/files.py",
             'descriptor, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory or ".")',
             "descriptor, temporary = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666), target",
             ("tests/test_files.py", "tests/test_patterns_io.py")),
    Mutation("fingerprint_ignores_the_bias", "fingerprint", "refpattern/patterns/container.py",
             'parts.append(np.zeros(0, dtype="<f8") if bias is None else np.ascontiguousarray(bias, dtype="<f8"))',
             'parts.append(np.zeros(0, dtype="<f8"))', ("tests/test_patterns_io.py",)),
    Mutation("fingerprint_ignores_the_padding", "fingerprint", "refpattern/patterns/container.py",
             'padding = _padding_per_side(getattr(layer, "padding", None))', "padding = None",
             ("tests/test_patterns_io.py",)),
    # the command line (docs/conventions.md#command-line)
    Mutation("verify_seed_unchecked", "command line", "refpattern/experiments/verify.py",
             'parser.add_argument("--seed", type=seed,', 'parser.add_argument("--seed", type=int,',
             ("tests/test_cli.py",)),
    Mutation("reproduce_output_folder_unchecked", "command line", "refpattern/experiments/reproduce.py",
             'parser.add_argument("--out", type=output_folder(("report.md", "report.html", "report.json")), ',
             'parser.add_argument("--out", ', ("tests/test_cli.py",)),
]


def scratch_copy(destination: Path) -> Path:
    """The repository without ``.git`` and caches of pytest and pip, modification times kept."""
    ignore = shutil.ignore_patterns(".git", ".pytest_cache", "*.egg-info", ".benchmarks", "refpattern-report",
                                    "refpattern-reproduce")
    shutil.copytree(ROOT, destination, ignore=ignore, copy_function=shutil.copy2, symlinks=True)
    return destination


def run_tests(folder: Path, tests, timeout: int) -> tuple:
    """``(status, first failed test or the last output line, seconds)`` of pytest in ``folder``."""
    env = dict(os.environ, PYTHONPATH=str(folder), PYTHONDONTWRITEBYTECODE="1")
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    start = time.perf_counter()
    try:
        result = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return -1, f"timed out after {timeout} s", time.perf_counter() - start
    lines = (result.stdout + result.stderr).splitlines()
    failed = next((line[len("FAILED "):] for line in lines if line.startswith(("FAILED ", "ERROR "))), None)
    return result.returncode, failed or (lines[-1] if lines else ""), time.perf_counter() - start


def apply(folder: Path, mutation: Mutation) -> None:
    path = folder / mutation.file
    text = path.read_text(encoding="utf-8")
    count = text.count(mutation.old)
    if count != 1:
        raise ValueError(f"{mutation.name}: the old text occurs {count} times in {mutation.file} (expected once)")
    path.write_text(text.replace(mutation.old, mutation.new), encoding="utf-8")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", dest="select", default="", help="only mutations whose name contains this")
    parser.add_argument("--list", action="store_true", help="list the mutations and stop")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per pytest run (default 900)")
    args = parser.parse_args(argv)
    chosen = [m for m in MUTATIONS if args.select in m.name]
    if args.list:
        for m in chosen:
            print(f"{m.name:45s} {m.category:20s} {m.file}")
        return 0
    with tempfile.TemporaryDirectory(prefix="refpattern-mutations-") as scratch:
        base = scratch_copy(Path(scratch) / "base")
        for m in chosen:  # every mutation applies to the current code
            text = (base / m.file).read_text(encoding="utf-8")
            if text.count(m.old) != 1:
                print(f"{m.name}: the old text occurs {text.count(m.old)} times in {m.file}", file=sys.stderr)
                return 1
        files = sorted({test for m in chosen for test in m.tests})
        status, detail, seconds = run_tests(base, files, args.timeout)
        print(f"unmutated copy: {len(files)} test files {'pass' if status == 0 else 'FAIL'} ({seconds:.0f} s)")
        if status != 0:
            print(f"  {detail}", file=sys.stderr)
            return 1
        results = []
        for number, m in enumerate(chosen, start=1):
            folder = Path(scratch) / f"mutant-{number}"
            shutil.copytree(base, folder, copy_function=shutil.copy2, symlinks=True)
            apply(folder, m)
            status, detail, seconds = run_tests(folder, m.tests, args.timeout)
            shutil.rmtree(folder)
            verdict = {0: "SURVIVED", 1: "caught"}.get(status, f"BROKEN (pytest status {status})")
            results.append(verdict)
            print(f"[{number:2d}/{len(chosen)}] {verdict:8s} {m.name} ({m.category}, {m.file}; {seconds:.0f} s)"
                  + (f"\n        by {detail}" if status == 1 else f"\n        {detail}"), flush=True)
    caught = results.count("caught")
    categories = len({m.category for m in chosen})
    print(f"\n{caught} of {len(chosen)} mutations caught ({categories} categories)")
    return 0 if caught == len(chosen) else 1


if __name__ == "__main__":
    sys.exit(main())
