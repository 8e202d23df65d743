"""Slow-path scans of the raw text of a unit: where is the bad line?

They run only after pyarrow's fast path failed, or to report a line (the first
skipped row, the row of a bad weight). Each scan re-reads the decompressed input
block by block: numpy finds the line ends and field counts of TSV; Python's
:mod:`csv` module, whose parse of the standard dialect matches pyarrow's, follows
the quoting of CSV. Memory stays bounded: a line (a CSV field) longer than twice
``max_line_bytes`` ends the scan with an error instead of being held.
"""

from __future__ import annotations

import codecs
import csv
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ._sources import Unit, read_error
from .columns import ColumnSpec
from .errors import InputFormatError

__all__ = ["Scanner"]

# Appended to a CSV input as a line of its own: it stays one when every quote
# is closed, and ends up inside the last field when one is left open.
_END = "\x00end of input\x00"


@dataclass(frozen=True)
class _Block:
    """Whole lines of the input, each ending with its terminator."""

    first: int  # line number of the first line
    data: bytes
    starts: np.ndarray  # per line, int64: offset of its first byte
    ends: np.ndarray  # per line: offset of its last terminator byte
    lengths: np.ndarray  # per line: bytes before the terminator

    @classmethod
    def of(cls, first: int, data: bytes) -> _Block:
        r"""Like pyarrow, "\n", "\r\n" and a lone "\r" end a line."""
        buf = np.frombuffer(data, dtype=np.uint8)
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
        return cls(first, data, starts, ends, ends - starts - crlf)


@dataclass(frozen=True)
class _Records:
    """A batch of non-empty records (rows) in input order."""

    lines: np.ndarray  # int64, the line each record starts on
    last_lines: np.ndarray  # int64, the line it ends on (CSV fields may span lines)
    n_fields: np.ndarray  # int64
    sizes: np.ndarray  # int64, bytes of its lines, terminators included
    # Record index -> (line, 1-based byte column, byte) of a byte that is not UTF-8
    # in a column that is read; line and byte are None where not yet located (CSV).
    bad_utf8: dict[int, tuple[int, int | None, int | None]]


