"""original.py: the original TensorFlow 1 repo's own checkpoints load into models.py's networks, which then compute
what the original's graph computes. Its three networks are restated here as its vae-gan.py scripts build them
(MNIST/vae-gan.py:45-146, Celeb-A/vae-gan.py:147-247), with tf.compat.v1 variables and tf.nn ops (tf.layers is
gone with Keras 3): random weights and batch-norm statistics, Adam's slots under the original's names, saved by
tf.compat.v1.train.Saver as model_N. Loaded through original.py, our networks match the graph at 1e-4, batch norm
in inference mode (moving statistics) and in training mode (the batch's, as the original's encoder and D run)."""
import glob
import os
import re
import shutil

import numpy as np
import pytest
import tensorflow as tf

import config
import models
import original
from configurator import UsageError

v1 = tf.compat.v1
TOLERANCE = 1e-4
BATCH = 3
# name, the epochs it says, z_dim (celeb_a's not the preset's: read from the shapes), its network variables
CHECKPOINTS = {'mnist': ('model_198', 199, 32, 52), 'celeb_a': ('model_15', 16, 16, 80)}
SLOTS = {'encoder': 4, 'decoder': 4, 'discriminator': 2}  # Adam slots a weight: E and G have two optimizers each


# ---- The original's graph, restated ----------------------------------------------------------------

def _conv(x, name, filters, size, stride):  # tf.layers.conv2d, 'SAME'; kernel HWIO
    kernel = v1.get_variable(f'{name}/kernel', [size, size, x.shape[-1], filters])
    return tf.nn.bias_add(tf.nn.conv2d(x, kernel, stride, 'SAME'), v1.get_variable(f'{name}/bias', [filters]))


def _deconv(x, name, filters, size, stride):  # tf.layers.conv2d_transpose, 'SAME': the input's size * stride; HWOI
    kernel = v1.get_variable(f'{name}/kernel', [size, size, filters, x.shape[-1]])
    shape = [tf.shape(x)[0], x.shape[1] * stride, x.shape[2] * stride, filters]
    return tf.nn.bias_add(tf.nn.conv2d_transpose(x, kernel, shape, stride, 'SAME'),
                          v1.get_variable(f'{name}/bias', [filters]))


def _dense(x, name, units):
    return tf.matmul(x, v1.get_variable(f'{name}/kernel', [x.shape[-1], units])) + v1.get_variable(f'{name}/bias',
                                                                                                    [units])


def _bn(x, name, training):  # tf.layers.batch_normalization: epsilon 1e-3; training: the batch's statistics
    gamma, beta = (v1.get_variable(f'{name}/{w}', [x.shape[-1]]) for w in ('gamma', 'beta'))
    mean, variance = (v1.get_variable(f'{name}/{w}', [x.shape[-1]], trainable=False)
                      for w in ('moving_mean', 'moving_variance'))
    if training:
        mean, variance = tf.nn.moments(x, list(range(len(x.shape) - 1)))
    return tf.nn.batch_normalization(x, mean, variance, beta, gamma, 1e-3)


def _mnist(x, z, z_dim, training):  # MNIST/vae-gan.py:45-146 (its x and its output: [n, 784])
    with v1.variable_scope('encoder', reuse=v1.AUTO_REUSE):
        h = tf.reshape(x, [-1, 28, 28, 1])
        for i, filters in enumerate((16, 32, 64), 1):
            activation = tf.nn.relu if i == 3 else tf.nn.leaky_relu
            h = _bn(activation(_conv(h, f'enc_conv{i}_layer', filters, 3, 2)), f'bn_{i}', training)
        h = tf.reshape(h, [-1, 4 * 4 * 64])
        mean, sigma = _dense(h, 'enc_mean', z_dim), tf.nn.softplus(_dense(h, 'enc_variance', z_dim))
    with v1.variable_scope('decoder', reuse=v1.AUTO_REUSE):
        g = tf.reshape(tf.tanh(_dense(z, 'dec_dense_fc_first_layer', 4 * 4 * 64)), [-1, 4, 4, 64])
        for i, filters in enumerate((32, 16, 1), 1):
            g = _bn(tf.nn.leaky_relu(_deconv(g, f'dec_deconv{i}_layer', filters, 3, 2)), f'bn_{i}', training)
        image = tf.sigmoid(_dense(tf.reshape(g, [-1, 32 * 32]), 'dec_dense_fc_last_layer', 784))
    with v1.variable_scope('discriminator', reuse=v1.AUTO_REUSE):
        d = tf.reshape(x, [-1, 28, 28, 1])
        for i, filters in enumerate((16, 32, 64), 1):
            d = tf.nn.leaky_relu(_conv(d, f'dis_conv{i}_layer', filters, 3, 2))
        dis_l = tf.reshape(d, [-1, 4 * 4 * 64])
        logit = _dense(dis_l, 'dis_fc_layer', 1)
    return dict(mean=mean, sigma=sigma, image=image, dis_l=dis_l, logit=logit, probability=tf.sigmoid(logit))


