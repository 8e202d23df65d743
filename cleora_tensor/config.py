"""The configuration of an embedding run, saved next to every output."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any

from .columns import parse_columns

__all__ = ["EmbedConfig"]

_CHOICES = {
    "relations": ("joint", "pairwise"),
    "propagation": ("left", "symmetric"),
    "whiten": ("pca", "zca", "none"),
    "init": ("hash", "pycleora"),
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
    residual : float, default 0.0
        Weight ``r`` of the previous iterate: ``Y = (1 - r) P E + r E``.
    tol : float or None, default None
        Stop early when the RMS change of the embedding falls below ``tol``.
    seed : int, default 0
        Seed of the deterministic initialization, in ``[0, 2**63)``.
    init : {"hash", "pycleora"}, default "hash"
        Initializer; ``"pycleora"`` reproduces pycleora 3.2.1 bit for bit.
    max_cell_size : int or None, default 1024
        Clique guard: in a relation between two complex columns (including a
        reflexive one) a cell keeps only its first ``max_cell_size`` ids, and the
        truncation is reported. ``None`` disables the guard.
    eps : float, default 1e-10
        Floor for row norms and whitening eigenvalues (pycleora's value).
    scales : tuple of int, optional
        Multi-scale output: the vectors after each of these steps (at most
        ``iterations``; sorted, duplicates dropped), concatenated in that order
        (pycleora's ``embed_multiscale``).

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
    residual: float = 0.0
    tol: float | None = None
    seed: int = 0
    init: str = "hash"
    max_cell_size: int | None = 1024
    eps: float = 1e-10
    scales: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "columns", parse_columns(self.columns).spec)
        for name, choices in _CHOICES.items():
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
        if not 0.0 <= self.residual < 1.0:
            raise ValueError(f"residual must be in [0, 1), got {self.residual!r}")
        if self.tol is not None and not self.tol > 0:
            raise ValueError(f"tol must be positive or None, got {self.tol!r}")
        if not self.eps > 0:
            raise ValueError(f"eps must be positive, got {self.eps!r}")
        if self.scales is not None:
            object.__setattr__(self, "scales", tuple(sorted(set(self.scales))))
            if not self.scales:
                raise ValueError("scales must be None or a non-empty sequence of steps")
            for step in self.scales:
                _check_int("scales", step, 1, self.iterations)

    def to_json(self) -> str:
        """Serialize to a JSON object string (keys are the field names)."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> EmbedConfig:
        """Rebuild from :meth:`to_json` output; unknown keys are ignored.

        Raises
        ------
        ValueError
            If the text is not a JSON object or a value is invalid.
        """
        data: Any = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("configuration JSON must be an object")
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def _check_int(name: str, value: object, low: int, high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an int, got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be {bound}, got {value}")
