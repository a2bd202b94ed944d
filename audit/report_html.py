"""The monthly review as one self-contained HTML file: the overview, what was disclosed under
each purpose and case reference, the anomalies (each with the purposes and cases its events
named) and the chain's status of ``regsosek audit report``, with the charts as inline SVG.

Nothing is fetched when the file is opened (no script, no style sheet, no
image from anywhere; its own Content-Security-Policy forbids them), so it can be
mailed, archived and opened offline. Every text from the audit trail is
escaped. Figures come from ``audit.reports``, the functions behind the
GraphQL fields, so the report and the console agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Any, Final

import asyncpg

from audit.anomaly_rules import THRESHOLDS, Thresholds
from audit.reports import Period, ScopeCounter, anomalies, purposes, summary
from audit.status import full_status
from db.engine import plain_url
from db.wib import WIB

COLOURS: Final = (
    "#0b5cad",
    "#c2410c",
    "#15803d",
    "#7c3aed",
    "#b91c1c",
    "#0e7490",
    "#a16207",
    "#be185d",
    "#4d7c0f",
    "#334155",
)
STYLE: Final = """
body { font-family: system-ui, sans-serif; color: #1d2733; margin: 2rem; max-width: 72rem; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin-top: 2rem; }
table { border-collapse: collapse; width: 100%; font-size: 0.85rem; margin: 0.5rem 0; }
th, td { text-align: left; padding: 0.2rem 0.5rem; border-bottom: 1px solid #d9dee5; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
.ok { color: #1b6e33; font-weight: 600; } .broken { color: #b3261e; font-weight: 600; }
.muted { color: #5b6775; font-size: 0.85rem; } code { font-family: ui-monospace, monospace; }
"""


def _wib(text: str | None) -> str:
    if not text:
        return "—"
    moment = datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(WIB)
    return moment.strftime("%Y-%m-%d %H:%M:%S WIB")


def _cell(value: Any, *, number: bool = False) -> str:
    text = "—" if value is None else str(value)
    return f'<td class="n">{escape(text)}</td>' if number else f"<td>{escape(text)}</td>"


def _table(
    table_id: str, headings: Sequence[str], rows: Iterable[Sequence[Any]], numeric: set[int]
) -> str:
    head = "".join(
        f'<th class="n">{escape(h)}</th>' if i in numeric else f"<th>{escape(h)}</th>"
        for i, h in enumerate(headings)
    )
    body = "".join(
        "<tr>" + "".join(_cell(v, number=i in numeric) for i, v in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f'<table id="{table_id}"><tr>{head}</tr>{body}</table>'


def bar_chart(summary: dict[str, Any], key: str, *, title: str) -> str:
    """A stacked bar chart (one bar per WIB day, one colour per program) as inline SVG."""
    days: list[str] = summary["days"]
    programs: list[str] = summary["programs"]
    values = {(cell["day"], cell["program"]): cell[key] for cell in summary["programDays"]}
    totals = [sum(values.get((day, p), 0) for p in programs) for day in days]
    top = max([*totals, 1])
    width, height, left, bottom, top_margin = 900, 300, 60, 40, 20
    plot_w, plot_h = width - left - 20, height - bottom - top_margin
    step = plot_w / max(len(days), 1)
    bar = max(step * 0.7, 1.0)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 24 * 2}"'
        f' viewBox="0 0 {width} {height + 48}" role="img" aria-label="{escape(title)}"'
        f' data-chart="{escape(key)}">',
        f'<line x1="{left}" y1="{top_margin + plot_h}" x2="{left + plot_w}"'
        f' y2="{top_margin + plot_h}" stroke="#5b6775"/>',
    ]
    for tick in range(5):
        value = top * tick / 4
        y = top_margin + plot_h - plot_h * tick / 4
        parts.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end">'
            f"{value:,.0f}</text>"
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#eef1f5"/>'
        )
    label_every = max(1, len(days) // 12)
    for index, day in enumerate(days):
        x = left + index * step + (step - bar) / 2
        y = top_margin + plot_h
        for position, program in enumerate(programs):
            value = values.get((day, program), 0)
            if not value:
                continue
            h = plot_h * value / top
            y -= h
            colour = COLOURS[position % len(COLOURS)]
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}"'
                f' fill="{colour}" data-day="{day}" data-program="{escape(program)}"'
                f' data-value="{value}"><title>{escape(program)} {day}: {value:,}</title></rect>'
            )
        if index % label_every == 0:
            parts.append(
                f'<text x="{left + index * step + step / 2:.1f}" y="{top_margin + plot_h + 16}"'
                f' font-size="11" text-anchor="middle">{day[5:]}</text>'
            )
    for position, program in enumerate(programs):
        x = left + (position % 5) * 170
        y = height + 8 + (position // 5) * 18
        colour = COLOURS[position % len(COLOURS)]
        parts.append(
            f'<rect x="{x}" y="{y}" width="12" height="12" fill="{colour}"/>'
            f'<text x="{x + 16}" y="{y + 10}" font-size="12">{escape(program)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _chain(chain: dict[str, Any]) -> str:
    verdict = (
        '<p class="ok" id="chain-verdict">Utuh / Intact</p>'
        if chain["ok"]
        else '<p class="broken" id="chain-verdict">RUSAK / BROKEN</p>'
    )
    damage = chain.get("damage")
    rows = [
        ("Verification", f"{chain['verification']} at {_wib(chain['checkedAt'])}"),
        ("Verified head", f"#{chain['headSequence']} ({_wib(chain['headAt'])})"),
        ("Last stored event", f"#{chain['lastSequence']}"),
        ("Signed head", f"#{chain['signedHeadSequence'] or '—'}"),
        ("Checkpoints valid", f"{chain['checkpointsValid']} / {chain['checkpoints']}"),
    ]
    if damage:
        rows.append(("Damage", f"#{damage['sequence']} {damage['kind']}: {damage['detail']}"))
    return verdict + _table("chain", ["", ""], rows, set())


def _rules(rules: Thresholds) -> str:
    return (
        "<ul class='muted'>"
        f"<li><code>VOLUME_SPIKE</code>: a client's requests (or rows) on a day ≥"
        f" {rules.volume_factor:g} × its average over the {rules.baseline_days} days before,"
        f" and ≥ {rules.volume_min_requests} requests (or {rules.volume_min_rows:,} rows)</li>"
        f"<li><code>OFF_HOURS</code>: requests that disclosed rows outside Monday–Friday"
        f" {rules.office_start:%H:%M}–{rules.office_end:%H:%M} WIB</li>"
        f"<li><code>DENIAL_BURST</code>: ≥ {rules.denial_burst} refused requests by a client"
        f" within {rules.burst_window.total_seconds() / 60:g} minutes</li>"
        f"<li><code>SIGN_IN_BURST</code>: ≥ {rules.sign_in_burst} failed sign-ins by a client id"
        f" or address within {rules.burst_window.total_seconds() / 60:g} minutes</li>"
        f"<li><code>SCOPE_SWEEP</code>: ≥ {rules.sweep_share:.0%} of a program's scope (and ≥"
        f" {rules.sweep_min_rows} rows) disclosed to a client within"
        f" {rules.sweep_window.total_seconds() / 60:g} minutes</li></ul>"
    )


def _purposes_named(events: Iterable[dict[str, Any]]) -> str:
    """The distinct purpose codes and case references of an anomaly's events, as
    ``CODE (case)``; ``—`` when none named one."""
    named = sorted(
        {
            (event.get("purposeCode") or "—", event.get("caseRef"))
            for event in events
            if event.get("purposeCode") or event.get("caseRef")
        },
        key=lambda pair: (pair[0], pair[1] or ""),
    )
    return "; ".join(f"{code} ({case})" if case else code for code, case in named) or "—"


def render_report(
    *,
    when: Period,
    summary: dict[str, Any],
    anomalies: list[dict[str, Any]],
    chain: dict[str, Any],
    generated_at: datetime,
    rules: Thresholds = THRESHOLDS,
    purposes: Sequence[dict[str, Any]] = (),
) -> str:
    """The whole report as one HTML document (text)."""
    first = when.first_day.isoformat()
    last = (when.end - timedelta(microseconds=1)).astimezone(WIB).date().isoformat()
    totals = summary["totals"]
    total_rows = [
        ("Requests", totals["requests"]),
        ("Allowed", totals["allowed"]),
        ("Refused", totals["refused"]),
        ("FORBIDDEN", totals["denied"]),
        ("RATE_LIMITED", totals["rateLimited"]),
        ("Rows disclosed", totals["rowsDisclosed"]),
        ("Tokens issued", totals["tokensIssued"]),
        ("Failed sign-ins", totals["failedSignIns"]),
        ("Audit events", totals["events"]),
    ]
    program_days = [
        (
            c["day"],
            c["program"],
            c["requests"],
            c["allowed"],
            c["refused"],
            c["denied"],
            c["rateLimited"],
            c["rowsDisclosed"],
            c["tokensIssued"],
        )
        for c in summary["programDays"]
    ]
    failures = [
        (f["day"], f["endpoint"], f["clientId"], f["attempts"]) for f in summary["failedSignIns"]
    ]
    fields = [(f["program"], f["fieldPath"], f["requests"]) for f in summary["fieldsDisclosed"]]
    found = [
        (
            a["rule"],
            a["subject"],
            a["program"],
            _wib(a["firstAt"]),
            _wib(a["lastAt"]),
            a["eventCount"],
            a["measure"],
            a["threshold"],
            a["detail"],
            " ".join(a["sequences"]),
            _purposes_named(a.get("events", ())),
        )
        for a in anomalies
    ]
    by_purpose = [
        (
            p["program"],
            p["purposeCode"],
            p["caseRef"],
            p["requests"],
            p["rowsDisclosed"],
            f"#{p['firstSequence']}–#{p['lastSequence']}",
        )
        for p in purposes
    ]
    program_table = _table(
        "program-days",
        [
            "Day",
            "Program",
            "Requests",
            "Allowed",
            "Refused",
            "FORBIDDEN",
            "RATE_LIMITED",
            "Rows",
            "Tokens",
        ],
        program_days,
        {2, 3, 4, 5, 6, 7, 8},
    )
    anomaly_table = _table(
        "anomalies",
        [
            "Rule",
            "Subject",
            "Program",
            "First",
            "Last",
            "Events",
            "Measure",
            "Threshold",
            "Detail",
            "Sequences",
            "Purpose (case)",
        ],
        found,
        {5, 6, 7},
    )
    purpose_table = _table(
        "purposes",
        ["Program", "Purpose", "Case reference", "Requests", "Rows", "Sequences"],
        by_purpose,
        {3, 4},
    )
    period_from, period_to = escape(summary["from"]), escape(summary["to"])
    requests_chart = bar_chart(summary, "requests", title="Requests per program per day")
    rows_chart = bar_chart(summary, "rowsDisclosed", title="Rows disclosed per program per day")
    csp = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    return f"""<!doctype html>
<html lang="id">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<title>Laporan audit Regsosek {first} – {last}</title>
<style>{STYLE}</style>
</head>
<body>
<h1>Laporan audit pengungkapan data Regsosek / Regsosek disclosure audit report</h1>
<p class="muted" id="period" data-from="{period_from}" data-to="{period_to}">
Periode / Period: {first} – {last} (WIB). Dibuat / Generated {_wib(generated_at.isoformat())}.
</p>
<h2>Rantai audit / Audit chain</h2>
{_chain(chain)}
<h2>Jumlah / Totals</h2>
{_table("totals", ["", ""], total_rows, {1})}
<h2>Permintaan per program per hari / Requests per program per day</h2>
{requests_chart}
<h2>Baris diungkap per program per hari / Rows disclosed per program per day</h2>
{rows_chart}
<h2>Per program per hari / By program and day</h2>
{program_table}
<h2>Gagal masuk / Failed sign-ins</h2>
{_table("failed-sign-ins", ["Day", "Endpoint", "Client id", "Attempts"], failures, {3})}
<h2>Field diungkap / Fields disclosed</h2>
{_table("fields-disclosed", ["Program", "Field", "Requests"], fields, {2})}
<h2>Diungkap per tujuan dan perkara / Disclosed by purpose and case reference</h2>
{purpose_table}
<h2>Anomali / Anomalies ({len(anomalies)})</h2>
{_rules(rules)}
{anomaly_table}
</body>
</html>
"""


async def build_report(url: str, *, when: Period, scopes: ScopeCounter) -> tuple[str, int, bool]:
    """``regsosek audit report``: the HTML of ``when``, its number of anomalies, and whether
    the chain is intact, read as the owner (``url``) after a full walk of the chain, in one
    REPEATABLE READ snapshot."""
    connection = await asyncpg.connect(plain_url(url))
    try:
        chain = await full_status(connection)
        async with connection.transaction(isolation="repeatable_read", readonly=True):
            overview = await summary(connection, when)
            found = await anomalies(connection, when, scopes=await scopes(connection))
            by_purpose = await purposes(connection, when)
    finally:
        await connection.close()
    html = render_report(
        when=when,
        summary=overview,
        anomalies=found,
        chain=chain.to_json(),
        generated_at=datetime.now(UTC),
        purposes=by_purpose,
    )
    return html, len(found), chain.ok
