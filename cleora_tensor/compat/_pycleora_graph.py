"""pycleora 3.2.1's ``SparseMatrix`` over this library's hypergraph, transition matrices and loop.

The public face is :mod:`cleora_tensor.compat.pycleora`, whose module notes
list where the numbers differ from pycleora's and why.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..backends import Backend, get_backend
from ..columns import ColumnSpec, parse_columns
from ..config import EmbedConfig
from ..errors import ColumnSpecError
from ..hypergraph import Graph
from ..init import initialize
from ..lookup import EntityIndex
from ..markov import transition_matrix
from ..normalize import normalize_rows
from ..pipeline import read_hypergraph
from ._pycleora_loop import KINDS, run_loop

__all__ = ["CLIQUE_GUARD", "SHARED_TYPE", "SparseMatrix"]

#: The one entity type of a pycleora graph: pycleora keys entities by id alone,
#: so every column shares one id space whatever its type name.
SHARED_TYPE = "entity"
#: The library's default clique guard (``max_cell_size``), the least one a pycleora graph gets.
CLIQUE_GUARD: int = EmbedConfig.max_cell_size


class SparseMatrix:
    """pycleora's hypergraph with its Markov transition matrices.

    Build it with :meth:`from_iterator` (lines of text) or :meth:`from_files`.
    Entities are numbered by first occurrence in row-major input order, as in
    pycleora, and every column shares one id space (pycleora ignores the type
    names of its columns).

    Attributes
    ----------
    graph : Graph
        The library's graph underneath (weighted adjacency ``W``, degrees,
        keys), for use with :mod:`cleora_tensor`'s own functions.
    columns : ColumnSpec
        The column specification as given.

    Examples
    --------
    >>> from cleora_tensor.compat.pycleora import SparseMatrix
    >>> edges = ["alice item_laptop", "alice item_mouse", "bob item_keyboard"]
    >>> graph = SparseMatrix.from_iterator(iter(edges), "complex::reflexive::product")
    >>> graph
    SparseMatrix(entities=5, edges=11, columns=('product', 'product'))
    >>> graph.entity_ids
    ['alice', 'item_laptop', 'item_mouse', 'bob', 'item_keyboard']
    >>> graph.get_neighbors("alice")
    [('alice', 0.5), ('item_laptop', 0.25), ('item_mouse', 0.25)]
    """

    def __init__(self, graph: Graph, columns: ColumnSpec) -> None:
        self.graph = graph
        self.columns = columns
        self._matrices: dict[str, Any] = {}
        self._operators: dict[tuple, Any] = {}
        self._index: EntityIndex | None = None

    @classmethod
    def from_iterator(
        cls, hyperedges: Iterable[str], columns: str, hyperedge_trim_n: int = 16, num_workers: int | None = None
    ) -> SparseMatrix:
        """Build from lines of text (pycleora's ``SparseMatrix.from_iterator``).

        Parameters
        ----------
        hyperedges : iterable of str
            Lines: columns separated by tabs, the ids of a ``complex`` cell by
            single spaces. A list is read as lines here (never as file names).
        columns : str
            Column specification, e.g. ``"complex::reflexive::product"`` or
            ``"user item"``. All columns share one id space. ``weight::`` and
            ``ignore::`` columns and several relations (summed) are extensions;
            ``transient`` is refused (pycleora has no such modifier).
        hyperedge_trim_n : int, default 16
            Hyperedges are expanded exactly (all pairs, rows stochastic) up to
            the library's clique guard of :data:`CLIQUE_GUARD` ids per cell, or
            ``hyperedge_trim_n`` if larger; a longer cell keeps its first ids,
            with a :class:`~cleora_tensor.DataWarning`. pycleora instead drops
            the pairs among ids past the ``n``-th (see the module notes of
            :mod:`cleora_tensor.compat.pycleora`).
        num_workers : int or None, default None
            Accepted for pycleora's signature and ignored: the reader uses
            pyarrow's thread pool, and the graph never depends on threads.

        Returns
        -------
        SparseMatrix

        Raises
        ------
        ColumnSpecError
            On an invalid specification or a ``transient`` column.
        InputFormatError
            On a malformed line (the message names it).
        ValueError
            On a ``hyperedge_trim_n`` below 1.
        """
        return cls.read(iter(hyperedges), columns, hyperedge_trim_n)

    @classmethod
    def from_files(
        cls,
        filepaths: Sequence[str | os.PathLike] | str | os.PathLike,
        columns: str,
        hyperedge_trim_n: int = 16,
        num_workers: int | None = None,
    ) -> SparseMatrix:
        """Build from files of lines, read in order as one table (pycleora's ``from_files``).

        Parameters
        ----------
        filepaths : list of str or path-like (or one of them)
            Files in the format of :meth:`from_iterator` (tab-separated
            whatever their extension; gzip is detected).
        columns, hyperedge_trim_n, num_workers
            As in :meth:`from_iterator`.

        Returns
        -------
        SparseMatrix

        Raises
        ------
        OSError
            If a file cannot be read (the message names it).
        ColumnSpecError, InputFormatError, ValueError
            As :meth:`from_iterator`.
        """
        if isinstance(filepaths, (str, os.PathLike)):
            filepaths = [filepaths]
        return cls.read([Path(p) for p in filepaths], columns, hyperedge_trim_n, input_format="tsv")

    @classmethod
    def read(
        cls, source: Any, columns: str, hyperedge_trim_n: int = 16, *, directed: bool = False, **options: Any
    ) -> SparseMatrix:
        """Build from any source of :func:`cleora_tensor.read_hypergraph` (what the two constructors call).

        Parameters
        ----------
        source : lines, paths or table
            As :func:`cleora_tensor.read_hypergraph` takes it.
        columns, hyperedge_trim_n
            As in :meth:`from_iterator`.
        directed : bool, default False
            Also keep the graph's arcs (left column to right column, and within a
            cell from an id to the ids after it), for ``transition(..., direction=)``.
        **options
            For :func:`cleora_tensor.read_hypergraph` (e.g. ``input_format``).

        Returns
        -------
        SparseMatrix

        Raises
        ------
        ColumnSpecError, InputFormatError, OSError, ValueError
            As :meth:`from_iterator` and :meth:`from_files`.
        """
        if isinstance(hyperedge_trim_n, bool) or not isinstance(hyperedge_trim_n, int) or hyperedge_trim_n < 1:
            raise ValueError(f"hyperedge_trim_n must be a positive int, got {hyperedge_trim_n!r}")
        spec = parse_columns(columns)
        shared = []
        for column in spec.columns:
            if column.transient:
                raise ColumnSpecError(
                    spec.spec,
                    f"column {column.index + 1} ({column}): pycleora 3.2.1 has no 'transient' modifier; "
                    "use cleora_tensor.embed or cleora_tensor.read_hypergraph for transient columns",
                )
            modifiers = str(column).split("::")[:-1]
            shared.append("::".join([*modifiers, SHARED_TYPE if column.is_entity else column.type]))
        hypergraph = read_hypergraph(source, " ".join(shared), **options)
        graph = hypergraph.graph(max_cell_size=max(hyperedge_trim_n, CLIQUE_GUARD), singletons="keep", directed=directed)
        return cls(graph, spec)

    # --- pycleora's properties -------------------------------------------------------

    @property
    def entity_ids(self) -> list[str]:
        """Entity ids in index order, length ``num_entities`` (shared list: do not modify)."""
        return self.graph.entity_ids

    @property
    def num_entities(self) -> int:
        """Number of entities ``n``."""
        return self.graph.num_entities

    @property
    def num_edges(self) -> int:
        """Stored non-zeros of the transition matrix (self-loops included)."""
        return self.graph.nnz

    @property
    def entity_degrees(self) -> np.ndarray:
        """Shape ``(n,)``, float32: row sums of ``W`` (weighted degree)."""
        return self.graph.degrees.astype(np.float32)

    def __len__(self) -> int:
        return self.num_entities

    def __getstate__(self) -> dict:
        # Pickles the graph, not the matrices and operators made from it (thread pools, devices).
        return {"graph": self.graph, "columns": self.columns}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["graph"], state["columns"])

    def __repr__(self) -> str:
        relation = self.columns.relations[0]
        types = (relation.left.type, relation.right.type)
        return f"SparseMatrix(entities={self.num_entities}, edges={self.num_edges}, columns={types})"

    # --- lookups -----------------------------------------------------------------------

    def get_entity_index(self, entity_id: str) -> int:
        """Index of one entity.

        Raises
        ------
        ValueError
            ``"Entity 'x' not found"`` (pycleora's message).
        """
        return self.get_entity_indices([entity_id])[0]

    def get_entity_indices(self, entity_ids: Sequence[str]) -> list[int]:
        """Indices of several entities, in order.

        Raises
        ------
        ValueError
            On the first id that is not an entity: ``"Entity 'x' not found"``.
        """
        if self._index is None:
            self._index = EntityIndex(self.entity_ids)
        entity_ids = list(entity_ids)
        rows = self._index.rows(entity_ids)
        missing = np.flatnonzero(rows < 0)
        if len(missing):
            raise ValueError(f"Entity {entity_ids[int(missing[0])]!r} not found")
        return rows.tolist()

    def get_neighbors(self, entity_id: str) -> list[tuple[str, float]]:
        """Neighbours of an entity with their left transition probabilities, by index.

        Returns
        -------
        list of (str, float)
            Row ``entity_id`` of ``D^-1 W``: the values sum to 1.

        Raises
        ------
        ValueError
            If ``entity_id`` is not an entity.
        """
        row = self.get_entity_index(entity_id)
        matrix = self.transition("left")
        lo, hi = matrix.indptr[row], matrix.indptr[row + 1]
        ids = self.entity_ids
        return [(ids[j], float(v)) for j, v in zip(matrix.indices[lo:hi].tolist(), matrix.data[lo:hi].tolist())]

    # --- matrices and vectors -----------------------------------------------------

    def transition(self, kind: str, direction: str | None = None) -> Any:
        """A transition matrix, float32 CSR, computed once.

        ``kind`` ``"left"`` (``D^-1 W``) or ``"symmetric"`` (``D^-1/2 W D^-1/2``);
        ``direction`` ``"out"`` / ``"in"`` walks the arcs of a graph read with
        ``directed=True`` (see :func:`cleora_tensor.transition_matrix`).

        Raises
        ------
        ValueError
            On another ``kind`` (pycleora's message), and as
            :func:`cleora_tensor.transition_matrix`.
        """
        if kind not in KINDS:
            raise ValueError(f"Unknown markov_type {kind!r}. Use 'left' or 'symmetric'.")
        if (kind, direction) not in self._matrices:
            self._matrices[kind, direction] = transition_matrix(self.graph, kind, direction=direction)
        return self._matrices[kind, direction]

    def operator(self, kind: str, backend: Backend, threads: int | None, direction: str | None = None) -> Any:
        """:meth:`transition` as ``backend``'s sparse operator, made once per backend, device and threads."""
        key = (kind, direction, backend.name, str(backend.device), threads)
        if key not in self._operators:
            self._operators[key] = backend.operator(self.transition(kind, direction), threads=threads)
        return self._operators[key]

    def to_sparse_csr(self, markov_type: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
        """The transition matrix as coordinate arrays in row order (pycleora's layout).

        Parameters
        ----------
        markov_type : {"left", "symmetric"} or None, default None (``"left"``)

        Returns
        -------
        rows, cols : numpy.ndarray
            Shape ``(nnz,)``, uint32.
        values : numpy.ndarray
            Shape ``(nnz,)``, float32.
        n_rows, n_cols : int

        Raises
        ------
        ValueError
            On another ``markov_type``.
        """
        matrix = self.transition("left" if markov_type is None else markov_type)
        n = self.num_entities
        rows = np.repeat(np.arange(n, dtype=np.uint32), np.diff(matrix.indptr))
        return rows, matrix.indices.astype(np.uint32), matrix.data.copy(), n, n

    def initialize_deterministically(self, feature_dim: int, seed: int = 0) -> np.ndarray:
        """pycleora's initial vectors, bit for bit: shape ``(n, feature_dim)``, float32.

        See :func:`cleora_tensor.initialize` with ``method="pycleora"``.

        Raises
        ------
        ValueError
            On ``feature_dim < 1`` or a seed outside ``[0, 2**63)``.
        """
        return initialize(self.graph.keys("pycleora"), feature_dim, seed=seed, method="pycleora")

    def left_markov_propagate(self, x: Any, num_workers: int | None = None) -> Any:
        """``D^-1 W @ x``: shape ``(n, d)`` float32 in ``x``'s namespace and on its device.

        Raises
        ------
        ValueError
            If ``x`` does not have ``n`` rows.
        """
        return self._product("left", x, num_workers)

    def symmetric_markov_propagate(self, x: Any, num_workers: int | None = None) -> Any:
        """``D^-1/2 W D^-1/2 @ x``: as :meth:`left_markov_propagate`."""
        return self._product("symmetric", x, num_workers)

    def l2_normalize(self, x: Any, num_workers: int | None = None) -> Any:
        """Rows of ``x`` divided by their L2 norms (floored at 1e-10): a new array, same namespace."""
        return normalize_rows(x, threads=num_workers)

    def _product(self, kind: str, x: Any, threads: int | None) -> Any:
        backend = get_backend(x)
        return self.operator(kind, backend, threads).matmul(backend.asarray(x))

    def embed_fast(
        self,
        feature_dim: int,
        num_iterations: int,
        propagation: str = "left",
        seed: int = 0,
        residual_weight: float = 0.0,
        num_workers: int | None = None,
    ) -> np.ndarray:
        """Propagate without whitening (what pycleora's ``embed(whiten=False)`` calls).

        Returns
        -------
        numpy.ndarray
            Shape ``(n, feature_dim)``, float32.
        """
        x = self.initialize_deterministically(feature_dim, seed)
        return run_loop(self, x, num_iterations, propagation, False, residual_weight, 0.0, num_workers).vectors

    def embed_fast_convergence(
        self,
        feature_dim: int,
        max_iterations: int,
        propagation: str = "left",
        seed: int = 0,
        residual_weight: float = 0.0,
        convergence_threshold: float = 0.0,
        num_workers: int | None = None,
    ) -> tuple[np.ndarray, int]:
        """:meth:`embed_fast` stopping early at ``convergence_threshold``; also returns the steps run."""
        x = self.initialize_deterministically(feature_dim, seed)
        result = run_loop(self, x, max_iterations, propagation, False, residual_weight, convergence_threshold, num_workers)
        return result.vectors, result.iterations
