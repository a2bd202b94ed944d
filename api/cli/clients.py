"""``regsosek client …`` and ``regsosek keys …``: OAuth clients and token signing keys.

Both run as the database owner (``DATABASE_URL``, or the embedded server).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

import typer

from api.cli.common import console, errors, load_settings, print_json, print_table, run

if TYPE_CHECKING:
    import asyncpg

    from api.auth import clients as client_ops
    from api.auth.policy_view import PolicySetView
    from api.settings import Settings

T = TypeVar("T")

client_app = typer.Typer(help="OAuth clients of agency systems.", no_args_is_help=True)
keys_app = typer.Typer(help="The keys that sign access tokens.", no_args_is_help=True)


def _as_owner(settings: Settings, action: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    import asyncpg

    from api.cli.checks import owner_database
    from db.engine import plain_url

    async def go(url: str) -> T:
        connection = await asyncpg.connect(plain_url(url))
        try:
            return await action(connection)
        finally:
            await connection.close()

    with owner_database(settings) as url:
        return run(go(url))


def _policies(settings: Settings) -> PolicySetView:
    from policies import PolicyError, load_policies

    try:
        return load_policies(settings.resolved_policy_dir())
    except PolicyError as error:
        errors.print(f"[red]the policy set does not load:[/red] {error}")
        raise typer.Exit(1) from None


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.isoformat(timespec="seconds")


def _print_credentials(credentials: client_ops.Credentials, *, as_json: bool) -> None:
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "client_id": credentials.client_id,
                    "client_secret": credentials.client_secret,
                }
            )
        )
        return
    console.print(f"client_id     {credentials.client_id}", markup=False, highlight=False)
    console.print(f"client_secret {credentials.client_secret}", markup=False, highlight=False)
    errors.print("The secret is shown once and cannot be recovered; store it now.")


@client_app.command("create")
def create(
    program: str = typer.Option(..., "--program", help="The program of policies/ it acts for."),
    name: str | None = typer.Option(None, "--name", help="A name for operators."),
    as_json: bool = typer.Option(False, "--json", help="Print {client_id, client_secret}."),
) -> None:
    """Register a client bound to PROGRAM; print its id and secret once."""
    from api.auth import clients as client_ops

    settings = load_settings()
    policies = _policies(settings)
    try:
        credentials = _as_owner(
            settings,
            lambda connection: client_ops.create_client(
                connection, program=program, name=name, policies=policies
            ),
        )
    except client_ops.UnknownProgram as error:
        import difflib

        close = difflib.get_close_matches(program, list(policies.programs), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        errors.print(f"{error}{hint}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    _print_credentials(credentials, as_json=as_json)


@client_app.command("list")
def list_clients(
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array instead of a table."),
) -> None:
    """Every client: id, name, program, agency, enabled, created."""
    from api.auth import clients as client_ops

    settings = load_settings()
    policies = _policies(settings)
    rows = _as_owner(
        settings, lambda connection: client_ops.list_clients(connection, policies=policies)
    )
    if as_json:
        print_json(
            [
                {
                    "client_id": row.client_id,
                    "name": row.name,
                    "program": row.program,
                    "agency": row.agency,
                    "enabled": row.enabled,
                    "created_at": row.created_at.isoformat(),
                }
                for row in rows
            ]
        )
        return
    from rich.table import Column, Table

    table = Table(Column("id", no_wrap=True), "name", "program", "agency", "enabled", "created")
    for row in rows:
        table.add_row(
            row.client_id,
            row.name,
            row.program,
            row.agency or "(not in policies)",
            "yes" if row.enabled else "no",
            row.created_at.isoformat(timespec="seconds"),
        )
    print_table(table)


def _set_enabled(client_id: str, *, enabled: bool) -> None:
    from api.auth import clients as client_ops

    settings = load_settings()
    try:
        _as_owner(
            settings,
            lambda connection: client_ops.set_enabled(connection, client_id, enabled=enabled),
        )
    except client_ops.UnknownClient:
        errors.print(f"[red]no client {client_id!r}[/red]")
        raise typer.Exit(1) from None
    console.print(f"{client_id} {'enabled' if enabled else 'disabled'}", markup=False)


@client_app.command("disable")
def disable(client_id: str = typer.Argument(..., metavar="ID")) -> None:
    """Disable a client: no new tokens, and its tokens stop working within 2 seconds."""
    _set_enabled(client_id, enabled=False)


@client_app.command("enable")
def enable(client_id: str = typer.Argument(..., metavar="ID")) -> None:
    """Enable a disabled client again."""
    _set_enabled(client_id, enabled=True)


@client_app.command("rotate-secret")
def rotate_secret(
    client_id: str = typer.Argument(..., metavar="ID"),
    as_json: bool = typer.Option(False, "--json", help="Print {client_id, client_secret}."),
) -> None:
    """Give a client a new secret (printed once); the old secret stops working at once."""
    from api.auth import clients as client_ops

    settings = load_settings()
    try:
        credentials = _as_owner(
            settings, lambda connection: client_ops.rotate_secret(connection, client_id)
        )
    except client_ops.UnknownClient:
        errors.print(f"[red]no client {client_id!r}[/red]")
        raise typer.Exit(1) from None
    _print_credentials(credentials, as_json=as_json)


@keys_app.command("rotate")
def rotate(
    replace_unreadable: bool = typer.Option(
        False,
        "--replace-unreadable",
        help="Rotate even though the active key does not open with this REGSOSEK_SECRET_KEY "
        "(the master secret was lost); restart every server with the new secret.",
    ),
) -> None:
    """A new signing key for new tokens (running servers switch within 10 s).

    The old public key stays in JWKS until the last token it signed has expired.
    """
    from api.auth.keys import rotate_signing_key
    from api.auth.sealing import UnsealError

    settings = load_settings()
    try:
        kid = _as_owner(
            settings,
            lambda connection: rotate_signing_key(
                connection,
                master_secret=settings.master_secret(),
                alg=settings.signing_alg,
                token_ttl=settings.token_ttl,
                leeway=settings.token_leeway,
                replace_unreadable=replace_unreadable,
            ),
        )
    except UnsealError as error:
        errors.print(f"[red]{error}[/red]: rotate with the secret the servers use")
        raise typer.Exit(1) from None
    console.print(f"active signing key: {kid} ({settings.signing_alg})", markup=False)


@keys_app.command("list")
def list_keys(
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array instead of a table."),
) -> None:
    """Every signing key: kid, algorithm, state, activated, retired, published until."""
    from db import access

    settings = load_settings()
    rows = _as_owner(settings, access.list_signing_keys)
    if as_json:
        print_json(
            [
                {
                    "kid": row["kid"],
                    "alg": row["alg"],
                    "state": "active" if row["retired_at"] is None else "retired",
                    "activated_at": _iso(row["activated_at"]),
                    "retired_at": _iso(row["retired_at"]),
                    "publish_until": _iso(row["publish_until"]),
                }
                for row in rows
            ]
        )
        return
    from rich.table import Column, Table

    table = Table(
        Column("kid", no_wrap=True), "alg", "state", "activated", "retired", "published until"
    )
    for row in rows:
        table.add_row(
            row["kid"],
            row["alg"],
            "active" if row["retired_at"] is None else "retired",
            _when(row["activated_at"]),
            _when(row["retired_at"]),
            _when(row["publish_until"]),
        )
    print_table(table)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()
