"""Out-of-core propagation: the embedding in column slices of a file on disk.

Cleora's FAQ answers "my embeddings don't fit in memory" with: the method works
on dimensions independently, so embed a slice of the dimensions at a time. One
coupling remains, the L2 normalization of each row after every product (and the
whitening); it is handled exactly:

- The iterate lives in a column-major (Fortran-order) ``.npy`` file of shape
  ``(n, d)``, float32, so each column slice is contiguous on disk. Per step,
  each slice of ``w`` columns is read into memory, multiplied by the transition
  matrix and written back; the squared row norms are accumulated slice after
  slice in float32, :data:`~cleora_tensor.backends.kernels_numpy.NORM_COLUMNS`
  columns at a time, exactly as the in-memory kernels sum them. The division by
  the row norms is applied when a slice is next read.
- Whitening (after every step, or once at the end) reads row blocks of all
  columns: two passes accumulate the mean and the float64 covariance in the
  in-memory kernels' blocks and order, a third applies the transform in place.
- The deterministic initialization is per dimension
  (:func:`~cleora_tensor.initialize` with ``first_dim``).

So on the SciPy backend the result is bit-identical to the in-memory one,
whatever the slice width (a multiple of ``NORM_COLUMNS``). Early stopping is
decided once per step for all slices, from per-row float64 sums of the slice
products (``|y|^2``, ``y.x``, ``|x|^2``); its RMS change equals the in-memory one
up to float64 rounding, so the step count is the same unless the change lands
within about ``1e-12`` (relative) of ``tol``.

Memory: the transition matrix, two ``(n, w)`` float32 slices, 32 bytes per
entity of row sums, and row-block buffers (see
:func:`~cleora_tensor.memory.estimate_memory` with ``slice_dim``).
"""

from __future__ import annotations

import copy
import os
import sys
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np
from tqdm import tqdm

from .backends import get_backend
from .backends.kernels_numpy import (
    NORM_COLUMNS,
    moment_tasks,
    row_norms_squared,
    task_covariance,
    task_sums,
)
from .backends.scipy import ScipyOperator
from .config import EmbedConfig
from .init import initialize
from .parallel import single_threaded_blas
from .whitening import Whitening

__all__ = ["ColumnFile", "OutOfCoreResult", "propagate_out_of_core"]

# Bytes of one transposition buffer between a file's columns and a C-order block.
_CHUNK_BYTES = 1 << 24


