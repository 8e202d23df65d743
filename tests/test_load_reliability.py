"""Loading embedding files: a bad file gives exit status 2 and one line naming it.

Broken or hostile files (truncated, empty, zip bombs, huge declared shapes,
devices and FIFOs), NaN and infinity wherever vectors enter, duplicate
entities, and ids with quotes.
"""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import zipfile

import array_api_strict
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import cleora_tensor as ct
from cleora_tensor import finite
from cleora_tensor.formats import checks, text
from cleora_tensor.cli import main
from cleora_tensor.embedding import Embedding
from cleora_tensor.finite import first_nonfinite
from cleora_tensor.errors import InputFormatError

LINES = ["a\tb", "b\tc", "c\ta", "c\td", "d\te"]


def small(n=3, dim=3, ids=None, types=None, vectors=None) -> Embedding:
    ids = ids or [f"e{i}" for i in range(n)]
    return Embedding(
        ids,
        np.array(types or ["t"] * len(ids)),
        np.eye(len(ids), dim, dtype=np.float32) if vectors is None else vectors,
        np.ones(len(ids)),
        np.ones(len(ids), np.int64),
    )


def arrays_of(path) -> dict[str, np.ndarray]:
    with np.load(path) as archive:
        return {key: archive[key] for key in archive.files}


def fails(capsys, tmp_path, *argv, name):
    """Run the CLI; check exit 2, one stderr line naming ``name``, no traceback, no new file."""
    before = sorted(os.listdir(tmp_path))
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert status == 2, err
    assert out == "" and len(err.splitlines()) == 1 and err.endswith("\n")
    assert err.startswith("cleora-tensor: error: ") and str(name) in err
    assert "Traceback" not in err and "allow_pickle" not in err
    assert sorted(os.listdir(tmp_path)) == before
    return err


def run_process(*argv, timeout=60):
    return subprocess.run(
        [sys.executable, "-m", "cleora_tensor.cli", *map(str, argv)],
        capture_output=True, text=True, timeout=timeout,
    )


# ------------------------------------------------------------ broken .npz


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array)
    return buffer.getvalue()


def _zip(path, members: dict[str, bytes], compression=zipfile.ZIP_STORED) -> None:
    with zipfile.ZipFile(path, "w", compression) as archive:
        for key, data in members.items():
            archive.writestr(f"{key}.npy", data)


@pytest.fixture
def good(tmp_path) -> dict[str, np.ndarray]:
    small().save(tmp_path / "good.npz")
    arrays = arrays_of(tmp_path / "good.npz")
    os.remove(tmp_path / "good.npz")
    return arrays


def test_empty_truncated_and_foreign_files(tmp_path, capsys):
    small().save(tmp_path / "good.npz")
    data = (tmp_path / "good.npz").read_bytes()
    cases = {
        "empty.npz": b"",
        "truncated.npz": data[: len(data) // 2],
        "text.npz": b"id\tvalue\nx\t1\n",
        "serialized.npz": b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00}\x94.",
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
    for name in cases:
        err = fails(capsys, tmp_path, "similar", tmp_path / name, "e0", name=name)
        assert "not an .npz archive" in err and "pickle" not in err
    np.save(tmp_path / "single.npy", np.zeros(3))
    os.replace(tmp_path / "single.npy", tmp_path / "single.npz")
    assert "single array" in fails(capsys, tmp_path, "similar", tmp_path / "single.npz", "e0", name="single.npz")


def test_npz_shapes_are_checked_before_reading(tmp_path, capsys):
    model = ct.embed(iter(LINES), columns="n n", dim=4, iterations=2)
    model.save(tmp_path / "m.npz")
    arrays = arrays_of(tmp_path / "m.npz")
    cases = {
        "flat": ({"vectors": np.zeros(5, np.float32)}, "vectors must be 2-D"),
        "rows": ({"vectors": np.zeros((4, 4), np.float32)}, "vectors must have shape (5, 4)"),
        "degrees": ({"occurrences": np.ones(6, np.int64)}, "occurrences must have shape (5,)"),
        "state": ({"state_previous": np.zeros((5, 3), np.float32)}, "state_previous must have shape (5, 4)"),
        "whiten": ({"state_whitening_matrix": np.eye(3)}, "state_whitening_matrix must have shape (4, 4)"),
    }
    for name, (change, message) in cases.items():
        np.savez(tmp_path / f"{name}.npz", **{**arrays, **change})
        assert message in fails(capsys, tmp_path, "similar", tmp_path / f"{name}.npz", "a", name=f"{name}.npz")
    (tmp_path / "new.tsv").write_text("a\tz\n")
    fails(capsys, tmp_path, "embed-new", tmp_path / "rows.npz", tmp_path / "new.tsv",
          "-o", tmp_path / "new.npz", name="rows.npz")


def test_huge_declared_shape_is_refused_without_allocating(tmp_path, capsys, good):
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": (10**9, 1000)}
    )
    _zip(tmp_path / "huge.npz", {**{k: _npy(v) for k, v in good.items()}, "vectors": header.getvalue() + bytes(36)})
    err = fails(capsys, tmp_path, "similar", tmp_path / "huge.npz", "e0", name="huge.npz")
    assert "announces shape (1000000000, 1000)" in err and "holds 36 bytes" in err


