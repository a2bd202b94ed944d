"""Fixtures of the audit tests: cloned registry databases with a registered signing key."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from tests.audit.support import ChainDatabase, StaticKey, register_public_key


@pytest.fixture
async def chain_db(make_database: Callable[[], Awaitable[str]]) -> ChainDatabase:
    """A fresh clone of the seeded registry (empty audit chain), a test key in ``signing_keys``."""
    url = await make_database()
    key = StaticKey()
    await register_public_key(url, key)
    return ChainDatabase(url=url, key=key)
