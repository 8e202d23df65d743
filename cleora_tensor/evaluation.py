"""Embedding quality: node classification, link prediction, basket completion.

Three protocols, each on held-out data, plus what a recommender engineer checks
first:

* node classification with scikit-learn: single-label (accuracy, macro-F1) and
  multi-label (micro/macro-F1, top-k prediction as in DeepWalk and node2vec), on
  seeded random splits or on a fixed split (Planetoid);
* link prediction: a seeded edge hold-out, then a filtered ranking of each
  held-out edge's endpoints against all entities (MRR, HR@10);
* basket completion: leave one item out of a seeded 20 % of the baskets, rank
  all items against the rest of the basket (MRR, HR@10);
* two non-embedding baselines for both ranking protocols, item popularity and
  item-item co-occurrence cosine;
* stability: how much an entity's vector and its neighbours change when 5 % of
  the input rows are left out.

Every function takes an :class:`~cleora_tensor.Embedding` or an ``(ids,
vectors)`` pair with vectors in any array-API namespace (pycleora's
``entity_ids`` and ``embed`` output, a torch tensor, ...). The similarity
products run in that namespace; scores are ranked on the host.

scikit-learn (the ``eval`` extra) is imported only by the classification
functions, so ``import cleora_tensor`` does not need it.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse

from ._xp import device_of, is_numpy, namespace, to_numpy
from .api import embed
from .columns import Column, ColumnSpec, parse_columns
from .embedding import Embedding
from .errors import InputFormatError
from .evaluation_io import Rows, encode, read_labels, read_rows, read_split, shown
from .io import RaggedColumn
from .normalize import normalize_rows
from .similarity import cosine_top_k

__all__ = [
    "BASELINES",
    "BasketSplit",
    "EdgeSplit",
    "Rows",
    "Scorer",
    "basket_completion",
    "basket_completion_report",
    "classification_report",
    "format_report",
    "link_prediction",
    "link_prediction_report",
    "node_classification",
    "read_labels",
    "read_rows",
    "read_split",
    "split_baskets",
    "split_edges",
    "stability",
    "subsample",
    "top_k_labels",
]

BASELINES = ("popularity", "cooccurrence")
"""Names of the non-embedding scorers accepted wherever a model is."""

# Scores per ranking batch (batch x candidates); float64 with its comparison
# temporaries this is ~100 MB.
_BLOCK_ELEMENTS = 1 << 22

_MIN_ITEMS = 2  # default basket size to test: one item hidden, one to query with


# ---------------------------------------------------------------------------
# Models: embeddings and baselines


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


def _rows_in_model(
    model_ids: list[str], model_types: np.ndarray | None, ids: Sequence[str], types: np.ndarray
) -> np.ndarray:
    """Row of each (id, type) in the model, -1 where absent; (ids, vectors) match by id."""
    if model_types is None:
        lookup = dict(zip(model_ids, range(len(model_ids))))
        return np.array([lookup.get(i, -1) for i in ids], dtype=np.int64)
    lookup = {key: row for row, key in enumerate(zip(model_types.tolist(), model_ids))}
    return np.array([lookup.get(key, -1) for key in zip(types.tolist(), ids)], dtype=np.int64)


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
        rows = _rows_in_model(model_ids, model_types, ids, types)
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
        self._bias[present] = prior * np.log(np.maximum(popularity[present], 1)) if prior else 0.0
        self._dev = dev

    def scores(self, queries: Sequence[np.ndarray]) -> np.ndarray:
        xp = self._xp
        rows = [self._column[q][self._column[q] >= 0] for q in queries]
        if is_numpy(xp):
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


# ---------------------------------------------------------------------------
# Filtered ranking


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


def _check_fraction(name: str, value: float) -> None:
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be in (0, 1), got {value!r}")


# ---------------------------------------------------------------------------
# Splitting input rows


def _write_rows(rows: list[str], path: str | os.PathLike[str]) -> Path:
    from .outputs import atomic_write

    with atomic_write(path) as handle:
        handle.write("".join(f"{row}\n" for row in rows).encode())
    return Path(path)


def _edge_spec(columns: str, test_fraction: float) -> ColumnSpec:
    """The parsed spec of a link prediction input, checked before any reading."""
    _check_fraction("test_fraction", test_fraction)
    spec = parse_columns(columns)
    entity = [c for c in spec.columns if c.is_entity]
    if len(entity) != 2 or any(c.complex or c.transient for c in entity):
        raise ValueError(
            "link prediction needs exactly two entity columns without 'complex' or "
            f"'transient' (e.g. 'node node' or 'user item'), got {spec.spec!r}"
        )
    return spec


def _basket_spec(columns: str, test_fraction: float, min_items: int) -> ColumnSpec:
    """The parsed spec of a basket completion input, checked before any reading."""
    _check_fraction("test_fraction", test_fraction)
    if isinstance(min_items, bool) or not isinstance(min_items, int) or min_items < 2:
        raise ValueError(f"min_items must be an int >= 2, got {min_items!r}")
    spec = parse_columns(columns)
    if len(_items_columns(spec)) != 1:
        raise ValueError(
            "basket completion needs exactly one 'complex' entity column that is not "
            f"'transient' (the items), got {spec.spec!r}"
        )
    return spec


def _items_columns(spec: ColumnSpec) -> list[Column]:
    return [c for c in spec.columns if c.is_entity and c.complex and not c.transient]


def _entity_index(columns: list[tuple[str, pa.ChunkedArray]]) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Codes ``(m, k)`` of the ids of ``k`` (type, ids) columns of ``m`` ids each,
    the ids and the types of the codes. Columns of one type share codes; entities
    are numbered by first occurrence, row by row and left to right in a row."""
    m = len(columns[0][1])
    keys = np.empty((m, len(columns)), dtype=np.int64)
    dictionaries, types = [], []
    for type_ in dict.fromkeys(t for t, _ in columns):
        which = [j for j, (t, _) in enumerate(columns) if t == type_]
        chunks = [chunk.cast(pa.large_string()) for j in which for chunk in columns[j][1].chunks]
        codes, dictionary = encode(pa.chunked_array(chunks, type=pa.large_string()))
        keys[:, which] = codes.reshape(len(which), m).T + len(types)
        dictionaries.append(dictionary)
        types += [type_] * len(dictionary)
    _, first = np.unique(keys.ravel(), return_index=True)
    order = np.argsort(first)
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    ids = pa.concat_arrays(dictionaries).take(pa.array(order)).to_pylist()
    return rank[keys], ids, np.array(types, dtype=str)[order]


