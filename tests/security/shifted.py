"""A gateway over a registry whose ids no other value can be mistaken for.

The test registry numbers households and persons from 1, so an id such as 35 is also
a province code and 7 a digit of any pseudonym. Here household ids are moved to
``HOUSEHOLD_SHIFT + n`` and person ids to ``PERSON_SHIFT + n`` (13 digits each, no
other value of the registry looks like them), so "does this string hold an id" has
no false positives and every string of an answer can be searched for ids. The change
feed's rows move with them, and its positions (one sequence across every program) move
to ``POSITION_SHIFT + n``: no program may ever receive a position, its own or another's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from starlette.applications import Starlette

from api.app import create_app
from db.engine import database_name
from tests.policies.expected import HOUSEHOLD_SQL, PERSON_SQL
from tests.schema.conftest import CASE_REFS, Headers, gql, token_headers
from tests.support import create_database, drop_database, make_settings, running

HOUSEHOLD_SHIFT = 1_000_000_000_000
PERSON_SHIFT = 2_000_000_000_000
POSITION_SHIFT = 3_000_000_000_000


@dataclass
class Shifted:
    app: Starlette
    http: httpx.AsyncClient
    owner: asyncpg.Connection
    headers: dict[str, Headers]
    household_ids: set[int]
    person_ids: set[int]
    positions: set[int]
    """Every position of the change feed (of every program)."""


async def _shift_ids(url: str) -> None:
    owner = await asyncpg.connect(url)
    try:
        async with owner.transaction():
            # Foreign keys are triggers: off for this transaction, the ids move together.
            await owner.execute("SET LOCAL session_replication_role = replica")
            await owner.execute(f"UPDATE households SET id = id + {HOUSEHOLD_SHIFT}")
            await owner.execute(
                f"UPDATE persons SET id = id + {PERSON_SHIFT},"
                f" household_id = household_id + {HOUSEHOLD_SHIFT}"
            )
            await owner.execute(
                f"UPDATE assistance_receipts SET household_id = household_id + {HOUSEHOLD_SHIFT}"
            )
            await owner.execute(
                f"UPDATE program_changes SET household_id = household_id + {HOUSEHOLD_SHIFT},"
                f" person_id = person_id + {PERSON_SHIFT}, position = position + {POSITION_SHIFT}"
            )
            await owner.execute(f"UPDATE change_positions SET last = last + {POSITION_SHIFT}")
            for table in ("releases", "webhook_deliveries"):
                await owner.execute(
                    f"UPDATE {table} SET first_position = first_position + {POSITION_SHIFT},"
                    f" last_position = last_position + {POSITION_SHIFT}"
                )
    finally:
        await owner.close()


@asynccontextmanager
async def shifted_gateway(
    *, server_url: str, template_url: str, data_dir: Path, programs: tuple[str, ...]
) -> AsyncIterator[Shifted]:
    """A clone of the test registry with shifted ids, a gateway over it, a token per program."""
    from tests.security.conftest import generous_policies

    url = await create_database(server_url, template=database_name(template_url))
    try:
        await _shift_ids(url)
        settings = make_settings(url, data_dir, policy_dir=generous_policies(data_dir / "policies"))
        app = create_app(settings)
        async with running(app):
            transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40200))
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
                headers = {
                    program: {
                        **await token_headers(app, http, owner_url=url, program=program),
                        **CASE_REFS.get(program, {}),
                    }
                    for program in programs
                }
                owner = await asyncpg.connect(url)
                try:
                    households = {r["id"] for r in await owner.fetch("SELECT id FROM households")}
                    persons = {r["id"] for r in await owner.fetch("SELECT id FROM persons")}
                    positions = {
                        r["position"]
                        for r in await owner.fetch("SELECT position FROM program_changes")
                    }
                    assert min(households) > HOUSEHOLD_SHIFT
                    assert min(persons) > PERSON_SHIFT
                    assert min(positions) > POSITION_SHIFT
                    yield Shifted(app, http, owner, headers, households, persons, positions)
                finally:
                    await owner.close()
    finally:
        await drop_database(url)


async def gql_ok(
    shifted: Shifted, program: str, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The ``data`` of a query that must succeed."""
    status, body = await gql(shifted.http, shifted.headers[program], query, variables)
    assert status == 200, (program, query, body)
    assert "errors" not in body, (program, query, body)
    data: dict[str, Any] = body["data"]
    return data


async def household_ids_outside_scope(shifted: Shifted, program: str) -> set[int]:
    condition = HOUSEHOLD_SQL[program]
    if condition is None:
        return set(shifted.household_ids)
    rows = await shifted.owner.fetch(
        f"SELECT h.id FROM households h WHERE ({condition}) IS NOT TRUE"
    )
    return {row["id"] for row in rows}


async def person_ids_outside_scope(shifted: Shifted, program: str) -> set[int]:
    condition = PERSON_SQL[program]
    if condition is None:
        return set(shifted.person_ids)
    rows = await shifted.owner.fetch(
        "SELECT p.id FROM persons p JOIN households h ON h.id = p.household_id"
        f" WHERE ({condition}) IS NOT TRUE"
    )
    return {row["id"] for row in rows}


async def person_ids_in_scope(shifted: Shifted, program: str) -> list[int]:
    """The persons ``program`` sees, in id order (the order of its ``persons`` pages)."""
    condition = PERSON_SQL[program]
    assert condition is not None
    rows = await shifted.owner.fetch(
        "SELECT p.id FROM persons p JOIN households h ON h.id = p.household_id"
        f" WHERE ({condition}) ORDER BY p.id"
    )
    return [row["id"] for row in rows]