def _celeb_a(x, z, z_dim, training):  # Celeb-A/vae-gan.py:147-247
    def trunk(h):  # the encoder's and D's, each in its own scope
        for i, (filters, stride) in enumerate(((64, 2), (128, 2), (256, 2), (512, 1)), 1):
            h = tf.nn.relu(_bn(_conv(h, f'enc_conv{i}_layer', filters, 5, stride), f'bn_{i}', training))
        return tf.reshape(h, [-1, 8 * 8 * 512])

    with v1.variable_scope('encoder', reuse=v1.AUTO_REUSE):
        h = trunk(x)
        mean, sigma = _dense(h, 'enc_mean', z_dim), tf.nn.softplus(_dense(h, 'enc_variance', z_dim))
    with v1.variable_scope('decoder', reuse=v1.AUTO_REUSE):
        g = tf.nn.relu(_bn(_dense(z, 'dec_dense_fc_first_layer', 8 * 8 * 512), 'bn_0', training))
        g = tf.reshape(g, [-1, 8, 8, 512])
        for i, filters in enumerate((256, 128, 64), 1):
            g = tf.nn.relu(_bn(_deconv(g, f'dec_deconv{i}_layer', filters, 5, 2), f'bn_{i}', training))
        image = tf.tanh(_deconv(g, 'dec_deconv4_layer', 3, 5, 1))
    with v1.variable_scope('discriminator', reuse=v1.AUTO_REUSE):
        dis_l = trunk(x)
        logit = _dense(dis_l, 'dis_fc_layer', 1)
    return dict(mean=mean, sigma=sigma, image=image, dis_l=dis_l, logit=logit, probability=tf.sigmoid(logit))


def _random(name, shape, rng):
    """Weights that keep activations near 1, and batch-norm statistics and scales away from 0 and 1."""
    leaf = name.split('/')[-1]
    if leaf == 'kernel':  # / sqrt(fan-in): a transposed conv's kernel is HWOI
        return rng.standard_normal(shape, np.float32) * np.sqrt(shape[2 if 'deconv' in name else -1] / np.prod(shape))
    if leaf in ('gamma', 'moving_variance'):
        return rng.uniform(0.5, 2.0, shape).astype(np.float32)
    return rng.normal(0.0, 0.3, shape).astype(np.float32)  # bias, beta, moving_mean


def save_original(preset, prefix, x, z, z_dim, rng):
    """Builds the original's graph, gives it random weights and Adam state under its names, saves it with
    tf.train.Saver at prefix; returns its outputs on x and z, {training: {output: array}}."""
    with tf.Graph().as_default(), v1.Session() as session:
        x = x.reshape(len(x), -1) if preset == 'mnist' else x  # the original's MNIST x: [n, 784]
        fed_x = v1.placeholder(tf.float32, [None] + list(x.shape[1:]))
        fed_z = v1.placeholder(tf.float32, [None, z_dim])
        networks = _mnist if preset == 'mnist' else _celeb_a
        outputs = {training: networks(fed_x, fed_z, z_dim, training) for training in (False, True)}
        for v in v1.trainable_variables():  # MNIST/vae-gan.py:197-214: four Adam optimizers, each over its weights
            for slot in range(SLOTS[v.op.name.split('/')[0]]):
                v1.get_variable(f'{v.op.name}/Adam' + (f'_{slot}' if slot else ''), v.shape, trainable=False,
                                initializer=v1.zeros_initializer())
        for i in range(4):
            for power in ('beta1_power', 'beta2_power'):
                v1.get_variable(power + (f'_{i}' if i else ''), [], initializer=v1.constant_initializer(0.5))
        weights = [v for v in v1.global_variables() if not original.ADAM_STATE.fullmatch(v.op.name)]
        fed = [v1.placeholder(tf.float32, v.shape) for v in weights]
        session.run([v.initializer for v in v1.global_variables() if v not in weights]
                    + [v.assign(f) for v, f in zip(weights, fed)],
                    {f: _random(v.op.name, v.shape.as_list(), rng) for v, f in zip(weights, fed)})
        v1.train.Saver().save(session, prefix)
        return session.run(outputs, {fed_x: x, fed_z: z})


