"""``regsosek documents add | list | remove``: trusted documents, registered per program.

A registered document runs by its id (``{"documentId": "sha256:<hex>", "variables": …}``)
without being parsed or validated again on the request path; ``documents: required`` in a
program's policy makes it the only way that program's requests run (CONTRACT §9).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from api.cli.common import console, errors, load_settings, print_json, print_table, run

if TYPE_CHECKING:
    from graphql import GraphQLSchema

    from db.documents import StoredDocument
    from policies import PolicySet, Program
    from schema.disclosure_bound import Bound
    from schema.trusted import CheckedDocument

app = typer.Typer(
    help="Trusted documents: operations registered per program.", no_args_is_help=True
)

ProgramOption = typer.Option(None, "--program", help="Only this program's documents.")
FileArgument = typer.Argument(..., metavar="FILE", exists=True, dir_okay=False)


def _policies() -> PolicySet:
    from api.cli.policy import _load

    return _load(load_settings().resolved_policy_dir())


def _program(policy_set: PolicySet, name: str) -> Program:
    program = policy_set.programs.get(name)
    if program is None:
        known = ", ".join(sorted(policy_set.programs))
        errors.print(f"[red]unknown program[/red] {name!r} (known: {known})")
        raise typer.Exit(1)
    return program


def print_bounds(checked: CheckedDocument, *, title: str) -> None:
    """Each operation's field paths and modes, and the most rows one request returns."""
    from rich.table import Table

    for bound in checked.bounds:
        name = bound.operation_name or "(anonymous)"
        table = Table(title=f"{title}: operation {name}")
        table.add_column("field path")
        table.add_column("mode")
        for path, mode in bound.modes():
            table.add_row(path, mode)
        print_table(table)
        console.print(f"  at most {bound.describe_rows()} per request", markup=False)
        if bound.computed_roots:
            roots = ", ".join(bound.computed_roots)
            console.print(f"  computed roots (no registry rows): {roots}", markup=False)


def bounds_json(bounds: list[Bound]) -> list[dict[str, object]]:
    return [bound.as_json() for bound in bounds]


@app.command()
def add(
    file: Path = FileArgument,
    program_name: str = typer.Option(..., "--program", help="The program that may run it."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object instead of tables."),
) -> None:
    """Register FILE (a GraphQL document) for a program; print what it can disclose."""
    from api.cli.checks import owner_database
    from schema.trusted import check_document

    settings = load_settings()
    policy_set = _policies()
    program = _program(policy_set, program_name)
    text = file.read_text(encoding="utf-8")
    checked = check_document(program, text)
    if not checked.valid:
        for problem in checked.problems:
            errors.print(f"[red]{file}[/red]: {problem}", markup=True, highlight=False)
        errors.print(f"not registered: the document does not validate for {program.name}")
        raise typer.Exit(1)
    with owner_database(settings) as url:
        added = run(
            _add(url, program=program.name, checked=checked, text=text, policy_set=policy_set)
        )
    if as_json:
        print_json(
            {
                "program": program.name,
                "documentId": checked.document_id,
                "added": added,
                "operations": bounds_json(checked.bounds),
            }
        )
        return
    verb = "registered" if added else "already registered (re-validated)"
    console.print(f"{verb} for {program.name}: [bold]{checked.document_id}[/bold]")
    print_bounds(checked, title=program.name)


async def _add(
    url: str, *, program: str, checked: CheckedDocument, text: str, policy_set: PolicySet
) -> bool:
    import asyncpg

    from db.documents import add_document
    from db.engine import plain_url

    connection = await asyncpg.connect(plain_url(url))
    try:
        return await add_document(
            connection,
            program=program,
            document_hash=checked.document_hash,
            text=text,
            policy_version=policy_set.version,
        )
    finally:
        await connection.close()


@app.command("list")
def list_command(
    program_name: str | None = ProgramOption,
    as_json: bool = typer.Option(False, "--json", help="One JSON document instead of a table."),
) -> None:
    """The registered documents, and whether each still validates under the policy in force."""
    from rich.table import Table

    from api.cli.checks import owner_database

    settings = load_settings()
    policy_set = _policies()
    with owner_database(settings) as url:
        stored = run(stored_documents(url, program=program_name))
    verdicts = revalidate(policy_set, stored)
    if as_json:
        print_json(
            [
                {
                    "program": doc.program,
                    "documentId": doc.document_id,
                    "registeredAt": doc.created_at.isoformat(),
                    "valid": not problems,
                    "problems": problems,
                }
                for doc, problems in verdicts
            ]
        )
        return
    table = Table(title="trusted documents")
    for column in ("program", "id", "registered", "operations", "valid"):
        table.add_column(column)
    for doc, problems in verdicts:
        operations = ", ".join(_operation_names(doc.text)) or "(anonymous)"
        valid = "yes" if not problems else f"[red]no: {problems[0]}[/red]"
        table.add_row(
            doc.program, doc.document_id, f"{doc.created_at:%Y-%m-%d %H:%M}", operations, valid
        )
    print_table(table)


def _operation_names(text: str) -> list[str]:
    import re

    return re.findall(r"\bquery\s+([_A-Za-z][_0-9A-Za-z]*)", text)


async def stored_documents(url: str, *, program: str | None = None) -> list[StoredDocument]:
    import asyncpg

    from db.documents import list_documents
    from db.engine import plain_url

    connection = await asyncpg.connect(plain_url(url))
    try:
        return await list_documents(connection, program=program)
    finally:
        await connection.close()


def revalidate(
    policy_set: PolicySet, stored: list[StoredDocument]
) -> list[tuple[StoredDocument, list[str]]]:
    """Each stored document with its problems under ``policy_set`` (none: it still validates)."""
    from schema.trusted import check_document, checking_schema

    schemas: dict[str, GraphQLSchema] = {}
    verdicts: list[tuple[StoredDocument, list[str]]] = []
    for doc in stored:
        program = policy_set.programs.get(doc.program)
        if program is None:
            verdicts.append((doc, [f"the policy has no program {doc.program}"]))
            continue
        if program.name not in schemas:
            schemas[program.name] = checking_schema(program)
        checked = check_document(program, doc.text, schema=schemas[program.name])
        verdicts.append((doc, checked.problems))
    return verdicts


@app.command()
def remove(
    document_id: str = typer.Argument(..., metavar="ID", help="sha256:<hex>"),
    program_name: str | None = typer.Option(
        None, "--program", help="Only from this program (default: from every program)."
    ),
) -> None:
    """Remove a registered document; requests sending its id stop running within seconds."""
    from api.cli.checks import owner_database

    settings = load_settings()
    digest = document_id.removeprefix("sha256:")
    with owner_database(settings) as url:
        removed = run(_remove(url, digest=digest, program=program_name))
    if not removed:
        errors.print(f"[red]no such document[/red] {document_id}")
        raise typer.Exit(1)
    console.print(f"removed {document_id} from {', '.join(removed)}", markup=False)


async def _remove(url: str, *, digest: str, program: str | None) -> list[str]:
    import asyncpg

    from db.documents import remove_document
    from db.engine import plain_url

    connection = await asyncpg.connect(plain_url(url))
    try:
        return await remove_document(connection, document_hash=digest, program=program)
    finally:
        await connection.close()
