"""A month of audit history written at chosen times (October 2026), for the anomaly rules
and the monthly report: hash-chained rows appended as the owner, exactly as the writer
would chain them, so the chain verifies.

The story (times WIB):

* ``dinsos-sync-01`` (dinsos-pkh) makes 10 requests every workday 5–16 October
  (09:00–10:30), each disclosing the same 5 households; 3 on Sunday 18 October
  at 02:00 (OFF_HOURS); one at 16:59:59 and one at 17:00:00 on Monday 19
  October (only the second is OFF_HOURS); 150 on Tuesday 20 October
  08:00–12:58 (VOLUME_SPIKE); 40 on 21 October (not a spike: under 100).
* ``dp3akb-app-01`` (dp3akb-keluarga): 12 refused requests on 21 October
  10:00–10:03:40 (DENIAL_BURST); 9 on 23 October (under the threshold).
* ``kec-guess-01``: 10 failed token requests on 22 October 14:00–14:03:45
  (SIGN_IN_BURST); 5 requests with a bad bearer token from 10.1.2.3 (not enough).
* ``dinsos-scraper-01`` (dinsos-pkh): on 27 October 10:05–10:25, five requests
  disclosing together 30 % of the program's households (SCOPE_SWEEP); on 29
  October, 15 % (not a sweep).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Final

import asyncpg

from audit.events import AuditEvent, event_row
from audit.sql import chain as chain_sql
from audit.writer import append_batch

WIB = timezone(timedelta(hours=7))


def wib(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 10, day, hour, minute, second, tzinfo=WIB)


def _event(
    *,
    client_id: str | None,
    program: str | None,
    outcome: str = "allowed",
    endpoint: str = "graphql",
    households: list[int] | None = None,
    error_code: str | None = None,
    remote_addr: str = "10.20.30.40",
) -> AuditEvent:
    households = households or []
    return AuditEvent(
        endpoint=endpoint,
        outcome=outcome,
        request_id="history",
        client_id=client_id,
        agency=None if program is None else f"agency of {program}",
        program=program,
        agreement=None if program is None else "PKS/TEST",
        purpose=None if program is None else "test history",
        remote_addr=remote_addr,
        operation_name="Sync" if endpoint == "graphql" else None,
        error_code=error_code,
        field_paths=["households.nodes.id", "households.nodes.headName"] if households else [],
        household_ids=households,
        person_ids=[],
        row_count=len(households),
    )


@dataclass
class History:
    """What was written, by label, to check the rules against."""

    events: list[tuple[datetime, AuditEvent]] = field(default_factory=list)
    seqs: dict[str, list[int]] = field(default_factory=dict)
    scope_households: int = 0
    sweep_households: int = 0

    def add(self, label: str, at: datetime, event: AuditEvent) -> None:
        self.events.append((at, event))
        self.seqs.setdefault(label, []).append(len(self.events))


def workdays(first: int, last: int) -> Iterator[int]:
    for day in range(first, last + 1):
        if date(2026, 10, day).isoweekday() <= 5:
            yield day


def october_story(dinsos_scope: list[int]) -> History:
    """The story above; ``dinsos_scope``: ids of the households dinsos-pkh may read."""
    history = History(scope_households=len(dinsos_scope))
    sync = "dinsos-sync-01"
    five = dinsos_scope[:5]
    for day in workdays(5, 16):
        for index in range(10):
            at = wib(day, 9) + timedelta(minutes=10 * index)
            history.add(
                "baseline", at, _event(client_id=sync, program="dinsos-pkh", households=five)
            )
    for index in range(3):
        history.add(
            "off_hours_sunday",
            wib(18, 2, index),
            _event(client_id=sync, program="dinsos-pkh", households=five),
        )
    history.add(
        "office_hours_monday",
        wib(19, 16, 59, 59),
        _event(client_id=sync, program="dinsos-pkh", households=five),
    )
    history.add(
        "off_hours_monday",
        wib(19, 17),
        _event(client_id=sync, program="dinsos-pkh", households=five),
    )
    for index in range(150):
        history.add(
            "spike",
            wib(20, 8) + timedelta(minutes=2 * index),
            _event(client_id=sync, program="dinsos-pkh", households=five[:1]),
        )
    for index in range(12):
        history.add(
            "denial_burst",
            wib(21, 10) + timedelta(seconds=20 * index),
            _event(
                client_id="dp3akb-app-01",
                program="dp3akb-keluarga",
                outcome="denied",
                error_code="FORBIDDEN",
            ),
        )
    for index in range(40):
        history.add(
            "no_spike",
            wib(21, 11) + timedelta(minutes=3 * index),
            _event(client_id=sync, program="dinsos-pkh", households=five[:1]),
        )
    for index in range(10):
        history.add(
            "sign_in_burst",
            wib(22, 14) + timedelta(seconds=25 * index),
            _event(
                client_id="kec-guess-01",
                program=None,
                endpoint="token",
                outcome="unauthenticated",
                error_code="invalid_client",
            ),
        )
    for index in range(5):
        history.add(
            "bad_bearer",
            wib(22, 15) + timedelta(seconds=10 * index),
            _event(
                client_id=None,
                program=None,
                outcome="unauthenticated",
                error_code="UNAUTHENTICATED",
                remote_addr="10.1.2.3",
            ),
        )
    for index in range(9):
        history.add(
            "few_denials",
            wib(23, 10) + timedelta(seconds=25 * index),
            _event(
                client_id="dp3akb-app-01",
                program="dp3akb-keluarga",
                outcome="denied",
                error_code="FORBIDDEN",
            ),
        )
    sweep = dinsos_scope[: math.ceil(0.30 * len(dinsos_scope))]
    history.sweep_households = len(sweep)
    chunk = math.ceil(len(sweep) / 5)
    for index in range(5):
        history.add(
            "sweep",
            wib(27, 10, 5 + 5 * index),
            _event(
                client_id="dinsos-scraper-01",
                program="dinsos-pkh",
                households=sweep[index * chunk : (index + 1) * chunk],
            ),
        )
    small = dinsos_scope[: math.floor(0.15 * len(dinsos_scope))]
    history.add(
        "small_pull",
        wib(29, 10),
        _event(client_id="dinsos-scraper-01", program="dinsos-pkh", households=small),
    )
    return history


async def append_history(owner_url: str, history: History) -> None:
    """Append ``history`` to the (empty) chain in one step, as the writer appends a batch."""
    connection = await asyncpg.connect(owner_url)
    try:
        seq = await connection.fetchval("SELECT coalesce(max(seq), 0) FROM audit_events")
        assert seq == 0, "the story's sequence numbers assume an empty chain"
        events = sorted(history.events, key=lambda item: item[0])
        assert events == history.events, "the story is written in time order"
        for at in (events[0][0], events[-1][0]):
            await chain_sql.ensure_partition(connection, at)
        rows = [event_row(event, seq=0, occurred_at=at) for at, event in events]
        await chain_sql.append_events(connection, append_batch(rows))
    finally:
        await connection.close()


def nov(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, second, tzinfo=WIB)


NOVEMBER_PERIOD: Final = (date(2026, 11, 16), date(2026, 11, 22))
"""The WIB days the November story is read over (Monday 16 – Sunday 22 November); the
days before are the volume clients' baseline."""


