"""cleora_tensor.compat.pycleora: pycleora 3.2.1's API over the core, compared with the installed pycleora.

Also the rule by which a list given to ``embed`` / ``read_hypergraph`` is lines or file paths.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import io
import pickle
import random
import re

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import cleora_tensor as ct
from cleora_tensor.compat import _pycleora_search as search
from cleora_tensor.compat import pycleora as compat
from cleora_tensor.datasets import dataset_path
from cleora_tensor.errors import ColumnSpecError

QUICK_EDGES = ["alice item_laptop", "alice item_mouse", "bob item_keyboard"]

# pycleora 3.2.1's README (its package metadata), "Quick Start" and "Step-by-Step Example", verbatim.
QUICK_START = '''\
from pycleora import SparseMatrix, embed, find_most_similar

edges = ["alice item_laptop", "alice item_mouse", "bob item_keyboard"]
graph = SparseMatrix.from_iterator(iter(edges), "complex::reflexive::product")

embeddings = embed(graph, feature_dim=256, num_iterations=40)

similar = find_most_similar(graph, embeddings, "alice", top_k=5)
for r in similar:
    print(f"{r['entity_id']}: {r['similarity']:.4f}")
'''

STEP_BY_STEP = '''\
from pycleora import SparseMatrix, whiten_embeddings
import numpy as np
import pandas as pd
import random

customers = [f"Customer_{i}" for i in range(1, 20)]
products = [f"Product_{j}" for j in range(1, 20)]

data = {
    "customer": random.choices(customers, k=100),
    "product": random.choices(products, k=100),
}

df = pd.DataFrame(data)
customer_products = df.groupby('customer')['product'].apply(list).values
cleora_input = map(lambda x: ' '.join(x), customer_products)

mat = SparseMatrix.from_iterator(cleora_input, columns='complex::reflexive::product')

print(mat.entity_ids)

embeddings = mat.initialize_deterministically(256)

NUM_ITERATIONS = 40

for i in range(NUM_ITERATIONS):
    embeddings = mat.left_markov_propagate(embeddings)
    embeddings /= np.linalg.norm(embeddings, ord=2, axis=-1, keepdims=True)
    embeddings = whiten_embeddings(embeddings)

for entity, embedding in zip(mat.entity_ids, embeddings):
    print(entity, embedding)

print(np.dot(embeddings[0], embeddings[1]))
'''

# The same grouping without pandas (not a dependency here): customers in order, their products in row order.
_PANDAS_GROUPING = '''\
df = pd.DataFrame(data)
customer_products = df.groupby('customer')['product'].apply(list).values
'''
_PLAIN_GROUPING = '''\
groups = {}
for c, p in zip(data["customer"], data["product"]):
    groups.setdefault(c, []).append(p)
customer_products = [groups[c] for c in sorted(groups)]
'''


def run_script(source: str, module: str) -> tuple[str, dict]:
    """Run a pycleora script with its ``from pycleora import`` lines pointed at ``module``; (stdout, globals)."""
    scope: dict = {}
    random.seed(0)
    with contextlib.redirect_stdout(io.StringIO()) as out:
        exec(source.replace("from pycleora import", f"from {module} import"), scope)
    return out.getvalue(), scope


def same_up_to_column_signs(ours, theirs, atol):
    signs = np.sign((ours * theirs).sum(axis=0))
    signs[signs == 0] = 1
    np.testing.assert_allclose(ours * signs, theirs, atol=atol)


def cosines(x):
    x = np.asarray(x, dtype=np.float64)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    return x @ x.T


@pytest.fixture
def pycleora():
    """The installed pycleora, its NumPy BLAS calls on one thread (many threads on a busy 2-core
    machine made its 40 whitening steps of 256 columns take 10-40 s instead of 0.4 s)."""
    module = pytest.importorskip("pycleora")
    with threadpool_limits(1):
        yield module


@pytest.fixture
def cora_lines(data_file):
    return data_file("cora/edges.tsv").read_text().splitlines()


# --- lists of lines ----------------------------------------------------------------------


def test_a_list_of_lines_is_read_as_lines():
    emb = ct.embed(QUICK_EDGES, columns="complex::reflexive::product", dim=8, iterations=2)
    assert emb.entity_ids == ["alice", "item_laptop", "item_mouse", "bob", "item_keyboard"]
    for lines in (("a\tb", "b\tc"), [b"a\tb", b"b\tc"], ["a\tb\n", "b\tc\n"]):
        assert ct.read_hypergraph(lines, "node node").graph().entity_ids == ["a", "b", "c"]
    # Single ids are lines too once one element shows the list is lines.
    assert ct.read_hypergraph(["x y", "z"], "complex::reflexive::p").graph(singletons="keep").entity_ids == ["x", "y", "z"]


def test_a_list_of_paths_stays_paths(tmp_path, monkeypatch):
    first, spaced = tmp_path / "a.tsv", tmp_path / "my edges.tsv"
    first.write_text("a\tb\n")
    spaced.write_text("b\tc\n")
    assert ct.read_hypergraph([str(first), str(spaced)], "n n").graph().entity_ids == ["a", "b", "c"]
    assert ct.read_hypergraph([spaced, first], "n n").graph().entity_ids == ["b", "c", "a"]
    with pytest.raises(FileNotFoundError, match=r"nope\.tsv"):
        ct.read_hypergraph([str(first), "nope.tsv"], "n n")
    with pytest.raises(FileNotFoundError, match="'alice'"):  # no whitespace: file names
        ct.read_hypergraph(["alice", "bob"], "complex::reflexive::p")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=r"mixes lines of text \(element 0: 'x y'\) with an existing file \(element 1: 'a.tsv'\)"):
        ct.read_hypergraph(["x y", "a.tsv"], "complex::reflexive::p")
    with pytest.raises(TypeError, match="element 1 of the source list is int"):
        ct.read_hypergraph(["x y", 3], "complex::reflexive::p")


# --- pycleora's README, run with the import changed -----------------------------------


def test_readme_examples_are_pycleoras_verbatim(pycleora):
    readme = importlib.metadata.metadata("pycleora").get_payload()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert QUICK_START in blocks and STEP_BY_STEP in blocks


def test_quick_start_prints_pycleoras_similarities(pycleora):
    ours, _ = run_script(QUICK_START, "cleora_tensor.compat.pycleora")
    theirs, _ = run_script(QUICK_START, "pycleora")

    def parse(text):
        return {line.split(": ")[0]: float(line.split(": ")[1]) for line in text.splitlines()}

    ours, theirs = parse(ours), parse(theirs)
    # pycleora also lists the query itself at -1.0 (exclude_self only lowers its score).
    assert theirs.pop("alice") == -1.0
    assert ours.keys() == theirs.keys()
    for entity, similarity in ours.items():
        assert similarity == pytest.approx(theirs[entity], abs=1e-4)


@pytest.mark.parametrize("grouping", ["pandas", "plain"])
def test_step_by_step_example_matches_pycleora(pycleora, grouping):
    script = STEP_BY_STEP
    if grouping == "pandas":
        pytest.importorskip("pandas")
    else:
        script = script.replace("import pandas as pd\n", "").replace(_PANDAS_GROUPING, _PLAIN_GROUPING)
    out, ours = run_script(script, "cleora_tensor.compat.pycleora")
    _, theirs = run_script(script, "pycleora")
    assert ours["mat"].entity_ids == theirs["mat"].entity_ids
    assert out.splitlines()[0] == str(theirs["mat"].entity_ids)
    same_up_to_column_signs(ours["embeddings"], theirs["embeddings"], atol=1e-4)
    dot = float(out.splitlines()[-1])
    assert dot == pytest.approx(float(np.dot(theirs["embeddings"][0], theirs["embeddings"][1])), abs=1e-3, rel=1e-4)


# --- the graph ------------------------------------------------------------------------------------


def test_cora_graph_is_pycleoras(pycleora, cora_lines):
    ours = compat.SparseMatrix.from_iterator(cora_lines, "src dst")
    theirs = pycleora.SparseMatrix.from_iterator(iter(cora_lines), "src dst")
    assert ours.entity_ids == theirs.entity_ids
    assert (ours.num_entities, ours.num_edges, len(ours)) == (theirs.num_entities, theirs.num_edges, len(theirs))
    np.testing.assert_array_equal(ours.entity_degrees, theirs.entity_degrees)
    for kind in (None, "left", "symmetric"):
        for a, b in zip(ours.to_sparse_csr(kind), theirs.to_sparse_csr(kind)):
            np.testing.assert_allclose(a, b, rtol=1e-6)
    for entity in ("35", "0"):
        mine, reference = zip(*ours.get_neighbors(entity)), zip(*theirs.get_neighbors(entity))
        (ids, values), (reference_ids, reference_values) = mine, reference
        assert ids == reference_ids and values == pytest.approx(reference_values)
    assert ours.get_entity_indices(["35", "0"]) == theirs.get_entity_indices(["35", "0"])
    for seed in (0, 7):
        x = ours.initialize_deterministically(64, seed)
        np.testing.assert_array_equal(x, theirs.initialize_deterministically(64, seed))
    for step in ("left_markov_propagate", "symmetric_markov_propagate"):
        np.testing.assert_allclose(getattr(ours, step)(x), getattr(theirs, step)(x), atol=1e-6)
    np.testing.assert_allclose(ours.l2_normalize(x), theirs.l2_normalize(x), atol=1e-6)


def test_transition_rows_sum_to_one_where_pycleoras_do_not(pycleora):
    lines = ["u1\ta b c", "u2\tb d"]
    rows, _, values, n, _ = compat.SparseMatrix.from_iterator(lines, "user complex::item").to_sparse_csr()
    np.testing.assert_allclose(np.bincount(rows, values, minlength=n), 1.0, rtol=1e-6)
    rows, _, values, n, _ = pycleora.SparseMatrix.from_iterator(iter(lines), "user complex::item").to_sparse_csr()
    assert np.bincount(rows, values, minlength=n)[0] == pytest.approx(3.0)  # u1: three entries of 1.0


def test_graph_errors_name_the_problem():
    graph = compat.SparseMatrix.from_iterator(QUICK_EDGES, "complex::reflexive::product")
    with pytest.raises(ValueError, match="Entity 'carol' not found"):
        graph.get_entity_index("carol")
    with pytest.raises(ValueError, match="Unknown markov_type 'up'"):
        graph.to_sparse_csr("up")
    with pytest.raises(ColumnSpecError, match="no 'transient' modifier"):
        compat.SparseMatrix.from_iterator(["u\ta"], "transient::user item")
    with pytest.raises(ValueError, match="hyperedge_trim_n must be a positive int"):
        compat.SparseMatrix.from_iterator(QUICK_EDGES, "complex::reflexive::product", 0)
    with pytest.raises(ValueError, match="normalization='l1' is not supported"):
        compat.embed(graph, normalization="l1")
    with pytest.raises(ValueError, match="Unknown propagation type: 'up'"):
        compat.embed(graph, propagation="up")
    with pytest.raises(ValueError, match="initial_embeddings has 2 rows but graph has 5 entities"):
        compat.embed(graph, initial_embeddings=np.ones((2, 4), np.float32))


def test_graph_pickles_without_its_caches():
    graph = compat.SparseMatrix.from_iterator(QUICK_EDGES, "complex::reflexive::product")
    vectors = compat.embed(graph, 8, 3)  # fills the matrix and operator caches
    copy = pickle.loads(pickle.dumps(graph))
    assert copy.entity_ids == graph.entity_ids
    np.testing.assert_array_equal(compat.embed(copy, 8, 3), vectors)


def test_from_files_reads_tab_separated_files_whatever_the_extension(tmp_path):
    path = tmp_path / "edges.csv"
    path.write_text("a\tb\nb\tc\n")
    graph = compat.SparseMatrix.from_files([str(path)], "p q")
    assert graph.entity_ids == ["a", "b", "c"]
    assert repr(graph) == "SparseMatrix(entities=3, edges=4, columns=('p', 'q'))"


# --- embedding ---------------------------------------------------------------------------------------


def test_embed_on_cora_matches_pycleora(pycleora, cora_lines):
    ours = compat.SparseMatrix.from_iterator(cora_lines, "a b")
    theirs = pycleora.SparseMatrix.from_iterator(iter(cora_lines), "a b")
    sample = np.random.default_rng(0).choice(ours.num_entities, 300, replace=False)
    one = compat.embed(ours, num_iterations=1)
    same_up_to_column_signs(one, pycleora.embed(theirs, num_iterations=1), atol=1e-4)
    ours_40, theirs_40 = compat.embed(ours, 128), pycleora.embed(theirs, 128)
    np.testing.assert_allclose(cosines(ours_40[sample]), cosines(theirs_40[sample]), atol=1e-3)
    for query in ("35", "1033", "2"):
        top = [r["entity_id"] for r in compat.find_most_similar(ours, ours_40, query, top_k=5)]
        reference = [r["entity_id"] for r in pycleora.find_most_similar(theirs, theirs_40, query, top_k=5)]
        assert len(set(top) & set(reference)) >= 4, (query, top, reference)


def test_groceries_baskets_match_pycleora_where_it_does_not_trim(pycleora, data_file):
    lines = [line.split("\t")[1] for line in data_file("groceries/baskets.tsv").read_text().splitlines()]
    short = [line for line in lines if len(line.split()) <= 16]
    for selection in (short, lines):
        ours = compat.SparseMatrix.from_iterator(selection, "complex::reflexive::item")
        theirs = pycleora.SparseMatrix.from_iterator(iter(selection), "complex::reflexive::item")
        assert ours.entity_ids == theirs.entity_ids
    assert ours.num_entities == 169  # every item, also those seen only past the 16th of a basket
    rows, _, values, n, _ = ours.to_sparse_csr()
    np.testing.assert_allclose(np.bincount(rows, values, minlength=n), 1.0, rtol=1e-6)
    # 95 of 9,835 baskets hold more than pycleora's hyperedge_trim_n=16 items, where pycleora
    # drops pairs; without them the graphs are the same.
    ours = compat.SparseMatrix.from_iterator(short, "complex::reflexive::item")
    theirs = pycleora.SparseMatrix.from_iterator(iter(short), "complex::reflexive::item")
    for options in (dict(num_iterations=1), dict(num_iterations=1, whiten=False), dict(num_iterations=10, whiten=False)):
        np.testing.assert_allclose(cosines(compat.embed(ours, 64, **options)), cosines(pycleora.embed(theirs, 64, **options)), atol=1e-5)


def test_embed_options_match_pycleora(pycleora):
    lines = dataset_path("karate_club").read_text().splitlines()
    ours = compat.SparseMatrix.from_iterator(lines, "a b")
    theirs = pycleora.SparseMatrix.from_iterator(iter(lines), "a b")
    cases = [dict(whiten=False), dict(propagation="symmetric", seed=3), dict(residual_weight=0.3, whiten=False),
             dict(num_iterations="auto", whiten=False), dict(convergence_threshold=0.01, whiten=False)]
    for options in cases:
        a, b = compat.embed(ours, 16, **{"num_iterations": 5, **options}), pycleora.embed(theirs, 16, **{"num_iterations": 5, **options})
        np.testing.assert_allclose(cosines(a), cosines(b), atol=1e-4, err_msg=str(options))
    steps = []
    compat.embed(ours, 8, 3, callback=lambda i, v: steps.append((i, v)))
    assert [i for i, _ in steps] == [0, 1, 2] and not np.shares_memory(steps[0][1], steps[1][1])
    x, iterations = ours.embed_fast_convergence(16, 40, convergence_threshold=0.01)
    assert iterations < 40 and x.shape == (34, 16)


def test_results_do_not_depend_on_num_workers(cora_lines):
    graph = compat.SparseMatrix.from_iterator(cora_lines, "a b", num_workers=1)
    np.testing.assert_array_equal(compat.embed(graph, 32, 10, num_workers=1), compat.embed(graph, 32, 10, num_workers=2))


def test_multiscale_and_node_features_match_pycleora(pycleora):
    lines = dataset_path("karate_club").read_text().splitlines()
    ours = compat.SparseMatrix.from_iterator(lines, "a b")
    theirs = pycleora.SparseMatrix.from_iterator(iter(lines), "a b")
    a = compat.embed_multiscale(ours, 16, scales=[4, 2, 4])
    b = pycleora.embed_multiscale(theirs, 16, scales=[4, 2, 4])
    assert a.shape == (34, 48)
    for block in range(3):
        np.testing.assert_allclose(cosines(a[:, 16 * block : 16 * block + 16]), cosines(b[:, 16 * block : 16 * block + 16]), atol=1e-4)
    features = {str(i): np.random.default_rng(i).standard_normal(16).astype(np.float32) for i in range(0, 34, 3)}
    a = compat.embed_with_node_features(ours, features, num_iterations=3)
    b = pycleora.embed_with_node_features(theirs, features, num_iterations=3)
    np.testing.assert_allclose(cosines(a), cosines(b), atol=1e-4)
    with pytest.raises(ValueError, match="non-empty"):
        compat.embed_with_node_features(ours, {})


def test_whitening_and_similarity_functions_match_pycleora(pycleora, monkeypatch):
    x = np.random.default_rng(1).standard_normal((200, 12)).astype(np.float32)
    for k in (None, 5):
        same_up_to_column_signs(compat.whiten_embeddings(x, k), pycleora.whiten_embeddings(x, k), atol=1e-4)
    assert compat.whiten_embeddings(x[:1]).tolist() == x[:1].tolist()
    assert compat.cosine_similarity(x[0], x[1]) == pytest.approx(pycleora.cosine_similarity(x[0], x[1]), abs=1e-6)
    assert compat.cosine_similarity(x[0], np.zeros(12, np.float32)) == 0.0
    lines = dataset_path("karate_club").read_text().splitlines()
    ours = compat.SparseMatrix.from_iterator(lines, "a b")
    theirs = pycleora.SparseMatrix.from_iterator(iter(lines), "a b")
    vectors = compat.embed(ours, 16, 5)
    for options in (dict(), dict(source_entities=["0", "33"], top_k=5), dict(exclude_existing=False)):
        a, b = compat.predict_links(ours, vectors, **options), pycleora.predict_links(theirs, vectors, **options)
        assert [r["score"] for r in a] == pytest.approx([r["score"] for r in b], abs=1e-5)
        assert {(r["source"], r["target"]) for r in a if r["score"] < a[0]["score"] - 1e-5} <= {(r["source"], r["target"]) for r in b}
    monkeypatch.setattr(search, "_SOURCE_BATCH", 5)  # seven batches of sources give the same links
    batched = compat.predict_links(ours, vectors, top_k=20)
    monkeypatch.undo()
    assert batched == compat.predict_links(ours, vectors, top_k=20)
    first = compat.find_most_similar(ours, vectors, "0", top_k=40, exclude_self=False)
    assert len(first) == 34 and first[0]["entity_id"] == "0" and first[0]["similarity"] == pytest.approx(1.0)


def test_embed_weighted_uses_per_edge_weights():
    # W[a, b] = 1, W[a, c] = 3: a walks to b with 1/4 and to c with 3/4.
    graph, vectors = compat.embed_weighted([("a\tb", 1.0), ("a\tc", 3.0)], "p q", feature_dim=4, num_iterations=1, whiten=False)
    assert [n for n, _ in graph.get_neighbors("a")] == ["b", "c"]
    assert [w for _, w in graph.get_neighbors("a")] == pytest.approx([0.25, 0.75])
    _, other = compat.embed_weighted([("a\tb", 3.0), ("a\tc", 1.0)], "p q", feature_dim=4, num_iterations=1, whiten=False)
    x = graph.initialize_deterministically(4)
    expected = 0.25 * x[1] + 0.75 * x[2]
    np.testing.assert_allclose(vectors[0], expected / np.linalg.norm(expected), rtol=1e-6)
    assert not np.allclose(vectors[0], other[0])


def test_embed_inductive_is_deterministic_and_keeps_the_trained_start():
    old, new = ["a\tb", "b\tc"], ["c\td"]
    graph = compat.SparseMatrix.from_iterator(old, "p q")
    trained = compat.embed(graph, 8, 3)
    updated, first = compat.embed_inductive(graph, trained, old, new, "p q", num_iterations=0)
    assert updated.entity_ids == ["a", "b", "c", "d"]
    np.testing.assert_array_equal(first[:3], trained)
    np.testing.assert_array_equal(first[3], updated.initialize_deterministically(8)[3])
    _, again = compat.embed_inductive(graph, trained, old, new, "p q", num_iterations=4)
    np.testing.assert_array_equal(again, compat.embed_inductive(graph, trained, old, new, "p q", num_iterations=4)[1])
    with pytest.raises(ValueError, match="trained_embeddings has 2 rows but graph has 3 entities"):
        compat.embed_inductive(graph, trained[:2], old, new, "p q")


def test_cleora_embedder_matches_pycleora(pycleora):
    lines = ["a b c", "b c", "c d", "d e a"]
    ours = compat.CleoraEmbedder(feature_dim=8, num_iterations=3)
    theirs = pycleora.CleoraEmbedder(feature_dim=8, num_iterations=3)
    np.testing.assert_allclose(cosines(ours.fit_transform(lines)), cosines(theirs.fit_transform(lines)), atol=1e-4)
    assert ours.transform(["e a"]).shape == theirs.transform(["e a"]).shape == (2, 8)
    assert ours.set_params(seed=2).get_params()["seed"] == 2
    with pytest.raises(ValueError, match="Invalid parameter"):
        ours.set_params(dim=3)


# --- arrays follow the input -----------------------------------------------------------------------


def test_torch_in_gives_torch_out():
    torch = pytest.importorskip("torch")
    graph = compat.SparseMatrix.from_iterator(QUICK_EDGES, "complex::reflexive::product")
    start = graph.initialize_deterministically(16)
    reference = compat.embed(graph, initial_embeddings=start, num_iterations=5)
    view = np.asfortranarray(start)[::1]  # a view whose float32 conversion may share memory
    compat.embed(graph, initial_embeddings=view, num_iterations=3)
    np.testing.assert_array_equal(view, start)
    out = compat.embed(graph, initial_embeddings=torch.from_numpy(start.copy()), num_iterations=5)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32
    np.testing.assert_allclose(cosines(out.numpy()), cosines(reference), atol=1e-4)
    step = graph.left_markov_propagate(torch.from_numpy(start))
    assert isinstance(step, torch.Tensor)
    np.testing.assert_allclose(step.numpy(), graph.left_markov_propagate(start), atol=1e-6)
    assert isinstance(compat.whiten_embeddings(torch.from_numpy(start), 3), torch.Tensor)
    found = compat.find_most_similar(graph, out, "alice", top_k=2)
    assert [r["entity_id"] for r in found] == [r["entity_id"] for r in compat.find_most_similar(graph, reference, "alice", top_k=2)]
    kept = start.copy()
    on_cpu = compat.propagate_gpu(graph, start, num_iterations=5, device="cpu")
    assert isinstance(on_cpu, np.ndarray)
    np.testing.assert_array_equal(start, kept)  # the input is not a work buffer
    np.testing.assert_allclose(cosines(on_cpu), cosines(reference), atol=1e-4)
    assert isinstance(compat.propagate_gpu(graph, torch.from_numpy(start), num_iterations=2, device="cpu"), torch.Tensor)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="cuda"):
            compat.propagate_gpu(graph, start)


# --- advanced modes (adapters over attention.py, refine.py and directed graphs) ----------------------


def test_embed_directed_follows_the_arcs(pycleora):
    # Arcs a -> b -> c: a takes b's vector, b takes c's; c has no arc and keeps its own.
    graph, vectors = compat.embed_directed(["a\tb", "b\tc"], "p q", feature_dim=8, num_iterations=1, whiten=False)
    x = graph.initialize_deterministically(8)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    np.testing.assert_allclose(vectors, unit[[1, 2, 2]], rtol=1e-6)
    lines = dataset_path("karate_club").read_text().splitlines()
    ours, theirs = compat.embed_directed(lines, "a b", 16, 1, whiten=False), pycleora.embed_directed(lines, "a b", 16, 1, whiten=False)
    assert ours[0].entity_ids == theirs[0].entity_ids
    with_arcs = np.linalg.norm(theirs[1], axis=1) > 0  # pycleora zeroes the others
    np.testing.assert_allclose(ours[1][with_arcs], theirs[1][with_arcs], atol=1e-6)


def test_embed_with_attention_matches_pycleora(pycleora):
    lines = dataset_path("karate_club").read_text().splitlines()
    ours = compat.SparseMatrix.from_iterator(lines, "a b")
    theirs = pycleora.SparseMatrix.from_iterator(iter(lines), "a b")
    for options in (dict(num_iterations=3), dict(num_iterations=5, whiten=False, attention_temperature=0.3)):
        a, b = compat.embed_with_attention(ours, 16, **options), pycleora.embed_with_attention(theirs, 16, **options)
        np.testing.assert_allclose(cosines(a), cosines(b), atol=1e-5, err_msg=str(options))
    steps = []
    compat.embed_with_attention(ours, 8, 3, callback=lambda i, v: steps.append(i))
    assert steps == [0, 1, 2]
    with pytest.raises(ValueError, match="temperature must be a positive"):
        compat.embed_with_attention(ours, attention_temperature=0.0)


def test_supervised_refine_lowers_the_loss_deterministically():
    pytest.importorskip("torch")
    lines = dataset_path("karate_club").read_text().splitlines()
    graph = compat.SparseMatrix.from_iterator(lines, "a b")
    vectors = compat.embed(graph, 16, 5)
    pairs, losses = [("0", "33"), ("1", "32"), ("2", "31")], []
    refined = compat.supervised_refine(graph, vectors, pairs, callback=lambda epoch, loss: losses.append(loss))
    assert len(losses) == 50 and losses[-1] < 0.5 * losses[0]
    np.testing.assert_allclose(np.linalg.norm(refined, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(refined, compat.supervised_refine(graph, vectors, pairs))
    with pytest.raises(ValueError, match="Entity 'nobody' not found"):
        compat.supervised_refine(graph, vectors, [("0", "nobody")])
    with pytest.raises(ValueError, match="embeddings has 3 rows but graph has 34 entities"):
        compat.supervised_refine(graph, vectors[:3], pairs)


# --- graph changes and streaming (issue 14's compatible names) ---------------------


def test_update_graph_and_remove_edges_are_pycleoras(pycleora):
    old, new = ["a\tb", "b\tc", "b\tc"], ["c\td", "e\ta"]
    for ours, theirs in [
        (compat.update_graph(old, new, "a b"), pycleora.update_graph(old, new, "a b")),
        (compat.remove_edges(old + new, ["b\tc", "x\ty"], "a b"), pycleora.remove_edges(old + new, ["b\tc", "x\ty"], "a b")),
    ]:
        assert ours.entity_ids == list(theirs.entity_ids)
        np.testing.assert_allclose(ours.entity_degrees, theirs.entity_degrees, atol=1e-6)
        assert ours.num_edges == theirs.num_edges
    # every copy of a removed line goes: "b c" twice, so b keeps only its edge to a.
    assert compat.remove_edges(old, ["b\tc"], "a b").entity_ids == ["a", "b"]
    with pytest.raises(ValueError, match="Cannot remove all edges"):
        compat.remove_edges(old, old, "a b")


def test_embed_streaming_warm_starts_deterministically():
    batches = [["a\tb", "b\tc", "c\ta"], ["c\td", "d\te"], ["e\ta"]]
    seen = []
    graph, x = compat.embed_streaming(batches, "a b", feature_dim=8, num_iterations=3,
                                      batch_callback=lambda i, g, e: seen.append((i, g.num_entities, e.shape)))
    assert seen == [(0, 3, (3, 8)), (1, 5, (5, 8)), (2, 5, (5, 8))]
    assert graph.entity_ids == compat.update_graph(batches[0] + batches[1], batches[2], "a b").entity_ids
    again = compat.embed_streaming(batches, "a b", feature_dim=8, num_iterations=3)[1]
    np.testing.assert_array_equal(x, again)
    # the last batch re-embeds all lines from the previous vectors (embed_inductive)
    previous = compat.embed_streaming(batches[:2], "a b", feature_dim=8, num_iterations=3)
    _, expected = compat.embed_inductive(*previous, batches[0] + batches[1], batches[2], "a b", num_iterations=3)
    np.testing.assert_array_equal(x, expected)
    with pytest.raises(ValueError, match="no batch"):
        compat.embed_streaming([], "a b")
