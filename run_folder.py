"""The run's care, pure Python (checked before TensorFlow loads): the rule for every path a command is
given, the resume policy, whole-file writes, the lock, signals, how a command starts and ends.

A run folder holds config.json and the folders its run writes itself (OWNED, op-*); an export (and a
run's best/) holds config.json beside its ckpt-N.index. Nothing else writes inside either.
"""
import contextlib
import dataclasses
import fcntl
import json
import logging
import os
import re
import shlex
import shutil
import signal
import socket
import sys
import tempfile
import time

import config
import configurator
from configurator import UsageError

OWNED = ('checkpoints', 'logs', 'best', 'samples', 'metrics_cache')  # and the grids' op-*/
CHECKPOINT = re.compile(r'ckpt-(\d+)\.index')  # a checkpoint's index file: ckpt-N.index, N its number
GRID = re.compile(r'epoch_(\d+)\.png')  # a run's grids in op-*/
PRESET_FILE = 'preset.json'  # beside a run's config.json: config.py's preset as the run last started with it
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)  # Ctrl-C, kill, a closed terminal


# ---- A run folder's files, and the paths a command may write ------------------------------------------

def checkpoint_folder(out_dir):
    return os.path.join(out_dir, 'checkpoints')


def best_folder(out_dir):
    return os.path.join(out_dir, 'best')


def _entries(folder):
    try:
        return os.listdir(folder)
    except OSError:
        return []


def holds_checkpoints(folder):
    return any(CHECKPOINT.fullmatch(n) for n in _entries(folder))


def is_export(folder):
    """Whether the folder is an exported model (or a run's best/): config.json beside a ckpt-N.index."""
    return 'config.json' in _entries(folder) and holds_checkpoints(folder)


def is_run(folder):
    """Whether the folder is a training run's: config.json or checkpoints/ in it, and no export."""
    names = _entries(folder)
    return ('config.json' in names or 'checkpoints' in names) and not is_export(folder)


def _owned(name):
    return name in OWNED or name.startswith('op-')


def run_of(path):
    """The run or export a checkpoint, file or folder belongs to: RUN for anything in RUN's own folders
    (RUN/checkpoints/ckpt-3), the export for its checkpoint; any other folder is its own."""
    folder = os.path.abspath(path)
    if not os.path.isdir(folder):
        folder = os.path.dirname(folder)
    parent = os.path.dirname(folder)
    return parent if _owned(os.path.basename(folder)) and (is_run(parent) or is_export(parent)) else folder


def owner(path):
    """(the run or export whose own folder `path` is or lies in, how) or (None, None); links resolved."""
    start = child = os.path.realpath(path)
    while True:
        parent = os.path.dirname(child)
        if parent == child:
            return None, None
        if is_export(parent):
            return parent, f'is inside the exported model {parent}'
        if _owned(os.path.basename(child)) and is_run(parent):
            how = f'is {os.path.basename(child)}/' if child == start else f'is inside {child}'
            return parent, f'{how}, a folder the run in {parent} writes itself'
        child = parent


def inside(path, folder):
    """Whether `path` is `folder` or lies in it, both as the system resolves them."""
    path, folder = (os.path.realpath(p) for p in (path, folder))
    return os.path.commonpath([path, folder]) == folder


def not_owned(path, flag, fix=''):
    """Refuses a path that is or lies in a run's own folders or an export (owner): a command writes
    nothing there but that run's own files, and reads no images from there."""
    where, what = owner(path)
    if where:
        instead = os.path.join(os.path.dirname(where), os.path.basename(os.path.realpath(path)) + '-new')
        fix = fix or f'pass a folder outside it, such as {flag}={instead}'
        raise UsageError(f'{flag}={path} {what}: a render or the next best model there would replace it; {fix}')


