"""``regsosek db upgrade`` and ``regsosek db current``."""

from __future__ import annotations

from pathlib import Path

import typer

from api.cli.common import console, load_settings, run
from api.database import owner_database_url
from db import migrate
from db.releases.policy_change import apply_and_record
from policies.loader import PACKAGED_POLICY_DIR
from policies.snapshot import snapshot

app = typer.Typer(help="Database migrations (Alembic).", no_args_is_help=True)


@app.command()
def upgrade() -> None:
    """Migrate the database to the newest revision and install the row-level-security policies."""
    settings = load_settings()
    with owner_database_url(settings) as url:
        run(upgrade_database(url, policy_dir=settings.resolved_policy_dir()))
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


async def upgrade_database(url: str, *, policy_dir: Path | None = None) -> None:
    """Alembic to head, then the policies' row-level-security policies.

    ``policy_dir`` defaults to the packaged ``policies/``; a broken policy
    directory fails the upgrade before anything changes (``PolicyError``). Applying a
    policy other than the one in force is recorded as a release (``db.releases``).
    """
    files, policy_set = snapshot(policy_dir or PACKAGED_POLICY_DIR)
    await migrate.upgrade_async(url)
    await apply_and_record(url, files=files, policy_set=policy_set)
