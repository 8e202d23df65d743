"""The reference backend: any array-API namespace, sparse product from standard calls only.

Nothing here is specific to a library: ``P @ X`` is a gather (``take``) of the
rows of ``X`` named by the column indices, scaled by the values, and a segment
sum over each row's non-zeros computed as differences of a ``cumulative_sum``.
It runs wherever the standard does (array-api-strict and its simulated devices,
NumPy, PyTorch, CuPy, ...), which is what lets the test suite run the whole
propagation loop on array-api-strict. It is a correctness reference, not a fast
path: it moves ``O(nnz * d)`` data per product.

Accuracy: the gather, product and prefix sums are in float64 where the device
has it (exact products of float32 numbers, prefix-sum rounding far below float32
resolution), else float32. A difference of prefix sums loses the precision of
the prefix's magnitude, so rows are processed in blocks that restart the sum:
with row-normalized Markov rows the prefix magnitude is at most the number of
rows in the block times ``max |x|``, hence the smaller blocks in float32.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import scipy.sparse

from .._xp import device_of, float64_supported

__all__ = ["ArrayAPIOperator", "ReferenceBackend", "strict"]

# Rows per block, by accumulation dtype (see the module notes on accuracy):
# float32 prefix sums over 32 rows stay within ~32 ulp of max |x|.
_BLOCK_ROWS = {"float64": 1024, "float32": 32}
# Non-zeros per block: bounds the (nnz_block, d) gathered temporaries
# (2**14 x 256 float64 = 32 MiB, twice: terms and their prefix sums).
_BLOCK_NNZ = 2**14


class ArrayAPIOperator:
    """``P @ X`` by gather and segment sums, in any array-API namespace.

    Parameters
    ----------
    matrix : scipy.sparse matrix or array
        Shape ``(n, n)``; converted to float32 CSR.
    xp : namespace
        Array-API namespace of the dense operands.
    device : Any
        Their device; the matrix is copied there once.

    Attributes
    ----------
    shape : tuple of int
        ``(n, n)``.

    Raises
    ------
    ValueError
        If ``matrix`` is not square.
    """

    def __init__(self, matrix: Any, *, xp: Any, device: Any) -> None:
        matrix = scipy.sparse.csr_array(matrix, dtype=np.float32)
        if matrix.shape[0] != matrix.shape[1]:
            raise ValueError(f"matrix must be square, got shape {matrix.shape}")
        self.shape = matrix.shape
        self.xp, self.device = xp, device
        self._acc = xp.float64 if float64_supported(xp, device) else xp.float32
        indptr = matrix.indptr.astype(np.int64)
        n, nnz = matrix.shape[0], matrix.nnz
        rows = _BLOCK_ROWS["float64" if self._acc == xp.float64 else "float32"]
        by_nnz = np.searchsorted(indptr, np.arange(0, nnz, _BLOCK_NNZ), side="right") - 1
        cuts = np.unique(np.concatenate([np.arange(0, n, rows), by_nnz.clip(0, n), [n]]))
        # Per block: rows [a, b), their column indices, values as a column
        # vector, and each row's start/stop within the block's non-zeros.
        self._blocks, self._spans = [], []
        for a, b in zip(cuts[:-1].tolist(), cuts[1:].tolist()):
            lo, hi = indptr[a], indptr[b]
            self._spans.append((int(lo), int(hi)))
            local = xp.asarray(indptr[a : b + 1] - lo, device=device)
            values = xp.asarray(matrix.data[lo:hi], device=device)
            self._blocks.append((
                a,
                b,
                xp.asarray(matrix.indices[lo:hi].astype(np.int64), device=device),
                xp.astype(values, self._acc)[:, None],
                local[:-1],
                local[1:],
            ))

    def matmul(self, x: Any, *, out: Any = None) -> Any:
        """``P @ x``.

        Parameters
        ----------
        x : array
            Shape ``(n, d)``, float32, namespace and device of the operator.
        out : array, optional
            Shape ``(n, d)``, float32; must not be ``x`` or a view of it.

        Returns
        -------
        array
            Shape ``(n, d)``, float32, same namespace and device (``out`` if
            given).

        Raises
        ------
        ValueError
            On a wrong shape, dtype or device, or ``out is x``.
        """
        xp = self.xp
        n = self.shape[0]
        if x.ndim != 2 or x.shape[0] != self.shape[1] or x.dtype != xp.float32:
            raise ValueError(
                f"x must be a float32 array of shape ({self.shape[1]}, d), got "
                f"{x.dtype} of shape {tuple(x.shape)}"
            )
        if device_of(x) != self.device:
            raise ValueError(f"x is on device {device_of(x)!r}, the operator on {self.device!r}")
        d = x.shape[1]
        if out is None:
            out = xp.empty((n, d), dtype=xp.float32, device=self.device)
        elif out is x or tuple(out.shape) != (n, d) or out.dtype != xp.float32:
            raise ValueError(f"out must be a float32 array of shape {(n, d)} other than x")
        source = xp.astype(x, self._acc, copy=False)  # x itself without float64
        for a, b, columns, values, starts, stops in self._blocks:
            terms = xp.take(source, columns, axis=0) * values
            sums = xp.cumulative_sum(terms, axis=0, include_initial=True)
            rows = xp.take(sums, stops, axis=0) - xp.take(sums, starts, axis=0)
            out[a:b, ...] = xp.astype(rows, xp.float32)
        return out

    def set_values(self, values: Any) -> None:
        """Replace the non-zero values in place, keeping the sparsity structure.

        Parameters
        ----------
        values : array
            Shape ``(nnz,)``, float32, in the order of the CSR matrix the
            operator was built from (canonical: rows, then sorted columns),
            namespace and device of the operator.
        """
        xp = self.xp
        for i, (lo, hi) in enumerate(self._spans):
            a, b, columns, _, starts, stops = self._blocks[i]
            self._blocks[i] = (a, b, columns, xp.astype(values[lo:hi], self._acc)[:, None], starts, stops)


class ReferenceBackend:
    """The backend-module interface of :mod:`cleora_tensor.backends` for one namespace.

    Parameters
    ----------
    xp : namespace
        Any array-API namespace.
    """

    def __init__(self, xp: Any) -> None:
        self.xp = xp

    def __repr__(self) -> str:
        return f"ReferenceBackend({getattr(self.xp, '__name__', self.xp)!r})"

    def namespace(self, device: Any) -> Any:
        """The namespace (the same on every device)."""
        return self.xp

    def default_device(self) -> Any:
        """The namespace's default device."""
        return self.xp.__array_namespace_info__().default_device()

    def check_device(self, device: Any) -> Any:
        """Return ``device`` if the namespace has it.

        Raises
        ------
        ValueError
            If ``device`` is not among the namespace's devices.
        """
        devices = self.xp.__array_namespace_info__().devices()
        if device not in devices:
            raise ValueError(
                f"device {device!r} is not a device of {self.xp.__name__}; choose from "
                f"{', '.join(map(repr, devices))}"
            )
        return device

    def operator(self, matrix: Any, *, device: Any, threads: int | None = None) -> ArrayAPIOperator:
        """Build an :class:`ArrayAPIOperator`.

        ``threads`` is part of the backend interface and has no effect: the
        reference runs in the calling thread.
        """
        return ArrayAPIOperator(matrix, xp=self.xp, device=self.check_device(device))


@lru_cache(maxsize=1)
def strict() -> ReferenceBackend:
    """The reference backend on array-api-strict (what ``get_backend("array_api")`` uses)."""
    import array_api_strict

    return ReferenceBackend(array_api_strict)
