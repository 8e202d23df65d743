"""Tests of the Embedding result object and the backend-neutral cosine search."""

from __future__ import annotations

import math

import array_api_compat
import numpy as np
import pytest

from cleora_tensor import similarity
from cleora_tensor._xp import to_numpy
from cleora_tensor.config import EmbedConfig
from cleora_tensor.embedding import Embedding
from cleora_tensor.similarity import cosine_top_k

SQRT_HALF = math.sqrt(0.5)


@pytest.fixture
def to_xp(backend):
    """A function turning a NumPy array into an array of one case of the shared
    backend matrix (``BACKEND_CASES`` in conftest.py): its namespace and device."""
    xp, device = backend
    return lambda array: xp.asarray(array, device=device)


def _assert_neighbours(result, expected):
    assert [name for name, _ in result] == [name for name, _ in expected]
    np.testing.assert_allclose([s for _, s in result], [s for _, s in expected], atol=1e-6)


def _plain(array) -> np.ndarray:
    """Host copy of a result, for value checks only."""
    return to_numpy(array)


@pytest.fixture
def embedding() -> Embedding:
    """Five entities of two types in 2-D; cosines are easy to compute by hand.

    rows: 0 user a (1, 0), 1 user b (1, 1), 2 user c (0, 1), 3 item a (2, 0),
    4 item d (-1, 0).
    """
    return Embedding(
        entity_ids=["a", "b", "c", "a", "d"],
        types=np.array(["user", "user", "user", "item", "item"]),
        vectors=np.array([[1, 0], [1, 1], [0, 1], [2, 0], [-1, 0]], dtype=np.float32),
        degrees=np.array([1.0, 2.0, 1.0, 3.0, 1.0]),
        occurrences=np.array([1, 2, 1, 3, 1]),
        config=EmbedConfig("user item", dim=2),
    )


# ------------------------------------------------------------- cosine_top_k

VECTORS = np.array([[1, 0], [1, 1], [0, 1], [2, 0], [-1, 0]], dtype=np.float32)


def test_cosine_top_k_namespace_dtype_shape_device(to_xp):
    vectors = to_xp(VECTORS)
    indices, scores = cosine_top_k(vectors, vectors[:2, :], 3)
    xp = array_api_compat.array_namespace(vectors)
    assert array_api_compat.array_namespace(indices) is xp
    assert array_api_compat.array_namespace(scores) is xp
    assert indices.dtype == xp.int64
    assert scores.dtype == xp.float32
    assert tuple(indices.shape) == tuple(scores.shape) == (2, 3)
    assert array_api_compat.device(indices) == array_api_compat.device(vectors)
    assert array_api_compat.device(scores) == array_api_compat.device(vectors)


def test_cosine_top_k_hand_computed_order(to_xp):
    vectors = to_xp(VECTORS)
    indices, scores = cosine_top_k(vectors, vectors[:1, :], 5)
    # Rows 0 and 3 both score 1: the lower index comes first; row 4 is last.
    assert _plain(indices).tolist() == [[0, 3, 1, 2, 4]]
    np.testing.assert_allclose(_plain(scores), [[1, 1, SQRT_HALF, 0, -1]], atol=1e-6)


def test_cosine_top_k_exclude_and_candidates(to_xp):
    vectors = to_xp(VECTORS)
    queries = vectors[:2, :]
    indices, scores = cosine_top_k(vectors, queries, 2, exclude=to_xp(np.array([0, 1])))
    assert _plain(indices).tolist() == [[3, 1], [0, 2]]
    np.testing.assert_allclose(_plain(scores), [[1, SQRT_HALF], [SQRT_HALF] * 2], atol=1e-6)

    mask = to_xp(np.array([False, True, True, False, True]))
    indices, _ = cosine_top_k(vectors, queries, 10, candidates=mask)
    # top_k is cut to the 3 candidates.
    assert _plain(indices).tolist() == [[1, 2, 4], [1, 2, 4]]

    indices, _ = cosine_top_k(
        vectors, queries, 10, candidates=mask, exclude=to_xp(np.array([4, 1]))
    )
    # With exclude, k is cut to candidates - 1 = 2 for every query.
    assert _plain(indices).tolist() == [[1, 2], [2, 4]]


