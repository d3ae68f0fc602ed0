"""The run keeps its best model: scored on validation images every eval_every epochs (scores.jsonl),
best/ written when the figure improves and kept across a resume; inference renders it by default."""
import dataclasses
import json
import os

import numpy as np
import pytest

import best_model
import checkpoints
import config
import configurator
import data
import metrics
import vae_gan
import vae_gan_inference as inference
from configurator import UsageError
from conftest import fake_scores, needs_real_mnist, tiny


@pytest.fixture
def scripted(monkeypatch):
    """(fids, splits): each scoring takes the next FID of `fids`; `splits` records which split each asked for."""
    fids, splits = [], []

    def evaluate(cfg, encoder, decoder, count, seed=0, extractors=None, split='held_out', draw=None):
        splits.append(split)
        fid = fids.pop(0)
        if fid is KeyboardInterrupt:
            raise KeyboardInterrupt  # a stop during the scores
        return fake_scores(fid)
    monkeypatch.setattr(metrics, 'evaluate', evaluate)
    monkeypatch.setattr(metrics, 'feature_extractors', lambda cfg: {})
    return fids, splits


def _same_networks(cfg, a, b):
    """Whether the checkpoints at a and b hold the same encoder and decoder weights."""
    weights = lambda prefix: [w for net in inference.restore_models(cfg, prefix) for w in net.get_weights()]
    wa, wb = weights(a), weights(b)
    return len(wa) == len(wb) > 10 and all(np.array_equal(x, y) for x, y in zip(wa, wb))


def test_best_follows_the_figure_and_a_resumed_run_keeps_it(tmp_path, digits, scripted, capsys):
    fids, splits = scripted
    cfg = tiny(config.mnist, tmp_path, data_dir=str(digits), z_dim=8, epochs=3, eval_every=1, checkpoint_every=1,
               sample_every=10)
    fids += [10.0, 20.0, 15.0]  # improves, worsens, still worse than epoch 1
    vae_gan.train(cfg)
    best = os.path.join(cfg.out_dir, 'best')
    assert checkpoints.numbered(best)[0][0] == 1
    assert _same_networks(cfg, f'{best}/ckpt-1', f'{cfg.out_dir}/checkpoints/ckpt-1')
    assert not _same_networks(cfg, f'{best}/ckpt-1', f'{cfg.out_dir}/checkpoints/ckpt-3')
    assert [r['best'] for r in metrics.read_scores(cfg.out_dir)] == [True, False, False]
    assert 'best/ stays (epoch 1)' in capsys.readouterr().out
    # A crash after epoch 3's scores, before its checkpoint: the resumed run redoes epoch 3, forgets its
    # old scores, and still measures against best/'s 10 (15 is no improvement); then 5 is.
    for name in os.listdir(f'{cfg.out_dir}/checkpoints'):
        if name.startswith('ckpt-3.'):
            os.remove(f'{cfg.out_dir}/checkpoints/{name}')
    fids += [15.0, 5.0]
    vae_gan.train(dataclasses.replace(cfg, epochs=4))
    records = metrics.read_scores(cfg.out_dir)
    assert [(r['epoch'], r['figure'], r['best']) for r in records] == [
        (1, 10.0, True), (2, 20.0, False), (3, 15.0, False), (4, 5.0, True)]
    assert all(len(r['overfitting']) == 5 for r in records)  # a scored epoch's one record holds D's figures too
    assert checkpoints.numbered(best)[0][0] == 4 and len(checkpoints.numbered(best)) == 1
    assert _same_networks(cfg, f'{best}/ckpt-4', f'{cfg.out_dir}/checkpoints/ckpt-4')
    with open(f'{best}/scores.json') as f:
        assert json.load(f)['epoch'] == 4
    # A stop during the scores of the last epoch, after its checkpoint: the same command scores it (a resumed
    # run scores such an epoch before it trains on).
    fids += [KeyboardInterrupt, 3.0]
    with pytest.raises(KeyboardInterrupt):
        vae_gan.train(dataclasses.replace(cfg, epochs=5))
    assert checkpoints.newest(f'{cfg.out_dir}/checkpoints')[1] == 5
    vae_gan.train(dataclasses.replace(cfg, epochs=5))
    records = metrics.read_scores(cfg.out_dir)
    assert [(r['epoch'], r['figure'], r['best']) for r in records[4:]] == [(5, 3.0, True)]
    assert all(len(r['overfitting']) == 5 for r in records) and checkpoints.numbered(best)[0][0] == 5
    assert splits == ['validation'] * 7 and not fids


def test_only_a_scoring_epoch_with_no_record_is_unscored(tmp_path):
    cfg = dataclasses.replace(config.mnist, out_dir=str(tmp_path), eval_every=4)
    assert best_model.unscored(cfg, 12) and not best_model.unscored(cfg, 10) and not best_model.unscored(cfg, 0)
    best_model.append(cfg.out_dir, {'epoch': 12, 'overfitting': {}})  # scored every 8 epochs until now
    assert not best_model.unscored(cfg, 12) and not best_model.unscored(dataclasses.replace(cfg, eval_every=0), 16)


