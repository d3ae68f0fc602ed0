"""The run's care, pure Python (checked before TensorFlow loads): the rules for the paths a command is given,
the one reader and the one writer (RELIABILITY.md's rules), the lock, signals, how a command starts and ends."""
import contextlib
import errno
import fcntl
import io
import json
import logging
import os
import re
import shlex
import shutil
import signal
import socket
import stat
import sys
import tempfile
import threading
import time


OWNED = ('checkpoints', 'logs', 'best', 'samples', 'metrics_cache', 'edits')  # and the grids' op-*/
CHECKPOINT = re.compile(r'ckpt-(\d+)\.index')  # a checkpoint's index file: ckpt-N.index, N its number
ORIGINAL = re.compile(r'model_(\d+)\.index')  # the original TF1 repo's checkpoints (original.py)
GRID = re.compile(r'epoch_(\d+)\.png')  # a run's grids in op-*/
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)  # Ctrl-C, kill, a closed terminal


class UsageError(Exception):
    """A fault the user can fix: the scripts print its one line (`error: ...`) and exit 1, no traceback."""


# ---- A run folder's files, and the paths a command may write ------------------------------------------

def checkpoint_folder(out_dir):
    return os.path.join(out_dir, 'checkpoints')


def best_folder(out_dir):
    return os.path.join(out_dir, 'best')


def entries(folder):
    try:
        return os.listdir(folder)
    except OSError:
        return []


def holds_checkpoints(folder):
    return any(CHECKPOINT.fullmatch(n) for n in entries(folder))


def holds_original(folder):
    return any(ORIGINAL.fullmatch(n) for n in entries(folder))


def is_export(folder):
    """Whether the folder is an exported model (or a run's best/): config.json beside a ckpt-N.index."""
    return 'config.json' in entries(folder) and holds_checkpoints(folder)


def is_run(folder):
    """Whether the folder is a training run's: config.json or checkpoints/ in it, and no export."""
    names = entries(folder)
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
    """(the run or export whose own folder `path` is or lies in, how) or (None, None); links resolved. The
    original TF1 repo's folder of model_N files counts too: it is read, never written in."""
    start = child = os.path.realpath(path)
    if holds_original(start):
        return start, 'holds the original TF1 repo\'s checkpoints (model_N), which this repo only reads'
    while True:
        parent = os.path.dirname(child)
        if parent == child:
            return None, None
        if is_export(parent):
            return parent, f'is inside the exported model {parent}'
        if holds_original(parent):
            return parent, f'is inside {parent}, which holds the original TF1 repo\'s checkpoints and is only read'
        if _owned(os.path.basename(child)) and is_run(parent):
            how = f'is {os.path.basename(child)}/' if child == start else f'is inside {child}'
            return parent, f'{how}, a folder the run in {parent} writes itself'
        child = parent


def inside(path, folder):
    """Whether `path` is `folder` or lies in it, both as the system resolves them."""
    path, folder = (os.path.realpath(p) for p in (path, folder))
    return os.path.commonpath([path, folder]) == folder


def not_owned(path, flag, fix=''):
    """Refuses a path in a run's own folders or an export (owner()): only its run writes there, no images read."""
    where, what = owner(path)
    if where:
        instead = os.path.join(os.path.dirname(where), os.path.basename(os.path.realpath(path)) + '-new')
        fix = fix or f'pass a folder outside it, such as {flag}={instead}'
        why = '' if holds_original(where) else ': a render or the next best model there would replace it'
        raise UsageError(f'{flag}={path} {what}{why}; {fix}')


def for_out_dir(path):
    """A training run's out_dir: a run's folder or one with none of a run's files; its own folders no links."""
    not_owned(path, '--out_dir')
    if is_export(path):
        raise UsageError(f'--out_dir={path} is an exported model, not a run: render it with --checkpoint={path}, or '
                         f'train into a new folder, such as --out_dir={os.path.realpath(path)}-run')
    names = entries(path)
    linked = sorted(n for n in names if _owned(n) and os.path.islink(os.path.join(path, n)))
    if linked:
        raise UsageError(f'{os.path.join(path, linked[0])} is a symbolic link, and a run writes (and deletes) in its '
                         f'own folders: put the folder itself there (or remove the link), or pass another --out_dir')
    if 'config.json' not in names:
        used = sorted(n for n in names if _owned(n) and n not in ('samples', 'metrics_cache', 'edits')
                      and entries(os.path.join(path, n)))  # (those a render into the folder writes too)
        if used:
            raise UsageError(f'--out_dir={path} holds {", ".join(n + "/" for n in used)} but no config.json (no run to '
                             f'go on): a new run would write over them; move them away, or pass a new folder')
    elif not any(n in names for n in ('checkpoints', 'op-real', 'op-gen', 'op-recons')):
        raise UsageError(f'--out_dir={path} holds a config.json but none of a run\'s folders (checkpoints/, op-*/): no '
                         f'run to go on (a kept result?), and training would rewrite it; pass a new folder')


