"""Faults a tired user, a crash or a full disk cause: each ends in one line (`error: ...`, no traceback)
and a non-zero exit, or goes on from the newest intact checkpoint, and no checkpoint file that existed
before changes. The scripts' main() runs in this process (no TensorFlow start-up per case); the lock
and Ctrl-C cases run real processes."""
import dataclasses
import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import imageio.v3 as iio
import numpy as np
import pytest
import tensorflow as tf

import best_model
import checkpoints
import config
import configurator
import data
import metrics
import run_folder
import vae_gan
import vae_gan_inference as inference
from conftest import ROOT, TINY, contents, fake_scores

@pytest.fixture
def run(run_copy):
    """A copy of the shared trained run (conftest.trained_run: ckpt-1, ckpt-2), to damage."""
    return run_copy


def _hashes(folder):
    return {n: hashlib.sha256(open(os.path.join(folder, n), 'rb').read()).hexdigest() for n in os.listdir(folder)
            if n.startswith('ckpt-') and os.path.isfile(os.path.join(folder, n))}


def _fails(main, args, capsys, message):
    """main(args) exits non-zero with the one line `error: ...message...`."""
    with pytest.raises(SystemExit) as stop:
        main(args)
    line = str(stop.value.code)
    assert line.startswith('error: ') and '\n' not in line and message in line, line
    assert 'Traceback' not in capsys.readouterr().err
    return line


def _epochs_in(folder):
    return checkpoints.epoch_of(checkpoints.newest_intact(folder)[0])


def _resumes_at(run):
    """The epochs done that training's own resume restores in `run` (the shared run's command), nothing trained."""
    cfg, _ = configurator.for_training(configurator.parse_overrides(TINY + [f'--out_dir={run}', '--epochs=9']))
    return vae_gan.resume(cfg, vae_gan.build(cfg))


# ---- Damaged checkpoints ---------------------------------------------------------------------------

# A damaged index file, a cut-off save and lock garbage cleared, and the run folder gone during a save named:
# tests/test_paths.py's reference run that cannot see its checkpoints (one training for both).


