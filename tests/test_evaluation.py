"""Evaluation protocols: metrics on hand-computed cases, splits, baselines, CLI, real data."""

from __future__ import annotations

import json
import math

import array_api_strict
import numpy as np
import pytest
import scipy.sparse

import cleora_tensor as ct
from cleora_tensor import evaluation as ev
from cleora_tensor.evaluation import reports, scoring
from cleora_tensor.cli import main
from cleora_tensor.datasets import dataset_path

pytest.importorskip("sklearn")


def angles(**degrees):
    """(ids, unit 2-D vectors) at the given angles: cosines are cos(difference)."""
    ids = list(degrees)
    radians = np.deg2rad(np.array(list(degrees.values()), dtype=np.float64))
    return ids, np.stack([np.cos(radians), np.sin(radians)], axis=1).astype(np.float32)


def basket_split(ids, visible, held_out, incidence=None):
    n = len(ids)
    return ev.BasketSplit(
        columns="complex::reflexive::item",
        train_rows=[],
        entity_ids=ids,
        types=np.full(n, "item"),
        incidence=scipy.sparse.csr_array(np.ones((1, n)) if incidence is None else np.asarray(incidence, float)),
        visible=[np.array(v) for v in visible],
        held_out=np.array(held_out),
        test_rows=np.arange(len(visible)),
    )


def edge_split(ids, train_edges, test_edges):
    n = len(ids)
    adjacency = np.zeros((n, n))
    for a, b in train_edges:
        adjacency[a, b] = adjacency[b, a] = 1
    return ev.EdgeSplit(
        columns="node node",
        train_rows=[],
        entity_ids=ids,
        types=np.full(n, "node"),
        incidence=scipy.sparse.csr_array(adjacency),
        test=np.array(test_edges),
    )


# --- metrics on hand-computed rankings


def test_mrr_and_hit_rate_of_known_rankings():
    ids, vectors = angles(a=0, b=10, c=20, d=30, e=40)
    # Query {a}: b, c, d, e in that order (a itself is filtered).
    split = basket_split(ids, visible=[[0], [0]], held_out=[3, 1])
    result = ev.basket_completion((ids, vectors), split, top_k=2)
    assert result["mrr"] == pytest.approx((1 / 3 + 1) / 2)
    assert result["hr@2"] == pytest.approx(0.5)
    assert result["queries"] == 2 and result["unseen"] == 0


def test_query_is_the_mean_of_the_remaining_items():
    ids, vectors = angles(a=0, b=90, c=44, d=80)
    # mean of a and b points at 45 degrees: c first, then d
    split = basket_split(ids, visible=[[0, 1]], held_out=[3])
    assert ev.basket_completion((ids, vectors), split)["mrr"] == pytest.approx(1 / 2)


def test_link_prediction_filters_known_training_neighbours():
    ids, vectors = angles(a=0, b=10, c=25, d=45)
    # Held-out a-c. Query a: b is a training neighbour, so c ranks 1st (not 2nd).
    # Query c: b (15), d (20), then a (25): a ranks 3rd.
    filtered = ev.link_prediction((ids, vectors), edge_split(ids, [(0, 1)], [(0, 2)]))
    assert filtered["mrr"] == pytest.approx((1 + 1 / 3) / 2)
    assert filtered["queries"] == 2
    unfiltered = ev.link_prediction((ids, vectors), edge_split(ids, [], [(0, 2)]))
    assert unfiltered["mrr"] == pytest.approx((1 / 2 + 1 / 3) / 2)


def test_ties_count_in_expectation():
    # A constant score ranks the target uniformly among n candidates.
    ids = list("abcde")
    split = basket_split(ids, visible=[[0]], held_out=[2])
    result = ev.basket_completion("popularity", split, top_k=2)
    n = 4  # a is filtered
    assert result["mrr"] == pytest.approx(sum(1 / r for r in range(1, n + 1)) / n)
    assert result["hr@2"] == pytest.approx(2 / n)


def test_items_without_vectors_are_misses():
    ids, vectors = angles(a=0, b=10)
    split = basket_split(["a", "b", "z"], visible=[[0], [0]], held_out=[1, 2])
    result = ev.basket_completion((ids, vectors), split)
    assert result["mrr"] == pytest.approx(0.5)  # b ranks 1st; z has no vector


def test_prior_favours_popular_candidates():
    ids, vectors = angles(a=0, b=10, c=30)
    counts = [[1, 1, 1]] + [[0, 0, 1]] * 20  # c is in 21 baskets, b in 1
    split = basket_split(ids, visible=[[0]], held_out=[2], incidence=counts)
    assert ev.basket_completion((ids, vectors), split)["mrr"] == pytest.approx(0.5)
    # cos(30) + 0.1 log 21 = 1.17 > cos(10) + 0 = 0.98
    assert ev.basket_completion((ids, vectors), split, prior=0.1)["mrr"] == pytest.approx(1.0)


