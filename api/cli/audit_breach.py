"""``regsosek audit breach --client ID --from T1 --to T2 --out DIR``: the breach impact pack.

Thin: parses the window, names the auditor's program from the policy, starts an
audit writer (the run is an audit event) and calls ``audit.breach_pack.write_breach_pack``.
Exit 0 with the pack written; 1 when the chain over the window is damaged (naming the
first bad sequence number, nothing written) or the run cannot be audited; 2 on bad input.
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from api.cli.common import console, errors, load_settings, run

if TYPE_CHECKING:
    from api.settings import Settings
    from audit.breach_pack import Auditor, BreachResult

AUDITOR_PROGRAM = "inspektorat-audit"


def parse_moment(text: str, option: str, *, end: bool) -> datetime:
    """An ISO 8601 time with a zone, or a date (a WIB day: ``--to`` includes the whole day)."""
    from db.wib import WIB

    try:
        if len(text) == 10:
            day = date.fromisoformat(text) + (timedelta(days=1) if end else timedelta())
            return datetime.combine(day, datetime.min.time(), tzinfo=WIB)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(
            "a date (YYYY-MM-DD, WIB) or a time with a zone (2026-11-16T08:00:00+07:00)",
            param_hint=option,
        ) from None
    if moment.tzinfo is None:
        raise typer.BadParameter("a time needs a zone (+07:00 or Z)", param_hint=option)
    return moment.astimezone(UTC)


def breach(
    client: Annotated[str, typer.Option("--client", help="The client id that leaked.")],
    first: Annotated[
        str, typer.Option("--from", help="Start: YYYY-MM-DD (WIB) or an ISO time with a zone.")
    ],
    last: Annotated[
        str,
        typer.Option("--to", help="End: YYYY-MM-DD (WIB, included) or an ISO time (excluded)."),
    ],
    out: Annotated[Path, typer.Option("--out", help="A new (or empty) directory.")],
) -> None:
    """Who received what: every household and person disclosed to CLIENT, with notices."""
    from api.cli.checks import owner_database
    from audit.breach_pack import Auditor
    from errors import GatewayError
    from policies import load_policies

    start = parse_moment(first, "--from", end=False)
    end = parse_moment(last, "--to", end=True)
    settings = load_settings()
    policies = load_policies(settings.resolved_policy_dir())
    program = policies.programs.get(AUDITOR_PROGRAM)

    auditor = Auditor(
        program=AUDITOR_PROGRAM,
        agency=program.agency if program else "inspektorat",
        agreement=program.agreement.number if program else None,
        purpose=program.purpose if program else None,
    )
    with owner_database(settings) as url:
        try:
            result = run(
                _breach(
                    settings,
                    url,
                    client_id=client,
                    window=(start, end),
                    out=out,
                    auditor=auditor,
                )
            )
        except GatewayError as error:
            errors.print(f"[red]error[/red] {error.message}", soft_wrap=True, highlight=False)
            raise typer.Exit(1 if error.status >= 500 else 2) from None
    _print(result)


def _print(result: BreachResult) -> None:
    say = functools.partial(console.print, soft_wrap=True, highlight=False)
    check = result.check
    if check.damage is not None:
        damage = check.damage
        errors.print(
            f"[red]INVALID[/red]: first bad seq {damage.seq}: {damage.kind}: {damage.detail}."
            " Nothing was written.",
            soft_wrap=True,
            highlight=False,
        )
        raise typer.Exit(1)
    facts = result.facts
    assert facts is not None
    say(
        f"Chain intact over the window (seq {check.first_seq}–{check.last_seq},"
        f" walked {check.anchor_seq}–{check.through_seq})"
    )
    say(
        f"Wrote {result.out}: {len(facts.events):,} disclosing events,"
        f" {facts.households.count:,} households, {facts.persons.count:,} persons;"
        f" recorded as audit event #{facts.audit_seq}"
    )


async def _breach(
    settings: Settings,
    owner_url: str,
    *,
    client_id: str,
    window: tuple[datetime, datetime],
    out: Path,
    auditor: Auditor,
) -> BreachResult:
    import asyncpg

    from api.app import audit_writer
    from api.auth.keys import KeyStore
    from api.auth.service import ensure_key_as_owner
    from api.database import app_database_url
    from audit.breach_pack import write_breach_pack
    from db.engine import create_pool, plain_url

    app_url = app_database_url(settings, owner_url)
    pool = await create_pool(app_url, max_size=2)
    try:
        await ensure_key_as_owner(settings, owner_url=owner_url)
        keys = await KeyStore.open(pool=pool, master_secret=settings.master_secret())
        async with audit_writer(settings, url=app_url, keys=keys) as writer:
            connection = await asyncpg.connect(plain_url(owner_url))
            try:
                return await write_breach_pack(
                    connection,
                    client_id=client_id,
                    start=window[0],
                    end=window[1],
                    out=out,
                    record=writer.record,
                    auditor=auditor,
                    generated_at=datetime.now(UTC),
                )
            finally:
                await connection.close()
    finally:
        await pool.close()
