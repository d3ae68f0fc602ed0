"""The paper's attribute vectors (Larsen et al. 2016, section 4.1), for any labelled data (data.label_names):
for each label, the mean code of the training images that have it minus the mean code of those that don't.
A code moved along a label's vector and decoded gains the label (a smile, a digit's class).
"""
import hashlib
import math

import numpy as np
import tensorflow as tf

import data
import models
import prior
import run_folder


def vectors(codes, labels):
    """codes [n, z] and labels [n, K] of 0/1 -> {'vectors' [K, z]: per label, the mean code of the images that
    have it minus that of those that don't; 'means' [K, z]: of those that have it (mean[B] - mean[A] moves
    class A to class B); 'counts' [K, 2]: the images with it and without}. NaN where a side is empty."""
    codes, labels = np.asarray(codes, np.float64), np.asarray(labels, np.float64)
    having, lacking = labels.sum(0), (1 - labels).sum(0)
    with np.errstate(invalid='ignore', divide='ignore'):
        means = labels.T @ codes / having[:, None]
        others = (1 - labels).T @ codes / lacking[:, None]
    return {'vectors': (means - others).astype(np.float32), 'means': means.astype(np.float32),
            'counts': np.stack([having, lacking], 1).astype(np.int64)}


def for_checkpoint(cfg, checkpoint, encoder, count, unaveraged=False, beside=None):
    """(the label names, vectors' arrays) of this checkpoint from the first `count` training images, cached as
    the prior's mixture (prior.cached). Codes sampled from q(z|x) with batch norm in inference mode, as the
    official code does (its celeba_aegan.py:72-80), eps drawn from (seed, batch)."""
    names = data.label_names(cfg)
    source = data.label_file(cfg.data_dir) if cfg.data_dir else None  # a folder's labels file (read_labels read it)
    terms = {field: getattr(cfg, field) for field in data.IMAGE_FIELDS + ('train_split',)}
    terms.update(attribute_images=count, labels=hashlib.sha256(run_folder.read_bytes(source, 1 << 28)).hexdigest()
                 if source else '')

    def encoded(seed):
        print(f'encoding {count} training images at most for the vectors of {len(names)} labels')
        codes, labels = [], []
        batches = data.labelled_dataset(cfg, models.INFERENCE_BATCH).take(math.ceil(count / models.INFERENCE_BATCH))
        for i, (x, y) in enumerate(batches):
            mean, sigma = encoder(x, training=False)
            eps = tf.random.stateless_normal(tf.shape(mean), seed=[seed, i])
            codes.append((mean + sigma * eps).numpy())
            labels.append(y.numpy())
        return dict(vectors(np.concatenate(codes)[:count], np.concatenate(labels)[:count]), names=np.array(names))

    def read(path):  # NaN: a label all or none of the images have
        k = len(names)
        saved = run_folder.read_arrays(path, {'vectors': ('float32', (k, cfg.z_dim)), 'means': ('float32', (
            k, cfg.z_dim)), 'counts': ('int64', (k, 2)), 'names': ('U', (k,))}, finite=False)
        if tuple(saved['names']) != tuple(names):
            raise run_folder.Unreadable('other labels')
        return saved
    return names, prior.cached(cfg, checkpoint, 'labels', terms, read, encoded, 'attribute vectors', 'making them',
                               unaveraged, beside)