def test_a_run_that_never_scores_loads_no_feature_network(tmp_path, digits, monkeypatch):
    monkeypatch.setattr(metrics, 'feature_extractors', lambda cfg: pytest.fail('loaded'))
    cfg = tiny(config.mnist, tmp_path, data_dir=str(digits), z_dim=8, epochs=4, eval_every=5)
    assert not best_model.due(cfg, 0) and best_model.due(dataclasses.replace(cfg, epochs=5), 0)
    assert not best_model.due(dataclasses.replace(cfg, epochs=9), 5)


def test_inference_renders_best_by_default_and_either_on_request(run_copy, capsys):
    cfg, _ = configurator.for_run({'out_dir': str(run_copy)})
    encoder, decoder = inference.restore_models(cfg, f'{run_copy}/checkpoints/ckpt-1')
    settings = dataclasses.asdict(dataclasses.replace(cfg, out_dir=f'{run_copy}/best'))
    capsys.readouterr()
    inference.main([f'--out_dir={run_copy}', '--num_samples=2', '--checkpoint=newest'])
    assert 'using the newest checkpoint, ckpt-2\n' in capsys.readouterr().out  # no best/ yet: nothing to offer
    with pytest.raises(SystemExit, match='no best model in'):
        inference.main([f'--out_dir={run_copy}', '--num_samples=2', '--checkpoint=best'])
    checkpoints.export(f'{run_copy}/best', {'encoder': encoder, 'decoder': decoder}, 1, settings, "the run's best",
                       {'scores.json': dict(fake_scores(3.0), epoch=1, figure=3.0)})
    for args, chosen in (([], 'best/ckpt-1'), (['--checkpoint=best'], 'best/ckpt-1'), ([f'--checkpoint={run_copy}/best'],
                         'best/ckpt-1'), (['--checkpoint=newest'], 'checkpoints/ckpt-2')):
        inference.main([f'--out_dir={run_copy}', '--num_samples=2'] + args)
        printed = capsys.readouterr().out
        assert f'rendering {run_copy}/{chosen} into {run_copy}/samples' in printed, printed
        assert ('--checkpoint=newest takes' in printed) == (args in ([], ['--checkpoint=best']))


def test_the_validation_split_is_neither_the_test_nor_the_training_split():
    m = config.mnist
    assert m.validation_split == 'train[:5000]' and m.train_split == 'train[5000:]' and m.held_out_split == 'test'
    for split, message in (('test', 'also the held_out_split'), ('train[5000:]', 'also the train_split')):
        with pytest.raises(UsageError, match=message):
            configurator.checked(dataclasses.replace(m, validation_split=split))
    with pytest.raises(UsageError, match='eval_every needs a validation_split'):
        configurator.checked(dataclasses.replace(m, validation_split=''))
    for preset in config.PRESETS.values():
        assert not preset.eval_every or preset.validation_split not in (preset.held_out_split, preset.train_split)


def test_a_celeb_a_numbered_folder_scores_on_its_validation_part(tmp_path):
    import tensorflow as tf
    folder = tmp_path / 'faces'
    folder.mkdir()
    for number in (1, 2, 162771, 162772, 182638, 182639):  # train, validation, test (the official partition)
        tf.io.write_file(str(folder / f'{number:06d}.png'), tf.io.encode_png(tf.fill([28, 28, 1], tf.constant(
            number % 251, tf.uint8))))
    cfg = dataclasses.replace(config.mnist, data_dir=str(folder))
    read = lambda split: sorted(int(round(float(x[0, 0, 0, 0]) * 255)) for x in data.held_out_dataset(cfg, 1, split))
    assert read('validation') == [162771 % 251, 162772 % 251] and read('held_out') == [182638 % 251, 182639 % 251]


@needs_real_mnist
def test_mnist_validation_images_are_not_test_or_training_images():
    import hashlib
    cfg = config.mnist
    hashes = lambda c, split: {hashlib.sha1(x.tobytes()).hexdigest() for batch in data.held_out_dataset(c, 1000, split)
                               for x in batch.numpy()}
    validation_images = hashes(cfg, 'validation')
    assert len(validation_images) == 5000
    assert not validation_images & hashes(cfg, 'held_out')
    assert not validation_images & hashes(dataclasses.replace(cfg, held_out_split=cfg.train_split), 'held_out')


