"""The chain over a window of time, verified before a breach pack is written.

The window's events (every client's, ``[start, end)``) are a run of sequence
numbers. They are walked with ``audit.walk`` from the last checkpoint before the
run whose signature verifies (its signed head is trusted; the genesis if there is
none) up to the first such checkpoint at or after the run's end (or the chain's
end): so an edited event is seen by its hash, a deleted or inserted one by the
sequence, and an event edited *and* re-hashed by the signed head that follows.
Damage outside that stretch does not block the pack (``regsosek audit verify``
walks the whole chain); damage inside it names its first bad sequence number.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from audit.chain import GENESIS_HASH
from audit.sql import breach as breach_sql
from audit.sql import chain as chain_sql
from audit.verify import checkpoint_problem
from audit.walk import Damage, SignedHead, walk_chain


@dataclass(frozen=True, slots=True)
class WindowCheck:
    """What was verified: the window's events, the stretch walked, and the first damage."""

    first_seq: int | None
    last_seq: int | None
    events: int
    anchor_seq: int
    """The walk started from this signed head (0: the genesis)."""
    anchor_checkpoint: int | None
    through_seq: int
    """The walk ended here (a signed head, or the chain's last event)."""
    closing_checkpoint: int | None
    events_walked: int
    damage: Damage | None

    @property
    def ok(self) -> bool:
        return self.damage is None


async def verify_window(
    connection: asyncpg.Connection, *, start: datetime, end: datetime
) -> WindowCheck:
    """Verify the events of ``[start, end)`` in the caller's (REPEATABLE READ) snapshot."""
    window = await breach_sql.window_range(connection, start=start, end=end)
    if window.first_seq is None or window.last_seq is None:
        return WindowCheck(None, None, 0, 0, None, 0, None, 0, None)
    first, last = window.first_seq, window.last_seq
    valid: list[chain_sql.StoredCheckpoint] = []
    forged: list[tuple[chain_sql.StoredCheckpoint, str]] = []
    for checkpoint in await chain_sql.read_checkpoints(connection):
        problem = checkpoint_problem(checkpoint)
        if problem is None:
            valid.append(checkpoint)
        else:
            forged.append((checkpoint, problem))
    anchor = max((c for c in valid if c.seq < first), key=lambda c: c.seq, default=None)
    closing = min((c for c in valid if c.seq >= last), key=lambda c: c.seq, default=None)
    start_head = (anchor.seq, anchor.head_hash) if anchor else (0, GENESIS_HASH)
    through = closing.seq if closing else max(last, await chain_sql.last_sequence(connection))
    signed: dict[int, list[SignedHead]] = {}
    for checkpoint in valid:
        if start_head[0] < checkpoint.seq <= through:
            signed.setdefault(checkpoint.seq, []).append(
                SignedHead(checkpoint.id, checkpoint.head_hash, checkpoint.created_at)
            )
    walk = await walk_chain(connection, signed=signed, start=start_head, through=through)
    damages = [walk.damage] if walk.damage else []
    if walk.damage is None and walk.head_seq < through:
        damages.append(
            Damage(
                walk.head_seq + 1,
                "deleted",
                f"seq {walk.head_seq + 1}–{through} missing: the chain ends at {walk.head_seq}"
                f" but checkpoint #{closing.id if closing else '?'} signed seq {through}",
                through_seq=through,
            )
        )
    for checkpoint, problem in forged:
        if start_head[0] < checkpoint.seq <= through:
            previous = max((c.seq for c in valid if c.seq < checkpoint.seq), default=start_head[0])
            damages.append(
                Damage(
                    previous + 1,
                    "forged",
                    f"checkpoint #{checkpoint.id} at seq {checkpoint.seq}: {problem}",
                    through_seq=checkpoint.seq,
                )
            )
    return WindowCheck(
        first_seq=first,
        last_seq=last,
        events=window.events,
        anchor_seq=start_head[0],
        anchor_checkpoint=anchor.id if anchor else None,
        through_seq=through,
        closing_checkpoint=closing.id if closing else None,
        events_walked=walk.events_valid,
        damage=min(damages, key=lambda damage: damage.seq) if damages else None,
    )
