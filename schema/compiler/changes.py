"""``releases`` and ``changes(after, first)``: the program's change feed, one statement each.

``changes`` pages the program's rows of ``program_changes`` in position
order, after the bookmark ``after`` (exclusive). Positions are handed out in
commit order (``db.releases.ledger``) and a page is one statement (one
snapshot), so a bookmark never skips a change and never repeats one, even
while a release is being written. The rows are the program's own: the
statement names the program, and row-level security on ``program_changes``
admits only the program the transaction set.

Each change's ``household`` / ``person`` is what the program may read of the
row *now*, through ``readable_rows`` like every read (null when it no longer
may); for a LEFT change it is only the identity the program reads (``id``, or
the PSEUDONYM of the NIK kept with the change), all other selected fields
null. The ids of both are disclosed rows, recorded in the audit event.

Cursors: the bookmark is a keyset cursor of ``CHANGE_ORDERING`` built and
read by ``schema.compiler.cursors`` like every other cursor, so it changes
with that module (sealed, program-bound cursors) without a change here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import (
    BigInteger,
    Integer,
    Text,
    bindparam,
    case,
    cast,
    exists,
    func,
    literal,
    literal_column,
    null,
    select,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by, array
from sqlalchemy.sql import ColumnElement, FromClause, Select

from db.models.releases import ProgramChange
from db.models.releases import Release as ReleaseRow
from errors import BadInput
from policies import Entity, FieldMode, Program, readable_rows
from policies.masks import program_key, pseudonymised
from schema.compiler.connections import HAS_AFTER
from schema.compiler.cursors import Ordering, cursor_sql, decode_cursor
from schema.compiler.objects import (
    EMPTY_IDS,
    EMPTY_LIST,
    CompileContext,
    build_object,
    compile_object,
    with_laterals,
)
from schema.compiler.roots import MAX_FIRST, Prepared
from schema.compiler.selection import Collected, sub_selections

CHANGE_ORDERING = Ordering("c", ("position",), ("int",))
DEFAULT_FIRST = 100
CHANGES = ProgramChange.__table__
RELEASES = ReleaseRow.__table__
FIRST = bindparam("q_first", type_=Integer)
AFTER = bindparam("q_after_0", type_=BigInteger)


def _release_object(
    ctx: CompileContext, fields: tuple[Any, ...], release: FromClause
) -> ColumnElement[Any]:
    pairs: list[tuple[str, ColumnElement[Any]]] = []
    for field in ctx.collect("Release", fields):
        if field.field_name == "id":
            pairs.append((field.response_key, release.c.id))
        elif field.field_name == "importedAt":
            pairs.append((field.response_key, release.c.imported_at))
        elif field.field_name == "__typename":
            pairs.append((field.response_key, literal_column("'Release'")))
    return build_object(pairs)


class ReleasesRoot:
    """``releases``: imports and the seed, and the policy changes that changed the program's
    feed (another program's policy change is none of its business), newest first."""

    def prepare(self, args: Mapping[str, Any], program: Program) -> Prepared:
        return Prepared(shape=("releases",))

    def build(self, ctx: CompileContext, selected: Collected, prepared: Prepared) -> Select[Any]:
        release = RELEASES.alias(ctx.alias("r"))
        change = CHANGES.alias(ctx.alias("rc"))
        own = (
            exists()
            .where(
                change.c.program == literal(ctx.program.name),
                change.c.position.between(release.c.first_position, release.c.last_position),
            )
            .correlate(release)
        )
        item = _release_object(ctx, sub_selections(selected), release)
        listed = func.coalesce(
            func.json_agg(aggregate_order_by(item, release.c.no.desc())), EMPTY_LIST
        )
        return (
            select(
                cast(listed, Text).label("data"), EMPTY_IDS.label("hids"), EMPTY_IDS.label("pids")
            )
            .select_from(release)
            .where((release.c.kind != "policy") | own)
        )


def _first(args: Mapping[str, Any]) -> int:
    first = args.get("first")
    if first is None:
        return DEFAULT_FIRST
    if not isinstance(first, int) or not 0 <= first <= MAX_FIRST:
        raise BadInput(f"`first` must be between 0 and {MAX_FIRST}.")
    return first


class ChangesRoot:
    def prepare(self, args: Mapping[str, Any], program: Program) -> Prepared:
        after = args.get("after")
        (position,) = decode_cursor(after, CHANGE_ORDERING) if after is not None else (0,)
        params = {
            "q_first": _first(args),
            "q_after_0": position,
            "q_has_after": after is not None,
        }
        return Prepared(shape=("changes",), params=params)

    def build(self, ctx: CompileContext, selected: Collected, prepared: Prepared) -> Select[Any]:
        program = ctx.program
        change = CHANGES.alias(ctx.alias("c"))
        page = (
            select(change, func.row_number().over(order_by=change.c.position).label("_rn"))
            .where(change.c.program == literal(program.name), change.c.position > AFTER)
            .order_by(change.c.position)
            .limit(FIRST + 1)
            .cte(ctx.alias("page"))
        )
        node = _NodeBuilder(ctx, page, path=selected.field_name)
        top: list[tuple[str, str, Any]] = []
        elements: list[ColumnElement[Any]] = []
        for field in ctx.collect("ChangeConnection", sub_selections(selected)):
            name = field.field_name
            if name == "nodes":
                top.append((field.response_key, "list", len(elements)))
                elements.append(node.change(sub_selections(field), path="nodes"))
            elif name == "edges":
                pairs: list[tuple[str, ColumnElement[Any]]] = []
                for edge in ctx.collect("ChangeEdge", sub_selections(field)):
                    if edge.field_name == "cursor":
                        pairs.append((edge.response_key, cursor_sql(CHANGE_ORDERING, page)))
                    elif edge.field_name == "node":
                        pairs.append(
                            (
                                edge.response_key,
                                node.change(sub_selections(edge), path="edges.node"),
                            )
                        )
                    elif edge.field_name == "__typename":
                        pairs.append((edge.response_key, literal_column("'ChangeEdge'")))
                top.append((field.response_key, "list", len(elements)))
                elements.append(build_object(pairs))
            elif name in ("pageInfo", "totalCount", "__typename"):
                top.append((field.response_key, name, field))

        rows = (
            select(
                page.c._rn.label("_rn"),
                cursor_sql(CHANGE_ORDERING, page).label("_cursor"),
                *[element.label(f"e{index}") for index, element in enumerate(elements)],
                node.household_ids().label("_hids"),
                node.person_ids().label("_pids"),
            )
            .select_from(with_laterals(page, node.laterals))
            .cte(ctx.alias("rows"))
        )
        within = rows.c._rn <= FIRST
        summary = (
            select(
                *[
                    func.json_agg(aggregate_order_by(rows.c[f"e{index}"], rows.c._rn))
                    .filter(within)
                    .label(f"a{index}")
                    for index in range(len(elements))
                ],
                func.count().label("_n"),
                func.regsosek_array_cat_agg(rows.c._hids).filter(within).label("hids"),
                func.regsosek_array_cat_agg(rows.c._pids).filter(within).label("pids"),
            )
            .select_from(rows)
            .subquery(ctx.alias("summary"))
        )
        pairs = []
        for key, kind, detail in top:
            if kind == "list":
                pairs.append((key, func.coalesce(summary.c[f"a{detail}"], EMPTY_LIST)))
            elif kind == "pageInfo":
                pairs.append((key, self._page_info(ctx, detail, rows, summary.c._n)))
            elif kind == "totalCount":
                counted = CHANGES.alias(ctx.alias("ct"))
                total = (
                    select(func.count())
                    .select_from(counted)
                    .where(counted.c.program == literal(program.name))
                    .scalar_subquery()
                )
                pairs.append((key, total))
            else:
                pairs.append((key, literal_column("'ChangeConnection'")))
        data: ColumnElement[Any] = cast(build_object(pairs), Text).label("data")
        return select(
            data,
            func.coalesce(summary.c.hids, EMPTY_IDS).label("hids"),
            func.coalesce(summary.c.pids, EMPTY_IDS).label("pids"),
        ).select_from(summary)

    def _page_info(
        self, ctx: CompileContext, selected: Collected, rows: Any, count: Any
    ) -> ColumnElement[Any]:
        pairs: list[tuple[str, ColumnElement[Any]]] = []
        for field in ctx.collect("PageInfo", sub_selections(selected)):
            name = field.field_name
            if name == "hasNextPage":
                pairs.append((field.response_key, count > FIRST))
            elif name == "hasPreviousPage":
                earlier = CHANGES.alias(ctx.alias("cp"))
                before = exists().where(
                    earlier.c.program == literal(ctx.program.name), earlier.c.position <= AFTER
                )
                pairs.append((field.response_key, HAS_AFTER & before))
            elif name == "startCursor":
                first_row = (rows.c._rn == 1) & (FIRST >= 1)
                pairs.append(
                    (field.response_key, select(rows.c._cursor).where(first_row).scalar_subquery())
                )
            elif name == "endCursor":
                last = (
                    select(rows.c._cursor)
                    .where(rows.c._rn <= FIRST)
                    .order_by(rows.c._rn.desc())
                    .limit(1)
                    .scalar_subquery()
                )
                pairs.append((field.response_key, last))
            elif name == "__typename":
                pairs.append((field.response_key, literal_column("'PageInfo'")))
        return build_object(pairs)


class _NodeBuilder:
    """The JSON of ``Change`` nodes over the page, and the ids each row discloses."""

    def __init__(self, ctx: CompileContext, page: Any, *, path: str) -> None:
        self.ctx = ctx
        self.page = page
        self.path = path
        self.laterals: list[Any] = []
        self._hids: list[ColumnElement[Any]] = []
        self._pids: list[ColumnElement[Any]] = []

    def household_ids(self) -> ColumnElement[Any]:
        return _concat(self._hids)

    def person_ids(self) -> ColumnElement[Any]:
        return _concat(self._pids)

    def change(self, selections: tuple[Any, ...], *, path: str) -> ColumnElement[Any]:
        page, ctx = self.page, self.ctx
        pairs: list[tuple[str, ColumnElement[Any]]] = []
        for field in ctx.collect("Change", selections):
            name = field.field_name
            if name == "kind":
                pairs.append((field.response_key, cast(page.c.kind, Text)))
            elif name == "release":
                release = RELEASES.alias(ctx.alias("cr"))
                item = _release_object(ctx, sub_selections(field), release)
                value = select(item).where(release.c.no == page.c.release_no).scalar_subquery()
                pairs.append((field.response_key, value))
            elif name == "household":
                pairs.append((field.response_key, self._row(Entity.HOUSEHOLD, field, path)))
            elif name == "person":
                pairs.append((field.response_key, self._row(Entity.PERSON, field, path)))
            elif name == "__typename":
                pairs.append((field.response_key, literal_column("'Change'")))
        return build_object(pairs)

    def _row(self, entity: Entity, field: Collected, path: str) -> ColumnElement[Any]:
        """The row as the program reads it now, or (LEFT) its identity; null if not this
        change's entity or not readable any more."""
        ctx, page = self.ctx, self.page
        type_name = entity.value
        field_path = f"{self.path}.{path}.{field.field_name}"
        rows = readable_rows(entity, program=ctx.program, name=ctx.alias("cn"))
        obj = compile_object(
            ctx,
            type_name=type_name,
            source=rows.table,
            selection_sets=sub_selections(field),
            path=field_path,
        )
        key = page.c.person_id if entity is Entity.PERSON else page.c.household_id
        lateral = (
            select(
                obj.json.label("j"),
                obj.ids.households.row_array().label("hids"),
                obj.ids.persons.row_array().label("pids"),
            )
            .select_from(with_laterals(rows.table, obj.laterals))
            .where(rows.table.c.id == key, rows.predicate)
            .lateral(ctx.alias("now"))
        )
        self.laterals.append(lateral)
        ours = page.c.person_id.is_not(None)
        if entity is Entity.HOUSEHOLD:
            ours = page.c.person_id.is_(None)
        left = page.c.kind == "LEFT"
        identity, names_row = self._identity(entity, field, field_path)
        own_id = array([key])
        for disclosed, of_entity, column in (
            (self._hids, Entity.HOUSEHOLD, lateral.c.hids),
            (self._pids, Entity.PERSON, lateral.c.pids),
        ):
            whens: list[tuple[ColumnElement[bool], ColumnElement[Any]]] = []
            if names_row and entity is of_entity:
                whens.append((ours & left, own_id))
            whens.append((ours & ~left, func.coalesce(column, EMPTY_IDS)))
            disclosed.append(case(*whens, else_=EMPTY_IDS))
        return case((ours & left, identity), (ours, lateral.c.j), else_=null())

    def _identity(
        self, entity: Entity, field: Collected, path: str
    ) -> tuple[ColumnElement[Any], bool]:
        """The identity-only object of a LEFT change, and whether it names the row at all."""
        ctx, page = self.ctx, self.page
        program = ctx.program
        pairs: list[tuple[str, ColumnElement[Any]]] = []
        names = False
        key = page.c.person_id if entity is Entity.PERSON else page.c.household_id
        for selected in ctx.collect(entity.value, sub_selections(field)):
            name = selected.field_name
            value: ColumnElement[Any] = null()
            if name == "id":
                value, names = cast(key, Text), True
                ctx.field_paths.add(f"{path}.id")
            elif (
                name == "nik"
                and entity is Entity.PERSON
                and program.mode("Person", "nik") is FieldMode.PSEUDONYM
            ):
                key_bytes = program_key(ctx.pseudonym_key, program.name)
                value, names = pseudonymised(page.c.nik, key=key_bytes), True
                ctx.field_paths.add(f"{path}.nik[PSEUDONYM]")
            elif name == "__typename":
                value = literal_column(f"'{entity.value}'")
            pairs.append((selected.response_key, value))
        return build_object(pairs), names


def _concat(parts: list[ColumnElement[Any]]) -> ColumnElement[Any]:
    if not parts:
        return EMPTY_IDS
    result = parts[0]
    for part in parts[1:]:
        result = result.op("||")(part)
    return result
