"""Transition matrices of a weighted graph, undirected or along its arcs."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse

from .csr import block_rows, row_blocks, row_sums

__all__ = ["DIRECTIONS", "markov_matrix", "transition_matrix"]

#: Values of ``direction`` in :func:`transition_matrix`: ``None`` walks the
#: undirected graph ``W``; ``"out"`` and ``"in"`` walk its arcs forwards or
#: backwards.
DIRECTIONS = (None, "out", "in")


def markov_matrix(adjacency: Any, *, kind: str = "left", degrees: Any = None) -> scipy.sparse.csr_array:
    """The random-walk or symmetric transition matrix of a weighted graph.

    Parameters
    ----------
    adjacency : scipy.sparse matrix or array
        Non-negative weights ``W``, shape ``(n, n)``; symmetric for
        ``"symmetric"`` (``"left"`` also takes directed weights: row ``i``
        then averages over ``i``'s arcs).
    kind : {"left", "symmetric"}, default "left"
        ``"left"``: ``M = D^-1 W`` (random walk; rows sum to 1), pycleora's
        ``left_markov_propagate``. ``"symmetric"``: ``S = D^-1/2 W D^-1/2``,
        pycleora's ``symmetric_markov_propagate``.
    degrees : numpy.ndarray, optional
        float64, shape ``(n,)``: the true row sums of ``W`` (e.g.
        :attr:`Graph.degrees`, accumulated in float64 while building); computed
        from ``adjacency`` in float64 if omitted.

    Returns
    -------
    scipy.sparse.csr_array
        float32, shape ``(n, n)``, sorted indices; shares the index arrays of
        ``adjacency`` (int32 for a :class:`Graph` whose size fits). Rows of
        entities with zero degree stay zero.

    Raises
    ------
    ValueError
        On an unknown ``kind``, a non-square matrix or a ``degrees`` of the
        wrong shape.

    Notes
    -----
    Unlike pycleora 3.2.1, whose matrices for ``complex`` columns without
    ``reflexive`` do not have unit row sums, every row of ``M`` sums to 1 up to
    float32 rounding: values are divided in float64 by the true row sums.
    The float64 work runs in row blocks of about 2 M non-zeros, so besides the
    result (4 bytes per non-zero) it needs about 50 MiB of temporaries.

    Examples
    --------
    >>> import scipy.sparse
    >>> w = scipy.sparse.csr_array([[0.0, 2.0], [2.0, 1.0]])
    >>> markov_matrix(w).toarray()
    array([[0.        , 1.        ],
           [0.6666667 , 0.33333334]], dtype=float32)
    """
    if kind not in ("left", "symmetric"):
        raise ValueError(f"kind must be 'left' or 'symmetric', got {kind!r}")
    w = scipy.sparse.csr_array(adjacency)
    n = w.shape[0]
    if w.shape != (n, n):
        raise ValueError(f"adjacency must be square, got shape {w.shape}")
    if not w.has_canonical_format:
        w = w.copy()
        w.sum_duplicates()
    blocks = row_blocks(w.indptr)
    degrees = np.asarray(row_sums(w, blocks) if degrees is None else degrees, dtype=np.float64)
    if degrees.shape != (n,):
        raise ValueError(f"degrees must have shape ({n},), got {degrees.shape}")
    safe = np.where(degrees > 0, degrees, 1.0)
    scale = None if kind == "left" else 1.0 / np.sqrt(safe)
    values = np.empty(w.nnz, dtype=np.float32)
    for a, b, rows, data in block_rows(w, blocks):
        lo, hi = w.indptr[a], w.indptr[b]
        if kind == "left":
            data /= safe[rows]
        else:
            data *= scale[rows] * scale[w.indices[lo:hi]]
        values[lo:hi] = data
    return scipy.sparse.csr_array((values, w.indices, w.indptr), shape=(n, n))


def transition_matrix(graph: Any, kind: str = "left", *, direction: str | None = None) -> scipy.sparse.csr_array:
    """The transition matrix of a :class:`~cleora_tensor.Graph`.

    :func:`markov_matrix` of ``graph.adjacency`` with the degrees accumulated in
    float64 while the graph was built; or, with a ``direction``, the left
    Markov matrix of its arcs.

    Parameters
    ----------
    graph : Graph
        From :meth:`Hypergraph.graph <cleora_tensor.Hypergraph.graph>`.
    kind : {"left", "symmetric"}, default "left"
        See :func:`markov_matrix`; only ``"left"`` with a ``direction``.
    direction : {None, "out", "in"}, default None
        None: the undirected graph ``W``. ``"out"``: ``D_out^-1 A`` for the
        arcs ``A`` (:attr:`Graph.arcs`): an entity averages the entities its
        arcs point to (pycleora's ``embed_directed``). ``"in"``: ``D_in^-1
        A^T``: it averages the entities pointing to it. An entity without
        such arcs (a sink for ``"out"``, a source for ``"in"``) gets a
        self-loop of weight 1 and keeps its vector, where pycleora 3.2.1 gives
        it a zero row (a zero vector). pycleora also weights an arc by the
        undirected weight ``W``, so an arc whose reverse exists counts twice;
        here each arc counts once. Without sinks and reciprocal arcs,
        ``"out"`` with the ``"pycleora"`` preset reproduces its
        ``embed_directed`` (up to PCA's basis).

    Returns
    -------
    scipy.sparse.csr_array
        float32, shape ``(graph.num_entities, graph.num_entities)``.

    Raises
    ------
    ValueError
        On an unknown ``kind`` or ``direction``, ``"symmetric"`` with a
        direction, or a direction for a graph built without
        ``directed=True``.

    Examples
    --------
    >>> import cleora_tensor as ct
    >>> graph = ct.read_hypergraph(iter(["a\\tb", "b\\tc"]), "node node").graph()
    >>> transition_matrix(graph).toarray()
    array([[0. , 1. , 0. ],
           [0.5, 0. , 0.5],
           [0. , 1. , 0. ]], dtype=float32)
    """
    if direction is None:
        return markov_matrix(graph.adjacency, kind=kind, degrees=graph.degrees)
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be None, 'out' or 'in', got {direction!r}")
    if kind != "left":
        raise ValueError(f"direction={direction!r} needs kind='left' (a walk along arcs), got {kind!r}")
    if graph.arcs is None:
        raise ValueError(f"direction={direction!r} needs a graph built with Hypergraph.graph(directed=True)")
    arcs = scipy.sparse.csr_array(graph.arcs if direction == "out" else graph.arcs.T)
    degrees = row_sums(arcs)
    dead = degrees == 0  # no arc to follow: stay (a self-loop), not vanish
    if dead.any():
        arcs = scipy.sparse.csr_array(arcs + scipy.sparse.diags_array(dead.astype(np.float32)))
        arcs.sort_indices()
        degrees[dead] = 1.0
    return markov_matrix(arcs, kind="left", degrees=degrees)
