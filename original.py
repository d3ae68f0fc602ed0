"""The original TensorFlow 1 repo's own checkpoints (PrateekMunjal/VAE_GAN), loaded into models.py's networks.

Its scripts save every variable with tf.train.Saver as VAE-GAN-model_dir/model_N (.index, .data-00000-of-00001,
.meta), N the epoch counted from 0: every 2 epochs (MNIST/vae-gan.py:381-383), every 5 (Celeb-A/vae-gan.py:491-493).
A network variable is <scope>/<layer>/<weight>: tf.variable_scope('encoder', 'decoder', 'discriminator'), the
tf.layers call's name, and kernel, bias, gamma, beta, moving_mean or moving_variance, Keras' names too
(MNIST/vae-gan.py:45-146, Celeb-A/vae-gan.py:147-247). The rest is Adam's state, dropped: four optimizers' slots
<var>/Adam ... /Adam_3 and beta1_power, beta2_power (_1 ... _3) (MNIST/vae-gan.py:197-214, Celeb-A/vae-gan.py:298-315).
Each of the original's layers is one of ours with weights, in the same order (LAYERS), of the same shapes and
layouts (conv HWIO, transposed conv HWOI, dense [in, out], flatten NHWC): each weight is copied as it is.
"""
import dataclasses
import os
import re

import checkpoints
import config
import configurator
import run_folder
from configurator import UsageError

_CONVS = ['enc_conv1_layer', 'bn_1', 'enc_conv2_layer', 'bn_2', 'enc_conv3_layer', 'bn_3', 'enc_conv4_layer', 'bn_4']
LAYERS = {  # {preset: {network: the original's layers with weights, in the order it builds them}}
    'mnist': {  # MNIST/vae-gan.py:57-72, 91-107, 127-145
        'encoder': _CONVS[:6] + ['enc_mean', 'enc_variance'],
        'decoder': ['dec_dense_fc_first_layer', 'dec_deconv1_layer', 'bn_1', 'dec_deconv2_layer', 'bn_2',
                    'dec_deconv3_layer', 'bn_3', 'dec_dense_fc_last_layer'],
        'discriminator': ['dis_conv1_layer', 'dis_conv2_layer', 'dis_conv3_layer', 'dis_fc_layer']},
    'celeb_a': {  # Celeb-A/vae-gan.py:152-175, 189-210; D reuses the encoder's names in its own scope (223-246)
        'encoder': _CONVS + ['enc_mean', 'enc_variance'],
        'decoder': ['dec_dense_fc_first_layer', 'bn_0', 'dec_deconv1_layer', 'bn_1', 'dec_deconv2_layer', 'bn_2',
                    'dec_deconv3_layer', 'bn_3', 'dec_deconv4_layer'],
        'discriminator': _CONVS + ['dis_fc_layer']}}
FIRST_CONV = {(3, 3, 1, 16): 'mnist', (5, 5, 3, 64): 'celeb_a'}  # encoder/enc_conv1_layer/kernel tells the preset
ADAM_STATE = re.compile(r'.+/Adam(_\d+)*|beta[12]_power(_\d+)*')


def names(preset):
    """The original's network variables of that preset."""
    return {f'{net}/{layer}/{weight}' for net, layers in LAYERS[preset].items() for layer in layers
            for weight in (('gamma', 'beta', 'moving_mean', 'moving_variance') if layer.startswith('bn_')
                           else ('kernel', 'bias'))}


def read(prefix):
    """(preset, z_dim, epochs done, {name: array}) of the original's checkpoint at prefix (.../model_N): its
    network variables; the preset told by the encoder's first kernel, z_dim by its mean's; epochs(prefix). One
    that is missing, damaged, this repo's or another's is one UsageError line."""
    reader = _reader(prefix)
    shapes = reader.get_variable_to_shape_map()
    if '_CHECKPOINTABLE_OBJECT_GRAPH' in shapes:  # tf.train.Checkpoint's: a run's, best/ or an export
        raise UsageError(f'{prefix} is a checkpoint of this repo, not the original\'s: pass it as --checkpoint='
                         f'{prefix} directly')
    kept = {name for name in shapes if not ADAM_STATE.fullmatch(name)}
    preset = FIRST_CONV.get(tuple(shapes.get('encoder/enc_conv1_layer/kernel', ())))
    if preset is None:
        raise UsageError(f'{prefix} is not a checkpoint of the original\'s vae-gan.py: no encoder/enc_conv1_layer/'
                         f'kernel of 3x3x1x16 (MNIST) or 5x5x3x64 (CelebA)')
    for what, found in (('lacks', names(preset) - kept), ('also holds', kept - names(preset))):
        if found:
            more = f' and {len(found) - 1} more' if len(found) > 1 else ''
            raise UsageError(f'{prefix} is not the original\'s {preset} networks: it {what} {min(found)}{more}')
    try:
        arrays = {name: reader.get_tensor(name) for name in sorted(kept)}
    except Exception as e:  # a short or altered .data file
        raise UsageError(f'{prefix}.data-00000-of-00001 is damaged ({run_folder.why(e)}): copy it again from the '
                         f'original run')
    return preset, int(arrays['encoder/enc_mean/kernel'].shape[1]), epochs(prefix), arrays


