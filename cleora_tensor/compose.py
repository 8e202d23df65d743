"""Averaging embeddings of the same entities from several datasets."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._xp import to_numpy
from .embedding import Embedding
from .normalize import normalize_rows

__all__ = ["combine"]


def combine(embeddings: Sequence[Embedding], *, weights: Sequence[float] | None = None) -> Embedding:
    """Average entity vectors across embeddings, aligned by ``(type, id)``.

    Because Cleora's initialization depends only on an entity's key, embeddings
    of related datasets computed with the same configuration (and ZCA or no
    whitening, which keep the shared coordinates) can be composed: each vector is
    L2-normalized, the vectors of an entity are averaged over the embeddings that
    contain it (weighted by ``weights``), and the average is re-normalized.

    Parameters
    ----------
    embeddings : sequence of Embedding
        Same dimension; any namespaces (the result is NumPy).
    weights : sequence of float, optional
        Finite, non-negative weight per embedding, not all zero (default:
        equal).

    Returns
    -------
    Embedding
        The union of the entities, in order of first appearance; vectors
        ``(n, dim)`` float32 with unit rows; ``degrees`` and ``occurrences``
        summed; ``config`` of the first embedding if all agree, else None.

    Raises
    ------
    ValueError
        On no embeddings, different dimensions, or bad weights (the message
        names the first bad weight).

    Examples
    --------
    >>> import numpy as np
    >>> a = Embedding(["x"], np.array(["t"]), np.array([[1.0, 0.0]], np.float32), np.ones(1), np.ones(1, np.int64))
    >>> b = Embedding(["x", "y"], np.array(["t", "t"]), np.eye(2, dtype=np.float32)[::-1].copy(),
    ...               np.ones(2), np.ones(2, np.int64))
    >>> combine([a, b]).vectors
    array([[0.70710677, 0.70710677],
           [1.        , 0.        ]], dtype=float32)
    """
    if not embeddings:
        raise ValueError("embeddings must not be empty")
    dims = {e.dim for e in embeddings}
    if len(dims) != 1:
        raise ValueError(f"all embeddings must have the same dimension, got {sorted(dims)}")
    weights = _checked_weights(weights, len(embeddings))
    # The union of the (type, id) pairs, in order of first appearance.
    union: dict[tuple[str, str], int] = {}
    rows_of = []
    for e in embeddings:
        e.rows([])  # its own lookup rejects an (id, type) pair it holds twice
        pairs = zip(np.asarray(e.types, dtype=np.str_).tolist(), e.entity_ids)
        rows_of.append(np.fromiter((union.setdefault(p, len(union)) for p in pairs), np.int64, len(e)))
    ids = [entity_id for _, entity_id in union]
    types = np.asarray([entity_type for entity_type, _ in union], dtype=np.str_)
    n, dim = len(ids), dims.pop()
    total = np.zeros((n, dim))
    degrees, occurrences = np.zeros(n), np.zeros(n, np.int64)
    for e, weight, rows in zip(embeddings, weights, rows_of):
        total[rows] += weight * normalize_rows(to_numpy(e.vectors).astype(np.float64), eps=1e-12)
        degrees[rows] += e.degrees
        occurrences[rows] += e.occurrences
    normalize_rows(total, eps=1e-12, out=total)
    configs = {e.config for e in embeddings}
    return Embedding(
        entity_ids=ids,
        types=types,
        vectors=total.astype(np.float32),
        degrees=degrees,
        occurrences=occurrences,
        config=configs.pop() if len(configs) == 1 else None,
    )


def _checked_weights(weights: Sequence[float] | None, count: int) -> np.ndarray:
    """``weights`` as a float64 ``(count,)`` array scaled to a largest weight of 1.

    Only the ratios matter (the average is re-normalized); scaling keeps huge
    finite weights from overflowing. ValueError unless they are finite,
    non-negative and not all zero.
    """
    if weights is None:
        return np.ones(count)
    rule = f"weights must be {count} finite, non-negative numbers (one per embedding), not all zero"
    try:
        array = np.asarray(weights, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{rule}; got {weights!r}") from None
    if array.shape != (count,):
        raise ValueError(f"{rule}; got shape {array.shape}")
    bad = np.flatnonzero(~(np.isfinite(array) & (array >= 0)))
    if bad.size:
        raise ValueError(f"{rule}; weights[{bad[0]}] is {array[bad[0]]}")
    if not array.any():
        raise ValueError(f"{rule}; all are zero")
    return array / array.max()
