"""``regsosek demo`` (what ``make run`` runs): a gateway to try, in one command.

Migrates the database (the embedded PostgreSQL unless ``DATABASE_URL`` is
set), seeds 20,000 synthetic Jember households and one client per program if
the registry is empty, prints where GraphiQL is and the demo credentials, and
serves. The demo credentials are kept in ``<data dir>/demo-clients.json``
(mode 0600) so that later runs can print them again; this is for the demo only:
real clients are created with ``regsosek client create`` and their secrets are
shown once.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import asyncpg
import typer
from rich.table import Table

from api.auth.clients import create_client, list_clients
from api.cli.common import console, load_settings, run
from api.cli.db import upgrade_database
from api.cli.serve import serve_on
from api.database import owner_database_url
from api.settings import Settings
from db.engine import plain_url
from db.seed import seed_registry
from policies import PolicySet, load_policies

DEMO_HOUSEHOLDS = 20_000
DEMO_SEED = 20221015


async def prepare_demo(
    url: str, *, settings: Settings, households: int
) -> dict[str, dict[str, str]]:
    """Migrate, seed if empty, and make sure every program has an enabled demo client."""
    await upgrade_database(url)
    policies = load_policies(settings.resolved_policy_dir())
    connection = await asyncpg.connect(plain_url(url))
    try:
        if await connection.fetchval("SELECT count(*) FROM households") == 0:
            console.print(f"seeding {households:,} synthetic households of Kabupaten Jember …")
            await seed_registry(url, households=households, seed=DEMO_SEED, progress=True)
        return await _demo_clients(connection, settings=settings, policies=policies)
    finally:
        await connection.close()


async def _demo_clients(
    connection: asyncpg.Connection, *, settings: Settings, policies: PolicySet
) -> dict[str, dict[str, str]]:
    path = settings.data_dir / "demo-clients.json"
    saved: dict[str, dict[str, str]] = json.loads(path.read_text()) if path.exists() else {}
    enabled = {
        row.client_id for row in await list_clients(connection, policies=policies) if row.enabled
    }
    clients: dict[str, dict[str, str]] = {}
    for program in sorted(policies.programs):
        known = saved.get(program)
        if known is not None and known["client_id"] in enabled:
            clients[program] = known
            continue
        made = await create_client(
            connection, program=program, name=f"demo {program}", policies=policies
        )
        clients[program] = {"client_id": made.client_id, "client_secret": made.client_secret}
    _write_private(path, json.dumps(clients, indent=2))
    return clients


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)


def _print_welcome(clients: dict[str, dict[str, str]], *, base: str) -> None:
    table = Table(title="Demo clients (one per program in policies/)")
    table.add_column("program", no_wrap=True)
    table.add_column("client_id", no_wrap=True)
    table.add_column("client_secret", overflow="fold")
    for program, credentials in clients.items():
        table.add_row(program, credentials["client_id"], credentials["client_secret"])
    console.print(table)
    example = clients.get("dinsos-pkh") or next(iter(clients.values()))
    console.print(f"\nGraphiQL: [bold]{base}/graphql[/bold]  (paste a token into its Headers tab)")
    console.print("Get a token:")
    console.print(
        f"  curl -s -u {example['client_id']}:{example['client_secret']}"
        f" -d grant_type=client_credentials {base}/oauth/token",
        soft_wrap=True,
    )
    console.print("Auditor's console: " + f"{base}/console/  (sign in as inspektorat-audit)\n")


def demo(
    households: int = typer.Option(
        DEMO_HOUSEHOLDS, help="Households to seed into an empty registry."
    ),
    port: int = typer.Option(None, help="Port (default REGSOSEK_PORT)."),
) -> None:
    """Serve the demo: migrate, seed if empty, demo clients, then serve."""
    settings = load_settings()
    with owner_database_url(settings) as url:
        clients = run(prepare_demo(url, settings=settings, households=households))
        chosen_port = port or settings.port
        _print_welcome(clients, base=f"http://{settings.host}:{chosen_port}")
        serve_on(url, host=settings.host, port=chosen_port, workers=settings.workers)
