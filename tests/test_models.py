import keras
import numpy as np
import pytest
import tensorflow as tf

import config
import models


@pytest.mark.parametrize('preset, x_shape, dis_l', [
    (config.mnist, (28, 28, 1), 4 * 4 * 64),
    (config.fashion_mnist, (28, 28, 1), 4 * 4 * 64),
    (config.celeb_a, (64, 64, 3), 8 * 8 * 512),
    (config.cifar10, (32, 32, 3), 4 * 4 * 512),
])
def test_output_shapes(preset, x_shape, dis_l):
    encoder, decoder, discriminator = (models.build_encoder(preset), models.build_decoder(preset),
                                       models.build_discriminator(preset))
    assert (encoder.name, decoder.name, discriminator.name) == ('encoder', 'decoder', 'discriminator')
    x = tf.random.uniform((2,) + x_shape)
    mean, sigma = encoder(x, training=False)
    assert mean.shape == sigma.shape == (2, preset.z_dim)
    assert np.all(sigma.numpy() > 0)  # softplus: a standard deviation
    images = decoder(mean, training=False).numpy()
    assert images.shape == (2,) + x_shape
    low = 0.0 if preset.arch == 'mnist' else -1.0  # sigmoid or tanh
    assert images.min() >= low and images.max() <= 1.0
    features, logit = discriminator(x, training=False)
    assert features.shape == (2, dis_l) and logit.shape == (2, 1)


def _layer_types(model):
    return [type(layer).__name__ for layer in model.layers]


def test_mnist_architecture_as_the_original():
    encoder = models.build_encoder(config.mnist)
    convs = [l for l in encoder.layers if type(l).__name__ == 'Conv2D']
    assert [(c.filters, c.kernel_size, c.strides) for c in convs] == [(16, (3, 3), (2, 2)), (32, (3, 3), (2, 2)),
                                                                     (64, (3, 3), (2, 2))]
    # activation, then batch norm; the third conv uses ReLU
    assert _layer_types(encoder)[1:10] == ['Conv2D', 'LeakyReLU', 'BatchNormalization', 'Conv2D', 'LeakyReLU',
                                           'BatchNormalization', 'Conv2D', 'ReLU', 'BatchNormalization']
    leaky = [l for l in encoder.layers if type(l).__name__ == 'LeakyReLU']
    assert all(abs(float(l.negative_slope) - 0.2) < 1e-7 for l in leaky)
    discriminator = models.build_discriminator(config.mnist)
    assert 'BatchNormalization' not in _layer_types(discriminator)
    decoder = models.build_decoder(config.mnist)
    transposed = [l for l in decoder.layers if type(l).__name__ == 'Conv2DTranspose']
    assert [t.filters for t in transposed] == [32, 16, 1]
    assert decoder.layers[1].activation.__name__ == 'tanh' and decoder.layers[-2].activation.__name__ == 'sigmoid'


def test_celeb_a_architecture_as_the_original():
    encoder = models.build_encoder(config.celeb_a)
    convs = [l for l in encoder.layers if type(l).__name__ == 'Conv2D']
    assert [(c.filters, c.kernel_size, c.strides) for c in convs] == [
        (64, (5, 5), (2, 2)), (128, (5, 5), (2, 2)), (256, (5, 5), (2, 2)), (512, (5, 5), (1, 1))]
    assert _layer_types(encoder)[1:4] == ['Conv2D', 'BatchNormalization', 'ReLU']  # conv -> BN -> ReLU
    kernel = convs[0].kernel.numpy()
    assert abs(kernel.std() - 0.02 * 0.88) < 0.002 and np.abs(kernel).max() <= 0.04 + 1e-6  # truncated normal
    discriminator = models.build_discriminator(config.celeb_a)
    assert _layer_types(discriminator).count('BatchNormalization') == 4
    decoder = models.build_decoder(config.celeb_a)
    assert _layer_types(decoder)[1:4] == ['Dense', 'BatchNormalization', 'ReLU']
    assert decoder.layers[-1].activation.__name__ == 'tanh'


def test_paper_architecture():
    cfg = config.celeb_a_paper
    encoder, decoder, discriminator = (models.build_encoder(cfg), models.build_decoder(cfg),
                                       models.build_discriminator(cfg))
    x = tf.random.uniform((2, 64, 64, 3), -1, 1)
    mean, sigma = encoder(x, training=False)
    assert mean.shape == sigma.shape == (2, 128)
    convs = [l for l in encoder.layers if type(l).__name__ == 'Conv2D']
    assert [(c.filters, c.strides, c.use_bias) for c in convs] == [(64, (2, 2), False), (128, (2, 2), False),
                                                                  (256, (2, 2), False)]
    bn = [l for l in encoder.layers if type(l).__name__ == 'BatchNormalization']
    assert all(abs(b.momentum - 0.9) < 1e-9 for b in bn)
    assert [b.epsilon for b in bn] == [1e-6, 1e-6, 1e-6, 1e-5]  # convs, then the dense layer (DeepPy's default)
    assert [l.units for l in encoder.layers if type(l).__name__ == 'Dense'] == [1024, 128, 128]
    assert decoder(mean, training=False).shape == (2, 64, 64, 3)
    assert [l.filters for l in decoder.layers if type(l).__name__ == 'Conv2DTranspose'] == [256, 128, 32]
    assert type(decoder.layers[-1]).__name__ == 'Conv2D' and decoder.layers[-1].activation.__name__ == 'tanh'
    dis_l, logit = discriminator(x, training=False)
    assert dis_l.shape == (2, 8 * 8 * 256) and logit.shape == (2, 1)
    d_convs = [l for l in discriminator.layers if type(l).__name__ == 'Conv2D']
    assert [(c.filters, c.strides) for c in d_convs] == [(32, (1, 1)), (128, (2, 2)), (256, (2, 2)), (256, (2, 2))]
    # Dis_l is the fourth conv's output itself, before its batch norm
    probe = keras.Model(discriminator.input, [discriminator.get_layer('dis_l').output, d_convs[3].output])
    features, conv_out = probe(x, training=False)
    assert np.allclose(features.numpy(), tf.reshape(conv_out, [2, -1]).numpy())