def test_vectors_of_any_namespace_give_the_same_ranking():
    ids, vectors = angles(a=0, b=10, c=20, d=30, e=40)
    split = basket_split(ids, visible=[[0], [4, 3]], held_out=[3, 1])
    expected = ev.basket_completion((ids, vectors), split)
    strict = array_api_strict.asarray(vectors, device=array_api_strict.Device("device1"))
    assert ev.basket_completion((ids, strict), split)["mrr"] == pytest.approx(expected["mrr"])


def test_top_k_labels_assigns_each_row_its_number_of_labels():
    probability = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.3, 0.3, 0.4]])
    assert ev.top_k_labels(probability, np.array([2, 1, 0])).tolist() == [[0, 1, 1], [1, 0, 0], [0, 0, 0]]


# --- baselines


def test_baselines_on_a_tiny_basket_set():
    rows = ["1\ta b", "2\ta b", "3\ta c", "4\tb c d", "5\td"]
    split = ev.split_baskets(rows, columns="transient::basket complex::item", test_fraction=0.5, seed=0)
    # Scores computed by hand from the training incidence.
    x = split.incidence.toarray()
    counts = x.sum(axis=0)
    popularity = scoring._PopularityScorer(split.incidence).scores([np.array([0])])
    assert popularity.tolist() == [counts.tolist()]
    cosine = (x.T @ x) / np.sqrt(np.outer(counts, counts))
    cooccurrence = scoring._CooccurrenceScorer(split.incidence).scores([np.array([0, 1])])
    assert cooccurrence[0] == pytest.approx(cosine[0] + cosine[1])


def test_cooccurrence_baseline_is_salton_index_on_graphs():
    ids = list("abcdefgh")
    # a and d share both neighbours b, c (cosine 1); e is the hub of f, g, h.
    train = [(0, 1), (0, 2), (3, 1), (3, 2), (4, 5), (4, 6), (4, 7)]
    split = edge_split(ids, train, [(0, 3)])
    assert ev.link_prediction("cooccurrence", split)["mrr"] == pytest.approx(1.0)
    # by degree the hub e (3) comes before d and a (2) in both directions
    assert ev.link_prediction("popularity", split)["mrr"] == pytest.approx(0.5)


# --- splits


GRAPH = ["a\tb", "b\tc", "c\ta", "c\td", "d\te", "e\tf", "f\td", "b\ta", "a\ta", "f\tg", "g\th", "h\tf"]


def test_edge_split_is_deterministic_and_never_isolates_a_node():
    first = ev.split_edges(GRAPH, test_fraction=0.3, seed=3)
    again = ev.split_edges(GRAPH, test_fraction=0.3, seed=3)
    assert first.test.tolist() == again.test.tolist() and first.train_rows == again.train_rows
    held = {tuple(sorted(first.entity_ids[i] for i in edge)) for edge in first.test}
    assert len(held) == round(0.3 * 10)  # 10 distinct undirected non-loop edges
    kept = [tuple(sorted(r.split("\t"))) for r in first.train_rows]
    assert not held & set(kept)  # both "a b" and "b a" leave with their edge
    assert ("a", "a") in kept  # self loops stay
    assert set(first.entity_ids) == {x for edge in kept for x in edge}
    others = {ev.split_edges(GRAPH, test_fraction=0.3, seed=s).test.tobytes() for s in range(5)}
    assert len(others) > 1


def test_edge_split_of_a_bipartite_graph_ranks_within_types():
    rows = ["u1\ti1", "u1\ti2", "u2\ti1", "u2\ti2", "u3\ti1", "u3\ti2", "u3\ti3", "u4\ti3"]
    split = ev.split_edges(rows, columns="user item", test_fraction=0.2, seed=0)
    assert set(split.types.tolist()) == {"user", "item"}
    for source, target in split.test:
        assert split.types[source] == "user" and split.types[target] == "item"


def test_basket_split_hides_one_item_of_eligible_baskets():
    rows = [f"{i}\t" + " ".join(f"x{j}" for j in range(i % 4 + 1)) for i in range(40)]
    split = ev.split_baskets(rows, columns="transient::basket complex::reflexive::item", seed=1)
    eligible = [i for i in range(40) if i % 4 + 1 >= 2]
    assert len(split.test_rows) == round(0.2 * len(eligible))
    assert set(split.test_rows.tolist()) <= set(eligible)
    for row, visible, hidden in zip(split.test_rows, split.visible, split.held_out):
        original = rows[row].split("\t")[1].split()
        remaining = split.train_rows[row].split("\t")[1].split()
        assert len(remaining) == len(original) - 1
        assert [split.entity_ids[i] for i in visible] == remaining
        assert split.entity_ids[hidden] not in remaining
    again = ev.split_baskets(rows, columns="transient::basket complex::reflexive::item", seed=1)
    assert again.train_rows == split.train_rows


