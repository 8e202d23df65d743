"""EntityIndex: the one (type, id) -> row lookup, and the sites that align entities with it."""

from __future__ import annotations

import numpy as np
import pytest

import cleora_tensor as ct
from cleora_tensor.errors import InputFormatError
from cleora_tensor.lookup import EntityIndex

IDS = ["a", "b", "c", "a", "d"]
TYPES = np.array(["user", "user", "user", "item", "item"])


@pytest.fixture
def index():
    return EntityIndex(IDS, TYPES)


def test_row_of_unique_and_shared_ids(index):
    assert index.row("b") == 1
    assert index.row("b", "user") == 1
    assert index.row("a", "user") == 0
    assert index.row("a", "item") == 3
    assert type(index.row("d")) is int


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        (("zzz",), KeyError, "entity 'zzz' is not in the embedding"),
        (("a",), ValueError, r"entity 'a' exists under several types \(item, user\); pass entity_type"),
        (("b", "item"), KeyError, "entity 'b' has no type 'item'; its types: user"),
        (("a", "shop"), KeyError, "entity 'a' has no type 'shop'; its types: item, user"),
    ],
)
def test_row_errors(index, args, error, message):
    with pytest.raises(error, match=message):
        index.row(*args)


def test_rows_by_type_and_id(index):
    rows = index.rows(["a", "a", "b", "zzz", "d", "d", "c"], ["item", "user", "item", "user", "item", "user", "user"])
    assert rows.dtype == np.int64
    assert rows.tolist() == [3, 0, -1, -1, 4, -1, 2]
    assert index.rows([], np.zeros(0, dtype=str)).shape == (0,)


def test_rows_by_id_alone_rejects_a_shared_id(index):
    assert index.rows(["d", "zzz", "b"]).tolist() == [4, -1, 1]
    with pytest.raises(ValueError, match=r"'a' exists under several types \(item, user\)"):
        index.rows(["b", "a"])


def test_rows_checks_the_length_of_types(index):
    with pytest.raises(ValueError, match=r"types must have shape \(2,\), got \(1,\)"):
        index.rows(["a", "b"], ["user"])
    with pytest.raises(ValueError, match=r"types must have shape \(2,\), got \(1,\)"):
        EntityIndex(["a", "b"], ["user"])


def test_untyped_index_matches_by_id_and_the_last_repeat():
    untyped = EntityIndex(IDS)
    assert untyped.row("a") == 3
    assert untyped.row("a", "anything") == 3
    assert untyped.rows(["a", "c", "zzz"], ["x", "y", "z"]).tolist() == [3, 2, -1]
    assert untyped.rows(["a", "c", "zzz"]).tolist() == [3, 2, -1]
    with pytest.raises(KeyError, match="'zzz' is not in the embedding"):
        untyped.row("zzz")


def test_duplicate_pair_names_rows_or_file_or_lines():
    ids, types = ["x", "y", "x"], ["t", "t", "t"]
    with pytest.raises(ValueError, match=r"^entity 'x' of type 't' occurs twice \(rows 0 and 2\)$") as raised:
        EntityIndex(ids, types)
    assert not isinstance(raised.value, InputFormatError)
    with pytest.raises(InputFormatError, match=r"^e\.npz: entity 'x' of type 't' occurs twice \(rows 0 and 2\)$"):
        EntityIndex(ids, types, source="e.npz")
    with pytest.raises(InputFormatError, match=r"^e\.txt:7: entity 'x' of type 't' occurs twice \(also on line 3\)$"):
        EntityIndex(ids, types, source="e.txt", line_of_row=lambda row: 2 * row + 3)
    # The same id under another type is no duplicate; without types, nothing is.
    assert EntityIndex(ids, ["t", "t", "u"]).row("x", "u") == 2
    assert EntityIndex(ids).row("x") == 2


def test_rows_agree_with_a_dict_of_pairs():
    rng = np.random.default_rng(0)
    n = 2000
    ids = [str(i) for i in rng.integers(0, 800, n)]
    types = rng.choice(["p", "q", "r"], n)
    # Keep the first row of each (type, id) pair: they must be distinct.
    _, first = np.unique(np.char.add(np.char.add(types, "\x00"), np.array(ids)), return_index=True)
    first.sort()
    ids, types = [ids[i] for i in first], types[first]
    expected = {key: row for row, key in enumerate(zip(types.tolist(), ids))}
    index = EntityIndex(ids, types)
    query_ids = [str(i) for i in rng.integers(0, 1000, 5000)]
    query_types = rng.choice(["p", "q", "r", "s"], 5000)
    wanted = [expected.get(key, -1) for key in zip(query_types.tolist(), query_ids)]
    assert index.rows(query_ids, query_types).tolist() == wanted
    for entity_id, entity_type, row in zip(query_ids[:300], query_types[:300], wanted[:300]):
        if row >= 0:
            assert index.row(entity_id, entity_type) == row


# ------------------------------------------------------------------ the sites


def _embedding(ids, types, vectors):
    n = len(ids)
    return ct.Embedding(ids, np.array(types), np.asarray(vectors, np.float32), np.ones(n), np.ones(n, np.int64))


def test_embedding_builds_its_index_once():
    embedding = _embedding(["a", "a"], ["t", "u"], [[1, 0], [0, 1]])
    assert embedding.index("a", "u") == 1
    assert embedding._entities() is embedding._entities()


def test_combine_rejects_a_pair_held_twice_by_one_embedding():
    good = _embedding(["x"], ["t"], [[1, 0]])
    twice = _embedding(["y", "x", "y"], ["t", "t", "t"], np.eye(3, 2))
    with pytest.raises(ValueError, match=r"entity 'y' of type 't' occurs twice \(rows 0 and 2\)"):
        ct.combine([good, twice])


def test_combine_keeps_the_order_of_first_appearance():
    a = _embedding(["x", "y"], ["t", "t"], [[1, 0], [0, 1]])
    b = _embedding(["z", "y", "x"], ["t", "u", "t"], [[1, 0], [1, 0], [0, 1]])
    both = ct.combine([a, b])
    assert both.entity_ids == ["x", "y", "z", "y"]
    assert both.types.tolist() == ["t", "t", "t", "u"]
    np.testing.assert_allclose(both.vectors[0], [np.sqrt(0.5)] * 2, rtol=1e-6)


def test_stack_views_needs_a_type_only_for_a_shared_id():
    torch = pytest.importorskip("torch")
    from cleora_tensor.nn import stack_views

    shared = _embedding(["a", "a", "b"], ["t", "u", "t"], [[1, 0], [0, 1], [1, 1]])
    plain = _embedding(["b"], ["t"], [[2, 2]])
    x, mask = stack_views([shared, plain], ["a", "b"], entity_type="u")
    assert mask.tolist() == [[True, False], [False, False]]
    torch.testing.assert_close(x[0, 0], torch.tensor([0.0, 1.0]))
    x, mask = stack_views([shared, plain], ["b", "zzz"])
    assert mask.tolist() == [[True, True], [False, False]]
    with pytest.raises(ValueError, match=r"'a' exists under several types \(t, u\); pass entity_type"):
        stack_views([shared, plain], ["b", "a"])
