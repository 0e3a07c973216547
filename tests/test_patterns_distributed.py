"""Pattern fits on Dask (``refpattern.patterns.distributed``): a Dask array's chunks are fitted on the
workers and their statistics merged in a tree.  The facts: the statistics, patterns, counts and
degenerate entries of the single-process fit, for any chunking, any chunk order, any number of
workers, under a memory limit too; a lost worker or a task that fails once changes no number; data
refpattern refuses is refused before any work, or named by chunk and samples; importing refpattern
imports no Dask (``tests/test_dask_optional.py``).

Needs the extra ``dask`` (``pip install "refpattern[dask]"``); skipped without it.
"""

import os

import numpy as np
import pytest
from conftest import assert_fields_close, pattern_cnn, random_cnn, record_error
from test_patterns_passes import SPLIT_LIMIT, WHOLE_LAYERS_LIMIT, assert_same_patterns, degenerate_cnn

import refpattern as rp
from refpattern.patterns import fit_patterns, fit_statistics
from refpattern.patterns.distributed import SENT_SUMS, ChunkStatistics, NetworkFile, dask_array_from_npy
from refpattern.patterns.passes import plan_passes, statistics_bytes

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    """Two worker processes, one thread each (CI: tiny data, seconds to start)."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=40) as cluster, distributed.Client(cluster) as dask_client:
        yield dask_client


def data(n, seed=1, shape=(2, 9, 9)):
    return np.random.default_rng(seed).normal(0.3, 1.0, (n,) + shape)


def chunked(x, chunks):
    return da.from_array(x, chunks=(chunks,) + x.shape[1:])


#: A regime holding at least this fraction of a layer's observations is held to ``tol`` itself.
BALANCED = 0.1


def assert_same_as_single_process(got, want, tol=1e-12):
    """:func:`assert_same_patterns` (counts and degenerate entries exactly), with each neuron's
    pattern in a regime (``a₊``, ``a₋``) within ``tol`` relative to the layer's largest entry where
    the regime holds at least :data:`BALANCED` of the observations, and within ``tol·n/n_regime``
    where it holds fewer: its gate-closed ``Σx̃`` is a difference of sums over all ``n`` observations
    (``Σx̃ − Σx̃g``) and its moments are means of few observations, whose rounding weighs more.  A
    single-process fit in another batch size moves such a pattern as much (``bench_cnn``, 4096
    samples, batches of 256 vs 200, the regime variant: 2.6e-11 on a regime of 179 of 1 048 576
    observations; 1.9e-13 here; docs/conventions.md#dask-fits)."""
    assert_same_patterns(got, want, tol=np.inf)
    for g, w in zip(got, want):
        if w.counts is None:
            continue
        for name, count in (("a_plus", w.counts.n_plus), ("a_minus", w.counts.n_minus)):
            if getattr(w, name) is None:
                continue
            o = w.shape[0]
            difference = np.abs(getattr(g, name) - getattr(w, name)).reshape(o, -1).max(axis=1)
            relative = difference / max(np.max(np.abs(getattr(w, name))), 1e-300)
            small = count < BALANCED * w.n_samples
            bound = np.where(small, tol * w.n_samples / np.maximum(count, 1), tol)
            record_error(np.max(relative[~small], initial=0.0), name + " (a regime of >= 10 % of the observations)")
            record_error(np.max(relative[small], initial=0.0), name + " (a regime of < 10 % of the observations)")
            worst = int(np.argmax(relative / bound))
            assert np.all(relative <= bound), (f"kernel layer {g.kernel_index} {name}: {relative[worst]:.2e} relative "
                                               f"(neuron {worst}, {count[worst]} of {w.n_samples} observations)")


def assert_same_statistics(got, want, tol=1e-12):
    """The same sums up to ``tol`` relative to each sum's largest entry, once taken around the same
    shift (``recentered``), and the same counts exactly."""
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert (g.n, g.scale, g.second_moment) == (w.n, w.scale, w.second_moment)
        np.testing.assert_array_equal(g.n_plus, w.n_plus)
        g = g.recentered(w.shift)
        # each regime's input sums as read (the stored block follows each side's closed_inputs, which a chunk
        # that starts with other gates than the single-process fit's first batch chooses otherwise)
        assert_fields_close(g, w, ("sum_x", "sum_xy_minus", "sum_xy_plus", "sum_x_plus", "sum_x_minus", "output_sums",
                                   "sum_xx"), tol, f"kernel layer {g.kernel_index}")


# --- 1. the single-process numbers, whatever the chunking and the workers ---------------------------

#: Chunkings of 300 samples: one chunk, equal chunks, uneven ones, chunks smaller than a batch (16),
#: single samples, and explicit sizes with a chunk of one sample first (its shift is that sample's patches).
CHUNKINGS = [300, 100, 37, 7, (1, 150, 5, 144), (120, 1, 1, 178)]


@pytest.mark.parametrize("chunks", CHUNKINGS)
@pytest.mark.parametrize("estimator,variant", [("a+-", "paper"), ("a+-", "regime"), ("a", "paper")])
def test_cluster_fit_equals_the_single_process_fit(client, chunks, estimator, variant):
    """Each chunk's sums are taken around its own shift; merge re-centres them onto chunk 0's and
    adds, so the result is the one-process fit up to rounding: patterns ≤ 1e-12 relative (a regime
    of under 10 % of the observations: :func:`assert_same_as_single_process`), counts and degenerate
    entries (a dead neuron, a zero kernel) exactly."""
    net, x = degenerate_cnn(), data(300)
    want = fit_patterns(net, x, estimator, batch_size=16, variant=variant, backend="numpy")
    got = fit_patterns(net, chunked(x, chunks), estimator, batch_size=16, variant=variant, backend="numpy")
    assert_same_as_single_process(got, want)
    assert any(d.zeroed for d in got.degenerate)


@pytest.mark.parametrize("second_moment", [False, True])
def test_cluster_statistics_equal_the_single_process_statistics(client, second_moment):
    net, x = random_cnn(seed=2), data(200, seed=3)
    want = fit_statistics(net, x, batch_size=32, backend="numpy", second_moment=second_moment)
    for chunks in (200, 64, 9):
        got = fit_statistics(net, chunked(x, chunks), batch_size=32, backend="numpy", second_moment=second_moment)
        assert_same_statistics(got, want)


def test_local_schedulers_give_the_same_fit():
    """Without a client, Dask's local schedulers (threads, synchronous) run the same tree."""
    net, x = degenerate_cnn(), data(120)
    want = fit_patterns(net, x, batch_size=16, backend="numpy")
    for scheduler in ("threads", "synchronous"):
        with dask.config.set(scheduler=scheduler):
            assert_same_as_single_process(fit_patterns(net, chunked(x, 25), batch_size=16, backend="numpy"), want)


def test_the_numba_backend_on_the_workers_gives_its_single_process_fit(client):
    """The fused forward-and-sums kernels on the workers (compiled there, or read from Numba's cache)."""
    net, x = random_cnn(seed=4), data(96, seed=5)
    want = fit_patterns(net, x, batch_size=16, backend="numba")
    assert_same_as_single_process(fit_patterns(net, chunked(x, 40), batch_size=16, backend="numba"), want)


def test_chunk_order_does_not_matter_beyond_rounding(client):
    """The chunks in another order are the same samples: the same patterns up to rounding.  (The
    tree merges in chunk order, whichever worker finishes first; two runs may still differ in the
    last bits, as NumPy's sums depend on how the arrays a worker receives lie in memory.)"""
    net, x = degenerate_cnn(), data(160, seed=6)
    want = fit_patterns(net, x, batch_size=16, backend="numpy")
    order = [3, 0, 4, 1, 2]
    permuted = da.concatenate([chunked(x, 32).blocks[i] for i in order])
    assert_same_as_single_process(fit_patterns(net, permuted, batch_size=16, backend="numpy"), want)


def test_a_fit_under_a_memory_limit_is_one_dask_reduction_per_pass(client, capsys):
    net, x = degenerate_cnn(), data(90)
    plan = plan_passes(net, SPLIT_LIMIT)
    want = fit_patterns(net, x, batch_size=16, backend="numpy")
    got = fit_patterns(net, chunked(x, 20), batch_size=16, backend="numpy", memory_limit=SPLIT_LIMIT, progress=True)
    assert_same_as_single_process(got, want)
    err = capsys.readouterr().err
    for number in range(1, len(plan) + 1):
        assert f"fit_patterns pass {number}/{len(plan)}: 90/90 samples, done" in err


def fresh_draw(shape):
    """New samples on every call (OS entropy): a Dask graph that draws them reads other data on every compute."""
    return np.random.default_rng().normal(0.3, 1.0, shape)


def test_a_dask_array_drawing_new_data_every_pass_is_refused(client):
    """A graph that draws random numbers computes other samples in every pass.  With no layer split
    across passes no block's shift could tell; the chunks send their batches' digests back with
    their sums, merged in the chunks' order, and pass 2's are compared with pass 1's.  A graph that
    gives the same data in every pass (from_array) still fits, as one pass."""
    net = pattern_cnn(np.random.default_rng(0))
    plan = plan_passes(net, WHOLE_LAYERS_LIMIT)
    layers = [k for items in plan for k, _ in items]
    assert len(plan) >= 2 and len(layers) == len(set(layers))  # no layer split
    shape = (20, 2, 9, 9)
    drawn = da.concatenate([da.from_delayed(dask.delayed(fresh_draw, pure=False)(shape), shape, np.float64)
                            for _ in range(3)])
    with pytest.raises(ValueError, match=rf"X: pass 2 of {len(plan)} saw other data than pass 1: its batch 1 "
                                         r"\(samples 0:16\) holds other values"):
        fit_patterns(net, drawn, batch_size=16, backend="numpy", memory_limit=WHOLE_LAYERS_LIMIT)
    x = data(60)
    got = fit_patterns(net, chunked(x, 20), batch_size=16, backend="numpy", memory_limit=WHOLE_LAYERS_LIMIT)
    assert_same_as_single_process(got, fit_patterns(net, x, batch_size=16, backend="numpy"))


def test_rho_on_a_dask_array_equals_rho_on_the_array(client):
    """ρ takes its statistics (with Σx̃x̃ᵀ) the same way; S_w's ρ is well away from 0 and 1."""
    net, x, x_v = pattern_cnn(np.random.default_rng(7)), data(150, seed=8), data(150, seed=9)
    for estimator in ("w", "a+-"):
        want = rp.rho(net, x, estimator, fit_v_on=x_v, batch_size=32, backend="numpy")
        got = rp.rho(net, chunked(x, 50), estimator, fit_v_on=chunked(x_v, 70), batch_size=32, backend="numpy")
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-10, atol=1e-12)


