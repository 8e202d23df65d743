"""Streaming windows: a sequence of embeddings over time, each from its window's
rows, in comparable coordinates without an alignment step.

Every window is embedded with the same configuration and seed, so an entity
starts from the same hash vector in every window (:mod:`cleora_tensor.init`);
what differs is only the rows. Measured on MovieLens-100k in
``benchmarks/temporal_windows.py``.
"""

from __future__ import annotations

import datetime
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .columns import ColumnSpec, parse_columns
from .config import EmbedConfig
from .embedding import Embedding
from .io import TokenTable, read_table
from .pipeline import embed
from .temporal import parse_duration, parse_instant, select_rows

__all__ = ["TimeWindow", "embed_windows", "window_bounds"]

_MAX_WINDOWS = 1_000_000  # window starts one call may consider


class TimeWindow(NamedTuple):
    """One window of :func:`embed_windows`: ``[start, end)`` and its embedding.

    Attributes
    ----------
    start, end : datetime.datetime
        Bounds (UTC); ``start`` inclusive, ``end`` exclusive.
    rows : int
        Input rows in the window.
    embedding : Embedding
        The embedding of those rows alone.
    """

    start: datetime.datetime
    end: datetime.datetime
    rows: int
    embedding: Embedding


def window_bounds(times: np.ndarray, window: float, step: float, since: float | None, until: float | None) -> list[tuple[float, float]]:
    """The ``[start, end)`` bounds (Unix seconds) of the windows over ``times`` that hold a row.

    Starts are ``origin + k * step`` for k = 0, 1, ...: ``origin`` is ``since``,
    or else the first time rounded down to a multiple of ``step`` since the Unix
    epoch (so that daily steps start at midnight UTC). Ends are ``start + window``,
    cut at ``until``. Windows without a row are left out.

    Parameters
    ----------
    times : numpy.ndarray
        Shape ``(n_rows,)`` float64, Unix seconds.
    window, step : float
        Seconds, > 0.
    since, until : float or None
        Unix seconds, or None for no bound.

    Returns
    -------
    list of (float, float)

    Raises
    ------
    ValueError
        If the span holds more than a million steps.
    """
    low = times.min() if since is None else since
    high = times.max() if until is None else until
    origin = np.floor(low / step) * step if since is None else since
    count = int(np.floor((high - origin) / step)) + 1
    if count > _MAX_WINDOWS:
        raise ValueError(f"{count} windows of step {step:g} s over the time span; use a longer step (at most {_MAX_WINDOWS})")
    starts = origin + step * np.arange(max(count, 0))
    ends = starts + window if until is None else np.minimum(starts + window, until)
    ordered = np.sort(times)
    rows = np.searchsorted(ordered, ends, "left") - np.searchsorted(ordered, starts, "left")
    keep = (starts < ends) & (rows > 0)
    return [(float(s), float(e)) for s, e in zip(starts[keep], ends[keep])]


