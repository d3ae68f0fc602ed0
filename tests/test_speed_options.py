"""The speed options: XLA, mixed precision, the simultaneous update, and bench.py."""
import dataclasses
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import bench
import config
import configurator
import models
import vae_gan
from conftest import build_step, gradients_of, tiny


def fixed_noise(shape, stream):
    """Stands in for make_noise's noise: the same numbers with and without XLA (random ops may differ
    there) and in every phase."""
    n = tf.cast(tf.reduce_prod(shape), tf.float32)
    return tf.reshape(tf.sin(tf.range(n) * 12.9898), shape)


def _batch(shape=(4, 28, 28, 1)):
    return tf.random.stateless_uniform(shape, seed=[1, 2])


def _weights(net):
    return [v.numpy() for v in net.trainable_variables]


def test_xla_step_equals_the_plain_step(tmp_path, monkeypatch, step_for):
    """Three steps with and without XLA give the same losses (the weights after Adam's sign-like first
    updates are compared through them)."""
    monkeypatch.setattr(vae_gan, 'make_noise', lambda seed, steps_done: fixed_noise)
    losses = []
    for jit in (False, True):
        cfg = tiny(config.mnist, tmp_path, jit_compile=jit)
        _, _, step = step_for(cfg)
        losses.append([{k: float(v) for k, v in step(_batch(), tf.constant(1.0)).items()} for _ in range(3)])
    plain, xla = losses
    for plain_step, xla_step in zip(plain, xla):
        assert plain_step.keys() == xla_step.keys()
        for name in plain_step:
            assert xla_step[name] == pytest.approx(plain_step[name], rel=1e-3, abs=1e-5), name


def test_mixed_precision_step_runs_and_stays_finite(tmp_path, step_for):
    cfg = tiny(config.mnist, tmp_path, mixed_precision='float16')
    nets, _, step = step_for(cfg)
    assert nets.decoder.layers[2].compute_dtype == 'float16' and nets.decoder.layers[2].variable_dtype == 'float32'
    assert all(v.dtype == 'float32' for v in nets.encoder.weights)  # incl. batch-norm statistics
    assert all(isinstance(o, keras.optimizers.LossScaleOptimizer) for o in nets.optimizers.values())
    for _ in range(3):
        metrics = step(_batch(), tf.constant(1.0))
    assert all(v.dtype == tf.float32 and np.isfinite(v.numpy()) for v in metrics.values())
    # loss scaling skips the updates whose float16 gradients overflow while it finds its scale
    assert all(1 <= int(models.unscaled(o).iterations) <= 3 for o in nets.optimizers.values())


# bfloat16's step against float32's: test_simultaneous_differs_only_in_the_intended_way's sequential step is that
# float32 step (the same weights, batch and noise; one step fewer to trace).


# Checkpoints moving between options (float16 and the simultaneous update, resumed from the float32 run, then
# rendered): tests/test_checkpoint_order.py's resume with a failing scorer (one resume for both).


def test_mixed_precision_spellings(tmp_path):
    assert configurator.from_args(['--mixed_precision=bfloat16']).mixed_precision == 'bfloat16'
    assert configurator.from_args(['--mixed_precision=float16']).mixed_precision == 'float16'
    for value in ('bf16', 'true'):
        with pytest.raises(configurator.UsageError,
                           match=f"mixed_precision must be one of false, float16, bfloat16, not '{value}'"):
            configurator.from_args([f'--mixed_precision={value}'])
    path = tmp_path / 'config.json'  # a hand-edited bool
    path.write_text(json.dumps(dict(dataclasses.asdict(config.mnist), mixed_precision=True)))
    with pytest.raises(configurator.UsageError, match='mixed_precision must be a string, not True'):
        configurator.from_saved(str(path))


