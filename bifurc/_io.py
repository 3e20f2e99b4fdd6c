"""Atomic file writing: a file is either written whole or left as it was.

Every file bifurc writes (CSV tables, figures) goes through `atomic_path`.
The data go to a hidden temporary file in the destination's folder, which is
flushed to disk and then renamed onto the destination with `os.replace`
(atomic within one file system, on POSIX and on Windows).  A reader sees the
old file or the new one, never a mixture, and a failed write leaves the old
file untouched.

Temporary files
---------------
The temporary file is ``.<name>.<pid>-<token>.tmp<suffix>`` beside the
destination ``<name>``: hidden, named after the destination and the writing
process, and ending with the destination's suffix (writers such as
matplotlib's ``savefig`` choose the format from it).

* The writer raises (an exception, KeyboardInterrupt): the temporary file is
  removed and the destination is untouched.
* The process is killed (SIGKILL, power loss): the destination is intact,
  the hidden temporary file stays behind.  The next successful write to the
  same destination removes the leftovers of processes that no longer run
  (POSIX only; on Windows they are kept, as there is no safe way to ask
  whether a process is alive).

The new file gets the permissions of the file it replaces, or, for a new
file, the usual ``0o666`` less the umask.  A destination that is a symbolic
link is written through: the link stays and its target is replaced.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import secrets
import stat
from pathlib import Path

__all__ = ["atomic_path", "write_text_atomic", "leftover_temporaries"]

logger = logging.getLogger(__name__)

# Permissions of a new file before the umask, as `open` would give it.
_NEW_FILE_MODE = 0o666

# Random hex digits in a temporary name (with the pid, collisions between
# writers of one destination are then out of the question).
_TOKEN_BYTES = 4

# Attempts at a fresh temporary name before giving up.
_MAX_NAME_ATTEMPTS = 100


@contextlib.contextmanager
def atomic_path(path, suffix=None):
    """Yield a temporary path beside `path`; rename it onto `path` on success.

    Parameters
    ----------
    path : str or os.PathLike
        The destination.  Its folder must exist.
    suffix : str, optional
        Suffix of the temporary file (defaults to that of `path`, so that
        writers that choose a format from the name, such as matplotlib's
        ``savefig``, see the right one).

    Yields
    ------
    pathlib.Path
        Where to write (an empty file, created).  If the block raises
        (KeyboardInterrupt included), the temporary file is removed and
        `path` is untouched; otherwise the file is flushed to disk and
        renamed onto `path`.

    Raises
    ------
    FileNotFoundError
        When the folder of `path` does not exist.
    IsADirectoryError
        When `path` is a folder.
    """
    path = _destination(path)
    suffix = path.suffix if suffix is None else suffix
    tmp = _create_temporary(path, suffix)
    try:
        yield tmp
        _sync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise

    _sync_folder(path.parent)
    _remove_leftovers(path, suffix)


def write_text_atomic(path, text, encoding="utf-8"):
    """Write `text` to `path` atomically (temporary file, then rename).

    Parameters
    ----------
    path : str or os.PathLike
    text : str
        Written as is (no newline translation).
    encoding : str
    """
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding=encoding, newline="") as handle:
            handle.write(text)


def leftover_temporaries(path, suffix=None):
    """Temporary files of `path` left behind by killed writers.

    Parameters
    ----------
    path : str or os.PathLike
        A destination of `atomic_path`.
    suffix : str, optional
        As for `atomic_path`.

    Returns
    -------
    list of pathlib.Path
        Hidden temporary files of `path` whose writing process no longer
        runs, sorted by name (always empty on Windows).
    """
    path = Path(path)
    suffix = path.suffix if suffix is None else suffix
    pattern = _temporary_pattern(path.name, suffix)

    found = []
    for name in sorted(os.listdir(path.parent)):
        match = pattern.fullmatch(name)
        if match and not _process_alive(int(match.group(1))):
            found.append(path.parent / name)
    return found


def _destination(path):
    """The real destination: symbolic links followed, folders refused."""
    path = Path(path)
    if path.is_symlink():
        path = Path(os.path.realpath(path))

    if path.is_dir():
        raise IsADirectoryError(
            errno.EISDIR, f"cannot write a file over the folder {path}", str(path)
        )
    if not path.parent.is_dir():
        raise FileNotFoundError(
            errno.ENOENT,
            f"cannot write {path.name}: the folder {path.parent} does not exist",
            str(path.parent),
        )
    return path


def _create_temporary(path, suffix):
    """Create the hidden temporary file beside `path` with the right mode."""
    mode = _NEW_FILE_MODE
    with contextlib.suppress(OSError):
        mode = stat.S_IMODE(path.stat().st_mode)

    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(_MAX_NAME_ATTEMPTS):
        token = secrets.token_hex(_TOKEN_BYTES)
        tmp = path.parent / f".{path.name}.{os.getpid()}-{token}.tmp{suffix}"
        try:
            fd = os.open(tmp, flags, mode)
        except FileExistsError:
            continue
        os.close(fd)

        if mode != _NEW_FILE_MODE:
            # An existing file keeps its permissions exactly (open applies the
            # umask, which may be stricter than the file's own mode).
            os.chmod(tmp, mode)
        return tmp
    raise FileExistsError(
        errno.EEXIST, f"no free temporary name beside {path}", str(path.parent)
    )


def _sync_file(tmp):
    """Flush the written data to disk before the rename makes them visible."""
    fd = os.open(tmp, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sync_folder(folder):
    """Flush the rename itself (POSIX; folders cannot be opened on Windows)."""
    if os.name == "nt":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return

    try:
        os.fsync(fd)
    except OSError:
        logger.debug("could not flush the folder %s", folder)
    finally:
        os.close(fd)


def _temporary_pattern(name, suffix):
    """Regular expression of the temporary names of destination `name`."""
    return re.compile(rf"\.{re.escape(name)}\.(\d+)-[0-9a-f]+\.tmp{re.escape(suffix)}")


def _remove_leftovers(path, suffix):
    """Delete temporary files of `path` whose writing process is gone."""
    for leftover in leftover_temporaries(path, suffix):
        with contextlib.suppress(OSError):
            leftover.unlink()
            logger.info("removed %s, left behind by a killed writer", leftover)


def _process_alive(pid):
    """Whether process `pid` runs (True when it cannot be told, and on Windows)."""
    if os.name == "nt" or pid == os.getpid():
        # On Windows os.kill(pid, 0) would send Ctrl-C, not ask.
        return True

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):
        return True
    return True
