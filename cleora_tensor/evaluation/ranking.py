"""Filtered ranking of held-out targets: link prediction and basket completion.

Each query ranks every candidate of a split by a :class:`~.scoring.Scorer`'s
scores, with known items filtered out, and the held-out target's rank gives
the reciprocal rank and hit@k (ties counted in expectation).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse

from .scoring import Scorer, _ragged_csr, _scorer
from .splits import BasketSplit, EdgeSplit

__all__ = ["basket_completion", "link_prediction"]

# Scores per ranking batch (batch x candidates); float64 with its comparison
# temporaries this is ~100 MB.
_BLOCK_ELEMENTS = 1 << 22


def _rank(
    scorer: Scorer,
    queries: Sequence[np.ndarray],
    targets: np.ndarray,
    known: scipy.sparse.csr_array,
    *,
    top_k: int,
    candidate_types: np.ndarray | None = None,
    batch_size: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Expected reciprocal rank and hit@k of each query's target.

    ``known`` (queries x candidates) marks candidates left out of the query's
    ranking (its own items, known neighbours). With ``candidate_types`` (int
    codes, one per candidate) only candidates of the target's type compete. A
    target of -1 (not among the candidates) counts as a miss.
    """
    n = known.shape[1]
    reciprocal = np.zeros(len(targets))
    hits = np.zeros(len(targets))
    # harmonic[r] = 1 + 1/2 + ... + 1/r
    harmonic = np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, n + 2))])
    batch = batch_size or max(1, _BLOCK_ELEMENTS // max(n, 1))
    ranked = np.flatnonzero(targets >= 0)
    for start in range(0, ranked.size, batch):
        which = ranked[start : start + batch]
        scores = np.asarray(scorer.scores([queries[i] for i in which]), dtype=np.float64)
        local = np.arange(which.size)
        target_scores = scores[local, targets[which]]
        block = known[which]
        scores[np.repeat(local, np.diff(block.indptr)), block.indices] = -np.inf
        if candidate_types is not None:
            wanted = candidate_types[targets[which]]
            scores[candidate_types[None, :] != wanted[:, None]] = -np.inf
        scores[local, targets[which]] = -np.inf
        greater = (scores > target_scores[:, None]).sum(axis=1)
        ties = (scores == target_scores[:, None]).sum(axis=1)
        # The target's rank is uniform over greater+1 .. greater+ties+1 when
        # ties are broken at random: report the expectation of 1/rank and of
        # [rank <= k], so that a constant score earns no credit from tie order.
        rr = (harmonic[greater + ties + 1] - harmonic[greater]) / (ties + 1)
        hit = np.clip(top_k - greater, 0, ties + 1) / (ties + 1)
        # A target the model has no vector for is a miss.
        unscored = np.isneginf(target_scores)
        reciprocal[which] = np.where(unscored, 0.0, rr)
        hits[which] = np.where(unscored, 0.0, hit)
    return reciprocal, hits


def _ranking_report(reciprocal: np.ndarray, hits: np.ndarray, top_k: int, **counts: int) -> dict[str, Any]:
    return {
        "mrr": float(reciprocal.mean()) if reciprocal.size else math.nan,
        f"hr@{top_k}": float(hits.mean()) if hits.size else math.nan,
        "queries": int(reciprocal.size),
        **counts,
    }


def _check_ranking_options(top_k: int, batch_size: int | None) -> None:
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"top_k must be an int >= 1, got {top_k!r}")
    if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"batch_size must be an int >= 1 or None, got {batch_size!r}")


