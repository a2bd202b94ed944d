"""``chainStatus``: a full walk first, then incremental checks that still catch an edited
head (and hand it to a full walk, which names the damage)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from api.app import create_app
from api.auth.clients import create_client
from api.state import gateway_state
from tests.audit.support import audit_tables
from tests.schema.conftest import gql
from tests.support import make_settings, running

STATUS = (
    "{ chainStatus { ok verification headSequence lastSequence checkpoints checkpointsValid"
    " damage { sequence kind detail } } }"
)


async def test_chain_status_walks_then_checks_incrementally_and_sees_an_edit(
    make_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    url = await make_database()
    async with running(create_app(make_settings(url, tmp_path))) as app:
        connection = await asyncpg.connect(url)
        try:
            made = await create_client(
                connection,
                program="inspektorat-audit",
                name="chain",
                policies=gateway_state(app).policies.current,
            )
        finally:
            await connection.close()
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40200))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            token = await http.post(
                "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(made.client_id, made.client_secret),
            )
            headers = {"Authorization": f"Bearer {token.json()['access_token']}"}

            async def status() -> dict[str, Any]:
                code, body = await gql(http, headers, STATUS)
                assert code == 200, body
                result: dict[str, Any] = body["data"]["chainStatus"]
                return result

            first = await status()
            assert (first["ok"], first["verification"], first["damage"]) == (True, "FULL", None)
            for _ in range(3):
                await gql(http, headers, "{ myAccess { program } }")
            second = await status()
            assert (second["ok"], second["verification"]) == (True, "INCREMENTAL")
            # Its own request and the three since were verified, one by one.
            assert int(second["headSequence"]) == int(first["headSequence"]) + 4
            assert second["checkpoints"] >= first["checkpoints"]
            assert second["checkpointsValid"] == second["checkpoints"]

            head = int(second["headSequence"])
            owner = await asyncpg.connect(url)
            try:
                tables = await audit_tables(owner)
                async with owner.transaction():
                    for table in tables:
                        await owner.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
                    await owner.execute(
                        "UPDATE audit_events SET row_count = row_count + 1 WHERE seq = $1", head
                    )
                    for table in tables:
                        await owner.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
            finally:
                await owner.close()

            broken = await status()
            assert (broken["ok"], broken["verification"]) == (False, "FULL")
            assert broken["damage"]["sequence"] == str(head)
            assert broken["damage"]["kind"] == "EDITED"
