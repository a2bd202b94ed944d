"""One SQL statement per root field.

Each root compiler has two halves. ``prepare`` runs on every request: it checks
the arguments (values, bounds, what the program may filter or sort on, the
``after`` cursor) and returns the *shape* of the SQL (a cache key), the values
to bind and, for a connection, the scope its cursors are sealed in. ``build``
runs only when that shape has not been compiled yet, and returns a statement
``SELECT data::text, household_ids, person_ids``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import (
    BigInteger,
    String,
    Text,
    bindparam,
    cast,
    exists,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.sql import ColumnElement, Select

from db.enums import RegionLevel
from db.models import Region
from db.models.base import pg_enum
from errors import BadInput, Forbidden
from policies import Entity, Program, home_of_visible_person, readable_rows
from schema.compiler.connections import (
    connection_statement,
    keyset_page,
    keyset_params,
    page_size,
    registry_rows,
    rows_before,
)
from schema.compiler.cursors import HOUSEHOLD_ORDERINGS, PERSON_ORDERING
from schema.compiler.filters import (
    PlannedFilter,
    household_predicates,
    parse_id,
    person_predicates,
    plan_household_filter,
    plan_person_filter,
)
from schema.compiler.objects import (
    EMPTY_IDS,
    EMPTY_LIST,
    CompileContext,
    compile_object,
    with_laterals,
)
from schema.compiler.selection import Collected, sub_selections
from schema.sealed_cursors import CursorScope, ProgramCursorKeys

DEFAULT_FIRST = 50


@dataclass(frozen=True)
class Prepared:
    """A root field's checked arguments: the SQL's shape and the values to bind."""

    shape: tuple[Any, ...]
    params: dict[str, Any] = field(default_factory=dict)
    empty: bool = False
    """Answer ``null`` without asking the database (an id that cannot exist)."""
    cursors: CursorScope | None = None
    """A connection's cursors: sealed in the statement's JSON, and ``after`` opened."""

    def finish(self, text: str) -> str:
        """The statement's JSON text as it may leave: its cursor placeholders sealed."""
        return text if self.cursors is None else self.cursors.seal_marked(text)


class RootCompiler(Protocol):
    def prepare(
        self, args: Mapping[str, Any], program: Program, *, cursor_keys: ProgramCursorKeys
    ) -> Prepared: ...

    def build(
        self, ctx: CompileContext, selected: Collected, prepared: Prepared
    ) -> Select[Any]: ...


class HouseholdsRoot:
    def prepare(
        self, args: Mapping[str, Any], program: Program, *, cursor_keys: ProgramCursorKeys
    ) -> Prepared:
        order_arg = args.get("orderBy")
        order = order_arg.name if order_arg is not None else "ID_ASC"
        ordering = HOUSEHOLD_ORDERINGS[order]
        if not ordering.usable_by(program):
            # The program's HouseholdOrder has no such value, so validation stops this
            # first; this is the second lock on the same door.
            raise Forbidden(f"Your program may not use the order `{order}`.")
        planned = plan_household_filter(args.get("filter"), program)
        cursors = cursor_keys.scope(
            connection="households", ordering=ordering.tag, criteria=planned.criteria
        )
        params = {
            "q_first": page_size(args, default=DEFAULT_FIRST),
            **keyset_params(args, ordering, cursors),
            **planned.params,
        }
        return Prepared(shape=("households", order, planned.key()), params=params, cursors=cursors)

    def build(self, ctx: CompileContext, selected: Collected, prepared: Prepared) -> Select[Any]:
        order, shape = prepared.shape[1], prepared.shape[2]
        ordering = HOUSEHOLD_ORDERINGS[order]

        def visible(name: str) -> tuple[Any, list[ColumnElement[bool]]]:
            rows = readable_rows(Entity.HOUSEHOLD, program=ctx.program, name=ctx.alias(name))
            return rows.table, [rows.predicate, *household_predicates(shape, rows.table)]

        table, where = visible("h")
        page = keyset_page(ctx, table=table, ordering=ordering, where=where)

        def total() -> ColumnElement[Any]:
            counted, conditions = visible("ht")
            return select(func.count()).select_from(counted).where(*conditions).scalar_subquery()

        def has_previous() -> ColumnElement[Any]:
            return rows_before(*visible("hp"), ordering=ordering)

        source = registry_rows(
            "Household", page=page, ordering=ordering, total=total, has_previous=has_previous
        )
        return connection_statement(ctx, selected=selected, source=source)


