"""Fixtures for authentication tests: migrated (unseeded) databases and running gateways.

Authentication needs no registry rows, so these databases are clones of a
template that is only migrated: fast to clone, and independent of the seeder.
Helpers (forging tokens, running the CLI) are in ``auth_support``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from auth_support import POLICY_DIR, Gateway, create_database, drop_database, running_gateway

from db.engine import database_name


@pytest.fixture(scope="session")
async def auth_template_url(server_url: str) -> AsyncIterator[str]:
    from api.cli.db import upgrade_database

    url = await create_database(server_url)
    try:
        await upgrade_database(url, policy_dir=POLICY_DIR)
        yield url
    finally:
        await drop_database(url)


@pytest.fixture
async def new_database(
    server_url: str, auth_template_url: str
) -> AsyncIterator[Callable[[], Awaitable[str]]]:
    """Fresh migrated databases (clones of the template), dropped after the test."""
    made: list[str] = []

    async def make() -> str:
        url = await create_database(server_url, template=database_name(auth_template_url))
        made.append(url)
        return url

    yield make
    for url in made:
        await drop_database(url)


@pytest.fixture
async def gateway(
    new_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> AsyncIterator[Gateway]:
    """A gateway over a fresh database (ES256 keys)."""
    async with running_gateway(await new_database(), tmp_path) as started:
        yield started
