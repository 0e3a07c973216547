"""Training the demo CNN on the built-in synthetic image task (issue: ≥ 95 % training accuracy
within 60 s on 2 cores).  Run: ``python -m pytest benchmarks/bench_train.py --benchmark-only -s``."""

import time

from refpattern.datasets import make_image_task
from refpattern.train import demo_cnn, train


def test_train_demo_cnn_to_95_percent(benchmark):
    task = make_image_task(2048, seed=0)

    def run():
        net = demo_cnn(task.input_shape, task.n_classes, seed=0)
        start = time.perf_counter()
        result = train(net, task.X, task.labels, epochs=15, seed=0, progress=False, target_accuracy=0.95)
        return result, time.perf_counter() - start

    result, seconds = benchmark.pedantic(run, rounds=1, iterations=1)
    print(f"\ntraining accuracy {result.accuracy[-1]:.3f} after {len(result.accuracy)} epoch(s), {seconds:.1f} s "
          f"(requirement: >= 0.95 within 60 s)")
    assert result.accuracy[-1] >= 0.95
