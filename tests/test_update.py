"""Incremental updates (cleora_tensor.update): hand-computed cases, removal, equality with a full run, files, CLI."""

import dataclasses

import numpy as np
import pytest

import cleora_tensor as ct
from cleora_tensor.cli import main
from cleora_tensor.hypergraph import DataWarning
from cleora_tensor.lookup import EntityIndex
from cleora_tensor.pipeline import read_hypergraph
from cleora_tensor.update import update

GROCERIES = ("groceries/baskets.tsv", "transient::basket complex::reflexive::item")
EGO = ("ego_facebook/edges.tsv", "node node")


def updatable(lines, columns, **options):
    """``ct.embed``: its state holds the graph (test_the_state_holds_the_graph_and_an_empty_update_keeps_it)."""
    return ct.embed(lines, columns=columns, **options)


def test_the_state_holds_the_graph_and_an_empty_update_keeps_it():
    # "c" is seen only alone: a unit self-loop, which the summed graph drops and re-adds.
    lines = ["a b", "c", "a d", "b d"]
    spec = "complex::reflexive::item"
    model = ct.embed(lines, columns=spec, dim=8, iterations=2)
    graph = read_hypergraph(lines, spec).graph()
    assert model.state.entity_ids == graph.entity_ids
    before = model.state.adjacency.toarray()
    np.testing.assert_array_equal(before, graph.adjacency.toarray())
    update(model, added=[])
    np.testing.assert_array_equal(model.state.adjacency.toarray(), before)


def split(data_file, case, fraction, seed=0):
    """The rows of a data set: (kept, held out), a seeded random ``fraction`` held out, file order kept."""
    lines = data_file(case[0]).read_text().splitlines()
    held = np.zeros(len(lines), bool)
    held[np.random.default_rng(seed).permutation(len(lines))[: max(1, int(fraction * len(lines)))]] = True
    return [line for line, h in zip(lines, held) if not h], [line for line, h in zip(lines, held) if h]


def aligned(a, b):
    """The vectors of ``a``'s entities in ``a`` and in ``b`` (all must be in ``b``)."""
    rows = b.rows(a.entity_ids, a.types)
    assert (rows >= 0).all()
    return np.asarray(a.vectors), np.asarray(b.vectors)[rows]


def mean_cosine(a, b):
    x, y = aligned(a, b)
    return float(np.mean((x * y).sum(1) / np.linalg.norm(x, axis=1) / np.linalg.norm(y, axis=1)))


def unit(v):
    return v / np.linalg.norm(v)


def test_hand_computed_add_and_remove():
    model = updatable(["a\tb", "b\tc"], "node node", dim=8, iterations=3, whiten="none", tol=0)
    previous = dict(zip(model.state.entity_ids, np.asarray(model.state.previous)))
    with pytest.warns(DataWarning, match="1 entities lost their last row.*'a'"):
        new = update(model, added=["c\td"], removed=["a\tb"], steps=1)
    # W' = W + W(c-d) - W(a-b): the path b - c - d; a leaves, d is appended.
    assert new.entity_ids == ["b", "c", "d"]
    assert new.state.adjacency.toarray().tolist() == [[0, 1, 0], [1, 0, 1], [0, 1, 0]]
    assert new.degrees.tolist() == [1.0, 2.0, 1.0]
    assert new.occurrences.tolist() == [1, 2, 1]
    # d starts from its known neighbour's iterate (embed_new's step); then one step of D^-1 W.
    start_d = unit(previous["c"])
    vectors = np.asarray(new.vectors)
    np.testing.assert_allclose(vectors[0], unit(previous["c"]), atol=1e-6)
    np.testing.assert_allclose(vectors[1], unit(previous["b"] + start_d), atol=1e-6)
    np.testing.assert_allclose(vectors[2], unit(previous["c"]), atol=1e-6)
    np.testing.assert_allclose(np.asarray(new.state.previous)[2], start_d, atol=1e-6)


