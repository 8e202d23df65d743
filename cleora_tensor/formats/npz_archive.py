"""Reading ``.npz`` archives without trusting them.

:func:`numpy.load` allocates whatever shape an ``.npy`` header announces and
inflates a compressed member as far as it goes, so a file of a few bytes can
ask for terabytes; a file that is not a zip archive earns advice to unpickle
it. :class:`NpzArchive` reads the headers first and checks each against the
size its zip entry declares, so that a caller can compare the shapes with each
other and the memory they need with the file's size before reading anything
large. Nothing is ever unpickled.
"""

from __future__ import annotations

import math
import os
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import NoReturn

import numpy as np

from ..errors import InputFormatError

__all__ = ["NpzArchive"]

_NPY_MAGIC = b"\x93NUMPY"
_HEADER_READERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}
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
                    shape, _, dtype = _HEADER_READERS[version](member)
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

    def _fail(self, reason: str) -> NoReturn:
        raise InputFormatError(str(self.path), reason)
