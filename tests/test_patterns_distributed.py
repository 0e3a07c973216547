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
from refpattern.patterns import distributed as distributed_fits
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


#: Regimes holding at least this fraction of a layer's observations are recorded apart from smaller ones.
BALANCED = 0.1


def assert_same_as_single_process(got, want, tol=1e-12):
    """:func:`assert_same_patterns` (counts and degenerate entries exactly), with each neuron's
    pattern in a regime (``a₊``, ``a₋``) within ``tol`` relative to the layer's largest entry, in a
    regime of few observations as in one of :data:`BALANCED` or more: every chunk stores the input
    sums of the regimes the single-process fit stores (its first samples' ``closed_inputs``), so a
    small regime's sums are never a difference of sums over a whole chunk (they were, held to
    ``tol·n/n_regime`` then).  The largest errors of both kinds are recorded (measured: 5.7e-14 and
    8.7e-14; docs/conventions.md#dask-fits)."""
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
            record_error(np.max(relative[~small], initial=0.0), name + " (a regime of >= 10 % of the observations)")
            record_error(np.max(relative[small], initial=0.0), name + " (a regime of < 10 % of the observations)")
            worst = int(np.argmax(relative))
            assert np.all(relative <= tol), (f"kernel layer {g.kernel_index} {name}: {relative[worst]:.2e} relative "
                                             f"(neuron {worst}, {count[worst]} of {w.n_samples} observations)")


def assert_same_statistics(got, want, tol=1e-12):
    """The same sums up to ``tol`` relative to each sum's largest entry, once taken around the same
    shift (``recentered``), and the same counts exactly."""
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert (g.n, g.scale, g.second_moment) == (w.n, w.scale, w.second_moment)
        np.testing.assert_array_equal(g.n_plus, w.n_plus)
        g = g.recentered(w.shift)
        # each regime's input sums as read (every chunk presets the single-process fit's closed_inputs,
        # test_every_chunk_stores_the_regimes_of_the_single_process_fit)
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


# --- 1b. every chunk stores the single-process fit's regimes -----------------------------------------

#: Samples per chunk, observations of the small regime, batch size of the ordered case below.
ORDERED_CHUNK, FEW, ORDERED_BATCH = 1000, 5, 8


def ordered_case():
    """A Dense(3 → 2) + ReLU and two chunks of :data:`ORDERED_CHUNK` samples ordered so that chunk 1's
    first batch chooses other flags than the single-process fit's first batch: neuron 0's gate closes
    for :data:`FEW` samples only, the first ones of chunk 1 (5 of its first 8), so chunk 1 alone would
    store its open regime, and its samples after the first batch reach 1000 in features 1 and 2, which
    neuron 0 barely weighs: as ``Σx̃ − column`` over chunk 1, the closed regime's input sums would carry
    the rounding of those large terms (``docs/math.md#regime-input-sums``)."""
    rng = np.random.default_rng(0)
    net = rp.Sequential([rp.Dense(np.array([[1.0, 1e-4, -1e-4], [0.5, -1.0, 0.4]]), np.array([3.0, 20.0])),
                         rp.ReLU()], input_shape=(3,))
    x = rng.normal(0.0, 1.0, (2 * ORDERED_CHUNK, 3))
    x[:, 0] = np.abs(x[:, 0]) + 2.0  # neuron 0's gate is open: w·x + b >= 5 - 0.1·|x1 - x2|·1e-3
    x[ORDERED_CHUNK + ORDERED_BATCH:, 1:] *= 1e3
    x[ORDERED_CHUNK:ORDERED_CHUNK + FEW] = rng.normal(0.0, 1.0, (FEW, 3)) - [9.0, 0.0, 0.0]  # gate closed
    return net, x


def chunk_results_of(monkeypatch, run):
    """``run()`` on Dask's synchronous scheduler (a client of another test set aside), and the
    :class:`ChunkStatistics` each chunk task returned, in chunk order, pass after pass."""
    callbacks = pytest.importorskip("dask.callbacks")
    monkeypatch.setattr(distributed_fits, "current_client", lambda: None)
    results = {}

    def keep(key, result, dsk, state, worker_id):
        if isinstance(key, tuple) and str(key[0]).startswith(distributed_fits.CHUNK_TASK):
            results.setdefault(key[0], {})[key[1]] = result  # one key prefix per pass, in the passes' order

    with dask.config.set(scheduler="synchronous"), callbacks.Callback(posttask=keep):
        value = run()
    return value, [one[i] for one in results.values() for i in sorted(one)]


