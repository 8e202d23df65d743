"""The CuPy backend: ``cupyx.scipy.sparse.csr_matrix`` and cuSPARSE on a CUDA device.

The transition matrix lives on the GPU as a float32 CSR matrix with int32
indices (CuPy's only index type, hence fewer than 2**31 non-zeros; the torch
backend takes int64 indices). Dense arrays are CuPy arrays on the same device,
and the rest of the loop is the library's generic array-API code, so nothing
leaves the GPU between steps.

Memory order: cuSPARSE's SpMM wants column-major (Fortran-ordered) dense
operands. The product writes a Fortran-ordered result and reads a
Fortran-ordered operand directly. The generic steps between two products may
return C-ordered arrays (whitening's ``matmul`` does); a C-ordered ``X`` is,
read column-major, ``X^T``, so the product passes that view to cuSPARSE with
``op(B) = transpose`` instead of copying it. Only operands that are neither C-
nor F-contiguous are copied (once, to F order), so no step of the loop pays an
``(n, d)`` layout copy. This path cannot run without a GPU; the project's
backend tests and benchmarks exercise it where one is present.
"""

from __future__ import annotations

from typing import Any

import array_api_compat.cupy
import cupy
import cupyx.cusparse
import cupyx.scipy.sparse
import numpy as np
import scipy.sparse

__all__ = ["CupyOperator", "check_device", "default_device", "namespace", "operator"]

_INT32_LIMIT = 2**31


def namespace(device: Any) -> Any:
    """The array namespace of this backend (array-api-compat's cupy)."""
    return array_api_compat.cupy


def _device_count() -> int:
    try:
        return cupy.cuda.runtime.getDeviceCount()
    except cupy.cuda.runtime.CUDARuntimeError as error:
        raise ValueError(f"CuPy cannot use a CUDA GPU: {error}") from None


def default_device() -> cupy.cuda.Device:
    """The current CUDA device.

    Raises
    ------
    ValueError
        If no CUDA GPU is usable.
    """
    if _device_count() == 0:
        raise ValueError("CuPy sees no CUDA GPU (check the driver and CUDA_VISIBLE_DEVICES)")
    return cupy.cuda.Device()


def check_device(device: Any) -> cupy.cuda.Device:
    """Canonical form of a CUDA device.

    Parameters
    ----------
    device : str, int or cupy.cuda.Device
        ``"cuda"`` (the current device), ``"cuda:1"``, ``"gpu"``, a device
        ordinal, or a ``cupy.cuda.Device``.

    Returns
    -------
    cupy.cuda.Device

    Raises
    ------
    ValueError
        On ``"cpu"`` or another malformed device, or a GPU that is not there
        (the message says why).
    """
    if isinstance(device, cupy.cuda.Device):
        index = device.id
    elif isinstance(device, int) and not isinstance(device, bool):
        index = device
    elif isinstance(device, str) and device.partition(":")[0] in ("cuda", "gpu"):
        number = device.partition(":")[2]
        if not number:
            return default_device()
        if not number.isdigit():
            raise ValueError(f"invalid CUDA device {device!r}; expected 'cuda' or 'cuda:<index>'")
        index = int(number)
    else:
        raise ValueError(
            f"the cupy backend runs on a CUDA device ('cuda', 'cuda:<index>'), not {device!r}; "
            "use backend='scipy' or 'torch' for the CPU"
        )
    count = _device_count()
    if not 0 <= index < count:
        raise ValueError(f"device {device!r} requested but {count} CUDA device(s) are visible")
    return cupy.cuda.Device(index)


