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
"""

from __future__ import annotations

import numpy as np

from refpattern.methods.targets import resolve_targets
from refpattern.network.elementwise import softmax

#: The label of the baseline curve whose patches are replaced in a random order (Fig. 4).
RANDOM_ORDER = "random"


def _check_patch(shape, patch: int):
    c, h, w = shape
    if patch < 1 or h % patch or w % patch:
        raise ValueError(f"degradation: patch size {patch} must divide the image size {h}×{w}")
    return c, h // patch, w // patch


def patch_scores(attribution, patch: int) -> np.ndarray:
    """``Σ R`` per patch: (N, C, H, W) -> (N, H/p, W/p), summed over channels and the patch's pixels."""
    n = attribution.shape[0]
    _, rows, cols = _check_patch(attribution.shape[1:], patch)
    return attribution.reshape(n, -1, rows, patch, cols, patch).sum(axis=(1, 3, 5))


def patch_means(x, patch: int) -> np.ndarray:
    """The image with every patch replaced by its per-channel mean: (N, C, H, W) -> (N, C, H, W)."""
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
    rng = np.random.default_rng(seed)
    return np.stack([rng.permutation(patches) for _ in range(n)]) if n else np.zeros((0, patches), dtype=int)


def degradation_curves(net, x, order, patch: int, target=None, backend=None) -> np.ndarray:
    """Softmax probability of the initially chosen class after replacing the first ``n`` patches.

    Parameters
    ----------
    net : Sequential
    x : (N, C, H, W)
    order : (N, P) ints, a permutation of the P patch indices (row-major) per image
    patch : int, patch side ``p``
    target : None (the argmax class on the intact image) or ints, see ``explain``

    Returns
    -------
    (N, P + 1) probabilities; column ``n`` has the first ``n`` patches replaced.
    """
    x = net.check_input(x)
    n_images = x.shape[0]
    c, rows, cols = _check_patch(x.shape[1:], patch)
    order = np.asarray(order)
    patches = rows * cols
    if order.shape != (n_images, patches):
        raise ValueError(f"degradation: order must have shape ({n_images}, {patches}), got {order.shape}")
    targets = resolve_targets(net.logits(x, backend), target)
    means = patch_means(x, patch)
    # Pixel (i, j) belongs to patch (i // p)·cols + j // p; rank[n, q] = position of patch q in the order.
    patch_index = (np.arange(x.shape[2])[:, None] // patch) * cols + np.arange(x.shape[3])[None, :] // patch
    rank = np.empty_like(order)
    rank[np.arange(n_images)[:, None], order] = np.arange(patches)[None, :]
    pixel_rank = rank[:, patch_index][:, None, :, :]  # (N, 1, H, W)
    curves = np.empty((n_images, patches + 1))
    rows_index = np.arange(n_images)
    for step in range(patches + 1):
        degraded = np.where(pixel_rank < step, means, x)
        curves[:, step] = softmax(net.logits(degraded, backend))[rows_index, targets]
    return curves


def area_under_curve(curve) -> float | np.ndarray:
    """Area under a degradation curve, normalised: the mean of its ``n = 0..all`` points (last axis).

    Every point weighs the same, as in Samek et al. (2017); a constant curve ``c`` gives ``c``;
    lower means the probability fell sooner.
    """
    return np.mean(np.asarray(curve, dtype=np.float64), axis=-1)
