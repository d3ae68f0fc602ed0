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
import os
import shlex
import shutil
import signal
import socket
import sys
import time

import checkpoints
from configurator import UsageError


@contextlib.contextmanager
def guarded(script, argv, out_dir):
    """Runs a command so that it ends in one line: a UsageError as `error: ...` and an OSError (a full
    disk, a folder gone) as `error: writing failed ...`, both with exit 1; Ctrl-C or kill (SIGINT,
    SIGTERM) as `stopped: ...` naming the checkpoint that holds the run and the command to go on,
    exit 128 + the signal. out_dir(): the run's folder once known, else None."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _interrupt)
    try:
        yield
    except UsageError as e:
        sys.exit(f'error: {e}')
    except OSError as e:
        folder = checkpoints.folder(out_dir()) if out_dir() else 'out_dir'
        sys.exit(f'error: writing failed ({e}): the checkpoints saved before stay in {folder}; '
                 f'fix that and run the same command again')
    except KeyboardInterrupt as e:
        held = checkpoints.latest(checkpoints.folder(out_dir())) if out_dir() else None
        where = (f'{held} holds the run ({checkpoints.epoch_of(held)} epochs)' if held
                 else 'no checkpoint was saved yet')
        print(f'\nstopped: {where}; go on with: python {script} {shlex.join(argv)}'.rstrip(), file=sys.stderr)
        sys.exit(128 + (e.args[0] if e.args else signal.SIGINT))


def _interrupt(signum, frame):
    raise KeyboardInterrupt(signum)


@contextlib.contextmanager
def locked(out_dir, is_chief=True, scratch=None):
    """The chief holds out_dir's lock (one run per out_dir) while the body runs, and first clears what
    interrupted saves left. However the body ends, the lock is released, an out_dir this call made and
    left empty (the run failed before writing anything) is removed, and so is `scratch` (a worker's
    temporary checkpoints)."""
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise UsageError(f'out_dir {out_dir} is a file: pass a folder, new or of an earlier run')
    made = []  # the folders this call creates, innermost first
    path = os.path.abspath(out_dir)
    while not os.path.exists(path):
        made.append(path)
        path = os.path.dirname(path)
    lock = Lock(out_dir)
    try:
        if is_chief:
            try:
                os.makedirs(out_dir, exist_ok=True)
                lock.acquire()
            except OSError as e:
                raise UsageError(f'cannot write to {out_dir} ({e.strerror or e}): pass a writable --out_dir') from e
            for name in checkpoints.clean_interrupted_saves(checkpoints.folder(out_dir)):
                print(f'note: removed {name}, left by an interrupted save')
        yield
    finally:
        lock.release()
        for folder in made:
            if os.path.isdir(folder) and not os.listdir(folder):
                os.rmdir(folder)
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)


class Lock:
    """An exclusive lock on out_dir for one training run: out_dir/lock holds the holder's process id
    and host. The operating system releases it when the process ends, however it ends, so a lock left
    by a killed run is taken over (with a note); a live holder makes a second run refuse in one line."""

    def __init__(self, out_dir):
        self.path = os.path.join(out_dir, 'lock')
        self.file = None

    def acquire(self):
        while True:
            file = open(self.path, 'a+')
            try:
                fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                file.seek(0)
                holder = file.read().strip() or 'another process'
                file.close()
                raise UsageError(f'{os.path.dirname(self.path)} is in use by {holder}: wait for that run to end, '
                                 f'or pass another --out_dir')
            if os.path.exists(self.path) and os.path.samefile(self.path, file.fileno()):
                break  # else the holder deleted the file as we opened it: try again
            file.close()
        file.seek(0)
        before = file.read().strip()
        if before:
            print(f'note: taking over the lock of {before}, which has ended')
        file.seek(0)
        file.truncate()
        file.write(f'process {os.getpid()} on {socket.gethostname()} since {time.strftime("%Y-%m-%d %H:%M:%S")}\n')
        file.flush()
        self.file = file
        return self

    def release(self):
        if self.file:
            os.remove(self.path)  # before the unlock: a waiting run then opens a new file
            self.file.close()
            self.file = None