class PersonsRoot:
    def prepare(
        self, args: Mapping[str, Any], program: Program, *, cursor_keys: ProgramCursorKeys
    ) -> Prepared:
        planned: PlannedFilter = plan_person_filter(args.get("filter"), program)
        cursors = cursor_keys.scope(
            connection="persons", ordering=PERSON_ORDERING.tag, criteria=planned.criteria
        )
        params = {
            "q_first": page_size(args, default=DEFAULT_FIRST),
            **keyset_params(args, PERSON_ORDERING, cursors),
            **planned.params,
        }
        return Prepared(shape=("persons", planned.key()), params=params, cursors=cursors)

    def build(self, ctx: CompileContext, selected: Collected, prepared: Prepared) -> Select[Any]:
        shape = prepared.shape[1]
        ordering = PERSON_ORDERING

        def visible(name: str) -> tuple[Any, list[ColumnElement[bool]]]:
            rows = readable_rows(Entity.PERSON, program=ctx.program, name=ctx.alias(name))
            conditions = [rows.predicate, *_person_filter(ctx, shape, rows.table)]
            return rows.table, conditions

        table, where = visible("p")
        page = keyset_page(ctx, table=table, ordering=ordering, where=where)

        def total() -> ColumnElement[Any]:
            counted, conditions = visible("pt")
            return select(func.count()).select_from(counted).where(*conditions).scalar_subquery()

        def has_previous() -> ColumnElement[Any]:
            return rows_before(*visible("pp"), ordering=ordering)

        source = registry_rows(
            "Person", page=page, ordering=ordering, total=total, has_previous=has_previous
        )
        return connection_statement(ctx, selected=selected, source=source)


def _person_filter(ctx: CompileContext, shape: Any, persons: Any) -> list[ColumnElement[bool]]:
    needs_home = any(token[0] == "region" for token in shape)
    if not needs_home:
        return person_predicates(shape, persons, None)
    home = home_of_visible_person(program=ctx.program, name=ctx.alias("home"))
    region_tokens = [token for token in shape if token[0] == "region"]
    other_tokens = [token for token in shape if token[0] != "region"]
    in_region = (
        exists()
        .select_from(home.table)
        .where(
            home.table.c.id == persons.c.household_id,
            home.predicate,
            *person_predicates(region_tokens, persons, home.table),
        )
    )
    return [in_region, *person_predicates(other_tokens, persons, None)]


class ByIdRoot:
    """``household(id)`` and ``person(id)``: null when absent *or* not visible, alike."""

    def __init__(self, entity: Entity) -> None:
        self.entity = entity

    def prepare(
        self, args: Mapping[str, Any], program: Program, *, cursor_keys: ProgramCursorKeys
    ) -> Prepared:
        row_id = parse_id(args.get("id"))
        if row_id is None:
            return Prepared(shape=(self.entity.value,), empty=True)
        return Prepared(shape=(self.entity.value,), params={"q_id": row_id})

    def build(self, ctx: CompileContext, selected: Collected, prepared: Prepared) -> Select[Any]:
        rows = readable_rows(self.entity, program=ctx.program, name=ctx.alias("row"))
        obj = compile_object(
            ctx,
            type_name=self.entity.value,
            source=rows.table,
            selection_sets=sub_selections(selected),
            path=selected.field_name,
        )
        return (
            select(
                cast(obj.json, Text).label("data"),
                obj.ids.households.row_array().label("hids"),
                obj.ids.persons.row_array().label("pids"),
            )
            .select_from(with_laterals(rows.table, obj.laterals))
            .where(rows.table.c.id == bindparam("q_id", type_=BigInteger), rows.predicate)
        )


class RegionsRoot:
    """``regions(level, parentCode)``: public reference data."""

    def prepare(
        self, args: Mapping[str, Any], program: Program, *, cursor_keys: ProgramCursorKeys
    ) -> Prepared:
        level = args["level"]
        params: dict[str, Any] = {"q_level": level.value if hasattr(level, "value") else level}
        parent = args.get("parentCode")
        if parent is not None:
            if (
                not isinstance(parent, str)
                or not (parent.isascii() and parent.isdigit())
                or len(parent) > 10
            ):
                raise BadInput("`parentCode` must be a BPS region code.")
            params["q_parent"] = parent
        return Prepared(shape=("regions", parent is not None), params=params)

    def build(self, ctx: CompileContext, selected: Collected, prepared: Prepared) -> Select[Any]:
        regions = Region.__table__.alias(ctx.alias("r"))
        obj = compile_object(
            ctx,
            type_name="Region",
            source=regions,
            selection_sets=sub_selections(selected),
            path=selected.field_name,
        )
        where = [regions.c.level == cast(bindparam("q_level"), pg_enum(RegionLevel))]
        if prepared.shape[1]:
            where.append(regions.c.parent_code == bindparam("q_parent", type_=String))
        listed = func.coalesce(
            func.json_agg(aggregate_order_by(obj.json, regions.c.code)), EMPTY_LIST
        )
        return (
            select(
                cast(listed, Text).label("data"), EMPTY_IDS.label("hids"), EMPTY_IDS.label("pids")
            )
            .select_from(with_laterals(regions, obj.laterals))
            .where(*where)
        )


def _feed_roots() -> dict[str, RootCompiler]:
    """``releases`` and ``changes`` (``schema.compiler.changes``, which builds on this module)."""
    from schema.compiler.changes import ChangesRoot, ReleasesRoot

    return {"releases": ReleasesRoot(), "changes": ChangesRoot()}


ROOTS: dict[str, RootCompiler] = {
    "households": HouseholdsRoot(),
    "persons": PersonsRoot(),
    "household": ByIdRoot(Entity.HOUSEHOLD),
    "person": ByIdRoot(Entity.PERSON),
    "regions": RegionsRoot(),
    **_feed_roots(),
}
