"""Bad input to the reader: one clear error naming the file and line, never a
traceback, a hang or a silently wrong table (GitHub issue #9)."""

from __future__ import annotations

import gzip
import io
import os
import re
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cleora_tensor import _reader
from cleora_tensor.cli import main
from cleora_tensor.errors import InputFormatError
from cleora_tensor.io import read_table

TIMEOUT = 60  # seconds; the cases below take well under one


def write(path, data):
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def ids(table, index):
    column = table.entities[index]
    values = column.values.to_pylist()
    return [values[a:b] for a, b in zip(column.offsets[:-1], column.offsets[1:])]


def cli_error(capsys, *argv, warnings=0):
    """Run the CLI; check it failed with one error line on stderr (after
    ``warnings`` warning lines), and return that line."""
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert status == 2 and out == "", (out, err)
    assert "Traceback" not in err and "Exception ignored" not in err
    *warned, line = err.splitlines()
    assert len(warned) == warnings
    assert all(w.startswith("cleora-tensor: warning: ") for w in warned)
    assert line.startswith("cleora-tensor: error: ")
    return line


def run_python(code, tmp_path):
    """Run ``code`` in a fresh interpreter (a hang is a failure, not a stuck suite)."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


# --- 1. Parquet columns of a type that cannot hold ids -----------------------------


@pytest.mark.parametrize("command", ["info", "embed"])
def test_parquet_struct_column_names_column_and_type(tmp_path, capsys, command):
    path = tmp_path / "s.parquet"
    pq.write_table(pa.table({"a": ["x", "y"], "s": [{"p": 1}, {"p": 2}]}), path)
    output = ["-o", tmp_path / "out.npz", "-q"] if command == "embed" else []
    message = cli_error(capsys, command, path, "--columns", "node node", *output)
    assert f"{path}: column 2 ('s') has type struct<p: int64>" in message
    assert "strings or numbers (or lists of them" in message
    assert sorted(os.listdir(tmp_path)) == ["s.parquet"]


def test_table_columns_are_type_checked():
    nested = pa.table({"a": ["x"], "b": pa.array([[["y"]]], pa.list_(pa.list_(pa.string())))})
    with pytest.raises(InputFormatError, match=r"^<table>: column 2 \('b'\) has type list<"):
        read_table(nested, "a complex::b")
    with pytest.raises(InputFormatError, match=r"column 3 \('w'\) has type date32.*weights"):
        read_table(
            pa.table({"a": ["x"], "b": ["y"], "w": pa.array([0], pa.date32())}),
            "a b weight::w",
        )
    # dates, booleans, decimals and fixed-size lists are fine
    table = pa.table(
        {
            "d": pa.array([0], pa.date32()),
            "f": pa.array([["u", "v"]], pa.list_(pa.string(), 2)),
            "w": pa.array([True]),
        }
    )
    result = read_table(table, "day complex::item weight::w")
    assert ids(result, 0) == [["1970-01-01"]] and ids(result, 1) == [["u", "v"]]


def test_parquet_binary_cell_not_utf8_names_row_and_column(tmp_path):
    path = tmp_path / "b.parquet"
    items = pa.array([[b"ok"], [b"fine", b"\xffbad"]], pa.list_(pa.binary()))
    pq.write_table(pa.table({"u": [b"a", b"b"], "i": items}), path)
    with pytest.raises(InputFormatError, match=r"b\.parquet:2:2: the cell holds bytes that"):
        read_table(path, "user complex::item")


def test_not_parquet_and_parquet_as_text(tmp_path, capsys):
    text = write(tmp_path / "t.parquet", "a\tb\n")
    message = cli_error(capsys, "info", text, "--columns", "a b")
    assert f"{text}: not a Parquet file, or a damaged one: " in message
    # binary rows, with and without the right number of tabs: bad rows hold bytes
    # that are not UTF-8, which pyarrow failed to pass to its bad-row handler
    parquet = tmp_path / "p.parquet"
    rng = np.random.default_rng(0)
    pq.write_table(pa.table({"a": rng.random(200), "b": rng.integers(0, 1 << 60, 200)}), parquet)
    for extra in ([], ["--skip-bad-rows"]):
        message = cli_error(capsys, "info", parquet, "-c", "a b", "--input-format", "tsv", *extra)
        assert re.match(rf"cleora-tensor: error: {re.escape(str(parquet))}:\d+(:\d+)?: ", message)


# --- 2. Rows with a wrong number of fields and bytes that are not UTF-8 ------------


@pytest.mark.parametrize("fmt", ["tsv", "csv"])
def test_wrong_field_count_and_bad_byte_in_one_row(tmp_path, capsys, fmt):
    sep = "\t" if fmt == "tsv" else ","
    path = write(
        tmp_path / f"bad.{fmt}",
        f"a{sep}b\nc{sep}d\xff{sep}e\nf{sep}g\n".encode("latin-1"),
    )
    message = cli_error(capsys, "info", path, "--columns", "node node")
    assert message.endswith(f"{path}:2: expected 2 fields (columns spec 'node node'), found 3")
    with pytest.warns(UserWarning, match=r"skipped 1 rows .*the first is line 2"):
        table = read_table(path, "node node", skip_bad_rows=True)
    assert ids(table, 0) == [["a"], ["f"]] and table.skipped_rows == 1
    assert "Exception ignored" not in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["tsv", "csv"])
def test_bad_byte_in_a_kept_row_is_an_error_with_skip_bad_rows(tmp_path, fmt):
    sep = "\t" if fmt == "tsv" else ","
    text = f"a{sep}b\n\xff\xfe{sep}x{sep}y\nc{sep}d\nok{sep}\xe9t\xe9\n".encode("latin-1")
    path = write(tmp_path / f"bad.{fmt}", text)
    with pytest.raises(InputFormatError, match=rf"bad\.{fmt}:4:4: invalid UTF-8 byte 0xe9"):
        read_table(path, "node node", skip_bad_rows=True)
    # the first problem in file order, without skipping: the bad row
    with pytest.raises(InputFormatError, match=rf"bad\.{fmt}:2: expected 2 fields.*found 3"):
        read_table(path, "node node")


def test_bad_byte_in_an_ignored_column_is_fine(tmp_path):
    path = write(tmp_path / "g.tsv", b"a\tb\t\xff\nc\td\t\xfe\n")
    assert ids(read_table(path, "node node ignore::x"), 1) == [["b"], ["d"]]


def test_skipped_rows_with_bad_bytes_keep_weights_and_line_numbers(tmp_path):
    path = write(tmp_path / "w.tsv", b"a\tb\t1\n\xff\n\nc\td\t2\ne\tf\t-1\n")
    with pytest.raises(InputFormatError, match=r"w\.tsv:5:3: weight '-1' is negative"):
        with pytest.warns(UserWarning, match="the first is line 2"):
            read_table(path, "n n weight::w", skip_bad_rows=True)


# --- 3. Standard input, pipes and special files ------------------------------------


def test_fifo_is_opened_once(tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no named pipes on this system")
    fifo = tmp_path / "pipe.tsv"
    os.mkfifo(fifo)
    # The writer is a thread: it ends with the process, even one killed by the timeout.
    result = run_python(
        f"""
        import sys, threading
        from cleora_tensor.cli import main
        def write():
            with open({str(fifo)!r}, "wb") as pipe:
                pipe.write(b"a\\tb\\nb\\tc\\n")
        threading.Thread(target=write, daemon=True).start()
        sys.exit(main(["info", {str(fifo)!r}, "--columns", "node node"]))
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "rows: 2" in result.stdout


