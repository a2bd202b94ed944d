"""``regsosek audit subject-report (--nik N | --kk K) --out FILE`` and ``regsosek audit
verify-report FILE``: the citizen's access request (UU PDP Pasal 32, CONTRACT §10).

``subject-report`` builds the same report as ``subjectReport`` (``audit.subjects``), as the
gateway role, signs it with the gateway's signing key and writes the compact JWS to FILE.
The lookup is a disclosure of the person or family: its audit event (endpoint ``cli``,
client ``cli:<operating-system user>``, program ``inspektorat-audit``) is committed before
the file is written; if it cannot be, no file is written (fail closed).

``verify-report`` checks a report file against public keys only: the database's (every key
ever used, retired ones too), a JWKS file, or a JWKS URL (``--jwks``); exit 0 and a summary
when the signature holds, exit 1 naming why when it does not.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from api.cli.common import console, errors, load_settings, run

if TYPE_CHECKING:
    from api.settings import Settings

INSPEKTORAT = "inspektorat-audit"


def subject_report(
    out: Annotated[Path, typer.Option("--out", help="The report file to write (compact JWS).")],
    nik: Annotated[str | None, typer.Option("--nik", help="The person's NIK (16 digits).")] = None,
    kk: Annotated[str | None, typer.Option("--kk", help="The family's No KK (16 digits).")] = None,
) -> None:
    """Write the signed report of every disclosure of a person (--nik) or a family (--kk)."""
    from api.cli.checks import owner_database
    from errors import GatewayError

    settings = load_settings()
    try:
        with owner_database(settings) as url:
            report = run(_signed_subject_report(settings, owner_url=url, nik=nik, kk=kk))
    except GatewayError as error:
        errors.print(f"[red]error[/red] {error.message}", soft_wrap=True, highlight=False)
        raise typer.Exit(1 if error.code == "UNAVAILABLE" else 2) from None
    out.write_text(report["jws"] + "\n", encoding="ascii")
    subject = f"NIK {report['nik']}" if report["nik"] else f"No KK {report['kkNumber']}"
    console.print(
        f"Wrote {out}: {subject}, {'found' if report['found'] else 'NOT in the registry'};"
        f" {len(report['entries'])} disclosures, {report['sealedCount']} sealed;"
        f" signed by key {report['kid']}",
        soft_wrap=True,
        highlight=False,
    )


async def _signed_subject_report(
    settings: Settings, *, owner_url: str, nik: str | None, kk: str | None
) -> dict[str, Any]:
    """Build, audit and sign the report, as the gateway role, with the gateway's key."""
    import getpass
    import uuid
    from contextlib import AsyncExitStack
    from datetime import UTC, datetime

    from api.app import audit_writer
    from api.auth.keys import KeyStore
    from api.auth.service import ensure_key_as_owner
    from api.database import app_database_url
    from audit.events import AuditEvent, Endpoint, Outcome
    from audit.subjects import build_subject_report, one_subject, report_subject, signed_report
    from db.engine import create_pool
    from db.wib import WIB
    from policies import load_policies

    nik, kk = one_subject(nik, kk)
    program = load_policies(settings.resolved_policy_dir()).programs.get(INSPEKTORAT)
    app_url = app_database_url(settings, owner_url)
    async with AsyncExitStack() as stack:
        pool = await create_pool(app_url, max_size=2)
        stack.push_async_callback(pool.close)
        await ensure_key_as_owner(settings, owner_url=owner_url)
        keys = await KeyStore.open(pool=pool, master_secret=settings.master_secret())
        audit = await stack.enter_async_context(audit_writer(settings, url=app_url, keys=keys))
        now = datetime.now(UTC)
        async with pool.acquire() as connection, connection.transaction(readonly=True):
            report = await build_subject_report(
                connection, nik=nik, kk_number=kk, today=now.astimezone(WIB).date(), now=now
            )
        signed = signed_report(report, keys=keys, issuer=settings.issuer)
        households, persons = report_subject(report)
        await audit.record(
            AuditEvent(
                endpoint=Endpoint.CLI,
                outcome=Outcome.ALLOWED,
                request_id=f"cli-{uuid.uuid4()}",
                client_id=f"cli:{getpass.getuser()}",
                program=INSPEKTORAT,
                agency=None if program is None else program.agency,
                agreement=None if program is None else program.agreement.number,
                purpose=None if program is None else program.purpose,
                operation_name="regsosek audit subject-report",
                field_paths=["subjectReport"] if households or persons else [],
                household_ids=households,
                person_ids=persons,
                row_count=len(households) + len(persons),
            )
        )
    return signed


