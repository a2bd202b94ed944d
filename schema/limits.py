"""Limits checked before validation and execution: depth, aliases, fields,
directives and root fields, counted over the document *as executed* (fragments
expanded, however often they are spread).

Fragment statistics are memoised, so a "fragment bomb" that would expand to
billions of fields is measured in microseconds and refused; a fragment cycle
is refused without recursing.

Depth has two budgets: ``max_depth`` for every path that does not pass
through ``__schema``/``__type``, and ``max_introspection_depth`` for those that
do (a client's standard introspection query nests ``ofType`` about nine times).
Only the *field name* counts, never an alias, operation or fragment name, so
calling something ``__schema`` earns nothing (GraphQL Armor's
GHSA-hmfr-rx46-4jx2); the cost limit still bounds circular introspection.

The cost limit (``schema.cost``) is checked per request, after validation,
because ``first`` may be a variable. Limits are per program: ``limits_for``
applies ``PROGRAM_LIMITS`` over the defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import NamedTuple

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)

SATURATE = 10**9


@dataclass(frozen=True)
class Limits:
    max_tokens: int = 2_000
    max_depth: int = 10
    max_aliases: int = 30
    max_fields: int = 400
    max_directives: int = 20
    max_root_fields: int = 8
    max_introspection_depth: int = 15
    max_cost: int = 200_000
    """Most values an answer may hold (``schema.cost``): a page of 1,000 households with
    their members and every field of both is about 150,000."""


DEFAULT_LIMITS = Limits()

PROGRAM_LIMITS: Mapping[str, Limits] = {
    # The data steward exports whole pages of everything, and the finest statistics.
    "bps-admin": replace(DEFAULT_LIMITS, max_cost=500_000),
}
"""Per-program overrides of the defaults. The program files cannot carry them yet (the
loader refuses unknown keys); once ``limits:`` is a key of ``programs/<program>.yaml``,
``limits_for`` reads it from the program instead."""


def limits_for(program: str, overrides: Mapping[str, Limits] = PROGRAM_LIMITS) -> Limits:
    """The limits of ``program``: its override, or the defaults."""
    return overrides.get(program, DEFAULT_LIMITS)


class _Stats(NamedTuple):
    depth: int = 0
    plain_depth: int = 0
    """Depth along paths that do not pass through ``__schema``/``__type``."""
    aliases: int = 0
    fields: int = 0
    directives: int = 0


EMPTY = _Stats()


class _Cycle(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


@dataclass(frozen=True)
class Violation:
    """Why a document may not run: QUERY_TOO_COMPLEX, or BAD_USER_INPUT for a fragment cycle
    (which is a validation error, found here first because expanding it would never end)."""

    message: str
    code: str = "QUERY_TOO_COMPLEX"


INTROSPECTION_FIELDS = frozenset({"__schema", "__type"})


class _Walker:
    def __init__(self, fragments: dict[str, FragmentDefinitionNode]) -> None:
        self.fragments = fragments
        self.memo: dict[str, _Stats] = {}
        self.visiting: set[str] = set()

    def selection_set(self, node: SelectionSetNode | None) -> _Stats:
        """The statistics of a selection set, fragments expanded (counts saturate)."""
        if node is None:
            return EMPTY
        depth = plain = aliases = fields = directives = 0
        for selection in node.selections:
            directives += len(selection.directives or ())
            if isinstance(selection, FieldNode):
                fields += 1
                if selection.alias is not None:
                    aliases += 1
                child = self.selection_set(selection.selection_set)
                depth = max(depth, child.depth + 1)
                if selection.name.value not in INTROSPECTION_FIELDS:
                    plain = max(plain, child.plain_depth + 1)
            elif isinstance(selection, InlineFragmentNode):
                child = self.selection_set(selection.selection_set)
                depth, plain = max(depth, child.depth), max(plain, child.plain_depth)
            elif isinstance(selection, FragmentSpreadNode):
                child = self.fragment(selection.name.value)
                depth, plain = max(depth, child.depth), max(plain, child.plain_depth)
            else:  # pragma: no cover - the grammar has no other selection
                continue
            aliases += child.aliases
            fields += child.fields
            directives += child.directives
        return _Stats(
            depth,
            plain,
            min(SATURATE, aliases),
            min(SATURATE, fields),
            min(SATURATE, directives),
        )

    def fragment(self, name: str) -> _Stats:
        if name in self.memo:
            return self.memo[name]
        definition = self.fragments.get(name)
        if definition is None:
            return EMPTY
        if name in self.visiting:
            raise _Cycle(name)
        self.visiting.add(name)
        stats = self.selection_set(definition.selection_set)
        stats = stats._replace(
            directives=min(SATURATE, stats.directives + len(definition.directives or ()))
        )
        self.visiting.discard(name)
        self.memo[name] = stats
        return stats


def _root_fields(operation: OperationDefinitionNode, walker: _Walker) -> int:
    count = 0
    pending: list[SelectionSetNode] = [operation.selection_set]
    seen: set[str] = set()
    while pending:
        for selection in pending.pop().selections:
            if isinstance(selection, FieldNode):
                count += 1
            elif isinstance(selection, InlineFragmentNode):
                pending.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in seen:
                seen.add(selection.name.value)
                definition = walker.fragments.get(selection.name.value)
                if definition is not None:
                    pending.append(definition.selection_set)
    return count


def check_limits(document: DocumentNode, limits: Limits) -> Violation | None:
    """Why ``document`` may not run, or None when it is within the limits."""
    problem = _problem(document, limits)
    if isinstance(problem, _Cycle):
        return Violation(
            f"Cannot spread fragment '{problem.name}' within itself.", "BAD_USER_INPUT"
        )
    return Violation(problem) if problem is not None else None


def _problem(document: DocumentNode, limits: Limits) -> str | _Cycle | None:
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    walker = _Walker(fragments)
    try:
        for definition in document.definitions:
            if not isinstance(definition, OperationDefinitionNode):
                continue
            stats = walker.selection_set(definition.selection_set)
            directives = stats.directives + len(definition.directives or ())
            directives += sum(
                len(variable.directives or ()) for variable in definition.variable_definitions or ()
            )
            if stats.plain_depth > limits.max_depth:
                return f"The query is nested deeper than {limits.max_depth} levels."
            if stats.depth > limits.max_introspection_depth:
                return (
                    f"The introspection query is nested deeper than "
                    f"{limits.max_introspection_depth} levels."
                )
            if stats.aliases > limits.max_aliases:
                return f"The query uses more than {limits.max_aliases} aliases."
            if stats.fields > limits.max_fields:
                return f"The query selects more than {limits.max_fields} fields."
            if directives > limits.max_directives:
                return f"The query uses more than {limits.max_directives} directives."
            if _root_fields(definition, walker) > limits.max_root_fields:
                return f"The query asks for more than {limits.max_root_fields} root fields."
    except _Cycle as cycle:
        return cycle
    except RecursionError:
        return "The query is nested too deeply."
    return None
