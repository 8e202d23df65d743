"""Rows of entity ids -> vocabulary -> weighted graphs of relations.

Each row is a hyperedge: for a relation between columns ``A`` and ``B`` with
cells ``A_l`` and ``B_l`` and row weight ``w_l`` (1 without a ``weight::``
column), every pair ``(a, b)`` in ``A_l x B_l`` adds ``w_l / (|A_l| |B_l|)`` to
``W[a, b]`` and to ``W[b, a]``; a reflexive relation takes ``B_l = A_l``, self
pairs included (clique expansion), so every relation gives every row the same
total weight ``2 w_l``. Everything is vectorized with NumPy/pyarrow over all rows
(the expansion itself: :mod:`cleora_tensor.expansion`; the vocabulary:
:mod:`cleora_tensor.vocabulary`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import scipy.sparse

from .columns import ColumnSpec, Relation
from . import expansion
from .csr import row_sums
from .expansion import drop_connector_leaves, relation_cells, summed_adjacency
from .memory import check_graph_memory
from .vocabulary import Vocabulary, encode

if TYPE_CHECKING:  # the input is io's; io is not needed to build from it
    from .io import TokenTable

__all__ = ["DataWarning", "Graph", "Hypergraph", "Vocabulary"]

class DataWarning(UserWarning):
    """Input data was truncated or dropped; the message says how much."""


@dataclass(frozen=True, eq=False)
class Graph:
    """The weighted graph of one or several relations, over the entities they connect.

    Built by :meth:`Hypergraph.graph`; entities without any edge are left out,
    except those seen only in singleton hyperedges (see ``lone``).

    Attributes
    ----------
    name : str or None
        The relation name in pairwise mode, None for the joint graph.
    vocabulary : Vocabulary
        The hypergraph's vocabulary.
    index : numpy.ndarray
        Shape ``(n,)``, int64: the graph's entities as vocabulary indices
        (increasing).
    adjacency : scipy.sparse.csr_array
        Shape ``(n, n)``, float32 (int32 indices when they fit), symmetric
        weights ``W``.
    degrees : numpy.ndarray
        Shape ``(n,)``, float64: row sums of ``W``, accumulated in float64.
    output : numpy.ndarray
        Shape ``(n,)``, bool: entities that get vectors (not of a transient-only
        type).
    truncated_cells : int
        Cells cut to ``max_cell_size`` ids by the clique guard.
    truncated_ids : int
        Ids those cells lost.
    singleton_cells : int
        Single-id cells of reflexive columns left out (see
        :meth:`Hypergraph.graph`'s ``singletons``).
    leaf_connectors : int
        Transient entities with a single neighbour left out, with their edge (a
        one-item session with a reflexive item column counts here and above).
    lone : int
        Entities seen only in those hyperedges: kept, with a self-loop of
        weight 1 as their only edge (their vector stays their initial vector).
    pairs : int
        Entries the expansion of the relations generated before duplicates were
        summed (pairs, twice for a relation that is not reflexive): what the
        memory of building depends on, see :func:`~cleora_tensor.estimate_memory`.
    arcs : scipy.sparse.csr_array or None
        Shape ``(n, n)``, float32: with ``Hypergraph.graph(directed=True)``, the
        directed adjacency ``A`` (``A[a, b]``: weight of the arcs from ``a`` to
        ``b``; ``W = A + A^T`` off the diagonal, see
        :func:`~cleora_tensor.expansion.summed_adjacency`); None otherwise.
    """

    name: str | None
    vocabulary: Vocabulary
    index: np.ndarray
    adjacency: scipy.sparse.csr_array
    degrees: np.ndarray
    output: np.ndarray
    truncated_cells: int = 0
    truncated_ids: int = 0
    singleton_cells: int = 0
    leaf_connectors: int = 0
    lone: int = 0
    pairs: int = 0
    arcs: scipy.sparse.csr_array | None = None

    @property
    def num_entities(self) -> int:
        """Number of entities ``n`` (pycleora's ``num_entities``)."""
        return len(self.index)

    @property
    def nnz(self) -> int:
        """Stored non-zeros of ``W`` (and of its transition matrices)."""
        return int(self.adjacency.nnz)

    @cached_property
    def entity_ids(self) -> list[str]:
        """Entity ids, shape ``(n,)`` (pycleora's ``entity_ids``)."""
        return self.vocabulary.ids.take(pa.array(self.index)).to_pylist()

    @property
    def types(self) -> np.ndarray:
        """Entity type per entity, shape ``(n,)``, numpy str array."""
        names = np.asarray(self.vocabulary.type_names, dtype=str)
        return names[self.vocabulary.type_codes[self.index]]

    @property
    def occurrences(self) -> np.ndarray:
        """Input occurrences per entity, shape ``(n,)``, int64."""
        return self.vocabulary.occurrences[self.index]

    def keys(self, method: str = "hash") -> np.ndarray:
        """Initialization keys, shape ``(n,)``, int64 (see :meth:`Vocabulary.keys`)."""
        return self.vocabulary.keys(method)[self.index]


class Hypergraph:
    """Entities and relations of an input table.

    Build it from a parsed table (:meth:`from_table`), or read files and lines
    with :func:`~cleora_tensor.read_hypergraph`.

    Parameters
    ----------
    table : TokenTable
        Parsed input, from :func:`~cleora_tensor.io.read_table`.
    release : bool, default False
        See :meth:`from_table`.

    Attributes
    ----------
    spec : ColumnSpec
    vocabulary : Vocabulary
    n_rows : int
        Input rows used.
    n_ids : int
        Entity ids in the cells of all entity columns (occurrences).
    sources : tuple of str
        The input files, as given (see :attr:`TokenTable.sources`).
    table_stats : dict
        ``skipped_rows`` and ``empty_ids`` reported by the reader.
    time_span : tuple of float or None
        First and last time of the rows used (Unix seconds), with a ``time::``
        column; None without one.
    grouping : dict or None
        The time filter and the windows or sessions made
        (:attr:`TokenTable.grouping`, see
        :func:`~cleora_tensor.temporal.group_events`).

    Examples
    --------
    >>> from cleora_tensor import read_table
    >>> hg = Hypergraph.from_table(read_table(iter(["a\\tb", "b\\tc"]), "node node"))
    >>> g = hg.graph()
    >>> g.entity_ids, g.adjacency.toarray().tolist()
    (['a', 'b', 'c'], [[0.0, 1.0, 0.0], [1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    """

    def __init__(self, table: TokenTable, *, release: bool = False) -> None:
        self.spec: ColumnSpec = table.spec
        self.n_rows = table.n_rows
        self.table_stats = {"skipped_rows": table.skipped_rows, "empty_ids": table.empty_ids}
        self.sources = table.sources
        self._weights = table.weights
        self.time_span = None if table.times is None else (float(table.times.min()), float(table.times.max()))
        self.grouping = table.grouping
        self.vocabulary, self._cells = encode(table, release=release)
        self.n_ids = sum(len(codes) for codes, _ in self._cells.values())

    @classmethod
    def from_table(cls, table: TokenTable, *, release: bool = False) -> Hypergraph:
        """Build from a parsed :class:`~cleora_tensor.io.TokenTable`.

        With ``release``, the table's ids are dropped type by type as they are
        encoded (less memory; the table is then unusable).
        """
        return cls(table, release=release)

    def graph(
        self,
        relations: Sequence[Relation | str] | None = None,
        *,
        max_cell_size: int | None = 1024,
        singletons: str = "drop",
        name: str | None = None,
        directed: bool = False,
    ) -> Graph:
        """The weighted graph summing the given relations.

        Parameters
        ----------
        relations : sequence of Relation or relation names, optional
            Default: all relations of the specification (joint mode).
        max_cell_size : int or None, default 1024
            Clique guard: in a relation between two complex columns, cells keep
            their first ``max_cell_size`` ids; truncations are counted on the
            result and reported with a :class:`DataWarning`. None disables it.
        singletons : {"drop", "keep"}, default "drop"
            ``"drop"`` leaves out the hyperedges that relate one entity to
            nothing: a cell of a reflexive column holding one id (its clique
            expansion is the self-pair ``(a, a)`` alone) and a transient entity
            with a single neighbour (a session or basket of one item: its star
            expansion walks to the item and back). Both are self-loops whose
            weight grows with how often an entity is seen alone; they make the
            walk lazy entity by entity, so an item seen mostly alone keeps mostly
            its initial vector. Entities seen only alone stay, with a self-loop
            (``Graph.lone``); their occurrences still count. ``"keep"``
            expands them like any hyperedge (pycleora 3.2.1's graph). Measured
            in the README, "Defaults".
        name : str, optional
            Name of the result (pairwise mode uses the relation name).
        directed : bool, default False
            Also keep the arcs, :attr:`Graph.arcs` (one more matrix of at most
            the non-zeros of ``W``): a relation's arcs go from its left column to
            its right column, a reflexive column's from an id to the ids after it
            in the cell. ``W``, and so the entities, are the same either way.

        Returns
        -------
        Graph

        Raises
        ------
        KeyError
            On an unknown relation name.
        ValueError
            If the relations have no edge at all.
        ~cleora_tensor.errors.InsufficientMemoryError
            Before expanding, if building is predicted not to fit in the memory
            available (see :func:`~cleora_tensor.memory.check_graph_memory`); the
            message names the ``max_cell_size`` that would fit.

        Notes
        -----
        Pairs are expanded and summed in chunks (see
        :func:`~cleora_tensor.expansion.summed_adjacency`), so memory follows the
        distinct non-zeros of the graph rather than the number of pairs.
        """
        if relations is None:
            relations = self.spec.relations
        relations = [self.spec.relation(r) if isinstance(r, str) else r for r in relations]
        if singletons not in ("drop", "keep"):
            raise ValueError(f"singletons must be 'drop' or 'keep', got {singletons!r}")
        drop = singletons == "drop"
        n = len(self.vocabulary)
        expansions = [relation_cells(self._cells, self._weights, r, max_cell_size, drop_singletons=drop) for r in relations]
        pairs = sum(e.entries for e in expansions)
        check_graph_memory(", ".join(self.sources), self._cells, relations, n, self.n_ids, pairs, max_cell_size)
        truncated_cells = sum(e.truncated_cells for e in expansions)
        truncated_ids = sum(e.truncated_ids for e in expansions)
        if truncated_cells:
            warnings.warn(
                f"clique guard: {truncated_cells} cells longer than max_cell_size="
                f"{max_cell_size} were cut to their first {max_cell_size} ids "
                f"({truncated_ids} ids left out of those relations)",
                DataWarning,
                stacklevel=2,
            )
        chunk = expansion.CHUNK_ENTRIES
        cells, leaves = sum(e.singletons for e in expansions), 0
        alone = [e.lone for e in expansions if e.lone is not None]
        adjacency = summed_adjacency(expansions, n, chunk)
        arcs = summed_adjacency(expansions, n, chunk, directed=True) if directed else None
        del expansions
        output_codes = [self.vocabulary.type_names.index(t) for t in self.spec.output_types]
        if drop:
            connectors = ~np.isin(self.vocabulary.type_codes, output_codes)
            adjacency, leaves, neighbours = drop_connector_leaves(adjacency, connectors, chunk)
            alone.append(neighbours)
        degrees = row_sums(adjacency)
        # Entities seen only in singletons: kept, with a self-loop (inserted below).
        lone = np.unique(np.concatenate(alone)) if alone else np.zeros(0, np.int64)
        lone = lone[degrees[lone] == 0]
        degrees[lone] = 1.0
        keep = degrees > 0
        if not keep.any():
            names = ", ".join(r.name for r in relations)
            raise ValueError(f"relations {names} have no edge with positive weight")
        index = np.flatnonzero(keep)
        indices = adjacency.indices  # int32 when it fits
        renumber = (np.cumsum(keep) - 1).astype(indices.dtype)
        # Empty rows drop out of indptr; symmetry (and no explicit zeros) means
        # every stored column index belongs to a kept entity. The sum is ours:
        # renumber its indices in place, a block at a time.
        for lo in range(0, len(indices), chunk):
            indices[lo : lo + chunk] = renumber[indices[lo : lo + chunk]]
        data = adjacency.data.astype(np.float32)
        indptr = np.append(adjacency.indptr[index], adjacency.nnz)
        if len(lone):  # their rows are empty: one diagonal entry each
            at, diagonal = adjacency.indptr[lone], renumber[lone]
            data, indices = np.insert(data, at, 1.0), np.insert(indices, at, diagonal)
            indptr = indptr + np.searchsorted(diagonal, np.arange(len(index) + 1), side="left")
        compact = scipy.sparse.csr_array((data, indices, indptr.astype(indices.dtype)), shape=(len(index), len(index)))
        del adjacency, data
        return Graph(
            name=name,
            vocabulary=self.vocabulary,
            index=index,
            adjacency=compact,
            degrees=degrees[index],
            output=np.isin(self.vocabulary.type_codes[index], output_codes),
            truncated_cells=truncated_cells,
            truncated_ids=truncated_ids,
            singleton_cells=cells,
            leaf_connectors=leaves,
            lone=len(lone),
            pairs=pairs,
            # Arcs between kept entities (an arc of a dropped singleton or leaf has left W too).
            arcs=None if arcs is None else scipy.sparse.csr_array(arcs[index][:, index], dtype=np.float32),
        )

    def graphs(
        self, mode: str = "joint", *, max_cell_size: int | None = 1024, singletons: str = "drop", directed: bool = False
    ) -> list[Graph]:
        """One joint graph, or one graph per relation (``mode="pairwise"``); options as :meth:`graph`.

        Raises
        ------
        ValueError
            On an unknown mode.
        """
        if mode == "joint":
            return [self.graph(max_cell_size=max_cell_size, singletons=singletons, directed=directed)]
        if mode == "pairwise":
            return [
                self.graph([r], max_cell_size=max_cell_size, singletons=singletons, name=r.name, directed=directed)
                for r in self.spec.relations
            ]
        raise ValueError(f"mode must be 'joint' or 'pairwise', got {mode!r}")
