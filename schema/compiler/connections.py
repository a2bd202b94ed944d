"""Relay connections built in one statement: the one way a page is paged, sealed and audited.

Every connection of the registry (``households``, ``persons``, the change feed's
``changes``) is a keyset page over one ``Ordering``: ``keyset_params`` opens the
sealed ``after`` cursor (``schema.sealed_cursors``) into the key to start after,
``keyset_page`` selects at most ``first + 1`` rows past it (the extra row only
answers ``hasNextPage``), and ``connection_statement`` builds every node, edge,
cursor and the page info from that page, with the ids of what the page discloses
aggregated beside the JSON. ``totalCount`` counts the rows the program may see
under the same filter, and only when it is asked for.

A cursor is a disclosure of the row it points at, like the row's ``id``: an
edge's ``cursor`` adds the edge's row to the disclosed ids, ``startCursor`` and
``endCursor`` the first and the last row of the page, each under its field path
(``persons.edges.cursor``, ``households.pageInfo.endCursor``). The ids come
out of the same statement, through the same ``IdSets`` as nodes' ids.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from graphql import SelectionSetNode
from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Integer,
    Text,
    bindparam,
    case,
    cast,
    exists,
    func,
    literal_column,
    null,
    select,
    tuple_,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by, array
from sqlalchemy.sql import ColumnElement, FromClause, Select
from sqlalchemy.sql.selectable import CTE

from errors import BadInput
from schema.compiler.cursors import Ordering, cursor_sql
from schema.compiler.objects import (
    EMPTY_IDS,
    EMPTY_LIST,
    CompileContext,
    Disclosed,
    IdSets,
    ObjectSQL,
    build_object,
    compile_object,
    with_laterals,
)
from schema.compiler.selection import Collected, sub_selections
from schema.sealed_cursors import CursorScope

MAX_FIRST = 1000
FIRST = bindparam("q_first", type_=Integer)
HAS_AFTER = bindparam("q_has_after", type_=Boolean)


def page_size(args: Mapping[str, Any], *, default: int) -> int:
    """The checked ``first`` argument (``default`` when absent)."""
    first = args.get("first")
    if first is None:
        return default
    if not isinstance(first, int) or not 0 <= first <= MAX_FIRST:
        raise BadInput(f"`first` must be between 0 and {MAX_FIRST}.")
    return first


def keyset_params(
    args: Mapping[str, Any], ordering: Ordering, cursors: CursorScope
) -> dict[str, Any]:
    """The values ``keyset_page`` binds: the key after ``after`` (opened in ``cursors``,
    ``BadInput`` if it was not issued there), whether there is one, the request's mark."""
    after = args.get("after")
    if after is None:
        key = ordering.lowest()
    else:
        key = ordering.key(cursors.open(after, size=ordering.size))
    params: dict[str, Any] = {f"q_after_{i}": value for i, value in enumerate(key)}
    params["q_has_after"] = after is not None
    params["q_cursor_mark"] = cursors.mark
    return params


def keyset(
    columns: Sequence[ColumnElement[Any]], ordering: Ordering, *, after: bool
) -> ColumnElement[bool]:
    """The rows past the bound key (``after``), or up to and including it."""
    binds = [
        bindparam(f"q_after_{i}", type_=DateTime(timezone=True) if kind == "time" else BigInteger)
        for i, kind in enumerate(ordering.kinds)
    ]
    if len(columns) == 1:
        return columns[0] > binds[0] if after else columns[0] <= binds[0]
    row, key = tuple_(*columns), tuple_(*binds)
    return row > key if after else row <= key


def keyset_page(
    ctx: CompileContext,
    *,
    table: FromClause,
    ordering: Ordering,
    where: list[ColumnElement[bool]],
) -> CTE:
    """The page: ``table``'s rows under ``where`` past the bound key, in keyset order, at
    most ``first + 1`` of them, each with its 1-based ``_rn``."""
    columns = [table.c[name] for name in ordering.columns]
    return (
        select(table, func.row_number().over(order_by=columns).label("_rn"))
        .where(*where, keyset(columns, ordering, after=True))
        .order_by(*columns)
        .limit(FIRST + 1)
        .cte(ctx.alias("page"))
    )


def rows_before(
    table: FromClause, where: list[ColumnElement[bool]], *, ordering: Ordering
) -> ColumnElement[Any]:
    """``hasPreviousPage``: there was an ``after`` and a row under ``where`` is not past it."""
    key = [table.c[name] for name in ordering.columns]
    earlier = exists().select_from(table).where(*where, keyset(key, ordering, after=False))
    return HAS_AFTER & earlier


