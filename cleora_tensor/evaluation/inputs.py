"""Read the inputs of the evaluation protocols with the embedding reader.

The rows of link prediction and basket completion, label files and split files
are parsed by :func:`cleora_tensor.io.read_table`, as ``embed`` parses its
input: one parser, the same limits, and errors located at
``file:line[:column]`` with physical line numbers. Nothing is read into Python
strings of whole lines; rows become Python strings only where an API returns
them (:meth:`Rows.lines`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..columns import Column, ColumnSpec, parse_columns
from ..errors import InputFormatError
from ..io import RaggedColumn, TokenTable, line_of_row, read_table

__all__ = ["Rows", "read_labels", "read_rows", "read_split"]

_PARTS = ("train", "val", "test")


@dataclass(frozen=True, eq=False)
class Rows:
    """The rows of an evaluation input, parsed; build it with :func:`read_rows`.

    Attributes
    ----------
    spec : ColumnSpec
        The column specification of the rows.
    table : TokenTable
        The parsed cells, read with every ``ignore::`` column as a plain entity
        column so that :meth:`lines` keeps its cells.
    """

    spec: ColumnSpec
    table: TokenTable

    @property
    def n_rows(self) -> int:
        """Number of rows (empty lines are not rows)."""
        return self.table.n_rows

    @property
    def source(self) -> str:
        """The file path, or ``"<lines>"``."""
        return ", ".join(self.table.sources)

    def ids(self, column: Column) -> RaggedColumn:
        """The ids of an entity column of :attr:`spec`, row by row (empty ids dropped)."""
        return self.table.entities[column.index]

    def lines(
        self,
        keep: np.ndarray | None = None,
        replaced: Mapping[int, RaggedColumn] | None = None,
    ) -> list[str]:
        """The rows as TSV lines without line ends.

        Cells are rebuilt from the parsed values: complex cells with their ids
        joined by single spaces, weights in the shortest form that reads back
        to the same float64; other cells are as in the input.

        Parameters
        ----------
        keep : numpy.ndarray, shape (n_rows,), bool, optional
            Rows to return (default all).
        replaced : mapping of int to RaggedColumn, optional
            Ids to write instead of those read, by column index.

        Returns
        -------
        list of str
            One line per kept row, in input order.
        """
        replaced = replaced or {}
        cells = []
        for column in self.spec.columns:
            if column.kind == "weight":
                cells.append(pc.cast(pa.array(self.table.weights), pa.large_string()))
            else:
                ragged = replaced.get(column.index, self.table.entities[column.index])
                cells.append(_cell_text(ragged, column.complex))
        text = pc.binary_join_element_wise(*cells, pa.scalar("\t", pa.large_string()))
        if keep is not None:
            text = text.filter(pa.array(keep, type=pa.bool_()))
        return text.to_pylist()


def read_rows(
    source: str | os.PathLike[str] | Iterable[str], columns: str | ColumnSpec
) -> Rows:
    """Read the rows of a link prediction or basket completion input.

    Parameters
    ----------
    source : path or iterable of str
        A TSV file without header (plain or gzip-compressed), or lines of text.
    columns : str or ColumnSpec
        Column specification of the rows; every row must have
        ``spec.n_columns`` fields.

    Returns
    -------
    Rows

    Raises
    ------
    ColumnSpecError
        If ``columns`` is invalid.
    InputFormatError
        As :func:`cleora_tensor.io.read_table`: a row with the wrong number of
        fields, bytes that are not UTF-8, a bad weight, or no rows; the message
        gives ``file:line[:column]``.
    OSError
        If the file cannot be read.
    """
    spec = parse_columns(columns)
    # Ignored cells are read as plain ids, so that Rows.lines() can write them back.
    keep_all = parse_columns(" ".join(c.type if c.kind == "ignore" else str(c) for c in spec.columns))
    lines = source if isinstance(source, (str, os.PathLike)) else iter(source)
    return Rows(spec, read_table(lines, keep_all, input_format="tsv"))


def read_labels(path: str | os.PathLike[str]) -> dict[str, list[str]]:
    """Node labels from ``node<TAB>label`` lines, one line per (node, label) pair.

    Single-label files have one line per node; multi-label files (BlogCatalog)
    repeat the node, once per label.

    Parameters
    ----------
    path : path
        TSV file without header, plain or gzip-compressed.

    Returns
    -------
    dict of str to list of str
        Labels per node, nodes and labels in file order.

    Raises
    ------
    OSError
        If the file cannot be read.
    InputFormatError
        As :func:`read_rows`, or if a field is empty; the message gives
        ``file:line[:column]``.
    """
    nodes, labels = _read_pairs(path, ("node", "label"))
    result: dict[str, list[str]] = {}
    for node, label in zip(nodes.to_pylist(), labels.to_pylist()):
        result.setdefault(node, []).append(label)
    return result


def read_split(path: str | os.PathLike[str]) -> dict[str, str]:
    """A fixed node split from ``node<TAB>train|val|test`` lines (Planetoid's).

    Parameters
    ----------
    path : path
        TSV file without header, e.g. Planetoid's ``planetoid_split.tsv``.

    Returns
    -------
    dict of str to str
        The part of every listed node.

    Raises
    ------
    OSError
        If the file cannot be read.
    InputFormatError
        As :func:`read_labels`, or if a line names a part other than
        train/val/test or repeats a node.
    """
    nodes, parts = _read_pairs(path, ("node", "part"))
    bad = pc.invert(pc.is_in(parts, value_set=pa.array(_PARTS))).to_numpy(zero_copy_only=False)
    if bad.any():
        row = int(bad.argmax())
        raise _located(
            path, row, f"split must be train, val or test, got {shown(parts[row].as_py())}", column=2
        )
    codes, _ = encode(nodes)
    repeated = np.ones(codes.size, dtype=bool)
    repeated[np.unique(codes, return_index=True)[1]] = False
    if repeated.any():
        row = int(repeated.argmax())
        raise _located(path, row, f"node {shown(nodes[row].as_py())} is listed twice", column=1)
    return dict(zip(nodes.to_pylist(), parts.to_pylist()))


def encode(values: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    """Integer codes of string values, numbered by first occurrence.

    Parameters
    ----------
    values : pyarrow.Array or pyarrow.ChunkedArray
        Strings without nulls.

    Returns
    -------
    codes : numpy.ndarray, shape (len(values),), int64
        ``dictionary[codes[i]] == values[i]``.
    dictionary : pyarrow.Array
        The distinct values, in order of first occurrence.
    """
    encoded = pc.dictionary_encode(values)
    chunks = encoded.chunks if isinstance(encoded, pa.ChunkedArray) else [encoded]
    if not chunks:
        return np.zeros(0, dtype=np.int64), pa.array([], pa.large_string())
    # The chunks of a dictionary-encoded ChunkedArray share one dictionary.
    codes = np.concatenate([c.indices.to_numpy(zero_copy_only=False) for c in chunks])
    return codes.astype(np.int64), chunks[-1].dictionary


def shown(value: str, limit: int = 40) -> str:
    """``repr`` of a value for a one-line message, cut to ``limit`` characters."""
    return repr(value if len(value) <= limit else value[:limit] + "...")


def _cell_text(ragged: RaggedColumn, complex_: bool) -> pa.Array:
    """One large_string cell per row: ids joined by spaces, or the id ("" if none)."""
    values = ragged.values.cast(pa.large_string()).combine_chunks()
    if complex_:
        lists = pa.LargeListArray.from_arrays(pa.array(ragged.offsets), values)
        return pc.binary_join(lists, pa.scalar(" ", pa.large_string()))
    present = np.diff(ragged.offsets) > 0
    if present.all():
        return values
    return values.take(pa.array(ragged.offsets[:-1], mask=~present)).fill_null("")


def _read_pairs(path: str | os.PathLike[str], names: tuple[str, str]) -> tuple[pa.ChunkedArray, pa.ChunkedArray]:
    """The two fields of every row of a ``node<TAB>value`` file; no field may be empty."""
    table = read_table(path, " ".join(names), input_format="tsv")
    for index, name in enumerate(names):
        counts = np.diff(table.entities[index].offsets)
        if not counts.all():
            raise _located(path, int(counts.argmin()), f"empty {name}", column=index + 1)
    return table.entities[0].values, table.entities[1].values


def _located(
    path: str | os.PathLike[str], row: int, reason: str, *, column: int | None = None
) -> InputFormatError:
    """An error at row ``row`` (0-based) of a two-column TSV file, at its physical line.

    Slow path, run only after an error: re-reads a regular file to find the
    line (:func:`~cleora_tensor.io.line_of_row`); other files (pipes) give the
    row instead.
    """
    line = line_of_row(path, "a b", row, input_format="tsv") if os.path.isfile(path) else None
    if line is None:
        reason += f" (row {row + 1}, not counting empty lines)"
        column = None
    return InputFormatError(os.fspath(path), reason, line=line, column=column)