@dataclass(frozen=True, eq=False)
class EdgeSplit:
    """A seeded edge hold-out for link prediction; build it with :func:`split_edges`.

    Candidates are the entities of the training edges (every entity of the
    input's edges: the hold-out never isolates one), indexed ``0..n-1``.

    Attributes
    ----------
    columns : str
        The column specification of the rows (two plain entity columns).
    train_rows : list of str
        The input rows without the held-out edges, as TSV lines
        (:meth:`Rows.lines`): embed these.
    entity_ids : list of str, length n
        The candidates, by first occurrence in the input.
    types : numpy.ndarray, shape (n,), str
        Their entity types.
    incidence : scipy.sparse.csr_array, shape (n, n), float64
        The binary, symmetric adjacency of the training graph: the known
        neighbours filtered from rankings, and the contexts of the baselines.
    test : numpy.ndarray, shape (m, 2), int64
        Held-out edges as candidate indices.
    """

    columns: str
    train_rows: list[str]
    entity_ids: list[str]
    types: np.ndarray
    incidence: scipy.sparse.csr_array
    test: np.ndarray

    def write_train(self, path: str | os.PathLike[str]) -> Path:
        """Write :attr:`train_rows` as a text file (atomically) and return its path."""
        return _write_rows(self.train_rows, path)


def split_edges(
    rows: str | os.PathLike[str] | Iterable[str],
    *,
    columns: str = "node node",
    test_fraction: float = 0.1,
    seed: int = 0,
) -> EdgeSplit:
    """Hold out a seeded random fraction of the edges of a graph.

    Edges are visited in a seeded random order and held out while both
    endpoints keep at least one training edge, until ``test_fraction`` of the
    distinct edges are held out; so every held-out endpoint has a vector (as in
    node2vec's protocol, which keeps the residual graph connected, but only
    requiring that no node is isolated). Duplicate rows of a held-out edge are
    all removed; self loops always stay. A row with an empty endpoint cell is
    no edge (``embed`` reads it as a missing id) and stays in the training rows.

    Parameters
    ----------
    rows : path or iterable of str
        TSV rows (plain or gzip-compressed file, or lines), read by
        :func:`read_rows`.
    columns : str, default "node node"
        Column specification with exactly two entity columns, neither
        ``complex`` nor ``transient``; other columns (``weight::``,
        ``ignore::``) are kept in the training rows. Two columns of the same
        type make an undirected graph (``a b`` and ``b a`` are one edge); of
        different types a bipartite one.
    test_fraction : float, default 0.1
        Fraction of distinct edges to hold out, in ``(0, 1)``.
    seed : int, default 0
        Seed of the hold-out (``numpy.random.default_rng``).

    Returns
    -------
    EdgeSplit

    Raises
    ------
    ColumnSpecError
        If ``columns`` is invalid.
    ValueError
        If ``columns`` does not have exactly two plain entity columns, or
        ``test_fraction`` is out of range.
    InputFormatError
        As :func:`read_rows` (located at ``file:line[:column]``), or if no row
        has both endpoints.
    OSError
        If the file cannot be read.
    """
    spec = _edge_spec(columns, test_fraction)
    return _split_edges(read_rows(rows, spec), test_fraction, seed)