def test_an_npy_file_read_by_the_workers(client, tmp_path):
    net, x = degenerate_cnn(), data(75).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    X = dask_array_from_npy(tmp_path / "x.npy", 20)
    assert X.chunks[0] == (20, 20, 20, 15) and X.dtype == np.float32
    want = fit_patterns(net, x, batch_size=16, backend="numpy")
    assert_same_as_single_process(fit_patterns(net, X, batch_size=16, backend="numpy"), want)


def test_progress_counts_the_samples_of_finished_chunks(client, capsys):
    net, x = degenerate_cnn(), data(64)
    fit_statistics(net, chunked(x, 16), batch_size=16, backend="numpy", progress=True, label="on dask")
    assert "on dask: 64/64 samples, done" in capsys.readouterr().err


# --- 2. what travels ---------------------------------------------------------------------------------

def test_a_task_sends_back_the_sums_only():
    """A chunk's result holds the sums and no weights: its arrays are statistics_bytes less the
    bias copy (which the worker has) per layer."""
    net = degenerate_cnn()
    stats = fit_statistics(net, data(8), backend="numpy")
    result = ChunkStatistics.of(list(stats), 8)
    for entry, s in zip(result.layers, stats):
        sent = sum(entry[name].nbytes for name in SENT_SUMS if entry[name] is not None) + entry["shift"].nbytes
        assert sent == statistics_bytes(s.n_inputs, s.n_neurons) - s.bias.nbytes
    back = result.statistics(net)
    assert_same_statistics(back, list(stats), tol=0.0)
    for b, s in zip(back, stats):  # the flags travel with the stored input sums they describe
        np.testing.assert_array_equal(b.closed_inputs, s.closed_inputs)
        np.testing.assert_array_equal(b.products, s.products)
        assert not b.closed_inputs.flags.writeable


