"""Tests of saving and loading embeddings in every format."""

from __future__ import annotations

import json
import os
import re
import sys
import zipfile

import array_api_strict
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from cleora_tensor.formats import sidecar, text
from cleora_tensor.config import EmbedConfig
from cleora_tensor.embedding import Embedding
from cleora_tensor.errors import InputFormatError
from cleora_tensor.formats import FORMATS, infer_format, load_embedding, save_embedding

EXTENSION = {
    "npz": "npz", "npy": "npy", "parquet": "parquet", "cleora": "txt", "word2vec": "vec", "csv": "csv", "tsv": "tsv"
}
SIDECAR = {"cleora": ".json", "word2vec": ".json", "csv": ".json", "tsv": ".json", "npy": ".entities.npz"}
# Formats written by text.write_rows, without degrees.
TEXT = ("cleora", "word2vec", "csv", "tsv")
# Formats that cannot hold an id with whitespace.
SPACED = ("cleora", "word2vec")

# Floats whose decimal forms are awkward: shortest forms of 9 digits, the
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


def make_embedding(types=("user", "user", "user", "item", "item"), **changes) -> Embedding:
    fields = {
        "entity_ids": ["a", "b", "ü€", "a", "d::x"],
        "types": np.array(types),
        "vectors": AWKWARD,
        "degrees": np.array([1.5, 2.0, 0.25, 3.0, 1e-300]),
        "occurrences": np.array([1, 2, 1, 3, 2**40]),
        "config": EmbedConfig("user item", dim=3, whiten="zca", seed=7),
        "relation": "user__item",
        **changes,
    }
    return Embedding(**fields)


@pytest.fixture
def embedding() -> Embedding:
    return make_embedding()


