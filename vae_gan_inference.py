"""Render a trained VAE/GAN: generations, reconstructions, interpolations and the training GIF.

    python vae_gan_inference.py --checkpoint=MNIST/pretrained   # the pretrained model, into MNIST/pretrained/samples
    python vae_gan_inference.py                              # MNIST/'s best model (best/), else its newest checkpoint
    python vae_gan_inference.py --checkpoint=newest          # its newest checkpoint (--checkpoint=best: best/)
    python vae_gan_inference.py --preset=celeb_a             # ... in Celeb-A/
    python vae_gan_inference.py --checkpoint=MNIST/pretrained --out_dir=renders/pretrained --num_samples=1000
    python vae_gan_inference.py --metrics                    # also FID, KID, precision, recall, MSE, SSIM
    python vae_gan_inference.py --export=MNIST/mine          # the encoder and decoder alone, to share

Common flags (and any config.py field, e.g. --seed=1 for other generations, --data_dir for the originals):
    --checkpoint=...     best, newest, a checkpoint (RUN/checkpoints/ckpt-10), a run's best/ or an export
    --out_dir=DIR        the run to render; with --checkpoint, where to write (a new folder is made)
    --num_samples=N      generations and reconstructions written (default 100)
    --metrics            score metric_samples (10,000) generations and reconstructions in memory
    --metric_samples=N   how many --metrics scores
    --export=DIR         write the model to a new folder instead of rendering
    --average=false      a run with ema_decay: the weights themselves, not their average

The model is rebuilt from the run's config.json (written by vae_gan.py), or the export's. Writes to
<out_dir>/samples/: generations/, originals/ and reconstructions/ (one PNG per image, 000001.png ...),
generations.png, reconstructions.png, interpolations.png, generations.gif, and with --metrics
metrics.json. Without the held-out images (offline, no prepared dataset) it writes the generations and
interpolations between random codes, and says what it left out.
"""
import dataclasses
import difflib
import math
import os
import sys

import config
import configurator
import run_folder
from configurator import UsageError


@dataclasses.dataclass(frozen=True)
class Options:
    """This script's own flags, parsed with the config fields (configurator.parse_flags)."""
    checkpoint: str = ''  # 'best', 'newest', a checkpoint, a folder of them or an export; '' = best, else newest
    num_samples: int = 100  # generations and reconstructions written as PNGs
    metrics: bool = False  # also FID, KID, precision, recall, reconstruction MSE and SSIM into samples/metrics.json
    metric_samples: int = 10000  # generations (and held-out images) --metrics scores, in memory: the standard 10,000
    export: str = ''  # a folder: write the encoder and decoder alone there with config.json, render nothing
    attributes: str = ''  # CelebA attribute vectors: 'A,B,...', 'none', or '' = the paper's 18 on CelebA
    attribute_images: int = 10000  # training images encoded to make the attribute vectors
    attribute_scale: float = 1.0  # how far along each attribute vector the faces move
    average: bool = True  # with ema_decay: the weights' averages (as training's grids); false: the weights


