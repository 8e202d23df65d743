import pytest

from cleora_tensor import ColumnSpecError, parse_columns


def test_plain_pair_is_one_relation():
    spec = parse_columns("user item")
    assert [r.name for r in spec.relations] == ["user__item"]
    assert spec.output_types == ("user", "item")
    assert spec.n_columns == 2


def test_same_type_columns_share_one_type():
    spec = parse_columns("node node")
    assert spec.entity_types == ("node",)
    assert [(r.left.index, r.right.index) for r in spec.relations] == [(0, 1)]


def test_clique_and_star_expansions():
    clique = parse_columns("complex::reflexive::item")
    assert [(r.left.index, r.right.index, r.reflexive) for r in clique.relations] == [(0, 0, True)]
    star = parse_columns("transient::basket complex::item")
    assert star.output_types == ("item",)
    assert star.entity_types == ("basket", "item")
    assert star.columns[1].complex and not star.columns[1].reflexive


def test_relation_order_and_transient_pairs():
    spec = parse_columns("transient::a transient::b complex::reflexive::c d")
    # (a, b) is skipped: both transient; reflexive (c, c) comes before (c, d).
    assert [r.name for r in spec.relations] == ["a__c", "a__d", "b__c", "b__d", "c__c", "c__d"]


def test_weight_and_ignore_columns_are_not_entities():
    spec = parse_columns("user item weight::rating ignore::timestamp")
    assert spec.weight_column.index == 2
    assert [c.is_entity for c in spec.columns] == [True, True, False, False]
    assert [r.name for r in spec.relations] == ["user__item"]


def test_duplicate_relation_names_get_column_suffix():
    spec = parse_columns("user item item")
    assert [r.name for r in spec.relations] == ["user__item__c0_c1", "user__item__c0_c2", "item__item"]


def test_whitespace_is_normalized():
    assert parse_columns("  a \t b\n").spec == "a b"


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("", "empty"),
        ("a bogus::b", "unknown modifier 'bogus'"),
        ("reflexive::a b", "'reflexive' requires 'complex'"),
        ("complex::reflexive::transient::a b", "cannot be combined with 'transient'"),
        ("a complex::", "empty type"),
        ("complex::complex::a b", "repeats a modifier"),
        ("a", "no relation left"),
        ("transient::a transient::b", "no relation left"),
        ("a b weight::w weight::v", "at most one 'weight::'"),
        ("a weight::complex::w", "cannot be combined"),
    ],
)
def test_invalid_specs_raise_clear_errors(spec, fragment):
    with pytest.raises(ColumnSpecError, match=fragment.replace("(", r"\(")) as info:
        parse_columns(spec)
    assert isinstance(info.value, ValueError)


def test_unknown_relation_name_lists_the_names():
    with pytest.raises(KeyError, match="user__item"):
        parse_columns("user item").relation("nope")
