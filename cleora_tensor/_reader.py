"""Read one input unit (a text file or buffer, a Parquet file, a table) into the
parsed cells of the columns a spec needs, then into ids per column: the part of
:func:`cleora_tensor.io.read_table` that runs once per unit.

Text is parsed by pyarrow's threaded CSV reader, its block size grown until the
longest line fits; rows with the wrong number of fields are skipped (with
``skip_bad_rows=True``) by pyarrow's invalid-row handler, or, when pyarrow cannot
hand a row to it, by a second read without them. What fails is located by
:class:`cleora_tensor._scan.Scanner` (the slow path).
"""

from __future__ import annotations

import dataclasses
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from . import _cells
from ._scan import Scanner
from ._sources import Unit, read_error
from .columns import ColumnSpec
from .errors import InputFormatError

__all__ = ["read_unit", "scanner"]

_ARROW_BLOCK = 1 << 20  # pyarrow's default block size: the fast path's
_BLOCK_GROWTH = 8  # block size factor per retry when a line does not fit
_SCAN_BLOCK = 1 << 20  # bytes per block of the slow-path scans
_CSV_BATCH = 65536  # records per batch of the slow-path CSV scan


@dataclass
class _Part:
    """What one unit contributes: per entity column its ids and ids per row."""

    n_rows: int
    skipped: int
    tokens: dict[int, tuple[pa.ChunkedArray, np.ndarray | None]]
    weights: np.ndarray | None
    empty_ids: int
    times: np.ndarray | None = None


def scanner(unit: Unit, spec: ColumnSpec, max_line_bytes: int) -> Scanner:
    """The slow-path scanner of a unit, with this module's block sizes."""
    return Scanner(unit, spec, block=_SCAN_BLOCK, batch=_CSV_BATCH, max_line_bytes=max_line_bytes)


def read_unit(
    unit: Unit, spec: ColumnSpec, skip_bad_rows: bool, max_line_bytes: int
) -> _Part:
    """The cells of one unit (a file, a chunk of lines or a table) as ids per entity column.

    A function of its own so that the unit's parsed cells are freed on return.
    Raises :class:`~cleora_tensor.errors.InputFormatError` as
    :func:`~cleora_tensor.io.read_table` documents.
    """
    scan = scanner(unit, spec, max_line_bytes)
    try:
        cells, n_rows, skipped = _load(unit, spec, skip_bad_rows, scan)
        times = None
        if spec.time_column is not None:
            times, keep = _cells.parse_times(cells.pop(spec.time_column.index), spec.time_column, scan, skip_bad_rows)
            if keep is not None:
                cells = _without_bad_times(unit, spec, cells, keep, scan)
                n_rows, skipped = len(times), skipped + int((~keep).sum())
                scan = _KeptRows(scan, np.flatnonzero(keep))  # later errors name the lines of the kept rows
        weights = None
        if spec.weight_column is not None:
            column = spec.weight_column
            weights = _cells.parse_weights(cells[column.index], column, scan)
        tokens, empty_ids = {}, 0
        for column in spec.columns:
            if column.is_entity:
                values, counts, n_empty = _cells.tokens(cells.pop(column.index), column, scan)
                tokens[column.index] = (values, counts)
                empty_ids += n_empty
    except pa.ArrowException as exc:  # what no check above foresaw, with the file
        raise InputFormatError(unit.source, f"cannot read: {exc}") from None
    return _Part(n_rows, skipped, tokens, weights, empty_ids, times)


class _KeptRows:
    """A scanner whose rows are the ``kept`` ones of ``scan`` (the rows whose time parsed)."""

    def __init__(self, scan: Scanner, kept: np.ndarray) -> None:
        self.unit, self._scan, self._kept = scan.unit, scan, kept

    def line_of_row(self, row: int) -> int | None:
        return self._scan.line_of_row(int(self._kept[row]))


