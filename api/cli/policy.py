"""``regsosek policy check | explain PROGRAM | apply``: policy files for reviewers and operators."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from api.cli.common import console, errors, load_settings, print_json, run

if TYPE_CHECKING:
    from rich.table import Table

    from policies import PolicySet, Program

app = typer.Typer(
    help="Access policies: check, explain, install in PostgreSQL.", no_args_is_help=True
)

DirectoryOption = typer.Option(
    None, "--dir", help="Policy directory (default: REGSOSEK_POLICY_DIR or the packaged one)."
)
MODE_STYLES = {"FULL": "green", "MASKED": "yellow", "PSEUDONYM": "cyan", "DENIED": "red"}


def _directory(option: Path | None) -> Path:
    return option if option is not None else load_settings().resolved_policy_dir()


def _load(directory: Path) -> PolicySet:
    """The policy set, or exit 1 printing ``file:line: reason`` for every problem."""
    from api.cli.checks import policy_problem_lines
    from policies import PolicyError, load_policies

    try:
        return load_policies(directory)
    except PolicyError as error:
        for line in policy_problem_lines(error, directory):
            typer.echo(line)
        errors.print(f"[red]{len(error.problems)} problem(s)[/red] in {directory}")
        raise typer.Exit(1) from None


@app.command()
def check(directory: Path | None = DirectoryOption) -> None:
    """Validate the policy files; exit 1 with file, line and reason for every problem.

    Also exit 1 when a program receives specific data (UU PDP Pasal 4: health, children)
    without a ``dpia:`` reference, and, when ``DATABASE_URL`` is set, when a registered
    document no longer validates under these policies (each is listed).
    """
    from policies.ropa import missing_dpia

    folder = _directory(directory)
    policy_set = _load(folder)
    missing = missing_dpia(policy_set)
    for name, categories in missing:
        typer.echo(
            f"{folder / 'programs' / f'{name}.yaml'}:1: {name} receives specific data"
            f" ({', '.join(categories)}) but names no dpia: (UU PDP Pasal 34)"
        )
    stale = _stale_documents(policy_set)
    if missing or stale:
        errors.print(f"[red]{len(missing) + len(stale)} problem(s)[/red] in {folder}")
        raise typer.Exit(1)
    today = date.today()
    console.print(f"{folder}: {len(policy_set.programs)} programs, no problems")
    for program in policy_set.programs.values():
        window = program.agreement
        state = "" if window.in_force(today) else " [red](not in force today)[/red]"
        console.print(
            f"  [bold]{program.name}[/bold] ({program.agency}): PKS {window.number}, "
            f"{window.valid_from} – {window.valid_until}{state}, k={program.k_min}; "
            f"{program.describe_scope()}"
        )
    console.print(f"policy version [bold]{policy_set.version[:16]}[/bold]")


def _stale_documents(policy_set: PolicySet) -> list[str]:
    """Registered documents that no longer validate (only with ``DATABASE_URL`` set)."""
    settings = load_settings()
    if settings.database_url is None:
        return []
    from api.cli.documents import revalidate, stored_documents

    try:
        stored = run(stored_documents(settings.database_url))
    except Exception as error:  # no database, or not migrated: the files alone were checked
        console.print(f"registered documents: not checked ({type(error).__name__})")
        return []
    stale = []
    for doc, problems in revalidate(policy_set, stored):
        if problems:
            line = f"document {doc.document_id} of {doc.program} no longer validates: {problems[0]}"
            typer.echo(line)
            stale.append(line)
    if stored:
        console.print(
            f"{len(stored) - len(stale)} of {len(stored)} registered document(s) validate"
        )
    return stale


@app.command()
def explain(
    program_name: str = typer.Argument(..., metavar="PROGRAM"),
    directory: Path | None = DirectoryOption,
    documents: bool = typer.Option(
        False, "--documents", help="Also each registered document's field paths, modes, rows."
    ),
) -> None:
    """Print the program's row scope as the SQL predicate it compiles to, and every field's mode."""
    policy_set = _load(_directory(directory))
    program = policy_set.programs.get(program_name)
    if program is None:
        import difflib

        close = difflib.get_close_matches(program_name, list(policy_set.programs), n=1)
        if close:
            errors.print(f"[red]unknown program[/red] {program_name!r}: did you mean {close[0]!r}?")
            raise typer.Exit(1)
        known = ", ".join(sorted(policy_set.programs))
        errors.print(f"[red]unknown program[/red] {program_name!r} (known: {known})")
        raise typer.Exit(1)
    _header(program)
    _predicates(program)
    console.print(_field_table(program))
    masks = _mask_table(program)
    if masks is not None:
        console.print(masks)
    if documents:
        _documents(program)


def _documents(program: Program) -> None:
    """Each registered document of the program: what it can disclose (without running it)."""
    from api.cli.checks import owner_database
    from api.cli.documents import print_bounds, stored_documents
    from schema.trusted import check_document, checking_schema

    with owner_database(load_settings()) as url:
        stored = run(stored_documents(url, program=program.name))
    console.rule(f"registered documents of {program.name}: {len(stored)}")
    schema = checking_schema(program)
    for doc in stored:
        checked = check_document(program, doc.text, schema=schema)
        if not checked.valid:
            console.print(
                f"[red]{doc.document_id}: no longer validates[/red]: {checked.problems[0]}"
            )
            continue
        print_bounds(checked, title=doc.document_id)


def _header(program: Program) -> None:
    window = program.agreement
    state = "in force" if window.in_force(date.today()) else "[red]NOT in force today[/red]"
    console.print(f"[bold]{program.name}[/bold]: {program.agency_name} ({program.agency})")
    console.print(f"purpose: {program.purpose}")
    console.print(f"legal basis: {program.legal_basis}")
    console.print(
        f"agreement {window.number}: {window.valid_from} – {window.valid_until} ({state})"
    )
    console.print(
        f"k_min {program.k_min}; quota {program.quota.requests_per_minute} requests/minute, "
        f"{program.quota.rows_per_day} rows/day, "
        f"{program.quota.statistics_seconds_per_day} CPU seconds/day of new statistics; "
        f"{program.concurrent_statistics} new statistics at a time"
    )
    console.print(f"root fields: {', '.join(sorted(program.root_fields)) or 'none'}")
    proposals = program.proposals
    if proposals is not None:
        region = f" (new families in {proposals.region})" if proposals.region else ""
        console.print(
            f"may propose: {', '.join(sorted(proposals.kinds))} of"
            f" {', '.join(sorted(proposals.fields))}{region}",
            markup=False,
        )
    console.print(f"row scope: {program.describe_scope()}\n")


def _predicates(program: Program) -> None:
    from policies import Entity
    from policies.rls import render_predicate
    from policies.rows import home_of_visible_person, readable_rows, statistics_rows

    for entity, name in ((Entity.HOUSEHOLD, "households"), (Entity.PERSON, "persons")):
        readable = readable_rows(entity, program=program, name=name)
        console.rule(f"{name}: WHERE")
        typer.echo(render_predicate(readable.predicate, readable.table))
    if program.person_scope is not None:
        readable = home_of_visible_person(program=program, name="households")
        console.rule("households of those persons (for Person.region only): WHERE")
        typer.echo(render_predicate(readable.predicate, readable.table))
    if program.statistics_scope is not None:
        readable = statistics_rows(program=program, name="households")
        console.rule("householdStats counts households: WHERE")
        typer.echo(render_predicate(readable.predicate, readable.table))
    typer.echo("")


def _field_table(program: Program) -> Table:
    from rich.table import Table

    from db.catalog import CATALOG
    from policies import FieldMode

    table = Table(title=f"fields of {program.name}")
    for column in ("type", "field", "mode", "mask"):
        table.add_column(column)
    for type_name, entity in CATALOG.items():
        for field_name, attribute in entity.attributes.items():
            mode = program.mode(type_name, field_name)
            mask = attribute.mask.value if mode is FieldMode.MASKED and attribute.mask else ""
            style = MODE_STYLES[mode.value]
            table.add_row(type_name, field_name, f"[{style}]{mode.value}[/{style}]", mask)
    return table


def _mask_table(program: Program) -> Table | None:
    """Each mask or pseudonym against the program's other fields (``policies.inference``)."""
    from rich.table import Table

    from policies.inference import MIN_CANDIDATES, mask_strengths

    strengths = mask_strengths(program)
    if not strengths:
        return None
    table = Table(
        title=f"masks of {program.name} against its other fields"
        f" (candidates left for the hidden part; at least {MIN_CANDIDATES})"
    )
    for column in ("field", "candidates left", "narrowed by"):
        table.add_column(column)
    for strength in strengths:
        narrowed = ", ".join(str(reading) for reading in strength.narrowed_by) or "nothing"
        left = f"{strength.candidates:,}"
        table.add_row(
            str(strength.field), left if strength.holds else f"[red]{left}[/red]", narrowed
        )
    return table


