"""Input pipelines: images from tensorflow-datasets (`cfg.dataset`) or a folder (`--data_dir`) as float
batches in the decoder's range; uint8 until batched (small to cache, cheap to shuffle).
"""
import math
import os
import shutil
import sys

import tensorflow as tf

import run_folder
from configurator import UsageError, not_utf8

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.gif')
# Each format's first bytes and last bytes (a truncated download lacks the end): JPEG's EOI marker,
# PNG's IEND chunk, GIF's trailer; a BMP has no end marker.
IMAGE_ENDS = ((b'\xff\xd8\xff', b'\xff\xd9'), (b'\x89PNG', b'IEND\xaeB`\x82'), (b'GIF8', b';'), (b'BM', b''))
CELEB_A_ATTRIBUTES = (  # the 40 binary attributes, in list_attr_celeba.txt's order
    '5_o_Clock_Shadow', 'Arched_Eyebrows', 'Attractive', 'Bags_Under_Eyes', 'Bald', 'Bangs', 'Big_Lips',
    'Big_Nose', 'Black_Hair', 'Blond_Hair', 'Blurry', 'Brown_Hair', 'Bushy_Eyebrows', 'Chubby', 'Double_Chin',
    'Eyeglasses', 'Goatee', 'Gray_Hair', 'Heavy_Makeup', 'High_Cheekbones', 'Male', 'Mouth_Slightly_Open',
    'Mustache', 'Narrow_Eyes', 'No_Beard', 'Oval_Face', 'Pale_Skin', 'Pointy_Nose', 'Receding_Hairline',
    'Rosy_Cheeks', 'Sideburns', 'Smiling', 'Straight_Hair', 'Wavy_Hair', 'Wearing_Earrings', 'Wearing_Hat',
    'Wearing_Lipstick', 'Wearing_Necklace', 'Wearing_Necktie', 'Young')
# The pipelines' functions branch on settings only (tf.cond where on a tensor): traced as written, not
# converted by AutoGraph first: less work at every start.
plain = tf.autograph.experimental.do_not_convert
# A folder's labels, beside its images: CelebA's attribute list, or any list in its format.
LABEL_FILES = ('list_attr_celeba.txt', 'labels.txt')
CELEB_A_TRAIN_END, CELEB_A_VALIDATION_END = 162770, 182637  # the official partition's file numbers
# What decides the images of a split: the caches of their features (metrics.py) and codes (prior.py) key on it.
IMAGE_FIELDS = ('dataset', 'data_dir', 'image_size', 'channels', 'crop_fraction', 'crop_box', 'blur_sigma',
                'resize_method')


def check_crop_box(cfg, height, width, images):
    """One UsageError if crop_box reaches beyond images of height x width: every image would be skipped."""
    if not cfg.crop_box:
        return
    top, left, box_height, box_width = (int(v) for v in cfg.crop_box.split(','))
    if top + box_height > height or left + box_width > width or not box_height or not box_width:
        raise UsageError(f'crop_box {cfg.crop_box} (top,left,height,width) reaches beyond {images}, {width} wide and '
                         f'{height} high: pass a box inside them, such as --crop_box=0,0,{min(height, width)},'
                         f'{min(height, width)}')


def _gaussian_blur(image, sigma):
    """A separable Gaussian blur of a float HxWxC image, radius 3 sigma, edges reflected."""
    radius = max(1, int(math.ceil(3 * sigma)))
    taps = tf.exp(-0.5 * (tf.range(-radius, radius + 1, dtype=tf.float32) / sigma) ** 2)
    taps /= tf.reduce_sum(taps)
    channels = image.shape[-1]
    image = tf.pad(image[None], [[0, 0], [radius, radius], [radius, radius], [0, 0]], mode='REFLECT')
    for kernel in (tf.reshape(taps, [-1, 1, 1, 1]), tf.reshape(taps, [1, -1, 1, 1])):
        image = tf.nn.depthwise_conv2d(image, tf.tile(kernel, [1, 1, channels, 1]), [1, 1, 1, 1], 'VALID')
    return image[0]


