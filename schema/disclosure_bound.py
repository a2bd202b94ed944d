"""What a document can disclose, computed without running it (CONTRACT §9).

For a validated document and a program: every field path it can disclose, in the form the
audit event records them (``households.nodes.headName``, ``persons.nodes.nik[PSEUDONYM]``,
the mode written after a path that is not FULL), and the most rows one request can return.
``@skip``/``@include`` are ignored (the bound holds whatever their variables); fragments
apply where their type does.

Rows: a connection returns at most ``first`` nodes (a literal, the variable's default, or
``MAX_FIRST`` for a variable without one; ``DEFAULT_FIRST`` when not given); a lookup by id
one; ``Household.members`` every member of each household it hangs on, which no document
bounds (``members_of`` counts the households whose members can come with it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
)

from db.catalog import CATALOG, Kind
from policies import FieldMode, Program
from schema.cost import DEFAULT_FIRST, MAX_FIRST

CONNECTIONS = {"households": "Household", "persons": "Person"}
LOOKUPS = {"household": "Household", "person": "Person"}
ROW_TYPES = {"Household": "households", "Person": "persons"}


@dataclass
class Bound:
    """A document's disclosure bound for one program."""

    operation_name: str | None = None
    field_paths: set[str] = field(default_factory=set)
    households: int = 0
    """At most this many households (not counting members' households)."""
    persons: int = 0
    """At most this many persons, besides the members of ``members_of`` households."""
    members_of: int = 0
    """Households whose every member can be disclosed (``Household.members``)."""
    computed_roots: list[str] = field(default_factory=list)
    """Root fields computed in Python (``myAccess``, statistics, the auditors' fields)."""

    def modes(self) -> list[tuple[str, str]]:
        """(path, mode) for every field path, sorted."""
        shown = []
        for path in sorted(self.field_paths):
            if path.endswith("]"):
                bare, mode = path[:-1].split("[", 1)
                shown.append((bare, mode))
            else:
                shown.append((path, FieldMode.FULL.value))
        return shown

    def describe_rows(self) -> str:
        parts = []
        if self.households:
            parts.append(f"{self.households:,} household(s)")
        if self.persons:
            parts.append(f"{self.persons:,} person(s)")
        if self.members_of:
            parts.append(f"the members of {self.members_of:,} household(s)")
        return " + ".join(parts) or "no registry rows"

    def as_json(self) -> dict[str, Any]:
        return {
            "operationName": self.operation_name,
            "fieldPaths": [{"path": path, "mode": mode} for path, mode in self.modes()],
            "maxRows": {
                "households": self.households,
                "persons": self.persons,
                "membersOfHouseholds": self.members_of,
            },
            "computedRoots": self.computed_roots,
        }


def disclosure_bound(
    program: Program,
    operation: OperationDefinitionNode,
    *,
    fragments: Mapping[str, FragmentDefinitionNode],
) -> Bound:
    """The bound of one (validated) operation for ``program``."""
    walker = _Walker(program, fragments, _defaults(operation))
    bound = Bound(operation.name.value if operation.name else None)
    for name, nodes in _collect("Query", (operation.selection_set,), fragments).items():
        walker.root(bound, name, nodes)
    return bound


def _defaults(operation: OperationDefinitionNode) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for definition in operation.variable_definitions or ():
        default = definition.default_value
        if isinstance(default, IntValueNode):
            values[definition.variable.name.value] = int(default.value)
    return values


