"""Test fixtures: a real PostgreSQL (DATABASE_URL's server, or an embedded one).

The suite never touches the database DATABASE_URL names: it creates its own
databases on that server (the role needs CREATEDB) and drops them at the end.

* ``template_url``: migrated, policies applied, seeded with the standard test
  registry (``TEST_HOUSEHOLDS`` households, seed ``TEST_SEED``). Never
  connected to by an app, so it can be cloned.
* ``registry_url``: a session-wide clone for tests that only read the registry.
* ``make_database``: a fresh clone per call, for tests that change things.
* ``migrated_template_url`` and ``new_database``: the same without registry rows
  (authentication needs none; fast to clone, independent of the seeder).
* ``app``/``http``: the gateway over the shared registry; ``gateway``: a gateway over
  a fresh migrated database of its own (``tests.support.Gateway``).

Helpers (settings, running apps, the ``regsosek`` command) are in ``tests.support``,
forged tokens in ``tests.tokens``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import asyncpg
import httpx
import hypothesis  # noqa: F401  (imported before any app freezes the heap; see api.app)
import pytest
from starlette.applications import Starlette

from api.app import create_app
from api.settings import Settings
from db.engine import database_name, plain_url
from tests.support import (
    POLICY_DIR,
    TEST_HOUSEHOLDS,
    TEST_SEED,
    Clones,
    Gateway,
    create_database,
    drop_database,
    make_settings,
    running,
    running_gateway,
)


@pytest.fixture(autouse=True)
def cli_consoles_follow_columns() -> None:
    """The CLI's rich consoles (``api.cli.common``) read ``COLUMNS`` when they are made, once
    per process; tests invoke the CLI many times in one process, each with its own
    ``COLUMNS``, so a width pinned by whichever invocation imported the module first would
    leak into the others (and make a test's outcome depend on test order)."""
    common = sys.modules.get("api.cli.common")
    if common is not None:
        common.console._width = None
        common.errors._width = None


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


@pytest.fixture(scope="session")
async def registry_clones(server_url: str, template_url: str) -> AsyncIterator[Clones]:
    clones = Clones(server_url, database_name(template_url))
    try:
        yield clones
    finally:
        await clones.close()


@pytest.fixture
async def make_database(registry_clones: Clones) -> AsyncIterator[Callable[[], Awaitable[str]]]:
    """Clones of the seeded template, dropped after the test."""
    made: list[str] = []

    async def make() -> str:
        url = await registry_clones.take()
        made.append(url)
        return url

    yield make
    for url in made:
        registry_clones.give_back(url)


@pytest.fixture(scope="session")
async def migrated_template_url(server_url: str) -> AsyncIterator[str]:
    """Migrated, policies applied, no registry rows; never connected to by an app."""
    from api.cli.db import upgrade_database

    url = await create_database(server_url)
    try:
        await upgrade_database(url, policy_dir=POLICY_DIR)
        yield url
    finally:
        await drop_database(url)


@pytest.fixture(scope="session")
async def migrated_clones(server_url: str, migrated_template_url: str) -> AsyncIterator[Clones]:
    clones = Clones(server_url, database_name(migrated_template_url))
    try:
        yield clones
    finally:
        await clones.close()


@pytest.fixture
async def new_database(migrated_clones: Clones) -> AsyncIterator[Callable[[], Awaitable[str]]]:
    """Fresh migrated databases (clones of ``migrated_template_url``), dropped after the test."""
    made: list[str] = []

    async def make() -> str:
        url = await migrated_clones.take()
        made.append(url)
        return url

    yield make
    for url in made:
        migrated_clones.give_back(url)


@pytest.fixture
async def gateway(
    new_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> AsyncIterator[Gateway]:
    """A gateway over a fresh migrated database (ES256 keys)."""
    async with running_gateway(await new_database(), tmp_path) as started:
        yield started


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


@pytest.fixture(scope="session")
def settings(registry_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_settings(registry_url, tmp_path_factory.mktemp("data"))


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
