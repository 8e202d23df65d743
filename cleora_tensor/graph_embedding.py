"""Embed one graph: transition matrix, initial vectors, the loop, the :class:`Embedding`.

The second half of the data flow (input -> hypergraph -> **graph -> transition
matrix -> backend -> loop -> Embedding**); :mod:`cleora_tensor.pipeline` does
the first half and calls :func:`embed_chosen` for each graph.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ._xp import namespace
from .attention import propagate_with_attention
from .backends import Backend
from .config import EmbedConfig
from .embedding import Embedding, TrainedState
from .features import array_or_none, initial_vectors
from .hypergraph import Graph
from .markov import transition_matrix
from .outofcore_embed import plan_slices
from .periodicity import resolve_residual
from .propagation import propagate_config
from .runtime import Runtime
from .whitening import Whitening

__all__ = ["embed_chosen", "embed_graph"]

def embed_graph(
    graph: Graph,
    config: EmbedConfig,
    *,
    initial: Any = None,
    threads: int | None = None,
    backend: str | None = None,
    device: Any = None,
    keep_state: bool = True,
    progress: bool = False,
) -> Embedding:
    """Embed one :class:`~cleora_tensor.hypergraph.Graph` as configured.

    Parameters
    ----------
    graph : Graph
        From :meth:`Hypergraph.graph`.
    config : EmbedConfig
        Its ``feature_weight`` mixes ``initial``; its ``features`` is replaced
        by the count of entities given a feature.
    initial, threads, backend, device, keep_state, progress
        As in :func:`embed`.

    Returns
    -------
    Embedding
        The graph's output (non-transient) entities; its ``config`` records
        how many entities started from features.

    Raises
    ------
    BackendUnavailableError
        If the backend's package is not installed.
    InsufficientMemoryError
        If propagating ``graph`` is predicted not to fit in the memory
        available (CPU backends); the message names the ``dim`` that would fit.
    ValueError
        On an invalid ``threads`` or ``backend`` (see
        :class:`~cleora_tensor.runtime.Runtime`), an unavailable device, a
        ``backend`` that conflicts with ``initial``, or if ``initial`` has the
        wrong shape, holds a NaN or an infinity, or is a mapping none of whose
        keys is an entity of the graph.
    """
    runtime = Runtime(threads=threads, backend=backend, device=device, progress=progress, keep_state=keep_state)
    chosen = runtime.select(like=array_or_none(initial))
    plan_slices(graph, config, runtime, chosen, initial=initial is not None, output=None)
    return embed_chosen(graph, config, initial, runtime, chosen)


def embed_chosen(graph: Graph, config: EmbedConfig, initial: Any, runtime: Runtime, chosen: Backend) -> Embedding:
    """:func:`embed_graph` with its options validated and its backend ``chosen`` (by ``runtime``).

    What :func:`~cleora_tensor.embed` calls for each graph it plans to embed in memory.

    Parameters
    ----------
    graph : Graph
    config : EmbedConfig
        ``residual=None`` is decided here for ``graph``
        (:func:`~cleora_tensor.periodicity.resolve_residual`).
    initial : array, mapping or None
        As in :func:`~cleora_tensor.embed`.
    runtime : Runtime
        Validated threads, progress and ``keep_state``.
    chosen : Backend
        From ``runtime.select``.

    Returns
    -------
    Embedding
        The output entities' vectors, ``(n_output, dim * len(scales or [1]))``
        float32 in ``chosen``'s namespace and device, with the configuration
        used and (with ``keep_state``) the trained state holding the graph.

    Raises
    ------
    ValueError
        As :func:`embed_graph`.
    """
    config = resolve_residual(config, graph)
    matrix = transition_matrix(graph, config.propagation, direction=config.directed)
    x, featured = initial_vectors(graph, config, initial, runtime.threads, chosen)
    config = dataclasses.replace(config, features=featured)
    output = graph.output
    # Whiten with the statistics of the entities that are output: in a star
    # expansion the transient side of the bipartite graph would dominate.
    fit_rows = None if output.all() else chosen.xp.asarray(np.flatnonzero(output), device=chosen.device)
    if config.attention is not None:
        result = propagate_with_attention(
            matrix, x, config, temperature=config.attention, backend=chosen, threads=runtime.threads,
            whiten_rows=fit_rows, overwrite_x=x is not initial, progress=runtime.progress,
        )
    else:
        result = propagate_config(
            chosen.operator(matrix, threads=runtime.threads),
            x,
            config,
            threads=runtime.threads,
            kernels=chosen.kernels(runtime.threads),
            whiten_rows=fit_rows,
            overwrite_x=x is not initial,
            keep_snapshot_inputs=runtime.keep_state and bool(config.scales),
            progress=runtime.progress,
        )
    xp = namespace(result.vectors)
    vectors = xp.concat(result.snapshots, axis=1) if config.scales else result.vectors
    if fit_rows is not None:
        vectors = xp.take(vectors, fit_rows, axis=0)
    ids = graph.entity_ids
    state = None
    if runtime.keep_state and result.snapshot_states and len(result.snapshots) == len(config.scales):
        # The scales side by side: one state whose blocks of dim columns are the scales'.
        inputs, whitenings = zip(*result.snapshot_states)
        joint = None if whitenings[0] is None else Whitening.block_diagonal(list(whitenings))
        state = TrainedState(ids, graph.types, xp.concat(inputs, axis=1), joint)
    elif runtime.keep_state and result.previous is not None and not config.scales:
        # The graph, for update (which re-propagates the plain undirected walk only).
        plain = config.attention is None and config.directed is None
        state = TrainedState(ids, graph.types, result.previous, result.whitening, adjacency=graph.adjacency if plain else None)
    return Embedding(
        entity_ids=[i for i, keep in zip(ids, output) if keep] if not output.all() else ids,
        types=graph.types[output],
        vectors=vectors,
        degrees=graph.degrees[output],
        occurrences=graph.occurrences[output],
        config=config,
        relation=graph.name,
        state=state,
    )
