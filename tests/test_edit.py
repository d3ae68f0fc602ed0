"""Attribute vectors for any labelled data, a picture edited along them (--edit, --to), and how well edits reach
their class (metrics.json's 'edits'): on the shared tiny run with its digits labelled 0-9 by a labels.txt, and
on the tiny CelebA-like run (conftest's faces)."""
import json
import os
import shutil

import imageio.v3 as iio
import numpy as np
import pytest
import tensorflow as tf

import attributes
import data
import metrics
import models
import run_folder
import vae_gan_inference as inference


def _label(folder, of):
    """A labels.txt in folder: its i-th picture of the class of(i), of the ten 0-9."""
    names = sorted(n for n in os.listdir(folder) if n.endswith('.png'))
    rows = [f'{n} ' + ' '.join('1' if k == of(i) else '-1' for k in range(10)) for i, n in enumerate(names)]
    (folder / 'labels.txt').write_text('\n'.join([str(len(names)), ' '.join(map(str, range(10)))] + rows) + '\n')


@pytest.fixture(scope='module')
def labelled(digits, tmp_path_factory):
    """The shared digits with a labels.txt: file i is of class i % 10."""
    folder = tmp_path_factory.mktemp('labelled') / 'digits'
    shutil.copytree(digits, folder)
    _label(folder, lambda i: i % 10)
    return str(folder)


def _args(trained_run, labelled, out, *more):
    return [f'--checkpoint={trained_run}/checkpoints/ckpt-2', f'--out_dir={out}', f'--data_dir={labelled}', *more]