def embed_windows(
    source: Any,
    *,
    columns: str | ColumnSpec,
    window: Any,
    step: Any = None,
    since: Any = None,
    until: Any = None,
    session_gap: Any = None,
    warm: bool = False,
    input_format: str | None = None,
    skip_bad_rows: bool = False,
    progress: bool = False,
    **options: Any,
) -> list[TimeWindow]:
    """Embed each time window of an event log on its own.

    Parameters
    ----------
    source : path, list of paths, iterable or list of lines, or table
        As in :func:`~cleora_tensor.embed`; read once.
    columns : str or ColumnSpec
        Column specification with a ``time::`` column, e.g.
        ``"transient::user item ignore::rating time::ts"``.
    window : str, float or datetime.timedelta
        Length of each window (``"30d"``, ``"1w"``, seconds; see
        :func:`~cleora_tensor.temporal.parse_duration`).
    step : str, float or datetime.timedelta, optional
        Time between window starts; default ``window`` (windows that tile the
        time line). A ``step`` below ``window`` gives overlapping windows.
    since, until : str, float or datetime, optional
        First window start, and the end of the last window (exclusive); rows
        outside ``[since, until)`` are left out. Default: the first window starts
        at the first time rounded down to a multiple of ``step`` since the Unix
        epoch, and windows run past the last time.
    session_gap : optional
        Group each window's rows into sessions (see
        :func:`~cleora_tensor.temporal.group_events`).
    warm : bool, default False
        Start every entity that the previous window output from its vector
        there (``embed(initial=..., feature_weight=1)``), the others from their
        hash vectors: coordinates carry over from window to window instead of
        being re-derived from the hash start. Measured on monthly MovieLens
        windows (``benchmarks/temporal_windows.py``): a genre classifier trained
        on one month keeps more of its accuracy on the next month's vectors.
        Needs single-scale embeddings (no ``scales``), and takes no
        ``initial`` or ``feature_weight`` (the start is the previous window's).
    input_format, skip_bad_rows, progress
        As in :func:`~cleora_tensor.read_table`.
    **options
        Any other keyword of :func:`~cleora_tensor.embed` (``dim``, ``preset``,
        ``iterations``, ``seed``, ``threads``, ``backend``, ...), the same for
        every window; not ``output``, ``relations="pairwise"``, ``window`` or
        ``distributed``.

    Returns
    -------
    list of TimeWindow
        In time order, the windows holding at least one row: ``(start, end,
        rows, embedding)``, each embedding of its window's rows alone (float32
        ``(n_entities, dim)`` vectors of the entities seen in the window).

    Raises
    ------
    ValueError
        Without a ``time::`` column, on a duration or time that does not parse,
        ``since >= until``, an option listed above as not allowed, or
        ``warm`` with ``initial``, ``feature_weight`` or a multi-scale
        configuration, or if no row has a time in ``[since, until)``.
    ColumnSpecError, InputFormatError, OSError
        From reading the input, as :func:`~cleora_tensor.read_table`.

    Notes
    -----
    Coordinates are comparable across windows because every window starts each
    entity from the same seeded hash vector and propagates with the same
    operator family; no rotation or alignment is fitted. The whitening (ZCA by
    default) is fitted per window, so windows of different rows have slightly
    different scales per direction: measured on MovieLens-100k in
    ``benchmarks/temporal_windows.py``. Pycleora's ``embed_streaming`` has no
    windows: it re-embeds everything from random vectors.
    """
    for name in ("output", "window", "distributed") + (("initial", "feature_weight") if warm else ()):
        if name in options:
            raise ValueError(f"embed_windows does not take {name}=")
    if options.get("relations", "joint") != "joint":
        raise ValueError("embed_windows needs joint mode (relations='joint')")
    spec = parse_columns(columns)
    if spec.time_column is None:
        raise ValueError(f"embed_windows needs a 'time::' column in columns, got {spec.spec!r}")
    length = parse_duration(window, "window")
    stride = length if step is None else parse_duration(step, "step")
    low = None if since is None else parse_instant(since, "since")
    high = None if until is None else parse_instant(until, "until")
    if low is not None and high is not None and low >= high:
        raise ValueError(f"since ({since!r}) must be before until ({until!r})")
    if warm and _multi_scale(spec, options):
        raise ValueError("warm=True needs single-scale embeddings; pass scales=None (not the retrieval preset)")
    table = read_table(source, spec, input_format=input_format, skip_bad_rows=skip_bad_rows, progress=progress)
    bounds = window_bounds(table.times, length, stride, low, high)
    if not bounds:
        raise ValueError(f"no row has a time in [since, until) = [{since!r}, {until!r})")
    # Rows in time order once: each window is a slice of it (stable: input order within a time).
    order = np.argsort(table.times, kind="stable")
    ordered = table.times[order]
    windows: list[TimeWindow] = []
    for start, end in bounds:
        rows = np.sort(order[np.searchsorted(ordered, start, "left") : np.searchsorted(ordered, end, "left")])
        part = select_rows(table, rows)
        if warm and windows:
            options = {**options, "initial": _start_from(windows[-1].embedding, part), "feature_weight": 1.0}
        embedding = embed(part, columns=spec.spec, session_gap=session_gap, progress=progress, **options)
        windows.append(TimeWindow(_utc(start), _utc(end), len(rows), embedding))
    return windows


def _multi_scale(spec: ColumnSpec, options: dict[str, Any]) -> bool:
    """Whether ``embed(**options)`` would give a multi-scale embedding."""
    preset = options.get("preset", "classification")
    return bool(EmbedConfig.from_preset(preset, columns=spec.spec, scales=options.get("scales")).scales)


def _start_from(previous: Embedding, window: TokenTable) -> dict[tuple[str, str], Any] | None:
    """The previous window's vectors of the entities in ``window``'s rows, keyed by (type, id) (None: no such entity)."""
    types, ids = np.asarray(previous.types), pa.array(previous.entity_ids, pa.string())
    seen = np.zeros(len(previous), dtype=bool)
    for index, ragged in window.entities.items():
        present = pc.is_in(ids, value_set=pc.unique(ragged.values).cast(pa.string()))
        seen |= (types == window.spec.columns[index].type) & present.to_numpy(zero_copy_only=False)
    vectors = previous.to_numpy().vectors
    return {(str(types[k]), previous.entity_ids[k]): vectors[k] for k in np.flatnonzero(seen)} or None


def _utc(seconds: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(float(seconds), datetime.timezone.utc)
