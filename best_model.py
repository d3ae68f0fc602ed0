"""The run's validation scores (in out_dir/scores.jsonl every eval_every epochs; its other epochs' records
hold D's overfitting alone) and the best model it passed through (best/: the encoder and decoder whose
metrics.figure was the lowest)."""
import dataclasses
import json
import math
import os
import time

import checkpoints
import configurator
import data
import run_folder
import metrics
import prior
from configurator import UsageError


def read_best(out_dir):
    """(prefix of best/'s checkpoint, its scores.json) when best/ reads back whole and is this run's (its
    config.json: configurator.changed), else (None, None) and a note (the next scores replace it)."""
    folder = run_folder.best_folder(out_dir)
    run_folder.recover_folder(folder)
    if not os.path.isdir(folder):
        return None, None
    try:
        best = run_folder.read_json(os.path.join(folder, 'scores.json'))
        held = checkpoints.numbered(folder)
        if not (isinstance(best.get('epoch'), int) and isinstance(best.get('figure'), float)
                and math.isfinite(best['figure']) and best['figure'] >= 0):  # an FID is never negative
            raise ValueError('no epoch and figure, an FID >= 0')
        try:
            own, theirs = configurator.from_saved(configurator.config_file(folder)), configurator.run_config(out_dir)
        except UsageError as e:
            raise ValueError(f'its config.json: {e}') from e
        differ = configurator.changed(theirs, own) if theirs else []
        if differ:
            raise ValueError(f'it is another run\'s: {differ[0]} {getattr(own, differ[0])!r}, not '
                             f'{getattr(theirs, differ[0])!r}')
        if [number for number, _ in held] != [best['epoch']]:
            raise ValueError(f'its checkpoint is not ckpt-{best["epoch"]}')
        why = checkpoints.damage(held[0][1])
        if why:
            raise ValueError(why)
    except (OSError, ValueError, run_folder.Unreadable) as e:
        print(f'note: {folder} does not read back ({run_folder.why(e) if isinstance(e, OSError) else e}): '
              f'the next scores replace it')
        return None, None
    return held[0][1], best


def write_scores(out_dir, lines):
    """scores.jsonl, these lines, written whole."""
    with run_folder.written(os.path.join(out_dir, metrics.SCORES)) as temporary, open(temporary, 'w') as f:
        f.writelines(line + '\n' for line in lines)


def append(out_dir, record):
    """scores.jsonl with `record` as its last line (the lines before it kept, those that do not read too)."""
    write_scores(out_dir, [line for line, _ in metrics.read_scores(out_dir, lines=True)] + [json.dumps(record)])


def forget_after(out_dir, epoch):
    """A resumed run redoes the epochs after its checkpoint: their scores go (best/ and unreadable lines stay)."""
    lines = metrics.read_scores(out_dir, lines=True)
    kept = [line for line, record in lines if record is None or record['epoch'] <= epoch]
    if len(kept) < len(lines):
        write_scores(out_dir, kept)


def unscored(cfg, done):
    """Whether epoch `done`, a scoring epoch, has a checkpoint but no record in scores.jsonl: a stop came
    between the two, and the resumed run scores it first (else best/ would never weigh it)."""
    return bool(done and cfg.eval_every and done % cfg.eval_every == 0) and not any(
        record.get('epoch') == done for record in metrics.read_scores(cfg.out_dir))


def due(cfg, done):
    """Whether the epochs after `done` include a scoring."""
    return bool(cfg.eval_every) and cfg.epochs // cfg.eval_every > done // cfg.eval_every


def start(cfg, done):
    """The feature networks when the epochs after `done` include a scoring, else None: loaded before the
    run trains, so that a missing network, or a validation split of too few images, stops it at once."""
    if not due(cfg, done):
        return None
    if cfg.metric_features == 'none':
        print(f'note: no validation scores and no best/ in this run: no feature network fits the images of '
              f'{cfg.data_dir or cfg.dataset} (metric_features none); pass --metric_features=inception (InceptionV3, '
              f'minutes a scoring on a CPU), or --metric_features=classifier,mlp if they are MNIST-like digits')
        return None
    if cfg.data_dir and set(data.folder_files(cfg, 'validation')) & set(data.folder_files(cfg, cfg.held_out_split)):
        print(f'note: the validation images of {cfg.data_dir} are also its held-out ({cfg.held_out_split}) '
              f'images: no scores and no best/ in this run (they would choose on the images they report on)')
        return None
    extractors = metrics.feature_extractors(cfg)
    found = sum(len(x) for x in data.held_out_dataset(cfg, metrics.MIN_IMAGES, 'validation').take(1))
    if found < metrics.MIN_IMAGES:
        split = f'{cfg.data_dir} has {found} validation image(s)' if cfg.data_dir else \
            f'validation_split {cfg.validation_split!r} has {found} image(s)'
        raise UsageError(f'{split}; the scores need at least {metrics.MIN_IMAGES}: pass another split, or '
                         f'--eval_every=0 to train without them')
    return extractors


def score(cfg, networks, epoch, step, extractors, overfitting=None):
    """Scores the encoder and decoder on the validation images, appends them to scores.jsonl (with D's
    `overfitting` that epoch, if given), and writes them to best/ if their figure beats the best so far;
    prints one line. Returns the record."""
    start = time.perf_counter()
    mixture = prior.fit(cfg, networks['encoder']) if cfg.prior == 'mixture' else None  # this epoch's codes
    scores = metrics.evaluate(cfg, networks['encoder'], networks['decoder'], cfg.eval_samples,
                              extractors=extractors, split='validation',
                              draw=lambda n: prior.sample(cfg, mixture, n, cfg.seed))
    scores['prior'] = prior.describe(mixture)
    figure = metrics.figure(scores)
    _, best = read_best(cfg.out_dir)
    split = f'{cfg.data_dir}: validation' if cfg.data_dir else cfg.validation_split
    how = dict(split=split, images=scores['images'], spaces=sorted(scores['features']), seed=cfg.seed,
               prior=scores['prior'])
    before = {key: best.get(key, 'normal' if key == 'prior' else None) for key in how} if best else how
    if before != how:  # a resume with other eval_samples, say: figures that do not compare
        print(f"note: best/ (epoch {best['epoch']}) was scored on other terms ({before}): these scores replace it")
        best = None
    record = {'epoch': epoch, 'step': step, 'figure': figure, 'best': best is None or figure < best['figure'],
              **scores, **how, **({'overfitting': overfitting} if overfitting else {})}
    if record['best']:
        settings = dataclasses.asdict(dataclasses.replace(cfg, out_dir=run_folder.best_folder(cfg.out_dir)))
        files = {'scores.json': record, **({'prior.json': prior.plain(mixture)} if mixture else {})}
        checkpoints.export(run_folder.best_folder(cfg.out_dir), networks, epoch, settings,
                           "the run's best: the epoch whose validation scores (scores.json) beat every earlier one's",
                           files)
    append(cfg.out_dir, record)
    print(f'  validation ({split}): FID ' + ', '.join(
        f'{space} {s["fid"]:.2f}' for space, s in scores['features'].items()) + f', MSE {scores["mse"]:.4f}: '
        + ('the best yet, kept in best/' if record['best'] else f'best/ stays (epoch {best["epoch"]})')
        + f' ({time.perf_counter() - start:.1f} s)')
    return record