def for_out_dir(path, flag='--out_dir'):
    """A training run's out_dir: a run folder or a folder with none of a run's files, not an export; a
    run's own folders are not links (the run deletes in them)."""
    not_owned(path, flag)
    if is_export(path):
        raise UsageError(f'{flag}={path} is an exported model, not a run: render it with --checkpoint={path}, or '
                         f'train into a new folder, such as {flag}={os.path.realpath(path)}-run')
    names = _entries(path)
    linked = sorted(n for n in names if _owned(n) and os.path.islink(os.path.join(path, n)))
    if linked:
        raise UsageError(f'{os.path.join(path, linked[0])} is a symbolic link, and a run writes (and deletes) in its '
                         f'own folders: put the folder itself there (or remove the link), or pass another {flag}')
    if 'config.json' not in names:
        used = sorted(n for n in names if _owned(n) and n not in ('samples', 'metrics_cache')
                      and _entries(os.path.join(path, n)))  # (those two a render into the folder writes too)
        if used:
            raise UsageError(f'{flag}={path} holds {", ".join(n + "/" for n in used)} but no config.json (no run to '
                             f'go on): a new run would write over them; move them away, or pass a new folder')
    elif not any(n in names for n in ('checkpoints', 'op-real', 'op-gen', 'op-recons')):
        raise UsageError(f'{flag}={path} holds a config.json but none of a run\'s folders (checkpoints/, op-*/): no '
                         f'run to go on (a kept result?), and training would rewrite it; pass a new folder')


def for_export(path, flag='--export'):
    """An export's folder: new or empty (export() checks that under its lock), not a link."""
    if os.path.islink(os.path.normpath(path)):  # also LINK/ and LINK/.
        raise UsageError(f'{flag}={path} is a symbolic link: pass the folder it points to, or a new folder')
    if os.path.exists(path) and not os.path.isdir(path):
        raise UsageError(f'{flag}={path} is a file: pass a folder to write the model into')
    not_owned(path, flag)


def unseen_checkpoints(out_dir):
    """Refuses a run in out_dir that has trained (scores.jsonl, best/ or grids remain) but cannot see
    its checkpoints: going on would start it over on top of its own scores."""
    folder = checkpoint_folder(out_dir)
    if os.path.lexists(folder) and not os.path.isdir(folder):
        raise UsageError(f'{folder} is not a folder, so the run cannot see its checkpoints: move it away (or put the '
                         f'checkpoints back there) and run again')
    try:
        held = [n for n in os.listdir(folder) if CHECKPOINT.fullmatch(n)] if os.path.isdir(folder) else []
    except OSError as e:
        raise UsageError(f'cannot read {folder} ({e.strerror or e}): fix its permissions and run again') from e
    scores = os.path.join(out_dir, 'scores.jsonl')
    trained = (os.path.isfile(scores) and os.path.getsize(scores) > 0) or os.path.isdir(best_folder(out_dir))
    try:  # or its grids (op-gen/epoch_N.png) go past config.json's checkpoint_every: it saved one
        with open(configurator.config_file(out_dir)) as f:
            every = json.load(f)['checkpoint_every']
        epochs = [int(m.group(1)) for m in map(GRID.fullmatch, _entries(os.path.join(out_dir, 'op-gen'))) if m]
        trained = trained or (isinstance(every, int) and any(epoch > every for epoch in epochs))
    except (OSError, ValueError, KeyError, TypeError):  # config.json itself is checked when it is read
        pass
    if not held and trained:
        raise UsageError(f'{out_dir} has trained (its scores.jsonl, best/ or grids remain) but {folder} holds no '
                         f'checkpoint: put its checkpoints back to go on, or train a new run, such as --out_dir='
                         f'{os.path.normpath(out_dir)}-new (--checkpoint=best renders its best model); if it never '
                         f'saved one, remove its op-*/ grids to start it over')


# ---- The resume policy --------------------------------------------------------------------------------

