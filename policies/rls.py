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
``householdStats`` counts).

Persons and assistance receipts take their own part of the scope from one ``CASE``
and their household part from one ``EXISTS`` sub-select, which probes the row's
household once with a second ``CASE`` on the program and is itself subject to
the households policy::

    CASE (SELECT current_setting('regsosek.program', true))
        WHEN 'dinsos-pkh' THEN (<window>) ... ELSE false END
    AND ((SELECT current_setting(...)) IN (<programs whose rows may be in any household>)
         OR EXISTS (SELECT 1 FROM households AS persons_household
                    WHERE persons_household.id = persons.household_id
                    AND CASE (SELECT current_setting(...))
                        WHEN 'dinsos-pkh' THEN (<household part>) ... ELSE false END))

Each program's branches say what ``readable_rows`` says for it. One sub-select
for every program, rather than one in each program's branch, keeps the plan of
every statement on persons the same size whatever the number of programs:
PostgreSQL sets up every sub-plan of a statement each time it runs it, taken or
not (``tests/policies/test_policy_rls.py`` counts them).

The sub-select ends in ``OFFSET 0``, which keeps PostgreSQL from turning it into
a hashed sub-plan: that form reads every household of the program's scope
before the statement's first row (a page of 100 persons took 0.6 s at 1,000,000
households), where a probe of each row's household by its key costs
microseconds.
"""

from __future__ import annotations

import asyncpg
from sqlalchemy import (
    ColumnElement,
    FromClause,
    Table,
    and_,
    false,
    literal_column,
    or_,
    select,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql import ClauseElement

from db.engine import APP_ROLE, plain_url
from db.entities import Entity
from db.programs import PROGRAM_NAME, PROGRAM_SETTING
from policies.conditions import Everything
from policies.model import PolicySet, Program
from policies.rows import (
    HOUSEHOLDS,
    TABLES,
    agreement_in_force,
    member_scope,
    person_households_predicate,
    readable_rows,
    statistics_predicate,
)
from policies.scope import household_predicate

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
        if entity is Entity.HOUSEHOLD:
            result[entity] = _household_policy(program)
        else:
            readable = readable_rows(entity, program=program, name=table.name)
            result[entity] = (readable.table, readable.predicate)
    return result


def _household_policy(program: Program) -> tuple[FromClause, ColumnElement[bool]]:
    """``households`` (aliased as itself) and the program's branch of its policy."""
    readable = readable_rows(Entity.HOUSEHOLD, program=program, name=HOUSEHOLDS.name)
    return readable.table, _households(program, readable.table, readable=readable.predicate)


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
    statements: list[str] = []
    for entity, table in TABLES.items():
        if entity is Entity.HOUSEHOLD:
            using = _households_using(programs)
        else:
            using = _members_using(entity, table, programs)
        statements += [
            f"ALTER TABLE {table.name} ENABLE ROW LEVEL SECURITY",
            f"CREATE POLICY {POLICY_NAME} ON {table.name} AS PERMISSIVE FOR SELECT "
            f"TO {APP_ROLE}\nUSING (\n{using}\n)",
            f"COMMENT ON POLICY {POLICY_NAME} ON {table.name} IS "
            f"'regsosek policies {policy_set.version}'",
        ]
    return statements


_SETTING = f"(SELECT current_setting('{PROGRAM_SETTING}', true))"


def _case(branches: list[str], *, indent: str = "    ") -> str:
    return f"CASE {_SETTING}\n" + "\n".join(branches) + f"\n{indent}ELSE false END"


def _households_using(programs: list[Program]) -> str:
    branches = []
    for program in programs:
        alias, predicate = _household_policy(program)
        if not predicate.compare(false()):
            branches.append(
                f"    WHEN '{program.name}' THEN ({render_predicate(predicate, alias)})"
            )
    return _case(branches) if branches else "false"


def _members_using(entity: Entity, table: Table, programs: list[Program]) -> str:
    """Persons' or receipts' policy: the rows' own part by program, then their household
    part in one ``EXISTS`` (see the module's docstring)."""
    alias = TABLES[entity].alias(table.name)
    household = HOUSEHOLDS.alias(f"{table.name}_household")  # as readable_rows names it
    own: list[str] = []
    anywhere: list[str] = []
    probed: list[str] = []
    for program in programs:
        scope = member_scope(entity, program=program, table=alias)
        if scope is None:
            continue
        mine = and_(agreement_in_force(program), scope.own)
        own.append(f"    WHEN '{program.name}' THEN ({render_predicate(mine, alias)})")
        if scope.household == Everything():
            anywhere.append(f"'{program.name}'")
            continue
        part = render_predicate(household_predicate(scope.household, household), household)
        probed.append(f"            WHEN '{program.name}' THEN ({part})")
    if not own:
        return "false"
    checks = []
    if anywhere:
        checks.append(f"{_SETTING} IN ({', '.join(anywhere)})")
    if probed:
        parts: ColumnElement[bool] = literal_column(_case(probed, indent="            "))
        probe = (
            select(literal_column("1"))
            .select_from(household)
            .where(household.c.id == alias.c.household_id, parts)
            .offset(0)
            .correlate(alias)
            .exists()
        )
        checks.append(render_predicate(probe, alias))
    return _case(own) + "\n    AND (" + "\n        OR ".join(checks) + ")"


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
