"""Bipartite graphs get the lazy walk when early stopping is on (residual=None, "auto")."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse

import cleora_tensor as ct
from cleora_tensor.periodicity import LAZY_RESIDUAL, is_bipartite_by_type, resolve_residual


def _graph(edges: list[tuple[int, int]], n: int) -> scipy.sparse.csr_array:
    rows, cols = zip(*edges)
    w = scipy.sparse.coo_array((np.ones(len(edges), np.float32), (rows, cols)), shape=(n, n))
    return (w + w.T).tocsr()


def test_type_graph_two_colouring_by_hand():
    # users 0, 1; items 2, 3: every edge joins a user and an item.
    w = _graph([(0, 2), (0, 3), (1, 3)], 4)
    assert is_bipartite_by_type(w, np.array([0, 0, 1, 1]))
    # one user-user edge: the type graph has a loop, the walk is not periodic.
    assert not is_bipartite_by_type(_graph([(0, 2), (0, 1)], 4), np.array([0, 0, 1, 1]))
    # one type for every entity (a "node node" table) is never bipartite by type.
    assert not is_bipartite_by_type(w, np.zeros(4, int))
    # a triangle of types (user-item, item-store, store-user) is not 2-colourable...
    triangle = _graph([(0, 1), (1, 2), (2, 0)], 3)
    assert not is_bipartite_by_type(triangle, np.array([0, 1, 2]))
    # ...a star of types (session-item, session-store) is.
    star = _graph([(0, 1), (0, 2)], 3)
    assert is_bipartite_by_type(star, np.array([0, 1, 2]))
    # a self-loop alone (an entity seen only alone) does not count, and no edge at all is not bipartite.
    loop = (w + scipy.sparse.diags_array(np.array([0, 0, 1, 0], np.float32))).tocsr()
    assert is_bipartite_by_type(loop, np.array([0, 0, 1, 1]))
    assert not is_bipartite_by_type(scipy.sparse.csr_array((2, 2), dtype=np.float32), np.array([0, 1]))


LINES = ["u1\ta", "u1\tb", "u2\tb", "u2\tc", "u3\tc", "u3\ta", "u4\td", "u4\ta"]


def test_resolution_lazy_only_with_auto_residual_and_early_stop():
    graph = ct.read_hypergraph(iter(LINES), "user item").graph()
    lazy = resolve_residual(ct.EmbedConfig(columns="user item"), graph)
    assert (lazy.residual, lazy.tol) == (LAZY_RESIDUAL, pytest.approx(0.16))
    assert resolve_residual(ct.EmbedConfig(columns="user item", tol=0), graph).residual == 0.0
    given = ct.EmbedConfig(columns="user item", residual=0.0)
    assert resolve_residual(given, graph) is given
    assert ct.EmbedConfig.from_preset("pycleora", columns="user item").residual == 0.0
    clique = ct.read_hypergraph(iter(["b1\ta b", "b2\tb c"]), "transient::basket complex::reflexive::item").graph()
    assert resolve_residual(ct.EmbedConfig(columns="transient::basket complex::reflexive::item"), clique).residual == 0.0


def test_embedding_records_the_walk_used():
    emb = ct.embed(iter(LINES), columns="user item", dim=8)
    assert (emb.config.residual, emb.config.tol) == (LAZY_RESIDUAL, pytest.approx(0.16))
    # the saved configuration reproduces the run
    again = ct.embed(iter(LINES), columns="user item", dim=8, residual=emb.config.residual, tol=emb.config.tol)
    np.testing.assert_array_equal(np.asarray(again.vectors), np.asarray(emb.vectors))
    plain = ct.embed(iter(LINES), columns="user item", dim=8, residual=0)
    assert plain.config.residual == 0 and plain.config.tol == pytest.approx(0.32)


def _mean_abs_cosine(vectors: np.ndarray, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    a, b = rng.integers(0, len(unit), (2, 5000))
    keep = a != b
    return float(np.abs((unit[a[keep]] * unit[b[keep]]).sum(1)).mean())


def test_bipartite_ratings_do_not_collapse(data_file):
    # MovieLens ratings as a plain user-item table: the plain walk alternates
    # between users and items, never meets tol, runs all 15 steps and every
    # movie's vector ends on the same line (measured: mean |cosine| 1.000);
    # the lazy walk stops after 9 steps and keeps them apart (0.143).
    path = data_file("movielens_100k/interactions.tsv")
    spec = "user item ignore::rating ignore::ts"
    plain = ct.embed(path, columns=spec, dim=64, residual=0, keep_state=False)
    lazy = ct.embed(path, columns=spec, dim=64, keep_state=False)
    assert lazy.config.residual == LAZY_RESIDUAL
    assert _mean_abs_cosine(np.asarray(plain.vectors)[plain.types == "item"]) > 0.99
    assert _mean_abs_cosine(np.asarray(lazy.vectors)[lazy.types == "item"]) < 0.5
