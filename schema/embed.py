"""Registry objects inside a value root's answer (``Proposal.household``).

A root computed in Python names a household it is about with ``HouseholdRef(id)``; before
the answer is projected, each reference that the operation selects becomes the program's
``Household`` object, compiled like ``household(id:)`` (``schema.compiler.roots``: the
program's row predicate, masks and disclosed ids), on the request's own connection. A
household the program may no longer read becomes null, as ``household(id:)`` answers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson
from graphql import (
    GraphQLObjectType,
    GraphQLOutputType,
    SelectionSetNode,
    get_named_type,
)

from schema.compiler.roots import ROOTS, Prepared
from schema.compiler.selection import Collected, collect_fields, sub_selections
from schema.compiler.statement import CompiledStatement
from schema.sealed_cursors import ProgramCursorKeys


@dataclass(frozen=True)
class HouseholdRef:
    """A household a value root's answer names, to be read as the program's ``Household``."""

    id: int


Found = list[tuple[dict[str, Any], str, Collected]]
"""(object holding the reference, its key, the selection of the referenced household)."""


def find_refs(
    value: Any,
    gql_type: GraphQLOutputType,
    selection_sets: tuple[SelectionSetNode, ...],
    *,
    fragments: Mapping[str, Any],
    variables: Mapping[str, Any],
) -> Found:
    """Every selected ``HouseholdRef`` in ``value`` (walked as ``schema.project`` walks it)."""
    found: Found = []
    if value is None:
        return found
    if isinstance(value, list):
        for item in value:
            found += find_refs(
                item, gql_type, selection_sets, fragments=fragments, variables=variables
            )
        return found
    named = get_named_type(gql_type)
    if not isinstance(named, GraphQLObjectType) or not isinstance(value, dict):
        return found
    for selected in collect_fields(
        type_name=named.name,
        selection_sets=selection_sets,
        fragments=fragments,
        variables=variables,
    ):
        if selected.field_name == "__typename":
            continue
        item = value.get(selected.field_name)
        if isinstance(item, HouseholdRef):
            found.append((value, selected.field_name, selected))
            continue
        found += find_refs(
            item,
            named.fields[selected.field_name].type,
            sub_selections(selected),
            fragments=fragments,
            variables=variables,
        )
    return found


Compile = Callable[[Collected, Prepared], CompiledStatement]
Record = Callable[[CompiledStatement, list[int] | None, list[int] | None], None]


async def embed_households(
    found: Found,
    *,
    connection: asyncpg.Connection,
    program: Any,
    cursor_keys: ProgramCursorKeys,
    compile_household: Compile,
    record: Record,
) -> None:
    """Replace each found reference by the household's JSON (keyed by field name), or None;
    ``record`` takes each statement's disclosed ids for the audit event."""
    compiler = ROOTS["household"]
    compiled: dict[tuple[int, ...], CompiledStatement] = {}
    for holder, key, selected in found:
        reference = holder[key]
        prepared = compiler.prepare({"id": str(reference.id)}, program, cursor_keys=cursor_keys)
        shape = tuple(id(node) for node in selected.nodes)
        statement = compiled.get(shape)
        if statement is None:
            statement = compiled[shape] = compile_household(
                Collected(selected.response_key, "household", selected.nodes), prepared
            )
        row = await connection.fetchrow(statement.sql, *statement.arguments(prepared.params))
        if row is None:
            holder[key] = None
            continue
        record(statement, row[1], row[2])
        holder[key] = orjson.loads(row[0])
