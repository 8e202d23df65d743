"""Event logs with time: rows filtered by time and grouped into hyperedges by
fixed windows or by sessions, before the hypergraph is built.

A table read with a ``time::`` column (:func:`~cleora_tensor.io.read_table`)
holds one time per row. :func:`group_events` keeps the rows in
``[since, until)`` and rewrites the ids of the context column (the one
``transient::`` column, e.g. the user of ``transient::user item time::ts``) into
ids of groups, so that each group of a context's rows becomes one hyperedge:

* ``window``: fixed windows aligned on the Unix epoch, ``[k w, (k + 1) w)``
  (UTC; ``"1d"`` windows are UTC days; ``"1w"`` windows start on Thursdays, as
  1970-01-01 did). The context becomes the pair (context, window), as Cleora's
  FAQ advises ("group items by (user, time window) pairs").
* ``session_gap``: sessions, the usual definition of session-based
  recommendation. A context's rows are sorted by time (stable: rows with the
  same time keep their input order); a new session starts at a row whose time is
  more than ``session_gap`` after the previous row of the same context. A gap of
  exactly ``session_gap`` stays in the session.

The group's id is ``"<context>@<start>"``, ``<start>`` the Unix seconds of the
window's or the session's start, so that the same group gets the same id (and
so the same hash initialization) in every run that holds its rows. Row order is
left unchanged.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ._cells import offsets, seconds_of
from .columns import Column, ColumnSpec, parse_columns
from .io import RaggedColumn, TokenTable, read_table

__all__ = ["context_column", "describe", "event_table", "group_events", "iso", "parse_duration", "parse_instant", "select_rows"]

#: Seconds per unit of a duration (``"90s"``, ``"30m"``, ``"2h"``, ``"1d"``, ``"1w"``).
DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"([0-9]+(?:[.][0-9]*)?|[.][0-9]+)\s*([smhdw])")


def parse_duration(value: str | float | datetime.timedelta, name: str) -> float:
    """A positive duration in seconds.

    Parameters
    ----------
    value : str, int, float or datetime.timedelta
        ``"<number><unit>"`` with unit ``s``, ``m``, ``h``, ``d`` or ``w``
        (``"90s"``, ``"30m"``, ``"1.5h"``, ``"1d"``, ``"1w"``); a number is
        seconds.
    name : str
        The parameter, for the error message.

    Returns
    -------
    float
        Seconds, > 0.

    Raises
    ------
    ValueError
        If ``value`` is not such a duration or not positive; the message names
        ``name``.
    """
    if isinstance(value, datetime.timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.fullmatch(value.strip())):
        seconds = float(match.group(1)) * DURATION_UNITS[match.group(2)]
    else:
        raise ValueError(
            f"{name} must be a duration such as '90s', '30m', '2h', '1d' or '1w' "
            f"(units s, m, h, d, w) or a number of seconds, got {value!r}"
        )
    if not np.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"{name} must be a positive duration, got {value!r}")
    return seconds


def parse_instant(value: Any, name: str) -> float:
    """A point in time as Unix seconds (UTC).

    Parameters
    ----------
    value : str, int, float, datetime.datetime or datetime.date
        Unix seconds, or ISO-8601 text (``"2024-01-01"``, ``"2024-01-01T12:00:00Z"``;
        without a zone, UTC), parsed as ``time::`` cells are (pyarrow); a naive
        ``datetime`` is UTC.
    name : str
        The parameter, for the error message.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        If ``value`` does not parse; the message names ``name``.
    """
    try:
        cells = pa.chunked_array([pa.array([value])])
    except (pa.ArrowException, TypeError):
        cells = None
    seconds = np.nan if cells is None else seconds_of(cells, lambda _: ValueError(f"{name} is not UTF-8"))[0]
    if not np.isfinite(seconds):
        raise ValueError(
            f"{name} must be Unix seconds or an ISO-8601 time (e.g. '2024-01-31T12:00:00Z'), got {value!r}"
        )
    return float(seconds)


def select_rows(table: TokenTable, rows: np.ndarray) -> TokenTable:
    """The table of some of ``table``'s rows.

    Parameters
    ----------
    table : TokenTable
    rows : numpy.ndarray
        Shape ``(k,)``: increasing int row indices, or a bool mask of shape
        ``(table.n_rows,)``.

    Returns
    -------
    TokenTable
        The rows in their order, with their ids, weights and times; reader
        counts (``skipped_rows``, ``empty_ids``) are the whole table's.
    """
    rows = np.flatnonzero(rows) if rows.dtype == bool else np.asarray(rows, np.int64)
    entities = {}
    for index, ragged in table.entities.items():
        starts, counts = ragged.offsets[rows], np.diff(ragged.offsets)[rows]
        kept = offsets(counts)
        ids = np.repeat(starts - kept[:-1], counts) + np.arange(kept[-1])
        entities[index] = RaggedColumn(ragged.values.take(pa.array(ids)), kept)
    return dataclasses.replace(
        table,
        n_rows=len(rows),
        entities=entities,
        weights=None if table.weights is None else table.weights[rows],
        times=None if table.times is None else table.times[rows],
    )


def group_events(
    table: TokenTable,
    *,
    window: Any = None,
    session_gap: Any = None,
    since: Any = None,
    until: Any = None,
) -> TokenTable:
    """Filter a table's rows by time and group them into windows or sessions.

    Parameters
    ----------
    table : TokenTable
        From :func:`~cleora_tensor.io.read_table`, with a ``time::`` column
        when any option is given.
    window : str, float or datetime.timedelta, optional
        Group each context's rows by fixed windows of this duration (see
        :func:`parse_duration`), aligned on the Unix epoch (module docstring).
    session_gap : str, float or datetime.timedelta, optional
        Group each context's rows into sessions split where the time since the
        context's previous row exceeds this duration (a gap equal to it does
        not split). Not with ``window``.
    since, until : str, float or datetime, optional
        Keep the rows with ``since <= time < until`` (``since`` inclusive,
        ``until`` exclusive; see :func:`parse_instant`).

    Returns
    -------
    TokenTable
        ``table`` itself when no option is given; otherwise a new table whose
        ``grouping`` records ``since``, ``until``, ``rows_outside`` (rows left
        out by them), ``mode`` (``"window"``, ``"session"`` or None),
        ``duration_s`` and ``hyperedges`` (windows or sessions made, over all
        contexts).

    Raises
    ------
    ValueError
        If an option is given without a ``time::`` column, ``window`` and
        ``session_gap`` are both given, a duration or time does not parse,
        ``since >= until``, grouping is asked for a specification without
        exactly one ``transient::`` column that is not ``complex``, or no row
        is left in ``[since, until)``.
    """
    if window is None and session_gap is None and since is None and until is None:
        return table
    if table.times is None:
        raise ValueError(
            "window, session_gap, since and until need a 'time::' column in columns, "
            "e.g. 'transient::user item time::ts'"
        )
    if window is not None and session_gap is not None:
        raise ValueError("give window or session_gap, not both")
    low = -np.inf if since is None else parse_instant(since, "since")
    high = np.inf if until is None else parse_instant(until, "until")
    if low >= high:
        raise ValueError(f"since ({since!r}) must be before until ({until!r})")
    keep = (table.times >= low) & (table.times < high)
    if not keep.any():
        raise ValueError(f"no row has a time in [since, until) = [{since!r}, {until!r})")
    outside = int((~keep).sum())
    if outside:
        table = select_rows(table, keep)
    mode = "window" if window is not None else "session" if session_gap is not None else None
    grouping = {"since": since, "until": until, "rows_outside": outside, "mode": mode, "duration_s": None, "hyperedges": None}
    if mode is not None:
        duration = parse_duration(window if mode == "window" else session_gap, mode if mode == "window" else "session_gap")
        column = context_column(table)
        ragged = table.entities[column.index]
        ids = _groups(ragged, table.times, duration, mode)
        entities = dict(table.entities)
        entities[column.index] = RaggedColumn(ids, ragged.offsets)
        grouping.update(duration_s=duration, hyperedges=pc.count_distinct(ids).as_py())
        table = dataclasses.replace(table, entities=entities)
    return dataclasses.replace(table, grouping=grouping)


def event_table(
    source: Any,
    columns: str | ColumnSpec,
    *,
    window: Any = None,
    session_gap: Any = None,
    since: Any = None,
    until: Any = None,
    **options: Any,
) -> tuple[TokenTable, bool]:
    """Read a table (or take one already read) and apply :func:`group_events`.

    Parameters
    ----------
    source : any source of :func:`~cleora_tensor.read_table`, or TokenTable
        A :class:`~cleora_tensor.io.TokenTable` must have been read with
        ``columns``; it is not modified.
    columns : str or ColumnSpec
    window, session_gap, since, until
        As in :func:`group_events`.
    **options
        For :func:`~cleora_tensor.read_table` (``input_format``,
        ``skip_bad_rows``, ``progress``, ...).

    Returns
    -------
    table : TokenTable
    owned : bool
        Whether the table was read here, so that its ids may be released as
        they are encoded (:meth:`Hypergraph.from_table`).

    Raises
    ------
    ValueError
        As :func:`group_events`, or if a TokenTable was read with other columns.
    ColumnSpecError, InputFormatError, OSError
        From :func:`~cleora_tensor.read_table`.
    """
    owned = not isinstance(source, TokenTable)
    if owned:
        source = read_table(source, columns, **options)
    elif source.spec.spec != parse_columns(columns).spec:
        raise ValueError(f"the table was read with columns {source.spec.spec!r}, not {str(columns)!r}")
    return group_events(source, window=window, session_gap=session_gap, since=since, until=until), owned


def context_column(table: TokenTable) -> Column:
    """The column whose ids group rows: the one ``transient::`` entity column, not ``complex``.

    Raises
    ------
    ValueError
        If the specification has none, several, or a complex one.
    """
    transient = [c for c in table.spec.columns if c.is_entity and c.transient]
    if len(transient) != 1 or transient[0].complex:
        raise ValueError(
            "grouping by window or session needs exactly one plain 'transient::' column, the context "
            f"whose rows are grouped (e.g. 'transient::user item time::ts'); columns are {table.spec.spec!r}"
        )
    return transient[0]


def _groups(ragged: RaggedColumn, times: np.ndarray, duration: float, mode: str) -> pa.ChunkedArray:
    """The group id ``"<context>@<start>"`` of each id of the context column (start: Unix seconds)."""
    counts = np.diff(ragged.offsets)
    when = np.repeat(times, counts)  # the time of each id's row (one id per row, or none)
    if mode == "window":
        starts = np.floor(when / duration) * duration
    else:
        codes = pc.dictionary_encode(ragged.values).combine_chunks().indices.to_numpy(zero_copy_only=False)
        order = np.lexsort((when, codes))  # stable: rows with the same time keep their input order
        code, time = codes[order], when[order]
        new = np.ones(len(order), bool)
        new[1:] = (code[1:] != code[:-1]) | (time[1:] - time[:-1] > duration)
        first = np.maximum.accumulate(np.where(new, np.arange(len(order)), 0))
        starts = np.empty_like(when)
        starts[order] = time[first]
    labels = pc.cast(pa.array(starts), ragged.values.type)  # string or large_string, as the ids
    return pc.binary_join_element_wise(ragged.values, pa.chunked_array([labels]), pa.scalar("@", ragged.values.type))


def describe(time_span: tuple[float, float] | None, grouping: dict[str, Any] | None) -> dict[str, Any]:
    """What ``info`` reports of a hypergraph's times (:attr:`Hypergraph.time_span`, :attr:`Hypergraph.grouping`).

    Returns
    -------
    dict
        Empty without a ``time::`` column; else ``time_span`` (first and last
        time, ISO-8601 UTC) and, with a filter or grouping, ``time_since``,
        ``time_until``, ``time_rows_outside``, ``time_mode``,
        ``time_duration_s`` and ``time_hyperedges``.
    """
    if time_span is None:
        return {}
    report: dict[str, Any] = {"time_span": [iso(time_span[0]), iso(time_span[1])]}
    if grouping is not None:
        report.update({f"time_{key}": value for key, value in grouping.items()})
    return report


def iso(seconds: float) -> str:
    """Unix seconds as ISO-8601 UTC text (``2024-01-31T12:00:00Z``; fractions when there are)."""
    moment = datetime.datetime.fromtimestamp(float(seconds), datetime.timezone.utc)
    return moment.isoformat(timespec="microseconds" if moment.microsecond else "seconds").replace("+00:00", "Z")
