"""Tests of the csv/tsv embedding tables and of reading pycleora 3.2.1's output files."""

from __future__ import annotations

import json
import os
import re
import sys
import zipfile

import numpy as np
import pytest

from cleora_tensor.cli import main
from cleora_tensor.config import EmbedConfig
from cleora_tensor.embedding import Embedding
from cleora_tensor.errors import InputFormatError
from cleora_tensor.formats import can_mmap, load_embedding, save_embedding

# Floats whose shortest decimals are awkward: 9 significant digits, the
# extremes of float32 (largest, smallest normal and subnormal), negative zero.
AWKWARD = np.array(
    [
        [0.1, -1 / 3, 1e-7],
        [3.4028235e38, 1.1754944e-38, 1e-45],
        [-0.0, 0.33333334, 16777216.0],
        [-2.5, 123456790.0, 7.006492e-45],
        [1.0, 0.0, -1.1920929e-07],
    ],
    dtype=np.float32,
)
# Ids a CSV must quote (comma, quote, line break, empty) or keep as they are.
CSV_IDS = ["a,b", 'say "hi"', " ü€ 東京 ", "line\nbreak", ""]
TSV_IDS = ["a,b", 'say "hi"', "ü€ 東京", '"quoted"', " spaced "]
LINES = ["a b", "b c", "c d", "d a", "a c", "e f"]


def make(ids, types=None, vectors=AWKWARD, **changes) -> Embedding:
    n = len(ids)
    return Embedding(
        entity_ids=ids,
        types=np.array(types or ["node"] * n),
        vectors=vectors,
        degrees=np.arange(1.0, n + 1),
        occurrences=np.arange(1, n + 1),
        **changes,
    )


def assert_same_bits(actual, expected) -> None:
    assert actual.dtype == np.float32 and actual.shape == expected.shape
    np.testing.assert_array_equal(actual.view(np.uint32), expected.view(np.uint32))


# ------------------------------------------------------------ round trips


@pytest.mark.parametrize(("fmt", "ids"), [("csv", CSV_IDS), ("tsv", TSV_IDS)])
def test_round_trip_is_bit_identical(tmp_path, fmt, ids):
    config = EmbedConfig("node node", dim=3, seed=5)
    embedding = make(ids, config=config, relation="node__node")
    path = tmp_path / f"e.{fmt}"
    assert save_embedding(embedding, path) == [path, tmp_path / f"e.{fmt}.json"]
    loaded = load_embedding(path)
    assert loaded.entity_ids == ids
    assert_same_bits(loaded.vectors, AWKWARD)
    assert loaded.types.tolist() == ["node"] * 5
    assert loaded.config == config and loaded.relation == "node__node"
    assert np.isnan(loaded.degrees).all() and loaded.occurrences.tolist() == [0] * 5


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
def test_several_types_are_prefixed_like_the_text_formats(tmp_path, fmt):
    embedding = make(["a", "b", "a", "c", "d::x"], types=["user", "user", "item", "item", "item"])
    path = tmp_path / f"e.{fmt}"
    save_embedding(embedding, path)
    first_column = [line.split(",\t"[fmt == "tsv"])[0] for line in path.read_text().splitlines()]
    assert first_column == ["entity_id", "user::a", "user::b", "item::a", "item::c", "item::d::x"]
    loaded = load_embedding(path)
    assert loaded.entity_ids == embedding.entity_ids
    assert loaded.types.tolist() == embedding.types.tolist()


def test_csv_layout_is_pycleoras(tmp_path):
    embedding = make(["x", 'q"t', "a,b", ""], vectors=np.array([[0.1, -2.5], [1e-7, 0.0], [3, -0.0], [1, 2]], np.float32))
    save_embedding(embedding, tmp_path / "e.csv")
    assert (tmp_path / "e.csv").read_text() == (
        'entity_id,dim_0,dim_1\nx,0.1,-2.5\n"q""t",1e-7,0\n"a,b",3,-0\n"",1,2\n'
    )
    sidecar = json.loads((tmp_path / "e.csv.json").read_text())
    assert sidecar["format"] == "csv" and sidecar["text_ids"] == "id" and sidecar["entity_type"] == "node"


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
def test_empty_embedding_keeps_its_dimension(tmp_path, fmt):
    embedding = make([], types=[], vectors=np.zeros((0, 4), np.float32))
    save_embedding(embedding, tmp_path / f"e.{fmt}")
    loaded = load_embedding(tmp_path / f"e.{fmt}")
    assert len(loaded) == 0 and loaded.dim == 4


