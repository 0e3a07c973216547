"""A pattern fit under a memory limit (``fit_patterns(..., memory_limit=...)``): several passes over
the data, wide layers in blocks of neurons.  The facts: the same patterns, counts and degenerate
entries as one pass; a plan that covers every neuron once and keeps every pass within the limit;
a byte count that is the statistics' real size; data that can be read once per pass."""

import numpy as np
import pytest
from conftest import assert_fields_close, pattern_cnn, random_cnn

from refpattern import Dense, Sequential
from refpattern.patterns import LayerStatistics, fit_patterns
from refpattern.patterns.passes import parse_memory_limit, plan_passes, statistics_bytes

#: ``pattern_cnn``'s sums: conv 1 (D 18, O 3) 1728 bytes, conv 2 (D 27, O 4) 3216, dense 1 (D 16, O 6)
#: 2848, dense 2 (D 6, O 3) 672.  Under 1500 bytes conv 1 takes 2 blocks, conv 2 four, dense 1
#: three of two neurons ([0:2], [2:4], [4:6]): ten passes.
SPLIT_LIMIT = 1500
DEAD, ZERO_KERNEL = 5, 3  # neurons of dense 1, second in their blocks [4:6] and [2:4]


def degenerate_cnn(seed=0):
    """``pattern_cnn`` whose first dense layer has a dead neuron (gate never open) and a zero kernel
    with a positive bias (gate always open, ``y`` constant): degenerate entries inside a block."""
    net = pattern_cnn(np.random.default_rng(seed))
    dense = net.layers[6]
    weight, bias = np.array(dense.weight), np.array(dense.bias)
    bias[DEAD] = -1e3
    weight[ZERO_KERNEL], bias[ZERO_KERNEL] = 0.0, 0.5
    layers = list(net.layers)
    layers[6] = Dense(weight, bias)
    return Sequential(layers, input_shape=net.input_shape)


def data(n, seed=1, shape=(2, 9, 9)):
    return np.random.default_rng(seed).normal(0.3, 1.0, (n,) + shape)


def assert_same_patterns(got, want, tol=1e-12):
    """Patterns equal up to ``tol`` relative to the layer's largest entry; counts, observation numbers
    and degenerate entries (values and order) exactly equal."""
    assert (got.estimator, got.variant, got.seed) == (want.estimator, want.variant, want.seed)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert (g.kernel_index, g.layer_index, g.layer_name, g.shape) == (w.kernel_index, w.layer_index, w.layer_name,
                                                                          w.shape)
        assert_fields_close(g, w, ("a", "a_plus", "a_minus"), tol, f"kernel layer {g.kernel_index}")
        assert g.n_samples == w.n_samples
        assert (g.counts is None) == (w.counts is None)
        if w.counts is not None:
            for c_got, c_want in zip(g.counts, w.counts):
                np.testing.assert_array_equal(c_got, c_want)
        assert g.degenerate == w.degenerate


# --- 1. several passes = one pass -----------------------------------------------------------------

