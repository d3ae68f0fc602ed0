"""The prior generations are drawn from: N(0, I), or a Gaussian mixture fitted to the training codes
(prior.py): its samples follow the mixture, it is fitted once per checkpoint and checked when read
back, and a render uses the prior its config and flags name."""
import dataclasses
import json
import os

import imageio.v3 as iio
import numpy as np
import pytest

import config
import configurator
import prior
import vae_gan_inference as inference
from configurator import UsageError


def _planted():
    """A mixture of 3 components in 2-d, far apart, with known weights, means and covariances."""
    return {'weights': np.array([0.2, 0.3, 0.5]), 'means': np.array([[-10.0, 0.0], [10.0, 0.0], [0.0, 10.0]]),
            'covariances': np.array([[[1.0, 0.5], [0.5, 2.0]], [[0.5, 0.0], [0.0, 0.5]], [[3.0, -1.0], [-1.0, 1.0]]]),
            'images': 100}


def test_samples_follow_the_mixture_they_are_drawn_from():
    cfg = dataclasses.replace(config.mnist, z_dim=2)
    mixture = _planted()
    z = prior.sample(cfg, mixture, 40000, seed=3)
    assert z.shape == (40000, 2) and z.dtype == np.float32
    nearest = np.argmin(((z[:, None, :] - mixture['means'][None]) ** 2).sum(-1), axis=1)  # the components lie apart
    for k in range(3):
        mine = z[nearest == k].astype(np.float64)
        assert abs(len(mine) / len(z) - mixture['weights'][k]) < 0.01
        assert np.allclose(mine.mean(0), mixture['means'][k], atol=0.05)
        assert np.allclose(np.cov(mine, rowvar=False), mixture['covariances'][k], atol=0.08)
    assert np.array_equal(prior.sample(cfg, mixture, 100, seed=3), z[:100])  # the first n of a larger draw
    assert not np.array_equal(prior.sample(cfg, mixture, 100, seed=4), z[:100])
    normal = prior.sample(cfg, None, 5, seed=3)  # no mixture: N(0, I), as models.prior_z draws it
    import models
    assert np.array_equal(normal, models.prior_z(5, 2, 3).numpy()) and prior.describe(None) == 'normal'


def test_a_mixture_is_fitted_once_per_checkpoint_and_checked_when_read_back(run_copy, capsys):
    cfg, checkpoint, _ = inference.load_config([f'--out_dir={run_copy}', '--prior=mixture', '--prior_components=2'])
    encoder, _ = inference.restore_models(cfg, checkpoint)
    mixture = prior.for_checkpoint(cfg, checkpoint, encoder)
    assert 'fitting a mixture of 2' in capsys.readouterr().out
    assert mixture['weights'].shape == (2,) and mixture['means'].shape == (2, 8) and int(mixture['images']) == 32
    assert prior.describe(mixture) == 'mixture of 2 fitted to 32 training codes'
    # the mixture fits the codes: its means lie among them (scikit-learn's EM, checked here on its output)
    codes = prior.training_codes(cfg, encoder)
    assert np.allclose(np.average(mixture['means'], axis=0, weights=mixture['weights']), codes.mean(0), atol=1e-4)
    again = prior.for_checkpoint(cfg, checkpoint, encoder)
    assert 'fitting' not in capsys.readouterr().out and all(np.array_equal(mixture[k], again[k]) for k in mixture)
    [cached] = [p for p in (run_copy / 'metrics_cache').iterdir() if p.name.startswith('prior_')]
    with np.load(cached) as saved:
        damaged = dict(saved)
    damaged['weights'] = np.array([0.9, 0.9])
    with open(cached, 'wb') as f:
        np.savez(f, **damaged)
    prior.for_checkpoint(cfg, checkpoint, encoder)
    assert 'does not read as a mixture (weights not a distribution): fitting it again' in capsys.readouterr().out
    cached.write_bytes(b'garbage')
    prior.for_checkpoint(cfg, checkpoint, encoder)
    assert 'does not read as a mixture' in capsys.readouterr().out
    assert prior.read(cfg, cached)['weights'].shape == (2,)  # written whole again
    # another checkpoint is another mixture
    prior.for_checkpoint(cfg, f'{run_copy}/checkpoints/ckpt-1', encoder)
    assert 'fitting' in capsys.readouterr().out