@dataclass(frozen=True)
class Pointer:
    """The row of one type that a page row's cursor points at (its audited disclosure)."""

    type_name: str
    """``Household`` or ``Person``."""
    id: ColumnElement[Any]
    """The row's id, over the page; NULL where the page row points at no row of the type."""
    always: bool = True
    """Whether every page row points at one (then ``id`` is never NULL)."""

    def ids(self) -> ColumnElement[Any]:
        """The ids pointed at by one page row, as ``bigint[]``."""
        listed = array([self.id])
        return listed if self.always else func.array_remove(listed, null())

    def disclose(self, ids: IdSets) -> None:
        """Add the row pointed at to what each page row discloses (as its ``id`` would be)."""
        disclosed = ids.of(self.type_name)
        if self.always:
            disclosed.add_own(self.id)
        else:
            disclosed.nested.append(self.ids())


NodeCompiler = Callable[[CompileContext, tuple[SelectionSetNode, ...], str], ObjectSQL]
"""The JSON of a node over the page, given its selection sets and field path."""


@dataclass(frozen=True)
class ConnectionSource:
    """What a connection is made of."""

    name: str
    """The connection's type names: ``<name>Connection``, ``<name>Edge``."""
    page: CTE
    """The page rows (``keyset_page``): the ordering's columns and ``_rn``."""
    ordering: Ordering
    total: Callable[[], ColumnElement[Any]]
    """The number of rows the program may see under the filter (built only if asked)."""
    has_previous: Callable[[], ColumnElement[Any]]
    node: NodeCompiler
    points_at: tuple[Pointer, ...]
    """What a page row's cursor discloses."""


def registry_rows(
    type_name: str,
    *,
    page: CTE,
    ordering: Ordering,
    total: Callable[[], ColumnElement[Any]],
    has_previous: Callable[[], ColumnElement[Any]],
) -> ConnectionSource:
    """A connection of registry rows (``Household``, ``Person``): nodes are the page's rows."""

    def node(
        ctx: CompileContext, selection_sets: tuple[SelectionSetNode, ...], path: str
    ) -> ObjectSQL:
        return compile_object(
            ctx, type_name=type_name, source=page, selection_sets=selection_sets, path=path
        )

    return ConnectionSource(
        name=type_name,
        page=page,
        ordering=ordering,
        total=total,
        has_previous=has_previous,
        node=node,
        points_at=(Pointer(type_name, page.c.id),),
    )


PAGE_CURSORS = ("startCursor", "endCursor")


def _page_info(
    ctx: CompileContext, selected: Collected, rows: CTE, source: ConnectionSource, count: Any
) -> ColumnElement[Any]:
    pairs: list[tuple[str, ColumnElement[Any]]] = []
    for field in ctx.collect("PageInfo", sub_selections(selected)):
        name = field.field_name
        if name == "hasNextPage":
            pairs.append((field.response_key, count > FIRST))
        elif name == "hasPreviousPage":
            pairs.append((field.response_key, source.has_previous()))
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


def _page_cursors(ctx: CompileContext, selected: Collected) -> set[str]:
    """Which of ``startCursor`` / ``endCursor`` a ``pageInfo`` selection asks for."""
    names = {field.field_name for field in ctx.collect("PageInfo", sub_selections(selected))}
    return names & set(PAGE_CURSORS)


def _cursor_disclosures(
    ctx: CompileContext, *, source: ConnectionSource, path: str, cursors: set[str], ids: IdSets
) -> None:
    """Record the rows the selected cursors point at, as nodes' ids are recorded."""
    page = source.page
    last = func.least(func.count().over(), FIRST)
    for pointer in source.points_at:
        disclosed = ids.of(pointer.type_name)
        if "edges.cursor" in cursors:
            pointer.disclose(ids)
        if "pageInfo.startCursor" in cursors:
            disclosed.nested.append(case((page.c._rn == 1, pointer.ids()), else_=EMPTY_IDS))
        if "pageInfo.endCursor" in cursors:
            disclosed.nested.append(case((page.c._rn == last, pointer.ids()), else_=EMPTY_IDS))
    for cursor in cursors:
        ctx.field_paths.add(f"{path}.{cursor}")
    if cursors:
        ctx.cursors = True


