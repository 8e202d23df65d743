"""pycleora's graph changes and streaming (``update_graph``, ``remove_edges``, ``embed_streaming``).

pycleora 3.2.1 rebuilds the graph from all lines for each of them; so do these
adapters, through :meth:`SparseMatrix.from_iterator`. For updating a saved
model's vectors without re-embedding, see :func:`cleora_tensor.update`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ._pycleora_embed import DEFAULT_FEATURE_DIM, DEFAULT_NUM_ITERATIONS, embed, embed_inductive
from ._pycleora_graph import SparseMatrix

__all__ = ["embed_streaming", "remove_edges", "update_graph"]


def update_graph(
    existing_edges: Sequence[str],
    new_edges: Sequence[str],
    columns: str,
    hyperedge_trim_n: int = 16,
    num_workers: int | None = None,
) -> SparseMatrix:
    """The graph of ``existing_edges`` followed by ``new_edges`` (pycleora's ``update_graph``).

    Parameters
    ----------
    existing_edges, new_edges : sequence of str
        Lines, as in :meth:`SparseMatrix.from_iterator`.
    columns, hyperedge_trim_n, num_workers
        As in :meth:`SparseMatrix.from_iterator`.

    Returns
    -------
    SparseMatrix
        Entities in order of first appearance in the concatenated lines, as
        pycleora's.

    Raises
    ------
    ColumnSpecError, InputFormatError
        As :meth:`SparseMatrix.from_iterator`.
    """
    return SparseMatrix.from_iterator([*existing_edges, *new_edges], columns, hyperedge_trim_n, num_workers)


def remove_edges(
    existing_edges: Sequence[str],
    edges_to_remove: Iterable[str],
    columns: str,
    hyperedge_trim_n: int = 16,
    num_workers: int | None = None,
) -> SparseMatrix:
    """The graph of ``existing_edges`` without any line equal to one of ``edges_to_remove`` (pycleora's ``remove_edges``).

    As in pycleora, removal is by equality of the whole line and removes every
    copy of it; lines to remove that do not occur are ignored.

    Parameters
    ----------
    existing_edges : sequence of str
        Lines, as in :meth:`SparseMatrix.from_iterator`.
    edges_to_remove : iterable of str
        Lines to leave out.
    columns, hyperedge_trim_n, num_workers
        As in :meth:`SparseMatrix.from_iterator`.

    Returns
    -------
    SparseMatrix

    Raises
    ------
    ValueError
        If no line remains (pycleora's message).
    ColumnSpecError, InputFormatError
        As :meth:`SparseMatrix.from_iterator`.
    """
    removed = set(edges_to_remove)
    remaining = [line for line in existing_edges if line not in removed]
    if not remaining:
        raise ValueError("Cannot remove all edges from the graph")
    return SparseMatrix.from_iterator(remaining, columns, hyperedge_trim_n, num_workers)


def embed_streaming(
    edge_batches: Iterable[Sequence[str]],
    columns: str,
    feature_dim: int = DEFAULT_FEATURE_DIM,
    num_iterations: int = DEFAULT_NUM_ITERATIONS,
    propagation: str = "left",
    normalization: str = "l2",
    hyperedge_trim_n: int = 16,
    num_workers: int | None = None,
    batch_callback: Callable[[int, SparseMatrix, Any], None] | None = None,
) -> tuple[SparseMatrix, Any]:
    """Embed the lines seen so far after each batch, warm-started (pycleora's ``embed_streaming``).

    After the first batch, :func:`embed`; after each later one,
    :func:`~cleora_tensor.compat.pycleora.embed_inductive` on all lines so far:
    known entities start from their previous vectors, new ones from pycleora's
    deterministic initializer (pycleora 3.2.1: random noise, so two calls
    differ; here they are bit-identical).

    Parameters
    ----------
    edge_batches : iterable of sequence of str
        Batches of lines, as in :meth:`SparseMatrix.from_iterator`.
    columns, hyperedge_trim_n, num_workers
        As in :meth:`SparseMatrix.from_iterator`.
    feature_dim, num_iterations, propagation, normalization
        As in :func:`embed`.
    batch_callback : callable, optional
        ``batch_callback(batch_index, graph, embeddings)`` after each batch.

    Returns
    -------
    (SparseMatrix, numpy.ndarray)
        The graph of all lines and its vectors ``(num_entities, feature_dim)``,
        float32.

    Raises
    ------
    ValueError
        If ``edge_batches`` is empty; and as :func:`embed`.
    """
    lines: list[str] = []
    graph = embeddings = None
    for index, batch in enumerate(edge_batches):
        batch = list(batch)
        if graph is None:
            lines.extend(batch)
            graph = SparseMatrix.from_iterator(list(lines), columns, hyperedge_trim_n, num_workers)
            embeddings = embed(
                graph, feature_dim, num_iterations, propagation, normalization, num_workers=num_workers
            )
        else:
            graph, embeddings = embed_inductive(
                graph, embeddings, lines, batch, columns, num_iterations, propagation, normalization,
                hyperedge_trim_n, num_workers,
            )
            lines.extend(batch)
        if batch_callback is not None:
            batch_callback(index, graph, embeddings)
    if graph is None:
        raise ValueError("edge_batches holds no batch")
    return graph, embeddings