def assert_same_bits(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.dtype == np.float32 and actual.shape == expected.shape
    np.testing.assert_array_equal(actual.view(np.uint32), expected.view(np.uint32))


def path_for(tmp_path, fmt: str, name: str = "emb"):
    return tmp_path / f"{name}.{EXTENSION[fmt]}"


# ------------------------------------------------------------ round trips


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip(tmp_path, embedding, fmt):
    path = path_for(tmp_path, fmt)
    written = save_embedding(embedding, path)
    assert written == ([path, tmp_path / f"{path.name}{SIDECAR[fmt]}"] if fmt in SIDECAR else [path])
    loaded = load_embedding(path)
    assert loaded.entity_ids == embedding.entity_ids
    np.testing.assert_array_equal(loaded.types, embedding.types)
    assert loaded.types.dtype.kind == "U"
    assert type(loaded.vectors) is np.ndarray and loaded.vectors.flags.writeable
    assert_same_bits(loaded.vectors, embedding.vectors)
    assert loaded.config == embedding.config
    assert loaded.relation == "user__item"
    if fmt in TEXT:
        assert np.isnan(loaded.degrees).all()
    else:
        np.testing.assert_array_equal(loaded.degrees, embedding.degrees)
    expected_occurrences = embedding.occurrences if fmt not in TEXT or fmt == "cleora" else np.zeros(5)
    np.testing.assert_array_equal(loaded.occurrences, expected_occurrences)
    assert loaded.degrees.dtype == np.float64 and loaded.occurrences.dtype == np.int64


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_single_type_without_config(tmp_path, fmt):
    embedding = make_embedding(types=["node"] * 5, config=None, relation=None)
    path = path_for(tmp_path, fmt)
    save_embedding(embedding, path)
    loaded = load_embedding(path)
    assert loaded.entity_ids == embedding.entity_ids
    np.testing.assert_array_equal(loaded.types, embedding.types)
    assert loaded.config is None and loaded.relation is None


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_empty(tmp_path, fmt):
    embedding = make_embedding(
        entity_ids=[],
        types=np.array([], dtype=str),
        vectors=np.zeros((0, 4), np.float32),
        degrees=[],
        occurrences=[],
    )
    path = path_for(tmp_path, fmt)
    save_embedding(embedding, path)
    loaded = load_embedding(path)
    assert len(loaded) == 0 and loaded.dim == 4


@pytest.mark.parametrize("fmt", ["npz", "parquet"])
def test_binary_formats_hold_any_id(tmp_path, fmt):
    embedding = make_embedding(entity_ids=["a b", "", "tab\there", "line\nbreak", "x"])
    path = path_for(tmp_path, fmt)
    save_embedding(embedding, path)
    assert load_embedding(path).entity_ids == embedding.entity_ids


@pytest.mark.parametrize("fmt", FORMATS)
def test_vectors_of_another_namespace_are_saved(tmp_path, fmt):
    device = array_api_strict.Device("device1")
    strict = make_embedding(vectors=array_api_strict.asarray(AWKWARD, device=device))
    path = path_for(tmp_path, fmt)
    save_embedding(strict, path)
    assert_same_bits(load_embedding(path).vectors, AWKWARD)


def test_fortran_ordered_vectors(tmp_path):
    embedding = make_embedding(vectors=np.asfortranarray(AWKWARD))
    for fmt in FORMATS:
        path = path_for(tmp_path, fmt)
        save_embedding(embedding, path)
        assert_same_bits(load_embedding(path).vectors, AWKWARD)


# ------------------------------------------------------------ file contents


def test_cleora_text_lines(tmp_path):
    embedding = make_embedding(
        entity_ids=["a", "b"],
        types=["t", "t"],
        vectors=np.array([[0.1, -2.5, 0.0], [1e-7, 3.0, -0.0]], dtype=np.float32),
        degrees=[1.0, 2.0],
        occurrences=[3, 14],
    )
    path = tmp_path / "e.txt"
    save_embedding(embedding, path)
    assert path.read_text().splitlines() == ["2 3", "a 3 0.1 -2.5 0", "b 14 1e-7 3 -0"]
    sidecar = json.loads((tmp_path / "e.txt.json").read_text())
    assert sidecar["text_ids"] == "id" and sidecar["entity_type"] == "t"
    assert sidecar["config"] == json.loads(embedding.config.to_json())
    assert sidecar["relation"] == "user__item"


def test_word2vec_text_lines_with_type_prefixes(tmp_path, embedding):
    path = tmp_path / "e.w2v"
    save_embedding(embedding, path)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "5 3"
    assert [line.split(" ")[0] for line in lines[1:]] == [
        "user::a",
        "user::b",
        "user::ü€",
        "item::a",
        "item::d::x",
    ]
    assert lines[1] == "user::a 0.1 -0.33333334 1e-7"
    assert lines[2] == "user::b 3.4028235e+38 1.1754944e-38 1e-45"
    assert all(len(line.split(" ")) == 4 for line in lines[1:])
    assert json.loads((tmp_path / "e.w2v.json").read_text())["text_ids"] == "type::id"


def test_npz_layout(tmp_path, embedding):
    path = tmp_path / "e.npz"
    save_embedding(embedding, path)
    assert not (tmp_path / "e.npz.npz").exists()
    with np.load(path, allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    assert arrays["entity_ids_utf8"].dtype == np.uint8
    assert arrays["entity_ids_offsets"].dtype == np.int64
    assert arrays["entity_ids_offsets"].tolist() == [0, 1, 2, 7, 8, 12]
    assert bytes(arrays["entity_ids_utf8"]).decode() == "abü€ad::x"
    assert arrays["type_codes"].dtype == np.int16
    assert arrays["type_names"][arrays["type_codes"]].tolist() == embedding.types.tolist()
    assert EmbedConfig.from_json(str(arrays["config"])) == embedding.config
    assert arrays["format_version"] == 1
    assert not any(a.dtype == object for a in arrays.values())


def test_npz_ignores_unknown_keys(tmp_path, embedding):
    path = tmp_path / "e.npz"
    save_embedding(embedding, path)
    with np.load(path) as archive:
        arrays = {key: archive[key] for key in archive.files}
    np.savez(path, future_field=np.arange(3), **arrays)
    assert load_embedding(path).entity_ids == embedding.entity_ids


def test_parquet_schema(tmp_path, embedding):
    path = tmp_path / "e.parquet"
    save_embedding(embedding, path)
    table = pq.read_table(path)
    schema = table.schema
    assert schema.field("entity_id").type == pa.string()
    assert pa.types.is_dictionary(schema.field("entity_type").type)
    assert schema.field("occurrences").type == pa.int64()
    assert schema.field("degree").type == pa.float64()
    assert schema.field("vector").type == pa.list_(pa.float32(), 3)
    assert schema.metadata[b"cleora_tensor.relation"] == b"user__item"
    config = schema.metadata[b"cleora_tensor.config"].decode()
    assert EmbedConfig.from_json(config) == embedding.config


def test_stale_sidecar_is_replaced(tmp_path, embedding):
    path = tmp_path / "e.txt"
    save_embedding(embedding, path)
    save_embedding(make_embedding(types=["t"] * 5, config=None, relation=None), path)
    loaded = load_embedding(path)
    assert loaded.config is None and loaded.relation is None
    assert loaded.types.tolist() == ["t"] * 5


def test_text_without_sidecar_loads_with_empty_types(tmp_path, embedding):
    path = tmp_path / "e.txt"
    save_embedding(embedding, path)
    (tmp_path / "e.txt.json").unlink()
    loaded = load_embedding(path)
    assert loaded.entity_ids[0] == "user::a"
    assert loaded.types.tolist() == [""] * 5 and loaded.config is None


def test_word2vec_tool_trailing_spaces_are_accepted(tmp_path):
    path = tmp_path / "tool.vec"
    path.write_bytes(b"2 2\nfoo 0.5 -1 \nbar 2 3 \n")
    loaded = load_embedding(path)
    assert loaded.entity_ids == ["foo", "bar"]
    np.testing.assert_array_equal(loaded.vectors, [[0.5, -1], [2, 3]])


def test_numeric_looking_ids_stay_strings(tmp_path):
    path = tmp_path / "ids.txt"
    path.write_bytes(b"3 1\n007 1 0.5\nNA 2 1\nnan 3 2\n")
    assert load_embedding(path).entity_ids == ["007", "NA", "nan"]


def test_gensim_reads_word2vec(tmp_path, embedding):
    gensim_models = pytest.importorskip("gensim.models", reason="gensim is not installed")
    path = tmp_path / "e.vec"
    save_embedding(embedding, path)
    vectors = gensim_models.KeyedVectors.load_word2vec_format(str(path), binary=False)
    assert list(vectors.index_to_key) == ["user::a", "user::b", "user::ü€", "item::a", "item::d::x"]
    assert_same_bits(vectors.vectors.astype(np.float32), AWKWARD)


# ------------------------------------------------------ text id restrictions


@pytest.mark.parametrize("fmt", SPACED)
@pytest.mark.parametrize("bad", ["a b", "tab\there", "", "nb\u00a0sp", "line\nbreak"])
def test_text_rejects_whitespace_ids(tmp_path, fmt, bad):
    embedding = make_embedding(types=["t"] * 5, entity_ids=["ok", bad, "c", "d", "e"])
    path = path_for(tmp_path, fmt)
    expected = f"entity id {bad!r} is empty or contains whitespace, which the {fmt} text"
    with pytest.raises(ValueError, match=re.escape(expected) + ".*save as npz or parquet"):
        save_embedding(embedding, path)
    assert os.listdir(tmp_path) == []


def test_text_rejects_whitespace_in_prefixed_id(tmp_path):
    embedding = make_embedding(entity_ids=["a", "b c", "c", "d", "e"])
    with pytest.raises(ValueError, match="entity id 'user::b c' is empty or contains whitespace"):
        save_embedding(embedding, tmp_path / "e.txt")


def test_text_rejects_type_with_separator(tmp_path):
    embedding = make_embedding(types=["a::b", "a::b", "c", "c", "c"])
    with pytest.raises(ValueError, match="entity type 'a::b' contains '::'"):
        save_embedding(embedding, tmp_path / "e.txt")


def test_bad_text_id_pattern_is_str_isspace():
    chars = [chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c < 0xE000]
    matched = pc.match_substring_regex(pa.array(chars), sidecar._BAD_TEXT_ID)
    flagged = {c for c, hit in zip(chars, matched.to_pylist()) if hit}
    assert flagged == {c for c in chars if c.isspace()}


# ---------------------------------------------------------------- atomicity


def _fail_midway(monkeypatch, fmt):
    """Make the real writer of ``fmt`` fail after it has written some bytes."""

    def fail(*args, **kwargs):
        raise OSError("disk full")

    if fmt in TEXT:
        # Two rows per block: the header and the first block reach the file.
        monkeypatch.setattr(text, "_TEXT_BLOCK_ROWS", 2)
        real_block = text._text_block
        calls = []

        def block(*args, **kwargs):
            calls.append(1)
            return real_block(*args, **kwargs) if len(calls) == 1 else fail()

        monkeypatch.setattr(text, "_text_block", block)
    else:
        module, name = {"npz": (np, "savez"), "npy": (np.lib.format, "write_array")}.get(fmt, (pq, "write_table"))

        def partial(*args, **kwargs):
            file = next(a for a in args if hasattr(a, "write"))
            file.write(b"PK\x03\x04 partial")
            fail()

        monkeypatch.setattr(module, name, partial)


@pytest.mark.parametrize("fmt", FORMATS)
def test_failed_write_leaves_no_file(tmp_path, monkeypatch, embedding, fmt):
    _fail_midway(monkeypatch, fmt)
    with pytest.raises(OSError, match="disk full"):
        save_embedding(embedding, path_for(tmp_path, fmt))
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_failed_write_keeps_previous_file(tmp_path, monkeypatch, embedding, fmt):
    path = path_for(tmp_path, fmt)
    save_embedding(embedding, path)
    before = {name: (tmp_path / name).read_bytes() for name in os.listdir(tmp_path)}
    _fail_midway(monkeypatch, fmt)
    with pytest.raises(OSError, match="disk full"):
        save_embedding(make_embedding(types=["t"] * 5), path)
    after = {name: (tmp_path / name).read_bytes() for name in os.listdir(tmp_path)}
    assert after == before


# --------------------------------------------------------- format inference


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("e.npz", "npz"),
        ("e.parquet", "parquet"),
        ("E.PQ", "parquet"),
        ("e.w2v", "word2vec"),
        ("e.word2vec", "word2vec"),
        ("e.vec", "word2vec"),
        ("e.txt", "cleora"),
        ("e.out", "cleora"),
        ("e.emb", "cleora"),
        ("e.cleora", "cleora"),
        ("e.csv", "csv"),
        ("E.TSV", "tsv"),
        ("dir.v1/e.npz", "npz"),
    ],
)
def test_infer_format(name, fmt):
    assert infer_format(name) == fmt


