"""Event logs with time: the time:: column, windows, sessions, since/until, streaming windows."""

from __future__ import annotations

import datetime
import json

import numpy as np
import pyarrow as pa
import pytest

from cleora_tensor import embed, parse_columns, read_hypergraph, read_table
from cleora_tensor.cli import main
from cleora_tensor.errors import ColumnSpecError, InputFormatError
from cleora_tensor.temporal import group_events, parse_duration, parse_instant, select_rows
from cleora_tensor.windows import embed_windows, window_bounds

SPEC = "transient::user item time::ts"
MOVIELENS = "movielens_100k/interactions.tsv"
MOVIELENS_SPEC = "transient::user item ignore::rating time::ts"


def contexts(lines, **options):
    """The context ids of the rows after grouping, in input order."""
    table = group_events(read_table(iter(lines), SPEC), **options)
    return table.entities[0].values.to_pylist(), table


# --- the time:: column ------------------------------------------------------------


def test_time_column_is_parsed_and_never_embedded():
    lines = [
        "u1\ti1\t2024-01-01",  # a date: midnight UTC
        "u1\ti2\t2024-01-01T12:00:00Z",
        "u2\ti1\t1704067200.5",  # Unix seconds
        "u2\ti3\t 2024-01-02 03:04:05.5+01:00",  # a zone, spaces around
    ]
    table = read_table(iter(lines), SPEC)
    np.testing.assert_array_equal(table.times, [1704067200, 1704110400, 1704067200.5, 1704161045.5])
    assert sorted(table.entities) == [0, 1]
    emb = embed(iter(lines), columns=SPEC, dim=4, iterations=2)
    assert sorted(emb.entity_ids) == ["i1", "i2", "i3"]
    assert parse_columns(SPEC).time_column.index == 2


def test_time_modifier_grammar():
    with pytest.raises(ColumnSpecError, match="at most one 'time::' column"):
        parse_columns("user item time::a time::b")
    with pytest.raises(ColumnSpecError, match="'time' cannot be combined"):
        parse_columns("user item transient::time::ts")


def test_a_bad_time_names_file_line_and_column(tmp_path):
    path = tmp_path / "log.tsv"
    path.write_text("u1\ti1\t2024-01-01\n\nu1\ti2\tyesterday\nu2\ti3\t5\n")
    with pytest.raises(InputFormatError, match=r"log.tsv:3:3: time 'yesterday' is neither Unix seconds nor ISO-8601"):
        read_table(path, SPEC)
    path.write_text("u1\ti1\t2024-01-01\nu1\ti2\t2024-13-45\n")  # looks like ISO-8601, is no date
    with pytest.raises(InputFormatError, match=r":2:3: time '2024-13-45'"):
        read_table(path, SPEC)
    path.write_text("u1\ti1\t\n")
    with pytest.raises(InputFormatError, match=r":1:3: missing time"):
        read_table(path, SPEC)


@pytest.mark.filterwarnings("ignore:.*without 3 fields")
def test_skip_bad_rows_skips_and_counts_bad_times(tmp_path):
    path = tmp_path / "log.tsv"
    path.write_text("u1\ti1\t10\nu1\ti2\tnope\nu2\ti3\t\nu2\ti4\t20\nshort\n")
    with pytest.warns(UserWarning, match=r"skipped 2 rows whose time \(column 3\).*first is line 2"):
        table = read_table(path, SPEC, skip_bad_rows=True)
    assert table.n_rows == 2 and table.skipped_rows == 3  # 2 bad times and 1 short row
    assert table.entities[1].values.to_pylist() == ["i1", "i4"]
    np.testing.assert_array_equal(table.times, [10, 20])


def test_typed_table_columns():
    stamps = pa.array([datetime.datetime(2024, 1, 1), datetime.datetime(2024, 1, 2)], pa.timestamp("ms"))
    table = pa.table({"u": ["a", "b"], "i": ["x", "y"], "t": stamps})
    np.testing.assert_array_equal(read_table(table, SPEC).times, [1704067200, 1704153600])
    dates = pa.table({"u": ["a"], "i": ["x"], "t": pa.array([datetime.date(1970, 1, 2)])})
    np.testing.assert_array_equal(read_table(dates, SPEC).times, [86400])
    numbers = pa.table({"u": ["a"], "i": ["x"], "t": pa.array([7], pa.int32())})
    np.testing.assert_array_equal(read_table(numbers, SPEC).times, [7])
    with pytest.raises(InputFormatError, match="times are timestamps"):
        read_table(pa.table({"u": ["a"], "i": ["x"], "t": pa.array([True])}), SPEC)