def _split_edges(rows: Rows, test_fraction: float, seed: int) -> EdgeSplit:
    left, right = (c for c in rows.spec.columns if c.is_entity)
    present = [np.diff(rows.ids(c).offsets) > 0 for c in (left, right)]
    both = present[0] & present[1]
    if not both.any():
        raise InputFormatError(rows.source, "no row has both endpoints of an edge")
    # The ids of the rows with both endpoints (a column's ids are those of its non-empty cells).
    keys, entity_ids, types = _entity_index([
        (c.type, rows.ids(c).values if both.all() else rows.ids(c).values.filter(pa.array(both[has])))
        for c, has in zip((left, right), present)
    ])
    n = len(entity_ids)
    if left.type == right.type:
        keys.sort(axis=1)  # an undirected edge has one key whatever the order
    _, first, inverse = np.unique(
        keys[:, 0] * n + keys[:, 1], return_index=True, return_inverse=True
    )
    pairs = keys[first]
    loops = pairs[:, 0] == pairs[:, 1]
    degree = np.bincount(pairs[~loops].ravel(), minlength=n)
    wanted = round(test_fraction * int((~loops).sum()))
    held = np.zeros(len(pairs), dtype=bool)
    count = 0
    for p in np.random.default_rng(seed).permutation(len(pairs)):
        if count == wanted:
            break
        a, b = pairs[p]
        if a != b and degree[a] > 1 and degree[b] > 1:
            held[p] = True
            degree[a] -= 1
            degree[b] -= 1
            count += 1
    keep_rows = np.ones(rows.n_rows, dtype=bool)
    keep_rows[both] = ~held[inverse.ravel()]
    train = pairs[~held]
    adjacency = scipy.sparse.coo_array(
        (np.ones(2 * len(train)), (np.r_[train[:, 0], train[:, 1]], np.r_[train[:, 1], train[:, 0]])),
        shape=(n, n),
    ).tocsr()
    adjacency.data[:] = 1.0  # a self loop was added twice
    return EdgeSplit(
        columns=rows.spec.spec,
        train_rows=rows.lines(keep_rows),
        entity_ids=entity_ids,
        types=types,
        incidence=adjacency,
        test=pairs[held],
    )


@dataclass(frozen=True, eq=False)
class BasketSplit:
    """A seeded leave-one-out split of baskets; build it with :func:`split_baskets`.

    Attributes
    ----------
    columns : str
        The column specification of the rows.
    train_rows : list of str
        Every input row as a TSV line (:meth:`Rows.lines`), test baskets
        without their held-out item: embed these.
    entity_ids : list of str, length n
        The candidate items: those of the training rows, by first occurrence.
    types : numpy.ndarray, shape (n,), str
        Their entity type (the item column's).
    incidence : scipy.sparse.csr_array, shape (rows, n), float64
        Basket x item counts of the training rows: the base rates of the
        popularity prior and baseline, and the contexts of the co-occurrence
        baseline.
    visible : list of numpy.ndarray
        Per test basket, the candidate indices of its remaining items.
    held_out : numpy.ndarray, shape (m,), int64
        Per test basket, the candidate index of its hidden item, -1 if that
        item occurs nowhere else (a miss for every model).
    test_rows : numpy.ndarray, shape (m,), int64
        Row numbers (0-based, empty lines not counted) of the test baskets.
    """

    columns: str
    train_rows: list[str]
    entity_ids: list[str]
    types: np.ndarray
    incidence: scipy.sparse.csr_array
    visible: list[np.ndarray]
    held_out: np.ndarray
    test_rows: np.ndarray

    def write_train(self, path: str | os.PathLike[str]) -> Path:
        """Write :attr:`train_rows` as a text file (atomically) and return its path."""
        return _write_rows(self.train_rows, path)


def split_baskets(
    rows: str | os.PathLike[str] | Iterable[str],
    *,
    columns: str,
    test_fraction: float = 0.2,
    min_items: int = _MIN_ITEMS,
    seed: int = 0,
) -> BasketSplit:
    """Hide one random item of a seeded random fraction of the baskets.

    The usual leave-one-out check of next-item recommendation: choose
    ``test_fraction`` of the baskets with at least ``min_items`` items, hide
    one random item of each, and keep all other rows and items for training.

    Parameters
    ----------
    rows : path or iterable of str
        TSV rows (plain or gzip-compressed file, or lines), one basket per
        row, read by :func:`read_rows`.
    columns : str
        Column specification with exactly one ``complex`` entity column that is
        not ``transient``: the items (e.g. ``"transient::basket
        complex::reflexive::item"`` or ``"complex::reflexive::item"``). Other
        columns are kept as they are.
    test_fraction : float, default 0.2
        Fraction of the eligible baskets to test, in ``(0, 1)``.
    min_items : int, default 2
        Baskets with fewer items are never tested (at least 2, so that an item
        remains to query with).
    seed : int, default 0
        Seed of the choice of baskets and items (``numpy.random.default_rng``).

    Returns
    -------
    BasketSplit

    Raises
    ------
    ColumnSpecError
        If ``columns`` is invalid.
    ValueError
        If there is not exactly one non-transient complex column, or an option
        is out of range.
    InputFormatError
        As :func:`read_rows` (located at ``file:line[:column]``).
    OSError
        If the file cannot be read.
    """
    spec = _basket_spec(columns, test_fraction, min_items)
    return _split_baskets(read_rows(rows, spec), test_fraction, min_items, seed)