def test_infer_format_errors():
    with pytest.raises(ValueError, match=r"'out/e\.bin'.*npz, npy, cleora, word2vec, parquet"):
        infer_format("out/e.bin")
    with pytest.raises(ValueError, match="format must be one of"):
        infer_format("e.npz", "xlsx")
    assert infer_format("e.bin", "word2vec") == "word2vec"


def test_explicit_format_overrides_extension(tmp_path, embedding):
    path = tmp_path / "e.txt"
    save_embedding(embedding, path, format="npz")
    assert zipfile.is_zipfile(path)
    with pytest.raises(InputFormatError):
        load_embedding(path)
    assert load_embedding(path, format="npz").entity_ids == embedding.entity_ids


def test_unknown_extension_writes_nothing(tmp_path, embedding):
    with pytest.raises(ValueError, match="cannot infer the format"):
        save_embedding(embedding, tmp_path / "e.bin")
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------- loader errors


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", r"e\.txt:1: first line must be 'n d'"),
        (b"2 x\n", r"e\.txt:1: first line must be 'n d'"),
        (b"2 2 2\n", r"e\.txt:1: first line must be 'n d'"),
        (b"2 2\na 1 0.5 0.5\nb 1 0.5\n", r"e\.txt:3: expected 4 space-separated fields, got 3"),
        (b"2 2\na 1 0.5 0.5\nb 1 0.5 0.5 9\n", r"e\.txt:3: expected 4 .* got 5"),
        (b"2 2\na 1 0.5 0.5\nb 1 0.5 x1\n", r"e\.txt:3:4: field 'v1' is not a number: b'x1'"),
        (b"2 2\na 1.5 0.5 0.5\nb 1 0.5 1\n", r"e\.txt:2:2: field 'occurrence' is not a number"),
        (b"3 2\na 1 0.5 0.5\nb 1 0.5 1\n", r"e\.txt:1: header announces 3 entities but 2"),
    ],
)
def test_text_loader_errors(tmp_path, content, match):
    path = tmp_path / "e.txt"
    path.write_bytes(content)
    with pytest.raises(InputFormatError, match=match):
        load_embedding(path)


