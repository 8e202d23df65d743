"""The graph of an incremental update: ``W' = W + W(added) - W(removed)`` (see :func:`cleora_tensor.update`).

Every input row adds its pairs' weights to the graph's ``W`` (DESIGN.md, "Edge
weights"), so the graph of the updated rows is the model's ``W`` plus the graph
of the added rows minus that of the removed rows, with the singleton rules of
:meth:`~cleora_tensor.Hypergraph.graph` applied to the sum.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import scipy.sparse

from .embedding import Embedding
from .expansion import CHUNK_ENTRIES, drop_connector_leaves
from .hypergraph import DataWarning, Graph
from .lookup import EntityIndex
from .pipeline import read_hypergraph

__all__ = ["UpdatedGraph", "updated_graph"]

# An entry of W' within this fraction of the weights summed into it is float32
# rounding of a pair whose rows were all removed: it becomes 0.
_ROUNDING = 4 * float(np.finfo(np.float32).eps)


@dataclass(frozen=True)
class UpdatedGraph:
    """``W + W(added) - W(removed)`` over the model's graph entities, then the added rows' new ones.

    ``weights`` ``(n, n)`` float64 CSR and ``degrees`` its row sums, entities
    that lost every edge included (degree 0); ``keys`` the initialization keys
    of the new entities; ``occurrences`` int64, valid for output entities.
    """

    ids: list[str]
    types: np.ndarray
    keys: np.ndarray
    occurrences: np.ndarray
    weights: scipy.sparse.csr_array
    degrees: np.ndarray


def updated_graph(
    model: Embedding, added: Any, removed: Any, output_types: tuple[str, ...], singletons: str, options: dict
) -> UpdatedGraph:
    """The model's graph with the rows applied (see :func:`update`), their graphs built with ``singletons``."""
    state, config = model.state, model.config
    relations = [model.relation] if model.relation else None
    lone = config.singletons == "drop"
    index = EntityIndex(state.entity_ids, state.types)
    ids, types, keys = list(state.entity_ids), np.asarray(state.types), np.zeros(0, np.int64)
    occurrences = np.zeros(len(ids), np.int64)
    occurrences[index.rows(model.entity_ids, model.types)] = model.occurrences
    parts = {}
    graph = _rows_graph(added, config, relations, singletons, options)
    if graph is not None:
        rows = index.rows(graph.entity_ids, graph.types)
        if singletons == "drop":
            _warn_leaves(graph, index, output_types)
        new = np.flatnonzero(rows < 0)
        rows[new] = len(ids) + np.arange(len(new))
        ids += [graph.entity_ids[i] for i in new]
        types = np.concatenate([types, graph.types[new]])
        keys = graph.keys(config.init)[new]
        occurrences = np.concatenate([occurrences, np.zeros(len(new), np.int64)])
        occurrences[rows] += graph.occurrences
        parts["added"] = _remapped(graph.adjacency, rows, 1.0, lone)
        index = EntityIndex(ids, types)
    graph = _rows_graph(removed, config, relations, singletons, options)
    if graph is not None:
        rows = index.rows(graph.entity_ids, graph.types)
        # A session of one neighbour that the model does not hold: its edge was
        # left out of the model's graph (singletons="drop"), nothing to subtract.
        leaf = ~graph.output & (np.diff(graph.adjacency.indptr) == 1) & lone & (singletons == "keep")
        absent = (rows < 0) & ~leaf
        if absent.any():
            i = int(np.flatnonzero(absent)[0])
            raise ValueError(
                f"removed: entity {graph.entity_ids[i]!r} (type {str(graph.types[i])!r}) is not in the "
                "model's graph, so its rows are not rows of the model's input"
            )
        occurrences[rows[rows >= 0]] -= graph.occurrences[rows >= 0]
        parts["removed"] = _remapped(graph.adjacency, rows, -1.0, lone)
    weights, degrees = _summed(state.adjacency, lone, parts, ids)
    if lone:
        # Hypergraph.graph's singleton rules, on the summed graph: connectors
        # left with one neighbour go; entities seen only alone keep a self-loop of weight 1.
        connectors = ~np.isin(types, output_types)
        weights, leaves, _ = drop_connector_leaves(weights, connectors, CHUNK_ENTRIES)
        if leaves:
            degrees = np.asarray(weights.sum(axis=1)).ravel()
        alone = np.flatnonzero((degrees == 0) & (occurrences > 0) & np.isin(types, output_types))
        weights = weights + scipy.sparse.csr_array((np.ones(len(alone)), (alone, alone)), shape=weights.shape)
        degrees[alone] = 1.0
    return UpdatedGraph(ids, types, keys, occurrences, weights, degrees)


