"""Numbers for a trained VAE/GAN: FID and KID of its generations against the held-out split, and the
reconstruction MSE and SSIM of the held-out images.

    python metrics.py --train_classifier --preset=mnist    # the MNIST feature classifier (~1 min on a CPU)
    python vae_gan_inference.py --metrics                  # scores a checkpoint, writes samples/metrics.json

Features (`metric_features`): 'inception', the standard FID (Keras' InceptionV3 with ImageNet weights,
2048 pooled features of 299x299 images; Keras downloads the weights once), or 'classifier', the
128-feature penultimate layer of a small conv classifier trained on the dataset (MNIST's ships in
MNIST/classifier.weights.h5, so MNIST metrics work offline). Figures from different features do not compare.
"""
import os
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')  # before TensorFlow loads: no cuInit / grappler error lines

import numpy as np
import tensorflow as tf

import config
import data
import models
from config import UsageError

BATCH = models.INFERENCE_BATCH
KID_SUBSETS, KID_SUBSET_SIZE = 10, 1000  # as Binkowski et al. 2018


# ---- The figures: pure functions of features or images --------------------------------------------

def fid(features_a, features_b):
    """Frechet distance between Gaussians fitted to two feature sets:
    |mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)). The trace of the square root is the sum of the
    square roots of the eigenvalues of S_a S_b (real and >= 0 for covariance matrices)."""
    a, b = np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root_trace = np.sqrt(np.clip(np.linalg.eigvals(s_a @ s_b).real, 0, None)).sum()
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(s_a) + np.trace(s_b) - 2 * root_trace)


def kid(features_a, features_b, subsets=KID_SUBSETS, subset_size=KID_SUBSET_SIZE, seed=0):
    """Kernel Inception Distance: the unbiased MMD^2 estimate with the cubic polynomial kernel
    k(x, y) = (x.y / d + 1)^3, averaged over random subsets (Binkowski et al. 2018)."""
    a, b = np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)
    d, m = a.shape[1], min(subset_size, len(a), len(b))
    rng = np.random.default_rng(seed)
    estimates = []
    for _ in range(subsets):
        x, y = a[rng.choice(len(a), m, replace=False)], b[rng.choice(len(b), m, replace=False)]
        k_xx, k_yy, k_xy = ((x @ x.T / d + 1) ** 3, (y @ y.T / d + 1) ** 3, (x @ y.T / d + 1) ** 3)
        off_diagonal = lambda k: (k.sum() - np.trace(k)) / (m * (m - 1))
        estimates.append(off_diagonal(k_xx) + off_diagonal(k_yy) - 2 * k_xy.mean())
    return float(np.mean(estimates))


def reconstruction_errors(originals, reconstructions):
    """(MSE, SSIM) of float images in [0, 1], averaged over the images."""
    originals, reconstructions = tf.convert_to_tensor(originals), tf.convert_to_tensor(reconstructions)
    mse = tf.reduce_mean(tf.square(originals - reconstructions))
    ssim = tf.reduce_mean(tf.image.ssim(originals, reconstructions, max_val=1.0))
    return float(mse), float(ssim)


# ---- Feature extractors ---------------------------------------------------------------------------

def classifier_path(cfg):
    """<repo>/<dataset folder>/classifier.weights.h5, wherever the scripts run from."""
    root = os.path.dirname(os.path.abspath(__file__))
    folder = {p.dataset: p.out_dir for p in reversed(config.PRESETS.values())}.get(cfg.dataset, cfg.dataset)
    return os.path.join(root, folder, 'classifier.weights.h5')  # mnist_best uses MNIST's


def build_classifier(cfg):
    """A small conv classifier; its 'features' layer (128) is what FID and KID compare."""
    import keras
    from keras import layers
    x = keras.Input((cfg.image_size, cfg.image_size, cfg.channels))
    h = layers.MaxPooling2D()(layers.Conv2D(32, 3, activation='relu')(x))
    h = layers.MaxPooling2D()(layers.Conv2D(64, 3, activation='relu')(h))
    h = layers.Dense(128, activation='relu', name='features')(layers.Dropout(0.25)(layers.Flatten()(h)))
    return keras.Model(x, layers.Dense(10)(layers.Dropout(0.5)(h)), name='classifier')


