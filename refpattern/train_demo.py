"""``refpattern train``: train the demo CNN on the built-in synthetic image task.

``--out DIR`` also writes what the commands on files read (``docs/conventions.md#file-commands``):
``DIR/net.npz`` (the trained network, :meth:`refpattern.Sequential.save`), ``DIR/images.npy`` (the
training images, ``(samples, 1, 16, 16)`` float64) and ``DIR/held_out.npy`` (the 1024 held-out
images the accuracy is reported on), written atomically after training, whatever the accuracy; an
existing one of them is refused before any work unless ``--overwrite``.

Exit status 0 when the training accuracy reaches ``--target-accuracy``, else 1; a value out of
range or an output that cannot be written is refused before training (status 2,
``docs/conventions.md#command-line``); 3 when the files could not be written.
"""

from __future__ import annotations

import io
import os
import time

import numpy as np

from refpattern.command_arguments import fraction, integer_at_least, seed
from refpattern.commands.output_files import check_output_folder, npy_bytes, write_outputs
from refpattern.progress import Progress

#: The task has 4 classes; every class needs a sample.
CLASSES = 4
#: The held-out images the accuracy is reported on.
HELD_OUT = 1024
#: What ``--out DIR`` holds.
OUTPUT_FILES = ("net.npz", "images.npy", "held_out.npy")


def add_arguments(parser) -> None:
    parser.add_argument("--samples", type=integer_at_least(CLASSES, f"one per class of the {CLASSES}-class task"),
                        default=2048, help=f"training samples, at least {CLASSES} (default 2048)")
    parser.add_argument("--epochs", type=integer_at_least(1), default=15, help="maximum epochs, >= 1 (default 15)")
    parser.add_argument("--target-accuracy", type=fraction, default=0.95,
                        help="stop once the training accuracy reaches this, in [0, 1] (default 0.95)")
    parser.add_argument("--seed", type=seed, default=0, help="seed of data and training, >= 0 (default 0)")
    parser.add_argument("--backend", default=None, choices=["numpy", "numba", "cuda"])
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="also write DIR/net.npz (the trained network), DIR/images.npy (the training images) and "
                             "DIR/held_out.npy (the held-out ones), for refpattern fit, explain and rho")
    parser.add_argument("--overwrite", action="store_true", help="replace those files if they exist (default: refuse)")


def run(args) -> int:
    from refpattern.datasets import make_image_task
    from refpattern.train import demo_cnn, train

    if args.out is not None:
        check_output_folder(args.out, OUTPUT_FILES, args.overwrite, "--out")
    progress = Progress("train", enabled=True)
    task = make_image_task(args.samples, seed=args.seed)
    net = demo_cnn(task.input_shape, task.n_classes, seed=args.seed)
    progress(f"training the demo CNN on {args.samples} synthetic 1x16x16 images (4 classes)")
    start = time.perf_counter()
    result = train(net, task.X, task.labels, epochs=args.epochs, seed=args.seed, progress=progress,
                   backend=args.backend, target_accuracy=args.target_accuracy)
    seconds = time.perf_counter() - start
    accuracy = result.accuracy[-1]
    test = make_image_task(HELD_OUT, seed=args.seed + 1)
    test_accuracy = float(np.mean(np.argmax(result.net.logits(test.X, args.backend), axis=1) == test.labels))
    print(f"training accuracy {accuracy:.3f} after {len(result.accuracy)} epoch(s) in {seconds:.1f} s; "
          f"held-out accuracy {test_accuracy:.3f}")
    if args.out is not None:
        network = io.BytesIO()
        result.net.save(network)
        os.makedirs(args.out, exist_ok=True)
        contents = (network.getvalue(), npy_bytes(task.X), npy_bytes(test.X))
        write_outputs({os.path.join(args.out, name): content for name, content in zip(OUTPUT_FILES, contents)})
        print(f"wrote {', '.join(os.path.join(args.out, name) for name in OUTPUT_FILES)}")
    return 0 if accuracy >= args.target_accuracy else 1
