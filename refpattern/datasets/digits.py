"""Real data: scikit-learn's bundled handwritten digits (8×8 images, 10 classes).

``load_digits_images()`` returns the 1797 images of :func:`sklearn.datasets.load_digits` (Alpaydin
& Kaynak's UCI optical digits, as shipped inside scikit-learn: nothing is downloaded) as float64
arrays ``(1797, 1, 8, 8)`` scaled from the grey levels 0…16 to [0, 1], with their labels.
scikit-learn is an optional extra (``pip install "refpattern[data]"``, i.e. ``scikit-learn>=1.3``),
imported only when this function is called; without it the call raises an ``ImportError`` that
names the extra.

Three pixels are 0 in every image (the left and right border columns are almost empty): a kernel
layer that reads them directly makes ``ρ(S_w)`` exactly 0 (``docs/math.md#zero-inputs``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: What to install for :func:`load_digits_images`.
EXTRA = 'pip install "refpattern[data]"  (scikit-learn>=1.3)'

#: The images' grey levels run from 0 to this.
GREY_LEVELS = 16.0


@dataclass(frozen=True)
class DigitsData:
    """The digits as arrays.

    Attributes
    ----------
    X : (N, 1, 8, 8) float64 in [0, 1]
    labels : (N,) int64, the digit 0…9
    """

    X: np.ndarray
    labels: np.ndarray

    @property
    def n_classes(self) -> int:
        return 10

    @property
    def input_shape(self) -> tuple:
        return tuple(self.X.shape[1:])


def digits_available() -> bool:
    """Whether scikit-learn (the ``data`` extra) can be imported."""
    try:
        import sklearn.datasets  # noqa: F401
    except ImportError:
        return False
    return True


def load_digits_images() -> DigitsData:
    """The 1797 bundled digits, ``X = grey level / 16`` as (N, 1, 8, 8) float64, and their labels.

    Raises ``ImportError`` naming the extra to install when scikit-learn is missing.
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as error:
        raise ImportError(f"the digits data come with scikit-learn, which is not installed: {EXTRA}") from error
    bunch = load_digits()
    X = np.asarray(bunch.images, dtype=np.float64)[:, None] / GREY_LEVELS
    return DigitsData(np.ascontiguousarray(X), np.asarray(bunch.target, dtype=np.int64))
