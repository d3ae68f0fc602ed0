"""Time the training step and the input pipeline (as nanoGPT's bench.py beside its train.py):

    python bench.py --benchmark_steps=40                                        # the mnist preset
    python bench.py --preset=celeb_a --data_dir=... --benchmark_steps=3         # any config.py field too
    python bench.py --mixed_precision=bfloat16 --benchmark_steps=40

Flags: --benchmark_steps=N (steps timed, after 3 of warm-up) and any config.py field, such as the speed
options --mixed_precision=bfloat16|float16, --jit_compile=true, --update=simultaneous.

Prints images/s of vae_gan.py's whole step on the preset's real input pipeline and of the pipeline
alone, on fresh weights. Reads and writes nothing in out_dir, so it runs from any folder.
"""
import dataclasses
import sys
import time

import config
import configurator
import run_folder


@dataclasses.dataclass(frozen=True)
class Options:
    """This script's own flag, parsed with the config fields (configurator.parse_flags)."""
    benchmark_steps: int = 40  # steps timed, after 3 of warm-up (a few for CelebA on a CPU: about 10 s each)


def settings(argv):
    """(the config to time, Options): pure Python, checked before TensorFlow loads."""
    fields, flags = configurator.parse_flags(argv, config.Config, Options)
    options = Options(**flags)
    if options.benchmark_steps < 1:
        raise configurator.UsageError(f'benchmark_steps must be at least 1, not {options.benchmark_steps}')
    return configurator.from_overrides(fields), options


run_folder.start(__name__, __doc__, settings)
import tensorflow as tf  # noqa: E402

import data  # noqa: E402
import vae_gan  # noqa: E402


def benchmark(cfg, n, warmup=3):
    """Prints the images/s of `n` whole steps and of the pipeline alone; returns the seconds per step of each."""
    run = vae_gan.build(cfg)
    train_ds, _ = data.train_dataset(cfg, seed=cfg.seed)
    epoch = tf.constant(1.0)
    batches = iter(run.strategy.experimental_distribute_dataset(train_ds))

    def timed(fn):
        for _ in range(warmup):
            result = fn()
        start = time.perf_counter()
        for _ in range(n):
            result = fn()
        tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, 'numpy') else t, result)  # wait for the last
        return (time.perf_counter() - start) / n

    pipeline = timed(lambda: next(batches))
    step = timed(lambda: run.train_step(next(batches), epoch))
    per_element = cfg.batch_size * (3 if cfg.fresh_batches else 1)  # images the pipeline makes per step
    print(f'benchmark {cfg.preset}, batch {cfg.batch_size}, {configurator.PRECISIONS[cfg.mixed_precision]}, '
          f'{n} steps after {warmup} of warm-up:')
    print(f'  step:     {cfg.batch_size / step:9.1f} images/s ({step * 1000:.1f} ms/step)')
    print(f'  pipeline: {per_element / pipeline:9.1f} images/s ({step / pipeline:.1f}x what the step consumes)')
    return {'step_seconds': step, 'pipeline_seconds': pipeline}


def main(argv):
    with run_folder.guarded('bench.py', argv, lambda: None):  # one line however it ends
        cfg, options = settings(argv)
        benchmark(cfg, options.benchmark_steps)


if __name__ == '__main__':
    run_folder.run_script(main, sys.argv[1:])
