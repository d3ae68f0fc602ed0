"""The weights' exponential moving average (ema_decay): kept beside the encoder and decoder, equal to
the average computed apart after a few steps, batch-norm statistics included; off by default; saved
in the checkpoint, and what renders, grids, scores and best/ use."""
import numpy as np
import pytest
import tensorflow as tf

import config
import configurator
import vae_gan
import vae_gan_inference as inference
from configurator import UsageError
from conftest import TINY, tiny


def test_the_average_equals_one_computed_apart(step_for, tmp_path):
    decay = 0.8
    cfg = tiny(config.mnist, tmp_path, ema_decay=decay)
    nets, _, step = step_for(cfg)
    weights = lambda: [w.numpy().astype(np.float64) for name in ('encoder', 'decoder') for w in nets[name].weights]
    expected = weights()  # the average starts at the initial weights
    rng = np.random.default_rng(0)
    for t in range(1, 5):  # early steps forget the initial weights faster: min(decay, (1 + t) / (10 + t))
        step(tf.constant(rng.random((4, 28, 28, 1)), tf.float32), tf.constant(1.0))
        d = min(decay, (1 + t) / (10 + t))
        expected = [d * a + (1 - d) * w for a, w in zip(expected, weights())]
    kept = [w.numpy() for name in ('encoder', 'decoder') for w in nets.averages[name].weights]
    assert len(kept) == len(expected) > 20
    assert all(np.allclose(k, e, rtol=1e-5, atol=1e-6) for k, e in zip(kept, expected))
    moving = [i for i, w in enumerate(w for name in ('encoder', 'decoder') for w in nets[name].weights)
              if 'moving_mean' in w.path]
    assert moving and not np.allclose(kept[moving[0]], 0)  # batch norm's statistics are averaged too
    assert not all(np.allclose(k, w) for k, w in zip(kept, weights()))  # an average, not a copy
    assert not step_for(tiny(config.mnist, tmp_path))[0].averages  # off by default: nothing kept, nothing done


def test_a_run_with_an_average_renders_it_and_keeps_it_for_good_and_the_same_seed_trains_the_same_run(
        digits, trained_run, tmp_path, capsys):
    """The run with an average is also tests/test_train.py's run of one epoch with the shared run's settings
    and seed (one training for both): it trains that run's first epoch again, to the bit, also with
    histograms every step (they read the step's own gradients: no pass of their own, nothing that batch norm's
    averages see) and with the average kept beside the weights (it reads them, never moves them)."""
    out = tmp_path / 'run'
    vae_gan.main(TINY + [f'--data_dir={digits}', f'--out_dir={out}', '--epochs=1', '--ema_decay=0.5',
                         '--histogram_every=1'])
    from test_train import _decoder_weights
    weights, shared = (_decoder_weights(str(r / 'checkpoints' / 'ckpt-1')) for r in (out, trained_run))
    assert shared.keys() == weights.keys() and all(np.array_equal(shared[k], weights[k]) for k in shared)
    reader = tf.train.load_checkpoint(str(out / 'checkpoints' / 'ckpt-1'))
    assert any(k.startswith('decoder_average/') for k in reader.get_variable_to_shape_map())
    cfg, checkpoint, _ = inference.load_config([f'--out_dir={out}'])
    _, decoder = inference.restore_models(cfg, checkpoint)
    average = vae_gan.models.build_decoder(cfg)
    tf.train.Checkpoint(decoder_average=average).restore(checkpoint).expect_partial()
    raw = vae_gan.models.build_decoder(cfg)
    tf.train.Checkpoint(decoder=raw).restore(checkpoint).expect_partial()
    assert all(np.array_equal(a, b) for a, b in zip(decoder.get_weights(), average.get_weights()))
    assert not all(np.array_equal(a, b) for a, b in zip(decoder.get_weights(), raw.get_weights()))
    # an export holds the average as its encoder and decoder
    inference.main([f'--out_dir={out}', f'--export={tmp_path / "export"}'])
    _, exported = inference.restore_models(configurator.for_run({'out_dir': str(tmp_path / 'export')})[0],
                                           str(tmp_path / 'export' / 'ckpt-1'))
    assert all(np.array_equal(a, b) for a, b in zip(exported.get_weights(), average.get_weights()))
    # --average=false: the weights themselves, which only a training checkpoint holds
    _, unaveraged = inference.restore_models(cfg, checkpoint, average=False)
    assert all(np.array_equal(a, b) for a, b in zip(unaveraged.get_weights(), raw.get_weights()))
    with pytest.raises(UsageError, match="holds only the weights' averages"):
        inference.restore_models(cfg, str(tmp_path / 'export' / 'ckpt-1'), average=False)
    # the average is part of the run: turning it off is refused, another decay goes on
    flags = TINY + [f'--out_dir={out}', '--epochs=2']
    with pytest.raises(UsageError, match='was trained with ema_decay=0.5 and the command line asks for None'):
        configurator.for_training(configurator.parse_overrides(flags + ['--ema_decay=None']))
    assert configurator.for_training(configurator.parse_overrides(flags + ['--ema_decay=0.9']))[0].ema_decay == 0.9
    with pytest.raises(UsageError, match='ema_decay must be in'):
        configurator.from_args(['--ema_decay=1'])
