"""``regsosek audit report --from DATE --to DATE --out FILE.html``: the monthly review.

The same overview and anomalies as the console's (``api.audit.reports``, the
functions behind ``auditSummary`` and ``auditAnomalies``), read in one
REPEATABLE READ snapshot as the owner, after a full walk of the chain
(``regsosek audit verify``), written as one self-contained HTML file.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from api.cli.common import console, errors, load_settings, run

if TYPE_CHECKING:
    from api.audit.reports import Period
    from policies import PolicySet


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter("a date as YYYY-MM-DD", param_hint=option) from None


def report(
    first: Annotated[str, typer.Option("--from", help="First day, WIB (YYYY-MM-DD).")],
    last: Annotated[str, typer.Option("--to", help="Last day, WIB (YYYY-MM-DD), included.")],
    out: Annotated[Path, typer.Option("--out", help="The HTML file to write.")],
) -> None:
    """Write the period's overview, anomalies and chain status as one self-contained HTML file."""
    from api.audit.reports import wib_days
    from api.cli.checks import owner_database
    from api.errors import GatewayError
    from policies import load_policies

    settings = load_settings()
    try:
        when = wib_days(_day(first, "--from"), _day(last, "--to"))
    except GatewayError as error:
        errors.print(f"[red]error[/red] {error.message}")
        raise typer.Exit(2) from None
    policies = load_policies(settings.resolved_policy_dir())
    with owner_database(settings) as url:
        text, found, ok = run(build_report(url, when=when, policies=policies))
    out.write_text(text, encoding="utf-8")
    console.print(
        f"Wrote {out}: {found} anomalies; audit chain {'intact' if ok else 'BROKEN'}",
        soft_wrap=True,
        highlight=False,
    )


async def build_report(url: str, *, when: Period, policies: PolicySet) -> tuple[str, int, bool]:
    """The report's HTML, its number of anomalies, and whether the chain is intact."""
    import asyncpg

    from api.audit.chain_status import full_status
    from api.audit.report_html import render_report
    from api.audit.reports import anomalies, summary
    from api.audit.scopes import count_scope, programs_with_rows
    from db.engine import plain_url

    connection = await asyncpg.connect(plain_url(url))
    try:
        chain = await full_status(connection)
        async with connection.transaction(isolation="repeatable_read", readonly=True):
            overview = await summary(connection, when)
            scopes = [await count_scope(connection, p) for p in programs_with_rows(policies)]
            found = await anomalies(connection, when, scopes=scopes)
    finally:
        await connection.close()
    html = render_report(
        when=when,
        summary=overview,
        anomalies=found,
        chain=chain.to_json(),
        generated_at=datetime.now(UTC),
    )
    return html, len(found), chain.ok
