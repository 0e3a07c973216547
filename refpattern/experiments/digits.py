"""One repetition (one seed) of the experiments on real data: scikit-learn's 8×8 handwritten digits
(``docs/math.md#digits``).

The 1797 digits (:func:`refpattern.datasets.load_digits_images`, the optional ``data`` extra) are
cut once per run into a fixed gallery (one image per class, never trained on) and a pool; every
repetition shuffles the pool with its own seed into a held-out third and a training part, trains
its own demo CNN (:func:`refpattern.train.demo_cnn` on 1×8×8: two 3×3 convolutions with
max-pooling, a dense layer of 32 units) and a ReLU MLP, and measures:

- Fig. 3 with the paper's split protocol: patterns on the first half of the training part, ``v``
  on the second half, ρ on the held-out third (:func:`.rho_layers.paper_splits`); for each kernel
  layer, the inputs that are 0 in every image (:func:`.rho_layers.constant_zero_inputs`);
- Fig. 4: degradation with 2×2 patches (16 per image) and its protocol ablations;
- the Fig. 5 gallery on the fixed images.
"""

from __future__ import annotations

import numpy as np

from refpattern.experiments.degradation import degradation_study
from refpattern.experiments.gallery import explain_gallery
from refpattern.experiments.method_suite import degradation_suite, fit_all_patterns, full_suite
from refpattern.experiments.models import architecture, train_model
from refpattern.experiments.rho_layers import constant_zero_inputs, paper_splits, rho_on_splits

PATCH = 2
"""Degradation patch side on the 8×8 digits (16 patches)."""

HELD_OUT = 1 / 3
"""Share of the pool held out per repetition (accuracy, ρ, degradation)."""

GALLERY_SEED_OFFSET = 104729


def fixed_gallery(labels, base_seed: int) -> np.ndarray:
    """One image per class (0…9), chosen at random with ``base_seed``: the gallery of every repetition."""
    rng = np.random.default_rng(base_seed + GALLERY_SEED_OFFSET)
    return np.array([rng.choice(np.flatnonzero(labels == k)) for k in np.unique(labels)])


def repetition_split(n: int, excluded, seed: int) -> tuple:
    """``(train, test)`` indices of one repetition: every index but ``excluded``, shuffled by ``seed``,
    the first :data:`HELD_OUT` of them held out."""
    pool = np.setdiff1d(np.arange(n), np.asarray(excluded))
    pool = pool[np.random.default_rng(seed).permutation(len(pool))]
    cut = int(round(HELD_OUT * len(pool)))
    return pool[cut:], pool[:cut]


def run_seed(settings, data, gallery_index, seed: int, *, backend=None, progress=None) -> tuple:
    """Every digits measurement of one repetition: ``(numbers, gallery)`` as :func:`.synthetic.run_seed`."""
    s = settings
    train_index, test_index = repetition_split(len(data.X), gallery_index, seed)
    X_train, y_train = data.X[train_index], data.labels[train_index]
    X_test, y_test = data.X[test_index], data.labels[test_index]
    models = {name: train_model(name, X_train, y_train, X_test, y_test, classes=data.n_classes, seed=seed,
                                epochs=40, backend=backend) for name in ("cnn", "mlp")}
    numbers = {"seed": seed, "train_samples": int(len(train_index)), "test_samples": int(len(test_index)),
               "models": {k: {"train_accuracy": m.train_accuracy, "test_accuracy": m.test_accuracy,
                              "epochs": m.epochs, "seconds": m.seconds, "architecture": architecture(m.net)}
                          for k, m in models.items()}}
    if progress is not None:
        progress(f"digits seed {seed}: held-out accuracy " + ", ".join(f"{k} {m.test_accuracy:.3f}"
                                                                      for k, m in models.items()))
    cnn = models["cnn"].net
    fit_half, v_half = paper_splits(len(train_index), seed)
    numbers["fig3"] = {}
    numbers["zero_inputs"] = {}
    for name, model in models.items():
        numbers["fig3"][name] = rho_on_splits(model.net, X_train[fit_half], X_train[v_half], X_test, seed=seed,
                                              backend=backend)
        numbers["zero_inputs"][name] = constant_zero_inputs(model.net, X_test, backend)
    patterns = fit_all_patterns(cnn, X_train, seed=seed, backend=backend)
    suite = degradation_suite(patterns, ig_steps=s.ig_steps, smoothgrad_samples=s.smoothgrad_samples, seed=seed)
    numbers["fig4"] = degradation_study(cnn, X_test[:s.degradation_images], suite, PATCH, X_train.mean(axis=0),
                                        seed=seed, backend=backend)
    full = full_suite(patterns, low=0.0, high=1.0, ig_steps=s.ig_steps, smoothgrad_samples=s.smoothgrad_samples,
                      seed=seed)
    gallery = explain_gallery(cnn, data.X[gallery_index], full, backend)
    if progress is not None:
        progress(f"digits seed {seed}: Fig. 3, Fig. 4 and the gallery")
    return numbers, gallery
