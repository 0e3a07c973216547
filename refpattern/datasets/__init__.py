"""Built-in data with known ground truth (generated, never downloaded).

- :func:`make_image_task`: images ``x = signal + distractor + noise``, K classes.
- :func:`make_suppressor_task`: binary images with a suppressor square (Wilming et al., 2022).
- :func:`make_linear_suppressor`: the two-feature suppressor of Wilming et al. (2023).
- :func:`load_digits_images`: real data, scikit-learn's bundled 8×8 handwritten digits (the
  optional ``data`` extra; imported only when called).
"""

from refpattern.datasets.digits import DigitsData, digits_available, load_digits_images
from refpattern.datasets.linear_suppressor import (
    LinearSuppressorData,
    make_linear_suppressor,
    suppressor_covariance,
    suppressor_optimal_filter,
    suppressor_pattern,
)
from refpattern.datasets.suppressor_images import SuppressorImageTask, make_suppressor_task
from refpattern.datasets.synthetic_images import ImageTask, make_image_task

__all__ = [
    "DigitsData", "ImageTask", "LinearSuppressorData", "SuppressorImageTask", "digits_available",
    "load_digits_images", "make_image_task", "make_linear_suppressor", "make_suppressor_task",
    "suppressor_covariance", "suppressor_optimal_filter", "suppressor_pattern",
]
