"""The NumPy dense kernels: cache-sized row blocks on a thread pool.

The kernel set of the SciPy backend, and (through zero-copy NumPy views,
:class:`HostViewKernels`) of torch on the CPU. Each kernel splits its rows into
blocks whose boundaries depend only on the data size, runs them on the pool of
:func:`~cleora_tensor.parallel.map_blocks` with single-threaded BLAS inside, and
adds partial results in block order, so results are bit-identical for every
thread count.

Why views for CPU torch tensors: the generic code allocates a temporary per
operation and computes ``C^T C`` as a full GEMM. At 1e6 edges with PCA
whitening after each of 40 steps, torch-CPU took 1.43-1.51x the SciPy backend's
wall time on the generic kernels and 1.02-1.24x through these views.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import array_api_compat
import array_api_compat.numpy
import numpy as np

from ..parallel import GENERIC_BLOCK, ROW_BLOCK, map_blocks, row_blocks, single_threaded_blas
from .kernels_generic import GenericKernels

__all__ = ["MOMENT_ROWS", "NORM_COLUMNS", "HostViewKernels", "NumpyKernels", "host_views", "moment_tasks", "row_norms_squared", "task_covariance", "task_sums"]

# Whitening: rows per BLAS call (1024 x 256 float64 = 2 MiB, cache-resident;
# measured 12 % faster than 4096 at 1.1 M x 256) and blocks per thread-pool
# task. Both are fixed, so partial sums and their order do not depend on the
# thread count.
_BLOCK = 1024
_BLOCKS_PER_TASK = 16
#: Rows per partial sum of the whitening moments (:func:`moment_tasks`).
MOMENT_ROWS = _BLOCK * _BLOCKS_PER_TASK
# Rows per hashing block: 1024 x 256 int64 temporaries are 2 MiB; measured
# 25 % faster than 4096-row blocks on 1.1 M x 256.
_INIT_BLOCK = 1024
#: Row norms are summed over column chunks of this width, chunk after chunk, so
#: that an embedding computed in column slices whose widths are multiples of it
#: (out-of-core, :mod:`cleora_tensor.outofcore`) gets the same bits.
NORM_COLUMNS = 32


def row_norms_squared(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Float32 squared row norms, accumulated chunk by chunk of :data:`NORM_COLUMNS` columns.

    Parameters
    ----------
    x : numpy.ndarray
        Shape ``(m, d)``, float32.
    out : numpy.ndarray, optional
        Shape ``(m,)``, float32: partial sums of earlier columns, added to
        in place (a slice of columns continues the sums of the slices before it).

    Returns
    -------
    numpy.ndarray
        ``out``, or a new ``(m,)`` float32 array.
    """
    for c in range(0, x.shape[1], NORM_COLUMNS):
        part = x[:, c : c + NORM_COLUMNS]
        sums = np.einsum("ij,ij->i", part, part)
        if out is None:
            out = sums
        else:
            out += sums
    return np.zeros(x.shape[0], np.float32) if out is None else out


def moment_tasks(n: int) -> list[tuple[int, int]]:
    """The row ranges of the moment partial sums (fixed: independent of threads)."""
    return row_blocks(n, MOMENT_ROWS)


def task_sums(part: np.ndarray) -> np.ndarray:
    """Float64 column sums of one task's rows, ``(d,)``, in 1024-row blocks."""
    total = np.zeros(part.shape[1])
    for a in range(0, len(part), _BLOCK):
        total += part[a : a + _BLOCK].sum(axis=0, dtype=np.float64)
    return total