def test_process_substitution_and_errors_in_pipes(tmp_path):
    bash = shutil.which("bash")
    if bash is None or not os.path.exists("/dev/fd"):
        pytest.skip("needs bash and /dev/fd")
    write(tmp_path / "g.tsv", "a\tb\nb\tc\n")
    write(tmp_path / "bad.tsv", "a\tb\nb\tc\nc\n")
    script = (
        "import sys; from cleora_tensor.cli import main; "
        "main(['info', sys.argv[1], sys.argv[2], '-c', 'node node']); "
        "sys.exit(main(['info', sys.argv[3], '-c', 'node node']))"
    )
    result = subprocess.run(
        [bash, "-c", f'"{sys.executable}" -c "{script}" <(cat g.tsv) <(gzip -c g.tsv) '
                     "<(cat bad.tsv)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert "rows: 4" in result.stdout
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("cleora-tensor: error: /dev/fd/") and line.endswith(
        ":3: expected 2 fields (columns spec 'node node'), found 1"
    )
    assert sorted(os.listdir(tmp_path)) == ["bad.tsv", "g.tsv"]


def test_cli_embed_reads_standard_input(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "cleora_tensor.cli", "embed", "-", "-c", "node node",
         "-d", "4", "-n", "2", "-o", "out.npz", "-q"],
        input=gzip.compress(b"a\tb\nb\tc\nc\ta\n"),
        cwd=tmp_path,
        capture_output=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(tmp_path)) == ["out.npz"]


def stdin(monkeypatch, data):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))