def settings(args):
    """(cfg, source, options, changes) from the command line, before TensorFlow loads. source: the run or
    export whose config.json describes the model; cfg.out_dir: where samples/ goes (source by default)."""
    overrides, flags = configurator.parse_flags(args, config.Config, Options)
    options = Options(**flags)
    for name in ('checkpoint', 'export'):
        if configurator.not_utf8(getattr(options, name)):
            raise UsageError(f'--{name} {getattr(options, name)!r} is not UTF-8 text, which TensorFlow\'s paths '
                             f'must be: rename it')
    for name in ('num_samples', 'metric_samples', 'attribute_images'):
        if getattr(options, name) < 1:
            raise UsageError(f'{name} must be a whole number >= 1, not {getattr(options, name)}')
    if not options.attribute_scale >= 0:
        raise UsageError(f'attribute_scale must be a number >= 0, not {options.attribute_scale}')
    source = overrides.get('out_dir')
    checkpoint = options.checkpoint not in ('', 'best', 'newest') and options.checkpoint  # a path
    near = difflib.get_close_matches(options.checkpoint, ('best', 'newest'), n=1, cutoff=0.6)
    if near and checkpoint and not os.path.exists(checkpoint) and not os.path.exists(checkpoint + '.index'):
        raise UsageError(f'no checkpoint at {checkpoint}: did you mean --checkpoint={near[0]}?')
    if (checkpoint and run_folder.ORIGINAL.fullmatch(os.path.basename(checkpoint) + '.index') and not options.export
            and os.path.isfile(checkpoint + '.index')):
        raise UsageError(f'{checkpoint} is a checkpoint of the original TensorFlow 1 repo: import it with '
                         f'--export=FOLDER, then render FOLDER with --checkpoint=FOLDER')
    if checkpoint:
        source = run_folder.run_of(checkpoint)
        if not os.path.exists(configurator.config_file(source)) and run_folder.holds_checkpoints(source):
            raise UsageError(f'{source} holds checkpoints but no config.json, so its settings are unknown: export '
                             f'the model again, or pass --out_dir=<the run it came from> with --checkpoint')
    cfg, changes = configurator.for_run(dict(overrides, out_dir=source) if source else overrides)
    out_dir = overrides.get('out_dir', cfg.out_dir)
    if options.export:
        run_folder.for_export(options.export)
    else:  # a render replaces samples/ whole: never one of its own inputs, never another model's
        run_folder.not_owned(out_dir, '--out_dir')
        samples = os.path.join(out_dir, 'samples')
        for flag, given in (('--checkpoint', checkpoint), ('--data_dir', cfg.data_dir)):
            if given and run_folder.inside(given, samples):
                raise UsageError(f'{flag}={given} lies inside {samples}, which this render replaces whole: '
                                 f'move it out first, or pass another --out_dir')
        kind = 'run' if run_folder.is_run(out_dir) else 'exported model' if run_folder.is_export(out_dir) else ''
        if kind and source and not run_folder.inside(out_dir, source):
            parent = os.path.dirname(os.path.normpath(out_dir))
            beside = os.path.join(parent, 'renders', os.path.basename(os.path.normpath(source)))
            raise UsageError(f'--out_dir={out_dir} is another {kind}, whose samples/ are its own model\'s: render '
                             f'{options.checkpoint} into a folder of its own, such as --out_dir={beside}')
    return dataclasses.replace(cfg, out_dir=out_dir), cfg.out_dir, options, changes


run_folder.start(__name__, __doc__, settings)  # --help and a typo answered before TensorFlow loads
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
import numpy as np  # noqa: E402

import best_model  # noqa: E402
import checkpoints  # noqa: E402
import data  # noqa: E402
import images  # noqa: E402
import metrics  # noqa: E402
import models  # noqa: E402
import original  # noqa: E402
import prior  # noqa: E402

PAPER_ATTRIBUTES = ('Bald', 'Bangs', 'Black_Hair', 'Blond_Hair', 'Bushy_Eyebrows', 'Eyeglasses', 'Gray_Hair',
                    'Heavy_Makeup', 'High_Cheekbones', 'Male', 'Mustache', 'Pale_Skin', 'Rosy_Cheeks', 'Smiling',
                    'Straight_Hair', 'Wavy_Hair', 'Wearing_Lipstick', 'Young')  # the paper's section 4.1
INTERPOLATION_STEPS = 10  # images per interpolation row, both ends included


def load_config(args):
    """(cfg with out_dir where the samples go, the checkpoint to render, Options) from the command line."""
    cfg, source, options, changes = settings(args)
    if options.attributes not in ('', 'none'):
        unknown = [a for a in options.attributes.split(',') if a not in data.CELEB_A_ATTRIBUTES]
        if unknown:
            raise UsageError(f'unknown attribute {unknown[0]!r}; the 40 are: {", ".join(data.CELEB_A_ATTRIBUTES)}')
        if cfg.dataset != 'celeb_a':
            raise UsageError(f'{cfg.dataset} has no attributes: attribute vectors need CelebA')
    if options.metrics and options.metric_samples < metrics.MIN_IMAGES:
        raise UsageError(f'--metrics compares sets of images: pass --metric_samples={metrics.MIN_IMAGES} or more, '
                         f'not {options.metric_samples}')
    if changes:
        print(changes)
    hint = original.hint(options.checkpoint)  # its folder, or one of its files, for the original's model_N
    if hint:
        raise UsageError(hint)
    if original.is_original(options.checkpoint):  # the original TensorFlow 1 repo's model_N (original.py)
        preset, z_dim, epochs, _ = original.read(options.checkpoint)
        overrides = configurator.parse_flags(args, config.Config, Options)[0]
        done = f'{epochs} epoch' + 's' * (epochs != 1) + ' done' if epochs else 'epochs unknown (not named model_N)'
        print(f"{options.checkpoint}: the original's {preset} networks, z_dim {z_dim}, {done}")
        return original.config_for(options.checkpoint, preset, z_dim, overrides), options.checkpoint, options
    return cfg, find_checkpoint(dataclasses.replace(cfg, out_dir=source), options.checkpoint), options