def for_export(path):
    """An export's folder: new or empty (export() checks that under its lock), not a link."""
    if os.path.islink(os.path.normpath(path)):  # also LINK/ and LINK/.
        raise UsageError(f'--export={path} is a symbolic link: pass the folder it points to, or a new folder')
    if os.path.exists(path) and not os.path.isdir(path):
        raise UsageError(f'--export={path} is a file: pass a folder to write the model into')
    not_owned(path, '--export')


def command(script):
    """How to run one of the repo's scripts from the working directory: `python vae_gan.py`, or its path."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), script)
    shown = os.path.relpath(path)
    return f'python {shown if not shown.startswith("..") else path}'


# ---- The one reader: every file read back is a regular file, of a bounded size, checked for what it holds --

class Unreadable(Exception):
    """A file that is not what it should be, and why, in a few words (a derived file is then rebuilt)."""


def kind(mode):
    """What a file of this st_mode is, in words, when it is not a regular file ('' when it is)."""
    kinds = ((stat.S_ISREG, ''), (stat.S_ISLNK, 'a symbolic link'), (stat.S_ISDIR, 'a folder'),
             (stat.S_ISFIFO, 'a FIFO'), (stat.S_ISSOCK, 'a socket'))
    return next((words for test, words in kinds if test(mode)), 'a device')


def read_bytes(path, limit):
    """The contents of the regular file at `path` (or a link to one), at most `limit` bytes. Anything else is
    refused without blocking (a FIFO is opened without waiting, checked, and never read)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as e:
        raise Unreadable(e.strerror or str(e)) from e
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise Unreadable(f'not a regular file but {kind(mode)}')
    with os.fdopen(fd, 'rb') as f:
        try:
            contents = f.read(limit + 1)
        except OSError as e:
            raise Unreadable(e.strerror or str(e)) from e
    if len(contents) > limit:
        raise Unreadable(f'larger than {limit:,} bytes')
    return contents


def read_json(path):
    """The JSON object in the file at `path` (read_bytes), each key once (a hand edit's second "z_dim" would win)."""
    def once(pairs):
        keys = [key for key, _ in pairs]
        twice = next((key for key in keys if keys.count(key) > 1), None)
        if twice is not None:
            raise ValueError(f'the key {twice!r} appears twice')
        return dict(pairs)
    try:
        value = json.loads(read_bytes(path, 1 << 20), object_pairs_hook=once)
    except (ValueError, RecursionError) as e:  # (UnicodeDecodeError is one; RecursionError: nested too deep)
        raise Unreadable(f'not JSON: {str(e)[:120]}') from e
    if not isinstance(value, dict):
        raise Unreadable('not a JSON object')
    return value


def read_records(path):
    """[(each line, its JSON object with an int 'epoch', or None if it is not one)] of the JSON-lines file at path
    (read_bytes; [] without a file): scores.jsonl's records, each line judged alone."""
    text = read_bytes(path, 1 << 28).decode(errors='replace') if os.path.lexists(path) else ''
    read = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            record = None
        read.append((line, record if isinstance(record, dict) and type(record.get('epoch')) is int else None))
    return read


