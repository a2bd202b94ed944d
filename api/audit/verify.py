"""``regsosek audit verify``: walk the whole chain and the signed checkpoints.

The walk streams every stored event in ``(seq, occurred_at)`` order inside one
REPEATABLE READ snapshot and stops at the first damage, which it names:

* ``deleted``: a sequence number is missing (the first missing one is named);
* ``inserted``: a sequence number appears twice, or an event's ``prev_hash`` is
  not the hash of the event before it (a forged row, or its predecessor was
  edited and re-hashed);
* ``edited``: an event's stored hash does not match its contents;
* ``reordered``: an event holds the contents of another position (its hash
  matches its contents under another ``seq``), or time runs backwards;
* ``truncated``: the chain ends before the last signed checkpoint;
* ``forged``: a checkpoint's signature does not verify against the public key
  recorded for its ``kid``, its columns differ from what was signed, or the
  chain at the checkpoint's ``seq`` is not the chain that was signed (it was
  re-hashed after an edit somewhere after the previous good checkpoint).

Only public keys are needed. The verdict is the damage with the lowest
sequence number.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import asyncpg
import orjson

from api.audit.events import GENESIS_HASH, STORED_COLUMNS, canonical, format_time
from api.audit.signing import InvalidSignature, checkpoint_payload, verify_signature
from db import audit_store

REORDER_WINDOW: Final = 64
"""How far from its position an event's contents are searched for, to call it reordered."""


@dataclass(frozen=True, slots=True)
class Damage:
    seq: int
    """The first bad sequence number."""
    kind: str
    detail: str
    through_seq: int | None = None
    """For damage known only to lie in a range (a re-hashed chain): its last sequence number."""


@dataclass(slots=True)
class CheckpointResult:
    id: int
    seq: int
    created_at: datetime
    kid: str
    status: str = "not_reached"
    """``valid``, ``forged`` (signature, key or columns), ``head_mismatch``,
    ``beyond_chain``, or ``not_reached`` (the walk stopped at earlier damage)."""
    reason: str = ""