def for_training(overrides):
    """(cfg, line) for `python vae_gan.py`: config.py's preset (--preset's, else the run's, else PRESET)
    with the flags on top. A run keeps its FIXED_FIELDS: a flag, or an edit of config.py since the run
    last started (PRESET_FILE), that changes one is refused. line: where the settings came from."""
    preset = configurator.preset_of(overrides)
    out_dir = overrides.get('out_dir', preset.out_dir)
    for_out_dir(out_dir)
    unseen_checkpoints(out_dir)
    saved = configurator.run_config(out_dir)
    if saved and 'preset' not in overrides:
        preset = config.PRESETS[saved.preset]
    flags = [f'{f}={v}' for f, v in overrides.items() if f not in ('preset', 'out_dir')]
    line = f"settings: config.py's {preset.preset} preset" + (f", with {', '.join(flags)} from the command line"
                                                             if flags else '')
    if saved is None:
        cfg = configurator.checked(dataclasses.replace(preset, **dict(overrides, out_dir=out_dir)))
        line += f' (a new run in {out_dir})'
    else:
        configurator.check_same_model(out_dir, saved, {'preset': preset.preset})
        try:
            with open(os.path.join(out_dir, PRESET_FILE)) as f:
                before = json.load(f)
        except (OSError, ValueError):
            before = None
        edited = {f for f in configurator.FIXED_FIELDS
                  if before and isinstance(before, dict) and before.get(f) != getattr(preset, f)}
        kept = {f: getattr(saved, f) for f in configurator.FIXED_FIELDS if f not in overrides and f not in edited}
        cfg = configurator.checked(dataclasses.replace(preset, **dict(overrides, **kept, out_dir=out_dir)))
        fixed = configurator.changed(saved, cfg)
        if fixed:
            raise UsageError(_refusal(out_dir, saved, cfg, overrides, fixed))
        changed = [f'{f} {getattr(saved, f)!r} -> {getattr(cfg, f)!r} ('
                   + ('command line' if f in overrides else 'config.py') + ')'
                   for f in configurator.FIELDS if f != 'out_dir' and getattr(cfg, f) != getattr(saved, f)]
        line += ('; changed since the run last started: ' + ', '.join(changed) if changed
                 else '; as when the run last started')
    if cfg.data_dir:
        not_owned(cfg.data_dir, '--data_dir', 'copy the images to a folder of their own and pass that')
    return cfg, line


def _refusal(out_dir, saved, cfg, overrides, fixed):
    """The refusal of a change to FIXED_FIELDS, with the commands to go on as it was or to start anew."""
    field = fixed[0]
    source = ('the command line asks for' if field in overrides else
              f"config.py's {cfg.preset} preset now has (edited since the run last started)")
    preset = config.PRESETS[cfg.preset]
    flag = lambda f, v: f'--{f}={"None" if v is None else v}'
    keep = {f: v for f, v in overrides.items() if f not in fixed}
    keep.update({f: getattr(saved, f) for f in fixed if getattr(saved, f) != getattr(preset, f)})
    keep.setdefault('out_dir', out_dir)
    new = {'preset': cfg.preset} if cfg.preset != config.PRESET else {}
    new.update({f: getattr(saved, f) for f in configurator.FIXED_FIELDS
                if f not in fixed and getattr(saved, f) != getattr(preset, f)})
    new.update({f: v for f, v in overrides.items() if f not in ('out_dir', 'preset')})
    parent, name = os.path.split(os.path.normpath(out_dir))
    new['out_dir'] = os.path.join(parent or 'runs', re.sub(r'[^\w.-]', '_', f'{name}-{field}-{getattr(cfg, field)}'))
    script = command('vae_gan.py')
    return (f'{out_dir} was trained with {field}={getattr(saved, field)!r} and {source} {getattr(cfg, field)!r}'
            + (f' (also {", ".join(fixed[1:])})' if fixed[1:] else '') + ': a run keeps its networks, data and seed. '
            f'Go on with it: `{script} {" ".join(flag(f, v) for f, v in keep.items())}`; or train the new setting '
            f'as a new run beside it: `{script} {" ".join(flag(f, v) for f, v in new.items())}`')


