"""An adversarial audit of ``refpattern.explain``: degenerate networks, unusual targets, user-made
composites and options.  Each test pins a defect that was found: the exact error type and a message
that names the argument (or layer), or the correct value against an independent computation."""

import numpy as np
import pytest

import refpattern as rp


def small_cnn(seed=0):
    rng = np.random.default_rng(seed)
    return rp.Sequential([rp.Conv2D.he(1, 2, 3, rng, padding=1, bias=0.1), rp.ReLU(), rp.MaxPool2D(2), rp.Flatten(),
                          rp.Dense.he(2 * 2 * 2, 3, rng, bias=0.05)], input_shape=(1, 4, 4))


@pytest.fixture
def net():
    return small_cnn()


@pytest.fixture
def x():
    return np.random.default_rng(1).normal(size=(3, 1, 4, 4))


# --- targets ------------------------------------------------------------------------------------

def test_masked_target_entries_are_refused(net, x):
    """A masked class was used with the value under the mask."""
    with pytest.raises(ValueError, match=r"target: a masked array with 1 masked entr"):
        rp.explain(net, x, "gradient", target=np.ma.array([0, 1, 2], mask=[0, 1, 0]))


def test_unmasked_masked_target_is_read_as_its_values(net, x):
    got = rp.explain(net, x, "gradient", target=np.ma.array([0, 1, 2]))
    np.testing.assert_array_equal(got, rp.explain(net, x, "gradient", target=np.array([0, 1, 2])))


def test_unsigned_target_above_int64_is_named_as_given(net, x):
    """A uint64 class 2^63 was reported as the class -9223372036854775808 (wrapped by a cast)."""
    with pytest.raises(ValueError, match=r"target: class 9223372036854775808 is out of range for 3 logits"):
        rp.explain(net, x, "gradient", target=np.array([0, 1, 2 ** 63], dtype=np.uint64))


def test_network_without_a_row_of_logits_is_refused():
    """A network ending in a Conv2D failed with Python's 'too many values to unpack'."""
    conv_only = rp.Sequential([rp.Conv2D(np.ones((2, 1, 3, 3)))])
    with pytest.raises(ValueError, match=r"logits\) must have shape \(N, classes\).*got shape \(1, 2, 2, 2\)"):
        rp.explain(conv_only, np.ones((1, 1, 4, 4)), "lrp.epsilon")
