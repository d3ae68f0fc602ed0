"""Shared fixtures: tiny presets, the training step on fresh weights, mocked tensorflow-datasets, and
the repository root on sys.path."""
import dataclasses
import os
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import pytest  # noqa: E402

import config  # noqa: E402


def tiny(preset, tmp_path, **overrides):
    """A preset cut down to a few small steps, writing under tmp_path."""
    fields = dict(batch_size=4, steps_per_epoch=2, epochs=1, out_dir=str(tmp_path / 'run'), histogram_every=0,
                  log_every=1, shuffle_buffer=16)
    fields.update(overrides)
    return config.validate(dataclasses.replace(preset, **fields))


def build_step(cfg, seed=0):
    """(networks, steps_done, train_step) on fresh weights fixed by `seed`, as vae_gan.build makes them
    (under a tf.distribute strategy when called in its scope)."""
    import keras
    import tensorflow as tf
    import vae_gan
    keras.utils.set_random_seed(seed)
    keras.mixed_precision.set_global_policy(config.PRECISIONS[cfg.mixed_precision])
    nets = vae_gan.build_networks(cfg)
    steps_done = tf.Variable(0, dtype=tf.int64)
    return nets, steps_done, vae_gan.make_train_step(cfg, nets, steps_done, tf.Variable(-1, dtype=tf.int64))


@pytest.fixture
def step_for():
    """build_step, with the float32 policy restored afterwards."""
    import keras
    yield build_step
    keras.mixed_precision.set_global_policy('float32')


@pytest.fixture
def mock_tfds():
    """tensorflow-datasets with random images of each dataset's real shape, no network, no files."""
    import tensorflow_datasets as tfds
    with tfds.testing.mock_data(num_examples=12):
        yield