def link_prediction(
    model: Any,
    split: EdgeSplit,
    *,
    prior: float = 0.0,
    top_k: int = 10,
    batch_size: int | None = None,
) -> dict[str, Any]:
    """Filtered ranking of held-out edges (MRR, HR@k).

    Each held-out edge ``(u, v)`` gives two queries: ``u`` ranks every candidate
    of ``v``'s type by cosine similarity and ``v``'s rank is recorded, and vice
    versa. Candidates already linked to the query in the training graph, and
    the query itself, are filtered out of its ranking (the "filtered" setting
    of knowledge-graph link prediction, Bordes et al. 2013, restricted to known
    training edges); other held-out edges stay in, as they are unknown at
    prediction time.

    Parameters
    ----------
    model : Embedding, (ids, vectors) pair, "popularity" / "cooccurrence", or Scorer
        An embedding of ``split.train_rows`` (vectors of any array-API
        namespace; a pair matches entities by id alone), a :class:`Scorer`, or
        a baseline:
        ``"popularity"`` ranks by training degree, ``"cooccurrence"`` by the
        cosine of neighbour sets (Salton's index, for graphs of one entity
        type; zero between the two sides of a bipartite graph).
    split : EdgeSplit
        From :func:`split_edges`.
    prior : float, default 0.0
        Weight of the degree prior: score ``cosine + prior * log(degree)``
        (embeddings only).
    top_k : int, default 10
        ``k`` of the hit rate.
    batch_size : int, optional
        Queries scored at once; default so that a batch holds about 4 M scores.
        Memory is ``O(batch_size * n)``.

    Returns
    -------
    dict
        ``mrr``, ``hr@{top_k}`` (floats in ``[0, 1]``), ``queries`` (twice the
        held-out edges).

    Raises
    ------
    TypeError
        If ``model`` is of an unknown kind.
    ValueError
        If the embedding shares no entity with the split, or an option is
        invalid.

    Notes
    -----
    Ties are broken at random in expectation: with ``g`` candidates scored
    higher and ``t`` tied, the reported reciprocal rank is the mean of
    ``1/r`` over ``r = g+1 .. g+t+1`` and the hit the probability that
    ``r <= k``; a constant score (popularity ties) earns no credit from the
    order of the candidates. An endpoint without a vector is a miss.
    """
    _check_ranking_options(top_k, batch_size)
    scorer = _scorer(model, split, prior)
    sources = np.r_[split.test[:, 0], split.test[:, 1]]
    targets = np.r_[split.test[:, 1], split.test[:, 0]]
    n = len(split.entity_ids)
    known = (split.incidence[sources] + scipy.sparse.csr_array(
        (np.ones(sources.size), (np.arange(sources.size), sources)), shape=(sources.size, n)
    )).tocsr()
    _, type_codes = np.unique(split.types, return_inverse=True)
    reciprocal, hits = _rank(
        scorer, [sources[i : i + 1] for i in range(sources.size)], targets, known,
        top_k=top_k, candidate_types=type_codes.ravel() if type_codes.max(initial=0) > 0 else None,
        batch_size=batch_size,
    )
    return _ranking_report(reciprocal, hits, top_k)


def basket_completion(
    model: Any,
    split: BasketSplit,
    *,
    prior: float = 0.0,
    top_k: int = 10,
    batch_size: int | None = None,
) -> dict[str, Any]:
    """Leave-one-out basket completion (MRR, HR@k).

    For every test basket, the items are ranked by the cosine similarity
    between their vector and the mean of the unit vectors of the basket's
    remaining items; those remaining items are filtered out of the ranking
    (they are already in the basket), and the hidden item's rank is recorded.

    Parameters
    ----------
    model : Embedding, (ids, vectors) pair, "popularity" / "cooccurrence", or Scorer
        An embedding of ``split.train_rows`` (vectors of any array-API
        namespace; a pair matches items by id alone), a :class:`Scorer`, or a
        baseline:
        ``"popularity"`` ranks items by the number of training baskets holding
        them, ``"cooccurrence"`` by the sum over the remaining items of the
        item-item cosine of their basket sets (item-based collaborative
        filtering).
    split : BasketSplit
        From :func:`split_baskets`.
    prior : float, default 0.0
        Weight of the popularity prior for embeddings: score ``cosine + prior *
        log(baskets holding the item)``. Cosine alone measures association and
        ignores base rates; what completes a basket is usually also common.
    top_k : int, default 10
        ``k`` of the hit rate.
    batch_size : int, optional
        Baskets scored at once; default so that a batch holds about 4 M scores.

    Returns
    -------
    dict
        ``mrr``, ``hr@{top_k}``, ``queries`` (test baskets), ``unseen``
        (hidden items that occur in no training row: misses for every model).

    Raises
    ------
    TypeError
        If ``model`` is of an unknown kind.
    ValueError
        If the embedding shares no item with the split, or an option is invalid.

    Notes
    -----
    Ties count in expectation, as in :func:`link_prediction`. A basket whose
    remaining items all lack vectors gets a constant score (a tie of all
    items).
    """
    _check_ranking_options(top_k, batch_size)
    scorer = _scorer(model, split, prior)
    known = _ragged_csr(split.visible, len(split.entity_ids))
    reciprocal, hits = _rank(scorer, split.visible, split.held_out, known, top_k=top_k, batch_size=batch_size)
    return _ranking_report(reciprocal, hits, top_k, unseen=int((split.held_out < 0).sum()))
