import dataclasses
import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import checkpoints
import config
import configurator
import models
import vae_gan
from configurator import UsageError
from conftest import ROOT, TINY, needs_real_mnist, tiny

NAMES = ('encoder', 'decoder', 'discriminator')


def _weights(net):
    return [v.numpy().copy() for v in net.trainable_variables]


def _changed(before, net):
    return any(not np.array_equal(a, b.numpy()) for a, b in zip(before, net.trainable_variables))


def test_each_optimizer_changes_only_its_own_network_and_a_checkpoint_round_trips(tmp_path):
    """A step with one network's learning rate above 0 (set as training sets each epoch's) changes that
    network's weights and no other's; one step traced for the three cases. Then what build() checkpoints
    comes back whole: weights, batch-norm statistics, optimizer slots, step."""
    cfg = tiny(config.mnist, tmp_path)
    trained = vae_gan.build(cfg)
    nets, step = trained.nets, trained.train_step
    for only in NAMES:
        for name in NAMES:
            models.unscaled(nets.optimizers[name]).learning_rate = 1e-2 if name == only else 0.0
        before = [_weights(nets[name]) for name in NAMES]
        step(tf.random.uniform([4, 28, 28, 1], seed=1), tf.constant(1.0))
        assert [_changed(b, nets[name]) for b, name in zip(before, NAMES)] == [name == only for name in NAMES], only
    assert step.experimental_get_tracing_count() == 1
    path = trained.checkpoint.save(str(tmp_path / 'ckpt'))
    run = vae_gan.build(cfg)  # fresh weights
    assert not np.array_equal(run.nets.decoder.weights[0].numpy(), trained.nets.decoder.weights[0].numpy())
    checkpoints.restore(run.checkpoint, path, 'unused')
    for name in NAMES:
        assert all(np.array_equal(x.numpy(), y.numpy())
                   for x, y in zip(trained.nets[name].weights, run.nets[name].weights))
        assert all(np.array_equal(x.numpy(), y.numpy())
                   for x, y in zip(trained.nets.optimizers[name].variables, run.nets.optimizers[name].variables))
    assert int(run.steps_done) == 3


def test_step_returns_finite_scalars_and_counts_steps(tmp_path, step_for):
    cfg = tiny(config.celeb_a, tmp_path, image_size=32)  # the 64x64 family at 32x32, three fresh batches
    nets, steps_done, step = step_for(cfg)
    metrics = step(tuple(tf.random.uniform([3, 2, 32, 32, 3], -1, 1, seed=1)), tf.constant(1.0))
    assert set(metrics) == {'discriminator_loss', 'encoder_loss', 'decoder_loss', 'kl', 'dis_l', 'gan',
                            'kl_weight', 'd_x', 'd_x_tilde', 'd_x_p', 'real_cost', 'fake_cost',
                            'discriminator_skips', 'decoder_skips'}
    assert all(v.shape == () and np.isfinite(v.numpy()) for v in metrics.values())
    assert float(metrics['kl_weight']) == pytest.approx(1 / 2)  # 1/batch from the tensor's shape
    assert 0 < float(metrics['d_x']) < 1
    assert [int(o.iterations) for o in nets.optimizers.values()] == [1, 1, 1] and int(steps_done) == 1


def _epochs_in(path):
    return int(tf.train.load_checkpoint(path).get_tensor('epoch/.ATTRIBUTES/VARIABLE_VALUE'))


def _steps_in(path):
    return int(tf.train.load_checkpoint(path).get_tensor('step/.ATTRIBUTES/VARIABLE_VALUE'))


def test_train_writes_everything_and_resumes_at_the_next_epoch(mock_tfds, tmp_path, capsys):
    cfg = tiny(config.mnist, tmp_path, epochs=1, sample_every=2, checkpoint_every=1)
    vae_gan.train(cfg)
    out = cfg.out_dir
    assert sorted(os.listdir(os.path.join(out, 'op-gen'))) == ['epoch_0001.png']
    for folder in ('op-real', 'op-recons'):
        assert os.listdir(os.path.join(out, folder)) == ['epoch_0001.png']
    assert json.load(open(os.path.join(out, 'config.json'))) == dataclasses.asdict(cfg)
    assert os.listdir(os.path.join(out, 'logs'))
    first = tf.train.latest_checkpoint(os.path.join(out, 'checkpoints'))
    assert _epochs_in(first) == 1 and _steps_in(first) == 2
    assert 'epoch 1/1' in capsys.readouterr().out

    vae_gan.train(dataclasses.replace(cfg, epochs=3))  # the same command with more epochs
    printed = capsys.readouterr().out
    assert 'resuming from' in printed and '1 epoch done' in printed
    assert 'epoch 1/3' not in printed and 'epoch 2/3' in printed and 'epoch 3/3' in printed
    latest = tf.train.latest_checkpoint(os.path.join(out, 'checkpoints'))
    assert _epochs_in(latest) == 3 and _steps_in(latest) == 6  # epochs 2 and 3 only
    assert sorted(os.listdir(os.path.join(out, 'op-gen'))) == ['epoch_0001.png', 'epoch_0002.png', 'epoch_0003.png']

    vae_gan.train(dataclasses.replace(cfg, epochs=3))
    assert 'nothing to do' in capsys.readouterr().out


