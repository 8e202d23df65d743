"""The configuration of an embedding run, saved next to every output."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any

from .columns import parse_columns

__all__ = ["CHOICES", "PRESETS", "EmbedConfig"]

#: The allowed values of the :class:`EmbedConfig` fields that name a choice, used
#: by the validation here and by the command line's ``choices``.
CHOICES = {
    "relations": ("joint", "pairwise"),
    "propagation": ("left", "symmetric"),
    "whiten": ("pca", "zca", "none"),
    "init": ("hash", "pycleora"),
    "singletons": ("drop", "keep"),
}


@dataclass(frozen=True)
class EmbedConfig:
    """How an embedding was (or will be) computed.

    Every :class:`~cleora_tensor.Embedding` carries one; it is written into
    ``.npz`` and Parquet outputs and beside text outputs (``PATH.json``), so a
    result says how it was made.

    Parameters
    ----------
    columns : str
        Column specification (see :func:`~cleora_tensor.parse_columns`).
    dim : int, default 256
        Embedding dimension (pycleora 3.2.1's default).
    iterations : int, default 15
        Number of propagation steps (pycleora 3.2.1: 40; 15 measured better,
        see the README's "Defaults").
    relations : {"joint", "pairwise"}, default "joint"
        One graph summing all relations, or one graph (and embedding) per
        relation as in Cleora 1.x.
    propagation : {"left", "symmetric"}, default "left"
        Transition matrix: random walk ``D^-1 W`` (pycleora's default) or
        ``D^-1/2 W D^-1/2``.
    whiten : {"pca", "zca", "none"}, default "zca"
        Whitening method; PCA mirrors pycleora 3.2.1's ``whiten=True``. ZCA keeps
        the coordinates of the deterministic initialization, so embeddings of
        related data stay comparable dimension by dimension.
    whiten_each_step : bool, default False
        Whiten after every step, as pycleora 3.2.1 does, instead of once at the
        end.
    whiten_floor : float, default 0.1
        Relative eigenvalue floor of the whitening, in ``[0, 1]`` (pycleora: 0).
    residual : float or None, default None
        Weight ``r`` of the previous iterate, in ``[0, 1)``:
        ``Y = (1 - r) P E + r E``. None decides per graph
        (:func:`~cleora_tensor.periodicity.resolve_residual`): 0, except on a
        graph that is bipartite by entity type (``user item``,
        ``transient::session item``) with early stopping on, where the plain
        walk alternates between the two sides and never settles: there it is
        0.5, the lazy walk ``(I + P) / 2``, and ``tol`` is halved to measure the
        same change. The resulting :class:`~cleora_tensor.Embedding` records
        the values used.
    tol : float or None, default 0.32
        Stop early when the root-mean-square, over entities, of the L2 change of
        an entity's (unit) vector in one step falls below ``tol``; None or 0
        disables it. Dimension-free: pycleora's ``convergence_threshold`` ``c``
        (an RMS over single coordinates) is ``tol = c * sqrt(dim)``. 0.32 stops
        dense, fast-mixing graphs after 3-4 steps, before they over-smooth, and
        leaves sparse graphs (cora, citeseer) at ``iterations`` (README, "Defaults,
        and the evidence for them").
    seed : int, default 0
        Seed of the deterministic initialization, in ``[0, 2**63)``.
    init : {"hash", "pycleora"}, default "hash"
        Initializer; ``"pycleora"`` reproduces pycleora 3.2.1 bit for bit.
    max_cell_size : int or None, default 1024
        Clique guard: in a relation between two complex columns (including a
        reflexive one) a cell keeps only its first ``max_cell_size`` ids, and the
        truncation is reported. ``None`` disables the guard.
    singletons : {"drop", "keep"}, default "drop"
        Hyperedges that relate one entity to nothing (a one-item session or
        basket): left out of the graph, or expanded into self-loops as pycleora
        3.2.1 does. See :meth:`~cleora_tensor.Hypergraph.graph`.
    eps : float, default 1e-10
        Floor for row norms and whitening eigenvalues (pycleora's value).
    scales : tuple of int, optional
        Multi-scale output: the vectors after each of these steps (at most
        ``iterations``; sorted, duplicates dropped), concatenated in that order
        (pycleora's ``embed_multiscale``; the retrieval preset's ``(1, 2)``).
    attention : float or None, default None
        Attention-weighted propagation (pycleora's ``embed_with_attention``) at
        this softmax temperature (pycleora: 1.0): after one plain step, each
        step reweights an entity's neighbours by a softmax of the cosines
        between their vectors (:func:`~cleora_tensor.attention.propagate_with_attention`).
        None: off. About 2x the time and memory of a plain run, with no measured
        gain on the project's data (README, "Attention and directed graphs").
    directed : {None, "out", "in"}, default None
        Walk along the arcs instead of the undirected graph (pycleora's
        ``embed_directed`` is ``"out"``): an arc goes from a relation's left
        column to its right column, and in a ``complex::reflexive`` column from
        each id to the ids after it; ``"out"`` averages an entity's successors,
        ``"in"`` its predecessors (see :func:`~cleora_tensor.transition_matrix`).
        Needs ``propagation="left"``.
    feature_weight : float, default 1.0
        In ``[0, 1]``: an entity with a feature (``embed(initial=...)``) starts
        from ``(1 - feature_weight) * hash_init + feature_weight * feature``.
    features : int, default 0
        Entities whose start vector came from features (0: hash
        initialization only), so that a saved result says that its vectors
        depend on features. A record, not an option: :func:`~cleora_tensor.embed`
        and :func:`~cleora_tensor.embed_graph` replace any value passed in.

    Raises
    ------
    ValueError
        If a parameter is out of range; the message names the parameter.
    """

    columns: str
    dim: int = 256
    iterations: int = 15
    relations: str = "joint"
    propagation: str = "left"
    whiten: str = "zca"
    whiten_each_step: bool = False
    whiten_floor: float = 0.1
    residual: float | None = None
    tol: float | None = 0.32
    seed: int = 0
    init: str = "hash"
    max_cell_size: int | None = 1024
    singletons: str = "drop"
    eps: float = 1e-10
    scales: tuple[int, ...] | None = None
    attention: float | None = None
    directed: str | None = None
    feature_weight: float = 1.0
    features: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "columns", parse_columns(self.columns).spec)
        for name, choices in CHOICES.items():
            value = getattr(self, name)
            if value not in choices:
                raise ValueError(f"{name} must be one of {choices}, got {value!r}")
        _check_int("dim", self.dim, 1)
        _check_int("iterations", self.iterations, 0)
        _check_int("seed", self.seed, 0, 2**63 - 1)
        if self.max_cell_size is not None:
            _check_int("max_cell_size", self.max_cell_size, 1)
        if not 0.0 <= self.whiten_floor <= 1.0:
            raise ValueError(f"whiten_floor must be in [0, 1], got {self.whiten_floor!r}")
        if not isinstance(self.whiten_each_step, bool):
            raise ValueError(f"whiten_each_step must be a bool, got {self.whiten_each_step!r}")
        if self.residual is not None and not 0.0 <= self.residual < 1.0:
            raise ValueError(f"residual must be in [0, 1), got {self.residual!r}")
        if self.tol == 0:
            object.__setattr__(self, "tol", None)
        if self.tol is not None and not self.tol > 0:
            raise ValueError(f"tol must be positive, 0 or None, got {self.tol!r}")
        if not self.eps > 0:
            raise ValueError(f"eps must be positive, got {self.eps!r}")
        if not 0.0 <= self.feature_weight <= 1.0:
            raise ValueError(f"feature_weight must be in [0, 1], got {self.feature_weight!r}")
        _check_int("features", self.features, 0)
        if self.attention is not None and (isinstance(self.attention, bool) or not self.attention > 0):
            raise ValueError(f"attention must be a positive temperature or None, got {self.attention!r}")
        if self.attention is not None and self.scales:
            raise ValueError("attention takes no scales (multi-scale snapshots); pass scales=None")
        if self.directed not in (None, "out", "in"):
            raise ValueError(f"directed must be None, 'out' or 'in', got {self.directed!r}")
        if self.directed is not None and self.propagation != "left":
            raise ValueError("directed needs propagation='left' (a walk along arcs has no symmetric normalization)")
        if self.scales is not None:
            object.__setattr__(self, "scales", tuple(sorted(set(self.scales))))
            if not self.scales:
                raise ValueError("scales must be None or a non-empty sequence of steps")
            for step in self.scales:
                _check_int("scales", step, 1, self.iterations)

    @classmethod
    def from_preset(cls, preset: str = "classification", /, **fields: Any) -> EmbedConfig:
        """A configuration from a named preset, with fields that are not None overriding it.

        Parameters
        ----------
        preset : {"classification", "retrieval", "pycleora"}, default "classification"
            See :data:`PRESETS`.
        **fields
            Any :class:`EmbedConfig` field; ``columns`` is required. For a field
            that a preset sets (``dim, iterations, whiten, whiten_each_step,
            whiten_floor, tol, init, singletons, scales, residual``) None means "the preset's value" (pass
            ``tol=0`` to disable early stopping); other fields take None as
            given (``max_cell_size=None`` disables the clique guard).

        Returns
        -------
        EmbedConfig
            ``PRESETS[preset]`` updated with ``fields`` (less the preset fields
            given as None).

        Raises
        ------
        ValueError
            On an unknown preset or an invalid field value.
        """
        if preset not in PRESETS:
            raise ValueError(f"preset must be one of {', '.join(PRESETS)}, got {preset!r}")
        given = {k: v for k, v in fields.items() if v is not None or k not in _PRESET_FIELDS}
        return cls(**{**PRESETS[preset], **given})

    def to_json(self) -> str:
        """Serialize to a JSON object string (keys are the field names)."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> EmbedConfig:
        """Rebuild from :meth:`to_json` output; unknown keys are ignored.

        A configuration without ``singletons`` was written before that field
        existed, when every graph kept them: it reads as ``"keep"``.

        Raises
        ------
        ValueError
            If the text is not a JSON object or a value is invalid.
        """
        data: Any = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("configuration JSON must be an object")
        names = {f.name for f in fields(cls)}
        return cls(**{"singletons": "keep", **{k: v for k, v in data.items() if k in names}})


#: Named starting points for :meth:`EmbedConfig.from_preset` and ``embed(preset=...)``,
#: chosen on the project's evaluation data sets (README, "Defaults"):
#:
#: - ``"classification"``: the field defaults — ZCA whitening once at the end with
#:   eigenvalues floored at 10 % of the largest, up to 15 steps, early stop at
#:   ``tol=0.32``. Best node classification and stable embeddings.
#: - ``"retrieval"``: the vectors after one and after two steps side by side
#:   (``scales=(1, 2)``, ``dim=512`` each: 1024 columns), ZCA at floor 0.1, no
#:   early stop. A cosine of the pair is the mean of the two scales' cosines:
#:   the first step carries direct co-occurrence (dense data: MovieLens, where
#:   further steps over-smooth), the second shared neighbours (sparse graphs:
#:   cora links), so no step has to be chosen per data set. For ranking
#:   items/links, with :meth:`Embedding.complete`'s popularity prior.
#: - ``"pycleora"``: pycleora 3.2.1's ``embed`` defaults — 40 steps, PCA whitening
#:   after every step, its initializer, no early stop, one-item hyperedges kept,
#:   the plain walk on every graph (``residual=0``).
PRESETS: dict[str, dict[str, Any]] = {
    "classification": {},
    "retrieval": {"dim": 512, "iterations": 2, "scales": (1, 2), "whiten": "zca", "whiten_floor": 0.1, "tol": None},
    "pycleora": {
        "iterations": 40,
        "whiten": "pca",
        "whiten_each_step": True,
        "whiten_floor": 0.0,
        "tol": None,
        "init": "pycleora",
        "singletons": "keep",
        "residual": 0.0,
    },
}

#: The fields that some preset sets: the ones where ``from_preset`` reads None as "the preset's value".
_PRESET_FIELDS = frozenset(name for values in PRESETS.values() for name in values)


def _check_int(name: str, value: object, low: int, high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an int, got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be {bound}, got {value}")
