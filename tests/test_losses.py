import math

import numpy as np
import pytest
import tensorflow as tf

import models


def _sigmoid(l):
    return 1.0 / (1.0 + np.exp(-l))


def test_discriminator_loss_by_hand():
    logit_x, logit_x_tilde, logit_x_p = np.array([0.0, 2.0]), np.array([-1.0, 0.5]), np.array([3.0, -2.0])
    # the original: -mean(log D(x) + log(1 - D(x~)) + log(1 - D(x_p))) on probabilities
    expected = -np.mean(np.log(_sigmoid(logit_x)) + np.log(1 - _sigmoid(logit_x_tilde))
                        + np.log(1 - _sigmoid(logit_x_p)))
    lx, lt, lp = (tf.constant(v, tf.float32) for v in (logit_x, logit_x_tilde, logit_x_p))
    got = models.discriminator_loss(lx, [lt, lp])
    assert float(got) == pytest.approx(expected, rel=1e-6)
    # at logit 0, D = 1/2 everywhere: three times log 2
    zero = tf.zeros([4])
    assert float(models.discriminator_loss(zero, [zero, zero])) == pytest.approx(3 * math.log(2), rel=1e-6)
    # the official weighting: 0.5 * real + 0.5 * fake, on prior samples alone
    expected = -0.5 * np.mean(np.log(_sigmoid(logit_x))) - 0.5 * np.mean(np.log(1 - _sigmoid(logit_x_p)))
    assert float(models.discriminator_loss(lx, [lp], real_weight=0.5)) == pytest.approx(expected, rel=1e-6)


def test_decoder_gan_loss_by_hand():
    logit_x_tilde, logit_x_p = np.array([-1.0, 0.5, 4.0]), np.array([3.0, -2.0, 0.0])
    expected = np.mean(-np.log(_sigmoid(logit_x_tilde)) - np.log(_sigmoid(logit_x_p)))
    lt, lp = tf.constant(logit_x_tilde, tf.float32), tf.constant(logit_x_p, tf.float32)
    assert float(models.decoder_gan_loss([lt, lp])) == pytest.approx(expected, rel=1e-6)
    # the official saturating form: the decoder minimises log(1 - D(decoder(z)))
    saturating = np.mean(np.log(1 - _sigmoid(logit_x_tilde))) + np.mean(np.log(1 - _sigmoid(logit_x_p)))
    assert float(models.decoder_gan_loss([lt, lp], 'saturating')) == pytest.approx(saturating, rel=1e-6)


def test_stable_form_equals_the_log_form_and_stays_finite_where_it_does_not():
    logits = tf.constant(np.linspace(-15, 15, 61), tf.float64)  # float64: the log form is exact there
    original = -tf.reduce_mean(tf.math.log(tf.sigmoid(logits)) + 2 * tf.math.log(1 - tf.sigmoid(logits)))
    stable = models.discriminator_loss(logits, [logits, logits])
    assert float(stable) == pytest.approx(float(original), rel=1e-9)
    # a saturated D: the original's log(sigmoid) is inf, the stable form is finite and exact
    saturated = tf.constant(200.0)
    assert not np.isfinite(float(-tf.math.log(1 - tf.sigmoid(saturated))))
    assert float(models.discriminator_loss(saturated, [saturated, saturated])) == pytest.approx(400.0, rel=1e-6)
    assert float(models.decoder_gan_loss([-saturated, -saturated])) == pytest.approx(400.0, rel=1e-6)
    assert float(models.decoder_gan_loss([saturated], 'saturating')) == pytest.approx(-200.0, rel=1e-6)


def test_dis_l_loss_is_the_mean_over_batch_and_features():
    a = tf.constant([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    b = tf.constant([[1.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    assert float(models.dis_l_loss(a, b)) == pytest.approx((0 + 4 + 9 + 1 + 1 + 1) / 6)
    # the official Gaussian likelihood: half the squared error summed over features, batch mean
    assert float(models.dis_l_loss(a, b, 'gaussian')) == pytest.approx(0.5 * ((0 + 4 + 9) + (1 + 1 + 1)) / 2)


def test_kl_closed_form():
    mean = np.array([[0.5, -1.0], [0.0, 2.0]], np.float32)
    sigma = np.array([[1.0, 0.5], [2.0, 0.1]], np.float32)
    per_dim = np.log(1 / sigma) + (sigma ** 2 + mean ** 2) / 2 - 0.5  # KL(N(m, s^2) || N(0, 1))
    assert float(models.kl_loss(mean, sigma)) == pytest.approx(per_dim.sum(1).mean(), rel=1e-6)
    assert float(models.kl_loss(np.zeros((3, 4), np.float32), np.ones((3, 4), np.float32))) == 0.0


def test_kl_matches_a_monte_carlo_estimate():
    rng = np.random.default_rng(0)
    mean, sigma = np.array([[0.3, -0.7]]), np.array([[0.6, 1.4]])
    z = mean + sigma * rng.standard_normal((200000, 2))
    log_q = -0.5 * ((z - mean) / sigma) ** 2 - np.log(sigma)
    log_p = -0.5 * z ** 2
    estimate = (log_q - log_p).sum(1).mean()
    assert float(models.kl_loss(mean.astype(np.float32), sigma.astype(np.float32))) == pytest.approx(estimate, abs=0.01)


def test_kl_weight_settings():
    assert float(models.kl_weight('1/batch', tf.constant(7.0), tf.constant(256), 32)) == pytest.approx(1 / 256)
    assert float(models.kl_weight('1/z_dim', tf.constant(7.0), tf.constant(256), 32)) == pytest.approx(1 / 32)
    assert float(models.kl_weight('0.25', tf.constant(7.0), 64, 32)) == pytest.approx(0.25)
    # epochs count from 1; the original fed its schedule the epoch from 0 (MNIST/vae-gan.py line 294)
    sigmoid = [float(models.kl_weight('sigmoid', tf.constant(float(e)), 64, 32)) for e in range(1, 61)]
    assert sigmoid[0] == pytest.approx(1 / (1 + math.exp(5)), rel=1e-5)  # about 0.0067 in epoch 1
    assert sigmoid[15] == pytest.approx(0.5, rel=1e-6)  # the midpoint, epoch 16 (the original's 15)
    assert sigmoid[-1] > 0.9999 and all(a < b for a, b in zip(sigmoid, sigmoid[1:]))  # rises, saturates at 1


@pytest.mark.parametrize('real_cost, fake_cost, expected', [
    (0.70, 0.66, (True, True)),   # both near ln 2: both update
    (0.20, 0.70, (False, True)),  # D wins on real images: skip D
    (0.70, 0.10, (False, True)),  # D wins on fakes: skip D
    (1.20, 0.70, (True, False)),  # D loses: skip the decoder
    (0.70, 1.50, (True, False)),
    (0.20, 1.50, (True, True)),   # both would be skipped: do both
])
def test_balance_rule(real_cost, fake_cost, expected):
    costs = {'real_cost': tf.constant(real_cost), 'fake_cost': tf.constant(fake_cost)}
    update_d, update_g = models.balance(costs, 0.68, 0.35)
    assert (bool(update_d), bool(update_g)) == expected
    assert models.balance(costs, 0.68, None) == (None, None)  # the rule off: both always update
