"""Compile a selection on a registry type into PostgreSQL JSON.

``compile_object`` turns the fields selected on one row of a registry type into
a ``json_build_object`` over that row, plus the LATERAL subqueries its
relations need (members, assistance, region, household), plus expressions for
the ids of the households and persons the object discloses. Everything is
built inside PostgreSQL; no row becomes a Python object.

Every relation reads its rows through ``policies.readable_rows``, so a nested
object is subject to its own entity's row scope, and every field goes through
``policies.field_expression``, so masked fields are masked in SQL.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import count
from typing import Any

from graphql import FragmentDefinitionNode, SelectionSetNode
from sqlalchemy import Integer, Text, cast, func, literal_column, select, true
from sqlalchemy.dialects.postgresql import JSON, aggregate_order_by, array
from sqlalchemy.sql import ColumnElement, FromClause
from sqlalchemy.sql.selectable import LateralFromClause as Lateral

from db.catalog import CATALOG, Attribute, Kind
from errors import Forbidden
from policies import (
    Entity,
    FieldMode,
    Program,
    field_expression,
    home_of_visible_person,
    readable_rows,
)
from schema.compiler.selection import Collected, collect_fields, sub_selections

JSON_PAIRS_PER_CALL = 50
"""PostgreSQL functions take at most 100 arguments: 50 key/value pairs."""

EMPTY_IDS: ColumnElement[Any] = literal_column("'{}'::bigint[]")
EMPTY_LIST: ColumnElement[Any] = literal_column("'[]'::json")
_NAME = re.compile(r"^[_A-Za-z][_0-9A-Za-z]*$")

ROW_ENTITIES = {"Household": Entity.HOUSEHOLD, "Person": Entity.PERSON}


def json_key(name: str) -> ColumnElement[Any]:
    """A response key as an SQL string literal (GraphQL names cannot hold quotes)."""
    if not _NAME.match(name):
        raise ValueError("not a GraphQL name")
    return literal_column(f"'{name}'")


def build_object(pairs: Sequence[tuple[str, ColumnElement[Any]]]) -> ColumnElement[Any]:
    """``json_build_object`` over any number of pairs, keeping their order."""
    chunks = [pairs[i : i + JSON_PAIRS_PER_CALL] for i in range(0, len(pairs), JSON_PAIRS_PER_CALL)]
    if not chunks:
        return literal_column("'{}'::json")
    parts = [
        func.json_build_object(*[item for key, value in chunk for item in (json_key(key), value)])
        for chunk in chunks
    ]
    if len(parts) == 1:
        return parts[0]
    text: ColumnElement[Any] = func.left(cast(parts[0], Text), -1)
    for part in parts[1:]:
        text = text.op("||")(literal_column("','")).op("||")(func.right(cast(part, Text), -1))
    return cast(text, JSON)


@dataclass
class Disclosed:
    """How to compute, per row, the ids of one entity that the row discloses.

    ``own`` are scalar id columns of the row itself; ``nested`` are ``bigint[]``
    expressions coming from its relations.
    """

    own: list[ColumnElement[Any]] = field(default_factory=list)
    nested: list[ColumnElement[Any]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.own or self.nested)

    def add_own(self, column: ColumnElement[Any]) -> None:
        """Add an id column of the row, once (a row's ``id`` and its cursor name one row)."""
        if not any(known is column for known in self.own):
            self.own.append(column)

    def row_array(self) -> ColumnElement[Any]:
        """The row's ids as one ``bigint[]``."""
        parts = ([array(self.own)] if self.own else []) + self.nested
        if not parts:
            return EMPTY_IDS
        result = parts[0]
        for part in parts[1:]:
            result = result.op("||")(part)
        return result

    def aggregate(self) -> ColumnElement[Any]:
        """All rows' ids as one ``bigint[]`` (inside an aggregate query)."""
        if len(self.own) == 1 and not self.nested:
            return func.array_agg(self.own[0])
        return func.regsosek_array_cat_agg(self.row_array())


@dataclass
class IdSets:
    """The household and person ids a row discloses."""

    households: Disclosed = field(default_factory=Disclosed)
    persons: Disclosed = field(default_factory=Disclosed)

    def of(self, type_name: str) -> Disclosed:
        """The ids of ``Household`` or ``Person`` rows."""
        return self.households if type_name == "Household" else self.persons

    def extend(self, other: IdSets) -> None:
        for mine, theirs in ((self.households, other.households), (self.persons, other.persons)):
            for column in theirs.own:
                mine.add_own(column)
            mine.nested.extend(theirs.nested)


@dataclass
class ObjectSQL:
    """The JSON of one object, the laterals it needs on its source, and what it discloses."""

    json: ColumnElement[Any]
    laterals: list[Lateral]
    ids: IdSets


@dataclass
class CompileContext:
    program: Program
    pseudonym_key: bytes
    fragments: Mapping[str, FragmentDefinitionNode]
    variables: Mapping[str, Any]
    key_by_field_name: bool = False
    field_paths: set[str] = field(default_factory=set)
    cursors: bool = False
    """Whether the statement writes cursor placeholders (to be sealed in its JSON)."""
    _counter: count[int] = field(default_factory=count)

    def alias(self, prefix: str) -> str:
        return f"{prefix}{next(self._counter)}"

    def collect(
        self, type_name: str, selection_sets: tuple[SelectionSetNode, ...]
    ) -> list[Collected]:
        return collect_fields(
            type_name=type_name,
            selection_sets=selection_sets,
            fragments=self.fragments,
            variables=self.variables,
            key_by_field_name=self.key_by_field_name,
        )

    def mode(self, type_name: str, field_name: str) -> FieldMode:
        if CATALOG[type_name].public:
            return FieldMode.FULL
        mode = self.program.mode(type_name, field_name)
        if mode is FieldMode.DENIED:
            # The program's schema has no such field, so validation stops this
            # first; this is the second lock on the same door.
            raise Forbidden("The operation selects a field your program may not read.")
        return mode


def compile_object(
    ctx: CompileContext,
    *,
    type_name: str,
    source: FromClause,
    selection_sets: tuple[SelectionSetNode, ...],
    path: str,
) -> ObjectSQL:
    """The JSON of the fields selected on one ``type_name`` row of ``source``."""
    entity = CATALOG[type_name]
    pairs: list[tuple[str, ColumnElement[Any]]] = []
    laterals: list[Lateral] = []
    ids = IdSets()
    if type_name in ROW_ENTITIES:
        ids.of(type_name).add_own(source.c.id)

    for selected in ctx.collect(type_name, selection_sets):
        name = selected.field_name
        if name == "__typename":
            pairs.append((selected.response_key, literal_column(f"'{type_name}'")))
            continue
        attribute = entity.attributes[name]
        mode = ctx.mode(type_name, name)
        field_path = f"{path}.{name}"
        if attribute.kind is Kind.SCALAR:
            pairs.append((selected.response_key, _scalar(ctx, attribute, source, mode, type_name)))
            ctx.field_paths.add(field_path if mode is FieldMode.FULL else f"{field_path}[{mode}]")
        elif attribute.kind is Kind.OBJECT:
            assert attribute.target is not None
            nested = compile_object(
                ctx,
                type_name=attribute.target,
                source=source,
                selection_sets=sub_selections(selected),
                path=field_path,
            )
            pairs.append((selected.response_key, nested.json))
        else:
            relation = _relation(ctx, attribute, source, sub_selections(selected), field_path)
            laterals.append(relation.lateral)
            pairs.append((selected.response_key, relation.lateral.c.j))
            ids.extend(relation.ids)
    return ObjectSQL(json=build_object(pairs), laterals=laterals, ids=ids)


def _scalar(
    ctx: CompileContext,
    attribute: Attribute,
    source: FromClause,
    mode: FieldMode,
    type_name: str,
) -> ColumnElement[Any]:
    if attribute.name == "id":
        return cast(source.c.id, Text)
    if type_name == "Person" and attribute.name == "age":
        return cast(
            func.date_part("year", func.age(func.current_date(), source.c.birth_date)), Integer
        )
    assert attribute.column is not None, f"{type_name}.{attribute.name} has no column"
    return field_expression(
        attribute=attribute,
        mode=mode,
        column=source.c[attribute.column],
        program=ctx.program,
        pseudonym_key=ctx.pseudonym_key,
    )


@dataclass
class RelationSQL:
    lateral: Lateral
    """A LATERAL subquery with a ``j`` column (the JSON) and ``hids``/``pids`` columns."""
    ids: IdSets


def with_laterals(source: FromClause, laterals: Sequence[Lateral]) -> FromClause:
    joined: FromClause = source
    for lateral in laterals:
        joined = joined.outerjoin(lateral, true())
    return joined


def _relation(
    ctx: CompileContext,
    attribute: Attribute,
    source: FromClause,
    selection_sets: tuple[SelectionSetNode, ...],
    path: str,
) -> RelationSQL:
    target = attribute.target
    assert target is not None
    if target == "Region":
        return _region(ctx, attribute, source, selection_sets, path)
    if target == "Person":
        rows = readable_rows(
            Entity.PERSON, program=ctx.program, name=ctx.alias("p"), parent_visible=True
        )
        link = rows.table.c.household_id == source.c.id
        return _list_relation(
            ctx,
            type_name="Person",
            rows_table=rows.table,
            where=[link, rows.predicate],
            order=[rows.table.c.member_no],
            selection_sets=selection_sets,
            path=path,
        )
    if target == "Assistance":
        rows = readable_rows(
            Entity.ASSISTANCE, program=ctx.program, name=ctx.alias("a"), parent_visible=True
        )
        table = rows.table
        return _list_relation(
            ctx,
            type_name="Assistance",
            rows_table=table,
            where=[table.c.household_id == source.c.id, rows.predicate],
            order=[table.c.year, table.c.month, table.c.program],
            selection_sets=selection_sets,
            path=path,
        )
    if target == "Household":
        rows = readable_rows(Entity.HOUSEHOLD, program=ctx.program, name=ctx.alias("hh"))
        obj = compile_object(
            ctx,
            type_name="Household",
            source=rows.table,
            selection_sets=selection_sets,
            path=path,
        )
        lateral = (
            select(
                obj.json.label("j"),
                obj.ids.households.row_array().label("hids"),
                obj.ids.persons.row_array().label("pids"),
            )
            .select_from(with_laterals(rows.table, obj.laterals))
            .where(rows.table.c.id == source.c.household_id, rows.predicate)
            .lateral(ctx.alias("rel"))
        )
        return RelationSQL(lateral, _lateral_ids(lateral, obj.ids))
    raise ValueError(f"no relation to {target}")


def _lateral_ids(lateral: Lateral, inner: IdSets) -> IdSets:
    """The ids a lateral's rows disclose, as seen from the row it hangs on."""
    ids = IdSets()
    if inner.households:
        ids.households.nested.append(func.coalesce(lateral.c.hids, EMPTY_IDS))
    if inner.persons:
        ids.persons.nested.append(func.coalesce(lateral.c.pids, EMPTY_IDS))
    return ids


def _list_relation(
    ctx: CompileContext,
    *,
    type_name: str,
    rows_table: FromClause,
    where: list[ColumnElement[bool]],
    order: list[ColumnElement[Any]],
    selection_sets: tuple[SelectionSetNode, ...],
    path: str,
) -> RelationSQL:
    obj = compile_object(
        ctx, type_name=type_name, source=rows_table, selection_sets=selection_sets, path=path
    )
    columns = [
        func.coalesce(func.json_agg(aggregate_order_by(obj.json, *order)), EMPTY_LIST).label("j")
    ]
    if obj.ids.households:
        columns.append(obj.ids.households.aggregate().label("hids"))
    if obj.ids.persons:
        columns.append(obj.ids.persons.aggregate().label("pids"))
    lateral = (
        select(*columns)
        .select_from(with_laterals(rows_table, obj.laterals))
        .where(*where)
        .lateral(ctx.alias("rel"))
    )
    return RelationSQL(lateral, _lateral_ids(lateral, obj.ids))


def _region(
    ctx: CompileContext,
    attribute: Attribute,
    source: FromClause,
    selection_sets: tuple[SelectionSetNode, ...],
    path: str,
) -> RelationSQL:
    from db.models import Region

    regions = Region.__table__.alias(ctx.alias("r"))
    origin: FromClause = regions
    if attribute.name == "parent":
        where = [regions.c.code == source.c.parent_code]
    elif "desa_code" in source.c:
        where = [regions.c.code == source.c.desa_code]
    else:
        # A person's region is their household's desa: read through the
        # household of the visible person (its row scope holds in PostgreSQL
        # too), taking nothing from it but the desa code.
        home = home_of_visible_person(program=ctx.program, name=ctx.alias("home"))
        origin = home.table.join(regions, regions.c.code == home.table.c.desa_code)
        where = [home.table.c.id == source.c.household_id, home.predicate]
    obj = compile_object(
        ctx, type_name="Region", source=regions, selection_sets=selection_sets, path=path
    )
    lateral = (
        select(obj.json.label("j"))
        .select_from(with_laterals(origin, obj.laterals))
        .where(*where)
        .lateral(ctx.alias("rel"))
    )
    return RelationSQL(lateral, IdSets())
