"""The levers against D's overfitting, each against a computation apart: DiffAugment (augment) in numpy,
one draw for x and x~ where Dis_l compares them, ADA's chance (ada_target) on a planted sequence of
signs, VQGAN's adaptive weight (adaptive_gan_weight) by finite differences; and a run with all three."""
import dataclasses
import os
import types

import numpy as np
import pytest
import tensorflow as tf

import checkpoints
import config
import configurator
import models
import run_folder
import vae_gan
from configurator import UsageError
from conftest import gradients_of, tiny


def _augment_by_hand(x, kinds, p, u):
    """DiffAugment's rules image by image, pixel by pixel, in numpy (DiffAugment_tf.py's, with a chance p)."""
    out, size = x.astype(np.float64), x.shape[1]
    for i, image in enumerate(out):
        if 'color' in kinds:
            if u[i, 0] < p:
                image = image + (u[i, 1] - 0.5)
            if u[i, 2] < p:
                mean = image.mean(axis=2, keepdims=True)
                image = mean + (image - mean) * 2 * u[i, 3]
            if u[i, 4] < p:
                image = image.mean() + (image - image.mean()) * (u[i, 5] + 0.5)
        if 'translation' in kinds and u[i, 6] < p:
            shift = int(size * 0.125 + 0.5)
            dy, dx = (int(np.floor(u[i, k] * (2 * shift + 1))) - shift for k in (7, 8))
            moved = np.zeros_like(image)
            for r in range(size):
                for c in range(size):
                    if 0 <= r + dy < size and 0 <= c + dx < size:
                        moved[r, c] = image[r + dy, c + dx]
            image = moved
        if 'cutout' in kinds and u[i, 9] < p:
            side = int(size * 0.5 + 0.5)
            top, left = (int(np.floor(u[i, k] * (size + 1 - side % 2))) - side // 2 for k in (10, 11))
            image = image.copy()
            image[max(top, 0):max(top + side, 0), max(left, 0):max(left + side, 0)] = 0
        out[i] = image
    return out


@pytest.mark.parametrize('shape, kinds', [((8, 28, 28, 1), 'translation,cutout'),
                                          ((8, 16, 16, 3), 'color,translation,cutout')])
def test_augment_is_diffaugment_image_by_image(shape, kinds):
    rng = np.random.default_rng(0)
    x = rng.random(shape).astype(np.float32)
    u = rng.random((shape[0], models.AUGMENT_DRAWS)).astype(np.float32)
    for p in (0.0, 0.6, 1.0):
        ours = models.augment(tf.constant(x), kinds, p, tf.constant(u)).numpy()
        assert np.allclose(ours, _augment_by_hand(x, kinds, p, u), atol=1e-5), p
    assert np.array_equal(models.augment(tf.constant(x), kinds, 0.0, tf.constant(u)).numpy(), x)
    with tf.GradientTape() as tape:  # differentiable: D's gradient reaches the decoder through it
        x_tensor = tf.constant(x)
        tape.watch(x_tensor)
        total = tf.reduce_sum(models.augment(x_tensor, kinds, 1.0, tf.constant(u)) ** 2)
    assert np.abs(tape.gradient(total, x_tensor).numpy()).sum() > 0


def test_dis_l_compares_x_and_x_tilde_under_one_draw(step_for, tmp_path, monkeypatch):
    cfg = tiny(config.mnist, tmp_path, augment='translation,cutout')
    nets, _, _ = step_for(cfg)
    draws = []
    augment = models.augment
    monkeypatch.setattr(models, 'augment', lambda x, kinds, p, u: draws.append(u.numpy()) or augment(x, kinds, p, u))
    x = tf.random.stateless_uniform([4, 28, 28, 1], seed=[1, 2])
    noise = vae_gan.make_noise(0, tf.Variable(0, dtype=tf.int64))
    gradients_of(vae_gan.original_step, cfg, nets, x, tf.constant(1.0), noise)
    # D: x, x_p, x~; the encoder: x, x~; the decoder: x, x_p, x~
    assert len(draws) == 8
    same = lambda a, b: np.array_equal(draws[a], draws[b])
    assert same(3, 4) and same(5, 7)  # the Dis_l pairs
    assert not any(same(a, b) for a in range(8) for b in range(a + 1, 8) if (a, b) not in ((3, 4), (5, 7)))


def test_ada_moves_p_as_its_rule_on_a_planted_sequence():
    cfg = types.SimpleNamespace(ada_target=0.6, batch_size=64, ada_images=1000)
    nets = types.SimpleNamespace(augment_p=tf.Variable(0.2), signs=tf.Variable(0.0))
    planted = [1.0, 0.8, 0.9, 0.7,  1.0, -0.2, 0.1, 0.3,  -1.0, -1.0, -1.0, -1.0,  0.6, 0.6, 0.6, 1.0,  1, 1, 1, 1]
    p, signs, expected, seen = 0.2, [], [], []
    for step, sign in enumerate(planted, 1):  # stylegan2-ada-pytorch's rule, apart
        signs.append(sign)
        if step % 4 == 0:
            p = max(p + np.sign(np.mean(signs) - 0.6) * 64 * 4 / 1000, 0.0)
            signs = []
        expected.append(p)
        vae_gan.adapt(cfg, nets, tf.constant(sign, tf.float32), tf.constant(step, tf.int64))
        seen.append(float(nets.augment_p.numpy()))
    assert np.allclose(seen, expected, atol=1e-6)
    assert expected[3] > 0.2 and expected[7] < expected[3] and expected[11] == 0.0  # up, down, floored at 0
    # r_t's threshold: where each loss leaves a D that cannot tell (D = 1/3 with the original's two fakes)
    neutral = lambda **fields: vae_gan.neutral_logit(dataclasses.replace(config.mnist, **fields))
    assert neutral() == pytest.approx(np.log(1 / 2))
    assert neutral(real_vs_gen_weight=0.5, discriminate_recon=False) == 0.0  # the official's, ADA's
    assert neutral(real_vs_gen_weight=0.8, discriminate_recon=False) == pytest.approx(np.log(4))


def test_the_adaptive_weight_is_the_ratio_of_the_gradients_at_the_last_kernel():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(5, 3))
    first, last = tf.Variable(rng.normal(size=(3, 4))), tf.Variable(rng.normal(size=(4, 2)))
    reconstruction_of = lambda w1, w2: np.mean((np.tanh(z @ w1) @ w2 - 0.5) ** 2)
    gan_of = lambda w1, w2: np.mean(np.log1p(np.exp(-(np.tanh(z @ w1) @ w2))))
    with tf.GradientTape(persistent=True) as tape:
        out = tf.tanh(tf.constant(z) @ first) @ last
        reconstruction = tf.reduce_mean((out - 0.5) ** 2)
        gan = tf.reduce_mean(tf.nn.softplus(-out))
        weight = models.adaptive_weight(tape, reconstruction, gan, last)
        loss = reconstruction + weight * gan
    w2 = last.numpy()
    numeric = []
    for f in (reconstruction_of, gan_of):  # central differences, nothing of TensorFlow's autodiff
        grad = np.zeros_like(w2)
        for index in np.ndindex(w2.shape):
            up, down = w2.copy(), w2.copy()
            up[index] += 1e-6
            down[index] -= 1e-6
            grad[index] = (f(first.numpy(), up) - f(first.numpy(), down)) / 2e-6
        numeric.append(np.linalg.norm(grad))
    assert float(weight) == pytest.approx(numeric[0] / (numeric[1] + 1e-4), rel=1e-5)
    # held constant: the loss's gradient is the reconstruction's plus weight times the GAN term's
    for total, r, g in zip(tape.gradient(loss, [first, last]), tape.gradient(reconstruction, [first, last]),
                           tape.gradient(gan, [first, last])):
        assert np.allclose(total.numpy(), r.numpy() + float(weight) * g.numpy())
    with tf.GradientTape(persistent=True) as tape:  # a GAN term with no gradient: the weight's cap
        reconstruction = 100 * tf.reduce_mean(last ** 2)
        assert float(models.adaptive_weight(tape, reconstruction, tf.reduce_sum(last) * 0.0, last)) == 1e4