def test_the_scores_plot_reads_every_run_and_leaves_out_cut_lines(tmp_path, capsys):
    import imageio.v3 as iio
    for run, fids in (('seed0', [30.0, 10.0, 20.0]), ('seed1', [25.0, 15.0, 12.0])):
        os.makedirs(tmp_path / run)
        best = float('inf')
        with open(tmp_path / run / metrics.SCORES, 'w') as f:
            for epoch, fid in enumerate(fids, 1):
                f.write(json.dumps(dict(fake_scores(fid), epoch=epoch * 5, figure=fid, best=fid < best)) + '\n')
                best = min(best, fid)
        with open(tmp_path / run / metrics.SCORES, 'a') as f:
            f.write('{"epoch": 20, "cut off\n')  # a line a full disk cut: left out with a note
    metrics.main(['--plot', str(tmp_path / 'scores.png'), str(tmp_path / 'seed0'), str(tmp_path / 'seed1')])
    assert iio.imread(tmp_path / 'scores.png').shape[:2] == (380, 1300)
    assert capsys.readouterr().out.count('does not read as scores: left out') == 2
    with pytest.raises(SystemExit, match='no scores in'):
        metrics.main(['--plot', str(tmp_path / 'empty.png'), str(tmp_path)])


def test_metrics_py_never_replaces_an_input_and_ends_in_one_line(tmp_path, capsys, monkeypatch):
    import signal
    import imageio.v3 as iio
    run = tmp_path / 'run'
    run.mkdir()
    two = fake_scores(10.0)
    two['features']['mlp'] = dict(two['features']['classifier'])
    lines = [dict(fake_scores(20.0), epoch=4), dict(two, epoch=8),  # one feature space, then two: both drawn
             {'epoch': 12, 'mse': 0.1}, dict(fake_scores(float('nan')), epoch=16)]  # no features, a NaN: left out
    (run / metrics.SCORES).write_text(''.join(json.dumps(line) + '\n' for line in lines))
    scores = (run / metrics.SCORES).read_text()
    (run / 'config.json').write_text('{}')
    for out in (run / metrics.SCORES, run / 'config.json'):  # an input, or any file that is no PNG: never replaced
        with pytest.raises(SystemExit, match='error: --plot'):
            metrics.main(['--plot', str(out), str(run)])
    assert (run / metrics.SCORES).read_text() == scores and (run / 'config.json').read_text() == '{}'
    (tmp_path / 'notes.png').write_text('a user file that only ends in .png')  # outside any run: kept too
    with pytest.raises(SystemExit, match='that name is taken by something that is not a PNG'):
        metrics.main(['--plot', str(tmp_path / 'notes.png'), str(run)])
    assert (tmp_path / 'notes.png').read_text() == 'a user file that only ends in .png'
    metrics.main(['--plot', str(tmp_path / 'new' / 'scores.png'), str(run)])
    assert iio.imread(tmp_path / 'new' / 'scores.png').shape[:2] == (380, 1300)
    assert capsys.readouterr().out.count('lack a figure: left out') == 2
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:  # a full disk, Ctrl-C: one line each, the plot before as it was
        before = (tmp_path / 'new' / 'scores.png').read_bytes()
        for fault, code in ((OSError(28, 'No space left on device', 'scores.png'), 'error: scores.png: No space'),
                            (KeyboardInterrupt(signal.SIGTERM), 128 + signal.SIGTERM)):
            monkeypatch.setattr(metrics, 'plot', lambda *a, fault=fault: (_ for _ in ()).throw(fault))
            with pytest.raises(SystemExit) as stop:
                metrics.main(['--plot', str(tmp_path / 'new' / 'scores.png'), str(run)])
            assert str(stop.value.code).startswith(code) if isinstance(code, str) else stop.value.code == code
            assert (tmp_path / 'new' / 'scores.png').read_bytes() == before
        assert 'stopped: nothing written' in capsys.readouterr().err
        monkeypatch.undo()
    finally:
        for s, handler in handlers.items():
            signal.signal(s, handler)
    (run / metrics.SCORES).unlink()
    (run / metrics.SCORES).mkdir()
    with pytest.raises(SystemExit, match='is not a file of scores'):
        metrics.main(['--plot', str(tmp_path / 'other.png'), str(run)])
    with pytest.raises(SystemExit, match='error: --train_classifier learns from the labels.*drop --data_dir'):
        metrics.main(['--train_classifier', f'--data_dir={tmp_path}'])



def test_a_folder_whose_validation_images_are_its_held_out_images_does_not_score(digits, tmp_path, capsys):
    cfg = tiny(config.mnist, tmp_path, data_dir=str(digits), held_out_split='validation', eval_every=1)
    assert best_model.start(cfg, 0) is None
    assert 'no scores and no best/ in this run' in capsys.readouterr().out


def test_a_best_scored_on_other_terms_is_replaced(run_copy, scripted, capsys):
    fids, _ = scripted
    cfg, _ = configurator.for_run({'out_dir': str(run_copy)})
    networks = dict(zip(('encoder', 'decoder'), inference.restore_models(cfg, f'{run_copy}/checkpoints/ckpt-1')))
    fids += [10.0, 50.0, 50.0]
    assert best_model.score(cfg, networks, 1, 2, {})['best']
    assert not best_model.score(cfg, networks, 2, 4, {})['best']  # 50 > 10, scored alike
    assert best_model.score(dataclasses.replace(cfg, seed=7), networks, 2, 4, {})['best']  # other generations
    assert 'was scored on other terms' in capsys.readouterr().out