def find_checkpoint(cfg, path):
    """The checkpoint to render: `path` (a checkpoint, or a folder's newest intact one), 'best', 'newest', or ''
    (best/ if the run has one, else the newest); the line printed says which."""
    if path in ('', 'best'):
        if os.path.islink(run_folder.best_folder(cfg.out_dir)):  # another run's best/, say: not this run's model
            raise UsageError(f'{run_folder.best_folder(cfg.out_dir)} is a symbolic link, and a run\'s best/ is its '
                             f'own: remove the link (--checkpoint=newest renders the run\'s newest checkpoint)')
        best, scores = best_model.read_best(cfg.out_dir)
        if best:
            print(f"using best/ (epoch {scores['epoch']}, the best validation scores of the run; "
                  f"--checkpoint=newest takes its newest checkpoint)")
            return best
        if path == 'best':
            raise UsageError(f'no best model in {cfg.out_dir}: runs keep one only when they score (eval_every, '
                             f'validation_split); pass --checkpoint=newest')
    newest = path in ('', 'newest')
    if not newest and not os.path.isdir(path):
        if not os.path.exists(path + '.index'):
            held = [os.path.basename(p) for p, _ in checkpoints.ordered(os.path.dirname(path) or '.')]
            hint = (f'{os.path.dirname(path) or "."} holds {", ".join(held)}: pass one of those' if held else
                    'pass a checkpoint such as RUN/checkpoints/ckpt-N, or a folder of them')
            raise UsageError(f'no checkpoint at {path}: {hint}')
        why = checkpoints.damage(path)
        if why:
            raise UsageError(f'{path} is damaged ({why}): pass another checkpoint of {os.path.dirname(path)}')
        return path
    folder = run_folder.checkpoint_folder(cfg.out_dir) if newest else path
    found, damaged = checkpoints.newest_intact(folder, notes=True)
    for prefix, why in damaged:
        print(f'{os.path.basename(prefix)} is damaged ({why}): passed over')
    if found and newest:
        print(f'using the newest checkpoint, {os.path.basename(found)}'
              + ('; --checkpoint=best takes best/' if os.path.isdir(run_folder.best_folder(cfg.out_dir)) else ''))
    if found:
        return found
    if not newest or damaged:
        fix = 'every one is damaged' if damaged else 'pass a checkpoint (.../checkpoints/ckpt-N) or a folder of them'
        raise UsageError(f'no intact checkpoint in {folder}: {fix}')
    if run_folder.is_export(cfg.out_dir):
        raise UsageError(f'{cfg.out_dir} is an exported model, with no checkpoints/: render it with '
                         f'--checkpoint={cfg.out_dir}')
    configurator.unseen_checkpoints(cfg.out_dir)
    command = run_folder.command('vae_gan.py') + (f' --preset={cfg.preset}' if cfg.preset != config.PRESET else '')
    command += f' --out_dir={cfg.out_dir}' if cfg.out_dir != config.PRESETS[cfg.preset].out_dir else ''
    raise UsageError(f'no checkpoint in {folder}: train one first with `{command}`')


def restore_models(cfg, path, average=True):
    """The encoder and decoder of the checkpoint at path, in float32: with ema_decay, the weights' averages
    unless average=False."""
    keras.mixed_precision.set_global_policy('float32')
    encoder, decoder = models.build_encoder(cfg), models.build_decoder(cfg)
    if original.is_original(path):  # the original TensorFlow 1 repo's model_N: by its variables' names
        preset, _, _, arrays = original.read(path)
        original.load_into(arrays, preset, encoder=encoder, decoder=decoder)
        return encoder, decoder
    averaged = cfg.ema_decay is not None and any(
        key.startswith('encoder_average/') for key in checkpoints.load(path).get_variable_to_shape_map())
    if cfg.ema_decay is not None and not average and not averaged:  # best/ and exports: the averages, plain names
        raise UsageError(f'--average=false: {path} holds only the weights\' averages (best/ and exports do): '
                         f'pass a training checkpoint, --checkpoint=newest or RUN/checkpoints/ckpt-N')
    networks = {'encoder_average': encoder, 'decoder_average': decoder} if averaged and average else {
        'encoder': encoder, 'decoder': decoder}
    checkpoints.restore(tf.train.Checkpoint(**networks), path,
                        f'{cfg.out_dir}/config.json describes another; pass the out_dir it was trained in')
    return encoder, decoder