def task_covariance(part: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Float64 ``(X - mean)^T (X - mean)`` of one task's rows, ``(d, d)``, in 1024-row blocks."""
    d = part.shape[1]
    cov = np.zeros((d, d))
    buffer = np.empty((min(_BLOCK, len(part)), d))
    for a in range(0, len(part), _BLOCK):
        block = part[a : a + _BLOCK]
        # One pass converts to float64 and centers, into a reused buffer.
        centered = np.subtract(block, mean, out=buffer[: len(block)])
        cov += centered.T @ centered
    return cov


class NumpyKernels:
    """Threaded row-block kernels on NumPy arrays.

    Same methods and contracts as
    :class:`~cleora_tensor.backends.kernels_generic.GenericKernels`, for NumPy
    arrays (results in NumPy).

    Parameters
    ----------
    threads : int
        Worker threads, already validated (``>= 1``).
    """

    name = "numpy"

    def __init__(self, threads: int) -> None:
        self.threads = threads

    def __repr__(self) -> str:
        return f"{type(self).__name__}(threads={self.threads})"

    def normalize_rows(self, x: np.ndarray, out: np.ndarray, eps: float) -> None:
        def block(start: int, stop: int) -> None:
            rows = x[start:stop]
            norms = np.sqrt(row_norms_squared(rows))
            np.divide(rows, np.maximum(norms, eps)[:, None], out=out[start:stop])

        map_blocks(block, row_blocks(x.shape[0], ROW_BLOCK), self.threads)

    def moments(self, y: np.ndarray, rows: np.ndarray | None, xp: Any) -> tuple[Any, Any]:
        n = y.shape[0] if rows is None else len(rows)

        def part(a: int, b: int) -> np.ndarray:
            return y[a:b] if rows is None else y[rows[a:b]]

        tasks = moment_tasks(n)
        mean = sum(map_blocks(lambda a, b: task_sums(part(a, b)), tasks, self.threads)) / n
        with single_threaded_blas():
            partials = map_blocks(lambda a, b: task_covariance(part(a, b), mean), tasks, self.threads)
        return mean, sum(partials) / (n - 1)

    def transform(self, y: np.ndarray, mean: np.ndarray, matrix: np.ndarray, out: np.ndarray) -> None:
        def block(start: int, stop: int) -> None:
            buffer = np.empty((_BLOCK, y.shape[1]), dtype=y.dtype)
            for a in range(start, stop, _BLOCK):
                b = min(a + _BLOCK, stop)
                # Centering into a separate buffer also makes out=y safe.
                centered = np.subtract(y[a:b], mean, out=buffer[: b - a])
                np.matmul(centered, matrix, out=out[a:b])

        with single_threaded_blas():
            map_blocks(block, moment_tasks(y.shape[0]), self.threads)

    def mix(self, y: np.ndarray, previous: np.ndarray, residual: float) -> None:
        def block(start: int, stop: int) -> None:
            y[start:stop] = (1.0 - residual) * y[start:stop] + residual * previous[start:stop]

        map_blocks(block, row_blocks(y.shape[0], GENERIC_BLOCK), self.threads)

    def rms_change(self, y: np.ndarray, previous: np.ndarray) -> float:
        # Per-row sums of float32 squares, then float64 across rows in block
        # order. The generic float64 version took 0.22 s per step at
        # 110 k x 256, as long as the product.
        total = sum(self.change_partials(y, previous))
        return (total / max(y.shape[0], 1)) ** 0.5

    def change_partials(self, y: np.ndarray, previous: np.ndarray) -> list[float]:
        """Squared change ``|y - previous|^2`` per block of ``ROW_BLOCK`` rows, float64,
        in row order: what :meth:`rms_change` adds up (distributed propagation adds
        the blocks of every rank in the same order)."""

        def block(start: int, stop: int) -> float:
            diff = y[start:stop] - previous[start:stop]
            return float(np.einsum("ij,ij->i", diff, diff).sum(dtype=np.float64))

        return map_blocks(block, row_blocks(y.shape[0], ROW_BLOCK), self.threads)

    def fill(self, out: np.ndarray, keys: np.ndarray, columns: np.ndarray, values: Callable[..., Any], seed: int) -> None:
        xp = array_api_compat.numpy

        def block(start: int, stop: int) -> None:
            out[start:stop] = values(keys[start:stop], columns, seed, xp)

        # Cache-resident int64 temporaries; NumPy releases the GIL in its
        # integer kernels, so the blocks run in parallel.
        map_blocks(block, row_blocks(keys.shape[0], _INIT_BLOCK), self.threads)

    def eigh(self, a: np.ndarray, xp: Any) -> tuple[Any, Any]:
        # One BLAS thread: see GenericKernels.eigh (2 shared cores, load 5.5:
        # 1.0 s on 2 OpenBLAS threads against 16 ms on one).
        with single_threaded_blas():
            return xp.linalg.eigh(a)


class HostViewKernels:
    """NumPy kernels on CPU torch tensors through zero-copy views.

    Every kernel views its tensor arguments as NumPy arrays (:func:`host_views`)
    and runs :class:`NumpyKernels` on them, writing the tensors' memory; a
    tensor without a view (one that requires grad, say) takes the generic
    kernel instead. ``mix`` and ``eigh`` are the generic kernels (torch
    element-wise arithmetic; torch LAPACK on one thread).

    Parameters
    ----------
    threads : int
        Worker threads of the NumPy kernels, already validated.
    """

    name = "numpy-views"

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self._host = NumpyKernels(threads)
        self._generic = GenericKernels(threads)
        self.mix = self._generic.mix
        self.eigh = self._generic.eigh

    def __repr__(self) -> str:
        return f"{type(self).__name__}(threads={self.threads})"

    def normalize_rows(self, x: Any, out: Any, eps: float) -> None:
        views = host_views(x, out)
        (self._generic if views is None else self._host).normalize_rows(*(views or (x, out)), eps)

    def moments(self, y: Any, rows: Any, xp: Any) -> tuple[Any, Any]:
        views = host_views(y, rows)
        if views is None:
            return self._generic.moments(y, rows, xp)
        mean, cov = self._host.moments(*views, xp)
        device = array_api_compat.device(y)
        return xp.asarray(mean, device=device), xp.asarray(cov, device=device)

    def transform(self, y: Any, mean: Any, matrix: Any, out: Any) -> None:
        views = host_views(y, mean, matrix, out)
        (self._generic if views is None else self._host).transform(*(views or (y, mean, matrix, out)))

    def rms_change(self, y: Any, previous: Any) -> float:
        views = host_views(y, previous)
        return (self._generic if views is None else self._host).rms_change(*(views or (y, previous)))

    def fill(self, out: Any, keys: Any, columns: Any, values: Callable[..., Any], seed: int) -> None:
        views = host_views(out, keys, columns)
        (self._generic if views is None else self._host).fill(*(views or (out, keys, columns)), values, seed)


def host_views(*arrays: Any) -> tuple[Any, ...] | None:
    """NumPy arrays sharing memory with ``arrays``, or None if one has none.

    Parameters
    ----------
    *arrays : array or None
        NumPy arrays are returned as they are; strided float32, float64 or
        int64 torch tensors on the CPU that do not require grad give
        ``x.numpy()`` (same buffer, so writes to the view are writes to ``x``).
        None entries stay None (optional arguments such as ``rows``).

    Returns
    -------
    tuple or None
        One view per argument, or None when any array has no view.
    """
    views = tuple(None if x is None else _host_view(x) for x in arrays)
    if any(view is None and x is not None for view, x in zip(views, arrays)):
        return None
    return views


def _host_view(x: Any) -> Any:
    if array_api_compat.is_numpy_array(x):
        return x
    if array_api_compat.is_torch_array(x):
        import torch

        if (
            x.device.type == "cpu"
            and x.layout == torch.strided
            and x.dtype in (torch.float32, torch.float64, torch.int64)
            and not x.requires_grad
            and not x.is_conj()
            and not x.is_neg()
        ):
            return x.numpy()
    return None
