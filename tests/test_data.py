import numpy as np
import pytest
import tensorflow as tf

import config
import data
from conftest import needs_real_mnist, tiny
from configurator import UsageError


@pytest.mark.parametrize('preset, shape, low', [
    (config.mnist, (28, 28, 1), 0.0),
    (config.fashion_mnist, (28, 28, 1), 0.0),
    (config.cifar10, (32, 32, 3), -1.0),
])
def test_tfds_train_batches(mock_tfds, tmp_path, preset, shape, low):
    cfg = tiny(preset, tmp_path)
    ds, steps = data.train_dataset(cfg, seed=0)
    batch = next(iter(ds)).numpy()
    assert steps == 2 and batch.shape == (4,) + shape and batch.dtype == np.float32
    assert batch.min() >= low and batch.max() <= 1.0 and batch.std() > 0.1


def test_celeb_a_closecrop_gives_64x64x3_in_minus_one_one_and_a_batch_per_network(mock_tfds, tmp_path):
    cfg = tiny(config.celeb_a, tmp_path)
    ds, _ = data.train_dataset(cfg, seed=0)
    batches = np.stack(next(iter(ds)))
    assert batches.shape == (3, 4, 64, 64, 3)  # fresh_batches: D, the encoder and the decoder each get their own
    assert batches.min() >= -1.0 and batches.max() <= 1.0
    assert not np.array_equal(batches[0], batches[1])
    held_out = next(iter(data.held_out_dataset(cfg, 5))).numpy()
    assert held_out.shape == (5, 64, 64, 3)


def test_closecrop_takes_the_central_140_square():
    cfg = config.celeb_a
    image = np.zeros((218, 178, 3), np.uint8)
    image[39:179, 19:159] = 255  # the central 140x140 in white
    out = data.preprocess(cfg, tf.constant(image)).numpy()
    assert out.shape == (64, 64, 3) and out.min() == 255  # nothing from outside the square


def test_pixel_ranges_round_trip():
    x = tf.constant(np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1))
    for cfg in (config.mnist, config.celeb_a):
        floats = data.to_float(cfg, x)
        assert float(tf.reduce_min(floats)) == (0.0 if cfg.arch == 'mnist' else -1.0)
        assert float(tf.reduce_max(floats)) == 1.0
        assert np.array_equal(data.to_uint8(cfg, floats).numpy(), x.numpy())


def test_without_a_known_split_size_an_epoch_needs_steps_per_epoch(mock_tfds, tmp_path):
    cfg = tiny(config.mnist, tmp_path, steps_per_epoch=None)  # mock_data has no split metadata
    with pytest.raises(UsageError, match='set --steps_per_epoch'):
        data.train_dataset(cfg, seed=0)


@needs_real_mnist
def test_an_epoch_is_the_train_split_over_the_batch_size(tmp_path):
    cfg = tiny(config.mnist, tmp_path, steps_per_epoch=None, batch_size=256)
    assert data.train_dataset(cfg, seed=0)[1] == 55000 // 256 == 214  # the original's int(55000 / 256), line 261
    cfg = tiny(config.mnist, tmp_path, steps_per_epoch=None, batch_size=256, fresh_batches=True, train_split='train')
    ds, steps = data.train_dataset(cfg, seed=0)
    assert steps == 60000 // 256 and len(next(iter(ds))) == 3  # as many steps, each of three batches: three passes


def _write_images(folder, count, size=(30, 24), start=1):
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(start, start + count):
        image = rng.integers(0, 256, size + (3,), dtype=np.uint8)
        tf.io.write_file(str(folder / f'img{i:03d}.jpg'), tf.io.encode_jpeg(image))


def test_folder_pipeline(tmp_path):
    _write_images(tmp_path / 'faces', 20)
    cfg = tiny(config.celeb_a, tmp_path, data_dir=str(tmp_path / 'faces'), image_size=32, steps_per_epoch=None)
    ds, steps = data.train_dataset(cfg, seed=0)
    assert steps == 16 // 4  # 16 train files (the last 10% are held out, the 10% before them validation), batches of 4
    batches = np.stack(next(iter(ds)))
    assert batches.shape == (3, 4, 32, 32, 3) and batches.min() >= -1 and batches.max() <= 1
    held_out = [b.numpy() for b in data.held_out_dataset(cfg, 25)]
    assert len(held_out) == 1 and held_out[0].shape == (2, 32, 32, 3)
    again = [b.numpy() for b in data.held_out_dataset(cfg, 25)]
    assert np.array_equal(held_out[0], again[0])  # a fixed order


def test_unreadable_image_is_skipped_with_a_warning(tmp_path, capfd):
    _write_images(tmp_path / 'faces', 5)
    (tmp_path / 'faces' / 'img002.jpg').write_bytes(b'not an image')
    cfg = tiny(config.mnist, tmp_path, data_dir=str(tmp_path / 'faces'), batch_size=1, cache=False)
    images, count = data._images(cfg, 'train', shuffle=False)
    decoded = list(images)
    assert count == 3 and len(decoded) == 2  # 3 train files (then 1 validation, 1 test), one unreadable
    assert decoded[0].shape == (28, 28, 1)
    err = capfd.readouterr().err
    assert 'warning: skipping' in err and 'img002.jpg' in err


