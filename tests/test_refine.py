"""Supervised refinement (cleora_tensor.refine): the objective, determinism, arrays following the input, bad input."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason='torch not installed (pip install "cleora-tensor[torch]")')

import cleora_tensor as ct  # noqa: E402
from cleora_tensor.refine import supervised_refine  # noqa: E402

# Rows 0, 1 orthogonal; row 2 near row 0; row 3 in no pair; row 4 zero.
VECTORS = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.5], [0.0, -2.0], [0.0, 0.0]], dtype=np.float32)


def cosine(x, i, j):
    x = np.asarray(x, dtype=np.float64)
    return float(x[i] @ x[j] / np.linalg.norm(x[i]) / np.linalg.norm(x[j]))


def triplet_loss(x, positives, negatives, margin=0.5):
    """The mean triplet loss of every positive against every negative (hand formula)."""
    return float(np.mean([
        max(0.0, margin - cosine(x, a, p) + cosine(x, b, n)) for a, p in positives for b, n in negatives
    ]))


def test_hand_computed_case_positives_move_closer_and_loss_decreases():
    losses = []
    refined = supervised_refine(
        VECTORS, [(0, 1)], [(0, 2)], epochs=20, learning_rate=0.1, callback=lambda e, l: losses.append((e, l))
    )
    # Before the first step: 0.5 - cos(0, 1) + cos(0, 2) = 0.5 - 0 + 1 / sqrt(1.25).
    assert losses[0] == (0, pytest.approx(0.5 + 1 / math.sqrt(1.25), rel=1e-6))
    assert [e for e, _ in losses] == list(range(20))
    assert losses[-1][1] < losses[0][1] / 10
    assert cosine(refined, 0, 1) > 0.5 > cosine(VECTORS, 0, 1)
    assert cosine(refined, 0, 2) < cosine(VECTORS, 0, 2)
    assert triplet_loss(refined, [(0, 1)], [(0, 2)]) < triplet_loss(VECTORS, [(0, 1)], [(0, 2)])
    # Norms are kept; rows in no pair and zero rows come back bit for bit.
    np.testing.assert_allclose(np.linalg.norm(refined, axis=1), np.linalg.norm(VECTORS, axis=1), rtol=1e-6)
    np.testing.assert_array_equal(refined[3:], VECTORS[3:])


def test_first_loss_of_a_batch_of_several_pairs_is_the_hand_computed_mean():
    losses = []
    supervised_refine(VECTORS, [(0, 1), (2, 3)], [(0, 2)], epochs=1, callback=lambda e, l: losses.append(l))
    # cos(0, 1) = 0, cos(2, 3) = -1 / sqrt(5), cos(0, 2) = 2 / sqrt(5).
    expected = ((0.5 + 2 / math.sqrt(5)) + (0.5 + 1 / math.sqrt(5) + 2 / math.sqrt(5))) / 2
    assert losses == [pytest.approx(expected, rel=1e-6)]


def test_sampled_negatives_never_move_a_zero_row():
    refined = supervised_refine(VECTORS, [(0, 1), (1, 2)], negatives_per_positive=4, epochs=30, learning_rate=0.1)
    np.testing.assert_array_equal(refined[4], [0.0, 0.0])
    assert np.isfinite(refined).all()
    assert cosine(refined, 0, 1) > cosine(VECTORS, 0, 1)


def test_same_seed_is_bit_identical_whatever_the_thread_count():
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((300, 16)).astype(np.float32)
    pairs = rng.integers(300, size=(500, 2))
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = supervised_refine(vectors, pairs, epochs=3, batch_size=128, seed=7)
        torch.set_num_threads(max(2, threads))
        many = supervised_refine(vectors, pairs, epochs=3, batch_size=128, seed=7)
    finally:
        torch.set_num_threads(threads)
    again = supervised_refine(vectors, pairs, epochs=3, batch_size=128, seed=7)
    other = supervised_refine(vectors, pairs, epochs=3, batch_size=128, seed=8)
    np.testing.assert_array_equal(one, many)
    np.testing.assert_array_equal(one, again)
    assert not np.array_equal(one, other)


def test_global_torch_random_state_is_neither_used_nor_changed():
    state = torch.get_rng_state()
    first = supervised_refine(VECTORS, [(0, 1)], epochs=2, learning_rate=0.1)
    assert torch.equal(torch.get_rng_state(), state)  # not changed
    torch.manual_seed(12345)  # not used
    second = supervised_refine(VECTORS, [(0, 1)], epochs=2, learning_rate=0.1)
    np.testing.assert_array_equal(first, second)
    torch.set_rng_state(state)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numpy_in_numpy_out(dtype):
    vectors = VECTORS.astype(dtype)
    copy = vectors.copy()
    refined = supervised_refine(vectors, np.array([[0, 1]]), [(0, 2)], learning_rate=0.1)
    assert isinstance(refined, np.ndarray) and refined.dtype == dtype and refined.shape == vectors.shape
    np.testing.assert_array_equal(vectors, copy)  # the input is not modified


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_torch_in_torch_out_on_the_same_device(device):
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip(f"torch {torch.__version__} has no usable CUDA device on this machine")
    vectors = torch.from_numpy(VECTORS).to(device)
    pairs = torch.tensor([[0, 1]], device=device)
    refined = supervised_refine(vectors, pairs, torch.tensor([[0, 2]]), learning_rate=0.1)
    assert isinstance(refined, torch.Tensor) and refined.device == vectors.device
    assert refined.dtype == torch.float32 and not refined.requires_grad
    expected = supervised_refine(VECTORS, [(0, 1)], [(0, 2)], learning_rate=0.1)
    if device == "cpu":  # the same computation as for NumPy input
        np.testing.assert_array_equal(refined.numpy(), expected)
    else:
        np.testing.assert_allclose(refined.cpu().numpy(), expected, atol=1e-5)
    np.testing.assert_array_equal(vectors.cpu().numpy(), VECTORS)


def _embedding(vectors=VECTORS):
    ids = ["a", "b", "c", "d", "e"]
    return ct.Embedding(ids, np.full(5, "node"), vectors, np.ones(5), np.ones(5, dtype=np.int64))


def test_embedding_in_embedding_out_with_ids_or_rows():
    embedding = _embedding()
    by_ids = supervised_refine(embedding, [("a", "b")], [("a", "c")], learning_rate=0.1)
    by_rows = supervised_refine(embedding, [(0, 1)], [(0, 2)], learning_rate=0.1)
    assert isinstance(by_ids, ct.Embedding)
    assert by_ids.entity_ids == embedding.entity_ids and by_ids.state is None and by_ids.config is None
    np.testing.assert_array_equal(by_ids.vectors, by_rows.vectors)
    assert cosine(by_ids.vectors, 0, 1) > cosine(VECTORS, 0, 1)
    on_torch = supervised_refine(embedding.to_torch(), np.array([["a", "b"]]), learning_rate=0.1)
    assert isinstance(on_torch.vectors, torch.Tensor)


def test_cora_training_edges_objective_improves_and_structure_survives(data_file):
    embedding = ct.embed(data_file("cora/edges.tsv"), columns="node node")
    edges = [line.split("\t") for line in data_file("cora/edges.tsv").read_text().splitlines()[:1500]]
    positives = embedding.rows([i for edge in edges for i in edge]).reshape(-1, 2)
    negatives = np.random.default_rng(1).integers(len(embedding), size=(1500, 2))
    before = np.asarray(embedding.vectors)
    refined = np.asarray(supervised_refine(embedding, positives, negatives, epochs=3, learning_rate=0.1).vectors)

    def objective(x):
        unit = x / np.linalg.norm(x, axis=1, keepdims=True)
        positive = np.sum(unit[positives[:, 0]] * unit[positives[:, 1]], axis=1)
        negative = np.sum(unit[negatives[:, 0]] * unit[negatives[:, 1]], axis=1)
        return np.maximum(0.0, 0.5 - positive[:, None] + negative[None, :]).mean()

    assert objective(refined) < 0.9 * objective(before)
    kept = np.sum(refined * before, axis=1) / np.linalg.norm(refined, axis=1) / np.linalg.norm(before, axis=1)
    assert kept.mean() > 0.95
    regularized = np.asarray(
        supervised_refine(embedding, positives, negatives, epochs=3, learning_rate=0.1, regularization=1.0).vectors
    )
    closer = np.sum(regularized * before, axis=1) / np.linalg.norm(regularized, axis=1) / np.linalg.norm(before, axis=1)
    assert closer.mean() > kept.mean()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"margin": -0.1}, "margin must be a finite number >= 0"),
        ({"regularization": math.nan}, "regularization must be a finite number >= 0"),
        ({"learning_rate": 0}, "learning_rate must be a finite number > 0"),
        ({"epochs": 0}, "epochs must be an int >= 1"),
        ({"epochs": True}, "epochs must be an int >= 1"),
        ({"batch_size": 2.5}, "batch_size must be an int >= 1"),
        ({"negatives_per_positive": 0}, "negatives_per_positive must be an int >= 1"),
        ({"seed": -1}, "seed must be an int in"),
    ],
)
def test_bad_options_name_the_parameter(options, message):
    with pytest.raises(ValueError, match=message):
        supervised_refine(VECTORS, [(0, 1)], **options)


@pytest.mark.parametrize(
    ("positives", "negatives", "message"),
    [
        ([(0, 1, 2)], None, r"positive_pairs must have shape \(n_pairs, 2\)"),
        ([], None, "positive_pairs must hold at least one pair"),
        ([(0, 1)], [], "negative_pairs must hold at least one pair; pass None"),
        ([(0, 5)], None, r"positive_pairs\[0\] = \[0, 5\] holds a row index outside \[0, 5\)"),
        ([(0, 1)], [(0, 1), (-1, 2)], r"negative_pairs\[1\] = \[-1, 2\]"),
        ([("a", "b")], None, "positive_pairs holds ids, which need an Embedding"),
        ([(0.0, 1.0)], None, "positive_pairs must hold row indices"),
    ],
)
def test_bad_pairs_name_the_parameter(positives, negatives, message):
    with pytest.raises(ValueError, match=message):
        supervised_refine(VECTORS, positives, negatives)


def test_unknown_id_is_named():
    with pytest.raises(ValueError, match=r"negative_pairs\[0\]: entity 'zz' is not in the embedding"):
        supervised_refine(_embedding(), [("a", "b")], [("zz", "a")])


@pytest.mark.parametrize(
    ("vectors", "error", "message"),
    [
        (np.zeros(3, np.float32), ValueError, "must be 2-D"),
        (np.zeros((3, 2), np.int64), ValueError, "must be float32 or float64"),
        (np.array([[0.0, 1.0], [np.nan, 0.0]], np.float32), ValueError, "row 1 is not"),
        ("vectors", TypeError, "embedding must be an Embedding or an array"),
    ],
)
def test_bad_vectors(vectors, error, message):
    with pytest.raises(error, match=message):
        supervised_refine(vectors, [(0, 1)])


def test_callback_must_be_callable():
    with pytest.raises(TypeError, match="callback must be callable"):
        supervised_refine(VECTORS, [(0, 1)], callback=3)


def test_missing_torch_names_the_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ImportError, match=r'pip install "cleora-tensor\[torch\]"'):
        supervised_refine(VECTORS, [(0, 1)])