@pytest.mark.parametrize(
    ("function", "columns", "fragment"),
    [
        (ev.split_edges, "node complex::node", "two entity columns"),
        (ev.split_baskets, "basket item", "exactly one 'complex'"),
        (ev.split_baskets, "complex::basket complex::item", "exactly one 'complex'"),
    ],
)
def test_splits_reject_unusable_column_specs(function, columns, fragment):
    with pytest.raises(ValueError, match=fragment):
        function(["a\tb"], columns=columns)


def test_rows_with_a_wrong_number_of_fields_name_the_line():
    with pytest.raises(ct.InputFormatError, match=":2"):
        ev.split_edges(["a\tb", "c"], columns="node node")


def test_label_files_that_are_not_utf8_raise_input_format_error(tmp_path):
    path = tmp_path / "labels.tsv"
    path.write_bytes(b"a\tx\nb\t\xff\n")
    with pytest.raises(ct.InputFormatError, match=r"labels\.tsv:2:3: .*UTF-8"):
        ev.read_labels(path)


# --- classification and stability


def test_node_classification_single_and_multi_label():
    rng = np.random.default_rng(0)
    ids = [str(i) for i in range(60)]
    labels = {i: ("x" if int(i) % 2 else "y") for i in ids}
    vectors = rng.normal(size=(60, 4)).astype(np.float32)
    vectors[:, 0] += np.where(np.arange(60) % 2, 4.0, -4.0)
    result = ev.node_classification((ids[:58], vectors[:58]), labels, seeds=2)
    assert result["accuracy"] > 0.85 and result["missing"] == 2 and result["seeds"] == 2
    split = {i: "train" if int(i) < 40 else "test" for i in ids}
    fixed = ev.node_classification((ids, vectors), labels, split=split)
    assert fixed["train"] == 40 and fixed["test"] == 20 and fixed["accuracy"] == 1.0

    multi = {i: (["x", "z"] if int(i) % 2 else ["y"]) for i in ids}
    result = ev.node_classification((ids, vectors), multi, seeds=1)
    assert result["micro_f1"] > 0.85 and "accuracy" not in result


def test_stability_is_one_for_identical_and_rotated_neighbourhoods():
    rng = np.random.default_rng(1)
    ids = [f"e{i}" for i in range(30)]
    vectors = rng.normal(size=(30, 8)).astype(np.float32)
    same = ev.stability((ids, vectors), (ids[::-1], vectors[::-1]))
    assert same["mean_cosine"] == pytest.approx(1.0) and same["neighbour_overlap"] == 1.0
    rotation, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    rotated = ev.stability((ids, vectors), (ids, (vectors @ rotation).astype(np.float32)))
    assert rotated["neighbour_overlap"] == 1.0 and rotated["mean_cosine"] < 0.9
    assert rotated["entities"] == 30


def test_report_with_stability_reads_an_iterator_once():
    # The rows are needed twice (split, then stability): a one-shot iterator must do.
    lines = [f"{i}\t{j}" for i in range(12) for j in range(i + 1, 12) if (i + j) % 3]
    report = ev.link_prediction_report(iter(lines), columns="node node", with_stability=True, dim=8, iterations=2)
    assert report["stability"]["entities"] == 12


def test_subsample_is_seeded():
    rows = [str(i) for i in range(1000)]
    kept = ev.subsample(rows, seed=4)
    assert kept == ev.subsample(rows, seed=4) and 900 < len(kept) < 990


# --- Embedding.complete uses the evaluated score


def test_complete_matches_the_evaluated_ranking():
    lines = ["1\ta b c", "2\ta b", "3\tb c d", "4\ta d", "5\tc d e", "6\ta e"]
    emb = ct.embed(iter(lines), columns="transient::basket complex::reflexive::item", dim=16, iterations=1)
    ids = list("abcde")
    popularity = emb.occurrences[[emb.index(i) for i in ids]]
    split = basket_split(ids, visible=[[0, 1]], held_out=[2], incidence=[popularity])
    scores = scoring._scorer(emb, split, prior=0.1).scores([np.array([0, 1])])[0]
    scores[[0, 1]] = -np.inf
    ranked = [ids[i] for i in np.argsort(-scores, kind="stable")[:3]]
    assert [item for item, _ in emb.complete(["a", "b"], 3)] == ranked
    with pytest.raises(ValueError, match="prior"):
        emb.complete(["a"], prior=-1)


# --- command line


