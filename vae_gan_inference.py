"""Render a trained VAE/GAN: generations, reconstructions, interpolations and the training GIF.

    python vae_gan_inference.py                              # the latest checkpoint in MNIST/
    python vae_gan_inference.py --dataset=celeb_a            # ... in Celeb-A/
    python vae_gan_inference.py --out_dir=runs/z64 --num_samples=10000 --seed=1
    python vae_gan_inference.py --checkpoint=MNIST/checkpoints/ckpt-10
    python vae_gan_inference.py --metrics --num_samples=10000   # also FID, KID, MSE, SSIM -> metrics.json
    python vae_gan_inference.py --export=MNIST/pretrained       # the encoder and decoder alone, to share

The model is rebuilt from <out_dir>/config.json, written by vae_gan.py; any other config field can be
given as --field=value too (e.g. --data_dir for the originals). Writes to <out_dir>/samples/:
generations/, originals/ and reconstructions/ (one PNG per image, 000001.png ...), and
generations.png, reconstructions.png, interpolations.png and generations.gif.
"""
import dataclasses
import glob
import json
import math
import os
import re
import sys

import imageio.v3 as iio
import numpy as np
import tensorflow as tf

import config
import data
import models
import vae_gan
from config import UsageError

BATCH = 500  # images decoded per call: 10,000 generations take seconds on a CPU
PAPER_ATTRIBUTES = ('Bald', 'Bangs', 'Black_Hair', 'Blond_Hair', 'Bushy_Eyebrows', 'Eyeglasses', 'Gray_Hair',
                    'Heavy_Makeup', 'High_Cheekbones', 'Male', 'Mustache', 'Pale_Skin', 'Rosy_Cheeks', 'Smiling',
                    'Straight_Hair', 'Wavy_Hair', 'Wearing_Lipstick', 'Young')  # the paper's section 4.1
ATTRIBUTE_ROWS = 8  # test faces in attributes.png
GIF_SECONDS_PER_FRAME = 0.4  # the original's imagetogif.py
INTERPOLATION_STEPS = 10  # images per interpolation row, both ends included


def load_config(args):
    """(training config rebuilt from out_dir/config.json with the command line's overrides, checkpoint
    path, options). The inference-only flags: --checkpoint=PATH, --num_samples=N, --attributes=A,B,...
    (or 'none'), --attribute_images=N, --attribute_scale=S, --metrics and --export=FOLDER."""
    extra = {'checkpoint': '', 'num_samples': '100', 'attributes': '', 'attribute_images': '10000',
             'attribute_scale': '1.0', 'export': ''}
    rest = []
    metrics_flag = '--metrics' in args
    args = [a for a in args if a != '--metrics']
    for arg in args:
        name, eq, value = arg[2:].partition('=')
        if arg.startswith('--') and eq and name in extra:
            extra[name] = value
        else:
            rest.append(arg)
    options = {'attributes': extra['attributes'], 'metrics': metrics_flag, 'export': extra['export']}
    for name, kind in (('num_samples', int), ('attribute_images', int), ('attribute_scale', float)):
        try:
            options[name] = kind(extra[name])
        except ValueError:
            options[name] = -1
        if options[name] < (1 if kind is int else 0):
            raise UsageError(f'{name} must be a {"whole " if kind is int else ""}number >= {1 if kind is int else 0}, '
                             f'not {extra[name]!r}')
    if options['attributes'] not in ('', 'none'):
        unknown = [a for a in options['attributes'].split(',') if a not in data.CELEB_A_ATTRIBUTES]
        if unknown:
            raise UsageError(f'unknown attribute {unknown[0]!r}; the 40 are: {", ".join(data.CELEB_A_ATTRIBUTES)}')
    overrides = config.parse_overrides(rest)
    checkpoint = extra['checkpoint']
    if checkpoint and 'out_dir' not in overrides:
        if os.path.exists(os.path.join(checkpoint, 'config.json')):  # an exported model: all in one folder
            overrides['out_dir'] = checkpoint.rstrip('/')
        else:  # .../<out_dir>/checkpoints/ckpt-N
            overrides['out_dir'] = os.path.dirname(os.path.dirname(os.path.abspath(checkpoint.rstrip('/'))))
    dataset = overrides.get('dataset', config.DATASET)
    preset = config.from_args([f'--dataset={dataset}'])
    out_dir = overrides.get('out_dir', preset.out_dir)
    saved_path = os.path.join(out_dir, 'config.json')
    if os.path.exists(saved_path):
        with open(saved_path) as f:
            saved = config.Config(**json.load(f))
        for field in ('dataset',) + vae_gan.ARCH_FIELDS:
            if field in overrides and overrides[field] != getattr(saved, field):
                raise UsageError(
                    f'{out_dir} holds a checkpoint of another {"preset" if field == "dataset" else "model"} '
                    f'({field}={getattr(saved, field)!r} there, {overrides[field]!r} asked for): '
                    f'drop --{field}, or pass the --out_dir of such a run')
        preset = saved
    cfg = config.validate(dataclasses.replace(preset, **overrides))
    if options['attributes'] not in ('', 'none') and not cfg.dataset.startswith('celeb_a'):
        raise UsageError(f'{cfg.dataset} has no attributes: attribute vectors need CelebA')
    return cfg, find_checkpoint(cfg, checkpoint), options


