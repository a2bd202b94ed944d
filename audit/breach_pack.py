"""The breach impact pack: ``regsosek audit breach --client ID --from T1 --to T2 --out DIR``.

"Client X leaked: whose data did it receive?" UU PDP Pasal 46 gives the controller
3 × 24 hours to tell the data subjects and the authority which data left, when, how,
and what was done. The pack answers from the audit trail alone, for the controller
(so it names subjects by registry identity, which the client never necessarily read):

1. the chain over the window is verified first (``audit.breach_window``); on damage the
   run stops naming the first bad sequence number and writes nothing at all;
2. in the same REPEATABLE READ snapshot every event of the client in the window that
   recorded households or persons is read, and every household and person they name
   (``audit.breach``, with the registry identity from ``audit.sql.breach_registry``):
   ``events.csv``, ``households.csv``, ``persons.csv`` and the
   subjects' notice mail-merge ``pemberitahuan-subjek.csv``;
3. the run is recorded as an audit event of the auditor's program (the pack discloses
   those subjects' identities to the Inspektorat, so it names them); if it cannot be
   recorded nothing is left behind (fail closed);
4. the HTML summary, the notice drafts (``audit.breach_notices``) and ``manifest.json``
   (every file's SHA-256) are written, and the pack's directory appears at once (it is
   written beside ``DIR`` and renamed).

The counts are those of the ledger: the union of the ids the client's events recorded.
"""

from __future__ import annotations

import csv
import hashlib
import shutil
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import asyncpg
import orjson

from audit import breach_html, breach_notices
from audit.breach import (
    PackFacts,
    Shapes,
    SubjectTally,
    gather,
    paths_text,
    tally_subjects,
)
from audit.breach_fields import Disclosed, Owner
from audit.breach_notices import wib
from audit.breach_window import WindowCheck, verify_window
from audit.events import AuditEvent, Endpoint, format_time
from audit.sql import breach_registry
from errors import BadInput

Recorder = Callable[[AuditEvent], Awaitable[int]]
"""Appends an event to the chain and returns its ``seq`` (``AuditWriter.record``)."""

MAX_LISTED_SEQUENCES: Final = 100
"""Sequence numbers listed per subject (``events`` counts them all; the trail has the rest)."""
PACK_FIELD_PATHS: Final = (
    "auditBreach.households.id",
    "auditBreach.households.kkNumber",
    "auditBreach.households.headName",
    "auditBreach.households.address",
    "auditBreach.persons.id",
    "auditBreach.persons.nik",
    "auditBreach.persons.name",
)
"""What the pack discloses to the auditor, as the run's audit event records it."""


@dataclass(frozen=True, slots=True)
class Auditor:
    """The program the run is recorded under (``inspektorat-audit``) and its agreement."""

    program: str
    agency: str
    agreement: str | None
    purpose: str | None


@dataclass(frozen=True, slots=True)
class BreachResult:
    check: WindowCheck
    facts: PackFacts | None
    """None when the chain was damaged (and nothing was written)."""
    out: Path | None


EVENT_COLUMNS: Final = (
    "sequence",
    "occurred_at_utc",
    "occurred_at_wib",
    "endpoint",
    "outcome",
    "program",
    "agency",
    "agreement",
    "purpose",
    "purpose_code",
    "case_ref",
    "operation_name",
    "remote_addr",
    "households",
    "persons",
    "fields",
)
HOUSEHOLD_COLUMNS: Final = (
    "household_id",
    "kk_number",
    "head_name",
    "address",
    "desa_code",
    "in_registry",
    "first_disclosed_wib",
    "last_disclosed_wib",
    "events",
    "sequences",
    "fields",
    "purpose_codes",
    "case_refs",
)
PERSON_COLUMNS: Final = (
    "person_id",
    "nik",
    "name",
    "household_id",
    "kk_number",
    "in_registry",
    "first_disclosed_wib",
    "last_disclosed_wib",
    "events",
    "sequences",
    "fields",
    "purpose_codes",
    "case_refs",
)


def _sequences(seqs: Sequence[int]) -> str:
    listed = " ".join(str(seq) for seq in seqs[:MAX_LISTED_SEQUENCES])
    extra = len(seqs) - MAX_LISTED_SEQUENCES
    return listed + (f" … (+{extra})" if extra > 0 else "")


