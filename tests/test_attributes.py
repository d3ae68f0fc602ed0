"""Attribute vectors (the paper's section 4.1) on a tiny CelebA-like folder with list_attr_celeba.txt."""
import os

import imageio.v3 as iio
import numpy as np
import pytest
import tensorflow as tf

import config
import data
import vae_gan
import vae_gan_inference as inference
from configurator import UsageError
from conftest import tiny


def test_attribute_vectors_recover_a_planted_direction():
    rng = np.random.default_rng(0)
    attributes = (rng.random((2000, 40)) < 0.3).astype(np.float32)
    direction = rng.standard_normal(16)
    codes = rng.standard_normal((2000, 16)) + 2.0 * attributes[:, [31]] * direction  # 31: Smiling
    vectors = inference.attribute_vectors(codes, attributes)
    assert vectors.shape == (40, 16)
    assert np.allclose(vectors[31], 2.0 * direction, atol=0.2)
    assert np.linalg.norm(vectors[0]) < 0.1 * np.linalg.norm(vectors[31])  # an attribute unrelated to the codes
    assert np.all(np.isnan(inference.attribute_vectors(codes, np.zeros_like(attributes))))


@pytest.fixture(scope='module')
def faces(tmp_path_factory):
    """A run on 24 random 'faces' with a list_attr_celeba.txt; Smiling on every other image."""
    root = tmp_path_factory.mktemp('faces')
    folder = root / 'img_align_celeba'
    folder.mkdir()
    rng = np.random.default_rng(0)
    lines = ['24', ' '.join(data.CELEB_A_ATTRIBUTES)]
    for i in range(24):
        name = f'face{i:02d}.jpg'
        tf.io.write_file(str(folder / name), tf.io.encode_jpeg(rng.integers(0, 256, (40, 32, 3), np.uint8)))
        values = ['1' if (a == 'Smiling' and i % 2) or a == 'Young' else '-1' for a in data.CELEB_A_ATTRIBUTES]
        lines.append(f'{name} ' + ' '.join(values))
    (folder / data.ATTRIBUTE_FILE).write_text('\n'.join(lines) + '\n')
    # the celeb_a preset (a folder with list_attr_celeba.txt, fresh batches) on the small MNIST networks: the
    # attribute vectors come from any encoder, and these networks trace in half the time
    cfg = tiny(config.celeb_a, root, data_dir=str(folder), image_size=32, z_dim=8, arch='mnist')
    vae_gan.train(cfg)
    return cfg


def test_attributes_png_and_saved_vectors(faces, capsys, monkeypatch):
    args = [f'--out_dir={faces.out_dir}', '--num_samples=3', '--attributes=Smiling,Young,Male',
            '--attribute_images=20']
    inference.render(*inference.load_config(args))
    samples = os.path.join(faces.out_dir, 'samples')
    image = iio.imread(os.path.join(samples, 'attributes.png'))
    assert image.shape[1] == 3 * (3 * (32 + 2) + 2)  # columns: original, reconstruction, Smiling; scaled 3x
    assert 'no attribute vector for Young, Male' in capsys.readouterr().out  # all are young, none male
    saved = np.load(os.path.join(samples, 'attribute_vectors.npz'))
    smiling = list(data.CELEB_A_ATTRIBUTES).index('Smiling')
    assert saved['vectors'].shape == (40, 8) and np.all(np.isfinite(saved['vectors'][smiling]))
    assert np.all(np.isnan(saved['vectors'][list(data.CELEB_A_ATTRIBUTES).index('Young')]))  # all have it
    with monkeypatch.context() as patched:  # a second render reuses them: no image is encoded
        patched.setattr(data, 'attribute_dataset', lambda *a: (_ for _ in ()).throw(AssertionError('encoded')))
        inference.render(*inference.load_config(args))
    reused = np.load(os.path.join(samples, 'attribute_vectors.npz'))
    assert np.array_equal(reused['vectors'], saved['vectors'], equal_nan=True)
    path = os.path.join(samples, 'attribute_vectors.npz')  # damaged: made again, with a note
    open(path, 'r+b').truncate(os.path.getsize(path) // 2)
    capsys.readouterr()
    inference.render(*inference.load_config(args))
    assert "attribute_vectors.npz does not read back as attribute vectors" in capsys.readouterr().out
    assert np.array_equal(np.load(path)['vectors'], saved['vectors'], equal_nan=True)


def test_attribute_errors(faces, tmp_path, capsys):
    with pytest.raises(UsageError, match=r"unknown attribute 'Smile'; the 40 are: 5_o_Clock_Shadow"):
        inference.load_config([f'--out_dir={faces.out_dir}', '--attributes=Smile'])
    with pytest.raises(UsageError, match='mnist has no attributes'):
        inference.load_config(['--preset=mnist', '--attributes=Smiling', f'--out_dir={tmp_path}'])
    os.rename(os.path.join(faces.data_dir, data.ATTRIBUTE_FILE), os.path.join(faces.data_dir, 'moved.txt'))
    try:  # a plain folder (no attribute file): a render says nothing of attributes unless asked
        inference.render(*inference.load_config([f'--out_dir={faces.out_dir}', '--num_samples=2']))
        assert 'attribute' not in capsys.readouterr().out
        assert not os.path.exists(os.path.join(faces.out_dir, 'samples', 'attributes.png'))
        with pytest.raises(UsageError, match='has no list_attr_celeba.txt'):
            inference.render(*inference.load_config([f'--out_dir={faces.out_dir}', '--attributes=Smiling',
                                                     '--attribute_images=7']))
    finally:
        os.rename(os.path.join(faces.data_dir, 'moved.txt'), os.path.join(faces.data_dir, data.ATTRIBUTE_FILE))