def test_the_network_arrives_on_the_workers_read_only_and_bit_exact(client):
    net = random_cnn(seed=3)
    [future] = client.scatter([NetworkFile(net)], broadcast=True)

    def describe(received):
        return type(received).__name__, [(layer.weight.tobytes(), layer.weight.flags.writeable)
                                         for layer in received.kernel_layers]

    name, layers = client.submit(describe, future).result()
    assert name == "Sequential"
    assert layers == [(layer.weight.tobytes(), False) for layer in net.kernel_layers]


# --- 3. failures ---------------------------------------------------------------------------------------

def load_chunk(x_path, start, stop, marker, failure):
    """Rows start:stop of x_path; the first call that finds no ``marker`` file creates it and then
    fails: ``"exit"`` kills the worker process, ``"raise"`` raises an OSError (a flaky disk)."""
    if failure and not os.path.exists(marker):
        with open(marker, "w") as handle:
            handle.write(str(os.getpid()))
        if failure == "exit":
            os._exit(1)
        raise OSError("the disk hiccuped once")
    return np.load(x_path)[start:stop]


def flaky_array(tmp_path, x, failing_chunk, failure, chunk=20):
    np.save(tmp_path / "x.npy", x)
    marker = str(tmp_path / "failed-once")
    blocks = []
    for i, start in enumerate(range(0, x.shape[0], chunk)):
        stop = min(start + chunk, x.shape[0])
        loaded = dask.delayed(load_chunk, pure=True)(str(tmp_path / "x.npy"), start, stop, marker,
                                                     failure if i == failing_chunk else None)
        blocks.append(da.from_delayed(loaded, (stop - start,) + x.shape[1:], x.dtype))
    return da.concatenate(blocks), marker


