"""Adversarial cases of fitting beyond one process and in a stream (refpattern.patterns.streaming,
passes, distributed, the merge of statistics): setups, option values and misuses that once gave a
crash inside, a hang or a wrong number.

The Dask cases need the extra ``dask`` (``pip install "refpattern[dask]"``) and are skipped without
it; they use in-process workers or the synchronous scheduler (no worker processes to start).
"""

import numpy as np
import pytest
from conftest import pattern_cnn

from refpattern.patterns import fit_patterns


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
