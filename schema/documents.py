"""Parsed and validated documents, cached per program schema.

Parsing and validation are the costly, repeatable part of a GraphQL request:
an agency system sends the same few documents all day. Each program's schema
caches, per document text, the parsed document or the errors it produced.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    VariableNode,
    parse,
    validate,
    visit,
)
from graphql.language import Visitor

from schema.cost import cost_variables, operation_cost
from schema.limits import Limits, check_limits

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")


class BoundedCache(Generic[K, V]):
    """A small LRU map."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> V:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._items)


@dataclass(frozen=True)
class ParsedDocument:
    """A document as one program's schema judged it."""

    text_hash: str
    document: DocumentNode | None
    errors: tuple[GraphQLError, ...] = ()
    error_code: str | None = None
    fragments: dict[str, FragmentDefinitionNode] = field(default_factory=dict)
    operations: dict[str | None, OperationDefinitionNode] = field(default_factory=dict)
    directive_variables: frozenset[str] = frozenset()
    """Variables that ``@skip``/``@include`` read: they change the SQL, so they key its cache."""
    cost_variables: frozenset[str] = frozenset()
    """Variables the cost depends on (``first``, ``groupBy``): they key ``costs``."""
    costs: dict[tuple[Any, ...], int] = field(default_factory=dict, compare=False)

    def cost(
        self,
        schema: GraphQLSchema,
        operation: OperationDefinitionNode,
        *,
        variables: Mapping[str, Any],
    ) -> int:
        """The operation's cost (``schema.cost``) with these variables; remembered."""
        key = (
            operation.name.value if operation.name else None,
            *(_hashable(variables.get(name)) for name in sorted(self.cost_variables)),
        )
        cost = self.costs.get(key)
        if cost is None:
            if len(self.costs) >= MAX_REMEMBERED_COSTS:
                self.costs.clear()
            cost = operation_cost(schema, operation, fragments=self.fragments, variables=variables)
            self.costs[key] = cost
        return cost


MAX_REMEMBERED_COSTS = 64


def _hashable(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_hashable(item) for item in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    return value


def clean_message(message: str) -> str:
    """Drop "Did you mean …?" hints: they would name fields the caller may not see."""
    return SUGGESTION.sub("", message)


def _directive_variables(document: DocumentNode) -> frozenset[str]:
    names: set[str] = set()

    class Collector(Visitor):
        def enter_directive(self, node, *_):  # type: ignore[no-untyped-def]
            for argument in node.arguments or ():
                if isinstance(argument.value, VariableNode):
                    names.add(argument.value.name.value)

    visit(document, Collector())
    return frozenset(names)


def prepare_document(text: str, schema: GraphQLSchema, limits: Limits) -> ParsedDocument:
    """Parse, check the limits, validate; never raises for bad input."""
    text_hash = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    try:
        document = parse(text, max_tokens=limits.max_tokens, allow_empty_selection_sets=False)
    except GraphQLError as error:
        lowered = error.message.lower()
        if "token" in lowered:
            code, message = "QUERY_TOO_COMPLEX", "The document is too large."
        elif "nested too deeply" in lowered:
            code, message = "QUERY_TOO_COMPLEX", "The document is nested too deeply."
        else:
            code, message = "BAD_USER_INPUT", clean_message(error.message)
        return ParsedDocument(text_hash, None, (GraphQLError(message),), code)
    except RecursionError:
        return ParsedDocument(
            text_hash,
            None,
            (GraphQLError("The document is nested too deeply."),),
            "QUERY_TOO_COMPLEX",
        )
    violation = check_limits(document, limits)
    if violation is not None:
        return ParsedDocument(text_hash, None, (GraphQLError(violation.message),), violation.code)
    errors = validate(schema, document, hide_suggestions=True, max_errors=20)
    if errors:
        cleaned = tuple(GraphQLError(clean_message(e.message), nodes=e.nodes) for e in errors)
        return ParsedDocument(text_hash, None, cleaned, "BAD_USER_INPUT")
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    operations = {
        (d.name.value if d.name else None): d
        for d in document.definitions
        if isinstance(d, OperationDefinitionNode)
    }
    return ParsedDocument(
        text_hash,
        document,
        fragments=fragments,
        operations=operations,
        directive_variables=_directive_variables(document),
        cost_variables=cost_variables(document),
    )
