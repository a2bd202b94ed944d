"""The ``regsosek`` command line.

Sub-commands are imported only when they run (or when their own ``--help`` is
asked for): ``regsosek --help`` lists them from the table below without
importing the database drivers, the policy engine or the importer, and each
sub-command's module keeps its heavy imports inside the functions that use
them (``tests/api/test_cli_startup.py`` holds both to that).
"""

from __future__ import annotations

import importlib
from typing import Any

import typer
from typer.core import TyperGroup

COMMANDS: dict[str, tuple[str, str, str]] = {
    # name: (module, attribute: a Typer app or a command function, one-line help)
    "serve": (
        "api.cli.serve",
        "serve",
        "Serve the gateway (embedded PostgreSQL unless DATABASE_URL).",
    ),
    "demo": (
        "api.cli.demo",
        "demo",
        "Serve the demo: migrate, seed if empty, demo clients, serve.",
    ),
    "db": ("api.cli.db", "app", "Database migrations; the embedded server (db stop)."),
    "seed": ("api.cli.registry", "seed", "Load deterministic synthetic Kabupaten Jember data."),
    "import-regions": (
        "api.cli.registry",
        "import_regions_command",
        "Upsert an official BPS region master file.",
    ),
    "export-template": (
        "api.cli.registry",
        "export_template_command",
        "Write the import layout's CSV headers and a README of every column.",
    ),
    "import": (
        "api.cli.registry",
        "import_command",
        "Import households, persons and assistance (CSV or Parquet), all or nothing.",
    ),
    "client": ("api.cli.clients", "client_app", "OAuth clients of agency systems."),
    "keys": ("api.cli.clients", "keys_app", "The keys that sign access tokens."),
    "policy": ("api.cli.policy", "app", "Access policies: check, explain, install in PostgreSQL."),
    "audit": ("api.cli.audit", "app", "The tamper-evident audit trail."),
    "documents": (
        "api.cli.documents",
        "app",
        "Trusted documents: operations registered per program.",
    ),
    "releases": ("api.cli.releases", "releases", "The registry's releases, newest first."),
    "webhook": ("api.cli.webhooks", "app", "Push each program's changes to its agency."),
    "proposals": (
        "api.cli.proposals",
        "app",
        "Forward agencies' proposals to BPS/Kemensos (import layout + manifest).",
    ),
    "worker": (
        "api.cli.webhooks",
        "worker",
        "Send the webhook deliveries and count each release's statistics (pgqueuer on the"
        " gateway's PostgreSQL).",
    ),
}


class LazyGroup(TyperGroup):
    """A Typer group whose sub-commands are imported on first use."""

    listing = False

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module_name, attribute, summary = entry
        if self.listing:  # the group's own --help: a name and a line, nothing imported
            return typer.core.TyperCommand(cmd_name, help=summary, short_help=summary)
        target = getattr(importlib.import_module(module_name), attribute)
        if isinstance(target, typer.Typer):
            command: Any = typer.main.get_group(target)
        else:
            single = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
            single.command(cmd_name)(target)
            command = typer.main.get_command(single)
        command.name = cmd_name
        return command

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self.listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self.listing = False


app = typer.Typer(
    name="regsosek",
    cls=LazyGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def regsosek() -> None:
    """Regsosek gateway: serve the registry to agency programs, under policy and audit."""


def main() -> None:
    app()
