"""A run's checkpoints by what they hold: a save is built whole beside its place and never written
through a link; the newest is the one of the most epochs (as recorded in it), whatever its number; an
epoch's checkpoint is saved before anything optional can fail; a render holds its checkpoint from its start."""
import dataclasses
import json
import os
import shutil
import signal

import keras
import pytest
import tensorflow as tf

import best_model
import checkpoints
import config
import configurator
import images
import models
import run_folder
import vae_gan
import vae_gan_inference as inference
from conftest import TINY, contents


def _copy(folder, number, to):
    """ckpt-<number>.* copied in `folder` as ckpt-<to>.* (a stale copy under another number)."""
    for name in os.listdir(folder):
        if name.startswith(f'ckpt-{number}.'):
            shutil.copy(os.path.join(folder, name), os.path.join(folder, f'ckpt-{to}.' + name.split('.', 1)[1]))


def test_a_link_planted_as_a_save_s_temporary_folder_is_never_written_through(run_copy, tmp_path, capsys):
    ckpts = str(run_copy / 'checkpoints')
    elsewhere = tmp_path / 'elsewhere'  # what TensorFlow writes in ckpt-3_temp/, and one file more
    elsewhere.mkdir()
    for name in ('part-00000-of-00001.data-00000-of-00001', 'part-00000-of-00001.index', 'notes.txt'):
        (elsewhere / name).write_text('not the run\'s')
    before = contents(elsewhere)
    os.symlink(elsewhere, os.path.join(ckpts, 'ckpt-3_temp'))  # planted while the run trains
    os.symlink(elsewhere / 'notes.txt', os.path.join(ckpts, 'ckpt-3.index'))
    saved = checkpoints.save(tf.train.Checkpoint(epoch=tf.Variable(3, dtype=tf.int64)), ckpts, 3)
    assert contents(elsewhere) == before  # nothing written or deleted there
    assert checkpoints.damage(saved) is None and checkpoints.epoch_of(saved) == 3
    printed = capsys.readouterr().out
    assert 'removed ckpt-3_temp' in printed and 'removed ckpt-3.index' in printed
    assert not os.path.lexists(os.path.join(ckpts, 'ckpt-3_temp')) and not os.path.islink(saved + '.index')
    assert not [n for n in os.listdir(ckpts) if n.endswith('_temp')]  # its own temporary folder gone too


def test_the_newest_is_the_most_epochs_not_the_largest_number_and_an_edited_learning_rate_is_resumed_with(
        run_copy, capsys, monkeypatch):
    """One resume for two faults in separate places: stale copies among the checkpoints, and config.py edited
    since the run started (tests/test_loop.py's config.py edits): neither hides the other's lines."""
    ckpts = run_copy / 'checkpoints'
    _copy(ckpts, 1, 9)  # stale copies named ckpt-9 and ckpt-3 that hold epoch 1
    _copy(ckpts, 1, 3)
    kept = contents(ckpts)
    cfg = configurator.for_run({'out_dir': str(run_copy)})[0]
    assert inference.find_checkpoint(cfg, 'newest') == str(ckpts / 'ckpt-2')
    assert checkpoints.newest(str(ckpts)) == (str(ckpts / 'ckpt-2'), 2)  # the stopped line's
    capsys.readouterr()
    monkeypatch.setitem(config.PRESETS, 'mnist', dataclasses.replace(config.mnist, lr_decoder=5e-4))  # config.py edited
    seen = []
    epoch = vae_gan.train_epoch

    def spy(cfg, run, *args):
        result = epoch(cfg, run, *args)
        seen.append({name: float(models.unscaled(run.nets.optimizers[name]).learning_rate) for name in
                     ('encoder', 'decoder', 'discriminator')})
        return result
    monkeypatch.setattr(vae_gan, 'train_epoch', spy)
    vae_gan.main(TINY + [f'--out_dir={run_copy}', '--epochs=3'])
    printed = capsys.readouterr().out
    assert f'resuming from {ckpts / "ckpt-2"}: 2 epochs done' in printed
    assert 'ckpt-9 holds 1 epoch, not 9' in printed and 'ckpt-3 holds 1 epoch, not 3' in printed  # named
    assert checkpoints.newest(str(ckpts)) == (str(ckpts / 'ckpt-3'), 3)  # the stale ckpt-3 replaced: it was older
    now = contents(ckpts)  # the rotation kept the one resumed from; the stale copy went first
    assert all(now[n] == kept[n] for n in kept if n.startswith(('ckpt-2.', 'ckpt-1.')))
    assert sorted(now) == sorted(n for n in kept if not n.startswith('ckpt-9'))
    # the edited learning rate reaches the resumed run's optimizer
    assert ('changed since the run last started: epochs 2 -> 3 (command line), lr_decoder 0.001 -> 0.0005 '
            '(config.py)') in printed
    assert seen == [{'encoder': pytest.approx(1e-3), 'decoder': pytest.approx(5e-4),
                     'discriminator': pytest.approx(1e-3)}]
    assert json.load(open(run_copy / 'config.json'))['lr_decoder'] == 5e-4  # the effective settings, as always