def export(cfg, checkpoint, folder):
    """The encoder and decoder alone, with config.json (and a prior='mixture' run's mixture, fitted now), into
    `folder`, new or empty, under a lock beside it (.NAME.lock)."""
    folder = os.path.normpath(folder)  # E/. and E/ are E
    parent, name = os.path.split(os.path.abspath(folder))
    encoder, decoder = restore_models(cfg, checkpoint)
    def vacant(meanwhile=False):  # under the lock, at the start and again at the last rename
        if os.path.isdir(folder) and os.listdir(folder):
            held = checkpoints.numbered(folder)
            what = f'an export of epoch {held[0][0]}' if held else 'other files'
            raise UsageError(f'--export={folder} was written by another command meanwhile ({what}): nothing exported; '
                             f'pass a new folder' if meanwhile else
                             f'--export={folder} already holds {what}: pass a new folder, or move that one away first')

    with run_folder.made(parent), run_folder.Lock(parent, f'.{name}.lock', 'being exported', subject=folder):
        vacant()

        def with_mixture(whole, saved):
            try:
                mixture = prior.for_checkpoint(dataclasses.replace(cfg, out_dir=whole), saved, encoder)
                run_folder.write_json(os.path.join(whole, 'prior.json'), prior.plain(mixture))
            except UsageError as e:  # offline, too few images: the export itself is whole
                print(f'note: no mixture kept in {folder} ({e}): a render of it fits one, which needs the training '
                      f'images')
        imported = original.is_original(checkpoint)
        epoch = (original.epochs(checkpoint) or 0) if imported else checkpoints.epoch_of(checkpoint)
        how = (f'trained by the original TensorFlow 1 repo (PrateekMunjal/VAE_GAN), imported from its '
               f'{os.path.basename(checkpoint)}' if imported else checkpoints.chosen(run_folder.run_of(checkpoint))
               or f'exported from its training checkpoint {os.path.basename(checkpoint)}')
        path = checkpoints.export(folder, {'encoder': encoder, 'decoder': decoder}, epoch,
                                  dataclasses.asdict(dataclasses.replace(cfg, out_dir=folder)), how,
                                  then=with_mixture if cfg.prior == 'mixture' else None,
                                  check=lambda: vacant(meanwhile=True))
        print(f'exported {checkpoint} to {path}')