def test_unchanged_graph_reproduces_the_model(data_file):
    lines, _ = split(data_file, EGO, 0.0)
    model = updatable(lines, EGO[1], dim=32)
    # The model's last step, recomputed from its saved iterate: the warm start is where the run ended.
    again = update(model, added=[], steps=1)
    np.testing.assert_allclose(*aligned(again, model), atol=1e-5)


@pytest.mark.parametrize("case", [GROCERIES, EGO], ids=["groceries", "ego_facebook"])
def test_full_re_propagation_equals_a_full_embed(data_file, case):
    kept, held = split(data_file, case, 0.01)
    model = updatable(kept, case[1], dim=32)
    full = ct.embed(kept + held, columns=case[1], dim=32)
    restarted = update(model, added=held, start="initial", whitening="refit")
    assert sorted(restarted.entity_ids) == sorted(full.entity_ids)
    np.testing.assert_allclose(*aligned(restarted, full), atol=1e-4)
    np.testing.assert_array_equal(restarted.occurrences, full.occurrences[full.rows(restarted.entity_ids, restarted.types)])
    # The warm start: a few steps, close to the full run (benchmarks/TEMPORAL.md has the figures).
    assert mean_cosine(update(model, added=held), full) > 0.99


def test_event_log_sessions_spanning_old_and_new_rows(data_file):
    # One row per rating: most users of the added and removed rows have rows in the model too.
    case = ("movielens_100k/interactions.tsv", "transient::user item ignore::rating ignore::time")
    kept, held = split(data_file, case, 0.01)
    model = updatable(kept, case[1], dim=32)
    full = ct.embed(kept + held, columns=case[1], dim=32)
    np.testing.assert_allclose(*aligned(update(model, added=held, start="initial", whitening="refit"), full), atol=1e-4)
    assert mean_cosine(update(model, added=held), full) > 0.99


def test_only_removed_rows(data_file):
    kept, held = split(data_file, GROCERIES, 0.01)
    model = updatable(kept + held, GROCERIES[1], dim=32)
    rest = updatable(kept, GROCERIES[1], dim=32)
    shrunk = update(model, removed=held)
    assert mean_cosine(shrunk, rest) > 0.99
    restarted = update(model, removed=held, start="initial", whitening="refit")
    np.testing.assert_allclose(*aligned(restarted, rest), atol=1e-4)
    # Removing what was added gives back the graph (up to float32 rounding).
    assert len(shrunk.state.entity_ids) == len(rest.state.entity_ids)
    rows = EntityIndex(shrunk.state.entity_ids, shrunk.state.types).rows(rest.state.entity_ids, rest.state.types)
    assert abs(shrunk.state.adjacency[rows][:, rows] - rest.state.adjacency).max() < 1e-5


def test_removing_an_entitys_last_row(data_file):
    lines = data_file(GROCERIES[0]).read_text().splitlines()
    model = updatable(lines, GROCERIES[1], dim=32)
    rare = model.entity_ids[int(np.argmin(model.occurrences))]
    baskets = [line for line in lines if rare in line.split("\t")[1].split(" ")]
    with pytest.warns(DataWarning, match=f"lost their last row.*{rare}"):
        new = update(model, removed=baskets)
    # Exactly the items seen only in those baskets leave.
    elsewhere = {item for line in lines if line not in baskets for item in line.split("\t")[1].split(" ")}
    assert set(model.entity_ids) - set(new.entity_ids) == {i for i in model.entity_ids if i not in elsewhere}
    assert rare not in new.entity_ids


def test_removing_a_session_the_model_dropped_as_a_singleton():
    rows = ["u1\ta", "u1\tb", "u2\tc", "u3\ta", "u3\tc", "u4\tb", "u4\tc"]
    model = updatable(rows, "transient::user item", dim=8, iterations=2)
    assert "u2" not in model.state.entity_ids  # one item: left out of the graph
    for removed in (["u2\tc"], ["u1\ta"]):  # u1 is left with one item: it leaves the graph
        rest = [row for row in rows if row not in removed]
        full = ct.embed(rest, columns="transient::user item", dim=8, iterations=2)
        new = update(model, removed=removed, start="initial", whitening="refit")
        assert new.state.entity_ids == [i for i in ["u1", "u3", "u4", "a", "b", "c"] if i != "u1" or removed == ["u2\tc"]]
        np.testing.assert_allclose(*aligned(new, full), atol=1e-6)


