"""What refpattern accepts as input, decided in one place (``docs/conventions.md#input-acceptance``).

The property: whatever dtype, memory layout, ndarray subclass and shape a batch comes in, every
entry point (explain, fit, ρ, train) gives exactly the result of the plain C-ordered float64
array of the same values, as a plain ndarray — or a clear error (``TypeError`` for a dtype or a
kind of object it refuses, ``ValueError`` for masked entries) — and never modifies the input.
"""

import copy

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import refpattern as rp
from refpattern.patterns import fit_statistics

pytestmark = pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")

FLOATS = (np.float16, np.float32, np.float64)
DTYPES = FLOATS + (np.int8, np.int64, np.uint8, np.bool_, np.complex64, np.complex128)
LAYOUTS = ("C", "F", "negative", "slice", "readonly", "broadcast")
KINDS = ("plain", "matrix", "masked-none", "masked-nomask", "masked-some", "custom")


class Mischief(np.ndarray):
    """A subclass whose arithmetic is wrong on purpose: only its values may be used."""

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return np.zeros(np.broadcast_shapes(*(np.shape(i) for i in inputs)))


def dense_net():
    rng = np.random.default_rng(3)
    return rp.Sequential([rp.Dense(rng.normal(size=(4, 4)), rng.normal(size=4)), rp.ReLU(),
                          rp.Dense(rng.normal(size=(3, 4)), rng.normal(size=3))], input_shape=(4,))


def conv_net():
    rng = np.random.default_rng(4)
    return rp.Sequential([rp.Conv2D(rng.normal(size=(2, 2, 3, 3)), rng.normal(size=2), padding=1), rp.ReLU(),
                          rp.Flatten(), rp.Dense(rng.normal(size=(3, 2 * 4 * 4)), rng.normal(size=3))],
                         input_shape=(2, 4, 4))


NETS = {"dense": dense_net(), "conv": conv_net()}


def laid_out(values, dtype, layout):
    """``values`` (float64, C order) cast to ``dtype`` in a memory ``layout``."""
    if layout == "broadcast":  # a 0-stride view: every sample is the first one
        return np.broadcast_to(values[:1].astype(dtype), values.shape)
    cast = values.astype(dtype)
    if layout == "F":
        return np.asfortranarray(cast)
    if layout == "negative":
        return cast[::-1].copy()[::-1]
    if layout == "slice":
        big = np.zeros((2 * cast.shape[0],) + cast.shape[1:], dtype=dtype)
        big[::2] = cast
        return big[::2]
    if layout == "readonly":
        cast.setflags(write=False)
    return cast


def of_kind(x, kind):
    if kind == "matrix":
        return np.asmatrix(x)
    if kind == "masked-none":
        return np.ma.masked_array(x, mask=np.zeros(x.shape, dtype=bool))
    if kind == "masked-nomask":
        return np.ma.masked_array(x)
    if kind == "masked-some":
        data = np.array(x)
        mask = np.zeros(x.shape, dtype=bool)
        mask.flat[0] = True
        if np.issubdtype(data.dtype, np.floating):
            data.flat[0] = np.nan  # the value under the mask must never reach a result
        return np.ma.masked_array(data, mask=mask)
    if kind == "custom":
        return x.view(Mischief)
    return x


def snapshot(x):
    return (type(x), np.array(np.ma.getdata(x), copy=True), np.ma.getmaskarray(x).copy(), x.flags.writeable,
            x.strides, x.dtype)


def assert_unchanged(x, before):
    after = snapshot(x)
    assert after[0] is before[0] and after[3:] == before[3:]
    np.testing.assert_array_equal(after[1], before[1])
    np.testing.assert_array_equal(after[2], before[2])


def entry_points(net):
    """name -> function of a batch; each result is compared exactly with the plain array's."""

    def fitted(x):
        stats = fit_statistics(net, x, batch_size=2, second_moment=True)
        return np.concatenate([np.concatenate([s.products.ravel(), s.output_sums.ravel(), s.sum_xx.ravel()])
                               for s in stats])

    def trained(x):
        result = rp.train(net, x, np.arange(x.shape[0]) % 3, epochs=1, batch_size=2, progress=False)
        return np.concatenate([layer.weight.ravel() for layer in result.net.kernel_layers])

    return {
        "lrp.epsilon": lambda x: rp.explain(net, x, "lrp.epsilon", epsilon=1e-3),
        "gradient": lambda x: rp.explain(net, x, "gradient", backend="numpy"),
        "input_x_gradient": lambda x: rp.explain(net, x, "input_x_gradient"),
        "fit_statistics": fitted,
        "fit_patterns": lambda x: np.asarray(rp.fit_patterns(net, x, "a+-", batch_size=3)[0].a_plus),
        "rho": lambda x: np.concatenate(rp.rho(net, x, "w").per_neuron),
        "train": trained,
        "forward": lambda x: net.forward(x),
    }


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(net_name=st.sampled_from(sorted(NETS)), n=st.integers(1, 5), dtype=st.sampled_from(DTYPES),
       layout=st.sampled_from(LAYOUTS), kind=st.sampled_from(KINDS), seed=st.integers(0, 2 ** 16),
       point=st.sampled_from(["lrp.epsilon", "gradient", "input_x_gradient", "fit_statistics", "fit_patterns", "rho",
                              "train", "forward"]))