def test_cosine_top_k_zero_row_scores_zero():
    vectors = np.array([[0, 0], [1, 0]], dtype=np.float32)
    indices, scores = cosine_top_k(vectors, vectors[1:, :], 2)
    assert indices.tolist() == [[1, 0]]
    assert scores.tolist() == [[1.0, 0.0]]


def test_cosine_top_k_batches_agree(monkeypatch):
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((50, 8)).astype(np.float32)
    queries = vectors[:17]
    exclude = np.arange(17)
    expected = cosine_top_k(vectors, queries, 5, exclude=exclude)
    # Force batches of 3 queries (the last one partial).
    monkeypatch.setattr(similarity, "_BLOCK_ELEMENTS", 150)
    indices, scores = cosine_top_k(vectors, queries, 5, exclude=exclude)
    np.testing.assert_array_equal(indices, expected[0])
    # What the library promises (README, "Threads and determinism"): BLAS may
    # round products of other shapes differently (one float32 ulp on AMD EPYC).
    np.testing.assert_allclose(scores, expected[1], rtol=0, atol=1e-6)


def test_cosine_top_k_float64_input_gives_float32_scores():
    vectors = VECTORS.astype(np.float64)
    indices, scores = cosine_top_k(vectors, vectors[:1], 1)
    assert indices.dtype == np.int64 and scores.dtype == np.float32


def test_cosine_top_k_no_queries():
    indices, scores = cosine_top_k(VECTORS, VECTORS[:0], 2)
    assert indices.shape == scores.shape == (0, 2)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"top_k": 0}, "top_k must be >= 1"),
        ({"top_k": 1.5}, "top_k must be an int"),
        ({"queries": np.zeros((1, 3), np.float32)}, "queries must have 2 columns"),
        ({"queries": np.zeros(2, np.float32)}, "queries must be 2-D"),
        ({"vectors": np.zeros((5, 2), np.int64)}, "vectors must have a real floating"),
        ({"exclude": np.array([0, 1])}, r"exclude must be an integer array of shape \(1,\)"),
        ({"exclude": np.array([0.0])}, "exclude must be an integer array"),
        ({"exclude": np.array([5])}, r"exclude must hold row indices in \[0, 5\)"),
        ({"candidates": np.ones(4, bool)}, r"candidates must be a boolean array of shape \(5,\)"),
        ({"candidates": np.ones(5)}, "candidates must be a boolean array"),
    ],
)
def test_cosine_top_k_validation(kwargs, match):
    arguments = {"vectors": VECTORS, "queries": VECTORS[:1], "top_k": 2, **kwargs}
    with pytest.raises(ValueError, match=match):
        cosine_top_k(
            arguments.pop("vectors"),
            arguments.pop("queries"),
            arguments.pop("top_k"),
            **arguments,
        )


# ---------------------------------------------------------------- Embedding


def test_basic_properties(embedding):
    assert len(embedding) == 5
    assert embedding.dim == 2
    assert embedding.types.dtype.kind == "U"
    assert embedding.degrees.dtype == np.float64
    assert embedding.occurrences.dtype == np.int64
    assert repr(embedding) == (
        "Embedding(n=5, dim=2, types={'item': 2, 'user': 3}, namespace='numpy', device=cpu)"
    )


def test_ids_from_numpy_array_become_list():
    embedding = Embedding(
        np.array(["x", "y"]), np.array(["t", "t"]), np.zeros((2, 1), np.float32), [0, 0], [1, 1]
    )
    assert embedding.entity_ids == ["x", "y"]
    assert all(type(i) is str for i in embedding.entity_ids)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"types": np.array(["t"])}, r"types must have shape \(2,\)"),
        ({"degrees": np.zeros(3)}, r"degrees must have shape \(2,\)"),
        ({"occurrences": np.zeros((2, 1))}, r"occurrences must have shape \(2,\)"),
        ({"vectors": np.zeros(2, np.float32)}, r"vectors must have shape \(2, dim\)"),
        ({"vectors": np.zeros((3, 1), np.float32)}, r"vectors must have shape \(2, dim\)"),
        ({"vectors": np.zeros((2, 1))}, "vectors must be float32, got float64"),
        ({"entity_ids": ["x", 7]}, "entity_ids must be str, got 7"),
        ({"config": {"dim": 1}}, "config must be an EmbedConfig"),
        ({"relation": 3}, "relation must be a str or None"),
    ],
)
def test_validation(change, match):
    fields = {
        "entity_ids": ["x", "y"],
        "types": np.array(["t", "t"]),
        "vectors": np.zeros((2, 1), np.float32),
        "degrees": np.zeros(2),
        "occurrences": np.ones(2, np.int64),
        **change,
    }
    with pytest.raises(ValueError, match=match):
        Embedding(**fields)