def _split_baskets(rows: Rows, test_fraction: float, min_items: int, seed: int) -> BasketSplit:
    (column,) = _items_columns(rows.spec)
    items = rows.ids(column)
    lengths = np.diff(items.offsets)
    eligible = np.flatnonzero(lengths >= min_items)
    rng = np.random.default_rng(seed)
    tested = np.sort(rng.choice(eligible, size=round(test_fraction * eligible.size), replace=False))
    # One draw per tested basket, in row order (as scalar draws in a loop would be).
    hidden = items.offsets[tested] + rng.integers(lengths[tested])
    keep = np.ones(len(items.values), dtype=bool)
    keep[hidden] = False
    removed = np.zeros(rows.n_rows + 1, dtype=np.int64)
    removed[tested + 1] = 1
    offsets = items.offsets - np.cumsum(removed)
    kept = items.values.filter(pa.array(keep))
    codes, dictionary = encode(kept)
    incidence = scipy.sparse.csr_array(
        (np.ones(codes.size), codes.copy(), offsets.copy()), shape=(rows.n_rows, len(dictionary))
    )
    incidence.sum_duplicates()  # sorts its indices in place
    held_out = pc.index_in(items.values.take(pa.array(hidden)), value_set=dictionary)
    return BasketSplit(
        columns=rows.spec.spec,
        train_rows=rows.lines(replaced={column.index: RaggedColumn(kept, offsets)}),
        entity_ids=dictionary.to_pylist(),
        types=np.full(len(dictionary), column.type),
        incidence=incidence,
        visible=[codes[offsets[r] : offsets[r + 1]] for r in tested.tolist()],
        held_out=held_out.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64),
        test_rows=tested.astype(np.int64),
    )


# ---------------------------------------------------------------------------
# Ranking protocols


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


# ---------------------------------------------------------------------------
# Node classification


