"""The plain fields that the writers take and the readers return.

:class:`~cleora_tensor.Embedding` builds itself from :class:`EmbeddingFields`
(:meth:`Embedding.load <cleora_tensor.Embedding.load>`) and is taken apart into
them for writing (:meth:`EmbeddingFields.of`), so the format modules never need
the :class:`~cleora_tensor.Embedding` class.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from ..config import EmbedConfig
from ..state import TrainedState

__all__ = ["EmbeddingFields"]


@dataclass(frozen=True, eq=False)
class EmbeddingFields:
    """The fields of an :class:`~cleora_tensor.Embedding`, with NumPy arrays.

    Attributes
    ----------
    entity_ids, types, vectors, degrees, occurrences, config, relation
        As the :class:`~cleora_tensor.Embedding` parameters of the same names;
        ``vectors`` is a NumPy array.
    state : TrainedState or None
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
    state: TrainedState | None = None
    line_of_row: Callable[[int], int] | None = None

    @classmethod
    def of(cls, embedding: Any) -> EmbeddingFields:
        """The fields of ``embedding`` (an :class:`~cleora_tensor.Embedding`), vectors copied to the host."""
        embedding = embedding.to_numpy()
        return cls(**{name: getattr(embedding, name) for name in _EMBEDDING_ARGUMENTS})

    def embedding_arguments(self) -> dict[str, Any]:
        """The keyword arguments of :class:`~cleora_tensor.Embedding` (all fields but ``line_of_row``)."""
        return {name: getattr(self, name) for name in _EMBEDDING_ARGUMENTS}


_EMBEDDING_ARGUMENTS = tuple(f.name for f in fields(EmbeddingFields) if f.name != "line_of_row")