def test_durations_and_instants():
    assert [parse_duration(v, "d") for v in ("90s", "30m", "2h", "1d", "1w", "1.5h", 45)] == [
        90, 1800, 7200, 86400, 604800, 5400, 45
    ]
    assert parse_duration(datetime.timedelta(minutes=5), "d") == 300
    for bad in ("30", "1 month", "-1h", "0s", "h", True):
        with pytest.raises(ValueError, match="session_gap"):
            parse_duration(bad, "session_gap")
    assert parse_instant("1970-01-02", "since") == 86400
    assert parse_instant(datetime.datetime(1970, 1, 1, 0, 1), "since") == 60
    with pytest.raises(ValueError, match="until must be Unix seconds or an ISO-8601"):
        parse_instant("soon", "until")


# --- sessions and windows, hand-computed ------------------------------------------


def test_sessions_split_after_a_gap_longer_than_session_gap():
    lines = [
        "u1\ta\t0",
        "u1\tb\t1800",  # exactly the gap: same session
        "u1\tc\t3601",  # 1801 s after b: a new session
        "u2\ta\t100",
        "u1\td\t3601",  # a tie with c: same session, input order kept
    ]
    ids, table = contexts(lines, session_gap="30m")
    assert ids == ["u1@0", "u1@0", "u1@3601", "u2@100", "u1@3601"]
    assert table.grouping["hyperedges"] == 3 and table.grouping["mode"] == "session"


def test_sessions_sort_out_of_order_times_per_context():
    lines = ["u1\ta\t5000", "u1\tb\t0", "u2\tc\t4000", "u1\tc\t1000", "u2\ta\t0"]
    ids, _ = contexts(lines, session_gap=1500)
    # u1 sorted: 0, 1000 (one session from 0), 5000 (4000 later: new); u2: 0 and 4000 apart.
    assert ids == ["u1@5000", "u1@0", "u2@4000", "u1@0", "u2@0"]


def test_windows_are_epoch_aligned_and_half_open():
    lines = ["u1\ta\t0", "u1\tb\t3599.9", "u1\tc\t3600", "u2\ta\t-1", "u1\td\t7300"]
    ids, table = contexts(lines, window="1h")
    assert ids == ["u1@0", "u1@0", "u1@3600", "u2@-3600", "u1@7200"]
    assert table.grouping["hyperedges"] == 4


def test_since_inclusive_until_exclusive():
    lines = ["u1\ta\t10", "u1\tb\t20", "u1\tc\t30"]
    ids, table = contexts(lines, since=20, until=30)
    assert ids == ["u1"] and table.entities[1].values.to_pylist() == ["b"]
    assert table.grouping["rows_outside"] == 2 and table.grouping["mode"] is None
    with pytest.raises(ValueError, match="no row has a time"):
        contexts(lines, since=31)
    with pytest.raises(ValueError, match="must be before until"):
        contexts(lines, since=30, until=30)


def test_grouping_errors():
    with pytest.raises(ValueError, match="need a 'time::' column"):
        group_events(read_table(iter(["u\ti"]), "transient::user item"), window="1d")
    with pytest.raises(ValueError, match="not both"):
        contexts(["u\ti\t0"], window="1d", session_gap="1h")
    with pytest.raises(ValueError, match="exactly one plain 'transient::' column"):
        group_events(read_table(iter(["u\ti\t0"]), "user item time::ts"), session_gap="1h")


def test_select_rows_keeps_complex_cells_weights_and_times():
    table = read_table(iter(["b1\tx y\t2\t0", "b2\t\t1\t1", "b3\tz\t3\t2"]), "transient::b complex::item weight::w time::t")
    kept = select_rows(table, np.array([False, True, True]))
    assert kept.n_rows == 2 and kept.entities[1].values.to_pylist() == ["z"]
    np.testing.assert_array_equal(kept.entities[1].offsets, [0, 0, 1])
    np.testing.assert_array_equal(kept.weights, [1, 3])
    np.testing.assert_array_equal(kept.times, [1, 2])


