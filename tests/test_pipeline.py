"""``embed`` end to end on real data from ../shared/data and on hand-made input."""

import warnings

import numpy as np
import pytest

import cleora_tensor as ct


def test_embed_lines_joint_and_pairwise():
    lines = ["u1\ti1 i2\ts1", "u2\ti2\ts1", "u3\ti3 i1\ts2"]
    joint = ct.embed(iter(lines), columns="user complex::item transient::store", dim=8, iterations=2)
    assert sorted(set(joint.types)) == ["item", "user"] and len(joint) == 6
    assert joint.vectors.dtype == np.float32 and joint.vectors.shape == (6, 8)
    views = ct.embed(iter(lines), columns="user complex::item transient::store", dim=8,
                     iterations=2, relations="pairwise")
    assert list(views) == ["user__item", "user__store", "item__store"]
    assert set(views["user__store"].types) == {"user"}
    assert views["item__store"].relation == "item__store"


def test_embed_records_its_configuration():
    emb = ct.embed(iter(["a\tb", "b\tc"]), columns="n n", dim=4, iterations=1, whiten="pca", seed=3)
    # residual None ("auto") is recorded as decided for the graph: 0, it is not bipartite.
    assert emb.config == ct.EmbedConfig(columns="n n", dim=4, iterations=1, whiten="pca", seed=3, residual=0.0)


def test_initial_vectors_replace_the_hash_init():
    lines = ["a\tb", "b\tc", "c\ta"]
    graph = ct.read_hypergraph(iter(lines), "n n").graph()
    initial = np.eye(3, 4, dtype=np.float32)
    emb = ct.embed(iter(lines), columns="n n", dim=4, iterations=0, whiten="none", initial=initial)
    np.testing.assert_array_equal(emb.vectors, initial)
    assert graph.entity_ids == emb.entity_ids
    with pytest.raises(ValueError, match="shape"):
        ct.embed(iter(lines), columns="n n", dim=4, initial=np.ones((2, 4), np.float32))


def test_invalid_parameters_name_the_parameter():
    for kwargs, name in [({"dim": 0}, "dim"), ({"whiten": "x"}, "whiten"),
                         ({"relations": "x"}, "relations"), ({"seed": -2}, "seed")]:
        with pytest.raises(ValueError, match=name):
            ct.embed(iter(["a\tb"]), columns="n n", **kwargs)


def test_groceries_items_deterministic(data_file):
    path = data_file("groceries/baskets.tsv")
    spec = "transient::basket complex::reflexive::item"
    first = ct.embed(path, columns=spec, dim=128, iterations=20, threads=1)
    second = ct.embed(path, columns=spec, dim=128, iterations=20, threads=2)
    assert len(first) == 169 and first.vectors.dtype == np.float32
    assert np.isfinite(first.vectors).all()
    assert first.entity_ids == second.entity_ids
    np.testing.assert_array_equal(first.vectors, second.vectors)


def test_cora_node_classification_accuracy(data_file):
    sklearn = pytest.importorskip("sklearn")
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    emb = ct.embed(data_file("cora/edges.tsv"), columns="node node")
    labels = dict(line.split("\t") for line in data_file("cora/labels.tsv").read_text().splitlines())
    assert len(emb) == 2708
    y = np.array([labels[i] for i in emb.entity_ids])
    scores = []
    for seed in range(5):
        x_tr, x_te, y_tr, y_te = train_test_split(emb.vectors, y, test_size=0.2, stratify=y, random_state=seed)
        scores.append(LogisticRegression(max_iter=2000).fit(x_tr, y_tr).score(x_te, y_te))
    assert sklearn is not None and np.mean(scores) >= 0.80


