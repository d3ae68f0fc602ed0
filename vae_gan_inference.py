"""Render a trained VAE/GAN: generations, reconstructions, interpolations and the training GIF.

    python vae_gan_inference.py --checkpoint=MNIST/pretrained   # the pretrained model, into MNIST/pretrained/samples
    python vae_gan_inference.py                              # MNIST/'s best model (best/), else its newest checkpoint
    python vae_gan_inference.py --checkpoint=newest          # its newest checkpoint (--checkpoint=best: best/)
    python vae_gan_inference.py --preset=celeb_a             # ... in Celeb-A/
    python vae_gan_inference.py --checkpoint=MNIST/pretrained --out_dir=renders/pretrained --num_samples=1000
    python vae_gan_inference.py --metrics                    # also FID, KID, precision, recall, MSE, SSIM
    python vae_gan_inference.py --export=MNIST/mine          # the encoder and decoder alone, to share
    python vae_gan_inference.py --checkpoint=MNIST/pretrained-balance --edit=my_digit.png --to=7
    python vae_gan_inference.py --preset=celeb_a --edit=me.jpg --to=Smiling --strength=1.5

Common flags (and any config.py field, e.g. --seed=1 for other generations, --data_dir for the originals):
    --checkpoint=...     best, newest, a checkpoint (RUN/checkpoints/ckpt-10), a run's best/ or an export
    --out_dir=DIR        the run to render; with --checkpoint, where to write (a new folder is made)
    --num_samples=N      generations and reconstructions written (default 100)
    --metrics            score metric_samples (10,000) generations and reconstructions in memory
    --metric_samples=N   how many --metrics scores
    --export=DIR         write the model to a new folder instead of rendering
    --average=false      a run with ema_decay: the weights themselves, not their average
    --edit=PICTURE       a picture (or a folder of them) moved towards the label --to=NAME (a class, an attribute)
    --from_label=NAME    with --edit: move from the mean code of NAME to that of --to (class data)
    --strength=0.5,1     how far along the label's vector (a comma list; default 0.5,1,1.5,2)

The model is rebuilt from the run's config.json (written by vae_gan.py), or the export's. Writes to
<out_dir>/samples/: generations/, originals/ and reconstructions/ (one PNG per image, 000001.png ...),
generations.png, reconstructions.png, interpolations.png, generations.gif, and with --metrics
metrics.json (on class data scored with the digit classifiers: also how well edits reach their class), and for
labelled data attributes.png. Without the held-out images (offline, no prepared dataset) it writes the
generations and interpolations between random codes, and says what it left out. --edit writes instead
<out_dir>/edits/<picture>_to_<NAME>.png (the picture as the networks see it, its reconstruction and one edit
per strength) and the same images one by one in <out_dir>/edits/<picture>_to_<NAME>/ (a.png beside a.jpg:
a_png_to_<NAME>, a_jpg_to_<NAME>).
"""
import dataclasses
import difflib
import math
import os
import re
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
    attributes: str = ''  # attributes.png's labels: 'A,B,...', 'none', or '' = all (CelebA: the paper's 18)
    attribute_images: int = 10000  # training images encoded to make the attribute vectors
    attribute_scale: float = 1.0  # how far along each attribute vector attributes.png moves the images
    edit: str = ''  # a picture, or a folder of pictures, to move towards the label --to
    to: str = ''  # with --edit: the label (a class, an attribute) to move towards
    from_label: str = ''  # with --edit: move from this label's mean code to --to's, not along --to's vector
    strength: str = '0.5,1,1.5,2'  # with --edit: how far along the move, a comma list
    average: bool = True  # with ema_decay: the weights' averages (as training's grids); false: the weights