@pytest.mark.parametrize("bad", ["tab\there", "line\nbreak", "cr\rhere", ""])
def test_tsv_refuses_ids_it_cannot_hold(tmp_path, bad):
    embedding = make(["ok", bad, "c", "d", "e"])
    expected = re.escape(f"e.tsv: entity id {bad!r} is empty or contains a tab or line break")
    with pytest.raises(ValueError, match=expected + ".*csv, which quotes such ids"):
        save_embedding(embedding, tmp_path / "e.tsv")
    assert os.listdir(tmp_path) == []


def test_cli_embed_writes_csv_and_tsv(tmp_path, data_file, capsys):
    edges = data_file("cora/edges.tsv")
    for fmt in ("csv", "tsv"):
        output = tmp_path / f"cora.{fmt}"
        assert main(["embed", str(edges), "--columns", "node node", "--dim", "8", "--iterations", "3", "-o", str(output), "-q"]) == 0
        loaded = Embedding.load(output)
        assert loaded.dim == 8 and len(loaded) == 2708 and set(loaded.types.tolist()) == {"node"}
        assert loaded.config is not None and loaded.config.dim == 8
    np.testing.assert_array_equal(Embedding.load(tmp_path / "cora.csv").vectors, Embedding.load(tmp_path / "cora.tsv").vectors)


# ------------------------------------------------------- pycleora's files


@pytest.fixture
def pycleora():
    return pytest.importorskip("pycleora", reason="pycleora is not installed (the dev extra installs it)")


def pycleora_graph(pycleora, lines):
    return pycleora.SparseMatrix.from_iterator(iter(lines), "complex::reflexive::node")


@pytest.mark.parametrize("fmt", ["npz", "csv"])
def test_pycleora_npz_and_csv_load_bit_identical(tmp_path, pycleora, fmt):
    from pycleora.io_utils import save_embeddings

    graph = pycleora_graph(pycleora, [*LINES, 'é "quoted', "x,y z"])
    vectors = pycleora.embed(graph, 8, 3)
    save_embeddings(graph, vectors, str(tmp_path / f"p.{fmt}"), format=fmt)
    loaded = Embedding.load(tmp_path / f"p.{fmt}")
    assert loaded.entity_ids == list(graph.entity_ids)
    assert_same_bits(loaded.vectors, vectors)
    assert loaded.types.tolist() == [""] * len(loaded) and loaded.config is None
    assert np.isnan(loaded.degrees).all() and not loaded.occurrences.any()


def test_pycleora_tsv_loads_to_six_decimals(tmp_path, pycleora):
    from pycleora.io_utils import save_embeddings

    graph = pycleora_graph(pycleora, LINES)
    vectors = pycleora.embed(graph, 8, 3)
    save_embeddings(graph, vectors, str(tmp_path / "p.tsv"), format="tsv")
    loaded = Embedding.load(tmp_path / "p.tsv")
    assert loaded.entity_ids == list(graph.entity_ids)
    # "%.6f" is within 5e-7; reading it as float32 adds at most half an ulp.
    assert (np.abs(loaded.vectors - vectors) <= 5e-7 + np.spacing(np.abs(vectors))).all()


def test_pycleora_cli_outputs_on_cora(tmp_path, pycleora, data_file, monkeypatch, capsys):
    import pycleora.cli

    # pycleora's CLI splits lines on spaces only.
    graph_file = tmp_path / "cora.txt"
    graph_file.write_text(data_file("cora/edges.tsv").read_text().replace("\t", " "))
    loaded = {}
    for fmt in ("npz", "csv", "tsv"):
        output = tmp_path / f"cora.{fmt}"
        argv = ["pycleora", "embed", "--input", str(graph_file), "--output", str(output), "--dim", "16", "--iterations", "5"]
        monkeypatch.setattr(sys, "argv", argv)
        pycleora.cli.main()
        loaded[fmt] = Embedding.load(output)
    assert "2708 entities -> (2708, 16)" in capsys.readouterr().out
    assert loaded["npz"].entity_ids == loaded["csv"].entity_ids == loaded["tsv"].entity_ids
    assert len(loaded["npz"]) == 2708 and loaded["npz"].dim == 16
    assert_same_bits(loaded["csv"].vectors, loaded["npz"].vectors)
    assert np.abs(loaded["tsv"].vectors - loaded["npz"].vectors).max() < 1e-6
    assert can_mmap(tmp_path / "cora.npz")
    mapped = Embedding.load(tmp_path / "cora.npz", mmap=True)
    assert isinstance(mapped.vectors, np.memmap)
    assert_same_bits(np.asarray(mapped.vectors), loaded["npz"].vectors)
    assert mapped.most_similar("35", 3) == loaded["npz"].most_similar("35", 3)


