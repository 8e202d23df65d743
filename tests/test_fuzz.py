"""Property-based fuzzing of the reader and the column-spec parser: whatever the
input, the answer is a table or one of the library's own exceptions, with a
one-line message naming the source. Bounded and derandomized for CI."""

from __future__ import annotations

import contextlib
import datetime
import gzip
import io
import math
import warnings
from unittest import mock

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cleora_tensor import _reader
from cleora_tensor import io as cio
from cleora_tensor.columns import ColumnSpec, parse_columns
from cleora_tensor.errors import ColumnSpecError, InputFormatError
from cleora_tensor.io import TokenTable, read_table

FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

SPECS = [
    "a b",
    "a complex::b",
    "complex::reflexive::a",
    "a b weight::w",
    "transient::a complex::reflexive::b ignore::t",
    "a weight::w complex::b",
]
SPEC = st.sampled_from(SPECS)


def n_fields(spec):
    return len(spec.split())


# Pieces that matter to a TSV or CSV parser, and bytes that are not UTF-8.
PIECES = [b"a", b"b c", b"", b" ", b"\t", b",", b'"', b'""', b"\n", b"\r", b"\r\n",
          b"\xff", b"\xe9", "\u00e9".encode(), b"\x00", b"1.5", b"-2", b"nan", b"x" * 40]