def test_every_chunk_stores_the_regimes_of_the_single_process_fit(monkeypatch):
    """The flags ``closed_inputs`` are chosen once, from the data's first samples (those a single-process
    fit's first batch chooses them by), and preset in every chunk: chunk 1, whose first batch would
    choose otherwise, stores neuron 0's closed regime too, so no merge turns it into ``Σx̃ − column``.
    Its input sums then differ from the single-process fit's by the rounding of the regime's own
    terms: two sums of :data:`FEW` terms err by at most ``(FEW − 1)·u·Σ|terms|`` each, and re-centring
    chunk 1's onto chunk 0's shift adds ``n₋δ`` (one rounding of the result), so ``2·FEW·u`` times the
    terms' magnitudes in both shifts bounds the difference; as the difference over chunk 1 they were
    off by 47–1.1e4 times ``u·Σ|terms|`` (the old code, measured; 0.1 now).  The regime-variant ``a₋`` of
    these 5 of 2000 observations is then held to 1e-12 relative, the bound of a regime of >= 10 %
    (:func:`assert_same_as_single_process`; 1.1e-15 measured, 6.6e-12 as the difference)."""
    net, x = ordered_case()
    want = fit_statistics(net, x, batch_size=ORDERED_BATCH, backend="numpy")
    assert want[0].n_minus[0] == FEW and want[0].closed_inputs[0]
    X = chunked(x, ORDERED_CHUNK)
    got, chunks = chunk_results_of(monkeypatch, lambda: fit_statistics(net, X, batch_size=ORDERED_BATCH,
                                                                       backend="numpy"))
    alone = fit_statistics(net, x[ORDERED_CHUNK:], batch_size=ORDERED_BATCH, backend="numpy")
    assert not alone[0].closed_inputs[0]  # the data are ordered so: chunk 1 on its own stores the open regime
    assert len(chunks) == 2
    for result in chunks:
        np.testing.assert_array_equal(result.layers[0]["closed_inputs"], want[0].closed_inputs)
    np.testing.assert_array_equal(got[0].closed_inputs, want[0].closed_inputs)
    closed = x @ net.layers[0].weight[0] + net.layers[0].bias[0] <= 0
    shifts = [want[0].shift, chunks[1].layers[0]["shift"]]
    terms = sum(np.sum(np.abs(x[closed] - shift), axis=0) for shift in shifts)
    difference = np.abs(got[0].recentered(want[0].shift).closed_input_sums()[:, 0] - want[0].closed_input_sums()[:, 0])
    record_error(np.max(difference / terms), "closed regime's input sums / Σ|terms|")
    assert np.all(difference <= 2 * FEW * 2.0 ** -53 * terms), difference / (2.0 ** -53 * terms)
    assert_same_as_single_process(fit_patterns(net, X, batch_size=ORDERED_BATCH, variant="regime", backend="numpy"),
                                  fit_patterns(net, x, batch_size=ORDERED_BATCH, variant="regime", backend="numpy"))


def test_blocks_of_neurons_under_a_memory_limit_store_the_regimes_of_the_single_process_fit(monkeypatch):
    """Under ``memory_limit`` each pass takes a block of neurons (one each here): its chunks take the
    flags of its neurons, and the small regime keeps the single-process precision."""
    net, x = ordered_case()
    assert plan_passes(net, statistics_bytes(3, 1)) == [[(0, slice(0, 1))], [(0, slice(1, 2))]]
    want = fit_patterns(net, x, batch_size=ORDERED_BATCH, variant="regime", backend="numpy")
    got, chunks = chunk_results_of(monkeypatch, lambda: fit_patterns(
        net, chunked(x, ORDERED_CHUNK), batch_size=ORDERED_BATCH, variant="regime", backend="numpy",
        memory_limit=statistics_bytes(3, 1)))
    flags = fit_statistics(net, x, batch_size=ORDERED_BATCH, backend="numpy")[0].closed_inputs
    assert [result.layers[0]["neurons"] for result in chunks] == [(0, 1), (0, 1), (1, 2), (1, 2)]
    for result in chunks:
        np.testing.assert_array_equal(result.layers[0]["closed_inputs"], flags[slice(*result.layers[0]["neurons"])])
    assert_same_as_single_process(got, want)


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


def test_dask_measures_a_result_by_its_sums():
    """Dask's ``sizeof`` (the scheduler's and workers' memory accounting: spilling, pausing) read a
    chunk's result as 56 bytes, whatever its sums (3 × the weights: 3 GiB for VGG-16).  Now it
    counts at least the bytes of the arrays sent (statistics_bytes less the bias copy per layer),
    and little more."""
    sizeof = pytest.importorskip("dask.sizeof").sizeof
    net = degenerate_cnn()
    stats = fit_statistics(net, data(8), backend="numpy")
    sent = sum(statistics_bytes(s.n_inputs, s.n_neurons) - s.bias.nbytes for s in stats)
    assert sent <= sizeof(ChunkStatistics.of(list(stats), 8)) <= sent + 4096


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


def test_workers_that_cannot_import_refpattern_are_named(tmp_path, capsys):
    """A worker without refpattern failed the fit with a bare ``Exception`` wrapping Dask's
    ``ModuleNotFoundError`` from its deserializer (the scattered network), and ``refpattern fit
    --scheduler`` with a traceback and status 1.  Now an ``ImportError`` names the worker and what
    to install, before anything is sent; the command exits 2 with it on one line and writes nothing."""
    from refpattern.cli import main

    net, x = degenerate_cnn(), data(20)
    net.save(tmp_path / "net.npz")
    np.save(tmp_path / "x.npy", x)
    preload = tmp_path / "without_refpattern.py"
    preload.write_text('import sys\nsys.modules["refpattern"] = None  # this worker cannot import refpattern\n')
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=50, preload=[str(preload)]) as cluster, \
            distributed.Client(cluster) as lacking:
        address = next(iter(lacking.scheduler_info()["workers"]))
        with pytest.raises(ImportError, match=rf"refpattern cannot be imported on 1 of the 1 Dask worker\(s\) "
                                              rf"\({address}\).*install the same refpattern"):
            fit_patterns(net, chunked(x, 10), batch_size=16, backend="numpy")
        assert main(["fit", str(tmp_path / "net.npz"), str(tmp_path / "x.npy"), "--scheduler",
                     cluster.scheduler_address, "--out", str(tmp_path / "p.npz"), "--quiet"]) == 2
    error = capsys.readouterr().err
    assert "Traceback" not in error
    assert f"refpattern cannot be imported on 1 of the 1 Dask worker(s) ({address})" in error
    assert not (tmp_path / "p.npz").exists()
