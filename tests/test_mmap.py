"""Memory-mapped vectors: ``Embedding.load(path, mmap=True)`` and the blockwise queries."""

from __future__ import annotations

import numpy as np
import pytest

import cleora_tensor as ct
from cleora_tensor import Embedding
from cleora_tensor import mapped as mapped_module
from cleora_tensor.cli import main
from cleora_tensor.errors import InputFormatError
from cleora_tensor.formats import can_mmap


def assert_same(mapped, read):
    """Same entities in the same order, scores within 1e-6."""
    assert [entity for entity, _ in mapped] == [entity for entity, _ in read]
    assert np.isfinite([s for _, s in mapped]).all()
    np.testing.assert_allclose([s for _, s in mapped], [s for _, s in read], atol=1e-6, rtol=0)


def load_both(path):
    mapped = Embedding.load(path, mmap=True)
    assert isinstance(mapped.vectors, np.memmap) and not mapped.vectors.flags.writeable
    return mapped, Embedding.load(path)


def test_groceries_queries_match_in_memory(data_file, tmp_path, monkeypatch):
    spec = "transient::basket complex::reflexive::item"
    embedding = ct.embed(data_file("groceries/baskets.tsv"), columns=spec, dim=64, iterations=4, threads=1)
    path = tmp_path / "groceries.npz"
    embedding.save(path)
    mapped, read = load_both(path)
    np.testing.assert_array_equal(mapped.vectors, read.vectors)
    items = read.entity_ids
    # 169 items: one default block, then blocks of 10 rows.
    for block_bytes in (mapped_module.BLOCK_BYTES, 10 * 4 * read.dim):
        monkeypatch.setattr(mapped_module, "BLOCK_BYTES", block_bytes)
        for item in items[::17]:
            assert_same(mapped.most_similar(item, 10), read.most_similar(item, 10))
        for basket in (items[:1], items[5:8], items[::40]):
            for prior in (0.0, 0.1):
                assert_same(mapped.complete(basket, 12, prior=prior), read.complete(basket, 12, prior=prior))


def synthetic(n=1000, d=8, scale=1.0, seed=0):
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, d)).astype(np.float32)
    vectors[::7] = vectors[3]  # ties, across blocks
    vectors[11] = 0.0
    return Embedding(
        entity_ids=[f"e{i}" for i in range(n)],
        types=np.where(np.arange(n) % 3 == 0, "user", "item"),
        vectors=vectors * np.float32(scale),
        degrees=np.ones(n),
        occurrences=rng.integers(0, 50, n),
    )


@pytest.mark.parametrize("scale", [1.0, 1e18])  # 1e18: rows rescaled against overflow
@pytest.mark.parametrize("block_rows", [7, 64, 333, 5000])
def test_blockwise_matches_in_memory(tmp_path, monkeypatch, scale, block_rows):
    path = tmp_path / "synthetic.npz"
    synthetic(scale=scale).save(path)
    mapped, read = load_both(path)
    monkeypatch.setattr(mapped_module, "BLOCK_BYTES", block_rows * 4 * read.dim)
    for entity in ("e3", "e10", "e11", "e999"):
        for target in (None, "all", "user"):
            for top_k in (1, 10, 2000):
                assert_same(
                    mapped.most_similar(entity, top_k, target_type=target),
                    read.most_similar(entity, top_k, target_type=target),
                )
    for basket in (["e3"], ["e1", "e2", "e500"], ["e0", "e11"]):
        for target in (None, "all"):
            assert_same(
                mapped.complete(basket, 15, target_type=target), read.complete(basket, 15, target_type=target)
            )
    assert len(mapped.most_similar("e3", 2000, target_type="all")) == 999


def test_queries_release_mapped_pages(tmp_path, monkeypatch):
    path = tmp_path / "synthetic.npz"
    synthetic().save(path)
    mapped = Embedding.load(path, mmap=True)
    released = []
    monkeypatch.setattr(mapped_module, "BLOCK_BYTES", 100 * 4 * mapped.dim)
    monkeypatch.setattr(mapped_module, "release_pages", released.append)
    mapped.most_similar("e1")
    assert len(released) == 10 and all(vectors is mapped.vectors for vectors in released)


def test_empty_embedding(tmp_path):
    path = tmp_path / "empty.npz"
    Embedding([], np.array([], dtype=str), np.zeros((0, 4), np.float32), np.zeros(0), np.zeros(0, np.int64)).save(path)
    mapped = Embedding.load(path, mmap=True)
    assert len(mapped) == 0 and mapped.vectors.shape == (0, 4)


def test_compressed_and_other_formats_are_refused(tmp_path):
    embedding = synthetic(n=20)
    plain, compressed, parquet = tmp_path / "plain.npz", tmp_path / "compressed.npz", tmp_path / "e.parquet"
    embedding.save(plain)
    embedding.save(parquet)
    with np.load(plain) as archive:
        np.savez_compressed(compressed, **archive)
    assert can_mmap(plain) and not can_mmap(compressed) and not can_mmap(parquet)
    with pytest.raises(InputFormatError, match=r"compressed\.npz.*'vectors' is compressed; memory-mapping needs"):
        Embedding.load(compressed, mmap=True)
    with pytest.raises(InputFormatError, match=r"e\.parquet.*is parquet; memory-mapping needs an uncompressed \.npz"):
        Embedding.load(parquet, mmap=True)
    np.testing.assert_array_equal(Embedding.load(compressed).vectors, embedding.vectors)


def test_fortran_order_is_refused(tmp_path):
    path = tmp_path / "fortran.npz"
    embedding = synthetic(n=20)
    embedding.vectors = np.asfortranarray(embedding.vectors)
    embedding.save(path)
    with pytest.raises(InputFormatError, match="Fortran order; memory-mapping needs"):
        Embedding.load(path, mmap=True)


def test_nonfinite_mapped_vectors_are_refused(tmp_path):
    path = tmp_path / "nan.npz"
    synthetic(n=20).save(path)
    with np.load(path) as archive:
        arrays = dict(archive)
    arrays["vectors"][4, 2] = np.nan
    np.savez(path, **arrays)
    with pytest.raises(InputFormatError, match=r"nan\.npz.*'e4'.*row 4.*must be finite"):
        Embedding.load(path, mmap=True)


@pytest.mark.parametrize("compress", [False, True])
def test_cli_similar_maps_npz_when_it_can(tmp_path, capsys, monkeypatch, compress):
    path = tmp_path / "e.npz"
    embedding = synthetic(n=50)
    embedding.save(path)
    if compress:
        with np.load(path) as archive:
            np.savez_compressed(path, **archive)
    loads = []
    original = Embedding.load.__func__
    monkeypatch.setattr(
        Embedding, "load", classmethod(lambda cls, *args, **kw: loads.append(kw["mmap"]) or original(cls, *args, **kw))
    )
    assert main(["similar", str(path), "e1", "-k", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    expected = embedding.most_similar("e1", 3)
    assert [line.split("\t")[1] for line in lines] == [entity for entity, _ in expected]
    assert loads == [not compress]
