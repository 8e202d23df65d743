"""Periodic walks: bipartite graphs, and the lazy walk that lets the early stop work on them.

On a bipartite graph (a plain ``user item`` table, a star expansion such as
``transient::session item``) every step of the random walk ``P = D^-1 W`` moves
from one side to the other: ``P`` has the eigenvalue ``-1`` and the iterate
alternates between two states. Its one-step change never falls below the
early-stop ``tol`` (measured on MovieLens-100k as ``user item``: 1.46 at every
step), so the loop runs all its steps and over-smooths. The textbook remedy for a
periodic chain is the lazy walk ``(I + P) / 2`` (Levin, Peres & Wilmer, *Markov
Chains and Mixing Times*, 2nd ed., section 1.3.2): its eigenvalues lie in
``[0, 1]``, so it converges, and its step is half the plain walk's step from the
same iterate, so the change it is compared with is ``tol / 2``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .config import EmbedConfig
from .csr import row_blocks

__all__ = ["LAZY_RESIDUAL", "is_bipartite_by_type", "resolve_residual"]

#: Weight of the previous iterate in the lazy walk ``(I + P) / 2``.
LAZY_RESIDUAL = 0.5


def is_bipartite_by_type(adjacency, type_codes: np.ndarray) -> bool:
    """Whether the entity types split in two sides with every edge between the sides.

    The type graph has the entity types as nodes and an edge for every pair of
    types that some off-diagonal entry of ``W`` joins; when it is bipartite so is
    the entity graph (the converse need not hold: a ``node node`` table that
    happens to be bipartite is not detected). Diagonal entries (self-loops of
    entities seen only alone) are ignored: such an entity forms its own
    component, where the walk stands still.

    Parameters
    ----------
    adjacency : scipy.sparse.csr_array
        Shape ``(n, n)``, symmetric weights ``W`` (:attr:`Graph.adjacency`).
    type_codes : numpy.ndarray
        Shape ``(n,)``, non-negative ints: the entity type of each row as a
        code (the vocabulary's ``type_codes`` of the graph's entities).

    Returns
    -------
    bool
        True when there is at least one edge and the type graph is 2-colourable.
        Costs one pass over the non-zeros in row blocks (no ``O(nnz)``
        temporary beyond a block).
    """
    codes = np.asarray(type_codes)
    k = int(codes.max()) + 1 if len(codes) else 0
    joined = np.zeros((k, k), dtype=bool)
    indptr, indices = adjacency.indptr, adjacency.indices
    for a, b in row_blocks(indptr):
        rows = np.repeat(np.arange(a, b), np.diff(indptr[a : b + 1]))
        cols = indices[indptr[a] : indptr[b]]
        off = rows != cols
        joined[codes[rows[off]], codes[cols[off]]] = True
    if not joined.any() or joined.diagonal().any():
        return False
    side = np.full(k, -1)
    for start in range(k):  # 2-colour the (small) type graph, one component at a time
        if side[start] >= 0:
            continue
        side[start], todo = 0, [start]
        while todo:
            t = todo.pop()
            for u in np.flatnonzero(joined[t]):
                if side[u] < 0:
                    side[u] = 1 - side[t]
                    todo.append(u)
                elif side[u] == side[t]:
                    return False
    return True


def resolve_residual(config: EmbedConfig, graph) -> EmbedConfig:
    """The configuration with ``residual=None`` ("auto") decided for ``graph``.

    With early stopping on (``tol`` set), an undirected walk (``directed``
    None: along arcs, the sinks' self-loops break the period) and a graph that
    is bipartite by entity type (:func:`is_bipartite_by_type`), the walk is periodic: ``residual``
    becomes :data:`LAZY_RESIDUAL` (the lazy walk ``(I + P) / 2``) and ``tol``
    becomes ``tol * (1 - LAZY_RESIDUAL)``, the same change of the underlying
    walk. Otherwise ``residual`` becomes 0 (the plain walk of Cleora and
    pycleora). A ``residual`` given as a number is kept as it is.

    Parameters
    ----------
    config : EmbedConfig
        Validated configuration.
    graph : Graph
        The graph about to be propagated (:meth:`Hypergraph.graph`).

    Returns
    -------
    EmbedConfig
        ``config`` itself when its ``residual`` is a number; else a copy with
        ``residual`` (and, for the lazy walk, ``tol``) filled in. The copy is
        what the resulting :class:`~cleora_tensor.Embedding` records.
    """
    if config.residual is not None:
        return config
    periodic = (
        config.tol is not None
        and config.directed is None
        and is_bipartite_by_type(graph.adjacency, graph.vocabulary.type_codes[graph.index])
    )
    if periodic:
        return dataclasses.replace(config, residual=LAZY_RESIDUAL, tol=config.tol * (1.0 - LAZY_RESIDUAL))
    return dataclasses.replace(config, residual=0.0)
