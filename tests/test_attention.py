"""Attention-weighted propagation (cleora_tensor.attention): hand-computed softmaxes, limits, backends, determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse

from cleora_tensor import attention
from cleora_tensor.attention import AttentionOperator
from cleora_tensor.backends import get_backend
from cleora_tensor.markov import markov_matrix, transition_matrix
from cleora_tensor.pipeline import read_hypergraph
from cleora_tensor.propagation import propagate

# A path 0 - 1 - 2 plus the edge 0 - 3: row 0 has neighbours 1 and 3.
EDGES = [(0, 1), (1, 2), (0, 3)]
VECTORS = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0], [-1.0, 0.0]], dtype=np.float32)


def _path() -> scipy.sparse.csr_array:
    rows, cols = zip(*EDGES)
    w = scipy.sparse.coo_array((np.ones(3), (rows, cols)), shape=(4, 4)).tocsr()
    return markov_matrix(w + w.T)


def _by_hand(p: scipy.sparse.csr_array, x: np.ndarray, temperature: float) -> np.ndarray:
    """The dense attention matrix, row by row, straight from the definition (float64)."""
    dense = p.toarray().astype(np.float64)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    out = np.zeros_like(dense)
    for i in range(len(dense)):
        neighbours = np.flatnonzero(dense[i])
        scores = np.array([unit[i] @ unit[j] for j in neighbours]) / temperature
        numerators = dense[i, neighbours] * np.exp(scores - scores.max())
        out[i, neighbours] = numerators / numerators.sum()
    return out


def _cora(data_file) -> scipy.sparse.csr_array:
    graph = read_hypergraph(data_file("cora/edges.tsv"), "node node").graph()
    return transition_matrix(graph)


def _start(n: int, d: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)


def test_weights_are_the_softmax_computed_by_hand():
    # Row 0: P = (1/2, 1/2) over neighbours 1 and 3, cosines 1/sqrt(2) and -1:
    # a_01 = e^(1/sqrt 2) / (e^(1/sqrt 2) + e^-1) = 0.846 at temperature 1.
    p = _path()
    op = AttentionOperator(p, temperature=1.0)
    weights = op.weights(VECTORS)
    first = math.exp(1 / math.sqrt(2)) / (math.exp(1 / math.sqrt(2)) + math.exp(-1))
    assert weights[:2] == pytest.approx([first, 1 - first], rel=1e-6)
    # Rows 1 (neighbours 0, 2; cosines 1/sqrt 2 both): uniform; rows 2, 3: one neighbour.
    assert weights[2:].tolist() == pytest.approx([0.5, 0.5, 1.0, 1.0], rel=1e-6)
    dense = scipy.sparse.csr_array((weights, p.indices, p.indptr), shape=p.shape).toarray()
    np.testing.assert_allclose(dense, _by_hand(p, VECTORS, 1.0), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(op.matmul(VECTORS), dense @ VECTORS, rtol=1e-6)


@pytest.mark.parametrize("temperature", [0.05, 0.5, 3.0])
def test_weights_match_the_definition_on_a_star_and_a_weighted_prior(temperature):
    # A hub with 9 leaves (several prefix-maximum passes) and unequal prior weights.
    rng = np.random.default_rng(1)
    w = scipy.sparse.lil_array((12, 12))
    for leaf in range(1, 10):
        w[0, leaf] = w[leaf, 0] = rng.uniform(0.5, 2.0)
    w[10, 11] = w[11, 10] = 1.0
    w[10, 10] = 3.0
    p = markov_matrix(w.tocsr())
    x = _start(12, 5)
    dense = scipy.sparse.csr_array((AttentionOperator(p, temperature=temperature).weights(x), p.indices, p.indptr), shape=p.shape)
    np.testing.assert_allclose(dense.toarray(), _by_hand(p, x, temperature), rtol=2e-5, atol=1e-7)


def test_uniform_scores_give_plain_left_markov_propagation(data_file):
    p = _cora(data_file)
    x = _start(p.shape[0])
    # Infinite temperature: every score is 0, so A = P (rows of P already sum to 1;
    # up to the float32 row sums, exact to about degree * 2**-24).
    op = AttentionOperator(p, temperature=math.inf)
    np.testing.assert_allclose(op.weights(x), p.data, rtol=1e-5)
    plain = propagate(p, x.copy(), iterations=5, whiten="none")
    attended = propagate(op, x.copy(), iterations=5, whiten="none")
    np.testing.assert_allclose(attended.vectors, plain.vectors, atol=1e-5)
    # Identical vectors: every cosine is 1, so any temperature gives P too.
    same = np.ones((p.shape[0], 4), dtype=np.float32)
    np.testing.assert_allclose(AttentionOperator(p, temperature=0.01).weights(same), p.data, rtol=1e-5)


def test_symmetric_prior_rows_are_renormalized():
    # As pycleora: the softmax's prior is the chosen matrix, rows rescaled to sum to 1.
    w = _path() * 0 + scipy.sparse.csr_array(_path() > 0, dtype=np.float64)
    s = markov_matrix(w, kind="symmetric")
    weights = AttentionOperator(s, temperature=math.inf).weights(VECTORS)
    dense = scipy.sparse.csr_array((weights, s.indices, s.indptr), shape=s.shape).toarray()
    expected = s.toarray() / s.toarray().sum(axis=1, keepdims=True)
    np.testing.assert_allclose(dense, expected, rtol=1e-6)


def test_low_temperature_concentrates_on_the_most_similar_neighbour():
    weights = AttentionOperator(_path(), temperature=1e-3).weights(VECTORS)
    assert np.isfinite(weights).all()
    assert weights[:2].tolist() == [1.0, 0.0]  # exp(-1707) underflows to 0: no NaN


def test_the_block_size_does_not_change_a_bit(data_file, monkeypatch):
    p = _cora(data_file)
    x = _start(p.shape[0])
    whole = AttentionOperator(p, temperature=0.3).matmul(x)
    monkeypatch.setattr(attention, "_BLOCK_VALUES", 32 * 7)  # blocks of 7 edges
    np.testing.assert_array_equal(AttentionOperator(p, temperature=0.3).matmul(x), whole)


@pytest.mark.parametrize("name", ["scipy", "torch"])
def test_results_do_not_depend_on_the_thread_count(data_file, name):
    if name == "torch":
        pytest.importorskip("torch", reason='torch not installed (pip install "cleora-tensor[torch]")')
    backend = get_backend(name)
    p = _cora(data_file)
    x = _start(p.shape[0], 32)
    runs = [
        propagate(AttentionOperator(p, backend, temperature=0.2, threads=t), backend.asarray(x.copy()),
                  iterations=3, threads=t).vectors
        for t in (1, 2)
    ]
    # Bit-identical (torch-CPU: measured for 1-3 threads, not guaranteed by torch).
    np.testing.assert_array_equal(np.asarray(runs[1]), np.asarray(runs[0]))


def test_numpy_and_torch_cpu_agree(data_file):
    torch = pytest.importorskip("torch", reason='torch not installed (pip install "cleora-tensor[torch]")')
    p = _cora(data_file)
    x = _start(p.shape[0], 64)
    expected = AttentionOperator(p, temperature=0.2).weights(x)
    on_torch = AttentionOperator(p, get_backend("torch"), temperature=0.2)
    weights = on_torch.weights(torch.from_numpy(x))
    assert isinstance(weights, torch.Tensor) and weights.dtype == torch.float32
    np.testing.assert_allclose(weights.numpy(), expected, rtol=2e-6, atol=1e-7)
    ours = propagate(AttentionOperator(p, temperature=0.2), x.copy(), iterations=4).vectors
    theirs = propagate(on_torch, torch.from_numpy(x.copy()), iterations=4).vectors
    assert theirs.device.type == "cpu"
    np.testing.assert_allclose(theirs.numpy(), ours, atol=2e-4)


def test_the_array_api_reference_agrees():
    xp = pytest.importorskip("array_api_strict")
    p = _path()
    backend = get_backend("array_api")
    out = AttentionOperator(p, backend, temperature=0.7).matmul(xp.asarray(VECTORS))
    assert isinstance(out, type(xp.asarray(VECTORS)))
    np.testing.assert_allclose(np.from_dlpack(out), AttentionOperator(p, temperature=0.7).matmul(VECTORS), rtol=1e-6)


def test_the_given_matrix_is_left_untouched():
    p = _path()
    before = p.data.copy()
    AttentionOperator(p, temperature=0.1).matmul(VECTORS)
    np.testing.assert_array_equal(p.data, before)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"temperature": 0.0}, "temperature must be a positive"),
        ({"temperature": -1.0}, "temperature must be a positive"),
        ({"temperature": True}, "temperature must be a positive"),
    ],
)
def test_invalid_temperature(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AttentionOperator(_path(), **kwargs)


def test_invalid_matrices_and_vectors():
    with pytest.raises(ValueError, match="must be square"):
        AttentionOperator(scipy.sparse.csr_array(np.ones((2, 3))))
    with pytest.raises(ValueError, match="all positive"):
        AttentionOperator(scipy.sparse.csr_array(-np.eye(2)))
    stored_zero = scipy.sparse.csr_array((np.array([1.0, 0.0]), np.array([1, 0]), np.array([0, 1, 2])), shape=(2, 2))
    with pytest.raises(ValueError, match="eliminate_zeros"):  # its row's softmax would be 0/0
        AttentionOperator(stored_zero)
    with pytest.raises(ValueError, match="temperature must be"):
        AttentionOperator(_path(), temperature=np.float32(-1.0))
    assert AttentionOperator(_path(), temperature=np.float32(0.5)).temperature == 0.5
    with pytest.raises(ValueError, match="stored entries"):
        AttentionOperator(scipy.sparse.csr_array((3, 3)))
    with pytest.raises(ValueError, match=r"x must have shape \(4, d\)"):
        AttentionOperator(_path()).matmul(VECTORS[:3])


def test_a_directed_pattern_by_hand():
    # Not symmetric: every entry's cosine is computed (no mirrored gather).
    w = scipy.sparse.csr_array(np.array([[0, 1, 2, 0], [0, 0, 1, 1], [1, 0, 0, 0], [1, 1, 1, 0]], dtype=np.float64))
    p = markov_matrix(w)
    op = AttentionOperator(p, temperature=0.4)
    assert op._mirror is None
    dense = scipy.sparse.csr_array((op.weights(VECTORS), p.indices, p.indptr), shape=p.shape).toarray()
    np.testing.assert_allclose(dense, _by_hand(p, VECTORS, 0.4), rtol=1e-6, atol=1e-7)


def _pycleora_setup(data_file, dim=32, iterations=6):
    from cleora_tensor.config import EmbedConfig
    from cleora_tensor.features import initial_vectors

    lines = data_file("cora/edges.tsv").read_text().splitlines()
    graph = read_hypergraph(iter(lines), "node node").graph(singletons="keep")
    config = EmbedConfig.from_preset("pycleora", columns="node node", dim=dim, iterations=iterations)
    x, _ = initial_vectors(graph, config, None, 1, get_backend("scipy"))
    return lines, graph, config, x


def _similarities(vectors):
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return unit @ unit.T  # (rows, rows): invariant to an orthogonal change of basis


def test_propagate_with_attention_reproduces_pycleora(data_file):
    pycleora = pytest.importorskip("pycleora", reason="pycleora not installed (the dev extra has it)")
    lines, graph, config, x = _pycleora_setup(data_file)
    ours = attention.propagate_with_attention(transition_matrix(graph), x, config, temperature=0.5)
    assert ours.iterations == 6
    matrix = pycleora.SparseMatrix.from_iterator(iter(lines), "node node")
    theirs = pycleora.embed_with_attention(matrix, feature_dim=32, num_iterations=6, attention_temperature=0.5)
    plain = pycleora.embed(matrix, feature_dim=32, num_iterations=6)
    order = [graph.entity_ids.index(i) for i in matrix.entity_ids]
    # Same up to PCA's basis: every pair's cosine similarity agrees.
    ours = _similarities(ours.vectors[order][:400])
    assert np.abs(ours - _similarities(theirs[:400])).max() < 5e-6
    assert np.abs(ours - _similarities(plain[:400])).max() > 0.1  # attention changed the result


def test_plain_steps_split_the_loop(data_file):
    import dataclasses

    _, graph, config, x = _pycleora_setup(data_file, dim=16, iterations=3)
    p = transition_matrix(graph)
    run = attention.propagate_with_attention(p, x.copy(), config, temperature=0.5, plain_steps=1)
    head = propagate(p, x.copy(), iterations=1, whiten="pca", whiten_each_step=True, whiten_floor=0.0)
    tail = attention.propagate_config(
        AttentionOperator(p, temperature=0.5), head.vectors, dataclasses.replace(config, iterations=2)
    )
    np.testing.assert_array_equal(run.vectors, tail.vectors)
    everything_plain = attention.propagate_with_attention(p, x.copy(), config, plain_steps=3)
    np.testing.assert_array_equal(everything_plain.vectors, attention.propagate_config(p, x.copy(), config).vectors)
    with pytest.raises(ValueError, match="plain_steps must be a non-negative int"):
        attention.propagate_with_attention(p, x, config, plain_steps=-1)
    with pytest.raises(ValueError, match="takes no scales"):
        attention.propagate_with_attention(p, x, dataclasses.replace(config, scales=(1, 3)))


def test_the_initial_vectors_are_kept_unless_overwrite_x(data_file):
    _, graph, config, x = _pycleora_setup(data_file, dim=8, iterations=2)
    before = x.copy()
    for plain_steps in (0, 1, 2):
        attention.propagate_with_attention(transition_matrix(graph), x, config, plain_steps=plain_steps)
        np.testing.assert_array_equal(x, before)