def test_pycleora_parity_on_cora(data_file):
    pycleora = pytest.importorskip("pycleora")
    path = data_file("cora/edges.tsv")
    graph = pycleora.SparseMatrix.from_iterator(iter(path.read_text().splitlines()), "a b")
    sample = np.random.default_rng(0).choice(graph.num_entities, 500, replace=False)

    def cosines(v):
        v = v[sample] / np.linalg.norm(v[sample], axis=1, keepdims=True)
        return v @ v.T

    for iterations, raw_tol in ((1, 1e-4), (40, None)):
        theirs = pycleora.embed(graph, feature_dim=256, num_iterations=iterations, whiten=True)
        emb = ct.embed(path, columns="node node", iterations=iterations, preset="pycleora")
        ours = emb.vectors[[emb.index(i) for i in graph.entity_ids]]
        np.testing.assert_allclose(cosines(ours), cosines(theirs), atol=1e-3)
        if raw_tol is not None:
            signs = np.sign((ours * theirs).sum(axis=0))
            np.testing.assert_allclose(ours * signs, theirs, atol=raw_tol)


def test_movielens_clique_expansion(data_file):
    emb = ct.embed(data_file("movielens_100k/baskets.tsv"), columns="transient::user complex::reflexive::item",
                   dim=64, iterations=5)
    assert len(emb) == 1682 and np.isfinite(emb.vectors).all()


def test_ego_twitter_gzip(data_file):
    emb = ct.embed(data_file("ego_twitter/edges.tsv.gz"), columns="node node", dim=32, iterations=3)
    assert len(emb) == 81306 and np.isfinite(emb.vectors).all()


def test_runtime_options_are_validated_once_before_reading():
    from cleora_tensor.runtime import Runtime

    def unread():  # the input must not be touched when an option is invalid
        raise AssertionError("input read before the options were validated")
        yield

    for kwargs, message in [({"threads": 0}, "threads must be a positive int or None, got 0"),
                            ({"threads": True}, "threads"),
                            ({"backend": "nope"}, "backend must be one of scipy, .* or None, got 'nope'")]:
        with pytest.raises(ValueError, match=message):
            Runtime(**kwargs)
        with pytest.raises(ValueError, match=message):
            ct.embed(unread(), columns="n n", **kwargs)
    runtime = Runtime(threads=2, progress=True, keep_state=False)
    assert runtime.threads == 2 and runtime.select().name == "scipy"
    assert Runtime().threads is None  # "all cores" stays None, resolved by each kernel set


def test_embed_selects_the_backend_once(monkeypatch):
    import cleora_tensor.runtime as runtime_module

    calls = []
    select = runtime_module.select_backend
    monkeypatch.setattr(runtime_module, "select_backend", lambda *a, **k: calls.append(k) or select(*a, **k))
    lines = ["u1\ti1 i2\ts1", "u2\ti2\ts1", "u3\ti3 i1\ts2"]
    views = ct.embed(iter(lines), columns="user complex::item transient::store", dim=8, iterations=2,
                     relations="pairwise")
    assert len(views) == 3 and len(calls) == 1


def test_embed_graph_keywords_match_embed():
    lines = ["a\tb", "b\tc", "c\ta", "c\td"]
    expected = ct.embed(iter(lines), columns="n n", dim=8, iterations=3, threads=1, keep_state=False)
    graph = ct.read_hypergraph(iter(lines), "n n").graph()
    config = ct.EmbedConfig.from_preset("classification", columns="n n", dim=8, iterations=3)
    got = ct.embed_graph(graph, config, threads=1, backend="scipy", device="cpu", keep_state=False)
    np.testing.assert_array_equal(got.vectors, expected.vectors)
    assert got.config == expected.config and got.state is None and expected.state is None
    assert ct.embed_graph(graph, config).state is not None
    with pytest.raises(ValueError, match="threads"):
        ct.embed_graph(graph, config, threads=-1)
    with pytest.raises(ValueError, match="backend"):
        ct.embed_graph(graph, config, backend="nope")


def test_max_cell_size_none_disables_the_guard_and_is_recorded():
    lines = ["b1\t" + " ".join(f"i{k}" for k in range(5))]
    spec = "transient::basket complex::reflexive::item"
    with pytest.warns(UserWarning, match="clique guard"):
        guarded = ct.embed(iter(lines), columns=spec, dim=4, iterations=1, max_cell_size=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no cell is cut
        free = ct.embed(iter(lines), columns=spec, dim=4, iterations=1, max_cell_size=None)
    assert guarded.config.max_cell_size == 2 and free.config.max_cell_size is None
    # A preset field given as None still means "the preset's value".
    assert ct.EmbedConfig.from_preset("pycleora", columns=spec, iterations=None).iterations == 40
