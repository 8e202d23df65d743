"""Row-wise L2 normalization, the projection Cleora applies after every step."""

from __future__ import annotations

from typing import Any

from ._xp import namespace
from .backends import kernels_for

__all__ = ["normalize_rows"]


def normalize_rows(
    x: Any,
    *,
    eps: float = 1e-10,
    threads: int | None = None,
    out: Any = None,
    xp: Any = None,
    kernels: Any = None,
) -> Any:
    """Divide every row by its L2 norm, floored at ``eps``.

    Parameters
    ----------
    x : array
        Shape ``(n, d)``, floating point, any array-API namespace.
    eps : float, default 1e-10
        Norms below ``eps`` are replaced by ``eps`` (so zero rows stay zero),
        as in pycleora 3.2.1.
    threads : int or None, default None
        CPU worker threads of the kernels (all cores if None); the result does
        not depend on it. Ignored when ``kernels`` is given.
    out : array, optional
        Where to write the result, shape and dtype of ``x``; may be ``x`` itself
        (in place, blockwise, without a temporary ``(n, d)`` array).
    xp : namespace, optional
        Inferred from ``x`` if omitted.
    kernels : kernel set, optional
        From :meth:`Backend.kernels <cleora_tensor.backends.Backend.kernels>`;
        default: that of ``x``'s backend.

    Returns
    -------
    array
        Shape ``(n, d)``, same dtype, namespace and device as ``x`` (``out`` if
        given).

    Raises
    ------
    ValueError
        If ``x`` is not 2-D, ``out`` has another shape, or ``threads`` is
        invalid.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> normalize_rows(xp.asarray([[3.0, 4.0], [0.0, 0.0]]))
    Array([[0.6, 0.8],
           [0. , 0. ]], dtype=array_api_strict.float64)
    """
    xp = namespace(x, xp=xp)
    if x.ndim != 2:
        raise ValueError(f"x must be 2-D (n, d), got shape {tuple(x.shape)}")
    if out is not None and tuple(out.shape) != tuple(x.shape):
        raise ValueError(f"out must have shape {tuple(x.shape)}, got {tuple(out.shape)}")
    kernels = kernels_for(x, threads, kernels)
    out = xp.empty_like(x) if out is None else out
    kernels.normalize_rows(x, out, eps)
    return out
