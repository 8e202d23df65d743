"""Column specification: which columns hold which entities, and the relations they form.

A specification names each input column, left to right, as whitespace-separated
tokens ``[modifier::]*type`` (the ``--columns`` grammar of Cleora and pycleora):

============  ==============================================================
modifier      meaning
============  ==============================================================
(none)        the cell holds one entity id
``complex``   the cell holds several ids separated by single spaces
``reflexive`` the column is also related to itself (clique expansion);
              requires ``complex``
``transient`` the column builds edges but its entities are not output;
              not with ``reflexive``
``weight``    extension: the cell holds a non-negative float multiplying the
              row's edge weights (``weight::rating``); not an entity column
``ignore``    extension: the column is read and skipped (``ignore::timestamp``)
``time``      extension: the cell holds the row's time, Unix seconds or
              ISO-8601 (``time::ts``); never embedded, it orders and groups
              the rows (:mod:`cleora_tensor.temporal`)
============  ==============================================================

Columns with the same type share one id space; different types never share
entities. Every pair of entity columns ``i < j`` that are not both transient is a
relation, and every reflexive column ``i`` adds the relation ``(i, i)``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ColumnSpecError

__all__ = ["Column", "ColumnSpec", "Relation", "parse_columns"]

_ENTITY_MODIFIERS = ("complex", "reflexive", "transient")
_KIND_MODIFIERS = ("weight", "ignore", "time")


@dataclass(frozen=True)
class Column:
    """One input column of a :class:`ColumnSpec`.

    Attributes
    ----------
    index : int
        0-based position in the input row.
    type : str
        Entity type (for ``weight``/``ignore`` columns, the label after ``::``).
    kind : {"entity", "weight", "ignore", "time"}
        What the cell holds.
    complex, reflexive, transient : bool
        The modifiers of an entity column.
    """

    index: int
    type: str
    kind: str = "entity"
    complex: bool = False
    reflexive: bool = False
    transient: bool = False

    @property
    def is_entity(self) -> bool:
        """Whether the column holds entity ids."""
        return self.kind == "entity"

    def __str__(self) -> str:
        modifiers = [m for m in _ENTITY_MODIFIERS if getattr(self, m)]
        if self.kind != "entity":
            modifiers = [self.kind]
        return "::".join([*modifiers, self.type])


@dataclass(frozen=True)
class Relation:
    """A pair of entity columns whose cells are linked row by row.

    Attributes
    ----------
    left, right : Column
        The two columns (``left is right`` for a reflexive relation).
    name : str
        ``"<typeA>__<typeB>"``, suffixed with the column positions
        (``"__c0_c2"``) when two relations join the same pair of types.
    """

    left: Column
    right: Column
    name: str

    @property
    def reflexive(self) -> bool:
        """Whether the relation links a column to itself (clique expansion)."""
        return self.left.index == self.right.index


@dataclass(frozen=True)
class ColumnSpec:
    """A parsed column specification; build it with :func:`parse_columns`.

    Attributes
    ----------
    spec : str
        The specification string, normalized to single spaces.
    columns : tuple of Column
        One per input column, in input order.
    relations : tuple of Relation
        Relations in a fixed order: for each column ``i`` left to right, its
        reflexive relation ``(i, i)`` then ``(i, j)`` for ``j > i``.
    """

    spec: str
    columns: tuple[Column, ...]
    relations: tuple[Relation, ...]

    @property
    def n_columns(self) -> int:
        """Number of input columns a row must have."""
        return len(self.columns)

    @property
    def entity_types(self) -> tuple[str, ...]:
        """Entity types in order of first appearance."""
        return tuple(dict.fromkeys(c.type for c in self.columns if c.is_entity))

    @property
    def output_types(self) -> tuple[str, ...]:
        """Entity types that get vectors: those with a non-transient column."""
        return tuple(
            dict.fromkeys(c.type for c in self.columns if c.is_entity and not c.transient)
        )

    @property
    def weight_column(self) -> Column | None:
        """The ``weight::`` column, if any."""
        return next((c for c in self.columns if c.kind == "weight"), None)

    @property
    def time_column(self) -> Column | None:
        """The ``time::`` column, if any."""
        return next((c for c in self.columns if c.kind == "time"), None)

    def relation(self, name: str) -> Relation:
        """Look up a relation by name.

        Raises
        ------
        KeyError
            If no relation has that name; the message lists the names.
        """
        for relation in self.relations:
            if relation.name == name:
                return relation
        names = ", ".join(r.name for r in self.relations)
        raise KeyError(f"no relation {name!r}; relations are: {names}")

    def __str__(self) -> str:
        return self.spec


def _parse_token(spec: str, index: int, token: str) -> Column:
    *modifiers, type_ = token.split("::")
    if not type_:
        raise ColumnSpecError(spec, f"column {index + 1} ({token!r}) has an empty type")
    for modifier in modifiers:
        if modifier not in _ENTITY_MODIFIERS + _KIND_MODIFIERS:
            known = ", ".join(_ENTITY_MODIFIERS + _KIND_MODIFIERS)
            raise ColumnSpecError(
                spec,
                f"column {index + 1} ({token!r}) has unknown modifier {modifier!r}; "
                f"known modifiers: {known}",
            )
    if len(set(modifiers)) != len(modifiers):
        raise ColumnSpecError(spec, f"column {index + 1} ({token!r}) repeats a modifier")
    kinds = [m for m in modifiers if m in _KIND_MODIFIERS]
    if kinds:
        if len(modifiers) > 1:
            raise ColumnSpecError(
                spec,
                f"column {index + 1} ({token!r}): {kinds[0]!r} cannot be combined "
                "with other modifiers",
            )
        return Column(index=index, type=type_, kind=kinds[0])
    flags = {m: True for m in modifiers}
    if flags.get("reflexive") and not flags.get("complex"):
        raise ColumnSpecError(
            spec, f"column {index + 1} ({token!r}): 'reflexive' requires 'complex'"
        )
    if flags.get("reflexive") and flags.get("transient"):
        raise ColumnSpecError(
            spec,
            f"column {index + 1} ({token!r}): 'reflexive' cannot be combined with "
            "'transient' (a transient column's entities are not embedded)",
        )
    return Column(index=index, type=type_, **flags)


def _relations(columns: tuple[Column, ...]) -> tuple[Relation, ...]:
    entity_columns = [c for c in columns if c.is_entity]
    pairs = []
    for i, left in enumerate(entity_columns):
        if left.reflexive:
            pairs.append((left, left))
        for right in entity_columns[i + 1 :]:
            if not (left.transient and right.transient):
                pairs.append((left, right))
    base = [f"{a.type}__{b.type}" for a, b in pairs]
    return tuple(
        Relation(
            a, b, name if base.count(name) == 1 else f"{name}__c{a.index}_c{b.index}"
        )
        for (a, b), name in zip(pairs, base)
    )


def parse_columns(spec: str | ColumnSpec) -> ColumnSpec:
    """Parse a column specification string.

    Parameters
    ----------
    spec : str or ColumnSpec
        Whitespace-separated column tokens ``[modifier::]*type``, e.g.
        ``"transient::basket complex::reflexive::item"``. A :class:`ColumnSpec`
        is returned unchanged.

    Returns
    -------
    ColumnSpec

    Raises
    ------
    ColumnSpecError
        On an unknown or repeated modifier, ``reflexive`` without ``complex``,
        ``reflexive`` with ``transient``, an empty type, more than one ``weight``
        or ``time`` column, or a specification that yields no relation. The message names
        the offending column.

    Notes
    -----
    Mirrors the column grammar of Cleora 1.x and pycleora 3.2.1; ``weight``,
    ``ignore`` and ``time`` are extensions, and so are several relations per specification
    (pycleora accepts exactly one): every pair of entity columns that are not
    both transient, and every reflexive column, is a relation (see
    :attr:`ColumnSpec.relations`).

    Examples
    --------
    >>> spec = parse_columns("transient::basket complex::item")
    >>> [r.name for r in spec.relations]
    ['basket__item']
    >>> spec.output_types
    ('item',)
    """
    if isinstance(spec, ColumnSpec):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"columns must be a str, got {type(spec).__name__}")
    tokens = spec.split()
    normalized = " ".join(tokens)
    if not tokens:
        raise ColumnSpecError(spec, "it is empty; name one token per input column")
    columns = tuple(_parse_token(normalized, i, t) for i, t in enumerate(tokens))
    for kind in ("weight", "time"):
        if sum(c.kind == kind for c in columns) > 1:
            raise ColumnSpecError(normalized, f"at most one '{kind}::' column is allowed")
    relations = _relations(columns)
    if not relations:
        raise ColumnSpecError(
            normalized,
            "no relation left: give two entity columns that are not both transient, "
            "or one 'complex::reflexive::' column",
        )
    return ColumnSpec(spec=normalized, columns=columns, relations=relations)