def test_a_lost_worker_costs_only_its_work(client, tmp_path):
    """A worker process dies while loading chunk 2: the scheduler runs its tasks again elsewhere
    (the nanny restarts the worker) and the fit is the single-process one."""
    net, x = degenerate_cnn(), data(100)
    want = fit_patterns(net, x, batch_size=16, backend="numpy")
    X, marker = flaky_array(tmp_path, x, failing_chunk=2, failure="exit")
    workers_before = set(client.scheduler_info()["workers"])
    got = fit_patterns(net, X, batch_size=16, backend="numpy")
    assert os.path.exists(marker), "the worker was not killed"
    assert_same_as_single_process(got, want)
    client.wait_for_workers(2, timeout=60)
    assert set(client.scheduler_info()["workers"]) != workers_before  # one of them is a new process


def test_a_task_that_fails_once_is_retried(client, tmp_path):
    net, x = degenerate_cnn(), data(100)
    want = fit_patterns(net, x, batch_size=16, backend="numpy")
    X, marker = flaky_array(tmp_path, x, failing_chunk=1, failure="raise")
    assert_same_as_single_process(fit_patterns(net, X, batch_size=16, backend="numpy"), want)
    assert os.path.exists(marker)
    again = tmp_path / "again"
    again.mkdir()
    X, marker = flaky_array(again, x, failing_chunk=3, failure="raise")
    with dask.config.set({"refpattern.retries": 0}), pytest.raises(OSError, match="hiccuped once"):
        fit_patterns(net, X, batch_size=16, backend="numpy")


def test_bad_data_is_named_by_chunk_and_samples(client):
    net, x = degenerate_cnn(), data(100)
    x[57, 1, 2, 3] = np.nan
    with pytest.raises(ValueError, match=r"X \(chunk 2: samples 50:75, batch 1 of the chunk\): contains 1 NaN"):
        fit_patterns(net, chunked(x, 25), batch_size=16, backend="numpy")
    x[57, 1, 2, 3] = 1e300
    with pytest.raises(ValueError, match=r"X \(chunk 2: samples 50:75, batch 1 of the chunk\).*magnitude"):
        fit_patterns(net, chunked(x, 25), batch_size=16, backend="numpy")


def never_computed(shape):
    raise AssertionError("a refusal must come before any work")


def lazy(shape, dtype=np.float64):
    return da.from_delayed(dask.delayed(never_computed)(shape), shape, dtype)


def test_refusals_come_before_any_work():
    net = degenerate_cnn()
    with pytest.raises(ValueError, match=r"X: expected per-sample shape \(2, 9, 9\), got \(3, 9, 9\)"):
        fit_patterns(net, lazy((10, 3, 9, 9)))
    with pytest.raises(TypeError, match="expected a floating-point Dask array, got dtype int64"):
        fit_patterns(net, lazy((10, 2, 9, 9), np.int64))
    with pytest.raises(ValueError, match="no data"):
        fit_patterns(net, da.zeros((0, 2, 9, 9)))
    bag = pytest.importorskip("dask.bag")
    with pytest.raises(TypeError, match="a Dask Bag"):
        fit_patterns(net, bag.from_sequence([data(4)]))


def test_chunks_across_the_sample_axes_are_joined():
    net, x = degenerate_cnn(), data(40)
    X = da.from_array(x, chunks=(10, 1, 5, 9))
    assert_same_as_single_process(fit_patterns(net, X, batch_size=16, backend="numpy"),
                         fit_patterns(net, x, batch_size=16, backend="numpy"))
