"""tf.distribute on CPU: two logical CPUs under MirroredStrategy match one device. It runs in a
subprocess: logical devices must be set up before TensorFlow starts. That process also computes what another
process must compute the same: the data pipeline's seeded flips (tests/test_data.py)."""
import json
import subprocess
import sys

import pytest

from conftest import ROOT

LOSSES = r'''
import dataclasses
import tensorflow as tf
import config, vae_gan
from conftest import build_step

def losses(strategy_name):
    cfg = dataclasses.replace(config.mnist, strategy=strategy_name, batch_size=8)
    strategy = vae_gan.make_strategy(cfg)
    with strategy.scope():
        _, _, step = build_step(cfg)
    batch = tf.random.stateless_uniform([8, 28, 28, 1], seed=[1, 2])
    batches = iter(strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensors(batch).repeat()))
    return strategy.num_replicas_in_sync, [{k: float(v) for k, v in step(next(batches), tf.constant(1.0)).items()}
                                           for _ in range(3)]
'''
MIRRORED = r'''
import json, sys
sys.path[:0] = [sys.argv[1], sys.argv[1] + '/tests']
import run_folder
run_folder.start()  # as the scripts load TensorFlow
import tensorflow as tf
cpu = tf.config.list_physical_devices('CPU')[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
''' + LOSSES + '''
# what training's start loaded (run_folder.start, then `import vae_gan`), before anything ran
loaded = [n for n in ('sklearn', 'scipy.stats', 'matplotlib.pyplot') if n in sys.modules]
mirrored = losses('mirrored')
import pathlib, test_data
flips = [test_data._flipped_batches(pathlib.Path(sys.argv[2]), b) for b in (True, False)]
print(json.dumps([loaded, mirrored, flips]))'''


def test_mirrored_over_two_cpus_matches_one_device_and_the_flips_follow_the_seed_in_every_process(tmp_path):
    """Two logical CPUs (set up in a process of their own) against one device (in this one). That process
    also tells what a start loads: run_folder.start and `import vae_gan` load Keras without scikit-learn
    or matplotlib.pyplot (a second of every start). That both import afterwards, as prior.py and
    metrics.py need, the tests of those show: the processes running the tests load Keras the same way
    (conftest). And the same seed flips the same batches (flip_batch) or images in that other process as in
    this one: a run repeats (tests/test_data.py's pipeline)."""
    from test_data import _flipped_batches, _write_images
    _write_images(tmp_path, 20, size=(40, 36))
    result = subprocess.Popen([sys.executable, '-c', MIRRORED, ROOT, str(tmp_path)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    here = {}
    exec(LOSSES, here)
    one, single = here['losses']('default')
    flips = [_flipped_batches(tmp_path, flip_batch) for flip_batch in (True, False)]
    stdout, stderr = result.communicate(timeout=240)
    assert result.returncode == 0, stderr[-3000:]
    loaded, (two, mirrored), other = json.loads(stdout.strip().splitlines()[-1])
    assert loaded == [], stdout + stderr[-2000:]  # a start without Keras' unused extras
    assert (one, two) == (1, 2)
    for a, b in zip(single, mirrored):  # three steps: the weights after each update agree too
        for name in a:
            assert b[name] == pytest.approx(a[name], rel=1e-4, abs=1e-6), name
    assert other == flips and flips[0] != flips[1]