def command(script):
    """How to run one of the repo's scripts from the working directory: `python vae_gan.py`, or its path."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), script)
    shown = os.path.relpath(path)
    return f'python {shown if not shown.startswith("..") else path}'


# ---- Whole-file writes: a temporary name beside the file, renamed into place (atomic within a folder) --

@contextlib.contextmanager
def written(path):
    """Yields a temporary path beside `path` (a dot name: globs such as *.png skip it) for the body to
    write, renamed to `path` when the body ends; if the body fails, `path` is as it was."""
    folder, name = os.path.split(path)
    temporary = os.path.join(folder, f'.tmp{os.getpid()}.{name}')  # the same extension, for the writers that read it
    try:
        yield temporary
        os.replace(temporary, path)
    except OSError as e:
        if e.filename or e.filename2:
            raise
        raise OSError(e.errno, e.strerror or str(e), path) from e  # a writer's error without a name: the file's
    finally:
        with contextlib.suppress(OSError):
            os.remove(temporary)


def write_json(path, value):
    """value as indented JSON at path, written whole or not at all."""
    with written(path) as temporary, open(temporary, 'w') as f:
        json.dump(value, f, indent=2)


@contextlib.contextmanager
def written_folder(path):
    """Yields a temporary folder beside `path` for the body to fill, renamed into its place when the body
    ends (the folder there before renamed aside, then deleted); if the body fails, `path` is as it was."""
    recover_folder(path)
    parent, name = os.path.split(os.path.abspath(path))
    temporary = os.path.join(parent, f'.{name}.tmp{os.getpid()}')  # (recover_folder removed any of ours)
    os.makedirs(temporary)
    try:
        yield temporary
        old = os.path.join(parent, f'.{name}.old{os.getpid()}')
        if os.path.lexists(path):
            os.rename(path, old)  # a link is renamed, never followed
        os.rename(temporary, path)
        if os.path.isdir(old) and not os.path.islink(old):
            shutil.rmtree(old, ignore_errors=True)
        elif os.path.lexists(old):  # a file or a link in the folder's place
            os.remove(old)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def recover_folder(path):
    """Clears what a killed written_folder left beside `path`, bringing the folder back if it was set aside."""
    parent, name = os.path.split(os.path.abspath(path))
    for leftover in _entries(parent):
        match = re.fullmatch(rf'\.{re.escape(name)}\.(tmp|old)(\d+)', leftover)
        if not match or (_alive(int(match.group(2))) and int(match.group(2)) != os.getpid()):  # ours: an old run's
            continue
        where = os.path.join(parent, leftover)
        if match.group(1) == 'old' and not os.path.exists(os.path.join(parent, name)):
            os.rename(where, os.path.join(parent, name))
            print(f'note: {name} brought back from {leftover}, left by a process that was killed')
        else:
            shutil.rmtree(where, ignore_errors=True)
            print(f'note: removed {leftover}, left by a process that was killed')


def _alive(pid):
    try:
        os.kill(pid, 0)  # no signal: only asks whether the process exists (PermissionError: another user's)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def why(error):
    """An OSError or a TensorFlow error in a few words: the file and the cause."""
    if isinstance(error, OSError) and error.strerror:  # a rename's target (filename2) is the file in the way
        name = error.filename2 or error.filename
        return f'{name}: {error.strerror}' if name else error.strerror
    lines = str(error).strip().splitlines()
    if isinstance(error, OSError) and lines:  # the repo's own, which says what failed
        return lines[0]
    if not lines:
        return type(error).__name__
    # TensorFlow's: '{{function_node __wrapped__SaveV2...}} FILE; No space left on device [Op:SaveV2]'
    text = re.sub(r'\s*\[Op:\w+\]$', '', re.sub(r'^\{\{function_node [^}]*\}\}\s*', '', lines[0]))
    cause = next((c for c in _CAUSES if c.lower() in text.lower()), None)
    return f'{cause.lower()} ({text[:300]})' if cause else f'{type(error).__name__}: {text[:300]}'


_CAUSES = ('No space left on device', 'Read-only file system', 'Permission denied', 'No such file or directory',
           'Disk quota exceeded')


# ---- How a command starts and ends: the lock, signals, one line --------------------------------------

def start(name=None, usage='', settle=None):
    """A script's first lines, before TensorFlow loads: run as a script (name '__main__'), --help or -h
    prints `usage` and exits 0, and settle(argv) (the script's flags parsed and checked) refusing is one
    `error:` line and exit 1, at once; a stop while TensorFlow loads is one line. Then TensorFlow and
    Keras load, without their start-up lines. Returns the clock of the start-up line."""
    started = time.perf_counter()
    if name == '__main__':
        if '--help' in sys.argv[1:] or '-h' in sys.argv[1:]:
            try:
                print(usage.strip(), flush=True)
            except BrokenPipeError:  # `| head`: the rest goes nowhere (the Python docs' recipe)
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(0)
        try:
            settle(sys.argv[1:])
        except UsageError as e:
            sys.exit(f'error: {e}')
        for signum in SIGNALS:  # until the script's own (guarded)
            signal.signal(signum, _stopped_while_loading)
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')  # no cuInit / grappler error lines
    # Keras 3 imports scikit-learn and matplotlib.pyplot when installed, for code this repo never calls (a
    # second of every start on 2 cores): hidden while it loads; afterwards they import as usual (prior.py,
    # metrics.py).
    hidden = [module for module in ('sklearn', 'matplotlib.pyplot') if module not in sys.modules]
    sys.modules.update(dict.fromkeys(hidden))  # None there: `import sklearn` raises ImportError
    try:
        with _stderr_kept_back():
            import keras  # noqa: F401
            import tensorflow  # noqa: F401
    finally:
        for module in hidden:
            if module in sys.modules and sys.modules[module] is None:
                del sys.modules[module]
    return started


_STDERR = []  # while TensorFlow loads: the standard error it would print its start-up lines to


@contextlib.contextmanager
def _stderr_kept_back():
    """TensorFlow's C++ start-up lines (oneDNN, CUDA drivers: written before TF_CPP_MIN_LOG_LEVEL is
    read) go to a temporary file while it loads; they reach the terminal only if the import fails."""
    sys.stderr.flush()
    _STDERR[:] = [os.dup(2)]
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(_STDERR[0], 2)
            caught.seek(0)
            sys.stderr.write(caught.read().decode(errors='replace'))
            raise
        finally:
            os.dup2(_STDERR[0], 2)
            os.close(_STDERR.pop())


def _stopped_while_loading(signum, frame):
    """Ctrl-C (or a kill) while TensorFlow loads: one line, not the import's traceback."""
    if _STDERR:
        os.dup2(_STDERR[0], 2)
    print('\nstopped: nothing written (TensorFlow was still loading)', file=sys.stderr, flush=True)
    os._exit(128 + signum)