def _without_bad_times(
    unit: Unit, spec: ColumnSpec, cells: dict[int, pa.ChunkedArray], keep: np.ndarray, scan: Scanner
) -> dict[int, pa.ChunkedArray]:
    """The cells of the rows whose time parsed, with a warning naming the first row left out."""
    first = scan.line_of_row(int(keep.argmin()))
    warnings.warn(
        f"{unit.source}: skipped {int((~keep).sum())} rows whose time (column "
        f"{spec.time_column.index + 1}) is missing or neither Unix seconds nor ISO-8601"
        + (f"; the first is line {first}" if first else ""),
        stacklevel=4,
    )
    mask = pa.array(keep)
    return {index: column.filter(mask) for index, column in cells.items()}


def _load(
    unit: Unit, spec: ColumnSpec, skip_bad_rows: bool, scan: Scanner
) -> tuple[dict[int, pa.ChunkedArray], int, int]:
    """Columns needed by ``spec`` (by index), the number of rows and rows skipped."""
    needed = [c.index for c in spec.columns if c.kind != "ignore"]
    if unit.fmt in ("tsv", "csv"):
        table, skipped = _read_text(unit, spec, needed, skip_bad_rows, scan)
        return {i: table.column(f"c{i}") for i in needed}, table.num_rows, skipped
    if unit.fmt == "parquet":
        try:
            file = unit.parquet_file()
            schema = pq.read_schema(file)
        except (pa.ArrowException, OSError) as exc:
            raise InputFormatError(
                unit.source, f"not a Parquet file, or a damaged one: {exc}"
            ) from None
        _cells.check_schema(unit, spec, schema)
        try:
            table = pq.read_table(
                file, columns=[schema.names[i] for i in needed], use_threads=True
            )
        except (pa.ArrowException, OSError) as exc:
            raise InputFormatError(unit.source, f"cannot read as Parquet: {exc}") from None
        return {i: table.column(k) for k, i in enumerate(needed)}, table.num_rows, 0
    _cells.check_schema(unit, spec, unit.table.schema)
    return {i: unit.table.column(i) for i in needed}, unit.table.num_rows, 0


def _read_text(
    unit: Unit, spec: ColumnSpec, needed: list[int], skip_bad_rows: bool, scan: Scanner
) -> tuple[pa.Table, int]:
    """Parse a text unit with pyarrow; locate what fails with ``scan`` (slow path)."""
    try:
        table, skipped, spans_lines = _parse_text(
            unit, spec, needed, skip_bad_rows, scan.max_line_bytes
        )
    except pa.ArrowInvalid as exc:
        message = str(exc)
        if "Empty CSV file" in message:
            return pa.table({f"c{i}": pa.array([], pa.string()) for i in needed}), 0
        if "straddling object" in message:
            raise scan.long_line_error() or _arrow_error(unit, exc) from None
        if (problem := scan.first_problem(skip_bad_rows)) is not None:
            raise problem from None
        if not (skip_bad_rows and "Expected" in message):
            raise _arrow_error(unit, exc) from None
        # pyarrow could not pass a skipped row to the handler (it decodes the row
        # as UTF-8 first): read the input again without the rows to skip.
        buffer, skipped = scan.without_bad_rows()
        clean = dataclasses.replace(unit, buffer=buffer, gzip=False, spool=None)
        table, _ = _read_text(clean, spec, needed, False, scanner(clean, spec, scan.max_line_bytes))
        spans_lines = False  # the clean read checked its quotes
    except OSError as exc:
        raise read_error(unit, exc) from None
    if spans_lines:
        scan.check_quotes()
    if skipped:
        where = f"; the first is line {line}" if (line := scan.first_bad_line()) else ""
        warnings.warn(
            f"{unit.source}: skipped {skipped} rows without {spec.n_columns} fields "
            f"(columns spec {spec.spec!r}){where}",
            stacklevel=5,
        )
    return table, skipped


