"""``regsosek webhook create | list | disable`` and ``regsosek worker``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from api.cli.common import console, errors, load_settings, run

if TYPE_CHECKING:
    import asyncpg

    from db.models.releases import ChangeKind
    from db.webhooks import Subscription

# The drivers, the models and the settings are imported when a command runs, not for --help.


async def _connect(url: str) -> asyncpg.Connection:
    import asyncpg

    from db.engine import plain_url

    return await asyncpg.connect(plain_url(url))


app = typer.Typer(
    help="Push a program's changes to its agency (signed, retried, audited).",
    no_args_is_help=True,
)


def _events(text: str) -> list[ChangeKind]:
    from db.models.releases import ChangeKind

    names = [part.strip().upper() for part in text.split(",") if part.strip()]
    try:
        kinds = [ChangeKind(name) for name in names]
    except ValueError:
        raise typer.BadParameter("events are ENTERED, UPDATED and LEFT, comma-separated") from None
    if not kinds:
        raise typer.BadParameter("name at least one event")
    return sorted(set(kinds), key=list(ChangeKind).index)


async def _create(url: str, *, program: str, target: str, events: list[ChangeKind]) -> str:
    from db import webhooks
    from db.releases.scopes import applied_scopes

    connection = await _connect(url)
    try:
        scoped = {scope.program for scope in await applied_scopes(connection)}
        if program not in scoped:
            known = ", ".join(sorted(scoped)) or "none"
            raise typer.BadParameter(
                f"{program!r} is not a program with a row scope in the applied policy"
                f" (those are: {known})"
            )
        made = await webhooks.create_subscription(
            connection, program=program, url=target, events=events
        )
        return made.id
    finally:
        await connection.close()


@app.command()
def create(
    program: str = typer.Option(..., "--program", help="The program whose changes are pushed."),
    url: str = typer.Option(..., "--url", help="Receiver: https (http only on loopback)."),
    events: str = typer.Option("ENTERED,UPDATED,LEFT", "--events", help="Kinds to push."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Subscribe URL to the program's changes; prints the subscription id."""
    from api.database import owner_database_url
    from api.webhooks.targets import UnsafeTarget, check_target

    try:
        target = check_target(url)
    except UnsafeTarget as error:
        errors.print(f"refused: {error}", markup=False, highlight=False)
        raise typer.Exit(1) from None
    kinds = _events(events)
    with owner_database_url(load_settings()) as database:
        try:
            made = run(_create(database, program=program, target=target, events=kinds))
        except typer.BadParameter as error:
            errors.print(f"refused: {error}", markup=False, highlight=False)
            raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps({"id": made, "program": program, "url": target,
                               "events": [kind.value for kind in kinds]}))  # fmt: skip
    else:
        console.print(f"webhook {made}: {program} → {target}", markup=False, highlight=False)


async def _list(url: str) -> list[Subscription]:
    from db import webhooks

    connection = await _connect(url)
    try:
        return await webhooks.list_subscriptions(connection)
    finally:
        await connection.close()


@app.command("list")
def list_command(as_json: bool = typer.Option(False, "--json")) -> None:
    """Every subscription, with its deliveries (delivered / pending)."""
    from api.database import owner_database_url

    with owner_database_url(load_settings()) as database:
        found = run(_list(database))
    if as_json:
        rows = [
            {
                "id": item.id,
                "program": item.program,
                "url": item.url,
                "events": [kind.value for kind in item.events],
                "enabled": item.enabled,
                "deliveries": item.deliveries,
                "delivered": item.delivered,
                "pending": item.pending,
            }
            for item in found
        ]
        typer.echo(json.dumps(rows))
        return
    table = Table(title="webhooks")
    for column in ("id", "program", "url", "events", "enabled", "delivered/pending/all"):
        table.add_column(column)
    for item in found:
        table.add_row(
            item.id,
            item.program,
            item.url,
            ",".join(kind.value for kind in item.events),
            "yes" if item.enabled else "no",
            f"{item.delivered}/{item.pending}/{item.deliveries}",
        )
    console.print(table)


async def _disable(url: str, subscription_id: str) -> bool:
    from db import webhooks

    connection = await _connect(url)
    try:
        return await webhooks.disable_subscription(connection, subscription_id)
    finally:
        await connection.close()


@app.command()
def disable(subscription_id: str = typer.Argument(..., metavar="ID")) -> None:
    """Stop pushing to the subscription (deliveries not yet sent are cancelled)."""
    from api.database import owner_database_url

    with owner_database_url(load_settings()) as database:
        done = run(_disable(database, subscription_id))
    if not done:
        errors.print(f"no enabled webhook {subscription_id!r}", markup=False, highlight=False)
        raise typer.Exit(1)
    console.print(f"webhook {subscription_id} disabled", markup=False, highlight=False)


def worker() -> None:
    """Send webhook deliveries from the queue, and count and protect each release's statistics
    populations for every gateway process, until stopped (run beside `regsosek serve`)."""
    from api.database import owner_database_url
    from api.observability.logs import configure_logging
    from api.webhooks.worker import run_worker

    settings = load_settings()
    configure_logging(json=settings.json_logs, level=settings.log_level)
    with owner_database_url(settings) as database:
        run(run_worker(settings, owner_url=database))