@contextlib.contextmanager
def guarded(script, argv, out_dir, newest=None):
    """Runs a command so that it ends in one line: a UsageError or a failed read or write as `error: ...`
    (exit 1), a signal as `stopped: ...` (exit 128 + the signal) with what is kept and how to go on.
    out_dir(): the run's folder once known, else None; newest: checkpoints.newest for a training run."""
    for signum in SIGNALS:
        signal.signal(signum, _interrupt)
    _STOPPING.clear()
    try:
        yield
        stop_if_asked()  # a signal lost on the way still ends the command as one
    except UsageError as e:
        sys.exit(f'error: {e}')
    except KeyboardInterrupt as e:
        sys.unraisablehook = lambda unraisable: None  # a writer's destructor cut off mid-file: noise after the line
        e.__traceback__ = None  # (the frames it held go now, before the line)
        if newest:
            held = newest(checkpoint_folder(out_dir())) if out_dir() else None
            where = f'{held[0]} holds the run ({held[1]} epochs)' if held else 'no checkpoint was saved yet'
        else:
            where = f'nothing written; what {out_dir() or "out_dir"} held before is as it was'
        print(f'\nstopped: {where}; go on with: {command(script)} {shlex.join(argv)}'.rstrip(), file=sys.stderr)
        sys.exit(128 + (e.args[0] if e.args else signal.SIGINT))
    except Exception as e:
        tf = sys.modules.get('tensorflow')  # a failed read or write: an OSError, or TensorFlow's once loaded
        if not isinstance(e, OSError) and not (tf and isinstance(e, tf.errors.OpError)):
            raise
        folder = out_dir() or 'out_dir'
        kept = (f'the checkpoints saved before stay in {checkpoint_folder(folder)}' if newest
                else f'what {folder} held before is as it was')
        sys.exit(f'error: {why(e)}: {kept}; fix that and run the same command again')
    finally:
        _STOPPING.clear()


_KEPT = None  # objects whose freeing would keep a script waiting (keep_until_exit); a list in a script


def keep_until_exit(thing):
    """Keeps `thing` alive until the script's process ends (run_script); outside a script (tests), nothing."""
    if _KEPT is not None:
        _KEPT.append(thing)
    return thing


def run_script(main, argv):
    """A script's entry point: main(argv), then the process ends at once with main's exit code, its
    output flushed, without waiting for TensorFlow's teardown (main leaves every file whole)."""
    global _KEPT
    _KEPT = []
    try:
        main(argv)
    except SystemExit as e:  # ended here, inside the handler: the exception and its frames are never freed
        if isinstance(e.code, str):
            print(e.code, file=sys.stderr)
        _exit(e.code if isinstance(e.code, int) else 0 if e.code is None else 1)
    _exit(0)


def _exit(code):
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


_STOPPING = []  # the signal that asked the guarded command to stop, once one has