def node_classification(
    model: Any,
    labels: Mapping[str, str | Sequence[str]],
    *,
    split: Mapping[str, str] | None = None,
    train_ratio: float = 0.8,
    seeds: int | Sequence[int] = 5,
    multilabel: bool | None = None,
    max_iter: int = 1000,
) -> dict[str, Any]:
    """Node classification with logistic regression on the embeddings.

    Single-label: scikit-learn's multinomial ``LogisticRegression``; accuracy
    and macro-F1. Multi-label (DeepWalk, Perozzi et al. 2014; node2vec, Grover
    & Leskovec 2016): one-vs-rest logistic regression, each test node is
    assigned its top-``k`` labels by probability where ``k`` is its true number
    of labels; micro- and macro-F1. The classifier sees the vectors as they
    are, with scikit-learn's default regularization (``C=1``): on cora,
    standardizing the features first lost 2-4 accuracy points for both
    whitened and unwhitened embeddings.

    Parameters
    ----------
    model : Embedding or (ids, vectors) pair
        Vectors of any array-API namespace (copied to the host).
    labels : mapping of str to str or sequence of str
        Label(s) per node (see :func:`read_labels`). Labelled nodes without a
        vector (e.g. isolated nodes, which Cleora does not embed) get a zero
        vector and stay in the evaluation; their count is reported.
    split : mapping of str to {"train", "val", "test"}, optional
        A fixed split (Planetoid's public split, :func:`read_split`): fit on
        ``train``, report on ``test`` (``val`` is reported too). Without it,
        ``seeds`` random splits with ``train_ratio`` of the nodes for training,
        stratified by label in the single-label case (default 80/20, 5 seeds).
    train_ratio : float, default 0.8
        In ``(0, 1)``; random splits only.
    seeds : int or sequence of int, default 5
        Seeds of the random splits (``range(seeds)`` for an int).
    multilabel : bool, optional
        Default: multi-label when some node has several labels.
    max_iter : int, default 1000
        Iterations of the logistic regression solver.

    Returns
    -------
    dict
        Single-label: ``accuracy``, ``macro_f1``; multi-label: ``micro_f1``,
        ``macro_f1``; random splits add ``*_std`` (standard deviation over
        seeds) and ``seeds``; a fixed split adds ``val_*``. Always ``nodes``
        (evaluated), ``train``, ``test`` (per split) and ``missing`` (labelled
        nodes without a vector).

    Raises
    ------
    ImportError
        If scikit-learn is not installed (``pip install cleora-tensor[eval]``).
    ValueError
        If ``labels`` is empty, none of its nodes has a vector,
        ``multilabel=False`` with a node of several labels, the split has no
        train or test node among the labelled nodes, the labelled nodes cannot
        be split at random (a label with one node, fewer test nodes than
        labels), or an option is out of range.

    Warns
    -----
    UserWarning
        If fewer than half of the labelled nodes have a vector (the ids of the
        labels and of the model likely differ).
    """
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit
    from sklearn.preprocessing import MultiLabelBinarizer

    if not labels:
        raise ValueError("labels is empty")
    sets = {node: [value] if isinstance(value, str) else list(value) for node, value in labels.items()}
    several = any(len(v) > 1 for v in sets.values())
    if multilabel is None:
        multilabel = several
    elif not multilabel and several:
        raise ValueError("multilabel=False but some nodes have several labels")
    if split is None:
        _check_fraction("train_ratio", train_ratio)
    nodes = list(sets)
    model_ids, _, vectors = _as_pair(model)
    rows = _rows_in_model(model_ids, None, nodes, np.zeros(0))
    _check_overlap(nodes, model_ids, int((rows >= 0).sum()))
    host = np.asarray(to_numpy(vectors), dtype=np.float64)
    x = np.zeros((len(nodes), host.shape[1]))
    x[rows >= 0] = host[rows[rows >= 0]]
    if multilabel:
        y = MultiLabelBinarizer().fit_transform([sets[node] for node in nodes])
    else:
        # Label codes in sorted label order, as numpy would sort the labels, but
        # without a fixed-width string array (as wide as the longest label).
        classes = sorted({sets[node][0] for node in nodes})
        code = {label: i for i, label in enumerate(classes)}
        y = np.array([code[sets[node][0]] for node in nodes], dtype=np.int64)

    def score(train: np.ndarray, test: np.ndarray) -> dict[str, float]:
        counts = y[test].sum(axis=1) if multilabel else None
        predicted = _fit_predict(x[train], y[train], x[test], counts, max_iter)
        if multilabel:
            return {
                "micro_f1": f1_score(y[test], predicted, average="micro", zero_division=0),
                "macro_f1": f1_score(y[test], predicted, average="macro", zero_division=0),
            }
        return {
            "accuracy": accuracy_score(y[test], predicted),
            "macro_f1": f1_score(y[test], predicted, average="macro", zero_division=0),
        }

    report: dict[str, Any] = {"nodes": len(nodes), "missing": int((rows < 0).sum())}
    if split is not None:
        parts = np.array([split.get(node, "") for node in nodes], dtype=object)
        train, val, test = (np.flatnonzero(parts == p) for p in ("train", "val", "test"))
        if train.size == 0 or test.size == 0:
            raise ValueError("the split has no train or no test node among the labelled nodes")
        report.update(score(train, test), train=int(train.size), test=int(test.size))
        if val.size:
            report.update({f"val_{k}": v for k, v in score(train, val).items()})
        return report
    seed_list = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    if not seed_list:
        raise ValueError("seeds must name at least one seed")
    if not multilabel and (single := np.flatnonzero(np.bincount(y) < 2)).size:
        raise ValueError(
            f"label {shown(classes[single[0]])} has only one node ({single.size} such labels): "
            "a stratified random split needs at least 2 nodes per label; give a fixed split"
        )
    splitter = ShuffleSplit if multilabel else StratifiedShuffleSplit
    runs = []
    for seed in seed_list:
        try:
            train, test = next(splitter(n_splits=1, train_size=train_ratio, random_state=seed).split(x, y))
        except ValueError as error:  # e.g. fewer test nodes than labels
            raise ValueError(
                f"cannot split the {len(nodes)} labelled nodes at random with "
                f"train_ratio {train_ratio:g}: {error}"
            ) from None
        runs.append(score(train, test))
    for key in runs[0]:
        values = np.array([run[key] for run in runs])
        report[key], report[f"{key}_std"] = float(values.mean()), float(values.std())
    report.update(train=int(train.size), test=int(test.size), seeds=len(seed_list))
    return report


def _check_overlap(nodes: list[str], model_ids: list[str], present: int) -> None:
    """Refuse labels that match no vector; warn when most match none."""
    if present == 0:
        example = shown(model_ids[0]) if model_ids else "none"
        raise ValueError(
            f"none of the {len(nodes)} labelled nodes is in the embedding (labelled ids "
            f"such as {shown(nodes[0])}, embedding ids such as {example}); do the two "
            "use the same ids?"
        )
    if 2 * present < len(nodes):
        warnings.warn(
            f"only {present} of the {len(nodes)} labelled nodes are in the embedding; "
            "the others are classified from zero vectors",
            stacklevel=3,
        )


