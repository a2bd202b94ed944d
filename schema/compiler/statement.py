"""A compiled statement: SQL text for asyncpg, and how to bind it per request.

``gated`` is the same statement as it runs on the fast path: wrapped so that it
sets ``regsosek.program`` for its own (implicit) transaction before it reads
anything::

    SELECT * FROM (<statement>) AS gated
    WHERE (SELECT set_config('regsosek.program', $n, true)) = $n

The condition is a constant of the statement, so PostgreSQL evaluates it once,
as a one-time filter at the top of the plan, before any scan beneath it runs
and reads the setting in its row-level-security policy (the RLS reads it
through an InitPlan, evaluated on first use). ``set_config(…, true)`` is
``SET LOCAL``: the value ends with the statement's transaction, so the
connection goes back to the pool with no program set (and reads nothing
under RLS until the next statement sets one). One round trip instead of
three (``BEGIN; SET LOCAL``, the statement, ``COMMIT``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.sql import Select

from db.programs import PROGRAM_SETTING

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
    gated: str = ""
    """The statement setting its own program (see the module); the program is the last argument."""
    cursors: bool = False
    """Its JSON holds cursor placeholders, sealed before the JSON leaves (``seal_marked``)."""

    def arguments(self, params: Mapping[str, Any]) -> list[Any]:
        """Positional arguments: request values (``q_*``) and the compiled constants."""
        values = []
        for name in self.names:
            value = params[name] if name.startswith("q_") else self.static[name]
            values.append(value.value if isinstance(value, Enum) else value)
        return values


def compile_statement(
    statement: Select[Any], field_paths: frozenset[str], *, cursors: bool = False
) -> CompiledStatement:
    compiled = statement.compile(dialect=_DIALECT)
    names = tuple(compiled.positiontup or ())
    static = {name: value for name, value in compiled.params.items() if not name.startswith("q_")}
    program = f"${len(names) + 1}"
    gated = (
        f"SELECT * FROM ({compiled.string}) AS gated"
        f" WHERE (SELECT set_config('{PROGRAM_SETTING}', {program}::text, true)) = {program}::text"
    )
    return CompiledStatement(compiled.string, names, static, field_paths, gated, cursors)