def connection_statement(
    ctx: CompileContext, *, selected: Collected, source: ConnectionSource
) -> Select[Any]:
    """``SELECT data::text, household_ids, person_ids`` for one connection field."""
    page = source.page
    name = source.name
    path = selected.field_name
    elements: list[ColumnElement[Any]] = []
    laterals = []
    ids = IdSets()
    top: list[tuple[str, Any]] = []
    cursors: set[str] = set()

    for field in ctx.collect(f"{name}Connection", sub_selections(selected)):
        field_name = field.field_name
        if field_name == "nodes":
            obj = source.node(ctx, sub_selections(field), f"{path}.nodes")
            laterals.extend(obj.laterals)
            ids.extend(obj.ids)
            top.append((field.response_key, ("list", len(elements))))
            elements.append(obj.json)
        elif field_name == "edges":
            pairs: list[tuple[str, ColumnElement[Any]]] = []
            for edge_field in ctx.collect(f"{name}Edge", sub_selections(field)):
                if edge_field.field_name == "cursor":
                    pairs.append((edge_field.response_key, cursor_sql(source.ordering, page)))
                    cursors.add("edges.cursor")
                elif edge_field.field_name == "node":
                    obj = source.node(ctx, sub_selections(edge_field), f"{path}.edges.node")
                    laterals.extend(obj.laterals)
                    ids.extend(obj.ids)
                    pairs.append((edge_field.response_key, obj.json))
                elif edge_field.field_name == "__typename":
                    pairs.append((edge_field.response_key, literal_column(f"'{name}Edge'")))
            top.append((field.response_key, ("list", len(elements))))
            elements.append(build_object(pairs))
        elif field_name == "pageInfo":
            cursors |= {f"pageInfo.{cursor}" for cursor in _page_cursors(ctx, field)}
            top.append((field.response_key, ("page_info", field)))
        elif field_name == "totalCount":
            top.append((field.response_key, ("total", None)))
        elif field_name == "__typename":
            top.append((field.response_key, ("typename", f"{name}Connection")))
    _cursor_disclosures(ctx, source=source, path=path, cursors=cursors, ids=ids)

    page_cursor = (
        [cursor_sql(source.ordering, page).label("_cursor")] if cursors - {"edges.cursor"} else []
    )
    rows = (
        select(
            page.c._rn.label("_rn"),
            *page_cursor,
            *[element.label(f"e{index}") for index, element in enumerate(elements)],
            *_id_columns(ids),
        )
        .select_from(with_laterals(page, laterals))
        .cte(ctx.alias("rows"))
    )
    within = rows.c._rn <= FIRST
    aggregates: list[ColumnElement[Any]] = [
        func.json_agg(aggregate_order_by(rows.c[f"e{index}"], rows.c._rn))
        .filter(within)
        .label(f"a{index}")
        for index in range(len(elements))
    ]
    aggregates.append(func.count().label("_n"))
    aggregates.extend(_id_aggregates(rows, ids, within))
    summary = select(*aggregates).select_from(rows).subquery(ctx.alias("summary"))

    pairs = []
    for key, (kind, detail) in top:
        if kind == "list":
            pairs.append((key, func.coalesce(summary.c[f"a{detail}"], EMPTY_LIST)))
        elif kind == "page_info":
            pairs.append((key, _page_info(ctx, detail, rows, source, summary.c._n)))
        elif kind == "total":
            pairs.append((key, source.total()))
        else:
            pairs.append((key, literal_column(f"'{detail}'")))
    return select(
        cast(build_object(pairs), Text).label("data"),
        _summary_ids(summary, ids.households, "hids"),
        _summary_ids(summary, ids.persons, "pids"),
    ).select_from(summary)


def _id_columns(ids: IdSets) -> list[ColumnElement[Any]]:
    columns: list[ColumnElement[Any]] = []
    for label, disclosed in (("hids", ids.households), ("pids", ids.persons)):
        if not disclosed:
            continue
        if len(disclosed.own) == 1 and not disclosed.nested:
            columns.append(disclosed.own[0].label(f"_{label}_own"))
        else:
            columns.append(disclosed.row_array().label(f"_{label}"))
    return columns


def _id_aggregates(rows: CTE, ids: IdSets, within: ColumnElement[bool]) -> list[ColumnElement[Any]]:
    aggregates: list[ColumnElement[Any]] = []
    for label, disclosed in (("hids", ids.households), ("pids", ids.persons)):
        if not disclosed:
            continue
        aggregate: Any
        if len(disclosed.own) == 1 and not disclosed.nested:
            aggregate = func.array_agg(rows.c[f"_{label}_own"])
        else:
            aggregate = func.regsosek_array_cat_agg(rows.c[f"_{label}"])
        aggregates.append(aggregate.filter(within).label(label))
    return aggregates


def _summary_ids(summary: Any, disclosed: Disclosed, label: str) -> ColumnElement[Any]:
    if not disclosed:
        return EMPTY_IDS.label(label)
    return func.coalesce(summary.c[label], EMPTY_IDS).label(label)
