"""Scope changes of an import: each program's predicate on the rows before and after.

The importer's writer (``db.importer.write``) describes what it changes in two
temporary tables before it writes anything:

* ``import_changed(kk_number, household_id, added, columns, member_columns,
  receipts_changed)``: every family with any change; ``columns`` are the
  household columns that changed, ``member_columns`` the person columns that
  changed on any member plus ``+`` / ``-`` when a member joined or left;
* ``import_person_changes(person_id, nik, kind, columns, …)``: every member
  added, changed or removed.

``snapshot`` evaluates every program's scope on those families (and, for
programs that scope persons, on their members) into ``scope_h_<stage>`` and
``scope_p_<stage>``, once before the writes and once after;
``record_import_changes`` turns the two into ENTERED / UPDATED / LEFT rows of
``release_events``. Families without a change cannot move in or out of any
scope (both states are evaluated in the same transaction, on the same
``current_date``), so only changed families are evaluated.
"""

from __future__ import annotations

from typing import Literal

import asyncpg

from db.entities import Entity
from db.releases.ledger import EVENTS_TABLE
from db.releases.scopes import HOUSEHOLD_ALIAS, PERSON_ALIAS, EntityScope

Stage = Literal["before", "after"]


def _columns(scopes: list[EntityScope]) -> str:
    return "".join(f", ({scope.predicate}) AS s{index}" for index, scope in enumerate(scopes))


def household_scopes(scopes: list[EntityScope]) -> list[EntityScope]:
    return [scope for scope in scopes if scope.entity is Entity.HOUSEHOLD]


def person_scopes(scopes: list[EntityScope]) -> list[EntityScope]:
    return [scope for scope in scopes if scope.entity is Entity.PERSON]


async def snapshot(
    connection: asyncpg.Connection, scopes: list[EntityScope], *, stage: Stage
) -> None:
    """Membership of the changed families (and their members) in every scope, at ``stage``."""
    h, p = HOUSEHOLD_ALIAS, PERSON_ALIAS
    changed = "SELECT household_id FROM import_changed WHERE household_id IS NOT NULL"
    await connection.execute(
        f"CREATE TEMP TABLE scope_h_{stage} ON COMMIT DROP AS"
        f" SELECT {h}.id AS household_id{_columns(household_scopes(scopes))}"
        f" FROM households AS {h} WHERE {h}.id IN ({changed})"
    )
    await connection.execute(f"ALTER TABLE scope_h_{stage} ADD PRIMARY KEY (household_id)")
    await connection.execute(
        f"CREATE TEMP TABLE scope_p_{stage} ON COMMIT DROP AS"
        f" SELECT {p}.id AS person_id, {p}.household_id, {p}.nik{_columns(person_scopes(scopes))}"
        f" FROM persons AS {p} WHERE {p}.household_id IN ({changed})"
        if person_scopes(scopes)
        else f"CREATE TEMP TABLE scope_p_{stage} (person_id bigint, household_id bigint,"
        " nik text) ON COMMIT DROP"
    )
    await connection.execute(f"ALTER TABLE scope_p_{stage} ADD PRIMARY KEY (person_id)")


def _kind(index: int, *, updated: str) -> str:
    was, now = f"coalesce(b.s{index}, false)", f"coalesce(a.s{index}, false)"
    return (
        f"CASE WHEN {was} AND NOT {now} THEN 'LEFT'"
        f" WHEN {now} AND NOT {was} THEN 'ENTERED'"
        f" WHEN {was} AND {now} AND ({updated}) THEN 'UPDATED' END::change_kind"
    )


async def record_import_changes(connection: asyncpg.Connection, scopes: list[EntityScope]) -> None:
    """ENTERED / UPDATED / LEFT for every program, from the two snapshots, into release_events."""
    for index, scope in enumerate(household_scopes(scopes)):
        seen = scope.visibility
        updated = (
            "c.columns && $2::text[] OR c.member_columns && $3::text[]"
            " OR ($4::boolean AND c.receipts_changed)"
        )
        await connection.execute(
            f"""
            INSERT INTO {EVENTS_TABLE} (program, kind, household_id)
            SELECT $1, x.kind, x.household_id FROM (
                SELECT c.household_id, {_kind(index, updated=updated)} AS kind
                FROM import_changed AS c
                LEFT JOIN scope_h_before AS b USING (household_id)
                LEFT JOIN scope_h_after AS a USING (household_id)
                WHERE c.household_id IS NOT NULL
            ) AS x WHERE x.kind IS NOT NULL
            """,
            scope.program,
            list(seen.household_columns),
            list(seen.member_markers()),
            seen.assistance,
        )
    for index, scope in enumerate(person_scopes(scopes)):
        seen = scope.visibility
        updated = (
            "coalesce(pc.columns, '{}') && $2::text[] OR coalesce(hc.columns, '{}') && $3::text[]"
        )
        await connection.execute(
            f"""
            INSERT INTO {EVENTS_TABLE} (program, kind, household_id, person_id, nik)
            SELECT $1, x.kind, x.household_id, x.person_id, x.nik FROM (
                SELECT coalesce(a.person_id, b.person_id) AS person_id,
                       coalesce(a.household_id, b.household_id) AS household_id,
                       coalesce(a.nik, b.nik) AS nik,
                       {_kind(index, updated=updated)} AS kind
                FROM scope_p_before AS b
                FULL JOIN scope_p_after AS a ON a.person_id = b.person_id
                LEFT JOIN import_person_changes AS pc
                       ON pc.person_id = coalesce(a.person_id, b.person_id)
                LEFT JOIN import_changed AS hc ON hc.household_id = a.household_id
            ) AS x WHERE x.kind IS NOT NULL
            """,
            scope.program,
            list(seen.person_columns),
            list(seen.household_columns),
        )