def test_celeb_a_initialisers_as_the_original():
    """Truncated normal(0.02) everywhere but the decoder's first transposed conv, a plain normal(0.02)
    (Celeb-A/vae-gan.py line 195), and D's output layer, TF1's default Glorot uniform."""
    import keras
    keras.utils.set_random_seed(0)
    decoder, discriminator = models.build_decoder(config.celeb_a), models.build_discriminator(config.celeb_a)
    transposed = [l.kernel.numpy() for l in decoder.layers if type(l).__name__ == 'Conv2DTranspose']
    first, second = transposed[0], transposed[1]
    assert abs(first.std() - 0.02) < 0.001 and np.abs(first).max() > 0.06  # untruncated: tails past 2 sigma
    assert abs(second.std() - 0.0176) < 0.001 and np.abs(second).max() <= 0.04  # truncated at 2 sigma
    logit = discriminator.get_layer('logit').kernel.numpy()
    limit = np.sqrt(6 / (logit.shape[0] + 1))
    assert np.abs(logit).max() <= limit and abs(logit.std() - limit / np.sqrt(3)) < 0.001  # uniform, Glorot's


def test_mnist_and_celeb_a_optimizers_and_kl_weights_as_the_original():
    for cfg in (config.mnist, config.celeb_a):
        nets = models.build_networks(cfg)
        assert all(float(o.epsilon) == 1e-8 and float(o.beta_1) == 0.5 for o in nets.optimizers.values())  # TF1 Adam
    assert (config.mnist.kl_weight, config.celeb_a.kl_weight) == ('1/z_dim', '1/batch')
    assert config.mnist.train_split == 'train[5000:]' and config.celeb_a.train_split == 'train'
    assert config.celeb_a.resize_method == 'lanczos3'  # PIL's ANTIALIAS


def _deeppy_conv(x, w, stride=2, pad=2):
    """DeepPy's Convolution with border_mode='same' as cudarray computes it (im2col, a cross-correlation),
    written out in numpy: x [n, h, w, c] padded by 5 // 2 = 2 on every side, w [k, k, c, f]
    [deeppy/expr/nnet/spatial.py:7-16, 40-44]."""
    k = w.shape[0]
    x = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    out = (x.shape[1] - k) // stride + 1
    y = np.zeros((x.shape[0], out, out, w.shape[3]))
    for i in range(out):
        for j in range(out):
            patch = x[:, i * stride:i * stride + k, j * stride:j * stride + k, :]
            y[:, i, j, :] = np.tensordot(patch, w, axes=([1, 2, 3], [0, 1, 2]))
    return y


@pytest.mark.parametrize('padding', ['deeppy', 'same'])
def test_paper_convs_pad_as_deeppy(padding, monkeypatch):
    """celeb_a_paper's stride-2 conv equals DeepPy's on a tiny input, and its transposed conv is DeepPy's
    BackwardConvolution, the adjoint of that conv: <conv(x), y> = <x, backconv(y)> [spatial.py:86-129].
    With TensorFlow's 'same' padding (1 before, 2 after) both fail."""
    rng = np.random.default_rng(0)
    cfg = config.celeb_a_paper
    x, w = rng.normal(size=(2, 8, 8, 3)), rng.normal(size=(5, 5, 3, 4))
    y = rng.normal(size=(2, 4, 4, 4))
    if padding == 'same':  # the padding undone: what the preset computed before
        monkeypatch.setattr(models, '_paper_conv', lambda cfg, h, f, s, transpose=False: (
            keras.layers.Conv2DTranspose if transpose else keras.layers.Conv2D)(f, 5, strides=s, padding='same',
                                                                              use_bias=False)(h))
    conv = keras.Model(*(lambda i: (i, models._paper_conv(cfg, i, 4, 2)))(keras.Input((8, 8, 3))))
    back = keras.Model(*(lambda i: (i, models._paper_conv(cfg, i, 3, 2, transpose=True)))(keras.Input((4, 4, 4))))
    conv.set_weights([w])
    back.set_weights([w])  # a transposed conv's kernel [k, k, its output channels, its input channels]
    ours, theirs = conv(x).numpy(), _deeppy_conv(x, w)
    adjoint = np.sum(theirs * y), np.sum(x * back(y).numpy())
    same = np.allclose(ours, theirs, atol=1e-4) and np.isclose(*adjoint, rtol=1e-4)
    assert same == (padding == 'deeppy'), (np.abs(ours - theirs).max(), adjoint)
