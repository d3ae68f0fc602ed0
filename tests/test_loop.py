"""The researcher's loop around training: every command into a folder that does not exist yet and from
any working directory, config.py edits honoured when a run goes on, your own images, --metrics on
the standard count, rendering offline, and --help and typos answered before TensorFlow loads."""
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time

import imageio.v3 as iio
import numpy as np
import pytest

import config
import configurator
import data
import metrics
import models
import vae_gan
import vae_gan_inference as inference
from configurator import UsageError
from conftest import ROOT, TINY, contents


def _count(folder):
    return len(os.listdir(folder)) if os.path.isdir(folder) else 0


# ---- Every command into a new folder, from anywhere ------------------------------------------------

def test_every_command_writes_into_a_new_folder_from_any_working_directory(run_copy, tmp_path, monkeypatch, capsys):
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # relative paths below are this folder's, the repo is elsewhere
    ckpt = f'{run_copy}/checkpoints/ckpt-2'
    inference.main([f'--checkpoint={ckpt}', '--out_dir=new/render', '--num_samples=3'])
    assert _count('new/render/samples/generations') == 3 and _count('new/render/samples/reconstructions') == 3
    assert iio.imread('new/render/samples/generations/000001.png').shape == (28, 28)  # the run's model (z_dim 8)
    assert _count('new/render/samples/generations.gif') == 0 and os.path.exists('new/render/samples/generations.gif')
    # a run's best/, rendered into a new folder (best/ as a run writes it: the export format and its scores)
    inference.main([f'--checkpoint={ckpt}', '--export=best'])  # (an export into a run's best/ is refused)
    os.rename('best', run_copy / 'best')
    (run_copy / 'best' / 'scores.json').write_text(json.dumps({'epoch': 2, 'figure': 1.0}))
    inference.main([f'--checkpoint={run_copy}/best', '--out_dir=new/from_best', '--num_samples=2'])
    assert _count('new/from_best/samples/generations') == 2
    inference.main([f'--out_dir={run_copy}', '--checkpoint=best', '--num_samples=2'])  # the run's own samples/
    assert 'using best/ (epoch 2' in capsys.readouterr().out and _count(run_copy / 'samples' / 'generations') == 2
    # --metrics into a new folder: metric_samples scored, num_samples written
    inference.main([f'--checkpoint={ckpt}', '--out_dir=new/scored', '--num_samples=2', '--metrics', '--metric_samples=4'])
    assert _count('new/scored/samples/generations') == 2
    assert json.load(open('new/scored/samples/metrics.json'))['images'] == 4
    assert 'precision' in capsys.readouterr().out
    # an export into new nested folders, then the export rendered into another new folder
    inference.main([f'--checkpoint={ckpt}', '--export=new/deep/er/export'])
    assert os.path.exists('new/deep/er/export/config.json')
    inference.main(['--checkpoint=new/deep/er/export', '--out_dir=new/from_export', '--num_samples=2'])
    assert _count('new/from_export/samples/generations') == 2
    # the plot of a run's scores into a new folder
    (run_copy / 'scores.jsonl').write_text(''.join(json.dumps({'epoch': e, 'figure': 1.0 / e, 'best': True, 'mse': 0.1,
                                                               'features': {'classifier': {'fid': 1.0 / e, 'kid': 0.0,
                                                                                           'precision': 0.5, 'recall': 0.5}}})
                                                   + '\n' for e in (1, 2)))
    metrics.main(['--plot', 'new/plots/scores.png', str(run_copy)])
    assert iio.imread('new/plots/scores.png').shape[0] > 100
    assert not os.path.exists(run_copy / 'new')  # nothing lands beside the run


def test_a_render_or_export_that_fails_leaves_no_new_folder(run_copy, tmp_path, monkeypatch):
    import checkpoints
    monkeypatch.setattr(checkpoints, 'save', lambda *args, **kwargs: (_ for _ in ()).throw(OSError('disk full')))
    with pytest.raises(SystemExit, match='disk full'):
        inference.main([f'--checkpoint={run_copy}/checkpoints/ckpt-2', f'--export={tmp_path / "a" / "b" / "export"}'])
    import images
    monkeypatch.setattr(images, 'write_gif', lambda *args: (_ for _ in ()).throw(OSError('disk full')))
    with pytest.raises(SystemExit, match='disk full'):
        inference.main([f'--checkpoint={run_copy}/checkpoints/ckpt-2', f'--out_dir={tmp_path / "a" / "b"}'])
    assert not os.path.exists(tmp_path / 'a')