@st.composite
def text_inputs(draw, spec):
    """Rows for ``spec`` (or of random field counts) in TSV or CSV, often
    well-formed, or random pieces and bytes."""
    kind = draw(st.sampled_from(["rows", "rows", "rows", "pieces", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if kind == "pieces":
        return b"".join(draw(st.lists(st.sampled_from(PIECES), max_size=60)))
    sep = draw(st.sampled_from([b"\t", b","]))
    ids = [b"x", b"y z", b"1.5", b"0"] + ([b'"q,\r\n"', b'"a ""b"""'] if sep == b"," else [])
    good = [
        st.sampled_from([b"1.5", b"0", b"2e3"] if token.startswith("weight::") else ids)
        for token in spec.split()
    ]
    row = st.tuples(*good)
    if draw(st.booleans()):  # some rows with other field counts and bad cells
        bad = st.one_of(st.sampled_from(PIECES + [b'"open']), st.binary(max_size=3))
        cell = st.one_of(st.sampled_from(ids), bad)
        row = st.one_of(row, row, st.lists(cell, max_size=5))
    rows = draw(st.lists(row, max_size=10))
    end = draw(st.sampled_from([b"\n", b"\n", b"\r\n", b"\r"]))
    return end.join(sep.join(row) for row in rows) + draw(st.sampled_from([b"", end]))


SAMPLES = {
    pa.string(): ["a", "", None, "b c", "\u00e9"],
    pa.binary(): [b"a", b"\xff", None, b""],
    pa.int64(): [1, -2, None, 0],
    pa.float64(): [0.5, math.nan, -1.0, math.inf, None],
    pa.bool_(): [True, False, None],
    pa.date32(): [datetime.date(2020, 1, 2), None],
    pa.list_(pa.string()): [["a"], [], None, ["", "b c"]],
    pa.list_(pa.binary()): [[b"\xfe"], [b"x"]],
    pa.struct([("p", pa.int64())]): [{"p": 1}, None],
    pa.list_(pa.list_(pa.string())): [[["a"]], []],
    pa.dictionary(pa.int8(), pa.string()): ["a", "b", None],
}
TYPES = list(SAMPLES)


@st.composite
def tables(draw, n_columns):
    n_rows = draw(st.integers(0, 4))
    columns = {}
    for k in range(draw(st.one_of(st.just(n_columns), st.integers(1, 4)))):
        data_type = draw(st.sampled_from(TYPES))
        values = SAMPLES[data_type]
        picks = draw(st.lists(st.integers(0, len(values) - 1), min_size=n_rows, max_size=n_rows))
        columns[f"c{k}"] = pa.array([values[i] for i in picks], data_type)
    return pa.table(columns)


def check(call):
    """Run ``call``: a valid table, or the library's own exception with a good message."""
    stderr = io.StringIO()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stderr(stderr):
            warnings.simplefilter("ignore")
            table = call()
    except (InputFormatError, ColumnSpecError, OSError) as error:
        assert len(str(error).splitlines()) == 1, str(error)
        if isinstance(error, InputFormatError):
            assert str(error).startswith(error.source) and error.reason
        table = None
    assert "Exception ignored" not in stderr.getvalue() and "Traceback" not in stderr.getvalue()
    if table is not None:
        assert isinstance(table, TokenTable) and table.n_rows > 0
        for column in table.entities.values():
            assert column.offsets.shape == (table.n_rows + 1,)
            assert column.offsets[0] == 0 and (np.diff(column.offsets) >= 0).all()
            assert column.offsets[-1] == len(column.values)
            assert "" not in column.values.to_pylist()
        if table.weights is not None:
            assert table.weights.shape == (table.n_rows,)
            assert np.isfinite(table.weights).all() and (table.weights >= 0).all()
    return table


@FUZZ
@given(
    spec_data=SPEC.flatmap(lambda spec: st.tuples(st.just(spec), text_inputs(spec))),
    name=st.sampled_from(["in.tsv", "in.csv", "in.dat", "in.tsv.gz", "in.csv.gz", "in.pq"]),
    input_format=st.sampled_from([None, "tsv", "csv"]),  # Parquet: by the name
    compress=st.sampled_from([None, None, None, "whole", "truncated"]),
    skip_bad_rows=st.booleans(),
    max_line_bytes=st.sampled_from([16, 256, cio.MAX_LINE_BYTES]),
    blocks=st.sampled_from([(1 << 20, 1 << 20), (16, 7), (64, 3)]),
)
def test_reader_on_random_files(
    tmp_path_factory, spec_data, name, input_format, compress, skip_bad_rows,
    max_line_bytes, blocks,
):
    spec, data = spec_data
    if compress:
        packed = gzip.compress(data, mtime=0)
        data = packed if compress == "whole" else packed[: len(packed) // 2]
    path = tmp_path_factory.getbasetemp() / name
    path.write_bytes(data)
    arrow_block, scan_block = blocks
    with (
        mock.patch.object(_reader, "_ARROW_BLOCK", arrow_block),
        mock.patch.object(_reader, "_SCAN_BLOCK", scan_block),
        mock.patch.object(_reader, "_CSV_BATCH", 2),
    ):
        check(lambda: read_table(
            path, spec, input_format=input_format, skip_bad_rows=skip_bad_rows,
            max_line_bytes=max_line_bytes,
        ))


@FUZZ
@given(
    spec_data=SPEC.flatmap(lambda spec: st.tuples(st.just(spec), text_inputs(spec))),
    as_text=st.booleans(),
    input_format=st.sampled_from([None, "tsv", "csv"]),
    skip_bad_rows=st.booleans(),
)
def test_reader_on_random_lines(spec_data, as_text, input_format, skip_bad_rows):
    spec, data = spec_data
    lines = data.split(b"\n")
    if as_text:
        lines = [line.decode("utf-8", "surrogateescape") for line in lines]
    with mock.patch.object(cio, "_LINES_PER_CHUNK", 3):
        check(lambda: read_table(
            iter(lines), spec, input_format=input_format, skip_bad_rows=skip_bad_rows
        ))


@FUZZ
@given(
    spec_table=SPEC.flatmap(lambda spec: st.tuples(st.just(spec), tables(n_fields(spec)))),
    to_parquet=st.booleans(),
)
def test_reader_on_random_tables(tmp_path_factory, spec_table, to_parquet):
    spec, table = spec_table
    source = table
    if to_parquet:
        source = tmp_path_factory.getbasetemp() / "t.parquet"
        pq.write_table(table, source)
    check(lambda: read_table(source, spec))


SPEC_PIECES = ["a", "b", "complex", "reflexive", "transient", "weight", "ignore", "::",
               " ", "\t", "\n", "x::", "::y", "\u00e9", "__"]


@FUZZ
@given(
    spec=st.one_of(
        st.lists(st.sampled_from(SPEC_PIECES), max_size=12).map("".join),
        st.text(max_size=20),
    )
)
def test_column_spec_parser(spec):
    try:
        parsed = parse_columns(spec)
    except ColumnSpecError as error:
        assert len(str(error).splitlines()) == 1
        assert error.reason
        return
    assert isinstance(parsed, ColumnSpec)
    assert parsed.n_columns == len(spec.split()) and parsed.spec == " ".join(spec.split())
    assert parsed.relations and parse_columns(parsed.spec) == parsed
    names = [relation.name for relation in parsed.relations]
    assert len(set(names)) == len(names)
    check(lambda: read_table(iter(["\t".join(["1"] * parsed.n_columns)] * 2), spec))


@pytest.mark.parametrize("data", [b"a\tb\n" * 3, b"\x1f\x8b", b"\xff\xfe\t\n\r"])
def test_random_bytes_on_standard_input(monkeypatch, data):
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))
    check(lambda: read_table("-", "a b"))


def reference_tsv(lines, spec, skip_bad_rows):
    """A line-by-line reader: (ids per row per read column, rows skipped), or the
    (line, column) of the first problem (column None: the number of fields)."""
    columns = parse_columns(spec).columns
    read = [c.index for c in columns if c.kind != "ignore"]
    rows, skipped = [], 0
    for number, line in enumerate(lines, 1):
        if not line:
            continue
        fields = line.split(b"\t")
        if len(fields) != len(columns):
            if skip_bad_rows:
                skipped += 1
                continue
            return number, None
        for i in read:
            try:
                fields[i].decode("utf-8")
            except UnicodeDecodeError as error:
                return number, sum(len(f) + 1 for f in fields[:i]) + error.start + 1
        rows.append({
            i: [t for t in fields[i].decode().split(" ") if t] if columns[i].complex
            else [fields[i].decode()] if fields[i] else []
            for i in read
        })
    return rows, skipped


@FUZZ
@given(
    spec=st.sampled_from([s for s in SPECS if "weight::" not in s]),
    rows=st.lists(
        st.lists(st.one_of(st.sampled_from([b"x", b"y z", b"", b" ", b"\xe9", b"\xff"]),
                           st.binary(max_size=3).map(lambda b: b.translate(None, b"\t\n\r"))),
                 min_size=1, max_size=4),
        max_size=12,
    ),
    skip_bad_rows=st.booleans(),
    scan_block=st.sampled_from([1 << 20, 5]),
)
def test_tsv_errors_and_skipping_match_a_line_by_line_reference(
    tmp_path_factory, spec, rows, skip_bad_rows, scan_block
):
    data = b"\n".join(b"\t".join(row) for row in rows)
    if data.startswith(b"\x1f\x8b"):  # gzip magic: another test's matter
        return
    path = tmp_path_factory.getbasetemp() / "ref.tsv"
    path.write_bytes(data)
    expected, second = reference_tsv(data.split(b"\n"), spec, skip_bad_rows)
    with mock.patch.object(_reader, "_SCAN_BLOCK", scan_block), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if isinstance(expected, int) or not expected:  # a problem, or no rows
            with pytest.raises(InputFormatError) as info:
                read_table(path, spec, skip_bad_rows=skip_bad_rows)
            if isinstance(expected, int):
                assert (info.value.line, info.value.column) == (expected, second)
            return
        table = read_table(path, spec, skip_bad_rows=skip_bad_rows)
    assert table.n_rows == len(expected) and table.skipped_rows == second
    for index, column in table.entities.items():
        values = column.values.to_pylist()
        got = [values[a:b] for a, b in zip(column.offsets[:-1], column.offsets[1:])]
        assert got == [row[index] for row in expected]