def verify_report(
    file: Annotated[Path, typer.Argument(help="A subject report (compact JWS).")],
    jwks: Annotated[
        str | None,
        typer.Option(
            "--jwks",
            help="Public keys: a JWKS file, or the gateway's /.well-known/jwks.json URL."
            " Default: every key in the database.",
        ),
    ] = None,
    as_json: bool = typer.Option(False, "--json", help="Print the verified report as JSON."),
) -> None:
    """Check a subject report's signature against public keys only; exit 1 if it fails."""
    from audit.report_signing import InvalidReport
    from audit.report_signing import verify_report as check

    try:
        token = file.read_bytes().decode("ascii")
    except (OSError, UnicodeDecodeError) as error:
        errors.print(f"[red]INVALID[/red] {file}: cannot read it as a report ({error})")
        raise typer.Exit(1) from None
    keys = _key_set(jwks)
    try:
        kid, report = check(token, jwks=keys)
    except InvalidReport as error:
        errors.print(f"[red]INVALID[/red] {file}: {error}", soft_wrap=True, highlight=False)
        raise typer.Exit(1) from None
    if as_json:
        from api.cli.common import print_json

        print_json(report)
        return
    _print_summary(report, kid=kid)


def _key_set(source: str | None) -> dict[str, Any]:
    """The JWKS to verify with: from ``--jwks`` (a URL or a file), else the database."""
    import json

    import httpx

    if source is None:
        from api.cli.checks import owner_database

        settings = load_settings()
        with owner_database(settings) as url:
            return {"keys": run(_database_keys(url))}
    try:
        if source.startswith(("https://", "http://")):
            answer = httpx.get(source, timeout=10, follow_redirects=False)
            answer.raise_for_status()
            loaded = answer.json()
        else:
            loaded = json.loads(Path(source).read_text(encoding="utf-8"))
    except (OSError, ValueError, httpx.HTTPError) as error:
        errors.print(f"[red]error[/red] cannot read the key set {source}: {error}")
        raise typer.Exit(2) from None
    if not isinstance(loaded, dict) or not isinstance(loaded.get("keys"), list):
        errors.print(f'[red]error[/red] {source} is not a JWKS ({{"keys": [...]}})')
        raise typer.Exit(2)
    return loaded


async def _database_keys(url: str) -> list[dict[str, Any]]:
    import asyncpg

    from db.access import every_public_jwk
    from db.engine import plain_url

    connection = await asyncpg.connect(plain_url(url))
    try:
        return await every_public_jwk(connection)
    finally:
        await connection.close()


def _print_summary(report: dict[str, Any], *, kid: str) -> None:
    print_line = functools.partial(console.print, soft_wrap=True, highlight=False)
    subject = f"NIK {report.get('nik')}" if report.get("nik") else f"No KK {report.get('kkNumber')}"
    print_line(f"[green]Signature valid[/green] (key {kid})")
    issuer = report.get("iss")
    print_line(
        f"Issuer: {issuer}" if issuer else "Issuer: not stated (a report from before issuers were)"
    )
    print_line(f"Subject report of {subject}, generated {report.get('generatedAt')}")
    entries = report.get("entries") or []
    print_line(f"{len(entries)} disclosures shown")
    for entry in entries:
        fields = ", ".join(f"{f['path']} ({f['mode']})" for f in entry.get("fields") or [])
        print_line(
            f"  #{entry['sequence']} {entry['occurredAt']} {entry.get('program')}"
            f" ({entry.get('agency')}), client {entry.get('clientId')},"
            f" purpose {entry.get('purposeCode') or '-'}, case {entry.get('caseRef') or '-'}:"
            f" {fields}"
        )
    for seal in report.get("sealed") or []:
        print_line(f"{seal['count']} disclosures sealed until {seal['until']} (withheld)")