# ---- config.py edits ---------------------------------------------------------------------------------

def _resume(run, *flags):
    """The shared run's own command (TINY) with more epochs, into `run`."""
    vae_gan.main(TINY + [f'--out_dir={run}', *flags])


# An edited learning rate reaching the resumed run's optimizer: tests/test_checkpoint_order.py's resume past
# stale checkpoint copies (one resume for both).


def test_a_flag_lasts_for_its_command_only(run_copy):
    saved = json.load(open(run_copy / 'config.json'))  # as a start with --lr_encoder=2e-3 leaves it
    (run_copy / 'config.json').write_text(json.dumps(dict(saved, lr_encoder=2e-3)))
    cfg, line = configurator.for_training(configurator.parse_overrides(TINY + [f'--out_dir={run_copy}', '--epochs=4']))
    assert cfg.lr_encoder == 1e-3 and 'lr_encoder 0.002 -> 0.001 (config.py)' in line


def test_an_edited_z_dim_is_refused_with_the_commands_to_go_on_or_start_anew(run_copy, digits, monkeypatch):
    before = contents(run_copy)
    flags = [f for f in TINY if not f.startswith('--z_dim')]  # the run's z_dim (8) is kept without the flag
    cfg, _ = configurator.for_training(configurator.parse_overrides(flags + [f'--out_dir={run_copy}', '--epochs=3']))
    assert cfg.z_dim == 8 and cfg.data_dir.endswith('digits')  # and so is its folder of images
    monkeypatch.setitem(config.PRESETS, 'mnist', dataclasses.replace(config.mnist, z_dim=16))  # config.py edited
    with pytest.raises(SystemExit) as refused:
        vae_gan.main(flags + [f'--out_dir={run_copy}', '--epochs=3'])
    line = str(refused.value.code)
    assert line.startswith(f"error: {run_copy} was trained with z_dim=8 and config.py's mnist preset now has (edited "
                           f"since the run last started) 16: a run keeps its networks, data and seed")
    go_on, new = (part.split('`')[1] for part in line.split('Go on with it: ')[1].split('; or train the new setting'))
    assert go_on == f'python vae_gan.py {" ".join(flags)} --out_dir={run_copy} --epochs=3 --z_dim=8'
    assert new.startswith('python vae_gan.py --data_dir=') and new.endswith(f'--out_dir={run_copy}-z_dim-16')
    cfg, _ = configurator.for_training(configurator.parse_overrides(go_on.split()[2:]))  # both work when pasted
    assert cfg.z_dim == 8
    cfg, line = configurator.for_training(configurator.parse_overrides(new.split()[2:]))
    assert (cfg.z_dim, cfg.data_dir, cfg.batch_size) == (16, str(digits), 4) and 'a new run in' in line
    assert contents(run_copy) == before  # nothing touched
    with pytest.raises(UsageError, match='was trained with z_dim=8 and the command line asks for 4'):
        configurator.for_training(configurator.parse_overrides(flags + [f'--out_dir={run_copy}', '--z_dim=4']))


def test_an_unedited_resume_changes_nothing(run_copy, capsys):
    before = contents(run_copy)
    cfg, line = configurator.for_training(configurator.parse_overrides(TINY + [f'--out_dir={run_copy}', '--epochs=2']))
    assert cfg == dataclasses.replace(configurator.from_saved(str(run_copy / 'config.json')), out_dir=str(run_copy))
    assert line.endswith('; as when the run last started')
    _resume(run_copy, '--epochs=2')
    assert 'already holds 2 epochs; nothing to do' in capsys.readouterr().out and contents(run_copy) == before


# ---- Your own images ---------------------------------------------------------------------------------

def _pictures(folder, count=40, size=48):
    """`count` random RGB pictures of size x size, as a user's folder might hold."""
    import tensorflow as tf
    os.makedirs(folder)
    rng = np.random.default_rng(1)
    for i in range(count):
        tf.io.write_file(os.path.join(folder, f'pic{i:03d}.png'), tf.io.encode_png(rng.integers(0, 256, (size, size, 3), np.uint8)))
    return str(folder)


