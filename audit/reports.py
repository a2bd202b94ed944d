"""What auditors see in the console and the monthly report: the overview of a period, the
anomalies found in it, and the disclosures of one person found by NIK.

The GraphQL roots (``audit.roots``) and ``regsosek audit report``
call these same functions, so the console and the HTML report show the same
figures. The SQL is in ``audit.sql.reports`` and ``audit.sql.anomalies``; the
rules and their thresholds in ``audit.anomaly_rules``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

import asyncpg
import orjson

from audit.anomaly_rules import THRESHOLDS, Rule, Thresholds
from audit.events import format_time
from audit.sql import anomalies as audit_anomalies
from audit.sql import reports as audit_reports
from audit.sql.anomalies import Found
from db.wib import WIB
from errors import BadInput

MAX_PERIOD: Final = timedelta(days=366)

ScopeSize = tuple[str, int, int]
"""``(program, households, persons)`` a program may read: what ``SCOPE_SWEEP`` measures
against (counted with the program's own row predicate, ``schema.scope_sizes``)."""
ScopeCounter = Callable[[asyncpg.Connection], Awaitable[Sequence[ScopeSize]]]
"""The scope sizes of the programs in force, over a given connection (the app and the CLI
bind ``schema.scope_sizes`` to their policies)."""


@dataclass(frozen=True, slots=True)
class Period:
    """``[start, end)``, both aware; the WIB days it touches are the overview's axis."""

    start: datetime
    end: datetime

    @property
    def first_day(self) -> date:
        return self.start.astimezone(WIB).date()

    @property
    def last_day(self) -> date:
        return (self.end - timedelta(microseconds=1)).astimezone(WIB).date()


def period(start: datetime | None, end: datetime | None) -> Period:
    """A checked period: both times with a zone, ``start < end``, at most a year long."""
    if start is None or end is None:
        raise BadInput("`from` and `to` are both needed.")
    if start.tzinfo is None or end.tzinfo is None:
        raise BadInput("Times need a time zone (for example 2026-11-01T00:00:00+07:00).")
    if not start < end:
        raise BadInput("`from` must be before `to`.")
    if end - start > MAX_PERIOD:
        raise BadInput("A period is at most 366 days long.")
    return Period(start.astimezone(UTC), end.astimezone(UTC))


def wib_days(first: date, last: date) -> Period:
    """The period of the WIB days ``first``..``last`` (both included)."""
    start = datetime.combine(first, datetime.min.time(), tzinfo=WIB)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=WIB)
    return period(start, end)


async def summary(connection: asyncpg.Connection, when: Period) -> dict[str, Any]:
    """``AuditSummary``: per program per WIB day requests, refusals and rows disclosed; failed
    sign-ins per day; the fields each program was disclosed; totals."""
    text = await audit_reports.period_summary(
        connection,
        occurred_from=when.start,
        occurred_to=when.end,
        first_day=when.first_day,
        last_day=when.last_day,
    )
    result: dict[str, Any] = orjson.loads(text)
    return result


async def purposes(connection: asyncpg.Connection, when: Period) -> list[dict[str, Any]]:
    """What was disclosed in the period under each purpose and case reference: per program,
    ``purposeCode`` and ``caseRef`` (None where the request named none), the requests,
    rows disclosed, and first and last sequence numbers."""
    text = await audit_reports.purpose_disclosures(
        connection, occurred_from=when.start, occurred_to=when.end
    )
    result: list[dict[str, Any]] = orjson.loads(text)
    return result


