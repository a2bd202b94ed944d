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

``audit.walk`` tells these apart. Only public keys are needed. The verdict
is the damage with the lowest sequence number.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from audit.chain import GENESIS_HASH
from audit.events import format_time
from audit.signing import InvalidSignature, checkpoint_payload, verify_signature
from audit.sql import chain as chain_sql
from audit.walk import Damage, SignedHead, Walk, walk_chain
from db.engine import plain_url

_NOT_PROBLEMS = ("valid", "not_reached", "archived")


@dataclass(slots=True)
class CheckpointResult:
    id: int
    seq: int
    created_at: datetime
    kid: str
    status: str = "not_reached"
    """``valid``, ``forged`` (signature, key or columns), ``head_mismatch``,
    ``beyond_chain``, ``archived`` (its events are no longer stored), or
    ``not_reached`` (the walk stopped at earlier damage)."""
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
    archived_before: int | None = None
    """Events before this seq are archived (their months detached); the stored
    chain starts from the signed head of ``anchor``."""
    anchor: int | None = None
    checkpoints: list[CheckpointResult] = field(default_factory=list)
    damage: Damage | None = None
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        return self.damage is None

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` object."""
        problems = [c for c in self.checkpoints if c.status not in _NOT_PROBLEMS]
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
            "archived_before_seq": self.archived_before,
            "anchor_checkpoint": self.anchor,
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
        stored = await chain_sql.stored_range(connection)
        report.first_seq, report.last_seq = stored.first_seq, stored.last_seq
        report.stored_events = stored.events
        report.first_at, report.last_at = stored.first_at, stored.last_at
        damages: list[Damage] = []
        forged: list[tuple[CheckpointResult, str]] = []
        signed: dict[int, list[SignedHead]] = {}
        results: dict[int, CheckpointResult] = {}
        for checkpoint in await chain_sql.read_checkpoints(connection):
            result = CheckpointResult(
                id=checkpoint.id,
                seq=checkpoint.seq,
                created_at=checkpoint.created_at,
                kid=checkpoint.kid,
            )
            report.checkpoints.append(result)
            results[checkpoint.id] = result
            problem = checkpoint_problem(checkpoint)
            if problem is None:
                signed.setdefault(checkpoint.seq, []).append(
                    SignedHead(checkpoint.id, checkpoint.head_hash, checkpoint.created_at)
                )
            else:
                result.status, result.reason = "forged", problem
                forged.append((result, problem))
        first_seq = report.first_seq or 1
        anchor = None
        if first_seq > 1:
            anchor = await _archive_anchor(connection, first_seq=first_seq, signed=signed)
        if anchor is not None:
            report.archived_before, report.anchor = first_seq, anchor.checkpoint_id
            results[anchor.checkpoint_id].status = "valid"
            for result in report.checkpoints:
                if result.seq < first_seq - 1 and result.status == "not_reached":
                    result.status = "archived"
            start = (first_seq - 1, anchor.head_hash)
            walk = await walk_chain(connection, signed=signed, start=start)
        elif first_seq > 1:
            walk = _missing_start(first_seq, signed)
        else:
            walk = await walk_chain(connection, signed=signed)
        report.events_valid = walk.events_valid
        report.head_seq, report.head_hash = walk.head_seq, walk.head_hash
        for checkpoint_id in walk.matched:
            results[checkpoint_id].status = "valid"
        if walk.mismatched is not None:
            result = results[walk.mismatched]
            result.status = "head_mismatch"
            result.reason = "the chain at this seq is not the one that was signed"
        if walk.damage is not None:
            damages.append(walk.damage)
        else:
            damages += _beyond_chain(report, signed, results)
        damages += _forged_checkpoints(forged, report.checkpoints)
        if damages:
            report.damage = min(damages, key=lambda damage: damage.seq)
            if report.head_seq >= report.damage.seq:
                # A forged checkpoint below the walk's end: the head is what precedes it.
                seq = report.damage.seq - 1
                report.head_seq, report.head_hash = await _hash_at(connection, seq)
                report.events_valid = min(report.events_valid, seq)
        report.signed_seq = max(
            (c.seq for c in report.checkpoints if c.status == "valid" and c.seq <= report.head_seq),
            default=None,
        )
    report.elapsed = time.perf_counter() - started
    return report


def _missing_start(first_seq: int, signed: dict[int, list[SignedHead]]) -> Walk:
    """The stored chain starts after a gap that no checkpoint vouches for as archived."""
    boundary_seq, boundary_hash = max(
        ((seq, heads[0].head_hash) for seq, heads in signed.items() if seq < first_seq),
        default=(0, GENESIS_HASH),
    )
    return Walk(
        head_seq=boundary_seq,
        head_hash=boundary_hash,
        damage=Damage(
            boundary_seq + 1,
            "deleted",
            f"seq {boundary_seq + 1}–{first_seq - 1} are missing, and no checkpoint of seq"
            f" {first_seq - 1} shows them archived",
            through_seq=first_seq - 1,
        ),
    )


async def _archive_anchor(
    connection: asyncpg.Connection, *, first_seq: int, signed: dict[int, list[SignedHead]]
) -> SignedHead | None:
    """The valid checkpoint of the last archived event, which the first stored one extends."""
    prev_hash = await chain_sql.first_prev_hash(connection, seq=first_seq)
    for head in signed.get(first_seq - 1, ()):
        if head.head_hash == prev_hash:
            return head
    return None


def _forged_checkpoints(
    forged: list[tuple[CheckpointResult, str]], checkpoints: list[CheckpointResult]
) -> list[Damage]:
    """A checkpoint that does not verify vouches for nothing since the last one that did."""
    damages = []
    for result, problem in forged:
        previous = max(
            (c.seq for c in checkpoints if c.status == "valid" and c.seq < result.seq), default=0
        )
        if result.seq == 0:
            damages.append(Damage(1, "forged", f"checkpoint #{result.id} at seq 0: {problem}"))
            continue
        damages.append(
            Damage(
                previous + 1,
                "forged",
                f"checkpoint #{result.id} at seq {result.seq}: {problem}; events"
                f" {previous + 1}–{result.seq} are not covered by a valid signature",
                through_seq=result.seq,
            )
        )
    return damages


def _beyond_chain(
    report: Report, signed: dict[int, list[SignedHead]], results: dict[int, CheckpointResult]
) -> list[Damage]:
    """Checkpoints that signed a head past the chain's end: the tail was cut off."""
    beyond = sorted(
        (seq, head.checkpoint_id)
        for seq, heads in signed.items()
        if seq > report.head_seq
        for head in heads
    )
    for seq, checkpoint_id in beyond:
        result = results[checkpoint_id]
        result.status = "beyond_chain"
        result.reason = f"signed a head at seq {seq}; the chain ends at {report.head_seq}"
    if not beyond:
        return []
    seq, checkpoint_id = beyond[-1]
    return [
        Damage(
            report.head_seq + 1,
            "truncated",
            f"the chain ends at seq {report.head_seq} but checkpoint #{checkpoint_id}"
            f" signed a head at seq {seq}",
            through_seq=seq,
        )
    ]


def checkpoint_problem(checkpoint: chain_sql.StoredCheckpoint) -> str | None:
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


async def _hash_at(connection: asyncpg.Connection, seq: int) -> tuple[int, bytes]:
    if seq <= 0:
        return 0, GENESIS_HASH
    value = await chain_sql.first_hash(connection, seq=seq)
    return (seq, value) if value is not None else (0, GENESIS_HASH)


async def verify_database(url: str) -> Report:
    """``verify_chain`` over a connection of its own to ``url`` (the owner's)."""
    connection = await asyncpg.connect(plain_url(url))
    try:
        return await verify_chain(connection)
    finally:
        await connection.close()
