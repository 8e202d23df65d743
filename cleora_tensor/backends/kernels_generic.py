"""The generic dense kernels: standard array-API calls only, for any namespace.

This is the kernel set of the GPU backends (torch on CUDA, CuPy) and of the
reference backend (array-api-strict and other namespaces); the tests also run it
on NumPy arrays and CPU tensors. Work is done in blocks of
:data:`~cleora_tensor.parallel.GENERIC_BLOCK` rows in the calling thread: the
blocks bound the temporaries, and the framework supplies its own parallelism.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import array_api_compat

from .._xp import device_of, float64_supported
from ..parallel import GENERIC_BLOCK, row_blocks

__all__ = ["GenericKernels"]


class GenericKernels:
    """Dense kernels written against the array API standard.

    Every method takes arrays of one namespace and device and leaves results
    there; the namespace is read from the arrays. ``threads`` is accepted for
    the common interface and has no effect (the work runs in the calling
    thread).

    Attributes
    ----------
    threads : int
        The validated thread count the kernel set was made with.
    """

    name = "generic"

    def __init__(self, threads: int = 1) -> None:
        self.threads = threads

    def __repr__(self) -> str:
        return f"{type(self).__name__}(threads={self.threads})"

    def normalize_rows(self, x: Any, out: Any, eps: float) -> None:
        """Write ``x / max(||x_row||_2, eps)`` into ``out``.

        ``x`` and ``out`` have shape ``(n, d)``, floating point; ``out`` may be
        ``x`` (each block is read before its rows are written).
        """
        xp = array_api_compat.array_namespace(x)
        for start, stop in row_blocks(x.shape[0], GENERIC_BLOCK):
            rows = x[start:stop, ...]
            norms = xp.sqrt(xp.sum(rows * rows, axis=1, keepdims=True))
            out[start:stop, ...] = rows / xp.clip(norms, min=eps)

    def moments(self, y: Any, rows: Any, xp: Any) -> tuple[Any, Any]:
        """Column mean and covariance of the rows of ``y``.

        Parameters
        ----------
        y : array
            Shape ``(n, d)``, floating point.
        rows : integer array or None
            Shape ``(m,)``: use these rows only (default: all); ``m >= 2``.
        xp : namespace
            The namespace of ``y`` (and of the results).

        Returns
        -------
        tuple of array
            ``mean`` of shape ``(d,)`` and ``cov = (Y - mean)^T (Y - mean) / (m - 1)``
            of shape ``(d, d)``, float64 (float32 on devices without it), on
            the device of ``y``.
        """
        device = device_of(y)
        acc = xp.float64 if float64_supported(xp, device) else xp.float32
        n, d = (y.shape[0] if rows is None else rows.shape[0]), y.shape[1]
        blocks = row_blocks(n, GENERIC_BLOCK)

        def block(start: int, stop: int) -> Any:
            part = y[start:stop, ...] if rows is None else xp.take(y, rows[start:stop], axis=0)
            return xp.astype(part, acc)

        total = xp.zeros((d,), dtype=acc, device=device)
        for start, stop in blocks:
            total = total + xp.sum(block(start, stop), axis=0)
        mean = total / n
        cov = xp.zeros((d, d), dtype=acc, device=device)
        for start, stop in blocks:
            centered = block(start, stop) - mean
            cov = cov + xp.matmul(centered.T, centered)
        return mean, cov / (n - 1)

    def transform(self, y: Any, mean: Any, matrix: Any, out: Any) -> None:
        """Write ``(y - mean) @ matrix`` into ``out``.

        ``y`` and ``out`` have shape ``(m, d)`` (``out`` may be ``y``), ``mean``
        ``(d,)`` and ``matrix`` ``(d, d)``, all of one dtype.
        """
        xp = array_api_compat.array_namespace(y)
        for start, stop in row_blocks(y.shape[0], GENERIC_BLOCK):
            out[start:stop, ...] = xp.matmul(y[start:stop, ...] - mean, matrix)

    def mix(self, y: Any, previous: Any, residual: float) -> None:
        """``y = (1 - residual) * y + residual * previous``, in place; both ``(n, d)``."""
        for start, stop in row_blocks(y.shape[0], GENERIC_BLOCK):
            y[start:stop, ...] = (1.0 - residual) * y[start:stop, ...] + residual * previous[start:stop, ...]

    def rms_change(self, y: Any, previous: Any) -> float:
        """``sqrt(mean_i ||y_i - previous_i||^2)`` for ``(n, d)`` arrays (0 for ``n = 0``).

        Accumulated on the device in float64 where it has it: one host read
        (one GPU synchronization) per call.
        """
        xp = array_api_compat.array_namespace(y)
        device = device_of(y)
        acc = xp.float64 if float64_supported(xp, device) else xp.float32
        total = xp.zeros((), dtype=acc, device=device)
        for start, stop in row_blocks(y.shape[0], GENERIC_BLOCK):
            diff = xp.astype(y[start:stop, ...] - previous[start:stop, ...], acc)
            total = total + xp.sum(diff * diff)
        return (float(total) / max(y.shape[0], 1)) ** 0.5

    def fill(self, out: Any, keys: Any, columns: Any, values: Callable[..., Any], seed: int) -> None:
        """Fill ``out`` row block by row block with ``values(keys[block], columns, seed, xp)``.

        ``out`` is float32 ``(n, d)``, ``keys`` int64 ``(n,)``, ``columns``
        int64 ``(d,)``, all on one device; ``values`` returns the float32 block
        (the hash initializations of :mod:`cleora_tensor.init`).
        """
        xp = array_api_compat.array_namespace(out)
        for start, stop in row_blocks(keys.shape[0], GENERIC_BLOCK):
            out[start:stop, ...] = values(keys[start:stop], columns, seed, xp)

    def eigh(self, a: Any, xp: Any) -> tuple[Any, Any]:
        """``xp.linalg.eigh`` of a small symmetric ``(d, d)`` matrix.

        Returns ``(eigenvalues, eigenvectors)`` in increasing order. A CPU torch
        tensor is decomposed on one torch thread (the setting is restored
        afterwards): at ``d`` in the hundreds, multithreaded LAPACK gains
        nothing, and on a busy machine its thread barriers stall (2 shared
        cores, load 5.5: 1.2 s on 2 threads against 7 ms on one). GPUs are left
        alone.
        """
        if array_api_compat.is_torch_array(a) and a.device.type == "cpu":
            import torch

            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                return xp.linalg.eigh(a)
            finally:
                torch.set_num_threads(threads)
        return xp.linalg.eigh(a)