def test_a_session_graph_is_the_graph_of_session_ids():
    """Grouping is the same as writing the session ids into the context column by hand."""
    lines = ["u1\ta\t0", "u1\tb\t60", "u1\tc\t9000", "u1\ta\t9100", "u2\tb\t0", "u2\tc\t10"]
    hg = read_hypergraph(iter(lines), SPEC, session_gap="1h")
    by_hand = read_hypergraph(iter(["s1\ta", "s1\tb", "s2\tc", "s2\ta", "s3\tb", "s3\tc"]), "transient::user item")
    assert hg.time_span == (0, 9100) and hg.grouping["hyperedges"] == 3
    g, h = hg.graph(), by_hand.graph()
    assert g.entity_ids[:3] == ["u1@0", "u1@9000", "u2@0"]
    np.testing.assert_array_equal(g.adjacency.toarray(), h.adjacency.toarray())


# --- streaming windows ------------------------------------------------------------


def test_window_bounds():
    times = np.array([90.0, 100, 250, 410])
    assert window_bounds(times, 100, 100, None, None) == [(0, 100), (100, 200), (200, 300), (400, 500)]
    assert window_bounds(times, 200, 100, None, None) == [(0, 200), (100, 300), (200, 400), (300, 500), (400, 600)]
    assert window_bounds(times, 100, 100, 95, 300) == [(95, 195), (195, 295)]


def test_each_window_is_the_embedding_of_its_rows(data_file):
    path = data_file(MOVIELENS)
    windows = embed_windows(path, columns=MOVIELENS_SPEC, window="30d", dim=32, since="1997-10-01", until="1997-12-30")
    assert [(w.start.isoformat(), w.end.isoformat()) for w in windows] == [
        ("1997-10-01T00:00:00+00:00", "1997-10-31T00:00:00+00:00"),
        ("1997-10-31T00:00:00+00:00", "1997-11-30T00:00:00+00:00"),
        ("1997-11-30T00:00:00+00:00", "1997-12-30T00:00:00+00:00"),
    ]
    second = windows[1]
    alone = embed(path, columns=MOVIELENS_SPEC, dim=32, since=second.start, until=second.end)
    assert alone.entity_ids == second.embedding.entity_ids
    np.testing.assert_array_equal(np.asarray(alone.vectors), np.asarray(second.embedding.vectors))
    # Shared coordinates without alignment: the same movie in consecutive windows
    # is closer than to another movie (measured at dim 32: 0.13 vs 0.02; weak, see
    # benchmarks/temporal_windows.py for what that means downstream).
    a, b = windows[0].embedding, windows[1].embedding
    shared = sorted(set(a.entity_ids) & set(b.entity_ids))
    va, vb = (np.asarray(e.vectors)[[e.entity_ids.index(i) for i in shared]] for e in (a, b))
    va, vb = (v / np.linalg.norm(v, axis=1, keepdims=True) for v in (va, vb))
    same = float((va * vb).sum(1).mean())
    other = float((va * np.roll(vb, 1, axis=0)).sum(1).mean())
    assert same > 0.1 and same > 4 * abs(other)


def test_warm_windows_start_from_the_previous_window():
    # Day 0: a, b, c; day 1: b, c, d; day 2: e, f (nothing shared: a cold start).
    lines = ["u1\ta\t0", "u1\tb\t10", "u2\tc\t20", "u2\tb\t30",
             "u3\tb\t86400", "u3\tc\t86410", "u4\td\t86420", "u4\tc\t86430",
             "u5\te\t172800", "u5\tf\t172810"]
    options = dict(columns=SPEC, window="1d", dim=8, whiten="none", residual=0.0)
    # No step: each window's vectors are its start, so the warm start is visible as is.
    cold, warm = (embed_windows(iter(lines), iterations=0, warm=w, **options) for w in (False, True))
    np.testing.assert_array_equal(np.asarray(warm[0].embedding.vectors), np.asarray(cold[0].embedding.vectors))
    first, second = warm[0].embedding, warm[1].embedding
    for item in ("b", "c"):
        np.testing.assert_array_equal(second.vector(item), first.vector(item))
    np.testing.assert_array_equal(second.vector("d"), cold[1].embedding.vector("d"))  # unseen: hash start
    np.testing.assert_array_equal(np.asarray(warm[2].embedding.vectors), np.asarray(cold[2].embedding.vectors))
    with pytest.raises(ValueError, match="single-scale"):
        embed_windows(iter(lines), preset="retrieval", warm=True, **{k: v for k, v in options.items() if k != "residual"})
    with pytest.raises(ValueError, match="does not take initial="):
        embed_windows(iter(lines), warm=True, initial={"a": np.ones(8)}, **options)
    with pytest.raises(ValueError, match="does not take feature_weight="):
        embed_windows(iter(lines), warm=True, feature_weight=0.5, **options)
    with pytest.raises(ValueError, match="single-scale"):  # before any window is embedded, even one
        embed_windows(iter(lines[:2]), warm=True, scales=(1,), **options)


