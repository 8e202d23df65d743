"""Backends: an array namespace, a device, and a sparse operator for ``P @ X``.

Sparse matrices have no array-API standard, so each backend supplies the one
operation the propagation loop needs from them, through :class:`SparseOperator`;
everything else is backend-neutral array-API code. Backends are registered by
name and their modules (and heavy frameworks) are imported on first use only.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

__all__ = ["Backend", "SparseOperator", "available_backends", "get_backend"]


@runtime_checkable
class SparseOperator(Protocol):
    """A sparse ``(n, n)`` matrix that multiplies dense ``(n, d)`` arrays.

    Attributes
    ----------
    shape : tuple of int
        ``(n, n)``.

    Methods
    -------
    matmul(x, *, out=None)
        ``P @ x`` for ``x`` of shape ``(n, d)`` in the backend's namespace and on
        its device; writes into ``out`` (shape ``(n, d)``, not ``x``) when given
        and returns the result.
    """

    shape: tuple[int, int]

    def matmul(self, x: Any, *, out: Any = None) -> Any: ...


@dataclass(frozen=True)
class Backend:
    """An array namespace and device plus a factory of sparse operators.

    Attributes
    ----------
    name : str
        Registry name, e.g. ``"scipy"``.
    xp : namespace
        Array-API namespace of the dense arrays.
    device : Any
        Device of the dense arrays.
    """

    name: str
    xp: Any
    device: Any
    _module: Any

    def operator(self, matrix: Any, *, threads: int | None = None) -> SparseOperator:
        """Wrap a SciPy CSR matrix as this backend's :class:`SparseOperator`.

        Parameters
        ----------
        matrix : scipy.sparse.csr_array
            Shape ``(n, n)``, float32 values.
        threads : int or None, default None
            CPU worker threads (all cores if None).
        """
        return self._module.operator(matrix, device=self.device, threads=threads)

    def asarray(self, x: Any) -> Any:
        """``x`` as a float32 array of this backend's namespace on its device."""
        return self.xp.asarray(x, dtype=self.xp.float32, device=self.device)


#: name -> module implementing ``namespace(device)``, ``default_device()``
#: and ``operator(matrix, *, device, threads)``.
_REGISTRY = {"scipy": "cleora_tensor.backends.scipy"}


def available_backends() -> tuple[str, ...]:
    """Names accepted by :func:`get_backend`."""
    return tuple(_REGISTRY)


def get_backend(name: str = "scipy", *, device: Any = None) -> Backend:
    """Look up a backend by name.

    Parameters
    ----------
    name : str, default "scipy"
        One of :func:`available_backends`.
    device : optional
        Device for the dense arrays; the backend's default if None.

    Returns
    -------
    Backend

    Raises
    ------
    ValueError
        On an unknown name or a device the backend does not have.
    """
    if name not in _REGISTRY:
        raise ValueError(f"unknown backend {name!r}; choose from {', '.join(_REGISTRY)}")
    module = importlib.import_module(_REGISTRY[name])
    device = module.default_device() if device is None else module.check_device(device)
    return Backend(name=name, xp=module.namespace(device), device=device, _module=module)