@dataclass(slots=True)
class Report:
    first_seq: int | None = None
    last_seq: int | None = None
    stored_events: int = 0
    first_at: datetime | None = None
    last_at: datetime | None = None
    events_valid: int = 0
    head_seq: int = 0
    head_hash: bytes = GENESIS_HASH
    """The last verified event (seq 0 and the genesis hash when none is)."""
    signed_seq: int | None = None
    """The newest checkpoint that verified, and matched the chain."""
    checkpoints: list[CheckpointResult] = field(default_factory=list)
    damage: Damage | None = None
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        return self.damage is None

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` object."""
        problems = [c for c in self.checkpoints if c.status not in ("valid", "not_reached")]
        return {
            "ok": self.ok,
            "range": {
                "first_seq": self.first_seq,
                "last_seq": self.last_seq,
                "events": self.stored_events,
                "from": None if self.first_at is None else format_time(self.first_at),
                "to": None if self.last_at is None else format_time(self.last_at),
            },
            "events_valid": self.events_valid,
            "head": {"seq": self.head_seq, "hash": self.head_hash.hex()},
            "signed_head_seq": self.signed_seq,
            "unsigned_events": self.head_seq - (self.signed_seq or 0),
            "checkpoints": {
                "total": len(self.checkpoints),
                "valid": sum(c.status == "valid" for c in self.checkpoints),
                "not_reached": sum(c.status == "not_reached" for c in self.checkpoints),
                "problems": [
                    {
                        "id": c.id,
                        "seq": c.seq,
                        "created_at": format_time(c.created_at),
                        "kid": c.kid,
                        "status": c.status,
                        "reason": c.reason,
                    }
                    for c in problems
                ],
            },
            "damage": None
            if self.damage is None
            else {
                "seq": self.damage.seq,
                "kind": self.damage.kind,
                "detail": self.damage.detail,
                "through_seq": self.damage.through_seq,
            },
            "elapsed_seconds": round(self.elapsed, 3),
        }


async def verify_chain(connection: asyncpg.Connection) -> Report:
    """Verify every event and checkpoint visible to ``connection`` (the owner's)."""
    started = time.perf_counter()
    report = Report()
    async with connection.transaction(isolation="repeatable_read", readonly=True):
        summary = await connection.fetchrow(
            "SELECT min(seq), max(seq), count(*), min(occurred_at), max(occurred_at)"
            " FROM audit_events"
        )
        assert summary is not None
        report.first_seq, report.last_seq, report.stored_events = summary[0], summary[1], summary[2]
        report.first_at, report.last_at = summary[3], summary[4]
        stored = await audit_store.read_checkpoints(connection)
        signed: dict[int, list[tuple[CheckpointResult, audit_store.StoredCheckpoint]]] = {}
        damages: list[Damage] = []
        for checkpoint in stored:
            result = CheckpointResult(
                id=checkpoint.id,
                seq=checkpoint.seq,
                created_at=checkpoint.created_at,
                kid=checkpoint.kid,
            )
            report.checkpoints.append(result)
            problem = _signature_problem(checkpoint)
            if problem is None:
                signed.setdefault(checkpoint.seq, []).append((result, checkpoint))
            else:
                result.status, result.reason = "forged", problem
                damages.append(
                    Damage(checkpoint.seq, "forged", f"checkpoint #{checkpoint.id}: {problem}")
                )
        walk = await _walk(connection, report, signed)
        if walk is not None:
            damages.append(walk)
        else:
            for seq, entries in signed.items():
                if seq > report.head_seq:
                    for result, checkpoint in entries:
                        result.status = "beyond_chain"
                        result.reason = f"signed head seq {seq}, chain ends at {report.head_seq}"
                        damages.append(
                            Damage(
                                report.head_seq + 1,
                                "truncated",
                                f"the chain ends at seq {report.head_seq} but checkpoint"
                                f" #{checkpoint.id} signed a head at seq {seq}",
                                through_seq=seq,
                            )
                        )
        if damages:
            report.damage = min(damages, key=lambda damage: damage.seq)
            if report.head_seq >= report.damage.seq:
                # A checkpoint problem below the walk's end: the head is what precedes it.
                seq = report.damage.seq - 1
                report.head_seq, report.head_hash = await _hash_at(connection, seq)
                if report.signed_seq is not None and report.signed_seq > seq:
                    report.signed_seq = max(
                        (c.seq for c in report.checkpoints if c.status == "valid" and c.seq <= seq),
                        default=None,
                    )
    report.elapsed = time.perf_counter() - started
    return report


def _signature_problem(checkpoint: audit_store.StoredCheckpoint) -> str | None:
    """Why the checkpoint's signature or columns cannot be trusted, or None."""
    if checkpoint.public_jwk is None:
        return f"no public key recorded for kid {checkpoint.kid!r}"
    try:
        payload = verify_signature(
            checkpoint.signature, kid=checkpoint.kid, public_jwk=checkpoint.public_jwk
        )
    except InvalidSignature as error:
        return f"signature does not verify ({error})"
    expected = checkpoint_payload(
        seq=checkpoint.seq,
        head_hash=checkpoint.head_hash,
        event_count=checkpoint.event_count,
        created_at=checkpoint.created_at,
    )
    if payload != expected:
        return f"columns differ from the signed statement {orjson.loads(payload)}"
    if checkpoint.event_count != checkpoint.seq:
        return f"signed event_count {checkpoint.event_count} differs from seq {checkpoint.seq}"
    return None


async def _walk(
    connection: asyncpg.Connection,
    report: Report,
    signed: dict[int, list[tuple[CheckpointResult, audit_store.StoredCheckpoint]]],
) -> Damage | None:
    """Walk the events; return the first damage, leaving the last verified head in ``report``."""
    sha256 = hashlib.sha256
    last_seq, last_hash, last_at = 0, GENESIS_HASH, None
    good_seq, good_hash = 0, GENESIS_HASH
    for result, checkpoint in signed.get(0, []):
        if checkpoint.head_hash != GENESIS_HASH:
            result.status, result.reason = "head_mismatch", "an empty chain's head is all zeros"
            return Damage(1, "forged", f"checkpoint #{checkpoint.id} signed a non-empty seq 0")
        result.status = "valid"
        report.signed_seq = 0
    async for rows in audit_store.stream_events(connection, columns=STORED_COLUMNS):
        for row in rows:
            seq = row[0]
            if seq != last_seq + 1:
                if seq <= last_seq:
                    return Damage(seq, "inserted", f"seq {seq} is stored more than once")
                missing = f"{last_seq + 1}" if seq == last_seq + 2 else f"{last_seq + 1}–{seq - 1}"
                return Damage(
                    last_seq + 1, "deleted", f"seq {missing} missing (the next stored is {seq})"
                )
            stored_hash = row[20]
            prev_hash = row[19]
            if sha256(prev_hash + canonical(row)).digest() != stored_hash:
                other = _original_seq(row)
                if other is not None:
                    return Damage(seq, "reordered", f"holds the contents of seq {other}")
                return Damage(seq, "edited", "the stored hash does not match the event's contents")
            if prev_hash != last_hash:
                return Damage(
                    seq,
                    "inserted",
                    f"prev_hash is not the hash of seq {last_seq} (a forged event, or seq"
                    f" {last_seq} was edited and re-hashed)",
                )
            occurred_at = row[1]
            if last_at is not None and occurred_at < last_at:
                return Damage(seq, "reordered", f"time runs backwards from seq {last_seq}")
            last_seq, last_hash, last_at = seq, stored_hash, occurred_at
            report.head_seq, report.head_hash = seq, stored_hash
            report.events_valid += 1
            entries = signed.get(seq)
            if entries:
                for result, checkpoint in entries:
                    if checkpoint.head_hash != stored_hash or checkpoint.created_at < occurred_at:
                        result.status = "head_mismatch"
                        result.reason = "the chain at this seq is not the one that was signed"
                        report.head_seq, report.head_hash = good_seq, good_hash
                        report.events_valid = good_seq
                        return Damage(
                            good_seq + 1,
                            "forged",
                            f"events {good_seq + 1}–{seq} were re-hashed: checkpoint"
                            f" #{checkpoint.id} signed another head at seq {seq}",
                            through_seq=seq,
                        )
                    result.status = "valid"
                good_seq, good_hash = seq, stored_hash
                report.signed_seq = seq
    return None


def _original_seq(row: asyncpg.Record) -> int | None:
    """The nearby ``seq`` under which ``row``'s contents match its stored hash, if any."""
    values = list(row)
    seq = values[0]
    for other in range(max(1, seq - REORDER_WINDOW), seq + REORDER_WINDOW + 1):
        if other == seq:
            continue
        values[0] = other
        if hashlib.sha256(values[19] + canonical(values)).digest() == values[20]:
            return other
    return None


async def _hash_at(connection: asyncpg.Connection, seq: int) -> tuple[int, bytes]:
    if seq <= 0:
        return 0, GENESIS_HASH
    value = await connection.fetchval(
        "SELECT hash FROM audit_events WHERE seq = $1 ORDER BY occurred_at LIMIT 1", seq
    )
    return (seq, value) if value is not None else (0, GENESIS_HASH)