def _rows_graph(source: Any, config: Any, relations: list[str] | None, singletons: str, options: dict) -> Graph | None:
    """The graph of the rows of ``source`` alone, built as the model's was but with ``singletons``; None without rows."""
    if source is None or (isinstance(source, (list, tuple)) and not source):
        return None
    hypergraph = read_hypergraph(source, config.columns, **options)
    if hypergraph.n_rows == 0:
        return None
    return hypergraph.graph(relations, max_cell_size=config.max_cell_size, singletons=singletons)


def _warn_leaves(graph: Graph, index: EntityIndex, output_types: tuple[str, ...]) -> None:
    """Warn about known transient ids whose only edge among the added rows was dropped as a singleton."""
    vocabulary = graph.vocabulary
    outside = np.ones(len(vocabulary), bool)
    outside[graph.index] = False
    names = np.asarray(vocabulary.type_names)[vocabulary.type_codes]
    dropped = np.flatnonzero(outside & ~np.isin(names, list(output_types)))
    if not len(dropped):
        return
    ids = vocabulary.ids.take(pa.array(dropped)).to_pylist()
    held = int((index.rows(ids, names[dropped]) >= 0).sum())
    if held:
        warnings.warn(
            f"{held} transient ids of the model have a single neighbour among the added rows; "
            "their new edge is left out as a singleton (embed the rows again for the exact graph)",
            DataWarning,
            stacklevel=3,
        )


def _lone_loops(adjacency: scipy.sparse.csr_array) -> np.ndarray:
    """Entry positions of the self-loops of weight 1 that :meth:`Hypergraph.graph`
    gives entities seen only alone (rows whose one entry is such a loop)."""
    single = np.flatnonzero(np.diff(adjacency.indptr) == 1)
    at = adjacency.indptr[single]
    return at[(adjacency.indices[at] == single) & (adjacency.data[at] == 1.0)]


def _remapped(adjacency: scipy.sparse.csr_array, rows: np.ndarray, sign: float, lone: bool) -> tuple[np.ndarray, ...]:
    """The entries of a graph's ``W`` as (row, column, signed float64 weight) in the model's numbering.

    With ``lone``, the self-loops of entities seen only alone are left out:
    they follow from the summed graph (see :func:`update`), not from the rows.
    So are the entries of entities numbered ``-1`` (not in the model).
    """
    coo = adjacency.tocoo()
    keep = (rows[coo.row] >= 0) & (rows[coo.col] >= 0)
    if lone:
        keep[_lone_loops(adjacency)] = False  # csr and its coo list the entries in the same order
    return rows[coo.row[keep]], rows[coo.col[keep]], sign * coo.data[keep].astype(np.float64)


def _summed(
    adjacency: scipy.sparse.csr_array, lone: bool, parts: dict, ids: list[str]
) -> tuple[scipy.sparse.csr_array, np.ndarray]:
    """``W + W(added) - W(removed)`` in float64, with float32 rounding residues zeroed, and its row sums.

    ``W`` (the model's, ``(m, m)``) is padded to the ``n = len(ids)`` entities.
    Raises ValueError (naming the entities) where an entry would go negative.
    """
    n, m = len(ids), adjacency.shape[0]
    data = adjacency.data.astype(np.float64)
    if lone:
        data[_lone_loops(adjacency)] = 0.0
    indptr = np.append(adjacency.indptr, np.full(n - m, adjacency.indptr[-1]))
    # Copied indices: eliminate_zeros below compacts them in place, and they are the model's.
    base = scipy.sparse.csr_array((data, adjacency.indices.copy(), indptr), shape=(n, n))
    total = base
    for rows, columns, values in parts.values():
        total = total + scipy.sparse.csr_array((values, (rows, columns)), shape=(n, n))
    if "removed" in parts:
        # Where every row of a pair went, the difference of float32 sums is a residue.
        rows, columns, values = parts["removed"]
        left = np.asarray(total[rows, columns]).ravel()
        residue = np.abs(left) <= _ROUNDING * (np.asarray(base[rows, columns]).ravel() - values)
        if residue.any():
            total = total - scipy.sparse.csr_array((left[residue], (rows[residue], columns[residue])), shape=(n, n))
    total.eliminate_zeros()
    if (total.data < 0).any():
        at = int(np.flatnonzero(total.data < 0)[0])
        row = int(np.searchsorted(total.indptr, at, side="right") - 1)
        raise ValueError(
            f"removed: the rows remove more weight between {ids[row]!r} and "
            f"{ids[total.indices[at]]!r} than the model's graph holds; they are not rows of its input"
        )
    return total, np.asarray(total.sum(axis=1)).ravel()