class Scanner:
    """The slow-path scans of one text unit (TSV or CSV).

    Parameters
    ----------
    unit : Unit
        The input.
    spec : ColumnSpec
        Its columns: the number of fields of a row, and which fields are read.
    block : int
        Bytes read per step.
    batch : int
        CSV records per batch.
    max_line_bytes : int
        The longest line (CSV record) the fast path guarantees to read.
    """

    def __init__(
        self, unit: Unit, spec: ColumnSpec, *, block: int, batch: int, max_line_bytes: int
    ) -> None:
        self.unit = unit
        self.spec = spec
        self._read = frozenset(c.index for c in spec.columns if c.kind != "ignore")
        self._block = block
        self._batch = batch
        self.max_line_bytes = max_line_bytes

    # --- what the reader asks ----------------------------------------------------

    def first_problem(self, skip_bad_rows: bool) -> InputFormatError | None:
        """The first row, in input order, that the fast path cannot read.

        That is a row with the wrong number of fields (unless ``skip_bad_rows``),
        else a kept row with a byte that is not UTF-8 in a column that is read;
        within one row the number of fields comes first.
        """
        for records in self._records(utf8=True):
            wrong = records.n_fields != self.spec.n_columns
            bad = np.zeros(len(wrong), dtype=bool)
            bad[list(records.bad_utf8)] = True
            problem = bad & ~wrong if skip_bad_rows else bad | wrong
            if problem.any():
                i = int(problem.argmax())
                if wrong[i]:
                    return self._field_count_error(
                        int(records.lines[i]), int(records.n_fields[i])
                    )
                line, column, byte = records.bad_utf8[i]
                if column is None:  # a CSV record: its first bad byte
                    line, column, byte = self._invalid_byte_from(line)
                return InputFormatError(
                    self.unit.source,
                    f"invalid UTF-8 byte 0x{byte:02x} (column is the byte offset in "
                    "the line)",
                    line=line,
                    column=column,
                )
        return None

    def first_bad_line(self) -> int | None:
        """The line of the first row without ``spec.n_columns`` fields."""
        for records in self._records(utf8=False):
            wrong = np.flatnonzero(records.n_fields != self.spec.n_columns)
            if wrong.size:
                return int(records.lines[wrong[0]])
        return None

    def line_of_row(self, row: int) -> int | None:
        """Line number of kept row ``row`` (0-based); the row number for tables."""
        if self.unit.fmt not in ("tsv", "csv"):
            return row + 1
        for records in self._records(utf8=False):
            good = records.lines[records.n_fields == self.spec.n_columns]
            if row < len(good):
                return int(good[row])
            row -= len(good)
        return None

    def long_line_error(self) -> InputFormatError | None:
        """The first line (CSV record) longer than ``max_line_bytes``, as an error."""
        for records in self._records(utf8=False):
            long = np.flatnonzero(records.sizes > self.max_line_bytes)
            if long.size:
                return self._too_long(int(records.lines[long[0]]))
        return None

    def check_quotes(self) -> None:
        """Raise InputFormatError if a CSV quote is left open at the end."""
        for _ in self._records(utf8=False):
            pass

    def without_bad_rows(self) -> tuple[bytes, int]:
        """The input with the rows of a wrong number of fields emptied (slow path).

        Returns the decompressed input, all in memory, with the same lines, whose
        bad rows keep only their line terminators; and the number of those rows.
        """
        firsts, lasts = [], []
        for records in self._records(utf8=False):
            wrong = records.n_fields != self.spec.n_columns
            firsts.append(records.lines[wrong])
            lasts.append(records.last_lines[wrong])
        firsts = np.concatenate([np.zeros(0, np.int64), *firsts])
        lasts = np.concatenate([np.zeros(1, np.int64), *lasts])
        kept = []
        for block in self._blocks():
            numbers = block.first + np.arange(len(block.ends))
            # Index into lasts of the last bad row starting on or before each line.
            index = np.searchsorted(firsts, numbers, side="right")
            blank = numbers <= lasts[index]
            # +1 where a blanked line's text starts, -1 where it ends: cumsum > 0
            # marks the bytes to drop.
            marks = np.zeros(len(block.data) + 1, dtype=np.int64)
            marks[block.starts[blank]] += 1
            marks[block.starts[blank] + block.lengths[blank]] -= 1
            keep = np.cumsum(marks[:-1]) == 0
            kept.append(np.frombuffer(block.data, dtype=np.uint8)[keep].tobytes())
        return b"".join(kept), len(firsts)

    # --- errors ------------------------------------------------------------------------

    def _field_count_error(self, line: int, n_fields: int) -> InputFormatError:
        return InputFormatError(
            self.unit.source,
            f"expected {self.spec.n_columns} fields (columns spec {self.spec.spec!r}), "
            f"found {n_fields}",
            line=line,
        )

    def _too_long(self, line: int) -> InputFormatError:
        what, hint = ("line", "")
        if self.unit.fmt == "csv":
            what, hint = ("record starting on this line", "; is a quote left open?")
        return InputFormatError(
            self.unit.source,
            f"the {what} is longer than the maximum of {self.max_line_bytes} bytes "
            f"(max_line_bytes){hint}",
            line=line,
        )

    # --- scans -------------------------------------------------------------------------

    def _blocks(self) -> Iterator[_Block]:
        """The input in blocks of whole lines; a line over the memory bound raises."""
        first, pending, pending_size = self.unit.first_line, [], 0
        try:
            with self.unit.open_binary() as stream:
                while chunk := stream.read(self._block):
                    # A final "\r" may be the first half of a "\r\n" split between
                    # chunks: it stays pending.
                    cut = max(chunk.rfind(b"\n"), chunk.rfind(b"\r", 0, len(chunk) - 1)) + 1
                    if cut:
                        block = _Block.of(first, b"".join([*pending, chunk[:cut]]))
                        yield block
                        first += len(block.ends)
                        pending, pending_size = [], 0
                    pending.append(chunk[cut:])
                    pending_size += len(chunk) - cut
                    if pending_size > 2 * self.max_line_bytes:
                        raise self._too_long(first)
            if pending_size:
                data = b"".join(pending)
                yield _Block.of(first, data if data.endswith((b"\n", b"\r")) else data + b"\n")
        except (OSError, EOFError, zlib.error) as exc:
            raise read_error(self.unit, exc) from None

    def _records(self, *, utf8: bool) -> Iterator[_Records]:
        if self.unit.fmt == "csv":
            yield from self._csv_records(utf8)
            return
        for block in self._blocks():
            tabs = np.flatnonzero(np.frombuffer(block.data, dtype=np.uint8) == 9)
            # Tabs before each line end, differenced: tabs within each line.
            n_fields = np.diff(np.searchsorted(tabs, block.ends), prepend=0) + 1
            kept = np.flatnonzero(block.lengths > 0)
            lines = block.first + kept
            sizes = block.ends[kept] + 1 - block.starts[kept]
            bad = self._tsv_invalid_utf8(block, tabs, kept) if utf8 else {}
            yield _Records(lines, lines, n_fields[kept], sizes, bad)

    def _tsv_invalid_utf8(
        self, block: _Block, tabs: np.ndarray, kept: np.ndarray
    ) -> dict[int, tuple[int, int, int]]:
        """Per record index, the first byte that is not UTF-8 in a field that is read."""
        found: dict[int, tuple[int, int, int]] = {}
        view, position = memoryview(block.data), 0
        while True:
            try:
                codecs.utf_8_decode(view[position:], "strict", True)
                return found
            except UnicodeDecodeError as exc:
                bad = position + exc.start
            line = int(np.searchsorted(block.ends, bad))
            start, end = int(block.starts[line]), int(block.ends[line])
            tab = int(np.searchsorted(tabs, bad))
            if tab - int(np.searchsorted(tabs, start)) in self._read:
                record = int(np.searchsorted(kept, line))
                found.setdefault(record, (block.first + line, bad - start + 1, block.data[bad]))
            # Go on after the field: the next one may be read.
            position = int(tabs[tab]) + 1 if tab < len(tabs) and tabs[tab] < end else end + 1

    def _invalid_byte_from(self, line: int) -> tuple[int, int, int]:
        """(Line, 1-based byte column, byte) of the first bad byte on or after ``line``.

        The caller knows there is one: a record from ``line`` holds it.
        """
        for block in self._blocks():
            if block.first + len(block.ends) <= line:
                continue
            start = int(block.starts[max(line - block.first, 0)])
            try:
                codecs.utf_8_decode(memoryview(block.data)[start:], "strict", True)
            except UnicodeDecodeError as exc:
                bad = start + exc.start
                at = int(np.searchsorted(block.ends, bad))
                return block.first + at, bad - int(block.starts[at]) + 1, block.data[bad]
        raise AssertionError(f"no invalid UTF-8 from line {line}")  # pragma: no cover

    def _csv_records(self, utf8: bool) -> Iterator[_Records]:
        consumed = [0]  # bytes handed to the csv module so far

        def lines() -> Iterator[str]:
            for block in self._blocks():
                for start, end in zip(block.starts.tolist(), block.ends.tolist()):
                    consumed[0] += end + 1 - start
                    yield block.data[start : end + 1].decode("utf-8", "surrogateescape")
            yield _END

        limit = csv.field_size_limit(2 * self.max_line_bytes)
        try:
            reader = csv.reader(lines())
            batch: list[tuple[int, int, int, int]] = []
            bad: dict[int, tuple[int, None, None]] = {}
            start, start_bytes = self.unit.first_line, 0
            while True:
                try:
                    fields = next(reader)
                except StopIteration:
                    break
                except csv.Error:  # the only one: a field over the memory bound
                    raise self._too_long(start) from None
                last = self.unit.first_line + reader.line_num - 1
                if fields and fields[-1].endswith(_END):
                    if fields != [_END]:
                        yield self._csv_batch(batch, bad)
                        raise self._open_quote(start, fields)
                    break
                if fields:
                    size = consumed[0] - start_bytes
                    if utf8 and any(_not_utf8(fields[i]) for i in self._read if i < len(fields)):
                        bad[len(batch)] = (start, None, None)
                    batch.append((start, last, len(fields), size))
                    if len(batch) == self._batch:
                        yield self._csv_batch(batch, bad)
                        batch, bad = [], {}
                start, start_bytes = last + 1, consumed[0]
            yield self._csv_batch(batch, bad)
        finally:
            csv.field_size_limit(limit)

    @staticmethod
    def _csv_batch(batch: list[tuple[int, int, int, int]], bad: dict) -> _Records:
        columns = np.array(batch, dtype=np.int64).reshape(-1, 4).T
        return _Records(columns[0], columns[1], columns[2], columns[3], dict(bad))

    def _open_quote(self, start: int, fields: list[str]) -> InputFormatError:
        # The open field is the last; line breaks in the fields before it move
        # its first line down from the record's.
        line = start + sum(_line_breaks(field) for field in fields[:-1])
        return InputFormatError(
            self.unit.source,
            "a quoted field opened on this line is never closed (the rest of the "
            'input would be one id); close it, and write a " inside a field as ""',
            line=line,
        )


def _line_breaks(text: str) -> int:
    return text.count("\n") + text.count("\r") - text.count("\r\n")


def _not_utf8(field: str) -> bool:
    """Whether a field decoded with surrogateescape held a byte that is not UTF-8."""
    if field.isascii():
        return False
    try:
        field.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