def test_a_run_with_the_levers_adapts_p_keeps_it_and_the_faithful_presets_have_none(tmp_path, mock_tfds):
    for name, preset in config.PRESETS.items():
        assert (preset.augment, preset.ada_target, preset.adaptive_gan_weight) == ('', None, None), name
    cfg = tiny(config.mnist, tmp_path, batch_size=8, augment='translation,cutout', augment_p=0.1, ada_target=0.6,
               ada_images=100, adaptive_gan_weight=0.8)
    run = vae_gan.build(cfg)
    x = tf.random.stateless_uniform([8, 28, 28, 1], seed=[1, 2])
    steps = [run.train_step(x, tf.constant(1.0)) for _ in range(4)]
    assert all(0 < float(s['gan_weight']) and abs(float(s['sign_x'])) <= 1 for s in steps)
    assert [float(s['augment_p']) for s in steps[:3]] == [pytest.approx(0.1)] * 3  # it moves on the 4th step
    r_t = np.mean([float(s['sign_x']) for s in steps])
    p = max(0.1 + np.sign(r_t - 0.6) * 8 * 4 / 100, 0.0)
    assert float(steps[3]['augment_p']) == pytest.approx(p)
    assert [vae_gan.tag(name) for name in ('augment_p', 'sign_x', 'gan_weight')] == [
        'overfitting/augment_p', 'overfitting/sign_x', 'loss/decoder/gan_weight']  # beside D's epoch figures
    checkpoints.save(run.checkpoint, os.path.join(cfg.out_dir, 'checkpoints'), 1)
    run_folder.write_json(configurator.config_file(cfg.out_dir), dataclasses.asdict(cfg))
    resumed = vae_gan.build(cfg)
    vae_gan.resume(cfg, resumed)
    assert float(resumed.nets.augment_p.numpy()) == pytest.approx(p)  # in the checkpoint
    with pytest.raises(UsageError, match='ada_target'):  # on or off for the run's life, as ema_decay
        configurator.for_training({'out_dir': cfg.out_dir, 'ada_target': None, 'augment': 'cutout'})
    for flags, words in (({'augment': 'flip'}, 'augment must be a comma list'),
                         ({'ada_target': 0.6}, 'add --augment'),
                         ({'augment': 'cutout', 'update': 'simultaneous', 'fresh_batches': False}, 'sequential step'),
                         ({'adaptive_gan_weight': 1.0, 'recon_vs_gan_weight': 0.5}, 'drop --recon_vs_gan_weight')):
        with pytest.raises(UsageError, match=words):
            configurator.checked(dataclasses.replace(config.mnist, **flags))