def test_text_loader_prefix_missing(tmp_path, embedding):
    path = tmp_path / "e.txt"
    save_embedding(embedding, path)
    lines = path.read_bytes().split(b"\n")
    lines[2] = lines[2].replace(b"user::", b"")
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(InputFormatError, match=r"e\.txt:3: id 'b' lacks the type:: prefix"):
        load_embedding(path)


@pytest.mark.parametrize(
    ("sidecar", "match"),
    [
        ("{not json", "invalid JSON"),
        ('{"config": null}', "not a cleora_tensor sidecar"),
        ('{"cleora_tensor_sidecar": 1, "text_ids": "id::type"}', "unknown text_ids"),
        (
            '{"cleora_tensor_sidecar": 1, "text_ids": "id", "config": {"dim": 0}}',
            "invalid configuration",
        ),
    ],
)
def test_bad_sidecar(tmp_path, embedding, sidecar, match):
    path = tmp_path / "e.txt"
    save_embedding(embedding, path)
    (tmp_path / "e.txt.json").write_text(sidecar)
    with pytest.raises(InputFormatError, match=rf"e\.txt\.json: {match}"):
        load_embedding(path)


def test_npz_loader_errors(tmp_path, embedding):
    path = tmp_path / "e.npz"
    path.write_bytes(b"certainly not a zip archive")
    with pytest.raises(InputFormatError, match=r"e\.npz: not an \.npz archive"):
        load_embedding(path)
    np.save(tmp_path / "single.npy", np.arange(3))
    os.replace(tmp_path / "single.npy", path)
    with pytest.raises(InputFormatError, match="single array"):
        load_embedding(path)
    np.savez(path, vectors=AWKWARD)
    with pytest.raises(InputFormatError, match="missing format_version, entity_ids_utf8"):
        load_embedding(path)

    save_embedding(embedding, path)
    with np.load(path) as archive:
        arrays = {key: archive[key] for key in archive.files}
    np.savez(path, **{**arrays, "entity_ids_offsets": np.array([0, 1, 2, 99, 8, 12])})
    with pytest.raises(InputFormatError, match="offsets do not index"):
        load_embedding(path)
    np.savez(
        path,
        **{**arrays, "entity_ids_utf8": np.frombuffer(b"ab\xff\xfe\xfd\xfc\xfbad::x", np.uint8)},
    )
    with pytest.raises(InputFormatError, match="not valid UTF-8"):
        load_embedding(path)
    np.savez(path, **{**arrays, "type_codes": np.array([0, 1, 2, 0, 0], np.int16)})
    with pytest.raises(InputFormatError, match="type_codes do not index type_names"):
        load_embedding(path)
    np.savez(path, **{**arrays, "degrees": np.zeros(4)})
    with pytest.raises(InputFormatError, match=r"e\.npz: degrees must have shape \(5,\)"):
        load_embedding(path)
    np.savez(path, **{**arrays, "config": np.array('{"dim": 0}')})
    with pytest.raises(InputFormatError, match="invalid configuration"):
        load_embedding(path)
    np.savez(path, **{**arrays, "config": np.array([None], dtype=object)})
    with pytest.raises(InputFormatError, match=r"e\.npz: .*pickle"):
        load_embedding(path)


