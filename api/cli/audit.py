"""``regsosek audit verify [--json]``: is the audit trail intact, and if not, where and how not."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import typer

from api.cli.common import console, load_settings, run

if TYPE_CHECKING:
    from audit.verify import Report

app = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)


@app.command()
def verify(
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of text."),
) -> None:
    """Walk the whole chain and its signed checkpoints; exit 1 naming the first bad seq."""
    import orjson

    from api.cli.checks import owner_database
    from audit.verify import verify_database

    settings = load_settings()
    with owner_database(settings) as url:
        report = run(verify_database(url))
    if as_json:
        typer.echo(orjson.dumps(report.to_json()).decode())
    else:
        print_report(report)
    if not report.ok:
        raise typer.Exit(1)


def print_report(report: Report) -> None:
    """The human-readable verdict (the shape of ``aws cloudtrail validate-logs``)."""
    from audit.events import format_time

    print_line = functools.partial(console.print, soft_wrap=True, highlight=False)
    print_line("Results requested for the whole chain")
    if report.first_seq is None:
        print_line("Results found: no events")
    else:
        assert report.first_at is not None
        assert report.last_at is not None
        print_line(
            f"Results found for seq {report.first_seq} to {report.last_seq}"
            f" ({report.stored_events} events, {format_time(report.first_at)}"
            f" to {format_time(report.last_at)})"
        )
    if report.archived_before is not None:
        print_line(
            f"Events before seq {report.archived_before} are archived; the stored chain"
            f" starts from the head signed by checkpoint #{report.anchor}"
        )
    print_line(f"{report.events_valid}/{report.stored_events} events valid")
    checkpoints = report.checkpoints
    valid = sum(c.status == "valid" for c in checkpoints)
    unreached = sum(c.status == "not_reached" for c in checkpoints)
    archived = sum(c.status == "archived" for c in checkpoints)
    line = f"{valid}/{len(checkpoints)} checkpoints valid"
    if archived:
        line += f" ({archived} of archived events)"
    if unreached:
        line += f" ({unreached} not reached)"
    print_line(line)
    for checkpoint in checkpoints:
        if checkpoint.status not in ("valid", "not_reached", "archived"):
            print_line(
                f"  [red]INVALID[/red] checkpoint #{checkpoint.id} at seq {checkpoint.seq}"
                f" ({format_time(checkpoint.created_at)}, kid {checkpoint.kid}):"
                f" {checkpoint.status}: {checkpoint.reason}"
            )
    print_line(f"Last verified head: seq {report.head_seq}, hash {report.head_hash.hex()}")
    if report.signed_seq is not None:
        unsigned = report.head_seq - report.signed_seq
        print_line(f"Last signed head: seq {report.signed_seq} ({unsigned} events after it)")
    else:
        print_line("Last signed head: none")
    damage = report.damage
    if damage is None:
        print_line(f"[green]Chain intact[/green] (verified in {report.elapsed:.1f} s)")
        return
    where = f"seq {damage.seq}"
    if damage.through_seq is not None and damage.through_seq != damage.seq:
        where = f"seq {damage.seq} (damage lies in {damage.seq}–{damage.through_seq})"
    print_line(f"[red]INVALID[/red]: first bad {where}: {damage.kind}: {damage.detail}")


from api.cli.audit_breach import breach  # noqa: E402  (registered beside verify)
from api.cli.audit_report import report  # noqa: E402  (registered beside verify)

app.command()(report)

from api.cli.audit_subject import subject_report, verify_report  # noqa: E402

app.command("subject-report")(subject_report)
app.command("verify-report")(verify_report)
app.command()(breach)
