"""The plain fields that the writers take and the readers return.

:class:`~cleora_tensor.Embedding` builds itself from :class:`EmbeddingFields`
(:meth:`Embedding.load <cleora_tensor.Embedding.load>`) and is taken apart into
them for writing (:meth:`EmbeddingFields.of`), so the format modules never need
the :class:`~cleora_tensor.Embedding` class.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..config import EmbedConfig
from ..whitening import Whitening

__all__ = ["EmbeddingFields", "StateFields"]


@dataclass(frozen=True, eq=False)
class StateFields:
    """The fields of a :class:`~cleora_tensor.TrainedState`, as stored in ``.npz`` files.

    Attributes
    ----------
    entity_ids : list of str, length m
    types : numpy.ndarray, shape (m,), str dtype
    previous : array, shape (m, d), float32
        NumPy when read; any namespace when written (copied to the host then).
    whitening : Whitening or None
    """

    entity_ids: list[str]
    types: np.ndarray
    previous: Any
    whitening: Whitening | None


@dataclass(frozen=True, eq=False)
class EmbeddingFields:
    """The fields of an :class:`~cleora_tensor.Embedding`, with NumPy arrays.

    Attributes
    ----------
    entity_ids, types, vectors, degrees, occurrences, config, relation
        As the :class:`~cleora_tensor.Embedding` parameters of the same names;
        ``vectors`` is a NumPy array.
    state : StateFields or None
        The trained state, kept only by ``.npz`` files.
    line_of_row : callable or None
        For a text file read: data row -> 1-based line, for error messages
        about a row; None otherwise.
    """

    entity_ids: list[str]
    types: np.ndarray
    vectors: np.ndarray
    degrees: np.ndarray
    occurrences: np.ndarray
    config: EmbedConfig | None = None
    relation: str | None = None
    state: StateFields | None = None
    line_of_row: Callable[[int], int] | None = None

    @classmethod
    def of(cls, embedding: Any) -> EmbeddingFields:
        """The fields of ``embedding`` (an :class:`~cleora_tensor.Embedding`), copied to the host."""
        embedding = embedding.to_numpy()
        state = embedding.state
        return cls(
            entity_ids=embedding.entity_ids,
            types=embedding.types,
            vectors=embedding.vectors,
            degrees=embedding.degrees,
            occurrences=embedding.occurrences,
            config=embedding.config,
            relation=embedding.relation,
            state=None
            if state is None
            else StateFields(state.entity_ids, state.types, state.previous, state.whitening),
        )
