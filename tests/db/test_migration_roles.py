"""The gateway role is the cluster's, not a database's: migrating several databases of one
cluster at once (test workers on a new cluster, or two kabupaten on one server) must not fail
on creating it twice."""

from __future__ import annotations

import asyncio
import importlib.util
import secrets
from pathlib import Path

import asyncpg

from db.engine import database_name
from tests.support import create_database, drop_database

MIGRATION = (
    Path(__file__).resolve().parents[2] / "migrations" / "versions" / "0001_initial_schema.py"
)


def _role_block(role: str) -> str:
    """0001's role statement, for another role name (the real one exists already)."""
    spec = importlib.util.spec_from_file_location("migration_0001", MIGRATION)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    block: str = module.SECURITY_SQL[0]
    assert f"CREATE ROLE {module.APP_ROLE} " in block
    return block.replace(module.APP_ROLE, role)


async def test_the_role_statement_survives_migrations_of_other_databases_at_once(
    server_url: str,
) -> None:
    urls = [await create_database(server_url) for _ in range(3)]
    roles: list[str] = []
    try:
        for _ in range(3):
            role = f"regsosek_race_{secrets.token_hex(4)}"
            roles.append(role)
            block = _role_block(role)
            connections = [await asyncpg.connect(url) for url in urls]
            try:
                results = await asyncio.gather(
                    *(connection.execute(block) for connection in connections),
                    return_exceptions=True,
                )
            finally:
                for connection in connections:
                    await connection.close()
            failures = [result for result in results if isinstance(result, BaseException)]
            assert failures == []
            admin = await asyncpg.connect(urls[0])
            try:
                granted = await admin.fetch(
                    "SELECT datname FROM pg_database"
                    " WHERE has_database_privilege($1, datname, 'CONNECT') AND datname = ANY($2)",
                    role,
                    [database_name(url) for url in urls],
                )
            finally:
                await admin.close()
            assert len(granted) == len(urls)
    finally:
        for url in urls:
            await drop_database(url)
        admin = await asyncpg.connect(server_url)
        try:
            for role in roles:
                await admin.execute(f"DROP ROLE IF EXISTS {role}")
        finally:
            await admin.close()
