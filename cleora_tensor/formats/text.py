"""The text formats: Cleora 1.x (``cleora``) and ``word2vec``, with their JSON sidecar.

A line ``n d``, then per entity ``id [occurrence] v1 ... vd`` separated by
single spaces, and a sidecar ``PATH.json`` holding the configuration, the
relation and how entity types are encoded in the ids (see
:mod:`~cleora_tensor.formats.sidecar`). Arrow formats the numbers in
blocks when writing and parses the lines in parallel blocks when reading, one
typed column per field; the checks around the reader keep a bad file from
taking more memory than its size warrants and point at the line (and field)
that is wrong.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from ..errors import InputFormatError
from ..finite import first_nonfinite
from .fields import EmbeddingFields
from .sidecar import read_sidecar, split_ids

__all__ = ["TEXT_MAX_DIM", "read_text", "table_fields", "write_rows", "write_text"]

# Rows per block when formatting text: bounds the memory of the transposed
# block and of Arrow's formatted strings (~45 MB at d = 256).
_TEXT_BLOCK_ROWS = 1 << 14
# Bytes per parallel parse block; large blocks mean few record batches to
# copy into the (n, d) matrix. Arrow rejects longer lines.
_TEXT_READ_BLOCK = 1 << 24
_TEXT_HEADER_LIMIT = 256
#: Largest dimension of a text embedding: Arrow's CSV reader takes about 9 kB
#: of memory per column and parse block, which would dwarf a file of a few
#: wide lines.
TEXT_MAX_DIM = 1 << 14


# ------------------------------------------------------------------- writing


def write_text(
    out: BinaryIO, fields: EmbeddingFields, ids: pa.Array, *, with_occurrences: bool
) -> None:
    """Write ``fields`` to the open binary file ``out``, with the ``ids`` of
    :func:`~cleora_tensor.formats.sidecar.text_ids`."""
    n, dim = fields.vectors.shape
    out.write(f"{n} {dim}\n".encode())
    write_rows(out, fields, ids, with_occurrences=with_occurrences, delimiter=" ")


def write_rows(
    out: BinaryIO, fields: EmbeddingFields, ids: pa.Array, *, with_occurrences: bool, delimiter: str
) -> None:
    """Write one line ``id [occurrence] v1 ... vd`` per entity, fields separated by ``delimiter``.

    ``ids`` (a string array, one per entity) are written verbatim: quoting,
    where the format has it, is the caller's.
    """
    ids = ids.cast(pa.large_string())
    n = len(fields.vectors)
    for start in range(0, n, _TEXT_BLOCK_ROWS):
        stop = min(start + _TEXT_BLOCK_ROWS, n)
        out.write(_text_block(fields, ids, start, stop, with_occurrences, delimiter))


def _text_block(
    fields: EmbeddingFields,
    ids: pa.Array,
    start: int,
    stop: int,
    with_occurrences: bool,
    delimiter: str = " ",
) -> memoryview:
    """Lines ``id [occurrence] v1 ... vd`` of rows ``start:stop``, as UTF-8 bytes.

    Arrow formats the numbers (each float32 as its shortest round-tripping
    decimal); the ids are joined in front of its lines afterwards, because its
    CSV writer refuses ``"`` in unquoted values, which ids may hold.
    """
    # Arrow wants columns, so the block is transposed to make each one contiguous.
    columns = [pa.array(column) for column in np.ascontiguousarray(fields.vectors[start:stop].T)]
    if with_occurrences:
        columns.insert(0, pa.array(fields.occurrences[start:stop]))
    ids = ids.slice(start, stop - start)
    if columns:
        sink = pa.BufferOutputStream()
        options = pcsv.WriteOptions(include_header=False, delimiter=delimiter, quoting_style="none")
        table = pa.Table.from_arrays(columns, names=[str(j) for j in range(len(columns))])
        pcsv.write_csv(table, sink, write_options=options)
        numbers = sink.getvalue()
        # Each line, its "\n" included, as one string: floats hold no newline.
        offsets = np.zeros(stop - start + 1, dtype=np.int64)
        offsets[1:] = np.flatnonzero(np.frombuffer(numbers, dtype=np.uint8) == 10) + 1
        lines = pa.LargeStringArray.from_buffers(stop - start, pa.py_buffer(offsets), numbers)
        joined = pc.binary_join_element_wise(ids, lines, pa.scalar(delimiter, pa.large_string()))
    else:
        empty, newline = (pa.scalar(text, pa.large_string()) for text in ("", "\n"))
        joined = pc.binary_join_element_wise(ids, empty, newline)
    ends = np.frombuffer(joined.buffers()[1], dtype=np.int64, count=len(joined) + 1, offset=8 * joined.offset)
    return memoryview(joined.buffers()[2])[ends[0] : ends[-1]]


# ------------------------------------------------------------------- reading


def _text_header(path: Path, header: bytes, size: int) -> tuple[int, int]:
    """``n, d`` from the first line, checked against the file's ``size`` in bytes."""
    try:
        n, dim = (int(value) for value in header.split())
        if n < 0 or dim < 0:
            raise ValueError
    except ValueError:
        raise InputFormatError(
            str(path), f"first line must be 'n d' (two counts), got {header[:80]!r}", line=1
        ) from None
    if dim > TEXT_MAX_DIM:
        raise InputFormatError(
            str(path),
            f"dimension {dim} is over the {TEXT_MAX_DIM} a text embedding may have; use npz or parquet",
            line=1,
        )
    # Each value takes at least one byte and a space or line end; nothing
    # else is allocated before the lines are counted.
    need = len(header) + 2 * n * dim
    if size < need:
        raise InputFormatError(
            str(path),
            f"header announces {n} entities of dimension {dim}, {n * dim} values that take "
            f"at least {need} bytes, but the file has {size} bytes",
            line=1,
        )
    return n, dim