def _collect(
    type_name: str,
    selection_sets: tuple[SelectionSetNode, ...],
    fragments: Mapping[str, FragmentDefinitionNode],
) -> dict[str, list[FieldNode]]:
    """Field nodes by field name on ``type_name``, every directive taken as including."""
    found: dict[str, list[FieldNode]] = {}
    visited: set[str] = set()

    def visit(selection_set: SelectionSetNode) -> None:
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                found.setdefault(selection.name.value, []).append(selection)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                if condition is None or condition.name.value == type_name:
                    visit(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = fragments.get(selection.name.value)
                if fragment is None or selection.name.value in visited:
                    continue
                if fragment.type_condition.name.value == type_name:
                    visited.add(selection.name.value)
                    visit(fragment.selection_set)

    for selection_set in selection_sets:
        visit(selection_set)
    return found


def _subs(nodes: list[FieldNode]) -> tuple[SelectionSetNode, ...]:
    return tuple(node.selection_set for node in nodes if node.selection_set is not None)


class _Walker:
    def __init__(
        self,
        program: Program,
        fragments: Mapping[str, FragmentDefinitionNode],
        defaults: Mapping[str, Any],
    ) -> None:
        self.program = program
        self.fragments = fragments
        self.defaults = defaults

    def first(self, nodes: list[FieldNode]) -> int:
        """The most rows any of the nodes' ``first`` arguments asks for."""
        most = 0
        for node in nodes:
            given = next((a.value for a in node.arguments or () if a.name.value == "first"), None)
            if given is None:
                most = max(most, DEFAULT_FIRST)
            elif isinstance(given, IntValueNode):
                most = max(most, min(int(given.value), MAX_FIRST))
            elif isinstance(given, VariableNode):
                most = max(most, min(self.defaults.get(given.name.value, MAX_FIRST), MAX_FIRST))
            else:
                most = max(most, MAX_FIRST)
        return most

    def root(self, bound: Bound, name: str, nodes: list[FieldNode]) -> None:
        if name == "__typename":
            return
        if name in CONNECTIONS:
            count = self.first(nodes)
            type_name = CONNECTIONS[name]
            self._count(bound, type_name, count)
            subs = _subs(nodes)
            for field_name, fields in _collect(
                f"{type_name}Connection", subs, self.fragments
            ).items():
                if field_name == "nodes":
                    self.object(bound, type_name, _subs(fields), f"{name}.nodes", count)
                elif field_name == "edges":
                    edge_subs = _subs(fields)
                    for edge_field, edge_nodes in _collect(
                        f"{type_name}Edge", edge_subs, self.fragments
                    ).items():
                        if edge_field == "cursor":
                            bound.field_paths.add(f"{name}.edges.cursor")
                        elif edge_field == "node":
                            path = f"{name}.edges.node"
                            self.object(bound, type_name, _subs(edge_nodes), path, count)
                elif field_name == "pageInfo":
                    for info in _collect("PageInfo", _subs(fields), self.fragments):
                        if info in ("startCursor", "endCursor"):
                            bound.field_paths.add(f"{name}.pageInfo.{info}")
        elif name in LOOKUPS:
            self._count(bound, LOOKUPS[name], 1)
            self.object(bound, LOOKUPS[name], _subs(nodes), name, 1)
        elif name == "regions":
            self.object(bound, "Region", _subs(nodes), name, 0)
        else:
            bound.computed_roots.append(name)

    def _count(self, bound: Bound, type_name: str, count: int) -> None:
        if type_name == "Household":
            bound.households += count
        elif type_name == "Person":
            bound.persons += count

    def object(
        self,
        bound: Bound,
        type_name: str,
        selection_sets: tuple[SelectionSetNode, ...],
        path: str,
        rows: int,
    ) -> None:
        entity = CATALOG[type_name]
        for name, nodes in _collect(type_name, selection_sets, self.fragments).items():
            if name == "__typename":
                continue
            attribute = entity.attributes[name]
            field_path = f"{path}.{name}"
            if attribute.kind is Kind.SCALAR:
                mode = FieldMode.FULL if entity.public else self.program.mode(type_name, name)
                suffix = "" if mode is FieldMode.FULL else f"[{mode.value}]"
                bound.field_paths.add(field_path + suffix)
                continue
            target = attribute.target
            assert target is not None
            if target == "Person" and type_name == "Household":
                bound.members_of += rows
                self.object(bound, target, _subs(nodes), field_path, 0)
            elif target == "Household" and type_name == "Person":
                bound.households += rows
                self.object(bound, target, _subs(nodes), field_path, rows)
            else:
                self.object(bound, target, _subs(nodes), field_path, 0)
