"""Checks and conversions shared by the format modules of :mod:`cleora_tensor.formats`.

Each check raises an :class:`~cleora_tensor.errors.InputFormatError` (a
ValueError) naming the file.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..config import EmbedConfig
from ..errors import InputFormatError
from .atomic import file_kind

__all__ = ["FREE_BYTES", "MAX_EXPANSION"]

#: Bytes of memory any embedding file may take when loaded, whatever its size.
FREE_BYTES = 1 << 28
#: Beyond :data:`FREE_BYTES`, how many times its size on disk a file may take
#: in memory. Real float32 vectors barely compress (about 1.1-fold); deflate
#: reaches about 1032-fold on repeated bytes.
MAX_EXPANSION = 64


def check_regular(path: Path) -> None:
    """Refuse anything but a regular file, before opening it.

    A device such as ``/dev/zero`` never ends, a pipe cannot be checked
    against its size, and opening a FIFO blocks until a writer comes.

    Raises
    ------
    InputFormatError
        If ``path`` is a directory, FIFO, device or socket.
    OSError
        If ``path`` does not exist or cannot be examined.
    """
    kind = file_kind(os.stat(path).st_mode)
    if kind is not None:
        raise InputFormatError(
            str(path), f"is {kind}, not a regular file; embeddings are read from regular files only"
        )


def check_memory(path: Path, need: int, size: int) -> None:
    """Refuse a file of ``size`` bytes that would take ``need`` bytes of memory.

    Allowed: up to :data:`FREE_BYTES`, or :data:`MAX_EXPANSION` times
    ``size``, whichever is more.
    """
    if need > max(FREE_BYTES, MAX_EXPANSION * size):
        raise InputFormatError(
            str(path),
            f"its arrays would take {need} bytes of memory, over {MAX_EXPANSION} times its "
            f"{size} bytes on disk; refused as a likely decompression bomb (real vectors "
            "barely compress; save highly repetitive ones uncompressed)",
        )


def config_from_json(path: Path, text: str) -> EmbedConfig | None:
    """The configuration a file stores as JSON text; None for ``""``."""
    if not text:
        return None
    try:
        return EmbedConfig.from_json(text)
    except (ValueError, TypeError) as error:
        raise InputFormatError(str(path), f"invalid configuration: {error}") from error


def type_array(path: Path, types: pa.Array | pa.ChunkedArray, size: int) -> np.ndarray:
    """Entity types as the ``(n,)`` str array :class:`~cleora_tensor.Embedding` holds.

    Such an array takes 4 bytes per character of the longest type in every
    row; that is checked (:func:`check_memory` against the file's ``size``)
    before anything is expanded.

    Parameters
    ----------
    path : Path
    types : pyarrow string or dictionary<string> array, length n
    size : int
        The file's size in bytes.
    """
    chunks = types.chunks if isinstance(types, pa.ChunkedArray) else [types]
    values = [chunk.dictionary if pa.types.is_dictionary(chunk.type) else chunk for chunk in chunks]
    longest = max((pc.max(pc.utf8_length(v)).as_py() or 0 for v in values), default=0)
    check_memory(path, 4 * longest * len(types), size)
    return types.cast(pa.string()).to_numpy(zero_copy_only=False).astype(np.str_)


def string_array(values: np.ndarray) -> pa.Array:
    """A ``(n,)`` str array as one Arrow string array (pyarrow converts a large
    NumPy str array into a ChunkedArray of several chunks)."""
    array = pa.array(values, type=pa.string())
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def type_dictionary(types: np.ndarray) -> pa.DictionaryArray:
    """Entity types as the dictionary-encoded Arrow array the writers store; see :func:`type_array`."""
    return string_array(types).dictionary_encode()
