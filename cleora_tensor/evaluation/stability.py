"""Stability: how much entities move when a few input rows are left out."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import numpy as np

from .._xp import to_numpy
from ..lookup import EntityIndex
from ..normalize import normalize_rows
from ..similarity import cosine_top_k
from .ranking import _check_ranking_options
from .scoring import _as_pair
from .splits import _check_fraction

__all__ = ["stability", "subsample"]


def subsample(rows: Iterable[str], *, fraction: float = 0.95, seed: int = 0) -> list[str]:
    """A seeded random subset of the rows, each kept with probability ``fraction``.

    Parameters
    ----------
    rows : iterable of str
        The rows, e.g. ``read_rows(path, columns).lines()``.
    fraction : float, default 0.95
        In ``(0, 1)``.
    seed : int, default 0
        Seed (``numpy.random.default_rng``).

    Returns
    -------
    list of str
        The kept rows, in input order.

    Raises
    ------
    TypeError
        If ``rows`` is a path (read it with :func:`read_rows`).
    ValueError
        If ``fraction`` is out of range.
    """
    if isinstance(rows, (str, os.PathLike)):
        raise TypeError("subsample takes rows, not a path: use read_rows(path, columns).lines()")
    _check_fraction("fraction", fraction)
    lines = list(rows)
    keep = np.random.default_rng(seed).random(len(lines)) < fraction
    return [line for line, k in zip(lines, keep) if k]


def stability(full: Any, part: Any, *, top_k: int = 10) -> dict[str, Any]:
    """How much entities move between two embeddings of overlapping data.

    Cleora's selling point is that an entity's vector depends on its
    neighbourhood only, not on the rest of the data or on the run: embed all
    rows (``full``) and a subsample (``part``, e.g. from :func:`subsample`),
    then compare the entities present in both.

    Parameters
    ----------
    full, part : Embedding or (ids, vectors) pair
        Vectors of any array-API namespace. Embeddings match entities by
        (type, id), pairs by id.
    top_k : int, default 10
        Neighbourhood size of the overlap.

    Returns
    -------
    dict
        ``mean_cosine``: mean over common entities of the cosine between their
        two vectors (1 means unchanged; near 0 means the coordinates are
        unrelated, as for per-run PCA bases); ``neighbour_overlap``: mean
        fraction of an entity's ``top_k`` cosine neighbours (among common
        entities of its type) shared by both embeddings, which does not
        depend on the coordinates; ``entities``: common entities.

    Raises
    ------
    TypeError
        If an argument is neither an Embedding nor a pair.
    ValueError
        If the two have no entity in common, or ``top_k < 1``.
    """
    _check_ranking_options(top_k, None)
    ids_a, types_a, vectors_a = _as_pair(full, "full")
    ids_b, types_b, vectors_b = _as_pair(part, "part")
    typed = types_a is not None and types_b is not None
    in_b = EntityIndex(ids_b, types_b if typed else None).rows(ids_a, types_a)
    rows_a = np.flatnonzero(in_b >= 0)
    if rows_a.size == 0:
        raise ValueError("the two embeddings have no entity in common")
    rows_b = in_b[rows_a]
    a = np.asarray(to_numpy(vectors_a), dtype=np.float32)[rows_a]
    b = np.asarray(to_numpy(vectors_b), dtype=np.float32)[rows_b]
    cosine = (normalize_rows(a) * normalize_rows(b)).sum(axis=1)
    groups = types_a[rows_a] if typed else np.zeros(rows_a.size, dtype=str)
    overlap = np.zeros(rows_a.size)
    for group in np.unique(groups):
        members = np.flatnonzero(groups == group)
        if members.size < 2:
            continue
        own = np.arange(members.size)
        near_a, _ = cosine_top_k(a[members], a[members], top_k, exclude=own)
        near_b, _ = cosine_top_k(b[members], b[members], top_k, exclude=own)
        shared = (near_a[:, :, None] == near_b[:, None, :]).any(axis=2).sum(axis=1)
        overlap[members] = shared / near_a.shape[1]
    return {
        "mean_cosine": float(cosine.mean()),
        "neighbour_overlap": float(overlap.mean()),
        "entities": int(rows_a.size),
    }
