"""Time one training step of the SGAN and of the supervised baseline, side by side.

Usage::

    python benchmarks/train_step.py [--batch-size 100] [--timesteps 40] [--features 12]
        [--classes 4] [--steps 30] [--warmup 5] [--jit] [--generated-batch-size N]
        [--generator-architecture conv|lstm] [--trunk lstm|pool|multiscale]

Both models train on random windows with the networks and options ``exermote-sgan train``
uses by default (no XLA: it was measured slower on CPU); the figure to watch is the ratio
(target: an SGAN step costs at most 8 baseline steps on 2 CPU cores).  Each step is timed
through the model's compiled ``train_function`` on a repeated in-memory batch, so input
pipeline costs are excluded from both.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _time_steps(step, *, steps: int, warmup: int) -> float:
    for _ in range(warmup):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


def measure(*, batch_size: int = 100, timesteps: int = 40, features: int = 12, classes: int = 4,
            steps: int = 30, warmup: int = 5, jit_compile: bool = False,
            generated_batch_size: int | None = None,
            generator_architecture: str = "conv", trunk: str = "lstm") -> dict:
    """Seconds per step of each model, and their ratio."""
    import numpy as np

    from exermote_sgan.training.train_lib import TrainConfig, build_models

    rng = np.random.default_rng(0)
    x = rng.random((batch_size, timesteps, features), dtype=np.float32)
    y = rng.integers(0, classes, batch_size)
    w = np.ones(batch_size, dtype=np.float32)
    config = TrainConfig(windows_path="unused.h5", jit_compile=jit_compile,
                         generated_batch_size=generated_batch_size,
                         generator_architecture=generator_architecture, trunk=trunk)

    baseline = build_models(config, timesteps=timesteps, features=features,
                            num_classes=classes, model="baseline")
    baseline.make_train_function()
    base_batch = (x, y, w)
    base_iter = _repeat(base_batch)
    base_time = _time_steps(lambda: baseline.train_function(base_iter), steps=steps,
                            warmup=warmup)

    sgan = build_models(config, timesteps=timesteps, features=features, num_classes=classes,
                        model="sgan")
    sgan.make_train_function()
    sgan_iter = _repeat(((x, y, w), x))
    sgan_time = _time_steps(lambda: sgan.train_function(sgan_iter), steps=steps, warmup=warmup)
    return {"batch_size": batch_size, "baseline_ms": 1000 * base_time,
            "sgan_ms": 1000 * sgan_time, "ratio": sgan_time / base_time,
            "jit_compile": jit_compile, "generator_architecture": generator_architecture,
            "trunk": trunk,
            "generated_batch_size": generated_batch_size or batch_size}


def _repeat(batch):
    import tensorflow as tf

    return iter(tf.data.Dataset.from_tensors(batch).repeat())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=100, help="windows per batch")
    parser.add_argument("--timesteps", type=int, default=40, help="window length")
    parser.add_argument("--features", type=int, default=12, help="features per step")
    parser.add_argument("--classes", type=int, default=4, help="number of real classes")
    parser.add_argument("--steps", type=int, default=30, help="timed steps per model")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first (compilation)")
    parser.add_argument("--jit", action="store_true", help="XLA-compile the steps (slower on CPU)")
    parser.add_argument("--generated-batch-size", type=int, default=None,
                        help="windows generated per SGAN step (default: the batch size)")
    parser.add_argument("--generator-architecture", choices=("conv", "lstm"), default="conv",
                        help="generator of the SGAN (default: conv, train's default)")
    from exermote_sgan.models.spec import TRUNKS

    parser.add_argument("--trunk", choices=TRUNKS, default="lstm",
                        help="classifier trunk of both models (default: lstm, train's default)")
    args = parser.parse_args(argv)
    result = measure(batch_size=args.batch_size, timesteps=args.timesteps,
                     features=args.features, classes=args.classes, steps=args.steps,
                     warmup=args.warmup, jit_compile=args.jit,
                     generated_batch_size=args.generated_batch_size,
                     generator_architecture=args.generator_architecture, trunk=args.trunk)
    print(f"batch {result['batch_size']}, generated {result['generated_batch_size']}, "
          f"{result['generator_architecture']} generator, {result['trunk']} trunk, "
          f"XLA {'on' if result['jit_compile'] else 'off'}")
    print(f"baseline step: {result['baseline_ms']:8.1f} ms")
    print(f"SGAN step:     {result['sgan_ms']:8.1f} ms")
    print(f"ratio:         {result['ratio']:8.1f} x (target <= 8)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
