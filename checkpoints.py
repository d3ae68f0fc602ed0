"""Checkpoints: where they are, whether one fits a config, restoring one. Both scripts use these.

A training checkpoint (vae_gan.py) holds the encoder, decoder and discriminator, their optimizers
(without loss scaling, so runs can switch precision), the epoch and step counters and the sample
grids' latent; an exported one (vae_gan_inference.py --export) the encoder, decoder and epoch.
"""
import os

import tensorflow as tf

import config
from config import UsageError


def folder(out_dir):
    return os.path.join(out_dir, 'checkpoints')


def latest(path):
    """The newest checkpoint in the folder `path`, or None."""
    return tf.train.latest_checkpoint(path)


def epoch_of(path):
    """The number of epochs the checkpoint at path had trained."""
    return int(tf.train.load_checkpoint(path).get_tensor('epoch/.ATTRIBUTES/VARIABLE_VALUE'))


def check_same_model(out_dir, saved, asked, fix):
    """Refuses, before anything is touched, a config that asks for another model than the one whose
    checkpoints out_dir holds: `saved` is out_dir's config, `asked` {field: value} what was asked for."""
    for field in ('preset',) + config.ARCH_FIELDS:
        if field in asked and asked[field] != getattr(saved, field):
            kind = 'preset' if field == 'preset' else 'model'
            raise UsageError(f'{out_dir} holds a checkpoint of another {kind} ({field}={getattr(saved, field)!r} '
                             f'there, {asked[field]!r} asked for): {fix.replace("{field}", field)}')


def restore(checkpoint, path, fix, partial=False):
    """Restores the tf.train.Checkpoint from path; a checkpoint of other shapes is one UsageError.
    partial: the checkpoint may hold more than `checkpoint` asks for (inference needs no discriminator)."""
    try:
        status = checkpoint.restore(path)
        (status.expect_partial() if partial else status).assert_existing_objects_matched()
    except (ValueError, AssertionError, tf.errors.OpError) as e:
        raise UsageError(f'{path} is a checkpoint of another architecture ({type(e).__name__}): {fix}') from e