@pytest.mark.parametrize("n_samples", [40, 4])
@pytest.mark.parametrize("estimator,variant", [("a+-", "paper"), ("a+-", "regime"), ("a", "paper")])
def test_passes_give_the_one_pass_patterns(estimator, variant, n_samples, capsys):
    """Every neuron's sums are taken around the same shift (the first chunk of the first batch) over
    the same data, and its pattern depends only on its own sums, so the passes change no number
    beyond rounding.  Not bit for bit: BLAS adds ``P̃ᵀỸ`` for a block of 1 or 2 columns in another
    order than for the whole layer (a matrix-vector product for one column, other edge kernels),
    a difference of about 1e-16 relative in the sums.  Counts and degenerate entries are integers
    and flags: exactly equal, with the layer-global neuron index."""
    net = degenerate_cnn()
    plan = plan_passes(net, SPLIT_LIMIT)
    assert len(plan) >= 3
    blocks = [(k, neurons) for items in plan for k, neurons in items]
    assert [(neurons.start, neurons.stop) for k, neurons in blocks if k == 2] == [(0, 2), (2, 4), (4, 6)]
    x = data(n_samples)
    want = fit_patterns(net, x, estimator, batch_size=16, variant=variant, backend="numpy")
    got = fit_patterns(net, x, estimator, batch_size=16, variant=variant, backend="numpy", memory_limit=SPLIT_LIMIT,
                       progress=True)
    assert f"fit_patterns pass {len(plan)}/{len(plan)}" in capsys.readouterr().err
    assert_same_patterns(got, want)
    inside = [d for d in got[2].degenerate if d.zeroed]  # the entries of the split dense layer
    assert inside, "the dead neuron / zero kernel should give degenerate entries"
    if estimator == "a+-":  # the dead neuron: no observation with the gate open, a zero a₊
        assert any(d.neuron == DEAD and d.regime == "plus" and d.count == 0 for d in inside)
        assert not np.any(got[2].a_plus[DEAD])
    assert any(d.neuron == ZERO_KERNEL for d in inside)  # σ²_y = 0 (S_a) / an empty closed regime (S_a±)
    np.testing.assert_array_equal(got[2].counts.n_plus[DEAD], 0)
    np.testing.assert_array_equal(got[2].counts.n_minus[ZERO_KERNEL], 0)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_each_backend_gives_its_one_pass_patterns(backend):
    """Whatever kernels a backend uses for the forward pass and the sums (a fused forward-and-sums
    kernel where it has one, for statistics of a whole layer), several passes give its one-pass fit."""
    net = random_cnn(seed=2)
    x = data(24, seed=3)
    limit = 4 * 1024  # random_cnn: conv 2 (D 18, O 4), dense 1 (D 36, O 6) are split
    plan = plan_passes(net, limit)
    assert len(plan) >= 3 and any(not (neurons.start == 0 and neurons.stop == net.kernel_layers[k].weight.shape[0])
                                  for items in plan for k, neurons in items)
    for estimator in ("a+-", "a"):
        want = fit_patterns(net, x, estimator, batch_size=10, backend=backend)
        got = fit_patterns(net, x, estimator, batch_size=10, backend=backend, memory_limit=limit)
        assert_same_patterns(got, want)


@pytest.mark.parametrize("estimator", ["w", "x", "random"])
def test_data_free_estimators_under_a_limit(estimator):
    """The data-free estimators keep their patterns; with data the passes give the same counts."""
    net = degenerate_cnn()
    x = data(12)
    assert_same_patterns(fit_patterns(net, x, estimator, backend="numpy", memory_limit=SPLIT_LIMIT),
                         fit_patterns(net, x, estimator, backend="numpy"), tol=0.0)
    assert_same_patterns(fit_patterns(net, None, estimator, memory_limit=SPLIT_LIMIT),
                         fit_patterns(net, None, estimator), tol=0.0)


# --- 2. the plan ----------------------------------------------------------------------------------

def layer_bytes(layer, neurons):
    return statistics_bytes(int(np.prod(layer.weight.shape[1:])), neurons.stop - neurons.start)