def ours(nets, x, z, training):
    """Our networks' outputs as the original's graph names them (training mode's statistics updates undone)."""
    kept = {name: nets[name].get_weights() for name in ('encoder', 'decoder', 'discriminator')}
    mean, sigma = nets.encoder(x, training=training)
    dis_l, logit = nets.discriminator(x, training=training)
    outputs = dict(mean=mean, sigma=sigma, image=nets.decoder(z, training=training), dis_l=dis_l, logit=logit,
                   probability=tf.sigmoid(logit))
    for name, weights in kept.items():
        nets[name].set_weights(weights)
    return {name: value.numpy() for name, value in outputs.items()}


def misses(nets, case, training):
    """{output: max |ours - the original's|}."""
    theirs = case['theirs'][training]
    return {name: float(np.max(np.abs(value - theirs[name].reshape(value.shape))))
            for name, value in ours(nets, case['x'], case['z'], training).items()}


@pytest.fixture(scope='module')
def made(tmp_path_factory):
    """made(preset): the original's checkpoint of that preset (model_198 or model_15), its graph's outputs, and
    our networks loaded from it through original.py; each made once."""
    cases = {}

    def make(preset):
        if preset not in cases:
            name, _, z_dim, _ = CHECKPOINTS[preset]
            rng, cfg = np.random.default_rng(0), config.PRESETS[preset]
            low = 0.0 if preset == 'mnist' else -1.0
            x = rng.uniform(low, 1.0, (BATCH, cfg.image_size, cfg.image_size, cfg.channels)).astype(np.float32)
            z = rng.standard_normal((BATCH, z_dim)).astype(np.float32)
            prefix = str(tmp_path_factory.mktemp(preset) / name)
            theirs = save_original(preset, prefix, x, z, z_dim, rng)
            read = original.read(prefix)
            found, z_read, _, arrays = read
            nets = models.build_networks(original.config_for(prefix, found, z_read, {}))
            original.load_into(arrays, found, encoder=nets.encoder, decoder=nets.decoder,
                               discriminator=nets.discriminator)
            cases[preset] = dict(prefix=prefix, x=x, z=z, theirs=theirs, read=read, nets=nets)
        return cases[preset]

    return make


# ---- The proof ---------------------------------------------------------------------------------------

@pytest.mark.parametrize('preset', ['mnist', 'celeb_a'])
def test_the_original_s_checkpoint_computes_the_same_in_our_networks(made, preset):
    case = made(preset)
    found, z_dim, epochs, arrays = case['read']
    assert (epochs, z_dim, len(arrays)) == CHECKPOINTS[preset][1:] and found == preset  # model_N: N + 1 epochs
    assert len(tf.train.load_checkpoint(case['prefix']).get_variable_to_shape_map()) > 3 * len(arrays)  # Adam's
    for training in (False, True):
        missed = misses(case['nets'], case, training)
        print(preset, 'training' if training else 'inference', {k: f'{v:.1e}' for k, v in missed.items()})
        assert max(missed.values()) < TOLERANCE, (training, missed)
        assert np.std(case['theirs'][training]['probability']) > 1e-3  # D not saturated: its outputs tell apart


def _flip_transposed_kernels(nets):
    for layer in nets.decoder.layers:
        if type(layer).__name__ == 'Conv2DTranspose':
            layer.kernel.assign(layer.kernel[::-1, ::-1])


def _forget_moving_statistics(nets):
    for layer in nets.encoder.layers + nets.decoder.layers + nets.discriminator.layers:
        if type(layer).__name__ == 'BatchNormalization':
            layer.moving_mean.assign(tf.zeros_like(layer.moving_mean))
            layer.moving_variance.assign(tf.ones_like(layer.moving_variance))


def _swap_heads(nets):
    mean, sigma = nets.encoder.get_layer('mean'), nets.encoder.get_layer('sigma')
    kept = mean.get_weights()
    mean.set_weights(sigma.get_weights())
    sigma.set_weights(kept)


@pytest.mark.parametrize('preset', ['mnist', 'celeb_a'])
def test_a_wrong_loader_misses_by_far(made, preset):
    """The comparison can fail: a loader that flips the transposed convs' kernels, leaves the batch-norm
    moving statistics out, or swaps the encoder's two heads misses by orders of magnitude more than 1e-4."""
    case = made(preset)
    nets = case['nets']
    kept = {name: nets[name].get_weights() for name in ('encoder', 'decoder', 'discriminator')}
    for wrong in (_flip_transposed_kernels, _forget_moving_statistics, _swap_heads):
        try:
            wrong(nets)
            missed = misses(nets, case, training=False)
        finally:
            for name, weights in kept.items():
                nets[name].set_weights(weights)
        print(preset, wrong.__name__, {k: f'{v:.1e}' for k, v in missed.items()})
        assert max(missed.values()) > 100 * TOLERANCE, wrong.__name__


