"""pycleora's command lines, and the detection of the columns when --columns is not given."""

import gzip
import json
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cleora_tensor import Embedding
from cleora_tensor.cli import main
from cleora_tensor.detect import detect_columns
from cleora_tensor.errors import InputFormatError


def run(capsys, *argv):
    try:
        status = main(list(map(str, argv)))
    except SystemExit as stop:  # argparse rejected an option
        status = stop.code
    out, err = capsys.readouterr()
    return status, out, err


def write(path, text):
    path.write_text(text)
    return path


@pytest.fixture
def graph_file(tmp_path):
    return write(tmp_path / "graph.tsv", "a\tb\nb\tc\nc\ta\nc\td\n")


# --- pycleora's command lines -------------------------------------------------------


def test_pycleora_embed_line_detects_and_writes(tmp_path, graph_file, capsys):
    out = tmp_path / "embeddings.npz"
    status, _, err = run(capsys, "embed", "--input", graph_file, "--output", out, "--dim", 8, "--iterations", 3,
                         "--algorithm", "cleora")
    assert status == 0
    assert 'detected --columns "node node"' in err and "wrote 4 vectors of dim 8" in err
    detected = Embedding.load(out)
    # The same vectors as with the specification given.
    status, _, err = run(capsys, "embed", graph_file, "-c", "node node", "-o", tmp_path / "given.npz", "-d", 8, "-n", 3, "-q")
    assert status == 0 and "detected" not in err
    given = Embedding.load(tmp_path / "given.npz")
    assert detected.entity_ids == given.entity_ids == ["a", "b", "c", "d"]
    np.testing.assert_array_equal(detected.vectors, given.vectors)


def test_short_options_of_pycleora(tmp_path, graph_file, capsys):
    out = tmp_path / "e.npz"
    status, _, _ = run(capsys, "embed", "-i", graph_file, "-o", out, "-d", 4, "-n", 2, "-p", "symmetric", "-a", "cleora", "-q")
    assert status == 0 and Embedding.load(out).config.propagation == "symmetric"


def test_input_is_not_taken_for_input_format_and_nothing_is_abbreviated(tmp_path, graph_file, capsys):
    status, _, err = run(capsys, "embed", "--input", graph_file, "--col", "node node", "-o", tmp_path / "e.npz")
    assert status == 2 and "unrecognized arguments: --col" in err and err.count("\n") == 1
    status, _, err = run(capsys, "info", graph_file, "--js")
    assert status == 2 and "--js" in err


def test_other_pycleora_algorithms_are_refused_in_one_line(tmp_path, graph_file, capsys):
    status, _, err = run(capsys, "embed", "--input", graph_file, "--output", tmp_path / "e.npz", "--algorithm", "prone")
    assert status == 2 and err.count("\n") == 1 and "only 'cleora' is implemented" in err
    assert list(tmp_path.iterdir()) == [graph_file]


def test_no_input_is_a_one_line_error(capsys):
    status, _, err = run(capsys, "embed", "--dim", 8)
    assert status == 2 and err.count("\n") == 1 and "--input FILE" in err


def test_output_without_extension_gets_npz_like_numpy_savez(tmp_path, graph_file, capsys):
    status, _, _ = run(capsys, "embed", "--input", graph_file, "--output", tmp_path / "embeddings", "-d", 4, "-q")
    assert status == 0 and sorted(p.name for p in tmp_path.iterdir()) == ["embeddings.npz", "graph.tsv"]


def test_pycleora_info_line_shows_the_detected_specification(graph_file, capsys):
    status, out, err = run(capsys, "info", "--input", graph_file)
    assert status == 0 and "columns: node node" in out and "columns_detected: 2 columns sharing" in out
    assert 'detected --columns "node node"' in err
    status, out, _ = run(capsys, "info", graph_file, "-c", "node node", "--json")
    assert status == 0 and json.loads(out)["columns_detected"] is None


def test_pycleora_similar_on_an_embedding_file_and_on_a_table(tmp_path, graph_file, capsys):
    out = tmp_path / "e.npz"
    assert run(capsys, "embed", "--input", graph_file, "--output", out, "-d", 8, "-q")[0] == 0
    status, from_file, _ = run(capsys, "similar", "--input", out, "--entity", "a", "--top-k", 2)
    assert status == 0 and len(from_file.splitlines()) == 2
    # The older form, and the two mixed, give the same lines.
    assert run(capsys, "similar", out, "a", "-k", 2)[1] == from_file
    assert run(capsys, "similar", "-i", out, "a", "-k", 2)[1] == from_file
    # A table is embedded first (same defaults as embed): the same neighbours.
    status, from_table, err = run(capsys, "similar", "--input", graph_file, "--entity", "a", "--top-k", 2, "--dim", 8)
    assert status == 0 and from_table == from_file and 'detected --columns "node node"' in err


