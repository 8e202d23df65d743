"""Writing output files safely: atomic replacement of regular files."""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_write"]

_UMASK: int | None = None
_UMASK_LOCK = threading.Lock()


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """Open a binary file that replaces ``path`` only if the block succeeds.

    The data goes to a temporary file ``.NAME.*.tmp`` in the same directory,
    which is renamed over ``path`` (:func:`os.replace`, atomic on POSIX and
    Windows) when the ``with`` block ends normally. On any exception the
    temporary file is removed and ``path`` is left as it was.

    Parameters
    ----------
    path : str or path-like
        The file to create or replace.

    Yields
    ------
    BinaryIO
        The open temporary file.

    Raises
    ------
    FileNotFoundError
        If the directory of ``path`` does not exist.

    Notes
    -----
    The file gets the permissions a plain ``open(path, "w")`` would give
    (``0o666`` minus the umask), not ``mkstemp``'s private ``0o600``. The data
    is not fsynced: the rename protects against failed writes, not power loss.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            yield file
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise




def _umask() -> int:
    # The umask can only be read by setting it; do that once, under a lock.
    global _UMASK
    with _UMASK_LOCK:
        if _UMASK is None:
            _UMASK = os.umask(0o022)
            os.umask(_UMASK)
    return _UMASK


