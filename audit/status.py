"""``chainStatus``: is the audit chain intact, as far as a request can afford to check.

A full walk (``audit.verify.verify_chain``, what ``regsosek audit verify``
runs) reads every event, which takes seconds per million events: too slow for
every request. So each gateway process keeps the head it last verified and:

* walks the whole chain and every checkpoint on its first ``chainStatus``, when
  its last full walk is older than ``full_walk_every`` (an hour), and whenever
  the incremental check below finds anything wrong (the full walk then names
  the damage precisely);
* otherwise checks *incrementally*: the verified head still holds the hash
  verified and still hashes to it (a chain re-hashed up to the head, or the
  head edited, shows here), every event
  appended since is the next ``seq``, hashes to its stored hash, links to its
  predecessor and is not older than it, and every checkpoint written since
  verifies against its key and matches the chain at its ``seq``.

What an incremental check cannot see is an event before the verified head
edited *without* re-hashing the rest of the chain; the next full walk (at most
``full_walk_every`` later) or ``regsosek audit verify`` sees it. The answer says
which kind of check it is (``verification``: ``FULL`` or ``INCREMENTAL``) and
when the last full walk ran.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import asyncpg

from audit.chain import GENESIS_HASH, STORED_COLUMNS, Head, contents_hash, step
from audit.events import format_time
from audit.sql import chain as chain_sql
from audit.verify import Report, checkpoint_problem, verify_chain

BATCH: Final = 20_000


@dataclass(frozen=True, slots=True)
class ChainState:
    """What the last check established."""

    ok: bool
    verification: str
    """``FULL`` (the whole chain was walked for this answer) or ``INCREMENTAL``."""
    checked_at: datetime
    full_walk_at: datetime
    head_seq: int
    head_hash: bytes
    head_at: datetime | None
    last_seq: int
    signed_seq: int | None
    checkpoints: int
    checkpoints_valid: int
    last_checkpoint_id: int
    damage: dict[str, Any] | None = None
    signed: dict[int, bytes] = field(default_factory=dict, repr=False)

    def to_json(self) -> dict[str, Any]:
        """The ``ChainStatus`` object of the GraphQL API (and of the report)."""
        return {
            "ok": self.ok,
            "verification": self.verification,
            "checkedAt": format_time(self.checked_at),
            "fullWalkAt": format_time(self.full_walk_at),
            "headSequence": str(self.head_seq),
            "headHash": self.head_hash.hex(),
            "headAt": None if self.head_at is None else format_time(self.head_at),
            "lastSequence": str(self.last_seq),
            "signedHeadSequence": None if self.signed_seq is None else str(self.signed_seq),
            "checkpoints": self.checkpoints,
            "checkpointsValid": self.checkpoints_valid,
            "damage": self.damage,
        }


def state_from_report(report: Report, *, at: datetime) -> ChainState:
    """A full walk's verdict as a ``ChainState``."""
    damage = None
    if report.damage is not None:
        damage = {
            "sequence": str(report.damage.seq),
            "kind": report.damage.kind.upper(),
            "detail": report.damage.detail,
            "throughSequence": None
            if report.damage.through_seq is None
            else str(report.damage.through_seq),
        }
    head_at = report.last_at if report.head_seq == (report.last_seq or 0) else None
    return ChainState(
        ok=report.ok,
        verification="FULL",
        checked_at=at,
        full_walk_at=at,
        head_seq=report.head_seq,
        head_hash=report.head_hash,
        head_at=head_at,
        last_seq=report.last_seq or 0,
        signed_seq=report.signed_seq,
        checkpoints=len(report.checkpoints),
        checkpoints_valid=sum(c.status == "valid" for c in report.checkpoints),
        last_checkpoint_id=max((c.id for c in report.checkpoints), default=0),
        damage=damage,
    )


class _Suspect(Exception):
    """The incremental check found something a full walk must name."""


