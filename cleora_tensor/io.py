"""Read the input table (TSV, CSV, Parquet, gzip, standard input and pipes,
iterables of lines, pyarrow or pandas tables) into per-column arrays of entity ids,
vectorized with pyarrow: the CSV reader parses with threads, complex cells are split
with ``pyarrow.compute`` and row offsets are built with numpy
(:mod:`cleora_tensor._cells`), so no Python loop runs per token or per row. Inputs
are opened by :mod:`cleora_tensor._sources`. Errors carry ``file:line:column``; line
numbers are found by re-scanning the input (:mod:`cleora_tensor._scan`) only on the
error path (and, with ``skip_bad_rows=True``, to report the first skipped line).
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import sys
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from tqdm import tqdm

from . import _cells
from ._scan import Scanner
from ._sources import Unit, file_unit, read_error
from .columns import ColumnSpec, parse_columns
from .errors import InputFormatError

__all__ = ["MAX_LINE_BYTES", "RaggedColumn", "TokenTable", "read_table"]

INPUT_FORMATS = ("tsv", "csv", "parquet")

#: Default of ``read_table(max_line_bytes=)``: the longest line (CSV record) that
#: is surely read, 64 MiB, about 6 million ids of 10 bytes in one cell.
MAX_LINE_BYTES = 64 << 20

# Lines of an iterable parsed per pyarrow call: large enough to keep the reader's
# threads busy, small enough to bound the memory of the joined text buffer.
_LINES_PER_CHUNK = 1_000_000

_ARROW_BLOCK = 1 << 20  # pyarrow's default block size: the fast path's
_BLOCK_GROWTH = 8  # block size factor per retry when a line does not fit
_LARGEST_BLOCK = 1 << 30  # pyarrow's block size is an int32
_SCAN_BLOCK = 1 << 20  # bytes per block of the slow-path scans
_CSV_BATCH = 65536  # records per batch of the slow-path CSV scan


@dataclass(frozen=True, eq=False)
class RaggedColumn:
    """The entity ids of one column, row by row.

    Attributes
    ----------
    values : pyarrow.ChunkedArray
        String (or large_string) ids of all cells of the column, row-major, with
        empty ids removed.
    offsets : numpy.ndarray
        Shape ``(n_rows + 1,)``, int64; the ids of row ``r`` are
        ``values[offsets[r]:offsets[r + 1]]`` and ``offsets[0] == 0``.
    """

    values: pa.ChunkedArray
    offsets: np.ndarray


@dataclass(frozen=True, eq=False)
class TokenTable:
    """The input table split into entity ids, as returned by :func:`read_table`.

    Attributes
    ----------
    spec : ColumnSpec
        The parsed column specification.
    n_rows : int
        Rows kept.
    entities : dict of int to RaggedColumn
        One per entity column, keyed by :attr:`Column.index`.
    weights : numpy.ndarray or None
        Shape ``(n_rows,)`` float64, the ``weight::`` column, or None without one.
    sources : tuple of str
        File paths as given, or ``"<stdin>"`` / ``"<lines>"`` / ``"<table>"``.
    skipped_rows : int
        Rows skipped for a wrong number of fields (only with ``skip_bad_rows=True``).
    empty_ids : int
        Empty ids dropped: empty plain cells, and empty tokens of complex cells
        (from double, leading or trailing spaces, or an empty cell).
    """

    spec: ColumnSpec
    n_rows: int
    entities: dict[int, RaggedColumn]
    weights: np.ndarray | None
    sources: tuple[str, ...]
    skipped_rows: int
    empty_ids: int


@dataclass
class _Part:
    """What one unit contributes: per entity column its ids and ids per row."""

    n_rows: int
    skipped: int
    tokens: dict[int, tuple[pa.ChunkedArray, np.ndarray | None]]
    weights: np.ndarray | None
    empty_ids: int


def read_table(
    source: Any,
    columns: str | ColumnSpec,
    *,
    input_format: str | None = None,
    skip_bad_rows: bool = False,
    max_line_bytes: int = MAX_LINE_BYTES,
    progress: bool = False,
) -> TokenTable:
    """Read an input table into per-column entity ids.

    Parameters
    ----------
    source : str, os.PathLike, list of them, pyarrow.Table, pandas.DataFrame or iterable
        One file; ``"-"`` for standard input; several files read in order as one
        table; a table whose columns are taken left to right; or any other
        iterable (generator, iterator, file object) yielding lines of text
        (``str`` or ``bytes``, trailing newline optional). Files have no header
        line. A list is always a list of files: to pass lines, give an iterator
        such as ``iter(lines)``. Pipes (``mkfifo``, ``<(...)``), standard input
        and other special files are opened once and read as a stream; the bytes
        read are copied to an anonymous temporary file (in ``TMPDIR``) so that
        an error can be located by reading them again. Regular files are read in
        place, at no extra cost.
    columns : str or ColumnSpec
        Column specification (see :func:`cleora_tensor.columns.parse_columns`);
        every row must have exactly ``spec.n_columns`` fields.
    input_format : {"tsv", "csv", "parquet"}, optional
        Format of every file (or of the lines). By default inferred per file from
        the extension (``.tsv``/``.txt``, ``.csv``, ``.parquet``/``.pq``, the text
        formats optionally followed by ``.gz``); other names, standard input and
        lines are TSV. TSV is tab-separated without quoting; CSV is
        comma-separated with standard double-quote quoting (quoted fields may
        span lines, but a quote left open, which would make the rest of the input
        one field, is an error at the line where it opened). Inputs starting
        with the gzip magic bytes are decompressed whatever their name.
    skip_bad_rows : bool, default False
        Skip rows with the wrong number of fields (whatever bytes they hold), warn
        once per file with the count and first line, instead of raising. pyarrow
        cannot skip a row holding bytes that are not UTF-8: such a row makes the
        reader drop the bad rows itself, holding the decompressed input in memory.
    max_line_bytes : int, default :data:`MAX_LINE_BYTES` (64 MiB)
        Longest line (CSV record) surely read, in bytes, at most 1 GiB: the
        reader's block size grows from 1 MiB (x8 per retry, re-reading the input)
        up to this when a line does not fit. A line that still does not fit
        raises; longer lines may be read, up to about twice this. Memory grows
        with it.
    progress : bool, default False
        Show a progress bar over files or chunks of lines on stderr.

    Returns
    -------
    TokenTable
        ``entities[c.index]`` for each entity column ``c``; ``weights`` of shape
        ``(n_rows,)`` float64 if the spec has a ``weight::`` column.

    Raises
    ------
    ColumnSpecError
        If ``columns`` is invalid.
    InputFormatError
        On the first problem in input order: a row with the wrong number of
        fields (unless ``skip_bad_rows``; in one row, this comes before bad
        bytes), bytes that are not UTF-8 in a column that is read, a CSV quote
        left open, a line longer than ``max_line_bytes`` that does not fit, a
        weight that is not a finite non-negative number, a Parquet file or table
        with the wrong number of columns or a column of a type that cannot hold
        ids, gzip data that is truncated or corrupt, a file that is not Parquet,
        or no rows at all. The message gives ``source:line`` (and ``:column``:
        the field number for weights, the 1-based byte offset in the line for bad
        UTF-8). For Parquet files and tables, ``line`` is the 1-based row number.
    FileNotFoundError, IsADirectoryError, PermissionError, OSError
        If a path cannot be opened or read; the message names it.
    TypeError, ValueError
        On a source of an unsupported type, lines that mix ``str`` and ``bytes``,
        an unknown ``input_format`` or a ``max_line_bytes`` out of range.

    Notes
    -----
    Empty lines are ignored (they are not rows), so a line holding one empty
    field cannot be told apart from no line. An empty cell of a plain entity column
    is a missing id: the row keeps its other columns and gets no id in that column.
    Ids in complex cells are separated by single spaces; the empty tokens made by
    double, leading or trailing spaces are dropped and counted in ``empty_ids``.
    In Parquet files and tables, ids are strings, numbers, booleans, dates or
    times, list-typed columns hold complex cells directly, and null cells are
    empty.
    """
    spec = parse_columns(columns)
    if input_format is not None and input_format not in INPUT_FORMATS:
        raise ValueError(
            f"input_format must be one of {', '.join(INPUT_FORMATS)}, "
            f"got {input_format!r}"
        )
    if not isinstance(max_line_bytes, int) or not 1 <= max_line_bytes <= _LARGEST_BLOCK:
        raise ValueError(
            f"max_line_bytes must be an integer from 1 to {_LARGEST_BLOCK} (1 GiB), "
            f"got {max_line_bytes!r}"
        )
    units, sources, total, unit_name = _units(source, input_format)
    parts = []
    with tqdm(total=total, unit=unit_name, disable=not progress, file=sys.stderr) as bar:
        for unit in units:
            with unit:
                parts.append(_read_unit(unit, spec, skip_bad_rows, max_line_bytes))
            bar.update()
    n_rows = sum(part.n_rows for part in parts)
    skipped = sum(part.skipped for part in parts)
    if n_rows == 0:
        expected = f"rows of {spec.n_columns} fields (columns spec {spec.spec!r})"
        reason = f"no rows: the input is empty or has only empty lines; expected {expected}"
        if skipped:
            reason = f"no rows: all {skipped} rows were skipped; expected {expected}"
        raise InputFormatError(", ".join(sources), reason)
    entities = {
        column.index: _concat_ragged(
            [(part.tokens[column.index], part.n_rows) for part in parts]
        )
        for column in spec.columns
        if column.is_entity
    }
    weights = None
    if spec.weight_column is not None:
        weights = np.concatenate([part.weights for part in parts])
    return TokenTable(
        spec=spec,
        n_rows=n_rows,
        entities=entities,
        weights=weights,
        sources=sources,
        skipped_rows=skipped,
        empty_ids=sum(part.empty_ids for part in parts),
    )


def _read_unit(
    unit: Unit, spec: ColumnSpec, skip_bad_rows: bool, max_line_bytes: int
) -> _Part:
    # A function of its own so that the unit's parsed cells are freed on return.
    scan = Scanner(unit, spec, block=_SCAN_BLOCK, batch=_CSV_BATCH, max_line_bytes=max_line_bytes)
    try:
        cells, n_rows, skipped = _load(unit, spec, skip_bad_rows, scan)
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
    return _Part(n_rows, skipped, tokens, weights, empty_ids)


# --- sources ---------------------------------------------------------------------


def _units(
    source: Any, input_format: str | None
) -> tuple[Iterable[Unit], tuple[str, ...], int | None, str]:
    """The units to read, the source names, their number if known, and a unit name."""
    if isinstance(source, (str, os.PathLike)):
        unit = file_unit(source, input_format)
        return [unit], (unit.source,), 1, "file"
    if isinstance(source, (list, tuple)):
        if not source:
            raise InputFormatError("<no files>", "no rows: the list of files is empty")
        for path in source:
            if not isinstance(path, (str, os.PathLike)):
                raise TypeError(
                    "a list source holds file paths, got an element of type "
                    f"{type(path).__name__}; to pass lines of text, give an iterator: "
                    "iter(lines)"
                )
        units = [file_unit(path, input_format) for path in source]
        return units, tuple(unit.source for unit in units), len(units), "file"
    if isinstance(source, pa.Table) or (
        hasattr(source, "to_numpy") and hasattr(source, "columns")
    ):
        if not isinstance(source, pa.Table):
            try:
                source = pa.Table.from_pandas(source, preserve_index=False)
            except pa.ArrowException as exc:
                raise InputFormatError("<table>", f"cannot convert the table: {exc}") from None
        return [Unit(source="<table>", fmt="table", table=source)], ("<table>",), 1, "table"
    if isinstance(source, (bytes, bytearray, memoryview)) or not isinstance(
        source, Iterable
    ):
        raise TypeError(
            "source must be a path, a list of paths, a table or an iterable of lines, "
            f"got {type(source).__name__}"
        )
    if input_format == "parquet":
        raise ValueError("input_format='parquet' needs files, not lines of text")
    return _line_units(source, input_format or "tsv"), ("<lines>",), None, "chunk"


def _line_units(lines: Iterable[str | bytes], fmt: str) -> Iterator[Unit]:
    iterator = iter(lines)
    first_line = 1
    while chunk := list(itertools.islice(iterator, _LINES_PER_CHUNK)):
        n_lines = len(chunk)
        buffer = _join_lines(chunk, first_line)
        del chunk  # only the joined buffer lives while pyarrow parses it
        yield Unit(source="<lines>", fmt=fmt, buffer=buffer, first_line=first_line)
        first_line += n_lines


def _join_lines(chunk: list[str | bytes], first_line: int) -> bytes:
    """One buffer with one physical line per element, so line numbers carry over."""
    kind = bytes if isinstance(chunk[0], (bytes, bytearray)) else str
    for number, line in enumerate(chunk, first_line):
        if not isinstance(line, (bytes, bytearray) if kind is bytes else str):
            raise TypeError(
                f"line {number} of the lines is {type(line).__name__}; give all lines "
                f"as {kind.__name__} (line {first_line} is)"
            ) from None
    if kind is bytes:
        return b"\n".join([line.removesuffix(b"\n") for line in chunk])
    text = "\n".join([line.removesuffix("\n") for line in chunk])
    try:
        # surrogateescape restores the bytes of text decoded with that handler, so
        # they fail pyarrow's UTF-8 check and are reported with their line.
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as exc:
        line = first_line + text.count("\n", 0, exc.start)
        start = text.rfind("\n", 0, exc.start) + 1
        raise InputFormatError(
            "<lines>",
            f"unpaired surrogate {text[exc.start]!r} cannot be encoded as UTF-8",
            line=line,
            column=exc.start - start + 1,
        ) from None


# --- parsing -----------------------------------------------------------------------


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
        clean_scan = Scanner(
            clean, spec, block=_SCAN_BLOCK, batch=_CSV_BATCH, max_line_bytes=scan.max_line_bytes
        )
        table, _ = _read_text(clean, spec, needed, False, clean_scan)
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


# --- columns -------------------------------------------------------------------------


def _concat_ragged(
    parts: list[tuple[tuple[pa.ChunkedArray, np.ndarray | None], int]],
) -> RaggedColumn:
    chunks = [chunk for (values, _), _ in parts for chunk in values.chunks]
    if len({chunk.type for chunk in chunks}) > 1:
        chunks = [chunk.cast(pa.large_string()) for chunk in chunks]
    values = pa.chunked_array(chunks, type=chunks[0].type if chunks else pa.string())
    n_rows = sum(n for _, n in parts)
    if all(counts is None for (_, counts), _ in parts):
        return RaggedColumn(values, np.arange(n_rows + 1, dtype=np.int64))
    counts = np.concatenate(
        [np.ones(n, np.int64) if c is None else c for (_, c), n in parts]
    )
    return RaggedColumn(values, _cells.offsets(counts))
