"""Clique and star expansion of relations into one summed sparse matrix, in bounded chunks.

For a relation between columns ``A`` and ``B`` with cells ``A_l`` and ``B_l`` and row
weight ``w_l``, every pair ``(a, b)`` in ``A_l x B_l`` adds ``w_l / (|A_l| |B_l|)`` to
``W[a, b]`` and to ``W[b, a]``. The pairs are generated in input order in chunks of a
bounded size; each chunk's duplicates are summed in float64 and merged into a running
CSR sum, so memory follows the distinct non-zeros of ``W``, not the number of pairs
(which a clique expansion makes quadratic in the cell length). Everything is
vectorized over rows and pairs; only chunks are looped over.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse

from .columns import Relation

__all__ = ["CHUNK_ENTRIES", "RelationCells", "drop_connector_leaves", "relation_cells", "summed_adjacency"]

#: Entries expanded and summed per step, at least (see :func:`summed_adjacency`):
#: bounds the temporaries of a clique expansion (about 28 bytes per entry).
CHUNK_ENTRIES = 1 << 21


@dataclass(frozen=True, eq=False)
class RelationCells:
    """The cells of one relation, cut by the clique guard, ready to expand.

    Attributes
    ----------
    codes_a, codes_b : numpy.ndarray
        Entity codes of the left and right column, all cells concatenated.
    offsets_a, offsets_b : numpy.ndarray
        Shape ``(n_rows + 1,)``, int64: row ``l``'s cell starts at ``offsets[l]``.
    len_a, len_b : numpy.ndarray or None
        Shape ``(n_rows,)``, int64: ids kept per cell (the first ones). None when
        every cell of both columns holds one id (plain cells: a pair per row).
    values : numpy.ndarray or None
        Shape ``(n_rows,)``, float64: ``w_l / (|A_l| |B_l|)``, 0 for rows without
        pairs; None for 1 (plain cells without weights).
    reflexive : bool
        A column related to itself: its pairs are stored once, with value ``2 v``.
    truncated_cells, truncated_ids : int
        Cells cut by the clique guard, and the ids they lost.
    singletons : int
        Cells of a reflexive relation left out because they hold one id (see
        :func:`relation_cells`).
    lone : numpy.ndarray or None
        The distinct entity codes of those cells.
    """

    codes_a: np.ndarray
    offsets_a: np.ndarray
    len_a: np.ndarray | None
    codes_b: np.ndarray
    offsets_b: np.ndarray
    len_b: np.ndarray | None
    values: np.ndarray | None
    reflexive: bool
    truncated_cells: int = 0
    truncated_ids: int = 0
    singletons: int = 0
    lone: np.ndarray | None = None

    @property
    def entries(self) -> int:
        """Matrix entries the expansion generates: its pairs, twice unless reflexive."""
        pairs = len(self.offsets_a) - 1 if self.len_a is None else int(np.dot(self.len_a, self.len_b))
        return pairs * (1 if self.reflexive else 2)

    def chunks(self, budget: int, *, ordered: bool = False) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Yield ``(a, b, value)`` arrays of the pairs, in input order.

        Pairs are ordered by row, then left id, then right id. A chunk holds at
        most about ``2 * budget`` pairs, unless a single id's right cell is longer.
        With ``ordered`` (reflexive relations: one column), only the pairs whose
        left id comes before the right id in the cell are yielded (no self pairs).
        """
        if self.len_a is None:
            if ordered:  # one id per cell: a reflexive relation's only pairs are self pairs
                return
            for lo in range(0, len(self.codes_a), budget):
                hi = min(lo + budget, len(self.codes_a))
                values = np.ones(hi - lo) if self.values is None else self.values[lo:hi]
                yield self.codes_a[lo:hi], self.codes_b[lo:hi], values
            return
        len_a, len_b = self.len_a, self.len_b
        rows = np.flatnonzero(len_a * len_b)
        if not len(rows):
            return
        heights, starts = len_a[rows], self.offsets_a[rows]
        # A row with more pairs than the budget is cut into pieces of its left cell,
        # each of at most `step` ids (at least one).
        step = np.maximum(budget // len_b[rows], 1)
        pieces = -(-heights // step)
        if pieces.max() > 1:
            first = (np.arange(pieces.sum()) - np.repeat(np.cumsum(pieces) - pieces, pieces)) * np.repeat(step, pieces)
            rows = np.repeat(rows, pieces)
            heights = np.minimum(np.repeat(step, pieces), len_a[rows] - first)
            starts = self.offsets_a[rows] + first
        ends = np.cumsum(heights * len_b[rows])
        cuts = np.searchsorted(ends, np.arange(budget, ends[-1], budget), side="right")
        for lo, hi in zip([0, *cuts], [*cuts, len(rows)]):
            if hi > lo:
                yield self._pairs(rows[lo:hi], heights[lo:hi], starts[lo:hi], ordered)

    def _pairs(self, rows: np.ndarray, heights: np.ndarray, starts: np.ndarray, ordered: bool) -> tuple[np.ndarray, ...]:
        # Each left id with its row, then each of those repeated once per id of the
        # row's right cell: repeats and gathers only, no integer division per pair.
        row_of_left = np.repeat(rows, heights)
        left = np.arange(heights.sum()) + np.repeat(starts - (np.cumsum(heights) - heights), heights)
        widths = self.len_b[row_of_left]
        right = np.repeat(self.offsets_b[row_of_left] - (np.cumsum(widths) - widths), widths)
        right += np.arange(len(right))
        a = np.repeat(self.codes_a[left], widths)
        b = self.codes_b[right]
        values = np.repeat(self.values[row_of_left], widths)
        if ordered:  # positions in the one column's cells: earlier -> later
            keep = np.repeat(left, widths) < right
            a, b, values = a[keep], b[keep], values[keep]
        del right
        return a, b, values


def relation_cells(
    cells: dict[int, tuple[np.ndarray, np.ndarray]],
    weights: np.ndarray | None,
    relation: Relation,
    max_cell_size: int | None,
    *,
    drop_singletons: bool = False,
) -> RelationCells:
    """The cells of ``relation``, cut to ``max_cell_size`` ids where the guard applies.

    With ``drop_singletons``, a cell of a reflexive relation that holds a single
    id is left out: its clique expansion is the one self-pair ``(a, a)``, which
    relates ``a`` to nothing but makes its walk lazy (see
    :func:`drop_connector_leaves`).

    Parameters
    ----------
    cells : dict of int to (codes, offsets)
        Per column index: entity codes of all cells and int64 row offsets, shape
        ``(n_rows + 1,)``.
    weights : numpy.ndarray or None
        Shape ``(n_rows,)``, float64 row weights; None for 1.
    relation : Relation
    max_cell_size : int or None
        Clique guard for relations between two complex columns; None disables it.
    drop_singletons : bool, default False
        Leave out the single-id cells of a reflexive relation.

    Returns
    -------
    RelationCells
    """
    codes_a, offsets_a = cells[relation.left.index]
    codes_b, offsets_b = cells[relation.right.index]
    singles = relation.reflexive and drop_singletons
    if not singles and _one_id_per_cell(offsets_a) and _one_id_per_cell(offsets_b):
        return RelationCells(codes_a, offsets_a, None, codes_b, offsets_b, None, weights, relation.reflexive)
    len_a, len_b = np.diff(offsets_a), np.diff(offsets_b)
    # A reflexive relation's two sides are the same column: same cells.
    single = np.flatnonzero(len_a == 1) if singles else np.zeros(0, np.int64)
    truncated = (0, 0)
    if relation.left.complex and relation.right.complex and max_cell_size is not None:
        over = np.concatenate([len_a, len_b] if not relation.reflexive else [len_a])
        over = over[over > max_cell_size]
        truncated = (len(over), int((over - max_cell_size).sum()))
        len_a = np.minimum(len_a, max_cell_size)
        len_b = np.minimum(len_b, max_cell_size)
    len_a[single] = len_b[single] = 0
    pairs = len_a * len_b
    values = np.divide(
        np.ones(len(pairs)) if weights is None else weights, pairs, out=np.zeros(len(pairs)), where=pairs > 0
    )
    lone = np.unique(codes_a[offsets_a[single]]) if len(single) else None
    return RelationCells(
        codes_a, offsets_a, len_a, codes_b, offsets_b, len_b, values, relation.reflexive, *truncated, len(single), lone
    )


def _one_id_per_cell(offsets: np.ndarray) -> bool:
    """Whether every cell holds exactly one id (as many ids as rows, none empty)."""
    return bool(offsets[-1] == len(offsets) - 1 and not (offsets[1:] == offsets[:-1]).any())


def summed_adjacency(
    relations: Sequence[RelationCells], n: int, budget: int, *, directed: bool = False
) -> scipy.sparse.csr_array:
    """The symmetric matrix ``W`` of the relations' pairs, duplicates summed in float64.

    With ``directed``, the matrix ``A`` of arcs instead: a pair ``(a, b)`` adds
    its value to ``A[a, b]`` only, from the left column's id to the right
    column's; in a reflexive relation (one column), from an id to every id after
    it in the same cell (pycleora's ``embed_directed``), with the value ``2 v``
    that ``W`` gives the pair, and no self pairs. So ``W = A + A^T`` off the
    diagonal.

    Parameters
    ----------
    relations : sequence of RelationCells
    n : int
        Entities (rows and columns of ``W``).
    budget : int
        Entries summed per step, at least: the running sum takes in chunks of up
        to ``max(budget, nnz so far)`` entries. Up to ``budget`` entries in all,
        this is the one-shot sum; beyond, weights are summed in another order,
        which can change their last float64 bits (and, in rare ties, the last
        bit of the float32 weights built from them).
    directed : bool, default False
        Build ``A`` instead of ``W`` (see above).

    Returns
    -------
    scipy.sparse.csr_array
        Shape ``(n, n)``, float64, canonical (sorted, no duplicates), no explicit
        zeros.
    """
    total, buffer, size = None, [], 0
    for relation in relations:
        # Generated chunks hold at most about budget entries (2 per pair unless one side).
        one_side = relation.reflexive or directed
        for a, b, v in relation.chunks(max(budget // (2 if one_side else 4), 1), ordered=directed and relation.reflexive):
            # A cell related to itself lists every ordered pair, so its part C is
            # symmetric: C + C^T = 2C, in half the entries.
            if relation.reflexive:
                part = [(a, b, 2.0 * v)]
            else:
                part = [(a, b, v)] if directed else [(a, b, v), (b, a, v)]
            entries = len(part) * len(v)
            del a, b, v
            if buffer and size + entries > max(budget, total.nnz if total is not None else 0):
                total, size = _add_chunk(total, buffer, n), 0
            buffer += part
            size += entries
            del part
    total = _add_chunk(total, buffer, n)
    total.eliminate_zeros()
    return total


def _add_chunk(total: scipy.sparse.csr_array | None, parts: list, n: int) -> scipy.sparse.csr_array:
    """``total`` plus the sum of the COO parts ``(rows, cols, values)``."""
    if not parts:
        return total if total is not None else scipy.sparse.csr_array((n, n), dtype=np.float64)
    r, c, v = (side[0] if len(side) == 1 else np.concatenate(side) for side in zip(*parts))
    parts.clear()
    chunk = scipy.sparse.coo_array((v.astype(np.float64, copy=False), (r, c)), shape=(n, n)).tocsr()
    del r, c, v
    chunk.sum_duplicates()
    return chunk if total is None else total + chunk


def drop_connector_leaves(
    adjacency: scipy.sparse.csr_array, connectors: np.ndarray, budget: int
) -> tuple[scipy.sparse.csr_array, int, np.ndarray]:
    """Remove the edges of connector entities that have a single neighbour, in place.

    A transient entity (a session, a basket) exists to connect the entities of
    its rows. One with a single neighbour (a session of one item) connects
    nothing: its star expansion is a walk from the item to it and straight back,
    a two-step self-loop whose weight grows with how often the item is seen
    alone. Such self-loops make the walk lazy item by item: an item seen mostly
    alone keeps mostly its own initial vector, and on a log where 74 % of the
    sessions hold one item, basket completion fell from 0.27 to 0.07 MRR
    (seeded synthetic sessions; README, "Defaults").

    Parameters
    ----------
    adjacency : scipy.sparse.csr_array
        Shape ``(n, n)``, symmetric, canonical; its ``data`` is zeroed in place
        where an edge goes.
    connectors : numpy.ndarray
        Shape ``(n,)``, bool: the transient entities.
    budget : int
        Entries looked at per step (bounds the temporaries).

    Returns
    -------
    adjacency : scipy.sparse.csr_array
        Without those edges (explicit zeros eliminated).
    leaves : int
        Connectors whose edge was removed.
    neighbours : numpy.ndarray
        The distinct entities that lost an edge, int64.
    """
    counts = np.diff(adjacency.indptr)
    rows = np.flatnonzero(connectors & (counts == 1))
    neighbour = adjacency.indices[adjacency.indptr[rows]].astype(np.int64)
    leaves = rows[neighbour != rows]
    if not len(leaves):
        return adjacency, 0, np.zeros(0, np.int64)
    is_leaf = np.zeros(adjacency.shape[0], bool)
    is_leaf[leaves] = True
    # By symmetry the edges are the leaves' one entries and the entries whose column is a leaf.
    adjacency.data[adjacency.indptr[leaves]] = 0.0
    for lo in range(0, adjacency.nnz, budget):
        part = slice(lo, min(lo + budget, adjacency.nnz))
        adjacency.data[part][is_leaf[adjacency.indices[part]]] = 0.0
    adjacency.eliminate_zeros()
    return adjacency, len(leaves), np.unique(neighbour[neighbour != rows])
