"""Relay connections built in one statement.

The page is a CTE of at most ``first + 1`` rows in keyset order (the extra row
only answers ``hasNextPage``); every node, edge and the page info are built
from it, and the ids of what the page discloses are aggregated beside the
JSON. ``totalCount`` counts the rows the program may see under the same
filter, and only when it is asked for.

A cursor is a disclosure of the row it points at, like the row's ``id``: an
edge's ``cursor`` adds the edge's row to the disclosed ids, ``startCursor`` and
``endCursor`` the first and the last row of the page, each under its field path
(``persons.edges.cursor``, ``households.pageInfo.endCursor``). The ids come
out of the same statement, through the same ``IdSets`` as nodes' ids.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Boolean, Integer, Text, bindparam, case, cast, func, literal_column, select
from sqlalchemy.dialects.postgresql import aggregate_order_by, array
from sqlalchemy.sql import ColumnElement, Select
from sqlalchemy.sql.selectable import CTE

from schema.compiler.cursors import Ordering, cursor_sql
from schema.compiler.objects import (
    EMPTY_IDS,
    EMPTY_LIST,
    CompileContext,
    Disclosed,
    IdSets,
    build_object,
    compile_object,
    with_laterals,
)
from schema.compiler.selection import Collected, sub_selections

FIRST = bindparam("q_first", type_=Integer)


@dataclass(frozen=True)
class ConnectionSource:
    """What a connection is made of."""

    node_type: str
    page: CTE
    """The page rows: every column of the entity plus ``_rn`` (1-based position)."""
    ordering: Ordering
    total: Callable[[], ColumnElement[Any]]
    """The number of rows the program may see under the filter (built only if asked)."""
    has_previous: Callable[[], ColumnElement[Any]]


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
    disclosed = ids.of(source.node_type)
    only = array([page.c.id])
    if "edges.cursor" in cursors:
        disclosed.add_own(page.c.id)
    if "pageInfo.startCursor" in cursors:
        disclosed.nested.append(case((page.c._rn == 1, only), else_=EMPTY_IDS))
    if "pageInfo.endCursor" in cursors:
        last = func.least(func.count().over(), FIRST)
        disclosed.nested.append(case((page.c._rn == last, only), else_=EMPTY_IDS))
    for cursor in cursors:
        ctx.field_paths.add(f"{path}.{cursor}")
    if cursors:
        ctx.cursors = True


def connection_statement(
    ctx: CompileContext, *, selected: Collected, source: ConnectionSource
) -> Select[Any]:
    """``SELECT data::text, household_ids, person_ids`` for one connection field."""
    page = source.page
    node_type = source.node_type
    path = selected.field_name
    elements: list[ColumnElement[Any]] = []
    laterals = []
    ids = IdSets()
    top: list[tuple[str, Any]] = []
    cursors: set[str] = set()

    for field in ctx.collect(f"{node_type}Connection", sub_selections(selected)):
        name = field.field_name
        if name == "nodes":
            obj = compile_object(
                ctx,
                type_name=node_type,
                source=page,
                selection_sets=sub_selections(field),
                path=f"{path}.nodes",
            )
            laterals.extend(obj.laterals)
            ids.extend(obj.ids)
            top.append((field.response_key, ("list", len(elements))))
            elements.append(obj.json)
        elif name == "edges":
            pairs: list[tuple[str, ColumnElement[Any]]] = []
            for edge_field in ctx.collect(f"{node_type}Edge", sub_selections(field)):
                if edge_field.field_name == "cursor":
                    pairs.append((edge_field.response_key, cursor_sql(source.ordering, page)))
                    cursors.add("edges.cursor")
                elif edge_field.field_name == "node":
                    obj = compile_object(
                        ctx,
                        type_name=node_type,
                        source=page,
                        selection_sets=sub_selections(edge_field),
                        path=f"{path}.edges.node",
                    )
                    laterals.extend(obj.laterals)
                    ids.extend(obj.ids)
                    pairs.append((edge_field.response_key, obj.json))
                elif edge_field.field_name == "__typename":
                    pairs.append((edge_field.response_key, literal_column(f"'{node_type}Edge'")))
            top.append((field.response_key, ("list", len(elements))))
            elements.append(build_object(pairs))
        elif name == "pageInfo":
            cursors |= {f"pageInfo.{cursor}" for cursor in _page_cursors(ctx, field)}
            top.append((field.response_key, ("page_info", field)))
        elif name == "totalCount":
            top.append((field.response_key, ("total", None)))
        elif name == "__typename":
            top.append((field.response_key, ("typename", f"{node_type}Connection")))
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


HAS_AFTER = bindparam("q_has_after", type_=Boolean)
