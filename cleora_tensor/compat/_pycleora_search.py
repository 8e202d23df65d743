"""pycleora's whitening and similarity functions over the core's whitening and cosine search.

See :mod:`cleora_tensor.compat.pycleora` for the differences from pycleora 3.2.1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import array_api_compat
import numpy as np

from .._xp import namespace, to_numpy
from ..similarity import cosine_top_k
from ..whitening import whiten as whiten_rows
from ._pycleora_graph import SparseMatrix

__all__ = ["cosine_similarity", "find_most_similar", "predict_links", "whiten_embeddings"]

# Sources searched per call of cosine_top_k: bounds predict_links' memory to
# about _SOURCE_BATCH * (top_k + the largest degree) results at a time.
_SOURCE_BATCH = 1024


def whiten_embeddings(embeddings: Any, n_components: int | None = None) -> Any:
    """PCA whitening of the rows (pycleora's ``whiten_embeddings``): zero mean, identity covariance.

    Parameters
    ----------
    embeddings : array
        Shape ``(n, d)``, floating point, any array-API namespace.
    n_components : int, optional
        Keep the first ``n_components`` principal directions (largest
        variance first); default all ``d``.

    Returns
    -------
    array
        Shape ``(n, n_components or d)``, dtype, namespace and device of
        ``embeddings``; a copy when ``n < 2``.

    Raises
    ------
    ValueError
        If ``embeddings`` is not 2-D or ``n_components`` is not in ``[1, d]``.
    """
    d = embeddings.shape[-1]
    if n_components is not None and not (isinstance(n_components, int) and 1 <= n_components <= d):
        raise ValueError(f"n_components must be an int in [1, {d}] or None, got {n_components!r}")
    whitened = whiten_rows(embeddings, method="pca")  # columns in decreasing order of variance
    if n_components is None or n_components == d:
        return whitened
    return namespace(whitened).asarray(whitened[:, :n_components], copy=True)


def cosine_similarity(a: Any, b: Any) -> float:
    """Cosine of two vectors (arrays of any shape, flattened); 0.0 if either is zero.

    Returns
    -------
    float
    """
    xp = namespace(a, b)
    a, b = xp.reshape(a, (-1,)), xp.reshape(b, (-1,))
    norms = float(xp.linalg.vector_norm(a)) * float(xp.linalg.vector_norm(b))
    return 0.0 if norms == 0 else float(xp.vecdot(a, b)) / norms


def find_most_similar(
    graph: SparseMatrix, embeddings: Any, query_entity: str, top_k: int = 10, exclude_self: bool = True
) -> list[dict]:
    """The entities most cosine-similar to one (pycleora's ``find_most_similar``).

    Parameters
    ----------
    graph : SparseMatrix
    embeddings : array
        Shape ``(num_entities, d)``, any array-API namespace (searched there).
    query_entity : str
    top_k : int, default 10
    exclude_self : bool, default True
        Leave the query out of the results.

    Returns
    -------
    list of dict
        ``{"entity_id": str, "index": int, "similarity": float}``, most
        similar first, at most ``top_k``.

    Raises
    ------
    ValueError
        If ``query_entity`` is not an entity (``"Entity 'x' not found"``), or
        ``top_k < 1``.
    """
    row = graph.get_entity_index(query_entity)
    indices, scores = cosine_top_k(
        embeddings, embeddings[row : row + 1, :], top_k, exclude=[row] if exclude_self else None
    )
    ids = graph.entity_ids
    return [
        {"entity_id": ids[i], "index": i, "similarity": s}
        for i, s in zip(to_numpy(indices)[0].tolist(), to_numpy(scores)[0].tolist())
    ]


def predict_links(
    graph: SparseMatrix,
    embeddings: Any,
    top_k: int = 10,
    exclude_existing: bool = True,
    source_entities: Sequence[str] | None = None,
) -> list[dict]:
    """The ``top_k`` most cosine-similar pairs that are not edges yet (pycleora's ``predict_links``).

    Parameters
    ----------
    graph : SparseMatrix
    embeddings : array
        Shape ``(num_entities, d)``, any array-API namespace.
    top_k : int, default 10
        Pairs returned in all (each source contributes its best ``top_k``).
    exclude_existing : bool, default True
        Leave out pairs that are edges of ``graph``; a source is never its
        own target.
    source_entities : sequence of str, optional
        Sources to predict from; default every entity.

    Returns
    -------
    list of dict
        ``{"source": str, "target": str, "score": float}``, highest score first
        (equal scores: sources in order, then targets by index).

    Raises
    ------
    ValueError
        On an unknown source entity or ``top_k < 1``.
    """
    sources = list(range(graph.num_entities)) if source_entities is None else graph.get_entity_indices(source_entities)
    matrix = graph.transition("left")
    neighbours = np.diff(matrix.indptr)
    xp, device = namespace(embeddings), array_api_compat.device(embeddings)
    ids, best = graph.entity_ids, []
    for start in range(0, len(sources), _SOURCE_BATCH):
        batch = sources[start : start + _SOURCE_BATCH]
        # A source's top_k non-edges are among its top_k + (number of its edges) rows.
        k = top_k + (int(neighbours[batch].max()) if exclude_existing else 0)
        queries = xp.take(embeddings, xp.asarray(batch, device=device), axis=0)
        indices, scores = cosine_top_k(embeddings, queries, k, exclude=batch)
        for source, targets, values in zip(batch, to_numpy(indices).tolist(), to_numpy(scores).tolist()):
            edges = set(matrix.indices[matrix.indptr[source] : matrix.indptr[source + 1]].tolist()) if exclude_existing else set()
            kept = [(t, v) for t, v in zip(targets, values) if t not in edges][:top_k]
            best.extend({"source": ids[source], "target": ids[t], "score": v} for t, v in kept)
        best = sorted(best, key=lambda link: link["score"], reverse=True)[:top_k]
    return best
