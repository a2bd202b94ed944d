"""The cost of an operation: how many values its answer can hold, known before it runs.

The model is deliberately simple, so an agency can work it out by hand:

* every field costs 1 each time it appears in the answer;
* a field appears once for each item of every list above it;
* a connection's ``nodes`` and ``edges`` are lists of ``first`` items (its
  default, 50, when ``first`` is not given); its ``totalCount`` and
  ``pageInfo`` appear once;
* other lists count the rows they are expected to hold (``LIST_SIZES``):
  ``Household.members`` 4 (the registry averages 3.6), ``Household.assistance``
  12, ``regions`` 250 (the desa of a kabupaten), ``householdStats`` the product
  of the sizes of its ``groupBy`` dimensions (``DESA × WELFARE_DECILE`` is
  2,500 cells), introspection lists what a program's schema roughly holds,
  anything else 10.

So ``households(first: 1000) { nodes { id name: headName members { name } } }``
costs ``1 + 1000 × (1 + 1 + 1 + 4 × (1 + 1)) = 11,001``. Nested lists multiply,
which is exactly what makes ``members { household { members { … } } }`` chains
expensive. ``@skip`` and ``@include`` are ignored (the cost is an upper bound);
fragments are costed once and reused, so a fragment bomb costs microseconds
to measure. The cost is computed per request, after variables are coerced,
because ``first`` and ``groupBy`` may be variables.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValueNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    is_list_type,
)
from graphql.language import EnumValueNode
from graphql.type.introspection import SchemaMetaFieldDef, TypeMetaFieldDef

SATURATE = 10**12
DEFAULT_FIRST = 50
MAX_FIRST = 1000
DEFAULT_LIST_SIZE = 10

LIST_SIZES: Mapping[str, int] = {
    "Household.members": 4,
    "Household.assistance": 12,
    "Query.regions": 250,
    "Query.disclosures": 50,
    "Access.fields": 100,
    # Introspection: about 60 types of 6 fields; few arguments, input types or enums.
    "__Schema.types": 100,
    "__Type.fields": 10,
    "__Type.enumValues": 5,
    "__Type.inputFields": 1,
    "__Type.interfaces": 1,
    "__Type.possibleTypes": 1,
    "__Field.args": 1,
    "__Directive.args": 2,
}
"""Rows a list is expected to hold, by ``Type.field``; other lists: ``DEFAULT_LIST_SIZE``."""

DIMENSION_SIZES: Mapping[str, int] = {
    "PROVINSI": 1,
    "KABUPATEN": 1,
    "KECAMATAN": 31,
    "DESA": 250,
    "WELFARE_DECILE": 10,
    "HEAD_SEX": 2,
    "ASSISTANCE_PROGRAM": 7,
}
"""Cells a ``householdStats`` dimension splits into (Kabupaten Jember: 31 kecamatan, 248 desa)."""


class _Cycle(Exception):
    pass


def _argument(node: FieldNode, name: str, *, variables: Mapping[str, Any]) -> ValueNode | Any:
    for argument in node.arguments or ():
        if argument.name.value == name:
            value = argument.value
            if isinstance(value, VariableNode):
                return variables.get(value.name.value)
            return value
    return None


def _first(node: FieldNode, field: GraphQLField, *, variables: Mapping[str, Any]) -> int:
    value = _argument(node, "first", variables=variables)
    if isinstance(value, IntValueNode):
        value = int(value.value)
    if value is None:
        default = field.args["first"].default_value if "first" in field.args else None
        value = default if isinstance(default, int) else DEFAULT_FIRST
    if not isinstance(value, int):
        return DEFAULT_FIRST
    # Out-of-range values are refused by the compiler with a clearer message.
    return max(0, min(value, MAX_FIRST))


def _stat_cells(node: FieldNode, *, variables: Mapping[str, Any]) -> int:
    value = _argument(node, "groupBy", variables=variables)
    names: set[str] = set()
    if isinstance(value, ListValueNode):
        names = {item.value for item in value.values if isinstance(item, EnumValueNode)}
    elif isinstance(value, EnumValueNode):
        names = {value.value}
    elif isinstance(value, list | tuple):
        names = {getattr(item, "name", str(item)) for item in value}
    cells = 1
    for name in names:
        cells = min(SATURATE, cells * DIMENSION_SIZES.get(name, DEFAULT_LIST_SIZE))
    return cells


class _CostWalker:
    def __init__(
        self,
        schema: GraphQLSchema,
        *,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.memo: dict[tuple[str, int | None], int] = {}
        self.visiting: set[str] = set()

    def _field(self, parent: GraphQLNamedType, name: str) -> GraphQLField | None:
        if name == "__schema" and parent is self.schema.query_type:
            return SchemaMetaFieldDef
        if name == "__type" and parent is self.schema.query_type:
            return TypeMetaFieldDef
        if isinstance(parent, GraphQLObjectType):
            found: GraphQLField | None = parent.fields.get(name)
            return found
        return None

    def _times(self, node: FieldNode, *, parent: GraphQLNamedType, field: GraphQLField) -> int:
        """How many items the field holds per appearance of its parent (1 if not a list)."""
        name = node.name.value
        if not is_list_type(get_nullable_type(field.type)):
            return 1
        if name == "householdStats":
            return _stat_cells(node, variables=self.variables)
        return LIST_SIZES.get(f"{parent.name}.{name}", DEFAULT_LIST_SIZE)

    def selection_set(
        self, node: SelectionSetNode | None, *, parent: GraphQLNamedType, page: int | None
    ) -> int:
        """The cost of one appearance of an object of type ``parent`` with this selection.

        ``page`` is the enclosing connection's ``first`` when ``parent`` is a connection.
        """
        if node is None:
            return 0
        total = 0
        for selection in node.selections:
            if isinstance(selection, FieldNode):
                total += self.field(selection, parent=parent, page=page)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = self.schema.get_type(condition.name.value) if condition else parent
                total += self.selection_set(
                    selection.selection_set, parent=inner or parent, page=page
                )
            elif isinstance(selection, FragmentSpreadNode):
                total += self.fragment(selection.name.value, page=page)
            if total >= SATURATE:
                return SATURATE
        return total

    def field(self, node: FieldNode, *, parent: GraphQLNamedType, page: int | None) -> int:
        name = node.name.value
        if name == "__typename":
            return 1
        definition = self._field(parent, name)
        if definition is None:
            return 1
        named = get_named_type(definition.type)
        if page is not None and name in ("nodes", "edges"):
            times = page
        else:
            times = self._times(node, parent=parent, field=definition)
        inner_page = None
        if (
            isinstance(named, GraphQLObjectType)
            and "nodes" in named.fields
            and "first" in (definition.args)
        ):
            inner_page = _first(node, definition, variables=self.variables)
        if node.selection_set is None:
            return times
        child = self.selection_set(node.selection_set, parent=named, page=inner_page)
        return min(SATURATE, times * (1 + child))

    def fragment(self, name: str, *, page: int | None) -> int:
        definition = self.fragments.get(name)
        if definition is None:
            return 0
        parent = self.schema.get_type(definition.type_condition.name.value)
        if parent is None:
            return 0
        key = (
            name,
            page if isinstance(parent, GraphQLObjectType) and "nodes" in parent.fields else None,
        )
        if key in self.memo:
            return self.memo[key]
        if name in self.visiting:
            raise _Cycle
        self.visiting.add(name)
        cost = self.selection_set(definition.selection_set, parent=parent, page=key[1])
        self.visiting.discard(name)
        self.memo[key] = cost
        return cost


def operation_cost(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    *,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any],
) -> int:
    """The operation's cost under the model above (saturating at ``SATURATE``).

    ``operation`` must have passed validation against ``schema``.
    """
    query_type = schema.query_type
    if query_type is None:
        return 0
    walker = _CostWalker(schema, fragments=fragments, variables=variables)
    try:
        return walker.selection_set(operation.selection_set, parent=query_type, page=None)
    except (_Cycle, RecursionError):
        return SATURATE


def cost_variables(document: DocumentNode) -> frozenset[str]:
    """The variables any cost could depend on: those given to ``first`` or ``groupBy``."""
    names: set[str] = set()
    pending: list[SelectionSetNode] = [
        definition.selection_set
        for definition in document.definitions
        if isinstance(definition, OperationDefinitionNode | FragmentDefinitionNode)
    ]
    while pending:
        for selection in pending.pop().selections:
            if isinstance(selection, FieldNode):
                for argument in selection.arguments or ():
                    if argument.name.value in ("first", "groupBy") and isinstance(
                        argument.value, VariableNode
                    ):
                        names.add(argument.value.name.value)
                if selection.selection_set is not None:
                    pending.append(selection.selection_set)
            elif isinstance(selection, InlineFragmentNode):
                pending.append(selection.selection_set)
    return frozenset(names)
