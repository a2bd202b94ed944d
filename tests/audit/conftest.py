"""Fixtures of the audit tests: cloned registry databases with a registered signing key, and
for the auditors' reports a registry clone with a month of written history and a gateway of
its own over it (so that no other test's events mix in)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg
import httpx
import pytest
from starlette.applications import Starlette

from api.app import create_app
from api.auth.clients import create_client
from api.state import gateway_state
from db.engine import database_name
from tests.audit.history import History, append_history, november_story, october_story
from tests.audit.support import ChainDatabase, StaticKey, register_public_key, sample_event
from tests.support import Clones, create_database, drop_database, make_settings, running


@pytest.fixture(scope="module")
async def module_chain_db(server_url: str, template_url: str) -> AsyncIterator[ChainDatabase]:
    """Like ``chain_db``, shared by a module's tests (for tests that change nothing)."""
    url = await create_database(server_url, template=database_name(template_url))
    try:
        key = StaticKey()
        await register_public_key(url, key)
        yield ChainDatabase(url=url, key=key)
    finally:
        await drop_database(url)


@pytest.fixture
async def chain_db(make_database: Callable[[], Awaitable[str]]) -> ChainDatabase:
    """A fresh clone of the seeded registry (empty audit chain), a test key in ``signing_keys``."""
    url = await make_database()
    key = StaticKey()
    await register_public_key(url, key)
    return ChainDatabase(url=url, key=key)


@pytest.fixture
async def chain(chain_db: ChainDatabase) -> ChainDatabase:
    """``chain_db`` holding 40 events written one by one, checkpoints at 0, 10, 20, 30, 40."""
    writer = chain_db.writer(checkpoint_every=10, flush_ms=0)
    await writer.start()
    try:
        for index in range(40):
            await writer.record(sample_event(index))
    finally:
        await writer.close()
    report = await chain_db.verify()
    assert report.ok
    assert [c.seq for c in report.checkpoints] == [0, 10, 20, 30, 40]
    return chain_db


DINSOS_SCOPE = (
    "SELECT id FROM households WHERE kabupaten_code = '3509' AND welfare_decile <= 4 ORDER BY id"
)


@dataclass
class HistoryDatabase:
    url: str
    history: History


@asynccontextmanager
async def _history_database(
    registry_clones: Clones, story: Callable[[list[int]], History]
) -> AsyncIterator[HistoryDatabase]:
    """A registry clone whose audit trail holds ``story`` told over dinsos-pkh's scope."""
    url = await registry_clones.take()
    try:
        connection = await asyncpg.connect(url)
        try:
            scope = [row[0] for row in await connection.fetch(DINSOS_SCOPE)]
        finally:
            await connection.close()
        history = story(scope)
        await append_history(url, history)
        yield HistoryDatabase(url=url, history=history)
    finally:
        registry_clones.give_back(url)


@pytest.fixture(scope="module")
async def history_db(registry_clones: Clones) -> AsyncIterator[HistoryDatabase]:
    """A registry clone whose audit trail holds ``tests.audit.history.october_story``."""
    async with _history_database(registry_clones, october_story) as database:
        yield database


@pytest.fixture(scope="module")
async def november_db(registry_clones: Clones) -> AsyncIterator[HistoryDatabase]:
    """A registry clone whose audit trail holds ``tests.audit.history.november_story``."""
    async with _history_database(registry_clones, november_story) as database:
        yield database


@dataclass
class HistoryGateway:
    """A started gateway over its own database, and an in-process HTTP client to it."""

    url: str
    app: Starlette
    http: httpx.AsyncClient

    async def client(self, program: str) -> tuple[str, str]:
        connection = await asyncpg.connect(self.url)
        try:
            made = await create_client(
                connection,
                program=program,
                name=f"console test {program}",
                policies=gateway_state(self.app).policies.current,
            )
        finally:
            await connection.close()
        return made.client_id, made.client_secret

    async def bearer(self, program: str) -> dict[str, str]:
        client_id, secret = await self.client(program)
        answer = await self.http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(client_id, secret),
        )
        assert answer.status_code == 200, answer.text
        return {"Authorization": f"Bearer {answer.json()['access_token']}"}


@pytest.fixture(scope="module")
async def history_gateway(
    history_db: HistoryDatabase, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[HistoryGateway]:
    """The gateway over ``history_db`` (requests made now add to the October history)."""
    settings = make_settings(history_db.url, tmp_path_factory.mktemp("console"))
    async with running(create_app(settings)) as app:
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40100))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield HistoryGateway(url=history_db.url, app=app, http=http)
