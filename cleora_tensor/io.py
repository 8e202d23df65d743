"""Read the input table (TSV, CSV, Parquet, gzip, iterables of lines, pyarrow or
pandas tables) into per-column arrays of entity ids, vectorized with pyarrow: the CSV
reader parses with threads, complex cells are split with ``pyarrow.compute`` and row
offsets are built with numpy, so no Python loop runs per token or per row. Errors
carry ``file:line:column``; line numbers are found by re-scanning the input only on
the error path (and, with ``skip_bad_rows=True``, to report the first skipped line).
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import os
import sys
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from tqdm import tqdm

from .columns import Column, ColumnSpec, parse_columns
from .errors import InputFormatError

__all__ = ["RaggedColumn", "TokenTable", "read_table"]

INPUT_FORMATS = ("tsv", "csv", "parquet")

# Lines of an iterable parsed per pyarrow call: large enough to keep the reader's
# threads busy, small enough to bound the memory of the joined text buffer.
_LINES_PER_CHUNK = 1_000_000

_EXTENSIONS = {
    ".tsv": "tsv",
    ".txt": "tsv",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_GZIP_MAGIC = b"\x1f\x8b"
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
        File paths as given, or ``"<lines>"`` / ``"<table>"``.
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
class _Unit:
    """One piece of input parsed by one reader call: a file, a chunk of lines, a table."""

    source: str
    fmt: str  # "tsv", "csv", "parquet" or "table"
    path: str | None = None
    gzip: bool = False
    buffer: bytes | None = None  # joined chunk of lines
    table: pa.Table | None = None
    first_line: int = 1  # line number of the unit's first line within `source`

    def open_binary(self) -> BinaryIO:
        """The decompressed bytes, for the slow-path scans."""
        if self.buffer is not None:
            return io.BytesIO(self.buffer)
        return gzip.open(self.path, "rb") if self.gzip else open(self.path, "rb")

    def open_arrow(self) -> pa.NativeFile:
        if self.buffer is not None:
            return pa.BufferReader(self.buffer)
        return pa.input_stream(self.path, compression="gzip" if self.gzip else None)


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
    progress: bool = False,
) -> TokenTable:
    """Read an input table into per-column entity ids.

    Parameters
    ----------
    source : str, os.PathLike, list of them, pyarrow.Table, pandas.DataFrame or iterable
        One file; several files read in order as one table; a table whose columns
        are taken left to right; or any other iterable (generator, iterator, file
        object) yielding lines of text (``str`` or ``bytes``, trailing newline
        optional). Files have no header line. A list is always a list of files: to
        pass lines, give an iterator such as ``iter(lines)``.
    columns : str or ColumnSpec
        Column specification (see :func:`cleora_tensor.columns.parse_columns`);
        every row must have exactly ``spec.n_columns`` fields.
    input_format : {"tsv", "csv", "parquet"}, optional
        Format of every file (or of the lines). By default inferred per file from
        the extension (``.tsv``/``.txt``, ``.csv``, ``.parquet``/``.pq``, the text
        formats optionally followed by ``.gz``); other names and lines are TSV.
        TSV is tab-separated without quoting; CSV is comma-separated with standard
        double-quote quoting (quoted fields may span lines). Files starting with the
        gzip magic bytes are decompressed whatever their name.
    skip_bad_rows : bool, default False
        Skip rows with the wrong number of fields, warn once per file with the
        count and first line, instead of raising.
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
        On a row with the wrong number of fields (unless ``skip_bad_rows``), bytes
        that are not UTF-8, a weight that is not a finite non-negative number, a
        Parquet file or table with the wrong number of columns, or no rows at all.
        The message gives ``source:line`` (and ``:column``: the field number for
        weights, the 1-based byte offset in the line for bad UTF-8). For Parquet
        files and tables, ``line`` is the 1-based row number.
    FileNotFoundError, IsADirectoryError
        If a path does not exist or is a directory.
    TypeError, ValueError
        On a source of an unsupported type or an unknown ``input_format``.

    Notes
    -----
    Empty lines are ignored (they are not rows), so a line holding one empty
    field cannot be told apart from no line. An empty cell of a plain entity column
    is a missing id: the row keeps its other columns and gets no id in that column.
    Ids in complex cells are separated by single spaces; the empty tokens made by
    double, leading or trailing spaces are dropped and counted in ``empty_ids``.
    In Parquet files and tables, list-typed columns hold complex cells directly and
    null cells are empty.
    """
    spec = parse_columns(columns)
    if input_format is not None and input_format not in INPUT_FORMATS:
        raise ValueError(
            f"input_format must be one of {', '.join(INPUT_FORMATS)}, "
            f"got {input_format!r}"
        )
    units, sources, total, unit_name = _units(source, input_format)
    parts = []
    with tqdm(total=total, unit=unit_name, disable=not progress, file=sys.stderr) as bar:
        for unit in units:
            parts.append(_read_unit(unit, spec, skip_bad_rows))
            bar.update()
    n_rows = sum(part.n_rows for part in parts)
    skipped = sum(part.skipped for part in parts)
    if n_rows == 0:
        reason = "no rows"
        if skipped:
            reason += f" ({skipped} rows with the wrong number of fields were skipped)"
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


def _read_unit(unit: _Unit, spec: ColumnSpec, skip_bad_rows: bool) -> _Part:
    # A function of its own so that the unit's parsed cells are freed on return.
    cells, n_rows, skipped = _load(unit, spec, skip_bad_rows)
    weights = None
    if spec.weight_column is not None:
        weights = _parse_weights(
            cells[spec.weight_column.index], spec.weight_column, unit, spec
        )
    tokens, empty_ids = {}, 0
    for column in spec.columns:
        if column.is_entity:
            values, counts, n_empty = _tokens(cells.pop(column.index), column, unit)
            tokens[column.index] = (values, counts)
            empty_ids += n_empty
    return _Part(n_rows, skipped, tokens, weights, empty_ids)


# --- sources ---------------------------------------------------------------------


def _units(
    source: Any, input_format: str | None
) -> tuple[Iterable[_Unit], tuple[str, ...], int | None, str]:
    """The units to read, the source names, their number if known, and a unit name."""
    if isinstance(source, (str, os.PathLike)):
        unit = _file_unit(source, input_format)
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
        units = [_file_unit(path, input_format) for path in source]
        return units, tuple(unit.source for unit in units), len(units), "file"
    if isinstance(source, pa.Table) or (
        hasattr(source, "to_numpy") and hasattr(source, "columns")
    ):
        if not isinstance(source, pa.Table):
            source = pa.Table.from_pandas(source, preserve_index=False)
        return (
            [_Unit(source="<table>", fmt="table", table=source)],
            ("<table>",),
            1,
            "table",
        )
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


def _file_unit(path: str | os.PathLike, input_format: str | None) -> _Unit:
    name = os.fspath(path)
    if isinstance(name, bytes):
        name = os.fsdecode(name)
    lower = name.lower()
    is_gz = lower.endswith(".gz")
    fmt = input_format or _EXTENSIONS.get(
        os.path.splitext(lower.removesuffix(".gz"))[1], "tsv"
    )
    try:
        with open(name, "rb") as f:
            magic = f.read(len(_GZIP_MAGIC))
    except FileNotFoundError as exc:
        if "\t" in name or "\n" in name:
            raise FileNotFoundError(
                exc.errno,
                f"{exc.strerror} (to pass lines of text, give an iterator: iter(lines))",
                name,
            ) from None
        raise
    except IsADirectoryError as exc:
        raise IsADirectoryError(
            exc.errno, f"{exc.strerror}; give input file paths", name
        ) from None
    is_gz = is_gz or magic == _GZIP_MAGIC
    if fmt == "parquet" and is_gz:
        raise InputFormatError(name, "gzip-compressed Parquet is not supported")
    return _Unit(source=name, fmt=fmt, path=name, gzip=is_gz)


def _line_units(lines: Iterable[str | bytes], fmt: str) -> Iterator[_Unit]:
    iterator = iter(lines)
    first_line = 1
    while chunk := list(itertools.islice(iterator, _LINES_PER_CHUNK)):
        n_lines = len(chunk)
        buffer = _join_lines(chunk, first_line)
        del chunk  # only the joined buffer lives while pyarrow parses it
        yield _Unit(source="<lines>", fmt=fmt, buffer=buffer, first_line=first_line)
        first_line += n_lines


def _join_lines(chunk: list[str | bytes], first_line: int) -> bytes:
    """One buffer with one physical line per element, so line numbers carry over."""
    if isinstance(chunk[0], (bytes, bytearray)):
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
    unit: _Unit, spec: ColumnSpec, skip_bad_rows: bool
) -> tuple[dict[int, pa.ChunkedArray], int, int]:
    """Columns needed by ``spec`` (by index), the number of rows and rows skipped."""
    needed = [c.index for c in spec.columns if c.kind != "ignore"]
    if unit.fmt in ("tsv", "csv"):
        table, skipped = _read_text(unit, spec, needed, skip_bad_rows)
        return {i: table.column(f"c{i}") for i in needed}, table.num_rows, skipped
    if unit.fmt == "parquet":
        try:
            names = pq.read_schema(unit.path).names
            _check_width(unit, spec, len(names))
            table = pq.read_table(
                unit.path, columns=[names[i] for i in needed], use_threads=True
            )
        except pa.ArrowInvalid as exc:
            raise InputFormatError(
                unit.source, f"cannot read as Parquet: {exc}"
            ) from None
        return {i: table.column(k) for k, i in enumerate(needed)}, table.num_rows, 0
    _check_width(unit, spec, unit.table.num_columns)
    return {i: unit.table.column(i) for i in needed}, unit.table.num_rows, 0


def _check_width(unit: _Unit, spec: ColumnSpec, width: int) -> None:
    if width != spec.n_columns:
        raise InputFormatError(
            unit.source,
            f"expected {spec.n_columns} columns (columns spec {spec.spec!r}), "
            f"found {width}",
        )


def _read_text(
    unit: _Unit, spec: ColumnSpec, needed: list[int], skip_bad_rows: bool
) -> tuple[pa.Table, int]:
    names = [f"c{i}" for i in range(spec.n_columns)]
    bad_rows: list[None] = []

    def on_bad_row(row: Any) -> str:
        # With threads pyarrow gives no row number, and without threads only the
        # index among non-empty rows, not the line; _first_bad_record finds it later.
        bad_rows.append(None)
        return "skip" if skip_bad_rows else "error"

    csv_format = unit.fmt == "csv"
    parse_options = pacsv.ParseOptions(
        delimiter="," if csv_format else "\t",
        quote_char='"' if csv_format else False,
        newlines_in_values=csv_format,
        ignore_empty_lines=True,
        invalid_row_handler=on_bad_row,
    )
    convert_options = pacsv.ConvertOptions(
        column_types={names[i]: pa.string() for i in needed},
        include_columns=[names[i] for i in needed],
        strings_can_be_null=False,
    )
    read_options = pacsv.ReadOptions(column_names=names, use_threads=True)
    try:
        with unit.open_arrow() as stream:
            table = pacsv.read_csv(
                stream,
                read_options=read_options,
                parse_options=parse_options,
                convert_options=convert_options,
            )
    except pa.ArrowInvalid as exc:
        if "Empty CSV file" in str(exc):
            return pa.table({names[i]: pa.array([], pa.string()) for i in needed}), 0
        raise _located_error(unit, spec, exc, bad_row=bool(bad_rows)) from None
    if bad_rows:
        found = _first_bad_record(unit, spec.n_columns)
        where = f"; the first is line {found[0]}" if found else ""
        warnings.warn(
            f"{unit.source}: skipped {len(bad_rows)} rows without "
            f"{spec.n_columns} fields (columns spec {spec.spec!r}){where}",
            stacklevel=4,
        )
    return table, len(bad_rows)


def _located_error(
    unit: _Unit, spec: ColumnSpec, exc: pa.ArrowInvalid, *, bad_row: bool
) -> InputFormatError:
    """A pyarrow parse error as InputFormatError with its line (slow path)."""
    if bad_row and (found := _first_bad_record(unit, spec.n_columns)):
        line, n_fields = found
        return InputFormatError(
            unit.source,
            f"expected {spec.n_columns} fields (columns spec {spec.spec!r}), "
            f"found {n_fields}",
            line=line,
        )
    if "UTF8" in str(exc) and (found := _first_invalid_utf8(unit)):
        line, column, byte = found
        return InputFormatError(
            unit.source,
            f"invalid UTF-8 byte 0x{byte:02x} (column is the byte offset in the line)",
            line=line,
            column=column,
        )
    return InputFormatError(unit.source, str(exc))


# --- columns -------------------------------------------------------------------------


def _as_strings(array: pa.ChunkedArray) -> pa.ChunkedArray:
    """String ids, with nulls (possible in Parquet and tables) as empty ids."""
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        array = pc.cast(array, pa.string())
    return array.fill_null("") if array.null_count else array


def _tokens(
    cells: pa.ChunkedArray, column: Column, unit: _Unit
) -> tuple[pa.ChunkedArray, np.ndarray | None, int]:
    """Non-empty ids of a column, ids per row (None: one each) and empty ids dropped."""
    if pa.types.is_list(cells.type) or pa.types.is_large_list(cells.type):
        if not column.complex:
            raise InputFormatError(
                unit.source,
                f"column {column.index + 1} holds lists but the spec declares "
                f"{str(column)!r}; mark it 'complex::'",
            )
        lengths = pc.list_value_length(cells).fill_null(0)
        flat = _as_strings(pc.list_flatten(cells))
    elif column.complex:
        split = pc.split_pattern(_as_strings(cells), " ")
        lengths = pc.list_value_length(split)
        flat = pc.list_flatten(split)
        del split
    else:
        lengths, flat = None, _as_strings(cells)
    lengths = None if lengths is None else lengths.to_numpy().astype(np.int64, copy=False)
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
    kept_before = np.zeros(len(keep) + 1, dtype=np.int64)
    np.cumsum(keep, out=kept_before[1:])
    return values, np.diff(kept_before[_offsets(lengths)]), n_empty


def _offsets(counts: np.ndarray) -> np.ndarray:
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return offsets


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
    return RaggedColumn(values, _offsets(counts))


def _parse_weights(
    cells: pa.ChunkedArray, column: Column, unit: _Unit, spec: ColumnSpec
) -> np.ndarray:
    """The weight column as float64, checked finite and non-negative."""

    def error(row: int, reason: str) -> InputFormatError:
        line = _line_of_row(unit, spec.n_columns, row)
        return InputFormatError(unit.source, reason, line=line, column=column.index + 1)

    if cells.null_count:
        raise error(int(cells.is_null().to_numpy().argmax()), "missing weight")
    try:
        weights = pc.cast(cells, pa.float64()).to_numpy()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        row = _first_cast_failure(cells, pa.float64())
        raise error(row, f"weight {cells[row].as_py()!r} is not a number") from None
    bad = ~(np.isfinite(weights) & (weights >= 0))
    if bad.any():
        row = int(bad.argmax())
        value = weights[row]
        what = "NaN" if np.isnan(value) else "infinite" if np.isinf(value) else "negative"
        raise error(
            row,
            f"weight {cells[row].as_py()!r} is {what}; "
            "weights must be finite and non-negative",
        )
    return weights


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


# --- slow path: locate rows in the raw input -----------------------------------------
# Scans re-read the decompressed input block by block; numpy finds the line ends and
# field counts of TSV, Python's csv module follows the quoting of CSV.


def _blocks(stream: BinaryIO) -> Iterator[bytes]:
    """The input in blocks of whole lines, each ending with a line terminator."""
    rest = b""
    while block := stream.read(_SCAN_BLOCK):
        data = rest + block
        # A final "\r" may be the first half of a "\r\n" split between blocks.
        cut = max(data.rfind(b"\n"), data.rfind(b"\r", 0, len(data) - 1)) + 1
        if cut:
            yield data[:cut]
        rest = data[cut:]
    if rest:
        yield rest if rest.endswith((b"\n", b"\r")) else rest + b"\n"


def _line_bounds(block: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Start, terminator position and content length of each line of a block.

    Like pyarrow, "\n", "\r\n" and a lone "\r" end a line.
    """
    buf = np.frombuffer(block, dtype=np.uint8)
    ends = np.flatnonzero(buf == 10)
    crlf = np.zeros(len(ends), dtype=bool)
    returns = np.flatnonzero(buf == 13)
    if returns.size:
        following = np.zeros(len(returns), dtype=np.uint8)
        inner = returns + 1 < len(buf)
        following[inner] = buf[returns[inner] + 1]
        ends = np.sort(np.concatenate([ends, returns[following != 10]]))
        crlf = (ends > 0) & (buf[ends] == 10) & (buf[np.maximum(ends - 1, 0)] == 13)
    starts = np.zeros(len(ends), dtype=np.int64)
    starts[1:] = ends[:-1] + 1
    return starts, ends, ends - starts - crlf