def test_simultaneous_differs_only_in_the_intended_way_and_bfloat16_computes_float32_s_step(tmp_path, step_for):
    """'simultaneous' takes D's, the encoder's and the decoder's gradients from one forward pass: each
    equals the gradient the sequential phase would take against the weights of before the step, given the
    same noise. The sequential step differs because the encoder and decoder see the D (and the decoder the
    encoder) just updated.
    bfloat16 computes in bfloat16 with float32 weights, latent heads, D's logit and losses, and no loss
    scaling; its first step's losses (same weights, batch and noise: the sequential float32 step's above) are
    float32's within the ~3 significant digits bfloat16 keeps, so the step computes the same thing."""
    cfg = tiny(config.mnist, tmp_path)
    nets, _, _ = build_step(cfg)
    x, kl_weight = _batch(), tf.constant(0.25)
    _, together = gradients_of(vae_gan.one_pass_step, cfg, nets, x, kl_weight, fixed_noise)
    _, alone = gradients_of(vae_gan.original_step, cfg, nets, x, kl_weight, fixed_noise)  # the same noise, no update
    for name in ('discriminator', 'encoder', 'decoder'):
        assert all(np.allclose(u.numpy(), v.numpy(), rtol=1e-4, atol=1e-6) for u, v in zip(alone[name], together[name])), name
    losses = {}

    def step_weights(update):
        nets, _, step = build_step(tiny(config.mnist, tmp_path, update=update))
        losses[update] = {k: float(v) for k, v in step(x, tf.constant(1.0)).items()}
        return [_weights(nets[name]) for name in ('encoder', 'decoder', 'discriminator')]
    same = lambda a, b: all(np.allclose(u, v, rtol=1e-5, atol=1e-7) for u, v in zip(a, b))
    sequential, simultaneous = step_weights('sequential'), step_weights('simultaneous')
    assert not same(sequential[0], simultaneous[0]) and not same(sequential[1], simultaneous[1])
    # bfloat16 against the float32 sequential step (tiny(config.mnist) as it is: update='sequential')
    assert tiny(config.mnist, tmp_path).update == 'sequential'
    float32 = losses['sequential']
    nets, _, step = step_for(tiny(config.mnist, tmp_path, mixed_precision='bfloat16'))
    assert nets.decoder.layers[2].compute_dtype == 'bfloat16' and nets.decoder.layers[2].variable_dtype == 'float32'
    assert all(v.dtype == 'float32' for net in (nets.encoder, nets.decoder, nets.discriminator) for v in net.weights)
    assert not any(isinstance(o, keras.optimizers.LossScaleOptimizer) for o in nets.optimizers.values())
    x = _batch()
    mean, sigma = nets.encoder(x, training=False)[:2]  # inference mode: nothing the step sees changes
    dis_l, logit = nets.discriminator(x, training=False)
    assert (mean.dtype, sigma.dtype, logit.dtype, dis_l.dtype) == (tf.float32, tf.float32, tf.float32, tf.bfloat16)
    for i in range(3):
        metrics = step(x, tf.constant(1.0))
        if i == 0:
            for name, value in float32.items():
                assert float(metrics[name]) == pytest.approx(value, rel=0.03, abs=1e-3), name
    assert all(v.dtype == tf.float32 and np.isfinite(v.numpy()) for v in metrics.values())
    assert all(int(o.iterations) == 3 for o in nets.optimizers.values())  # no step skipped: nothing overflows


def test_simultaneous_needs_one_batch():
    with pytest.raises(configurator.UsageError, match='--fresh_batches=false'):
        configurator.from_args(['--preset=celeb_a', '--update=simultaneous'])
    with pytest.raises(configurator.UsageError, match="update must be 'sequential' or 'simultaneous'"):
        configurator.from_args(['--update=together'])


def test_benchmark_prints_and_writes_nothing(mock_tfds, tmp_path, capsys, monkeypatch):
    cfg = tiny(config.mnist, tmp_path, mixed_precision='bfloat16')
    monkeypatch.chdir(tmp_path)  # from any working directory: it reads and writes nothing there either
    try:
        timings = bench.benchmark(cfg, 1)
    finally:
        keras.mixed_precision.set_global_policy('float32')
    printed = capsys.readouterr().out
    assert 'images/s' in printed and 'pipeline' in printed
    assert 'batch 4, mixed_bfloat16, 1 steps' in printed
    assert set(timings) == {'step_seconds', 'pipeline_seconds'}
    assert all(t > 0 for t in timings.values())
    assert not os.path.exists(cfg.out_dir) and os.listdir(tmp_path) == []


@pytest.mark.parametrize('args, message', [
    (['--benchmark_steps=0'], 'error: benchmark_steps must be at least 1, not 0'),
    (['--benchmark_steps=x'], 'error: --benchmark_steps=x: expected int'),
    (['--batch_size=0'], 'error: batch_size must be at least 1, not 0'),
])
def test_benchmark_flags_are_one_line(args, message):
    with pytest.raises(SystemExit) as stop:
        bench.main(args)
    assert str(stop.value.code) == message


def test_balance_rule_skips_inside_the_step(tmp_path, step_for):
    """An equilibrium of 100 makes D 'win' by far: its update is skipped, the others run."""
    cfg = tiny(config.mnist, tmp_path, balance_margin=0.35, equilibrium=100.0)
    nets, _, step = step_for(cfg)
    before = _weights(nets.discriminator)
    for _ in range(2):
        metrics = step(_batch(), tf.constant(1.0))
    assert all(np.array_equal(a, b) for a, b in zip(before, _weights(nets.discriminator)))
    assert float(metrics['discriminator_skips']) == 2 and float(metrics['decoder_skips']) == 0
    assert int(nets.optimizers['discriminator'].iterations) == 0 and int(nets.optimizers['decoder'].iterations) == 2
    assert step.experimental_get_tracing_count() == 1  # decided in the graph: no retracing
