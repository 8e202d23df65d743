"""The similarity queries of :class:`~cleora_tensor.Embedding`
(:meth:`~cleora_tensor.Embedding.most_similar`, :meth:`~cleora_tensor.Embedding.complete`),
computed by :func:`~cleora_tensor.similarity.cosine_top_k` in the namespace and on
the device of the vectors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import array_api_compat
import numpy as np

from ._xp import to_numpy
from .normalize import normalize_rows
from .similarity import cosine_top_k, popularity_bias

if TYPE_CHECKING:
    from .embedding import Embedding

__all__ = ["complete", "most_similar"]

# Largest sum of squared float32 entries that leaves room for the dot
# products of cosine_top_k.
_SQUARES_LIMIT = float(np.finfo(np.float32).max) / 4


def most_similar(
    embedding: Embedding,
    entity_id: str,
    top_k: int,
    entity_type: str | None,
    target_type: str | None,
) -> list[tuple[str, float]]:
    """:meth:`Embedding.most_similar <cleora_tensor.Embedding.most_similar>`."""
    row = embedding.index(entity_id, entity_type)
    target = str(embedding.types[row]) if target_type is None else target_type
    xp = array_api_compat.array_namespace(embedding.vectors)
    dev = array_api_compat.device(embedding.vectors)
    mask = target_mask(embedding, target)
    candidates = None if target == "all" else xp.asarray(mask, device=dev)
    # Excluding a row that is not a candidate would shrink k needlessly.
    exclude = None
    if mask[row]:
        exclude = xp.asarray([row], dtype=xp.int64, device=dev)
    vectors = search_vectors(embedding)
    indices, scores = cosine_top_k(
        vectors,
        vectors[row : row + 1, :],
        top_k,
        exclude=exclude,
        candidates=candidates,
        xp=xp,
    )
    return ranked(embedding, indices, scores)


def complete(
    embedding: Embedding,
    items: Sequence[str],
    top_k: int,
    prior: float,
    entity_type: str | None,
    target_type: str | None,
) -> list[tuple[str, float]]:
    """:meth:`Embedding.complete <cleora_tensor.Embedding.complete>`."""
    if not items:
        raise ValueError("items is empty")
    if not prior >= 0:
        raise ValueError(f"prior must be >= 0, got {prior!r}")
    if prior > 0 and not embedding.occurrences.any():
        raise ValueError("occurrences are unknown (word2vec input); pass prior=0")
    rows = [embedding.index(item, entity_type) for item in items]
    target = str(embedding.types[rows[0]]) if target_type is None else target_type
    mask = target_mask(embedding, target)
    mask[rows] = False
    xp = array_api_compat.array_namespace(embedding.vectors)
    dev = array_api_compat.device(embedding.vectors)
    vectors = search_vectors(embedding)
    chosen = xp.take(vectors, xp.asarray(rows, dtype=xp.int64, device=dev), axis=0)
    query = xp.mean(normalize_rows(chosen), axis=0, keepdims=True)
    bias = popularity_bias(embedding.occurrences, prior, np.float32)
    indices, scores = cosine_top_k(
        vectors,
        query,
        top_k,
        candidates=xp.asarray(mask, device=dev),
        bias=xp.asarray(bias, device=dev),
        xp=xp,
    )
    return ranked(embedding, indices, scores)


def search_vectors(embedding: Embedding) -> Any:
    """``vectors``, each row divided by its largest magnitude if float32 squares could overflow.

    Cosines do not change; the rows' squares then sum to between 1 and
    ``d``. Only embeddings with entries near ``sqrt(float32 max / d)`` pay
    for the copy.
    """
    if embedding._largest**2 * embedding.dim <= _SQUARES_LIMIT:
        return embedding.vectors
    if embedding._scaled is None:
        xp = array_api_compat.array_namespace(embedding.vectors)
        largest = xp.max(xp.abs(embedding.vectors), axis=1, keepdims=True)
        embedding._scaled = embedding.vectors / xp.where(largest > 0, largest, xp.ones_like(largest))
    return embedding._scaled


def target_mask(embedding: Embedding, target: str) -> np.ndarray:
    """Boolean ``(n,)`` mask of the entities of type ``target`` (all for ``"all"``), a new array."""
    if target == "all":
        return np.ones(len(embedding), dtype=bool)
    mask = embedding.types == target
    if not mask.any():
        known = ", ".join(sorted(set(embedding.types.tolist())))
        raise ValueError(f"no entity has type {target!r}; types: {known}")
    return mask


def ranked(embedding: Embedding, indices: Any, scores: Any) -> list[tuple[str, float]]:
    """The first query's ``cosine_top_k`` result as ``(entity_id, score)`` pairs."""
    return [
        (embedding.entity_ids[i], float(s))
        for i, s in zip(to_numpy(indices)[0].tolist(), to_numpy(scores)[0].tolist())
    ]
