"""The dense kernel sets of the backends, chosen once per backend and cached.

The dense steps of the loop (row normalization, covariance and whitening
transform, residual mix, change between steps, hash initialization) come from a
kernel set chosen once with the backend, :meth:`~cleora_tensor.backends.Backend.kernels`,
and cached: :class:`~.kernels_numpy.NumpyKernels` (threaded row blocks) for
``scipy``, the same kernels through zero-copy NumPy views
(:class:`~.kernels_numpy.HostViewKernels`) for ``torch`` on the CPU, and the
standard-only :class:`~.kernels_generic.GenericKernels` for everything else.
The public dense functions take ``kernels=``; without it they use the kernel set
of their input array's backend (:func:`kernels_for`). Inside
:func:`use_generic_kernels`, every backend takes the generic set.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

from ..parallel import resolve_threads

__all__ = ["backend_kernels", "generic_kernels", "kernels_for", "use_generic_kernels"]

_GENERIC_ONLY: ContextVar[bool] = ContextVar("cleora_tensor_generic_kernels", default=False)


def backend_kernels(name: str, device: Any, threads: int | None = None) -> Any:
    """The kernel set of backend ``name`` on ``device``; what :meth:`Backend.kernels` returns."""
    if _GENERIC_ONLY.get():
        kind = "generic"
    elif name == "scipy":
        kind = "numpy"
    elif name == "torch" and device.type == "cpu":
        kind = "numpy-views"
    else:
        kind = "generic"
    return _kernel_set(kind, resolve_threads(threads))


def kernels_for(array: Any, threads: int | None = None, kernels: Any = None) -> Any:
    """``kernels`` if given, else the kernel set of ``array``'s backend.

    What the public dense functions call with their ``threads=`` and
    ``kernels=`` arguments; see :meth:`Backend.kernels`.

    Raises
    ------
    ValueError
        On an invalid ``threads`` (when ``kernels`` is None).
    TypeError
        If ``array`` is not an array.
    """
    if kernels is not None:
        return kernels
    from . import get_backend  # the package imports this module first

    return get_backend(array).kernels(threads)


def generic_kernels(threads: int | None = None) -> Any:
    """The standard-only kernel set (the GPU backends' one), for any namespace.

    Pass it as ``kernels=`` to run the generic code on NumPy arrays or CPU
    tensors (the tests do).
    """
    return _kernel_set("generic", resolve_threads(threads))


@contextmanager
def use_generic_kernels() -> Iterator[None]:
    """Within the block, every backend uses the standard-only kernel set.

    The GPU backends' dense code path, run on NumPy arrays or CPU tensors: for
    testing it without a GPU, or to rule out the NumPy kernels when debugging.
    Results agree with the default kernels within float32 rounding (the
    reductions are ordered differently). The setting is a context variable:
    other threads and asyncio tasks keep theirs.

    Examples
    --------
    >>> import numpy as np
    >>> from cleora_tensor import normalize_rows
    >>> with use_generic_kernels():
    ...     normalize_rows(np.array([[3.0, 4.0]], np.float32))
    array([[0.6, 0.8]], dtype=float32)
    """
    token = _GENERIC_ONLY.set(True)
    try:
        yield
    finally:
        _GENERIC_ONLY.reset(token)


@lru_cache(maxsize=None)
def _kernel_set(kind: str, threads: int) -> Any:
    if kind == "generic":
        from .kernels_generic import GenericKernels

        return GenericKernels(threads)
    from .kernels_numpy import HostViewKernels, NumpyKernels

    return (NumpyKernels if kind == "numpy" else HostViewKernels)(threads)