def find_checkpoint(cfg, path):
    """The checkpoint to render: `path` (a checkpoint or a folder of them), else the latest in out_dir."""
    folder = os.path.join(cfg.out_dir, 'checkpoints')
    if path:
        found = tf.train.latest_checkpoint(path) if os.path.isdir(path) else (
            path if tf.io.gfile.exists(path + '.index') else None)
        if not found:
            raise UsageError(f'no checkpoint at {path}: pass a path like {folder}/ckpt-10, or a folder of them')
        return found
    found = tf.train.latest_checkpoint(folder)
    if not found:
        command = 'python vae_gan.py' + (f' --dataset={cfg.dataset}' if cfg.dataset != config.DATASET else '')
        command += f' --out_dir={cfg.out_dir}' if cfg.out_dir != config.PRESETS[cfg.dataset].out_dir else ''
        raise UsageError(f'no checkpoint in {folder}: train one first with `{command}`')
    return found


def restore_models(cfg, path):
    """The encoder and decoder of the checkpoint at path."""
    encoder, decoder = models.build_encoder(cfg), models.build_decoder(cfg)
    checkpoint = tf.train.Checkpoint(encoder=encoder, decoder=decoder)
    try:
        checkpoint.restore(path).expect_partial().assert_existing_objects_matched()
    except (ValueError, AssertionError, tf.errors.OpError) as e:
        raise UsageError(f'{path} is a checkpoint of another architecture than {cfg.out_dir}/config.json '
                         f'describes ({type(e).__name__}): pass the out_dir it was trained in') from e
    return encoder, decoder


def write_images(images, folder):
    """uint8 images -> folder/000001.png ..., replacing what an earlier render left there."""
    os.makedirs(folder, exist_ok=True)
    for old in glob.glob(os.path.join(folder, '[0-9]' * 6 + '.png')):
        os.remove(old)
    for i, image in enumerate(images, 1):
        iio.imwrite(os.path.join(folder, f'{i:06d}.png'), image[..., 0] if image.shape[-1] == 1 else image)


def epoch_frames(cfg):
    """The op-gen/ grids of the training run, in epoch order."""
    paths = glob.glob(os.path.join(cfg.out_dir, 'op-gen', '*.png'))
    number = lambda p: [int(t) if t.isdigit() else t for t in re.split(r'(\d+)', os.path.basename(p))]
    return [iio.imread(p) for p in sorted(paths, key=number)]  # natural order: epoch 5 before epoch 10


def export(cfg, checkpoint, encoder, decoder, folder):
    """The encoder's and decoder's weights alone (no discriminator, no optimizer state) and config.json
    in `folder`: a small model to share, rendered with --checkpoint=folder."""
    os.makedirs(folder, exist_ok=True)
    epoch = tf.Variable(tf.train.load_checkpoint(checkpoint).get_tensor('epoch/.ATTRIBUTES/VARIABLE_VALUE'))
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(encoder=encoder, decoder=decoder, epoch=epoch),
                                         folder, max_to_keep=1)
    path = manager.save(checkpoint_number=int(epoch.numpy()))
    with open(os.path.join(folder, 'config.json'), 'w') as f:
        json.dump(dataclasses.asdict(dataclasses.replace(cfg, out_dir=folder)), f, indent=2)
    print(f'exported {checkpoint} to {path}')


