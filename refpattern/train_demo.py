"""``refpattern train``: train the demo CNN on the built-in synthetic image task."""

from __future__ import annotations

import time

import numpy as np

from refpattern.progress import Progress


def add_arguments(parser) -> None:
    parser.add_argument("--samples", type=int, default=2048, help="training samples (default 2048)")
    parser.add_argument("--epochs", type=int, default=15, help="maximum epochs (default 15)")
    parser.add_argument("--target-accuracy", type=float, default=0.95,
                        help="stop once the training accuracy reaches this (default 0.95)")
    parser.add_argument("--seed", type=int, default=0)
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
