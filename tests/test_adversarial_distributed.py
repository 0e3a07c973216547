"""Adversarial cases of fitting beyond one process and in a stream (refpattern.patterns.streaming,
passes, distributed, the merge of statistics): setups, option values and misuses that once gave a
crash inside, a hang or a wrong number.

The Dask cases need the extra ``dask`` (``pip install "refpattern[dask]"``) and are skipped without
it; they use in-process workers or the synchronous scheduler (no worker processes to start).
"""

import numpy as np
import pytest
from conftest import pattern_cnn

import refpattern as rp
from refpattern.patterns import fit_patterns
from refpattern.patterns.passes import plan_passes


def samples(n, seed=1):
    return np.random.default_rng(seed).normal(0.3, 1.0, (n, 2, 9, 9))


def largest_pattern_difference(got, want):
    """The largest difference of the regime patterns, relative to each layer's largest entry; the
    regime counts must agree exactly."""
    worst = 0.0
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g.counts.n_plus, w.counts.n_plus)
        for name in ("a_plus", "a_minus"):
            a, b = getattr(g, name), getattr(w, name)
            worst = max(worst, float(np.max(np.abs(a - b)) / np.max(np.abs(b))))
    return worst


@pytest.fixture(scope="module")
def in_process_client():
    """A ``distributed`` client whose one worker runs in this process (nothing is pickled on the way)."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None,
                                  silence_logs=40) as cluster, distributed.Client(cluster) as client:
        yield client


# --- Dask ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("chunks", [10, 1, (0, 5, 0, 5)])
def test_a_client_with_in_process_workers_gives_the_single_process_fit(in_process_client, chunks):
    """An in-process worker receives the scattered network unpickled (a NetworkFile, not a Sequential):
    every fit on ``LocalCluster(processes=False)`` was an AttributeError inside the task.  Now it is
    the single-process fit (one chunk, more chunks than samples, empty chunks)."""
    da = pytest.importorskip("dask.array")
    net = pattern_cnn(np.random.default_rng(0))
    x = samples(10)
    want = fit_patterns(net, x)
    got = fit_patterns(net, da.from_array(x, chunks=(chunks, 2, 9, 9)))
    assert largest_pattern_difference(got, want) <= 1e-12


@pytest.mark.parametrize("retries,error", [(-1, ValueError), ("2", TypeError), (1.5, TypeError), (None, TypeError),
                                           (True, TypeError)])
def test_the_retries_setting_must_be_a_count(in_process_client, retries, error):
    """``dask.config`` ``refpattern.retries`` was passed through ``int()``: "abc" raised int()'s own
    message, 1.5 was truncated, -1 accepted.  Now anything but an int >= 0 is refused naming the key."""
    dask, da = pytest.importorskip("dask"), pytest.importorskip("dask.array")
    net = pattern_cnn(np.random.default_rng(0))
    with dask.config.set({"refpattern.retries": retries}), pytest.raises(error, match='"refpattern.retries"'):
        fit_patterns(net, da.from_array(samples(4), chunks=(2, 2, 9, 9)))


@pytest.mark.parametrize("sizes", [(10, 10, 10), (1, 7, 22)])
def test_every_chunk_is_read_once_per_pass(sizes, tmp_path):
    """The small task choosing the regimes read ``X[:16]``, a graph of its own: chunk 0 (every chunk
    it covers) was read twice per pass, once for it and once for its chunk task, though
    docs/conventions.md#dask-fits says they share the load.  Now it takes the chunk tasks' own
    blocks: each chunk is read once per pass, here in a fit of 3 passes, and the fit is the
    single-process one."""
    dask, da = pytest.importorskip("dask"), pytest.importorskip("dask.array")
    net = pattern_cnn(np.random.default_rng(0))
    x = samples(sum(sizes))
    log = tmp_path / "reads"  # a file: the loader may run on a worker (the module's client) on a pickled copy

    def load(start, stop):
        with open(log, "a") as handle:
            handle.write(f"{start}\n")
        return x[start:stop]

    bounds = np.cumsum((0,) + sizes)
    X = da.concatenate([da.from_delayed(dask.delayed(load, pure=True)(start, stop), (stop - start, 2, 9, 9), x.dtype)
                        for start, stop in zip(bounds[:-1], bounds[1:])])
    passes = len(plan_passes(net, 5000))
    with dask.config.set(scheduler="synchronous"):
        got = fit_patterns(net, X, batch_size=16, memory_limit=5000)
    assert passes == 2
    assert sorted(map(int, log.read_text().split())) == sorted(list(bounds[:-1]) * passes)
    assert largest_pattern_difference(got, fit_patterns(net, x, batch_size=16)) <= 1e-12


# --- merging statistics ---------------------------------------------------------------------------

def test_any_grouping_and_order_of_merges_gives_the_one_process_statistics():
    """Merging is associative and commutative up to rounding: four parts merged in five groupings and
    orders give the single-batch fit's sums (taken around its shift) to 1e-12 and its counts exactly."""
    net = pattern_cnn(np.random.default_rng(0))
    x = samples(24)
    want = rp.fit_statistics(net, x, batch_size=24, second_moment=True)
    a, b, c, d = (rp.fit_statistics(net, x[i:i + 6], batch_size=4, second_moment=True) for i in range(0, 24, 6))
    for merged in (a.merge(b).merge(c).merge(d), a.merge(b).merge(c.merge(d)), a.merge(b.merge(c.merge(d))),
                   d.merge(c).merge(b).merge(a), b.merge(d).merge(a.merge(c))):
        for got, one in zip(merged, want):
            assert got.n == one.n
            got = got.recentered(one.shift)
            np.testing.assert_array_equal(got.n_plus, one.n_plus)
            # (the merges keep the flags of their left part: the stored input sums differ, the sums read agree)
            for name in ("sum_x", "sum_xy_minus", "sum_xy_plus", "sum_x_plus", "sum_x_minus", "output_sums", "sum_xx"):
                np.testing.assert_allclose(getattr(got, name), getattr(one, name), rtol=0,
                                           atol=1e-12 * np.max(np.abs(getattr(one, name))))