def _snapshot(folder):
    return {os.path.join(d, f): open(os.path.join(d, f), 'rb').read() for d, _, fs in os.walk(folder) for f in fs}


def test_checkpoint_of_another_architecture_is_refused_untouched(run_copy):
    cfg, _ = configurator.for_run({'out_dir': str(run_copy)})  # the shared run's settings: z_dim 8
    before = _snapshot(cfg.out_dir)
    with pytest.raises(UsageError, match=r'holds a checkpoint of another model \(z_dim=8 there, 16 asked for\)'):
        vae_gan.train(dataclasses.replace(cfg, z_dim=16, epochs=3))
    assert _snapshot(cfg.out_dir) == before
    os.remove(os.path.join(cfg.out_dir, 'config.json'))  # without config.json, restoring tells
    before = _snapshot(cfg.out_dir)
    with pytest.raises(UsageError, match='ckpt-2 is a checkpoint of another architecture'):
        vae_gan.train(dataclasses.replace(cfg, z_dim=16, epochs=3))
    assert _snapshot(cfg.out_dir) == before


def test_bad_data_touches_nothing(tmp_path):
    cfg = tiny(config.mnist, tmp_path, data_dir=str(tmp_path / 'missing'))
    with pytest.raises(UsageError, match='is not a folder'):
        vae_gan.train(cfg)
    assert not os.path.exists(cfg.out_dir)


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(run_copy, monkeypatch):
    cfg, _ = configurator.for_run({'out_dir': str(run_copy)})  # the shared run's: 2 epochs of 2 steps
    good = _snapshot(os.path.join(cfg.out_dir, 'checkpoints'))
    monkeypatch.setattr(models, 'kl_loss', lambda mean, sigma: tf.constant(float('nan')))
    # logged every 2 steps: the NaN of step 5 is seen at step 6, and the message names step 5
    with pytest.raises(SystemExit, match=r'non-finite at step 5 \(epoch 3\).*last good checkpoint stays'):
        vae_gan.train(dataclasses.replace(cfg, epochs=3, log_every=2))
    assert _snapshot(os.path.join(cfg.out_dir, 'checkpoints')) == good


def _decoder_weights(path):
    reader = tf.train.load_checkpoint(path)
    return {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map() if k.startswith('decoder/')}


def test_another_seed_another_run(trained_run, digits, tmp_path):
    """A run of one epoch with the shared run's settings and another seed does not train that run's first epoch.
    (With its seed, it does, to the bit, also with histograms every step: tests/test_average.py's run with an
    average, one training for both.)"""
    out = tmp_path / 'seed8'
    vae_gan.main(TINY + [f'--data_dir={digits}', f'--out_dir={out}', '--epochs=1', '--seed=8', '--histogram_every=0'])
    other = _decoder_weights(str(out / 'checkpoints' / 'ckpt-1'))
    shared = _decoder_weights(str(trained_run / 'checkpoints' / 'ckpt-1'))
    assert not all(np.allclose(shared[k], other[k], atol=1e-6) for k in shared)