def read_arrays(path, spec, finite=True):
    """{name: array} from the .npz (spec a dict) or .npy (spec one (dtype, shape), the array returned alone)
    at `path`, each exactly as spec says: the dtype (or its kind, 'U' or 'i'), the shape (None: any length
    on that axis); floats finite (unless finite=False: NaN may stand for 'undefined'). Never unpickles."""
    import numpy as np
    several, contents = isinstance(spec, dict), read_bytes(path, 1 << 30)
    try:
        loaded = np.load(io.BytesIO(contents), allow_pickle=False)
        archive = isinstance(loaded, np.lib.npyio.NpzFile)
        arrays = {name: loaded[name] for name in spec} if several and archive else loaded
    except Exception as e:  # numpy and zipfile raise many kinds for a damaged file
        raise Unreadable(f'{type(e).__name__}: {str(e)[:80]}') from e
    if archive != several:
        raise Unreadable('an archive of arrays, not one array' if archive else 'one array, not an archive of arrays')
    for name, array in (arrays.items() if several else [('the array', arrays)]):
        dtype, shape = spec[name] if several else spec
        kind = array.dtype.kind == dtype if len(dtype) == 1 else array.dtype == np.dtype(dtype)
        if not kind or len(array.shape) != len(shape) or any(
                want is not None and want != have for want, have in zip(shape, array.shape)):
            raise Unreadable(f'{name} is {array.dtype} {array.shape}, not {np.dtype(dtype)} {shape}')
        if finite and array.dtype.kind == 'f' and not np.all(np.isfinite(array)):
            raise Unreadable(f'{name} is not finite')
    return arrays


# ---- The one writer: whole files and folders built beside their place and renamed in; never through a link

def folder(root, *parts):
    """root/part/..., made where missing; a link or a file in a part's place is refused in one line (the repo
    never writes through a link inside a run or an export; root itself may be one: the user's choice)."""
    if os.path.lexists(root) and not os.path.isdir(root):
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), root)
    os.makedirs(root, exist_ok=True)
    path = root
    for part in parts:
        path = os.path.join(path, part)
        with contextlib.suppress(FileExistsError):
            os.mkdir(path)
        if os.path.islink(path) or not os.path.isdir(path):
            kind = 'a symbolic link' if os.path.islink(path) else 'a file'
            raise UsageError(f'{path} is {kind}, and the repo writes (and deletes) in that folder itself: put '
                             f'a folder of its own there (move the {kind.split()[-1]} away), then run again')
    return path


@contextlib.contextmanager
def written(path):
    """Yields a temporary path beside `path` (a dot name: globs such as *.png skip it) for the body to
    write, renamed to `path` when the body ends; if the body fails, `path` is as it was."""
    parent, name = os.path.split(path)
    temporary = os.path.join(parent, f'.tmp{os.getpid()}.{name}')  # the same extension, for the writers that read it
    try:
        if os.path.lexists(temporary):  # a link planted there would be written through
            os.remove(temporary)
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
def written_folder(path, check=None):
    """Yields a temporary folder beside `path` for the body to fill, renamed into its place when the body ends
    (the folder there before set aside, then deleted); if the body fails, `path` is as it was. check(): called
    under the caller's lock just before the rename, to refuse a place another command wrote meanwhile."""
    recover_folder(path)
    if os.path.lexists(path) and not os.path.islink(path) and not os.path.isdir(path):  # a user's file: kept
        raise UsageError(f'{path} is a file, where the repo writes a folder of its own: move the file away, then '
                         f'run again')
    parent, name = os.path.split(os.path.abspath(path))
    temporary = os.path.join(parent, f'.{name}.tmp{os.getpid()}')  # (recover_folder removed any of ours)
    os.makedirs(temporary)
    try:
        yield temporary
        if check:
            check()
        old = os.path.join(parent, f'.{name}.old{os.getpid()}')
        if os.path.lexists(path):
            os.rename(path, old)  # a link is renamed, never followed
        os.rename(temporary, path)
        if os.path.isdir(old) and not os.path.islink(old):
            shutil.rmtree(old, ignore_errors=True)
        elif os.path.lexists(old):  # a link in the folder's place: the link itself
            os.remove(old)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def recover_folder(path):
    """Clears what a killed written_folder left beside `path`, bringing the folder back if it was set aside."""
    parent, name = os.path.split(os.path.abspath(path))
    for leftover in entries(parent):
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
    """A script's first lines, before TensorFlow loads (as a script, name '__main__'): an output that never fails
    the command (_Output), --help, settle(argv) refusing the flags in one line, a stop while TensorFlow loads
    in one line. Then TensorFlow and Keras load, without their start-up lines. Returns the start's clock."""
    started = time.perf_counter()
    if name == '__main__':
        for fd, stream in ((1, 'stdout'), (2, 'stderr')):
            if getattr(sys, stream) is None:  # closed (`>&-`): /dev/null there, not the next file the command opens
                null = os.open(os.devnull, os.O_WRONLY)
                if null != fd:
                    os.dup2(null, fd)
                    os.close(null)
                setattr(sys, stream, open(fd, 'w', closefd=False))
        sys.stdout, sys.stderr = _Output(sys.stdout), _Output(sys.stderr)
        if '--help' in sys.argv[1:] or '-h' in sys.argv[1:]:
            print(usage.strip(), flush=True)
            sys.exit(0)
        try:
            settle(sys.argv[1:])
        except UsageError as e:
            sys.exit(f'error: {e}')
        for signum in SIGNALS:  # until the script's own (guarded)
            signal.signal(signum, _stopped_while_loading)
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')  # no cuInit / grappler error lines
    # Keras 3 imports scikit-learn and matplotlib.pyplot when installed, for code this repo never calls (a
    # second of every start on 2 cores): hidden while it loads; afterwards they import as usual.
    hidden = [module for module in ('sklearn', 'matplotlib.pyplot') if module not in sys.modules]
    sys.modules.update(dict.fromkeys(hidden))  # None there: `import sklearn` raises ImportError
    # TensorFlow's C++ start-up lines (oneDNN, CUDA drivers: written before TF_CPP_MIN_LOG_LEVEL is read) go
    # to a temporary file while it loads, shown only if the import fails.
    try:
        sys.stderr.flush()
        _STDERR[:] = [os.dup(2)]
        with tempfile.TemporaryFile() as caught:
            os.dup2(caught.fileno(), 2)
            try:
                __import__('keras')
                __import__('tensorflow')
            except BaseException:
                os.dup2(_STDERR[0], 2)
                caught.seek(0)
                sys.stderr.write(caught.read().decode(errors='replace'))
                raise
            finally:
                os.dup2(_STDERR[0], 2)
                os.close(_STDERR.pop())
    finally:
        for module in hidden:
            if module in sys.modules and sys.modules[module] is None:
                del sys.modules[module]
    return started