def _records(unit: _Unit) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Batches of (line number, number of fields) of the non-empty records of a unit."""
    with unit.open_binary() as stream:
        if unit.fmt == "tsv":
            first = unit.first_line
            for block in _blocks(stream):
                _, ends, lengths = _line_bounds(block)
                tabs = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 9)
                # Tabs before each line end, differenced: tabs within each line.
                n_fields = np.diff(np.searchsorted(tabs, ends), prepend=0) + 1
                kept = lengths > 0
                yield first + np.flatnonzero(kept), n_fields[kept]
                first += len(ends)
            return
        yield from _csv_records(stream, unit.first_line)


def _csv_records(
    stream: BinaryIO, first_line: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    text = io.TextIOWrapper(
        stream, encoding="utf-8", errors="surrogateescape", newline=""
    )
    # Complex cells may be longer than the csv module's default field limit.
    limit = csv.field_size_limit(2**31 - 1)
    try:
        reader = csv.reader(text)
        numbers: list[int] = []
        n_fields: list[int] = []
        start = 1
        for fields in reader:
            if fields:
                numbers.append(first_line - 1 + start)
                n_fields.append(len(fields))
                if len(numbers) == _CSV_BATCH:
                    yield np.array(numbers), np.array(n_fields)
                    numbers, n_fields = [], []
            start = reader.line_num + 1
        yield np.array(numbers, dtype=np.int64), np.array(n_fields, dtype=np.int64)
    finally:
        csv.field_size_limit(limit)


def _first_bad_record(unit: _Unit, n_columns: int) -> tuple[int, int] | None:
    """(Line number, number of fields) of the first row without ``n_columns`` fields."""
    for numbers, n_fields in _records(unit):
        bad = np.flatnonzero(n_fields != n_columns)
        if bad.size:
            return int(numbers[bad[0]]), int(n_fields[bad[0]])
    return None


def _line_of_row(unit: _Unit, n_columns: int, row: int) -> int | None:
    """Line number of kept row ``row`` (0-based) of a unit; the row number for tables."""
    if unit.fmt not in ("tsv", "csv"):
        return row + 1
    for numbers, n_fields in _records(unit):
        good = numbers[n_fields == n_columns]
        if row < len(good):
            return int(good[row])
        row -= len(good)
    return None


def _first_invalid_utf8(unit: _Unit) -> tuple[int, int, int] | None:
    """(Line number, 1-based byte offset in the line, byte) of the first bad byte."""
    first = unit.first_line
    with unit.open_binary() as stream:
        for block in _blocks(stream):
            try:
                block.decode("utf-8")
            except UnicodeDecodeError as exc:
                starts, ends, _ = _line_bounds(block)
                line = int(np.searchsorted(ends, exc.start))
                return first + line, exc.start - int(starts[line]) + 1, block[exc.start]
            first += block.count(b"\n") + block.count(b"\r") - block.count(b"\r\n")
    return None