def _declare_size(path, member: str, size: int) -> None:
    """Rewrite the uncompressed size the zip's central directory gives ``member``."""
    data = bytearray(path.read_bytes())
    start = data.find(b"PK\x01\x02")
    while start >= 0:
        name_length = struct.unpack_from("<H", data, start + 28)[0]
        if data[start + 46 : start + 46 + name_length] == member.encode():
            struct.pack_into("<I", data, start + 24, size)
        start = data.find(b"PK\x01\x02", start + 46)
    path.write_bytes(bytes(data))


def test_zip_bomb_is_refused_before_inflating(tmp_path, capsys, good):
    # A member declaring 3.6 GB of vectors for the 3 ids, in a file of 2 kB;
    # nothing is inflated, so the test needs no memory.
    dim = 300_000_000
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (3, dim)})
    members = {**{k: _npy(v) for k, v in good.items()}, "vectors": header.getvalue() + bytes(4096)}
    path = tmp_path / "bomb.npz"
    _zip(path, members, zipfile.ZIP_DEFLATED)
    _declare_size(path, "vectors.npy", len(header.getvalue()) + 12 * dim)
    assert os.path.getsize(path) < 8192
    err = fails(capsys, tmp_path, "similar", path, "e0", name="bomb.npz")
    assert "decompression bomb" in err


def test_wide_type_names_count_as_memory(tmp_path, capsys):
    # One type name of 100000 characters, expanded to each of 1000 rows
    # (400 MB), from a file of a few kB.
    arrays = arrays_of(small(1000, 1).save(tmp_path / "w.npz")[0])
    np.savez_compressed(tmp_path / "w.npz", **{**arrays, "type_names": np.array(["t" * 100_000])})
    assert "decompression bomb" in fails(capsys, tmp_path, "similar", tmp_path / "w.npz", "e0", name="w.npz")


def test_inflation_limit_with_real_deflate(tmp_path, capsys, monkeypatch):
    # The same rule at a small scale: 4 MB of zeros deflate to a few kB.
    monkeypatch.setattr(checks, "FREE_BYTES", 1 << 20)
    arrays = arrays_of(small(1000, 1000, vectors=np.zeros((1000, 1000), np.float32)).save(tmp_path / "z.npz")[0])
    np.savez_compressed(tmp_path / "z.npz", **arrays)
    assert "decompression bomb" in fails(capsys, tmp_path, "similar", tmp_path / "z.npz", "e0", name="z.npz")


def test_genuine_compressed_archives_load(tmp_path, monkeypatch):
    # Real (random-looking) vectors inflate about 1.1-fold: they load even
    # when only the ratio rule applies; repetitive small files load too.
    monkeypatch.setattr(checks, "FREE_BYTES", 0)
    rng = np.random.default_rng(0)
    embedding = small(2000, 16, vectors=rng.standard_normal((2000, 16), dtype=np.float32))
    np.savez_compressed(tmp_path / "c.npz", **arrays_of(embedding.save(tmp_path / "c.npz")[0]))
    loaded = Embedding.load(tmp_path / "c.npz")
    assert loaded.entity_ids == embedding.entity_ids
    np.testing.assert_array_equal(loaded.vectors, embedding.vectors)
    monkeypatch.undo()
    one_hot = small(500, 500)
    np.savez_compressed(tmp_path / "h.npz", **arrays_of(one_hot.save(tmp_path / "h.npz")[0]))
    np.testing.assert_array_equal(Embedding.load(tmp_path / "h.npz").vectors, one_hot.vectors)


