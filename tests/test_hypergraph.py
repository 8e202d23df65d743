"""Graph construction, checked against weights computed by hand (DESIGN section 3)."""

import numpy as np
import pytest

from cleora_tensor import DataWarning, read_hypergraph, transition_matrix


def dense(graph):
    """{(id_a, id_b): weight} of the graph's adjacency."""
    ids = graph.entity_ids
    w = graph.adjacency.toarray()
    return {(ids[i], ids[j]): float(w[i, j]) for i, j in zip(*np.nonzero(w))}


def build(lines, columns, **options):
    return read_hypergraph(iter(lines), columns).graph(**options)


def test_plain_relation_adds_weight_both_ways():
    g = build(["a\tb", "b\tc", "a\tb"], "node node")
    assert g.entity_ids == ["a", "b", "c"]
    assert dense(g) == {("a", "b"): 2.0, ("b", "a"): 2.0, ("b", "c"): 1.0, ("c", "b"): 1.0}
    np.testing.assert_array_equal(g.degrees, [2.0, 3.0, 1.0])
    np.testing.assert_array_equal(g.occurrences, [2, 3, 1])


def test_different_types_never_share_entities():
    g = build(["1\t1", "2\t1"], "user item")
    assert g.entity_ids == ["1", "2", "1"]
    assert list(g.types) == ["user", "user", "item"]
    assert g.adjacency.toarray()[0, 0] == 0.0  # user 1 and item 1 are different entities


def test_complex_cell_splits_weight_and_counts_duplicates():
    # Row u1: |A| = 1, |B| = 3 ids (i2 twice) -> each pair adds 1/3.
    g = build(["u1\ti1 i2 i2"], "user complex::item")
    w = dense(g)
    assert w[("u1", "i1")] == pytest.approx(1 / 3)
    assert w[("u1", "i2")] == pytest.approx(2 / 3)
    assert w[("i2", "u1")] == pytest.approx(2 / 3)
    assert ("i1", "i2") not in w  # not reflexive: no item-item edges


def test_reflexive_clique_expansion_includes_self_pairs():
    # Every ordered pair of the 3-id basket adds 1/9 to W[a, b] and to W[b, a].
    g = build(["x y z"], "complex::reflexive::item")
    w = g.adjacency.toarray()
    np.testing.assert_allclose(w, np.full((3, 3), 2 / 9), rtol=1e-6)


def test_star_expansion_through_transient_column():
    g = build(["b1\tx y", "b2\ty"], "transient::basket complex::item", singletons="keep")
    assert g.entity_ids == ["b1", "b2", "x", "y"]
    assert list(g.output) == [False, False, True, True]
    w = dense(g)
    assert w[("b1", "x")] == pytest.approx(0.5) and w[("b2", "y")] == pytest.approx(1.0)


def test_singletons_are_left_out_and_lone_entities_kept_with_a_self_loop():
    rows = ["b1\ta", "b2\ta b c", "b3\td", "b4\tb c"]
    spec = "transient::basket complex::reflexive::item"
    kept = build(rows, spec, singletons="keep")
    # b1 and b3 relate one item each: a self-pair (weight 2 x 1) and a basket that leads straight back.
    assert dense(kept)[("a", "a")] == pytest.approx(2 + 2 / 9) and dense(kept)[("b1", "a")] == 1.0
    g = build(rows, spec)
    assert g.entity_ids == ["b2", "b4", "a", "b", "c", "d"]
    assert (g.singleton_cells, g.leaf_connectors, g.lone) == (2, 2, 1)
    w = dense(g)
    # What is left is b2's and b4's expansion: a keeps only the self-pair of the 3-item basket.
    assert w[("a", "a")] == pytest.approx(2 / 9) and w[("a", "b2")] == pytest.approx(1 / 3)
    assert w[("b", "c")] == pytest.approx(2 / 9 + 2 / 4) and w[("b", "b4")] == pytest.approx(1 / 2)
    # d was only ever seen alone: kept, its only edge a unit self-loop, its occurrence counted.
    assert {k: v for k, v in w.items() if "d" in k} == {("d", "d"): 1.0}
    assert g.occurrences[g.entity_ids.index("d")] == 1
    np.testing.assert_allclose(g.degrees, g.adjacency.sum(axis=1), rtol=1e-6)