@pytest.mark.parametrize("make_net", [degenerate_cnn, random_cnn])
@pytest.mark.parametrize("limit", [1200, SPLIT_LIMIT, 2000, 3000, 5000, 10 ** 6])
def test_plan_covers_every_neuron_once_in_forward_order_within_the_limit(make_net, limit):
    net = make_net()
    kernels = net.kernel_layers
    try:
        plan = plan_passes(net, limit)
    except ValueError as error:  # only allowed when one neuron of some layer does not fit
        assert any(layer_bytes(layer, slice(0, 1)) > limit for layer in kernels), error
        return
    items = [item for items in plan for item in items]
    assert [(k, neurons.start) for k, neurons in items] == sorted((k, neurons.start) for k, neurons in items)
    for k, layer in enumerate(kernels):
        covered = np.zeros(layer.weight.shape[0], dtype=int)
        blocks = [neurons for kk, neurons in items if kk == k]
        for neurons in blocks:
            covered[neurons] += 1
        np.testing.assert_array_equal(covered, 1)
        sizes = [neurons.stop - neurons.start for neurons in blocks]
        assert max(sizes) - min(sizes) <= 1  # equal-ish blocks
        if len(blocks) > 1:  # the fewest: one block fewer would need a block over the limit
            fewer = -(-layer.weight.shape[0] // (len(blocks) - 1))
            assert layer_bytes(layer, slice(0, fewer)) > limit
        else:
            assert layer_bytes(layer, blocks[0]) <= limit
    for number, items_of_pass in enumerate(plan):
        used = sum(layer_bytes(kernels[k], neurons) for k, neurons in items_of_pass)
        assert used <= limit
        assert len({k for k, _ in items_of_pass}) == len(items_of_pass)  # a layer at most once per pass
        if number + 1 < len(plan):  # greedy: the next pass's first item did not fit into this one
            k, neurons = plan[number + 1][0]
            assert used + layer_bytes(kernels[k], neurons) > limit or k == items_of_pass[-1][0]


def test_plan_without_a_limit_is_one_pass_of_whole_layers():
    net = pattern_cnn(np.random.default_rng(0))
    assert plan_passes(net, None) == [[(k, slice(0, layer.weight.shape[0]))
                                       for k, layer in enumerate(net.kernel_layers)]]
    assert plan_passes(net, "1GiB") == plan_passes(net, None)


def test_a_limit_below_one_neuron_is_refused():
    net = pattern_cnn(np.random.default_rng(0))
    one_neuron = statistics_bytes(27, 1)  # conv 2: D = 3·3·3
    with pytest.raises(ValueError, match="even one neuron of kernel layer 1"):
        plan_passes(net, one_neuron - 1)
    with pytest.raises(ValueError, match="even one neuron"):
        fit_patterns(net, data(4), memory_limit=100)
    plan_passes(net, one_neuron)  # exactly one neuron fits


# --- 3. the byte count ----------------------------------------------------------------------------

@pytest.mark.parametrize("second_moment", [False, True])
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_statistics_bytes_is_the_size_of_the_arrays_layer_statistics_holds(backend, second_moment):
    """After a batch (the shift exists): every array a LayerStatistics holds, but the filters, which
    are a view of the layer's read-only weights."""
    net = pattern_cnn(np.random.default_rng(4))
    x = data(5)
    activations = net.trace(x)
    for k, index in enumerate(net.kernel_indices):
        layer = net.layers[index]
        n_out = layer.weight.shape[0]
        for neurons in (None, slice(1, n_out)):
            stats = LayerStatistics(layer, k, index, second_moment, neurons=neurons)
            z = activations[index + 1]
            stats.accumulate(activations[index], z if neurons is None else z[:, neurons], backend)
            arrays = {name: value for name, value in vars(stats).items() if isinstance(value, np.ndarray)}
            assert np.shares_memory(arrays.pop("weight"), layer.weight)
            assert {"products", "sum_x", "shift", "n_plus", "bias"} <= set(arrays)
            held = sum(value.nbytes for value in arrays.values())
            assert held == statistics_bytes(stats.n_inputs, stats.n_neurons, second_moment), (k, neurons, arrays.keys())


# --- 4. the data, once per pass -------------------------------------------------------------------

def test_a_generator_is_refused_before_it_is_read():
    net = pattern_cnn(np.random.default_rng(0))
    n_passes = len(plan_passes(net, SPLIT_LIMIT))

    def batches():
        pytest.fail("the generator was read")  # not an Exception: pytest.raises below would not catch it
        yield data(4)

    with pytest.raises(ValueError, match=f"needs {n_passes} passes.*one-shot iterator"):
        fit_patterns(net, batches(), memory_limit=SPLIT_LIMIT)
    # one pass reads a generator once: allowed
    x = data(8)
    assert_same_patterns(fit_patterns(net, (x[i:i + 3] for i in range(0, 8, 3)), backend="numpy", memory_limit="1MiB"),
                         fit_patterns(net, x, batch_size=3, backend="numpy"), tol=0.0)


def test_a_callable_and_a_list_give_the_array_fit():
    net = pattern_cnn(np.random.default_rng(0))
    x = data(20)
    batches = [x[i:i + 6] for i in range(0, 20, 6)]
    calls = []

    def fresh():
        calls.append(1)
        return iter(batches)

    want = fit_patterns(net, x, batch_size=6, backend="numpy")
    for source in (batches, tuple(batches), fresh, lambda: x):
        assert_same_patterns(fit_patterns(net, source, batch_size=6, backend="numpy", memory_limit=SPLIT_LIMIT), want)
    assert len(calls) == len(plan_passes(net, SPLIT_LIMIT))  # called once per pass
    assert_same_patterns(fit_patterns(net, fresh, batch_size=6, backend="numpy"), want, tol=0.0)  # and without a limit


def test_data_that_change_between_passes_are_refused():
    net = pattern_cnn(np.random.default_rng(0))
    x = data(20)
    calls = []

    def shrinking():  # the second pass reads one batch fewer
        calls.append(1)
        return [x[:8], x[8:16], x[16:]][:3 if len(calls) == 1 else 2]

    with pytest.raises(ValueError, match="pass 2 of .* read 16 samples, pass 1 read 20"):
        fit_patterns(net, shrinking, backend="numpy", memory_limit=SPLIT_LIMIT)

    draws = np.random.default_rng(7)  # as many samples, but new ones every pass

    with pytest.raises(ValueError, match="saw other data"):
        fit_patterns(net, lambda: [draws.normal(size=(10, 2, 9, 9))], backend="numpy", memory_limit=SPLIT_LIMIT)


#: ``pattern_cnn`` under 4600 bytes: conv 1, conv 2, then dense 1 and 2 together; no layer split.
WHOLE_LAYERS_LIMIT = 4600


def test_whole_layers_in_different_passes_refuse_data_that_change():
    """Layers fitted in different passes on different data give patterns of no one data set, and
    with no layer split no shift or input sum of two blocks could differ: each pass's batches are
    compared with pass 1's (a digest of their float64 values), whichever layers the passes take."""
    net = pattern_cnn(np.random.default_rng(0))
    plan = plan_passes(net, WHOLE_LAYERS_LIMIT)
    layers = [k for items in plan for k, _ in items]
    assert len(plan) >= 2 and len(layers) == len(set(layers)) == len(net.kernel_layers)  # no layer split
    draws = np.random.default_rng(7)
    with pytest.raises(ValueError, match=rf"X: pass 2 of {len(plan)} saw other data than pass 1: its batch 1 "
                                         r"\(samples 0:10\) holds other values"):
        fit_patterns(net, lambda: [draws.normal(size=(10, 2, 9, 9)), draws.normal(size=(4, 2, 9, 9))],
                     backend="numpy", memory_limit=WHOLE_LAYERS_LIMIT)
    x = data(14)
    calls = []

    def augmented():  # pass 1 reads x; later passes the same first batch, then a flipped second one
        calls.append(1)
        return [x[:10], x[10:, :, :, ::-1] if len(calls) > 1 else x[10:]]

    with pytest.raises(ValueError, match=r"pass 2 of .* its batch 2 \(samples 10:14\) holds other values"):
        fit_patterns(net, augmented, memory_limit=WHOLE_LAYERS_LIMIT)
    calls.clear()

    def rebatched():  # the same samples, batched otherwise after pass 1
        calls.append(1)
        return [x[:10], x[10:]] if len(calls) == 1 else [x[:7], x[7:]]

    with pytest.raises(ValueError, match=r"pass 2 of .* its batch 1 \(from sample 0\) holds 7 samples, pass 1's "
                                         r"held 10"):
        fit_patterns(net, rebatched, memory_limit=WHOLE_LAYERS_LIMIT)


def test_the_same_values_in_another_dtype_or_layout_fit_in_passes():
    """The digest is of the batch as the network reads it (float64, C order): a source that gives the
    same values as float32 or in Fortran order in some passes fits, bit for bit as one pass."""
    net = pattern_cnn(np.random.default_rng(0))
    x = data(14).astype(np.float32).astype(np.float64)  # exactly representable in float32
    calls = []

    def same_values():
        calls.append(1)
        if len(calls) % 2:
            return [x[:10], x[10:]]
        return [x[:10].astype(np.float32), np.asfortranarray(x[10:])]

    want = fit_patterns(net, x, batch_size=10, backend="numpy")
    got = fit_patterns(net, same_values, batch_size=10, backend="numpy", memory_limit=WHOLE_LAYERS_LIMIT)
    assert len(calls) == len(plan_passes(net, WHOLE_LAYERS_LIMIT)) >= 2
    assert_same_patterns(got, want, tol=0.0)


# --- 5. the limit's spelling ----------------------------------------------------------------------

def test_memory_limit_parsing():
    assert parse_memory_limit(None) is None
    assert parse_memory_limit("1.5GiB") == 3 * 2 ** 29
    assert parse_memory_limit("300MB") == 300 * 10 ** 6
    assert parse_memory_limit("512 MiB") == 2 ** 29
    assert parse_memory_limit("2kB") == 2000
    assert parse_memory_limit("4096") == 4096
    assert parse_memory_limit(1024) == 1024
    assert parse_memory_limit(np.int64(5)) == 5
    for bad in ("lots", "-1", "1.5", "12 parsecs", "", -1, 0, "0MiB", True, 1.5, [1024]):
        with pytest.raises(ValueError, match=r"memory_limit: expected .* got " + repr(bad).replace("[", r"\[")):
            parse_memory_limit(bad)
    with pytest.raises(ValueError, match="memory_limit"):
        fit_patterns(pattern_cnn(np.random.default_rng(0)), data(4), memory_limit="lots")