def run(capsys, *argv):
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_cli_classification_on_the_bundled_karate_club(tmp_path, capsys):
    path = tmp_path / "karate.npz"
    ct.embed(dataset_path("karate_club"), columns="member member", dim=16).save(path)
    labels = dataset_path("karate_club", labels=True)
    status, out, _ = run(capsys, "evaluate", "classification", path, labels, "--seeds", 2, "--json")
    report = json.loads(out)
    assert status == 0 and report["split"]["nodes"] == 34
    assert report["results"][0]["accuracy"] > 0.7


def test_cli_link_prediction_prints_a_table_with_baselines(tmp_path, capsys):
    edges = tmp_path / "g.tsv"
    edges.write_text("".join(f"{i}\t{j}\n" for i in range(12) for j in range(i + 1, 12) if (i + j) % 3))
    status, out, _ = run(capsys, "evaluate", "link-prediction", edges, "-c", "node node", "-d", 8, "-n", 2,
                         "--stability", "--train-output", tmp_path / "train.tsv")
    assert status == 0
    assert "cleora_tensor cosine" in out and "popularity" in out and "cooccurrence" in out
    assert "stability" in out and (tmp_path / "train.tsv").exists()


def test_cli_basket_completion_json(tmp_path, capsys):
    baskets = tmp_path / "b.tsv"
    baskets.write_text("".join(f"{i}\t" + " ".join(f"i{(i * k) % 7}" for k in range(1, 4)) + "\n" for i in range(30)))
    status, out, _ = run(capsys, "evaluate", "basket-completion", baskets, "-c",
                         "transient::basket complex::reflexive::item", "-d", 8, "--prior", 0, "--json")
    report = json.loads(out)
    assert status == 0 and [r["method"] for r in report["results"]] == [
        "cleora_tensor cosine", "popularity", "cooccurrence"]
    assert all(0 <= r["mrr"] <= 1 for r in report["results"])


def test_cli_ranking_takes_the_presets_dimension(tmp_path, capsys, monkeypatch):
    # --dim left out means "the preset's value", not the classification default.
    baskets = tmp_path / "b.tsv"
    baskets.write_text("".join(f"{i}\t" + " ".join(f"i{(i * k) % 7}" for k in range(1, 4)) + "\n" for i in range(30)))
    dims = []

    def recording_embed(*args, **kwargs):
        embedding = ct.embed(*args, **kwargs)
        dims.append(embedding.dim)
        return embedding

    monkeypatch.setattr(reports, "embed", recording_embed)
    status, _, _ = run(capsys, "evaluate", "basket-completion", baskets, "-c",
                       "transient::basket complex::reflexive::item", "--preset", "retrieval", "--json")
    assert status == 0 and dims == [1024]


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["link-prediction", "{edges}", "-c", "node complex::node"], "two entity columns"),
        (["basket-completion", "{missing}", "-c", "complex::reflexive::item"], "No such file"),
        (["classification", "{missing}", "{edges}"], "error:"),
    ],
)
def test_cli_errors_exit_2_with_one_line(tmp_path, capsys, argv, fragment):
    edges = tmp_path / "g.tsv"
    edges.write_text("a\tb\nb\tc\n")
    argv = [a.format(edges=edges, missing=tmp_path / "missing.tsv") for a in argv]
    status, out, err = run(capsys, "evaluate", *argv)
    assert status == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and fragment in err


# --- real data (skipped when ../shared/data is absent)


def test_real_data_smoke(data_file):
    baskets = data_file("groceries/baskets.tsv")
    split = ev.split_baskets(baskets, columns="transient::basket complex::reflexive::item")
    assert len(split.visible) == 1535
    popularity = ev.basket_completion("popularity", split)
    cooccurrence = ev.basket_completion("cooccurrence", split)
    assert popularity["mrr"] == pytest.approx(0.1823, abs=1e-3)
    assert cooccurrence["mrr"] == pytest.approx(0.1928, abs=1e-3)

    edges = ev.split_edges(data_file("cora/edges.tsv"))
    assert len(edges.test) == round(0.1 * 5278)
    emb = ct.embed(iter(edges.train_rows), columns="node node", dim=32, iterations=3)
    result = ev.link_prediction(emb, edges)
    assert result["queries"] == 2 * len(edges.test)
    assert result["mrr"] > 5 * ev.link_prediction("popularity", edges)["mrr"]
    assert not math.isnan(result["hr@10"])


def test_leaving_out_one_item_baskets_helps_basket_completion_on_groceries(data_file):
    # 2,159 of groceries' 9,835 baskets hold one item; kept, they make each item's
    # walk lazy in proportion to how often it is bought alone (measured 0.041 -> 0.066).
    spec = "transient::basket complex::reflexive::item"
    split = ev.split_baskets(data_file("groceries/baskets.tsv"), columns=spec)
    mrr = {
        singletons: ev.basket_completion(ct.embed(iter(split.train_rows), columns=spec, singletons=singletons), split)["mrr"]
        for singletons in ("drop", "keep")
    }
    assert mrr["drop"] > mrr["keep"] + 0.01
