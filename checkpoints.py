"""A run's files that must survive anything: its checkpoints and its lock. Both scripts use these.

A training checkpoint (vae_gan.py) holds the encoder, decoder and discriminator, their optimizers
(without loss scaling, so runs can switch precision), the epoch and step counters and the sample
grids' latent; an exported one (vae_gan_inference.py --export) the encoder, decoder and epoch.

Checkpoints are found by their files (ckpt-N.index), newest first, and one counts only when every
tensor in it reads back with a matching checksum; TensorFlow's `checkpoint` index file is written
for other tools but never trusted. A save writes a new ckpt-N, reads it back, and only then deletes
the oldest beyond `keep`; a damaged checkpoint is renamed ckpt-N-damaged.*, never deleted.
"""
import fcntl
import glob
import os
import re
import shutil
import socket
import time

import tensorflow as tf

from config import UsageError

KEEP = 3  # checkpoints kept per run (the newest)
NAME = re.compile(r'^ckpt-(\d+)\.index$')


def folder(out_dir):
    return os.path.join(out_dir, 'checkpoints')


def numbered(path):
    """[(number, prefix)] of the checkpoints in the folder `path`, newest first, by their files."""
    found = [(int(m.group(1)), os.path.join(path, f'ckpt-{m.group(1)}'))
             for m in map(NAME.match, os.listdir(path) if os.path.isdir(path) else []) if m]
    return sorted(found, reverse=True)


def damage(prefix):
    """Why the checkpoint at prefix cannot be restored (its index or a tensor does not read back, or a
    checksum differs), or None when it reads fully."""
    try:
        reader = tf.train.load_checkpoint(prefix)
        for key in reader.get_variable_to_shape_map():
            reader.get_tensor(key)
    except Exception as e:  # any failure to read means the same: not restorable
        return f'{type(e).__name__}: {str(e).splitlines()[0][:120]}' if str(e) else type(e).__name__
    return None


def newest_intact(path):
    """(prefix of the newest checkpoint in folder `path` that reads fully, or None;
    [(prefix, why)] of the newer ones that do not)."""
    damaged = []
    for _, prefix in numbered(path):
        why = damage(prefix)
        if why is None:
            return prefix, damaged
        damaged.append((prefix, why))
    return None, damaged


def latest(path):
    """The newest intact checkpoint in the folder `path`, or None."""
    return newest_intact(path)[0]


def set_aside(prefix, label='damaged'):
    """Renames a checkpoint's files to ckpt-N-<label>.*: no longer found as a checkpoint, still on disk.
    Returns the new name (without the extensions)."""
    for file in glob.glob(glob.escape(prefix) + '.*'):
        stem, rest = os.path.basename(file).split('.', 1)
        os.replace(file, os.path.join(os.path.dirname(file), f'{stem}-{label}.{rest}'))
    return f'{os.path.basename(prefix)}-{label}'


def clean_interrupted_saves(path):
    """Removes the *_temp folders a save that was interrupted leaves behind; returns their names."""
    names = [n for n in os.listdir(path) if n.endswith('_temp') and os.path.isdir(os.path.join(path, n))] \
        if os.path.isdir(path) else []
    for name in names:
        shutil.rmtree(os.path.join(path, name), ignore_errors=True)
    return names


def save(checkpoint, path, number, keep=KEEP):
    """Writes ckpt-<number> into the folder `path`, reads it back, then rewrites the index file and
    deletes the intact checkpoints beyond the newest `keep`. Returns the new prefix. What stood at
    that number before (a damaged checkpoint) is set aside first, never overwritten."""
    os.makedirs(path, exist_ok=True)
    prefix = os.path.join(path, f'ckpt-{number}')
    previous = None
    if os.path.exists(prefix + '.index'):  # a damaged one is kept; an intact one goes once this is saved
        previous = set_aside(prefix, 'damaged' if damage(prefix) else 'previous')
    checkpoint.save_counter  # made now if not yet: restore() makes it, so the file must hold it
    try:
        checkpoint.write(prefix)
    except tf.errors.OpError as e:  # a full disk, a vanished folder: TensorFlow's errors as the OS's
        raise OSError(f'saving {prefix} failed ({type(e).__name__}: {str(e).splitlines()[0][:200]})') from e
    why = damage(prefix)
    if why:
        raise OSError(f'{prefix} did not read back after saving ({why})')
    kept = [p for _, p in numbered(path)]
    for old in kept[keep:] + ([os.path.join(path, previous)] if previous and previous.endswith('-previous') else []):
        for file in glob.glob(glob.escape(old) + '.*'):
            os.remove(file)
    write_index(path, [os.path.basename(p) for p in kept[:keep]])
    return prefix


def write_index(path, names):
    """TensorFlow's `checkpoint` file (for tf.train.latest_checkpoint and other tools), written to a
    temporary file and renamed: never half-written. names: newest first."""
    lines = [f'model_checkpoint_path: "{names[0]}"'] + [f'all_model_checkpoint_paths: "{n}"' for n in reversed(names)]
    temporary = os.path.join(path, 'checkpoint.tmp')
    with open(temporary, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    os.replace(temporary, os.path.join(path, 'checkpoint'))


def epoch_of(path):
    """The number of epochs the checkpoint at path had trained."""
    return int(tf.train.load_checkpoint(path).get_tensor('epoch/.ATTRIBUTES/VARIABLE_VALUE'))


def restore(checkpoint, path, fix):
    """Restores the tf.train.Checkpoint from path; a checkpoint of other shapes is one UsageError. The
    checkpoint may hold more than `checkpoint` asks for (inference needs no discriminator)."""
    try:
        checkpoint.restore(path).expect_partial().assert_existing_objects_matched()
    except (ValueError, AssertionError, tf.errors.OpError) as e:
        raise UsageError(f'{path} is a checkpoint of another architecture ({type(e).__name__}): {fix}') from e


# ---- The lock: one training run per out_dir -------------------------------------------------------

class Lock:
    """An exclusive lock on out_dir for one training run: out_dir/lock holds the holder's process id
    and host. The operating system releases it when the process ends, however it ends, so a lock left
    by a killed run is taken over (with a note); a live holder makes a second run refuse in one line."""

    def __init__(self, out_dir):
        self.path = os.path.join(out_dir, 'lock')
        self.file = None

    def acquire(self):
        while True:
            file = open(self.path, 'a+')
            try:
                fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                file.seek(0)
                holder = file.read().strip() or 'another process'
                file.close()
                raise UsageError(f'{os.path.dirname(self.path)} is in use by {holder}: wait for that run to end, '
                                 f'or pass another --out_dir')
            if os.path.exists(self.path) and os.path.samefile(self.path, file.fileno()):
                break  # else the holder deleted the file as we opened it: try again
            file.close()
        file.seek(0)
        before = file.read().strip()
        if before:
            print(f'note: taking over the lock of {before}, which has ended')
        file.seek(0)
        file.truncate()
        file.write(f'process {os.getpid()} on {socket.gethostname()} since {time.strftime("%Y-%m-%d %H:%M:%S")}\n')
        file.flush()
        self.file = file
        return self

    def release(self):
        if self.file:
            os.remove(self.path)  # before the unlock: a waiting run then opens a new file
            self.file.close()
            self.file = None
