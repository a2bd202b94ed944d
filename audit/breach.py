"""The breach impact pack's facts (UU PDP Pasal 46: which data left, when, how), shared
by the owner's pack (``audit.breach_pack``, ``regsosek audit breach``) and the console's
summary (``breachPack``, ``breach_summary`` here).

"Client X leaked: whose data did it receive?" The answer comes from the audit trail alone:
the chain over the window is verified first (``audit.breach_window``), then every event of
the client in the window that recorded households or persons is read, and every household
and person they name (``audit.sql.breach``). A *disclosing* event is one that recorded ids,
whatever its outcome: the ledger's entries define what left. The counts are those of the
ledger: the union of the ids the client's events recorded.

This module is on the request path (``breachPack``), so it reads no registry table: the
identities (No KK, NIK) are read only by ``audit.breach_pack``, as the owner.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import asyncpg

from audit import breach_html
from audit.breach_fields import Disclosed, Owner, disclosed
from audit.breach_window import WindowCheck, verify_window
from audit.sql import breach as breach_sql
from db.wib import WIB
from errors import BadInput


@dataclass(slots=True)
class SubjectTally:
    """One kind of subject (households or persons) as written."""

    count: int = 0
    not_in_registry: int = 0
    ids: list[int] = field(default_factory=list)
    fields: Counter[tuple[str, str]] = field(default_factory=Counter)
    """``(path, mode)`` → how many of these subjects that field of was disclosed."""


@dataclass(slots=True)
class PackFacts:
    """Everything the summary and the notices say."""

    client_id: str
    client: dict[str, Any] | None
    start: datetime
    end: datetime
    generated_at: datetime
    check: WindowCheck
    outcomes: dict[str, int]
    events: list[dict[str, Any]]
    households: SubjectTally
    persons: SubjectTally
    days: dict[date, list[int]] = field(default_factory=dict)
    """WIB day → [events, households named, persons named] (names counted per event)."""
    purposes: Counter[str] = field(default_factory=Counter)
    case_refs: Counter[str] = field(default_factory=Counter)
    audit_seq: int | None = None
    files: dict[str, str] = field(default_factory=dict)
    registry_read: bool = True
    """False for the console's summary, which counts subjects without reading the registry."""


def paths_text(found: Iterable[Disclosed]) -> str:
    return "; ".join(f"{item.path} ({item.mode})" for item in found)


class Shapes:
    """The union of the subject fields of a set of events, by owner (cached: a client's
    requests come in few shapes, and equal shapes are one object, ``_collect_events``)."""

    def __init__(self, events: Sequence[dict[str, Any]]) -> None:
        self.by_seq = {event["sequence"]: event["_disclosed"] for event in events}
        self._unions: dict[tuple[Owner, frozenset[int]], tuple[Disclosed, ...]] = {}

    def union(self, owner: Owner, seqs: Sequence[int]) -> tuple[Disclosed, ...]:
        shapes = frozenset(id(self.by_seq[seq]) for seq in seqs)
        key = (owner, shapes)
        found = self._unions.get(key)
        if found is None:
            merged: dict[str, Disclosed] = {}
            for seq in seqs:
                for item in self.by_seq[seq]:
                    if item.owner is owner:
                        merged.setdefault(item.path, item)
            found = tuple(merged[path] for path in sorted(merged))
            self._unions[key] = found
        return found


async def collect_events(connection: asyncpg.Connection, facts: PackFacts) -> None:
    shapes: dict[tuple[str, tuple[str, ...]], tuple[Disclosed, ...]] = {}
    for row in await breach_sql.disclosing_events(
        connection, client_id=facts.client_id, start=facts.start, end=facts.end
    ):
        event = dict(row)
        event["sequence"] = event.pop("seq")
        key = (row["program"] or "", tuple(row["field_paths"]))
        if key not in shapes:
            shapes[key] = tuple(disclosed(list(key[1])))
        event["_disclosed"] = shapes[key]
        facts.events.append(event)
        day = facts.days.setdefault(row["occurred_at"].astimezone(WIB).date(), [0, 0, 0])
        day[0] += 1
        day[1] += row["households"]
        day[2] += row["persons"]
        if row["purpose_code"]:
            facts.purposes[row["purpose_code"]] += 1
        if row["case_ref"]:
            facts.case_refs[row["case_ref"]] += 1


