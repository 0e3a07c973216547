"""The Fig. 5 gallery over seeds: the same images explained by the network of every seed
(``docs/math.md#fig5-gallery``).

The gallery images are fixed for the whole run (held out from every seed's training data), so
each seed's network explains the same images.  :func:`explain_gallery` records one seed's
prediction, confidence and maps; :func:`gallery_summary` turns the seeds into the gallery's
label columns (the majority prediction with how many seeds agree, the confidence as a mean with
its interval over seeds) and into a stability score per method: the mean Spearman correlation of
``|map|`` between the maps of two seeds' networks (1: the method draws the same picture whatever
the training seed; ``docs/math.md#fig5-gallery``).
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

from refpattern.experiments.intervals import t_interval
from refpattern.experiments.method_suite import check_spec_labels
from refpattern.experiments.similarity import spearman_abs
from refpattern.network.elementwise import softmax


def explain_gallery(net, x, specs, backend=None) -> dict:
    """One seed: ``{"prediction": (G,), "confidence": (G,), "explanations": {label: (G, C, H, W)}}``,
    each map of the predicted class's logit; the confidence is the softmax probability of that class."""
    logits = net.logits(x, backend)
    prediction = np.argmax(logits, axis=1)
    confidence = softmax(logits)[np.arange(len(x)), prediction]
    return {"prediction": prediction, "confidence": confidence,
            "explanations": {spec.label: spec(net, x, None, backend)
                             for spec in check_spec_labels(specs, "explain_gallery specs")}}


def gallery_summary(runs: list, labels) -> dict:
    """The gallery over seeds (``runs``: one :func:`explain_gallery` per seed, ``labels``: (G,) true classes).

    Returns ``{"label": [...], "prediction": [majority class per image], "agreeing": [seeds with it],
    "correct": [seeds predicting the label], "seeds": S, "confidence": [Interval per image],
    "stability": {method: mean Spearman(|map|) over seed pairs and images} (NaN with one seed)}``.
    """
    if not runs:
        raise ValueError("gallery_summary: no runs (one explain_gallery result per seed expected)")
    predictions = np.stack([np.asarray(r["prediction"]) for r in runs])          # (S, G)
    confidences = np.stack([np.asarray(r["confidence"], dtype=float) for r in runs])
    labels = np.asarray(labels)
    if labels.shape != predictions.shape[1:]:
        raise ValueError(f"gallery_summary labels: one true class per gallery image ({predictions.shape[1]}), "
                         f"got shape {labels.shape}")
    majority = [int(np.bincount(column).argmax()) for column in predictions.T]
    stability = {}
    for method in runs[0]["explanations"]:
        pairs = [spearman_abs(runs[s]["explanations"][method], runs[t]["explanations"][method])
                 for s, t in combinations(range(len(runs)), 2)]
        stability[method] = float(np.mean(pairs)) if pairs else float("nan")
    return {"label": labels.tolist(), "prediction": majority,
            "agreeing": [int(np.sum(predictions[:, g] == majority[g])) for g in range(len(majority))],
            "correct": [int(np.sum(predictions[:, g] == labels[g])) for g in range(len(majority))],
            "seeds": int(len(runs)), "confidence": [t_interval(confidences[:, g]) for g in range(len(majority))],
            "stability": stability}
