"""The facts of the original's scripts and of the official code that the presets claim, each pinned:
the one-pass step's shared batches, DeepPy's RMSProp and L2 penalty, AutoFiller, the batch-norm
epsilons, the GAN logs' offset, the per-batch flip, the balance rule with the one-pass step."""
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

import config
import configurator
import data
import models
import vae_gan
from conftest import build_step, gradients_of, tiny


def test_the_official_step_runs_d_once_on_2n_for_its_judgement_and_once_on_2n_for_dis_l(tmp_path):
    cfg = tiny(config.celeb_a_paper, tmp_path, image_size=32)
    nets, _, _ = build_step(cfg)
    seen = []
    discriminator = nets.discriminator

    class Recording:  # D, noting the batch of each call
        def __call__(self, x, training):
            seen.append(int(x.shape[0]))
            return discriminator(x, training=training)

        def __getattr__(self, name):
            return getattr(discriminator, name)
    nets.discriminator = Recording()
    x = tf.random.stateless_uniform([4, 32, 32, 3], seed=[1, 2], minval=-1, maxval=1)
    noise = lambda shape, stream: tf.random.stateless_normal(shape, seed=[3, stream])
    metrics, grads = gradients_of(vae_gan.one_pass_step, cfg, nets, x, tf.constant(1.0), noise)
    assert seen == [8, 8]  # [x, x_p] and [x~, x]: reals and fakes share batch-norm statistics
    # D's loss is the official 0.5 * -log(D(x) + 1e-3) + 0.5 * -log(1 - D(x_p) + 1e-3) on that pass
    _, logits = discriminator(tf.concat([x, nets.decoder(noise([4, 128], 1), training=True)], 0), training=True)
    d = tf.sigmoid(logits).numpy()[:, 0]
    expected = 0.5 * -np.log(d[:4] + 1e-3).mean() + 0.5 * -np.log(1 - d[4:] + 1e-3).mean()
    assert float(metrics['discriminator_loss']) == pytest.approx(expected, rel=1e-4)
    assert all(g is not None for name in grads for g in grads[name])


def test_gan_log_offset_forms():
    logits = tf.constant([-30.0, -1.0, 0.0, 2.0, 30.0])
    d = tf.sigmoid(logits).numpy().astype(np.float64)
    assert float(models.discriminator_loss(logits, [logits], offset=1e-3)) == pytest.approx(
        -np.log(d + 1e-3).mean() - np.log(1 - d + 1e-3).mean(), rel=1e-5)
    assert float(models.decoder_gan_loss([logits], 'saturating', offset=1e-3)) == pytest.approx(
        np.log(1 - d + 1e-3).mean(), rel=1e-5)


def test_deeppy_rmsprop_puts_epsilon_outside_the_root():
    w = tf.Variable([1.0, -2.0, 3.0])
    g = tf.constant([1e-6, 0.5, -2.0])
    optimizer = models.DeepPyRMSprop(0.1, rho=0.9, epsilon=1e-4)
    optimizer.apply_gradients([(g, w)])
    v = 0.1 * g.numpy() ** 2  # rho * 0 + (1 - rho) g^2
    expected = np.array([1.0, -2.0, 3.0]) - 0.1 * g.numpy() / (np.sqrt(v) + 1e-4)
    assert np.allclose(w.numpy(), expected, rtol=1e-6)
    # Keras' form, lr g / sqrt(v + eps), would move the first weight by 0.1 * 1e-6 / sqrt(1e-4) = 1e-5, not 1e-3
    assert abs(1.0 - w.numpy()[0]) > 5e-4


def test_kernel_l2_adds_2_l2_w_to_kernels_but_not_the_latent_heads():
    cfg = dataclasses_replace(config.celeb_a_paper, image_size=32)
    nets = models.build_networks(cfg)
    with tf.GradientTape() as tape:
        loss = tf.constant(0.0) * tf.reduce_sum(nets.encoder(tf.zeros([2, 32, 32, 3]), training=True)[0])
    grads = vae_gan.gradients(dataclasses_replace(cfg, kernel_l2=0.5), nets, 'encoder', tape, loss)
    for var, grad in zip(nets.encoder.trainable_variables, grads):
        # architectures.py's conv/affine helpers decay their weights; NormalEncoder's mean and log-variance
        # heads (architectures.py:45-47, model/ae.py:69-74) have a plain filler: no decay
        decayed = var.path.endswith('kernel') and var.path not in ('mean/kernel', 'logvar/kernel')
        expected = var.numpy() if decayed else np.zeros(var.shape)  # 2 * 0.5 * w
        grad = np.zeros(var.shape) if grad is None else tf.convert_to_tensor(grad).numpy()
        assert np.allclose(grad, expected, atol=1e-7), var.path


