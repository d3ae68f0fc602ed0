"""Attribute vectors (the paper's section 4.1) on a tiny CelebA-like folder with list_attr_celeba.txt."""
import glob
import os

import imageio.v3 as iio
import numpy as np
import pytest

import attributes
import data
import vae_gan_inference as inference
from configurator import UsageError


def test_attribute_vectors_recover_a_planted_direction():
    rng = np.random.default_rng(0)
    labels = (rng.random((2000, 40)) < 0.3).astype(np.float32)
    direction = rng.standard_normal(16)
    codes = rng.standard_normal((2000, 16)) + 2.0 * labels[:, [31]] * direction  # 31: Smiling
    vectors = attributes.vectors(codes, labels)['vectors']
    assert vectors.shape == (40, 16)
    assert np.allclose(vectors[31], 2.0 * direction, atol=0.2)
    assert np.linalg.norm(vectors[0]) < 0.1 * np.linalg.norm(vectors[31])  # an attribute unrelated to the codes
    assert np.all(np.isnan(attributes.vectors(codes, np.zeros_like(labels))['vectors']))


def test_attributes_png_and_saved_vectors(faces, capsys, monkeypatch):
    args = [f'--out_dir={faces.out_dir}', '--num_samples=3', '--attributes=Smiling,Young,Male',
            '--attribute_images=20']
    inference.render(*inference.load_config(args))
    samples = os.path.join(faces.out_dir, 'samples')
    image = iio.imread(os.path.join(samples, 'attributes.png'))
    assert image.shape[1] == 3 * (3 * (32 + 2) + 2)  # columns: original, reconstruction, Smiling; scaled 3x
    assert 'no attribute vector for Young, Male' in capsys.readouterr().out  # all are young, none male
    [path] = glob.glob(os.path.join(faces.out_dir, 'metrics_cache', 'labels_*.npz'))
    saved = np.load(path)
    smiling = list(data.CELEB_A_ATTRIBUTES).index('Smiling')
    assert saved['vectors'].shape == (40, 8) and np.all(np.isfinite(saved['vectors'][smiling]))
    assert np.all(np.isnan(saved['vectors'][list(data.CELEB_A_ATTRIBUTES).index('Young')]))  # all have it
    assert list(saved['counts'][smiling]) == [10, 10]  # of the first 20: with a smile, without
    labelled = data.labelled_dataset
    with monkeypatch.context() as patched:  # a second render reuses them: no training image is encoded
        patched.setattr(data, 'labelled_dataset', lambda cfg, batch, split='train': labelled(cfg, batch, split)
                        if split == 'held_out' else (_ for _ in ()).throw(AssertionError('encoded')))
        inference.render(*inference.load_config(args))
    assert np.array_equal(np.load(path)['vectors'], saved['vectors'], equal_nan=True)
    open(path, 'r+b').truncate(os.path.getsize(path) // 2)  # damaged: made again, with a note
    capsys.readouterr()
    inference.render(*inference.load_config(args))
    assert 'does not read as attribute vectors' in capsys.readouterr().out
    assert np.array_equal(np.load(path)['vectors'], saved['vectors'], equal_nan=True)


def test_attribute_errors(faces, tmp_path, capsys):
    with pytest.raises(UsageError, match=r"unknown label 'Smile' \(did you mean 'Smiling'\?\); the 40 of .*: "
                                         r"5_o_Clock_Shadow, Arched_Eyebrows"):
        inference.load_config([f'--out_dir={faces.out_dir}', '--attributes=Smile'])
    with pytest.raises(UsageError, match=r"unknown label 'Smiling'; the 10 of mnist: 0, 1, 2"):
        inference.load_config(['--preset=mnist', '--attributes=Smiling', f'--out_dir={tmp_path}'])
    os.rename(os.path.join(faces.data_dir, data.LABEL_FILES[0]), os.path.join(faces.data_dir, 'moved.txt'))
    try:  # a plain folder (no attribute file): a render says nothing of attributes unless asked
        inference.render(*inference.load_config([f'--out_dir={faces.out_dir}', '--num_samples=2']))
        assert 'attribute' not in capsys.readouterr().out
        assert not os.path.exists(os.path.join(faces.out_dir, 'samples', 'attributes.png'))
        with pytest.raises(UsageError, match=r'has no labels: a labels.txt beside its images'):
            inference.render(*inference.load_config([f'--out_dir={faces.out_dir}', '--attributes=Smiling',
                                                     '--attribute_images=7']))
    finally:
        os.rename(os.path.join(faces.data_dir, 'moved.txt'), os.path.join(faces.data_dir, data.LABEL_FILES[0]))
