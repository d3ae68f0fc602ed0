"""The process's edges: what the data folder holds besides images, a dataset's splits, the flags' numbers,
a full disk at the lock, a closed or broken standard output, and a Ctrl-C during a long step. Each ends in
one line and never blocks; a success stays a success."""
import os
import resource
import shutil
import signal
import subprocess
import sys
import time

import pytest

import config
import configurator
import data
import run_folder
import vae_gan
from configurator import UsageError
from conftest import ROOT, TINY, needs_real_mnist, tiny


ENV = {**{k: v for k, v in os.environ.items() if k != 'TF_CPP_MIN_LOG_LEVEL'}, 'PYTHONUNBUFFERED': '1'}  # as a user


def _script(name, *args, **kwargs):
    """A script run as a user runs it (the scripts' own log level), its output unbuffered."""
    return subprocess.Popen([sys.executable, os.path.join(ROOT, name), *args], text=True, env=ENV,
                            **{'stderr': subprocess.PIPE, **kwargs})


def test_a_device_fifo_folder_or_huge_file_in_the_data_folder_is_skipped_unread(tmp_path, digits, capfd):
    folder = tmp_path / 'images'
    shutil.copytree(digits, folder)
    os.symlink('/dev/zero', folder / '000a.png')  # endless: read whole, it fills the memory
    os.mkfifo(folder / '000b.png')  # read, it waits for a writer forever
    (folder / '000c.png').mkdir()
    with open(folder / '000d.png', 'wb') as f:
        f.truncate(65 << 20)  # over the bound (sparse: no disk taken)
    os.symlink(folder / '001.png', folder / '000e.png')  # a link to an image is an image
    cfg = tiny(config.mnist, tmp_path, data_dir=str(folder), batch_size=1, cache=False)
    assert data.folder_files(cfg, 'train+validation+test') == sorted(os.listdir(digits) + ['000e.png'])
    err = capfd.readouterr().err
    for name in ('000a.png', '000b.png', '000c.png', '000d.png'):
        assert err.count(name) == 1 and f'warning: skipping {str(folder / name)!a}' in err, err
    images, count = data._images(cfg, 'train', shuffle=False)
    assert len(list(images)) == count == 33  # the rest trains
    data.folder_files(cfg, 'train')
    assert 'skipping' not in capfd.readouterr().err  # each warned about once


@needs_real_mnist
@pytest.mark.parametrize('flag, part', [('--held_out_split=tset', "'tset'"),
                                        ('--train_split=validation[:50%]', "'validation'")])
def test_a_split_the_dataset_lacks_is_one_line_naming_its_splits(tmp_path, capsys, flag, part):
    with pytest.raises(SystemExit) as stop:
        vae_gan.main([flag, f'--out_dir={tmp_path / "run"}'])
    assert stop.value.code == (f'error: mnist has the splits test and train, not {part}: pass one of them to '
                               f'{flag.partition("=")[0]}')
    assert 'Traceback' not in capsys.readouterr().err and not os.path.exists(tmp_path / 'run')


@pytest.mark.parametrize('flag', ['--epochs=3_0', '--epochs= 30', '--epochs=\u0663\u0660', '--lr_encoder=1_0.5'])
def test_numbers_python_reads_that_a_user_does_not_mean_are_refused(flag):
    with pytest.raises(UsageError, match=f'^{flag}: expected (int|float)'):
        configurator.from_args([flag])


def test_a_lock_that_cannot_be_written_is_not_left_behind(tmp_path):
    new = tmp_path / 'new'
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    xfsz = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write over the limit fails, as on a full disk
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, limit[1]))
    try:
        with pytest.raises(UsageError, match=f'^cannot write to {new}/lock '), run_folder.made(str(new)):
            with run_folder.Lock(str(new)):
                pass
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limit)
        signal.signal(signal.SIGXFSZ, xfsz)
    assert not new.exists()


def test_tfds_data_dir_that_is_a_file_is_named_as_the_cause(tmp_path, monkeypatch):
    import tensorflow_datasets as tfds
    (tmp_path / 'file').write_text('x')
    monkeypatch.setattr(tfds.core.constants, 'DATA_DIR', str(tmp_path / 'file'))  # TFDS_DATA_DIR, as read at import
    monkeypatch.setattr(data, 'offline', lambda: 'storage.googleapis.com: no such host')
    with pytest.raises(UsageError, match=f'^tensorflow-datasets cannot keep mnist in {tmp_path}/file/mnist/3.0.1: '
                                         f'{tmp_path}/file is not a folder; set TFDS_DATA_DIR to a folder'):
        data.train_dataset(tiny(config.mnist, tmp_path), seed=0)


