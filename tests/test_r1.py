"""The R1 penalty (r1_gamma): its value and its gradient with respect to D's weights against a
computation apart, on a tiny network in float64 (its slope by hand, its gradient by finite
differences, no autodiff), and the step's discriminator loss with it."""
import dataclasses

import numpy as np
import pytest
import tensorflow as tf

import config
import models
import vae_gan
from conftest import gradients_of, tiny


def _tiny_discriminator(rng):
    """x [n, 2, 2, 1] -> (Dis_l = tanh(W x + b), logit = v . Dis_l + c), in float64, weights from rng."""
    import keras
    x = keras.Input((2, 2, 1), dtype='float64')
    h = keras.layers.Dense(3, activation='tanh', dtype='float64')(keras.layers.Flatten(dtype='float64')(x))
    net = keras.Model(x, [h, keras.layers.Dense(1, dtype='float64')(h)])
    net.set_weights([rng.normal(size=w.shape) for w in net.get_weights()])
    return net


def _penalty_by_hand(weights, x):
    """mean over the batch of |d logit / dx|^2 with d logit / dx = W (v * (1 - tanh(W^T x + b)^2))."""
    w, b, v, _ = weights
    flat = x.reshape(len(x), -1)
    slope = (v[:, 0] * (1 - np.tanh(flat @ w + b) ** 2)) @ w.T  # [n, 4]
    return np.mean(np.sum(slope ** 2, axis=1))


def test_r1_penalty_and_its_gradient_against_a_computation_apart():
    rng = np.random.default_rng(0)
    net = _tiny_discriminator(rng)
    x = tf.constant(rng.normal(size=(5, 2, 2, 1)))
    with tf.GradientTape() as tape:
        _, logit, penalty = models.discriminate_real(net, x, r1=True)
    grads = tape.gradient(penalty, net.trainable_variables)
    weights = net.get_weights()
    assert grads[-1] is None  # D's logit bias does not move its slope
    grads = [np.zeros_like(w) if g is None else g.numpy() for w, g in zip(weights, grads)]
    assert float(penalty) == pytest.approx(_penalty_by_hand(weights, x.numpy()), rel=1e-6)
    for k, (weight, grad) in enumerate(zip(weights, grads)):
        numeric = np.zeros_like(weight)
        for index in np.ndindex(weight.shape):  # central differences, nothing of TensorFlow's autodiff
            up, down = [w.copy() for w in weights], [w.copy() for w in weights]
            up[k][index] += 1e-6
            down[k][index] -= 1e-6
            numeric[index] = (_penalty_by_hand(up, x.numpy()) - _penalty_by_hand(down, x.numpy())) / 2e-6
        assert np.allclose(grad, numeric, rtol=1e-5, atol=1e-8), k
        assert np.abs(numeric).max() > 1e-3 or k == 3  # each weight but the logit bias moves the penalty
    plain = models.discriminate_real(net, x)
    assert plain[2] is None and np.array_equal(plain[1].numpy(), logit.numpy())


def test_the_step_adds_gamma_over_2_r1_to_d_s_loss(step_for, tmp_path):
    x = tf.random.stateless_uniform([4, 28, 28, 1], seed=[1, 2])
    cfg = tiny(config.mnist, tmp_path, r1_gamma=10.0)
    nets, _, _ = step_for(cfg)
    noise = vae_gan.make_noise(0, tf.Variable(0, dtype=tf.int64))
    with_r1, _ = gradients_of(vae_gan.original_step, cfg, nets, x, tf.constant(1.0), noise)
    without, _ = gradients_of(vae_gan.original_step, dataclasses.replace(cfg, r1_gamma=0.0), nets, x, tf.constant(1.0),
                              noise)
    assert float(with_r1['r1']) > 0 and 'r1' not in without
    assert float(with_r1['discriminator_loss']) == pytest.approx(
        float(without['discriminator_loss']) + 5.0 * float(with_r1['r1']), rel=1e-4)