def read_text(path: Path, *, with_occurrences: bool) -> EmbeddingFields:
    """The fields in the text file ``path`` and its sidecar, checked (see :mod:`cleora_tensor.formats`)."""
    with open(path, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        header = file.readline(_TEXT_HEADER_LIMIT)
        first_row = file.readline(_TEXT_READ_BLOCK)
    n, dim = _text_header(path, header, size)
    sidecar = read_sidecar(path)
    value_names = [f"v{j}" for j in range(dim)]
    names = ["id", *(["occurrence"] if with_occurrences else []), *value_names]
    # The original word2vec tool ends each line with a space: one empty field.
    trailing_space = first_row.rstrip(b"\r\n").endswith(b" ")
    types = {"id": pa.string(), "occurrence": pa.int64()}
    types.update(dict.fromkeys(value_names, pa.float32()))
    try:
        table = pcsv.read_csv(
            path,
            read_options=pcsv.ReadOptions(
                skip_rows=1,
                column_names=names + ["end"] * trailing_space,
                block_size=_TEXT_READ_BLOCK,
            ),
            parse_options=pcsv.ParseOptions(
                delimiter=" ", quote_char=False, escape_char=False, double_quote=False
            ),
            convert_options=pcsv.ConvertOptions(
                column_types=types,
                include_columns=names,
                null_values=[],
                strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as error:
        raise _locate_text_error(path, names, trailing_space, error) from error
    if table.num_rows != n:
        raise InputFormatError(
            str(path), f"header announces {n} entities but {table.num_rows} lines follow", line=1
        )
    return table_fields(path, table, value_names, sidecar, size, lambda row: _line_of_row(path, row))


def table_fields(
    path: Path,
    table: pa.Table,
    value_names: list[str],
    sidecar: dict[str, Any],
    size: int,
    line_of_row: Callable[[int], int],
) -> EmbeddingFields:
    """The checked fields of a parsed text file: its ``table`` and its sidecar.

    Parameters
    ----------
    path : Path
        The file, for error messages.
    table : pyarrow.Table
        Columns ``id`` (string), optionally ``occurrence`` (int64), then the
        ``d`` vector components (float32), one row per entity.
    value_names : list of str
        The names of the ``d`` components as the file gives them, for error
        messages.
    sidecar : dict
        From :func:`~cleora_tensor.formats.sidecar.read_sidecar`; ``{}`` when there is none.
    size : int
        The file's size in bytes (see :func:`~cleora_tensor.formats.checks.type_array`).
    line_of_row : callable
        Data row -> 1-based line of the file; called only to report an error.

    Raises
    ------
    InputFormatError
        If a component is NaN or infinite (naming the line and column), or an
        id lacks the ``type::`` prefix that the sidecar announces
        (:func:`~cleora_tensor.formats.sidecar.split_ids`).
    """
    n, dim = table.num_rows, len(value_names)
    vectors = np.empty((n, dim), dtype=np.float32)
    offset = table.num_columns - dim
    start = 0
    # Batch by batch, so that each strided column write stays in cache.
    for batch in table.to_batches():
        block = vectors[start : start + batch.num_rows]
        for j in range(dim):
            block[:, j] = batch.column(offset + j).to_numpy()
        start += batch.num_rows
    ids = table.column("id").combine_chunks()
    bad = first_nonfinite(vectors)
    if bad is not None:
        row, column = bad
        raise InputFormatError(
            str(path),
            f"field {value_names[column]!r} of entity {ids[row].as_py()!r} is {vectors[row, column]}; "
            "vectors must be finite",
            line=line_of_row(row),
            column=offset + column + 1,
        )
    ids, entity_types = split_ids(path, ids, sidecar, size, line_of_row)
    has_occurrences = "occurrence" in table.column_names
    occurrences = table.column("occurrence").to_numpy() if has_occurrences else np.zeros(n, np.int64)
    return EmbeddingFields(
        entity_ids=ids,
        types=entity_types,
        vectors=vectors,
        degrees=np.full(n, np.nan),
        occurrences=occurrences,
        config=sidecar.get("config"),
        relation=sidecar.get("relation"),
        line_of_row=line_of_row,
    )


def _data_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """Line number and content (without line end) of each non-empty line after the header.

    For error messages only. Reads at most one parse block per line (Arrow
    rejects longer lines), so memory stays bounded whatever the file holds.
    """
    with open(path, "rb") as file:
        file.readline(_TEXT_HEADER_LIMIT)
        line_number = 1
        while line := file.readline(_TEXT_READ_BLOCK + 1):
            line_number += 1
            if len(line) > _TEXT_READ_BLOCK:
                raise InputFormatError(
                    str(path), f"line is longer than {_TEXT_READ_BLOCK} bytes", line=line_number
                )
            if line := line.rstrip(b"\r\n"):
                yield line_number, line


def _line_of_row(path: Path, row: int) -> int:
    """The line of data row ``row`` (Arrow skips empty lines); runs only after an error."""
    return next(number for index, (number, _) in enumerate(_data_lines(path)) if index == row)


def _locate_text_error(
    path: Path, names: list[str], trailing_space: bool, error: pa.ArrowInvalid
) -> InputFormatError:
    """Find the line Arrow rejected (its messages carry no line numbers).

    Runs only after a failed parse, so a line-by-line scan is affordable.
    """
    width = len(names) + trailing_space
    try:
        for line_number, line in _data_lines(path):
            fields = line.split(b" ")
            if len(fields) != width:
                return InputFormatError(
                    str(path),
                    f"expected {width} space-separated fields, got {len(fields)}",
                    line=line_number,
                )
            try:
                fields[0].decode("utf-8")
            except UnicodeDecodeError:
                return InputFormatError(
                    str(path), f"id {fields[0][:40]!r} is not valid UTF-8", line=line_number, column=1
                )
            for column, (name, value) in enumerate(zip(names[1:], fields[1:]), start=2):
                try:
                    number = (int if name == "occurrence" else float)(value)
                except ValueError:
                    number = None
                if number is None or name == "occurrence" and not -(2**63) <= number < 2**63:
                    return InputFormatError(
                        str(path),
                        f"field {name!r} is not a number{'' if number is None else ' of 64 bits'}: "
                        f"{value[:40]!r}",
                        line=line_number,
                        column=column,
                    )
    except InputFormatError as located:
        return located
    return InputFormatError(str(path), str(error))