def settings(args):
    """(cfg, source, options, changes) from the command line, before TensorFlow loads. source: the run or
    export whose config.json describes the model; cfg.out_dir: where samples/ goes (source by default)."""
    overrides, flags = configurator.parse_flags(args, config.Config, Options)
    options = Options(**flags)
    for name in ('checkpoint', 'export', 'edit'):
        if configurator.not_utf8(getattr(options, name)):
            raise UsageError(f'--{name} {getattr(options, name)!r} is not UTF-8 text, which TensorFlow\'s paths '
                             f'must be: rename it')
    for name in ('num_samples', 'metric_samples', 'attribute_images'):
        if getattr(options, name) < 1:
            raise UsageError(f'{name} must be a whole number >= 1, not {getattr(options, name)}')
    if not options.attribute_scale >= 0:
        raise UsageError(f'attribute_scale must be a number >= 0, not {options.attribute_scale}')
    if (options.to or options.from_label) and (options.export or options.metrics or not options.edit):
        other = '--export' if options.export else '--metrics' if options.metrics else 'no --edit'
        raise UsageError(f'--{"to" if options.to else "from_label"} edits a picture, and {other} was given: pass '
                         f'--edit=PICTURE with --to=NAME alone')
    if options.from_label and options.from_label == options.to:
        raise UsageError(f'--from_label={options.to} is --to: a move from a label to itself moves nothing; '
                         f'pass another')
    if options.edit and not options.to:
        raise UsageError('--edit needs --to=NAME, the label to move the picture towards (a class such as 7, an '
                         'attribute such as Smiling)')
    if options.edit and not os.path.lexists(options.edit):
        raise UsageError(f'no picture at {options.edit}: pass a JPEG, PNG, GIF or BMP picture, or a folder of them')
    strengths(options.strength)
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


def strengths(text):
    """--strength's numbers, or one UsageError."""
    try:
        values = [float(v) for v in text.split(',')]
        if not all(map(math.isfinite, values)):
            raise ValueError
    except ValueError:
        raise UsageError(f'--strength={text}: pass how far along the move, a number or a comma list such as '
                         f'--strength=0.5,1,1.5,2') from None
    return values


run_folder.start(__name__, __doc__, settings)  # --help and a typo answered before TensorFlow loads
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
import numpy as np  # noqa: E402

import attributes  # noqa: E402
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
    asked = (options.attributes.split(',') if options.attributes not in ('', 'none') else []) + [
        name for name in (options.to, options.from_label) if name]
    names = data.label_names(cfg) if asked else ()
    for name in asked:
        if name not in names:
            near = difflib.get_close_matches(name, names, n=1)
            raise UsageError(f'unknown label {name!r}' + (f' (did you mean {near[0]!r}?)' if near else '')
                             + f'; the {len(names)} of {cfg.data_dir or cfg.dataset}: {", ".join(names)}')
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
    before = os.path.join(cfg.out_dir, 'samples')  # (written whole as `samples`)
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
        encode, decode = coders(cfg, encoder, decoder)
        generations = decode(prior.sample(cfg, mixture, options.num_samples, cfg.seed))
        images.write_numbered(generations, os.path.join(samples, 'generations'))
        images.save_image(images.tile(generations[:100]), os.path.join(samples, 'generations.png'), width=800)
        try:
            originals, codes = write_reconstructions(cfg, encode, decode, options.num_samples, samples)
            between = 'held-out images'
        except data.Unavailable as e:
            if options.metrics or options.attributes not in ('', 'none'):  # asked for what needs the data
                raise
            print(f'note: no reconstructions ({e})')
            originals = None
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
        wanted = options.metrics or (originals is not None and options.attributes != 'none')
        try:  # by default only for labelled data: a plain folder has no labels to speak of
            names = data.label_names(cfg) if wanted else None
        except UsageError:
            if options.attributes not in ('', 'none'):
                raise
            names = None
        vectors = lambda: attributes.for_checkpoint(cfg, checkpoint, encoder, options.attribute_images,
                                                    not options.average, run_folder.run_of(checkpoint))[1]
        if options.metrics:  # with ema_decay, metrics.json says which weights were scored
            scores = metrics.evaluate(cfg, encoder, decoder, options.metric_samples, extractors=extractors,
                                      draw=lambda n: prior.sample(cfg, mixture, n, cfg.seed))
            scores.update(checkpoint=checkpoint, epoch=epoch, prior=prior.describe(mixture))
            if cfg.ema_decay is not None:
                scores['weights'] = 'average' if options.average else 'weights'
            print(f"epoch {scores['epoch']}: {metrics.summary(scores)}")
            kinds = [kind for kind in cfg.metric_features.split(',') if kind in ('classifier', 'mlp')]
            if kinds and names == tuple('0123456789'):  # the digit classifiers' classes, in their order
                scores['edits'] = measure_edits(cfg, encode, decoder, vectors(), kinds, options.metric_samples)
            run_folder.write_json(os.path.join(samples, 'metrics.json'), scores)
        if names and originals is not None and options.attributes != 'none':
            write_attributes(cfg, options, names, vectors(), encode, decode, samples)


