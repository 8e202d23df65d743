"""Tests of cleora_tensor.io.read_table: small hand-made inputs and one real data set."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cleora_tensor import _reader
from cleora_tensor import io as cio
from cleora_tensor.errors import InputFormatError
from cleora_tensor.io import read_table

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, str):
        text = text.encode()
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as f:
            f.write(text)
    else:
        path.write_bytes(text)
    return path


def ids(table, index: int) -> list[list[str]]:
    """The ids of a column, row by row."""
    column = table.entities[index]
    values = column.values.to_pylist()
    return [
        values[a:b] for a, b in zip(column.offsets[:-1], column.offsets[1:], strict=True)
    ]


def test_tsv_plain(tmp_path):
    path = write(tmp_path / "g.tsv", "u1\ti1\nu2\ti2\nu1\ti3\n")
    table = read_table(path, "user item")
    assert table.n_rows == 3
    assert table.sources == (str(path),)
    assert table.entities[0].values.to_pylist() == ["u1", "u2", "u1"]
    assert table.entities[1].values.to_pylist() == ["i1", "i2", "i3"]
    for column in table.entities.values():
        assert column.offsets.dtype == np.int64
        np.testing.assert_array_equal(column.offsets, np.arange(4))
    assert table.weights is None
    assert (table.skipped_rows, table.empty_ids) == (0, 0)


def test_spec_object_and_ignore_column(tmp_path):
    path = write(tmp_path / "g.tsv", "u1\t2020\ti1\n")
    spec = cio.parse_columns("user ignore::time item")
    table = read_table(path, spec)
    assert table.spec is spec
    assert sorted(table.entities) == [0, 2]
    assert ids(table, 2) == [["i1"]]


def test_complex_cells_drop_empty_tokens(tmp_path):
    path = write(tmp_path / "b.tsv", "b1\ta b\nb2\t a  c \nb3\t\n\tz\n")
    table = read_table(path, "transient::basket complex::reflexive::item")
    assert ids(table, 1) == [["a", "b"], ["a", "c"], [], ["z"]]
    assert ids(table, 0) == [["b1"], ["b2"], ["b3"], []]
    # leading + double + trailing space in b2, the empty cell of b3, the empty basket
    assert table.empty_ids == 3 + 1 + 1
    assert table.entities[1].offsets.tolist() == [0, 2, 4, 4, 5]


def test_empty_lines_are_ignored(tmp_path):
    path = write(tmp_path / "g.tsv", "\nu1\ti1\n\n\r\nu2\ti2\n\n")
    table = read_table(path, "user item")
    assert ids(table, 0) == [["u1"], ["u2"]]


def test_csv_quoted_field(tmp_path):
    path = write(tmp_path / "g.csv", 'u1,"i,1"\n"u 2",i2\nu3,"multi\nline"\n')
    table = read_table(path, "user item")
    assert ids(table, 1) == [["i,1"], ["i2"], ["multi\nline"]]
    assert ids(table, 0) == [["u1"], ["u 2"], ["u3"]]


def test_input_format_override_and_unknown_extension(tmp_path):
    csv_path = write(tmp_path / "g.dat", "u1,i1\n")
    assert ids(read_table(csv_path, "user item", input_format="csv"), 1) == [["i1"]]
    tsv_path = write(tmp_path / "h.dat", "u1,x\ti1\n")
    assert ids(read_table(tsv_path, "user item"), 0) == [["u1,x"]]
    with pytest.raises(ValueError, match="input_format"):
        read_table(tsv_path, "user item", input_format="json")


def test_parquet_plain_and_list_columns(tmp_path):
    path = tmp_path / "g.parquet"
    pq.write_table(
        pa.table(
            {
                "basket": pa.array([1, 2, 3]),
                "items": pa.array([["a", "b"], [], None], pa.list_(pa.string())),
                "store": pa.array(["s1", None, "s2"]),
            }
        ),
        path,
    )
    table = read_table(path, "transient::basket complex::item store")
    assert ids(table, 0) == [["1"], ["2"], ["3"]]
    assert ids(table, 1) == [["a", "b"], [], []]
    assert ids(table, 2) == [["s1"], [], ["s2"]]
    assert table.empty_ids == 1
    with pytest.raises(
        InputFormatError, match=r"g\.parquet.*expected 2 columns.*found 3"
    ):
        read_table(path, "basket complex::item")
    with pytest.raises(InputFormatError, match="holds lists"):
        read_table(path, "basket item store")


def test_parquet_weight_column(tmp_path):
    path = tmp_path / "w.pq"
    pq.write_table(pa.table({"u": ["a", "b"], "i": ["x", "y"], "w": [1, -2]}), path)
    with pytest.raises(InputFormatError, match=r"w\.pq:2:3: weight -2 is negative"):
        read_table(path, "user item weight::w")


def test_gzip_by_extension_and_by_magic(tmp_path):
    by_name = write(tmp_path / "g.tsv.gz", "u1\ti1\nu2\ti2\n")
    assert ids(read_table(by_name, "user item"), 1) == [["i1"], ["i2"]]
    csv_gz = write(tmp_path / "g.csv.gz", 'u1,"i,1"\n')
    assert ids(read_table(csv_gz, "user item"), 1) == [["i,1"]]
    by_magic = tmp_path / "g.data"
    by_magic.write_bytes(by_name.read_bytes())
    assert ids(read_table(by_magic, "user item"), 0) == [["u1"], ["u2"]]


def test_several_files_in_order(tmp_path):
    first = write(tmp_path / "a.tsv", "u1\ti1\n")
    second = write(tmp_path / "b.tsv.gz", "u2\ti2 i3\n")
    third = write(tmp_path / "c.csv", "u3,i4\n")
    table = read_table([first, str(second), third], "user complex::item")
    assert ids(table, 0) == [["u1"], ["u2"], ["u3"]]
    assert ids(table, 1) == [["i1"], ["i2", "i3"], ["i4"]]
    assert table.sources == (str(first), str(second), str(third))


def test_lines_in_several_chunks(monkeypatch):
    monkeypatch.setattr(cio, "_LINES_PER_CHUNK", 2)
    lines = ["u1\ti1\n", "u2\ti2", "", "u3\ti3 i4\n", "u4\ti5"]
    table = read_table((line for line in lines), "user complex::item")
    assert table.sources == ("<lines>",)
    assert ids(table, 0) == [["u1"], ["u2"], ["u3"], ["u4"]]
    assert ids(table, 1) == [["i1"], ["i2"], ["i3", "i4"], ["i5"]]


def test_lines_errors_count_lines_across_chunks(monkeypatch):
    monkeypatch.setattr(cio, "_LINES_PER_CHUNK", 2)
    lines = ["u1\ti1", "u2\ti2", "u3\ti3", "", "u4"]
    with pytest.raises(InputFormatError, match=r"^<lines>:5: expected 2 fields") as info:
        read_table(iter(lines), "user item")
    assert info.value.line == 5
    bad = [b"u1\ti1\n", b"u2\ti2\n", b"u3\ti\xe93\n"]
    with pytest.raises(InputFormatError, match=r"^<lines>:3:5: invalid UTF-8 byte 0xe9"):
        read_table(iter(bad), "user item")


def test_lines_weight_error_in_second_chunk(monkeypatch):
    monkeypatch.setattr(cio, "_LINES_PER_CHUNK", 2)
    lines = ["u1\ti1\t1", "u2\ti2\t1", "", "u3\ti3\t-5"]
    with pytest.raises(InputFormatError, match=r"^<lines>:4:3: weight '-5' is negative"):
        read_table(iter(lines), "user item weight::w")


def test_file_object_as_lines(tmp_path):
    path = write(tmp_path / "g.tsv", "u1\ti1\nu2\ti2\n")
    with open(path) as lines:
        table = read_table(lines, "user item")
    assert table.sources == ("<lines>",)
    assert ids(table, 1) == [["i1"], ["i2"]]


def test_pyarrow_table():
    source = pa.table({"a": ["u1", "u2"], "b": ["i1 i2", ""], "w": [0.5, 2.0]})
    table = read_table(source, "user complex::item weight::w")
    assert table.sources == ("<table>",)
    assert ids(table, 1) == [["i1", "i2"], []]
    np.testing.assert_array_equal(table.weights, [0.5, 2.0])
    with pytest.raises(InputFormatError, match=r"^<table>: expected 2 columns"):
        read_table(source, "user item")


def test_pandas_dataframe():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"a": ["u1", "u2"], "b": [["i1"], ["i2", "i3"]]}, index=[5, 7])
    table = read_table(frame, "user complex::item")
    assert ids(table, 1) == [["i1"], ["i2", "i3"]]


def test_weight_column(tmp_path):
    path = write(tmp_path / "w.tsv", "u1\ti1\t1.5\nu2\ti2\t0\nu3\ti3\t2e3\n")
    table = read_table(path, "user item weight::rating")
    assert table.weights.dtype == np.float64
    np.testing.assert_array_equal(table.weights, [1.5, 0.0, 2000.0])
    assert sorted(table.entities) == [0, 1]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("abc", "'abc' is not a number"),
        ("", "'' is not a number"),
        ("-1", "'-1' is negative"),
        ("nan", "'nan' is NaN"),
        ("inf", "'inf' is infinite"),
    ],
)
@pytest.mark.parametrize("block", [3, 1 << 20])
def test_weight_errors_name_file_line_column(tmp_path, monkeypatch, value, reason, block):
    monkeypatch.setattr(_reader, "_SCAN_BLOCK", block)
    # the empty line and the skipped row shift the bad row to physical line 5
    text = f"u1\ti1\t1\n\nu2\n\nu3\ti3\t{value}\nu4\ti4\t1\n"
    path = write(tmp_path / "w.tsv", text)
    with (
        pytest.raises(InputFormatError) as info,
        pytest.warns(UserWarning, match="skipped 1 rows"),
    ):
        read_table(path, "user item weight::w", skip_bad_rows=True)
    assert str(info.value).startswith(f"{path}:5:3: weight {reason}")
    assert (info.value.line, info.value.column) == (5, 3)


@pytest.mark.parametrize("batch", [1, 65536])
def test_weight_error_line_in_csv_with_multiline_cell(tmp_path, monkeypatch, batch):
    monkeypatch.setattr(_reader, "_CSV_BATCH", batch)
    path = write(tmp_path / "w.csv", 'u1,"a\nb",1\n\nu2,i2\nu3,i3,x\n')
    with (
        pytest.raises(InputFormatError, match=r"w\.csv:5:3: weight 'x' is not a number"),
        pytest.warns(UserWarning, match="first is line 4"),
    ):
        read_table(path, "user item weight::w", skip_bad_rows=True)


def test_missing_field_names_file_and_line(tmp_path):
    path = write(tmp_path / "g.tsv", "u1\ti1\n\nu2\ti2\nu3\nu4\ti4\n")
    with pytest.raises(
        InputFormatError, match=r"g\.tsv:4: expected 2 fields .*'user item'.*found 1"
    ):
        read_table(path, "user item")
    extra = write(tmp_path / "h.csv", 'u1,"a\nb"\nu2,i2,x\n')
    with pytest.raises(InputFormatError, match=r"h\.csv:3: expected 2 fields.*found 3"):
        read_table(extra, "user item")


@pytest.mark.parametrize("block", [1, 2, 3, 1 << 20])
def test_line_numbers_with_crlf_and_cr_endings(tmp_path, monkeypatch, block):
    monkeypatch.setattr(_reader, "_SCAN_BLOCK", block)
    path = write(tmp_path / "g.tsv", b"u1\ti1\r\n\r\nu2\ti2\ru3\r\nu4\ti4\r\n")
    with pytest.raises(InputFormatError, match=r"g\.tsv:4: expected 2 fields"):
        read_table(path, "user item")


def test_skip_bad_rows_counts_and_warns(tmp_path):
    path = write(tmp_path / "g.tsv", "u1\ti1\n\nu2\nu3\ti3\nu4\ti4\tx\n")
    with pytest.warns(UserWarning, match=r"g\.tsv: skipped 2 rows.*line 3"):
        table = read_table(path, "user item", skip_bad_rows=True)
    assert table.skipped_rows == 2
    assert ids(table, 0) == [["u1"], ["u3"]]


def test_all_rows_skipped_is_an_error(tmp_path):
    path = write(tmp_path / "g.tsv", "u1\nu2\n")
    with pytest.raises(InputFormatError, match="no rows"), pytest.warns(UserWarning):
        read_table(path, "user item", skip_bad_rows=True)


@pytest.mark.parametrize("text", ["", "\n\n\n"])
def test_empty_file_is_an_error(tmp_path, text):
    path = write(tmp_path / "empty.tsv", text)
    with pytest.raises(InputFormatError, match=r"empty\.tsv: no rows"):
        read_table(path, "user item")
    with pytest.raises(InputFormatError, match="no rows"):
        read_table(iter([]), "user item")


def test_an_empty_file_among_others_is_fine(tmp_path):
    empty = write(tmp_path / "a.tsv", "")
    full = write(tmp_path / "b.tsv", "u1\ti1\n")
    assert read_table([empty, full], "user item").n_rows == 1


@pytest.mark.parametrize("block", [2, 1 << 20])
@pytest.mark.parametrize("name", ["bad.tsv", "bad.tsv.gz", "bad.csv"])
def test_non_utf8_byte(tmp_path, monkeypatch, name, block):
    monkeypatch.setattr(_reader, "_SCAN_BLOCK", block)
    path = write(
        tmp_path / name,
        b"u1\ti1\r\n\ru2\tit\xffem\n".replace(b"\t", b"," if "csv" in name else b"\t"),
    )
    with pytest.raises(
        InputFormatError, match=r"bad\.(tsv|tsv\.gz|csv):3:6: invalid UTF-8 byte 0xff"
    ) as info:
        read_table(path, "user item")
    assert (info.value.line, info.value.column) == (3, 6)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.tsv"):
        read_table(tmp_path / "nope.tsv", "user item")
    assert read_table(["u1\ti1", "u2\ti2"], "user item").n_rows == 2  # a list of lines (issue 13)
    with pytest.raises(FileNotFoundError, match=r"iter\(lines\)"):
        read_table("u1\ti1", "user item")  # one str is always a path
    with pytest.raises(IsADirectoryError):
        read_table(tmp_path, "user item")
    with pytest.raises(TypeError):
        read_table(42, "user item")


def test_progress_bar_on_stderr(tmp_path, capsys):
    path = write(tmp_path / "g.tsv", "u1\ti1\n")
    read_table([path, path], "user item", progress=True)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "2/2" in captured.err
    read_table(path, "user item")
    assert capsys.readouterr().err == ""


def test_groceries_baskets():
    path = DATA / "groceries" / "baskets.tsv"
    if not path.exists():
        pytest.skip(f"real data not found at {path}")
    table = read_table(path, "transient::basket complex::reflexive::item")
    assert table.n_rows == 9835
    assert len(table.entities[1].values) == 43367
    assert table.entities[1].offsets[-1] == 43367
    assert len(set(table.entities[1].values.to_pylist())) == 169
    assert np.diff(table.entities[1].offsets).max() == 32
    assert table.empty_ids == 0