def _fit_predict(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                 counts: np.ndarray | None, max_iter: int) -> np.ndarray:
    """Labels of the test rows; multi-label (``counts`` given) as an indicator matrix."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    if counts is None:
        return LogisticRegression(max_iter=max_iter).fit(x_train, y_train).predict(x_test)
    classifier = OneVsRestClassifier(LogisticRegression(max_iter=max_iter))
    return top_k_labels(classifier.fit(x_train, y_train).predict_proba(x_test), counts)


def top_k_labels(probability: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Each row's ``counts[i]`` most probable labels, as a 0/1 indicator matrix.

    The multi-label decision rule of DeepWalk and node2vec's evaluation: a node
    is given as many labels as it truly has (so F1 measures the ranking of
    labels, not a threshold).

    Parameters
    ----------
    probability : numpy.ndarray, shape (n, L)
        Label scores per row.
    counts : numpy.ndarray, shape (n,), int
        Labels to assign per row, clipped to ``[0, L]``.

    Returns
    -------
    numpy.ndarray, shape (n, L), int64
        1 for the assigned labels; ties by lower label index.

    Examples
    --------
    >>> top_k_labels(np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]]), np.array([2, 1]))
    array([[0, 1, 1],
           [1, 0, 0]])
    """
    probability = np.asarray(probability)
    n, width = probability.shape
    order = np.argsort(-probability, axis=1, kind="stable")
    chosen = np.arange(width)[None, :] < np.clip(np.asarray(counts), 0, width)[:, None]
    out = np.zeros((n, width), dtype=np.int64)
    np.put_along_axis(out, order, chosen.astype(np.int64), axis=1)
    return out


# ---------------------------------------------------------------------------
# Stability


def subsample(rows: Iterable[str], *, fraction: float = 0.95, seed: int = 0) -> list[str]:
    """A seeded random subset of the rows, each kept with probability ``fraction``.

    Parameters
    ----------
    rows : iterable of str
        The rows, e.g. ``read_rows(path, columns).lines()``.
    fraction : float, default 0.95
        In ``(0, 1)``.
    seed : int, default 0
        Seed (``numpy.random.default_rng``).

    Returns
    -------
    list of str
        The kept rows, in input order.

    Raises
    ------
    TypeError
        If ``rows`` is a path (read it with :func:`read_rows`).
    ValueError
        If ``fraction`` is out of range.
    """
    if isinstance(rows, (str, os.PathLike)):
        raise TypeError("subsample takes rows, not a path: use read_rows(path, columns).lines()")
    _check_fraction("fraction", fraction)
    lines = list(rows)
    keep = np.random.default_rng(seed).random(len(lines)) < fraction
    return [line for line, k in zip(lines, keep) if k]


def stability(full: Any, part: Any, *, top_k: int = 10) -> dict[str, Any]:
    """How much entities move between two embeddings of overlapping data.

    Cleora's selling point is that an entity's vector depends on its
    neighbourhood only, not on the rest of the data or on the run: embed all
    rows (``full``) and a subsample (``part``, e.g. from :func:`subsample`),
    then compare the entities present in both.

    Parameters
    ----------
    full, part : Embedding or (ids, vectors) pair
        Vectors of any array-API namespace. Embeddings match entities by
        (type, id), pairs by id.
    top_k : int, default 10
        Neighbourhood size of the overlap.

    Returns
    -------
    dict
        ``mean_cosine``: mean over common entities of the cosine between their
        two vectors (1 means unchanged; near 0 means the coordinates are
        unrelated, as for per-run PCA bases); ``neighbour_overlap``: mean
        fraction of an entity's ``top_k`` cosine neighbours (among common
        entities of its type) shared by both embeddings, which does not
        depend on the coordinates; ``entities``: common entities.

    Raises
    ------
    TypeError
        If an argument is neither an Embedding nor a pair.
    ValueError
        If the two have no entity in common, or ``top_k < 1``.
    """
    _check_ranking_options(top_k, None)
    ids_a, types_a, vectors_a = _as_pair(full, "full")
    ids_b, types_b, vectors_b = _as_pair(part, "part")
    typed = types_a is not None and types_b is not None
    in_b = _rows_in_model(ids_b, types_b if typed else None, ids_a, types_a)
    rows_a = np.flatnonzero(in_b >= 0)
    if rows_a.size == 0:
        raise ValueError("the two embeddings have no entity in common")
    rows_b = in_b[rows_a]
    a = np.asarray(to_numpy(vectors_a), dtype=np.float32)[rows_a]
    b = np.asarray(to_numpy(vectors_b), dtype=np.float32)[rows_b]
    cosine = (normalize_rows(a) * normalize_rows(b)).sum(axis=1)
    groups = types_a[rows_a] if typed else np.zeros(rows_a.size, dtype=str)
    overlap = np.zeros(rows_a.size)
    for group in np.unique(groups):
        members = np.flatnonzero(groups == group)
        if members.size < 2:
            continue
        own = np.arange(members.size)
        near_a, _ = cosine_top_k(a[members], a[members], top_k, exclude=own)
        near_b, _ = cosine_top_k(b[members], b[members], top_k, exclude=own)
        shared = (near_a[:, :, None] == near_b[:, None, :]).any(axis=2).sum(axis=1)
        overlap[members] = shared / near_a.shape[1]
    return {
        "mean_cosine": float(cosine.mean()),
        "neighbour_overlap": float(overlap.mean()),
        "entities": int(rows_a.size),
    }


