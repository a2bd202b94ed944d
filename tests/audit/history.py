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

import asyncpg

from audit.chain import GENESIS_HASH, STORED_COLUMNS, chain_hash
from audit.events import AuditEvent, event_row
from audit.sql import chain as chain_sql

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
    """Append ``history`` to the chain (it must be empty or older), hashed as the writer would."""
    connection = await asyncpg.connect(owner_url)
    try:
        head = await connection.fetchrow(
            "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1"
        )
        seq, prev_hash = (head[0], head[1]) if head else (0, GENESIS_HASH)
        assert seq == 0, "the story's sequence numbers assume an empty chain"
        events = sorted(history.events, key=lambda item: item[0])
        assert events == history.events, "the story is written in time order"
        for at in (events[0][0], events[-1][0]):
            await chain_sql.ensure_partition(connection, at)
        rows = []
        for at, event in events:
            seq += 1
            row = event_row(event, seq=seq, occurred_at=at)
            digest = chain_hash(prev_hash, row)
            rows.append(
                (
                    *row[:17],
                    chain_sql.id_array(row[17]),
                    chain_sql.id_array(row[18]),
                    *row[19:],
                    prev_hash,
                    digest,
                )
            )
            prev_hash = digest
        await chain_sql.insert_events(connection, rows, columns=STORED_COLUMNS)
    finally:
        await connection.close()
