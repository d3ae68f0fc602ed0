"""D's overfitting, logged once an epoch (vae_gan.log_overfitting): ADA's r_t and r_v and D's mean logits on
fixed training and validation images and generations, as D's own logits give them, in scores.jsonl and
TensorBoard every epoch, without changing the training by a bit."""
import json
import os

import imageio.v3 as iio
import numpy as np
import pytest
import tensorflow as tf

import config
import configurator
import metrics
import models
import vae_gan
from conftest import fake_scores, tiny


def _scalars(out_dir, prefix):
    """{(tag, step): value} of the run's TensorBoard scalars whose tag starts with prefix."""
    logs = os.path.join(out_dir, 'logs')
    return {(v.tag, event.step): float(tf.make_ndarray(v.tensor)) for name in sorted(os.listdir(logs))
            for event in tf.compat.v1.train.summary_iterator(os.path.join(logs, name))
            for v in event.summary.value if v.tag.startswith(prefix)}


def test_the_figures_are_d_s_logits_on_the_first_images_of_each_split_every_epoch(trained_run):
    records = metrics.read_scores(trained_run)  # TINY: 2 epochs of 2 steps, no scoring
    assert [(r['epoch'], r['step']) for r in records] == [(1, 2), (2, 4)]
    logged = _scalars(trained_run, 'overfitting/')
    assert logged == pytest.approx({(f'overfitting/{name}', r['step']): value
                                    for r in records for name, value in r['overfitting'].items()}, rel=1e-6)
    assert len(logged) == 10  # r_t, r_v, train, validation, generations, each epoch
    # D as epoch 2 left it, on what a reader picks by hand: 4 batches of 4, the folder's first 16 files
    # (its training part: 000-031.png) and its validation part (032-035.png), and generations from the
    # first 16 codes of models.prior_z (the grids' codes first); each in training mode, batch by batch
    cfg = configurator.run_config(trained_run)
    run = vae_gan.build(cfg)
    run.checkpoint.restore(os.path.join(trained_run, 'checkpoints', 'ckpt-2')).expect_partial()
    read = lambda numbers: np.stack([iio.imread(os.path.join(cfg.data_dir, f'{i:03d}.png'))
                                     for i in numbers]).reshape(-1, 4, 28, 28, 1).astype(np.float32) / 255
    z = models.prior_z(16, cfg.z_dim, cfg.seed).numpy().reshape(4, 4, cfg.z_dim)
    d = lambda x: run.nets.discriminator(x, training=True)[1].numpy().ravel()
    logits = {'train': np.concatenate([d(x) for x in read(range(16))]),
              'validation': d(read(range(32, 36))[0]),
              'generations': np.concatenate([d(run.nets.decoder(c, training=True)) for c in z])}
    mean = {name: logits[name].astype(np.float64).mean() for name in logits}
    expected = {'r_t': np.sign(logits['train'] - np.log(1 / 2)).mean(), **mean,  # about D's neutral: 2 fakes a real
                'r_v': (mean['train'] - mean['validation']) / (mean['train'] - mean['generations'])}
    assert len(set(logits['train'])) == 16  # 16 images, no batch repeated
    assert records[1]['overfitting'] == pytest.approx(expected, rel=1e-5)


def test_ada_s_heuristics_by_hand():
    figures = metrics.overfitting(train=np.float32([3, -1, 2, 0]), validation=np.float32([1, -1]),
                                  generations=np.float32([-2, -4]))
    assert figures == {'r_t': 0.25, 'r_v': 0.25, 'train': 1.0, 'validation': 0.0, 'generations': -3.0}  # 1 / (1 + 3)
    assert metrics.overfitting(np.float32([3, -1, 2, 0]), [0], [0], neutral=-1.5)['r_t'] == 1.0  # all above neutral


