"""The ``csv`` and ``tsv`` formats: pycleora's embedding tables, with the text formats' sidecar.

The layout is the one pycleora 3.2.1 writes (``pycleora embed --output
FILE.csv`` or ``.tsv``, ``pycleora.io_utils.save_embeddings(graph, x, path,
"csv")``), so that each library reads the other's files: a header row
``entity_id,dim_0,...,dim_{d-1}``, then per entity a row of its id and its
``d`` vector components.

``csv``
    RFC 4180: fields separated by commas; an id holding a comma, a double
    quote, CR or LF (and the empty id) is enclosed in double quotes, its
    quotes doubled, as Python's :mod:`csv` module writes it. Lines end in LF;
    pycleora's CRLF is read too.
``tsv``
    IANA ``text/tab-separated-values``: fields separated by tabs, nothing
    quoted (as pycleora writes it), so an id cannot hold a tab or a line
    break, nor be empty; saving such an id raises (use ``csv``).

Floats are written as the shortest decimal that reads back as the same
float32, so vectors round-trip bit for bit. pycleora's CSV holds the float64
``repr`` of each float32, which reads back bit for bit too; its TSV keeps six
decimals (``%.6f``), so its vectors load within 5e-7 (plus half a float32 ulp)
of the ones it computed.

Entity types, the configuration and the relation go to the sidecar
``PATH.json`` (:mod:`~cleora_tensor.formats.sidecar`); with several types the
id column holds ``type::id``. A file without a sidecar (pycleora's) loads
with type ``""`` for every entity, degrees NaN and occurrences 0, like the
word2vec format.

Reading: the first line must be the header row, exactly
``entity_id,dim_0,...,dim_{d-1}``, which tells an embedding from a graph
table of the same extension. The rows are parsed by Arrow in parallel
blocks, one float32 column per component; a row that does not parse is
located afterwards by a scan with Python's :mod:`csv` module, and the error
names the file, line and column.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from ..errors import InputFormatError
from . import text
from .fields import EmbeddingFields
from .sidecar import read_sidecar
from .text import TEXT_MAX_DIM, table_fields, write_rows

__all__ = ["DELIMITED_FORMATS", "read_delimited", "write_delimited"]

#: The table formats, and the character separating their fields.
DELIMITED_FORMATS = {"csv": ",", "tsv": "\t"}
# Python csv dialect options per format; the writer below and Arrow's reader
# follow the same rules.
_DIALECTS = {
    "csv": {"delimiter": ",", "quotechar": '"', "doublequote": True, "quoting": csv.QUOTE_MINIMAL},
    "tsv": {"delimiter": "\t", "quoting": csv.QUOTE_NONE},
}
# A CSV field that must be quoted (the empty id too: with d = 0 its row would
# be an empty line, which readers skip).
_NEEDS_QUOTES = '^$|[",\r\n]'
# The first line is read at most this long when looking for the header.
_HEADER_LIMIT = 1 << 20


# ------------------------------------------------------------------- writing


def write_delimited(out: BinaryIO, fields: EmbeddingFields, ids: pa.Array, fmt: str) -> None:
    """Write ``fields`` as a ``fmt`` table to the open binary file ``out``.

    Parameters
    ----------
    out : binary file
    fields : EmbeddingFields
        ``vectors`` ``(n, d)`` float32.
    ids : pyarrow.Array
        ``(n,)`` strings from :func:`~cleora_tensor.formats.sidecar.text_ids`
        (checked there: a ``tsv`` id holds no tab or line break).
    fmt : {"csv", "tsv"}
    """
    delimiter = DELIMITED_FORMATS[fmt]
    dim = fields.vectors.shape[1]
    out.write(delimiter.join(["entity_id", *(f"dim_{j}" for j in range(dim))]).encode() + b"\n")
    if fmt == "csv":
        quoted = pc.binary_join_element_wise("", pc.replace_substring(ids, '"', '""'), "", '"')
        ids = pc.if_else(pc.match_substring_regex(ids, _NEEDS_QUOTES), quoted, ids)
    write_rows(out, fields, ids, with_occurrences=False, delimiter=delimiter)


# ------------------------------------------------------------------- reading


def read_delimited(path: Path, fmt: str) -> EmbeddingFields:
    """The fields in the ``fmt`` table ``path`` and its sidecar, checked.

    Parameters
    ----------
    path : Path
        A regular file (checked by the caller).
    fmt : {"csv", "tsv"}

    Returns
    -------
    EmbeddingFields
        ``vectors`` ``(n, d)`` float32, ``d`` the header's fields less one;
        ``degrees`` NaN; ``occurrences`` 0; types, configuration and relation
        from the sidecar (see :mod:`~cleora_tensor.formats.sidecar`).

    Raises
    ------
    InputFormatError
        If the header row is missing, malformed or over
        :data:`~cleora_tensor.formats.text.TEXT_MAX_DIM` components; a row
        has another number of fields, an id that is not UTF-8 or a component
        that is not a number (naming the line and the column); a component
        is NaN or infinite; or the sidecar is invalid.
    """
    size = os.path.getsize(path)
    header = _header(path, fmt)
    dim = len(header) - 1
    sidecar = read_sidecar(path)
    value_columns = [f"v{j}" for j in range(dim)]
    column_types = dict.fromkeys(value_columns, pa.float32())
    column_types["id"] = pa.string()
    quoted = fmt == "csv"
    try:
        table = pcsv.read_csv(
            path,
            read_options=pcsv.ReadOptions(
                skip_rows=1, column_names=["id", *value_columns], block_size=text._TEXT_READ_BLOCK
            ),
            parse_options=pcsv.ParseOptions(
                delimiter=DELIMITED_FORMATS[fmt],
                quote_char='"' if quoted else False,
                double_quote=quoted,
                escape_char=False,
                newlines_in_values=quoted,
            ),
            convert_options=pcsv.ConvertOptions(
                column_types=column_types, null_values=[], strings_can_be_null=False
            ),
        )
    except pa.ArrowInvalid as error:
        raise _locate_error(path, fmt, header, error) from error
    return table_fields(path, table, header[1:], sidecar, size, lambda row: _line_of_row(path, fmt, row))


def _header(path: Path, fmt: str) -> list[str]:
    """The fields of the header row, the first line of ``path``: ``entity_id, dim_0, ..., dim_{d-1}``."""
    with open(path, "rb") as file:
        line = file.readline(_HEADER_LIMIT)
    try:
        decoded = line.decode("utf-8-sig").rstrip("\r\n")
        header = next(csv.reader([decoded], strict=True, **_DIALECTS[fmt]), [])
    except (UnicodeDecodeError, csv.Error) as error:
        raise InputFormatError(str(path), f"the header row is malformed: {error}", line=1) from None
    if len(header) - 1 > TEXT_MAX_DIM:
        raise InputFormatError(
            str(path),
            f"the header announces {len(header) - 1} components, over the {TEXT_MAX_DIM} a text "
            "embedding may have; use npz or parquet",
            line=1,
        )
    expected = ["entity_id", *(f"dim_{j}" for j in range(len(header) - 1))]
    if header != expected or len(line) == _HEADER_LIMIT:
        found = f"field {len(header) + 1} is missing" if not header else next(
            (f"field {j + 1} is {name[:40]!r}" for j, (name, want) in enumerate(zip(header, expected)) if name != want),
            f"the line is longer than {_HEADER_LIMIT} bytes",
        )
        raise InputFormatError(
            str(path),
            f"not a {fmt} embedding: its first line must be the header row "
            f"entity_id,dim_0,...,dim_{{d-1}} (as pycleora writes it), but {found}",
            line=1,
        )
    return header


def _is_number(value: str) -> bool:
    """Whether Arrow reads ``value`` as a float (Python's float() also takes ``1_0``)."""
    try:
        float(value)
    except ValueError:
        return False
    return "_" not in value


def _records(path: Path, fmt: str) -> Iterator[tuple[int, list[str]]]:
    """First line and fields of each non-empty row after the header; for error messages only.

    Bytes that are not UTF-8 are kept as surrogates (see :func:`_locate_error`).
    """
    with open(path, encoding="utf-8", errors="surrogateescape", newline="") as file:
        file.readline(_HEADER_LIMIT)
        reader = csv.reader(file, **_DIALECTS[fmt])
        line = 2
        try:
            for record in reader:
                if record:
                    yield line, record
                line = reader.line_num + 2
        except csv.Error as error:
            raise InputFormatError(str(path), f"malformed {fmt} row: {error}", line=line) from None


def _line_of_row(path: Path, fmt: str, row: int) -> int:
    """The first line of data row ``row`` (Arrow skips empty lines); runs only after an error."""
    return next(line for index, (line, _) in enumerate(_records(path, fmt)) if index == row)


def _locate_error(path: Path, fmt: str, header: list[str], error: pa.ArrowInvalid) -> InputFormatError:
    """Find the row Arrow rejected (its messages carry no line numbers).

    Runs only after a failed parse, so a row-by-row scan is affordable.
    """
    try:
        for line, record in _records(path, fmt):
            if len(record) != len(header):
                return InputFormatError(
                    str(path), f"expected {len(header)} fields as in the header row, got {len(record)}", line=line
                )
            try:
                record[0].encode("utf-8")
            except UnicodeEncodeError:
                raw = record[0][:40].encode("utf-8", "surrogateescape")
                return InputFormatError(str(path), f"id {raw!r} is not valid UTF-8", line=line, column=1)
            for column, (name, value) in enumerate(zip(header[1:], record[1:]), start=2):
                if not _is_number(value):
                    return InputFormatError(
                        str(path), f"field {name!r} is not a number: {value[:40]!r}", line=line, column=column
                    )
    except InputFormatError as located:
        return located
    return InputFormatError(str(path), str(error))
