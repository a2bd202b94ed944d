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
import re
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from api.cli.common import console, load_settings, run
from api.cli.serve import HOST_HELP, PORT_HELP, base_url, bind_listener, serve_on

if TYPE_CHECKING:
    import asyncpg

    from api.settings import Settings
    from policies import PolicySet

DEMO_HOUSEHOLDS = 20_000
DEMO_SEED = 20221015


async def prepare_demo(
    url: str, *, settings: Settings, households: int
) -> dict[str, dict[str, str]]:
    """Migrate, seed if empty, and make sure every program has an enabled demo client."""
    import asyncpg

    from api.cli.db import upgrade_database
    from db.engine import plain_url
    from db.seed import seed_registry
    from policies import load_policies

    await upgrade_database(url, policy_dir=settings.resolved_policy_dir())
    policies = load_policies(settings.resolved_policy_dir())
    connection = await asyncpg.connect(plain_url(url))
    try:
        if await connection.fetchval("SELECT count(*) FROM households") == 0:
            console.print(f"seeding {households:,} synthetic households of Kabupaten Jember …")
            await seed_registry(url, households=households, seed=DEMO_SEED, progress=True)
        clients = await _demo_clients(connection, settings=settings, policies=policies)
        await register_demo_documents(connection, policies=policies)
        return clients
    finally:
        await connection.close()


async def _demo_clients(
    connection: asyncpg.Connection, *, settings: Settings, policies: PolicySet
) -> dict[str, dict[str, str]]:
    from api.auth.clients import create_client, list_clients

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


async def register_demo_documents(
    connection: asyncpg.Connection, *, policies: PolicySet
) -> list[str]:
    """Register the demo's document of every program it has one for (``api.cli.demo_documents``);
    the ids registered. One that does not validate under these policies is left out."""
    from api.cli.demo_documents import DEMO_DOCUMENTS
    from db.documents import add_document
    from schema.trusted import check_document

    registered = []
    for program_name, text in sorted(DEMO_DOCUMENTS.items()):
        program = policies.programs.get(program_name)
        if program is None:
            continue
        checked = check_document(program, text)
        if not checked.valid:
            console.print(f"demo document of {program_name} skipped: {checked.problems[0]}")
            continue
        await add_document(
            connection,
            program=program_name,
            document_hash=checked.document_hash,
            text=text,
            policy_version=policies.version,
        )
        registered.append(checked.document_id)
    return registered


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)


def environment_prefix(program: str) -> str:
    """``dinsos-pkh`` → ``DINSOS_PKH``: the shell variables of a program's demo client."""
    return re.sub(r"[^A-Z0-9]+", "_", program.upper()).strip("_")


def welcome_lines(clients: dict[str, dict[str, str]], *, base: str, path: Path) -> list[str]:
    """What the demo prints: one copyable ``export`` line per client, never folded.

    Every line is printed whole (``soft_wrap``), so a log file, tmux or an
    80-column terminal keeps each secret on one line to copy.
    """
    lines = [f"Demo clients, one per program in policies/ (also in {path}, mode 0600):", ""]
    for program, credentials in clients.items():
        prefix = environment_prefix(program)
        lines.append(
            f"export {prefix}_CLIENT_ID={credentials['client_id']}"
            f" {prefix}_CLIENT_SECRET={credentials['client_secret']}  # {program}"
        )
    example = "DINSOS_PKH" if "dinsos-pkh" in clients else environment_prefix(next(iter(clients)))
    lines += [
        "",
        f"GraphiQL: {base}/graphql  (sign in there with a client id and secret)",
        "A token from the shell, after pasting the export lines above:",
        f'  curl -s -u "${example}_CLIENT_ID:${example}_CLIENT_SECRET"'
        f" -d grant_type=client_credentials {base}/oauth/token",
        f"Auditor's console: {base}/console/  (sign in as inspektorat-audit)",
        "Registered documents, one per program: regsosek documents list"
        ' (send {"documentId": "sha256:…"} instead of "query")',
        "Stop with Ctrl-C; the embedded PostgreSQL stops with the gateway.",
        "",
    ]
    return lines


def demo(
    households: int = typer.Option(
        DEMO_HOUSEHOLDS, help="Households to seed into an empty registry."
    ),
    host: str = typer.Option(None, help=HOST_HELP),
    port: int = typer.Option(None, help=PORT_HELP),
) -> None:
    """Serve the demo: migrate, seed if empty, demo clients, then serve."""
    from api.cli.checks import check_policies_or_exit, owner_database

    settings = load_settings()
    check_policies_or_exit(settings)
    listener = bind_listener(host or settings.host, port or settings.port)
    bound_host, bound_port = listener.getsockname()[:2]
    settings = settings.model_copy(update={"host": bound_host, "port": bound_port})
    with owner_database(settings) as url:
        clients = run(prepare_demo(url, settings=settings, households=households))
        path = settings.data_dir / "demo-clients.json"
        for line in welcome_lines(clients, base=base_url(settings), path=path):
            console.print(line, markup=False, highlight=False, soft_wrap=True)
        serve_on(url, listener=listener, workers=settings.workers)
