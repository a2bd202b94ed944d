"""A compiled statement: SQL text for asyncpg, and how to bind it per request."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.sql import Select

_DIALECT = asyncpg_dialect()  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class CompiledStatement:
    sql: str
    names: tuple[str, ...]
    """Bind parameter names in ``$n`` order."""
    static: Mapping[str, Any]
    """Values fixed at compile time (policy constants, pseudonym key blocks)."""
    field_paths: frozenset[str]
    """The registry fields this statement discloses (for the audit event)."""

    def arguments(self, params: Mapping[str, Any]) -> list[Any]:
        """Positional arguments: request values (``q_*``) and the compiled constants."""
        values = []
        for name in self.names:
            value = params[name] if name.startswith("q_") else self.static[name]
            values.append(value.value if isinstance(value, Enum) else value)
        return values


def compile_statement(statement: Select[Any], field_paths: frozenset[str]) -> CompiledStatement:
    compiled = statement.compile(dialect=_DIALECT)
    names = tuple(compiled.positiontup or ())
    static = {name: value for name, value in compiled.params.items() if not name.startswith("q_")}
    return CompiledStatement(compiled.string, names, static, field_paths)