class ColumnFile:
    """A new float32 ``(n, d)`` ``.npy`` array in Fortran order, in an open file.

    Writes the ``.npy`` header at the start of ``file`` and sizes the file; the
    data reads as zeros until written.

    Parameters
    ----------
    file : binary file
        Open for reading and writing, positioned anywhere.
    n, d : int
        Shape.
    """

    def __init__(self, file: BinaryIO, n: int, d: int) -> None:
        self.file, self.n, self.d = file, n, d
        file.seek(0)
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)), "fortran_order": True, "shape": (n, d)}
        np.lib.format.write_array_header_1_0(file, header)
        file.flush()
        self.offset = file.tell()
        os.truncate(file.fileno(), self.offset + 4 * n * d)
        self._fd = file.fileno()
        self._first = 0  # the file's column that is column 0 here (see block)

    def block(self, c0: int, c1: int) -> ColumnFile:
        """Columns ``c0:c1`` as a ``(n, c1 - c0)`` ColumnFile of the same file (a view)."""
        view = copy.copy(self)
        view.d, view._first = c1 - c0, self._first + c0
        return view

    def _chunk_rows(self, width: int) -> int:
        return max(1024, _CHUNK_BYTES // (4 * max(width, 1)))

    def read(self, start: int, stop: int, c0: int, c1: int, out: np.ndarray | None = None) -> np.ndarray:
        """Rows ``start:stop`` of columns ``c0:c1`` as a C-order float32 array."""
        out = np.empty((stop - start, c1 - c0), np.float32) if out is None else out
        step = self._chunk_rows(c1 - c0)
        for a in range(start, stop, step):
            b = min(a + step, stop)
            columns = np.empty((c1 - c0, b - a), np.float32)
            for j in range(c0, c1):
                self._io(os.preadv, columns[j - c0], ((self._first + j) * self.n + a) * 4)
            out[a - start : b - start] = columns.T
        return out

    def write(self, start: int, c0: int, block: np.ndarray) -> None:
        """Store ``block`` (C-order float32, ``(m, w)``) at rows ``start:start + m``, columns ``c0:c0 + w``."""
        step = self._chunk_rows(block.shape[1])
        for a in range(0, block.shape[0], step):
            columns = np.ascontiguousarray(block[a : a + step].T)
            for j in range(block.shape[1]):
                self._io(os.pwritev, columns[j], ((self._first + c0 + j) * self.n + start + a) * 4)

    def _io(self, call: Any, buffer: np.ndarray, position: int) -> None:
        done = call(self._fd, [buffer], self.offset + position)
        if done != buffer.nbytes:  # a short read or write: a truncated file or a full disk
            raise OSError(f"{self.file.name}: {'read' if call is os.preadv else 'wrote'} {done} of {buffer.nbytes} bytes")


@dataclass(frozen=True)
class OutOfCoreResult:
    """What :func:`propagate_out_of_core` returns besides the file it wrote.

    Attributes
    ----------
    whitening : Whitening or None
        The last transform applied.
    iterations : int
        Steps run.
    converged : bool
        Whether ``tol`` stopped the loop.
    slices : int
        Column slices per step.
    """

    whitening: Whitening | None
    iterations: int
    converged: bool
    slices: int


def propagate_out_of_core(
    matrix: Any,
    keys: np.ndarray,
    config: EmbedConfig,
    vectors: ColumnFile,
    *,
    slice_dim: int,
    whiten_rows: np.ndarray | None = None,
    threads: int | None = None,
    progress: bool = False,
) -> OutOfCoreResult:
    """Propagate in column slices, the iterate kept in ``vectors`` (see the module notes).

    Parameters
    ----------
    matrix : scipy.sparse.csr_array
        Transition matrix, shape ``(n, n)``, float32.
    keys : numpy.ndarray
        int64, shape ``(n,)``: the entities' initialization keys (``config.init``).
    config : EmbedConfig
        Loop options; ``scales`` must be empty, and ``tol`` None when whitening
        after every step.
    vectors : ColumnFile
        Shape ``(n, config.dim)``; holds the result when the function returns.
    slice_dim : int
        Columns per slice, a positive multiple of
        :data:`~cleora_tensor.backends.kernels_numpy.NORM_COLUMNS` (the last
        slice may be narrower).
    whiten_rows : numpy.ndarray, optional
        int64, increasing: rows the whitening is fitted on (default all).
    threads : int or None, default None
        Worker threads of the sparse product and the dense kernels.
    progress : bool, default False
        A progress bar on stderr.

    Returns
    -------
    OutOfCoreResult

    Raises
    ------
    ValueError
        On a ``slice_dim`` that is not a multiple of ``NORM_COLUMNS``, or
        options the out-of-core loop does not support.
    OSError
        If reading or writing the file fails.
    """
    if slice_dim < 1 or slice_dim % NORM_COLUMNS:
        raise ValueError(f"slice_dim must be a positive multiple of {NORM_COLUMNS}, got {slice_dim}")
    if config.scales:
        raise ValueError("multi-scale snapshots (scales) are not available out-of-core")
    if config.whiten_each_step and config.whiten != "none" and config.tol is not None:
        raise ValueError("early stopping with whitening after every step is not available out-of-core; pass tol=0")
    n, d = vectors.n, vectors.d
    operator = ScipyOperator(matrix, threads=threads)
    kernels = get_backend("scipy").kernels(operator.threads)
    slices = [(c, min(c + slice_dim, d)) for c in range(0, d, slice_dim)]
    buffers = np.empty(2 * n * min(slice_dim, d), np.float32)
    pending = None  # per-row divisors of the stored rows (the deferred normalization)
    whitening, converged, step = None, False, 0
    if config.iterations == 0:  # the result is the initial embedding (whitened)
        for c0, c1 in slices:
            x = buffers[: n * (c1 - c0)].reshape(n, c1 - c0)
            initialize(keys, c1 - c0, seed=config.seed, method=config.init, first_dim=c0, kernels=kernels, out=x)
            vectors.write(0, c0, x)
    for step in tqdm(range(config.iterations), desc="propagate", unit="it", disable=not progress, file=sys.stderr):
        sq = None
        sums = np.zeros((3, n)) if config.tol is not None else None  # |y|^2, y.x, |x|^2
        for c0, c1 in slices:
            w = c1 - c0
            x = buffers[: n * w].reshape(n, w)
            y = buffers[n * w : 2 * n * w].reshape(n, w)
            if step == 0:
                initialize(keys, w, seed=config.seed, method=config.init, first_dim=c0, kernels=kernels, out=x)
            else:
                vectors.read(0, n, c0, c1, out=x)
                if pending is not None:
                    np.divide(x, pending[:, None], out=x)
            operator.matmul(x, out=y)
            if config.residual:  # None: not decided for a graph, the plain walk
                kernels.mix(y, x, config.residual)
            sq = row_norms_squared(y, sq)
            if sums is not None:
                for row, (a, b) in enumerate(((y, y), (y, x), (x, x))):
                    sums[row] += np.einsum("ij,ij->i", a, b, dtype=np.float64)
            vectors.write(0, c0, y)
        pending = np.maximum(np.sqrt(sq), np.float32(config.eps))
        if sums is not None:
            p = pending.astype(np.float64)
            change = sums[0] / p**2 - 2.0 * sums[1] / p + sums[2]
            converged = float(np.sqrt(max(change.sum(), 0.0) / max(n, 1))) < config.tol
        if config.whiten != "none" and config.whiten_each_step:
            whitening = _whiten(vectors, pending, whiten_rows, config, kernels)
            pending = None
        if converged:
            break
    ran = step + 1 if config.iterations else 0
    if config.whiten != "none" and not config.whiten_each_step:
        whitening = _whiten(vectors, pending, whiten_rows, config, kernels)
    elif pending is not None:
        for a, b in moment_tasks(n):
            vectors.write(a, 0, np.divide(vectors.read(a, b, 0, d), pending[a:b, None]))
    return OutOfCoreResult(whitening, ran, converged, len(slices))


def _rows(vectors: ColumnFile, pending: np.ndarray | None, start: int, stop: int) -> np.ndarray:
    """Rows ``start:stop`` of all columns, normalized."""
    block = vectors.read(start, stop, 0, vectors.d)
    if pending is not None:
        np.divide(block, pending[start:stop, None], out=block)
    return block


def _whiten(
    vectors: ColumnFile, pending: np.ndarray | None, rows: np.ndarray | None, config: EmbedConfig, kernels: Any
) -> Whitening:
    """Fit the whitening on the (normalized) rows and apply it in place; the in-memory kernels' arithmetic."""
    n, d = vectors.n, vectors.d
    m = n if rows is None else len(rows)
    if m < 2:
        whitening = Whitening.identity(d, np.float32, method=config.whiten)
    else:

        def part(a: int, b: int) -> np.ndarray:
            if rows is None:
                return _rows(vectors, pending, a, b)
            low = int(rows[a])
            return _rows(vectors, pending, low, int(rows[b - 1]) + 1)[rows[a:b] - low]

        tasks = moment_tasks(m)
        mean = sum(task_sums(part(a, b)) for a, b in tasks) / m
        with single_threaded_blas():
            cov = sum(task_covariance(part(a, b), mean) for a, b in tasks) / (m - 1)
        whitening = Whitening.from_moments(
            mean, cov, method=config.whiten, eps=config.eps, floor=config.whiten_floor, dtype=np.float32, kernels=kernels
        )
    for a, b in moment_tasks(n):
        block = _rows(vectors, pending, a, b)
        kernels.transform(block, whitening.mean, whitening.matrix, block)
        vectors.write(a, 0, block)
    return whitening
