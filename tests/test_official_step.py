"""celeb_a_paper's step against the official one, gradient for gradient.

`official_gradients` below builds the official training graph as model/aegan.py:57-119 does, written
out here and not from the repo's losses or step: one scalar loss
    sum(KL) + sum(NLLNormal(Dis_l(x~), Dis_l(x))) - sum(log(d * sign + offset + 1e-3)),
backpropagated once, with the official code's gradient surgery spelled out:
- NLLNormal.bprop writes only the prediction's gradient (model/ae.py:24-28): the target gets none;
- the decoder is used twice: as itself for x~ and as decoder_neggrad, sharing its parameters, for x_p;
  its WeightedParameter adds w times the first copy's gradient and -(1 - w) times the second's
  (model/aegan.py:29-33, model/util.py:17-31); w = recon_vs_gan_weight;
- the discriminator's first 9 ops are shared as discriminator_recon, weighted 1.0 and 0.0 (aegan.py:35-47):
  D gets no Dis_l gradient;
- D's output gradient is scaled by the real/generated weights and its input gradient by their
  inverse (ScaleGradient, aegan.py:94-110);
- DeepPy's weight decay adds 2 wd w (deeppy/parameter.py:70-74) to the kernels the architecture's
  conv/affine/backconv helpers make, not to the encoder's mean and log-variance heads, which
  NormalEncoder makes with a plain filler (architectures.py:8-47, model/ae.py:59-74).
The official losses are sums over the batch and the repo's are means, so the repo's gradients times
the batch size must equal these (the preset divides its L2 weight by the batch size for this).
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import config
import models
import vae_gan
from conftest import build_step, gradients_of, tiny

N, SIZE, WD = 4, 16, 0.05  # batch, image size; a weight decay large enough that a missing one shows


@tf.custom_gradient
def scale_gradient(x, scale):
    """model/util.py:6-14: the identity forward, the gradient times `scale` backward."""
    return tf.identity(x), lambda g: (g * scale, None)


@tf.custom_gradient
def nll_normal_gradient_of_prediction(prediction, target):
    """NLLNormal with sigma 1 as it backpropagates (model/ae.py:9-28): (prediction - target) to the
    prediction and nothing to the target. (Its value is not used: only gradients are compared.)"""
    def grad(g):
        return (prediction - target) * g, tf.zeros_like(target)
    return 0.5 * tf.reduce_sum(tf.square(prediction - target)), grad


def _copy(model):
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone


def official_gradients(nets, x, eps, z_p, w, real_vs_gen_weight=0.5, offset=1e-3):
    """{network: gradients} of the official step (sums over the batch), for nets' weights."""
    decoder_neggrad, discriminator_recon = _copy(nets.decoder), _copy(nets.discriminator)
    n = x.shape[0]
    gen_size = n  # prior samples only (discriminate_ae_recon off): aegan.py:97-101's gen_weight
    weights = np.array([real_vs_gen_weight] * n + [(1 - real_vs_gen_weight) * n / gen_size] * gen_size, np.float32)
    sign = np.array([1.0] * n + [-1.0] * n, np.float32)
    shift = np.array([0.0] * n + [1.0] * n, np.float32)
    with tf.GradientTape(persistent=True) as tape:
        mu, sigma = nets.encoder(x, training=True)
        logvar = 2.0 * tf.math.log(sigma)  # the encoder's log-variance head (sigma = exp(logvar / 2))
        kl = -0.5 * tf.reduce_sum(1.0 + logvar - tf.square(mu) - tf.exp(logvar), axis=1)  # model/ae.py:41-48
        z = mu + tf.exp(0.5 * logvar) * eps
        x_tilde = nets.decoder(z, training=True)
        features, _ = discriminator_recon(tf.concat([x_tilde, x], 0), training=True)  # one call on [x~, x]
        recon = nll_normal_gradient_of_prediction(features[:n], features[n:])
        x_p = decoder_neggrad(z_p, training=True)
        d_in = scale_gradient(tf.concat([x, x_p], 0), 1.0 / weights[:, None, None, None])
        _, logit = nets.discriminator(d_in, training=True)
        d = scale_gradient(tf.reshape(tf.sigmoid(logit), [-1]), weights)
        loss = tf.reduce_sum(kl) + recon - tf.reduce_sum(tf.math.log(d * sign + shift + offset))
    grad = lambda model: [tf.zeros(v.shape) if g is None else g  # a weight the loss does not reach: 0
                          for g, v in zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables)]
    grads = {'encoder': grad(nets.encoder),
             'decoder': [w * a - (1 - w) * b for a, b in zip(grad(nets.decoder), grad(decoder_neggrad))],
             'discriminator': [1.0 * a + 0.0 * b for a, b in zip(grad(nets.discriminator), grad(discriminator_recon))]}
    for name, gradients in grads.items():
        decayed = [v.path.endswith('kernel') and v.path.split('/')[0] not in ('mean', 'logvar')
                   for v in nets[name].trainable_variables]
        kernels = sum(v.path.endswith('kernel') for v in nets[name].trainable_variables)
        assert kernels - sum(decayed) == (2 if name == 'encoder' else 0)  # the two heads, by their layers' names
        grads[name] = [g + 2 * WD * v if decay else g
                       for g, v, decay in zip(gradients, nets[name].trainable_variables, decayed)]
    return grads