def test_parquet_loader_errors(tmp_path, embedding):
    path = tmp_path / "e.parquet"
    path.write_bytes(b"PAR1 nonsense")
    with pytest.raises(InputFormatError, match=r"e\.parquet: not a cleora_tensor Parquet"):
        load_embedding(path)
    save_embedding(embedding, path)
    table = pq.read_table(path)
    pq.write_table(table.drop_columns(["degree"]), path)
    with pytest.raises(InputFormatError, match="not a cleora_tensor Parquet"):
        load_embedding(path)
    vectors = pa.array(AWKWARD.astype(np.float64).tolist(), pa.list_(pa.float64(), 3))
    pq.write_table(table.set_column(4, "vector", vectors), path)
    with pytest.raises(InputFormatError, match="must be fixed_size_list<float32>"):
        load_embedding(path)
    pq.write_table(table.set_column(3, "degree", pa.array(["x"] * 5)), path)
    with pytest.raises(InputFormatError, match="column 'degree' has type string"):
        load_embedding(path)
    pq.write_table(table.set_column(0, "entity_id", pa.array(["a", None, "c", "d", "e"])), path)
    with pytest.raises(InputFormatError, match="column 'entity_id' has missing values"):
        load_embedding(path)


def test_missing_file(tmp_path):
    for fmt in FORMATS:
        with pytest.raises(FileNotFoundError):
            load_embedding(path_for(tmp_path, fmt))


def test_types_of_more_than_4m_entities_are_one_dictionary():
    # pyarrow converts a large NumPy str array (here 4.2 M values of 4
    # characters) into a ChunkedArray; the writers need one array (found on a
    # 1e8-edge embed, 11 M entities).
    from cleora_tensor.formats.checks import string_array, type_dictionary

    types = np.full(2**22 + 10, "item")
    types[-1] = "user"
    encoded = type_dictionary(types)
    assert isinstance(encoded, pa.DictionaryArray) and len(encoded) == len(types)
    assert encoded.dictionary.to_pylist() == ["item", "user"] and encoded.indices[-1].as_py() == 1
    assert isinstance(string_array(types), pa.StringArray)
