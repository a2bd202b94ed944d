"""How many households and persons each program may read: the denominators of the audit
anomaly rule ``SCOPE_SWEEP`` (``audit.anomaly_rules``), which the auditors' roots and
``regsosek audit report`` hand to ``audit.reports.anomalies``.

Counted with the program's own predicate from ``policies.readable_rows`` (the
one place that decides readability), with ``regsosek.program`` set to the
program for the count so that row-level security agrees; only the two numbers
leave the database. Counts are cached per process for ``ttl`` and per policy
version: scopes change with the registry, slowly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import asyncpg
from sqlalchemy import func, select

from db.programs import count_as_program
from policies import Entity, PolicySet, Program, readable_rows
from schema.compiler.statement import compile_statement

ScopeSize = tuple[str, int, int]
"""``(program, households, persons)``."""


async def count_scope(connection: asyncpg.Connection, program: Program) -> ScopeSize:
    """The households and persons ``program`` may read now."""
    counts = []
    for entity in (Entity.HOUSEHOLD, Entity.PERSON):
        rows = readable_rows(entity, program=program, name="r")
        statement = compile_statement(
            select(func.count()).select_from(rows.table).where(rows.predicate), frozenset()
        )
        counts.append(
            await count_as_program(
                connection,
                program=program.name,
                sql=statement.sql,
                arguments=statement.arguments({}),
            )
        )
    return program.name, counts[0], counts[1]


def programs_with_rows(policies: PolicySet) -> list[Program]:
    """The programs that read registry rows (households or persons), by name."""
    return [
        program
        for name, program in sorted(policies.programs.items())
        if program.readable_types() & {Entity.HOUSEHOLD.value, Entity.PERSON.value}
    ]


async def count_scopes(connection: asyncpg.Connection, policies: PolicySet) -> list[ScopeSize]:
    """The scope of every program of ``policies`` that reads registry rows, counted now."""
    return [await count_scope(connection, program) for program in programs_with_rows(policies)]


@dataclass
class ScopeSizes:
    """Scope sizes per program, counted at most once per ``ttl`` seconds per policy version."""

    ttl: float = 600.0
    _cached: tuple[str, float, list[ScopeSize]] | None = field(default=None, repr=False)

    async def get(self, connection: asyncpg.Connection, policies: PolicySet) -> list[ScopeSize]:
        cached = self._cached
        now = time.monotonic()
        if cached is not None and cached[0] == policies.version and now - cached[1] < self.ttl:
            return cached[2]
        sizes = await count_scopes(connection, policies)
        self._cached = (policies.version, now, sizes)
        return sizes
