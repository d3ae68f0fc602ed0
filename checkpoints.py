"""A run's checkpoints (ckpt-N.*): found, checked, saved, restored and exported, by RELIABILITY.md's rules:
the newest holds the most epochs, whatever its number; one counts only when every tensor reads back."""
import glob
import json
import os
import re
import shutil
import stat
import tempfile

import tensorflow as tf

import models
import run_folder
from configurator import UsageError

KEEP = 3  # checkpoints kept per run (the newest)


def numbered(path):
    """[(number, prefix)] of the checkpoints in the folder `path`, the highest number first (not the newest)."""
    found = [(int(m.group(1)), os.path.join(path, f'ckpt-{m.group(1)}'))
             for m in map(run_folder.CHECKPOINT.fullmatch, os.listdir(path) if os.path.isdir(path) else []) if m]
    return sorted(found, reverse=True)


def ordered(path, notes=False):
    """[(prefix, epochs)] of the checkpoints in the folder `path`, newest first: the most epochs recorded, then one
    whose number is its epochs, then the number; epochs None (damaged) first, to be passed over. notes: a number
    that is not its epochs is noted."""
    found = [(prefix, recorded(prefix), number) for number, prefix in numbered(path)]
    for prefix, epochs, number in found:
        if notes and epochs not in (None, number):
            print(f'note: {os.path.basename(prefix)} holds {epochs} epoch{"s" * (epochs != 1)}, not {number} as its '
                  f'name says (copied in, or renamed?): ordered by its epochs')
    found.sort(key=lambda f: (f[1] is None, f[1] or 0, f[1] == f[2], f[2]), reverse=True)
    return [(prefix, epochs) for prefix, epochs, _ in found]


def load(prefix):
    """TensorFlow's reader of the checkpoint at prefix; ValueError for a file of it that is not a regular file
    (a FIFO or a device would be waited on forever)."""
    for file in glob.glob(glob.escape(prefix) + '.*'):
        if not stat.S_ISREG(os.stat(file).st_mode):
            raise ValueError(f'{os.path.basename(file)} is not a regular file')
    return tf.train.load_checkpoint(prefix)


def damage(prefix):
    """Why the checkpoint at prefix does not read back whole (its files, a tensor, a checksum), or None."""
    try:
        reader = load(prefix)
        for key in reader.get_variable_to_shape_map():
            reader.get_tensor(key)
    except Exception as e:  # any failure to read means the same: not restorable
        return f'{type(e).__name__}: {str(e).splitlines()[0][:120]}' if str(e) else type(e).__name__
    return None


def newest_intact(path, notes=False):
    """(the newest intact checkpoint in the folder `path` or None, [(prefix, why)] of the newer damaged ones)."""
    damaged = []
    for prefix, _ in ordered(path, notes):
        why = damage(prefix)
        if why is None:
            return prefix, damaged
        damaged.append((prefix, why))
    return None, damaged


def newest(path):
    """(prefix, epochs) of the newest intact checkpoint in the folder `path`, or None."""
    prefix = newest_intact(path)[0]
    return prefix and (prefix, epoch_of(prefix))


def set_aside(prefix, label):
    """Renames a checkpoint's files to ckpt-N-<label>.* (no longer found, still on disk); returns that name."""
    for file in glob.glob(glob.escape(prefix) + '.*'):
        stem, rest = os.path.basename(file).split('.', 1)
        os.replace(file, os.path.join(os.path.dirname(file), f'{stem}-{label}.{rest}'))
    return f'{os.path.basename(prefix)}-{label}'