def test_similar_needs_one_file_and_one_entity(tmp_path, graph_file, capsys):
    for argv in (["--input", graph_file], ["--entity", "a"], [graph_file, "a", "--entity", "b"]):
        status, _, err = run(capsys, "similar", *argv)
        assert status == 2 and err.count("\n") == 1 and "one entity (ID or --entity ID)" in err


def test_similar_on_a_damaged_npz_does_not_embed_it(tmp_path, capsys):
    bad = write(tmp_path / "e.npz", "a\tb\n")
    status, _, err = run(capsys, "similar", "--input", bad, "--entity", "a")
    assert status == 2 and "detected" not in err and "e.npz" in err


def test_similar_tells_tables_from_embedding_files_by_extension_then_content(tmp_path, graph_file, capsys):
    # .csv is pycleora's CSV embedding or a table: this one has no entity_id header, so a table.
    edges = write(tmp_path / "g.csv", graph_file.read_text().replace("\t", ","))
    status, out, _ = run(capsys, "similar", "--input", edges, "--entity", "a", "-k", 1)
    assert status == 0 and len(out.splitlines()) == 1
    # .txt is this library's Cleora text format: a table so named needs --input-format (or --columns).
    table = write(tmp_path / "g.txt", graph_file.read_text())
    status, _, err = run(capsys, "similar", "--input", table, "--entity", "a")
    assert status == 2 and "g.txt:1" in err and "detected" not in err
    assert run(capsys, "similar", "--input", table, "--entity", "a", "--input-format", "tsv")[0] == 0


def test_real_process_detects_and_embeds(tmp_path, graph_file):
    done = subprocess.run([sys.executable, "-m", "cleora_tensor", "embed", "--input", str(graph_file), "--output",
                           str(tmp_path / "e.npz"), "--dim", "4", "--iterations", "2", "-q"], capture_output=True, text=True)
    assert done.returncode == 0 and 'detected --columns "node node"' in done.stderr


# --- the detection rule on small hand-written files -------------------------------------


DETECTED = {
    "one column of hyperedges": ("a b c\nb d\n", "complex::reflexive::node"),
    "context, then several ids": ("s1\ta b\ns2\tb\n", "transient::context complex::reflexive::item"),
    "shared ids": ("a\tb\nb\tc\nc\ta\n", "node node"),
    "disjoint ids": ("u1\ti1\nu2\ti1\nu2\ti2\n", "transient::context item"),
    "weighted edges": ("a\tb\t0.5\nb\tc\t2\n", "node node weight::weight"),
    "weighted context": ("u1\ti1\t1.5\nu2\ti2\t1\n", "transient::context item weight::weight"),
}


@pytest.mark.parametrize("case", list(DETECTED))
def test_detection_rule(tmp_path, case):
    text, expected = DETECTED[case]
    detection = detect_columns(write(tmp_path / "in.tsv", text))
    assert detection.columns == expected and detection.sample_rows == text.count("\n")
    assert expected in str(detection)


