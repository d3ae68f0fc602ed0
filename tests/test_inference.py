import json
import os
import shutil
import subprocess
import sys

import imageio.v3 as iio
import numpy as np
import pytest
import tensorflow as tf

import configurator
import models
import vae_gan_inference as inference
from configurator import UsageError
from conftest import ROOT


@pytest.fixture(scope='module')
def run(trained_run, tmp_path_factory):
    """The shared trained run (conftest.trained_run: two tiny epochs on 40 random 'digits', 32 train,
    4 validation and 4 held out, z_dim 8), copied once for these tests to render into; its config."""
    out = tmp_path_factory.mktemp('inference') / 'run'
    shutil.copytree(trained_run, out)
    return configurator.for_run({'out_dir': str(out)})[0]


def _render(cfg, *args):
    inference.render(*inference.load_config([f'--out_dir={cfg.out_dir}', *args]))
    return os.path.join(cfg.out_dir, 'samples')


def test_render_writes_every_file(run):
    samples = _render(run, '--num_samples=7')
    assert sorted(os.listdir(os.path.join(samples, 'generations'))) == [f'{i:06d}.png' for i in range(1, 8)]
    assert len(os.listdir(os.path.join(samples, 'originals'))) == 4  # all the held-out images there are
    assert len(os.listdir(os.path.join(samples, 'reconstructions'))) == 4
    image = iio.imread(os.path.join(samples, 'generations', '000001.png'))
    assert image.shape == (28, 28) and image.dtype == np.uint8 and image.max() > image.min()
    original = iio.imread(os.path.join(samples, 'originals', '000001.png'))
    first_held_out = iio.imread(os.path.join(run.data_dir, '036.png'))  # sorted names: the last 10% held out
    assert np.array_equal(original, first_held_out[..., 0] if first_held_out.ndim == 3 else first_held_out)
    for name in ('generations.png', 'reconstructions.png', 'interpolations.png'):
        assert iio.imread(os.path.join(samples, name)).shape[0] > 100
    gif = iio.imread(os.path.join(samples, 'generations.gif'), index=None)
    assert gif.shape[0] == 2  # one frame per sampled epoch


def test_same_seed_same_files_and_stale_files_go(run):
    samples = _render(run, '--num_samples=5', '--seed=3')
    first = [iio.imread(os.path.join(samples, 'generations', f'{i:06d}.png')) for i in range(1, 6)]
    samples = _render(run, '--num_samples=3', '--seed=3')
    assert len(os.listdir(os.path.join(samples, 'generations'))) == 3  # nothing left from the earlier 5
    again = [iio.imread(os.path.join(samples, 'generations', f'{i:06d}.png')) for i in range(1, 4)]
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    _render(run, '--num_samples=3', '--seed=4')
    other = iio.imread(os.path.join(samples, 'generations', '000001.png'))
    assert not np.array_equal(other, first[0])


def test_config_comes_from_out_dir(run):
    cfg, checkpoint, options = inference.load_config([f'--out_dir={run.out_dir}', '--num_samples=12'])
    assert (cfg.z_dim, cfg.data_dir, options.num_samples) == (8, run.data_dir, 12)  # z_dim 8 from config.json, not the preset's 32
    assert checkpoint.endswith('ckpt-2')
    cfg, checkpoint, _ = inference.load_config([f'--checkpoint={run.out_dir}/checkpoints/ckpt-2'])
    assert cfg.out_dir == os.path.abspath(run.out_dir) and checkpoint.endswith('ckpt-2')


@pytest.mark.parametrize('args, message', [
    (['--num_samples=many'], '--num_samples=many: expected int'),
    (['--num_samples=0'], 'num_samples must be a whole number >= 1'),
    (['--attribute_scale=-1'], 'attribute_scale must be a number >= 0'),
    (['--attributes=Smile'], "unknown label 'Smile'"),
])
def test_bad_flags(args, message):
    with pytest.raises(UsageError, match=message):
        inference.load_config(args)


def test_no_checkpoint_names_the_folder_and_the_command(tmp_path):
    with pytest.raises(UsageError, match=r'no checkpoint in .*empty/checkpoints: train one first with '
                                         r'`python vae_gan.py --preset=celeb_a --out_dir=.*empty`'):
        inference.load_config(['--preset=celeb_a', f'--out_dir={tmp_path / "empty"}'])
    with pytest.raises(UsageError, match='no checkpoint at .*ckpt-9: pass a checkpoint such as RUN/checkpoints/ckpt-N'):
        inference.load_config([f'--checkpoint={tmp_path}/ckpt-9'])