# ---- Refusals ------------------------------------------------------------------------------------------

def _write(prefix, arrays):
    """A TensorFlow 1 checkpoint (.index, .data) of these arrays."""
    tf.raw_ops.SaveV2(prefix=prefix, tensor_names=list(arrays), shape_and_slices=[''] * len(arrays),
                      tensors=[tf.constant(a) for a in arrays.values()])
    return prefix


def test_another_architecture_is_refused_naming_the_variable(made, tmp_path):
    case = made('mnist')
    arrays = case['read'][3]
    lacking = {k: v for k, v in arrays.items() if k != 'decoder/bn_3/moving_variance'}
    with pytest.raises(UsageError, match=r"not the original's mnist networks: it lacks decoder/bn_3/moving_variance$"):
        original.read(_write(str(tmp_path / 'model_0'), lacking))
    extra = dict(arrays, **{'decoder/dec_deconv4_layer/kernel': arrays['decoder/dec_deconv3_layer/kernel']})
    with pytest.raises(UsageError, match=r'it also holds decoder/dec_deconv4_layer/kernel$'):
        original.read(_write(str(tmp_path / 'model_2'), extra))
    with pytest.raises(UsageError, match=r"not a checkpoint of the original's vae-gan.py: no encoder/enc_conv1"):
        original.read(_write(str(tmp_path / 'model_4'), {'generator/dense/kernel': arrays['encoder/enc_mean/kernel']}))
    narrower = dict(arrays, **{'decoder/dec_deconv2_layer/kernel': np.zeros((3, 3, 8, 32), np.float32)})
    preset, z_dim, epochs, read = original.read(_write(str(tmp_path / 'other'), narrower))
    assert (preset, z_dim, epochs) == ('mnist', 32, None)  # no model_N name: the epochs are unknown
    with pytest.raises(UsageError, match=r"the original's decoder/dec_deconv2_layer/kernel is 3x3x8x32, not 3x3x16x32 "
                                         r"as in the mnist preset: a checkpoint of another architecture$"):
        original.load_into(read, preset, decoder=models.build_decoder(config.mnist))


