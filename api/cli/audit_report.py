"""``regsosek audit report --from DATE --to DATE --out FILE.html``: the monthly review.

The same overview and anomalies as the console's (``audit.reports``, the
functions behind ``auditSummary`` and ``auditAnomalies``), read in one
REPEATABLE READ snapshot as the owner, after a full walk of the chain
(``regsosek audit verify``), written as one self-contained HTML file.
"""

from __future__ import annotations

import functools
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import console, errors, load_settings, run


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
    from api.cli.checks import owner_database
    from audit.report_html import build_report
    from audit.reports import wib_days
    from errors import GatewayError
    from policies import load_policies
    from schema.scope_sizes import count_scopes

    settings = load_settings()
    try:
        when = wib_days(_day(first, "--from"), _day(last, "--to"))
    except GatewayError as error:
        errors.print(f"[red]error[/red] {error.message}")
        raise typer.Exit(2) from None
    policies = load_policies(settings.resolved_policy_dir())
    with owner_database(settings) as url:
        scopes = functools.partial(count_scopes, policies=policies)
        text, found, ok = run(build_report(url, when=when, scopes=scopes))
    out.write_text(text, encoding="utf-8")
    console.print(
        f"Wrote {out}: {found} anomalies; audit chain {'intact' if ok else 'BROKEN'}",
        soft_wrap=True,
        highlight=False,
    )
