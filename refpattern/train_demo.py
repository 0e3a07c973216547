"""``refpattern train``: train the demo CNN on the built-in synthetic image task.

Exit status 0 when the training accuracy reaches ``--target-accuracy``, else 1; a value out of
range is refused by the parser (status 2, ``docs/conventions.md#command-line``).
"""

from __future__ import annotations

import time

import numpy as np

from refpattern.command_arguments import fraction, integer_at_least, seed
from refpattern.progress import Progress

#: The task has 4 classes; every class needs a sample.
CLASSES = 4


def add_arguments(parser) -> None:
    parser.add_argument("--samples", type=integer_at_least(CLASSES, f"one per class of the {CLASSES}-class task"),
                        default=2048, help=f"training samples, at least {CLASSES} (default 2048)")
    parser.add_argument("--epochs", type=integer_at_least(1), default=15, help="maximum epochs, >= 1 (default 15)")
    parser.add_argument("--target-accuracy", type=fraction, default=0.95,
                        help="stop once the training accuracy reaches this, in [0, 1] (default 0.95)")
    parser.add_argument("--seed", type=seed, default=0, help="seed of data and training, >= 0 (default 0)")
    parser.add_argument("--backend", default=None, choices=["numpy", "numba", "cuda"])


def run(args) -> int:
    from refpattern.datasets import make_image_task
    from refpattern.train import demo_cnn, train

    progress = Progress("train", enabled=True)
    task = make_image_task(args.samples, seed=args.seed)
    net = demo_cnn(task.input_shape, task.n_classes, seed=args.seed)
    progress(f"training the demo CNN on {args.samples} synthetic 1x16x16 images (4 classes)")
    start = time.perf_counter()
    result = train(net, task.X, task.labels, epochs=args.epochs, seed=args.seed, progress=progress,
                   backend=args.backend, target_accuracy=args.target_accuracy)
    seconds = time.perf_counter() - start
    accuracy = result.accuracy[-1]
    test = make_image_task(1024, seed=args.seed + 1)
    test_accuracy = float(np.mean(np.argmax(result.net.logits(test.X, args.backend), axis=1) == test.labels))
    print(f"training accuracy {accuracy:.3f} after {len(result.accuracy)} epoch(s) in {seconds:.1f} s; "
          f"held-out accuracy {test_accuracy:.3f}")
    return 0 if accuracy >= args.target_accuracy else 1
