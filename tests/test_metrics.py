import os

import numpy as np
import pytest
import tensorflow as tf

import config
import metrics
from config import UsageError
from conftest import ROOT


def _sqrtm_psd(m):
    """The symmetric square root of a symmetric positive semi-definite matrix."""
    values, vectors = np.linalg.eigh(m)
    return vectors @ np.diag(np.sqrt(np.clip(values, 0, None))) @ vectors.T


def test_fid_against_a_direct_computation():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((500, 6)), rng.standard_normal((400, 6)) * 1.5 + 0.3
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    # Tr((S_a S_b)^(1/2)) = Tr((S_a^(1/2) S_b S_a^(1/2))^(1/2)), a symmetric matrix's root
    root_a = _sqrtm_psd(s_a)
    direct = (np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(s_a + s_b - 2 * _sqrtm_psd(root_a @ s_b @ root_a)))
    assert metrics.fid(a, b) == pytest.approx(direct, rel=1e-6)


def test_fid_of_a_set_with_itself_is_zero_and_grows_with_damage():
    rng = np.random.default_rng(1)
    features = rng.standard_normal((1000, 8)) @ rng.standard_normal((8, 8))
    assert abs(metrics.fid(features, features)) < 1e-6
    noisy = [metrics.fid(features, features + rng.standard_normal(features.shape) * s) for s in (0.1, 0.5, 1.0)]
    assert 0 < noisy[0] < noisy[1] < noisy[2]


def test_kid_is_unbiased():
    rng = np.random.default_rng(2)
    features = rng.standard_normal((4000, 16))
    halves = [metrics.kid(features[:2000], features[2000:], seed=s) for s in range(5)]
    assert abs(np.mean(halves)) < 0.01  # two halves of one distribution: about 0, either sign
    assert metrics.kid(features[:2000], features[2000:] + 0.5) > 0.1


def test_ssim_and_mse():
    image = tf.random.stateless_uniform([2, 28, 28, 1], seed=[0, 1])
    assert metrics.reconstruction_errors(image, image) == pytest.approx((0.0, 1.0))
    mse, ssim = metrics.reconstruction_errors(image, tf.clip_by_value(image + 0.1, 0, 1))
    assert 0 < mse < 0.011 and ssim < 1


@pytest.mark.skipif(not os.path.exists(os.path.join(ROOT, 'MNIST', 'classifier.weights.h5')),
                    reason='the committed MNIST classifier is missing')
def test_classifier_features_separate_blurred_digits(mock_tfds):
    """On the committed classifier: FID grows as images are blurred."""
    extract = metrics.feature_extractor(config.mnist)
    rng = np.random.default_rng(0)
    images = np.zeros((400, 28, 28, 1), np.float32)
    for i, image in enumerate(images):  # strokes: random bright bars
        r, c = rng.integers(4, 20, 2)
        image[r:r + 8, c:c + 2] = 1.0
        image[r, c:c + 6] = 1.0
    blurred = tf.nn.avg_pool2d(images, 3, 1, 'SAME').numpy()
    base = extract(images).numpy()
    assert metrics.fid(base, extract(images).numpy()) < 1e-6
    assert metrics.fid(base, extract(blurred).numpy()) > 1.0


def test_inception_offline_error(monkeypatch):
    import keras
    def offline(**kwargs):
        raise OSError('no network')
    monkeypatch.setattr(keras.applications, 'InceptionV3', offline)
    with pytest.raises(UsageError, match="InceptionV3 ImageNet weights.*--metric_features=classifier"):
        metrics.feature_extractor(config.celeb_a)


def test_missing_classifier_says_how_to_train_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match='python metrics.py --train_classifier --preset=fashion_mnist'):
        metrics.feature_extractor(config.fashion_mnist)


PRETRAINED = os.path.join(ROOT, 'MNIST', 'pretrained')


def _real_mnist():
    import tensorflow_datasets as tfds
    return bool(os.environ.get('TFDS_DATA_DIR')) and tfds.builder('mnist').is_prepared()


@pytest.mark.skipif(not (os.path.isdir(PRETRAINED) and _real_mnist()),
                    reason='needs MNIST/pretrained and TFDS_DATA_DIR pointing at a prepared MNIST copy')
def test_pretrained_mnist_generations_score_well(tmp_path):
    import vae_gan_inference as inference
    cfg, checkpoint, _ = inference.load_config([f'--checkpoint={PRETRAINED}', f'--out_dir={tmp_path}'])
    encoder, decoder = inference.restore_models(cfg, checkpoint)
    scores = metrics.evaluate(cfg, encoder, decoder, 2000)
    assert scores['fid'] < 20 and scores['ssim'] > 0.45  # the README's table: 11.7 and 0.57 on 10,000 images