def _number(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"


def _anomaly(
    rule: Rule, found: Found, *, measure: float, threshold: float, detail: str
) -> dict[str, Any]:
    events = orjson.loads(found.events_json)
    return {
        "rule": rule.value,
        "subject": found.subject,
        "clientId": found.client_id,
        "program": found.program,
        "remoteAddr": found.remote_addr,
        "day": None if found.day is None else found.day.isoformat(),
        "firstAt": format_time(found.first_at),
        "lastAt": format_time(found.last_at),
        "eventCount": found.event_count,
        "measure": measure,
        "threshold": threshold,
        "detail": detail,
        "sequences": [event["sequence"] for event in events],
        "events": events,
    }


async def anomalies(
    connection: asyncpg.Connection,
    when: Period,
    *,
    scopes: Sequence[ScopeSize],
    rules: Thresholds = THRESHOLDS,
) -> list[dict[str, Any]]:
    """``[AuditAnomaly]`` of the period under every rule, ordered by when they started."""
    found: list[dict[str, Any]] = []
    window_minutes = _number(rules.burst_window.total_seconds() / 60)

    for spike in await audit_anomalies.volume_spikes(
        connection,
        occurred_from=when.start,
        occurred_to=when.end,
        first_day=when.first_day,
        last_day=when.last_day,
        baseline_days=rules.baseline_days,
        min_requests=rules.volume_min_requests,
        min_rows=rules.volume_min_rows,
        factor=rules.volume_factor,
        max_events=rules.max_events,
    ):
        day = spike.found.day.isoformat() if spike.found.day else "?"
        if spike.by_requests:
            baseline, unit, minimum = spike.base_requests, "requests", rules.volume_min_requests
        else:
            baseline, unit, minimum = spike.base_rows, "rows disclosed", rules.volume_min_rows
        found.append(
            _anomaly(
                Rule.VOLUME_SPIKE,
                spike.found,
                measure=spike.found.measure,
                threshold=max(float(minimum), rules.volume_factor * baseline),
                detail=f"{_number(spike.found.measure)} {unit} on {day} (WIB) against a"
                f" {rules.baseline_days}-day baseline of {_number(baseline)} a day"
                f" ({spike.requests:,} requests, {spike.rows_disclosed:,} rows that day)",
            )
        )

    for off, rows in await audit_anomalies.off_hours_access(
        connection,
        occurred_from=when.start,
        occurred_to=when.end,
        weekdays=rules.office_weekdays,
        office_start=rules.office_start,
        office_end=rules.office_end,
        max_events=rules.max_events,
    ):
        day = off.day.isoformat() if off.day else "?"
        hours = f"{rules.office_start:%H:%M}–{rules.office_end:%H:%M}"
        found.append(
            _anomaly(
                Rule.OFF_HOURS,
                off,
                measure=off.measure,
                threshold=1.0,
                detail=f"{off.event_count:,} requests disclosing {rows:,} rows on {day}"
                f" outside office hours (Monday–Friday {hours} WIB)",
            )
        )

    for kind, rule, threshold, noun in (
        ("refused", Rule.DENIAL_BURST, rules.denial_burst, "refused requests"),
        ("sign_in", Rule.SIGN_IN_BURST, rules.sign_in_burst, "failed sign-ins"),
    ):
        for burst in await audit_anomalies.bursts(
            connection,
            kind=kind,
            occurred_from=when.start,
            occurred_to=when.end,
            window=rules.burst_window,
            threshold=threshold,
            max_events=rules.max_events,
        ):
            found.append(
                _anomaly(
                    rule,
                    burst,
                    measure=burst.measure,
                    threshold=float(threshold),
                    detail=f"{burst.event_count:,} {noun} by {burst.subject}"
                    f" (up to {_number(burst.measure)} within {window_minutes} minutes)",
                )
            )

    for sweep in await audit_anomalies.scope_sweeps(
        connection,
        occurred_from=when.start,
        occurred_to=when.end,
        scopes=[scope for scope in scopes if scope[1] > 0 or scope[2] > 0],
        window=rules.sweep_window,
        share=rules.sweep_share,
        min_rows=rules.sweep_min_rows,
        max_events=rules.max_events,
    ):
        minutes = _number(rules.sweep_window.total_seconds() / 60)
        found.append(
            _anomaly(
                Rule.SCOPE_SWEEP,
                sweep.found,
                measure=round(sweep.found.measure, 4),
                threshold=rules.sweep_share,
                detail=f"{sweep.households:,} of {sweep.scope_households:,} households and"
                f" {sweep.persons:,} of {sweep.scope_persons:,} persons in scope disclosed"
                f" within {minutes} minutes ({sweep.found.measure:.0%} at most)",
            )
        )

    found.sort(key=lambda item: (item["firstAt"], item["rule"], item["subject"]))
    return found


def check_nik(nik: str) -> str:
    """A NIK (Nomor Induk Kependudukan, the 16-digit national identity number), or BadInput."""
    text = nik.strip()
    if not (len(text) == 16 and text.isascii() and text.isdigit()):
        raise BadInput("A NIK is 16 digits.")
    return text


async def person_disclosures(connection: asyncpg.Connection, *, nik: str) -> dict[str, Any]:
    """``PersonDisclosures``: who received the data of the person holding ``nik`` (UU PDP
    Pasal 32, the data subject's right of access), found through ids only."""
    text = await audit_reports.person_disclosures(connection, nik=check_nik(nik))
    result: dict[str, Any] = orjson.loads(text)
    return result
