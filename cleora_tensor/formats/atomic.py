"""Writing output files safely: checked targets, atomic replacement, all-or-nothing sets.

Every output goes to a temporary file ``.NAME.PID.XXXXXXXX.tmp`` beside its target
and is renamed over the target (:func:`os.replace`, atomic on POSIX) only when all
files of the write succeeded; on any exception, including the ``KeyboardInterrupt``
of SIGINT and the :class:`Terminated` raised on SIGTERM while files are open, the
temporary files are removed and the targets are left as they were. Temporary files
of a process that was killed (SIGKILL, power loss) are removed by the next write to
the same target, once their process no longer exists.

Targets are checked before any work: the folder must exist, the target must be a
regular file or not exist (never a device, FIFO, socket or folder), and it must not
be one of the run's inputs. A symbolic link is followed: the file it points to is
replaced and the link is kept. A replaced file keeps its permission bits.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import stat
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

__all__ = ["AtomicFiles", "Terminated", "atomic_write", "check_output", "file_kind"]

_UMASK: int | None = None
_UMASK_LOCK = threading.Lock()
_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
)


def file_kind(mode: int) -> str | None:
    """What a file of ``st_mode`` ``mode`` is, in words (``"a folder"``, ...); None for a regular file."""
    return next((kind for test, kind in _KINDS if test(mode)), None)


class Terminated(SystemExit):
    """Raised on SIGTERM while :class:`AtomicFiles` has files open, after removing them.

    A :class:`SystemExit` with code ``128 + SIGTERM`` (143): uncaught, the process
    ends silently with the status a plain SIGTERM gives, and ``except Exception``
    clauses do not swallow it.
    """

    def __init__(self) -> None:
        super().__init__(128 + signal.SIGTERM)


def check_output(path: str | os.PathLike[str], inputs: Iterable[str | os.PathLike[str]] = ()) -> Path:
    """Check that ``path`` can be written as an output, before any work is done.

    Parameters
    ----------
    path : str or path-like
        The output file. A symbolic link is followed (its target is checked).
    inputs : iterable of str or path-like, optional
        The run's input files; ``"-"`` (standard input) and paths that do not
        exist are ignored.

    Returns
    -------
    Path
        The file that will be replaced: ``path`` with symbolic links resolved.

    Raises
    ------
    FileNotFoundError
        If the folder of the target does not exist.
    NotADirectoryError
        If the folder of the target is not a folder.
    PermissionError
        If the folder is not writable.
    ValueError
        If the target exists and is not a regular file (a device, FIFO, socket
        or folder), or is one of ``inputs``.
    """
    target = Path(os.path.realpath(path))
    folder = target.parent
    # Plain messages (no "[Errno N]"): they are shown to users as they are.
    if not folder.exists():
        raise FileNotFoundError(f"output folder {str(folder)!r} does not exist")
    if not folder.is_dir():
        raise NotADirectoryError(f"output folder {str(folder)!r} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(f"output folder {str(folder)!r} is not writable")
    try:
        status = os.stat(target)
    except FileNotFoundError:
        return target
    kind = file_kind(status.st_mode)
    if kind is not None:
        raise ValueError(f"output {os.fspath(path)!r} is {kind}, not a regular file; give a file path")
    for name in inputs:
        if os.fspath(name) == "-":
            continue
        with contextlib.suppress(OSError):
            if os.path.samefile(name, target):
                raise ValueError(
                    f"output {os.fspath(path)!r} is the input {os.fspath(name)!r}; "
                    "writing it would destroy the input, give another output path"
                )
    return target


class AtomicFiles:
    """Open several output files that replace their targets together, or not at all.

    Use as a context manager: :meth:`open` gives a binary file for each target;
    when the ``with`` block ends normally every file is closed, flushed and
    renamed over its target; on any exception every temporary file is removed and
    no target changes.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> with AtomicFiles() as files:
    ...     files.open(folder / "a.txt").write(b"a")
    ...     files.open(folder / "b.txt").write(b"b")
    1
    1
    >>> sorted(p.name for p in folder.iterdir())
    ['a.txt', 'b.txt']

    Notes
    -----
    Files are not fsynced: the renames protect against failed and interrupted
    writes, not against power loss. The renames of a set run one after another,
    so another process may briefly see some new files beside old ones; a failed
    or interrupted run never leaves a mixed set.
    """

    def __init__(self) -> None:
        self._pending: list[tuple[BinaryIO, str, Path, int | None]] = []
        self._sigterm: Any = None

    def __enter__(self) -> AtomicFiles:
        # Turn SIGTERM into an exception only while temporary files exist, and
        # only where it would kill the process anyway: elsewhere (reading,
        # computing) the default action ends the process at once, even inside a
        # blocking call that a Python-level handler could not interrupt.
        main = threading.current_thread() is threading.main_thread()
        if main and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
            self._sigterm = signal.signal(signal.SIGTERM, _terminate)
        return self

    def open(self, path: str | os.PathLike[str], *, readable: bool = False) -> BinaryIO:
        """A new temporary file that will replace ``path``.

        Parameters
        ----------
        path : str or path-like
            The target.
        readable : bool, default False
            Open it for reading too (``"w+b"``), e.g. to update it in place.

        Raises
        ------
        FileNotFoundError, NotADirectoryError, PermissionError, ValueError
            From :func:`check_output`.
        """
        target = check_output(path)
        _remove_stale(target)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp")
        file = os.fdopen(fd, "w+b" if readable else "wb")
        mode = None
        with contextlib.suppress(FileNotFoundError):
            mode = stat.S_IMODE(os.stat(target).st_mode)
        self._pending.append((file, tmp, target, mode))
        return file

    def temporary(self, file: BinaryIO) -> str:
        """The temporary path behind ``file`` (from :meth:`open`), for other processes to write into.

        Raises
        ------
        KeyError
            If ``file`` did not come from :meth:`open` of this set.
        """
        for pending, tmp, _, _ in self._pending:
            if pending is file:
                return tmp
        raise KeyError("not a file of this set")

    def __exit__(self, kind: type | None, error: BaseException | None, traceback: object) -> None:
        try:
            if kind is None:
                self._commit()
        except BaseException as failure:
            error = failure
            raise
        finally:
            if isinstance(error, OSError):
                # Name the target, not the hidden temporary file.
                for _, tmp, target, _ in self._pending:
                    if error.filename == tmp:
                        error.filename = str(target)
            self._discard()
            if self._sigterm is not None:
                signal.signal(signal.SIGTERM, self._sigterm)
                self._sigterm = None

    def _commit(self) -> None:
        for file, tmp, _, mode in self._pending:
            file.close()
            os.chmod(tmp, 0o666 & ~_umask() if mode is None else mode)
        for _, tmp, target, _ in self._pending:
            os.replace(tmp, target)
        self._pending.clear()

    def _discard(self) -> None:
        for file, tmp, _, _ in self._pending:
            file.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        self._pending.clear()


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """Open a binary file that replaces ``path`` only if the ``with`` block succeeds.

    One file of :class:`AtomicFiles`: see there and the module notes for the
    temporary name, permissions, symbolic links and the targets refused.

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
    FileNotFoundError, NotADirectoryError, PermissionError, ValueError
        From :func:`check_output`.
    """
    with AtomicFiles() as files:
        yield files.open(path)


def _terminate(signum: int, frame: Any) -> None:
    raise Terminated


def _remove_stale(target: Path) -> None:
    """Remove temporary files of ``target`` left by processes that no longer exist."""
    pattern = re.compile(rf"\.{re.escape(target.name)}\.(\d+)\.[^.]+\.tmp")
    with contextlib.suppress(OSError):
        for entry in os.scandir(target.parent):
            match = pattern.fullmatch(entry.name)
            if match and not _process_exists(int(match.group(1))):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def _umask() -> int:
    # The umask can only be read by setting it; do that once, under a lock.
    global _UMASK
    with _UMASK_LOCK:
        if _UMASK is None:
            _UMASK = os.umask(0o022)
            os.umask(_UMASK)
    return _UMASK
