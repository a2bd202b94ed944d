"""Project a Python value onto a selection (for the few roots computed in Python:
``myAccess``, ``householdStats``, the auditors' fields).

Values are full objects keyed by field name; the result is keyed by response
key and holds only what was selected, in selection order.

The fields a selection selects on a type are collected once per call, not once per
object: a list of 124 ``householdStats`` cells collects its cells' fields (and their
``key``'s) once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from graphql import (
    GraphQLObjectType,
    GraphQLOutputType,
    SelectionSetNode,
    get_named_type,
)

from schema.compiler.selection import collect_fields, sub_selections

Projector = Callable[[Any], Any]


def project(
    value: Any,
    gql_type: GraphQLOutputType,
    selection_sets: tuple[SelectionSetNode, ...],
    *,
    fragments: Mapping[str, Any],
    variables: Mapping[str, Any],
) -> Any:
    return _projector(gql_type, selection_sets, fragments=fragments, variables=variables)(value)


def _projector(
    gql_type: GraphQLOutputType,
    selection_sets: tuple[SelectionSetNode, ...],
    *,
    fragments: Mapping[str, Any],
    variables: Mapping[str, Any],
) -> Projector:
    """What projects any value of ``gql_type`` onto ``selection_sets``; the fields are
    collected when the first object is met, then kept."""
    named = get_named_type(gql_type)
    plan: list[tuple[str, str, Projector | None]] | None = None

    def fields() -> list[tuple[str, str, Projector | None]]:
        assert isinstance(named, GraphQLObjectType)
        found: list[tuple[str, str, Projector | None]] = []
        for selected in collect_fields(
            type_name=named.name,
            selection_sets=selection_sets,
            fragments=fragments,
            variables=variables,
        ):
            if selected.field_name == "__typename":
                found.append((selected.response_key, selected.field_name, None))
                continue
            inner = _projector(
                named.fields[selected.field_name].type,
                sub_selections(selected),
                fragments=fragments,
                variables=variables,
            )
            found.append((selected.response_key, selected.field_name, inner))
        return found

    def one(value: Any) -> Any:
        nonlocal plan
        if value is None:
            return None
        if isinstance(value, list):
            return [one(item) for item in value]
        if not isinstance(named, GraphQLObjectType):
            return value
        if plan is None:
            plan = fields()
        result: dict[str, Any] = {}
        for response_key, field_name, inner in plan:
            result[response_key] = named.name if inner is None else inner(value.get(field_name))
        return result

    return one