def test_your_own_images_say_what_the_networks_see_and_score_only_with_networks_that_fit(tmp_path, capsys):
    pictures = _pictures(tmp_path / 'pictures')
    out = tmp_path / 'mine'
    small = ['--batch_size=4', '--steps_per_epoch=1', '--epochs=1', '--shuffle_buffer=16', '--histogram_every=0',
             '--checkpoint_every=1', '--eval_every=1', '--z_dim=8']
    vae_gan.main(small + [f'--data_dir={pictures}', f'--out_dir={out}'])  # the default preset: 28x28 grey
    printed = capsys.readouterr().out
    assert (f'{pictures}: 40 images, the first 48x48 RGB; the networks see each, squared, resized to 28x28 grey '
            f'(--image_size, --channels, --crop_fraction change that; --preset=celeb_a for colour at 64x64)') in printed
    assert 'note: no validation scores and no best/ in this run: no feature network fits the images of' in printed
    assert not os.path.exists(out / 'best') and all('figure' not in r for r in metrics.read_scores(str(out)))
    assert json.load(open(out / 'config.json'))['metric_features'] == 'none'
    with pytest.raises(UsageError, match='no feature network fits the images of .*--metric_features=inception'):
        inference.render(*inference.load_config([f'--out_dir={out}', '--metrics']))
    with pytest.raises(UsageError, match='those networks read 28x28 grey digits'):
        configurator.from_args(['--preset=celeb_a', f'--data_dir={pictures}', '--metric_features=classifier'])
    # The README's command for colour pictures: the pictures at their own size, in colour
    cfg = configurator.from_args(['--preset=celeb_a', f'--data_dir={pictures}', '--crop_fraction=1', '--image_size=48'])
    assert 'resized to 48x48 RGB' in data.describe_folder(cfg)
    batch = next(iter(data.train_dataset(dataclasses.replace(cfg, batch_size=4, fresh_batches=False), seed=0)[0]))
    assert batch.shape == (4, 48, 48, 3)
    assert models.build_decoder(cfg).output.shape == (None, 48, 48, 3)


# ---- Rendering offline -------------------------------------------------------------------------------

@pytest.mark.parametrize('model', ['pretrained', 'pretrained-ema-mixture', 'pretrained-balance'])
def test_offline_a_render_writes_what_needs_no_data(tmp_path, monkeypatch, capsys, model):
    """Each shipped model; the mixture model draws from the mixture its export carries (no fitting, which
    would need the training images)."""
    import tensorflow_datasets as tfds

    class Offline:  # tensorflow-datasets without a prepared MNIST and without network
        data_dir = str(tmp_path / 'tensorflow_datasets' / 'mnist' / '3.0.1')

        def is_prepared(self):
            return False

        def download_and_prepare(self):
            raise ConnectionError('no route to host')
    monkeypatch.setattr(tfds, 'builder', lambda name, **kwargs: Offline())
    monkeypatch.setattr(data, 'offline', lambda: '')  # a name service answers: the download is tried, and fails
    out = tmp_path / 'pretrained'
    inference.main([f'--checkpoint={ROOT}/MNIST/{model}', f'--out_dir={out}'])
    printed = capsys.readouterr().out
    assert 'fitting' not in printed
    assert 'note: no reconstructions (tensorflow-datasets could not download mnist (ConnectionError): set TFDS_DATA_DIR' in printed
    assert 'wrote 100 generations, 0 reconstructions, 8 interpolation rows between random codes' in printed
    assert sorted(os.listdir(out / 'samples')) == ['generations', 'generations.png', 'interpolations.png']
    assert _count(out / 'samples' / 'generations') == 100
    with pytest.raises(SystemExit, match='could not download mnist'):  # scores need the test digits
        inference.main([f'--checkpoint={ROOT}/MNIST/{model}', f'--out_dir={tmp_path / "scored"}', '--metrics'])
    assert not os.path.exists(tmp_path / 'scored')


# ---- --help and typos, before TensorFlow loads -------------------------------------------------------