@pytest.fixture(scope='module', params=[(1e-6, 0.5), (0.5, 0.3)], ids=['preset', 'other_weights'])
def paper_step(tmp_path_factory, request):
    """The preset's step, and one with recon_vs_gan_weight 0.5 and real_vs_gen_weight 0.3 (where the decoder's
    Dis_l gradient is not negligible and the real and generated weights differ)."""
    w, real_weight = request.param
    cfg = tiny(config.celeb_a_paper, tmp_path_factory.mktemp('paper'), image_size=SIZE, batch_size=N,
               kernel_l2=WD / N, recon_vs_gan_weight=w, real_vs_gen_weight=real_weight)
    nets, _, _ = build_step(cfg, seed=3)
    rng = np.random.default_rng(0)
    x = tf.constant(rng.uniform(-1, 1, (N, SIZE, SIZE, 3)), tf.float32)
    eps, z_p = (tf.constant(rng.normal(size=(N, cfg.z_dim)), tf.float32) for _ in range(2))
    return cfg, nets, x, eps, z_p


def repo_gradients(cfg, nets, x, eps, z_p):
    """The repo's one-pass step's gradients with the same noise, times the batch (its losses are means)."""
    noise = lambda shape, stream: (eps, z_p)[stream]
    kl_weight = models.kl_weight(cfg.kl_weight, 1.0, N, cfg.z_dim)  # '1': the official KL + Dis_l
    _, grads = gradients_of(vae_gan.one_pass_step, cfg, nets, x, kl_weight, noise)
    return {name: [g * N for g in gradients] for name, gradients in grads.items()}


def worst(ours, official):
    """The largest error of any weight's gradient, relative to that gradient's largest entry."""
    return max(float(np.max(np.abs(a - b)) / (np.max(np.abs(b)) + 1e-30)) for a, b in zip(ours, official))


@pytest.fixture(scope='module')
def both(paper_step):
    """(the repo's gradients, the official ones, the networks), computed once for the three tests."""
    cfg, nets, x, eps, z_p = paper_step
    official = official_gradients(nets, x, eps, z_p, cfg.recon_vs_gan_weight, cfg.real_vs_gen_weight)
    return repo_gradients(cfg, nets, x, eps, z_p), official, nets


@pytest.mark.parametrize('network', ['encoder', 'decoder', 'discriminator'])
def test_each_network_s_gradient_is_the_official_one(both, network):
    ours, official, nets = both
    assert len(ours[network]) == len(official[network]) == len(nets[network].trainable_variables)
    assert worst(ours[network], official[network]) < 1e-4
