"""Which folders a command may write into, checked before anything is written (pure Python: the
scripts check their paths before TensorFlow loads).

A run folder (vae_gan.py's out_dir) holds config.json and the folders its run writes itself (OWNED:
checkpoints/, logs/, op-*/, best/, samples/, metrics_cache/); an export (vae_gan_inference.py --export,
and a run's best/) holds config.json beside its checkpoint, ckpt-N.index. The rule for every path a
command is given: nothing is written inside a run's own folders or inside an export (a render, or the
run's next best/, would replace it whole); a run trains only into a run folder or a folder that holds
no run's files; an export goes into a new or empty folder; a render writes samples/ into a run, an
export or a folder of its own. Each check returns the refusal, one line naming the path and what to
pass instead, or None (configurator.py raises it as a UsageError).
"""
import json
import os
import re

OWNED = ('checkpoints', 'logs', 'best', 'samples', 'metrics_cache', 'op-real', 'op-recons', 'op-gen')
CHECKPOINT = re.compile(r'ckpt-\d+\.index')
GRID = re.compile(r'epoch_(\d+)\.png')  # a run's grids in op-*/


def _entries(folder):
    try:
        return os.listdir(folder)
    except OSError:
        return []


def is_export(folder):
    """Whether the folder is an exported model (or a run's best/): config.json beside a ckpt-N.index."""
    names = _entries(folder)
    return 'config.json' in names and any(CHECKPOINT.fullmatch(n) for n in names)


def is_run(folder):
    """Whether the folder is a training run's: config.json or checkpoints/ in it, and no export."""
    names = _entries(folder)
    return ('config.json' in names or 'checkpoints' in names) and not is_export(folder)


def _owned(name):
    return name in OWNED or name.startswith('op-')


def owner(path):
    """(the run or export whose own folder `path` is or lies in, how) or (None, None): the path is one
    of a run's OWNED folders (RUN/samples, RUN/best), inside one (RUN/samples/x), or inside an export.
    The path is taken as the system resolves it: through its symbolic links and their '..'."""
    start = child = os.path.realpath(os.path.expanduser(path))
    while True:
        parent = os.path.dirname(child)
        if parent == child:
            return None, None
        if is_export(parent):
            return parent, f'is inside the exported model {parent}'
        if _owned(os.path.basename(child)) and is_run(parent):
            return parent, (f'is {os.path.basename(child)}/, a folder the run in {parent} writes itself' if child == start
                            else f'is inside {child}, a folder the run in {parent} writes itself')
        child = parent


def inside(path, folder):
    """Whether `path` is `folder` or lies in it, both as the system resolves them."""
    path, folder = (os.path.realpath(os.path.expanduser(p)) for p in (path, folder))
    return os.path.commonpath([path, folder]) == folder


def _outside(path, where):
    """A folder beside the run or export that holds path: what to pass instead."""
    name = os.path.basename(os.path.realpath(os.path.expanduser(path)))
    return os.path.join(os.path.dirname(where), name + '-new')


def for_training(path, flag='--out_dir'):
    """A training run's out_dir: a run folder or a new one, never an export nor a folder inside a run's
    own folders or an export; a run's own folders are folders, not links to elsewhere (the run writes
    and deletes in them); a folder without a run's config.json holds none of the folders training
    writes with files in (a new run would write over them), and a config.json alone (a kept result) is
    no run to go on."""
    where, what = owner(path)
    if where:
        return (f'{flag}={path} {what}: a render or the next best model there would replace it; '
                f'pass a folder outside it, such as {flag}={_outside(path, where)}')
    if is_export(path):
        return (f'{flag}={path} is an exported model, not a run: render it with --checkpoint={path}, or train '
                f'into a new folder, such as {flag}={os.path.realpath(path)}-run')
    names = _entries(path)
    linked = sorted(n for n in names if _owned(n) and os.path.islink(os.path.join(path, n)))
    if linked:
        return (f'{os.path.join(path, linked[0])} is a symbolic link, and a run writes (and deletes) in its own '
                f'folders: put the folder itself there (or remove the link), or pass another {flag}')
    if 'config.json' not in names:
        used = sorted(n for n in names if _owned(n) and n not in ('samples', 'metrics_cache')
                      and _entries(os.path.join(path, n)))  # (those two a render into the folder writes too)
        if used:
            return (f'{flag}={path} holds {", ".join(n + "/" for n in used)} but no config.json, so no run this '
                    f'repo can go on: a new run would write over them; move them away, or pass a new folder')
    elif not any(n in names for n in ('checkpoints', 'op-real', 'op-gen', 'op-recons')):
        return (f'{flag}={path} holds a config.json but none of a run\'s folders (checkpoints/, op-*/): it is no run '
                f'this repo can go on (a kept result?) and training would rewrite it; pass a new folder')
    return None