def dataclasses_replace(cfg, **fields):
    import dataclasses
    return dataclasses.replace(cfg, **fields)


def test_paper_initialiser_and_batch_norm_epsilons():
    keras.utils.set_random_seed(0)
    encoder = models.build_encoder(config.celeb_a_paper)
    conv = [l for l in encoder.layers if type(l).__name__ == 'Conv2D'][1]  # 5x5x64 -> 128
    kernel = conv.kernel.numpy()
    limit = 1 / math.sqrt(3 * 5 * 5 * 64)  # DeepPy's AutoFiller: uniform in +-1/sqrt(3 fan_in)
    assert np.abs(kernel).max() <= limit and abs(kernel.std() - limit / math.sqrt(3)) < 0.05 * limit
    norms = [l for l in encoder.layers if type(l).__name__ == 'BatchNormalization']
    assert [float(n.epsilon) for n in norms] == [1e-6, 1e-6, 1e-6, 1e-5]  # convs, then the dense 1024
    decoder = models.build_decoder(config.celeb_a_paper)
    # A transposed conv's AutoFiller fan is its output channels times 5x5: DeepPy's BackwardConvolution
    # weights are (inputs, outputs, 5, 5) and AutoFiller takes prod(shape[1:]) [deeppy/filler.py:79-81,
    # deeppy/expr/nnet/spatial.py:103]. 128 -> 32 tells that from its inputs (128) or a fan-out mode.
    transposed = [l for l in decoder.layers if type(l).__name__ == 'Conv2DTranspose'][2]
    assert transposed.kernel.shape == (5, 5, 32, 128)
    bound = np.abs(transposed.kernel.numpy()).max()
    assert 0.99 / math.sqrt(3 * 5 * 5 * 32) < bound <= 1 / math.sqrt(3 * 5 * 5 * 32)


def test_the_flip_takes_whole_batches(tmp_path):
    cfg = tiny(config.mnist, tmp_path, flip=True, flip_batch=True, batch_size=8, data_dir=str(_asymmetric(tmp_path)),
               train_split='train')
    ds, _ = data.train_dataset(cfg, seed=0)
    kinds = set()
    for batch in ds.take(12):
        left = batch.numpy()[:, :, :14].sum(axis=(1, 2, 3)) > batch.numpy()[:, :, 14:].sum(axis=(1, 2, 3))
        assert left.all() or not left.any()  # all flipped or none
        kinds.add(bool(left.all()))
    assert kinds == {True, False}


def _asymmetric(tmp_path):
    folder = tmp_path / 'half'
    folder.mkdir()
    image = np.zeros((28, 28, 1), np.uint8)
    image[:, :14] = 255  # the left half lit
    for i in range(20):
        tf.io.write_file(str(folder / f'{i:03d}.png'), tf.io.encode_png(image))
    return folder


def test_the_balance_rule_with_the_one_pass_step(tmp_path):
    cfg = tiny(config.mnist, tmp_path, update='simultaneous', balance_margin=0.35, equilibrium=100.0)
    nets, _, step = build_step(cfg)
    before = [v.numpy() for v in nets.discriminator.trainable_variables]
    metrics = step(tf.random.stateless_uniform([4, 28, 28, 1], seed=[1, 2]), tf.constant(1.0))
    assert all(np.array_equal(a, b.numpy()) for a, b in zip(before, nets.discriminator.trainable_variables))
    assert float(metrics['discriminator_skips']) == 1 and int(nets.optimizers['decoder'].iterations) == 1
    with pytest.raises(configurator.UsageError, match='balance rule.*works on one device'):
        configurator.from_args(['--balance_margin=0.3', '--strategy=mirrored'])
    with pytest.raises(configurator.UsageError, match='add --update=simultaneous'):
        configurator.from_args(['--concat_batches=true'])