def test_errors_after_a_skipped_bad_time_name_their_own_line(tmp_path):
    log = tmp_path / "log.tsv"
    log.write_text("u\ta\tx\t1\nu\tb\t10\t1\nu\tc\t20\t-5\n")
    with pytest.warns(UserWarning), pytest.raises(InputFormatError, match=r"log\.tsv:3:4: weight '-5'"):
        read_table(log, "transient::u i time::t weight::w", skip_bad_rows=True)


def test_no_row_in_any_window_is_an_error():
    with pytest.raises(ValueError, match="no row has a time in"):
        embed_windows(iter(["u\ta\t0", "u\tb\t10"]), columns=SPEC, window="1d", since=86400 * 10)


@pytest.mark.parametrize("id_type", [pa.string(), pa.large_string()])
def test_grouping_a_table_of_either_string_type(id_type):
    table = pa.table({"u": pa.array(["a", "a", "b"], id_type), "i": pa.array(["x", "y", "x"], id_type), "t": [0, 10, 4000]})
    assert read_hypergraph(table, "transient::u i time::t", session_gap="1m").grouping["hyperedges"] == 2
    assert read_hypergraph(table, "transient::u i time::t", window="5s").grouping["hyperedges"] == 3


def test_embed_windows_errors():
    with pytest.raises(ValueError, match="needs a 'time::' column"):
        embed_windows(iter(["a\tb"]), columns="transient::u item", window="1d")
    with pytest.raises(ValueError, match="does not take output="):
        embed_windows(iter(["a\tb\t0"]), columns=SPEC, window="1d", output="x.npz")


# --- command line -------------------------------------------------------------------


def test_cli_sessions_on_movielens(tmp_path, data_file, capsys):
    path = str(data_file(MOVIELENS))
    out = tmp_path / "s.npz"
    assert main(["embed", path, "--columns", MOVIELENS_SPEC, "--session-gap", "30m", "-o", str(out), "-q", "--dim", "16"]) == 0
    assert out.exists()
    assert main(["info", path, "--columns", MOVIELENS_SPEC, "--session-gap", "30m", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["time_mode"] == "session" and report["time_hyperedges"] == 2793
    assert report["time_span"] == ["1997-09-20T03:05:10Z", "1998-04-22T23:10:38Z"]
    assert report["entities_per_type"]["user"] == 2793  # the transient column now holds sessions


def test_cli_streaming_windows_write_one_file_per_window(tmp_path, capsys):
    log = tmp_path / "log.tsv"
    log.write_text("".join(f"u{k % 3}\ti{k % 5}\t2024-01-0{1 + k // 4}T0{k % 4}:00:00Z\n" for k in range(12)))
    out = tmp_path / "w.npz"
    assert main(["embed", str(log), "--columns", SPEC, "--window", "1d", "--step", "1d", "-o", str(out), "--dim", "4"]) == 0
    assert sorted(p.name for p in tmp_path.glob("w__*")) == ["w__2024-01-01.npz", "w__2024-01-02.npz", "w__2024-01-03.npz"]
    assert "rows in [2024-01-02T00:00:00+00:00, 2024-01-03T00:00:00+00:00)" in capsys.readouterr().err
    assert main(["embed", str(log), "--columns", SPEC, "--window", "12h", "--step", "6h", "-o", str(tmp_path / "h.npz"), "-q", "--dim", "4"]) == 0
    assert (tmp_path / "h__2024-01-01T18-00-00.npz").exists()
    assert main(["embed", str(log), "--columns", SPEC, "--step", "1d", "-q"]) == 2
    assert "--step needs --window" in capsys.readouterr().err
    warm = tmp_path / "warm.npz"
    assert main(["embed", str(log), "--columns", SPEC, "--window", "1d", "--step", "1d", "--warm", "-o", str(warm), "-q", "--dim", "4"]) == 0
    assert (tmp_path / "warm__2024-01-03.npz").exists()
    assert main(["embed", str(log), "--columns", SPEC, "--window", "1d", "--warm", "-q", "-o", str(warm)]) == 2
    assert "--warm needs streaming windows" in capsys.readouterr().err
