"""The PyTorch backend: ``torch.sparse_csr_tensor`` on the CPU or a CUDA device.

The transition matrix is a float32 CSR tensor on the requested device, and the
dense arrays are torch tensors on the same device, so the whole loop (hash
initialization, sparse product, L2 normalization, float64 covariance,
``torch.linalg.eigh``) runs there without host round trips.

Measured on the 1e6-edge benchmark graph (110 k rows, 1.8 M non-zeros,
``d = 256``, 2 cores; README, "Backends"):
``torch.addmm(out, P, X, beta=0, out=out)`` into a reused buffer is the fastest
CPU product (187 ms), ahead of ``torch.mm(P, X, out=out)`` (237 ms), and
``torch.sparse.mm`` and ``P @ X`` (257 ms, both allocate); COO
``torch.sparse.mm`` takes 377 ms. int32 and int64 indices were equal within
noise on an idle machine and int64 was ahead under load, so the CPU matrix
uses int64 (the graph's int32 indices are copied once, 4 bytes per non-zero
more); on CUDA int32 indices (cuSPARSE's native
type) halve the index memory where they fit (not timed: no GPU here).

Determinism: on the CPU the sparse product (MKL) gave bit-identical results for
1, 2 and 3 threads; the dense steps (MKL GEMM, OpenMP reductions) are not
guaranteed to; README, "Threads and determinism", records what holds. CUDA results
are not bit-reproducible across GPUs or runs (cuSPARSE/cuBLAS reductions).
"""

from __future__ import annotations

import warnings
from typing import Any

import array_api_compat.torch
import numpy as np
import scipy.sparse
import torch

from ..parallel import resolve_threads

__all__ = ["TorchOperator", "check_device", "default_device", "namespace", "operator"]


def namespace(device: Any) -> Any:
    """The array namespace of this backend (array-api-compat's torch)."""
    return array_api_compat.torch


def default_device() -> torch.device:
    """``torch.device("cpu")``."""
    return torch.device("cpu")


def check_device(device: Any) -> torch.device:
    """Canonical form of a CPU or CUDA device.

    Parameters
    ----------
    device : str, int or torch.device
        ``"cpu"``, ``"cuda"`` (the current CUDA device), ``"cuda:1"``, a CUDA
        ordinal, or a ``torch.device``.

    Returns
    -------
    torch.device
        ``device(type="cpu")`` or ``device(type="cuda", index=i)``.

    Raises
    ------
    ValueError
        On a malformed device, a device type other than cpu/cuda, or a CUDA
        device that this torch cannot use (the message says why).
    """
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"invalid torch device {device!r}: {error}") from None
    if parsed.type == "cpu":
        return torch.device("cpu")
    if parsed.type != "cuda":
        raise ValueError(f"the torch backend runs on 'cpu' or 'cuda[:i]', not {device!r}")
    if not torch.cuda.is_available():
        reason = (
            "this torch build has no CUDA support"
            if torch.version.cuda is None
            else "no CUDA GPU is visible (check the driver and CUDA_VISIBLE_DEVICES)"
        )
        raise ValueError(f"device {device!r} requested but {reason} (torch {torch.__version__})")
    index = torch.cuda.current_device() if parsed.index is None else parsed.index
    count = torch.cuda.device_count()
    if index >= count:
        raise ValueError(f"device {device!r} requested but only {count} CUDA device(s) are visible")
    return torch.device("cuda", index)