def render(cfg, checkpoint, options):
    encoder, decoder = restore_models(cfg, checkpoint)
    if options['export']:
        return export(cfg, checkpoint, encoder, decoder, options['export'])
    num_samples = options['num_samples']
    samples = os.path.join(cfg.out_dir, 'samples')
    print(f'rendering {checkpoint} into {samples}')

    # Batch norm in inference mode; one traced graph for every batch size.
    spec = [tf.TensorSpec([None, cfg.z_dim], tf.float32)]
    decode = tf.function(lambda z: data.to_uint8(cfg, decoder(z, training=False)), input_signature=spec)
    image_spec = [tf.TensorSpec([None, cfg.image_size, cfg.image_size, cfg.channels], tf.float32)]
    encode = tf.function(lambda x: encoder(x, training=False)[0], input_signature=image_spec)  # the mean

    def decode_all(z):
        return np.concatenate([decode(z[i:i + BATCH]).numpy() for i in range(0, len(z), BATCH)])

    # Generations: z ~ N(0, I), fixed by the seed.
    z = tf.random.Generator.from_seed(cfg.seed).normal([num_samples, cfg.z_dim]).numpy()
    generations = decode_all(z)
    write_images(generations, os.path.join(samples, 'generations'))
    vae_gan.save_grid(generations[:100], os.path.join(samples, 'generations.png'), width=800)

    # Reconstructions of the first num_samples held-out images (CelebA: validation).
    originals, codes = [], []
    for x in data.held_out_dataset(cfg, BATCH).take(math.ceil(num_samples / BATCH)):
        originals.append(data.to_uint8(cfg, x).numpy())
        codes.append(encode(x).numpy())
    originals, codes = np.concatenate(originals)[:num_samples], np.concatenate(codes)[:num_samples]
    reconstructions = decode_all(codes)
    write_images(originals, os.path.join(samples, 'originals'))
    write_images(reconstructions, os.path.join(samples, 'reconstructions'))
    pairs = min(len(originals), 25)
    side_by_side = np.concatenate([vae_gan.tile(originals[:pairs]), vae_gan.tile(reconstructions[:pairs])], axis=1)
    vae_gan.save_image(side_by_side, os.path.join(samples, 'reconstructions.png'),
                       'originals (left), reconstructions (right)', width=800)

    # Interpolations: each row walks linearly in z from one held-out image's code to the next one's.
    rows = min(8, len(codes) // 2)
    if rows:
        t = np.linspace(0.0, 1.0, INTERPOLATION_STEPS, dtype=np.float32)[None, :, None]
        walks = codes[0:2 * rows:2, None] * (1 - t) + codes[1:2 * rows:2, None] * t  # [rows, steps, z]
        images = decode_all(walks.reshape(-1, cfg.z_dim))
        vae_gan.save_image(vae_gan.tile(images, cols=INTERPOLATION_STEPS), os.path.join(samples, 'interpolations.png'),
                           width=800)

    # The training GIF: the run's op-gen/ grids, one frame per sampled epoch.
    frames = epoch_frames(cfg)
    if frames:
        iio.imwrite(os.path.join(samples, 'generations.gif'), np.stack(frames),
                    duration=int(GIF_SECONDS_PER_FRAME * 1000), loop=0)
    print(f'wrote {len(generations)} generations, {len(originals)} reconstructions, '
          f'{rows} interpolation rows and a GIF of {len(frames)} epochs')

    if options['metrics']:  # FID and KID of num_samples generations, MSE and SSIM of as many reconstructions
        import metrics
        scores = metrics.evaluate(cfg, encoder, decoder, num_samples, seed=cfg.seed)
        scores.update(checkpoint=checkpoint, epoch=int(tf.train.load_checkpoint(checkpoint).get_tensor(
            'epoch/.ATTRIBUTES/VARIABLE_VALUE')))
        with open(os.path.join(samples, 'metrics.json'), 'w') as f:
            json.dump(scores, f, indent=2)
        print(f"epoch {scores['epoch']}: FID {scores['fid']:.3f}, KID {scores['kid']:.4f} ({scores['features']} "
              f"features, {scores['images']} images), reconstruction MSE {scores['mse']:.4f}, SSIM {scores['ssim']:.3f}")

    # Attribute vectors (CelebA): mean code with an attribute minus mean code without it, added to the
    # codes of test faces (the paper's section 4.1).
    names = options['attributes']
    if names == 'none' or (not names and not cfg.dataset.startswith('celeb_a')):
        return
    try:
        vectors = load_attribute_vectors(cfg, checkpoint, encoder, options['attribute_images'], samples)
    except UsageError as e:
        if names:  # asked for: an error; by default: a note
            raise
        print(f'no attribute vectors: {e}')
        return
    names = names.split(',') if names else list(PAPER_ATTRIBUTES)
    undefined = [n for n in names if not np.all(np.isfinite(vectors[data.CELEB_A_ATTRIBUTES.index(n)]))]
    if undefined:  # every encoded image has it, or none has
        print(f'no attribute vector for {", ".join(undefined)}: all or none of the '
              f'{options["attribute_images"]} encoded images have it')
        names = [n for n in names if n not in undefined]
    faces = min(ATTRIBUTE_ROWS, len(codes))
    columns = [originals[:faces], reconstructions[:faces]] + [
        decode_all(codes[:faces] + options['attribute_scale'] * vectors[data.CELEB_A_ATTRIBUTES.index(n)])
        for n in names]
    grid = np.stack(columns, axis=1).reshape((-1,) + originals.shape[1:])  # row by row
    save_columns(vae_gan.tile(grid, cols=len(columns)), ['original', 'reconstruction'] + names,
                 os.path.join(samples, 'attributes.png'))
    print(f'wrote attributes.png: {faces} test faces, {len(names)} attributes')


def attribute_vectors(codes, attributes):
    """codes [n, z] and attributes [n, 40] of 0/1 -> [40, z]: for each attribute, the mean code of the
    images that have it minus the mean code of those that don't (NaN where either side is empty)."""
    codes, attributes = np.asarray(codes, np.float64), np.asarray(attributes, np.float64)
    with np.errstate(invalid='ignore', divide='ignore'):
        having = attributes.T @ codes / attributes.sum(0)[:, None]
        lacking = (1 - attributes).T @ codes / (1 - attributes).sum(0)[:, None]
    return (having - lacking).astype(np.float32)


def load_attribute_vectors(cfg, checkpoint, encoder, count, samples):
    """The 40 attribute vectors of this checkpoint: from samples/attribute_vectors.npz when it was
    made from the same checkpoint and number of images, else from `count` encoded training images
    (z sampled from q(z|x), as the paper's code) and saved there."""
    path = os.path.join(samples, 'attribute_vectors.npz')
    if os.path.exists(path):
        saved = np.load(path)
        if str(saved['checkpoint']) == checkpoint and int(saved['images']) == count:
            return saved['vectors']
    codes, attributes = [], []
    for i, (x, a) in enumerate(data.attribute_dataset(cfg, BATCH).take(math.ceil(count / BATCH))):
        mean, sigma = encoder(x, training=False)
        eps = tf.random.stateless_normal(tf.shape(mean), seed=[cfg.seed, i])
        codes.append((mean + sigma * eps).numpy())
        attributes.append(a.numpy())
    codes, attributes = np.concatenate(codes)[:count], np.concatenate(attributes)[:count]
    vectors = attribute_vectors(codes, attributes)
    np.savez(path, vectors=vectors, names=np.array(data.CELEB_A_ATTRIBUTES), checkpoint=checkpoint, images=count)
    return vectors


def save_columns(grid, labels, path):
    """A uint8 grid to a PNG with a label above each of its columns."""
    from matplotlib.figure import Figure
    h, w, c = grid.shape
    scale, top = 3, 110
    fig = Figure(figsize=(w * scale / 100, (h * scale + top) / 100), dpi=100)
    ax = fig.add_axes([0, 0, 1, h * scale / (h * scale + top)])
    ax.imshow(grid[..., 0] if c == 1 else grid, cmap='gray', interpolation='nearest')
    cell = (w - 2) / len(labels)
    ax.set_xticks([2 + cell * (i + 0.5) for i in range(len(labels))], labels, rotation=60, ha='left', fontsize=8)
    ax.xaxis.tick_top()
    ax.set_yticks([])
    for side in ax.spines.values():
        side.set_visible(False)
    fig.savefig(path, dpi=100)


def main(argv):
    try:
        render(*load_config(argv))
    except UsageError as e:
        sys.exit(f'error: {e}')


if __name__ == '__main__':
    main(sys.argv[1:])
