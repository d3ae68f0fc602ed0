"""The one reader (run_folder.read_bytes, read_json, read_arrays) at every file the repo reads back: a
derived file (a feature cache, a mixture, attribute vectors) that fails a check is one `note:` line and
made again; a run's or a user's file is one `error:` line naming it; never a traceback, never a hang."""
import dataclasses
import json
import os
import re
import signal

import numpy as np
import pytest

import config
import configurator
import run_folder
from configurator import UsageError
from conftest import TINY, tiny


def _extractor(width=6):
    import tensorflow as tf
    weights = tf.constant(np.random.default_rng(0).standard_normal((28 * 28, width)), tf.float32)
    return tf.function(lambda x: tf.reshape(x, [tf.shape(x)[0], -1]) @ weights)


# ---- group 1: a feature cache that is not exactly this extractor's features ----------------------

def test_a_feature_cache_of_another_kind_is_one_note_and_computed_again(tmp_path, capsys):
    import metrics
    cfg = tiny(config.mnist, tmp_path)
    images = np.random.default_rng(1).random((8, 28, 28, 1), np.float32)
    extract = _extractor()
    features = metrics.held_out_features(cfg, extract, 'weights', images)
    [path] = [os.path.join(cfg.out_dir, 'metrics_cache', n) for n in os.listdir(tmp_path / 'run' / 'metrics_cache')]
    fake = np.random.default_rng(2).standard_normal((8, 6)).astype(np.float32)
    right = metrics.fid(features, fake)
    damages = {'an .npz under the .npy name': lambda f: np.savez(f, features),
               'a string array': lambda f: np.save(f, features.astype(str)),
               'another width': lambda f: np.save(f, features[:, :5]),
               'another dtype': lambda f: np.save(f, features.astype(np.float64) + 1)}  # reads, but not these
    for name, damage in damages.items():
        with open(path, 'wb') as f:
            damage(f)
        capsys.readouterr()
        again = metrics.held_out_features(cfg, extract, 'weights', images)
        printed = capsys.readouterr().out.splitlines()
        assert len(printed) == 1 and printed[0].startswith(f'note: {path} ') and 'again' in printed[0], (name, printed)
        assert again.dtype == np.float32 and np.array_equal(again, features) and metrics.fid(again, fake) == right
        assert np.array_equal(np.load(path), features)  # written whole again


def test_a_linked_metrics_cache_is_refused_by_a_render_too(run_copy, tmp_path, capsys):
    import vae_gan_inference as inference
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    os.symlink(elsewhere, run_copy / 'metrics_cache')
    with pytest.raises(SystemExit) as stop:
        inference.main([f'--out_dir={run_copy}', '--metrics', '--num_samples=4'])
    assert str(stop.value.code).startswith(f'error: {run_copy}/metrics_cache is a symbolic link')
    assert os.listdir(elsewhere) == []


# ---- group 2: an export with its mixture is whole or absent -------------------------------------

@pytest.mark.parametrize('fault', [KeyboardInterrupt(signal.SIGINT), OSError(28, 'No space left on device')])
def test_an_export_stopped_while_its_mixture_is_fitted_leaves_nothing(run_copy, capsys, monkeypatch, fault):
    import prior
    import vae_gan_inference as inference
    saved = json.load(open(run_copy / 'config.json'))
    (run_copy / 'config.json').write_text(json.dumps(dict(saved, prior='mixture', prior_components=2)))
    export = run_copy.parent / 'export'

    def stopped(*args, **kwargs):
        raise fault
    with monkeypatch.context() as patched:
        patched.setattr(prior, 'fit', stopped)
        with pytest.raises(SystemExit) as stop:
            inference.main([f'--out_dir={run_copy}', f'--export={export}'])
    assert stop.value.code != 0 and not os.path.exists(export)
    assert [n for n in os.listdir(run_copy.parent) if n.startswith('.export')] == []
    capsys.readouterr()
    inference.main([f'--out_dir={run_copy}', f'--export={export}'])  # the same command again
    assert 'fitting a mixture of 2' in capsys.readouterr().out
    assert [n.startswith('prior_') for n in os.listdir(export / 'metrics_cache')] == [True]
    inference.main([f'--checkpoint={export}', f'--out_dir={run_copy.parent / "render"}', '--num_samples=2'])
    assert 'fitting' not in capsys.readouterr().out  # the export carries its mixture


# ---- the reader, property-style: every file kind, every kind of damage ---------------------------

