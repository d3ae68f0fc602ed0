"""The prior generations are drawn from: N(0, I), as trained; or, with prior='mixture', a full-covariance
Gaussian mixture fitted after training to the encoder's means of the training images (Ghosh et al. 2020,
"From Variational to Deterministic Autoencoders", section 4): with kl_weight 1/z_dim the codes sit far
from N(0, I) (RESULTS.md measures how far).
"""
import hashlib
import json
import os

import numpy as np

import data
import models
import run_folder
from configurator import UsageError, config_file, from_saved

BATCH = models.INFERENCE_BATCH


def sample(cfg, mixture, count, seed):
    """`count` codes [count, z_dim] float32, fixed by `seed`: models.prior_z's N(0, I) when `mixture` is
    None, else draws from the mixture. The first n of a larger draw are the same n either way."""
    if mixture is None:
        return models.prior_z(count, cfg.z_dim, seed).numpy()
    weights, means, covariances = mixture['weights'], mixture['means'], mixture['covariances']
    which = np.searchsorted(np.cumsum(weights), np.random.default_rng([seed, 0]).random(count) * weights.sum())
    which = np.minimum(which, len(weights) - 1)  # a rounding at the top end
    eps = np.random.default_rng([seed, 1]).standard_normal((count, cfg.z_dim))
    roots = np.linalg.cholesky(covariances)  # z = mean + L eps, L L^T = the component's covariance
    return (means[which] + np.einsum('nij,nj->ni', roots[which], eps)).astype(np.float32)


def describe(mixture):
    """'normal', or what the mixture is: its components and the training codes it was fitted to."""
    if mixture is None:
        return 'normal'
    return f"mixture of {len(mixture['weights'])} fitted to {int(mixture['images'])} training codes"


def training_codes(cfg, encoder):
    """The encoder's means of the first prior_images training images (the train split, in order)."""
    batches = data.held_out_dataset(cfg, BATCH, 'train').take(-(-cfg.prior_images // BATCH))
    codes = np.concatenate([encoder(x, training=False)[0].numpy() for x in batches])
    return codes[:cfg.prior_images].astype(np.float64)


def fit(cfg, encoder, seed=None):
    """{'weights' [k], 'means' [k, z], 'covariances' [k, z, z], 'images'}: scikit-learn's GaussianMixture
    fitted to training_codes, seeded by `seed` (None: cfg.seed)."""
    from sklearn.mixture import GaussianMixture  # imported here: only a mixture prior needs it
    codes = training_codes(cfg, encoder)
    if len(codes) < 2 * cfg.prior_components:
        raise UsageError(f'prior mixture: {len(codes)} training images is too few for {cfg.prior_components} '
                         f'components: pass a smaller --prior_components')
    gmm = GaussianMixture(cfg.prior_components, covariance_type='full',
                          random_state=cfg.seed if seed is None else seed).fit(codes)
    return {'weights': gmm.weights_, 'means': gmm.means_, 'covariances': gmm.covariances_, 'images': len(codes)}


def for_checkpoint(cfg, checkpoint, encoder, unaveraged=False, beside=None):
    """None with prior='normal'; else this checkpoint's mixture, cached (`cached`), else fitted now."""
    if cfg.prior == 'normal':
        return None
    terms = {field: getattr(cfg, field)
             for field in data.IMAGE_FIELDS + ('train_split', 'prior_components', 'prior_images')}

    def fitted(seed):
        print(f'fitting a mixture of {cfg.prior_components} to the codes of {cfg.prior_images} training images '
              f'at most (prior=mixture)')
        return fit(cfg, encoder, seed)
    return cached(cfg, checkpoint, 'prior', terms, lambda path: read(cfg, path), fitted, 'a mixture', 'fitting it',
                  unaveraged, beside)


def cached(cfg, checkpoint, kind, terms, read, make, what, redo, unaveraged=False, beside=None):
    """What make(seed) derives from a checkpoint ({name: array}), kept in out_dir/metrics_cache/<kind>_<key>.npz
    under a key of all that defines it: the checkpoint index's sha256 (every tensor's checksum: the contents, not
    read), `terms`, the seed and, with unaveraged, that the checkpoint's own weights were used, not their average.
    `beside`: the checkpoint's run or export (which carries its derived files), whose cache is read too and whose
    config.json's seed is the seed (a render's --seed draws other codes). read(path): the arrays, or Unreadable,
    then noted ('does not read as <what>: <redo> again') and made again."""
    try:
        digest = hashlib.sha256(run_folder.read_bytes(checkpoint + '.index', 1 << 30))
    except run_folder.Unreadable as e:
        raise UsageError(f'{checkpoint}.index does not read ({e}): pass another checkpoint') from e
    seed = from_saved(config_file(beside)).seed if beside else cfg.seed
    key = [digest.hexdigest(), dict(terms, seed=seed)] + (['unaveraged'] if unaveraged and cfg.ema_decay is not None
                                                          else [])
    key = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    path = os.path.join(cfg.out_dir, 'metrics_cache', f'{kind}_{key}.npz')
    elsewhere = beside and os.path.abspath(beside) != os.path.abspath(cfg.out_dir)  # (a run rendered into itself)
    for saved in [path] + ([os.path.join(beside, 'metrics_cache', os.path.basename(path))] if elsewhere else []):
        try:
            return read(saved)
        except run_folder.Unreadable as e:
            if os.path.lexists(saved):
                print(f'note: {saved} does not read as {what} ({e}): {redo} again')
    arrays = make(seed)
    path = os.path.join(run_folder.folder(cfg.out_dir, 'metrics_cache'), os.path.basename(path))  # never a link
    with run_folder.written(path) as temporary, open(temporary, 'wb') as f:
        np.savez(f, **arrays)
    return arrays


def plain(mixture):
    """The mixture as JSON (prior.json beside an export's Keras files): lists of numbers, read anywhere."""
    return dict({key: mixture[key].tolist() for key in ('weights', 'means', 'covariances')},
                images=int(mixture['images']))


def read(cfg, path):
    """The mixture in the file at path, of cfg's shape, or Unreadable saying why."""
    k, z = cfg.prior_components, cfg.z_dim
    mixture = run_folder.read_arrays(path, {'weights': ('float64', (k,)), 'means': ('float64', (k, z)),
                                            'covariances': ('float64', (k, z, z)), 'images': ('i', ())})
    if np.any(mixture['weights'] < 0) or abs(mixture['weights'].sum() - 1) > 1e-6:
        raise run_folder.Unreadable('weights not a distribution')
    try:
        np.linalg.cholesky(mixture['covariances'])
    except np.linalg.LinAlgError:
        raise run_folder.Unreadable('a covariance is not positive definite') from None
    return mixture