def november_story(dinsos_scope: list[int]) -> History:
    """Each rule on both sides of its threshold, one client (or address) per side.

    ``dinsos_scope``: ids of the households dinsos-pkh may read (over 400 of them).
    Volume clients act as ``bappeda-statistik`` (no row scope, so no SCOPE_SWEEP).
    """
    assert len(dinsos_scope) > 400, "the sweep story needs a scope of over 400 households"
    history = History(scope_households=len(dinsos_scope))
    entries: list[tuple[str, datetime, AuditEvent]] = []

    def add(label: str, at: datetime, event: AuditEvent) -> None:
        entries.append((label, at, event))

    def volume(client: str, households: list[int]) -> AuditEvent:
        return _event(client_id=client, program="bappeda-statistik", households=households)

    # VOLUME_SPIKE by requests, the minimum: one request of baseline, then 99 or 100.
    for client, count in (("vol-min-99", 99), ("vol-min-100", 100)):
        add(f"{client}:baseline", nov(2, 9), volume(client, [1]))
        for index in range(count):
            add(client, nov(16, 8) + timedelta(minutes=2 * index), volume(client, [1]))
    # ... by requests, the factor: 420 requests over the 14 days before (30 a day), 149 or 150.
    for client, count in (("vol-factor-149", 149), ("vol-factor-150", 150)):
        for day in workdays_of(11, 2, 13):
            for index in range(42):
                add(f"{client}:baseline", nov(day, 9, index), volume(client, [1]))
        for index in range(count):
            add(client, nov(16, 8) + timedelta(minutes=2 * index), volume(client, [1]))
    # ... by rows, the minimum: 1 row of baseline, then 9,999 or 10,000 rows in one request.
    for client, rows in (("vol-rows-9999", 9_999), ("vol-rows-10000", 10_000)):
        add(f"{client}:baseline", nov(2, 9), volume(client, [1]))
        add(client, nov(16, 9), volume(client, list(range(1, rows + 1))))
    # ... by rows, the factor: 33,600 rows over the 14 days before (2,400 a day), then 11,999
    # or 12,000.
    for client, rows in (("vol-rowfactor-11999", 11_999), ("vol-rowfactor-12000", 12_000)):
        for day in (2, 3, 4, 5):
            add(f"{client}:baseline", nov(day, 9), volume(client, list(range(1, 8_401))))
        add(client, nov(16, 9), volume(client, list(range(1, rows + 1))))

    # OFF_HOURS: office hours are [07:00, 17:00) Monday–Friday WIB.
    edge = "office-edge"
    for label, at in (
        ("off:early", nov(17, 6, 59, 59)),
        ("on:start", nov(17, 7)),
        ("on:end", nov(17, 16, 59, 59)),
        ("off:late", nov(17, 17)),
        ("off:saturday", nov(21, 10)),
    ):
        add(label, at, _event(client_id=edge, program="dinsos-pkh", households=dinsos_scope[:2]))

    # DENIAL_BURST: 10 refusals within 5 minutes, each refused outcome counting.
    refused = ("denied", "invalid", "too_complex", "rate_limited")

    def refusal(client: str, outcome: str) -> AuditEvent:
        return _event(client_id=client, program="dp3akb-keluarga", outcome=outcome, error_code="X")

    for client, count in (("deny-9", 9), ("deny-10", 10)):
        for index in range(count):
            at = nov(18, 9) + timedelta(seconds=30 * index)
            add(client, at, refusal(client, refused[index % len(refused)]))
    for index in range(10):  # the tenth 5 minutes 1 second after the first
        at = nov(18, 11) + (timedelta(seconds=30 * index) if index < 9 else timedelta(seconds=301))
        add("deny-spread", at, refusal("deny-spread", "denied"))
    for index in range(10):  # the gateway's own failures are not refusals
        add(
            "deny-unavailable",
            nov(18, 13) + timedelta(seconds=10 * index),
            refusal("deny-unavailable", "unavailable"),
        )

    # SIGN_IN_BURST: 10 failed sign-ins within 5 minutes, by client id or else by address.
    def token_failure(client: str, outcome: str = "unauthenticated") -> AuditEvent:
        return _event(client_id=client, program=None, endpoint="token", outcome=outcome)

    for client, count in (("guess-9", 9), ("guess-10", 10)):
        for index in range(count):
            outcome = "rate_limited" if index == 0 else "unauthenticated"
            at = nov(19, 14) + timedelta(seconds=20 * index)
            add(client, at, token_failure(client, outcome))
    for index in range(10):
        add(
            "bad-bearer",
            nov(19, 15) + timedelta(seconds=10 * index),
            _event(
                client_id=None,
                program=None,
                outcome="unauthenticated",
                error_code="UNAUTHENTICATED",
                remote_addr="10.9.9.9",
            ),
        )
    for index in range(10):  # GraphiQL's page, loaded ten times: no sign-in was attempted
        add(
            "graphiql-page",
            nov(19, 15, 30) + timedelta(seconds=10 * index),
            _event(client_id=None, program=None, outcome="page", remote_addr="10.8.8.8"),
        )

    # SCOPE_SWEEP against dinsos-pkh's real scope: 24 % or 26 % of it within half an hour.
    for client, share in (("sweep-24", 0.24), ("sweep-26", 0.26)):
        size = (
            math.floor(share * len(dinsos_scope))
            if share < 0.25
            else math.ceil(share * len(dinsos_scope))
        )
        swept = dinsos_scope[-size:]
        chunk = math.ceil(size / 4)
        for index in range(4):
            add(
                client,
                nov(18, 10, 5 * index),
                _event(
                    client_id=client,
                    program="dinsos-pkh",
                    households=swept[index * chunk : (index + 1) * chunk],
                ),
            )
    # ... against a scope of 400 households (kec-sumbersari), new clients reading 30 or 120,
    # and of 200 (dp3akb-keluarga), reading 99 or 100 (the minimum of rows).
    for client, program, size in (
        ("new-30", "kec-sumbersari", 30),
        ("new-120", "kec-sumbersari", 120),
        ("min-99", "dp3akb-keluarga", 99),
        ("min-100", "dp3akb-keluarga", 100),
    ):
        add(
            client,
            nov(19, 10),
            _event(client_id=client, program=program, households=list(range(1, size + 1))),
        )

    for label, at, event in sorted(entries, key=lambda entry: entry[1]):
        history.add(label, at, event)
    return history


def workdays_of(month: int, first: int, last: int) -> Iterator[int]:
    for day in range(first, last + 1):
        if date(2026, month, day).isoweekday() <= 5:
            yield day
