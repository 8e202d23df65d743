"""Rows of entity ids -> vocabulary -> weighted graphs of relations.

Each row is a hyperedge: for a relation between columns ``A`` and ``B`` with
cells ``A_l`` and ``B_l`` and row weight ``w_l`` (1 without a ``weight::``
column), every pair ``(a, b)`` in ``A_l x B_l`` adds ``w_l / (|A_l| |B_l|)`` to
``W[a, b]`` and to ``W[b, a]``; a reflexive relation takes ``B_l = A_l``, self
pairs included (clique expansion), so every relation gives every row the same
total weight ``2 w_l``. Everything is vectorized with NumPy/pyarrow over all rows
(the expansion itself: :mod:`cleora_tensor.expansion`).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse

from .columns import ColumnSpec, Relation
from .init import entity_keys
from .io import TokenTable, read_table
from . import expansion
from .expansion import relation_cells, summed_adjacency
from .markov import markov_matrix, row_sums
from .memory import check_graph_memory

__all__ = ["DataWarning", "Graph", "Hypergraph", "Vocabulary"]

class DataWarning(UserWarning):
    """Input data was truncated or dropped; the message says how much."""


@dataclass(frozen=True, eq=False)
class Vocabulary:
    """All entities of the input, numbered type by type.

    Within a type, entities are numbered by first occurrence in row-major input
    order (row by row, columns left to right, ids left to right in a cell), as
    pycleora does; the numbering does not depend on the thread count.

    Attributes
    ----------
    ids : pyarrow.ChunkedArray
        Shape ``(n_entities,)``, large_string ids.
    type_names : tuple of str
        Entity types, in the order of the column specification.
    type_codes : numpy.ndarray
        Shape ``(n_entities,)``, int16: index into ``type_names``.
    occurrences : numpy.ndarray
        Shape ``(n_entities,)``, int64: how often the entity appears in the input
        cells.
    """

    ids: pa.ChunkedArray
    type_names: tuple[str, ...]
    type_codes: np.ndarray
    occurrences: np.ndarray
    _keys: dict = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.type_codes)

    def keys(self, method: str = "hash") -> np.ndarray:
        """Entity keys for :func:`~cleora_tensor.initialize`, computed once per method.

        Returns
        -------
        numpy.ndarray
            int64, shape ``(n_entities,)``; see :func:`~cleora_tensor.entity_keys`.
        """
        if method not in self._keys:
            parts = []
            for code, name in enumerate(self.type_names):
                members = np.flatnonzero(self.type_codes == code)
                ids = self.ids.take(pa.array(members)).to_pylist()
                parts.append(entity_keys(ids, name, method=method))
            self._keys[method] = np.concatenate(parts) if parts else np.empty(0, np.int64)
        return self._keys[method]


@dataclass(frozen=True, eq=False)
class Graph:
    """The weighted graph of one or several relations, over the entities they connect.

    Built by :meth:`Hypergraph.graph`; entities without any edge are left out.

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
    pairs : int
        Entries the expansion of the relations generated before duplicates were
        summed (pairs, twice for a relation that is not reflexive): what the
        memory of building depends on, see :func:`~cleora_tensor.estimate_memory`.
    """

    name: str | None
    vocabulary: Vocabulary
    index: np.ndarray
    adjacency: scipy.sparse.csr_array
    degrees: np.ndarray
    output: np.ndarray
    truncated_cells: int = 0
    truncated_ids: int = 0
    pairs: int = 0

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

    def markov(self, kind: str = "left") -> scipy.sparse.csr_array:
        """Transition matrix ``(n, n)`` float32; see :func:`~cleora_tensor.markov_matrix`."""
        return markov_matrix(self.adjacency, kind=kind, degrees=self.degrees)


class Hypergraph:
    """Entities and relations of an input table; build it with :meth:`from_table`.

    Parameters
    ----------
    table : TokenTable
        Parsed input, from :func:`~cleora_tensor.io.read_table`.

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

    Examples
    --------
    >>> hg = Hypergraph.from_iterator(iter(["a\\tb", "b\\tc"]), "node node")
    >>> g = hg.graph()
    >>> g.entity_ids, g.adjacency.toarray().tolist()
    (['a', 'b', 'c'], [[0.0, 1.0, 0.0], [1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    """

    def __init__(self, table: TokenTable) -> None:
        self.spec: ColumnSpec = table.spec
        self.n_rows = table.n_rows
        self.table_stats = {"skipped_rows": table.skipped_rows, "empty_ids": table.empty_ids}
        self.sources = table.sources
        self._weights = table.weights
        self.vocabulary, self._cells = _encode(table)
        self.n_ids = sum(len(codes) for codes, _ in self._cells.values())

    @classmethod
    def from_table(cls, table: TokenTable) -> Hypergraph:
        """Build from a parsed :class:`~cleora_tensor.io.TokenTable`."""
        return cls(table)

    @classmethod
    def read(cls, source: Any, columns: str | ColumnSpec, **options: Any) -> Hypergraph:
        """Read ``source`` with :func:`~cleora_tensor.io.read_table` and build.

        Parameters
        ----------
        source : path, list of paths, iterable of lines, or table
            See :func:`~cleora_tensor.io.read_table`.
        columns : str or ColumnSpec
        **options
            ``input_format``, ``skip_bad_rows``, ``progress`` for the reader.

        Raises
        ------
        ColumnSpecError, InputFormatError, OSError
            From parsing the specification and reading the input.
        """
        hypergraph = cls(read_table(source, columns, **options))
        # The parsed table is gone: hand the pages pyarrow's pool keeps cached back
        # to the system before the graph is built (about 40 bytes per input id).
        pa.default_memory_pool().release_unused()
        return hypergraph

    @classmethod
    def from_files(cls, paths: Sequence[str], columns: str | ColumnSpec, **options: Any) -> Hypergraph:
        """Build from files (pycleora's ``SparseMatrix.from_files``)."""
        return cls.read(list(paths), columns, **options)

    @classmethod
    def from_iterator(cls, lines: Iterable[str], columns: str | ColumnSpec, **options: Any) -> Hypergraph:
        """Build from lines of text (pycleora's ``SparseMatrix.from_iterator``)."""
        return cls.read(iter(lines), columns, **options)

    def graph(
        self,
        relations: Sequence[Relation | str] | None = None,
        *,
        max_cell_size: int | None = 1024,
        name: str | None = None,
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
        name : str, optional
            Name of the result (pairwise mode uses the relation name).

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
        n = len(self.vocabulary)
        expansions = [relation_cells(self._cells, self._weights, r, max_cell_size) for r in relations]
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
        adjacency = summed_adjacency(expansions, n, chunk)
        del expansions
        degrees = row_sums(adjacency)
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
        compact = scipy.sparse.csr_array(
            (
                adjacency.data.astype(np.float32),
                indices,
                np.append(adjacency.indptr[index], adjacency.nnz).astype(indices.dtype),
            ),
            shape=(len(index), len(index)),
        )
        del adjacency
        output_codes = [self.vocabulary.type_names.index(t) for t in self.spec.output_types]
        return Graph(
            name=name,
            vocabulary=self.vocabulary,
            index=index,
            adjacency=compact,
            degrees=degrees[index],
            output=np.isin(self.vocabulary.type_codes[index], output_codes),
            truncated_cells=truncated_cells,
            truncated_ids=truncated_ids,
            pairs=pairs,
        )

    def graphs(self, mode: str = "joint", *, max_cell_size: int | None = 1024) -> list[Graph]:
        """One joint graph, or one graph per relation (``mode="pairwise"``).

        Raises
        ------
        ValueError
            On an unknown mode.
        """
        if mode == "joint":
            return [self.graph(max_cell_size=max_cell_size)]
        if mode == "pairwise":
            return [
                self.graph([r], max_cell_size=max_cell_size, name=r.name)
                for r in self.spec.relations
            ]
        raise ValueError(f"mode must be 'joint' or 'pairwise', got {mode!r}")


def _encode(table: TokenTable) -> tuple[Vocabulary, dict[int, tuple[np.ndarray, np.ndarray]]]:
    """Dictionary-encode ids type by type; return the vocabulary and per-column codes."""
    spec = table.spec
    ids, type_codes, occurrences, cells = [], [], [], {}
    start = 0
    for code, type_name in enumerate(spec.entity_types):
        columns = [c for c in spec.columns if c.is_entity and c.type == type_name]
        ragged = [table.entities[c.index] for c in columns]
        # One array, one encoding: unify_dictionaries() over the reader's many
        # chunks costs O(chunks x dictionary) (18 s at 1e7 rows).
        values = pa.chunked_array(
            [chunk.cast(pa.large_string()) for r in ragged for chunk in r.values.chunks],
            type=pa.large_string(),
        ).combine_chunks()
        encoded = pc.dictionary_encode(values)
        dictionary = encoded.dictionary
        codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        if len(columns) > 1:
            codes, dictionary = _row_major_order(codes, dictionary, ragged)
        count = len(dictionary)
        occurrences.append(np.bincount(codes, minlength=count))
        ids.append(dictionary)
        type_codes.append(np.full(count, code, dtype=np.int16))
        position = 0
        for column, r in zip(columns, ragged):
            size = int(r.offsets[-1])
            cells[column.index] = (codes[position : position + size] + start, r.offsets)
            position += size
        start += count
    index_dtype = np.int32 if start < 2**31 else np.int64
    cells = {k: (c.astype(index_dtype), o) for k, (c, o) in cells.items()}
    vocabulary = Vocabulary(
        ids=pa.chunked_array(ids, type=pa.large_string()),
        type_names=spec.entity_types,
        type_codes=np.concatenate(type_codes),
        occurrences=np.concatenate(occurrences).astype(np.int64),
    )
    return vocabulary, cells


def _row_major_order(codes: np.ndarray, dictionary: pa.Array, ragged: list) -> tuple[np.ndarray, pa.Array]:
    """Renumber a type's entities by first occurrence in row-major order.

    ``dictionary_encode`` numbers ids by first occurrence in the concatenation
    of the type's columns (column-major); re-rank them by ``row * n_columns +
    column``, ties (ids of one cell) keeping their order in the cell.
    """
    n_columns = len(ragged)
    positions = np.concatenate(
        [
            np.repeat(np.arange(len(r.offsets) - 1, dtype=np.int64), np.diff(r.offsets)) * n_columns + k
            for k, r in enumerate(ragged)
        ]
    )
    first = np.full(len(dictionary), np.iinfo(np.int64).max)
    np.minimum.at(first, codes, positions)
    order = np.argsort(first, kind="stable")
    renumber = np.empty_like(order)
    renumber[order] = np.arange(len(order))
    return renumber[codes], dictionary.take(pa.array(order))
