"""Fixtures of the audit tests: cloned registry databases with a registered signing key."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from db.engine import database_name
from tests.audit.support import ChainDatabase, StaticKey, register_public_key, sample_event
from tests.conftest import create_database, drop_database


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
