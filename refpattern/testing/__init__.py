"""refpattern as the oracle in another library's test suite.

Three tools (``docs/conventions.md#oracle-testing``):

- :func:`assert_explanation_close` (and :func:`compare_explanation`, which returns the numbers
  instead of raising): compute refpattern's explanation of ``x`` and compare another library's
  with it; on a mismatch the ``AssertionError`` names the worst sample and position, the
  relative error of every sample, and which of the usual convention slips the numbers show
  (one-hot instead of ``y_t`` start, Captum's trapezoid weights, iNNvestigate's single output
  pattern, NHWC↔NCHW, float32 round-off, a constant scale);
- :func:`save_reference` / :func:`load_reference`: one ``.npz`` file (no pickle) with the
  network in PyTorch and Keras layouts, the inputs, targets, ``y_t``, every requested method's
  explanation and exact options, refpattern's version and conventions, for a test suite that
  cannot install refpattern (``load_reference`` needs only NumPy and ``json`` and may be copied);
- the tolerance table: :data:`BACKEND_TOLERANCE`, :data:`FLOAT64_TOLERANCE`,
  :data:`FLOAT32_TOLERANCE` (``docs/conventions.md#tolerances``).

How two explanations are compared: sample ``n`` passes when every entry satisfies
``|actual − reference| ≤ atol + rtol·max|reference_n|`` — the scale is the sample's largest
reference magnitude, so entries near zero are judged against the map, not against themselves.
The relative error of a sample is ``max|actual_n − reference_n| / max|reference_n|``.

Tolerances (``docs/conventions.md#tolerances``), as per-sample relative errors; the measured
column is the largest value ``tests/test_testing.py`` sees on its two test networks, which it
asserts to stay below the tolerance by the headroom shown:

=======================================  ===========  ==========  ===========
comparison                               measured     ``rtol``    headroom
=======================================  ===========  ==========  ===========
numba or cuda (simulator) vs numpy       7.1e-16      1e-12       ≥ 100×
a float64 framework (other kernels)      1.1e-15      1e-10       ≥ 10⁴×
a float32 framework                      2.6e-6       1e-4        ≥ 10×
=======================================  ===========  ==========  ===========

The framework rows come from the same networks run as dense matrices with NumPy in float64 or
float32 (``tests/framework_emulation.py``: gradient, LRP-ε, PatternAttribution).  The test
networks are tiny; deeper and wider networks accumulate more rounding, and LRP divides by
denominators that can be small — hence the headroom.  ``atol`` is 0 in every row.
"""

from __future__ import annotations

from refpattern.testing import compare
from refpattern.testing.compare import (
    LAYOUTS,
    TOLERANCES,
    ExplanationComparison,
    Tolerance,
    assert_explanation_close,
    compare_explanation,
)
from refpattern.testing.reference import (
    CONVENTIONS,
    MANIFEST_ENTRY,
    REFERENCE_FORMAT,
    REFERENCE_VERSION,
    load_reference,
    save_reference,
)

# The tolerance table is defined in compare.py; bound here again with its comments, which Sphinx reads from
# this package's own source for the API pages of refpattern.testing.
#: refpattern's backends against each other (numpy, numba, cuda and its simulator).
BACKEND_TOLERANCE = compare.BACKEND_TOLERANCE
#: Another framework computing in float64 (the default of :func:`assert_explanation_close`).
FLOAT64_TOLERANCE = compare.FLOAT64_TOLERANCE
#: Another framework computing in float32.
FLOAT32_TOLERANCE = compare.FLOAT32_TOLERANCE

__all__ = [
    "BACKEND_TOLERANCE", "CONVENTIONS", "ExplanationComparison", "FLOAT32_TOLERANCE", "FLOAT64_TOLERANCE", "LAYOUTS",
    "MANIFEST_ENTRY", "REFERENCE_FORMAT", "REFERENCE_VERSION", "TOLERANCES", "Tolerance", "assert_explanation_close",
    "compare_explanation", "load_reference", "save_reference",
]
