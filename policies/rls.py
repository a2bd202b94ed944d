"""The second wall: the row scopes as PostgreSQL row-level-security policies.

One policy per registry table, for the gateway role only::

    CREATE POLICY regsosek_program_rows ON households FOR SELECT TO regsosek_app
    USING (CASE (SELECT current_setting('regsosek.program', true))
           WHEN 'dinsos-pkh' THEN (<the predicate readable_rows compiles>)
           ...
           ELSE false END)

The predicates are those of ``policies.rows`` rendered with literal values.
Every literal comes from the validated AST (digit strings, integers, enum
labels, ISO dates, program names matching ``[a-z0-9-]``), never from a
request. With ``regsosek.program`` unset, empty or unknown, every table is
empty for the role. A transaction selects its program with
``SELECT set_config('regsosek.program', $1, true)`` (``SET LOCAL``).

Households also admit, for a program that scopes persons directly, the
household part of its person scope (so the persons policy's sub-select on
households sees them); and, only when the transaction also sets
``regsosek.statistics = 'on'``, the program's statistics scope (the rows
``householdStats`` counts). Persons and assistance receipts repeat their
household condition inside their own ``EXISTS`` sub-select, which is itself
subject to the households policy.
"""

from __future__ import annotations

import asyncpg
from sqlalchemy import ColumnElement, FromClause, and_, false, literal_column, or_, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql import ClauseElement

from db.engine import APP_ROLE, plain_url
from db.entities import Entity
from db.programs import PROGRAM_NAME, PROGRAM_SETTING
from policies.model import PolicySet, Program
from policies.rows import (
    TABLES,
    person_households_predicate,
    readable_rows,
    statistics_predicate,
)

POLICY_NAME = "regsosek_program_rows"
STATISTICS_SETTING = "regsosek.statistics"
SET_PROGRAM_SQL = f"SELECT set_config('{PROGRAM_SETTING}', $1, true)"
"""Run first in each read transaction, with the program's name as $1."""
SET_STATISTICS_SQL = f"SELECT set_config('{STATISTICS_SETTING}', 'on', true)"
"""Run as well in a ``householdStats`` transaction."""

_DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]


def render(clause: ClauseElement) -> str:
    """SQL text with every value inlined as a literal (validated values only)."""
    return str(clause.compile(dialect=_DIALECT, compile_kwargs={"literal_binds": True}))


def render_predicate(predicate: ColumnElement[bool], table: FromClause) -> str:
    """A predicate over ``table`` as SQL text, correlated sub-selects included."""
    head = render(select(literal_column("1")).select_from(table))
    sql = render(select(literal_column("1")).select_from(table).where(predicate))
    prefix = head + " \nWHERE "
    if not sql.startswith(prefix):
        raise AssertionError(f"unexpected rendering of a predicate: {sql!r}")
    return sql[len(prefix) :]


def table_predicates(program: Program) -> dict[Entity, tuple[FromClause, ColumnElement[bool]]]:
    """Each registry table (aliased as itself) and the predicate its RLS policy uses."""
    result: dict[Entity, tuple[FromClause, ColumnElement[bool]]] = {}
    for entity, table in TABLES.items():
        readable = readable_rows(entity, program=program, name=table.name)
        predicate = readable.predicate
        if entity is Entity.HOUSEHOLD:
            predicate = _households(program, readable.table, readable=predicate)
        result[entity] = (readable.table, predicate)
    return result


def _households(
    program: Program, table: FromClause, *, readable: ColumnElement[bool]
) -> ColumnElement[bool]:
    """Readable households, households of readable persons, and (flagged) statistics rows."""
    parts = [readable]
    if program.person_scope is not None:
        parts.append(person_households_predicate(program, table))
    statistics = program.statistics_scope
    if statistics is not None and statistics != program.household_scope:
        flag = literal_column(f"(SELECT current_setting('{STATISTICS_SETTING}', true))") == "on"
        counted = statistics_predicate(program, table)
        parts.append(and_(flag, counted))
    useful = [part for part in parts if not part.compare(false())]
    if not useful:
        return false()
    return useful[0] if len(useful) == 1 else or_(*useful)


def policy_statements(policy_set: PolicySet) -> list[str]:
    """The statements that replace the registry tables' RLS policies (run in one transaction)."""
    programs = sorted(policy_set.programs.values(), key=lambda program: program.name)
    for program in programs:
        if not PROGRAM_NAME.match(program.name):
            raise ValueError(f"unsafe program name {program.name!r}")
    predicates = {program.name: table_predicates(program) for program in programs}
    statements: list[str] = []
    for entity, table in TABLES.items():
        branches = []
        for program in programs:
            alias, predicate = predicates[program.name][entity]
            if predicate.compare(false()):
                continue
            branches.append(
                f"    WHEN '{program.name}' THEN ({render_predicate(predicate, alias)})"
            )
        if branches:
            setting = f"(SELECT current_setting('{PROGRAM_SETTING}', true))"
            using = f"CASE {setting}\n" + "\n".join(branches) + "\n    ELSE false END"
        else:
            using = "false"
        statements += [
            f"ALTER TABLE {table.name} ENABLE ROW LEVEL SECURITY",
            f"CREATE POLICY {POLICY_NAME} ON {table.name} AS PERMISSIVE FOR SELECT "
            f"TO {APP_ROLE}\nUSING (\n{using}\n)",
            f"COMMENT ON POLICY {POLICY_NAME} ON {table.name} IS "
            f"'regsosek policies {policy_set.version}'",
        ]
    return statements


async def install_policies(connection: asyncpg.Connection, policy_set: PolicySet) -> None:
    """Replace every RLS policy of the registry tables with ``policy_set``'s, in the caller's
    transaction. Other policies found on those tables are dropped too: the tables' only
    way in for the gateway role is the one generated here."""
    statements = policy_statements(policy_set)
    tables = [table.name for table in TABLES.values()]
    existing = await connection.fetch(
        "SELECT format('DROP POLICY %I ON %I.%I', policyname, schemaname, tablename)"
        " FROM pg_policies WHERE schemaname = current_schema()"
        " AND tablename = ANY($1::text[])",
        tables,
    )
    for row in existing:
        await connection.execute(row[0])
    for statement in statements:
        await connection.execute(statement)


async def apply_policies(url: str, policy_set: PolicySet) -> None:
    """``install_policies`` in a transaction of its own, atomically."""
    connection = await asyncpg.connect(plain_url(url))
    try:
        async with connection.transaction():
            await install_policies(connection, policy_set)
    finally:
        await connection.close()


async def applied_version(url: str) -> str | None:
    """The policy version installed on ``households`` (None when none is)."""
    connection = await asyncpg.connect(plain_url(url))
    try:
        comment = await connection.fetchval(
            "SELECT obj_description(p.oid, 'pg_policy') FROM pg_policy p"
            " WHERE p.polname = $1 AND p.polrelid = 'households'::regclass",
            POLICY_NAME,
        )
    finally:
        await connection.close()
    prefix = "regsosek policies "
    return (
        comment[len(prefix) :] if isinstance(comment, str) and comment.startswith(prefix) else None
    )