@app.command()
def ropa(
    directory: Path | None = DirectoryOption,
    as_json: bool = typer.Option(False, "--json", help="One JSON document."),
    as_html: bool = typer.Option(False, "--html", help="One self-contained HTML page."),
) -> None:
    """Records of processing per program (UU PDP Pasal 31), specific data flagged."""
    from policies.ropa import records
    from policies.ropa_html import render

    if as_json and as_html:
        errors.print("[red]choose one of --json and --html[/red]")
        raise typer.Exit(2)
    everything = records(_load(_directory(directory)))
    if as_json:
        print_json(everything)
        return
    if as_html:
        typer.echo(render(everything))
        return
    for program in everything["programs"]:
        console.rule(program["program"])
        agreement = program["agreement"]
        lines = [
            f"controller: {program['controller']}",
            f"recipient: {program['recipient']['name']} ({program['recipient']['agency']})",
            f"legal basis: {program['legalBasis']}",
            "purposes: "
            + ("; ".join(p["code"] for p in program["purposes"]) or program["purpose"]),
            f"agreement: {agreement['number']},"
            f" {agreement['validFrom']} – {agreement['validUntil']}",
            f"data categories: {', '.join(program['dataCategories']) or 'none'}",
            f"SPECIFIC DATA: {'; '.join(program['specificData'])}"
            if program["specificData"]
            else "specific data: none",
            "masked/pseudonymised: "
            + (
                ", ".join(f"{i['field']} ({i['mode']})" for i in program["protectedFields"])
                or "none"
            ),
            f"statistics k: {program['statisticsK'] or '-'}",
            f"audit retention: {program['auditRetention']}",
            f"dpia: {program['dpia'] or 'none'}",
        ]
        for line in lines:
            console.print(line, markup=False, highlight=False)


@app.command()
def apply(directory: Path | None = DirectoryOption) -> None:
    """Install the row scopes as PostgreSQL row-level-security policies (one transaction).

    A policy other than the one in force is recorded as a release: the rows it moves into or
    out of each program's scope become ENTERED / LEFT changes of that program's feed.
    """
    from api.cli.checks import owner_database
    from policies.apply import apply_and_record
    from policies.snapshot import snapshot

    settings = load_settings()
    folder = directory if directory is not None else settings.resolved_policy_dir()
    _load(folder)
    files, policy_set = snapshot(folder)
    with owner_database(settings) as url:
        applied = run(apply_and_record(url, files=files, policy_set=policy_set))
    console.print(
        f"row-level security installed for {len(policy_set.programs)} programs "
        f"(policy version [bold]{policy_set.version[:16]}[/bold])"
    )
    if applied.release is not None:
        console.print(
            f"recorded as release {applied.release}: {applied.changes:,} program change(s)",
            markup=False,
            highlight=False,
        )
