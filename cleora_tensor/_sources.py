"""Opening the inputs of :func:`cleora_tensor.io.read_table`, each as a :class:`Unit`.

A unit is read once by the fast path (pyarrow) and, only after an error or to
report a line, again by the slow-path scans of :mod:`cleora_tensor._scan`.

Regular files are opened by path each time (natively by pyarrow), at no extra
cost. Standard input (``"-"``), pipes (FIFOs, ``/dev/fd/N`` of process
substitution), character devices and sockets cannot be read twice: each is opened
exactly once, when its unit is read, and every byte read from it is also written
to an anonymous temporary file (:func:`tempfile.TemporaryFile`, in ``TMPDIR``),
from which the scans and a retry with a larger block size read it again. This
costs one write of the input to the temporary directory, and no memory.
"""

from __future__ import annotations

import errno
import gzip
import io
import os
import re
import stat
import sys
import tempfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

import pyarrow as pa

from .errors import InputFormatError

__all__ = ["Unit", "file_unit", "holds_lines", "read_error"]

STDIN = "-"  # the path that reads standard input
_BLANK = re.compile(r"[ \t\n\r]")  # what marks a str of a list as a line of text
_GZIP_MAGIC = b"\x1f\x8b"
_EXTENSIONS = {
    ".tsv": "tsv",
    ".txt": "tsv",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}


class _Spool:
    """A stream opened once (on first read) whose bytes are kept in a temporary file.

    Parameters
    ----------
    opener : callable
        Returns the stream, a binary file object.
    owned : bool
        Whether :meth:`close` closes the stream (not for standard input).
    """

    def __init__(self, opener: Callable[[], BinaryIO], owned: bool) -> None:
        self._opener = opener
        self._owned = owned
        self._stream: BinaryIO | None = None
        self._copy: BinaryIO | None = None
        self._size = 0  # bytes read from the stream, all of them in the copy
        self._ended = False

    def read_at(self, offset: int, size: int) -> bytes:
        """Up to ``size`` bytes from ``offset`` (at most the bytes read so far)."""
        parts = []
        if offset < self._size:
            self._copy.seek(offset)
            parts.append(self._copy.read(min(size, self._size - offset)))
            size -= len(parts[0])
        while size > 0 and not self._ended:
            if self._stream is None:
                self._stream = self._opener()
                self._copy = tempfile.TemporaryFile()
            data = self._stream.read(size)  # short reads happen on terminals
            self._ended = not data
            self._copy.seek(self._size)
            self._copy.write(data)
            self._size += len(data)
            size -= len(data)
            parts.append(data)
        return b"".join(parts)

    def open(self) -> BinaryIO:
        """A new reader of the stream from its first byte."""
        return io.BufferedReader(_Replay(self))

    def seekable_copy(self) -> pa.NativeFile:
        """The whole stream, read to its end, as a seekable file (for Parquet)."""
        while self.read_at(self._size, 1 << 20):
            pass
        return pa.PythonFile(self._copy, mode="r")

    def close(self) -> None:
        if self._copy is not None:
            self._copy.close()
        if self._owned and self._stream is not None:
            self._stream.close()


class _Replay(io.RawIOBase):
    """Reads a :class:`_Spool` from its start: the copy first, then the stream."""

    def __init__(self, spool: _Spool) -> None:
        self._spool = spool
        self._offset = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._spool.read_at(self._offset, len(buffer))
        buffer[: len(data)] = data
        self._offset += len(data)
        return len(data)