def _parse_text(
    unit: Unit, spec: ColumnSpec, needed: list[int], skip_bad_rows: bool, max_line_bytes: int
) -> tuple[pa.Table, int, bool]:
    """pyarrow's CSV reader with the block size grown until the longest line fits.

    Returns the table, the rows skipped, and whether a CSV quote may be open at
    the end: a line break in the last field of the last row, or in a skipped row.
    """
    names = [f"c{i}" for i in range(spec.n_columns)]
    csv_format = unit.fmt == "csv"
    # A quote left open makes the rest of a CSV input the last field of a row:
    # read that field even when it is ignored, as bytes, to look for line breaks.
    last = names[-1]
    types = {names[i]: pa.string() for i in needed}
    if csv_format:
        types.setdefault(last, pa.binary())
    skipped, spans_lines = 0, False

    def on_bad_row(row: Any) -> str:
        # Only with skip_bad_rows; with threads pyarrow gives no row number:
        # Scanner.first_bad_line finds the line.
        nonlocal skipped, spans_lines
        skipped += 1
        spans_lines |= csv_format and ("\n" in row.text or "\r" in row.text)
        return "skip"

    parse_options = pacsv.ParseOptions(
        delimiter="," if csv_format else "\t",
        quote_char='"' if csv_format else False,
        newlines_in_values=csv_format,
        ignore_empty_lines=True,
        invalid_row_handler=on_bad_row if skip_bad_rows else None,
    )
    convert_options = pacsv.ConvertOptions(
        column_types=types, include_columns=list(types), strings_can_be_null=False
    )
    block_size = _ARROW_BLOCK
    while True:
        read_options = pacsv.ReadOptions(
            column_names=names, use_threads=True, block_size=block_size
        )
        skipped, spans_lines = 0, False
        try:
            with (
                _unraisable_hidden(on_bad_row) if skip_bad_rows else nullcontext(),
                unit.open_arrow() as stream,
            ):
                table = pacsv.read_csv(
                    stream,
                    read_options=read_options,
                    parse_options=parse_options,
                    convert_options=convert_options,
                )
            break
        except pa.ArrowInvalid as exc:
            if "straddling object" not in str(exc) or block_size >= max_line_bytes:
                raise
            block_size = min(block_size * _BLOCK_GROWTH, max_line_bytes)
    if csv_format and table.num_rows:
        tail = table.column(last).slice(table.num_rows - 1)
        spans_lines = spans_lines or bool(pc.any(pc.match_substring_regex(tail, "[\r\n]")).as_py())
    return table.select([f"c{i}" for i in needed]), skipped, spans_lines


@contextmanager
def _unraisable_hidden(handler: Callable[[Any], str]) -> Iterator[None]:
    """Hide the errors pyarrow raises before calling ``handler``.

    pyarrow decodes a bad row as UTF-8 before it calls the invalid-row handler;
    when that fails the error cannot propagate, would be printed as "Exception
    ignored", and the read fails: :func:`_read_text` then takes the slow path.
    Thread-safe: one hook serves all the reads in progress.
    """
    global _previous_hook
    with _hidden_lock:
        if not _hidden:
            _previous_hook = sys.unraisablehook
            sys.unraisablehook = _hide_unraisable
        _hidden.add(handler)
    try:
        yield
    finally:
        with _hidden_lock:
            _hidden.discard(handler)
            if not _hidden:
                sys.unraisablehook = _previous_hook


_hidden_lock = threading.Lock()
_hidden: set[Callable[[Any], str]] = set()  # handlers of the reads in progress
_previous_hook = sys.unraisablehook


def _hide_unraisable(unraisable: Any) -> None:
    if unraisable.object not in _hidden:
        _previous_hook(unraisable)


def _arrow_error(unit: Unit, exc: Exception) -> InputFormatError:
    """A pyarrow error that no scan located, with the file and its first line."""
    first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return InputFormatError(unit.source, f"cannot parse as {unit.fmt.upper()}: {first_line}")