def test_index_unique_and_shared_ids(embedding):
    assert embedding.index("b") == 1
    assert embedding.index("b", "user") == 1
    assert embedding.index("d") == 4
    assert embedding.index("a", "user") == 0
    assert embedding.index("a", entity_type="item") == 3
    with pytest.raises(ValueError, match=r"'a' exists under several types \(item, user\)"):
        embedding.index("a")
    with pytest.raises(KeyError, match="'zzz' is not in the embedding"):
        embedding.index("zzz")
    with pytest.raises(KeyError, match="'b' has no type 'item'; its types: user"):
        embedding.index("b", "item")
    with pytest.raises(KeyError, match="'a' has no type 'shop'; its types: item, user"):
        embedding.index("a", "shop")


def test_index_rejects_duplicate_entity():
    embedding = Embedding(
        ["x", "y", "x"], np.array(["t", "t", "t"]), np.zeros((3, 1), np.float32), [0] * 3, [1] * 3
    )
    with pytest.raises(ValueError, match="entity 'x' of type 't' occurs twice"):
        embedding.index("y")


def test_vector(embedding):
    np.testing.assert_array_equal(embedding.vector("b"), [1, 1])
    np.testing.assert_array_equal(embedding.vector("a", "item"), [2, 0])


def test_most_similar_hand_computed(embedding):
    # b = (1, 1) against users a = (1, 0), c = (0, 1): a tie, lower row first.
    result = embedding.most_similar("b")
    _assert_neighbours(result, [("a", SQRT_HALF), ("c", SQRT_HALF)])
    assert all(type(name) is str and type(s) is float for name, s in result)
    # Other type: the query is not a candidate, so nothing is cut.
    _assert_neighbours(
        embedding.most_similar("b", target_type="item"), [("a", SQRT_HALF), ("d", -SQRT_HALF)]
    )
    _assert_neighbours(
        embedding.most_similar("a", entity_type="item", target_type="all", top_k=3),
        [("a", 1.0), ("b", SQRT_HALF), ("c", 0.0)],
    )
    _assert_neighbours(embedding.most_similar("d", top_k=1), [("a", -1.0)])


def test_most_similar_errors(embedding):
    with pytest.raises(ValueError, match="no entity has type 'shop'; types: item, user"):
        embedding.most_similar("b", target_type="shop")
    with pytest.raises(ValueError, match="several types"):
        embedding.most_similar("a")
    with pytest.raises(ValueError, match="top_k must be >= 1"):
        embedding.most_similar("b", top_k=0)


def test_most_similar_follows_the_vectors_namespace(embedding, to_xp):
    other = Embedding(
        embedding.entity_ids,
        embedding.types,
        to_xp(embedding.vectors),
        embedding.degrees,
        embedding.occurrences,
    )
    _assert_neighbours(
        other.most_similar("b", target_type="all"),
        embedding.most_similar("b", target_type="all"),
    )


def test_to_numpy(embedding, to_xp):
    other = Embedding(
        embedding.entity_ids,
        embedding.types,
        to_xp(embedding.vectors),
        embedding.degrees,
        embedding.occurrences,
        embedding.config,
        "user__item",
    )
    converted = other.to_numpy()
    assert type(converted.vectors) is np.ndarray
    np.testing.assert_array_equal(converted.vectors, embedding.vectors)
    assert converted.entity_ids == other.entity_ids
    assert converted.config == other.config and converted.relation == "user__item"


def test_save_and_load_methods(embedding, tmp_path):
    written = embedding.save(tmp_path / "e.npz")
    assert written == [tmp_path / "e.npz"]
    loaded = Embedding.load(tmp_path / "e.npz")
    np.testing.assert_array_equal(loaded.vectors, embedding.vectors)
    loaded = Embedding.load(embedding.save(tmp_path / "e.bin", format="parquet")[0], "parquet")
    assert loaded.entity_ids == embedding.entity_ids
