"""Numbers for a trained VAE/GAN: FID, KID, precision and recall of its generations against the
held-out split, in one or more feature spaces, and the reconstruction MSE and SSIM of the held-out
images. `python vae_gan_inference.py --metrics` scores a checkpoint (writes RUN/samples/metrics.json).

Commands (one of them; with --train_classifier any config.py field as --field=value):
    --train_classifier [--preset=NAME] [--metric_features=classifier,mlp]   train the feature networks (~2 min)
    --table METRICS.json ...   a markdown table of runs' scores, mean +- std over each recipe's seeds
    --plot OUT.png RUN ...     a plot of runs' validation scores and D's overfitting (RUN/scores.jsonl), each best/
                               epoch marked

Feature spaces (`metric_features`): 'classifier' and 'mlp', the 128 penultimate features of two small networks
trained on the dataset (MNIST ships both, so MNIST metrics work offline); 'inception', Keras' InceptionV3
(ImageNet weights, downloaded once), not the TTUR / pytorch-fid network: its FIDs do not compare with papers'.
Figures of different spaces do not compare either: a recipe is better only where it wins in each.
"""
import hashlib
import json
import math
import os
import sys

import config
import configurator
import run_folder
from configurator import UsageError

SCORES = 'scores.jsonl'  # a run's record of each epoch, a JSON object: D's overfitting, and the validation
#   scores (best_model.py) when the epoch scored


def command(argv):
    """('table', [metrics.json, ...]), ('plot', OUT.png, [RUN, ...]) or ('train', {config field: value}),
    in pure Python (checked before TensorFlow loads), or one UsageError."""
    if argv and argv[0].split('=')[0] in ('--plot', '--table') and '=' in argv[0]:  # --plot=OUT.png as --plot OUT.png
        argv = argv[0].split('=', 1) + argv[1:]
    if argv[:1] == ['--table'] and argv[1:]:
        missing = [path for path in argv[1:] if not os.path.lexists(path)]  # (what is there: the reader's)
        if missing:
            raise UsageError(f'--table: no file {missing[0]}: pass metrics.json files (RUN/samples/metrics.json, '
                             f'written by `vae_gan_inference.py --metrics`)')
        return 'table', _once(argv[1:])
    if argv[:1] == ['--plot'] and len(argv) > 2:
        out, runs = os.path.expanduser(argv[1]), _once(argv[2:])  # '~' as the check below reads it
        if not out.lower().endswith('.png') or os.path.isdir(out) or out in runs:  # (so never a scores.jsonl)
            raise UsageError(f'--plot {argv[1]}: the first path is the PNG to write (a name ending in .png), then the '
                             f'runs: python metrics.py --plot OUT.png RUN ...')
        if os.path.lexists(out) and not _is_png(out):  # a run's scores.jsonl, a config.json, ...: never replaced
            raise UsageError(f'--plot {out}: that name is taken by something that is not a PNG (a file, a link), so '
                             f'it is not replaced: pass a new file name, such as {os.path.splitext(out)[0]}-scores.png')
        where, what = run_folder.owner(out)
        if where:  # a run's grids, its best/, an export: the repo's files, never replaced by a plot
            raise UsageError(f'--plot {out} {what}: pass a file outside it, such as '
                             f'{os.path.join(os.path.dirname(where), os.path.basename(out))}')
        missing = [run for run in runs if not os.path.isdir(run)]
        if missing:
            raise UsageError(f'--plot: {missing[0]} is not a run folder: pass the folders that hold scores.jsonl')
        return 'plot', out, runs
    if '--train_classifier' in argv:
        overrides = configurator.parse_overrides([a for a in argv if a != '--train_classifier'])
        cfg = configurator.from_overrides(overrides)  # every value checked now
        if cfg.data_dir:
            raise UsageError(f'--train_classifier learns from the labels of a tensorflow-datasets dataset (mnist, '
                             f'fashion_mnist or cifar10), and a folder of images (--data_dir={cfg.data_dir}) has none: '
                             f'drop --data_dir')
        return 'train', overrides
    raise UsageError('usage: python metrics.py --train_classifier --preset=mnist, python metrics.py --table '
                     'RUN/samples/metrics.json ... (scores come from `vae_gan_inference.py --metrics`), or '
                     'python metrics.py --plot OUT.png RUN ... (the runs\' validation scores); --help says more')


