"""Project a Python value onto a selection (for the few roots computed in Python:
``myAccess``, ``householdStats``, the auditors' fields).

Values are full objects keyed by field name; the result is keyed by response
key and holds only what was selected, in selection order.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import (
    GraphQLObjectType,
    GraphQLOutputType,
    SelectionSetNode,
    get_named_type,
)

from schema.compiler.selection import collect_fields, sub_selections


def project(
    value: Any,
    gql_type: GraphQLOutputType,
    selection_sets: tuple[SelectionSetNode, ...],
    *,
    fragments: Mapping[str, Any],
    variables: Mapping[str, Any],
) -> Any:
    if value is None:
        return None
    if isinstance(value, list):
        return [
            project(item, gql_type, selection_sets, fragments=fragments, variables=variables)
            for item in value
        ]
    named = get_named_type(gql_type)
    if not isinstance(named, GraphQLObjectType):
        return value
    result: dict[str, Any] = {}
    for selected in collect_fields(
        type_name=named.name,
        selection_sets=selection_sets,
        fragments=fragments,
        variables=variables,
    ):
        if selected.field_name == "__typename":
            result[selected.response_key] = named.name
            continue
        field_type = named.fields[selected.field_name].type
        result[selected.response_key] = project(
            value.get(selected.field_name),
            field_type,
            sub_selections(selected),
            fragments=fragments,
            variables=variables,
        )
    return result