@pytest.mark.parametrize('preset', ['celeb_a', 'celeb_a_paper'])  # the step; the one-pass step, D on [x, x_p]
def test_the_logging_reads_d_as_it_trains_and_changes_no_state(preset, step_for, tmp_path):
    """D and the decoder have batch norms here: a call in training mode would move their statistics."""
    cfg = tiny(config.PRESETS[preset], tmp_path, image_size=16, z_dim=8)
    nets, _, _ = step_for(cfg)
    variables = [v for name in ('encoder', 'decoder', 'discriminator') for v in nets[name].variables]
    before = [v.numpy().copy() for v in variables]
    x = tf.random.stateless_uniform([4, 16, 16, 3], seed=[1, 2], minval=-1.0)
    z = tf.random.stateless_normal([4, 8], seed=[3, 4])
    real, generated = vae_gan.make_d_logits(cfg, nets)(x, z)
    assert all(np.array_equal(a, v.numpy()) for a, v in zip(before, variables))  # not a bit moved
    generations = nets.decoder(z, training=True)  # the same in training mode, which moves the statistics
    if cfg.concat_batches:
        logits = nets.discriminator(tf.concat([x, generations], 0), training=True)[1]
        expected = logits[:4], logits[4:]
    else:
        expected = nets.discriminator(x, training=True)[1], nets.discriminator(generations, training=True)[1]
    assert np.array_equal(real.numpy(), expected[0].numpy()) and np.array_equal(generated.numpy(), expected[1].numpy())
    assert sum(not np.array_equal(a, v.numpy()) for a, v in zip(before, variables)) >= 4  # D's, the decoder's


def test_a_run_stopped_before_its_first_checkpoint_starts_over(run_copy):
    """D's records come every epoch, before the first checkpoint too: as the grids, they count as a run that
    trained only past checkpoint_every. (A resume redoing epoch 2's record: test_faults.)"""
    before = metrics.read_scores(run_copy)
    (run_copy / 'scores.jsonl').write_text(json.dumps(before[0]) + '\n')
    for folder in ('checkpoints', 'op-gen', 'op-recons', 'op-real'):
        for name in os.listdir(run_copy / folder):
            if name.startswith('ckpt-') or '0001' not in name:
                os.remove(run_copy / folder / name)
    configurator.unseen_checkpoints(str(run_copy))  # not refused: it has not passed checkpoint_every
    (run_copy / 'op-gen' / 'epoch_0002.png').write_bytes(b'')  # a grid past it: it saved one, which is gone
    with pytest.raises(configurator.UsageError, match='holds no checkpoint'):
        configurator.unseen_checkpoints(str(run_copy))


def test_the_plot_draws_d_s_panels_from_any_record_that_holds_them(trained_run, tmp_path, capsys, monkeypatch):
    from matplotlib.axes import Axes
    drawn, draw = [], Axes.plot
    monkeypatch.setattr(Axes, 'plot', lambda ax, *a, **k: drawn.append(k['label']) or draw(ax, *a, **k))
    metrics.main(['--plot', str(tmp_path / 'overfitting.png'), str(trained_run)])  # D's records alone
    assert iio.imread(tmp_path / 'overfitting.png').shape[:2] == (380, 1950)  # six panels
    assert {'train', 'validation', 'generations'} <= {label.split(', ')[-1] for label in drawn}  # D's lead too
    monkeypatch.undo()
    # scorings every other epoch, each with D's figures, and D's records alone between them
    run = tmp_path / 'run'
    os.makedirs(run)
    overfitting = metrics.read_scores(trained_run)[0]['overfitting']
    scoring = dict(fake_scores(5.0), epoch=2, step=4, figure=5.0, best=True, overfitting=overfitting)
    lines = [dict(epoch=1, step=2, overfitting=overfitting), scoring, dict(epoch=3, step=6, overfitting=overfitting),
             dict(scoring, epoch=4, step=8, figure=4.0)]
    (run / metrics.SCORES).write_text(''.join(json.dumps(line) + '\n' for line in lines))
    capsys.readouterr()
    metrics.main(['--plot', str(tmp_path / 'both.png'), str(run)])
    assert iio.imread(tmp_path / 'both.png').shape[:2] == (380, 1950)
    assert 'note' not in capsys.readouterr().out  # D's records are no cut scores
