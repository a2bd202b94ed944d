"""``regsosek db upgrade`` and ``regsosek db current``."""

from __future__ import annotations

import typer

from api.cli.common import console, load_settings, run
from api.database import owner_database_url
from db import migrate

app = typer.Typer(help="Database migrations (Alembic).", no_args_is_help=True)


@app.command()
def upgrade() -> None:
    """Migrate the database to the newest revision and install the row-level-security policies."""
    settings = load_settings()
    with owner_database_url(settings) as url:
        run(upgrade_database(url))
        console.print(f"database at revision [bold]{migrate.head_revision()}[/bold]")


@app.command()
def current() -> None:
    """Print the database's revision and whether it is the newest."""
    settings = load_settings()
    with owner_database_url(settings) as url:
        revision = run(migrate.current_revision(url))
    head = migrate.head_revision()
    state = "up to date" if revision == head else f"behind (newest is {head})"
    console.print(f"{revision or 'empty'} ({state})")
    if revision != head:
        raise typer.Exit(1)


async def upgrade_database(url: str) -> None:
    """Alembic to head, then the policies' row-level-security policies."""
    await migrate.upgrade_async(url)
