"""Models of the ranking protocols: embeddings and two non-embedding baselines.

A :class:`Scorer` scores every candidate entity of a split for a batch of
queries. Embeddings (an :class:`~cleora_tensor.Embedding` or an ``(ids,
vectors)`` pair, vectors in any array-API namespace) score by cosine to the mean
of the query's unit vectors, computed in their namespace and returned on the
host; the baselines are item popularity and item-item co-occurrence cosine.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import scipy.sparse

from .._xp import device_of, namespace, to_numpy
from ..embedding import Embedding
from ..lookup import EntityIndex
from ..normalize import normalize_rows
from ..similarity import popularity_bias
from .splits import BasketSplit, EdgeSplit

__all__ = ["BASELINES", "Scorer"]

BASELINES = ("popularity", "cooccurrence")
"""Names of the non-embedding scorers accepted wherever a model is."""


def _as_pair(model: Any, name: str = "model") -> tuple[list[str], np.ndarray | None, Any]:
    """(ids, types or None, vectors) of an Embedding or an (ids, vectors) pair."""
    if isinstance(model, Embedding):
        return model.entity_ids, model.types, model.vectors
    if isinstance(model, tuple) and len(model) == 2:
        ids, vectors = model
        ids = [str(i) for i in (ids.tolist() if isinstance(ids, np.ndarray) else ids)]
        shape = tuple(getattr(vectors, "shape", ()))
        if len(shape) != 2 or shape[0] != len(ids):
            raise ValueError(f"{name} vectors must have shape ({len(ids)}, dim), got {shape}")
        return ids, None, vectors
    raise TypeError(
        f"{name} must be an Embedding, an (ids, vectors) pair or one of {BASELINES}, "
        f"got {type(model).__name__}"
    )


def _ragged_csr(groups: Sequence[np.ndarray], n: int, values: np.ndarray | None = None) -> scipy.sparse.csr_array:
    """``(len(groups), n)`` matrix whose row ``i`` holds ``values`` (default 1) at columns ``groups[i]``."""
    lengths = np.array([g.size for g in groups], dtype=np.int64)
    columns = np.concatenate(groups) if groups else np.zeros(0, np.int64)
    data = np.ones(columns.size) if values is None else values
    return scipy.sparse.csr_array((data, columns, np.r_[0, np.cumsum(lengths)]), shape=(len(groups), n))


class Scorer(Protocol):
    """Scores every candidate entity for a batch of queries.

    Candidates are the entities of an evaluation split (``split.entity_ids``),
    so that every model ranks the same set. Pass any object with this method
    as the ``model`` of :func:`link_prediction` or :func:`basket_completion`
    to evaluate another recommender on the same split.
    """

    def scores(self, queries: Sequence[np.ndarray]) -> np.ndarray:
        """Scores ``(len(queries), n_candidates)``, float; each query is a
        non-empty int array of candidate indices. Higher is better; ``-inf``
        marks a candidate the model cannot rank (it has no vector)."""


class _EmbeddingScorer:
    """Cosine between every candidate and the mean of the query's unit vectors.

    With ``prior > 0`` the score is ``cosine + prior * log(popularity)``: a
    log-linear mix of the embedding's association and the candidate's base rate
    (see :func:`basket_completion`).
    """

    def __init__(self, model: Any, ids: Sequence[str], types: np.ndarray,
                 popularity: np.ndarray, prior: float) -> None:
        model_ids, model_types, vectors = _as_pair(model)
        rows = EntityIndex(model_ids, model_types).rows(ids, types)
        present = np.flatnonzero(rows >= 0)
        if present.size == 0:
            raise ValueError(
                "the embedding has no vector for any entity of the evaluation data "
                f"(types {sorted(set(types.tolist()))}); check the column specification"
            )
        xp = namespace(vectors)
        dev = device_of(vectors)
        self._xp = xp
        # Unit vectors of the candidates only (the model may hold other entities).
        self._vectors = normalize_rows(
            xp.astype(xp.take(vectors, xp.asarray(rows[present], device=dev), axis=0), xp.float32)
        )
        # Candidate index -> row of self._vectors (-1: no vector).
        self._column = np.full(len(ids), -1, dtype=np.int64)
        self._column[present] = np.arange(present.size)
        self._present = present
        self._bias = np.full(len(ids), -np.inf)
        self._bias[present] = popularity_bias(popularity[present], prior)
        self._dev = dev

    def scores(self, queries: Sequence[np.ndarray]) -> np.ndarray:
        xp = self._xp
        rows = [self._column[q][self._column[q] >= 0] for q in queries]
        if isinstance(self._vectors, np.ndarray):
            # One sparse (queries x entities) averaging product instead of a
            # Python loop over the queries.
            lengths = np.array([r.size for r in rows])
            weights = np.repeat(1.0 / np.maximum(lengths, 1), lengths).astype(np.float32)
            averaging = _ragged_csr(rows, self._present.size, weights)
            mean = np.asarray(averaging @ self._vectors)
        else:
            zero = xp.zeros(self._vectors.shape[1], dtype=self._vectors.dtype, device=self._dev)
            mean = xp.stack([
                xp.mean(xp.take(self._vectors, xp.asarray(r, device=self._dev), axis=0), axis=0)
                if r.size else zero
                for r in rows
            ])
        mean = normalize_rows(mean)
        cosine = np.asarray(to_numpy(xp.matmul(mean, xp.matrix_transpose(self._vectors))), dtype=np.float64)
        if self._present.size == self._bias.size:
            return cosine + self._bias
        out = np.broadcast_to(self._bias, (len(queries), self._bias.size)).copy()
        out[:, self._present] += cosine
        return out


class _PopularityScorer:
    """Every query gets the same ranking: by the number of training contexts."""

    def __init__(self, incidence: scipy.sparse.csr_array) -> None:
        self._counts = np.asarray(incidence.sum(axis=0)).ravel().astype(np.float64)

    def scores(self, queries: Sequence[np.ndarray]) -> np.ndarray:
        return np.broadcast_to(self._counts, (len(queries), self._counts.size)).copy()


class _CooccurrenceScorer:
    """Item-based collaborative filtering: sum over query items of the cosine of
    their incidence columns, ``|C_i & C_j| / sqrt(|C_i| |C_j|)`` for the sets of
    training contexts (baskets, or neighbours in a graph) holding ``i`` and ``j``
    (Sarwar et al. 2001; Deshpande & Karypis 2004)."""

    def __init__(self, incidence: scipy.sparse.csr_array) -> None:
        binary = incidence.astype(np.float64)
        binary.data[:] = 1.0
        counts = np.asarray(binary.sum(axis=0)).ravel()
        self._inverse_sqrt = 1.0 / np.sqrt(np.maximum(counts, 1.0))
        self._incidence = binary.tocsr()
        self._transposed = binary.T.tocsr()

    def scores(self, queries: Sequence[np.ndarray]) -> np.ndarray:
        weighted = _ragged_csr(queries, self._inverse_sqrt.size)
        weighted.data = self._inverse_sqrt[weighted.indices]
        overlap = (weighted @ self._transposed) @ self._incidence
        return overlap.toarray() * self._inverse_sqrt[None, :]


def _scorer(model: Any, split: EdgeSplit | BasketSplit, prior: float) -> Scorer:
    if hasattr(model, "scores"):
        return model
    if isinstance(model, str):
        if model == "popularity":
            return _PopularityScorer(split.incidence)
        if model == "cooccurrence":
            return _CooccurrenceScorer(split.incidence)
        raise ValueError(f"unknown baseline {model!r}; baselines: {', '.join(BASELINES)}")
    if not prior >= 0:
        raise ValueError(f"prior must be >= 0, got {prior!r}")
    popularity = np.asarray(split.incidence.sum(axis=0)).ravel()
    return _EmbeddingScorer(model, split.entity_ids, split.types, popularity, prior)