def is_original(prefix):
    """Whether prefix is a checkpoint saved by name (tf.train.Saver's, as the original's), not by object
    (tf.train.Checkpoint's, this repo's). False for none, or one whose index does not read."""
    try:
        return '_CHECKPOINTABLE_OBJECT_GRAPH' not in _reader(prefix).get_variable_to_shape_map()
    except UsageError:
        return False


def hint(path):
    """The one line for a path that misses the original's checkpoints beside it (its folder, a file of one,
    a wrong N): which model_N there are to pass; '' when there are none or path is one."""
    if path in ('', 'best', 'newest'):
        return ''
    folder = path if os.path.isdir(path) else os.path.dirname(path)
    held = sorted((os.path.join(folder, name[:-len('.index')]) for name in run_folder.entries(folder or '.')
                   if run_folder.ORIGINAL.fullmatch(name)), key=epochs)
    if not held or os.path.exists(path + '.index'):
        return ''
    return (f'{path} is not a checkpoint; {folder or "."} holds the original\'s ' + ', '.join(
        os.path.basename(p) for p in held) + f': pass one by its prefix with --export=FOLDER to import it, such as '
        f'--checkpoint={held[-1]}')


def epochs(prefix):
    """The epochs model_N had trained: N + 1 (the original counts from 0); None for another name."""
    number = run_folder.ORIGINAL.fullmatch(os.path.basename(prefix) + '.index')
    return number and int(number.group(1)) + 1


def _reader(prefix):
    if not os.path.exists(prefix + '.index'):
        stem = re.sub(r'\.(index|meta|data-\d+-of-\d+)$', '', prefix)
        raise UsageError(f'no checkpoint at {prefix}: ' + (f'pass the prefix of its files, {stem}' if stem != prefix
                         else 'the original saves three files, model_N.index, .data-00000-of-00001 and .meta; '
                              'pass VAE-GAN-model_dir/model_N'))
    try:
        return checkpoints.load(prefix)  # each of its files a regular one first: a FIFO is never waited on
    except ValueError as e:
        raise UsageError(f'{prefix}: {e}: copy the checkpoint again from the original run')
    except Exception as e:  # any failure to read the index means the same
        raise UsageError(f'{prefix}.index is damaged ({run_folder.why(e)}): copy it again from the original run')


def config_for(prefix, preset, z_dim, overrides):
    """The Config to build the checkpoint's networks with: the command line's fields (`overrides`) on its preset,
    or on --preset's; a --preset of other networks or data, or another --z_dim, is refused. No weights' average:
    the original keeps none."""
    base = configurator.preset_of(overrides) if 'preset' in overrides else config.PRESETS[preset]
    found = dataclasses.replace(config.PRESETS[preset], z_dim=z_dim)
    asked = dict({f: getattr(base, f) for f in ('arch', 'image_size', 'channels', 'dataset')}, **overrides)
    for field in configurator.changed(found, asked, configurator.ARCH_FIELDS + ('dataset',))[:1]:
        flag = field if field in overrides else 'preset'
        given = (f'--{field}={asked[field]}' if field in overrides else
                 f'--preset={base.preset}\'s ({field} {asked[field]})')
        raise UsageError(f'{prefix} holds the original\'s {preset} networks ({field} {getattr(found, field)}), not '
                         f'{given}: drop --{flag}')
    return configurator.checked(dataclasses.replace(base, **dict(overrides, z_dim=z_dim, ema_decay=None)))


def load_into(arrays, preset, **networks):
    """Assigns read()'s arrays to the networks given (encoder=, decoder=, discriminator=, models.py's of that
    preset): a network's layers with weights, in order, are the original's LAYERS, each weight named as Keras names
    it; every shape is checked before any weight is assigned."""
    pairs = []
    for net, model in networks.items():
        ours = [layer for layer in model.layers if layer.weights]
        if len(ours) != len(LAYERS[preset][net]):
            raise UsageError(f'the original\'s {preset} {net} has {len(LAYERS[preset][net])} layers with weights, '
                             f'this one {len(ours)}: build it with the {preset} preset')
        for layer, theirs in zip(ours, LAYERS[preset][net]):
            for weight in layer.weights:
                name, shape = f'{net}/{theirs}/{weight.name}', 'x'.join(map(str, weight.shape))
                if name not in arrays or arrays[name].shape != tuple(weight.shape):
                    held = f'is {"x".join(map(str, arrays[name].shape))}' if name in arrays else 'is missing'
                    raise UsageError(f'the original\'s {name} {held}, not {shape} as in the {preset} preset: a '
                                     f'checkpoint of another architecture')
                pairs.append((weight, arrays[name]))
    for weight, array in pairs:
        weight.assign(array)