@pytest.mark.parametrize('preset, shape', [(config.mnist, (4, 28, 28, 1)), (config.celeb_a, (4, 32, 32, 3))])
def test_each_phase_s_loss_and_gradient_are_the_original_formula_s(tmp_path, preset, shape):
    """Each sequential phase's loss, and the gradient it gives its network, equal ORIGINAL's formula for
    that network's loss and its gradient, written here with D as a probability, on fixed weights, inputs
    and noise: L_D = -mean(log D(x) + log(1 - D(x~)) + log(1 - D(x_p))) (MNIST/vae-gan.py lines 166-168),
    L_E = kl_weight KL + gamma_enc mean((Dis_l(x~) - Dis_l(x))^2) (line 193), L_G = gamma_dec L_llike
    + mean(-log D(x~) - log D(x_p)) (line 181); kl_weight 1/z_dim (MNIST) or 1/batch (Celeb-A/vae-gan.py)."""
    cfg = tiny(preset, tmp_path, image_size=shape[1])
    nets, _, _ = build_step(cfg)
    x = tf.random.stateless_uniform(shape, seed=[1, 2], minval=0 if cfg.arch == 'mnist' else -1, maxval=1)
    noise = lambda shape, stream: tf.random.stateless_normal(shape, seed=[5, stream])
    kl_weight = float(models.kl_weight(cfg.kl_weight, 1.0, shape[0], cfg.z_dim))
    assert kl_weight == pytest.approx(1 / 32 if preset is config.mnist else 1 / 4)

    def original_loss(name, stream_e, stream_p):
        mean, sigma = nets.encoder(x, training=True)
        x_tilde = nets.decoder(mean + sigma * noise(tf.shape(sigma), stream_e), training=True)
        x_p = nets.decoder(noise([shape[0], cfg.z_dim], stream_p), training=True)
        (f_x, l_x), (f_t, l_t), (_, l_p) = (nets.discriminator(v, training=True) for v in (x, x_tilde, x_p))
        d_x, d_t, d_p = tf.sigmoid(l_x), tf.sigmoid(l_t), tf.sigmoid(l_p)
        llike = tf.reduce_mean(tf.square(f_t - f_x))
        kl = tf.reduce_mean(tf.reduce_sum(0.5 * (mean ** 2 + sigma ** 2 - 1) - tf.math.log(sigma), axis=1))
        return {'discriminator': -tf.reduce_mean(tf.math.log(d_x) + tf.math.log(1 - d_t) + tf.math.log(1 - d_p)),
                'encoder': kl_weight * kl + cfg.gamma_enc * llike,
                'decoder': cfg.gamma_dec * llike + tf.reduce_mean(-tf.math.log(d_t) - tf.math.log(d_p))}[name]

    scalars, grads = gradients_of(vae_gan.original_step, cfg, nets, (x, x, x) if cfg.fresh_batches else x,
                                  tf.constant(kl_weight), noise)  # each against the same weights
    for name, stream_e, stream_p in (('discriminator', 0, 1), ('encoder', 2, 1), ('decoder', 3, 4)):
        with tf.GradientTape() as tape:
            loss = original_loss(name, stream_e, stream_p)
        expected = tape.gradient(loss, nets[name].trainable_variables)
        got = grads[name]
        assert float(scalars[f'{name}_loss']) == pytest.approx(float(loss), rel=1e-4)
        assert len(got) == len(expected) > 4
        got, expected = ([tf.convert_to_tensor(g).numpy() for g in grads] for grads in (got, expected))
        scale = max(np.max(np.abs(e)) for e in expected)  # (a bias before batch norm has a gradient of ~0)
        for g, e, v in zip(got, expected, nets[name].trainable_variables):
            assert np.max(np.abs(g - e)) <= 1e-4 * scale, (name, v.path)


def test_celeb_a_preprocessing_matches_pil_s_closecrop():
    """The celeb_a preset's crop and resize against the original's own code with PIL (Celeb-A/vae-gan.py
    lines 79-91: crop (19, 39, 159, 179), then resize to 64x64 with ANTIALIAS, i.e. Lanczos), on a
    218x178 image with smooth regions, a hard-edged disc and noise. Tolerance: a mean error under half
    a grey level, 99% of pixels within 1, none beyond 8 (measured: 0.16, 1, 6; the largest at the edge)."""
    from PIL import Image
    rng = np.random.default_rng(0)
    smooth = Image.fromarray(rng.uniform(0, 255, (14, 12, 3)).astype(np.uint8)).resize((178, 218), Image.BICUBIC)
    image = np.asarray(smooth).astype(np.float64)
    rows, cols = np.mgrid[:218, :178]
    image[(rows - 110) ** 2 + (cols - 90) ** 2 < 40 ** 2] = [250, 20, 20]
    image = np.clip(image + rng.normal(0, 8, image.shape), 0, 255).astype(np.uint8)
    ours = data.preprocess(config.celeb_a, tf.constant(image)).numpy().astype(int)
    pil = np.asarray(Image.fromarray(image).crop((19, 39, 159, 179)).resize((64, 64), Image.LANCZOS)).astype(int)
    error = np.abs(ours - pil)
    assert error.mean() < 0.5 and np.percentile(error, 99) <= 1 and error.max() <= 8