def test_another_preset_or_architecture_is_refused(run, tmp_path):
    with pytest.raises(UsageError, match=r'checkpoint of another preset \(preset=.mnist. there, .celeb_a. asked '
                                         r'for\): drop --preset'):
        inference.load_config([f'--out_dir={run.out_dir}', '--preset=celeb_a'])
    with pytest.raises(UsageError, match=r'checkpoint of another model \(z_dim=8 there, 16 asked for\)'):
        inference.load_config([f'--out_dir={run.out_dir}', '--z_dim=16'])
    # a config.json that does not describe its checkpoint
    os.makedirs(tmp_path / 'other')
    os.symlink(os.path.join(run.out_dir, 'checkpoints'), tmp_path / 'other' / 'checkpoints')
    saved = json.load(open(os.path.join(run.out_dir, 'config.json')))
    json.dump(dict(saved, z_dim=16), open(tmp_path / 'other' / 'config.json', 'w'))
    with pytest.raises(UsageError, match=r'ckpt-2 is a checkpoint of another architecture .*config.json describes another'):
        inference.render(*inference.load_config([f'--out_dir={tmp_path / "other"}']))


def test_cli_errors_exit_non_zero_and_end_on_their_line(run, tmp_path):
    os.makedirs(tmp_path / 'other')  # a config.json that does not describe its checkpoint
    os.symlink(os.path.join(run.out_dir, 'checkpoints'), tmp_path / 'other' / 'checkpoints')
    json.dump(dict(json.load(open(os.path.join(run.out_dir, 'config.json'))), z_dim=16),
              open(tmp_path / 'other' / 'config.json', 'w'))
    # A real process, for what only its ends show: TensorFlow's start-up lines and the half-restored
    # networks' warnings when they are deleted must not surround the line. (The other messages are checked in this process: test_bad_flags,
    # test_no_checkpoint_names_..., and the one below.)
    env = {k: v for k, v in os.environ.items() if k != 'TF_CPP_MIN_LOG_LEVEL'}  # as a user's shell has it
    process = subprocess.run([sys.executable, os.path.join(ROOT, 'vae_gan_inference.py'), f'--out_dir={tmp_path / "other"}'],
                             capture_output=True, text=True, cwd=tmp_path, timeout=120, env=env)
    assert process.returncode == 1 and 'Traceback' not in process.stderr
    # the whole of standard error is that line: TensorFlow's start-up lines (oneDNN, CUDA) kept back too
    assert [line for line in process.stderr.splitlines() if line.strip()] == [process.stderr.strip()]
    assert 'ckpt-2 is a checkpoint of another architecture' in process.stderr
    with pytest.raises(UsageError, match='checkpoints holds ckpt-2, ckpt-1: pass one of those'):
        inference.load_config([f'--checkpoint={run.out_dir}/checkpoints/ckpt-7'])


def test_metrics_json(run, monkeypatch):
    samples = _render(run, '--num_samples=4', '--metrics')
    scores = json.load(open(os.path.join(samples, 'metrics.json')))
    assert set(scores) == {'features', 'mse', 'ssim', 'images', 'kid_subsets', 'kid_subset_size', 'checkpoint', 'epoch',
                           'prior'} and scores['prior'] == 'normal'
    assert set(scores['features']) == {'classifier', 'mlp'}  # two feature spaces
    for figures in scores['features'].values():
        assert set(figures) == {'fid', 'kid', 'precision', 'recall'} and figures['fid'] > 0
        assert 0 <= figures['precision'] <= 1 and 0 <= figures['recall'] <= 1
    assert scores['images'] == 4 and scores['epoch'] == 2 and (scores['kid_subsets'], scores['kid_subset_size']) == (1, 4)
    assert 0 < scores['mse'] < 1 and -1 <= scores['ssim'] <= 1
    # Inception's weights are loaded before anything is rendered: offline, one line and no samples
    import keras
    monkeypatch.setattr(keras.applications, 'InceptionV3', lambda **kwargs: (_ for _ in ()).throw(OSError('offline')))
    shutil.rmtree(samples)
    with pytest.raises(UsageError, match='InceptionV3 ImageNet weights'):
        _render(run, '--num_samples=4', '--metrics', '--metric_features=inception')
    assert not os.path.exists(samples)


