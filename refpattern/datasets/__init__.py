"""Built-in data with known ground truth (generated, never downloaded).

- :func:`make_image_task`: images ``x = signal + distractor + noise``, K classes.
- :func:`make_suppressor_task`: binary images with a suppressor square (Wilming et al., 2022).
- :func:`make_linear_suppressor`: the two-feature suppressor of Wilming et al. (2023).
"""

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
    "ImageTask", "LinearSuppressorData", "SuppressorImageTask", "make_image_task", "make_linear_suppressor",
    "make_suppressor_task", "suppressor_covariance", "suppressor_optimal_filter", "suppressor_pattern",
]
