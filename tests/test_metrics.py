import dataclasses
import os

import numpy as np
import pytest
import tensorflow as tf

import config
import metrics
from configurator import UsageError
from conftest import ROOT, needs_real_mnist


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


def test_kid_equals_a_hand_computed_unbiased_mmd():
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((6, 4)), rng.standard_normal((5, 4)) + 0.3
    k = lambda a, b: (a @ b / 4 + 1) ** 3  # the cubic polynomial kernel, d = 4
    m = 5  # one subset: the smaller set's size, the larger set sampled down to it
    rows = np.random.default_rng(0).choice(6, m, replace=False)  # kid's own first draw with seed 0
    xs = x[rows]
    xx = sum(k(xs[i], xs[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(xs[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    assert metrics.kid_plan(5) == (1, 5) and metrics.kid_plan(5000) == (10, 1000)
    assert metrics.kid(x, y, seed=0) == pytest.approx(xx + yy - 2 * xy, rel=1e-10)  # a degree-2 kernel would differ


def test_precision_and_recall_on_sets_of_known_overlap():
    rng = np.random.default_rng(4)
    real = rng.uniform(0, 1, (2000, 2))  # the unit square
    inside = rng.uniform(0.25, 0.75, (2000, 2))  # all within the real data, covering a quarter of it
    precision, recall = metrics.precision_recall(real, inside)
    assert precision > 0.97 and 0.2 < recall < 0.35
    far = rng.uniform(5, 6, (2000, 2))  # nowhere near
    assert metrics.precision_recall(real, far) == (0.0, 0.0)
    half = np.concatenate([rng.uniform(0, 1, (1000, 2)), rng.uniform(5, 6, (1000, 2))])  # half on, half off
    precision, recall = metrics.precision_recall(real, half)
    assert 0.45 < precision < 0.55 and recall > 0.9


def test_ssim_and_mse():
    image = tf.random.stateless_uniform([2, 28, 28, 1], seed=[0, 1])
    assert metrics.reconstruction_errors(image, image) == pytest.approx((0.0, 1.0))
    mse, ssim = metrics.reconstruction_errors(image, tf.clip_by_value(image + 0.1, 0, 1))
    assert 0 < mse < 0.011 and ssim < 1
    # SSIM's range is [0, 1] images: the same images at 255 scale would score another value
    dark = image * 0.2
    assert metrics.reconstruction_errors(image, dark)[1] == pytest.approx(
        float(tf.reduce_mean(tf.image.ssim(image, dark, max_val=1.0))), rel=1e-6)
    assert float(tf.reduce_mean(tf.image.ssim(image * 255, dark * 255, max_val=1.0))) != pytest.approx(
        metrics.reconstruction_errors(image, dark)[1], rel=1e-3)


@pytest.mark.skipif(not os.path.exists(os.path.join(ROOT, 'MNIST', 'classifier.weights.h5')),
                    reason='the committed MNIST classifier is missing')
def test_classifier_features_separate_blurred_digits(mock_tfds):
    """On the committed classifier: FID grows as images are blurred."""
    extract, _ = metrics.feature_extractors(dataclasses.replace(config.mnist, metric_features='classifier'))['classifier']
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
    with pytest.raises(UsageError, match=r"InceptionV3 ImageNet weights \(no network\).*score without them: --metric_features=none"):
        metrics.feature_extractors(config.celeb_a)


def test_missing_classifier_says_how_to_train_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match='python metrics.py --train_classifier --preset=fashion_mnist'):
        metrics.feature_extractors(config.fashion_mnist)


PRETRAINED = os.path.join(ROOT, 'MNIST', 'pretrained')


@needs_real_mnist
@pytest.mark.skipif(not os.path.isdir(PRETRAINED), reason='needs MNIST/pretrained')
def test_pretrained_mnist_generations_score_well(tmp_path):
    import vae_gan_inference as inference
    cfg, checkpoint, _ = inference.load_config([f'--checkpoint={PRETRAINED}', f'--out_dir={tmp_path}'])
    encoder, decoder = inference.restore_models(cfg, checkpoint)
    scores = metrics.evaluate(cfg, encoder, decoder, 2000)
    conv, mlp = scores['features']['classifier'], scores['features']['mlp']
    # a band: a broken model scores far above, a comparison of the data with itself near 0
    assert 12 < conv['fid'] < 30 and 5 < mlp['fid'] < 22 and 0.7 < scores['ssim'] < 0.88  # 20.7, 13.1, 0.79 measured
    assert 0.6 < conv['precision'] <= 1 and 0.6 < conv['recall'] <= 1  # 0.75 and 0.74: the faithful recipe's recall
    # the reference set is the held-out data, the other the generations: not the data twice
    ones = metrics.evaluate(cfg, encoder, lambda z, training: tf.ones([tf.shape(z)[0], 28, 28, 1]), 500)
    assert ones['features']['classifier']['fid'] > 100 and ones['features']['classifier']['recall'] < 0.05  # one point covers nothing


PRETRAINED_BALANCE = os.path.join(ROOT, 'MNIST', 'pretrained-balance')


@needs_real_mnist
@pytest.mark.skipif(not os.path.isdir(PRETRAINED_BALANCE), reason='needs MNIST/pretrained-balance')
def test_pretrained_balance_generations_score_well(tmp_path, capsys):
    """The README's first model: its weights' average drawn from the mixture its export carries (read, not
    fitted again), far better than the same decoder from N(0, I)."""
    import prior
    import vae_gan_inference as inference
    cfg, checkpoint, _ = inference.load_config([f'--checkpoint={PRETRAINED_BALANCE}', f'--out_dir={tmp_path}'])
    encoder, decoder = inference.restore_models(cfg, checkpoint)
    mixture = prior.for_checkpoint(cfg, checkpoint, encoder, beside=PRETRAINED_BALANCE)
    assert 'fitting' not in capsys.readouterr().out and prior.describe(mixture) == 'mixture of 10 fitted to 55000 training codes'
    scores = metrics.evaluate(cfg, encoder, decoder, 2000, draw=lambda n: prior.sample(cfg, mixture, n, cfg.seed))
    conv, mlp = scores['features']['classifier'], scores['features']['mlp']
    # measured on these 2,000: FID 2.94 / 1.97, precision 0.853 / 0.873, recall 0.754 / 0.799, MSE 0.0173, SSIM 0.830
    assert 1.5 < conv['fid'] < 5.5 and 1 < mlp['fid'] < 3.5 and 0.79 < scores['ssim'] < 0.86 and scores['mse'] < 0.021
    assert 0.8 < conv['precision'] <= 1 and 0.65 < conv['recall'] <= 1 and 0.8 < mlp['precision'] and 0.7 < mlp['recall']
    normal = metrics.evaluate(cfg, encoder, decoder, 2000)  # N(0, I): 12.65 / 9.20 measured
    assert normal['features']['classifier']['fid'] > 3 * conv['fid'] and normal['features']['mlp']['fid'] > 3 * mlp['fid']


def test_too_few_images_is_one_line(tmp_path, monkeypatch):
    import data
    cfg = dataclasses.replace(config.mnist, out_dir=str(tmp_path))
    monkeypatch.setattr(data, 'held_out_dataset', lambda cfg, batch, split='held_out': tf.data.Dataset.from_tensors(tf.zeros([1, 28, 28, 1])))
    with pytest.raises(UsageError, match=r'1 held-out image.s. is too few \(at least 4\)'):
        metrics.evaluate(cfg, None, None, 1, extractors={'x': (lambda x: x, 'f')})


def test_the_cache_key_changes_with_what_defines_the_reference_set(tmp_path):
    images = np.zeros((3, 28, 28, 1), np.float32)
    calls, traced = [], tf.function(lambda x: tf.reshape(x, [tf.shape(x)[0], -1])[:, :4])
    extract = lambda x: calls.append(1) or traced(x)
    extract.get_concrete_function = traced.get_concrete_function  # (an extractor is a tf.function: its width)
    cfg = dataclasses.replace(config.mnist, out_dir=str(tmp_path))
    metrics.held_out_features(cfg, extract, 'weights-a', images)
    metrics.held_out_features(cfg, extract, 'weights-a', images)  # cached
    assert len(calls) == 1
    for changed, fingerprint in ((dataclasses.replace(cfg, data_dir='/elsewhere'), 'weights-a'),
                                 (dataclasses.replace(cfg, held_out_split='train'), 'weights-a'),
                                 (dataclasses.replace(cfg, resize_method='bicubic'), 'weights-a'),
                                 (cfg, 'weights-b')):
        metrics.held_out_features(changed, extract, fingerprint, images)
    assert len(calls) == 5  # each change recomputed, none reused stale features


def test_table_of_runs_over_seeds(tmp_path, capsys):
    import json
    for name, preset, fid_value in (('a', 'mnist', 10.0), ('b', 'mnist', 14.0), ('c', 'mnist_sigmoid', 8.0)):
        (tmp_path / name / 'samples').mkdir(parents=True)
        cfg = dataclasses.replace(config.PRESETS[preset], seed=ord(name), out_dir=str(tmp_path / name))
        (tmp_path / name / 'config.json').write_text(json.dumps(dataclasses.asdict(cfg)))
        figures = {'fid': fid_value, 'kid': 0.1, 'precision': 0.5, 'recall': 0.5}
        (tmp_path / name / 'samples' / 'metrics.json').write_text(json.dumps(
            {'features': {'classifier': figures, 'mlp': figures}, 'mse': 0.02, 'ssim': 0.8}))
    rows = metrics.table([str(tmp_path / n / 'samples' / 'metrics.json') for n in 'abc']).splitlines()
    assert rows[2].startswith('| `mnist` | 2 | 12.000 ± 2.828 |')  # seeds apart: one row, the sample std
    assert rows[3].startswith('| `mnist_sigmoid` | 1 | 8.000 |') and len(rows) == 4
    # one run scored as it samples and otherwise (another prior, the weights beside their average): rows apart
    scored = json.loads((tmp_path / 'b' / 'samples' / 'metrics.json').read_text())
    (tmp_path / 'b' / 'samples' / 'metrics.json').write_text(json.dumps(dict(scored, prior='mixture of 10 fitted to '
                                                                               '55000 training codes', weights='weights')))
    rows = metrics.table([str(tmp_path / n / 'samples' / 'metrics.json') for n in 'ab']).splitlines()
    assert rows[2].startswith('| `mnist` | 1 | 10.000 |') and len(rows) == 4
    assert rows[3].startswith('| `mnist`, prior mixture of 10 fitted to 55000 training codes; the weights | 1 | 14.000')
    (tmp_path / 'b' / 'samples' / 'metrics.json').write_text(json.dumps(scored))
    kept = tmp_path / 'kept'  # a run's two files kept side by side, as MNIST/results/ holds them
    kept.mkdir()
    for name in ('config.json', 'samples/metrics.json'):
        (kept / os.path.basename(name)).write_text((tmp_path / 'a' / name).read_text())
    assert metrics.table([str(kept / 'metrics.json')]).splitlines()[2].startswith('| `mnist` | 1 | 10.000 | 0.100 |')
    good = str(tmp_path / 'b' / 'samples' / 'metrics.json')
    lacking = json.dumps({'features': {'classifier': {'fid': 1.0}}, 'mse': 0.02, 'ssim': 0.8})
    for text in ('{bad', '[1]', lacking, None):  # garbage, another kind of JSON, a figure short, missing
        if text is None:
            os.remove(kept / 'metrics.json')
        else:
            (kept / 'metrics.json').write_text(text)
        rows = metrics.table([good, str(kept / 'metrics.json')]).splitlines()  # noted, left out: the rest stays
        assert rows[2].startswith('| `mnist` | 1 | 14.000 |') and len(rows) == 3
        assert 'metrics.json does not read as a metrics.json' in capsys.readouterr().err
        with pytest.raises(UsageError, match='none of the files reads'):
            metrics.table([str(kept / 'metrics.json')])
    os.remove(kept / 'config.json')  # the recipe unknown: named, not a config.json two folders up
    (kept / 'metrics.json').write_text((tmp_path / 'a' / 'samples' / 'metrics.json').read_text())
    with pytest.raises(UsageError, match='none of the files'):
        metrics.table([str(kept / 'metrics.json')])
    assert 'has no config.json beside it' in capsys.readouterr().err
