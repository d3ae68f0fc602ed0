"""A run folder (out_dir) kept whole whatever ends a command: one training run per folder (the lock),
the leftovers of cut-off saves cleared, and every way a command can end (a user's fault, a full or
vanished disk, Ctrl-C, kill) turned into one line and an exit code, with the lock released.

    with run_folder.guarded('vae_gan.py', argv, lambda: cfg and cfg.out_dir):   # how it ends
        ...
        with run_folder.locked(cfg.out_dir, is_chief):                         # while it writes
            ...
"""
import contextlib
import fcntl
import logging
import os
import shlex
import shutil
import signal
import socket
import sys
import time

import tensorflow as tf

import checkpoints
import configurator
import files
from configurator import UsageError


@contextlib.contextmanager
def guarded(script, argv, out_dir, training=True):
    """Runs a command so that it ends in one line and the right exit code: a UsageError as `error: ...`
    (exit 1); a failed read or write (an OSError or TensorFlow's: a full disk, a folder gone or read-only)
    as `error: <file>: <cause>` and what is left as it was (exit 1); Ctrl-C, kill or a closed terminal
    (SIGINT, SIGTERM, SIGHUP) as `stopped: ...` (exit 128 + the signal), further signals ignored while it
    ends. out_dir(): the run's folder once known, else None. A training run's lines name the checkpoint
    that holds it and the command to go on; another command's say that it changed nothing."""
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)
    _STOPPING.clear()
    try:
        yield
        stop_if_asked()  # a signal lost on the way still ends the command as one
    except UsageError as e:
        sys.exit(f'error: {e}')
    except (OSError, tf.errors.OpError) as e:
        folder = out_dir() or 'out_dir'
        kept = (f'the checkpoints saved before stay in {checkpoints.folder(folder)}' if training
                else f'what {folder} held before is as it was')
        sys.exit(f'error: {files.why(e)}: {kept}; fix that and run the same command again')
    except KeyboardInterrupt as e:
        sys.unraisablehook = lambda unraisable: None  # a writer's destructor cut off mid-file: noise after the line
        e.__traceback__ = None  # (the frames it held go now, before the line)
        if training:
            held = checkpoints.latest(checkpoints.folder(out_dir())) if out_dir() else None
            where = (f'{held} holds the run ({checkpoints.epoch_of(held)} epochs)' if held
                     else 'no checkpoint was saved yet')
        else:
            where = f'nothing written; what {out_dir() or "out_dir"} held before is as it was'
        print(f'\nstopped: {where}; go on with: {configurator.command(script)} {shlex.join(argv)}'.rstrip(), file=sys.stderr)
        sys.exit(128 + (e.args[0] if e.args else signal.SIGINT))
    finally:
        _STOPPING.clear()


_KEPT = None  # objects whose freeing would keep a script waiting (keep_until_exit); a list in a script


def keep_until_exit(thing):
    """Keeps `thing` alive until a script's process ends (run_script), so that it is never freed: freeing
    a tf.data iterator waits for its threads (40 s for MNIST's shuffle buffer of the whole training set),
    after the script's last line. Outside a script (tests), nothing is kept."""
    if _KEPT is not None:
        _KEPT.append(thing)
    return thing


def run_script(main, argv):
    """A script's entry point: main(argv), then the process ends at once with main's exit code, its
    output flushed. TensorFlow's teardown (its thread pools, tf.data's threads) could otherwise keep the
    prompt waiting for a minute after the last line. Every file is whole by then: each is renamed into
    place (files.py), and the lock released, before main returns."""
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
    for other in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # a second Ctrl-C does not cut the ending short
        signal.signal(other, signal.SIG_IGN)
    _STOPPING[:] = [signum]
    raise KeyboardInterrupt(signum)


def stop_if_asked():
    """Raises again the KeyboardInterrupt a signal raised, in case it was lost: Python runs a signal's
    handler wherever the main thread is, and an exception raised inside a destructor or a callback
    (TensorFlow runs many as it builds and frees graphs) is reported and dropped. The command would go
    on, deaf to further signals (a run trained on after a closed terminal's SIGHUP during its start).
    Training calls it every step; guarded() once the command's body is done."""
    if _STOPPING:
        raise KeyboardInterrupt(_STOPPING[0])


@contextlib.contextmanager
def locked(out_dir, is_chief=True, scratch=None):
    """The chief holds out_dir's lock (one run per out_dir) while the body runs, and first clears what
    interrupted saves left. However the body ends, the lock is released, an out_dir this call made and
    left empty (the run failed before writing anything) is removed, and so is `scratch` (a worker's
    temporary checkpoints)."""
    try:
        with made(out_dir if is_chief else None), Lock(out_dir) if is_chief else contextlib.nullcontext():
            if is_chief:
                for name in checkpoints.clean_interrupted_saves(checkpoints.folder(out_dir)):
                    print(f'note: removed {name}, left by an interrupted save')
            yield
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)


@contextlib.contextmanager
def made(folder):
    """The folder (and its missing parents) made for the body, unless None; however the body ends, the
    folders this call made and the body left empty are removed again. One line if it cannot be made."""
    if folder is None:
        yield
        return
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
    """An exclusive lock for one command at a time of a kind: out_dir/lock for training,
    out_dir/samples.lock for rendering, .NAME.lock beside an export's folder. The file holds the
    holder's process id and host. The operating system releases the lock when the process ends, however
    it ends, so a lock left by a killed command is taken over (with a note); a live holder makes a
    second command refuse in one line. A lock file that is a symbolic link is never followed (it could
    point at any file): refused, as is a folder in its place."""

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
                if os.path.islink(self.path):
                    raise UsageError(f'{self.path} is a symbolic link, not a lock this repo wrote: remove the link '
                                     f'(rm {shlex.quote(self.path)}) and run again') from e
                if os.path.isdir(self.path):
                    raise UsageError(f'{self.path} is a folder, not a lock this repo wrote: move it away and run '
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
        """Never raises: a lock file someone deleted, or a folder gone, must not hide how the command
        ended. The operating system's lock goes with the file handle."""
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
