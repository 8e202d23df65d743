"""Detect the column specification of an input table from a sample of its rows.

What the command line does when ``--columns`` is not given, following the
behaviour described for Cleora's hosted version: with two columns, column 1 is
the context that connects and column 2 is embedded; two columns sharing most ids
are one homogeneous node type; one column of space-separated ids is a hyperedge
per row. The rule, on the first :data:`SAMPLE_ROWS` rows (at most
:data:`SAMPLE_BYTES` of text), each column read as space-separated ids:

======================================================  =====================================================
the sample                                              ``--columns``
======================================================  =====================================================
1 column, some cell holds several ids                   ``complex::reflexive::node`` (pycleora's default)
2 columns, column 2 holds several ids, column 1 one     ``transient::context complex::reflexive::item``
2 columns of one id each, sharing most ids              ``node node``
2 columns of one id each, sharing few ids               ``transient::context item``
3 columns, the first two as above, column 3 numbers     the above, then ``weight::weight``
with a fraction (e.g. ``0.5``)
anything else                                           :class:`~cleora_tensor.errors.InputFormatError`
                                                        asking for ``--columns``
======================================================  =====================================================

"Sharing most ids" means here that more than :data:`SHARED_IDS` (a fifth) of the
distinct ids of the column with fewer of them also occur in the other column:
measured on whole files, the homogeneous graphs of the shared data share 47%
(CiteSeer, whose edges list each pair once) to 100%, tables of two entity
types named differently 0%, so a majority would misread CiteSeer. Ids are compared as
strings: two columns of different entities numbered alike (users 1..943 and
movies 1..1682) look like one node type, so the decision is always printed, and
``--columns`` overrides it. A third column of whole numbers (a rating, a count,
a timestamp, or ids) and any table of four or more columns is refused: which
columns are entities cannot be told from the data.
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ._reader import read_unit, scanner
from ._sources import Unit, file_unit, read_error
from .columns import parse_columns
from .errors import InputFormatError
from .io import MAX_LINE_BYTES

__all__ = ["SAMPLE_BYTES", "SAMPLE_ROWS", "SHARED_IDS", "Detection", "detect_columns"]

#: Rows of the sample the decision is made on.
SAMPLE_ROWS = 1_000_000
#: Most bytes of (decompressed) text read for the sample; a first line longer
#: than this is read whole, up to :data:`~cleora_tensor.io.MAX_LINE_BYTES`.
SAMPLE_BYTES = 32 << 20
#: Fraction of the smaller column's distinct ids that must occur in the other
#: column for two columns to be one node type (see the module documentation).
SHARED_IDS = 0.2
#: Most fields per row looked for in a text sample.
_MAX_FIELDS = 16


def _ask(n_fields: int) -> str:
    """The answer for "name the columns yourself", with the grammar in an example of ``n_fields`` columns."""
    example = ["transient::user", "item", *(f"ignore::c{i + 1}" for i in range(2, n_fields))]
    return (
        f'give --columns, naming each column, e.g. --columns "{" ".join(example)}" '
        "(modifiers: complex:: several space-separated ids, reflexive:: links them to each "
        "other, transient:: not embedded, weight:: a number weighing the row, ignore:: skipped)"
    )


@dataclass(frozen=True)
class Detection:
    """The column specification chosen for an input, and why.

    Attributes
    ----------
    columns : str
        The specification, e.g. ``"node node"``; valid for
        :func:`~cleora_tensor.parse_columns`.
    reason : str
        One sentence: what the sample showed and how it maps to ``columns``.
    n_fields : int
        Fields per row of the input.
    sample_rows : int
        Rows of the sample the decision was made on.
    """

    columns: str
    reason: str
    n_fields: int
    sample_rows: int

    def __str__(self) -> str:
        return f'--columns "{self.columns}" ({self.reason})'


def detect_columns(
    source: str | os.PathLike[str] | list[str | os.PathLike[str]],
    *,
    input_format: str | None = None,
    sample_rows: int = SAMPLE_ROWS,
) -> Detection:
    """Choose the column specification of an input file from its first rows.

    Parameters
    ----------
    source : str, path-like, or list of them
        An input file as :func:`~cleora_tensor.read_table` reads it (TSV, CSV,
        Parquet, gzip allowed); of a list, the first file is sampled (all files
        of one input share their columns).
    input_format : {"tsv", "csv", "parquet"}, optional
        As in :func:`~cleora_tensor.read_table`: by default from the extension.
    sample_rows : int, default :data:`SAMPLE_ROWS`
        Rows read from the start of the file.

    Returns
    -------
    Detection
        The specification and the reason, following the rule of this module's
        documentation (the behaviour described for Cleora's hosted version).

    Raises
    ------
    InputFormatError
        When the rule does not decide (four or more columns, two columns of
        several ids, ...): the message names the file, asks for ``--columns``
        and shows its grammar. Also if the sample cannot be read (no rows, rows
        of different numbers of fields, more than 16 fields, bytes that are not
        UTF-8), or the source is standard input or a pipe, which cannot be read
        twice.
    FileNotFoundError, IsADirectoryError, PermissionError, OSError
        If the file cannot be opened.

    Examples
    --------
    >>> from cleora_tensor.datasets import dataset_path
    >>> detect_columns(dataset_path("karate_club")).columns
    'node node'
    """
    if isinstance(source, (list, tuple)):
        if not source:
            raise InputFormatError("<no files>", "no rows: the list of files is empty")
        source = source[0]
    if isinstance(sample_rows, bool) or not isinstance(sample_rows, int) or sample_rows < 1:
        raise ValueError(f"sample_rows must be a positive integer, got {sample_rows!r}")
    unit = file_unit(source, input_format)
    if unit.spool is not None:
        raise InputFormatError(
            unit.source,
            "cannot detect the columns of standard input or a pipe, which can be read "
            "only once; give --columns",
        )
    sample = _parquet_sample(unit, sample_rows) if unit.fmt == "parquet" else _text_sample(unit, sample_rows)
    n_fields = sample.table.num_columns if sample.table is not None else _fields(sample)
    # Every column read as space-separated ids: a cell's id count tells a complex column.
    read_as = (
        "complex::reflexive::c0" if n_fields == 1 else " ".join(f"complex::c{i}" for i in range(n_fields))
    )
    part = read_unit(sample, parse_columns(read_as), False, MAX_LINE_BYTES)
    if not part.n_rows:
        raise InputFormatError(sample.source, "no rows: the input is empty or has only empty lines")
    columns, reason = _decide([part.tokens[i] for i in range(n_fields)], sample.source)
    return Detection(columns, reason, n_fields, part.n_rows)


def _text_sample(unit: Unit, rows: int) -> Unit:
    """The first ``rows`` whole lines (at most :data:`SAMPLE_BYTES`, or the first line)."""
    try:
        with unit.open_binary() as stream:
            data = stream.read(SAMPLE_BYTES)
            while len(data) < MAX_LINE_BYTES and b"\n" not in data and (more := stream.read(SAMPLE_BYTES)):
                data += more
            complete = not stream.read(1)
    except (OSError, EOFError, zlib.error) as exc:
        raise read_error(unit, exc) from None
    ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == ord("\n"))
    if len(ends) >= rows:
        data = data[: ends[rows - 1] + 1]
    elif not complete:
        if not len(ends):
            raise InputFormatError(
                unit.source, f"the first line is longer than {MAX_LINE_BYTES} bytes; give --columns", line=1
            )
        data = data[: ends[-1] + 1]
    return Unit(source=unit.source, fmt=unit.fmt, buffer=data)


def _parquet_sample(unit: Unit, rows: int) -> Unit:
    """The first ``rows`` rows of a Parquet file, as a table unit."""
    try:
        batches = pq.ParquetFile(unit.path).iter_batches(batch_size=rows)
        table = pa.Table.from_batches([next(batches)])
    except StopIteration:
        raise InputFormatError(unit.source, "no rows: the Parquet file is empty; give --columns") from None
    except (pa.ArrowException, OSError) as exc:
        raise InputFormatError(unit.source, f"not a Parquet file, or a damaged one: {exc}") from None
    return Unit(source=unit.source, fmt="table", table=table)


def _fields(sample: Unit) -> int:
    """Fields per row of a text sample: the count that every row has."""
    first_bad = {}  # per count, the first line without it
    for count in range(1, _MAX_FIELDS + 1):
        spec = "complex::reflexive::c0" if count == 1 else " ".join(f"c{i}" for i in range(count))
        bad = scanner(sample, parse_columns(spec), MAX_LINE_BYTES).first_bad_line()
        if bad is None:
            return count
        first_bad[count] = bad
    first_row = min(first_bad.values())
    count, line = max(first_bad.items(), key=lambda item: item[1])
    if line == first_row:
        raise InputFormatError(sample.source, f"more than {_MAX_FIELDS} fields; give --columns", line=line)
    raise InputFormatError(
        sample.source,
        f"rows of different numbers of fields: line {first_row} has {count}, this line another; "
        "give --columns (and --skip-bad-rows to skip the rows that do not fit)",
        line=line,
    )


def _decide(columns: list[tuple[pa.ChunkedArray, np.ndarray | None]], source: str) -> tuple[str, str]:
    """The specification and the reason for the sampled ids of each column."""
    several = [counts is not None and bool((counts > 1).any()) for _, counts in columns]
    n = len(columns)
    if n == 1:
        if several[0]:
            return "complex::reflexive::node", (
                "1 column of space-separated ids: each row is a hyperedge linking all of its ids, "
                "as pycleora's default complex::reflexive::node"
            )
        raise InputFormatError(source, "1 column of one id per row links no ids; give --columns")
    if n == 3 and _fractional(columns[2][0]) and not any(several[:2]):
        spec, reason = _two(columns[:2], several[:2], source)
        return f"{spec} weight::weight", f"{reason}; column 3 holds numbers with fractions: the row weights"
    if n == 2:
        return _two(columns, several, source)
    raise InputFormatError(
        source, f"{n} columns: which of them hold entities cannot be told from the data; {_ask(n)}"
    )


def _two(
    columns: list[tuple[pa.ChunkedArray, np.ndarray | None]], several: list[bool], source: str
) -> tuple[str, str]:
    """The rule for two entity columns."""
    if several == [False, True]:
        return "transient::context complex::reflexive::item", (
            "2 columns, column 2 of space-separated ids: column 1 is the context (transient) "
            "that links them, column 2 is embedded"
        )
    if any(several):
        which = "both columns hold" if all(several) else "column 1 holds"
        raise InputFormatError(source, f"{which} several space-separated ids per row; {_ask(2)}")
    first, second = (pc.unique(values) for values, _ in columns)
    smaller, larger = sorted((first, second), key=len)
    shared = pc.sum(pc.is_in(smaller, value_set=larger)).as_py() / max(len(smaller), 1)
    if shared > SHARED_IDS:
        return "node node", (
            f"2 columns sharing {shared:.0%} of their ids (more than {SHARED_IDS:.0%}): "
            "one node type, each row an edge"
        )
    return "transient::context item", (
        f"2 columns sharing {shared:.0%} of their ids (at most {SHARED_IDS:.0%}): column 1 is "
        "the context (transient) that links the ids of column 2, which are embedded"
    )


def _fractional(values: Any) -> bool:
    """Whether every id is a non-negative number and some has a fraction (a weight, not an id)."""
    try:
        numbers = pc.cast(values, pa.float64()).to_numpy()
    except pa.ArrowInvalid:
        return False
    return bool(len(numbers)) and bool(np.isfinite(numbers).all() and (numbers >= 0).all()) and bool(
        (numbers != np.floor(numbers)).any()
    )