SubjectStream = Callable[..., AsyncIterator[list[asyncpg.Record]]]
"""``audit.sql.breach.stream_subjects`` (ids only) or ``audit.sql.breach_registry``'s (with
the registry identity, the owner's pack only)."""
OnSubject = Callable[[Owner, asyncpg.Record, tuple[Disclosed, ...]], None]


async def tally_subjects(
    connection: asyncpg.Connection,
    facts: PackFacts,
    *,
    kind: str,
    shapes: Shapes,
    stream: SubjectStream,
    each: OnSubject | None = None,
) -> SubjectTally:
    """Every subject of ``kind`` (``households`` or ``persons``) the client's events named,
    tallied; ``each`` sees every one with its fields (the pack writes them)."""
    owner = Owner.HOUSEHOLD if kind == "households" else Owner.PERSON
    identity_column = "kk_number" if owner is Owner.HOUSEHOLD else "nik"
    tally = SubjectTally()
    async for rows in stream(
        connection, kind=kind, client_id=facts.client_id, start=facts.start, end=facts.end
    ):
        for row in rows:
            fields = shapes.union(owner, row["seqs"])
            tally.count += 1
            tally.ids.append(row["id"])
            tally.not_in_registry += row.get(identity_column) is None
            tally.fields.update((item.path, item.mode) for item in fields)
            if each is not None:
                each(owner, row, fields)
    return tally


async def gather(
    connection: asyncpg.Connection,
    *,
    client_id: str,
    window: tuple[datetime, datetime],
    check: WindowCheck,
    generated_at: datetime,
) -> PackFacts:
    """The client and its disclosing events in the window (subjects come after)."""
    start, end = window
    client = await breach_sql.client_record(connection, client_id=client_id)
    outcomes = await breach_sql.client_outcomes(
        connection, client_id=client_id, start=start, end=end
    )
    if client is None and not outcomes:
        raise BadInput(f"No client {client_id!r} is registered or in the audit trail.")
    facts = PackFacts(
        client_id=client_id,
        client=None if client is None else dict(client),
        start=start,
        end=end,
        generated_at=generated_at,
        check=check,
        outcomes=outcomes,
        events=[],
        households=SubjectTally(),
        persons=SubjectTally(),
    )
    await collect_events(connection, facts)
    return facts


async def breach_summary(
    connection: asyncpg.Connection,
    *,
    client_id: str,
    start: datetime,
    end: datetime,
    generated_at: datetime,
) -> dict[str, Any]:
    """``breachPack`` (the console's button): the window verified, and the pack's summary page
    and counts, read in the caller's transaction as the gateway role. It names no data
    subject (the registry is not read: that is the owner's pack, ``write_breach_pack``)."""
    if start.tzinfo is None or end.tzinfo is None or not start < end:
        raise BadInput("The window needs two times with a zone, `from` before `to`.")
    check = await verify_window(connection, start=start, end=end)
    answer: dict[str, Any] = {
        "verified": check.ok,
        "damage": None,
        "firstSequence": None if check.first_seq is None else str(check.first_seq),
        "lastSequence": None if check.last_seq is None else str(check.last_seq),
        "events": 0,
        "households": 0,
        "persons": 0,
        "summaryHtml": None,
    }
    if check.damage is not None:
        damage = check.damage
        answer["damage"] = {
            "sequence": str(damage.seq),
            "kind": damage.kind.upper(),
            "detail": damage.detail,
            "throughSequence": None if damage.through_seq is None else str(damage.through_seq),
        }
        return answer
    facts = await gather(
        connection,
        client_id=client_id,
        check=check,
        generated_at=generated_at,
        window=(start, end),
    )
    facts.registry_read = False
    shapes = Shapes(facts.events)
    for kind in ("households", "persons"):
        tally = await tally_subjects(
            connection, facts, kind=kind, shapes=shapes, stream=breach_sql.stream_subjects
        )
        setattr(facts, kind, tally)
    answer.update(
        events=len(facts.events),
        households=facts.households.count,
        persons=facts.persons.count,
        summaryHtml=breach_html.render(facts),
    )
    return answer