def _arrays(transform):
    """A damage that loads the .npy or .npz in place and saves it back with transform(array) for each array."""
    def damage(path, rng):
        loaded = np.load(path)
        if isinstance(loaded, np.ndarray):
            return np.save(open(path, 'wb'), transform(loaded))
        arrays = {name: transform(loaded[name]) for name in loaded.files}
        np.savez(open(path, 'wb'), **arrays)
    return damage


def _replaced(make):
    def damage(path, rng):
        os.remove(path)
        make(path)
    return damage


def _fifo_elsewhere(path):
    os.mkfifo(path + '.fifo')
    os.symlink(path + '.fifo', path)


DAMAGES = {
    'truncated': lambda p, rng: os.truncate(p, int(rng.integers(1, os.path.getsize(p) - 1))),
    'garbage': lambda p, rng: open(p, 'r+b').write(rng.integers(32, 127, os.path.getsize(p), np.uint8).tobytes()),
    'empty': lambda p, rng: os.truncate(p, 0),
    'a FIFO': _replaced(os.mkfifo),
    'a folder': _replaced(os.mkdir),
    'a device': _replaced(lambda p: os.symlink('/dev/zero', p)),
    'a dangling link': _replaced(lambda p: os.symlink(p + '.gone', p)),
    'a link to a FIFO': _replaced(_fifo_elsewhere),
}
ARRAY_DAMAGES = {
    'another dtype': _arrays(lambda a: a.astype(np.float64 if a.dtype == np.float32 else np.float32)
                             if a.dtype.kind == 'f' else a.astype(np.float32) if a.dtype.kind == 'i' else a),
    'another shape': _arrays(lambda a: a[:-1] if a.ndim else a[None]),
}
JSON_DAMAGES = {'another type': lambda p, rng: open(p, 'w').write('[1, 2]')}


def _kinds(tmp, monkeypatch):
    """{kind: (derived, damages, make(folder) -> the file's path, read(path))}: each file the repo reads back,
    made whole in a folder of its own, and the call that reads it."""
    import best_model
    import data
    import images
    import metrics
    import prior
    import tensorflow as tf
    import attributes
    from conftest import ROOT
    cfg = tiny(config.mnist, tmp, z_dim=8, prior='mixture', prior_components=2, prior_images=4)
    pictures = np.random.default_rng(1).random((8, 28, 28, 1), np.float32)
    extract = _extractor()
    mixture = {'weights': np.array([0.5, 0.5]), 'means': np.zeros((2, 8)), 'covariances': np.stack([np.eye(8)] * 2),
               'images': 4}
    monkeypatch.setattr(prior, 'fit', lambda *args: mixture)
    monkeypatch.setattr(data, 'labelled_dataset', lambda *args: tf.data.Dataset.from_tensors(
        (np.zeros((4, 28, 28, 1), np.float32), np.eye(4, 10, dtype=np.float32))))
    encode = lambda x, training: (tf.zeros([4, 8]), tf.ones([4, 8]))

    def at(folder):
        return dataclasses.replace(cfg, out_dir=str(folder))

    def run(folder):  # a run that has started: config.json, preset.json, checkpoints/
        os.makedirs(folder / 'checkpoints')
        run_folder.write_json(folder / 'config.json', dataclasses.asdict(at(folder)))
        run_folder.write_json(folder / configurator.PRESET_FILE, dataclasses.asdict(config.mnist))
        return folder

    def cache(folder):
        metrics.held_out_features(at(folder), extract, 'weights', pictures)
        return str(next((folder / 'metrics_cache').iterdir()))

    def index(folder):
        (folder / 'ckpt-1.index').write_bytes(b'an index')
        return str(folder / 'ckpt-1.index')

    def mixed(folder):
        prior.for_checkpoint(at(folder), index(folder)[:-6], None)
        return str(next((folder / 'metrics_cache').iterdir()))

    def vectors(folder):
        attributes.for_checkpoint(at(folder), index(folder)[:-6], encode, 4)
        return str(next((folder / 'metrics_cache').iterdir()))

    def best(folder):
        run(folder)
        os.mkdir(folder / 'best')
        run_folder.write_json(folder / 'best' / 'scores.json', {'epoch': 1, 'figure': 1.0})
        return str(folder / 'best' / 'scores.json')

    def labels(folder):
        names = ' '.join(data.CELEB_A_ATTRIBUTES)
        (folder / data.LABEL_FILES[0]).write_text(f'1\n{names}\n000001.jpg ' + ' 1' * 40 + '\n')
        return str(folder / data.LABEL_FILES[0])

    def frames(folder):
        os.mkdir(folder / 'op-gen')
        for epoch in (1, 2):
            images.save_image(np.zeros((8, 8, 1), np.uint8), str(folder / 'op-gen' / f'epoch_{epoch}.png'))
        return str(folder / 'op-gen' / 'epoch_1.png')

    def network(folder):
        path = folder / 'classifier.weights.h5'
        path.write_bytes(open(os.path.join(ROOT, 'MNIST', 'classifier.weights.h5'), 'rb').read())
        monkeypatch.setattr(metrics, 'classifier_path', lambda *args: str(path))
        return str(path)

    scores = lambda folder: str((folder / 'scores.jsonl').write_text('{"epoch": 1}\n') and folder / 'scores.jsonl')
    figures = {'features': {'mlp': {'fid': 1.0, 'kid': 0.0, 'precision': 1.0, 'recall': 1.0}}, 'mse': 0.1, 'ssim': 0.9}
    parent = lambda path: dataclasses.replace(cfg, out_dir=os.path.dirname(os.path.dirname(path)))
    return {
        'feature cache': (True, ARRAY_DAMAGES, cache,
                          lambda p: metrics.held_out_features(parent(p), extract, 'weights', pictures)),
        'mixture': (True, ARRAY_DAMAGES, mixed, lambda p: prior.for_checkpoint(
            parent(p), os.path.join(os.path.dirname(os.path.dirname(p)), 'ckpt-1'), None)),
        'attribute vectors': (True, ARRAY_DAMAGES, vectors, lambda p: attributes.for_checkpoint(
            parent(p), os.path.join(os.path.dirname(os.path.dirname(p)), 'ckpt-1'), encode, 4)),
        'config.json': (False, JSON_DAMAGES, lambda f: str(run(f) / 'config.json'), configurator.from_saved),
        'preset.json': (False, JSON_DAMAGES, lambda f: str(run(f) / configurator.PRESET_FILE),
                        lambda p: configurator.for_training({'out_dir': os.path.dirname(p)})),
        'scores.jsonl': (False, JSON_DAMAGES, scores, lambda p: metrics.read_scores(os.path.dirname(p))),
        'best/scores.json': (False, JSON_DAMAGES, best,
                             lambda p: best_model.read_best(os.path.dirname(os.path.dirname(p)))),
        'metrics.json': (False, JSON_DAMAGES, lambda f: str(run_folder.write_json(f / 'metrics.json', figures)
                                                             or f / 'metrics.json'), metrics._scores),
        'checkpoint index': (False, {}, index, lambda p: prior.for_checkpoint(at(os.path.dirname(p)), p[:-6], None)),
        'list_attr_celeba.txt': (False, {}, labels,
                                 lambda p: data.read_labels(os.path.dirname(p), ['000001.jpg'])),
        'a grid of op-gen/': (False, {}, frames, lambda p: images.write_gif(os.path.dirname(p), p + '.gif')),
        'a feature network': (False, {}, network, lambda p: metrics._extractor(cfg, 'classifier')),
    }