@dataclass
class Unit:
    """One piece of input parsed by one reader call: a file, a chunk of lines, a table.

    Use it as a context manager while reading: entering opens a stream (and
    detects gzip from its first bytes), leaving closes it.
    """

    source: str
    fmt: str  # "tsv", "csv", "parquet" or "table"
    path: str | None = None
    gzip: bool = False
    buffer: bytes | None = None  # joined chunk of lines
    table: pa.Table | None = None
    first_line: int = 1  # line number of the unit's first line within `source`
    spool: _Spool | None = None  # a stream, read once

    def __enter__(self) -> Unit:
        if self.spool is not None:
            self.gzip = self.spool.read_at(0, len(_GZIP_MAGIC)) == _GZIP_MAGIC
            _check_gzip_format(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.spool is not None:
            self.spool.close()

    def open_binary(self) -> BinaryIO:
        """The decompressed bytes, for the slow-path scans."""
        if self.buffer is not None:
            return io.BytesIO(self.buffer)
        if self.spool is None:
            return gzip.open(self.path, "rb") if self.gzip else open(self.path, "rb")
        return gzip.open(self.spool.open(), "rb") if self.gzip else self.spool.open()

    def open_arrow(self) -> pa.NativeFile:
        """The decompressed bytes, for pyarrow's CSV reader."""
        if self.buffer is not None:
            return pa.BufferReader(self.buffer)
        compression = "gzip" if self.gzip else None
        if self.spool is not None:
            return pa.input_stream(pa.PythonFile(self.spool.open(), mode="r"), compression)
        return pa.input_stream(self.path, compression=compression)

    def parquet_file(self) -> str | pa.NativeFile:
        """What :mod:`pyarrow.parquet` reads: the path, or a seekable copy of a stream."""
        return self.spool.seekable_copy() if self.spool is not None else self.path


def file_unit(path: str | os.PathLike, input_format: str | None) -> Unit:
    """The unit of one path; ``"-"`` is standard input.

    Raises
    ------
    FileNotFoundError, IsADirectoryError, PermissionError, OSError
        If the path cannot be opened; the message names it.
    InputFormatError
        For a gzip-compressed Parquet file, or a path with a NUL character.
    """
    name = os.fspath(path)
    if isinstance(name, bytes):
        name = os.fsdecode(name)
    if name == STDIN:
        spool = _Spool(lambda: sys.stdin.buffer, owned=False)
        return Unit(source="<stdin>", fmt=input_format or "tsv", spool=spool)
    lower = name.lower()
    fmt = input_format or _EXTENSIONS.get(
        os.path.splitext(lower.removesuffix(".gz"))[1], "tsv"
    )
    try:
        mode = os.stat(name).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "Is a directory; give input file paths", name)
        if not stat.S_ISREG(mode):  # a pipe or device: opened once, when read
            return Unit(source=name, fmt=fmt, spool=_Spool(lambda: open(name, "rb"), True))
        with open(name, "rb") as f:
            magic = f.read(len(_GZIP_MAGIC))
    except FileNotFoundError as exc:
        if isinstance(path, str) and _BLANK.search(name):  # a str that may have been meant as a line
            raise FileNotFoundError(
                exc.errno,
                f"{exc.strerror} (to pass lines of text, give a list of them or iter(lines))",
                name,
            ) from None
        raise
    except ValueError:  # os.stat refuses embedded NUL characters
        raise InputFormatError(repr(name), "a file path cannot contain a NUL character") from None
    unit = Unit(
        source=name, fmt=fmt, path=name, gzip=lower.endswith(".gz") or magic == _GZIP_MAGIC
    )
    _check_gzip_format(unit)
    return unit


def holds_lines(items: Sequence[Any]) -> bool:
    """Whether a non-empty list or tuple source holds lines of text rather than file paths.

    The rule, documented in :func:`~cleora_tensor.io.read_table`: ``bytes``
    elements are lines and ``os.PathLike`` ones (``pathlib.Path``) paths; a list
    of ``str`` is lines when an element contains a space, tab or line break and
    the first such element is not an existing path, and file paths otherwise.
    Only the first element with whitespace and, in a list of lines, the elements
    without whitespace are looked up on disk, so a long list of lines costs no
    file system call per line.

    Raises
    ------
    TypeError
        On an element that is neither ``str``, ``bytes`` nor path-like, or
        ``bytes`` mixed with other elements.
    ValueError
        On a list of lines (by the rule) that also holds an existing path: the
        message names both elements and how to say which was meant.
    """
    for number, item in enumerate(items):
        if not isinstance(item, (str, bytes, bytearray, os.PathLike)):
            raise TypeError(
                f"element {number} of the source list is {type(item).__name__}; a list holds "
                "file paths or lines of text (str or bytes)"
            )
    if any(isinstance(item, (bytes, bytearray)) for item in items):
        if not all(isinstance(item, (bytes, bytearray)) for item in items):
            raise TypeError("a source list mixes bytes (lines) with other elements; give all lines as bytes")
        return True
    if any(isinstance(item, os.PathLike) for item in items):
        return False
    line = next((n for n, item in enumerate(items) if _BLANK.search(item)), None)
    if line is None or os.path.exists(items[line]):
        return False
    for number, item in enumerate(items):
        if not _BLANK.search(item) and os.path.isfile(item):
            raise ValueError(
                f"the source list mixes lines of text (element {line}: {items[line]!r}) with an existing "
                f"file (element {number}: {item!r}); pass lines as an iterator (iter(lines)) or paths "
                "as pathlib.Path objects"
            )
    return True


def _check_gzip_format(unit: Unit) -> None:
    if unit.fmt == "parquet" and unit.gzip:
        raise InputFormatError(unit.source, "gzip-compressed Parquet is not supported")


def read_error(unit: Unit, exc: BaseException) -> BaseException:
    """``exc``, raised while reading ``unit``, in plain words and naming the file.

    Decompression errors (pyarrow's, and those of Python's :mod:`gzip` and
    :mod:`zlib`) become InputFormatError; an OSError without a file name gets
    the unit's; anything else is returned as it is.
    """
    message = str(exc)
    if unit.gzip and (isinstance(exc, EOFError) or "Truncated compressed stream" in message):
        return InputFormatError(
            unit.source, "the gzip data is truncated: the file ends inside the compressed stream"
        )
    corrupt = isinstance(exc, (gzip.BadGzipFile, zlib.error)) or "zlib inflate" in message
    if unit.gzip and corrupt:
        detail = message.removeprefix("zlib inflate failed: ")
        return InputFormatError(
            unit.source, f"not valid gzip data ({detail}); is the file really gzip-compressed?"
        )
    if isinstance(exc, OSError) and exc.filename is None:
        if exc.errno is None:
            return OSError(f"{unit.source}: {message}")
        return OSError(exc.errno, exc.strerror, unit.source)
    return exc
