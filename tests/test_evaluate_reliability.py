"""``cleora-tensor evaluate`` on bad input: exit status 2 and one located line, no traceback.

The evaluation inputs (rows, labels, splits) go through the embedding reader, so
their errors carry the physical ``file:line[:column]`` that ``embed`` reports.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

import cleora_tensor as ct
from cleora_tensor import evaluation as ev
from cleora_tensor.cli import main
from cleora_tensor.datasets import dataset_path

BASKETS = "transient::basket complex::reflexive::item"


def evaluate(capsys, *argv):
    status = main(["evaluate", *map(str, argv)])
    out, err = capsys.readouterr()
    return status, out, err


def assert_one_error(status, out, err, *fragments):
    """Exit 2, nothing on stdout, exactly one stderr line holding every fragment."""
    assert status == 2 and out == ""
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("cleora-tensor: error: "), err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def write(path, data):
    (path.write_bytes if isinstance(data, bytes) else path.write_text)(data)
    return path


@pytest.fixture(scope="module")
def karate(tmp_path_factory):
    """A saved embedding of the bundled karate club graph (ids "0".."33")."""
    path = tmp_path_factory.mktemp("karate") / "karate.npz"
    ct.embed(dataset_path("karate_club"), columns="member member", dim=8, iterations=3).save(path)
    return path


# --- the rows of link prediction and basket completion


@pytest.mark.parametrize(
    ("protocol", "columns", "text", "where"),
    [
        # blank lines are not rows, but they are lines
        ("link-prediction", "node node", "a\tb\n\n\n\nc\n", ":5: "),
        ("link-prediction", "node node", "a\tb\r\n\r\nb\tc\td\r\n", ":3: "),
        ("basket-completion", BASKETS, "1\ta b\n\n2\tb c\n\n3\n", ":5: "),
        ("link-prediction", "node node weight::w", "a\tb\t1\n\nb\tc\tmany\n", ":3:3: "),
    ],
)
def test_row_errors_give_the_physical_line(tmp_path, capsys, protocol, columns, text, where):
    rows = write(tmp_path / "rows.tsv", text)
    status, out, err = evaluate(capsys, protocol, rows, "-c", columns, "--train-output", tmp_path / "train.tsv")
    assert_one_error(status, out, err, f"{rows}{where}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.tsv"]  # no training rows written


@pytest.mark.parametrize("compress", [False, True])
def test_bytes_that_are_not_utf8_give_line_and_column(tmp_path, capsys, compress):
    data = b"a\tb\n\nb\tc\xffd\n"
    rows = write(tmp_path / ("rows.tsv.gz" if compress else "rows.tsv"), gzip.compress(data) if compress else data)
    status, out, err = evaluate(capsys, "link-prediction", rows, "-c", "node node")
    assert_one_error(status, out, err, f"{rows}:3:4: ", "UTF-8")


def test_a_truncated_gzip_file_exits_2(tmp_path, capsys):
    data = gzip.compress("".join(f"{i}\t{i + 1}\n" for i in range(20000)).encode())
    rows = write(tmp_path / "rows.tsv.gz", data[: len(data) // 2])
    status, out, err = evaluate(capsys, "link-prediction", rows, "-c", "node node")
    assert_one_error(status, out, err, f"{rows}: ")


@pytest.mark.parametrize("name", ["rows.tsv", "labels.tsv"])
def test_a_ten_megabyte_line_is_located(tmp_path, capsys, karate, name):
    path = write(tmp_path / name, "0\t1\n1\t2\n" + "x" * 5_000_000 + "\ty\t" + "z" * 5_000_000 + "\n")
    argv = ["link-prediction", path, "-c", "node node"] if name == "rows.tsv" else ["classification", karate, path]
    status, out, err = evaluate(capsys, *argv)
    assert_one_error(status, out, err, f"{path}:3: ", "expected 2 fields")


# The peak of this process (KiB): VmHWM, since ru_maxrss survives execve on
# Linux and would report the pytest process that spawned it.
PEAK_RSS = (
    "import resource, sys\n"
    "from cleora_tensor.cli import main\n"
    "status = main(sys.argv[1:])\n"
    "try:\n"
    "    peak = next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM:'))\n"
    "except OSError:\n"
    "    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
    "print(peak)\n"
    "sys.exit(status)\n"
)


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_dev_zero_is_refused_without_reading_it_into_memory():
    # The old reader read all of it into one Python string (3.5 GB, then MemoryError).
    argv = ["evaluate", "link-prediction", "/dev/zero", "--columns", "node node"]
    done = subprocess.run([sys.executable, "-c", PEAK_RSS, *argv], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and "/dev/zero:1: " in lines[0], done.stderr
    assert int(done.stdout) < 2_000_000  # peak resident KiB: bounded by the reader's line cap


def test_rows_without_any_edge_are_refused(tmp_path, capsys):
    rows = write(tmp_path / "rows.tsv", "a\t\n\tb\n")
    status, out, err = evaluate(capsys, "link-prediction", rows, "-c", "node node")
    assert_one_error(status, out, err, str(rows), "no row has both endpoints")


# --- label and split files


@pytest.mark.parametrize(
    ("text", "where", "reason"),
    [
        ("0\tMr._Hi\n\n\n\n1\tMr._Hi\tx\n", ":5: ", "expected 2 fields"),
        ("0\tMr._Hi\n\n\n1\t\n", ":4:2: ", "empty label"),
        ("0\tMr._Hi\r\n\r\n\tOfficer\r\n", ":3:1: ", "empty node"),
        (b"0\tMr._Hi\n\n1\tOf\xe9\n", ":3:5: ", "UTF-8"),
        ("", "", "no rows"),
    ],
)
def test_label_file_errors_are_located(tmp_path, capsys, karate, text, where, reason):
    labels = write(tmp_path / "labels.tsv", text)
    status, out, err = evaluate(capsys, "classification", karate, labels)
    assert_one_error(status, out, err, f"{labels}{where}", reason)


@pytest.mark.parametrize(
    ("data", "where", "reason"),
    [
        ("0\ttrain\n\n\n1\ttest\n\n2\ttrian\n", ":6:2: ", "got 'trian'"),
        ("0\ttrain\r\r1\ttest\r0\ttest\r", ":4:1: ", "node '0' is listed twice"),
        (gzip.compress(b"0\ttrain\n\n1\ttest\n\n\n2\tvalid\n"), ":6:2: ", "got 'valid'"),
    ],
)
def test_split_file_errors_are_located(tmp_path, capsys, karate, data, where, reason):
    split = write(tmp_path / "split.tsv", data)
    labels = dataset_path("karate_club", labels=True)
    status, out, err = evaluate(capsys, "classification", karate, labels, "--split-file", split)
    assert_one_error(status, out, err, f"{split}{where}", reason)


def test_long_values_in_messages_are_cut(tmp_path, capsys, karate):
    split = write(tmp_path / "split.tsv", "0\ttrain\n1\t" + "t" * 100_000 + "\n")
    status, out, err = evaluate(capsys, "classification", karate, dataset_path("karate_club", labels=True),
                                "--split-file", split)
    assert_one_error(status, out, err, f"{split}:2:2: ")
    assert len(err) < 500


# --- labels that do not fit the embedding


def test_labels_of_no_embedded_node_are_refused(tmp_path, capsys, karate):
    labels = write(tmp_path / "labels.tsv", "".join(f"node{i}\t{i % 2}\n" for i in range(34)))
    status, out, err = evaluate(capsys, "classification", karate, labels)
    assert_one_error(status, out, err, str(labels), "none of the 34 labelled nodes is in the embedding",
                     "'node0'", "'0'")


def test_labels_of_few_embedded_nodes_warn(tmp_path, capsys, karate):
    labels = write(tmp_path / "labels.tsv", "".join(
        f"{i if i < 10 else f'node{i}'}\t{i % 2}\n" for i in range(34)))
    status, out, err = evaluate(capsys, "classification", karate, labels, "--seeds", 1)
    assert status == 0 and "accuracy" in out and "Traceback" not in err
    assert err.splitlines() == ["cleora-tensor: warning: only 10 of the 34 labelled nodes are in the "
                                "embedding; the others are classified from zero vectors"]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("0\ta\n1\ta\n2\t" + "b" * 100 + "\n", "label 'bbbb"),  # one node: cannot be stratified
        ("0\ta\n1\ta\n2\tb\n3\tb\n", "cannot split the 4 labelled nodes"),  # 1 test node, 2 labels
    ],
)
def test_labels_too_few_for_a_random_split_are_refused(tmp_path, capsys, karate, text, reason):
    labels = write(tmp_path / "labels.tsv", text)
    status, out, err = evaluate(capsys, "classification", karate, labels)
    assert_one_error(status, out, err, f"{labels}: ", reason)
    assert len(err) < 400


def test_a_ten_megabyte_label_needs_no_wide_string_array():
    # Labels used to become a fixed-width numpy string array: 4 bytes per
    # character of the longest label for every node (here 200 x 12 MB).
    rng = np.random.default_rng(0)
    ids = [str(i) for i in range(200)]
    vectors = rng.normal(size=(200, 4)).astype(np.float32)
    labels = {i: "x" * 3_000_000 if int(i) == 0 else ("a" if int(i) % 2 else "b") for i in ids}
    labels["1"] = labels["0"]
    tracemalloc.start()
    try:
        result = ev.node_classification((ids, vectors), labels, seeds=1, max_iter=50)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert 0.0 <= result["accuracy"] <= 1.0 and result["nodes"] == 200
    assert peak < 200 * 2**20  # the wide array alone would be 2.4 GB


# --- valid input: the same rows and the same seeded split as before


def test_training_rows_keep_every_column(tmp_path):
    columns = "user item weight::w ignore::note"
    rows = write(tmp_path / "rows.tsv", "".join(
        f"u{i % 8}\ti{(i * 7) % 5}\t{i % 3 + 0.5}\tnote {i}\n" for i in range(40)) + "u0\t\t2\tno item\n")
    split = ev.split_edges(rows, columns=columns, test_fraction=0.2, seed=1)
    lines = ev.read_rows(rows, columns).lines()
    assert lines[0] == "u0\ti0\t0.5\tnote 0" and lines[-1] == "u0\t\t2\tno item"
    held = {(split.entity_ids[a], split.entity_ids[b]) for a, b in split.test}
    assert held and split.train_rows == [line for line in lines if tuple(line.split("\t")[:2]) not in held]
    again = ct.embed(iter(split.train_rows), columns=split.columns, dim=4, iterations=1)
    assert {"u0", "i0"} <= set(again.entity_ids)


def test_subsample_takes_rows_not_a_path(tmp_path):
    with pytest.raises(TypeError, match="read_rows"):
        ev.subsample(str(tmp_path / "rows.tsv"))


def digest(lines):
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


def test_real_splits_are_the_seeded_splits_of_before(data_file):
    # Held-out edges and items as the line-based reader chose them (seed 0).
    edges = ev.split_edges(data_file("cora/edges.tsv"))
    ids = edges.entity_ids
    assert len(edges.test) == 528
    assert digest(f"{ids[a]}\t{ids[b]}" for a, b in edges.test) == "d97a5e1abd61fab8"
    baskets = ev.split_baskets(data_file("groceries/baskets.tsv"), columns=BASKETS)
    ids = baskets.entity_ids
    assert (baskets.held_out >= 0).all()
    assert digest(f"{r}\t{ids[h]}" for r, h in zip(baskets.test_rows, baskets.held_out)) == "8b90de6f998ab612"