def test_read_table_dash_is_standard_input(monkeypatch):
    stdin(monkeypatch, b"u1\ti1 i2\nu2\ti3\n")
    table = read_table("-", "user complex::item")
    assert table.sources == ("<stdin>",) and ids(table, 1) == [["i1", "i2"], ["i3"]]


def test_errors_on_standard_input_have_line_numbers(monkeypatch):
    # the slow paths read the input again: from the temporary copy
    stdin(monkeypatch, b"a\tb\t1\n\nc\td\t2\nc\td\tx\n")
    with pytest.raises(InputFormatError, match=r"^<stdin>:4:3: weight 'x' is not a number"):
        read_table("-", "n n weight::w")
    stdin(monkeypatch, gzip.compress(b"a\tb\n\xff\n" * 1000 + b"c\td\n"))
    with pytest.warns(UserWarning, match=r"<stdin>: skipped 1000 rows .*first is line 2"):
        assert read_table("-", "n n", skip_bad_rows=True).n_rows == 1001
    monkeypatch.setattr(_reader, "_ARROW_BLOCK", 1 << 10)  # the retry re-reads the stream
    stdin(monkeypatch, b"a\tb\n" + b"c\t" + b"d " * 5000 + b"\n")
    assert read_table("-", "n complex::n").n_rows == 2


# --- 4. Long lines -----------------------------------------------------------------


def test_a_basket_of_300k_ids_is_read(tmp_path):
    items = " ".join(f"i{k}" for k in range(300_000))  # 2.3 MB, over one 1 MiB block
    path = write(tmp_path / "b.csv", f'b1,i1 i2\nb2,"{items}"\nb3,i3\n')
    table = read_table(path, "transient::basket complex::item")
    assert np.diff(table.entities[1].offsets).tolist() == [2, 300_000, 1]
    with pytest.raises(InputFormatError, match=r"b\.csv:2: the record starting on this line "
                                               r"is longer than the maximum of 1000000 bytes"):
        read_table(path, "transient::basket complex::item", max_line_bytes=1_000_000)
    for wrong in (0, 1 << 31, 1.5):
        with pytest.raises(ValueError, match="max_line_bytes must be an integer from 1 to"):
            read_table(path, "a b", max_line_bytes=wrong)


def test_endless_line_ends_quickly_in_bounded_memory(tmp_path):
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero")
    result = run_python(
        """
        import resource
        from cleora_tensor import read_table
        try:
            read_table("/dev/zero", "node node", max_line_bytes=1 << 20)
        except ValueError as error:
            print(error)
        # This process's own peak: ru_maxrss survives execve on Linux, so it
        # would report the (large) pytest process that spawned this one.
        try:
            with open("/proc/self/status") as status:
                peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
        except OSError:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(peak // 1024)
        """,
        tmp_path,
    )
    message, megabytes = result.stdout.splitlines()
    assert message == (
        "/dev/zero:1: the line is longer than the maximum of 1048576 bytes (max_line_bytes)"
    ), result.stderr
    assert int(megabytes) < 1024


