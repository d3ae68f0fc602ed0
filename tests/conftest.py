"""Shared fixtures: tiny presets, the training step on fresh weights, mocked tensorflow-datasets, one
folder of random 'digits' and one tiny trained run (each made once per test run and shared), and
the repository root on sys.path."""
import contextlib
import dataclasses
import fcntl
import os
import shutil
import signal
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import pytest  # noqa: E402

import configurator  # noqa: E402
import run_folder  # noqa: E402

# The shared run's settings: 2 steps of 4 images an epoch, a checkpoint and grids every epoch; the
# tests' folders of 28x28 grey 'digits' scored with MNIST's feature networks.
TINY = ['--batch_size=4', '--steps_per_epoch=2', '--log_every=1', '--histogram_every=0', '--shuffle_buffer=16',
        '--checkpoint_every=1', '--sample_every=1', '--z_dim=8', '--metric_features=classifier,mlp']


def pytest_xdist_auto_num_workers(config):
    """`-n auto` (pytest.ini): half again as many workers as cores, 3 on 2. Much of a test's time is one
    core tracing a graph in Python, or waiting for a process it started, so a third worker fills what
    two leave idle (on 2 idle cores the suite is faster with 3 workers than with 2).
    PYTEST_XDIST_AUTO_NUM_WORKERS, pytest-xdist's own setting, still decides when set."""
    if os.environ.get('PYTEST_XDIST_AUTO_NUM_WORKERS'):
        return None  # pytest-xdist's own hook reads it
    cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count() or 1
    return cores + cores // 2


def tiny(preset, tmp_path, **overrides):
    """A preset cut down to a few small steps, writing under tmp_path. A folder of images (data_dir) is
    scored with MNIST's feature networks: the tests' folders hold 28x28 grey 'digits'."""
    fields = dict(batch_size=4, steps_per_epoch=2, epochs=1, out_dir=str(tmp_path / 'run'), histogram_every=0,
                  log_every=1, shuffle_buffer=16)
    if 'data_dir' in overrides and preset.arch == 'mnist':
        fields['metric_features'] = 'classifier,mlp'

    fields.update(overrides)
    return configurator.checked(dataclasses.replace(preset, **fields))


def build_step(cfg, seed=0):
    """(networks, steps_done, train_step) on fresh weights fixed by `seed`, as vae_gan.build makes them
    (under a tf.distribute strategy when called in its scope)."""
    import keras
    import tensorflow as tf
    import models
    import vae_gan
    keras.utils.set_random_seed(seed)
    keras.mixed_precision.set_global_policy(configurator.PRECISIONS[cfg.mixed_precision])
    nets = models.build_networks(cfg)
    steps_done = tf.Variable(0, dtype=tf.int64)
    return nets, steps_done, vae_gan.make_train_step(cfg, nets, steps_done, tf.Variable(-1, dtype=tf.int64))


def gradients_of(step, cfg, nets, x, kl_weight, noise):
    """(scalars, {network: gradients}) of vae_gan's `step` (original_step or one_pass_step) on batch x, or
    fresh_batches' three, with no weight moved (every learning rate 0 for the call): each network's
    gradient against the weights of before the step."""
    import models
    batches = tuple(x) if cfg.fresh_batches else (x, x, x)
    optimizers = [models.unscaled(o) for o in nets.optimizers.values()]
    rates = [float(o.learning_rate) for o in optimizers]
    for o in optimizers:
        o.learning_rate = 0.0
    try:
        return step(cfg, nets, batches, kl_weight, noise)
    finally:
        for o, rate in zip(optimizers, rates):
            o.learning_rate = rate


def write_digits(folder, count=40, seed=0):
    """`count` random 28x28 grey PNGs 000.png ... in `folder`; of 40, a folder run trains on the first
    32, scores on the next 4 (validation) and holds out the last 4 (test; 10% each, by name)."""
    import numpy as np
    import tensorflow as tf
    os.makedirs(folder)
    rng = np.random.default_rng(seed)
    for i in range(count):
        tf.io.write_file(os.path.join(folder, f'{i:03d}.png'),
                         tf.io.encode_png(rng.integers(0, 256, (28, 28, 1), np.uint8)))
    return folder


needs_real_mnist = pytest.mark.real_mnist  # skipped unless TFDS_DATA_DIR holds a prepared MNIST


def pytest_configure(config):
    config.addinivalue_line('markers', 'real_mnist: reads the real MNIST (TFDS_DATA_DIR)')
    if hasattr(config, 'workerinput') or not config.getoption('numprocesses', None):  # a process that runs tests
        run_folder.start()  # TensorFlow loaded as the scripts load it, a second sooner