def test_every_damaged_file_is_one_line_never_a_traceback_nor_a_hang(tmp_path, capsys, monkeypatch):
    failed = []
    for kind, (derived, damages, make, read) in _kinds(tmp_path, monkeypatch).items():
        for (name, damage), seed in [(d, seed) for d in {**DAMAGES, **damages}.items() for seed in range(2)]:
            folder = tmp_path / f'{kind}-{name}-{seed}'.replace(' ', '_').replace('/', '_')
            folder.mkdir()
            path = make(folder)
            damage(path, np.random.default_rng(seed))
            capsys.readouterr()
            try:
                lines = _lines(read, path, capsys)
                if derived and name == 'a folder':  # treated as absent, then the rebuilt file cannot take its place
                    assert len(lines) == 2 and lines[0].startswith('note: ') and 'Is a directory' in lines[1], lines
                elif (kind == 'checkpoint index' and os.path.isfile(path)  # its digest: another file, another key
                      or (kind, name) == ('scores.jsonl', 'empty')):  # no scores yet
                    assert lines == [], lines
                else:
                    assert len(lines) == 1 and (lines[0].startswith('note: ') or not derived), lines
                    assert os.path.basename(path) in lines[0] or os.path.dirname(path) in lines[0], lines
            except Exception as e:  # every case tried, the failures listed at the end
                failed.append(f'{kind}, {name} ({seed}): {type(e).__name__} {str(e)[:300]}')
            finally:
                capsys.readouterr()
    assert not failed, '\n'.join(failed)


class Hung(Exception):
    pass


