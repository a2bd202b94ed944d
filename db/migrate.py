"""Run Alembic programmatically: ``regsosek db upgrade`` and ``regsosek db current``."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

import migrations
from db.engine import create_engine, sqlalchemy_url


def alembic_config(url: str) -> Config:
    config = Config(stdout=io.StringIO())
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(url).replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database to ``revision`` (blocking; call from a thread inside an event loop)."""
    command.upgrade(alembic_config(url), revision)


def head_revision() -> str | None:
    script = ScriptDirectory.from_config(alembic_config("postgresql://localhost/unused"))
    return script.get_current_head()


async def current_revision(url: str) -> str | None:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:

            def _read(sync: Connection) -> str | None:
                return MigrationContext.configure(sync).get_current_revision()

            return await connection.run_sync(_read)
    finally:
        await engine.dispose()


async def upgrade_async(url: str) -> None:
    await asyncio.to_thread(upgrade, url)