def test_merging_the_same_data_twice_is_refused():
    """``a.merge(a)``, ``a.merge(b).merge(b)``, a copy or pickle of ``a`` merged into it were accepted and
    counted those samples twice (n doubled, the patterns weighted towards the repeated part).  Now a
    ValueError naming the layer; an empty accumulator (no data to count twice) still merges."""
    import copy
    import pickle

    net = pattern_cnn(np.random.default_rng(0))
    x = samples(12)
    a, b = rp.fit_statistics(net, x[:6]), rp.fit_statistics(net, x[6:])
    for first, second in ((a, a), (a.merge(b), b), (a, copy.deepcopy(a)), (a, pickle.loads(pickle.dumps(a))),
                          (b.merge(a), a.merge(b))):
        with pytest.raises(ValueError, match=r"merge: kernel layer 0 statistics already hold some of the same data"):
            first.merge(second)
    empty = rp.patterns.NetworkStatistics.empty(net)
    assert list(empty.merge(empty).merge(a).merge(b).n_samples) == list(a.n_samples + b.n_samples)


def test_statistics_of_different_kernel_layers_do_not_merge():
    """Two layers with the same weights at different places of a network see different inputs: their
    statistics were merged as one layer's.  Now refused naming both kernel layers."""
    layer = rp.Dense(np.random.default_rng(0).normal(size=(3, 3)), np.zeros(3))
    net = rp.Sequential([layer, rp.ReLU(), layer], input_shape=(3,))
    stats = rp.fit_statistics(net, np.random.default_rng(1).normal(size=(8, 3)))
    with pytest.raises(ValueError, match=r"kernel layer 0 .* and of kernel layer 1"):
        stats[0].merge(stats[1])


# --- fits in passes ------------------------------------------------------------------------------

@pytest.mark.parametrize("plan,error,words", [
    (None, TypeError, "plan: expected a list of passes"),
    ([[(9, slice(0, 1))]], ValueError, "plan: pass 1: kernel_index 9 is not one of the network's 4 kernel layers"),
    ([[(0.0, slice(0, 3))]], TypeError, "plan: pass 1: kernel_index must be an int"),
    ([[(0,)]], TypeError, r"plan: pass 1: expected \(kernel_index, neurons\) items"),
    ([[(0, slice(0, 1)), (0, slice(1, 3))]], ValueError, "plan: pass 1: kernel layer 0 appears twice"),
])
def test_a_plan_that_is_not_the_networks_is_refused(plan, error, words):
    """``fit_patterns_in_passes`` read a malformed plan inside: IndexError (a kernel index beyond the
    network), ``len()`` of None, an unpacking error, and an AttributeError on None's shift when a
    layer came twice in one pass.  Now a TypeError/ValueError naming the plan and the pass."""
    from refpattern.patterns.fit import fit_patterns_in_passes

    net = pattern_cnn(np.random.default_rng(0))
    with pytest.raises(error, match=words):
        fit_patterns_in_passes(net, samples(4), plan, "a+-")