class TorchOperator:
    """``P @ X`` with a CSR tensor on a CPU or CUDA device.

    Parameters
    ----------
    matrix : scipy.sparse matrix or array
        Shape ``(n, n)``; converted to float32 CSR with sorted indices.
    device : str or torch.device, default "cpu"
        Where the matrix lives (see :func:`check_device`).
    threads : int or None, default None
        CPU threads: calls ``torch.set_num_threads(threads)``. That setting is
        process-wide and stays in effect afterwards: PyTorch has no per-call
        thread count, and restoring it after each product would leave the dense
        steps of the loop (normalization, whitening), which also run in torch,
        on the old setting. None leaves torch's setting alone (by default the
        number of physical cores). No effect on CUDA.

    Attributes
    ----------
    shape : tuple of int
        ``(n, n)``.
    matrix : torch.Tensor
        The ``torch.sparse_csr`` float32 tensor.
    device : torch.device

    Raises
    ------
    ValueError
        If ``matrix`` is not square, or on an invalid device or thread count.

    Notes
    -----
    The product is not differentiable (it runs under ``torch.no_grad``):
    Cleora has no training objective.
    """

    def __init__(self, matrix: Any, *, device: Any = "cpu", threads: int | None = None) -> None:
        self.device = check_device(device)
        matrix = scipy.sparse.csr_array(matrix, dtype=np.float32)
        if matrix.shape[0] != matrix.shape[1]:
            raise ValueError(f"matrix must be square, got shape {matrix.shape}")
        if not matrix.has_sorted_indices:
            matrix = matrix.sorted_indices()
        self.shape = matrix.shape
        if threads is not None:
            threads = resolve_threads(threads)  # validated on CUDA too, as documented
            if self.device.type == "cpu":
                torch.set_num_threads(threads)
        fits32 = max(matrix.nnz, matrix.shape[0]) < 2**31
        index = torch.int32 if self.device.type == "cuda" and fits32 else torch.int64
        with warnings.catch_warnings():
            # PyTorch flags CSR tensors as beta on first use; the operations
            # used here (construction, addmm) are long stable.
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            self.matrix = torch.sparse_csr_tensor(
                torch.as_tensor(matrix.indptr, dtype=index),
                torch.as_tensor(matrix.indices, dtype=index),
                torch.as_tensor(matrix.data),
                size=matrix.shape,
                device=self.device,
                # SciPy's CSR is already valid; checking again costs a pass.
                check_invariants=False,
            )

    @torch.no_grad()
    def matmul(self, x: torch.Tensor, *, out: torch.Tensor | None = None) -> torch.Tensor:
        """``P @ x``.

        Parameters
        ----------
        x : torch.Tensor
            Shape ``(n, d)``, float32, on the operator's device.
        out : torch.Tensor, optional
            Shape ``(n, d)``, float32, same device, not sharing memory with
            ``x``; its contents are ignored. Contiguous is fastest (others get
            a copy inside torch).

        Returns
        -------
        torch.Tensor
            Shape ``(n, d)``, float32, on the operator's device (``out`` if
            given).

        Raises
        ------
        ValueError
            On a wrong shape, dtype or device, or an ``out`` sharing memory
            with ``x``.
        """
        if x.ndim != 2 or x.shape[0] != self.shape[1] or x.dtype != torch.float32:
            raise ValueError(
                f"x must be a float32 tensor of shape ({self.shape[1]}, d), got "
                f"{x.dtype} of shape {tuple(x.shape)}"
            )
        if x.device != self.device:
            raise ValueError(f"x is on {x.device}, the operator on {self.device}")
        shape = (self.shape[0], x.shape[1])
        if out is None:
            out = torch.empty(shape, dtype=torch.float32, device=self.device)
        elif tuple(out.shape) != shape or out.dtype != torch.float32 or out.device != self.device:
            raise ValueError(f"out must be a float32 tensor of shape {shape} on {self.device}")
        elif out.untyped_storage().data_ptr() == x.untyped_storage().data_ptr():
            raise ValueError("out must not share memory with x")
        # beta=0: out's old contents (possibly NaN) are ignored, not scaled.
        return torch.addmm(out, self.matrix, x, beta=0.0, out=out)

    @torch.no_grad()
    def set_values(self, values: torch.Tensor) -> None:
        """Replace the non-zero values in place, keeping the sparsity structure.

        Parameters
        ----------
        values : torch.Tensor
            Shape ``(nnz,)``, float32, in the order of the CSR matrix the
            operator was built from (canonical: rows, then sorted columns),
            on the operator's device.
        """
        self.matrix.values().copy_(values)


def operator(matrix: Any, *, device: Any = "cpu", threads: int | None = None) -> TorchOperator:
    """Build a :class:`TorchOperator` (the backend factory)."""
    return TorchOperator(matrix, device=device, threads=threads)
