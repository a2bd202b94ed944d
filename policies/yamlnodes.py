"""Reading YAML with line numbers, so every complaint can name ``file:line``.

The files are composed into PyYAML nodes (never constructed as a whole), so
duplicate keys, which PyYAML would silently merge, are reported too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from policies.errors import Problem

__all__ = ["MappingNode", "Node", "Reader", "ScalarNode", "SequenceNode"]


@dataclass
class Reader:
    """Collects problems for one file while its nodes are interpreted."""

    file: str
    problems: list[Problem] = field(default_factory=list)

    def compose(self, text: str) -> Node | None:
        """The document's root node; None (with a problem) when it is not YAML."""
        try:
            node = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            line = mark.line + 1 if mark is not None else 1
            reason = getattr(error, "problem", None) or str(error)
            self.problems.append(Problem(self.file, line, f"not valid YAML: {reason}"))
            return None
        if node is None:
            self.problems.append(Problem(self.file, 1, "the file is empty"))
        return node

    def problem(self, node: Node, reason: str) -> None:
        self.problems.append(Problem(self.file, line_of(node), reason))

    def mapping(self, node: Node, what: str) -> dict[str, tuple[Node, Node]] | None:
        """A mapping's entries by key, as (key node, value node); None when not a mapping."""
        if not isinstance(node, MappingNode):
            self.problem(node, f"{what} must be a mapping")
            return None
        entries: dict[str, tuple[Node, Node]] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode) or not isinstance(self.value(key_node), str):
                self.problem(key_node, f"keys of {what} must be names")
                continue
            key = str(key_node.value)
            if key in entries:
                self.problem(key_node, f"duplicate key {key!r} in {what}")
                continue
            entries[key] = (key_node, value_node)
        return entries

    def sequence(self, node: Node, what: str) -> list[Node] | None:
        if not isinstance(node, SequenceNode):
            self.problem(node, f"{what} must be a list")
            return None
        return list(node.value)

    def value(self, node: Node) -> object:
        """A scalar's Python value (str, int, bool, date, None …); a collection as a marker."""
        if not isinstance(node, ScalarNode):
            return _COLLECTION
        try:
            return SafeConstructor().construct_object(node, deep=True)
        except yaml.YAMLError as error:
            self.problem(node, f"unreadable value: {error}")
            return _COLLECTION

    def string(self, node: Node, what: str) -> str | None:
        value = self.value(node)
        if not isinstance(value, str) or not value.strip():
            self.problem(node, f"{what} must be a non-empty text")
            return None
        return value.strip()

    def integer(self, node: Node, what: str, *, minimum: int, maximum: int) -> int | None:
        value = self.value(node)
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(node, f"{what} must be a whole number")
            return None
        if not minimum <= value <= maximum:
            self.problem(node, f"{what} must be between {minimum} and {maximum}, not {value}")
            return None
        return value

    def boolean(self, node: Node, what: str) -> bool | None:
        value = self.value(node)
        if not isinstance(value, bool):
            self.problem(node, f"{what} must be true or false")
            return None
        return value

    def unknown_keys(
        self, entries: dict[str, tuple[Node, Node]], *, allowed: set[str], what: str
    ) -> None:
        for key, (key_node, _) in entries.items():
            if key not in allowed:
                expected = ", ".join(sorted(allowed))
                self.problem(key_node, f"unknown key {key!r} in {what} (expected: {expected})")


class _Collection:
    """Marker for a node that is a mapping or list where a scalar was expected."""


_COLLECTION = _Collection()


def line_of(node: Node) -> int:
    return int(node.start_mark.line) + 1
