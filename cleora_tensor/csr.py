"""Row-block passes over CSR matrices: float64 work with bounded temporaries.

Used while building a graph (its degrees) and its transition matrices; each
pass walks whole rows in blocks of about ``_BLOCK_NNZ`` non-zeros, so the
float64 temporaries stay near 50 MiB whatever the size of the matrix.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse

__all__ = ["block_rows", "row_blocks", "row_sums"]

# Non-zeros per block of the float64 work (about 50 MiB of temporaries).
_BLOCK_NNZ = 1 << 21


def row_sums(w: scipy.sparse.csr_array, blocks: list[tuple[int, int]] | None = None) -> np.ndarray:
    """Row sums of a canonical CSR matrix, accumulated in float64.

    Parameters
    ----------
    w : scipy.sparse.csr_array
        Shape ``(n, n)``, sorted indices without duplicates.
    blocks : list of (int, int), optional
        Row ranges from :func:`row_blocks` (computed if omitted).

    Returns
    -------
    numpy.ndarray
        float64, shape ``(n,)``. Each row is summed sequentially in index order,
        so the result does not depend on how rows are blocked.
    """
    blocks = row_blocks(w.indptr) if blocks is None else blocks
    sums = [np.bincount(rows - a, weights=data, minlength=b - a) for a, b, rows, data in block_rows(w, blocks)]
    return np.concatenate(sums) if sums else np.zeros(0)


def row_blocks(indptr: np.ndarray) -> list[tuple[int, int]]:
    """Row ranges ``[a, b)`` of about ``_BLOCK_NNZ`` non-zeros (whole rows), covering ``[0, n)``."""
    n = len(indptr) - 1
    cuts = np.searchsorted(indptr, np.arange(_BLOCK_NNZ, indptr[-1], _BLOCK_NNZ), side="right") - 1
    bounds = np.unique(np.concatenate([[0], cuts.clip(0, n), [n]]))
    return list(zip(bounds[:-1].tolist(), bounds[1:].tolist()))


def block_rows(w: scipy.sparse.csr_array, blocks: list[tuple[int, int]]):
    """Per block: ``(a, b, row of each non-zero, float64 copy of its values)``."""
    for a, b in blocks:
        lo, hi = w.indptr[a], w.indptr[b]
        rows = np.repeat(np.arange(a, b, dtype=w.indices.dtype), np.diff(w.indptr[a : b + 1]))
        yield a, b, rows, w.data[lo:hi].astype(np.float64)