def test_cli_prints_one_line_and_exits_non_zero(tmp_path):
    result = subprocess.run([sys.executable, os.path.join(ROOT, 'vae_gan.py'), '--batch_size=0'],
                            capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == 'error: batch_size must be at least 1, not 0'
    assert 'Traceback' not in result.stderr and os.listdir(tmp_path) == []


@needs_real_mnist
def test_real_mnist_end_to_end(tmp_path):
    cfg = tiny(config.mnist, tmp_path, batch_size=64, steps_per_epoch=10, log_every=5, histogram_every=20,
               eval_every=1, eval_samples=100)
    vae_gan.train(cfg)
    real = next(iter(__import__('data').held_out_dataset(cfg, 25))).numpy()
    assert real.shape == (25, 28, 28, 1) and 0.1 < real.mean() < 0.2  # MNIST's ink coverage
    events = os.listdir(os.path.join(cfg.out_dir, 'logs'))
    tags = set()
    for record in tf.compat.v1.train.summary_iterator(os.path.join(cfg.out_dir, 'logs', events[0])):
        tags |= {v.tag for v in record.summary.value}
    assert {'loss/discriminator', 'loss/encoder', 'loss/decoder', 'loss/encoder/kl', 'loss/encoder/kl_weight',
            'loss/decoder/dis_l', 'loss/decoder/gan', 'loss/discriminator/d_x', 'speed/images_per_second',
            'samples/generations',
            'samples/reconstructions'} <= tags
    histograms = {t for t in tags if t.endswith('/gradient')}  # named by each network's own layers
    assert {'weights/discriminator/00_conv2d/kernel/gradient', 'weights/encoder/00_conv2d/kernel/gradient'} <= histograms
    assert sorted({t.split('/')[0] for t in tags})[0] == 'loss'  # TensorBoard shows the losses first
    steps = {v.tag: record.step for record in tf.compat.v1.train.summary_iterator(
        os.path.join(cfg.out_dir, 'logs', events[0])) for v in record.summary.value}
    assert steps['samples/generations'] == steps['loss/decoder'] == 10  # images on the scalars' step axis
    cards = [tf.make_ndarray(v.tensor) for record in tf.compat.v1.train.summary_iterator(
        os.path.join(cfg.out_dir, 'logs', events[0])) for v in record.summary.value if v.tag.startswith('samples/')]
    assert [len(card) for card in cards] == [3, 3]  # width, height and one PNG: each a single grid image
    assert tf.io.decode_png(cards[0][2]).shape == (152, 152, 1)  # 5x5 digits of 28 + 2-pixel borders
    assert {'validation/classifier/fid', 'validation/classifier/kid', 'validation/classifier/precision',
            'validation/mlp/recall', 'validation/mse', 'validation/ssim'} <= tags


def test_annealed_learning_rate_at_its_ends():
    cfg = config.celeb_a_paper
    # epochs count from 1: the first trains at lr; lr_end is reached just after the last
    start, end = models.learning_rates(cfg, 1), models.learning_rates(cfg, cfg.epochs + 1)
    assert start['encoder'] == pytest.approx(0.025 / 64) and end['encoder'] == pytest.approx(1e-5 / 64)
    middle = models.learning_rates(cfg, cfg.epochs // 2 + 1)['decoder']
    assert middle == pytest.approx(0.025 / 64 - 0.5 ** 0.75 * (0.025 - 1e-5) / 64)
    assert models.learning_rates(config.mnist, 150) == {'encoder': 1e-3, 'decoder': 1e-3, 'discriminator': 1e-3}


def test_linear_learning_rate_holds_then_falls_in_a_straight_line():
    cfg = dataclasses.replace(config.mnist, epochs=40, lr_schedule='linear', lr_decay_from=0.5, lr_end=1e-4,
                              lr_discriminator=5e-4)
    decoder = [models.learning_rates(cfg, epoch)['decoder'] for epoch in range(1, 42)]
    assert decoder[:21] == [1e-3] * 21  # epochs 1-21 start at or before 20 epochs done: the full rate
    # from there on, (epoch - 1 - 20) / 20 of the way from lr to lr_end: equal steps down, lr_end after the last
    assert np.allclose(np.diff(decoder[20:]), -(1e-3 - 1e-4) / 20) and decoder[-1] == pytest.approx(1e-4)
    assert models.learning_rates(cfg, 31)['discriminator'] == pytest.approx(5e-4 - 0.5 * (5e-4 - 1e-4))


def test_celeb_a_paper_trains_and_renders(mock_tfds, tmp_path, capsys):
    import vae_gan_inference
    # its networks at 32x32, as tests/test_fidelity.py builds them
    cfg = tiny(config.celeb_a_paper, tmp_path, steps_per_epoch=1, equilibrium=0.68, image_size=32)
    vae_gan.train(cfg)
    printed = capsys.readouterr().out
    assert 'epoch 1/1' in printed and 'balance: skipped' in printed
    vae_gan_inference.render(*vae_gan_inference.load_config([f'--out_dir={cfg.out_dir}', '--num_samples=2',
                                                             '--attribute_images=8']))
    samples = os.path.join(cfg.out_dir, 'samples')
    assert len(os.listdir(os.path.join(samples, 'generations'))) == 2
    # the attributes come from tensorflow-datasets (mocked): the paper's 18 by default
    assert os.path.exists(os.path.join(samples, 'attributes.png'))
    [vectors] = glob.glob(os.path.join(cfg.out_dir, 'metrics_cache', 'labels_*.npz'))
    assert np.load(vectors)['vectors'].shape == (40, 128)


def test_without_discriminate_recon_d_makes_no_reconstruction(tmp_path, step_for):
    cfg = tiny(config.mnist, tmp_path, discriminate_recon=False)
    _, _, step = step_for(cfg)
    metrics = step(tf.random.uniform([4, 28, 28, 1], seed=1), tf.constant(1.0))
    assert 'd_x_tilde' not in metrics and np.isfinite(float(metrics['discriminator_loss']))
    assert {'dis_l', 'gan', 'decoder_loss'} <= set(metrics)  # the decoder still compares x~ with x