def test_help_and_typos_are_answered_before_tensorflow_loads(tmp_path):
    cases = [(['vae_gan.py', '--help'], 0, 'Common flags'), (['vae_gan_inference.py', '-h'], 0, '--metric_samples=N'),
             (['bench.py', '--help'], 0, '--benchmark_steps=N'), (['metrics.py', '--help'], 0, '--plot OUT.png RUN'),
             (['vae_gan.py', '--z-dim=16'], 1, "error: unknown field 'z-dim' (did you mean --z_dim?)"),
             (['vae_gan.py', '--epoch=3'], 1, "error: unknown field 'epoch' (did you mean --epochs?)"),
             (['vae_gan_inference.py', '--num_sample=3'], 1, '(did you mean --num_samples?)'),
             (['bench.py', '--benchmark_step=3'], 1, '(did you mean --benchmark_steps?)'),
             (['vae_gan.py', '--mixed_precision=fp8'], 1, 'error: mixed_precision must be one of'),
             (['metrics.py', '--plot', 'out.png', 'no_such_run'], 1, 'error: --plot: no_such_run is not a run folder')]
    started = time.perf_counter()
    processes = [subprocess.Popen([sys.executable, os.path.join(ROOT, script), *args], cwd=tmp_path, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE) for (script, *args), _, _ in cases]
    for process, ((script, *args), code, expected) in zip(processes, cases):
        out, err = process.communicate(timeout=60)
        assert process.returncode == code, (script, args, err[-500:])
        assert expected in (out if code == 0 else err.strip().splitlines()[-1]), (script, args, out, err)
        assert 'tensorflow' not in err.lower() and 'absl' not in err  # TensorFlow never loaded
    # each answers in about 0.15 s on 2 idle cores; TensorFlow's import alone takes 3 s or more there
    assert time.perf_counter() - started < 2 * len(cases) / 2
    assert os.listdir(tmp_path) == []


# ---- What a run writes is ignored by git ---------------------------------------------------------------

def test_git_ignores_what_runs_and_the_readme_s_commands_write():
    if shutil.which('git') is None or subprocess.run(['git', 'rev-parse'], cwd=ROOT, capture_output=True).returncode:
        pytest.skip('not a git checkout')
    written = ['MNIST/best/ckpt-30.index', 'MNIST/scores.jsonl', 'MNIST/config.json', 'MNIST/preset.json',
               'MNIST/checkpoints/ckpt-2.index', 'MNIST/logs/events', 'MNIST/op-gen/epoch_0001.png', 'MNIST/lock',
               'MNIST/samples/generations.png', 'MNIST/pretrained/samples/metrics.json', 'MNIST/samples.lock',
               'MNIST/pretrained-ema-mixture/samples/generations.png', 'MNIST/pretrained-ema-mixture/metrics_cache/100_x.npy',
               'MNIST/pretrained-balance/samples/generations.png', 'MNIST/pretrained-balance/metrics_cache/100_x.npy',
               'MNIST/metrics_cache/100_x.npy', 'runs/z64/config.json', 'runs/z64/best/scores.json',
               'MNIST-sigmoid/config.json', 'MNIST-ema-mixture/best/ckpt-2.index', 'MNIST-balance/preset.json',
               'Fashion-MNIST/checkpoints/x', 'CIFAR-10/logs/x', 'Celeb-A/config.json',
               'Celeb-A-paper/checkpoints/x', '.venv/bin/python', 'MNIST/.tmp123.config.json']
    kept = ['README.md', 'config.py', 'MNIST/generations.png', 'MNIST/pretrained/config.json', 'Celeb-A/README.md',
            'MNIST/pretrained-ema-mixture/config.json', 'MNIST/pretrained-ema-mixture/metrics_cache/prior_0123.npz',
            'MNIST/pretrained-balance/config.json', 'MNIST/pretrained-balance/metrics_cache/labels_0123.npz',
            'MNIST/results/mnist-seed0/metrics.json', 'MNIST/results/mnist-200-epochs-seed0/scores.jsonl']
    result = subprocess.run(['git', 'check-ignore', '--no-index', *written, *kept], cwd=ROOT, capture_output=True, text=True)
    assert sorted(result.stdout.split()) == sorted(written)