REFUSED = {
    "one id per row": ("a\nb\n", "1 column of one id per row"),
    "several ids in column 1": ("a b\tx\n", "column 1 holds several"),
    "several ids in both": ("a b\tx y\n", "both columns hold several"),
    "whole numbers in column 3": ("1\t2\t5\n2\t3\t4\n", 'e.g. --columns "transient::user item ignore::c3"'),
    "four columns": ("1\t2\t3\t4\n", "4 columns: which of them hold entities"),
    "ragged rows": ("a\tb\nc\td\ne\n", ":3: rows of different numbers of fields"),
    "too many fields": ("\t".join("x" * 17) + "\n", "more than 16 fields"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_detection_refuses_what_it_cannot_decide(tmp_path, case):
    text, fragment = REFUSED[case]
    path = write(tmp_path / "in.tsv", text)
    with pytest.raises(InputFormatError, match="give --columns") as caught:
        detect_columns(path)
    assert fragment in str(caught.value) and str(path) in str(caught.value)


def test_empty_input_has_no_rows(tmp_path):
    with pytest.raises(InputFormatError, match="no rows"):
        detect_columns(write(tmp_path / "in.tsv", "\n\n"))


def test_undecided_input_exits_2_in_one_line_without_output(tmp_path, capsys):
    source = write(tmp_path / "in.tsv", "1\t2\t3\t4\n")
    status, _, err = run(capsys, "embed", "--input", source, "--output", tmp_path / "e.npz")
    assert status == 2 and err.count("\n") == 1 and "give --columns" in err
    assert list(tmp_path.iterdir()) == [source]


def test_only_the_sample_is_read(tmp_path):
    path = write(tmp_path / "in.tsv", "a\tb\nb\tc\nbad row with one field\n")
    assert detect_columns(path, sample_rows=2).columns == "node node"
    with pytest.raises(InputFormatError, match=":3: rows of different"):
        detect_columns(path)


def test_gzip_csv_and_parquet_inputs(tmp_path):
    with gzip.open(tmp_path / "in.tsv.gz", "wt") as handle:
        handle.write("s1\ta b\ns2\tc\n")
    assert detect_columns(tmp_path / "in.tsv.gz").columns == "transient::context complex::reflexive::item"
    # A quoted comma is part of an id; a quoted line break too.
    write(tmp_path / "in.csv", 'u1,"x,1"\nu2,"x\n2"\n')
    assert detect_columns(tmp_path / "in.csv").columns == "transient::context item"
    pq.write_table(pa.table({"basket": ["1", "2"], "items": [["a", "b"], ["c"]]}), tmp_path / "in.parquet")
    assert detect_columns(tmp_path / "in.parquet").columns == "transient::context complex::reflexive::item"


def test_unreadable_samples_name_the_file_and_line(tmp_path, data_file, capsys):
    truncated = tmp_path / "cut.tsv.gz"
    truncated.write_bytes(gzip.compress(data_file("cora/edges.tsv").read_bytes())[:5000])
    status, _, err = run(capsys, "info", "--input", truncated)
    assert status == 2 and err.count("\n") == 1 and "cut.tsv.gz: the gzip data is truncated" in err
    (tmp_path / "bad.tsv").write_bytes(b"a\tb\nc\t\xff\n")
    with pytest.raises(InputFormatError, match="bad.tsv:2:3: invalid UTF-8"):
        detect_columns(tmp_path / "bad.tsv")


def test_input_files_and_positional_inputs_are_read_together(tmp_path, graph_file, capsys):
    more = write(tmp_path / "more.tsv", "d\te\n")
    status, out, _ = run(capsys, "info", graph_file, "--input", more, "--json")
    assert status == 0 and json.loads(out)["rows"] == 5 and json.loads(out)["entities_per_type"] == {"node": 5}


def test_standard_input_cannot_be_detected(capsys):
    status, _, err = run(capsys, "info", "-")
    assert status == 2 and "standard input" in err and "give --columns" in err


# --- real data -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        ("cora/edges.tsv", "node node"),
        ("citeseer/edges.tsv", "node node"),  # shares 47% of its ids: why the threshold is not a majority
        ("ego_facebook/edges.tsv", "node node"),
        ("groceries/baskets.tsv", "transient::context complex::reflexive::item"),
        ("groceries/interactions.tsv", "transient::context item"),
        ("movielens_100k/baskets.tsv", "transient::context complex::reflexive::item"),
    ],
)
def test_detection_on_real_data(data_file, relative, expected):
    assert detect_columns(data_file(relative)).columns == expected


def test_movielens_interactions_ask_for_columns(data_file):
    with pytest.raises(InputFormatError, match=r'4 columns: .*"transient::user item ignore::c3 ignore::c4"'):
        detect_columns(data_file("movielens_100k/interactions.tsv"))


def test_groceries_pycleora_line_equals_the_given_specification(tmp_path, data_file, capsys):
    source = data_file("groceries/baskets.tsv")
    common = ["--output", tmp_path / "d.npz", "--dim", 32, "--iterations", 5, "-q"]
    status, _, err = run(capsys, "embed", "--input", source, *common)
    assert status == 0 and 'detected --columns "transient::context complex::reflexive::item"' in err
    common[1] = tmp_path / "g.npz"
    # Entity types seed the initial vectors: the detected names give the same vectors.
    assert run(capsys, "embed", source, "-c", "transient::context complex::reflexive::item", *common)[0] == 0
    detected, given = Embedding.load(tmp_path / "d.npz"), Embedding.load(tmp_path / "g.npz")
    assert len(detected) == 169 and detected.entity_ids == given.entity_ids
    np.testing.assert_array_equal(detected.vectors, given.vectors)


def test_similar_reads_what_pycleoras_own_command_line_wrote(tmp_path, data_file, capsys):
    pytest.importorskip("pycleora", reason="pycleora (dev extra) not installed")
    written = tmp_path / "p.npz"
    # pycleora's CLI reads whole lines: on a TSV edge list it needs its columns given.
    done = subprocess.run([sys.executable, "-m", "pycleora", "embed", "--input", str(data_file("cora/edges.tsv")),
                           "--output", str(written), "--columns", "node node", "--dim", "32", "--iterations", "5"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    status, out, _ = run(capsys, "similar", "--input", written, "--entity", "0", "--top-k", 3)
    stored = np.load(written)
    vectors = stored["embeddings"] / np.linalg.norm(stored["embeddings"], axis=1, keepdims=True)
    ids = [str(i) for i in stored["entity_ids"]]
    scores = vectors @ vectors[ids.index("0")]
    expected = [ids[i] for i in np.argsort(-scores)[1:4]]
    assert status == 0 and [line.split("\t")[1] for line in out.splitlines()] == expected
