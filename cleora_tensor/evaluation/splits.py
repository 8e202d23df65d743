"""Seeded hold-out splits of evaluation rows: edges for link prediction, one
item per basket for basket completion.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse

from ..columns import Column, ColumnSpec, parse_columns
from ..errors import InputFormatError
from ..io import RaggedColumn
from .inputs import Rows, encode, read_rows

__all__ = ["BasketSplit", "EdgeSplit", "split_baskets", "split_edges"]

_MIN_ITEMS = 2  # default basket size to test: one item hidden, one to query with


def _check_fraction(name: str, value: float) -> None:
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be in (0, 1), got {value!r}")


def _write_rows(rows: list[str], path: str | os.PathLike[str]) -> Path:
    from ..formats.atomic import atomic_write

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