def _write_events(path: Path, events: Sequence[dict[str, Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(EVENT_COLUMNS)
        for event in events:
            writer.writerow(
                [
                    event["sequence"],
                    format_time(event["occurred_at"]),
                    wib(event["occurred_at"]),
                    event["endpoint"],
                    event["outcome"],
                    event["program"],
                    event["agency"],
                    event["agreement"],
                    event["purpose"],
                    event["purpose_code"],
                    event["case_ref"],
                    event["operation_name"],
                    event["remote_addr"],
                    event["households"],
                    event["persons"],
                    paths_text(event["_disclosed"]),
                ]
            )


async def _write_subjects(
    connection: asyncpg.Connection,
    facts: PackFacts,
    *,
    kind: str,
    staging: Path,
    shapes: Shapes,
    notices: breach_notices.SubjectNotices,
) -> SubjectTally:
    """``households.csv`` or ``persons.csv``, and the subjects' notice rows, as they stream."""
    columns = HOUSEHOLD_COLUMNS if kind == "households" else PERSON_COLUMNS
    with (staging / f"{kind}.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)

        def each(owner: Owner, row: asyncpg.Record, fields: tuple[Disclosed, ...]) -> None:
            writer.writerow(_subject_line(row, owner=owner, fields=fields))
            notices.add({"owner": owner, "row": row, "fields": fields})

        return await tally_subjects(
            connection,
            facts,
            kind=kind,
            shapes=shapes,
            stream=breach_registry.stream_subjects,
            each=each,
        )


def _subject_line(row: asyncpg.Record, *, owner: Owner, fields: Sequence[Disclosed]) -> list[Any]:
    if owner is Owner.HOUSEHOLD:
        identity = [row["id"], row["kk_number"], row["head_name"], row["address"], row["desa_code"]]
    else:
        identity = [row["id"], row["nik"], row["name"], row["household_id"], row["kk_number"]]
    in_registry = identity[1] is not None
    return [
        *identity,
        "yes" if in_registry else "no",
        wib(row["first_at"]),
        wib(row["last_at"]),
        row["events"],
        _sequences(row["seqs"]),
        paths_text(fields),
        " ".join(row["purposes"]),
        " | ".join(row["case_refs"]),
    ]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _empty_target(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BadInput(f"{out} exists and is not an empty directory; choose a new one.")


def _staging(out: Path) -> Path:
    """A new directory beside ``out`` to write the pack in (renamed to ``out`` at the end)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))


def _publish(staging: Path, facts: PackFacts, *, out: Path) -> None:
    """The documents that name the run's audit event, the manifest, and the rename."""
    breach_notices.write_authority_notice(staging, facts)
    for path in sorted(staging.iterdir()):
        facts.files[path.name] = _sha256(path)
    (staging / "ringkasan.html").write_text(breach_html.render(facts), encoding="utf-8")
    facts.files["ringkasan.html"] = _sha256(staging / "ringkasan.html")
    (staging / "manifest.json").write_bytes(
        orjson.dumps(_manifest(facts), option=orjson.OPT_INDENT_2)
    )
    if out.exists():
        out.rmdir()
    staging.rename(out)


def _discard(staging: Path | None) -> None:
    if staging is not None and staging.exists():
        shutil.rmtree(staging)


async def write_breach_pack(
    connection: asyncpg.Connection,
    *,
    client_id: str,
    start: datetime,
    end: datetime,
    out: Path,
    record: Recorder,
    auditor: Auditor,
    generated_at: datetime,
) -> BreachResult:
    """Verify the window, then write the pack into ``out`` (new or empty); see the module."""
    if start.tzinfo is None or end.tzinfo is None or not start < end:
        raise BadInput("The window needs two times with a zone, --from before --to.")
    _empty_target(out)
    staging: Path | None = None
    try:
        async with connection.transaction(isolation="repeatable_read", readonly=True):
            check = await verify_window(connection, start=start, end=end)
            if check.damage is not None:
                return BreachResult(check=check, facts=None, out=None)
            facts = await gather(
                connection,
                client_id=client_id,
                check=check,
                generated_at=generated_at,
                window=(start, end),
            )
            staging = _staging(out)
            _write_events(staging / "events.csv", facts.events)
            shapes = Shapes(facts.events)
            with breach_notices.SubjectNotices(staging, facts) as notices:
                for kind in ("households", "persons"):
                    tally = await _write_subjects(
                        connection,
                        facts,
                        kind=kind,
                        staging=staging,
                        shapes=shapes,
                        notices=notices,
                    )
                    setattr(facts, kind, tally)
        facts.audit_seq = await record(_run_event(facts, auditor=auditor))
        _publish(staging, facts, out=out)
        return BreachResult(check=check, facts=facts, out=out)
    finally:
        _discard(staging)


def _run_event(facts: PackFacts, *, auditor: Auditor) -> AuditEvent:
    """The run as an audit event: the auditor's processing of every subject in the pack."""
    return AuditEvent(
        endpoint=Endpoint.CLI,
        outcome="allowed",
        request_id=f"breach-{uuid.uuid4().hex}",
        agency=auditor.agency,
        program=auditor.program,
        agreement=auditor.agreement,
        purpose=auditor.purpose,
        operation_name=f"audit breach --client {facts.client_id}"
        f" --from {format_time(facts.start)} --to {format_time(facts.end)}",
        field_paths=list(PACK_FIELD_PATHS),
        household_ids=facts.households.ids,
        person_ids=facts.persons.ids,
        row_count=facts.households.count + facts.persons.count,
    )


def _manifest(facts: PackFacts) -> dict[str, Any]:
    check = facts.check
    return {
        "client_id": facts.client_id,
        "from": format_time(facts.start),
        "to": format_time(facts.end),
        "generated_at": format_time(facts.generated_at),
        "audit_event_seq": facts.audit_seq,
        "chain": {
            "verified": check.ok,
            "window_first_seq": check.first_seq,
            "window_last_seq": check.last_seq,
            "walked_from_seq": check.anchor_seq,
            "anchor_checkpoint": check.anchor_checkpoint,
            "walked_through_seq": check.through_seq,
            "closing_checkpoint": check.closing_checkpoint,
        },
        "counts": {
            "disclosing_events": len(facts.events),
            "households": facts.households.count,
            "persons": facts.persons.count,
            "households_not_in_registry": facts.households.not_in_registry,
            "persons_not_in_registry": facts.persons.not_in_registry,
        },
        "files": facts.files,
    }
