"""``regsosek db upgrade``, ``db current`` and ``db stop``."""

from __future__ import annotations

from pathlib import Path

import typer

from api.cli.common import console, errors, load_settings, run

app = typer.Typer(
    help="Database migrations (Alembic); stopping the embedded PostgreSQL.",
    no_args_is_help=True,
)


@app.command()
def upgrade() -> None:
    """Migrate the database to the newest revision and install the row-level-security policies."""
    from api.cli.checks import check_policies_or_exit, owner_database
    from db import migrate

    settings = load_settings()
    check_policies_or_exit(settings)
    with owner_database(settings) as url:
        run(upgrade_database(url, policy_dir=settings.resolved_policy_dir()))
        console.print(f"database at revision [bold]{migrate.head_revision()}[/bold]")


@app.command()
def current() -> None:
    """Print the database's revision and whether it is the newest."""
    from api.cli.checks import owner_database
    from db import migrate

    settings = load_settings()
    with owner_database(settings) as url:
        revision = run(migrate.current_revision(url))
    head = migrate.head_revision()
    state = "up to date" if revision == head else f"behind (newest is {head})"
    console.print(f"{revision or 'empty'} ({state})")
    if revision != head:
        raise typer.Exit(1)


@app.command()
def stop() -> None:
    """Stop the embedded PostgreSQL under REGSOSEK_DATA_DIR (left running by a killed process).

    Not needed after a normal exit: `regsosek serve`/`demo` stop it on Ctrl-C and
    SIGTERM. Use it after `kill -9`, a crash, or before deleting `.regsosek/`.
    """
    from db.embedded import stop_embedded

    settings = load_settings()
    if settings.database_url:
        errors.print("DATABASE_URL is set: no embedded PostgreSQL is used, nothing to stop")
        return
    pid = stop_embedded(settings.data_dir)
    where = (settings.data_dir / "pgdata").resolve()
    if pid is None:
        console.print(f"no embedded PostgreSQL is running under {where}", highlight=False)
    else:
        console.print(f"stopped the embedded PostgreSQL (pid {pid}) under {where}", highlight=False)


async def upgrade_database(url: str, *, policy_dir: Path | None = None) -> None:
    """Alembic to head, then the policies' row-level-security policies.

    ``policy_dir`` defaults to the packaged ``policies/``; a broken policy
    directory fails the upgrade before anything changes (``PolicyError``). Applying a
    policy other than the one in force is recorded as a release (``db.releases``).
    """
    from db import migrate
    from policies.apply import apply_and_record
    from policies.loader import PACKAGED_POLICY_DIR
    from policies.snapshot import snapshot

    files, policy_set = snapshot(policy_dir or PACKAGED_POLICY_DIR)
    await migrate.upgrade_async(url)
    await apply_and_record(url, files=files, policy_set=policy_set)