def test_a_failing_scorer_after_an_epoch_keeps_the_epoch_s_checkpoint_and_checkpoints_move_between_options(
        run_copy, capsys, monkeypatch):
    """One resume for both: a scorer that fails after the epoch, in the float16, simultaneous-update resume of
    the shared float32 run (tests/test_speed_options.py's options: its optimizers inside a LossScaleOptimizer),
    then rendered in float32: the checkpoint is the same whatever the precision or the step. (bfloat16 has no
    loss scaling: its optimizers are float32's; XLA compiles the same variables.)"""
    def unwritable(*args, **kwargs):
        raise PermissionError(13, 'Permission denied', str(run_copy / 'metrics_cache' / 'features.npy'))
    monkeypatch.setattr(best_model, 'start', lambda cfg, done: {})  # scores due, no networks loaded
    monkeypatch.setattr(best_model, 'score', unwritable)
    try:
        with pytest.raises(SystemExit) as stop:
            vae_gan.main(TINY + [f'--out_dir={run_copy}', '--epochs=3', '--eval_every=1',
                                 '--mixed_precision=float16', '--update=simultaneous'])
    finally:
        keras.mixed_precision.set_global_policy('float32')
    assert 'Permission denied' in str(stop.value.code)
    assert checkpoints.newest(str(run_copy / 'checkpoints')) == (str(run_copy / 'checkpoints' / 'ckpt-3'), 3)
    printed = capsys.readouterr().out
    assert 'epoch 3/3' in printed and '2 epochs done' in printed
    inference.render(*inference.load_config([f'--out_dir={run_copy}', '--num_samples=3']))
    assert len(os.listdir(os.path.join(run_copy, 'samples', 'generations'))) == 3
    assert keras.mixed_precision.global_policy().name == 'float32'  # rendered in float32


def test_a_render_whose_checkpoint_goes_after_its_start_completes(run_copy, monkeypatch):
    ckpts, write_numbered = run_copy / 'checkpoints', images.write_numbered

    def rotated_away_meanwhile(*args):  # a training run's rotation, once the render's long work has begun
        for name in os.listdir(ckpts):
            if name.startswith('ckpt-2.'):
                os.remove(ckpts / name)
        return write_numbered(*args)
    monkeypatch.setattr(images, 'write_numbered', rotated_away_meanwhile)
    inference.main([f'--out_dir={run_copy}', '--num_samples=4', '--metrics'])
    samples = run_copy / 'samples'
    assert not os.path.exists(ckpts / 'ckpt-2.index') and os.path.exists(samples / 'generations.png')
    scores = run_folder.read_json(str(samples / 'metrics.json'))
    assert scores['epoch'] == 2 and scores['checkpoint'] == str(ckpts / 'ckpt-2')


# A grid folder replaced by a link mid-run (after the epoch's checkpoint is saved): tests/test_paths.py's run with
# a checkpoint of another architecture copied in (one training for both).


def test_a_fifo_among_a_checkpoint_s_files_is_passed_over_never_waited_on_and_a_dead_run_s_lock_is_taken_over(
        run_copy, capsys):
    """One resume for two faults in separate places: a FIFO among the checkpoints' files, and the lock a killed
    run left (tests/test_faults.py's one run per out_dir), with a changed batch size."""
    folder = run_copy / 'checkpoints'
    signal.alarm(120)  # a hang ends this worker, failing the test, not the suite (a loaded machine takes a while)
    try:
        for number, part in ((1, 'data-00000-of-00001'), (2, 'index')):
            os.rename(folder / f'ckpt-{number}.{part}', folder / 'kept')
            os.mkfifo(folder / f'ckpt-{number}.{part}')  # read, it waits for a writer forever
            assert f'ckpt-{number}.{part} is not a regular file' in checkpoints.damage(str(folder / f'ckpt-{number}'))
            if number == 1:
                os.replace(folder / 'kept', folder / f'ckpt-1.{part}')
        (run_copy / 'lock').write_text('process 999999 on elsewhere since yesterday\n')  # left by a killed run
        vae_gan.main(TINY + [f'--out_dir={run_copy}', '--epochs=3', '--batch_size=2'])  # resumes from ckpt-1
    finally:
        signal.alarm(0)
    printed = capsys.readouterr().out
    assert 'ckpt-2 is damaged' in printed and checkpoints.epoch_of(str(folder / 'ckpt-3')) == 3
    assert 'taking over the lock of process 999999' in printed and not os.path.exists(run_copy / 'lock')
    # resuming names what differs from the run's last start, and config.json records the new settings
    assert ('changed since the run last started: epochs 2 -> 3 (command line), batch_size 4 -> 2 (command line)'
            in printed)
    saved = json.load(open(run_copy / 'config.json'))
    assert (saved['batch_size'], saved['z_dim'], saved['epochs']) == (2, 8, 3)
