"""Selections of everything a program's schema offers, and answers checked against its types."""

from __future__ import annotations

from typing import Any

from graphql import (
    ExecutionResult,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    build_schema,
    execute_sync,
    get_named_type,
    is_non_null_type,
    parse,
    print_schema,
)


def selection(output: GraphQLOutputType, seen: frozenset[str]) -> str:
    """Every field of ``output`` that needs no argument, nested, each type once per path;
    a connection's edges with their cursors (the nodes carry the fields)."""
    named = get_named_type(output)
    if not isinstance(named, GraphQLObjectType):
        return ""
    parts = []
    for name, field in named.fields.items():
        if any(is_non_null_type(argument.type) for argument in field.args.values()):
            continue
        target = get_named_type(field.type)
        if not isinstance(target, GraphQLObjectType):
            parts.append(name)
        elif named.name.endswith("Connection") and name == "edges":
            parts.append("edges { cursor }")
        elif target.name not in seen:
            inner = selection(field.type, seen | {target.name})
            if inner:
                parts.append(f"{name} {{ {inner} }}")
    return " ".join(parts)


def typed_again(
    schema: GraphQLSchema, document: str, data: dict[str, Any], variables: dict[str, Any]
) -> ExecutionResult:
    """``data`` executed as the root value of ``document`` over the types of ``schema`` (its
    printed SDL: no resolvers, each field read by name): errors where a value breaks its
    field's type (a null in a non-null field, a value outside an enum), else ``data``."""
    plain = build_schema(print_schema(schema))
    return execute_sync(plain, parse(document), root_value=data, variable_values=variables)