def test_a_render_draws_from_the_prior_its_config_and_flags_name(run_copy, capsys):
    def render(*args):
        inference.main([f'--out_dir={run_copy}', '--num_samples=4', '--metrics', *args])
        samples = run_copy / 'samples'
        return iio.imread(samples / 'generations' / '000001.png'), json.load(open(samples / 'metrics.json'))['prior']
    normal, described = render()
    assert described == 'normal'
    mixed, described = render('--prior=mixture', '--prior_components=2')
    assert described == 'mixture of 2 fitted to 32 training codes' and not np.array_equal(mixed, normal)
    assert 'prior mixture of 2 fitted to 32 training codes' in capsys.readouterr().out  # the summary line
    saved = json.load(open(run_copy / 'config.json'))  # a run trained with prior='mixture'
    (run_copy / 'config.json').write_text(json.dumps(dict(saved, prior='mixture', prior_components=2)))
    again, described = render()
    assert described.startswith('mixture of 2') and np.array_equal(again, mixed)
    back, described = render('--prior=normal')  # a flag wins over the run's config, as everywhere
    assert described == 'normal' and np.array_equal(back, normal)
    # an export carries the mixture it was fitted with: rendered elsewhere, it is read there, not fitted again
    export, elsewhere = run_copy.parent / 'export', run_copy.parent / 'elsewhere'
    capsys.readouterr()
    inference.main([f'--out_dir={run_copy}', f'--export={export}'])
    assert 'fitting a mixture of 2' in capsys.readouterr().out and len(os.listdir(export / 'metrics_cache')) == 1
    inference.main([f'--checkpoint={export}', f'--out_dir={elsewhere}', '--num_samples=4'])
    assert 'fitting' not in capsys.readouterr().out and not (elsewhere / 'metrics_cache').exists()
    assert np.array_equal(iio.imread(elsewhere / 'samples' / 'generations' / '000001.png'), mixed)
    # --seed draws other codes from the same mixture (fitted with the run's seed): still no fitting
    inference.main([f'--checkpoint={export}', f'--out_dir={run_copy.parent / "seed1"}', '--num_samples=4', '--seed=1'])
    assert 'fitting' not in capsys.readouterr().out
    assert not np.array_equal(iio.imread(run_copy.parent / 'seed1' / 'samples' / 'generations' / '000001.png'), mixed)


def test_prior_settings_are_checked_and_older_configs_read_without_them(tmp_path):
    with pytest.raises(UsageError, match="prior must be 'normal' or 'mixture', not 'gmm'"):
        configurator.from_args(['--prior=gmm'])
    with pytest.raises(UsageError, match='prior_images at least twice as many'):
        configurator.from_args(['--prior_components=10', '--prior_images=15'])
    saved = dataclasses.asdict(configurator.from_args([]))
    for field in configurator.LATER_FIELDS:
        del saved[field]
    (tmp_path / 'config.json').write_text(json.dumps(saved))
    assert configurator.from_saved(str(tmp_path / 'config.json')).prior == 'normal'


def test_validation_scores_draw_from_the_mixture_fitted_to_the_codes_of_the_moment(run_copy):
    import metrics
    import best_model
    cfg, checkpoint, _ = inference.load_config([f'--out_dir={run_copy}', '--prior=mixture', '--prior_components=2',
                                                '--eval_samples=4'])
    encoder, decoder = inference.restore_models(cfg, checkpoint)
    record = best_model.score(cfg, {'encoder': encoder, 'decoder': decoder}, 2, 4, metrics.feature_extractors(cfg))
    assert record['prior'] == 'mixture of 2 fitted to 32 training codes' and record['best']
    normal = best_model.score(dataclasses.replace(cfg, prior='normal'), {'encoder': encoder, 'decoder': decoder}, 2, 4,
                              metrics.feature_extractors(cfg))
    assert normal['prior'] == 'normal' and normal['best']  # scored on other terms: they replace best/, not compete
    assert normal['features']['classifier']['fid'] != record['features']['classifier']['fid']


def test_an_export_whose_mixture_cannot_be_fitted_is_whole_and_says_so(run_copy, capsys):
    """32 training images are too few for 20 components: the export is written and usable, with a note."""
    saved = json.load(open(run_copy / 'config.json'))
    (run_copy / 'config.json').write_text(json.dumps(dict(saved, prior='mixture', prior_components=20, prior_images=60)))
    export = run_copy.parent / 'export'
    inference.main([f'--out_dir={run_copy}', f'--export={export}'])
    printed = capsys.readouterr().out
    assert f'note: no mixture kept in {export} (prior mixture: 32 training images is too few for 20 components' in printed
    assert not (export / 'metrics_cache').exists() and sorted(os.listdir(export)) == [
        'README.md', 'checkpoint', 'ckpt-2.data-00000-of-00001', 'ckpt-2.index', 'config.json', 'decoder.keras',
        'encoder.keras']
