"""Atomic file writing: a file is either written whole or left as it was."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["atomic_path", "write_text_atomic"]


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
        Where to write.  If the block raises (including KeyboardInterrupt),
        the temporary file is removed and `path` is untouched.
    """
    path = Path(path)
    suffix = path.suffix if suffix is None else suffix
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_text_atomic(path, text, encoding="utf-8"):
    """Write `text` to `path` atomically (temporary file, then rename)."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding=encoding, newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