@pytest.mark.parametrize("x,words", [(np.full((3, 4), np.nan), r"X \(batch 1\): contains 12 NaN"),
                                     (np.ones((3, 5)), r"X \(batch 1\): expected per-sample shape \(4,\)"),
                                     ([], "X: no data")])
def test_a_memory_limit_does_not_let_bad_data_through_a_network_without_kernel_layers(x, words):
    """Without kernel layers the plan has no pass, so under a memory limit the data were never read:
    NaN, another shape or no data at all gave empty patterns, where the same call without a limit
    refuses them.  Now one pass checks the data, and the two calls answer alike."""
    net = rp.Sequential([rp.ReLU()], input_shape=(4,))
    for memory_limit in (None, "1KiB"):
        with pytest.raises(ValueError, match=words):
            fit_patterns(net, x, memory_limit=memory_limit)


def test_a_pass_whose_later_batches_differ_is_refused():
    """Under a memory limit every pass must read the same data, but only the shift (the mean of the
    first batch) was compared: a source whose first batch stayed the same while later ones changed
    gave a layer whose blocks of neurons were fitted on different data, silently.  Now every pass's
    batches are compared with pass 1's (a digest of their values, naming the first batch that
    differs), and the sums of the inputs every block holds are compared too (check_same_shift,
    called here directly: identical batches leave it nothing to find through fit_patterns); the same
    data in the same batches still fit."""
    net = pattern_cnn(np.random.default_rng(0))
    x = samples(20)
    calls = []

    def drifting():  # pass 1 reads x; later passes read the same first batch, then other samples
        calls.append(1)
        return [x[:5], x[5:] + (len(calls) > 1)]

    limit = "1500"  # the first convolution (3 neurons, D = 18) in two blocks, in passes 1 and 2
    assert len(rp.patterns.passes.plan_passes(net, limit)) > 3
    with pytest.raises(ValueError, match=r"X: pass 2 of \d+ saw other data than pass 1: its batch 2 "
                                         r"\(samples 5:20\) holds other values"):
        fit_patterns(net, drifting, memory_limit=limit)
    conv = net.layers[net.kernel_indices[0]]
    blocks = [rp.patterns.LayerStatistics(conv, 0, net.kernel_indices[0], neurons=slice(0, 2)),
              rp.patterns.LayerStatistics(conv, 0, net.kernel_indices[0], neurons=slice(2, 3))]
    for block, batches in zip(blocks, ([x[:5], x[5:]], [x[:5], x[5:] + 1.0])):
        for batch in batches:
            block.accumulate(batch, conv.forward(batch)[:, block.neurons], "numpy")
    passes = rp.patterns.passes
    with pytest.raises(ValueError, match=r"in pass 2, kernel layer 0 .* saw other data than in an earlier pass "
                                         r"\(the sum of its inputs differs\)"):
        passes.check_same_shift(passes.block_inputs(blocks[0]), blocks[1], 2)
    want = fit_patterns(net, x, batch_size=5)
    assert largest_pattern_difference(fit_patterns(net, lambda: [x[:5], x[5:]], memory_limit=limit), want) <= 1e-12


@pytest.mark.parametrize("container", [dict, lambda batches: set(map(tuple, batches))])
def test_a_dict_or_a_set_of_batches_is_refused_naming_what_came(container):
    from refpattern.network import Dense, Sequential

    net = Sequential([Dense(np.ones((2, 3)))], input_shape=(3,))
    batches = [np.ones((1, 3)), np.zeros((1, 3))]
    given = container(dict(enumerate(batches))) if container is dict else container([b[0] for b in batches])
    # before: a dict iterated its keys and the message spoke of the key ("got int"), not of the dict
    with pytest.raises(TypeError, match=f"X: expected an array or an iterable of arrays .*got {type(given).__name__}"):
        rp.fit_patterns(net, given, "a", progress=False)
