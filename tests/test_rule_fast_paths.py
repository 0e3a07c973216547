"""The rules' cheaper arithmetic gives the numbers of the expressions they read as, bit for bit.

``stabilized_divide`` builds ``z + s·sgn(z)`` (``sgn(0) = +1``, ``docs/conventions.md#stabilisers``) in
one buffer from ``copysign(s, z + 0.0)`` instead of ``s · where(z >= 0, 1, −1)``; LRP-ε multiplies by
``x`` in place.  Both must change no bit: the NumPy backend's results are the reference.
"""

from __future__ import annotations

import numpy as np
import pytest

from refpattern.methods.rules import stabilized_divide


def as_written(numerator, denominator, stabilizer):
    """``numerator / (denominator + s·sgn(denominator))`` with ``sgn(0) = +1``, as the convention reads."""
    return numerator / (denominator + stabilizer * np.where(denominator >= 0, 1.0, -1.0))


@pytest.mark.parametrize("stabilizer", [1e-6, 0.5, 3.0, 1e300, 5e-324])
def test_stabilized_divide_equals_the_convention_bit_for_bit(stabilizer):
    rng = np.random.default_rng(11)
    denominator = rng.normal(size=(4, 5, 6)) * 10.0 ** rng.integers(-300, 300, size=(4, 5, 6))
    denominator.flat[:8] = [0.0, -0.0, np.inf, -np.inf, 5e-324, -5e-324, -stabilizer, stabilizer]
    numerator = rng.normal(size=denominator.shape)
    numerator.flat[8:11] = [0.0, -0.0, 1e308]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        got, want = stabilized_divide(numerator, denominator, stabilizer), as_written(numerator, denominator,
                                                                                      stabilizer)
    np.testing.assert_array_equal(got.view(np.int64), want.view(np.int64))
    assert not np.shares_memory(got, denominator) and not np.shares_memory(got, numerator)


def test_stabilized_divide_of_other_shapes_and_types_broadcasts_as_written():
    numerator, denominator = np.ones((2, 3)), np.array([-2.0, 0.0, 3.0])
    np.testing.assert_array_equal(stabilized_divide(numerator, denominator, 0.5), as_written(numerator, denominator,
                                                                                              0.5))
    np.testing.assert_array_equal(stabilized_divide(np.float32(1.0), np.array([-1.0, 1.0]), 1.0), [-0.5, 0.5])


def test_pattern_products_are_kept_only_for_read_only_arrays_and_dropped_with_the_pattern():
    from refpattern.methods import rules

    rng = np.random.default_rng(12)
    weight, pattern = rng.normal(size=(5, 7)), rng.normal(size=(5, 7))
    first = rules.pattern_product(weight, pattern)
    np.testing.assert_array_equal(first, weight * pattern)
    assert not first.flags.writeable
    assert rules.pattern_product(weight, pattern) is not first           # writeable inputs: never kept
    weight.setflags(write=False)
    pattern.setflags(write=False)
    kept = rules.pattern_product(weight, pattern)
    assert rules.pattern_product(weight, pattern) is kept                # read-only: the same product again
    np.testing.assert_array_equal(kept, weight * pattern)
    other = weight.copy()
    other.setflags(write=False)
    assert rules.pattern_product(other, pattern) is not kept             # another weight array: recomputed
    size = len(rules._PATTERN_PRODUCTS)
    del pattern
    assert len(rules._PATTERN_PRODUCTS) == size - 1                      # dropped with the pattern array
