"""pycleora's advanced modes (directed graphs, attention, supervised refinement) over the core's.

Thin adapters: the arcs come from ``Hypergraph.graph(directed=True)`` and
:func:`cleora_tensor.transition_matrix`'s ``direction``, attention from
:class:`cleora_tensor.attention.AttentionOperator` plugged into the same loop,
refinement from :func:`cleora_tensor.refine.supervised_refine`. See
:mod:`cleora_tensor.compat.pycleora` for the differences from pycleora 3.2.1.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..attention import AttentionOperator
from ..backends import get_backend
from ..normalize import normalize_rows
from ..refine import supervised_refine as refine
from ._pycleora_embed import DEFAULT_FEATURE_DIM, DEFAULT_NUM_ITERATIONS
from ._pycleora_graph import SparseMatrix
from ._pycleora_loop import check_normalization, run_loop

__all__ = ["embed_directed", "embed_with_attention", "supervised_refine"]


def embed_directed(
    edges: Sequence[str],
    columns: str,
    feature_dim: int = DEFAULT_FEATURE_DIM,
    num_iterations: int = DEFAULT_NUM_ITERATIONS,
    normalization: str = "l2",
    seed: int = 0,
    hyperedge_trim_n: int = 16,
    num_workers: int | None = None,
    whiten: bool = True,
) -> tuple[SparseMatrix, Any]:
    """Embed along the direction of the edges (pycleora's ``embed_directed``).

    An entity averages the entities its arcs point to: from a row's left column
    to its right column, and within a cell from an id to the ids after it
    (``D_out^-1 A``, :func:`cleora_tensor.transition_matrix` with
    ``direction="out"``). An entity without outgoing arcs keeps its vector (a
    self-loop), where pycleora gives it a zero row.

    Parameters
    ----------
    edges : sequence of str
        Lines, as in :meth:`SparseMatrix.from_iterator`.
    columns, hyperedge_trim_n
        As in :meth:`SparseMatrix.from_iterator`.
    feature_dim, num_iterations, normalization, seed, num_workers, whiten
        As in :func:`~cleora_tensor.compat.pycleora.embed`.

    Returns
    -------
    (SparseMatrix, numpy.ndarray)
        The graph (its undirected matrices are pycleora's graph's) and the
        vectors ``(num_entities, feature_dim)``, float32.

    Raises
    ------
    ValueError
        As :meth:`SparseMatrix.from_iterator` and
        :func:`~cleora_tensor.compat.pycleora.embed`.
    """
    check_normalization(normalization)
    graph = SparseMatrix.read(iter(edges), columns, hyperedge_trim_n, directed=True)
    x = graph.initialize_deterministically(feature_dim, seed)
    arcs = graph.operator("left", get_backend(x), num_workers, direction="out")
    return graph, run_loop(graph, x, num_iterations, "left", whiten, 0.0, 0.0, num_workers, operator=arcs).vectors


def embed_with_attention(
    graph: SparseMatrix,
    feature_dim: int = DEFAULT_FEATURE_DIM,
    num_iterations: int = DEFAULT_NUM_ITERATIONS,
    propagation: str = "left",
    normalization: str = "l2",
    attention_temperature: float = 1.0,
    seed: int = 0,
    num_workers: int | None = None,
    callback: Callable[[int, Any], None] | None = None,
    whiten: bool = True,
) -> Any:
    """Propagation with each step's edges reweighted by attention (pycleora's ``embed_with_attention``).

    The first step multiplies by the transition matrix ``P``; every later step
    by ``A(X)``: each row of ``P`` times a softmax over the row's neighbours of
    ``cos(x_i, x_j) / attention_temperature``, renormalized
    (:class:`cleora_tensor.attention.AttentionOperator`), as pycleora does.

    Parameters
    ----------
    attention_temperature : float, default 1.0
        Positive; lower values concentrate each row on its most similar
        neighbours.
    graph, feature_dim, num_iterations, propagation, normalization, seed, num_workers, callback, whiten
        As in :func:`~cleora_tensor.compat.pycleora.embed`; ``num_iterations``
        must be positive.

    Returns
    -------
    numpy.ndarray
        Shape ``(num_entities, feature_dim)``, float32.

    Raises
    ------
    ValueError
        If ``attention_temperature`` or ``num_iterations`` is not positive, and
        as :func:`~cleora_tensor.compat.pycleora.embed`.
    """
    check_normalization(normalization)
    if isinstance(num_iterations, bool) or not isinstance(num_iterations, int) or num_iterations <= 0:
        raise ValueError(f"num_iterations must be positive, got {num_iterations!r}")
    x = graph.initialize_deterministically(feature_dim, seed)
    first = run_loop(graph, x, 1, propagation, whiten, 0.0, 0.0, num_workers, callback=callback).vectors
    backend = get_backend(first)
    attention = AttentionOperator(
        graph.transition(propagation), backend, temperature=attention_temperature, threads=num_workers
    )

    def later(step: int, vectors: Any) -> None:
        callback(step + 1, vectors)

    return run_loop(
        graph, first, num_iterations - 1, propagation, whiten, 0.0, 0.0, num_workers,
        callback=None if callback is None else later, operator=attention,
    ).vectors


def supervised_refine(
    graph: SparseMatrix,
    embeddings: Any,
    positive_pairs: Sequence[tuple[str, str]],
    negative_pairs: Sequence[tuple[str, str]] | None = None,
    learning_rate: float = 0.01,
    num_epochs: int = 50,
    margin: float = 0.5,
    num_negatives_per_positive: int = 5,
    callback: Callable[[int, float], None] | None = None,
) -> Any:
    """Fine-tune vectors on related and unrelated entity pairs (pycleora's ``supervised_refine``).

    :func:`cleora_tensor.refine.supervised_refine` (a triplet margin loss on
    cosines, SGD on sparse gradients, seed 0) with pycleora's defaults, on the rows of the pairs'
    entities; the result's rows are L2-normalized, as pycleora's.

    Parameters
    ----------
    graph : SparseMatrix
    embeddings : array
        Shape ``(num_entities, d)``: NumPy or a torch tensor (the result
        follows it).
    positive_pairs, negative_pairs : sequence of (str, str)
        Entity ids; negatives are sampled when ``negative_pairs`` is None.
    learning_rate, num_epochs, margin, num_negatives_per_positive, callback
        pycleora's options: the SGD step size, epochs, the triplet margin,
        negatives per positive, ``callback(epoch, mean_loss)``.

    Returns
    -------
    array
        Shape ``(num_entities, d)``, unit rows, dtype, namespace and device of
        ``embeddings``.

    Raises
    ------
    BackendUnavailableError
        If torch is not installed (the message gives the pip command).
    ValueError
        If ``embeddings`` does not have one row per entity, an id is not an
        entity (``"Entity 'x' not found"``), and as
        :func:`cleora_tensor.refine.supervised_refine`.
    """
    if embeddings.shape[0] != graph.num_entities:
        raise ValueError(f"embeddings has {embeddings.shape[0]} rows but graph has {graph.num_entities} entities")

    def rows(pairs: Sequence[tuple[str, str]]) -> list[list[int]]:
        return [graph.get_entity_indices(list(pair)) for pair in pairs]

    refined = refine(
        embeddings,
        rows(positive_pairs),
        None if negative_pairs is None else rows(negative_pairs),
        margin=margin,
        negatives_per_positive=num_negatives_per_positive,
        learning_rate=learning_rate,
        epochs=num_epochs,
        callback=callback,
    )
    return normalize_rows(refined)