def test_rows_not_in_the_model_are_refused():
    model = updatable(["a\tb", "b\tc"], "node node", dim=8, iterations=2)
    with pytest.raises(ValueError, match="removed: entity 'x'"):
        update(model, removed=["a\tx"])
    with pytest.raises(ValueError, match="more weight between"):
        update(model, removed=["a\tb", "a\tb"])
    with pytest.raises(ValueError, match="steps must be a positive int"):
        update(model, added=["c\td"], steps=0)
    with pytest.raises(ValueError, match="start must be"):
        update(model, added=["c\td"], start="cold")
    for walk in ({"directed": "out"}, {"attention": 1.0}):
        other = ct.embed(["a\tb", "b\tc"], columns="node node", dim=8, iterations=2, **walk)
        with pytest.raises(ValueError, match="attention or directed"):
            update(other, added=["c\td"])


def test_deterministic_whatever_the_threads(data_file):
    kept, held = split(data_file, EGO, 0.01)
    model = updatable(kept, EGO[1], dim=32)
    with pytest.warns(DataWarning, match="lost their last row"):  # ego 0's edges are the first rows
        one, two = (update(model, added=held[:400], removed=kept[:400], threads=t) for t in (1, 2))
    assert one.entity_ids == two.entity_ids
    np.testing.assert_array_equal(np.asarray(one.vectors), np.asarray(two.vectors))


def test_save_load_round_trip_and_update_again(tmp_path, data_file):
    kept, held = split(data_file, GROCERIES, 0.02)
    model = updatable(kept, GROCERIES[1], dim=32)
    model.save(tmp_path / "model.npz")
    loaded = ct.Embedding.load(tmp_path / "model.npz")
    assert (loaded.state.adjacency != model.state.adjacency).nnz == 0
    first = update(loaded, added=held[: len(held) // 2])
    np.testing.assert_array_equal(np.asarray(first.vectors), np.asarray(update(model, added=held[: len(held) // 2]).vectors))
    first.save(tmp_path / "first.npz")
    second = update(ct.Embedding.load(tmp_path / "first.npz"), added=held[len(held) // 2 :])
    assert mean_cosine(second, ct.embed(kept + held, columns=GROCERIES[1], dim=32)) > 0.99


def test_old_model_files_load_but_cannot_be_updated(tmp_path):
    model = ct.embed(["a\tb", "b\tc"], columns="node node", dim=8, iterations=2)
    old = dataclasses.replace(model, state=dataclasses.replace(model.state, adjacency=None))
    old.save(tmp_path / "old.npz")
    loaded = ct.Embedding.load(tmp_path / "old.npz")
    assert loaded.state is not None and loaded.state.adjacency is None
    with pytest.raises(ValueError, match=r"no graph \(adjacency; state_adjacency_\* in .npz files\)"):
        update(loaded, added=["c\td"])


def test_cli_update(tmp_path, capsys):
    updatable(["a\tb", "b\tc", "c\ta"], "node node", dim=8, iterations=2).save(tmp_path / "model.npz")
    (tmp_path / "add.tsv").write_text("c\td\n")
    (tmp_path / "remove.tsv").write_text("c\ta\n")
    out = tmp_path / "new.npz"
    argv = ["update", str(tmp_path / "model.npz"), "--add", str(tmp_path / "add.tsv"), "--remove", str(tmp_path / "remove.tsv")]
    assert main([*argv, "-o", str(out)]) == 0
    assert "wrote 4 vectors" in capsys.readouterr().err
    assert ct.Embedding.load(out).entity_ids == ["a", "b", "c", "d"]
    assert main(["update", str(tmp_path / "model.npz"), "-o", str(tmp_path / "x.npz")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "give --add FILE" in err and not (tmp_path / "x.npz").exists()
    assert main([*argv[:2], "--add", str(tmp_path / "missing.tsv"), "-o", str(tmp_path / "y.npz")]) == 2
    assert "missing.tsv" in capsys.readouterr().err and not (tmp_path / "y.npz").exists()
