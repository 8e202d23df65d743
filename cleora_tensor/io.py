"""Read the input table (TSV, CSV, Parquet, gzip, standard input and pipes,
iterables of lines, pyarrow or pandas tables) into per-column arrays of entity ids,
vectorized with pyarrow: the CSV reader parses with threads
(:mod:`cleora_tensor._reader`), complex cells are split with ``pyarrow.compute``
and row offsets are built with numpy (:mod:`cleora_tensor._cells`), so no Python
loop runs per token or per row. Inputs are opened by :mod:`cleora_tensor._sources`.
Errors carry ``file:line:column``; line numbers are found by re-scanning the input
(:mod:`cleora_tensor._scan`) only on the error path (and, with
``skip_bad_rows=True``, to report the first skipped line).
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from tqdm import tqdm

from . import _cells
from ._reader import read_unit, scanner
from ._sources import Unit, file_unit, holds_lines
from .columns import ColumnSpec, parse_columns
from .errors import InputFormatError

__all__ = ["INPUT_FORMATS", "MAX_LINE_BYTES", "RaggedColumn", "TokenTable", "line_of_row", "read_table"]

INPUT_FORMATS = ("tsv", "csv", "parquet")

#: Default of ``read_table(max_line_bytes=)``: the longest line (CSV record) that
#: is surely read, 64 MiB, about 6 million ids of 10 bytes in one cell.
MAX_LINE_BYTES = 64 << 20

# Lines of an iterable parsed per pyarrow call: large enough to keep the reader's
# threads busy, small enough to bound the memory of the joined text buffer.
_LINES_PER_CHUNK = 1_000_000

_LARGEST_BLOCK = 1 << 30  # pyarrow's block size is an int32


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
        Rows skipped for a wrong number of fields, or a ``time::`` cell that is
        missing or does not parse (only with ``skip_bad_rows=True``).
    empty_ids : int
        Empty ids dropped: empty plain cells, and empty tokens of complex cells
        (from double, leading or trailing spaces, or an empty cell).
    times : numpy.ndarray or None
        Shape ``(n_rows,)`` float64, the ``time::`` column in seconds since the
        Unix epoch (UTC), or None without one.
    grouping : dict or None
        Set by :func:`cleora_tensor.temporal.group_events` when the rows were
        filtered by time or grouped into windows or sessions: what it did.
    """

    spec: ColumnSpec
    n_rows: int
    entities: dict[int, RaggedColumn]
    weights: np.ndarray | None
    sources: tuple[str, ...]
    skipped_rows: int
    empty_ids: int
    times: np.ndarray | None = None
    grouping: dict[str, Any] | None = None



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
    source : str, os.PathLike, list of them, list of lines, pyarrow.Table, pandas.DataFrame or iterable
        One file; ``"-"`` for standard input; several files read in order as one
        table; a table whose columns are taken left to right; or any other
        iterable (generator, iterator, file object) yielding lines of text
        (``str`` or ``bytes``, trailing newline optional). Files have no header
        line. A list or tuple holds either file paths or lines (pycleora's
        ``from_iterator`` input): it is lines when its elements are ``bytes``,
        or are ``str`` of which one contains a space, tab or line break and the
        first such one is not an existing path; otherwise file paths
        (``pathlib.Path`` elements are always paths). A list of lines holding
        an existing file name without whitespace is ambiguous and raises
        ValueError. Say which you mean with ``iter(lines)`` (always lines) or
        ``pathlib.Path`` objects (always paths). Pipes (``mkfifo``,
        ``<(...)``), standard input and other special files are opened once
        and read as a stream; the bytes read are copied to an anonymous
        temporary file (in ``TMPDIR``) so that an error can be located by
        reading them again. Regular files are read in place, at no extra cost.
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
        time that is missing or neither Unix seconds nor ISO-8601 (unless
        ``skip_bad_rows``: the row is skipped and counted; see
        :func:`cleora_tensor._cells.parse_times`), a weight that is not a
        finite non-negative number, a Parquet file or table
        with the wrong number of columns or a column of a type that cannot hold
        ids, gzip data that is truncated or corrupt, a file that is not Parquet,
        or no rows at all. The message gives ``source:line`` (and ``:column``:
        the field number for weights, the 1-based byte offset in the line for bad
        UTF-8). For Parquet files and tables, ``line`` is the 1-based row number.
    FileNotFoundError, IsADirectoryError, PermissionError, OSError
        If a path cannot be opened or read; the message names it.
    TypeError, ValueError
        On a source of an unsupported type, lines that mix ``str`` and ``bytes``,
        a list mixing lines with an existing file, an unknown ``input_format``
        or a ``max_line_bytes`` out of range.

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
                parts.append(read_unit(unit, spec, skip_bad_rows, max_line_bytes))
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
    times = None
    if spec.time_column is not None:
        times = np.concatenate([part.times for part in parts])
    return TokenTable(
        spec=spec,
        n_rows=n_rows,
        entities=entities,
        weights=weights,
        sources=sources,
        skipped_rows=skipped,
        empty_ids=sum(part.empty_ids for part in parts),
        times=times,
    )



# --- sources ---------------------------------------------------------------------


def line_of_row(
    path: str | os.PathLike[str], columns: str | ColumnSpec, row: int, *, input_format: str | None = None
) -> int | None:
    """The physical line of a row that :func:`read_table` kept, for error messages.

    Slow path: re-reads the file, as :func:`read_table` does after an error.

    Parameters
    ----------
    path : str or path-like
        A regular file (plain or gzip); a pipe cannot be read again.
    columns : str or ColumnSpec
        The column specification it was read with.
    row : int
        0-based index among the kept rows (empty lines and rows with the
        wrong number of fields are not rows).
    input_format : {"tsv", "csv", "parquet"}, optional
        As in :func:`read_table`.

    Returns
    -------
    int or None
        1-based line number (the row number for Parquet); None past the end.

    Raises
    ------
    OSError
        If the file cannot be read.
    """
    unit = file_unit(path, input_format)
    return scanner(unit, parse_columns(columns), MAX_LINE_BYTES).line_of_row(row)


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
        if holds_lines(source):
            return _lines(source, input_format)
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
    return _lines(source, input_format)


def _lines(source: Iterable[str | bytes], input_format: str | None) -> tuple[Iterator[Unit], tuple[str, ...], None, str]:
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
