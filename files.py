"""The rule for every file the repo writes: to a temporary name beside it, then renamed into place, so
a reader finds the old file or the new one, never part of one (a rename within a folder is atomic).
And a helper that says in a few words why reading or writing a file failed.
"""
import contextlib
import json
import os
import re
import shutil


@contextlib.contextmanager
def written(path):
    """Yields a temporary path beside `path` for the body to write; renames it to `path` when the body
    ends. If the body fails (a full disk, Ctrl-C), the temporary file is removed and `path` is as it
    was. The temporary name starts with a dot, so globs such as *.png never see it."""
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
    """Yields a temporary folder beside `path` for the body to fill; when the body ends, it takes the
    place of `path`: the folder there before (if any) is renamed aside, the new one renamed in, the old
    one deleted. If the body fails, the temporary folder is deleted and `path` is as it was."""
    parent, name = os.path.split(os.path.abspath(path))
    _clear_leftovers(parent, name)
    temporary = os.path.join(parent, f'.{name}.tmp{os.getpid()}')
    shutil.rmtree(temporary, ignore_errors=True)
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
    """Before a folder that written_folder writes is read: what a killed writer left beside it is
    cleared, and the folder comes back if the kill fell between its two renames."""
    parent, name = os.path.split(os.path.abspath(path))
    if os.path.isdir(parent):
        _clear_leftovers(parent, name)


def _clear_leftovers(parent, name):
    """What a killed written_folder left beside `name`: its temporary folders are deleted, and a folder
    it had renamed aside comes back if `name` is missing (the kill fell between the two renames)."""
    for leftover in os.listdir(parent):
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
    if cause:
        return f'{cause.lower()} ({text[:300]})'
    return f'{type(error).__name__}: {text[:300]}'


_CAUSES = ('No space left on device', 'Read-only file system', 'Permission denied', 'No such file or directory',
           'Disk quota exceeded')