def test_a_closed_or_broken_standard_output_is_no_failure(run_copy, trained_run, tmp_path):
    other = shutil.copytree(trained_run, tmp_path / 'other')
    closed = subprocess.Popen(['sh', '-c', 'exec "$@" >&-', 'sh', sys.executable,
                               os.path.join(ROOT, 'vae_gan_inference.py'), f'--out_dir={run_copy}', '--num_samples=2'],
                              stderr=subprocess.PIPE, text=True, env=ENV)
    both = _script('vae_gan.py', *TINY, f'--out_dir={shutil.copytree(trained_run, tmp_path / "both")}', '--epochs=2',
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # `2>&1 | head -1`
    broken = _script('vae_gan.py', *TINY, f'--out_dir={other}', '--epochs=2', stdout=subprocess.PIPE)
    for process in (both, broken):  # `| head -1`: one line, then the reader is gone
        process.stdout.readline()
        process.stdout.close()
    assert both.wait(timeout=120) == 0
    for process in (closed, broken):
        err = process.communicate(timeout=120)[1]
        assert process.returncode == 0 and 'Traceback' not in err, err
    assert os.path.exists(run_copy / 'samples' / 'generations.png')
    assert err.strip().splitlines() == ['note: the standard output went away (a pipe its reader closed): the '
                                        'command goes on without it']


def test_a_ctrl_c_during_a_long_step_is_acknowledged_at_once(digits, tmp_path):
    """The first Ctrl-C is answered at once, though the step runs on; then one `stopped:` line with the
    command to go on, which names the script's path when run from another folder."""
    args = ['--preset=celeb_a', f'--data_dir={digits}', '--crop_fraction=1', '--batch_size=8', '--steps_per_epoch=1',
            f'--out_dir={tmp_path / "run"}']
    process = _script('vae_gan.py', *args, stdout=subprocess.PIPE, cwd=tmp_path)
    for line in process.stdout:
        if line.startswith('started in'):  # the step traced, the first one starts: seconds of TensorFlow's own work
            break
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    sent, seen = time.perf_counter(), {}
    for line in filter(str.strip, process.stderr):
        seen.setdefault(line.split()[0], (time.perf_counter() - sent, line))
    process.wait(timeout=60)
    assert process.returncode == 130 and list(seen) == ['stopping:', 'stopped:'], seen
    assert seen['stopping:'][0] < 2, seen  # at once, though the step goes on (seconds more on 2 cores)
    assert seen['stopping:'][1].startswith('stopping: the work in progress ends first')
    assert seen['stopped:'][1] == (f'stopped: no checkpoint was saved yet; go on with: python '
                                   f'{os.path.join(ROOT, "vae_gan.py")} ' + ' '.join(args) + '\n')
    assert not os.path.exists(tmp_path / 'run' / 'lock')


def test_a_ctrl_c_during_a_download_leaves_none_of_its_folders(tmp_path, monkeypatch):
    import tensorflow_datasets as tfds
    root = tmp_path / 'tensorflow_datasets'

    class Stopped:  # a builder whose download makes its folders and partial files, then is stopped
        data_dir = str(root / 'mnist' / '3.0.1')

        def is_prepared(self):
            return False

        def download_and_prepare(self):
            os.makedirs(root / 'downloads' / 'mnist')
            (root / 'downloads' / 'mnist' / 'train.gz.tmp.1').write_bytes(b'')
            raise KeyboardInterrupt(signal.SIGINT)
    monkeypatch.setattr(tfds, 'builder', lambda name, **kwargs: Stopped())
    monkeypatch.setattr(data, 'offline', lambda: '')
    with pytest.raises(KeyboardInterrupt):
        data.train_dataset(tiny(config.mnist, tmp_path), seed=0)
    assert not root.exists()


def test_a_fifo_in_the_lock_s_place_is_refused_unread(tmp_path):
    os.mkfifo(tmp_path / 'lock')  # read, it waits for a writer
    with pytest.raises(UsageError, match=f'^{tmp_path}/lock is a FIFO, not a lock this repo wrote: move it away'):
        run_folder.Lock(str(tmp_path)).acquire()


def test_an_output_that_cannot_be_written_is_dropped_with_a_note(capsys):
    with open('/dev/full', 'w') as full:  # `> log` on a full disk
        output = run_folder._Output(full)
        print('a line', file=output, flush=True)
        print('another', file=output, flush=True)
    assert capsys.readouterr().err == ('note: the standard output went away (No space left on device): the command '
                                       'goes on without it\n')