def coders(cfg, encoder, decoder):
    """(encode: float images -> the encoder's means, decode: codes -> uint8 images), numpy in and out, in batches."""
    encode_batch = tf.function(lambda x: encoder(x, training=False)[0],
                               input_signature=[tf.TensorSpec([None, cfg.image_size, cfg.image_size, cfg.channels])])
    decode_batch = tf.function(lambda z: data.to_uint8(cfg, decoder(z, training=False)),
                               input_signature=[tf.TensorSpec([None, cfg.z_dim], tf.float32)])
    return tuple(lambda x, f=f: np.concatenate([f(x[i:i + models.INFERENCE_BATCH]).numpy()
                                                for i in range(0, len(x), models.INFERENCE_BATCH)])
                 for f in (encode_batch, decode_batch))


def write_reconstructions(cfg, encode, decode, count, samples):
    """originals/, reconstructions/ and reconstructions.png of the first `count` held-out images (from the
    encoder's mean); returns (originals, codes)."""
    originals, codes = [], []
    for x in data.held_out_dataset(cfg, models.INFERENCE_BATCH).take(math.ceil(count / models.INFERENCE_BATCH)):
        originals.append(data.to_uint8(cfg, x).numpy())
        codes.append(encode(x.numpy()))
    originals, codes = np.concatenate(originals)[:count], np.concatenate(codes)[:count]
    reconstructions = decode(codes)
    images.write_numbered(originals, os.path.join(samples, 'originals'))
    images.write_numbered(reconstructions, os.path.join(samples, 'reconstructions'))
    pairs = min(len(originals), 25)
    side_by_side = np.concatenate([images.tile(originals[:pairs]), images.tile(reconstructions[:pairs])], axis=1)
    images.save_image(side_by_side, os.path.join(samples, 'reconstructions.png'),
                      'originals (left), reconstructions (right)', width=800)
    return originals, codes


def held_out_labelled(cfg, encode, count):
    """(float images, the encoder's means, labels [n, K]) of the first `count` held-out images."""
    batches = data.labelled_dataset(cfg, models.INFERENCE_BATCH, 'held_out').take(
        math.ceil(count / models.INFERENCE_BATCH))
    x, labels = (np.concatenate(parts)[:count] for parts in zip(*[(x.numpy(), y.numpy()) for x, y in batches]))
    return x, encode(x), labels


def measure_edits(cfg, encode, decoder, found, kinds, count):
    """metrics.json's 'edits' (metrics.edits) on the first EDIT_IMAGES held-out images (at most `count`), each
    moved to each other class; the lines printed. None (and a note) where they are not one class each."""
    _, codes, labels = held_out_labelled(cfg, encode, min(metrics.EDIT_IMAGES, count))
    if not np.all(labels.sum(1) == 1) or not np.all(np.isfinite(found['means'])):
        print('note: edits not measured: the held-out images are not of one class each, or a class has no '
              f'training image among the {int(found["counts"][0].sum())} encoded')
        return None
    scores = metrics.edits(cfg, decoder, codes, labels.argmax(1), found['vectors'], found['means'], kinds)
    print('\n'.join(metrics.edit_lines(scores)))
    return scores


def write_attributes(cfg, options, names, found, encode, decode, samples):
    """attributes.png: held-out images (rows: of class data, the first of each class; else the first 8), their
    reconstructions, and their codes plus attribute_scale times each label's vector (the paper's section 4.1)."""
    shown = options.attributes.split(',') if options.attributes else list(
        PAPER_ATTRIBUTES if names == data.CELEB_A_ATTRIBUTES else names)
    undefined = [n for n in shown if not np.all(np.isfinite(found['vectors'][names.index(n)]))]
    if undefined:  # every encoded image has it, or none has
        print(f'no attribute vector for {", ".join(undefined)}: all or none of the '
              f'{int(found["counts"][0].sum())} encoded training images have it')
        shown = [n for n in shown if n not in undefined]
    x, codes, labels = held_out_labelled(cfg, encode, metrics.EDIT_IMAGES)
    classes = bool(np.all(labels.sum(1) == 1))  # one label an image
    rows = labels.argmax(0)[labels.max(0) > 0] if classes else np.arange(min(8, len(x)))  # each label's first image
    originals, codes = data.to_uint8(cfg, x[rows]).numpy(), codes[rows]
    columns = [originals, decode(codes)] + [
        decode(codes + options.attribute_scale * found['vectors'][names.index(n)]) for n in shown]
    grid = images.tile(np.stack(columns, axis=1).reshape((-1,) + originals.shape[1:]), cols=len(columns))  # row by row
    images.save_image(grid, os.path.join(samples, 'attributes.png'), width=3 * grid.shape[1],
                      column_labels=['original', 'reconstruction'] + shown)
    print(f'wrote attributes.png: {len(rows)} held-out images moved along {len(shown)} attribute vectors')


