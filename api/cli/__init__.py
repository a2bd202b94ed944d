"""The ``regsosek`` command line."""

from __future__ import annotations

import typer

from api.cli import audit as audit_commands
from api.cli import clients as client_commands
from api.cli import db as db_commands
from api.cli import demo as demo_commands
from api.cli import policy as policy_commands
from api.cli import registry as registry_commands
from api.cli import releases as release_commands
from api.cli import serve as serve_commands
from api.cli import webhooks as webhook_commands

app = typer.Typer(
    name="regsosek",
    help="Regsosek gateway: serve the registry to agency programs, under policy and audit.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(db_commands.app, name="db")
app.add_typer(policy_commands.app, name="policy")
app.add_typer(audit_commands.app, name="audit")
app.add_typer(client_commands.client_app, name="client")
app.add_typer(client_commands.keys_app, name="keys")
app.add_typer(webhook_commands.app, name="webhook")
app.command("serve")(serve_commands.serve)
app.command("demo")(demo_commands.demo)
app.command("seed")(registry_commands.seed)
app.command("import-regions")(registry_commands.import_regions_command)
app.command("export-template")(registry_commands.export_template_command)
app.command("import")(registry_commands.import_command)
app.command("releases")(release_commands.releases)
app.command("worker")(webhook_commands.worker)


def main() -> None:
    app()
