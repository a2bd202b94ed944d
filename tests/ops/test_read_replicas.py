"""``READ_DATABASE_URLS`` against a real hot standby made with ``pg_basebackup``.

A throwaway primary (``wal_level=replica``) is migrated and seeded small; a
standby is cloned from it with ``pg_basebackup -R`` and started on its own
loopback port. Both log every statement with the connection's
``application_name``, so the logs show which server ran what.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest
from starlette.applications import Starlette

from api.app import create_app
from api.cli.db import upgrade_database
from api.state import gateway_state
from audit.verify import verify_chain
from db.engine import create_pool
from db.reader import RegistryReader, refuse_bypassing_role
from db.seed import seed_registry
from tests.ops.clusters import Server, clone_standby, primary_and_standby
from tests.ops.support import scrape, value
from tests.schema.conftest import token_headers
from tests.support import make_settings, running

HOUSEHOLDS = 200
PROGRAM = "bps-admin"
QUERY = {"query": "{ households(first: 5) { nodes { id memberCount } } }"}
READ_MARKS = (f"SET LOCAL regsosek.program = '{PROGRAM}'", "set_config('regsosek.program'")
"""A registry read in the server log: a read transaction, or a statement that sets its own program."""
"""What the reader sends to open each read transaction: in a server's log, a read it ran."""


@dataclass
class Replication:
    primary: Server
    standby: Server

    @property
    def primary_url(self) -> str:
        return self.primary.url("regsosek")

    @property
    def standby_url(self) -> str:
        return self.standby.url("regsosek")


@pytest.fixture(scope="module")
async def replication() -> AsyncIterator[Replication]:
    with primary_and_standby() as (primary, standby):
        admin = await asyncpg.connect(primary.url())
        try:
            await admin.execute("CREATE DATABASE regsosek")
        finally:
            await admin.close()
        await upgrade_database(primary.url("regsosek"))
        await seed_registry(primary.url("regsosek"), households=HOUSEHOLDS, seed=7)
        clone_standby(primary, standby)
        yield Replication(primary, standby)


async def _where(app: Starlette) -> tuple[bool, int, str]:
    """Where the gateway's next registry read runs: (in recovery?, server port, login)."""
    async with gateway_state(app).engine.reader.transaction(PROGRAM) as connection:
        row = await connection.fetchrow(
            "SELECT pg_is_in_recovery(), inet_server_port(), current_user"
        )
    assert row is not None
    return row[0], row[1], row[2]


def _reads_in(server: Server) -> list[str]:
    lines = server.log_text().splitlines()
    return [line for line in lines if any(mark in line for mark in READ_MARKS)]


async def _session_names(url: str) -> set[str]:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(
            "SELECT DISTINCT application_name FROM pg_stat_activity"
            " WHERE usename = 'regsosek_app' AND datname = 'regsosek'"
        )
    finally:
        await connection.close()
    return {row[0] for row in rows}


async def test_reads_go_to_the_standby_writes_to_the_primary_with_failover_and_back(
    replication: Replication, tmp_path: Path
) -> None:
    primary, standby = replication.primary, replication.standby
    settings = make_settings(
        replication.primary_url,
        tmp_path,
        # No user in the URL: the replica is read as the gateway role, like the primary.
        read_database_urls=[f"postgresql://127.0.0.1:{standby.port}/regsosek"],
    )
    replica = f"127.0.0.1:{standby.port}"
    async with running(create_app(settings)) as app:
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40002))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            headers = await token_headers(
                app, http, owner_url=replication.primary_url, program=PROGRAM
            )

            # 1. Reads run on the standby, as the gateway role; writes never do.
            assert await _where(app) == (True, standby.port, "regsosek_app")
            primary_reads_before = len(_reads_in(primary))
            for _ in range(3):
                answer = await http.post("/graphql", json=QUERY, headers=headers)
                assert answer.status_code == 200, answer.text
                assert len(answer.json()["data"]["households"]["nodes"]) == 5
            assert len(_reads_in(standby)) >= 4
            assert len(_reads_in(primary)) == primary_reads_before == 0
            assert await _session_names(replication.standby_url) == {"regsosek-reader"}
            assert "regsosek-audit" in await _session_names(replication.primary_url)
            owner = await asyncpg.connect(replication.primary_url)
            try:
                audited = await owner.fetch(
                    "SELECT endpoint, outcome FROM audit_events ORDER BY seq"
                )
            finally:
                await owner.close()
            assert [tuple(row) for row in audited] == [("token", "allowed")] + [
                ("graphql", "allowed")
            ] * 3
            _, series = await scrape(http)
            assert value(series, "regsosek_read_transactions_total", target=replica) >= 4
            assert value(series, "regsosek_read_replica_up", replica=replica) == 1

            # 2. The standby stops: reads fail over to the primary within a request or two.
            standby.stop("fast")
            statuses = []
            for _ in range(2):
                answer = await http.post("/graphql", json=QUERY, headers=headers)
                statuses.append(answer.status_code)
            # The pool's connections to the stopped standby fail before any statement of the
            # request runs, so even the first request is answered from the primary.
            assert statuses == [200, 200]
            assert len(_reads_in(primary)) >= 1
            assert (await _where(app))[:2] == (False, primary.port)
            _, series = await scrape(http)
            assert value(series, "regsosek_read_replica_up", replica=replica) == 0
            assert value(series, "regsosek_read_replica_failures_total", replica=replica) == 1
            assert value(series, "regsosek_read_transactions_total", target="primary") >= 2

            # 3. The standby comes back: after the back-off, reads return to it.
            standby.start()
            deadline = time.monotonic() + 20
            while (await _where(app))[0] is not True:
                assert time.monotonic() < deadline, "reads never returned to the standby"
                await asyncio.sleep(0.25)
            answer = await http.post("/graphql", json=QUERY, headers=headers)
            assert answer.status_code == 200
            _, series = await scrape(http)
            assert value(series, "regsosek_read_replica_up", replica=replica) == 1

    owner = await asyncpg.connect(replication.primary_url)
    try:
        report = await verify_chain(owner)
        allowed = await owner.fetchval(
            "SELECT count(*) FROM audit_events WHERE endpoint = 'graphql' AND outcome = 'allowed'"
        )
    finally:
        await owner.close()
    assert report.ok, report.damage
    assert allowed == 3 + statuses.count(200) + 1


async def test_a_replica_login_that_bypasses_row_level_security_is_never_read_from(
    replication: Replication,
) -> None:
    """``postgres@standby`` (a superuser) would read with RLS off: marked down, primary reads."""
    standby = replication.standby
    if not standby.is_running():
        standby.start()
    primary_pool = await create_pool(replication.primary.url("regsosek", user="regsosek_app"))
    unsafe = await create_pool(
        standby.url("regsosek", user="postgres"), min_size=0, init=refuse_bypassing_role
    )
    reader = RegistryReader(primary=primary_pool, replicas={"unsafe": unsafe})
    try:
        for _ in range(2):
            async with reader.transaction(PROGRAM) as connection:
                recovery, user = await connection.fetchrow(
                    "SELECT pg_is_in_recovery(), current_user"
                )
            assert (recovery, user) == (False, "regsosek_app")
        assert reader.replicas[0].up is False
    finally:
        await reader.close()
        await unsafe.close()
        await primary_pool.close()