def render(cfg, checkpoint, options):
    """Every output (the module's docstring) into out_dir/samples/, written whole, one render at a time. The
    checkpoint is read at the start only: a training run may rotate it away meanwhile."""
    before = os.path.join(cfg.out_dir, 'samples')  # an earlier render's: its attribute vectors reused if they fit
    print(f'rendering {checkpoint} into {before}')
    def still_its_own():  # a run or an export may have landed in out_dir since the flags were checked
        kind = 'an exported model' if run_folder.is_export(cfg.out_dir) else 'a training run' if run_folder.is_run(
            cfg.out_dir) else None
        if kind and not run_folder.inside(cfg.out_dir, run_folder.run_of(checkpoint)):
            raise UsageError(f'{cfg.out_dir} became {kind} while this render ran, and its samples/ are its own '
                             f'model\'s: nothing written; render into a folder of its own')

    with run_folder.made(cfg.out_dir), run_folder.Lock(cfg.out_dir, 'samples.lock', 'being rendered'), \
            run_folder.written_folder(before, still_its_own) as samples:
        encoder, decoder = restore_models(cfg, checkpoint, options.average)
        epoch = checkpoints.epoch_of(checkpoint)
        mixture = prior.for_checkpoint(cfg, checkpoint, encoder, unaveraged=not options.average,  # None: N(0, I)
                                       beside=run_folder.run_of(checkpoint))  # (keyed by its index: read now too)
        extractors = metrics.feature_extractors(cfg) if options.metrics else None  # before the long work
        decode_batch = tf.function(lambda z: data.to_uint8(cfg, decoder(z, training=False)),
                                   input_signature=[tf.TensorSpec([None, cfg.z_dim], tf.float32)])
        decode = lambda z: np.concatenate([decode_batch(z[i:i + models.INFERENCE_BATCH]).numpy()
                                           for i in range(0, len(z), models.INFERENCE_BATCH)])
        generations = decode(prior.sample(cfg, mixture, options.num_samples, cfg.seed))
        images.write_numbered(generations, os.path.join(samples, 'generations'))
        images.save_image(images.tile(generations[:100]), os.path.join(samples, 'generations.png'), width=800)
        try:
            originals, codes, reconstructions = write_reconstructions(cfg, encoder, decode, options.num_samples,
                                                                      samples)
            between = 'held-out images'
        except data.Unavailable as e:
            if options.metrics or options.attributes not in ('', 'none'):  # asked for what needs the data
                raise
            print(f'note: no reconstructions ({e})')
            originals = reconstructions = None
            codes, between = models.prior_z(16, cfg.z_dim, cfg.seed + 1).numpy(), 'random codes'
        rows = min(8, len(codes) // 2)  # interpolations.png: rows walking linearly in z between pairs of codes
        if rows:
            t = np.linspace(0.0, 1.0, INTERPOLATION_STEPS, dtype=np.float32)[None, :, None]
            walks = codes[0:2 * rows:2, None] * (1 - t) + codes[1:2 * rows:2, None] * t  # [rows, steps, z]
            images.save_image(images.tile(decode(walks.reshape(-1, cfg.z_dim)), cols=INTERPOLATION_STEPS),
                              os.path.join(samples, 'interpolations.png'), width=800)
        frames = images.write_gif(os.path.join(run_folder.run_of(checkpoint), 'op-gen'),
                                  os.path.join(samples, 'generations.gif'))
        print(f'wrote {len(generations)} generations, {0 if originals is None else len(originals)} reconstructions, '
              f'{rows} interpolation rows between {between}'
              + (f' and a GIF of {frames} sampled epoch{"s" * (frames != 1)}' if frames else
                 ' (no training grids in op-gen/: no GIF)'))
        if options.metrics:  # with ema_decay, metrics.json says which weights were scored
            scores = metrics.evaluate(cfg, encoder, decoder, options.metric_samples, extractors=extractors,
                                      draw=lambda n: prior.sample(cfg, mixture, n, cfg.seed))
            scores.update(checkpoint=checkpoint, epoch=epoch, prior=prior.describe(mixture))
            if cfg.ema_decay is not None:
                scores['weights'] = 'average' if options.average else 'weights'
            run_folder.write_json(os.path.join(samples, 'metrics.json'), scores)
            print(f"epoch {scores['epoch']}: {metrics.summary(scores)}")
        celeb_a = cfg.dataset == 'celeb_a' and (not cfg.data_dir or os.path.exists(
            os.path.join(cfg.data_dir, data.ATTRIBUTE_FILE)))
        if options.attributes == 'none' or (not options.attributes and not celeb_a) or originals is None:
            return  # by default only for CelebA's own images: a plain folder has no attributes to speak of
        write_attributes(cfg, checkpoint, encoder, decode, options, originals, codes, reconstructions, samples,
                         before)


def write_reconstructions(cfg, encoder, decode, count, samples):
    """originals/, reconstructions/ and reconstructions.png of the first `count` held-out images (from the
    encoder's mean); returns (originals, codes, reconstructions)."""
    encode = tf.function(lambda x: encoder(x, training=False)[0],  # the mean
                         input_signature=[tf.TensorSpec([None, cfg.image_size, cfg.image_size, cfg.channels])])
    originals, codes = [], []
    for x in data.held_out_dataset(cfg, models.INFERENCE_BATCH).take(math.ceil(count / models.INFERENCE_BATCH)):
        originals.append(data.to_uint8(cfg, x).numpy())
        codes.append(encode(x).numpy())
    originals, codes = np.concatenate(originals)[:count], np.concatenate(codes)[:count]
    reconstructions = decode(codes)
    images.write_numbered(originals, os.path.join(samples, 'originals'))
    images.write_numbered(reconstructions, os.path.join(samples, 'reconstructions'))
    pairs = min(len(originals), 25)
    side_by_side = np.concatenate([images.tile(originals[:pairs]), images.tile(reconstructions[:pairs])], axis=1)
    images.save_image(side_by_side, os.path.join(samples, 'reconstructions.png'),
                      'originals (left), reconstructions (right)', width=800)
    return originals, codes, reconstructions


def write_attributes(cfg, checkpoint, encoder, decode, options, originals, codes, reconstructions, samples, before):
    """attributes.png (CelebA): test faces, their reconstructions, and their codes plus each attribute's
    vector (the paper's section 4.1)."""
    try:
        vectors = load_attribute_vectors(cfg, checkpoint, encoder, options.attribute_images, samples, before)
    except UsageError as e:
        if options.attributes:  # asked for: an error; by default: a note
            raise
        print(f'no attribute vectors: {e}')
        return
    names = options.attributes.split(',') if options.attributes else list(PAPER_ATTRIBUTES)
    undefined = [n for n in names if not np.all(np.isfinite(vectors[data.CELEB_A_ATTRIBUTES.index(n)]))]
    if undefined:  # every encoded image has it, or none has
        print(f'no attribute vector for {", ".join(undefined)}: all or none of the '
              f'{options.attribute_images} encoded images have it')
        names = [n for n in names if n not in undefined]
    faces = min(8, len(codes))  # rows of attributes.png
    columns = [originals[:faces], reconstructions[:faces]] + [
        decode(codes[:faces] + options.attribute_scale * vectors[data.CELEB_A_ATTRIBUTES.index(n)]) for n in names]
    grid = images.tile(np.stack(columns, axis=1).reshape((-1,) + originals.shape[1:]), cols=len(columns))  # row by row
    images.save_image(grid, os.path.join(samples, 'attributes.png'), width=3 * grid.shape[1],
                      column_labels=['original', 'reconstruction'] + names)
    print(f'wrote attributes.png: {faces} test faces, {len(names)} attributes')


def attribute_vectors(codes, attributes):
    """codes [n, z] and attributes [n, 40] of 0/1 -> [40, z]: for each attribute, the mean code of the
    images that have it minus the mean code of those that don't (NaN where either side is empty)."""
    codes, attributes = np.asarray(codes, np.float64), np.asarray(attributes, np.float64)
    with np.errstate(invalid='ignore', divide='ignore'):
        having = attributes.T @ codes / attributes.sum(0)[:, None]
        lacking = (1 - attributes).T @ codes / (1 - attributes).sum(0)[:, None]
    return (having - lacking).astype(np.float32)


def load_attribute_vectors(cfg, checkpoint, encoder, count, samples, before):
    """The 40 attribute vectors of this checkpoint from `count` training images (z sampled from q(z|x), as the
    paper's code), or before/attribute_vectors.npz's when they fit; saved in samples/."""
    path, vectors = os.path.join(before, 'attribute_vectors.npz'), None
    spec = {'vectors': ('float32', (len(data.CELEB_A_ATTRIBUTES), cfg.z_dim)), 'checkpoint': ('U', ()),
            'images': ('i', ())}
    try:  # NaN: an attribute all or none of the images have
        saved = run_folder.read_arrays(path, spec, finite=False)
        if str(saved['checkpoint']) == checkpoint and int(saved['images']) == count:
            vectors = saved['vectors']
    except run_folder.Unreadable as e:
        if os.path.lexists(path):
            print(f'note: {path} does not read back as attribute vectors ({e}): making them again')
    if vectors is None:
        codes, attributes = [], []
        batches = data.attribute_dataset(cfg, models.INFERENCE_BATCH).take(math.ceil(count / models.INFERENCE_BATCH))
        for i, (x, a) in enumerate(batches):
            mean, sigma = encoder(x, training=False)
            eps = tf.random.stateless_normal(tf.shape(mean), seed=[cfg.seed, i])
            codes.append((mean + sigma * eps).numpy())
            attributes.append(a.numpy())
        vectors = attribute_vectors(np.concatenate(codes)[:count], np.concatenate(attributes)[:count])
    with run_folder.written(os.path.join(samples, 'attribute_vectors.npz')) as temporary, open(temporary, 'wb') as f:
        np.savez(f, vectors=vectors, names=np.array(data.CELEB_A_ATTRIBUTES), checkpoint=checkpoint, images=count)
    return vectors


def main(argv):
    cfg = options = None  # once read: what a stop or a failed write names (the export's folder, or out_dir)
    with run_folder.guarded('vae_gan_inference.py', argv, lambda: cfg and (options.export or cfg.out_dir)):
        cfg, checkpoint, options = load_config(argv)
        if options.export:
            export(cfg, checkpoint, options.export)
        else:
            render(cfg, checkpoint, options)


if __name__ == '__main__':
    run_folder.run_script(main, sys.argv[1:])
