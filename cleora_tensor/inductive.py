"""Embeddings for entities unseen at training time (README, "Views, new entities, features").

An unseen entity's vector is one more propagation step: the Markov-weighted
average of its known neighbours' vectors from the iterate the last step started
from, L2-normalized and passed through the run's last whitening transform — the
same operations that produced the known entities' vectors, so the new vectors
live in the same coordinates. Nothing is re-trained and nothing random happens.
A multi-scale result (``scales``) does this for each scale, from the iterate
that scale's step started from, block by block of ``dim`` columns.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse

from ._xp import device_of, namespace, to_numpy
from .columns import ColumnSpec
from .embedding import Embedding
from .pipeline import read_hypergraph
from .init import initialize
from .lookup import EntityIndex
from .normalize import normalize_rows

__all__ = ["embed_new"]


def embed_new(
    model: Embedding,
    source: Any,
    *,
    columns: str | ColumnSpec | None = None,
    input_format: str | None = None,
    skip_bad_rows: bool = False,
    threads: int | None = None,
) -> Embedding:
    """Vectors for the entities of new rows that ``model`` did not know.

    Parameters
    ----------
    model : Embedding
        A result of :func:`~cleora_tensor.embed` with its :attr:`Embedding.state`
        (kept by default, and saved in ``.npz`` files).
    source : path, list of paths, iterable of lines, or table
        The new rows, read like :func:`~cleora_tensor.embed`'s input.
    columns : str or ColumnSpec, optional
        Column specification of the new rows; default: the model's.
    input_format, skip_bad_rows, threads
        As in :func:`~cleora_tensor.embed`.

    Returns
    -------
    Embedding
        One row per unseen entity of an output (non-transient) type, in order of
        first occurrence in the new rows; ``vectors`` ``(n_new, dim)`` float32 in
        the model's namespace and on its device; ``degrees``: total edge weight to
        *known* entities in the new rows — 0 flags an entity with no known
        neighbour, which gets its deterministic initial vector (normalized and
        whitened like the others); ``occurrences`` counted in the new rows.

    Raises
    ------
    ValueError
        If ``model`` has no state (``keep_state=False``, or a multi-scale run
        stopped early before its last scale), its configuration is missing,
        or ``columns`` names none of the model's entity types.
    ColumnSpecError, InputFormatError, OSError
        From reading the new rows.

    Notes
    -----
    Only edges to known entities count (edges among new entities are ignored:
    one step, no re-training). The residual term of the loop is left out: a new
    entity's previous iterate is unknown (its initial vector is a poor stand-in
    after more than one step: cosine 0.13 to the full run's vectors for the lazy
    walk of a bipartite table), and where the loop settles an entity's vector is
    along its neighbours' average whatever the residual. In pairwise mode, pass the model of one
    relation; its relation is used.
    """
    state, config = model.state, model.config
    if state is None or config is None:
        raise ValueError(
            "the model has no trained state: embed with keep_state=True (the default) and "
            "save as .npz"
        )
    hypergraph = read_hypergraph(
        source, columns or config.columns, input_format=input_format, skip_bad_rows=skip_bad_rows
    )
    known_types = set(state.types.tolist())
    if not known_types.intersection(hypergraph.spec.entity_types):
        raise ValueError(
            f"the column specification {hypergraph.spec.spec!r} shares no entity type with the "
            f"model (types {', '.join(sorted(known_types))}), so no new entity can have a known "
            "neighbour; name the columns with the model's entity types"
        )
    relations = [model.relation] if model.relation else None
    graph = hypergraph.graph(relations, max_cell_size=config.max_cell_size, singletons=config.singletons)
    rows = EntityIndex(state.entity_ids, state.types).rows(graph.entity_ids, graph.types)
    known, new = rows >= 0, np.flatnonzero((rows < 0) & graph.output)

    # W between the new entities and the known ones, its columns numbered as the state's rows.
    weights = graph.adjacency[new][:, np.flatnonzero(known)].tocsr()
    weights = scipy.sparse.csr_array(
        (weights.data, rows[known][weights.indices], weights.indptr), shape=(len(new), len(state.entity_ids))
    )
    start = initialize(
        graph.keys(config.init)[new], config.dim, seed=config.seed, method=config.init, threads=threads
    )
    start = np.tile(start, (1, len(config.scales or (None,))))  # every scale starts from the same vectors
    averaged, degrees = known_neighbour_average(weights, to_numpy(state.previous), start)
    xp = namespace(state.previous)
    averaged = xp.asarray(averaged.astype(np.float32), device=device_of(state.previous))
    vectors = xp.concat(
        [
            normalize_rows(averaged[:, c : c + config.dim], eps=config.eps, threads=threads)
            for c in range(0, averaged.shape[1], config.dim)
        ],
        axis=1,
    )
    if state.whitening is not None:
        vectors = state.whitening.transform(vectors, threads=threads)
    ids = graph.entity_ids
    return Embedding(
        entity_ids=[ids[i] for i in new],
        types=graph.types[new],
        vectors=vectors,
        degrees=degrees,
        occurrences=graph.occurrences[new],
        config=config,
        relation=model.relation,
    )


def known_neighbour_average(
    weights: scipy.sparse.csr_array, previous: np.ndarray, start: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """One left-Markov step restricted to known neighbours: :func:`embed_new`'s step, in float64 on the host.

    Parameters
    ----------
    weights : scipy.sparse.csr_array
        Shape ``(n_new, n_known)``: the weights ``W`` between the new entities
        and the known ones.
    previous : numpy.ndarray
        Shape ``(n_known, d)``, any float dtype: the known entities' iterate;
        only the rows some new entity links to are read (and copied).
    start : numpy.ndarray
        Shape ``(n_new, d)``: the new entities' initial vectors, the result of
        those without a known neighbour.

    Returns
    -------
    averaged : numpy.ndarray
        Shape ``(n_new, d)``, float64: each new entity's degree-weighted mean
        of its known neighbours' rows of ``previous`` (not normalized).
    degrees : numpy.ndarray
        Shape ``(n_new,)``, float64: the weight to known entities (0: none).
    """
    used, columns = np.unique(weights.indices, return_inverse=True)
    links = scipy.sparse.csr_array(
        (weights.data.astype(np.float64), columns.reshape(-1), weights.indptr), shape=(weights.shape[0], len(used))
    )
    degrees = np.asarray(links.sum(axis=1)).ravel()
    averaged = (links @ previous[used].astype(np.float64)) / np.where(degrees > 0, degrees, 1.0)[:, None]
    cold = degrees == 0
    averaged[cold] = start[cold]
    return averaged, degrees