class ChainMonitor:
    """One process's view of the chain (see the module docstring); safe to share."""

    def __init__(
        self, *, pool: asyncpg.Pool, full_walk_every: timedelta = timedelta(hours=1)
    ) -> None:
        self._pool = pool
        self._full_walk_every = full_walk_every
        self._state: ChainState | None = None
        self._lock = asyncio.Lock()

    async def status(self, connection: asyncpg.Connection) -> ChainState:
        """The chain's status: incremental over ``connection`` when possible, else a full walk."""
        async with self._lock:
            now = datetime.now(UTC)
            state = self._state
            if state is None or now - state.full_walk_at >= self._full_walk_every:
                return await self._full_walk()
            if not state.ok:
                return state
            try:
                self._state = await _incremental(connection, state, now=now)
            except _Suspect:
                return await self._full_walk()
            return self._state

    async def _full_walk(self) -> ChainState:
        async with self._pool.acquire() as connection:
            report = await verify_chain(connection)
        self._state = state_from_report(report, at=datetime.now(UTC))
        return self._state


async def _incremental(
    connection: asyncpg.Connection, state: ChainState, *, now: datetime
) -> ChainState:
    """``state`` carried forward over what was appended since; ``_Suspect`` on any doubt."""
    # Checkpoints first: their events committed with them, so the events read next include them.
    new_checkpoints = await chain_sql.checkpoints_after(
        connection, after_id=state.last_checkpoint_id
    )
    if state.head_seq > 0:
        # The verified head, re-checked whole: re-hashed or edited in place, it shows here.
        stored = await chain_sql.events_at(connection, columns=STORED_COLUMNS, seq=state.head_seq)
        if len(stored) != 1 or stored[0]["hash"] != state.head_hash:
            raise _Suspect
        if contents_hash(stored[0]) != state.head_hash:
            raise _Suspect
    wanted = {checkpoint.seq for checkpoint in new_checkpoints}
    seen: dict[int, tuple[bytes, datetime]] = {}
    head = Head(state.head_seq, state.head_hash or GENESIS_HASH, state.head_at)
    while True:
        rows = await chain_sql.events_after(
            connection, columns=STORED_COLUMNS, after_seq=head.seq, limit=BATCH
        )
        for row in rows:
            link = step(head, row)
            if not link.sound:
                raise _Suspect
            head = link.head
            if link.seq in wanted:
                seen[link.seq] = (link.hash, link.at)
        if len(rows) < BATCH:
            break
    signed_seq = state.signed_seq
    for checkpoint in new_checkpoints:
        if checkpoint_problem(checkpoint) is not None or checkpoint.seq > head.seq:
            raise _Suspect
        if checkpoint.seq == 0:
            if checkpoint.head_hash != GENESIS_HASH:
                raise _Suspect
        else:
            at_seq = seen.get(checkpoint.seq)
            if at_seq is None:
                hashes = await chain_sql.event_hashes(connection, seq=checkpoint.seq)
                if hashes != [checkpoint.head_hash]:
                    raise _Suspect
            elif at_seq[0] != checkpoint.head_hash or checkpoint.created_at < at_seq[1]:
                raise _Suspect
        signed_seq = max(signed_seq or 0, checkpoint.seq)
    last_seq = await chain_sql.last_sequence(connection)
    return replace(
        state,
        verification="INCREMENTAL",
        checked_at=now,
        head_seq=head.seq,
        head_hash=head.hash,
        head_at=head.at,
        last_seq=max(last_seq, head.seq),
        signed_seq=signed_seq,
        checkpoints=state.checkpoints + len(new_checkpoints),
        checkpoints_valid=state.checkpoints_valid + len(new_checkpoints),
        last_checkpoint_id=max((c.id for c in new_checkpoints), default=state.last_checkpoint_id),
    )


async def full_status(connection: asyncpg.Connection) -> ChainState:
    """A full walk over ``connection`` (the owner's, outside any transaction): the report's."""
    report = await verify_chain(connection)
    return state_from_report(report, at=datetime.now(UTC))