def _picture(path, light=230, ink=20, size=(30, 40)):
    """A dark-on-light RGB picture (height, width) of a vertical bar, as a phone's photo of a digit would be."""
    image = np.full(size + (3,), light, np.uint8)
    image[5:-5, size[1] // 2 - 2:size[1] // 2 + 2] = ink
    iio.imwrite(path, image, extension='.png')
    return str(path)


def test_vectors_equal_a_numpy_computation(trained_run, labelled, tmp_path):
    cfg, checkpoint, _ = inference.load_config(_args(trained_run, labelled, tmp_path / 'out'))
    encoder, _ = inference.restore_models(cfg, checkpoint)
    names, found = attributes.for_checkpoint(cfg, checkpoint, encoder, 20, beside=run_folder.run_of(checkpoint))
    assert names == tuple(str(k) for k in range(10))
    files = sorted(n for n in os.listdir(labelled) if n.endswith('.png'))[:20]  # the train part's first 20
    x = np.stack([iio.imread(os.path.join(labelled, n))[..., None] for n in files]).astype(np.float32) / 255
    mean, sigma = (t.numpy() for t in encoder(x, training=False))
    seed = json.load(open(os.path.join(trained_run, 'config.json')))['seed']
    codes = mean + sigma * tf.random.stateless_normal(mean.shape, seed=[seed, 0]).numpy()  # batch 0's eps
    classes = np.arange(20) % 10
    for k in range(10):
        assert np.allclose(found['means'][k], codes[classes == k].mean(0), atol=1e-5)
        assert np.allclose(found['vectors'][k], codes[classes == k].mean(0) - codes[classes != k].mean(0), atol=1e-5)
    assert found['counts'].tolist() == [[2, 18]] * 10


def test_success_and_identity_on_a_planted_case():
    """Codes in 2-D, decoded to an all-1 image when the first coordinate is > 0 (class 1), else all 0 (class 0)."""
    rng = np.random.default_rng(0)
    codes = rng.normal(size=(200, 2)).astype(np.float32)
    classes = (codes[:, 0] > 0).astype(int)
    vectors, means = np.array([[-1.0, 0], [1.0, 0]]), np.array([[-0.8, 0], [0.8, 0]])
    decode = lambda z: np.broadcast_to((z[:, :1, None, None] > 0).astype(np.float32), (len(z), 2, 2, 1))
    reads = lambda images: (images.mean((1, 2, 3)) > 0.5).astype(int)
    classify = {'right': reads, 'zero': lambda images: 0 * reads(images)}  # the second always reads class 0
    scores = metrics.edit_scores(codes, classes, vectors, means, decode, classify, strengths=(0.5, 1.0))
    target = 1 - classes  # the one other class
    for s in (0.5, 1.0):
        moved = codes[:, 0] + s * vectors[target, 0]
        reached = np.mean((moved > 0) == target)
        assert scores['vector'][f'{s:g}']['success'] == {'right': reached, 'zero': np.mean(target == 0)}
        assert scores['vector'][f'{s:g}']['identity'] == pytest.approx(reached)  # every pixel flips, or none
        direct = codes[:, 0] + s * (means[target, 0] - means[classes, 0])
        assert scores['direct'][f'{s:g}']['success']['right'] == np.mean((direct > 0) == target)
    assert scores['class_mean']['success']['right'] == 1.0 and scores['class_mean']['identity'] == 1.0
    assert scores['reconstruction'] == {'success': {'right': 0.0, 'zero': np.mean(target == 0)}, 'identity': 0.0}


def test_a_picture_is_read_inverted_edited_and_written_whole(trained_run, labelled, tmp_path, capsys):
    out, picture = tmp_path / 'out', _picture(tmp_path / 'phone.png')
    inference.main(_args(trained_run, labelled, out, f'--edit={picture}', '--to=7', '--strength=0,1'))
    printed = capsys.readouterr().out
    assert (f'{picture}: 40x30 RGB, its central 30x30, seen at 28x28 grey, inverted (its border is light; mnist\'s '
            'images are light on dark)') in printed
    strip = iio.imread(out / 'edits' / 'phone_to_7.png')
    assert strip.shape[1] == 3 * (4 * (28 + 2) + 2)  # original, reconstruction, two strengths; scaled 3x
    singles = out / 'edits' / 'phone_to_7'
    assert sorted(os.listdir(singles)) == ['original.png', 'reconstruction.png', 'strength_0.png', 'strength_1.png']
    assert sorted(os.listdir(out / 'edits')) == ['phone_to_7', 'phone_to_7.png']  # no temporary left
    read = {n[:-4]: iio.imread(singles / n) for n in os.listdir(singles)}
    original = read['original']
    assert original.shape == (28, 28) and original[0].mean() < 40 and original[14, 14] > 200  # light on dark now
    cfg, checkpoint, _ = inference.load_config(_args(trained_run, labelled, out))
    encoder, decoder = inference.restore_models(cfg, checkpoint)
    code = encoder(original[None, ..., None].astype(np.float32) / 255, training=False)[0]
    _, found = attributes.for_checkpoint(cfg, checkpoint, encoder, 10000, beside=run_folder.run_of(checkpoint))
    for name, z in (('reconstruction', code), ('strength_1', code + found['vectors'][7])):
        expected = data.to_uint8(cfg, decoder(z, training=False)).numpy()[0, ..., 0]
        assert np.abs(read[name].astype(int) - expected).max() <= 1, name
    assert np.array_equal(read['strength_0'], read['reconstruction'])


def test_a_folder_of_pictures_skips_a_damaged_one(trained_run, labelled, tmp_path, capsys):
    pictures = tmp_path / 'pictures'
    pictures.mkdir()
    _picture(pictures / 'a.png')
    _picture(pictures / 'b.png', light=10, ink=250)  # light on dark already: not inverted
    (pictures / 'c.png').write_bytes((pictures / 'a.png').read_bytes()[:60])
    (pictures / 'b.gif').write_bytes((pictures / 'b.png').read_bytes())  # b's stem twice: each its own files
    inference.main(_args(trained_run, labelled, tmp_path / 'out', f'--edit={pictures}', '--to=3', '--from_label=1',
                         '--strength=1.5'))
    printed = capsys.readouterr()
    assert f"warning: skipping '{pictures}/c.png' (not a complete JPEG, PNG, GIF or BMP image)" in printed.err
    assert 'b.png: 40x30 RGB, its central 30x30, seen at 28x28 grey\n' in printed.out
    assert sorted(os.listdir(tmp_path / 'out' / 'edits')) == ['a_1_to_3', 'a_1_to_3.png', 'b_gif_1_to_3',
                                                               'b_gif_1_to_3.png', 'b_png_1_to_3', 'b_png_1_to_3.png']
    assert sorted(os.listdir(tmp_path / 'out' / 'edits' / 'b_png_1_to_3')) == [
        'original.png', 'reconstruction.png', 'strength_1.5.png']


def test_refusals_are_one_line(trained_run, labelled, tmp_path, capsys):
    picture = _picture(tmp_path / 'p.png')
    damaged = tmp_path / 'damaged.png'
    damaged.write_bytes(open(picture, 'rb').read()[:-12])  # cut short: no IEND
    out = tmp_path / 'out'
    for more, message in [
            ([f'--edit={picture}', '--to=7.'], "unknown label '7.' (did you mean '7'?); the 10 of "),
            ([f'--edit={damaged}', '--to=7'], f'--edit={damaged} does not read as a picture (not a complete JPEG, PNG'),
            ([f'--edit={picture}', '--to=7', '--strength='], '--strength=: pass how far along the move'),
            ([f'--edit={picture}', '--to=7', '--strength=1,x'], '--strength=1,x: pass how far along the move'),
            ([f'--edit={picture}'], '--edit needs --to=NAME'),
            ([f'--edit={picture}', '--to=7', '--from_label=7'], '--from_label=7 is --to: a move from a label to itself'),
            (['--to=7', f'--export={tmp_path / "e"}'], '--to edits a picture, and --export was given'),
            ([f'--edit={tmp_path / "none.png"}', '--to=7'], f'no picture at {tmp_path / "none.png"}')]:
        with pytest.raises(SystemExit) as stop:
            inference.main(_args(trained_run, labelled, out, *more))
        line = str(stop.value.code)
        assert line.startswith('error: ') and message in line and '\n' not in line, (more, line)
    with pytest.raises(SystemExit) as stop:  # the run's own folder of digits has no labels
        inference.main([f'--checkpoint={trained_run}/checkpoints/ckpt-2', f'--out_dir={out}', f'--edit={picture}',
                        '--to=7'])
    assert str(stop.value.code).startswith('error: ') and 'has no labels: a labels.txt beside its images (line 1' in \
        str(stop.value.code)
    assert not os.path.exists(out / 'edits')


def test_the_celeb_a_command(faces, tmp_path, capsys):
    face = tmp_path / 'me.jpg'
    iio.imwrite(face, np.random.default_rng(1).integers(0, 256, (50, 40, 3), np.uint8), extension='.jpg')
    inference.main([f'--out_dir={faces.out_dir}', f'--edit={face}', '--to=Smiling', '--strength=1.5',
                    '--attribute_images=20'])
    printed = capsys.readouterr().out
    assert printed.split('\n')[:2] == ['using the newest checkpoint, ckpt-1',  # then how the picture was read
                                       f'{face}: 40x50 RGB, its central 31x31, seen at 32x32 RGB']  # (crop 140/178)
    singles = os.path.join(faces.out_dir, 'edits', 'me_to_Smiling')
    assert sorted(os.listdir(singles)) == ['original.png', 'reconstruction.png', 'strength_1.5.png']
    assert iio.imread(os.path.join(singles, 'strength_1.5.png')).shape == (32, 32, 3)
    with pytest.raises(SystemExit) as stop:
        inference.main([f'--out_dir={faces.out_dir}', f'--edit={face}', '--to=Smile'])
    assert "unknown label 'Smile' (did you mean 'Smiling'?)" in str(stop.value.code)


def test_metrics_measure_edits_on_class_data(trained_run, labelled, tmp_path, capsys):
    inference.main(_args(trained_run, labelled, tmp_path / 'out', '--metrics', '--metric_samples=4', '--num_samples=2'))
    scores = json.load(open(tmp_path / 'out' / 'samples' / 'metrics.json'))['edits']
    assert scores['images'] == 4 and scores['strengths'] == [0.5, 1.0, 1.5, 2.0]
    for move in ('vector', 'direct'):
        assert sorted(scores[move]) == ['0.5', '1', '1.5', '2']
        for figures in scores[move].values():
            assert sorted(figures['success']) == ['classifier', 'mlp'] and 0 <= figures['identity'] < 1
            assert all(0 <= v <= 1 for v in figures['success'].values())
    assert scores['reconstruction']['identity'] == 0
    assert sorted(scores['class_mean']['success']) == ['classifier', 'mlp']
    printed = capsys.readouterr().out
    assert printed.count('edits vector x') == 4 and printed.count('edits direct x') == 4
    assert 'edits class_mean: success classifier ' in printed
    assert 'wrote attributes.png: 4 held-out images moved along 10 attribute vectors' in printed  # classes 6-9


def test_a_render_of_class_data_moves_the_first_image_of_each_class(labelled, trained_run, tmp_path, monkeypatch):
    """attributes.png's rows: the first held-out image of each class; here the test part's 36-39 are of the
    classes 6, 6, 7, 6: two rows."""
    folder = tmp_path / 'digits'
    shutil.copytree(labelled, folder)
    _label(folder, lambda i: {36: 6, 37: 6, 38: 7, 39: 6}.get(i, i % 10))
    monkeypatch.setattr(models, 'INFERENCE_BATCH', 3)  # (the rows found across batches)
    inference.main(_args(trained_run, str(folder), tmp_path / 'out', '--num_samples=2'))
    grid = iio.imread(tmp_path / 'out' / 'samples' / 'attributes.png')
    assert grid.shape[1] == 3 * (12 * 30 + 2)  # original, reconstruction, the 10 classes
    assert grid.shape[0] - 110 == 3 * (2 * 30 + 2)  # 2 rows under the labels' 110 pixels
