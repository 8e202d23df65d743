"""The state a finished run keeps for embedding new entities inductively."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .whitening import Whitening

__all__ = ["TrainedState"]


@dataclass(frozen=True, eq=False)
class TrainedState:
    """What embedding new entities inductively needs from a finished run.

    Kept on :attr:`Embedding.state` by :func:`~cleora_tensor.embed` and saved in
    ``.npz`` files; used by :func:`~cleora_tensor.embed_new` (README, "Views, new entities, features").

    Attributes
    ----------
    entity_ids : list of str, length m
        Every entity of the graph, transient ones included (new entities may be
        linked to them).
    types : numpy.ndarray, shape (m,), str dtype
        Their entity types.
    previous : array, shape (m, d), float32
        The iterate the last propagation step started from
        (:attr:`Propagation.previous`).
    whitening : Whitening or None
        The last whitening transform, None without whitening.
    adjacency : scipy.sparse.csr_array or None, default None
        Shape ``(m, m)``, float32: the graph's weights ``W`` over these
        entities (:attr:`Graph.adjacency`), what :func:`~cleora_tensor.update`
        needs to add and remove rows and re-propagate. None in states from
        before it was kept (``.npz`` files without ``state_adjacency_*``);
        costs ``8 * nnz + 4 * (m + 1)`` bytes (int32 indices), saved in
        ``.npz`` files.
    """

    entity_ids: list[str]
    types: np.ndarray
    previous: Any
    whitening: Whitening | None
    adjacency: Any = None
