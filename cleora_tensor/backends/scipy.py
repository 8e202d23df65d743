"""The reference CPU backend: NumPy arrays and a multithreaded SciPy CSR product.

``P @ X`` is split into row blocks holding equal numbers of non-zeros, run on a
persistent thread pool (SciPy's sparse kernels release the GIL), each block
writing its rows of a preallocated output. Every output row is computed by the
same sequential loop whatever the partition, so results are bit-identical for
any thread count.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse

from ..parallel import map_blocks, resolve_threads

try:  # SciPy's kernel accumulates into a given output: no (n, d) temporary.
    from scipy.sparse._sparsetools import csr_matvecs as _csr_matvecs
except ImportError:  # private module moved: use the public product (one copy more)
    _csr_matvecs = None

__all__ = ["ScipyOperator", "check_device", "default_device", "namespace", "operator"]

# Blocks per thread: a few more blocks than threads even out rows of unequal cost.
_BLOCKS_PER_THREAD = 4


def namespace(device: Any) -> Any:
    """The array namespace of this backend (array-api-compat's NumPy)."""
    import array_api_compat.numpy

    return array_api_compat.numpy


def default_device() -> str:
    """``"cpu"``."""
    return "cpu"


def check_device(device: Any) -> str:
    """Accept only ``"cpu"``.

    Raises
    ------
    ValueError
        For any other device.
    """
    if str(device) != "cpu":
        raise ValueError(f"the scipy backend runs on 'cpu' only, not {device!r}")
    return "cpu"


class ScipyOperator:
    """Row-block parallel ``P @ X`` for a SciPy CSR matrix.

    Parameters
    ----------
    matrix : scipy.sparse.csr_array or csr_matrix
        Shape ``(n, n)`` (or ``(m, n)`` with ``rectangular=True``: a block of
        rows, as distributed propagation uses); converted to float32.
    threads : int or None, default None
        Worker threads (all cores if None).
    rectangular : bool, default False
        Accept a matrix that is not square.

    Attributes
    ----------
    shape : tuple of int
        ``(n, n)`` (``(m, n)`` if rectangular).
    matrix : scipy.sparse.csr_array
        The float32 matrix.
    """

    def __init__(self, matrix: Any, *, threads: int | None = None, rectangular: bool = False) -> None:
        matrix = scipy.sparse.csr_array(matrix, dtype=np.float32)
        if matrix.shape[0] != matrix.shape[1] and not rectangular:
            raise ValueError(f"matrix must be square, got shape {matrix.shape}")
        self.matrix = matrix
        self.shape = matrix.shape
        self.threads = resolve_threads(threads)
        indptr = matrix.indptr
        n_blocks = min(self.threads * _BLOCKS_PER_THREAD, max(matrix.shape[0], 1))
        targets = np.linspace(0, matrix.nnz, n_blocks + 1)
        cuts = np.unique(np.searchsorted(indptr, targets, side="left").clip(0, matrix.shape[0]))
        cuts[0], cuts[-1] = 0, matrix.shape[0]
        self._blocks = [(int(a), int(b)) for a, b in zip(cuts[:-1], cuts[1:]) if b > a]
        # Per block: its rows of indptr rebased to 0, and views of indices/data.
        self._parts = {
            (a, b): (
                indptr[a : b + 1] - indptr[a],
                matrix.indices[indptr[a] : indptr[b]],
                matrix.data[indptr[a] : indptr[b]],
            )
            for a, b in self._blocks
        }

    def matmul(self, x: np.ndarray, *, out: np.ndarray | None = None) -> np.ndarray:
        """``P @ x``.

        Parameters
        ----------
        x : numpy.ndarray
            Shape ``(n, d)`` (``n`` the matrix's columns), float32 (converted to
            C-contiguous float32 if not).
        out : numpy.ndarray, optional
            Shape ``(m, d)`` (``m`` its rows) float32 C-contiguous, not sharing
            memory with ``x``.

        Returns
        -------
        numpy.ndarray
            Shape ``(m, d)``, float32: ``out`` if given.

        Raises
        ------
        ValueError
            On a shape mismatch or an ``out`` overlapping ``x``.
        """
        x = np.ascontiguousarray(x, dtype=np.float32)
        n, columns, d = self.shape[0], self.shape[1], x.shape[1] if x.ndim == 2 else -1
        if x.ndim != 2 or x.shape[0] != self.shape[1]:
            raise ValueError(f"x must have shape ({self.shape[1]}, d), got {x.shape}")
        if out is None:
            out = np.empty((n, d), dtype=np.float32)
        elif out.shape != (n, d) or out.dtype != np.float32 or not out.flags.c_contiguous:
            raise ValueError(f"out must be a C-contiguous float32 array of shape {(n, d)}")
        elif np.shares_memory(out, x):
            raise ValueError("out must not share memory with x")

        def block(start: int, stop: int) -> None:
            indptr, indices, data = self._parts[start, stop]
            rows = out[start:stop]
            if _csr_matvecs is None:
                part = scipy.sparse.csr_array((data, indices, indptr), shape=(stop - start, columns))
                rows[...] = part @ x
                return
            rows.fill(0.0)
            _csr_matvecs(stop - start, columns, d, indptr, indices, data, x.reshape(-1), rows.reshape(-1))

        map_blocks(block, self._blocks, self.threads)
        return out

    def set_values(self, values: np.ndarray) -> None:
        """Replace the non-zero values in place, keeping the sparsity structure.

        Parameters
        ----------
        values : numpy.ndarray
            Shape ``(nnz,)``, float32, in the order of the CSR matrix the
            operator was built from (canonical: rows, then sorted columns).
        """
        self.matrix.data[...] = values  # the blocks' parts are views of it


def operator(matrix: Any, *, device: Any = "cpu", threads: int | None = None) -> ScipyOperator:
    """Build a :class:`ScipyOperator` (the backend factory)."""
    check_device(device)
    return ScipyOperator(matrix, threads=threads)
