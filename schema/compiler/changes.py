"""``releases`` and ``changes(after, first)``: the program's change feed, one statement each.

``changes`` is a connection like ``households`` and ``persons``, built by
``schema.compiler.connections`` over the program's rows of ``program_changes``
in position order (``CHANGE_ORDERING``): its ``after`` is a sealed cursor of
that connection, opened in the program's own cursor scope, and its cursors,
``hasNextPage`` and disclosed ids are made as every connection's are. Positions
are handed out in commit order (``db.releases.ledger``) and a page is one
statement (one snapshot), so a bookmark never skips a change and never repeats
one, even while a release is being written.

Positions are global: one sequence numbers every program's changes. Nothing a
program receives may tell it how many changes other programs received, so a
position never leaves unsealed, and ``totalCount``, ``hasNextPage`` and
``hasPreviousPage`` count the program's own changes only. The rows are the
program's own: the statement names the program, and row-level security on
``program_changes`` admits only the program the transaction set.

Each change names its row in ``subjectType`` and ``subject`` (the identity the
program reads: ``id``, or the PSEUDONYM of the NIK kept with the change), and
its ``household`` / ``person`` is what the program may read of the row *now*,
through ``readable_rows`` like every read: null for a LEFT change and when it no
longer may (so no non-null field of the row's type is ever null). The ids of
the subject and of the rows are disclosed rows, recorded in the audit event.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import SelectionSetNode
from sqlalchemy import Text, case, cast, exists, func, literal, literal_column, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.sql import ColumnElement, FromClause, Select
from sqlalchemy.sql.selectable import CTE

from db.models.releases import ProgramChange
from db.models.releases import Release as ReleaseRow
from policies import Entity, Program, readable_rows
from policies.feed import Identity, feed_entities, identity
from policies.masks import program_key, pseudonymised
from policies.rows import agreement_in_force
from schema.compiler.connections import (
    ConnectionSource,
    Pointer,
    connection_statement,
    keyset_page,
    keyset_params,
    page_size,
    rows_before,
)
from schema.compiler.cursors import Ordering
from schema.compiler.objects import (
    EMPTY_IDS,
    EMPTY_LIST,
    CompileContext,
    IdSets,
    ObjectSQL,
    build_object,
    compile_object,
    with_laterals,
)
from schema.compiler.roots import Prepared
from schema.compiler.selection import Collected, sub_selections
from schema.sealed_cursors import ProgramCursorKeys, canonical_criteria

CHANGE_ORDERING = Ordering("c", ("position",), ("int",), ())
"""The feed's one ordering: by position (no field to read: positions never show)."""
DEFAULT_FIRST = 100
CHANGES = ProgramChange.__table__
RELEASES = ReleaseRow.__table__
NO_FILTER = canonical_criteria({})


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

    def prepare(
        self, args: Mapping[str, Any], program: Program, *, cursor_keys: ProgramCursorKeys
    ) -> Prepared:
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


def _feed(program: Program, change: FromClause) -> list[ColumnElement[bool]]:
    """The program's changes of the entities its feed follows now, while its agreement is
    in force (decided in the statement, like every read of rows: ``readable_rows``).

    Only a policy that changed which entities a program's scope names leaves changes
    of another entity in its rows (the LEFT of everything the old scope held); the
    program is told its new scope through that release's ENTERED changes.
    """
    where = [change.c.program == literal(program.name), agreement_in_force(program)]
    entities = feed_entities(program)
    if entities == (Entity.HOUSEHOLD,):
        where.append(change.c.person_id.is_(None))
    elif entities == (Entity.PERSON,):
        where.append(change.c.person_id.is_not(None))
    return where


class ChangesRoot:
    def prepare(
        self, args: Mapping[str, Any], program: Program, *, cursor_keys: ProgramCursorKeys
    ) -> Prepared:
        cursors = cursor_keys.scope(
            connection="changes", ordering=CHANGE_ORDERING.tag, criteria=lambda: NO_FILTER
        )
        params = {
            "q_first": page_size(args, default=DEFAULT_FIRST),
            **keyset_params(args, CHANGE_ORDERING, cursors),
        }
        return Prepared(shape=("changes",), params=params, cursors=cursors)

    def build(self, ctx: CompileContext, selected: Collected, prepared: Prepared) -> Select[Any]:
        program = ctx.program

        def own(name: str) -> tuple[FromClause, list[ColumnElement[bool]]]:
            change = CHANGES.alias(ctx.alias(name))
            return change, _feed(program, change)

        table, where = own("c")
        page = keyset_page(ctx, table=table, ordering=CHANGE_ORDERING, where=where)

        def total() -> ColumnElement[Any]:
            counted, conditions = own("ct")
            return select(func.count()).select_from(counted).where(*conditions).scalar_subquery()

        def has_previous() -> ColumnElement[Any]:
            return rows_before(*own("cp"), ordering=CHANGE_ORDERING)

        def node(
            ctx: CompileContext, selection_sets: tuple[SelectionSetNode, ...], path: str
        ) -> ObjectSQL:
            return compile_change(ctx, page=page, selection_sets=selection_sets, path=path)

        source = ConnectionSource(
            name="Change",
            page=page,
            ordering=CHANGE_ORDERING,
            total=total,
            has_previous=has_previous,
            node=node,
            points_at=_subjects(page, program),
        )
        return connection_statement(ctx, selected=selected, source=source)