def test_a_missing_or_damaged_checkpoint_is_one_line(made, tmp_path):
    case = made('mnist')
    with pytest.raises(UsageError, match=r'no checkpoint at .*model_7: the original saves three files'):
        original.read(str(tmp_path / 'model_7'))
    with pytest.raises(UsageError, match=r'no checkpoint at .*model_198.index: pass the prefix of its files, '):
        original.read(case['prefix'] + '.index')
    for file in glob.glob(case['prefix'] + '.*'):
        shutil.copy(file, tmp_path)
    prefix = str(tmp_path / 'model_198')
    data = prefix + '.data-00000-of-00001'
    os.rename(data, data + '.kept')
    os.mkfifo(data)  # read, it would wait for a writer forever
    with pytest.raises(UsageError, match=r'model_198: model_198.data-00000-of-00001 is not a regular file: copy'):
        original.read(prefix)
    os.replace(data + '.kept', data)
    os.truncate(data, os.path.getsize(data) // 2)
    with pytest.raises(UsageError, match=r'model_198.data-00000-of-00001 is damaged \(.*\): copy it again'):
        original.read(prefix)
    with open(prefix + '.index', 'r+b') as f:
        f.write(b'\0' * 64)
    with pytest.raises(UsageError, match=r'model_198.index is damaged \(.*\): copy it again'):
        original.read(prefix)


def test_this_repo_s_checkpoint_is_sent_to_checkpoint(made, tmp_path):
    case = made('mnist')
    prefix = tf.train.Checkpoint(encoder=case['nets'].encoder).write(str(tmp_path / 'ckpt-1'))
    assert original.is_original(case['prefix']) and not original.is_original(prefix)
    assert not original.is_original(str(tmp_path / 'model_3')) and not original.is_original(str(tmp_path))
    with pytest.raises(UsageError, match=r"ckpt-1 is a checkpoint of this repo, not the original's: pass it as "
                                         r"--checkpoint=.*ckpt-1 directly$"):
        original.read(prefix)


def test_the_preset_asked_must_be_the_checkpoint_s():
    cfg = original.config_for('m/model_15', 'celeb_a', 16, {})
    assert (cfg.preset, cfg.arch, cfg.z_dim, cfg.image_size) == ('celeb_a', 'celeb_a', 16, 64)
    assert original.config_for('m/model_198', 'mnist', 32, {'preset': 'mnist_ema_mixture'}).ema_decay is None
    cfg = original.config_for('m/model_198', 'mnist', 32, {'preset': 'mnist_sigmoid', 'seed': 3})
    assert (cfg.preset, cfg.arch, cfg.z_dim, cfg.seed) == ('mnist_sigmoid', 'mnist', 32, 3)
    for prefix, preset, z_dim, overrides, line in (
            ('m/model_198', 'mnist', 32, {'preset': 'celeb_a'}, "(arch mnist), not --preset=celeb_a's (arch celeb_a)"),
            ('m/model_198', 'mnist', 32, {'z_dim': 16}, '(z_dim 32), not --z_dim=16'),
            ('m/model_15', 'celeb_a', 16, {'preset': 'cifar10'},
             "(image_size 64), not --preset=cifar10's (image_size 32)"),
            ('m/model_198', 'mnist', 32, {'preset': 'fashion_mnist'},
             "(dataset mnist), not --preset=fashion_mnist's (dataset fashion_mnist)")):
        flag = 'z_dim' if 'z_dim' in overrides else 'preset'
        line = re.escape(f"{prefix} holds the original's {preset} networks {line}: drop --{flag}") + '$'
        with pytest.raises(UsageError, match=line):
            original.config_for(prefix, preset, z_dim, overrides)


def test_the_original_s_checkpoint_imports_with_one_command_and_renders_as_an_export(made, digits, tmp_path, capsys):
    """`--checkpoint=.../model_198 --export=DIR` imports it (preset, z_dim and epochs from the file), writing
    nothing beside the original's files; DIR then renders and loads as Keras files, computing what the
    original's graph computes. A render of model_N itself, or an import as another preset, is one line."""
    import keras
    import vae_gan
    import vae_gan_inference as inference
    case = made('mnist')
    source = os.path.dirname(case['prefix'])
    before = sorted(os.listdir(source))
    export = tmp_path / 'original-198'
    shutil.copy(case['prefix'] + '.index', os.path.join(source, 'model_8.index'))  # (its data is not needed here)
    pass_198 = (f"holds the original's model_8, model_198: pass one by its prefix with --export=FOLDER to import it, "
                f"such as --checkpoint={case['prefix']}")
    for checkpoint, args, line in (
            (case['prefix'], [], 'is a checkpoint of the original TensorFlow 1 repo: import it with --export=FOLDER'),
            (case['prefix'], [f'--export={export}', '--preset=celeb_a'], "not --preset=celeb_a's (arch celeb_a)"),
            (source, [f'--export={export}'], pass_198), (case['prefix'] + '.index', [f'--export={export}'], pass_198),
            (case['prefix'][:-1], [f'--export={export}'], pass_198),
            (case['prefix'], [f'--export={source}/sub'], f"--export={source}/sub is inside {source}, which holds the "
                                                            f"original TF1 repo's checkpoints and is only read")):
        with pytest.raises(SystemExit) as stop:
            inference.main([f'--checkpoint={checkpoint}'] + args)
        assert line in str(stop.value.code)
    os.remove(os.path.join(source, 'model_8.index'))
    inference.main([f'--checkpoint={case["prefix"]}', f'--export={export}'])
    assert "the original's mnist networks, z_dim 32, 199 epochs done" in capsys.readouterr().out
    assert sorted(os.listdir(source)) == before and os.path.exists(export / 'ckpt-199.index')
    assert "trained by the original TensorFlow 1 repo (PrateekMunjal/VAE_GAN), imported from its model_198" in (
        export / 'README.md').read_text()
    decoder = keras.saving.load_model(export / 'decoder.keras')
    image = case['theirs'][False]['image']
    assert np.max(np.abs(decoder(case['z'], training=False).numpy().reshape(image.shape) - image)) < TOLERANCE
    with pytest.raises(SystemExit) as stop:  # nor does a run train there
        vae_gan.main([f'--out_dir={source}'])
    assert "holds the original TF1 repo's checkpoints (model_N), which this repo only reads" in str(stop.value.code)
    inference.main([f'--checkpoint={export}', f'--export={tmp_path / "again"}'])  # an export of it says so too
    assert "imported from its model_198" in (tmp_path / 'again' / 'README.md').read_text()
    inference.main([f'--checkpoint={export}', '--num_samples=2', f'--out_dir={tmp_path / "render"}',
                    f'--data_dir={digits}'])  # (its held-out images: no download)
    assert os.path.exists(tmp_path / 'render' / 'samples' / 'generations.png')