# ---------------------------------------------------------------------------
# Whole protocols from files (the ``cleora-tensor evaluate`` commands)


def link_prediction_report(
    source: str | os.PathLike[str] | Iterable[str],
    *,
    columns: str,
    test_fraction: float = 0.1,
    split_seed: int = 0,
    prior: float = 0.1,
    top_k: int = 10,
    with_stability: bool = False,
    train_output: str | os.PathLike[str] | None = None,
    **embed_options: Any,
) -> dict[str, Any]:
    """Split, embed the training rows, rank the held-out edges; with baselines.

    Parameters
    ----------
    source : path or iterable of str
        The graph's rows.
    columns : str
        Column specification (see :func:`split_edges`).
    test_fraction, split_seed : float, int
        Of :func:`split_edges`.
    prior : float, default 0.1
        When positive, a second embedding row scores ``cosine + prior *
        log(degree)`` (see :func:`link_prediction`).
    top_k : int, default 10
    with_stability : bool, default False
        Also embed all rows and a seeded 95 % subsample (:func:`stability`).
    train_output : path, optional
        Where to write the training rows.
    **embed_options
        Passed to :func:`~cleora_tensor.embed` (``dim``, ``iterations``, ...).

    Returns
    -------
    dict
        ``protocol``, ``columns``, ``split`` (counts), ``results`` (one dict per
        method: ``method``, metrics, ``seconds``), ``stability`` (or None),
        ``embed_options``.

    Raises
    ------
    ValueError, OSError
        From reading, splitting and embedding.
    """
    rows = read_rows(source, _edge_spec(columns, test_fraction))
    split = _split_edges(rows, test_fraction, split_seed)
    return _ranking_report_for(
        "link prediction", link_prediction, split, rows if with_stability else None, prior=prior, top_k=top_k,
        train_output=train_output, embed_options=embed_options,
        counts={"entities": len(split.entity_ids), "train_edges": int(split.incidence.nnz // 2),
                "test_edges": int(len(split.test))},
    )


def basket_completion_report(
    source: str | os.PathLike[str] | Iterable[str],
    *,
    columns: str,
    test_fraction: float = 0.2,
    split_seed: int = 0,
    prior: float = 0.1,
    top_k: int = 10,
    with_stability: bool = False,
    train_output: str | os.PathLike[str] | None = None,
    **embed_options: Any,
) -> dict[str, Any]:
    """Split, embed the training rows, complete the test baskets; with baselines.

    As :func:`link_prediction_report`, with :func:`split_baskets` and
    :func:`basket_completion` in place of :func:`split_edges` and
    :func:`link_prediction`.

    Parameters
    ----------
    source : path or iterable of str
        The baskets, one per row.
    columns : str
        Column specification (see :func:`split_baskets`).
    test_fraction : float, default 0.2
        Of :func:`split_baskets`, as is ``split_seed``.
    prior, top_k, with_stability, train_output, **embed_options
        As :func:`link_prediction_report` (``prior`` weighs
        ``log(popularity)``, see :func:`basket_completion`).

    Returns
    -------
    dict
        As :func:`link_prediction_report`; ``split`` counts ``items``,
        ``baskets`` and ``test_baskets``.

    Raises
    ------
    ValueError, OSError
        From reading, splitting and embedding.
    """
    rows = read_rows(source, _basket_spec(columns, test_fraction, _MIN_ITEMS))
    split = _split_baskets(rows, test_fraction, _MIN_ITEMS, split_seed)
    return _ranking_report_for(
        "basket completion", basket_completion, split, rows if with_stability else None, prior=prior, top_k=top_k,
        train_output=train_output, embed_options=embed_options,
        counts={"items": len(split.entity_ids), "baskets": int(split.incidence.shape[0]),
                "test_baskets": len(split.visible)},
    )


def _ranking_report_for(
    protocol: str, evaluate: Any, split: EdgeSplit | BasketSplit, stability_rows: Rows | None, *, prior: float,
    top_k: int, train_output: str | os.PathLike[str] | None,
    embed_options: dict[str, Any], counts: dict[str, int],
) -> dict[str, Any]:
    if train_output is not None:
        split.write_train(train_output)
    start = time.perf_counter()
    embedding = embed(iter(split.train_rows), columns=split.columns, **embed_options)
    seconds = time.perf_counter() - start
    results = []
    for name, model, weight in [
        ("cleora_tensor cosine", embedding, 0.0),
        *([(f"cleora_tensor cosine + {prior:g} log(popularity)", embedding, prior)] if prior else []),
        *[(baseline, baseline, 0.0) for baseline in BASELINES],
    ]:
        start = time.perf_counter()
        metrics = evaluate(model, split, prior=weight, top_k=top_k)
        spent = time.perf_counter() - start + (seconds if model is embedding else 0.0)
        results.append({"method": name, **metrics, "seconds": spent})
    report_stability = None
    if stability_rows is not None:
        lines = stability_rows.lines()
        full = embed(iter(lines), columns=split.columns, **embed_options)
        part = embed(iter(subsample(lines)), columns=split.columns, **embed_options)
        report_stability = stability(full, part, top_k=top_k)
    return {
        "protocol": protocol,
        "columns": split.columns,
        "split": counts,
        "embed_options": embed_options,
        "results": results,
        "stability": report_stability,
    }


def format_report(report: Mapping[str, Any]) -> str:
    """A report of the ``*_report`` functions as a plain-text table.

    Parameters
    ----------
    report : mapping
        From :func:`link_prediction_report`, :func:`basket_completion_report`
        or :func:`classification_report`.

    Returns
    -------
    str
        A header line, then one aligned row per method (numbers to 4 places),
        then the stability line if measured.
    """
    rows = report["results"]
    keys = [k for k in rows[0] if k != "method"]
    cells = [["method", *keys]] + [
        [row["method"], *(f"{row[k]:.4f}" if isinstance(row[k], float) else str(row[k]) for k in keys)]
        for row in rows
    ]
    widths = [max(len(line[i]) for line in cells) for i in range(len(cells[0]))]
    lines = [f"{report['protocol']} ({', '.join(f'{k} {v}' for k, v in report['split'].items())})"]
    lines += ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths)))
              for line in cells]
    if report.get("stability"):
        s = report["stability"]
        lines.append(
            f"stability (all rows vs a seeded 95 % subsample, {s['entities']} entities): "
            f"mean cosine {s['mean_cosine']:.4f}, top-10 neighbour overlap {s['neighbour_overlap']:.4f}"
        )
    return "\n".join(lines)


