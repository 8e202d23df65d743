"""pycleora's scikit-learn style ``CleoraEmbedder``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..lookup import EntityIndex
from ._pycleora_embed import DEFAULT_FEATURE_DIM, DEFAULT_NUM_ITERATIONS, embed
from ._pycleora_graph import SparseMatrix

__all__ = ["CleoraEmbedder"]


class CleoraEmbedder:
    """pycleora's scikit-learn style estimator: :meth:`fit` lines, :meth:`transform` to vectors.

    Parameters are those of :meth:`SparseMatrix.from_iterator` and :func:`embed`
    (``columns`` defaults to ``"complex::reflexive::node"``).

    Attributes
    ----------
    graph_ : SparseMatrix
    embeddings_ : numpy.ndarray
        ``(num_entities, feature_dim)`` float32 after :meth:`fit`.
    entity_ids_ : list of str
    """

    def __init__(
        self,
        feature_dim: int = DEFAULT_FEATURE_DIM,
        num_iterations: int = DEFAULT_NUM_ITERATIONS,
        propagation: str = "left",
        normalization: str = "l2",
        columns: str = "complex::reflexive::node",
        seed: int = 0,
        hyperedge_trim_n: int = 16,
        num_workers: int | None = None,
        whiten: bool = True,
    ) -> None:
        self.feature_dim, self.num_iterations, self.propagation = feature_dim, num_iterations, propagation
        self.normalization, self.columns, self.seed = normalization, columns, seed
        self.hyperedge_trim_n, self.num_workers, self.whiten = hyperedge_trim_n, num_workers, whiten
        self.graph_ = self.embeddings_ = self.entity_ids_ = None

    def fit(self, edges: Sequence[str], y: Any = None) -> CleoraEmbedder:
        """Build the graph of ``edges`` (lines) and embed it; returns ``self``."""
        self.graph_ = SparseMatrix.from_iterator(edges, self.columns, self.hyperedge_trim_n, self.num_workers)
        self.embeddings_ = embed(
            self.graph_, self.feature_dim, self.num_iterations, self.propagation, self.normalization, self.seed,
            num_workers=self.num_workers, whiten=self.whiten,
        )
        self.entity_ids_ = list(self.graph_.entity_ids)
        return self

    def transform(self, edges: Sequence[str] | None = None) -> np.ndarray:
        """All vectors, or those of the known entities of ``edges`` in order of first appearance.

        Raises
        ------
        RuntimeError
            Before :meth:`fit`.
        ValueError
            If no entity of ``edges`` is known.
        """
        if self.embeddings_ is None:
            raise RuntimeError("Call fit() before transform()")
        if edges is None:
            return self.embeddings_
        wanted = list(dict.fromkeys(token for edge in edges for token in edge.split()))
        rows = EntityIndex(self.entity_ids_).rows(wanted)
        rows = rows[rows >= 0]
        if not len(rows):
            raise ValueError("None of the entities in edges were found in the fitted graph")
        return self.embeddings_[rows]

    def fit_transform(self, edges: Sequence[str], y: Any = None) -> np.ndarray:
        """:meth:`fit`, then all vectors."""
        return self.fit(edges, y).transform()

    def get_params(self, deep: bool = True) -> dict:
        """The constructor's parameters by name."""
        names = ("feature_dim", "num_iterations", "propagation", "normalization", "columns", "seed",
                 "hyperedge_trim_n", "num_workers", "whiten")
        return {name: getattr(self, name) for name in names}

    def set_params(self, **params: Any) -> CleoraEmbedder:
        """Set constructor parameters; returns ``self``.

        Raises
        ------
        ValueError
            On an unknown parameter.
        """
        for key, value in params.items():
            if key not in self.get_params():
                raise ValueError(f"Invalid parameter: {key}")
            setattr(self, key, value)
        return self