def _lines(read, path, capsys):
    """read(path) within 10 s: its `note:` lines, then its error's line (a UsageError or an OSError, which
    a command prints as `error: ...`). A traceback printed, or a line of several lines, fails."""
    def late(signum, frame):
        raise Hung('still reading after 10 s')
    before = signal.signal(signal.SIGALRM, late)
    signal.alarm(10)
    error = None
    try:
        read(path)
    except (UsageError, OSError) as e:
        error = e
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, before)
    printed = capsys.readouterr()
    assert 'Traceback' not in printed.out + printed.err
    lines = [line for line in printed.out.splitlines() if line.startswith('note: ')] + ([str(error)] if error else [])
    assert all('\n' not in line for line in lines), lines
    return lines


def _one_error(main, args, message):
    """main(args) ends within 20 s in the one line `error: ...message...`."""
    def late(signum, frame):
        raise Hung(f'{args} still running after 20 s')
    before = signal.signal(signal.SIGALRM, late)
    signal.alarm(20)
    try:
        with pytest.raises(SystemExit) as stop:
            main(args)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, before)
    line = str(stop.value.code)
    assert line.startswith('error: ') and '\n' not in line and message in line, line


def test_a_fifo_as_config_json_or_preset_json_is_one_line_at_once(run_copy, capsys):
    import vae_gan
    import vae_gan_inference as inference
    os.rename(run_copy / configurator.PRESET_FILE, run_copy / 'preset.kept')
    os.mkfifo(run_copy / configurator.PRESET_FILE)
    _one_error(vae_gan.main, TINY + [f'--out_dir={run_copy}'], f'{run_copy}/preset.json cannot be read (not a regular '
               'file but a FIFO)')
    os.rename(run_copy / 'config.json', run_copy / 'config.kept')
    os.mkfifo(run_copy / 'config.json')
    for main in (vae_gan.main, inference.main):
        _one_error(main, [f'--out_dir={run_copy}'], f'{run_copy}/config.json cannot be read as a config (not a regular '
                   'file but a FIFO)')
    assert 'Traceback' not in capsys.readouterr().err


def test_a_preset_edited_in_config_json_is_blamed_on_config_json(run_copy, capsys):
    import vae_gan
    saved = json.load(open(run_copy / 'config.json'))
    (run_copy / 'config.json').write_text(json.dumps(dict(saved, preset='cifar10')))
    _one_error(vae_gan.main, TINY + [f'--out_dir={run_copy}'], f"{run_copy}/config.json names the preset 'cifar10', "
               "but the run last started with 'mnist' (preset.json)")
    (run_copy / 'config.json').write_text(json.dumps(dict(saved, preset=['mnist'])))
    _one_error(vae_gan.main, TINY + [f'--out_dir={run_copy}'], "config.json is not a config this version wrote "
               "(unknown preset ['mnist'])")
    text = json.dumps(saved)  # a key given twice, as a hand edit leaves it: the second would silently win
    (run_copy / 'config.json').write_text(text[:-1] + ', "z_dim": 16}')
    _one_error(vae_gan.main, TINY + [f'--out_dir={run_copy}'], "the key 'z_dim' appears twice")


def test_json_nested_too_deep_is_one_line_and_a_bad_scores_line_is_kept(run_copy, capsys):
    """A JSON file nested 100,000 deep (under the size bound) is refused as any other bad JSON, not a
    RecursionError's traceback; a scores.jsonl line that does not read is left out of the scores and kept
    in the file when the run rewrites it."""
    import best_model
    import vae_gan
    deep = '[' * 100000 + ']' * 100000
    (run_copy / 'preset.json').write_text(deep)
    _one_error(vae_gan.main, TINY + [f'--out_dir={run_copy}'], 'preset.json')
    (run_copy / 'scores.jsonl').write_text(f'{{"epoch": "1"}}\n{deep}\n{{"epoch": 5, "figure": 1.0}}\n')
    best_model.forget_after(str(run_copy), 2)
    assert (run_copy / 'scores.jsonl').read_text() == f'{{"epoch": "1"}}\n{deep}\n'
    assert capsys.readouterr().out.count('does not read as scores: left out (kept in the file)') == 2


def test_an_edit_of_config_py_and_a_path_are_checked_as_flags_are():
    for fields, message in (({'lr_decoder': 'fast'}, "lr_decoder must be a number, not 'fast' (config.py's"),
                            ({'out_dir': 'runs/a\udcffb'}, 'is not UTF-8 text'),
                            ({'data_dir': '\ud800x'}, 'is not UTF-8 text')):  # (a lone surrogate, from JSON)
        with pytest.raises(UsageError, match=re.escape(message)):
            configurator.checked(dataclasses.replace(config.mnist, **fields))