def classification_report(
    embeddings: str | os.PathLike[str],
    labels: str | os.PathLike[str],
    *,
    split_file: str | os.PathLike[str] | None = None,
    train_ratio: float = 0.8,
    seeds: int = 5,
    embedding_format: str | None = None,
) -> dict[str, Any]:
    """:func:`node_classification` of a saved embedding against a label file.

    Parameters
    ----------
    embeddings : path
        A file written by ``cleora-tensor embed`` (any format).
    labels : path
        ``node<TAB>label`` lines (:func:`read_labels`).
    split_file : path, optional
        ``node<TAB>train|val|test`` lines (:func:`read_split`); default random
        splits.
    train_ratio, seeds
        Of the random splits.
    embedding_format : str, optional
        Format of ``embeddings`` (default: from the extension).

    Returns
    -------
    dict
        In the shape :func:`format_report` reads; ``results`` holds one row.

    Raises
    ------
    ImportError
        If scikit-learn is not installed.
    InputFormatError
        From reading ``labels`` or ``split_file`` (located at
        ``file:line[:column]``).
    ValueError, OSError
        From loading ``embeddings``, and from :func:`node_classification`
        (prefixed with the labels file), e.g. when no labelled node is in the
        embedding.
    """
    start = time.perf_counter()
    embedding = Embedding.load(embeddings, format=embedding_format)
    split = read_split(split_file) if split_file is not None else None
    node_labels = read_labels(labels)
    try:
        scores = node_classification(embedding, node_labels, split=split, train_ratio=train_ratio, seeds=seeds)
    except ValueError as error:  # name the files: the labels do not fit the embedding or split
        raise ValueError(f"{labels}: {error}") from None
    counts = {key: scores.pop(key) for key in ("nodes", "missing", "train", "test", "seeds") if key in scores}
    return {
        "protocol": "node classification (" + ("fixed split" if split else f"random {train_ratio:g} splits") + ")",
        "split": counts,
        "results": [{"method": str(embeddings), **scores, "seconds": time.perf_counter() - start}],
        "stability": None,
    }