def edit(cfg, checkpoint, options):
    """--edit: each picture (data.read_picture) encoded (the encoder's mean), moved along --to's vector (or from
    --from_label's mean code to --to's) at each strength, decoded; into out_dir/edits/ a strip (the picture as the
    networks see it, its reconstruction, an edit per strength) and its images one by one, under the render's lock."""
    if os.path.isdir(options.edit):
        paths = [os.path.join(options.edit, name) for name in data.picture_files(options.edit)]
        pictures = []
        for path in paths:  # a damaged one warned about and skipped, as a data folder's
            try:
                pictures.append((path,) + data.read_picture(cfg, path))
            except run_folder.Unreadable as e:
                print(f'warning: skipping {path!a} ({e})', file=sys.stderr)
        if not pictures:
            raise UsageError(f'--edit={options.edit} holds no picture that reads ({", ".join(data.IMAGE_EXTENSIONS)})')
    else:
        try:
            pictures = [(options.edit,) + data.read_picture(cfg, options.edit)]
        except run_folder.Unreadable as e:
            raise UsageError(f'--edit={options.edit} does not read as a picture ({e}): pass a JPEG, PNG, GIF or BMP '
                             f'image') from e
    for _, _, words in pictures:
        print(words)
    by = strengths(options.strength)
    name = re.sub(r'[^\w.-]', '-', (options.from_label + '_to_' if options.from_label else 'to_') + options.to)
    with run_folder.made(cfg.out_dir), run_folder.Lock(cfg.out_dir, 'samples.lock', 'being rendered'):
        encoder, decoder = restore_models(cfg, checkpoint, options.average)
        labels, found = attributes.for_checkpoint(cfg, checkpoint, encoder, options.attribute_images,
                                                  not options.average, run_folder.run_of(checkpoint))
        move = found['vectors'][labels.index(options.to)] if not options.from_label else (
            found['means'][labels.index(options.to)] - found['means'][labels.index(options.from_label)])
        if not np.all(np.isfinite(move)):
            raise UsageError(f'no move to {options.to}: all or none of the {int(found["counts"][0].sum())} encoded '
                             f'training images have {options.to} or {options.from_label}: pass --attribute_images='
                             f'{10 * options.attribute_images}, or another label')
        encode, decode = coders(cfg, encoder, decoder)
        folder = run_folder.folder(cfg.out_dir, 'edits')
        stems = [os.path.splitext(os.path.basename(path))[0] for path, _, _ in pictures]
        for (path, picture, _), stem in zip(pictures, stems):
            code = encode(data.to_float(cfg, picture[None]).numpy())
            edits = decode(np.concatenate([code] + [code + s * move for s in by]).astype(np.float32))
            stem = (stem if stems.count(stem) == 1 else os.path.basename(path).replace('.', '_')) + '_' + name
            titles = ['original', 'reconstruction'] + [f'strength {s:g}' for s in by]
            strip = images.tile(np.concatenate([picture[None], edits]), cols=len(titles))
            images.save_image(strip, os.path.join(folder, stem + '.png'), width=3 * strip.shape[1],
                              column_labels=titles)
            with run_folder.written_folder(os.path.join(folder, stem)) as singles:
                for title, image in zip(titles, np.concatenate([picture[None], edits])):
                    images.write_png(image, os.path.join(singles, title.replace(' ', '_') + '.png'))
            print(f'wrote {os.path.join(folder, stem)}.png and {stem}/: {path} moved to {options.to} at strength '
                  f'{", ".join(f"{s:g}" for s in by)}')


def main(argv):
    cfg = options = None  # once read: what a stop or a failed write names (the export's folder, or out_dir)
    with run_folder.guarded('vae_gan_inference.py', argv, lambda: cfg and (options.export or cfg.out_dir)):
        cfg, checkpoint, options = load_config(argv)
        if options.export:
            export(cfg, checkpoint, options.export)
        elif options.edit:
            edit(cfg, checkpoint, options)
        else:
            render(cfg, checkpoint, options)


if __name__ == '__main__':
    run_folder.run_script(main, sys.argv[1:])
