"""Row-wise L2 normalization, the projection Cleora applies after every step."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._xp import host_views, namespace
from .parallel import GENERIC_BLOCK, ROW_BLOCK, map_blocks, resolve_threads, row_blocks

__all__ = ["normalize_rows"]


def normalize_rows(
    x: Any,
    *,
    eps: float = 1e-10,
    threads: int | None = None,
    out: Any = None,
    xp: Any = None,
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
        Worker threads of the NumPy path (all cores if None); the result does
        not depend on it.
    out : array, optional
        Where to write the result, shape and dtype of ``x``; may be ``x`` itself
        (in place, without a temporary ``(n, d)`` array on NumPy).
    xp : namespace, optional
        Inferred from ``x`` if omitted.

    Returns
    -------
    array
        Shape ``(n, d)``, same dtype, namespace and device as ``x`` (``out`` if
        given).

    Raises
    ------
    ValueError
        If ``x`` is not 2-D or ``out`` has another shape.

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
    views = host_views(x, out)
    if views is not None:
        result = _normalize_numpy(views[0], eps, resolve_threads(threads), views[1])
        return xp.asarray(result) if out is None else out
    out = xp.empty_like(x) if out is None else out
    # Blockwise into out: temporaries stay at GENERIC_BLOCK rows, and out=x
    # works in place.
    for start, stop in row_blocks(x.shape[0], GENERIC_BLOCK):
        rows = x[start:stop, ...]
        norms = xp.sqrt(xp.sum(rows * rows, axis=1, keepdims=True))
        out[start:stop, ...] = rows / xp.clip(norms, min=eps)
    return out


def _normalize_numpy(x: np.ndarray, eps: float, threads: int, out: np.ndarray | None) -> np.ndarray:
    out = np.empty_like(x) if out is None else out

    def block(start: int, stop: int) -> None:
        rows = x[start:stop]
        norms = np.sqrt(np.einsum("ij,ij->i", rows, rows))
        np.divide(rows, np.maximum(norms, eps)[:, None], out=out[start:stop])

    map_blocks(block, row_blocks(x.shape[0], ROW_BLOCK), threads)
    return out