def train_classifier(cfg, epochs=5):
    """Trains the feature classifier on the train split's labels; returns the test accuracy."""
    import keras
    import tensorflow_datasets as tfds
    keras.utils.set_random_seed(0)
    name = cfg.dataset
    if cfg.data_dir or name not in ('mnist', 'fashion_mnist', 'cifar10'):
        raise UsageError(f'the feature classifier needs labels: mnist, fashion_mnist or cifar10, not {cfg.dataset}')
    labelled = lambda split: tfds.load(name, split=split, as_supervised=True).map(
        lambda x, y: (data.to_float(cfg, x), y)).batch(128).prefetch(data.AUTOTUNE)
    model = build_classifier(cfg)
    model.compile('adam', keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=['accuracy'])
    model.fit(labelled('train').unbatch().shuffle(60000, seed=0).batch(128), epochs=epochs, verbose=2)
    _, accuracy = model.evaluate(labelled('test'), verbose=0)
    os.makedirs(os.path.dirname(classifier_path(cfg)), exist_ok=True)
    model.save_weights(classifier_path(cfg))
    return accuracy


def feature_extractor(cfg):
    """images (float, the preset's range) -> features, under tf.function, for cfg.metric_features."""
    import keras
    if cfg.metric_features == 'classifier':
        path = classifier_path(cfg)
        if not os.path.exists(path):
            raise UsageError(f'no feature classifier at {path}: train one with '
                             f'`python metrics.py --train_classifier --preset={cfg.preset}`')
        model = build_classifier(cfg)
        model.load_weights(path)
        features = keras.Model(model.input, model.get_layer('features').output)
        return tf.function(lambda x: features(x, training=False))
    try:
        inception = keras.applications.InceptionV3(include_top=False, pooling='avg', weights='imagenet')
    except Exception as e:  # no network and no cached weights
        raise UsageError(f'could not load the InceptionV3 ImageNet weights ({type(e).__name__}): connect once to '
                         f"let Keras download them, or use --metric_features=classifier") from e

    @tf.function
    def extract(x):
        x = data.to_unit(cfg, x)
        x = tf.image.resize(tf.image.grayscale_to_rgb(x) if x.shape[-1] == 1 else x, [299, 299])
        return inception(x * 2.0 - 1.0, training=False)  # Inception's own [-1, 1]
    return extract


# ---- Scoring a model ------------------------------------------------------------------------------

def held_out_features(cfg, extract, count):
    """(features, images) of the first `count` held-out images; the features cached in out_dir."""
    images = np.concatenate([x.numpy() for x in data.held_out_dataset(cfg, BATCH).take(-(-count // BATCH))])[:count]
    path = os.path.join(cfg.out_dir, 'metrics_cache', f'{cfg.metric_features}_{len(images)}.npy')
    if os.path.exists(path):
        return np.load(path), images
    features = np.concatenate([extract(images[i:i + BATCH]).numpy() for i in range(0, len(images), BATCH)])
    os.makedirs(os.path.dirname(path), exist_ok=True)
    np.save(path, features)
    return features, images


def evaluate(cfg, encoder, decoder, count, seed=0, extract=None):
    """{'fid', 'kid', 'mse', 'ssim', 'images', 'features'}: `count` generations against as many
    held-out images (fewer if the split is smaller), and those images' reconstructions."""
    extract = extract or feature_extractor(cfg)
    real_features, originals = held_out_features(cfg, extract, count)
    n = len(originals)
    generate = tf.function(lambda z: decoder(z, training=False))
    reconstruct = tf.function(lambda x: models.reconstruct(encoder, decoder, x))
    z = models.prior_z(n, cfg.z_dim, seed)  # the generations vae_gan_inference.py writes with this seed
    fake_features, reconstructions = [], []
    for i in range(0, n, BATCH):
        fake_features.append(extract(generate(z[i:i + BATCH])).numpy())
        reconstructions.append(reconstruct(originals[i:i + BATCH]).numpy())
    mse, ssim = reconstruction_errors(data.to_unit(cfg, originals),
                                      np.clip(data.to_unit(cfg, np.concatenate(reconstructions)), 0, 1))
    fake_features = np.concatenate(fake_features)
    return {'fid': fid(real_features, fake_features), 'kid': kid(real_features, fake_features),
            'mse': mse, 'ssim': ssim, 'images': n, 'features': cfg.metric_features}


def main(argv):
    try:
        if '--train_classifier' not in argv:
            raise UsageError('usage: python metrics.py --train_classifier --preset=mnist '
                             '(scores come from `python vae_gan_inference.py --metrics`)')
        cfg = config.from_args([a for a in argv if a != '--train_classifier'])
        accuracy = train_classifier(cfg)
        print(f'wrote {classifier_path(cfg)}: test accuracy {accuracy:.4f}')
    except UsageError as e:
        sys.exit(f'error: {e}')


if __name__ == '__main__':
    main(sys.argv[1:])
