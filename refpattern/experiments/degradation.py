"""Image degradation (Kindermans et al., 2018, Fig. 4; after Samek et al., 2017).

Protocol (``docs/math.md#fig4``), for one image ``x`` ``(C, H, W)`` and its heat map ``R``:

1. cut the image into non-overlapping ``p×p`` patches (``H`` and ``W`` must be multiples of
   ``p``); the paper uses ``p = 9`` on 224×224 images (25×25 = 625 patches, of which it
   replaces up to 100);
2. score each patch by ``Σ R`` over its pixels and channels (the signed sum);
3. sort the patches by decreasing score (ties: lower patch index first, a stable sort);
4. for ``n = 0, 1, …, all``: replace the first ``n`` patches by their own per-channel mean
   (each channel of a patch becomes that channel's mean over the patch) and record the softmax
   probability of the class the network chose on the intact image (``n = 0``).

A good explanation puts the evidence first, so the curve falls fast; the area under the
curve (:func:`area_under_curve`, the mean over ``n = 0..all``, in [0, 1]) is then small.
The baseline orders the patches at random.  With ``n = all`` every patch is replaced, so
every order ends at the same image (the patch-mean image) and the same probability.

Two options of :func:`degradation_curves` serve the protocol ablations of the report
(``docs/math.md#fig4-ablation``): ``replacement`` puts given values (e.g. the training set's
mean image) into a replaced patch instead of its own mean, and ``steps`` stops after the first
``steps`` patches (the paper replaces at most 100 of its 625 patches).
"""

from __future__ import annotations

import numpy as np

from refpattern.experiments.method_suite import check_spec_labels
from refpattern.methods.targets import resolve_targets
from refpattern.network.elementwise import softmax
from refpattern.network.validation import check_count, check_seed

#: The label of the baseline curve whose patches are replaced in a random order (Fig. 4).
RANDOM_ORDER = "random"


def _check_patch(shape, patch: int):
    if len(shape) != 3:
        raise ValueError(f"degradation: expected images (N, C, H, W), got per-sample shape {tuple(shape)}")
    c, h, w = shape
    patch = check_count(patch, "degradation patch")
    if h % patch or w % patch:
        raise ValueError(f"degradation: patch size {patch} must divide the image size {h}×{w}")
    return c, h // patch, w // patch


def patch_scores(attribution, patch: int) -> np.ndarray:
    """``Σ R`` per patch: (N, C, H, W) -> (N, H/p, W/p), summed over channels and the patch's pixels."""
    attribution = np.asarray(attribution, dtype=np.float64)
    n = attribution.shape[0]
    _, rows, cols = _check_patch(attribution.shape[1:], patch)
    return attribution.reshape(n, -1, rows, patch, cols, patch).sum(axis=(1, 3, 5))


def patch_means(x, patch: int) -> np.ndarray:
    """The image with every patch replaced by its per-channel mean: (N, C, H, W) -> (N, C, H, W)."""
    x = np.asarray(x, dtype=np.float64)
    n, c = x.shape[:2]
    _, rows, cols = _check_patch(x.shape[1:], patch)
    blocks = x.reshape(n, c, rows, patch, cols, patch).mean(axis=(3, 5), keepdims=True)
    return np.broadcast_to(blocks, (n, c, rows, patch, cols, patch)).reshape(x.shape)


def order_by_score(scores) -> np.ndarray:
    """Patch indices (row-major over the patch grid) by decreasing score, stable: (N, P) ints."""
    flat = scores.reshape(scores.shape[0], -1)
    return np.argsort(-flat, axis=1, kind="stable")


def random_orders(n: int, patches: int, seed: int = 0) -> np.ndarray:
    """One random permutation of the ``patches`` patch indices per image: (n, patches) ints."""
    n, patches = check_count(n, "random_orders n", minimum=0), check_count(patches, "random_orders patches")
    rng = np.random.default_rng(check_seed(seed, "random_orders seed"))
    return np.stack([rng.permutation(patches) for _ in range(n)]) if n else np.zeros((0, patches), dtype=int)