def for_rendering(path, flag='--out_dir'):
    """Where a render writes samples/: a run, an export or any folder not inside a run's own folders
    or an export."""
    where, what = owner(path)
    if where:
        return (f'{flag}={path} {what}: a later render or best model there would replace what is '
                f'written; pass a folder outside it, such as {flag}={_outside(path, where)}')
    return None


def for_export(path, flag='--export'):
    """An export's folder: new or empty (export() checks that under its lock), not a link, not inside
    a run's own folders or an export."""
    where, what = owner(path)
    if where:
        return f'{flag}={path} {what}: pass a folder outside it, such as {flag}={_outside(path, where)}'
    if os.path.islink(os.path.normpath(os.path.expanduser(path))):  # also LINK/ and LINK/.
        return f'{flag}={path} is a symbolic link: pass the folder it points to, or a new folder'
    if os.path.exists(path) and not os.path.isdir(path):
        return f'{flag}={path} is a file: pass a folder to write the model into'
    return None


def for_data(path, flag='--data_dir'):
    """A folder of images to read: never one a run or an export writes itself (RUN/samples/generations:
    the next render would replace the images being trained on)."""
    where, what = owner(path)
    if where:
        return (f'{flag}={path} {what}, and the next render or best model there replaces what it holds: copy the '
                f'images to a folder of their own and pass that')
    return None


def unseen_checkpoints(out_dir):
    """Why the run in out_dir cannot see its checkpoints although it has trained (checkpoints/ a file,
    unreadable, or gone while scores.jsonl or best/ remain), or None. Going on would start the run over
    on top of its own scores."""
    folder = os.path.join(out_dir, 'checkpoints')
    if os.path.lexists(folder) and not os.path.isdir(folder):
        return (f'{folder} is not a folder, so the run cannot see its checkpoints: move it away (or put the '
                f'checkpoints back there) and run again')
    try:
        held = [n for n in os.listdir(folder) if CHECKPOINT.fullmatch(n)] if os.path.isdir(folder) else []
    except OSError as e:
        return f'cannot read {folder} ({e.strerror or e}): fix its permissions and run again'
    scores = os.path.join(out_dir, 'scores.jsonl')
    trained = (os.path.isfile(scores) and os.path.getsize(scores) > 0) or os.path.isdir(os.path.join(out_dir, 'best'))
    trained = trained or _grids_past_a_checkpoint(out_dir)
    if trained and not held:
        return (f'{out_dir} has trained (its scores.jsonl, best/ or grids remain) but {folder} holds no checkpoint: '
                f'put its checkpoints back to go on, or train a new run, such as --out_dir='
                f'{os.path.normpath(out_dir)}-new (--checkpoint=best renders its best model); if it never saved '
                f'one, remove its op-*/ grids to start it over')
    return None


def _grids_past_a_checkpoint(out_dir):
    """Whether out_dir's grids (op-gen/epoch_N.png) go past its first checkpoint's epoch (config.json's
    checkpoint_every): that checkpoint was saved once. Grids up to it may come from a run stopped before
    its first save, which starts over from nothing lost."""
    try:
        with open(os.path.join(out_dir, 'config.json')) as f:
            every = json.load(f)['checkpoint_every']
        epochs = [int(m.group(1)) for m in map(GRID.fullmatch, _entries(os.path.join(out_dir, 'op-gen'))) if m]
        return isinstance(every, int) and any(epoch > every for epoch in epochs)
    except (OSError, ValueError, KeyError, TypeError):  # config.json itself is checked when it is read
        return False
