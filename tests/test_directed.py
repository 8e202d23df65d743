"""Directed graphs: the arcs of a hypergraph (Graph.arcs) and their out/in transition matrices."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.sparse

import cleora_tensor as ct
from cleora_tensor import expansion
from cleora_tensor.attention import propagate_with_attention
from cleora_tensor.markov import transition_matrix
from cleora_tensor.pipeline import read_hypergraph
from cleora_tensor.propagation import propagate


def _graph(lines, columns="node node", **options):
    return read_hypergraph(iter(lines), columns).graph(directed=True, **options)


def test_a_chain_by_hand():
    # a -> b -> c: out, each entity averages its successors (c, a sink, stays);
    # in, its predecessors (a, a source, stays).
    graph = _graph(["a\tb", "b\tc"])
    assert graph.entity_ids == ["a", "b", "c"]
    np.testing.assert_array_equal(graph.arcs.toarray(), [[0, 1, 0], [0, 0, 1], [0, 0, 0]])
    np.testing.assert_array_equal(transition_matrix(graph, direction="out").toarray(), [[0, 1, 0], [0, 0, 1], [0, 0, 1]])
    np.testing.assert_array_equal(transition_matrix(graph, direction="in").toarray(), [[1, 0, 0], [1, 0, 0], [0, 1, 0]])
    # The undirected graph is unchanged by keeping the arcs.
    np.testing.assert_array_equal(transition_matrix(graph).toarray(), [[0, 1, 0], [0.5, 0, 0.5], [0, 1, 0]])


def test_a_sequence_column_points_forward_in_the_cell():
    # One row "x y z" (weight 1, 3 ids: v = 1/9 per pair, 2v = 2/9 as in W) and
    # one row "z x" (v = 1/4): arcs x->y, x->z, y->z and z->x; no self arcs.
    graph = _graph(["s1\tx y z", "s2\tz x"], "transient::session complex::reflexive::item")
    ids = graph.entity_ids
    arcs = graph.arcs.toarray()
    item = {name: ids.index(name) for name in ("x", "y", "z")}
    pair = lambda a, b: arcs[item[a], item[b]]  # noqa: E731
    assert pair("x", "y") == pytest.approx(2 / 9) and pair("y", "z") == pytest.approx(2 / 9)
    assert pair("x", "z") == pytest.approx(2 / 9) and pair("z", "x") == pytest.approx(0.5)
    assert pair("y", "x") == pair("z", "y") == 0 and np.diag(arcs).sum() == 0
    # Sessions point to their items (left column -> right column), never back.
    s1 = ids.index("s1")
    np.testing.assert_allclose(arcs[s1, [item["x"], item["y"], item["z"]]], [1 / 3] * 3, rtol=1e-6)
    assert arcs[:, s1].sum() == 0
    # W = A + A^T off the diagonal.
    w = graph.adjacency.toarray()
    off = ~np.eye(len(ids), dtype=bool)
    np.testing.assert_allclose((arcs + arcs.T)[off], w[off], rtol=1e-6)


def test_real_graph_arcs_are_half_of_the_adjacency(data_file):
    hypergraph = read_hypergraph(data_file("cora/edges.tsv"), "node node")
    graph = hypergraph.graph(directed=True)
    plain = hypergraph.graph()
    assert plain.arcs is None
    assert (graph.adjacency != plain.adjacency).nnz == 0
    assert graph.arcs.nnz * 2 == graph.adjacency.nnz  # no self loops, no reciprocal rows in cora
    assert abs(graph.arcs + graph.arcs.T - graph.adjacency).max() == 0
    for direction in ("out", "in"):
        matrix = transition_matrix(graph, direction=direction)
        np.testing.assert_allclose(matrix.sum(axis=1), 1.0, rtol=1e-6)
        x = np.random.default_rng(0).standard_normal((graph.num_entities, 16)).astype(np.float32)
        result = propagate(matrix, x, iterations=3, whiten="none")
        # Sinks (sources) keep their vector: no entity ends up at zero.
        assert np.linalg.norm(result.vectors, axis=1).min() > 0.99


def test_chunked_directed_sum_is_the_one_shot_sum(data_file, monkeypatch):
    lines = data_file("groceries/baskets.tsv").read_text().splitlines()[:2000]
    columns = "transient::basket complex::reflexive::item"
    whole = _graph(lines, columns).arcs
    monkeypatch.setattr(expansion, "CHUNK_ENTRIES", 64)
    small = _graph(lines, columns).arcs
    assert abs(small - whole).max() < 1e-7


def test_pairwise_graphs_keep_their_arcs():
    hypergraph = read_hypergraph(iter(["u\ti\tt", "v\ti\tt"]), "user item tag")
    graphs = hypergraph.graphs("pairwise", directed=True)
    assert all(g.arcs is not None and g.arcs.nnz * 2 == g.adjacency.nnz for g in graphs)


def test_direction_errors():
    graph = _graph(["a\tb"])
    with pytest.raises(ValueError, match="direction must be None, 'out' or 'in'"):
        transition_matrix(graph, direction="both")
    with pytest.raises(ValueError, match="needs kind='left'"):
        transition_matrix(graph, "symmetric", direction="out")
    undirected = read_hypergraph(iter(["a\tb"]), "node node").graph()
    with pytest.raises(ValueError, match=r"Hypergraph.graph\(directed=True\)"):
        transition_matrix(undirected, direction="in")


def test_dangling_rows_get_a_unit_self_loop():
    graph = _graph(["a\tb", "a\tc"])
    out = transition_matrix(graph, direction="out")
    assert isinstance(out, scipy.sparse.csr_array) and out.dtype == np.float32
    np.testing.assert_array_equal(out.toarray(), [[0, 0.5, 0.5], [0, 1, 0], [0, 0, 1]])


def test_out_direction_reproduces_pycleora_embed_directed():
    # A ring (no sinks) plus random chords, without reciprocal pairs (see markov's notes).
    pycleora = pytest.importorskip("pycleora", reason="pycleora not installed (the dev extra has it)")
    from cleora_tensor.backends import get_backend
    from cleora_tensor.config import EmbedConfig
    from cleora_tensor.features import initial_vectors
    from cleora_tensor.propagation import propagate_config

    rng = np.random.default_rng(0)
    n = 200
    pairs = list(zip(range(n), [(i + 1) % n for i in range(n)])) + list(zip(rng.integers(0, n, 500), rng.integers(0, n, 500)))
    seen, lines = set(), []
    for a, b in pairs:
        if a != b and (a, b) not in seen and (b, a) not in seen:
            seen.add((a, b))
            lines.append(f"n{a}\tn{b}")
    _, theirs = pycleora.embed_directed(lines, "node node", feature_dim=16, num_iterations=6)
    ids = pycleora.SparseMatrix.from_iterator(iter(lines), "node node").entity_ids
    graph = _graph(lines, singletons="keep")
    config = EmbedConfig.from_preset("pycleora", columns="node node", dim=16, iterations=6)
    backend = get_backend("scipy")
    x, _ = initial_vectors(graph, config, None, 1, backend)
    ours = propagate_config(backend.operator(transition_matrix(graph, direction="out")), x, config).vectors
    ours = ours[[graph.entity_ids.index(i) for i in ids]]
    unit = [e / np.linalg.norm(e, axis=1, keepdims=True) for e in (ours, theirs)]
    # Same up to PCA's basis: every pair's cosine similarity agrees.
    assert np.abs(unit[0] @ unit[0].T - unit[1] @ unit[1].T).max() < 5e-6


def test_an_arc_counts_once_even_when_its_reverse_exists():
    # a <-> b and a -> c: a's out-walk is 1/2, 1/2 (pycleora 3.2.1: 2/3 to b, since
    # it weights the arc a -> b by the undirected weight W[a, b] = 2).
    graph = _graph(["a\tb", "b\ta", "a\tc"])
    np.testing.assert_allclose(transition_matrix(graph, direction="out").toarray()[0], [0, 0.5, 0.5])


def test_embed_options_walk_the_arcs_and_attend():
    # embed(directed=, attention=) are the building blocks above, recorded in the config.
    lines = ["a\tb", "b\tc", "c\ta", "c\td"]
    hg = ct.read_hypergraph(iter(lines), "node node")
    config = ct.EmbedConfig(columns="node node", dim=8, iterations=3, directed="out", residual=0.0)
    graph = hg.graph(directed=True)
    by_hand = ct.embed_graph(graph, config, keep_state=False)
    emb = ct.embed(iter(lines), columns="node node", dim=8, iterations=3, directed="out", keep_state=False)
    np.testing.assert_array_equal(np.asarray(emb.vectors), np.asarray(by_hand.vectors))
    assert emb.config.directed == "out"
    plain = ct.embed(iter(lines), columns="node node", dim=8, iterations=3, keep_state=False)
    assert not np.array_equal(np.asarray(plain.vectors), np.asarray(emb.vectors))
    attended = ct.embed(iter(lines), columns="node node", dim=8, iterations=3, attention=1.0, keep_state=False)
    assert attended.config.attention == 1.0
    graph = hg.graph()
    x = ct.initialize(graph.keys(), 8)
    expected = propagate_with_attention(
        transition_matrix(graph), x, dataclasses.replace(attended.config, residual=0.0), temperature=1.0
    )
    whitened = np.asarray(expected.vectors)
    np.testing.assert_allclose(np.asarray(attended.vectors), whitened, rtol=1e-5, atol=1e-6)
    assert not np.allclose(np.asarray(attended.vectors), np.asarray(
        ct.embed(iter(lines), columns="node node", dim=8, iterations=3, keep_state=False).vectors))


@pytest.mark.parametrize(
    ("options", "message"),
    [({"directed": "both"}, "directed must be"), ({"directed": "out", "propagation": "symmetric"}, "propagation='left'"),
     ({"attention": 0.0}, "positive temperature"), ({"attention": 1.0, "scales": (1,)}, "no scales")],
)
def test_embed_option_errors(options, message):
    with pytest.raises(ValueError, match=message):
        ct.embed(iter(["a\tb"]), columns="node node", dim=8, iterations=1, **options)