def degradation_curves(net, x, order, patch: int, target=None, backend=None, replacement=None,
                       steps=None) -> np.ndarray:
    """Softmax probability of the initially chosen class after replacing the first ``n`` patches.

    Parameters
    ----------
    net : Sequential
    x : (N, C, H, W)
    order : (N, P) ints, a permutation of the P patch indices (row-major) per image
    patch : int, patch side ``p``
    target : None (the argmax class on the intact image) or ints, see ``explain``
    replacement : None or array broadcastable to (N, C, H, W)
        The values a replaced patch takes; None: the patch's own per-channel mean.
    steps : None or int in 0..P
        Replace at most this many patches (None: all ``P``).

    Returns
    -------
    (N, steps + 1) probabilities; column ``n`` has the first ``n`` patches replaced.
    """
    x = net.check_input(x)
    n_images = x.shape[0]
    c, rows, cols = _check_patch(x.shape[1:], patch)
    order = np.asarray(order)
    patches = rows * cols
    if order.shape != (n_images, patches):
        raise ValueError(f"degradation: order must have shape ({n_images}, {patches}), got {order.shape}")
    if order.dtype == bool or not np.issubdtype(order.dtype, np.integer):
        raise TypeError(f"degradation: order must hold integer patch indices, got dtype {order.dtype}")
    not_permutations = np.flatnonzero(np.any(np.sort(order, axis=1) != np.arange(patches), axis=1))
    if not_permutations.size:  # a repeated index would leave a patch without a rank
        row = order[not_permutations[0]]
        raise ValueError(f"degradation: each row of order must be a permutation of 0..{patches - 1}, row "
                         f"{not_permutations[0]} holds {np.unique(row).size} distinct values in "
                         f"{row.min()}..{row.max()}")
    steps = patches if steps is None else check_count(steps, "degradation steps", minimum=0)
    if not 0 <= steps <= patches:
        raise ValueError(f"degradation: steps must lie in 0..{patches} (the number of patches), got {steps}")
    targets = resolve_targets(net.logits(x, backend), target)
    if replacement is None:
        means = patch_means(x, patch)
    else:
        replacement = np.asarray(replacement, dtype=np.float64)
        try:
            means = np.broadcast_to(replacement, x.shape)
        except ValueError:
            raise ValueError(f"degradation: replacement of shape {replacement.shape} does not broadcast to the "
                             f"images' shape {x.shape}") from None
        if not np.all(np.isfinite(means)):
            raise ValueError("degradation: replacement values must be finite")
    # Pixel (i, j) belongs to patch (i // p)·cols + j // p; rank[n, q] = position of patch q in the order.
    patch_index = (np.arange(x.shape[2])[:, None] // patch) * cols + np.arange(x.shape[3])[None, :] // patch
    rank = np.empty_like(order)
    rank[np.arange(n_images)[:, None], order] = np.arange(patches)[None, :]
    pixel_rank = rank[:, patch_index][:, None, :, :]  # (N, 1, H, W)
    curves = np.empty((n_images, steps + 1))
    rows_index = np.arange(n_images)
    for step in range(steps + 1):
        degraded = np.where(pixel_rank < step, means, x)
        curves[:, step] = softmax(net.logits(degraded, backend))[rows_index, targets]
    return curves


def area_under_curve(curve) -> float | np.ndarray:
    """Area under a degradation curve, normalised: the mean of its ``n = 0..all`` points (last axis).

    Every point weighs the same, as in Samek et al. (2017); a constant curve ``c`` gives ``c``;
    lower means the probability fell sooner.
    """
    curve = np.asarray(curve, dtype=np.float64)
    if curve.ndim == 0 or curve.shape[-1] == 0:
        raise ValueError(f"area_under_curve: a curve needs at least one point (n = 0), got shape {curve.shape}")
    return np.mean(curve, axis=-1)


PAPER_FRACTION = 100 / 625
"""The share of patches the paper replaces at most: 100 of the 625 9×9 patches of a 224×224 image."""

ABLATIONS = {
    "main": "p×p patches, own per-channel mean, every patch replaced (the main protocol)",
    "first16": "p×p patches, own per-channel mean, only the first 16 % of the patches (as the paper: ≤ 100/625)",
    "mean_image": "p×p patches replaced by the training set's mean image, first 16 % of the patches",
    "pixels": "1×1 patches (the paper's 9/224 of the side is under a pixel here) replaced by the training "
              "set's mean image, first 16 % of the pixels",
}
"""The degradation protocols of the Fig. 4 ablation (``docs/math.md#fig4-ablation``)."""


def paper_steps(patches: int) -> int:
    """How many of ``patches`` patches the paper's share (:data:`PAPER_FRACTION`) replaces: ``⌈0.16·P⌉``."""
    patches = check_count(patches, "paper_steps patches", minimum=0)
    return int(np.ceil(PAPER_FRACTION * patches - 1e-9))


def degradation_study(net, x, specs, patch: int, mean_image, *, seed: int = 0, backend=None) -> dict:
    """Fig. 4 for one network: every method's curve and AUC, the random order, and the AUC of every
    protocol of :data:`ABLATIONS`.

    ``specs``: methods with ``.label`` and ``spec(net, x, target, backend)`` (each map is computed
    once and used by every protocol); ``mean_image``: (C, H, W) values for the replacement
    ablations.  Returns ``{"patch", "patches", "images", "curves": {label: mean curve (P + 1)},
    "auc": {label: AUC}, "ablations": {protocol: {"steps", "patch", "auc": {label: AUC}}}}``;
    every AUC is the mean over images of each image's area (:func:`area_under_curve`).
    """
    x = net.check_input(x)
    _, rows, cols = _check_patch(x.shape[1:], patch)
    if mean_image is None:  # the "mean_image" and "pixels" protocols would silently use the patches' own means
        raise ValueError("degradation_study: mean_image is required (the training set's mean image, (C, H, W))")
    patches, pixels = rows * cols, x.shape[2] * x.shape[3]
    first, first_pixels = paper_steps(patches), paper_steps(pixels)
    specs = check_spec_labels(specs, "degradation_study specs", reserved=(RANDOM_ORDER,))
    maps = {spec.label: spec(net, x, None, backend) for spec in specs}
    orders = {label: order_by_score(patch_scores(m, patch)) for label, m in maps.items()}
    orders[RANDOM_ORDER] = random_orders(len(x), patches, seed)
    pixel_orders = {label: order_by_score(patch_scores(m, 1)) for label, m in maps.items()}
    pixel_orders[RANDOM_ORDER] = random_orders(len(x), pixels, seed)
    curves, auc = {}, {}
    ablations = {name: {"auc": {}} for name in ABLATIONS if name != "main"}
    for label, order in orders.items():
        full = degradation_curves(net, x, order, patch, backend=backend)
        curves[label] = full.mean(axis=0).tolist()
        auc[label] = float(np.mean(area_under_curve(full)))
        ablations["first16"]["auc"][label] = float(np.mean(area_under_curve(full[:, :first + 1])))
        mean_replaced = degradation_curves(net, x, order, patch, backend=backend, replacement=mean_image, steps=first)
        ablations["mean_image"]["auc"][label] = float(np.mean(area_under_curve(mean_replaced)))
        per_pixel = degradation_curves(net, x, pixel_orders[label], 1, backend=backend, replacement=mean_image,
                                       steps=first_pixels)
        ablations["pixels"]["auc"][label] = float(np.mean(area_under_curve(per_pixel)))
    ablations["first16"].update(patch=patch, steps=first)
    ablations["mean_image"].update(patch=patch, steps=first)
    ablations["pixels"].update(patch=1, steps=first_pixels)
    return {"patch": patch, "patches": patches, "images": int(len(x)), "curves": curves, "auc": auc,
            "ablations": ablations}
