"""Minibatch training with Adam on the softmax cross-entropy, using the hand-written gradients.

Enough to train the small networks of the notebooks and experiments in seconds.  The
network passed in is never modified: training returns a new :class:`Sequential`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from refpattern.network.elementwise import log_softmax
from refpattern.network.sequential import Sequential
from refpattern.network.validation import check_count, check_level, check_sample_shape, check_seed
from refpattern.progress import Progress


@dataclass
class TrainResult:
    """The trained network and per-epoch history (mean loss, training accuracy, seconds)."""

    net: Sequential
    loss: list = field(default_factory=list)
    accuracy: list = field(default_factory=list)
    seconds: list = field(default_factory=list)


def softmax_cross_entropy(logits, labels):
    """Mean cross-entropy ``−(1/B) Σ_n log p_{n, t_n}`` and its gradient ``(p − onehot)/B``.

    logits: (B, K); labels: (B,) ints.  Returns (loss, grad_logits (B, K)).
    """
    log_p = log_softmax(logits)
    rows = np.arange(len(labels))
    loss = -log_p[rows, labels].mean()
    grad = np.exp(log_p)
    grad[rows, labels] -= 1.0
    return loss, grad / len(labels)


def loss_gradients(net, x, labels, backend=None):
    """Loss and ``(∂L/∂W, ∂L/∂b)`` for every kernel layer, by one forward and one exact backward pass."""
    activations = net.trace(x, backend, check=False)
    loss, grad = softmax_cross_entropy(activations[-1], labels)
    layers = net.logit_layers
    gradients = {}
    for index in range(len(layers) - 1, -1, -1):
        layer = layers[index]
        if layer.is_kernel:
            gradients[index] = layer.parameter_gradients(activations[index], grad, backend)
        if index > 0:
            grad = layer.backward(activations[index], grad, backend)
    return loss, gradients


def train(net, X, labels, *, epochs: int = 10, batch_size: int = 64, learning_rate: float = 1e-2,
          betas=(0.9, 0.999), weight_decay: float = 0.0, seed: int = 0, progress=None,
          backend=None, target_accuracy: float | None = None) -> TrainResult:
    """Train ``net`` with Adam (Kingma & Ba, 2015) on the softmax cross-entropy of its logits.

    Parameters
    ----------
    net : Sequential
        Not modified; a trained copy is returned.
    X : ndarray, shape (N, …); labels : ndarray of int, shape (N,)
        ``X`` is read as :meth:`Sequential.check_input` says (``docs/conventions.md#input-acceptance``);
        ``labels`` must be an integer array (not bool, not masked) of classes ``0 … classes−1``.
    epochs, batch_size, learning_rate, betas, weight_decay : the usual Adam settings
        ``epochs`` and ``batch_size`` ints >= 1, ``learning_rate`` a finite number > 0, each beta in
        [0, 1), ``weight_decay`` finite and >= 0; each refused by name otherwise.
    seed : shuffling seed, a non-negative int
    progress : bool, None or refpattern.progress.Progress
        One line per epoch on stderr (``[train    1.2 s] epoch 1/10: loss …, training accuracy …``);
        ``None`` reports only when stderr is a terminal; a ``Progress`` reports inside the caller's.
    target_accuracy : float, optional
        Stop after the first epoch whose training accuracy (on the full set) reaches this.

    Returns
    -------
    TrainResult with ``.net`` and the per-epoch ``loss``, ``accuracy`` and ``seconds``.

    Raises
    ------
    ValueError
        ``train: training diverged at epoch e, after s Adam step(s) …`` when, after a step, a
        parameter, Adam's second moment ``v`` (the square of a gradient) or the forward pass leaves
        what float64 carries (``docs/conventions.md#scale``): never NaN weights nor a step that an
        overflowed ``v = inf`` silently turned into 0.
    """
    if not isinstance(net, Sequential):
        raise TypeError(f"train net: expected a refpattern.Sequential, got {type(net).__name__}")
    if not net.kernel_indices:
        raise ValueError(f"train net: the network has no kernel layer (Dense or Conv2D), nothing to train: {net!r}")
    epochs, batch_size = check_count(epochs, "train epochs"), check_count(batch_size, "train batch_size")
    learning_rate = check_level(learning_rate, "train learning_rate", 0.0, low_open=True)
    weight_decay = check_level(weight_decay, "train weight_decay")
    seed = check_seed(seed, "train seed")
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise TypeError(f"train betas: expected a pair (beta1, beta2), got {betas!r}")
    betas = tuple(check_level(beta, f"train betas[{i}]", 0.0, 1.0) for i, beta in enumerate(betas))
    if target_accuracy is not None:
        target_accuracy = check_level(target_accuracy, "train target_accuracy", 0.0, 1.0, high_open=False)
    X = net.check_input(X, "X")
    if isinstance(labels, np.ma.MaskedArray):
        raise TypeError("train: labels must not be a masked array (a masked label has no class)")
    labels = np.asarray(labels)
    if labels.dtype == bool or not np.issubdtype(labels.dtype, np.integer) or labels.shape != (X.shape[0],):
        raise ValueError(f"train: labels must be ints of shape ({X.shape[0]},), "
                         f"got dtype {labels.dtype} shape {labels.shape}")
    logit_shape = net.output_shapes(X.shape[1:])[len(net.logit_layers)]
    if len(logit_shape) != 1:
        raise ValueError(f"train net: the softmax cross-entropy needs flat logits (classes,), the network's last "
                         f"layer gives per-sample shape {logit_shape}; end it with Flatten and Dense")
    classes = logit_shape[0]
    if labels.min() < 0 or labels.max() >= classes:
        raise ValueError(f"train: labels must lie in 0..{classes - 1}, got range {labels.min()}..{labels.max()}")
    progress = Progress.resolve(progress, "train")
    rng = np.random.default_rng(seed)
    layers = list(net.layers)
    params = {i: [np.array(layers[i].weight), np.array(layers[i].bias)] for i in net.kernel_indices}
    moments = {i: [[np.zeros_like(p) for p in params[i]], [np.zeros_like(p) for p in params[i]]] for i in params}
    beta1, beta2 = betas
    step = 0
    result = TrainResult(net)
    start = time.perf_counter()
    for epoch in range(epochs):
        order = rng.permutation(X.shape[0])
        losses = []
        for begin in range(0, X.shape[0], batch_size):
            batch = order[begin:begin + batch_size]
            current = net.with_layers([layers[i].with_parameters(*params[i]) if i in params else layers[i]
                                       for i in range(len(layers))])
            try:
                loss, gradients = loss_gradients(current, X[batch], labels[batch], backend)
            except ValueError as error:  # an overflow in the forward pass: the data's fault only before any step
                if step == 0:
                    raise
                raise ValueError(f"{diverged(epoch, step, learning_rate, weight_decay)}: {error}") from error
            losses.append(loss)
            step += 1
            for i, grads in gradients.items():
                for name, p, g, m, v in zip(("weight", "bias"), params[i], grads, moments[i][0], moments[i][1]):
                    with np.errstate(over="ignore", invalid="ignore"):
                        g = g + weight_decay * p
                        m *= beta1
                        m += (1 - beta1) * g
                        v *= beta2
                        v += (1 - beta2) * g * g
                        m_hat = m / (1 - beta1 ** step)
                        v_hat = v / (1 - beta2 ** step)
                        p -= learning_rate * m_hat / (np.sqrt(v_hat) + 1e-8)
                    if not (np.all(np.isfinite(v)) and np.all(np.isfinite(p))):
                        raise ValueError(f"{diverged(epoch, step, learning_rate, weight_decay)}: layer {i} "
                                         f"({layers[i]!r}): the {name} gradient (with weight decay) reached "
                                         f"magnitude {np.max(np.abs(g)):.4g}; its square (Adam's second moment) or "
                                         "the updated parameters left float64's range")
        trained = net.with_layers([layers[i].with_parameters(*params[i]) if i in params else layers[i]
                                   for i in range(len(layers))])
        try:
            accuracy = float(np.mean(np.argmax(trained.logits(X, backend), axis=1) == labels))
        except ValueError as error:
            raise ValueError(f"{diverged(epoch, step, learning_rate, weight_decay)}: {error}") from error
        result.net = trained
        result.loss.append(float(np.mean(losses)))
        result.accuracy.append(accuracy)
        result.seconds.append(time.perf_counter() - start)
        progress(f"epoch {epoch + 1}/{epochs}: loss {result.loss[-1]:.4f}, training accuracy {accuracy:.3f}")
        if target_accuracy is not None and accuracy >= target_accuracy:
            break
    return result


def diverged(epoch: int, step: int, learning_rate: float, weight_decay: float) -> str:
    """The start of the error raised when the parameters leave what float64 carries during training."""
    return (f"train: training diverged at epoch {epoch + 1}, after {step} Adam step(s) (learning_rate "
            f"{learning_rate:g}, weight_decay {weight_decay:g}); lower learning_rate (or weight_decay)")


def demo_cnn(input_shape=(1, 16, 16), classes: int = 4, seed: int = 0) -> Sequential:
    """The small He-initialised ReLU CNN used by the demo, notebooks and experiments.

    conv 3×3 (C→8, pad 1), ReLU, max-pool 2, conv 3×3 (8→16, pad 1), ReLU, max-pool 2,
    flatten, dense (16·H/4·W/4 → 32), ReLU, dense (32 → classes), softmax.
    """
    from refpattern.network import Conv2D, Dense, Flatten, MaxPool2D, ReLU, Softmax

    input_shape = check_sample_shape(input_shape, "demo_cnn input_shape")
    if len(input_shape) != 3 or min(input_shape[1:]) < 4:
        raise ValueError(f"demo_cnn input_shape: expected (C, H, W) with H, W >= 4 (two 2x2 max-pools), "
                         f"got {input_shape}")
    classes = check_count(classes, "demo_cnn classes")
    rng = np.random.default_rng(check_seed(seed, "demo_cnn seed"))
    c, h, w = input_shape
    return Sequential([
        Conv2D.he(c, 8, 3, rng, padding=1), ReLU(), MaxPool2D(2),
        Conv2D.he(8, 16, 3, rng, padding=1), ReLU(), MaxPool2D(2),
        Flatten(), Dense.he(16 * (h // 4) * (w // 4), 32, rng), ReLU(),
        Dense.he(32, classes, rng), Softmax(),
    ], input_shape=input_shape)