def pytest_collection_modifyitems(config, items):
    """Skips the real_mnist tests unless TFDS_DATA_DIR holds a prepared MNIST (no network here:
    tensorflow-datasets cannot download). Asked here, where tests are collected, not when conftest is
    imported: pytest-xdist's controller and the scripts the tests start import it too, and
    tensorflow-datasets would load TensorFlow in each (5 s)."""
    marked = [item for item in items if item.get_closest_marker('real_mnist')]
    if marked and not (os.environ.get('TFDS_DATA_DIR') and _mnist_is_prepared()):
        for item in marked:
            item.add_marker(pytest.mark.skip(reason='needs TFDS_DATA_DIR pointing at a prepared MNIST copy'))


def _mnist_is_prepared():
    import tensorflow_datasets as tfds
    return tfds.builder('mnist').is_prepared()


@pytest.fixture(autouse=True)
def keep_signal_handlers():
    """A script's main() installs its Ctrl-C / kill handlers: every test gets the process's own back."""
    handlers = {s: signal.getsignal(s) for s in run_folder.SIGNALS}
    yield
    for s, handler in handlers.items():
        signal.signal(s, handler)
    run_folder._STOPPING.clear()  # (a test that calls the handler itself)


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


@contextlib.contextmanager
def _made_once(tmp_path_factory, name):
    """(path, ready): a folder shared by every process of this test run (pytest-xdist's workers too),
    and whether another process has made it already; the body, under a file lock, makes it if not."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get('PYTEST_XDIST_WORKER'):  # each worker's base folder lies in the run's own
        root = root.parent
    with open(root / f'{name}.lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        path = root / 'shared' / name
        yield path, (root / 'shared' / f'{name}.ready').exists()
        (root / 'shared' / f'{name}.ready').touch()


@pytest.fixture(scope='session')
def digits(tmp_path_factory):
    """40 random 'digits' (32 train, 4 validation, 4 held out), written once per test run; tests only read them."""
    with _made_once(tmp_path_factory, 'digits') as (path, ready):
        return path if ready else write_digits(path)


@pytest.fixture(scope='session')
def trained_run(digits, tmp_path_factory):
    """The one tiny trained run the tests share: `python vae_gan.py` with TINY on `digits`, 2 epochs,
    so out_dir holds ckpt-1, ckpt-2, two frames of grids, logs and config.json; trained once per test
    run. Read it only (a test that writes or damages a run takes `run_copy`): a change fails at the end."""
    import vae_gan
    with _made_once(tmp_path_factory, 'run') as (out, ready):
        if not ready:
            handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
            vae_gan.main(TINY + [f'--data_dir={digits}', f'--out_dir={out}', '--epochs=2'])
            for s, handler in handlers.items():  # main() installs its own Ctrl-C / kill handlers
                signal.signal(s, handler)
    before = contents(out)
    yield out
    assert contents(out) == before, 'a test changed the shared trained run: take run_copy instead'


def contents(folder):
    """{path: sha256} of every file under folder."""
    import hashlib
    return {os.path.relpath(os.path.join(d, f), folder): hashlib.sha256(open(os.path.join(d, f), 'rb').read()).hexdigest()
            for d, _, files in os.walk(folder) for f in files}


@pytest.fixture
def run_copy(trained_run, tmp_path):
    """A copy of the shared trained run, to write into or damage."""
    shutil.copytree(trained_run, tmp_path / 'run')
    return tmp_path / 'run'


@pytest.fixture(scope='session')
def faces(tmp_path_factory):
    """A CelebA-like run on 24 random 'faces' with a list_attr_celeba.txt; Smiling on every other image,
    all young; trained once in each test process that takes it."""
    import numpy as np
    import tensorflow as tf
    import config
    import data
    import vae_gan
    root = tmp_path_factory.mktemp('faces')
    folder = root / 'img_align_celeba'
    folder.mkdir()
    rng = np.random.default_rng(0)
    lines = ['24', ' '.join(data.CELEB_A_ATTRIBUTES)]
    for i in range(24):
        name = f'face{i:02d}.jpg'
        tf.io.write_file(str(folder / name), tf.io.encode_jpeg(rng.integers(0, 256, (40, 32, 3), np.uint8)))
        values = ['1' if (a == 'Smiling' and i % 2) or a == 'Young' else '-1' for a in data.CELEB_A_ATTRIBUTES]
        lines.append(f'{name} ' + ' '.join(values))
    (folder / 'list_attr_celeba.txt').write_text('\n'.join(lines) + '\n')  # CelebA's own name
    # the celeb_a preset (a folder with list_attr_celeba.txt, fresh batches) on the small MNIST networks: the
    # attribute vectors come from any encoder, and these networks trace in half the time
    cfg = tiny(config.celeb_a, root, data_dir=str(folder), image_size=32, z_dim=8, arch='mnist')
    vae_gan.train(cfg)
    return cfg


def fake_scores(fid):
    """What metrics.evaluate returns, with the FID a test scripts (one feature space)."""
    return {'features': {'classifier': {'fid': float(fid), 'kid': 0.0, 'precision': 0.5, 'recall': 0.5}},
            'mse': 0.1, 'ssim': 0.5, 'images': 4, 'kid_subsets': 1, 'kid_subset_size': 4}

