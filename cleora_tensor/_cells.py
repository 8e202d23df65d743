"""Parsed columns -> entity ids, weights and times, checked: the types of Parquet
and table columns, complex cells split on spaces, empty ids dropped, weights and
times parsed.

All vectorized with ``pyarrow.compute`` and numpy; the slow paths (bisection for
the first bad value, a scan for its line) run only on an error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ._scan import Scanner
from ._sources import Unit
from .columns import Column, ColumnSpec
from .errors import InputFormatError

__all__ = ["check_schema", "offsets", "parse_times", "parse_weights", "tokens"]


def check_schema(unit: Unit, spec: ColumnSpec, schema: pa.Schema) -> None:
    """Raise InputFormatError unless ``schema`` fits ``spec`` (Parquet and tables)."""
    if len(schema) != spec.n_columns:
        raise InputFormatError(
            unit.source,
            f"expected {spec.n_columns} columns (columns spec {spec.spec!r}), "
            f"found {len(schema)}",
        )
    for column in spec.columns:
        if column.kind == "ignore":
            continue
        field = schema.field(column.index)
        name = f"column {column.index + 1} ({field.name!r})"
        listed = _is_list(field.type)
        if listed and not column.complex:
            fix = "mark it 'complex::'" if column.is_entity else f"a {column.kind} is one value"
            raise InputFormatError(
                unit.source,
                f"{name} holds lists but the spec declares {str(column)!r}; {fix}",
            )
        value_type = field.type.value_type if listed else field.type
        if column.is_entity and not _castable(value_type, pa.string()):
            raise InputFormatError(
                unit.source,
                f"{name} has type {field.type}, which cannot hold ids: ids are "
                "strings or numbers (or lists of them in a complex:: column)",
            )
        if column.kind == "weight" and not _castable(value_type, pa.float64()):
            raise InputFormatError(
                unit.source,
                f"{name} has type {field.type}: weights are numbers, or strings "
                "of numbers",
            )
        if column.kind == "time" and not _is_time_type(value_type):
            raise InputFormatError(
                unit.source,
                f"{name} has type {field.type}: times are timestamps, dates, Unix "
                "seconds, or strings of those (ISO-8601)",
            )


def _is_list(data_type: pa.DataType) -> bool:
    return (
        pa.types.is_list(data_type)
        or pa.types.is_large_list(data_type)
        or pa.types.is_fixed_size_list(data_type)
    )


def _castable(data_type: pa.DataType, target: pa.DataType) -> bool:
    """Whether pyarrow casts ``data_type`` to ``target`` (an empty array tells)."""
    try:
        pc.cast(pa.array([], type=data_type), target)
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        return False
    return True


def _as_strings(
    array: pa.ChunkedArray, not_utf8: Callable[[int], InputFormatError]
) -> pa.ChunkedArray:
    """String ids, with nulls (possible in Parquet and tables) as empty ids.

    ``not_utf8(index)`` is the error for a binary value that is not UTF-8.
    """
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        try:
            array = pc.cast(array, pa.string())
        except pa.ArrowInvalid:
            raise not_utf8(_first_cast_failure(array, pa.string())) from None
    return array.fill_null("") if array.null_count else array


def tokens(
    cells: pa.ChunkedArray, column: Column, scan: Scanner
) -> tuple[pa.ChunkedArray, np.ndarray | None, int]:
    """Non-empty ids of a column, ids per row (None: one each) and empty ids dropped."""
    lengths = None

    def not_utf8(index: int) -> InputFormatError:
        row = index  # of the cell; for list cells, of the list holding id `index`
        if lengths is not None:
            row = int(np.searchsorted(offsets(lengths), index, "right") - 1)
        return InputFormatError(
            scan.unit.source,
            "the cell holds bytes that are not UTF-8",
            line=scan.line_of_row(row),
            column=column.index + 1,
        )

    if _is_list(cells.type):
        lengths = pc.list_value_length(cells).fill_null(0).to_numpy().astype(np.int64, copy=False)
        flat = _as_strings(pc.list_flatten(cells), not_utf8)
    elif column.complex:
        split = pc.split_pattern(_as_strings(cells, not_utf8), " ")
        lengths = pc.list_value_length(split).to_numpy().astype(np.int64, copy=False)
        flat = pc.list_flatten(split)
        del split
    else:
        flat = _as_strings(cells, not_utf8)
    empty = pc.equal(pc.binary_length(flat), 0)
    n_empty = pc.sum(empty).as_py() or 0
    if not n_empty:
        return flat, lengths, 0
    keep = pc.invert(empty)
    values = flat.filter(keep)
    keep = keep.to_numpy()
    if lengths is None:
        return values, keep.astype(np.int64), n_empty
    # Ids kept before each token, read at the row boundaries, give ids kept per row.
    return values, np.diff(offsets(keep)[offsets(lengths)]), n_empty


def offsets(counts: np.ndarray) -> np.ndarray:
    """Row offsets from counts per row.

    Parameters
    ----------
    counts : numpy.ndarray
        Shape ``(n,)``, integer or bool: the items of each row.

    Returns
    -------
    numpy.ndarray
        Shape ``(n + 1,)``, int64: ``offsets[0] == 0`` and row ``r`` holds items
        ``offsets[r]:offsets[r + 1]``.
    """
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return offsets


def parse_weights(cells: pa.ChunkedArray, column: Column, scan: Scanner) -> np.ndarray:
    """The weight column as float64, checked finite and non-negative."""

    def error(row: int, reason: str) -> InputFormatError:
        line = scan.line_of_row(row)
        return InputFormatError(scan.unit.source, reason, line=line, column=column.index + 1)

    if cells.null_count:
        raise error(int(cells.is_null().to_numpy().argmax()), "missing weight")
    try:
        weights = pc.cast(cells, pa.float64()).to_numpy()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        row = _first_cast_failure(cells, pa.float64())
        raise error(row, f"weight {_shown(cells[row].as_py())} is not a number") from None
    bad = ~(np.isfinite(weights) & (weights >= 0))
    if bad.any():
        row = int(bad.argmax())
        value = weights[row]
        what = "NaN" if np.isnan(value) else "infinite" if np.isinf(value) else "negative"
        raise error(
            row,
            f"weight {_shown(cells[row].as_py())} is {what}; "
            "weights must be finite and non-negative",
        )
    return weights


def _shown(value: Any, limit: int = 60) -> str:
    """``repr(value)``, shortened for a message."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def _first_cast_failure(cells: pa.ChunkedArray, target: pa.DataType) -> int:
    """Index of the first value that fails to cast, by bisection (linear total work)."""
    low, high = 0, len(cells)
    while high - low > 1:
        middle = (low + high) // 2
        try:
            pc.cast(cells.slice(low, middle - low), target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            high = middle
        else:
            low = middle
    return low


# Unix seconds as text: an optional sign, digits with an optional fraction, an
# optional exponent (what a float64 cast accepts, without "nan" and "inf").
_UNIX_SECONDS = r"^[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?$"
# ISO-8601 with a zone designator after the time of day ("Z", "+01:00", "-0500").
_ZONED = r":[0-9]{2}(:[0-9]{2}([.][0-9]+)?)?(Z|[+-][0-9]{2}(:?[0-9]{2})?)$"


def _is_time_type(data_type: pa.DataType) -> bool:
    return (
        pa.types.is_timestamp(data_type)
        or pa.types.is_date(data_type)
        or pa.types.is_integer(data_type)
        or pa.types.is_floating(data_type)
        or pa.types.is_decimal(data_type)
        or pa.types.is_string(data_type)
        or pa.types.is_large_string(data_type)
        or pa.types.is_binary(data_type)
        or pa.types.is_large_binary(data_type)
    )


def parse_times(
    cells: pa.ChunkedArray, column: Column, scan: Scanner, skip_bad_rows: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """The time column as float64 seconds since the Unix epoch (UTC), parsed by pyarrow.

    A cell holds Unix seconds (``881250949``, ``1.7e9``, ``-3.5``) or ISO-8601
    (``2024-01-01``, ``2024-01-01T12:30:00.25``, ``2024-01-01 12:30``, with an
    optional zone ``Z``/``+01:00``; without one, UTC). Parquet and table columns
    may also be timestamps (naive: UTC), dates or numbers (Unix seconds).

    Returns the times and, when ``skip_bad_rows`` and some cell does not parse
    (or is missing), the bool mask of the rows to keep (None: all). Without
    ``skip_bad_rows`` the first such cell raises InputFormatError naming its line
    and column.
    """

    def not_utf8(index: int) -> InputFormatError:
        return InputFormatError(
            scan.unit.source, "the cell holds bytes that are not UTF-8",
            line=scan.line_of_row(index), column=column.index + 1,
        )

    seconds = seconds_of(cells, not_utf8)
    bad = ~np.isfinite(seconds)
    if not bad.any():
        return seconds, None
    if skip_bad_rows:
        return seconds[~bad], ~bad
    row = int(bad.argmax())
    value = cells[row].as_py()
    reason = "missing time" if value is None or str(value).strip() == "" else (
        f"time {_shown(value)} is neither Unix seconds nor ISO-8601 (e.g. 2024-01-31T12:00:00Z)"
    )
    raise InputFormatError(scan.unit.source, reason, line=scan.line_of_row(row), column=column.index + 1)


def seconds_of(cells: pa.ChunkedArray, not_utf8: Callable[[int], InputFormatError]) -> np.ndarray:
    """Times as float64 seconds since the Unix epoch, NaN where a value is missing or does not parse.

    The formats of :func:`parse_times`; ``not_utf8(index)`` is the error for a
    binary value that is not UTF-8.
    """
    data_type = cells.type
    if pa.types.is_timestamp(data_type) or pa.types.is_date(data_type):
        unit = pa.timestamp("us", tz=getattr(data_type, "tz", None))
        seconds = _cast_or_nan(cells.cast(unit, safe=False), unit) * 1e-6
    elif pa.types.is_integer(data_type) or pa.types.is_floating(data_type) or pa.types.is_decimal(data_type):
        seconds = _cast_or_nan(cells, pa.float64())
    else:
        text = pc.utf8_trim_whitespace(_as_strings(cells, not_utf8))
        try:  # the common case, Unix seconds in every cell: one cast (20x faster than the split below)
            seconds = np.array(pc.cast(text, pa.float64()).to_numpy(zero_copy_only=False))  # writable
            seconds[~np.isfinite(seconds)] = np.nan
            return seconds
        except pa.ArrowInvalid:
            pass
        seconds = np.full(len(text), np.nan)
        number = pc.match_substring_regex(text, _UNIX_SECONDS).to_numpy(zero_copy_only=False)
        zoned = pc.match_substring_regex(text, _ZONED).to_numpy(zero_copy_only=False) & ~number
        for rows, target, scale in (
            (number, pa.float64(), 1.0),
            (zoned, pa.timestamp("us", tz="UTC"), 1e-6),
            (~(number | zoned), pa.timestamp("us"), 1e-6),
        ):
            at = np.flatnonzero(rows)
            if len(at):
                seconds[at] = _cast_or_nan(text.take(pa.array(at)), target) * scale
    seconds[~np.isfinite(seconds)] = np.nan
    return seconds


def _cast_or_nan(values: pa.ChunkedArray | pa.Array, target: pa.DataType) -> np.ndarray:
    """``values`` cast to ``target`` as float64 (timestamps: their integer count), NaN where a cast fails.

    Halves the values around a failure (the bisection of ``_first_cast_failure``),
    so that the cost stays linear in the values plus logarithmic per failure.
    """
    try:
        cast = pc.cast(values, target)
        if pa.types.is_timestamp(target):
            cast = cast.cast(pa.int64())
        return np.array(cast.to_numpy(zero_copy_only=False), dtype=np.float64)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        if len(values) == 1:
            return np.full(1, np.nan)
    middle = len(values) // 2
    return np.concatenate(
        [_cast_or_nan(values.slice(0, middle), target), _cast_or_nan(values.slice(middle), target)]
    )