def test_singletons_of_an_event_log_and_of_a_lone_reflexive_column():
    # One event per row: a session with a single event is a leaf of its item.
    g = build(["s1\ta", "s2\ta", "s2\tb", "s3\tb"], "transient::session item")
    assert g.entity_ids == ["s2", "a", "b"] and (g.singleton_cells, g.leaf_connectors, g.lone) == (0, 2, 0)
    # Without a transient column, a one-item cell is only its self-pair.
    g = build(["a", "a b", "c"], "complex::reflexive::item")
    assert (g.singleton_cells, g.leaf_connectors, g.lone) == (2, 0, 1)
    w = dense(g)
    assert w[("a", "a")] == pytest.approx(2 / 4) and w[("c", "c")] == 1.0
    with pytest.raises(ValueError, match="singletons must be"):
        build(["a b"], "complex::reflexive::item", singletons="yes")


def test_weight_column_multiplies_row_weights():
    g = build(["u\ta b\t3", "u\ta\t0.5"], "user complex::item weight::rating")
    w = dense(g)
    assert w[("u", "a")] == pytest.approx(3 / 2 + 0.5)
    assert w[("u", "b")] == pytest.approx(3 / 2)


def test_zero_weight_rows_leave_entities_out():
    g = build(["u\ta\t1", "v\tb\t0"], "user item weight::w")
    assert g.entity_ids == ["u", "a"]


def test_joint_graph_sums_relations_with_equal_row_mass():
    # Relation user-item gives the row mass 2 (1/2 to each of 2 pairs, both ways);
    # the reflexive item-item relation also 2 (4 ordered pairs x 1/4, both ways).
    g = build(["u\ta b"], "user complex::reflexive::item")
    w = dense(g)
    assert w[("u", "a")] == pytest.approx(0.5)
    assert w[("a", "b")] == pytest.approx(0.5)
    assert w[("a", "a")] == pytest.approx(0.5)
    assert sum(w.values()) == pytest.approx(4.0)


def test_pairwise_graphs_one_per_relation():
    hg = read_hypergraph(iter(["u1\ti1\ts1", "u2\ti1\ts2"]), "user item store")
    graphs = hg.graphs("pairwise")
    assert [g.name for g in graphs] == ["user__item", "user__store", "item__store"]
    assert graphs[0].entity_ids == ["u1", "u2", "i1"]
    assert graphs[2].entity_ids == ["i1", "s1", "s2"]


def test_vocabulary_is_row_major_first_occurrence_type_by_type():
    hg = read_hypergraph(iter(["b\ta\tx", "c\tb\ty"]), "node node tag")
    assert hg.vocabulary.ids.to_pylist() == ["b", "a", "c", "x", "y"]
    assert hg.vocabulary.type_names == ("node", "tag")


def test_empty_cells_make_no_edges_and_isolated_entities_are_left_out():
    hg = read_hypergraph(iter(["u\t", "v\tw"]), "user complex::item")
    g = hg.graph()
    assert g.entity_ids == ["v", "w"]
    assert hg.table_stats["empty_ids"] == 1  # the empty cell is reported


def test_clique_guard_truncates_and_reports():
    with pytest.warns(DataWarning, match="1 cells .* cut to their first 2 ids .*3 ids"):
        g = build(["a b c d e"], "complex::reflexive::item", max_cell_size=2)
    assert g.entity_ids == ["a", "b"]
    assert (g.truncated_cells, g.truncated_ids) == (1, 3)
    np.testing.assert_allclose(g.adjacency.toarray(), np.full((2, 2), 0.5))


def test_clique_guard_leaves_linear_relations_alone():
    g = build(["u\ta b c d e"], "user complex::item", max_cell_size=2)
    assert len(g.entity_ids) == 6 and g.truncated_cells == 0


def test_markov_rows_sum_to_one():
    g = build(["u\ta b c", "v\ta", "u\tc"], "user complex::item")
    left = transition_matrix(g, "left")
    np.testing.assert_allclose(left.sum(axis=1), 1.0, rtol=1e-6)
    sym = transition_matrix(g, "symmetric").toarray()
    np.testing.assert_allclose(sym, sym.T, rtol=1e-6)


def test_groceries_star_expansion(data_file):
    hg = read_hypergraph(data_file("groceries/baskets.tsv"), "transient::basket complex::item")
    g = hg.graph(singletons="keep")
    assert int(g.output.sum()) == 169
    assert g.num_entities == 169 + 9835
    # 2159 baskets hold one item: left out by default, their items still embedded.
    dropped = hg.graph()
    assert (dropped.leaf_connectors, dropped.lone, dropped.num_entities) == (2159, 0, g.num_entities - 2159)
    # Every basket row spreads weight 1 over its items: basket degrees are 1.
    basket_degrees = g.degrees[~g.output]
    np.testing.assert_allclose(basket_degrees, 1.0)