def save(checkpoint, path, number):
    """Writes ckpt-<number> into the folder `path` whole (built beside, read back, renamed in, the .index last; one of
    that name replaced only if older), then removes the older ones beyond the newest KEEP. Returns the prefix."""
    run_folder.folder(*os.path.split(os.path.abspath(path)))
    prefix = os.path.join(path, f'ckpt-{number}')
    for name in run_folder.entries(path):
        if name.startswith((f'ckpt-{number}.', f'ckpt-{number}_temp')) and os.path.islink(os.path.join(path, name)):
            os.remove(os.path.join(path, name))  # the link itself: nothing where it points is touched
            print(f'note: removed {name}, a symbolic link in the way of this save (only the link)')
    temporary = tempfile.mkdtemp(prefix=f'.ckpt-{number}.', suffix='_temp', dir=path)  # (run_folder.locked clears)
    try:
        built = os.path.join(temporary, os.path.basename(prefix))
        checkpoint.save_counter  # made now if not yet: restore() makes it, so the file must hold it
        try:
            checkpoint.write(built)
        except tf.errors.OpError as e:  # a full disk, a vanished folder: TensorFlow's errors as the OS's
            raise OSError(f'saving {prefix} failed: {run_folder.why(e)}') from e
        why = damage(built)
        if why:
            raise OSError(f'{prefix} did not read back after saving ({why})')
        epochs = epoch_of(built)
        if os.path.exists(prefix + '.index'):  # what stood there: replaced if intact and older, else kept aside
            why, held = damage(prefix), recorded(prefix)
            if not why and held is not None and held < epochs:
                remove(prefix)
            else:
                print(f'note: {os.path.basename(prefix)} ({why or f"{held} epochs"}) stood where epoch {epochs} is '
                      f'saved: kept as {set_aside(prefix, "damaged" if why else "previous")}.*')
        for file in sorted(glob.glob(glob.escape(built) + '.*'), key=lambda f: f.endswith('.index')):
            os.replace(file, os.path.join(path, os.path.basename(file)))
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    kept = ordered(path)
    for old, held in kept[KEEP:]:
        if held is not None and held < epochs:  # never a damaged one, nor one as new as this
            remove(old)
    names = [os.path.basename(p) for p, _ in kept[:KEEP]]  # TensorFlow's `checkpoint` file, for other tools: never read
    lines = [f'model_checkpoint_path: "{names[0]}"'] + [f'all_model_checkpoint_paths: "{n}"' for n in reversed(names)]
    with run_folder.written(os.path.join(path, 'checkpoint')) as temporary, open(temporary, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    return prefix


def remove(prefix):
    for file in glob.glob(glob.escape(prefix) + '.*'):
        os.remove(file)


def export(folder, networks, epoch, settings, how, extra=None, then=None, check=None):
    """The `networks` with their epoch, config.json (`settings`), any `extra` {file name: JSON value}, what
    then(folder, prefix) writes, Keras files and a card saying `how` the model was chosen, built whole into
    `folder` (written_folder, with check). Returns the prefix."""
    with run_folder.written_folder(folder, check) as whole:
        saved = save(tf.train.Checkpoint(epoch=tf.Variable(epoch, dtype=tf.int64), **networks), whole, epoch)
        for name, value in {'config.json': settings, **(extra or {})}.items():
            run_folder.write_json(os.path.join(whole, name), value)
            if run_folder.read_json(os.path.join(whole, name)) != json.loads(json.dumps(value)):
                raise OSError(f'{name} did not read back after writing it to {whole}')
        if then:
            then(whole, saved)
        for name, network in networks.items():  # plain Keras files too: keras.saving.load_model opens them anywhere
            network.save(os.path.join(whole, f'{name}.keras'))
        with open(os.path.join(whole, 'README.md'), 'w') as f:
            f.write(card(settings, epoch, how, os.path.exists(os.path.join(whole, 'prior.json'))))
    return os.path.join(folder, os.path.basename(saved))


def chosen(folder):
    """How the model in an export's folder was chosen, as its card says; None without a card that says it."""
    try:
        text = run_folder.read_bytes(os.path.join(folder, 'README.md'), 1 << 20).decode(errors='replace')
    except run_folder.Unreadable:
        return None
    said = re.search(r'similarity metric"\), (.+?)\. It reads and draws', text, re.DOTALL)
    return said and said.group(1)


def card(settings, epoch, how, mixture):
    """The export's model card: what the model is, how it was chosen, and how to sample it without this repo."""
    s = settings
    data = f"the images in {s['data_dir']}" if s['data_dir'] else f"{s['dataset']} ({s['train_split']} split)"
    pixels = '[0, 1]' if s['arch'] == 'mnist' else '[-1, 1]'
    draw = ('codes from the Gaussian mixture fitted to the training images\' codes (prior.json: weights, means, '
            'covariances), the prior this repo renders it with:\n\n'
            "    p = json.load(open('prior.json'))\n"
            "    k = rng.choice(len(p['weights']), size=16, p=p['weights'])\n"
            "    z = np.stack([rng.multivariate_normal(p['means'][i], p['covariances'][i]) for i in k])\n"
            "    z = z.astype('float32')" if mixture else
            ('codes from N(0, I), the prior it was trained against (its run renders from a mixture fitted to the '
             'training codes, which this folder lacks: an export made with the training images at hand keeps it '
             'as prior.json)' if s['prior'] == 'mixture' else 'codes from N(0, I), the prior it was trained against')
            + f":\n\n    z = rng.standard_normal((16, {s['z_dim']})).astype('float32')")
    return f"""# VAE/GAN ({s['preset']} preset), {epoch} epoch{'s' * (epoch != 1)}

The encoder and decoder of a VAE/GAN (Larsen et al. 2016, "Autoencoding beyond pixels using a learned
similarity metric"), {how}. It reads and draws {s['image_size']}x{s['image_size']}x{s['channels']} images,
pixels in {pixels}, with codes of {s['z_dim']} numbers; data: {data}. config.json holds every setting.

## Use it with Keras alone

    import json, keras, numpy as np
    decoder = keras.saving.load_model('decoder.keras')
    encoder = keras.saving.load_model('encoder.keras')
    rng = np.random.default_rng(0)

Draw {draw}

    images = decoder(z, training=False)              # [16, {s['image_size']}, {s['image_size']}, {s['channels']}]
    mean, sigma = encoder(images, training=False)    # an image's code: mean, and sigma its spread

With this repo, `python vae_gan_inference.py --checkpoint=THIS_FOLDER` renders it (ckpt-{epoch}).
"""


def restore_newest(checkpoint, path):
    """Restores the newest intact checkpoint in the folder `path` into `checkpoint`; returns its prefix or None.
    Newer ones become ckpt-N-damaged.* or ckpt-N-other.* (another architecture); if none restores, nothing moves."""
    passed, error = [], None  # (prefix, label, why) of the newer ones
    for prefix, _ in ordered(path, notes=True):  # newest first, until one restores
        why = damage(prefix)
        if why:
            passed.append((prefix, 'damaged', f'is damaged ({why})'))
            continue
        try:
            restore(checkpoint, prefix, 'pass another --out_dir, or the config it was trained with')
            break
        except UsageError as e:
            passed.append((prefix, 'other', 'is a checkpoint of another architecture (copied in from another run?)'))
            error = error or e  # the newest one's, if none of them is this run's
    else:
        if error:  # not one of this run's architecture
            raise error
        if passed:
            raise UsageError(f'no intact checkpoint in {path}: '
                             + ', '.join(f'{os.path.basename(p)} {why}' for p, _, why in passed)
                             + '; move that folder away to start over')
        return None
    for older, label, why in passed:
        print(f'{os.path.basename(older)} {why}: kept as {set_aside(older, label)}.*, resuming from {prefix}')
    return prefix


def epoch_of(path):
    """The number of epochs the checkpoint at path had trained."""
    return int(load(path).get_tensor('epoch/.ATTRIBUTES/VARIABLE_VALUE'))


def recorded(prefix):
    """epoch_of(prefix), or None when that does not read."""
    try:
        return epoch_of(prefix)
    except Exception:  # any failure to read means the same: it does not say
        return None


def restore(checkpoint, path, fix):
    """Restores the tf.train.Checkpoint from path (which may hold more); other shapes are one UsageError."""
    try:
        checkpoint.restore(path).expect_partial().assert_existing_objects_matched()
    except (ValueError, AssertionError, tf.errors.OpError) as e:
        tf.get_logger().setLevel('ERROR')  # no warning per half-restored value after the error line
        raise UsageError(f'{path} is a checkpoint of another architecture ({type(e).__name__}): {fix}') from e


def make_finite_check(nets, sample_z):
    """all_finite(x) -> whether every weight, and every loss of a forward pass on x and as many grid codes
    (inference mode), is finite: a state worth saving (weights of 1e30 are finite, their losses not)."""
    def all_finite(x):
        finite = [tf.reduce_all(tf.math.is_finite(tf.cast(v, tf.float32)))
                  for name in ('discriminator', 'encoder', 'decoder') for v in nets[name].weights]
        mean, sigma = nets.encoder(x, training=False)
        dis_l_x, logit_x = nets.discriminator(x, training=False)
        dis_l_x_tilde, logit_x_tilde = nets.discriminator(nets.decoder(mean, training=False), training=False)
        _, logit_x_p = nets.discriminator(nets.decoder(sample_z[:tf.shape(x)[0]], training=False), training=False)
        losses = [models.discriminator_loss(logit_x, [logit_x_tilde, logit_x_p]), models.kl_loss(mean, sigma),
                  models.dis_l_loss(dis_l_x_tilde, dis_l_x), models.decoder_gan_loss([logit_x_tilde, logit_x_p])]
        return tf.reduce_all(finite + [tf.math.is_finite(loss) for loss in losses])

    return all_finite