class _Output:
    """A script's sys.stdout or sys.stderr, whose reader may go away (`| head -1`) or whose disk may fill: the
    first write that fails says so in one line on stderr, and the rest goes to /dev/null; the command goes on."""

    def __init__(self, stream):
        self.stream = stream

    def __getattr__(self, name):
        return getattr(self.stream, name)

    def write(self, text):
        return self._unbroken(self.stream.write, text)

    def flush(self):
        self._unbroken(self.stream.flush)

    def _unbroken(self, method, *args):
        try:
            return method(*args)
        except OSError as e:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, self.stream.fileno())
            os.close(null)
            cause = 'a pipe its reader closed' if isinstance(e, BrokenPipeError) else e.strerror or e
            print(f'note: the standard output went away ({cause}): the command goes on without it', file=sys.stderr,
                  flush=True)
            return method(*args)  # into /dev/null now


_STDERR = []  # while TensorFlow loads: the standard error it would print its start-up lines to


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
    hook = sys.unraisablehook  # a signal's KeyboardInterrupt raised in a destructor is dropped there:
    sys.unraisablehook = lambda unraisable: (  # stop_if_asked raises it again, not "Exception ignored"
        None if isinstance(unraisable.exc_value, KeyboardInterrupt) else hook(unraisable))
    try:
        with _acknowledged():
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
        if not _STOPPING:  # (a stopped command keeps its silence to the end)
            sys.unraisablehook = hook
        _STOPPING.clear()


@contextlib.contextmanager
def _acknowledged():
    """The first signal is answered at once with a `stopping:` line, though Python runs its handler only
    between bytecodes, never while TensorFlow runs a step: the system writes each signal's number into a
    pipe (signal.set_wakeup_fd) that a thread reads. All is as before when the body ends."""
    read_end, write_end = os.pipe()
    def acknowledge():
        told = False
        with open(read_end, 'rb', buffering=0) as pipe:
            for number in iter(lambda: pipe.read(1), b''):  # until the pipe closes
                if number[0] in SIGNALS and not told:
                    told = True
                    with contextlib.suppress(OSError):  # (a closed terminal)
                        print('stopping: the work in progress ends first (a training step can take a while); '
                              'nothing more will be written', file=sys.stderr, flush=True)
    os.set_blocking(write_end, False)
    previous = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
    reader = threading.Thread(target=acknowledge, daemon=True)
    reader.start()
    try:
        yield
    finally:
        signal.set_wakeup_fd(previous)
        os.close(write_end)
        reader.join(1)  # its line before the command's last


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
        sys.exit(0)
    except SystemExit as e:  # ended here, inside the handler: the exception and its frames are never freed
        if isinstance(e.code, str):
            print(e.code, file=sys.stderr)
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(e.code if isinstance(e.code, int) else 0 if e.code is None else 1)


