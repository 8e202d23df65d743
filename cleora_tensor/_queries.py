"""The similarity queries of :class:`~cleora_tensor.Embedding`
(:meth:`~cleora_tensor.Embedding.most_similar`, :meth:`~cleora_tensor.Embedding.complete`),
computed by :func:`~cleora_tensor.similarity.cosine_top_k` in the namespace and on
the device of the vectors.

Memory-mapped vectors (a :class:`numpy.memmap`, from ``Embedding.load(path,
mmap=True)``) are searched a block of rows at a time: each block's top k joins
a running top k, so that neither the vectors nor a rescaled copy are ever held
whole, and each block's pages are released from the process once used. The
results are those of the whole matrix: scores are computed row by row alike,
and the merge keeps ties ordered by row.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import array_api_compat
import numpy as np

from ._xp import to_numpy
from .mapped import mapped_blocks
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
    mask = target_mask(embedding, target)
    query = rescaled(embedding, embedding.vectors[row : row + 1, :])
    # Excluding a row that is not a candidate would shrink k needlessly.
    exclude = row if mask[row] else None
    candidates = None if target == "all" else mask
    return ranked(embedding, *top_rows(embedding, query, top_k, candidates, exclude=exclude))


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
    # Slices, not take: NumPy's take would read a whole memory-mapped matrix.
    chosen = xp.concat([embedding.vectors[row : row + 1, :] for row in rows], axis=0)
    query = xp.mean(normalize_rows(rescaled(embedding, chosen)), axis=0, keepdims=True)
    bias = popularity_bias(embedding.occurrences, prior, np.float32)
    return ranked(embedding, *top_rows(embedding, query, top_k, mask, bias=bias))


def top_rows(
    embedding: Embedding,
    query: Any,
    top_k: int,
    mask: np.ndarray | None,
    *,
    exclude: int | None = None,
    bias: np.ndarray | None = None,
) -> tuple[Any, Any]:
    """:func:`cosine_top_k` of one query over the embedding's search vectors.

    Parameters
    ----------
    embedding : Embedding
    query : array, shape (1, d), float32
        In the namespace and on the device of ``vectors``.
    top_k : int
    mask : numpy.ndarray, shape (n,), bool, optional
        The candidate rows; None for all.
    exclude : int, optional
        A candidate row to leave out.
    bias : numpy.ndarray, shape (n,), float32, optional
        Added to the cosines.

    Returns
    -------
    indices : array, shape (1, k), int64
    scores : array, shape (1, k), float32
        As :func:`cosine_top_k`; NumPy arrays when the vectors are
        memory-mapped.
    """
    xp = array_api_compat.array_namespace(embedding.vectors)
    dev = array_api_compat.device(embedding.vectors)
    best: tuple[Any, Any] | None = None
    for start, block in search_blocks(embedding):
        stop = start + block.shape[0]
        indices, scores = cosine_top_k(
            block,
            query,
            top_k,
            exclude=None if exclude is None or not start <= exclude < stop else [exclude - start],
            candidates=None if mask is None else xp.asarray(mask[start:stop], device=dev),
            bias=None if bias is None else xp.asarray(bias[start:stop], device=dev),
            xp=xp,
        )
        if best is None:  # the first block (start 0); the only one of vectors in memory
            best = (indices, scores)
            continue
        # Earlier blocks' rows come first, so the stable sort keeps ties by row.
        indices = np.concatenate([best[0], to_numpy(indices) + start], axis=1)
        scores = np.concatenate([best[1], to_numpy(scores)], axis=1)
        order = np.argsort(-scores, axis=1, kind="stable")[:, :top_k]
        best = (np.take_along_axis(indices, order, axis=1), np.take_along_axis(scores, order, axis=1))
    assert best is not None  # search_blocks yields at least one block
    return best


def search_blocks(embedding: Embedding) -> Iterator[tuple[int, Any]]:
    """``(start, rows)`` pairs covering the vectors, rescaled as :func:`rescaled` does.

    Vectors in memory come as one block, :func:`search_vectors`. A
    :class:`numpy.memmap` comes in the blocks of
    :func:`~cleora_tensor.mapped.mapped_blocks`, each rescaled in turn.
    """
    vectors = embedding.vectors
    if not isinstance(vectors, np.memmap):
        yield 0, search_vectors(embedding)
        return
    for start, rows in mapped_blocks(vectors):
        yield start, rescaled(embedding, rows)


def search_vectors(embedding: Embedding) -> Any:
    """``vectors`` rescaled by :func:`rescaled`, the copy (if any) cached on the embedding."""
    if embedding._scaled is None:
        embedding._scaled = rescaled(embedding, embedding.vectors)
    return embedding._scaled


def rescaled(embedding: Embedding, rows: Any) -> Any:
    """``rows`` of the embedding, each divided by its largest magnitude if float32 squares could overflow.

    Cosines do not change; the rows' squares then sum to between 1 and
    ``d``. Only embeddings with entries near ``sqrt(float32 max / d)`` pay
    for the copy; others get ``rows`` itself.
    """
    if embedding._largest**2 * embedding.dim <= _SQUARES_LIMIT:
        return rows
    xp = array_api_compat.array_namespace(rows)
    largest = xp.max(xp.abs(rows), axis=1, keepdims=True)
    return rows / xp.where(largest > 0, largest, xp.ones_like(largest))


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