def _subjects(page: CTE, program: Program) -> tuple[Pointer, ...]:
    """The row each change is about: its household (a household change), or its person.

    A feed of one entity (``_feed`` keeps only its changes) names one on every row.
    """
    entities = feed_entities(program)
    if entities == (Entity.HOUSEHOLD,):
        return (Pointer("Household", page.c.household_id),)
    if entities == (Entity.PERSON,):
        return (Pointer("Person", page.c.person_id),)
    household = case((page.c.person_id.is_(None), page.c.household_id))
    return (
        Pointer("Household", household, always=False),
        Pointer("Person", page.c.person_id, always=False),
    )


def compile_change(
    ctx: CompileContext, *, page: CTE, selection_sets: tuple[SelectionSetNode, ...], path: str
) -> ObjectSQL:
    """The JSON of the ``Change`` of each page row, and the ids each one discloses."""
    pairs: list[tuple[str, ColumnElement[Any]]] = []
    laterals = []
    ids = IdSets()
    for field in ctx.collect("Change", selection_sets):
        name = field.field_name
        if name == "kind":
            pairs.append((field.response_key, cast(page.c.kind, Text)))
        elif name == "release":
            release = RELEASES.alias(ctx.alias("cr"))
            item = _release_object(ctx, sub_selections(field), release)
            value = select(item).where(release.c.no == page.c.release_no).scalar_subquery()
            pairs.append((field.response_key, value))
        elif name == "subjectType":
            kind = case(
                (page.c.person_id.is_(None), literal_column("'HOUSEHOLD'")),
                else_=literal_column("'PERSON'"),
            )
            pairs.append((field.response_key, kind))
        elif name == "subject":
            pairs.append((field.response_key, _subject(ctx, page, path=f"{path}.subject")))
            for pointer in _subjects(page, ctx.program):
                pointer.disclose(ids)
        elif name in ("household", "person"):
            entity = Entity.HOUSEHOLD if name == "household" else Entity.PERSON
            now = _row_now(ctx, page, entity=entity, field=field, path=f"{path}.{name}")
            laterals.append(now.laterals[0])
            ids.extend(now.ids)
            pairs.append((field.response_key, now.json))
        elif name == "__typename":
            pairs.append((field.response_key, literal_column("'Change'")))
    return ObjectSQL(json=build_object(pairs), laterals=laterals, ids=ids)


def _subject(ctx: CompileContext, page: CTE, *, path: str) -> ColumnElement[Any]:
    """The identity of the change's row as the program reads it (schema: only where it
    reads one for every entity of its feed, so the page never holds a row without one)."""
    program = ctx.program
    whens: list[tuple[ColumnElement[bool], ColumnElement[Any]]] = []
    for entity in feed_entities(program):
        form = identity(program, entity)
        if entity is Entity.HOUSEHOLD:
            ours, key = page.c.person_id.is_(None), page.c.household_id
        else:
            ours, key = page.c.person_id.is_not(None), page.c.person_id
        if form is Identity.ID:
            whens.append((ours, cast(key, Text)))
            ctx.field_paths.add(path)
        elif form is Identity.PSEUDONYM:
            secret = program_key(ctx.pseudonym_key, program.name)
            whens.append((ours, pseudonymised(page.c.nik, key=secret)))
            ctx.field_paths.add(f"{path}[PSEUDONYM]")
    return case(*whens)


def _row_now(
    ctx: CompileContext, page: CTE, *, entity: Entity, field: Collected, path: str
) -> ObjectSQL:
    """The change's row as the program reads it now, in one LATERAL; none (null) for a
    LEFT change, for a change of the other entity, and for a row it may not read now."""
    rows = readable_rows(entity, program=ctx.program, name=ctx.alias("cn"))
    obj = compile_object(
        ctx,
        type_name=entity.value,
        source=rows.table,
        selection_sets=sub_selections(field),
        path=path,
    )
    if entity is Entity.HOUSEHOLD:
        ours, key = page.c.person_id.is_(None), page.c.household_id
    else:
        ours, key = page.c.person_id.is_not(None), page.c.person_id
    lateral = (
        select(
            obj.json.label("j"),
            obj.ids.households.row_array().label("hids"),
            obj.ids.persons.row_array().label("pids"),
        )
        .select_from(with_laterals(rows.table, obj.laterals))
        .where(ours, page.c.kind != "LEFT", rows.table.c.id == key, rows.predicate)
        .lateral(ctx.alias("now"))
    )
    ids = IdSets()
    for inner, outer, column in (
        (obj.ids.households, ids.households, lateral.c.hids),
        (obj.ids.persons, ids.persons, lateral.c.pids),
    ):
        if inner:
            outer.nested.append(func.coalesce(column, EMPTY_IDS))
    return ObjectSQL(json=lateral.c.j, laterals=[lateral], ids=ids)