def _truncate_data(prefix):
    data = prefix + '.data-00000-of-00001'
    open(data, 'r+b').truncate(os.path.getsize(data) // 2)


def _flip_bytes(prefix):
    data = prefix + '.data-00000-of-00001'
    contents = bytearray(open(data, 'rb').read())
    contents[len(contents) // 2] ^= 0xFF
    open(data, 'wb').write(bytes(contents))


def _truncate_index(prefix):
    open(prefix + '.index', 'r+b').truncate(40)


@pytest.mark.parametrize('damage', [_truncate_data, _flip_bytes, _truncate_index])
def test_a_damaged_checkpoint_does_not_count(run, damage):
    ckpts = run / 'checkpoints'
    damage(str(ckpts / 'ckpt-2'))
    latest, damaged = checkpoints.newest_intact(str(ckpts))
    assert latest == str(ckpts / 'ckpt-1') and [p for p, _ in damaged] == [str(ckpts / 'ckpt-2')]


def test_a_damaged_latest_checkpoint_is_kept_aside_and_the_one_before_resumes(run, capsys):
    ckpts = run / 'checkpoints'
    _truncate_data(str(ckpts / 'ckpt-2'))
    before = _hashes(ckpts)
    # inference passes over it with a note; naming it is one line
    cfg, checkpoint, _ = inference.load_config([f'--out_dir={run}'])
    assert checkpoint.endswith('ckpt-1') and 'ckpt-2 is damaged' in capsys.readouterr().out
    _fails(inference.main, [f'--checkpoint={ckpts / "ckpt-2"}'], capsys, 'ckpt-2 is damaged')
    assert _hashes(ckpts) == before
    # training keeps it as ckpt-2-damaged.* and goes on from ckpt-1, epoch 2's record in scores.jsonl redone
    records = metrics.read_scores(str(run))
    vae_gan.main(TINY + [f'--out_dir={run}', '--epochs=3'])
    assert 'ckpt-2 is damaged' in capsys.readouterr().out
    names = os.listdir(ckpts)
    assert 'ckpt-2-damaged.index' in names and _hashes(ckpts)['ckpt-1.index'] == before['ckpt-1.index']
    assert _epochs_in(ckpts) == 3 and checkpoints.newest_intact(str(ckpts))[1] == []
    redone = metrics.read_scores(str(run))  # one record an epoch: epoch 1's kept, 2 and 3 from the resumed run
    assert [(r['epoch'], r['step']) for r in redone] == [(1, 2), (2, 4), (3, 6)]
    assert redone[0] == records[0] and redone[1] != records[1]


def test_every_checkpoint_damaged_is_one_line_and_nothing_moves(run, capsys):
    ckpts = run / 'checkpoints'
    for n in (1, 2):
        _truncate_data(str(ckpts / f'ckpt-{n}'))
    before = _hashes(ckpts)
    _fails(vae_gan.main, TINY + [f'--out_dir={run}', '--epochs=3'], capsys, 'no intact checkpoint in')
    _fails(inference.main, [f'--out_dir={run}'], capsys, 'no intact checkpoint in')
    assert _hashes(ckpts) == before and not os.path.exists(run / 'lock')


# ---- A state that cannot go on is never saved ------------------------------------------------------

def test_an_exploding_learning_rate_in_the_last_step_is_not_saved(run, capsys):
    ckpts = run / 'checkpoints'
    before, names = _hashes(ckpts), sorted(os.listdir(ckpts))
    # one step, whose last update (the decoder's) explodes: every loss of the step came from the weights
    # before it, so only the check before saving sees it
    line = _fails(vae_gan.main, TINY + [f'--out_dir={run}', '--epochs=3', '--steps_per_epoch=1', '--lr_decoder=1e30'],
                  capsys, 'are not finite: not saved')
    assert 'the run stays at' in line and 'ckpt-2' in line
    assert _hashes(ckpts) == before and sorted(os.listdir(ckpts)) == names and not os.path.exists(run / 'lock')
    # a sane rerun goes on from ckpt-2 (training's own resume)
    assert _resumes_at(run) == 2


# ---- One run per out_dir ---------------------------------------------------------------------------

def test_a_second_run_refuses(run, capsys):
    """(A dead run's lock taken over: tests/test_checkpoint_order.py's resume past a FIFO, one resume for both.)"""
    holder = run_folder.Lock(str(run)).acquire()  # another open file: the same as another process
    try:
        line = _fails(vae_gan.main, TINY + [f'--out_dir={run}', '--epochs=3'], capsys, 'is in use by process')
        assert f'process {os.getpid()} on ' in line and 'pass another --out_dir' in line
    finally:
        holder.release()


def test_ctrl_c_says_where_the_run_is_and_how_to_go_on(run):
    """The terminal closed, then Ctrl-C, while the run saves a checkpoint each step: one `stopped:` line naming
    the newest checkpoint, whole. (A Ctrl-C in a step that has saved nothing: tests/test_edges.py.)"""
    signals, code = [signal.SIGHUP, signal.SIGINT], 129
    args = TINY + [f'--out_dir={run}', '--epochs=100000', '--steps_per_epoch=1', '--sample_every=100000']
    process = subprocess.Popen([sys.executable, os.path.join(ROOT, 'vae_gan.py')] + args, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, cwd=run.parent,
                               env={**{k: v for k, v in os.environ.items() if k != 'TF_CPP_MIN_LOG_LEVEL'},
                                    'PYTHONUNBUFFERED': '1'})  # the scripts' own default log level
    for line in process.stdout:  # wait until it trains and has saved a few
        if line.startswith('epoch 6/'):
            break
    for signum in signals:
        process.send_signal(signum)
    stderr, stopped = '', None
    for line in process.stderr:  # the process ends at once after its last line (0.1 s idle; not after TensorFlow's teardown)
        stderr += line
        if line.startswith('stopped:'):
            stopped = time.perf_counter()
    process.wait(timeout=60)
    assert stopped and time.perf_counter() - stopped < 5, f'{time.perf_counter() - stopped:.1f} s from the stopped line to the exit'
    assert process.returncode == code, stderr[-2000:]
    last = stderr.strip().splitlines()[-1]
    assert 'Traceback' not in stderr and not os.path.exists(run / 'lock')
    assert 'cuInit' not in stderr and 'remapper failed' not in stderr  # TensorFlow's C++ error lines hidden
    held = checkpoints.newest_intact(str(run / 'checkpoints'))[0]  # the newest checkpoint reads back whole and holds the run
    assert last.startswith(f'stopped: {held} holds the run ({checkpoints.epoch_of(held)} epochs); go on with')
    assert checkpoints.epoch_of(held) >= 5 and not [n for n in os.listdir(run / 'checkpoints') if 'damaged' in n]


# ---- A user's faults: one line, nothing written ----------------------------------------------------

@pytest.mark.parametrize('args, message', [
    (['--seed=-1'], 'seed must be a whole number from 0'),
    (['--lr_encoder=inf'], 'lr_encoder must be a finite number, not inf'),
    (['--gamma_enc=nan'], 'gamma_enc must be a finite number, not nan'),
    (['--gamma_dec=-1'], 'gamma_dec must be >= 0'),
])
def test_bad_numbers_are_refused_before_anything_is_written(tmp_path, capsys, args, message):
    _fails(vae_gan.main, args + [f'--out_dir={tmp_path / "new"}'], capsys, message)
    assert os.listdir(tmp_path) == []


def test_out_dir_that_is_a_file_or_cannot_be_written(tmp_path, capsys, digits):
    (tmp_path / 'file').write_text('x')
    _fails(vae_gan.main, TINY + [f'--data_dir={digits}', f'--out_dir={tmp_path / "file"}'], capsys, 'is a file')
    try:  # a place even root cannot write, where the system has one
        os.mkdir('/sys/vae_gan_run')
        os.rmdir('/sys/vae_gan_run')
    except OSError:
        _fails(vae_gan.main, TINY + [f'--data_dir={digits}', '--out_dir=/sys/vae_gan_run'], capsys,
               'cannot write to /sys/vae_gan_run')


def test_a_full_disk_while_saving_keeps_the_checkpoints(run, capsys, monkeypatch):
    def full(self, prefix, **kwargs):  # what TensorFlow 2.21 raised on a full tmpfs, its part file left behind
        os.makedirs(f'{prefix}_temp')
        open(f'{prefix}_temp/part-00000-of-00001.data-00000-of-00001.tempstate1', 'wb').write(b'0')
        raise tf.errors.ResourceExhaustedError(None, None, '{{function_node __wrapped__SaveV2_dtypes_2_device_/job:'
                                               f'localhost/replica:0/task:0/device:CPU:0}}}} {prefix}_temp/part-00000-'
                                               'of-00001.data-00000-of-00001.tempstate1; No space left on device '
                                               '[Op:SaveV2]')
    monkeypatch.setattr(tf.train.Checkpoint, 'write', full)
    before = _hashes(run / 'checkpoints')
    line = _fails(vae_gan.main, TINY + [f'--out_dir={run}', '--epochs=3'], capsys,
                  f'saving {run}/checkpoints/ckpt-3 failed: no space left on device')
    assert 'checkpoints saved before stay in' in line and 'run the same command again' in line
    assert 'function_node' not in line and '[Op:' not in line
    assert _hashes(run / 'checkpoints') == before and not os.path.exists(run / 'lock')
    assert not [n for n in os.listdir(run / 'checkpoints') if n.endswith('_temp')]  # the disk as full as before


def test_a_garbage_config_json(run, capsys):
    (run / 'config.json').write_text('{"z_dim": 8, ')
    before = _hashes(run / 'checkpoints')
    _fails(vae_gan.main, TINY + [f'--out_dir={run}'], capsys, 'config.json cannot be read as a config')
    _fails(inference.main, [f'--out_dir={run}'], capsys, 'config.json cannot be read as a config')
    os.remove(run / 'config.json')
    os.mkdir(run / 'config.json')  # a folder in its place: not a new run with the preset's settings
    for main in (vae_gan.main, inference.main):
        _fails(main, [f'--out_dir={run}'], capsys, 'config.json cannot be read as a config')
    assert _hashes(run / 'checkpoints') == before


def test_inference_faults(run, tmp_path, capsys):
    (tmp_path / 'taken').write_text('x')
    _fails(inference.main, [f'--out_dir={run}', f'--export={tmp_path / "taken"}'], capsys, 'is a file')
    for few in (1, 3):  # precision and recall need 3 neighbours of each image
        _fails(inference.main, [f'--out_dir={run}', '--metrics', f'--metric_samples={few}'], capsys, '--metric_samples=4 or more')
    # the folder of checkpoints, as an error message suggests: rendered with the run's own config, into the run
    cfg, checkpoint, _ = inference.load_config([f'--checkpoint={run / "checkpoints"}'])
    assert cfg.out_dir == str(run) and cfg.z_dim == 8 and checkpoint.endswith('ckpt-2')


def _images(folder, count, write):
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(count):
        write(folder, i, rng.integers(0, 256, (28, 28, 3), np.uint8))
    return folder


def test_batch_larger_than_the_data_even_with_steps_per_epoch(tmp_path, capsys, digits):
    _fails(vae_gan.main, [f'--data_dir={digits}', f'--out_dir={tmp_path / "new"}',
                          '--batch_size=64', '--steps_per_epoch=3'], capsys, 'batch_size 64 is larger than the 32')
    assert not os.path.exists(tmp_path / 'new')


def test_gif_frames_are_converted_for_a_grey_preset(tmp_path):
    """Colour GIFs (decoded as frames) reach a grey preset's networks as grey images, in training's
    batches and in the grids' held-out ones."""
    gifs = _images(tmp_path / 'gifs', 20, lambda f, i, image: iio.imwrite(f / f'{i:03d}.gif', image))
    cfg = configurator.checked(dataclasses.replace(config.mnist, data_dir=str(gifs), batch_size=4, shuffle_buffer=16))
    batch = next(iter(data.train_dataset(cfg, seed=0)[0])).numpy()
    held_out = next(iter(data.held_out_dataset(cfg, 8))).numpy()
    assert batch.shape == (4, 28, 28, 1) and held_out.shape == (2, 28, 28, 1)  # the last 10% of 20 files held out
    assert batch.std() > 0.1 and -1 <= batch.min() and batch.max() <= 1


def test_nothing_usable_is_one_line(tmp_path, capsys):
    def broken(folder, i, image):
        (folder / f'{i:03d}.png').write_bytes(b'\x89PNG half a file')
    bad = _images(tmp_path / 'bad', 20, broken)
    _fails(vae_gan.main, TINY + [f'--data_dir={bad}', f'--out_dir={tmp_path / "run"}'], capsys, 'no readable held-out')
    # readable training images, an unreadable held-out part (the last 10% by name)
    good = _images(tmp_path / 'good', 20, lambda f, i, image: tf.io.write_file(
        str(f / f'{i:03d}.png'), tf.io.encode_png(image[..., :1])))
    for i in (18, 19):
        (good / f'{i:03d}.png').write_bytes(b'\x89PNG half a file')
    _fails(vae_gan.main, TINY + [f'--data_dir={good}', f'--out_dir={tmp_path / "run"}'], capsys,
           'no readable held-out images')
    # and the other way round
    for i in range(20):
        if i < 18:
            (good / f'{i:03d}.png').write_bytes(b'\x89PNG half a file')
        else:
            tf.io.write_file(str(good / f'{i:03d}.png'), tf.io.encode_png(np.zeros((28, 28, 1), np.uint8)))
    _fails(vae_gan.main, TINY + [f'--data_dir={good}', f'--out_dir={tmp_path / "run"}', '--batch_size=1'], capsys,
           'not one batch of 1 readable training images')
    # some readable training images, fewer than a batch: the message says so, not that there are none
    for i in range(3):
        tf.io.write_file(str(good / f'{i:03d}.png'), tf.io.encode_png(np.zeros((28, 28, 1), np.uint8)))
    line = _fails(vae_gan.main, TINY + [f'--data_dir={good}', f'--out_dir={tmp_path / "run"}'], capsys,
                  'not one batch of 4 readable training images')
    assert 'pass a smaller --batch_size' in line
    assert not os.path.exists(tmp_path / 'run')


def test_offline_the_failure_is_one_line_and_leaves_no_folders(tmp_path, capsys, monkeypatch):
    import tensorflow_datasets as tfds
    root = tmp_path / 'tensorflow_datasets'
    (root / 'cifar10').mkdir(parents=True)  # another dataset, there before: it stays

    class Offline:  # a builder whose download makes its folders and partial files, then fails
        data_dir = str(root / 'mnist' / '3.0.1')

        def is_prepared(self):
            return False

        def download_and_prepare(self):
            os.makedirs(self.data_dir)
            os.makedirs(root / 'downloads' / 'mnist')
            (root / 'downloads' / 'mnist' / 'train.gz.tmp.1').write_bytes(b'')
            raise ConnectionError('no route to host')
    monkeypatch.setattr(tfds, 'builder', lambda name, **kwargs: Offline())
    monkeypatch.setattr(data, 'offline', lambda: '')  # a name service answers: the download is tried, and fails
    _fails(vae_gan.main, [f'--out_dir={tmp_path / "run"}'], capsys, 'could not download mnist (ConnectionError)')
    assert os.listdir(root) == ['cifar10'] and not os.path.exists(tmp_path / 'run')


# ---- Every other command: rendering, scoring, exporting, and the run's side files ----------------

def _leftovers(folder):
    """Temporary files or folders (run_folder.written's dot names) anywhere under folder."""
    return [os.path.join(d, n) for d, dirs, names in os.walk(folder) for n in dirs + names if n.startswith('.tmp')
            or n.startswith('.samples') or n.startswith('.best')]


def _ended(code, capsys, fault):
    """The one line a command ended with, after `fault`: a full disk's `error: ...` (exit 1), or Ctrl-C's
    `stopped: ...` on stderr (exit 130); no traceback either way."""
    err = capsys.readouterr().err
    assert 'Traceback' not in err
    if isinstance(fault, KeyboardInterrupt):
        assert code == 130
        line = err.strip().splitlines()[-1]
        assert line.startswith('stopped: ')
        return line
    assert str(code).startswith('error: ') and '\n' not in str(code) and 'No space left on device' in str(code)
    return str(code)


def test_a_signal_lost_where_it_struck_still_stops_the_run(run, capsys, monkeypatch):
    """A KeyboardInterrupt raised inside a destructor or a callback is reported and dropped by Python; the
    run stops before its next step all the same, as after Ctrl-C: one line, exit 128 + the signal, the
    checkpoints as they were, no lock left."""
    build = vae_gan.build

    def build_then_lose_a_signal(cfg):
        try:  # as when the terminal closes while a destructor runs during the start
            run_folder._interrupt(signal.SIGHUP, None)
        except KeyboardInterrupt:
            pass
        return build(cfg)
    monkeypatch.setattr(vae_gan, 'build', build_then_lose_a_signal)
    before = _hashes(run / 'checkpoints')
    with pytest.raises(SystemExit) as stop:
        vae_gan.main(TINY + [f'--out_dir={run}', '--epochs=3'])
    assert stop.value.code == 128 + signal.SIGHUP
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith(f'stopped: {run}/checkpoints/ckpt-2 holds the run')
    assert _hashes(run / 'checkpoints') == before and not os.path.exists(run / 'lock')


def test_the_interrupt_handler_ignores_a_second_signal():
    with pytest.raises(KeyboardInterrupt):
        run_folder._interrupt(signal.SIGINT, None)
    assert all(signal.getsignal(s) is run_folder._ignored for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP))
    run_folder._ignored(signal.SIGINT, None)  # a second signal, already pending: nothing raised


def test_a_damaged_metrics_cache_is_computed_again(run, capsys):
    inference.main([f'--out_dir={run}', '--metrics', '--num_samples=4'])
    scores = json.load(open(run / 'samples' / 'metrics.json'))
    cache = sorted(os.path.join(run, 'metrics_cache', n) for n in os.listdir(run / 'metrics_cache'))
    assert len(cache) == 2  # one per feature space
    cut = lambda p: open(p, 'r+b').truncate(128)  # what a kill mid-write left, before writes were atomic
    other = lambda p: np.save(p, np.full((3, 7), np.nan, np.float32))  # reads, but not these features
    cut(cache[0])
    other(cache[1])  # (garbage and every other damage: tests/test_reader.py)
    capsys.readouterr()
    inference.main([f'--out_dir={run}', '--metrics', '--num_samples=4'])
    printed = capsys.readouterr().out
    assert printed.count('does not read back as these features') == 2 and 'computing them again' in printed
    assert json.load(open(run / 'samples' / 'metrics.json'))['features'] == scores['features']  # the same scores
    assert all(np.load(path).shape[0] == 4 for path in cache) and not _leftovers(run)


def test_an_export_is_whole_or_absent_and_never_mixed(run, tmp_path, capsys, monkeypatch):
    folder = tmp_path / 'export'
    inference.main([f'--out_dir={run}', f'--export={folder}'])
    exported = contents(folder)
    # the same folder again, or an older checkpoint into it: refused, the export as it was
    for args in ([f'--out_dir={run}'], [f'--checkpoint={run}/checkpoints/ckpt-1']):
        _fails(inference.main, args + [f'--export={folder}'], capsys, 'already holds an export of epoch 2')
        assert contents(folder) == exported
    _fails(inference.main, [f'--out_dir={run}', f'--export={run / "samples"}'], capsys, 'writes itself')
    # a full disk or Ctrl-C while exporting: no folder, nothing left beside it
    for fault, code in ((OSError(28, 'No space left on device', 'config.json'), 1), (KeyboardInterrupt(), 130)):
        monkeypatch.setattr(run_folder, 'write_json', lambda *a, fault=fault: (_ for _ in ()).throw(fault))
        with pytest.raises(SystemExit) as stop:
            inference.main([f'--out_dir={run}', f'--export={tmp_path / "cut"}'])
        _ended(stop.value.code, capsys, fault)
        assert not os.path.exists(tmp_path / 'cut') and not _leftovers(tmp_path)


def test_a_folder_of_checkpoints_without_its_config_is_refused(run, tmp_path, capsys):
    folder = tmp_path / 'export'
    inference.main([f'--out_dir={run}', f'--export={folder}'])
    os.remove(folder / 'config.json')  # what an export cut off before it was whole left, before exports were atomic
    _fails(inference.main, [f'--checkpoint={folder}'], capsys, 'holds checkpoints but no config.json')
    assert not os.path.exists(folder / 'samples') and not os.path.exists(tmp_path / 'samples')


def test_two_renders_never_mix_and_a_cut_render_leaves_the_samples_before(run, capsys, monkeypatch):
    inference.main([f'--out_dir={run}', '--num_samples=3', '--seed=1'])
    before = contents(run / 'samples')
    holder = run_folder.Lock(str(run), 'samples.lock', 'being rendered').acquire()  # a render in another process
    try:
        _fails(inference.main, [f'--out_dir={run}', '--num_samples=5', '--seed=2'], capsys, 'is being rendered by process')
    finally:
        holder.release()
    assert contents(run / 'samples') == before
    import images
    for fault in (OSError(28, 'No space left on device', str(run / 'samples' / 'generations.png')), KeyboardInterrupt()):
        monkeypatch.setattr(images, 'write_gif', lambda *a, fault=fault: (_ for _ in ()).throw(fault))
        with pytest.raises(SystemExit) as stop:
            inference.main([f'--out_dir={run}', '--num_samples=5', '--seed=2'])
        assert 'as it was' in _ended(stop.value.code, capsys, fault)
        assert contents(run / 'samples') == before and not _leftovers(run) and not os.path.exists(run / 'samples.lock')


def test_what_a_killed_render_left_is_cleared(run, capsys):
    dead = subprocess.Popen(['true'])
    dead.wait()  # a process id that has ended
    leftover = run / f'.samples.tmp{dead.pid}'
    leftover.mkdir()
    (leftover / '000001.png').write_bytes(b'half')
    inference.main([f'--out_dir={run}', '--num_samples=2'])
    assert f'removed .samples.tmp{dead.pid}, left by a process that was killed' in capsys.readouterr().out
    assert not _leftovers(run) and len(os.listdir(run / 'samples' / 'generations')) == 2


def test_a_damaged_grid_and_damaged_attribute_side_files_do_not_stop_a_render(run, capsys):
    (run / 'op-gen' / 'epoch_0003.png').write_bytes(b'')  # what a full disk left before writes were atomic
    iio.imwrite(run / 'op-gen' / 'epoch_0000.png', np.zeros((50, 40, 3), np.uint8))  # another size, copied in
    inference.main([f'--out_dir={run}', '--num_samples=2'])
    printed = capsys.readouterr().out
    assert 'epoch_0003.png does not read as an image' in printed and 'a GIF of 2 sampled epochs' in printed
    assert 'epoch_0000.png is 40x50x3, not ' in printed


def test_a_damaged_feature_network_is_one_line(run, tmp_path, capsys, monkeypatch):
    import metrics
    damaged = tmp_path / 'classifier.weights.h5'
    damaged.write_bytes(open(os.path.join(ROOT, 'MNIST', 'classifier.weights.h5'), 'rb').read()[:5000])
    monkeypatch.setattr(metrics, 'classifier_path', lambda cfg, kind='classifier': str(damaged))
    line = _fails(inference.main, [f'--out_dir={run}', '--metrics', '--num_samples=4'], capsys,
                  'does not read as the classifier feature network')
    assert str(damaged) in line and 'train_classifier' in line
    assert not os.path.exists(run / 'samples')  # checked before anything is rendered


@pytest.mark.parametrize('field, value, message', [
    ('epochs', '3', "epochs must be a whole number, not '3'"),
    ('z_dim', None, 'z_dim must be a whole number, not None'),
    ('cache', 1, 'cache must be true or false, not 1'),
])
def test_a_hand_edited_config_json_is_one_line(run, capsys, field, value, message):
    saved = json.load(open(run / 'config.json'))
    (run / 'config.json').write_text(json.dumps(dict(saved, **{field: value})))
    before = _hashes(run / 'checkpoints')
    for main in (vae_gan.main, inference.main):
        _fails(main, [f'--out_dir={run}', '--epochs=3'] if main is vae_gan.main else [f'--out_dir={run}'], capsys, message)
    assert _hashes(run / 'checkpoints') == before


def test_a_full_disk_while_logging_is_one_line(run, capsys, monkeypatch):
    def full(*args, **kwargs):
        raise tf.errors.ResourceExhaustedError(None, None, 'logs/events.out: No space left on device')
    monkeypatch.setattr(tf.summary, 'scalar', full)
    before = _hashes(run / 'checkpoints')
    line = _fails(vae_gan.main, TINY + [f'--out_dir={run}', '--epochs=3'], capsys, 'No space left on device')
    assert 'checkpoints saved before stay in' in line and _hashes(run / 'checkpoints') == before


# ---- best/: the previous best stays whole until the new one has read back ----------------------------

def _scored(run, epoch, fid, monkeypatch):
    """best_model.score (what a run does every eval_every epochs) on the run's ckpt-<epoch>, whose scores
    are scripted to give `fid`."""
    monkeypatch.setattr(metrics, 'evaluate', lambda *a, **k: fake_scores(fid))
    cfg, _ = configurator.for_run({'out_dir': str(run)})
    encoder, decoder = inference.restore_models(cfg, f'{run}/checkpoints/ckpt-{epoch}')
    return best_model.score(cfg, {'encoder': encoder, 'decoder': decoder}, epoch, 2 * epoch, {})


def test_a_full_disk_ctrl_c_or_a_bad_read_back_leaves_the_previous_best(run, monkeypatch):
    _scored(run, 1, 10.0, monkeypatch)
    before, scores = contents(run / 'best'), (run / 'scores.jsonl').read_bytes()
    write_json, damage = run_folder.write_json, checkpoints.damage
    faults = {'full disk': (OSError, 'write_json', OSError(28, 'No space left on device', 'scores.json')),
              'Ctrl-C': (KeyboardInterrupt, 'write_json', KeyboardInterrupt()),
              'bad read-back': (OSError, 'damage', 'DataLossError: checksum does not match')}
    for name, (raised, where, fault) in faults.items():
        if where == 'write_json':  # once the new checkpoint is in the folder beside best/
            monkeypatch.setattr(run_folder, 'write_json', lambda path, value, fault=fault: (
                (_ for _ in ()).throw(fault) if path.endswith('scores.json') else write_json(path, value)))
        else:
            monkeypatch.setattr(checkpoints, 'damage', lambda prefix, fault=fault: fault)
        with pytest.raises(raised):
            _scored(run, 2, 5.0, monkeypatch)
        monkeypatch.setattr(run_folder, 'write_json', write_json)
        monkeypatch.setattr(checkpoints, 'damage', damage)
        assert contents(run / 'best') == before and not _leftovers(run), name
        assert (run / 'scores.jsonl').read_bytes() == scores, name
    assert _scored(run, 2, 5.0, monkeypatch)['best'] and checkpoints.numbered(str(run / 'best'))[0][0] == 2


def test_a_kill_between_best_s_two_renames_brings_the_previous_best_back(run, capsys, monkeypatch):
    _scored(run, 1, 10.0, monkeypatch)
    before = contents(run / 'best')
    script = f"""
import os, signal, sys
sys.path[:0] = [{ROOT!r}, {os.path.join(ROOT, 'tests')!r}]
import best_model, configurator, metrics, vae_gan_inference as inference
from conftest import fake_scores
metrics.evaluate = lambda *a, **k: fake_scores(5.0)
cfg, _ = configurator.for_run({{'out_dir': {str(run)!r}}})
encoder, decoder = inference.restore_models(cfg, {str(run)!r} + '/checkpoints/ckpt-2')
rename = os.rename
def rename_then_die(a, b):
    rename(a, b)
    if os.path.basename(b).startswith('.best.old'):  # best/ set aside, the new one not yet in its place
        os.kill(os.getpid(), signal.SIGKILL)
os.rename = rename_then_die
best_model.score(cfg, {{'encoder': encoder, 'decoder': decoder}}, 2, 4, {{}})
"""
    killed = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert not os.path.exists(run / 'best') and _leftovers(run)  # the kill fell in the gap
    prefix, best = best_model.read_best(str(run))  # what the next scoring, or a render, reads first
    assert best['epoch'] == 1 and prefix.endswith('best/ckpt-1') and contents(run / 'best') == before
    assert 'best brought back from .best.old' in capsys.readouterr().out and not _leftovers(run)


def test_a_damaged_best_is_named_and_replaced_by_the_next_scores(run, capsys, monkeypatch):
    _scored(run, 1, 10.0, monkeypatch)
    data_file = next(p for p in (run / 'best').iterdir() if p.name.startswith('ckpt-1.data'))
    data_file.write_bytes(data_file.read_bytes()[:100])
    assert _scored(run, 2, 50.0, monkeypatch)['best']  # worse than 10, but 10's model is gone
    assert 'does not read back' in capsys.readouterr().out
    assert best_model.read_best(str(run))[1]['epoch'] == 2


def _negative_figure(best):
    (best / 'scores.json').write_text(json.dumps(dict(json.loads((best / 'scores.json').read_text()), figure=-1.0)))


def _another_run_s(best):
    (best / 'config.json').write_text(json.dumps(dict(json.loads((best / 'config.json').read_text()), seed=7)))


@pytest.mark.parametrize('damage, why', [(_negative_figure, 'an FID >= 0'), (_another_run_s, "another run's: seed 7"),
                                         (lambda best: (best / 'config.json').write_text('{'), 'its config.json')])
def test_a_best_that_is_not_this_run_s_best_model_is_never_rendered_and_is_replaced(run, capsys, monkeypatch, damage, why):
    _scored(run, 1, 10.0, monkeypatch)
    damage(run / 'best')
    inference.main([f'--out_dir={run}', '--num_samples=2'])  # the newest checkpoint, not that best/
    printed = capsys.readouterr().out
    assert 'using the newest checkpoint' in printed and (why is None or why in printed), printed
    assert _scored(run, 2, 50.0, monkeypatch)['best']  # worse than 10, but 10 was never this run's best
    assert best_model.read_best(str(run))[1]['epoch'] == 2
    assert sorted(n for n in os.listdir(run) if n.startswith('.')) == []  # nothing left beside it


def test_too_few_validation_images_stop_the_run_before_it_trains(tmp_path, capsys):
    from conftest import write_digits
    folder = write_digits(tmp_path / 'few', count=20)  # 16 to train on, 2 validation, 2 held out
    with pytest.raises(SystemExit) as stop:
        vae_gan.main(TINY + [f'--data_dir={folder}', f'--out_dir={tmp_path / "run"}', '--epochs=1', '--eval_every=1',
                             '--metric_features=classifier,mlp'])
    assert 'has 2 validation image(s); the scores need at least 4' in str(stop.value.code)
    assert not os.path.exists(tmp_path / 'run' / 'checkpoints')


def test_a_user_s_file_where_the_repo_writes_a_folder_is_kept_and_named(run, capsys, monkeypatch):
    """best/ or samples/ as a file (a user's, say): a render and a scoring refuse in one line naming it, and
    the file stays as it was (it used to be replaced without a word)."""
    _scored(run, 1, 10.0, monkeypatch)
    import shutil
    shutil.rmtree(run / 'best')
    for name in ('best', 'samples'):
        (run / name).write_text(f'my {name}')
    _fails(inference.main, [f'--out_dir={run}', '--num_samples=2', '--checkpoint=newest'], capsys,
           f'{run}/samples is a file, where the repo writes a folder of its own: move the file away')
    with pytest.raises(configurator.UsageError, match=f'{run}/best is a file, where the repo writes a folder'):
        _scored(run, 2, 5.0, monkeypatch)
    assert [(run / name).read_text() for name in ('best', 'samples')] == ['my best', 'my samples']


def test_a_signal_raised_in_a_destructor_stops_the_command_without_exception_ignored_noise(capsys):
    """Python prints 'Exception ignored in ...' with a traceback for an exception a destructor raises;
    a signal's KeyboardInterrupt there (TensorFlow frees graphs while it traces) is the command's to end."""
    class Freed:
        def __del__(self):
            run_folder._interrupt(signal.SIGTERM, None)

    reported, hook = [], sys.unraisablehook  # what Python's own hook would print as 'Exception ignored'
    sys.unraisablehook = reported.append
    try:
        with pytest.raises(SystemExit) as stop:
            with run_folder.guarded('vae_gan.py', ['--epochs=3'], lambda: None):
                Freed()  # freed at once: its KeyboardInterrupt goes to sys.unraisablehook
    finally:
        sys.unraisablehook = hook
    assert stop.value.code == 128 + signal.SIGTERM and not reported
    assert capsys.readouterr().err.strip().startswith('stopped: nothing written')