def test_damaged_member_and_pickled_arrays(tmp_path, capsys, good):
    path = tmp_path / "crc.npz"
    np.savez(path, **{**good, "vectors": np.full((3, 3), 7.0, np.float32)})
    data = bytearray(path.read_bytes())
    data[data.find(np.full(9, 7.0, np.float32).tobytes())] ^= 0xFF
    path.write_bytes(bytes(data))
    assert "damaged" in fails(capsys, tmp_path, "similar", path, "e0", name="crc.npz")
    np.savez(tmp_path / "obj.npz", **{**good, "relation": np.array([None], dtype=object)})
    assert "pickled Python objects" in fails(capsys, tmp_path, "similar", tmp_path / "obj.npz", "e0", name="obj.npz")


def test_broken_and_inflating_parquet(tmp_path, capsys, monkeypatch):
    path = small(2000, 64, vectors=np.zeros((2000, 64), np.float32)).save(tmp_path / "e.parquet")[0]
    data = path.read_bytes()
    (tmp_path / "cut.parquet").write_bytes(data[: len(data) // 2])
    assert "not a cleora_tensor Parquet file" in fails(
        capsys, tmp_path, "similar", tmp_path / "cut.parquet", "e0", name="cut.parquet"
    )
    pq.write_table(pq.read_table(path), path, compression="zstd")
    monkeypatch.setattr(checks, "FREE_BYTES", 1 << 16)
    assert "decompression bomb" in fails(capsys, tmp_path, "similar", path, "e0", name="e.parquet")


# ---------------------------------------------------- special files, text


def test_devices_fifos_and_directories_are_refused(tmp_path):
    fifo = tmp_path / "e.npz"
    os.mkfifo(fifo)
    for argv, name in (
        (["similar", "/dev/zero", "x", "--format", "cleora"], "/dev/zero"),
        (["similar", fifo, "x"], "e.npz"),
        (["similar", tmp_path, "x", "--format", "word2vec"], str(tmp_path)),
    ):
        result = run_process(*argv)
        assert result.returncode == 2 and result.stdout == ""
        assert len(result.stderr.splitlines()) == 1 and name in result.stderr
        assert "not a regular file" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"1000000000000 1000000\na 1 0.5\n", "dimension 1000000 is over the 16384"),
        (b"1000000000000 100\na 1 0.5\n", "at least 200000000000018 bytes, but the file has 26"),
        (b"1000000000000 0\na 1\n", "header announces 1000000000000 entities but 1 lines follow"),
        (b"2 1\na 1 0.5\nb 99999999999999999999 0.5\n", "3:2: field 'occurrence' is not a number of 64 bits"),
        (b"2 1\na 1 0.5\n\xff 1 0.5\n", "3:1: id b'\\xff' is not valid UTF-8"),
    ],
)
def test_text_header_and_fields(tmp_path, capsys, content, message):
    (tmp_path / "e.txt").write_bytes(content)
    err = fails(capsys, tmp_path, "similar", tmp_path / "e.txt", "a", name="e.txt")
    assert message in err