@pytest.mark.parametrize(("fmt", "ids"), [("csv", CSV_IDS), ("tsv", TSV_IDS)])
def test_pycleora_reads_ours(tmp_path, pycleora, fmt, ids):
    from pycleora.io_utils import load_embeddings

    if fmt == "tsv":  # pycleora strips each TSV line, so no leading or trailing space
        ids = [entity.strip() for entity in ids]
    save_embedding(make(ids), tmp_path / f"e.{fmt}")
    vectors, entity_ids = load_embeddings(str(tmp_path / f"e.{fmt}"), fmt)
    assert entity_ids == ids
    assert_same_bits(vectors, AWKWARD)


# --------------------------------------------------------- pycleora's npz


def test_pycleora_npz_variants(tmp_path):
    ids = ["a", "é", "東京"]
    vectors = np.arange(6, dtype=np.float64).reshape(3, 2) / 3
    np.savez(tmp_path / "f64.npz", embeddings=vectors, entity_ids=np.array(ids))
    assert_same_bits(Embedding.load(tmp_path / "f64.npz").vectors, vectors.astype(np.float32))
    assert not can_mmap(tmp_path / "f64.npz")
    np.savez(tmp_path / "bytes.npz", embeddings=vectors, entity_ids=np.array([i.encode() for i in ids]))
    assert Embedding.load(tmp_path / "bytes.npz").entity_ids == ids
    np.savez_compressed(tmp_path / "packed.npz", embeddings=vectors.astype(np.float32), entity_ids=np.array(ids))
    assert Embedding.load(tmp_path / "packed.npz").entity_ids == ids and not can_mmap(tmp_path / "packed.npz")
    # pycleora writes an empty graph's ids as np.array([]), float64.
    np.savez(tmp_path / "empty.npz", embeddings=np.zeros((0, 4), np.float32), entity_ids=np.array([]))
    empty = Embedding.load(tmp_path / "empty.npz")
    assert len(empty) == 0 and empty.dim == 4


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"embeddings": np.zeros(3), "entity_ids": np.array(["a"])}, "'embeddings' must be a 2-D float array"),
        ({"embeddings": np.zeros((2, 2), np.int32), "entity_ids": np.array(["a", "b"])}, "2-D float array"),
        ({"embeddings": np.zeros((2, 2)), "entity_ids": np.array(["a"])}, "'entity_ids' must be 2 strings"),
        ({"embeddings": np.zeros((2, 2)), "entity_ids": np.array([1, 2])}, "'entity_ids' must be 2 strings"),
        ({"embeddings": np.zeros((2, 2)), "entity_ids": np.array([b"a", b"\xff"])}, "row 1 is not valid UTF-8"),
        ({"embeddings": np.full((1, 2), np.nan), "entity_ids": np.array(["a"])}, "vectors must be finite"),
        ({"embeddings": np.zeros((2, 2)), "entity_ids": np.array(["a", "a"])}, "twice|duplicate"),
        ({"weights": np.zeros(2), "names": np.array(["a"])}, "nor a pycleora one .* its keys: names, weights"),
    ],
)
def test_bad_npz_is_refused_naming_the_file(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(InputFormatError, match=f"bad.npz.*({message})"):
        Embedding.load(path).index("a")


def test_pickled_pycleora_ids_are_never_loaded(tmp_path):
    path = tmp_path / "p.npz"
    np.savez(path, embeddings=np.zeros((1, 2), np.float32), entity_ids=np.array(["a"], dtype=object))
    with pytest.raises(InputFormatError, match="pickled Python objects"):
        Embedding.load(path)


# ----------------------------------------------------------- malformed tables


@pytest.mark.parametrize(
    ("content", "where", "message"),
    [
        (b"", ":1:", "first line must be the header row .* field 1 is missing"),
        (b"35\t1033\n35\t103482\n", ":1:", "first line must be the header row"),
        (b"entity_id,dim_0,dim_2\na,1,2\n", ":1:", "field 3 is 'dim_2'"),
        (b'entity_id,"dim_0\n', ":1:", "header row is malformed"),
        (b"entity_id,dim_0,dim_1\na,1,2\nb,1\n", ":3:", "expected 3 fields as in the header row, got 2"),
        (b"entity_id,dim_0,dim_1\na,1,2\n\nb,1,x2\n", ":4:3:", "field 'dim_1' is not a number: 'x2'"),
        (b'entity_id,dim_0\n"multi\nline",1\nb,1_0\n', ":4:2:", "field 'dim_0' is not a number"),
        (b"entity_id,dim_0\na,1\n\xff\xfe,2\n", ":3:1:", r"id b'\\xff\\xfe' is not valid UTF-8"),
        (b"entity_id,dim_0\r\na,1\r\nb,nan\r\n", ":3:2:", "field 'dim_0' of entity 'b' is nan; vectors must be finite"),
        (b'entity_id,dim_0\n"a\nb",1\nc,1e39\n', ":4:2:", "is inf; vectors must be finite"),
    ],
)
def test_malformed_csv_names_file_line_and_column(tmp_path, content, where, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(InputFormatError, match=f"bad\\.csv{where} .*{message}"):
        Embedding.load(path)


def test_malformed_tsv_is_not_quoted(tmp_path):
    path = tmp_path / "bad.tsv"
    path.write_bytes(b'entity_id\tdim_0\n"a\t1\nb\t1\tx\n')
    with pytest.raises(InputFormatError, match=r"bad\.tsv:3: expected 2 fields .* got 3"):
        Embedding.load(path)
    path.write_bytes(b'entity_id\tdim_0\n"a\t1\nb,c"\t2\n')
    assert Embedding.load(path).entity_ids == ['"a', 'b,c"']


def test_duplicate_ids_name_their_lines(tmp_path):
    path = tmp_path / "dup.csv"
    path.write_bytes(b'entity_id,dim_0\n"x\ny",1\na,2\nb,3\na,4\n')
    with pytest.raises(InputFormatError, match=r"dup\.csv:6: entity 'a' .* twice \(also on line 4\)"):
        Embedding.load(path).index("a")


def test_csv_with_crlf_and_bom_loads(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbfentity_id,dim_0,dim_1\r\nx,0.5,-1\r\n")
    loaded = Embedding.load(path)
    assert loaded.entity_ids == ["x"]
    np.testing.assert_array_equal(loaded.vectors, [[0.5, -1]])


def test_explicit_format_reads_other_extensions(tmp_path):
    save_embedding(make(CSV_IDS), tmp_path / "e.data", format="csv")
    assert zipfile.is_zipfile(tmp_path / "e.data") is False
    assert load_embedding(tmp_path / "e.data", format="csv").entity_ids == CSV_IDS


def test_pycleora_parquet_loads(tmp_path, pycleora):
    from pycleora.io_utils import save_embeddings

    graph = pycleora_graph(pycleora, LINES)
    vectors = pycleora.embed(graph, 8, 3)
    save_embeddings(graph, vectors, str(tmp_path / "p.parquet"), format="parquet")
    loaded = Embedding.load(tmp_path / "p.parquet")
    assert loaded.entity_ids == list(graph.entity_ids)
    assert_same_bits(loaded.vectors, vectors)
    assert loaded.types.tolist() == [""] * len(loaded) and np.isnan(loaded.degrees).all()


def test_bad_pycleora_parquet_is_refused(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"entity_id": ["a", "b"], "dim_0": ["x", "y"]}), path)
    with pytest.raises(InputFormatError, match=r"p\.parquet: pycleora column 'dim_0' has type string"):
        Embedding.load(path)
    pq.write_table(pa.table({"entity_id": ["a", "b"], "dim_0": [1.0, None]}), path)
    with pytest.raises(InputFormatError, match="pycleora column 'dim_0' has missing values"):
        Embedding.load(path)
    pq.write_table(pa.table({"entity_id": ["a"], "dim_1": [1.0]}), path)
    with pytest.raises(InputFormatError, match="not a cleora_tensor Parquet file: .*nor a pycleora one"):
        Embedding.load(path)
