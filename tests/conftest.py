"""Test fixtures: a real PostgreSQL (DATABASE_URL's server, or an embedded one).

The suite never touches the database DATABASE_URL names: it creates its own
databases on that server (the role needs CREATEDB) and drops them at the end.

* ``template_url``: migrated, policies applied, seeded with the standard test
  registry (``TEST_HOUSEHOLDS`` households, seed ``TEST_SEED``). Never
  connected to by an app, so it can be cloned.
* ``registry_url``: a session-wide clone for tests that only read the registry.
* ``make_database``: a fresh clone per call, for tests that change things.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import hypothesis  # noqa: F401  (imported before any app freezes the heap; see api.app)
import pytest
import uvicorn
from starlette.applications import Starlette

from api.app import create_app
from api.settings import Settings
from db.engine import database_name, plain_url, with_database

TEST_HOUSEHOLDS = 1500
TEST_SEED = 20221015
TEST_SECRET = "5f" * 32
TEST_PSEUDONYM_KEY = "a7" * 32


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An owner URL on the server the suite runs against."""
    url = os.environ.get("DATABASE_URL")
    if url:
        yield plain_url(url)
        return
    from db.embedded import embedded_postgres

    data_dir = Path(os.environ.get("REGSOSEK_TEST_DATA_DIR") or tmp_path_factory.mktemp("pg"))
    with embedded_postgres(data_dir) as embedded:
        yield embedded


async def _admin(server_url: str) -> asyncpg.Connection:
    return await asyncpg.connect(with_database(server_url, "postgres"))


async def create_database(server_url: str, *, template: str | None = None) -> str:
    name = f"regsosek_test_{uuid.uuid4().hex[:10]}"
    admin = await _admin(server_url)
    try:
        clause = f" TEMPLATE {template}" if template else ""
        await admin.execute(f"CREATE DATABASE {name}{clause}")
    finally:
        await admin.close()
    return with_database(server_url, name)


async def drop_database(url: str) -> None:
    admin = await _admin(url)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {database_name(url)} WITH (FORCE)")
    finally:
        await admin.close()


@pytest.fixture(scope="session")
async def template_url(server_url: str) -> AsyncIterator[str]:
    from api.cli.db import upgrade_database
    from db.seed import seed_registry

    url = await create_database(server_url)
    try:
        await upgrade_database(url)
        await seed_registry(url, households=TEST_HOUSEHOLDS, seed=TEST_SEED)
        yield url
    finally:
        await drop_database(url)


@pytest.fixture(scope="session")
async def registry_url(server_url: str, template_url: str) -> AsyncIterator[str]:
    url = await create_database(server_url, template=database_name(template_url))
    try:
        yield url
    finally:
        await drop_database(url)


@pytest.fixture
async def make_database(
    server_url: str, template_url: str
) -> AsyncIterator[Callable[[], Awaitable[str]]]:
    """Clones of the seeded template, dropped after the test."""
    made: list[str] = []

    async def make() -> str:
        url = await create_database(server_url, template=database_name(template_url))
        made.append(url)
        return url

    yield make
    for url in made:
        await drop_database(url)


@pytest.fixture
async def empty_database(server_url: str) -> AsyncIterator[str]:
    """A new database with nothing in it (not even the schema)."""
    url = await create_database(server_url)
    yield url
    await drop_database(url)


@pytest.fixture
async def owner(registry_url: str) -> AsyncIterator[asyncpg.Connection]:
    """An owner connection to the shared registry; each test's changes are rolled back."""
    connection = await asyncpg.connect(registry_url)
    transaction = connection.transaction()
    await transaction.start()
    try:
        yield connection
    finally:
        await transaction.rollback()
        await connection.close()


REPO = Path(__file__).resolve().parent.parent


def make_settings(database_url: str, data_dir: Path, **overrides: object) -> Settings:
    """Settings for an app under test: fixed secrets, the repository's policies."""
    values: dict[str, object] = {
        "database_url": database_url,
        "data_dir": data_dir,
        "policy_dir": REPO / "policies",
        "secret_key": TEST_SECRET,
        "pseudonym_key": TEST_PSEUDONYM_KEY,
        "issuer": "http://testserver",
        "audience": "regsosek-gateway",
        "audit_flush_ms": 0.5,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def settings(registry_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_settings(registry_url, tmp_path_factory.mktemp("data"))


@asynccontextmanager
async def running(app: Starlette) -> AsyncIterator[Starlette]:
    """Run the app's lifespan (start-up and shutdown) around a block."""
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[Starlette]:
    """The gateway over the shared test registry, started once per session."""
    async with running(create_app(settings)) as started:
        yield started


@pytest.fixture
async def http(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to ``app`` in-process (real ASGI, real database)."""
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@dataclass
class LiveServer:
    """The gateway on a real loopback port (uvicorn in a thread), for browsers and curl."""

    url: str
    settings: Settings


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def live_server(settings: Settings) -> Iterator[LiveServer]:
    port = _free_port()
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the live server did not start")
        time.sleep(0.05)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", settings)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