def test_any_batch_gives_the_plain_arrays_result_or_a_clear_error(net_name, n, dtype, layout, kind, seed, point):
    net = NETS[net_name]
    if kind == "matrix" and net_name != "dense":
        kind = "plain"  # a matrix is 2-d
    values = 1.5 + np.random.default_rng(seed).normal(size=(n,) + net.input_shape)
    x = of_kind(laid_out(values, dtype, layout), kind)
    before = snapshot(x)
    compute = entry_points(net)[point]
    if kind == "masked-some":
        with pytest.raises(ValueError, match=r"masked array with 1 masked entry"):
            compute(x)
    elif dtype not in FLOATS:
        with pytest.raises(TypeError, match=r"floating-point array, got dtype"):
            compute(x)
    else:
        plain = np.array(np.ndarray.view(np.ma.getdata(x), np.ndarray), dtype=np.float64, order="C")  # same values
        want, got = compute(plain), compute(x)
        assert type(got) is np.ndarray and got.dtype == np.float64
        np.testing.assert_array_equal(got, want)
    assert_unchanged(x, before)


def test_a_matrix_batch_whose_size_equals_the_feature_count_gives_the_plain_numbers():
    """Where N = D, ``matrix * matrix`` is a product of matrices: LRP-ε used to be off by 4.4 there."""
    net = dense_net()
    x = 1.5 + np.random.default_rng(0).normal(size=(4, 4))
    want = rp.explain(net, x, "lrp.epsilon")
    got = rp.explain(net, np.asmatrix(x), "lrp.epsilon")
    assert type(got) is np.ndarray
    np.testing.assert_array_equal(got, want)


def test_a_masked_array_with_nan_under_the_mask_is_refused_everywhere():
    net = dense_net()
    x = np.ma.masked_invalid(np.array([[1.0, np.nan, 2.0, 0.5], [0.1, 0.2, 0.3, 0.4]]))
    for call in (lambda: rp.explain(net, x, "lrp.epsilon"), lambda: rp.fit_patterns(net, x),
                 lambda: rp.rho(net, x, "a"), lambda: rp.train(net, x, np.array([0, 1]), epochs=1, progress=False),
                 lambda: net.forward(x)):
        with pytest.raises(ValueError, match=r"masked array with 1 masked entry of 8; .*x\.filled\(value\)"):
            call()


@pytest.mark.parametrize("value", [[[1.0, 2.0, 3.0, 4.0]], ((1.0, 2.0, 3.0, 4.0),)])
def test_lists_are_refused_with_the_way_to_convert(value):
    with pytest.raises(TypeError, match=r"x: expected a numpy\.ndarray of floats, got (list|tuple) .*numpy\.asarray"):
        rp.explain(dense_net(), value, "gradient")


def test_a_layer_called_directly_refuses_a_subclass_instead_of_multiplying_matrices():
    layer = rp.Dense(np.eye(2))
    with pytest.raises(TypeError, match=r"Dense\(in=2, out=2\): x must be a plain numpy\.ndarray, got the subclass "
                                        r"matrix"):
        layer.forward(np.asmatrix(np.ones((2, 2))))


def test_option_arrays_refuse_masks_and_read_subclasses_as_values():
    net = dense_net()
    x = 1.5 + np.random.default_rng(1).normal(size=(2, 4))
    masked = np.ma.masked_array(np.zeros(4), mask=[True, False, False, False])
    with pytest.raises(TypeError, match="integrated_gradients option baseline: a masked array is refused"):
        rp.explain(net, x, "integrated_gradients", baseline=masked, steps=2)
    with pytest.raises(TypeError, match="lrp.zb option low: a masked array is refused"):
        rp.explain(net, x, "lrp.zb", low=masked, high=np.full(4, 5.0))
    with pytest.raises(TypeError, match="smoothgrad option noise: a masked array is refused"):
        rp.explain(net, x, "smoothgrad", noise=np.ma.masked_array(np.zeros((2, 2, 4))))
    np.testing.assert_array_equal(
        rp.explain(net, x, "integrated_gradients", baseline=np.asmatrix(np.full((2, 4), 0.5)), steps=3),
        rp.explain(net, x, "integrated_gradients", baseline=np.full((2, 4), 0.5), steps=3))
    with pytest.raises(TypeError, match="train: labels must not be a masked array"):
        rp.train(net, x, np.ma.masked_array([0, 1], mask=[True, False]), epochs=1, progress=False)
    with pytest.raises(ValueError, match="train: labels must be ints"):
        rp.train(net, x, np.array([True, False]), epochs=1, progress=False)


def test_the_caller_array_is_used_without_copy_when_it_is_already_plain_float64():
    from refpattern.network.validation import check_batch

    x = np.ones((2, 3))
    assert check_batch(x) is x
    read_only = np.ones((2, 3))
    read_only.setflags(write=False)
    assert check_batch(read_only) is read_only
    assert check_batch(np.asfortranarray(np.ones((2, 3)))).flags.c_contiguous
    deep = copy.deepcopy(x)
    np.testing.assert_array_equal(x, deep)