def _interrupt(signum, frame):
    for other in SIGNALS:  # a second signal does not cut the ending short (a Python no-op, not SIG_IGN: one
        signal.signal(other, _ignored)  # already pending when this runs would raise "ignored due to race")
    _STOPPING[:] = [signum]
    raise KeyboardInterrupt(signum)


def _ignored(signum, frame):
    pass


def stop_if_asked():
    """Raises again the KeyboardInterrupt a signal raised, in case it was lost (raised inside a destructor
    or a callback, it is reported and dropped). Training calls it every step; guarded() at the end."""
    if _STOPPING:
        raise KeyboardInterrupt(_STOPPING[0])


@contextlib.contextmanager
def locked(out_dir):
    """out_dir's lock held while the body runs, first removing the *_temp folders interrupted saves left
    in checkpoints/."""
    with made(out_dir), Lock(out_dir):
        folder = checkpoint_folder(out_dir)
        for name in _entries(folder):
            if name.endswith('_temp') and os.path.isdir(os.path.join(folder, name)):
                shutil.rmtree(os.path.join(folder, name), ignore_errors=True)
                print(f'note: removed {name}, left by an interrupted save')
        yield


@contextlib.contextmanager
def made(folder):
    """The folder (and its missing parents) made for the body; however the body ends, the folders this
    call made and the body left empty are removed again. One line if it cannot be made."""
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise UsageError(f'out_dir {folder} is a file: pass a folder, new or of an earlier run')
    new = []  # the folders this call creates, innermost first
    path = os.path.abspath(folder)
    while not os.path.exists(path):
        new.append(path)
        path = os.path.dirname(path)
    try:
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as e:
            raise UsageError(f'cannot write to {e.filename or folder} ({e.strerror or e}): pass a writable '
                             f'--out_dir') from e
        yield
    finally:
        for path in new:
            with contextlib.suppress(OSError):
                if not os.listdir(path):
                    os.rmdir(path)


class Lock:
    """An exclusive lock, one command of a kind at a time: out_dir/lock for training, out_dir/samples.lock
    for rendering, .NAME.lock beside an export's folder; the file names its holder. The system releases
    it when the process ends (a killed command's is taken over); a link in its place is never followed."""

    def __init__(self, out_dir, name='lock', doing='in use', subject=None):
        self.path = os.path.join(out_dir, name)
        self.doing = doing  # the refusal's words: '<subject> is <doing> by <holder>'
        self.subject = subject or out_dir
        self.other = 'another folder' if subject else 'another --out_dir'
        self.file = None

    def acquire(self):
        while True:
            try:  # O_NOFOLLOW: a link in the lock's place is an error, not a file to write through
                file = os.fdopen(os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644), 'r+b')
            except OSError as e:
                if os.path.isdir(self.path) or os.path.islink(self.path):
                    kind = 'a symbolic link' if os.path.islink(self.path) else 'a folder'
                    raise UsageError(f'{self.path} is {kind}, not a lock this repo wrote: move it away and run '
                                     f'again') from e
                raise UsageError(f'cannot write to {self.path} ({e.strerror or e}): pass a writable --out_dir') from e
            try:
                fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = _holder(file) or 'another process'
                file.close()
                raise UsageError(f'{self.subject} is {self.doing} by {holder}: wait for it to end, '
                                 f'or pass {self.other}')
            if os.path.exists(self.path) and os.path.samefile(self.path, file.fileno()):
                break  # else the holder deleted the file as we opened it: try again
            file.close()
        before = _holder(file)
        if before:
            print(f'note: taking over the lock of {before}, which has ended')
        file.seek(0)
        file.truncate()
        now = time.strftime('%Y-%m-%d %H:%M:%S')
        file.write(f'process {os.getpid()} on {socket.gethostname()} since {now}\n'.encode())
        file.flush()
        self.file = file
        return self

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *error):
        self.release()

    def release(self):
        """Never raises: a lock file someone deleted must not hide how the command ended."""
        if self.file:
            with contextlib.suppress(OSError):
                os.remove(self.path)  # before the unlock: a waiting command then opens a new file
            self.file.close()
            self.file = None


def _holder(file):
    """What the lock file says of its holder, in printable characters (garbage is shown as such)."""
    file.seek(0)
    text = file.read(200).decode('ascii', errors='replace').strip()
    return ''.join(c if ' ' <= c <= '~' else '?' for c in text)