# --- 5. A CSV quote left open --------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "text", "line"),
    [
        ("a b", 'a,b\nc,"d\ne,f\ng,h\n', 2),  # in the last column: exit 0 before
        ("a b", 'a,b\n"c,d\ne,f\n', 2),  # too few fields
        ("a b ignore::c", 'a,b,c\nd,e,"f\ng,h,i\n', 2),  # in an ignored column
        ("a b c", 'a,"b\nc","d\ne\n', 2),  # after a quoted line break
    ],
)
def test_csv_quote_left_open_names_its_line(tmp_path, capsys, spec, text, line):
    path = write(tmp_path / "q.csv", text)
    expected = f"{path}:{line}: a quoted field opened on this line is never closed"
    assert expected in cli_error(capsys, "info", path, "-c", spec)
    with pytest.raises(InputFormatError, match="never closed") as info:
        read_table(path, spec, skip_bad_rows=True)
    assert info.value.line == line


def test_csv_quote_left_open_in_a_skipped_row(tmp_path):
    path = write(tmp_path / "q.csv", 'a,b,c\nd,"e\nf,g,h\n')
    with pytest.raises(InputFormatError, match=r"q\.csv:2: a quoted field opened"):
        read_table(path, "a b c", skip_bad_rows=True)


@pytest.mark.parametrize(
    ("n_lines", "reason"),
    [
        (300_000, "a quoted field opened on this line is never closed"),
        # the open field over twice the maximum: the scan stops there
        (600_000, "the record starting on this line is longer than the maximum of "
                  "1048576 bytes (max_line_bytes); is a quote left open?"),
    ],
)
def test_csv_quote_left_open_in_a_long_input(tmp_path, n_lines, reason):
    path = write(tmp_path / "q.csv", 'a,b\nc,"d\n' + "e,f\n" * n_lines)
    with pytest.raises(InputFormatError) as info:
        read_table(path, "a b", max_line_bytes=1 << 20)
    assert str(info.value).startswith(f"{path}:2: {reason}")


# --- 6. and 7. Messages name the file and say what is wrong --------------------------


def test_gzip_problems(tmp_path, capsys):
    data = gzip.compress(b"a\tb\n" * 10_000)
    cases = {
        "cut.tsv.gz": (data[: len(data) // 2], "the gzip data is truncated"),
        "plain.tsv.gz": (b"a\tb\n", "not valid gzip data (incorrect header check"),
        "junk.tsv.gz": (data[:20] + bytes(50) + data[70:], "not valid gzip data ("),
    }
    for name, (content, reason) in cases.items():
        path = write(tmp_path / name, content)
        assert f"{path}: {reason}" in cli_error(capsys, "info", path, "-c", "a b")


def test_no_rows_says_what_was_expected(tmp_path):
    with pytest.raises(InputFormatError, match=r"^<lines>: no rows: the input is empty or "
                                               r"has only empty lines; expected rows of 2 "
                                               r"fields \(columns spec 'a b'\)$"):
        read_table(iter(["", "\n"]), "a b")


def test_unusable_paths(tmp_path, capsys):
    assert str(tmp_path) in cli_error(capsys, "info", tmp_path, "-c", "a b")
    empty = write(tmp_path / "empty.tsv", "")
    assert f"{empty}: no rows" in cli_error(capsys, "info", empty, "-c", "a b")
    with pytest.raises(InputFormatError, match="NUL"):
        read_table("a\x00b", "a b")
    with pytest.raises(TypeError, match=r"line 2 of the lines is int"):
        read_table(iter(["a\tb", 3]), "a b")
    locked = write(tmp_path / "locked.tsv", "a\tb\n")
    locked.chmod(0)
    try:
        if os.access(locked, os.R_OK):
            pytest.skip("running as a user who reads any file")
        assert f"{locked}" in cli_error(capsys, "info", locked, "-c", "a b")
    finally:
        locked.chmod(0o600)


def test_binary_junk(tmp_path, capsys):
    junk = write(tmp_path / "junk.bin", bytes(range(256)) * 40)
    for extra in ([], ["--input-format", "csv"], ["--skip-bad-rows"]):
        assert f"{junk}:" in cli_error(capsys, "info", junk, "-c", "a b", *extra)