def test_split_files():
    names = [f'{i:06d}.jpg' for i in (1, 2, 162770, 162771, 182637, 182638, 202599)]
    assert data.split_files(names, 'train') == names[:3]  # CelebA's official partition
    assert data.split_files(names, 'validation') == names[3:5]
    assert data.split_files(names, 'test') == names[5:]
    assert data.split_files(names, 'train+validation') == names[:5]
    other = [f'x{i}.png' for i in range(30)]
    assert data.split_files(list(reversed(other)), 'train') == sorted(other)[:24]
    assert data.split_files(other, 'validation') == sorted(other)[24:27]  # the 10% before the test part
    assert data.split_files(other, 'test') == sorted(other)[27:]
    toy = [f'{i:06d}.jpg' for i in range(1, 21)]  # numbered, but no validation or test part
    assert data.split_files(toy, 'train') == toy[:16] and data.split_files(toy, 'test') == toy[18:]
    assert data.split_files(['a.png', 'b.png'], 'validation') == data.split_files(['a.png', 'b.png'], 'test') == ['b.png']


@pytest.mark.parametrize('make, message', [
    (lambda p: str(p / 'missing'), 'is not a folder'),
    (lambda p: (p / 'empty').mkdir() or str(p / 'empty'), 'holds no images'),
])
def test_bad_folders(tmp_path, make, message):
    cfg = tiny(config.mnist, tmp_path, data_dir=make(tmp_path))
    with pytest.raises(UsageError, match=message):
        data.train_dataset(cfg, seed=0)


def test_no_network_gives_one_clear_message(tmp_path, monkeypatch):
    import tensorflow_datasets as tfds
    monkeypatch.setattr(tfds.core.DatasetBuilder, 'is_prepared', lambda self: False)
    monkeypatch.setattr(tfds.core.DatasetBuilder, 'download_and_prepare',
                        lambda self, **kwargs: (_ for _ in ()).throw(ConnectionError('no route to host')))
    with pytest.raises(UsageError, match='could not download mnist .*TFDS_DATA_DIR.*--data_dir'):
        data.train_dataset(tiny(config.mnist, tmp_path), seed=0)
    # without a name service the message says so (and tensorflow-datasets' progress bars are off)
    import socket
    monkeypatch.setattr(socket, 'getaddrinfo', lambda *a: (_ for _ in ()).throw(socket.gaierror(-2, 'Name or service not known')))
    with pytest.raises(data.Unavailable, match=r'could not download mnist \(no network: storage.googleapis.com: Name or '
                                               r'service not known\): set TFDS_DATA_DIR'):
        data.train_dataset(tiny(config.mnist, tmp_path), seed=0)
    monkeypatch.setenv('HTTPS_PROXY', 'http://proxy:3128')  # a proxy may reach out without a name service
    assert data.offline() == ''


def test_paper_crop_box_and_blur():
    cfg = config.celeb_a_paper
    image = np.zeros((218, 178, 3), np.uint8)
    image[40:188, 15:163] = 200  # the 148x148 box in grey
    image[40:188, 89:163] = 100  # its right half darker: an edge down the middle
    out = data.preprocess(cfg, tf.constant(image)).numpy().astype(int)
    assert out.shape == (64, 64, 3)
    assert np.all(out[:, :20] == 200) and np.all(out[:, 44:] == 100)  # nothing from outside the box
    edge = out[32, 28:36, 0]
    assert 100 < edge[3] < 200 or 100 < edge[4] < 200  # the blur softens the edge
    assert np.all(np.diff(edge) <= 0)


def test_celeb_a_paper_reads_celeb_a_train_and_validation(mock_tfds, tmp_path):
    cfg = tiny(config.celeb_a_paper, tmp_path)
    batch = next(iter(data.train_dataset(cfg, seed=0)[0])).numpy()
    assert batch.shape == (4, 64, 64, 3) and batch.min() >= -1 and batch.max() <= 1
    assert next(iter(data.held_out_dataset(cfg, 3))).shape == (3, 64, 64, 3)


def _flipped_batches(folder, flip_batch):
    """A hash of 64 batches of the paper preset's flipped pipeline on `folder`, seed 3, after the global
    seed is set as vae_gan.build sets it (the shuffles' op seeds combine with it)."""
    import hashlib
    tf.keras.utils.set_random_seed(3)
    cfg = tiny(config.celeb_a_paper, folder, data_dir=str(folder), image_size=32, crop_box='', blur_sigma=0.5,
               batch_size=2, shuffle_buffer=2, flip_batch=flip_batch)
    ds, _ = data.train_dataset(cfg, seed=3)
    return hashlib.sha256(b''.join(b.numpy().tobytes() for b in ds.take(64))).hexdigest()


# The flips following the seed in every process: tests/test_distribute.py's process of its own computes them too
# (one TensorFlow start for both).
