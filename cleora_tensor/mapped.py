"""Memory-mapped vectors read a block of rows at a time, without keeping their pages resident."""

from __future__ import annotations

import mmap
from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = ["BLOCK_BYTES", "mapped_blocks", "release_pages"]

#: Bytes of a memory-mapped matrix copied to memory at a time (16384 rows of 256 floats).
BLOCK_BYTES = 1 << 24


def mapped_blocks(array: np.memmap) -> Iterator[tuple[int, np.ndarray]]:
    """Consecutive row blocks of a memory-mapped matrix, each as an in-memory copy.

    Parameters
    ----------
    array : numpy.memmap
        Shape ``(n, d)``, C or Fortran order.

    Yields
    ------
    (int, numpy.ndarray)
        The first row of the block and a copy of its rows, about
        :data:`BLOCK_BYTES` at a time (one empty block for ``n == 0``). The copy
        is aligned, so BLAS multiplies it (the data of an ``.npz`` member rarely
        is: NumPy multiplies unaligned arrays without BLAS, about 20 times
        slower). The mapped pages are released (:func:`release_pages`) before
        the next block is read, so resident memory stays about one block.
    """
    rows = max(1, BLOCK_BYTES // max(1, array.itemsize * array.shape[1]))
    for start in range(0, max(len(array), 1), rows):
        yield start, np.array(array[start : start + rows])
        release_pages(array)


def release_pages(array: Any) -> None:
    """Drop the pages of a :class:`numpy.memmap` from the process (not from the page cache).

    Pages of a mapped file that were read count in the process's resident
    memory until released; reading them again takes them back from the page
    cache. Does nothing for other arrays, or where ``madvise`` is missing.
    """
    mapping = array.base if isinstance(array, np.memmap) else None
    if isinstance(mapping, mmap.mmap) and hasattr(mmap, "MADV_DONTNEED"):
        mapping.madvise(mmap.MADV_DONTNEED)