def test_export_renders_the_same_generations(run, tmp_path):
    folder = str(tmp_path / 'pretrained')
    inference.main([f'--out_dir={run.out_dir}', f'--export={folder}'])
    assert sorted(os.listdir(folder)) == ['README.md', 'checkpoint', 'ckpt-2.data-00000-of-00001', 'ckpt-2.index',
                                          'config.json', 'decoder.keras', 'encoder.keras']
    exported = _render(run, '--num_samples=2', '--seed=5')
    original = iio.imread(os.path.join(exported, 'generations', '000001.png'))
    cfg, checkpoint, options = inference.load_config([f'--checkpoint={folder}', '--num_samples=2', '--seed=5'])
    assert cfg.out_dir == folder and checkpoint.endswith('ckpt-2')
    inference.render(cfg, checkpoint, options)
    assert np.array_equal(iio.imread(os.path.join(folder, 'samples', 'generations', '000001.png')), original)


def test_the_first_training_grid_is_the_first_render(run):
    """One prior draw: the op-gen/ grids' 25 codes are the first 25 generations of a render with the
    same seed (models.prior_z), so training grids and renders show the same faces/digits."""
    sample_z = tf.train.load_checkpoint(os.path.join(run.out_dir, 'checkpoints', 'ckpt-2')).get_tensor(
        'sample_z/.ATTRIBUTES/VARIABLE_VALUE')
    assert np.array_equal(sample_z, models.prior_z(100, run.z_dim, run.seed).numpy()[:25])


KERAS_ALONE = r'''
import os, re, sys
for folder in sys.argv[1:]:
    os.chdir(folder)
    card = open('README.md').read()  # its code blocks, run as a reader of the card would
    exec('\n'.join(line[4:] for line in card.splitlines() if line.startswith('    ')))
    np.savez('from_keras.npz', z=z, images=np.asarray(images), mean=np.asarray(mean))
repo = {'config', 'models', 'run_folder', 'checkpoints', 'vae_gan', 'vae_gan_inference'} & set(sys.modules)
assert not repo, repo
'''


def test_an_export_s_keras_files_and_card_reproduce_the_render_without_the_repo(run, tmp_path):
    """Every export carries encoder.keras, decoder.keras and a model card whose code, run in a process that
    imports nothing of this repo, draws from the export's prior (prior.json for a mixture) and decodes as the
    repo's own restore does."""
    checkpoint = os.path.join(run.out_dir, 'checkpoints', 'ckpt-2')
    normal, mixture = tmp_path / 'normal', tmp_path / 'mixture'
    inference.main([f'--checkpoint={checkpoint}', f'--export={normal}'])
    inference.main([f'--checkpoint={checkpoint}', f'--export={mixture}', '--prior=mixture', '--prior_components=2',
                    '--prior_images=8'])
    assert not os.path.exists(normal / 'prior.json') and len(json.load(open(mixture / 'prior.json'))['weights']) == 2
    assert 'a VAE/GAN' in (normal / 'README.md').read_text() and '2 epochs' in (normal / 'README.md').read_text()
    alone = subprocess.run([sys.executable, '-I', '-c', KERAS_ALONE, str(normal), str(mixture)], cwd=tmp_path,
                           capture_output=True, text=True, timeout=240)
    assert alone.returncode == 0, alone.stderr[-3000:]
    for folder in (normal, mixture):
        cfg, prefix, _ = inference.load_config([f'--checkpoint={folder}', f'--out_dir={tmp_path / "render"}'])
        encoder, decoder = inference.restore_models(cfg, prefix)
        got = np.load(folder / 'from_keras.npz')
        assert got['z'].shape == (16, 8)
        assert np.allclose(got['images'], decoder(got['z'], training=False), atol=1e-6)
        assert np.allclose(got['mean'], encoder(got['images'], training=False)[0], atol=1e-6)
    assert not np.allclose(np.load(mixture / 'from_keras.npz')['z'], np.load(normal / 'from_keras.npz')['z'])
