"""Synthetic linear models ``x = A_sᵀs + A_dᵀd + ε`` and every closed form the paper talks about
(``docs/math.md#linear-model``).

* :class:`LinearModel` (:mod:`.model`) — the model: any number of signal components (uniform,
  Gaussian, Rademacher), distractors with any mean and covariance (also with the signal), any noise;
* :class:`Draw` (:mod:`.sampling`) — seeded draws read in batches (nothing of size ``N`` held);
* :mod:`.closed_forms` — the optimal filter, S_a, S_w, S_a±, ρ, the random baseline in ``D``
  dimensions, the sampling error of S_a, what the explanation methods return;
* :mod:`.planar` — the toy's two-dimensional formulas;
* :func:`load_config` (:mod:`.config`) — models from TOML files (``refpattern verify --config``).

This package needs only NumPy and SciPy; the claims measured on a model are in
:mod:`refpattern.experiments.toy` (``check_claims``).
"""

from refpattern.linear.config import ConfigError, LinearConfig, config_names, load_config
from refpattern.linear.model import SIGNAL_KINDS, LinearModel
from refpattern.linear.sampling import Draw, LinearBatch

__all__ = ["SIGNAL_KINDS", "ConfigError", "Draw", "LinearBatch", "LinearConfig", "LinearModel", "config_names",
           "load_config"]
