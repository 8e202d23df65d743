"""Reading ``.npz`` archives without trusting them.

:func:`numpy.load` allocates whatever shape an ``.npy`` header announces and
inflates a compressed member as far as it goes, so a file of a few bytes can
ask for terabytes; a file that is not a zip archive earns advice to unpickle
it. :class:`NpzArchive` reads the headers first and checks each against the
size its zip entry declares, so that a caller can compare the shapes with each
other and the memory they need with the file's size before reading anything
large. Nothing is ever unpickled. :meth:`NpzArchive.memmap` maps a member
stored uncompressed instead of reading it.
"""

from __future__ import annotations

import math
import os
import struct
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import NoReturn

import numpy as np

from ..errors import InputFormatError

__all__ = ["MMAP_ADVICE", "NpzArchive"]

#: The end of the message refusing to memory-map what cannot be.
MMAP_ADVICE = "memory-mapping needs an uncompressed .npz written by save (or load without mmap)"

_NPY_MAGIC = b"\x93NUMPY"
_HEADER_READERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}
# A zip local file header: signature, then fixed fields up to the lengths of
# the name and the extra field, which precede the member's data.
_LOCAL_HEADER = struct.Struct("<4s22xHH")
_LOCAL_SIGNATURE = b"PK\x03\x04"
# What zipfile and zlib raise on damaged archives and members (RuntimeError:
# an encrypted member; NotImplementedError: an unknown compression method).
_DAMAGED = (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError)


class NpzArchive:
    """The ``.npy`` members of an ``.npz`` file, checked before they are read.

    Use as a context manager; it closes the file.

    Parameters
    ----------
    path : Path
        A regular file; it is named in every error message.

    Attributes
    ----------
    path : Path
    size : int
        The file's size in bytes.
    keys : set of str
        Names of the ``.npy`` members without the extension (the keys
        :func:`numpy.savez` was given).

    Raises
    ------
    InputFormatError
        (a ValueError) If the file is not a zip archive; the message says
        when it is a single ``.npy`` array instead.
    OSError
        If the file cannot be read.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = open(path, "rb")
        try:
            self.size = os.fstat(self._file.fileno()).st_size
            if self._file.read(len(_NPY_MAGIC)) == _NPY_MAGIC:
                self._fail("holds a single array (.npy), not an .npz archive")
            try:
                self._zip = zipfile.ZipFile(self._file)
            except _DAMAGED as error:
                self._fail(f"not an .npz archive (a zip file of .npy arrays): {error}")
        except BaseException:
            self._file.close()
            raise
        self._members = {
            info.filename[: -len(".npy")]: info
            for info in self._zip.infolist()
            if info.filename.endswith(".npy")
        }
        self.keys = set(self._members)
        self._headers: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
        # Per member read so far: Fortran order, and where the data starts in it.
        self._layouts: dict[str, tuple[bool, int]] = {}

    def __enter__(self) -> NpzArchive:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._zip.close()
        self._file.close()

    def header(self, key: str) -> tuple[tuple[int, ...], np.dtype]:
        """Shape and dtype that member ``key`` announces, checked against its size.

        Reads only the member's ``.npy`` header (at most a few kB inflated).

        Parameters
        ----------
        key : str
            One of :attr:`keys`.

        Returns
        -------
        shape : tuple of int
        dtype : numpy.dtype

        Raises
        ------
        InputFormatError
            If the member is not an ``.npy`` array, holds pickled Python
            objects (they are never loaded), or its data is not exactly
            ``prod(shape) * itemsize`` bytes long.
        """
        if key not in self._headers:
            info = self._members[key]
            try:
                with self._zip.open(info) as member:
                    version = np.lib.format.read_magic(member)
                    if version not in _HEADER_READERS:
                        self._fail(f"array {key!r} has an unsupported .npy version {version}")
                    shape, fortran, dtype = _HEADER_READERS[version](member)
                    start = member.tell()
            except (*_DAMAGED, ValueError) as error:
                self._fail(f"array {key!r} is damaged or not an .npy array ({error})")
            if dtype.hasobject:
                self._fail(f"array {key!r} holds pickled Python objects, which are never loaded")
            nbytes = math.prod(shape) * dtype.itemsize
            if start + nbytes != info.file_size:
                self._fail(
                    f"array {key!r} announces shape {shape} of {dtype} ({nbytes} bytes) "
                    f"but its member holds {info.file_size - start} bytes of data"
                )
            self._headers[key] = (shape, dtype)
            self._layouts[key] = (fortran, start)
        return self._headers[key]

    def nbytes(self, keys: Iterable[str]) -> int:
        """Memory, in bytes, that reading ``keys`` takes: their members' declared sizes."""
        return sum(self._members[key].file_size for key in keys)

    def read(self, key: str) -> np.ndarray:
        """Member ``key`` as a new, writable array of the shape :meth:`header` checked.

        Raises
        ------
        InputFormatError
            As :meth:`header`, or if the member's data is damaged (a bad
            checksum, a truncated or invalid compressed stream).
        """
        self.header(key)
        try:
            with self._zip.open(self._members[key]) as member:
                return np.lib.format.read_array(member, allow_pickle=False)
        except (*_DAMAGED, ValueError) as error:
            self._fail(f"array {key!r} is damaged ({error})")

    def stored(self, key: str) -> bool:
        """Whether member ``key`` is stored uncompressed (as :func:`numpy.savez` writes)."""
        return self._members[key].compress_type == zipfile.ZIP_STORED

    def memmap(self, key: str) -> np.memmap:
        """Member ``key`` mapped read-only from the file, without reading its data.

        Returns
        -------
        numpy.memmap
            Read-only, C order, of the shape and dtype :meth:`header` checked;
            it stays valid after the archive is closed.

        Raises
        ------
        InputFormatError
            As :meth:`header`, or if the member is compressed, stored in
            Fortran order, or its zip local header is damaged: only members
            written by :func:`numpy.savez` from C-ordered arrays can be mapped.
        """
        shape, dtype = self.header(key)
        fortran, start = self._layouts[key]
        info = self._members[key]
        if not self.stored(key):
            self._fail(f"array {key!r} is compressed; {MMAP_ADVICE}")
        if fortran and len(shape) > 1:
            self._fail(f"array {key!r} is stored in Fortran order; {MMAP_ADVICE}")
        self._file.seek(info.header_offset)
        local = self._file.read(_LOCAL_HEADER.size)
        if len(local) < _LOCAL_HEADER.size or local[:4] != _LOCAL_SIGNATURE:
            self._fail(f"array {key!r} has a damaged zip local header")
        _, name_length, extra_length = _LOCAL_HEADER.unpack(local)
        offset = info.header_offset + _LOCAL_HEADER.size + name_length + extra_length + start
        if offset + info.file_size - start > self.size:
            self._fail(f"array {key!r} extends past the end of the file")
        return np.memmap(self.path, dtype=dtype, mode="r", offset=offset, shape=shape, order="C")

    def _fail(self, reason: str) -> NoReturn:
        raise InputFormatError(str(self.path), reason)
