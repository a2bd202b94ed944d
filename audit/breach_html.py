"""The breach pack's summary, ``ringkasan.html``: one self-contained page (no script, no
asset, nothing fetched; the house style of ``audit.report_html``) for the officer and the
authority. It counts; the names are in the CSV files beside it."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from audit.breach_fields import Disclosed, Owner
from audit.breach_notices import describe, wib
from audit.report_html import STYLE, _table

if TYPE_CHECKING:
    from audit.breach import PackFacts


def _fields(facts: PackFacts) -> str:
    rows = []
    for owner, tally in ((Owner.HOUSEHOLD, facts.households), (Owner.PERSON, facts.persons)):
        for (path, mode), count in sorted(tally.fields.items()):
            rows.append(
                (
                    "Keluarga / Household" if owner is Owner.HOUSEHOLD else "Orang / Person",
                    path,
                    mode,
                    describe(Disclosed(path, mode, owner)),
                    f"{count:,}",
                )
            )
    return _table(
        "fields",
        ["Subjek / Subject", "Field", "Mode", "Keterangan / Description", "Subjects"],
        rows,
        {4},
    )


def _days(facts: PackFacts) -> str:
    rows = [
        (day.isoformat(), f"{v[0]:,}", f"{v[1]:,}", f"{v[2]:,}")
        for day, v in sorted(facts.days.items())
    ]
    return _table(
        "days",
        ["Hari / Day (WIB)", "Requests", "Households named", "Persons named"],
        rows,
        {1, 2, 3},
    )


def _events(facts: PackFacts, limit: int = 500) -> str:
    rows = [
        (
            event["sequence"],
            wib(event["occurred_at"]),
            event["outcome"],
            event["operation_name"],
            event["purpose_code"],
            event["case_ref"],
            f"{event['households']:,}",
            f"{event['persons']:,}",
        )
        for event in facts.events[:limit]
    ]
    note = (
        f'<p class="muted">The first {limit} of {len(facts.events):,}; all in events.csv.</p>'
        if len(facts.events) > limit
        else ""
    )
    table = _table(
        "events",
        ["Seq", "WIB", "Outcome", "Operation", "Purpose", "Case ref", "Households", "Persons"],
        rows,
        {0, 6, 7},
    )
    return note + table


def render(facts: PackFacts) -> str:
    """The summary page."""
    check = facts.check
    client = facts.client or {}
    if client.get("enabled") is False:
        status = f"disabled {wib(client.get('disabled_at'))} WIB"
    elif client:
        status = "STILL ENABLED (regsosek client disable …)"
    else:
        status = "not registered"
    totals = [
        ("Client", f"{client.get('name') or '—'} ({facts.client_id}), {status}"),
        ("Program", client.get("program") or "—"),
        ("Window (WIB)", f"{wib(facts.start)} – {wib(facts.end)}"),
        (
            "Client's events in the window",
            ", ".join(f"{k}: {v:,}" for k, v in facts.outcomes.items()) or "0",
        ),
        ("Disclosing events", f"{len(facts.events):,}"),
        ("Households (No KK)", f"{facts.households.count:,}"),
        ("Persons (NIK)", f"{facts.persons.count:,}"),
        (
            "Not in the registry any more",
            f"{facts.households.not_in_registry:,} households,"
            f" {facts.persons.not_in_registry:,} persons"
            if facts.registry_read
            else "— (the console does not read the registry: regsosek audit breach does)",
        ),
        ("Purposes", ", ".join(f"{k} ({v:,})" for k, v in facts.purposes.most_common()) or "—"),
        ("Case references", ", ".join(sorted(facts.case_refs)) or "—"),
        (
            "This run's audit event",
            f"#{facts.audit_seq}" if facts.audit_seq else "the console request's own",
        ),
    ]
    chain = [
        (
            "Window's events (all clients)",
            f"#{check.first_seq} – #{check.last_seq} ({check.events:,})",
        ),
        ("Walked", f"from signed head #{check.anchor_seq} to #{check.through_seq}"),
        (
            "Anchor checkpoint",
            f"#{check.anchor_checkpoint}" if check.anchor_checkpoint else "genesis",
        ),
        (
            "Closing checkpoint",
            f"#{check.closing_checkpoint}" if check.closing_checkpoint else "none (chain's end)",
        ),
        ("Events verified", f"{check.events_walked:,}"),
    ]
    files = _table(
        "files",
        ["File", "SHA-256"],
        sorted(facts.files.items()),
        set(),
    )
    csp = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    title = f"Paket dampak kebocoran / Breach impact pack: {facts.client_id}"
    return f"""<!doctype html>
<html lang="id">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<title>{escape(title)}</title>
<style>{STYLE}</style>
</head>
<body>
<h1>{escape(title)}</h1>
<p class="muted">Dibuat / Generated {wib(facts.generated_at)} WIB, from the audit trail
(UU PDP Pasal 46: which data, when, how).</p>
<h2>Rantai audit / Audit chain</h2>
<p class="ok" id="chain-verdict">Utuh / Intact over the window</p>
{_table("chain", ["", ""], chain, set())}
<h2>Jumlah / Totals</h2>
{_table("totals", ["", ""], totals, set())}
<h2>Data yang keluar / What left</h2>
{_fields(facts)}
<h2>Per hari / By day</h2>
{_days(facts)}
<h2>Permintaan / Requests</h2>
{_events(facts)}
<h2>Berkas / Files</h2>
<p class="muted">households.csv and persons.csv name every subject (No KK, NIK);
pemberitahuan-subjek.csv with pemberitahuan-subjek.txt are the subjects' notices (a mail
merge), pemberitahuan-lembaga.txt the authority's.</p>
{files}
</body>
</html>
"""