def test_overlong_line_is_found_with_bounded_memory(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(text, "_TEXT_READ_BLOCK", 4096)
    (tmp_path / "e.txt").write_bytes(b"2 1\na 1 0.5\n" + b"b" * 10000 + b" 1 0.5\n")
    assert "e.txt:3: line is longer than 4096 bytes" in fails(
        capsys, tmp_path, "similar", tmp_path / "e.txt", "a", name="e.txt"
    )


def test_ids_with_quotes_read_verbatim(tmp_path, capsys):
    (tmp_path / "q.txt").write_bytes(b'3 2\n"a" 1 1 0\nb"c 2 0.6 0.8\n\'d 1 0 1\n')
    loaded = Embedding.load(tmp_path / "q.txt")
    assert loaded.entity_ids == ['"a"', 'b"c', "'d"] and loaded.occurrences.tolist() == [1, 2, 1]
    (tmp_path / "q.vec").write_bytes(b'2 2 \n"x 1 0 \ny" 0 1 \n')
    assert Embedding.load(tmp_path / "q.vec").entity_ids == ['"x', 'y"']
    assert main(["similar", str(tmp_path / "q.txt"), '"a"', "-k", "1"]) == 0
    assert capsys.readouterr().out.split("\t")[1] == 'b"c'
    written = small(ids=['"', 'a"b', '""'])
    written.save(tmp_path / "w.txt")
    assert Embedding.load(tmp_path / "w.txt").entity_ids == written.entity_ids


# ------------------------------------------------------- NaN and infinity


def test_embedding_refuses_non_finite_vectors():
    vectors = np.ones((3, 2), np.float32)
    vectors[1, 1] = np.nan
    with pytest.raises(ValueError, match=r"entity 'e1' \(type 't', row 1\) holds nan at index 1"):
        small(vectors=vectors)
    strict = array_api_strict.asarray([[1.0, 0.0], [0.0, -np.inf]], dtype=array_api_strict.float32)
    with pytest.raises(ValueError, match="'e1'.*holds -inf at index 1; vectors must be finite"):
        small(2, vectors=strict)
    # Huge finite values are fine: their squares overflow float32, yet the
    # cosines come out right.
    huge = small(3, vectors=np.array([[3.4e38, 3.4e38], [1.0, 1.0], [-3.4e38, 0.0]], np.float32))
    (first, one), (second, minus) = huge.most_similar("e1")
    assert (first, second) == ("e0", "e2")
    np.testing.assert_allclose([one, minus], [1.0, -(0.5**0.5)], rtol=1e-5)
    (best, score), _ = huge.complete(["e0"], prior=0.0)
    assert best == "e1" and score == pytest.approx(1.0, rel=1e-5)


def test_first_nonfinite_searches_blocks_in_order(monkeypatch):
    monkeypatch.setattr(finite, "GENERIC_BLOCK", 4)
    array = np.zeros((11, 3), np.float32)
    assert first_nonfinite(array) is None and first_nonfinite(np.zeros((0, 3))) is None
    array[9, 0], array[6, 2] = np.inf, np.nan
    assert first_nonfinite(array) == (6, 2)


@pytest.mark.parametrize("fmt", ["npz", "parquet", "cleora", "word2vec"])
def test_non_finite_files_name_the_entity(tmp_path, capsys, fmt):
    embedding = small(4, 2, ids=["a", "b", "c", "d"])
    path = embedding.save(tmp_path / f"e.{fmt}", format=fmt)[0]
    if fmt == "npz":
        np.savez(path, **{**arrays_of(path), "vectors": np.array([[1, 0], [0, 1], [1, np.inf], [0, 0]], np.float32)})
        expected = "e.npz: the vector of entity 'c' (type 't', row 2) holds inf at index 1"
    elif fmt == "parquet":
        table = pq.read_table(path)
        vectors = pa.FixedSizeListArray.from_arrays(pa.array([1, 0, 0, 1, 1, 0, np.nan, 0], pa.float32()), 2)
        pq.write_table(table.set_column(4, "vector", vectors), path)
        expected = "e.parquet: the vector of entity 'd' (type 't', row 3) holds nan at index 0"
    else:
        lines = path.read_bytes().split(b"\n")
        lines[3] = lines[3].rsplit(b" ", 1)[0] + b" 1e39"  # overflows float32
        path.write_bytes(b"\n".join(lines))
        column = 4 if fmt == "cleora" else 3
        expected = f"e.{fmt}:4:{column}: field 'v1' of entity 'c' is inf; vectors must be finite"
    err = fails(capsys, tmp_path, "similar", path, "a", "--format", fmt, name=path.name)
    assert expected in err


def test_non_finite_model_state(tmp_path, capsys):
    model = ct.embed(iter(LINES), columns="n n", dim=4, iterations=2)
    model.save(tmp_path / "m.npz")
    arrays = arrays_of(tmp_path / "m.npz")
    arrays["state_previous"][2, 1] = np.nan
    np.savez(tmp_path / "m.npz", **arrays)
    (tmp_path / "new.tsv").write_text("a\tz\n")
    err = fails(capsys, tmp_path, "embed-new", tmp_path / "m.npz", tmp_path / "new.tsv",
                "-o", tmp_path / "out.npz", name="m.npz")
    assert "state_previous: the vector of entity 'c' (row 2) holds nan" in err


def test_non_finite_features_and_weights():
    graph_ids = ["a", "b", "c", "d", "e"]
    features = np.ones((5, 4), np.float32)
    features[3, 2] = np.inf
    with pytest.raises(ValueError, match=r"initial: the feature of entity 'd' \(type 'n'\) holds inf at index 2"):
        ct.embed(iter(LINES), columns="n n", dim=4, iterations=1, initial=features)
    with pytest.raises(ValueError, match=r"initial: the feature of entity 'b' .* holds nan"):
        ct.embed(iter(LINES), columns="n n", dim=4, iterations=1, initial={"b": [0, np.nan, 0, 0]},
                 feature_weight=0.5)
    # A weight of 0 ignores the features, whatever they hold.
    assert ct.embed(iter(LINES), columns="n n", dim=4, iterations=1, initial=features,
                    feature_weight=0.0).entity_ids == graph_ids
    a, b = small(2, 2), small(3, 2)
    for weights, message in (([1, np.inf], r"weights\[1\] is inf"), ([np.nan, 1], r"weights\[0\] is nan"),
                             ([0, 0], "all are zero"), ([1, -1], r"weights\[1\] is -1.0")):
        with pytest.raises(ValueError, match=message):
            ct.combine([a, b], weights=weights)
    combined = ct.combine([a, b], weights=[1e308, 1e308])
    assert np.isfinite(combined.vectors).all()


# ------------------------------------------------------------- duplicates


def test_duplicates_name_the_file_and_rows_or_lines(tmp_path, capsys):
    duplicated = small(ids=["x", "y", "x"])
    duplicated.save(tmp_path / "d.npz")
    duplicated.save(tmp_path / "d.txt")
    # Loading keeps every row; the lookup names where the pair is.
    assert len(Embedding.load(tmp_path / "d.npz")) == 3
    assert "d.npz: entity 'x' of type 't' occurs twice (rows 0 and 2)" in fails(
        capsys, tmp_path, "similar", tmp_path / "d.npz", "y", name="d.npz"
    )
    text = (tmp_path / "d.txt").read_bytes().split(b"\n", 2)
    (tmp_path / "d.txt").write_bytes(b"\n".join([text[0], text[1], b"", text[2]]))
    assert "d.txt:5: entity 'x' of type 't' occurs twice (also on line 2)" in fails(
        capsys, tmp_path, "similar", tmp_path / "d.txt", "y", name="d.txt"
    )
    with pytest.raises(ValueError, match=r"occurs twice \(rows 0 and 2\)") as raised:
        duplicated.index("y")
    assert not isinstance(raised.value, InputFormatError)


# ------------------------------------------------------ real data (cora)


def test_evaluate_rejects_nan_embedding_of_real_graph(tmp_path, capsys, data_file):
    edges = data_file("cora/edges.tsv")
    labels = data_file("cora/labels.tsv")
    embedding = ct.embed(edges, columns="node node", dim=16, iterations=3, keep_state=False)
    path = embedding.save(tmp_path / "cora.npz")[0]
    arrays = arrays_of(path)
    np.savez_compressed(path, **arrays)  # a user's compressed copy loads as is
    np.testing.assert_array_equal(Embedding.load(path).vectors, embedding.vectors)
    arrays["vectors"][100] = np.nan
    np.savez(path, **arrays)
    err = fails(capsys, tmp_path, "evaluate", "classification", path, labels, "--seeds", 1, name="cora.npz")
    assert f"entity {embedding.entity_ids[100]!r} (type 'node', row 100) holds nan" in err