class CupyOperator:
    """``P @ X`` with a CuPy CSR matrix (cuSPARSE SpMM).

    Parameters
    ----------
    matrix : scipy.sparse matrix or array
        Shape ``(n, n)``, fewer than 2**31 non-zeros; converted to float32 CSR
        with int32 indices, sorted and without duplicates.
    device : cupy.cuda.Device or as :func:`check_device`
        Where the matrix lives.

    Attributes
    ----------
    shape : tuple of int
        ``(n, n)``.
    matrix : cupyx.scipy.sparse.csr_matrix
    device : cupy.cuda.Device

    Raises
    ------
    ValueError
        If ``matrix`` is not square, has 2**31 or more non-zeros or rows, or
        the device is not usable.
    """

    def __init__(self, matrix: Any, *, device: Any = "cuda") -> None:
        self.device = check_device(device)
        matrix = scipy.sparse.csr_array(matrix, dtype=np.float32)
        if matrix.shape[0] != matrix.shape[1]:
            raise ValueError(f"matrix must be square, got shape {matrix.shape}")
        if matrix.nnz >= _INT32_LIMIT or matrix.shape[0] >= _INT32_LIMIT:
            raise ValueError(
                f"the matrix has {matrix.nnz:,} non-zeros and {matrix.shape[0]:,} rows; CuPy's "
                "sparse matrices have int32 indices (fewer than 2**31); use backend='torch' "
                "(int64 indices) instead"
            )
        if not matrix.has_canonical_format:
            matrix = matrix.copy()
            matrix.sum_duplicates()  # also sorts the indices
        self.shape = matrix.shape
        with self.device:
            self.matrix = cupyx.scipy.sparse.csr_matrix(
                (
                    cupy.asarray(matrix.data),
                    cupy.asarray(matrix.indices, dtype=cupy.int32),
                    cupy.asarray(matrix.indptr, dtype=cupy.int32),
                ),
                shape=matrix.shape,
            )
            # Canonical on the host, so on the device: spares CuPy a check.
            self.matrix.has_canonical_format = True
        # cuSPARSE's generic SpMM (CUDA >= 10.2; absent on some ROCm builds).
        self._spmm = cupyx.cusparse.spmm if cupyx.cusparse.check_availability("spmm") else None

    def matmul(self, x: cupy.ndarray, *, out: cupy.ndarray | None = None) -> cupy.ndarray:
        """``P @ x``.

        Parameters
        ----------
        x : cupy.ndarray
            Shape ``(n, d)``, float32, on the operator's device; Fortran- or
            C-ordered without a copy (see the module notes), else copied once.
        out : cupy.ndarray, optional
            Shape ``(n, d)``, float32, not sharing memory with ``x``.
            cuSPARSE writes a Fortran-ordered ``out`` directly; any other is
            filled by a copy.

        Returns
        -------
        cupy.ndarray
            Shape ``(n, d)``, float32: ``out`` if given, else a new
            Fortran-ordered array.

        Raises
        ------
        ValueError
            On a wrong shape, dtype or device, or a bad ``out``.
        """
        if x.ndim != 2 or x.shape[0] != self.shape[1] or x.dtype != cupy.float32:
            raise ValueError(
                f"x must be a float32 array of shape ({self.shape[1]}, d), got "
                f"{x.dtype} of shape {tuple(x.shape)}"
            )
        if x.device != self.device:
            raise ValueError(f"x is on {x.device}, the operator on {self.device}")
        shape = (self.shape[0], x.shape[1])
        with self.device:
            if out is None:
                out = cupy.empty(shape, dtype=cupy.float32, order="F")
            elif out.shape != shape or out.dtype != cupy.float32 or out.device != self.device:
                raise ValueError(f"out must be a float32 array of shape {shape} on {self.device}")
            elif cupy.may_share_memory(out, x):
                raise ValueError("out must not share memory with x")
            if self._spmm is None:  # CuPy's own product (allocates its result)
                out[...] = self.matrix @ cupy.asfortranarray(x)
            elif out.flags.f_contiguous:
                self._spmm_into(x, out)
            else:
                # cuSPARSE writes column-major only: compute, then copy in.
                out[...] = self._spmm_into(x, cupy.empty(shape, dtype=cupy.float32, order="F"))
        return out

    def set_values(self, values: cupy.ndarray) -> None:
        """Replace the non-zero values in place, keeping the sparsity structure.

        Parameters
        ----------
        values : cupy.ndarray
            Shape ``(nnz,)``, float32, in the order of the CSR matrix the
            operator was built from (canonical: rows, then sorted columns),
            on the operator's device.
        """
        self.matrix.data[...] = values

    def _spmm_into(self, x: cupy.ndarray, out: cupy.ndarray) -> cupy.ndarray:
        """``P @ x`` by cuSPARSE SpMM into the Fortran-ordered ``out``."""
        # cuSPARSE reads C only when beta != 0; zeroing (a memset) makes the
        # result independent of out's old contents either way.
        out.fill(0)
        if x.flags.f_contiguous:
            return self._spmm(self.matrix, x, c=out)
        if x.flags.c_contiguous:
            return self._spmm(self.matrix, x.T, c=out, transb=True)
        return self._spmm(self.matrix, cupy.asfortranarray(x), c=out)


def operator(matrix: Any, *, device: Any = "cuda", threads: int | None = None) -> CupyOperator:
    """Build a :class:`CupyOperator` (the backend factory).

    ``threads`` is part of the backend interface and has no effect on the GPU.
    """
    return CupyOperator(matrix, device=device)