def preprocess(cfg, image):
    """uint8 HxWxC -> uint8 image_size x image_size x channels: crop_box, else the central square; the blur;
    a resize if the size differs (antialiased unless the blur already did that job)."""
    if cfg.crop_box:
        top, left, height, width = (int(v) for v in cfg.crop_box.split(','))
        image = tf.image.crop_to_bounding_box(image, top, left, height, width)
    elif cfg.crop_fraction < 1 or image.shape[0] is None or image.shape[0] != image.shape[1]:
        height, width = tf.shape(image)[0], tf.shape(image)[1]
        side = tf.cast(tf.round(tf.cast(tf.minimum(height, width), tf.float32) * cfg.crop_fraction), tf.int32)
        image = tf.image.crop_to_bounding_box(image, (height - side) // 2, (width - side) // 2, side, side)
    if cfg.blur_sigma:
        image = _gaussian_blur(tf.cast(image, tf.float32), cfg.blur_sigma)
    if image.shape[0] != cfg.image_size or cfg.blur_sigma:
        image = tf.image.resize(image, [cfg.image_size, cfg.image_size], method=cfg.resize_method,
                                antialias=not cfg.blur_sigma)
        image = tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)
    return tf.ensure_shape(image, [cfg.image_size, cfg.image_size, cfg.channels])


def to_unit(cfg, images):
    """Images in the decoder's range ([0, 1] for the mnist family's sigmoid, else tanh's [-1, 1]) -> [0, 1]."""
    return images if cfg.arch == 'mnist' else (images + 1.0) / 2.0


def to_float(cfg, images):
    """uint8 -> float32 in the decoder's range, the inverse of to_unit after / 255."""
    images = tf.cast(images, tf.float32) / 255.0
    return images if cfg.arch == 'mnist' else images * 2.0 - 1.0


def to_uint8(cfg, images):
    """The inverse of to_float, for writing images."""
    return tf.cast(tf.round(tf.clip_by_value(to_unit(cfg, images), 0.0, 1.0) * 255.0), tf.uint8)