def _once(paths):
    """paths without repeats (A, ./A and A/ are one run, counted once), each repeat noted."""
    seen, kept = set(), []
    for path in paths:
        real = os.path.realpath(os.path.expanduser(path))
        if real in seen:
            print(f'note: {path} is named twice: counted once', file=sys.stderr)
        else:
            seen.add(real)
            kept.append(path)
    return kept


def _is_png(path):
    try:
        return run_folder.read_bytes(path, 1 << 28)[:8] == b'\x89PNG\r\n\x1a\n'
    except run_folder.Unreadable:
        return False


run_folder.start(__name__, __doc__, command)  # a mistyped command refused before TensorFlow loads
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import data  # noqa: E402
import models  # noqa: E402


BATCH = models.INFERENCE_BATCH
PR_NEIGHBOURS = 3  # k of improved precision and recall (Kynkaanniemi et al. 2019)
MIN_IMAGES = PR_NEIGHBOURS + 1  # each image needs k neighbours besides itself
EDIT_IMAGES, EDIT_STRENGTHS = 1000, (0.5, 1.0, 1.5, 2.0)  # the held-out images the edits move, and how far


# ---- The figures: pure functions of features or images --------------------------------------------

def fid(features_a, features_b):
    """Frechet distance between Gaussians fitted to two feature sets: |mu_a - mu_b|^2 + Tr(S_a + S_b -
    2 (S_a S_b)^(1/2)), where Tr((S_a S_b)^(1/2)) = the sum of the roots of S_a S_b's eigenvalues (real, >= 0)."""
    a, b = np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root_trace = np.sqrt(np.clip(np.linalg.eigvals(s_a @ s_b).real, 0, None)).sum()
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(s_a) + np.trace(s_b) - 2 * root_trace)


def kid_plan(n):
    """(subsets, subset size) of KID for n images a side: 10 subsets of 1,000 (Binkowski et al. 2018);
    with n <= 1,000 one 'subset', the whole set (ten would be ten copies of it)."""
    return (10, 1000) if n > 1000 else (1, n)


def kid(features_a, features_b, seed=0):
    """Kernel Inception Distance: the unbiased MMD^2 with k(x, y) = (x.y / d + 1)^3, averaged over kid_plan."""
    a, b = np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)
    subsets, m = kid_plan(min(len(a), len(b)))
    kernel = lambda x, y: (x @ y.T / a.shape[1] + 1) ** 3
    off_diagonal = lambda k: (k.sum() - np.trace(k)) / (m * (m - 1))
    rng = np.random.default_rng(seed)
    estimates = []
    for _ in range(subsets):
        x, y = a[rng.choice(len(a), m, replace=False)], b[rng.choice(len(b), m, replace=False)]
        estimates.append(off_diagonal(kernel(x, x)) + off_diagonal(kernel(y, y)) - 2 * kernel(x, y).mean())
    return float(np.mean(estimates))


def _squared_distances(a, b):
    return np.maximum((a ** 2).sum(1)[:, None] + (b ** 2).sum(1)[None, :] - 2 * a @ b.T, 0)


def _coverage(support, queries, k, chunk=1000):
    """The share of `queries` within the distance of some `support` point to its k-th nearest other one."""
    radii = np.concatenate([np.partition(_squared_distances(support[i:i + chunk], support), k, axis=1)[:, k]
                            for i in range(0, len(support), chunk)])  # index 0 is the point itself
    inside = [(_squared_distances(queries[i:i + chunk], support) <= radii[None, :]).any(1)
              for i in range(0, len(queries), chunk)]
    return float(np.concatenate(inside).mean())


