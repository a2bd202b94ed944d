"""Field collection over a validated document, as GraphQL's CollectFields does.

The registry schema has no interfaces or unions, so a fragment applies exactly
when its type condition is the parent type. Fields with the same response key
merge; ``@skip``/``@include`` are honoured with the request's variables.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    SelectionSetNode,
    value_from_ast_untyped,
)


@dataclass(frozen=True, slots=True)
class Collected:
    """One response key of a selection set: its field name and every node that asked for it."""

    response_key: str
    field_name: str
    nodes: tuple[FieldNode, ...]


def _included(
    node: FieldNode | FragmentSpreadNode | InlineFragmentNode, variables: Mapping[str, Any]
) -> bool:
    for directive in node.directives or ():
        name = directive.name.value
        if name not in ("skip", "include"):
            continue
        condition = False
        for argument in directive.arguments or ():
            if argument.name.value == "if":
                condition = bool(value_from_ast_untyped(argument.value, dict(variables)))
        if name == "skip" and condition:
            return False
        if name == "include" and not condition:
            return False
    return True


def collect_fields(
    *,
    type_name: str,
    selection_sets: tuple[SelectionSetNode, ...],
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any],
    key_by_field_name: bool = False,
) -> list[Collected]:
    """The fields selected on ``type_name`` by ``selection_sets``, in document order.

    With ``key_by_field_name`` the fields are grouped by field name instead of
    response key (what graphql-core's default resolvers need when they read a
    pre-built object).
    """
    grouped: dict[str, list[FieldNode]] = {}
    names: dict[str, str] = {}
    visited: set[str] = set()

    def visit(selection_set: SelectionSetNode) -> None:
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                if not _included(selection, variables):
                    continue
                name = selection.name.value
                key = name if key_by_field_name else (selection.alias or selection.name).value
                grouped.setdefault(key, []).append(selection)
                names[key] = name
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                if condition is not None and condition.name.value != type_name:
                    continue
                if _included(selection, variables):
                    visit(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name in visited or not _included(selection, variables):
                    continue
                fragment = fragments.get(name)
                if fragment is None or fragment.type_condition.name.value != type_name:
                    continue
                visited.add(name)
                visit(fragment.selection_set)

    for selection_set in selection_sets:
        visit(selection_set)
    return [Collected(key, names[key], tuple(nodes)) for key, nodes in grouped.items()]


def sub_selections(collected: Collected) -> tuple[SelectionSetNode, ...]:
    """The selection sets of every node of a merged field."""
    return tuple(node.selection_set for node in collected.nodes if node.selection_set is not None)