def offline():
    """Why no download can work ('storage.googleapis.com: no such host'), or '' when the name service
    answers or a proxy is set (a proxy may reach out without one)."""
    import socket
    if any(os.environ.get(v) for v in ('https_proxy', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY')):
        return ''
    try:
        socket.getaddrinfo('storage.googleapis.com', 443)
    except OSError as e:
        return f'storage.googleapis.com: {e.strerror or e}'
    return ''


class Unavailable(UsageError):
    """A dataset that tensorflow-datasets could not download: what needs no data can go on without it."""


def _download(builder, name):
    """Downloads and prepares a tensorflow-datasets dataset; on failure, one Unavailable error, the folders the
    attempt made removed and urllib3's retry warnings silenced for good (other threads would print theirs after)."""
    import logging
    from tensorflow_datasets.core.download import downloader
    import tensorflow_datasets as tfds
    there = root = os.path.dirname(os.path.dirname(builder.data_dir))  # .../tensorflow_datasets
    while not os.path.isdir(there):  # up to the folder the download would make its own in
        if os.path.lexists(there):  # (TFDS_DATA_DIR a file): said so, not blamed on the network
            raise Unavailable(f'tensorflow-datasets cannot keep {name} in {builder.data_dir}: {there} is not a '
                              f'folder; set TFDS_DATA_DIR to a folder, or --data_dir to a folder of images')
        there = os.path.dirname(there)
    why = offline()
    if why:  # not even a name service: the attempt fails at once, without its progress bars
        tfds.disable_progress_bar()
    else:
        print(f'{name} is not prepared in {builder.data_dir}: downloading it with tensorflow-datasets')
    downloader.MAX_RETRIES = min(downloader.MAX_RETRIES, 3)  # not 10 times with back-off: minutes offline
    watched = [root, os.path.join(root, 'downloads'), os.path.join(root, 'downloads', name),
               os.path.join(root, 'downloads', 'extracted'), os.path.join(root, name), builder.data_dir]
    new = [path for path in watched if not os.path.exists(path)]
    logging.getLogger('urllib3').setLevel(logging.ERROR)
    try:
        builder.download_and_prepare()
    except BaseException as e:  # any failure means the same to the user: no dataset
        for path in new:  # outermost first: what the attempt made, with its partial files (a Ctrl-C's too)
            shutil.rmtree(path, ignore_errors=True)
        if not isinstance(e, Exception):
            raise
        raise Unavailable(
            f'tensorflow-datasets could not download {name} ({f"no network: {why}" if why else type(e).__name__}): '
            f'set TFDS_DATA_DIR to a folder holding a prepared copy, or --data_dir to a folder of images') from e


def _check_splits(cfg, splits):
    """One UsageError for a split flag naming a split the dataset does not have (none: mock_data's, unchecked)."""
    for flag in ('train_split', 'held_out_split', 'validation_split'):
        for part in filter(None, getattr(cfg, flag).split('+')):
            name = part.split('[')[0].strip()
            if splits and name not in splits:
                raise UsageError(f'{cfg.dataset} has the splits {" and ".join(sorted(splits))}, not {name!r}: '
                                 f'pass one of them to --{flag}')


def _builder(cfg):
    import tensorflow_datasets as tfds  # imported here: it is slow and only this path needs it
    try:
        return tfds.builder(cfg.dataset)
    except tfds.core.registered.DatasetNotFoundError as e:
        raise UsageError(f'tensorflow-datasets has no dataset {cfg.dataset!r}: pass a tfds name with --dataset, '
                         f'or --data_dir for a folder of images') from e


def _tfds_images(cfg, split, shuffle, seed, with_labels=False):
    """(uint8 images, their number or None) of a tensorflow-datasets split; with_labels: (image, [K] 0/1)."""
    import tensorflow_datasets as tfds
    builder = _builder(cfg)
    if not builder.is_prepared():
        _download(builder, cfg.dataset)
    _check_splits(cfg, builder.info.splits)
    shape = builder.info.features['image'].shape if 'image' in builder.info.features else None
    if shape and None not in shape[:2]:  # MNIST's 28x28, CelebA's 218x178
        check_crop_box(cfg, shape[0], shape[1], f"{cfg.dataset}'s images")
    ds = builder.as_dataset(split=split, shuffle_files=shuffle, read_config=tfds.ReadConfig(shuffle_seed=seed))
    try:
        count = builder.info.splits[split].num_examples
    except KeyError:  # no split metadata (tfds.testing.mock_data)
        count = None
    if with_labels:
        labels = _tfds_labels(cfg, builder.info.features)[1]
        return ds.map(plain(lambda example: (preprocess(cfg, example['image']), labels(example))),
                      num_parallel_calls=tf.data.AUTOTUNE), count
    return ds.map(plain(lambda example: preprocess(cfg, example['image'])), num_parallel_calls=tf.data.AUTOTUNE), count


def split_files(names, split):
    """The sorted file names of `split` ('train', 'validation', 'test' or a '+' of them; a [slice] ignored).
    CelebA's numbered files follow the official partition when all three parts have files; in any other
    folder the last 10% are the test part and the 10% before them the validation part (under 3 images:
    the last serves as both)."""
    names = sorted(names)
    stems = [os.path.splitext(name)[0] for name in names]
    parts = {'train': [], 'validation': [], 'test': []}
    if all(stem.isdigit() for stem in stems):
        for name, number in zip(names, map(int, stems)):
            parts['train' if number <= CELEB_A_TRAIN_END else
                  'validation' if number <= CELEB_A_VALIDATION_END else 'test'].append(name)
    if not all(parts.values()):  # not CelebA's numbering, or not all of it
        n, tenth = len(names), max(1, len(names) // 10)
        test, validation = (n - tenth, n - 2 * tenth) if n > 2 * tenth else (max(1, n - 1),) * 2
        parts = {'train': names[:validation], 'validation': names[validation:test] or names[-1:],
                 'test': names[test:] or names[-1:]}
    wanted = [p.split('[')[0].strip() for p in split.split('+')]  # a tfds [slice] does not apply here
    unknown = [p for p in wanted if p not in parts]
    if unknown:
        raise UsageError(f'a folder has the splits train, validation and test, not {unknown[0]!r}')
    return sorted(set(n for p in wanted for n in parts[p]))


def label_file(folder):
    """The folder's labels file (the first of LABEL_FILES there), or None."""
    return next((os.path.join(folder, n) for n in LABEL_FILES if os.path.lexists(os.path.join(folder, n))), None)


def read_labels(folder, names):
    """(the K label names, [[0/1] * K] for each of `names`) from the folder's labels file, in list_attr_celeba.txt's
    format: line 1 a count, line 2 the K names, then `file v1 ... vK` of 1 / -1 (CelebA's: 26 MB; 256 at most)."""
    path = label_file(folder)
    if not path:
        raise UsageError(f'{folder} has no labels: a {LABEL_FILES[1]} beside its images (line 1 the count, line 2 the '
                         f'names, then `FILE 1 -1 ...` for each image, as CelebA\'s {LABEL_FILES[0]}) gives it some')
    try:
        lines = run_folder.read_bytes(path, 1 << 28).decode(errors='replace').split('\n')
        labels = tuple(lines[1].split())
        if not labels:
            raise IndexError
    except (run_folder.Unreadable, IndexError) as e:
        why = e if isinstance(e, run_folder.Unreadable) else 'its second line names no labels'
        raise UsageError(f'{path} does not read as a labels file ({why}): line 1 the count, line 2 the names, '
                         f'then `FILE 1 -1 ...` for each image') from e
    table = {}
    for line in lines[2:]:
        fields = line.split()
        if fields:
            table[fields[0]] = ([float(value == '1') for value in fields[1:]] + [0.0] * len(labels))[:len(labels)]
    missing = [n for n in names if n not in table]
    if missing:
        raise UsageError(f'{path} lists no labels for {missing[0]} (and {len(missing) - 1} more)')
    return labels, [table[n] for n in names]


def _tfds_labels(cfg, features):
    """(names, example -> [K] 0/1) of a tensorflow-datasets dataset: one-hot classes of a ClassLabel 'label'
    (MNIST's '0'..'9'), or CelebA's 40 'attributes'."""
    if 'label' in features and getattr(features['label'], 'names', None):
        names = tuple(features['label'].names)
        return names, lambda example: tf.one_hot(example['label'], len(names))
    if 'attributes' in features:
        return CELEB_A_ATTRIBUTES, lambda example: tf.stack(
            [tf.cast(example['attributes'][a], tf.float32) for a in CELEB_A_ATTRIBUTES])
    raise UsageError(f'{cfg.dataset} has no labels (no ClassLabel `label`, no `attributes`): pass --data_dir, a '
                     f'folder of its images with a {LABEL_FILES[1]}')


def label_names(cfg):
    """The names of the data's labels (_tfds_labels, read_labels), or one UsageError saying what would give some."""
    return read_labels(cfg.data_dir, [])[0] if cfg.data_dir else _tfds_labels(cfg, _builder(cfg).info.features)[0]


def _to_channels(image, channels):
    """A decoded grey, grey + alpha, RGB or RGBA image as `channels` (1 or 3): alpha dropped, grey or colour made."""
    colour = tf.shape(image)[-1] >= 3
    rgb = lambda: tf.ensure_shape(image[..., :3], [None, None, 3])
    if channels == 1:
        return tf.cond(colour, lambda: tf.image.rgb_to_grayscale(rgb()), lambda: image[..., :1])
    return tf.cond(colour, rgb, lambda: tf.image.grayscale_to_rgb(image[..., :1]))


COLOURS = {1: 'grey', 2: 'grey with alpha', 3: 'RGB', 4: 'RGBA'}  # a decoded image's channels
MAX_IMAGE_BYTES = 64 << 20  # a larger file is no image anyone means to train on: skipped unread
_SKIPPED = set()  # the paths already warned about


def _unreadable(folder, name):
    """Why the data folder's file `name` is never read, or '' if it may be: only a regular file (or a link
    to one) of at most MAX_IMAGE_BYTES, whose name TensorFlow's UTF-8 strings can hold. os.stat opens nothing."""
    if not_utf8(name):  # os.listdir escapes non-UTF-8 bytes
        return 'its name is not UTF-8: rename the file'
    try:
        info = os.stat(os.path.join(folder, name))
    except OSError as e:
        return e.strerror or str(e)
    if run_folder.kind(info.st_mode):
        return f'not a regular file but {run_folder.kind(info.st_mode)}'
    if info.st_size > MAX_IMAGE_BYTES:
        return f'{info.st_size:,} bytes, over the {MAX_IMAGE_BYTES >> 20} MB an image may have'
    return ''


def picture_files(folder):
    """The sorted image file names in `folder` that _unreadable passes, the others skipped with one warning each."""
    names = []
    for name in sorted(n for n in os.listdir(folder) if n.lower().endswith(IMAGE_EXTENSIONS)):
        path, why = os.path.join(folder, name), _unreadable(folder, name)
        if why and path not in _SKIPPED:
            print(f'warning: skipping {path!a} ({why})', file=sys.stderr)
            _SKIPPED.add(path)
        if not why:
            names.append(name)
    return names


def folder_files(cfg, split):
    """The image file names of `split` in cfg.data_dir (picture_files); one UsageError for a folder that is
    missing or holds no images."""
    if not os.path.isdir(cfg.data_dir):
        raise UsageError(f'data_dir {cfg.data_dir!r} is not a folder: point --data_dir at a folder of images')
    names = picture_files(cfg.data_dir)
    if not names:
        raise UsageError(f'data_dir {cfg.data_dir!r} holds no images ({", ".join(IMAGE_EXTENSIONS)})')
    return split_files(names, split)


def read_picture(cfg, path):
    """(uint8 image, how it was read in words): a picture file as the training images are read (the rules of
    _unreadable and IMAGE_ENDS, _to_channels, preprocess). For mnist and fashion_mnist, whose images are light
    on dark, a picture whose border is mostly light is inverted. run_folder.Unreadable(why) if it does not read."""
    why = _unreadable(os.path.dirname(path) or '.', os.path.basename(path))
    try:
        contents = b'' if why else run_folder.read_bytes(path, MAX_IMAGE_BYTES)
        if not why and not any(contents.startswith(head) and contents.endswith(end) for head, end in IMAGE_ENDS):
            why = 'not a complete JPEG, PNG, GIF or BMP image'
        decoded = None if why else tf.io.decode_image(contents, expand_animations=False)
    except (run_folder.Unreadable, tf.errors.OpError, ValueError) as e:
        why = str(e) if isinstance(e, run_folder.Unreadable) else 'damaged inside'
    if why:
        raise run_folder.Unreadable(why)
    height, width, colours = decoded.shape
    check_crop_box(cfg, height, width, path)
    image = preprocess(cfg, _to_channels(decoded, cfg.channels)).numpy()
    box = cfg.crop_box.split(',')[2:] if cfg.crop_box else [round(min(height, width) * cfg.crop_fraction)] * 2
    light = (image[[0, -1]] > 127).sum() + (image[:, [0, -1]] > 127).sum()  # the border's light pixels
    inverted = cfg.dataset in ('mnist', 'fashion_mnist') and light > image[[0, -1]].size  # over half of them
    words = (f'{path}: {width}x{height} {COLOURS.get(colours, f"{colours}-channel")}, '
             + (f'the box {cfg.crop_box}' if cfg.crop_box else f'its central {box[1]}x{box[0]}')
             + f', seen at {cfg.image_size}x{cfg.image_size} {COLOURS[cfg.channels]}'
             + (f', inverted (its border is light; {cfg.dataset}\'s images are light on dark)' if inverted else ''))
    return (255 - image if inverted else image), words


def describe_folder(cfg):
    """One line: what data_dir holds and what the networks see of it, with the flags that change that."""
    names = folder_files(cfg, 'train+validation+test')
    first = 'none of which reads'
    for name in names[:10]:  # the first image that decodes
        try:
            h, w, c = tf.io.decode_image(tf.io.read_file(os.path.join(cfg.data_dir, name)),
                                         expand_animations=False).shape
            first = f'the first {w}x{h} {COLOURS.get(c, f"{c}-channel")}'
            check_crop_box(cfg, h, w, f'the first image of {cfg.data_dir} ({name})')
            break
        except (tf.errors.OpError, ValueError):
            continue
    crop = (f'the box {cfg.crop_box} of each' if cfg.crop_box else
            f'the central {cfg.crop_fraction:.0%} of each square' if cfg.crop_fraction < 1 else 'each, squared')
    return (f'{cfg.data_dir}: {len(names)} images, {first}; the networks see {crop}, resized to {cfg.image_size}x'
            f'{cfg.image_size} {COLOURS[cfg.channels]} (--image_size, --channels, --crop_fraction change that'
            + ('; --preset=celeb_a for colour at 64x64' if cfg.arch == 'mnist' and cfg.channels == 1 else '') + ')')


def _folder_images(cfg, split, shuffle, seed, with_labels=False):
    """(uint8 images, number of files) in cfg.data_dir; with_labels: (image, [K] 0/1 from its labels file)."""
    names = folder_files(cfg, split)
    files = [os.path.join(cfg.data_dir, n) for n in names]
    labels = read_labels(cfg.data_dir, names)[1] if with_labels else [[]] * len(files)  # [files, K or 0]
    ds = tf.data.Dataset.from_tensor_slices((files, tf.constant(labels, tf.float32)))
    if shuffle:  # file names are cheap to shuffle all at once, decoded images are not
        ds = ds.shuffle(len(files), seed=seed)

    def read(path, labels):
        contents = tf.io.read_file(path)
        size = tf.strings.length(contents)
        is_image = tf.reduce_any([(tf.strings.substr(contents, 0, len(head)) == head) &
                                  (tf.strings.substr(contents, tf.maximum(size - len(end), 0), len(end)) == end)
                                  for head, end in IMAGE_ENDS])
        tf.cond(is_image, tf.no_op, lambda: tf.print(
            'warning: skipping', path, '(not a complete JPEG, PNG, GIF or BMP image)', output_stream=sys.stderr))
        return contents, is_image, labels

    def decode(contents, _, labels):
        image = preprocess(cfg, _to_channels(tf.io.decode_image(contents, expand_animations=False), cfg.channels))
        return (image, labels) if with_labels else image

    # No image, or cut short: skipped with a warning; damaged inside: skipped by ignore_errors.
    ds = ds.map(plain(read), num_parallel_calls=tf.data.AUTOTUNE).filter(plain(lambda _, is_image, __: is_image))
    return ds.map(plain(decode), num_parallel_calls=tf.data.AUTOTUNE).ignore_errors(log_warning=True), len(files)


def _images(cfg, split, shuffle, seed=None, with_labels=False):
    """split: 'train', 'held_out' or 'validation' (cfg's train_split, ...; a folder's own validation part)."""
    split = {'train': cfg.train_split, 'held_out': cfg.held_out_split,
             'validation': 'validation' if cfg.data_dir else cfg.validation_split}[split]
    return (_folder_images if cfg.data_dir else _tfds_images)(cfg, split, shuffle, seed, with_labels)


def flip(cfg, batch, key):
    """A left-right flip of each image (or, flip_batch, of the whole batch) with probability 1/2; key: a seed."""
    if cfg.flip_batch:
        return tf.cond(tf.random.stateless_uniform([], seed=key) < 0.5, lambda: tf.reverse(batch, [2]), lambda: batch)
    return tf.image.stateless_random_flip_left_right(batch, seed=key)


def train_dataset(cfg, seed):
    """(An endless stream of shuffled float batches, steps in an epoch: steps_per_epoch, else train images //
    batch_size). With fresh_batches each element is three batches, one for each network."""
    images, count = _images(cfg, 'train', shuffle=True, seed=seed)
    if count is not None and count < cfg.batch_size:  # a batch never fills: the stream would be empty
        raise UsageError(f'batch_size {cfg.batch_size} is larger than the {count} training images: '
                         f'pass a smaller --batch_size')
    if count is None and not cfg.steps_per_epoch:
        raise UsageError(f'the size of the {cfg.dataset} train split is unknown: set --steps_per_epoch')
    steps = cfg.steps_per_epoch or count // cfg.batch_size
    if cfg.cache:
        images = images.cache()
    ds = images.shuffle(cfg.shuffle_buffer, seed=seed).batch(cfg.batch_size, drop_remainder=True).repeat()
    ds = ds.map(plain(lambda batch: to_float(cfg, batch)), num_parallel_calls=tf.data.AUTOTUNE)
    if cfg.flip:  # drawn from (seed, the batch's number): the same flips in every run with this seed
        ds = ds.enumerate().map(plain(lambda i, batch: flip(cfg, batch, tf.stack([tf.constant(seed, tf.int64), i]))),
                                num_parallel_calls=tf.data.AUTOTUNE)
    if cfg.fresh_batches:
        ds = ds.batch(3).map(plain(lambda batches: (batches[0], batches[1], batches[2])))
    # Under tf.distribute each replica takes its share of every batch, not of the files.
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.prefetch(tf.data.AUTOTUNE).with_options(options), steps


def held_out_dataset(cfg, batch_size, split='held_out'):
    """The held-out images (or split='validation') in a fixed order, as float batches."""
    images, _ = _images(cfg, split, shuffle=False)
    return images.batch(batch_size).map(plain(lambda batch: to_float(cfg, batch))).prefetch(tf.data.AUTOTUNE)


def labelled_dataset(cfg, batch_size, split='train'):
    """The images of `split` ('train', 'held_out') in a fixed order with their labels: (float batch, [batch, K] 0/1)."""
    images, _ = _images(cfg, split, shuffle=False, with_labels=True)
    return images.batch(batch_size).map(plain(lambda x, a: (to_float(cfg, x), a))).prefetch(tf.data.AUTOTUNE)
