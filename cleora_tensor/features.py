"""The start of propagation: hash initialization, entity features, or their mix."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ._xp import to_numpy
from .backends import Backend
from .config import EmbedConfig
from .finite import first_nonfinite
from .hypergraph import Graph
from .init import initialize

__all__ = ["array_or_none", "initial_vectors"]


def initial_vectors(
    graph: Graph, config: EmbedConfig, initial: Any, threads: int | None, backend: Backend
) -> tuple[Any, int]:
    """The start of propagation and the number of entities that got a feature.

    Parameters
    ----------
    graph : Graph
    config : EmbedConfig
        Its ``dim``, ``seed``, ``init`` and ``feature_weight``.
    initial : array, mapping or None
        Features: an array ``(graph.num_entities, dim)``, or a mapping from id
        (or ``(type, id)``) to a vector of length ``dim``.
    threads : int or None
        Worker threads of the hash initialization.
    backend : Backend
        The namespace and device of the result.

    Returns
    -------
    (array, int)
        float32 ``(n, dim)`` of ``backend``: the hash initialization,
        ``(1 - w) * hash + w * feature`` for entities with a feature (``w`` the
        ``feature_weight``); and how many entities had one.

    Raises
    ------
    ValueError
        If the features have the wrong shape, hold a NaN or an infinity (the
        message names the first such entity), or no key of a mapping is an
        entity of the graph.
    """
    feature_weight = config.feature_weight
    n, dim = graph.num_entities, config.dim
    array = array_or_none(initial)
    if array is not None and tuple(array.shape) != (n, dim):
        raise ValueError(f"initial must have shape {(n, dim)}, got {tuple(array.shape)}")
    # has: None for an array (every entity has a feature), else a 0/1 mask.
    features = has = None
    if initial is not None and feature_weight > 0.0:
        features, has = (array, None) if array is not None else _features_from_mapping(graph, initial, dim)
        nonfinite = first_nonfinite(features)
        if nonfinite is not None:
            row, column = nonfinite
            raise ValueError(
                f"initial: the feature of entity {graph.entity_ids[row]!r} (type {str(graph.types[row])!r}) "
                f"holds {float(features[row, column])} at index {column}; features must be finite"
            )
        if has is None and feature_weight == 1.0:
            return backend.asarray(array), n
    hashed = initialize(
        graph.keys(config.init), dim, seed=config.seed, method=config.init,
        threads=threads, xp=backend.xp, device=backend.device,
    )
    if features is None:
        return hashed, 0
    if has is None:
        return (1.0 - feature_weight) * hashed + feature_weight * backend.asarray(array), n
    weight = backend.asarray(has[:, None] * feature_weight)
    return hashed + weight * (backend.asarray(features) - hashed), int(has.sum())


def array_or_none(initial: Any) -> Any:
    """``initial`` if it is an array (it then selects the backend), None for None or a mapping."""
    return None if isinstance(initial, Mapping) else initial


def _features_from_mapping(graph: Graph, initial: Mapping, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Host ``(n, dim)`` float32 features and an ``(n,)`` float32 0/1 mask."""
    features = np.zeros((graph.num_entities, dim), dtype=np.float32)
    has = np.zeros(graph.num_entities, dtype=np.float32)
    for row, (entity, type_) in enumerate(zip(graph.entity_ids, graph.types)):
        vector = initial.get((str(type_), entity), initial.get(entity))
        if vector is None:
            continue
        vector = np.asarray(to_numpy(vector), dtype=np.float32).reshape(-1)
        if vector.shape != (dim,):
            raise ValueError(f"the feature of {entity!r} has length {vector.shape[0]}, expected dim={dim}")
        features[row], has[row] = vector, 1.0
    if not has.any():
        raise ValueError("initial: no key of the mapping is an entity of the graph")
    return features, has