def precision_recall(real, fake, k=PR_NEIGHBOURS):
    """Improved precision and recall (Kynkaanniemi et al. 2019): fakes in the real k-NN balls, and vice versa."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    return _coverage(real, fake, k), _coverage(fake, real, k)


def overfitting(train, validation, generations, neutral=0.0):
    """D's overfitting from its logits on training images, images it never trains on and generations: ADA's
    heuristics (Karras et al. 2020, section 3), r_t = E[sign(logit on training images - neutral)] (neutral: the
    logit of a D that cannot tell, 0 in ADA's loss; vae_gan.neutral_logit) and r_v = (E[train] - E[validation])
    / (E[train] - E[generations]) (NaN where the last two are equal), and each mean logit: logits, as ADA's
    figures, for a probability near 1 or 0 hides a gap."""
    means = {name: float(np.mean(logits, dtype=np.float64)) for name, logits in
             (('train', train), ('validation', validation), ('generations', generations))}
    gap = means['train'] - means['generations']
    return {'r_t': float(np.mean(np.sign(np.asarray(train, np.float64) - neutral))),
            'r_v': (means['train'] - means['validation']) / gap if gap else math.nan, **means}


def reconstruction_errors(originals, reconstructions):
    """(MSE, SSIM) of float images in [0, 1], averaged over the images."""
    originals, reconstructions = tf.convert_to_tensor(originals), tf.convert_to_tensor(reconstructions)
    mse = tf.reduce_mean(tf.square(originals - reconstructions))
    ssim = tf.reduce_mean(tf.image.ssim(originals, reconstructions, max_val=1.0))
    return float(mse), float(ssim)


# ---- Feature extractors ---------------------------------------------------------------------------

def classifier_path(cfg, kind):
    """<repo>/<dataset folder>/classifier.weights.h5 (or classifier_mlp.weights.h5): mnist_sigmoid uses MNIST's."""
    root = os.path.dirname(os.path.abspath(__file__))
    folder = {p.dataset: p.out_dir for p in reversed(config.PRESETS.values())}.get(cfg.dataset, cfg.dataset)
    return os.path.join(root, folder, 'classifier' + ('' if kind == 'classifier' else f'_{kind}') + '.weights.h5')


def build_classifier(cfg, kind):
    """A small classifier whose 'features' layer (128) is what the figures compare."""
    import keras
    from keras import layers
    x = keras.Input((cfg.image_size, cfg.image_size, cfg.channels))
    if kind == 'mlp':
        h = layers.Dropout(0.2)(layers.Dense(512, activation='relu')(layers.Flatten()(x)))
        h = layers.Dense(128, activation='relu', name='features')(h)
        return keras.Model(x, layers.Dense(10)(layers.Dropout(0.2)(h)), name='classifier_mlp')
    h = layers.MaxPooling2D()(layers.Conv2D(32, 3, activation='relu')(x))
    h = layers.MaxPooling2D()(layers.Conv2D(64, 3, activation='relu')(h))
    h = layers.Dense(128, activation='relu', name='features')(layers.Dropout(0.25)(layers.Flatten()(h)))
    return keras.Model(x, layers.Dense(10)(layers.Dropout(0.5)(h)), name='classifier')


def train_classifier(cfg, kind):
    """Trains a feature network on the train split's labels (its own seed per kind); returns the test accuracy."""
    import keras
    import tensorflow_datasets as tfds
    keras.utils.set_random_seed(('classifier', 'mlp').index(kind))
    if cfg.dataset not in ('mnist', 'fashion_mnist', 'cifar10'):  # (command() refuses a data_dir)
        raise UsageError(f'the feature classifier needs labels: mnist, fashion_mnist or cifar10, not {cfg.dataset}')
    labelled = lambda split: tfds.load(cfg.dataset, split=split, as_supervised=True).map(
        lambda x, y: (data.to_float(cfg, x), y)).batch(128).prefetch(tf.data.AUTOTUNE)
    model = build_classifier(cfg, kind)
    model.compile('adam', keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=['accuracy'])
    model.fit(labelled('train').unbatch().shuffle(60000, seed=0).batch(128), epochs=5, verbose=2)
    _, accuracy = model.evaluate(labelled('test'), verbose=0)
    os.makedirs(os.path.dirname(classifier_path(cfg, kind)), exist_ok=True)
    weights_only = build_classifier(cfg, kind)  # uncompiled: the file holds no optimizer state
    weights_only.set_weights(model.get_weights())
    with run_folder.written(classifier_path(cfg, kind)) as temporary:
        weights_only.save_weights(temporary)
    return accuracy


def feature_extractors(cfg):
    """{space: (images -> features under tf.function, a fingerprint of its weights)} for cfg.metric_features,
    loaded before anything is rendered: a missing network is one UsageError."""
    import keras
    if cfg.metric_features == 'none':
        raise UsageError(f'no feature network fits the images of {cfg.data_dir or cfg.dataset} (metric_features none): '
                         f'pass --metric_features=inception, or --metric_features=classifier,mlp if they are '
                         f'MNIST-like digits')
    policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy('float32')  # the feature networks in float32, also mid-training
    try:
        return {kind: _extractor(cfg, kind) for kind in cfg.metric_features.split(',')}
    finally:
        keras.mixed_precision.set_global_policy(policy)


def _extractor(cfg, kind):
    import keras
    if kind == 'inception':
        try:
            inception = keras.applications.InceptionV3(include_top=False, pooling='avg', weights='imagenet')
        except Exception as e:  # no network and no cached weights
            why = str(e).strip().splitlines()[0][:120] if str(e).strip() else type(e).__name__
            raise UsageError(f'could not load the InceptionV3 ImageNet weights ({why}): connect once to let Keras '
                             f'download them (to ~/.keras/models), or score without them: --metric_features='
                             + ('classifier,mlp for MNIST-like digits' if cfg.channels == 1 else 'none')) from e

        @tf.function
        def extract(x):
            x = data.to_unit(cfg, x)
            x = tf.image.resize(tf.image.grayscale_to_rgb(x) if x.shape[-1] == 1 else x, [299, 299])
            return inception(x * 2.0 - 1.0, training=False)  # Inception's own [-1, 1]
        return extract, 'keras-inception_v3-imagenet'
    model, fingerprint = classifier(cfg, kind)
    features = keras.Model(model.input, model.get_layer('features').output)
    return tf.function(lambda x: features(x, training=False)), fingerprint


def classifier(cfg, kind):
    """(the trained classifier `kind` of classifier_path, a fingerprint of its weights); one UsageError if missing
    or damaged."""
    path = classifier_path(cfg, kind)
    if not os.path.exists(path):
        raise UsageError(f'no {kind} feature network at {path}: train it with `python metrics.py --train_classifier '
                         f'--preset={cfg.preset} --metric_features={kind}`')
    model = build_classifier(cfg, kind)
    try:
        fingerprint = hashlib.sha256(run_folder.read_bytes(path, 1 << 30)).hexdigest()[:16]
        model.load_weights(path)
    except Exception as e:  # h5py and Keras raise many kinds for a damaged file
        why = e if isinstance(e, run_folder.Unreadable) else type(e).__name__
        raise UsageError(f'{path} does not read as the {kind} feature network ({why}): restore it '
                         f'(git checkout {path}), or train it again with `python metrics.py --train_classifier '
                         f'--preset={cfg.preset} --metric_features={kind}`') from e
    return model, fingerprint


# ---- Scoring a model ------------------------------------------------------------------------------

def _batched(fn, x):
    """fn over x in batches, as float32 (a run scoring itself under mixed precision decodes in float16)."""
    return np.concatenate([fn(x[i:i + BATCH]).numpy() for i in range(0, len(x), BATCH)]).astype(np.float32)


def held_out_features(cfg, extract, fingerprint, images, split='held_out'):
    """The features of `split`'s `images`, cached in out_dir/metrics_cache under a key of all that defines
    them; a cache that is not exactly these features' shape (finite float32) is noted and computed again."""
    defining = {field: getattr(cfg, field) for field in data.IMAGE_FIELDS + (f'{split}_split', 'arch')}
    if split != 'held_out':  # the held-out key names no split (kept caches stay valid)
        defining['split'] = split
    key = hashlib.sha256(json.dumps([defining, len(images), fingerprint], sort_keys=True).encode()).hexdigest()[:16]
    path = os.path.join(cfg.out_dir, 'metrics_cache', f'{len(images)}_{key}.npy')
    width = extract.get_concrete_function(tf.TensorSpec((None,) + images.shape[1:], tf.float32)).output_shapes[-1]
    try:
        return run_folder.read_arrays(path, ('float32', (len(images), width)))
    except run_folder.Unreadable as e:
        if os.path.lexists(path):
            print(f'note: {path} does not read back as these features ({e}): computing them again')
    features = _batched(extract, images)
    path = os.path.join(run_folder.folder(cfg.out_dir, 'metrics_cache'), os.path.basename(path))
    with run_folder.written(path) as temporary, open(temporary, 'wb') as f:
        np.save(f, features)
    return features


def evaluate(cfg, encoder, decoder, count, extractors=None, split='held_out', draw=None):
    """{'features': {space: {'fid', 'kid', 'precision', 'recall'}}, 'mse', 'ssim', 'images', 'kid_subsets',
    'kid_subset_size'}: `count` generations of draw(n)'s codes (default: models.prior_z, seed 0) against as
    many images of `split` (fewer if it is smaller), and those images' reconstructions."""
    extractors = extractors or feature_extractors(cfg)
    batches = data.held_out_dataset(cfg, BATCH, split).take(-(-count // BATCH))
    originals = np.concatenate([x.numpy() for x in batches] or [np.zeros((0,))])[:count]
    n = len(originals)
    if n < MIN_IMAGES:
        raise UsageError(f'the scores compare sets of images: {n} {split.replace("_", "-")} image(s) is too few '
                         f'(at least {MIN_IMAGES})')
    z = draw(n) if draw else models.prior_z(n, cfg.z_dim, 0)
    generations = _batched(tf.function(lambda z: decoder(z, training=False)), z)
    reconstructions = _batched(tf.function(lambda x: models.reconstruct(encoder, decoder, x)), originals)
    mse, ssim = reconstruction_errors(data.to_unit(cfg, originals), np.clip(data.to_unit(cfg, reconstructions), 0, 1))
    scores = {}
    for name, (extract, fingerprint) in extractors.items():
        real = held_out_features(cfg, extract, fingerprint, originals, split)
        fake = _batched(extract, generations)
        precision, recall = precision_recall(real, fake)
        scores[name] = {'fid': fid(real, fake), 'kid': kid(real, fake), 'precision': precision, 'recall': recall}
    subsets, size = kid_plan(n)
    return {'features': scores, 'mse': mse, 'ssim': ssim, 'images': n, 'kid_subsets': subsets,
            'kid_subset_size': size}


def edit_scores(codes, classes, vectors, means, decode, classify, strengths=EDIT_STRENGTHS):
    """How well attribute vectors (attributes.py) move images of one class to another: each image (codes [n, z],
    classes [n]) moved to each other class t of the K (vectors, means [K, z]), decoded (decode: codes -> images in
    [0, 1]) and read by each classifier (classify: {name: images -> classes}). Per move, 'vector' (code + s *
    vectors[t]) and 'direct' (code + s * (means[t] - means[its class])), and strength s: 'success' {name: the share
    read as t} and 'identity' (the mean squared error to the image's reconstruction). Baselines: 'class_mean'
    (means[t] decoded) and 'reconstruction' (the reconstruction itself: success is the share read as t)."""
    codes, classes, means = np.asarray(codes, np.float32), np.asarray(classes), np.asarray(means, np.float32)
    source, target = np.divmod(np.arange(len(codes) * len(means)), len(means))
    source, target = source[target != classes[source]], target[target != classes[source]]  # (image, other class)
    reconstructions = decode(codes)[source]

    def scored(edits):
        return {'success': {name: float(np.mean(read(edits) == target)) for name, read in classify.items()},
                'identity': float(np.mean((edits - reconstructions) ** 2))}
    scores = {move: {f'{s:g}': scored(decode(codes[source] + s * direction)) for s in strengths}
              for move, direction in (('vector', np.asarray(vectors, np.float32)[target]),
                                      ('direct', means[target] - means[classes[source]]))}
    return dict(scores, class_mean=scored(decode(means)[target]), reconstruction=scored(reconstructions))


def edits(cfg, decoder, codes, classes, vectors, means, kinds):
    """edit_scores of the decoder's images, read by the digit classifiers `kinds` (10 logits: argmax, the class)."""
    decode = tf.function(lambda z: tf.clip_by_value(data.to_unit(cfg, decoder(z, training=False)), 0.0, 1.0))
    def reader(model):  # the classifiers take images in the decoder's range (to_float of [0, 255])
        read = tf.function(lambda x: tf.argmax(model(data.to_float(cfg, x * 255.0), training=False), -1))
        return lambda x: _batched(read, x)
    classify = {kind: reader(classifier(cfg, kind)[0]) for kind in kinds}
    scores = edit_scores(codes, classes, vectors, means, lambda z: _batched(decode, z), classify)
    return dict(scores, images=len(codes), strengths=list(EDIT_STRENGTHS))


def edit_lines(scores):
    """One line per move and strength, and per baseline: the success in each classifier's eyes, the identity."""
    line = lambda name, s: (f'edits {name}: success ' + ', '.join(f'{k} {v:.3f}' for k, v in s['success'].items())
                            + f'; identity (MSE to the reconstruction) {s["identity"]:.4f}')
    return [line(f'{move} x{strength}', s) for move in ('vector', 'direct') for strength, s in scores[move].items()] + [
        line(baseline, scores[baseline]) for baseline in ('class_mean', 'reconstruction')]


def figure(scores):
    """The one number best/ is chosen by, lower is better: the geometric mean of the FIDs (which move with
    quality and variety), so each space counts alike whatever its scale (10% won in one offsets 10% lost in another)."""
    fids = [max(s['fid'], 0.0) for s in scores['features'].values()]
    return float(np.prod(fids) ** (1 / len(fids)))


def summary(scores):
    """One line: each feature space's FID, KID, precision and recall, then MSE and SSIM."""
    spaces = '; '.join(f"{name}: FID {s['fid']:.3f}, KID {s['kid']:.4f}, precision {s['precision']:.3f}, "
                       f"recall {s['recall']:.3f}" for name, s in scores['features'].items())
    drawn = drawn_from(scores)
    return (f"{spaces} ({scores['images']} images{', ' + drawn if drawn else ''}); reconstruction MSE "
            f"{scores['mse']:.4f}, SSIM {scores['ssim']:.3f}")


def drawn_from(scores):
    """How the generations were drawn when not as trained ('prior mixture of ...; the weights'), else ''."""
    drawn = [f"prior {scores['prior']}" if scores.get('prior', 'normal') != 'normal' else '',
             f"the {scores['weights']}" if 'weights' in scores else '']
    return '; '.join(d for d in drawn if d)


def _complete(scores, figures, totals):
    """Whether `scores` holds `totals` and each feature space's `figures` as finite numbers."""
    number = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    spaces = scores.get('features') if isinstance(scores, dict) else None
    return (isinstance(spaces, dict) and bool(spaces) and all(number(scores.get(t)) for t in totals)
            and all(isinstance(s, dict) and all(number(s.get(f)) for f in figures) for s in spaces.values()))


def _scores(path):
    """A metrics.json's scores, checked: one line naming the file if it does not read as one."""
    try:
        scores = run_folder.read_json(path)
        if not _complete(scores, ('fid', 'kid', 'precision', 'recall'), ('mse', 'ssim')):
            raise run_folder.Unreadable('a figure is missing')
    except run_folder.Unreadable as e:
        raise UsageError(f'{path} does not read as a metrics.json ({e}): score the run again with '
                         f'`python vae_gan_inference.py --metrics`') from e
    return scores


def table(paths):
    """Markdown rows of mean +- std, one per recipe (the preset and the fields its runs changed, from the
    config.json of each file's run); a file that does not read, or whose recipe is unknown, is noted and left out."""
    groups = {}
    for path in paths:
        run = run_folder.run_of(path)  # RUN for RUN/samples/metrics.json, or a kept copy's folder
        try:
            scores = _scores(path)
            cfg = configurator.run_config(run)
            if cfg is None:
                raise UsageError(f'{path} has no config.json beside it nor in {run}, so its recipe is unknown: keep '
                                 f'the run\'s config.json with it')
        except UsageError as e:
            print(f'note: {e}; left out of the table', file=sys.stderr)
            continue
        preset = config.PRESETS[cfg.preset]
        changed = ', '.join(f'{f}={getattr(cfg, f)}' for f in configurator.FIELDS if getattr(cfg, f) !=
                            getattr(preset, f) and f not in ('out_dir', 'seed', 'data_dir', 'metric_features'))
        drawn = drawn_from(scores)
        groups.setdefault(f'`{cfg.preset}`' + (f' ({changed})' if changed else '') + (f', {drawn}' if drawn else ''),
                          []).append(scores)
    if not groups:
        raise UsageError('--table: none of the files reads as a run\'s metrics.json (the notes above say why)')
    spaces = sorted({space for runs in groups.values() for r in runs for space in r['features']})
    columns = [(space, figure) for space in spaces for figure in ('fid', 'kid', 'precision', 'recall')]
    rows = ['| recipe | runs | ' + ' | '.join(f'{figure} ({space})' for space, figure in columns) + ' | MSE | SSIM |',
            '| --- ' * (len(columns) + 4) + '|']
    cell = lambda values: (f'{np.mean(values):.3f} ± {np.std(values, ddof=1):.3f}' if len(values) > 1
                           else f'{values[0]:.3f}' if values else '-')  # one run has no spread to show
    for recipe, runs in groups.items():
        rows.append(f'| {recipe} | {len(runs)} | ' + ' | '.join(
            cell([r['features'][space][figure] for r in runs if space in r['features']]) for space, figure in columns)
            + f" | {cell([r['mse'] for r in runs])} | {cell([r['ssim'] for r in runs])} |")
    return '\n'.join(rows)


def read_scores(out_dir, lines=False):
    """scores.jsonl's records (none without a file), a line that does not read noted and left out (kept in the
    file); lines: [(each line, its record or None)] instead. A file that does not read is one error."""
    path = os.path.join(out_dir, SCORES)
    try:
        read = run_folder.read_records(path)
    except run_folder.Unreadable as e:
        raise UsageError(f'{path} is not a file of scores ({e}): move it away (the run writes its scores there)') from e
    for number, (_, record) in enumerate(read, 1):
        if record is None:
            print(f'note: line {number} of {path} does not read as scores: left out (kept in the file)')
    return read if lines else [record for _, record in read if record is not None]


def plot(path, runs):
    """A PNG at path of each run's validation scores over the epochs, its best/ epoch marked; where the records
    hold D's overfitting (vae_gan.log_overfitting), two panels more: D's mean logit on training and validation
    images and generations (whose gap to the training images' is D's lead over the decoder), and r_t."""
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state
    read = {run: sorted(read_scores(run), key=lambda record: record['epoch']) for run in runs}
    watched = any(isinstance(record.get('overfitting'), dict) for records in read.values() for record in records)
    fig = Figure(figsize=(19.5 if watched else 13, 3.8), dpi=100, layout='constrained')
    axes = fig.subplots(1, 6 if watched else 4)
    for r, (run, records) in enumerate(read.items()):
        overfitting = [(record['epoch'], record['overfitting']) for record in records
                       if isinstance(record.get('overfitting'), dict) and all(
                           type(record['overfitting'].get(name)) is float
                           for name in ('train', 'validation', 'generations', 'r_t'))]
        records = [record for record in records if 'figure' in record or 'overfitting' not in record]  # scorings
        for record in [r for r in records if not _complete(r, ('fid', 'precision', 'recall'), ('mse',))]:  # unplottable
            print(f'note: the scores of epoch {record["epoch"]} in {os.path.join(run, SCORES)} lack a figure: left out')
            records.remove(record)
        if not records and not overfitting:
            raise UsageError(f'no scores in {run}/{SCORES}: a run writes them every eval_every epochs')
        best = ([record['epoch'] for record in records if record.get('best')] or [None])[-1]
        try:  # best/'s own record, where the run folder has it: a resumed run may have redone that epoch
            best = int(run_folder.read_json(os.path.join(run, 'best', 'scores.json'))['epoch'])
        except (run_folder.Unreadable, ValueError, KeyError, TypeError):
            pass
        colour, label = f'C{r}', os.path.basename(os.path.normpath(run))
        epochs = [record['epoch'] for record in records]
        spaces = sorted({space for record in records for space in record['features']})
        for space, style in zip(spaces, ('-', '--', ':')):
            held = [record for record in records if space in record['features']]  # a space added later, say
            for ax, figure in zip(axes, ('fid', 'precision', 'recall')):
                ax.plot([record['epoch'] for record in held], [record['features'][space][figure] for record in held],
                        style, color=colour, label=f'{label}, {space}')
        axes[3].plot(epochs, [record['mse'] for record in records], color=colour, label=label)
        if overfitting:
            watched_epochs, figures = zip(*overfitting)
            for name, style in (('train', '-'), ('validation', '--'), ('generations', ':')):
                axes[4].plot(watched_epochs, [f[name] for f in figures], style, color=colour, label=f'{label}, {name}')
            axes[5].plot(watched_epochs, [f['r_t'] for f in figures], color=colour, label=label)
        if best is not None:  # (None: its best scores' line was lost)
            for ax in axes:
                ax.axvline(best, color=colour, linestyle=':', linewidth=1)
            axes[0].text(best, 0.5 - 0.07 * r, f' best/: epoch {best}', color=colour, fontsize=8,
                         transform=axes[0].get_xaxis_transform())
    for ax, title in zip(axes, ('FID of generations (log scale)', 'precision of generations', 'recall of generations',
                                'reconstruction MSE (log scale)', "D's mean logit on images, generations",
                                "r_t: sign of D's logit about neutral")):
        ax.set_title(title, fontsize=10)
        ax.set(xlabel='epoch', yscale='log' if 'log scale' in title else 'linear')
        ax.grid(alpha=0.3)
    for ax in axes[::4]:  # the runs and their feature spaces; D's images and generations
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)  # a new folder for the plot
    with run_folder.written(path) as temporary:
        fig.savefig(temporary, dpi=100, format='png')


def main(argv):
    output = None  # the file the command writes, once known: what a failure or a stop leaves as it was
    with run_folder.guarded('metrics.py', argv, lambda: output):
        kind, *rest = command(argv)
        if kind == 'table':
            return print(table(rest[0]))
        if kind == 'plot':
            output = rest[0]
            plot(*rest)
            return print(f'wrote {rest[0]}: the scores of {len(rest[1])} run(s)')
        cfg = configurator.from_overrides(rest[0])
        for kind in cfg.metric_features.split(','):
            output = classifier_path(cfg, kind)
            accuracy = train_classifier(cfg, kind)
            print(f'wrote {output}: test accuracy {accuracy:.4f}')


if __name__ == '__main__':
    run_folder.run_script(main, sys.argv[1:])
