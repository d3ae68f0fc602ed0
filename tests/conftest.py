"""Shared fixtures: tiny presets and the repository root on sys.path."""
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


@pytest.fixture
def mock_tfds():
    """tensorflow-datasets with random images of each dataset's real shape, no network, no files."""
    import tensorflow_datasets as tfds
    with tfds.testing.mock_data(num_examples=12):
        yield