_STOPPING = []  # the signal that asked the guarded command to stop, once one has


def _interrupt(signum, frame):
    for other in SIGNALS:  # a second signal does not cut the ending short (a Python no-op, not SIG_IGN: one
        signal.signal(other, _ignored)  # already pending when this runs would raise "ignored due to race")
    _STOPPING[:] = [signum]
    raise KeyboardInterrupt(signum)


def _ignored(signum, frame):
    pass


def stop_if_asked():
    """Raises again a signal's KeyboardInterrupt, in case it was lost (raised in a destructor or a callback)."""
    if _STOPPING:
        raise KeyboardInterrupt(_STOPPING[0])


@contextlib.contextmanager
def locked(out_dir):
    """out_dir's lock held while the body runs, first removing what interrupted saves left in checkpoints/."""
    with made(out_dir), Lock(out_dir):
        held = checkpoint_folder(out_dir)
        if os.path.isdir(held) and not os.access(held, os.W_OK):  # (at the first save, an epoch would be lost)
            raise UsageError(f'cannot write to {held} (read-only?): make it writable, then run again')
        for name in entries(held):
            path = os.path.join(held, name)
            if name.endswith('_temp') and (os.path.islink(path) or os.path.isdir(path)):
                os.remove(path) if os.path.islink(path) else shutil.rmtree(path, ignore_errors=True)  # a link itself
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
            with contextlib.suppress(OSError):  # (one the body wrote in is not empty: kept)
                os.rmdir(path)


class Lock:
    """One command of a kind at a time (out_dir/lock, out_dir/samples.lock, .NAME.lock beside an export): an
    operating-system lock, released when the process ends, on a file that names its holder (RELIABILITY.md)."""

    def __init__(self, out_dir, name='lock', doing='in use', subject=None):
        self.path = os.path.join(out_dir, name)
        self.doing = doing  # the refusal's words: '<subject> is <doing> by <holder>'
        self.subject = subject or out_dir
        self.other = 'another folder' if subject else 'another --out_dir'
        self.file = None

    def acquire(self):
        while True:
            mode = os.lstat(self.path).st_mode if os.path.lexists(self.path) else stat.S_IFREG
            if not stat.S_ISREG(mode):  # a link, a folder, a FIFO or a device: never followed, read or written
                raise UsageError(f'{self.path} is {kind(mode)}, not a lock this repo wrote: move it away and run again')
            try:  # O_NOFOLLOW, O_NONBLOCK: a link or a FIFO put there since is an error, never waited on
                file = open(os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644),
                            'r+b', buffering=0)
            except OSError as e:
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
        now = time.strftime('%Y-%m-%d %H:%M:%S')
        try:
            file.seek(0)
            file.truncate()
            file.write(f'process {os.getpid()} on {socket.gethostname()} since {now}\n'.encode())
        except OSError as e:  # a full disk: no empty lock is left behind (the file is ours, locked)
            os.remove(self.path)
            file.close()
            raise UsageError(f'cannot write to {self.path} ({e.strerror or e}): pass a writable --out_dir') from e
        self.file = file
        return self

    __enter__ = acquire

    def release(self, *error):
        """Never raises: a lock file someone deleted must not hide how the command ended."""
        if self.file:
            with contextlib.suppress(OSError):
                os.remove(self.path)  # before the unlock: a waiting command then opens a new file
            self.file.close()
            self.file = None

    __exit__ = release


def _holder(file):
    """What the lock file says of its holder, in printable characters (garbage is shown as such)."""
    file.seek(0)
    text = file.read(200).decode('ascii', errors='replace').strip()
    return ''.join(c if ' ' <= c <= '~' else '?' for c in text)
