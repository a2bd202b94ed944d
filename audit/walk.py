"""The chain walk of ``audit verify``: every event checked in order, the first damage named.

Each stored event must (1) have the next sequence number, once; (2) hash to
its stored ``hash`` (*consistent*); (3) carry the previous event's hash as
``prev_hash`` (*linked*); (4) not be older than its predecessor; and (5) where
a valid checkpoint signed that ``seq``, have the signed hash.

When a check fails, the damage is classified from what the neighbouring rows
still prove. Contents hash with their own ``seq``, so contents found at
another position give themselves away:

============================  ==============================================
seen at the first bad seq     damage
============================  ==============================================
seq missing                   ``deleted``
seq stored twice              ``inserted``
linked, not consistent        ``edited`` (or ``reordered`` when the contents
                              are another position's)
consistent, not linked        ``inserted`` (a forged event, or the event
                              before it edited and re-hashed)
neither                       ``reordered`` (contents of a later seq, the
                              next row's of this one), ``deleted`` (all
                              later contents shifted down: renumbered after a
                              deletion), ``inserted`` (contents of an earlier
                              seq: forged events pushed them up, or contents
                              that belong nowhere)
time runs backwards           ``reordered``
signed head differs           ``forged`` (re-hashed somewhere after the
                              previous good checkpoint)
============================  ==============================================
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import asyncpg

from audit.chain import (
    GENESIS_HASH,
    SEQ,
    STORED_COLUMNS,
    Head,
    StoredRow,
    chain_hash,
    hashed_values,
    step,
)
from audit.sql import chain as chain_sql

NEIGHBOURHOOD: Final = 64
"""How far from its position an event's contents are looked for."""


@dataclass(frozen=True, slots=True)
class Damage:
    seq: int
    """The first bad sequence number."""
    kind: str
    """``edited``, ``deleted``, ``reordered``, ``inserted``, ``truncated`` or ``forged``."""
    detail: str
    through_seq: int | None = None
    """When the damage is known only to lie in a range: its last sequence number."""


@dataclass(frozen=True, slots=True)
class SignedHead:
    """What a checkpoint whose signature verified says the chain was at its ``seq``."""

    checkpoint_id: int
    head_hash: bytes
    created_at: datetime


@dataclass(slots=True)
class Walk:
    head_seq: int = 0
    head_hash: bytes = GENESIS_HASH
    """The last event that passed every check (0 and the genesis hash if none)."""
    events_valid: int = 0
    matched: list[int] = field(default_factory=list)
    """Checkpoints (ids) whose signed head the chain matched."""
    mismatched: int | None = None
    """The checkpoint whose signed head the chain did not match."""
    damage: Damage | None = None


async def walk_chain(
    connection: asyncpg.Connection,
    *,
    signed: Mapping[int, Sequence[SignedHead]],
    start: tuple[int, bytes] = (0, GENESIS_HASH),
    through: int | None = None,
) -> Walk:
    """Walk every stored event (in the caller's snapshot); stop at the first damage.

    ``start`` is the (signed) head the stored events extend: the genesis, or
    the last archived event. With ``through``, only the events after ``start``
    up to that ``seq`` are walked (a window, ``audit.breach``): ``start`` is then
    a checkpoint's signed head.
    """
    walk = Walk(head_seq=start[0], head_hash=start[1])
    for genesis in signed.get(0, ()) if start[0] == 0 else ():
        if genesis.head_hash != GENESIS_HASH:
            walk.mismatched = genesis.checkpoint_id
            walk.damage = Damage(
                1, "forged", f"checkpoint #{genesis.checkpoint_id}: bad empty head"
            )
            return walk
        walk.matched.append(genesis.checkpoint_id)
    head = Head(*start)
    signed_seq, signed_hash = start
    pending: Any = None
    stream = chain_sql.stream_events(
        connection,
        columns=STORED_COLUMNS,
        between=None if through is None else (start[0], through),
    )
    finished = False
    while not finished:
        rows: Sequence[Any] = await anext(stream, [])
        if not rows:
            finished = True
            rows = [None]  # flushes the last pending row
        for row in rows:
            current, pending = pending, row
            if current is None:
                continue
            link = step(head, current)
            seq = link.seq
            if row is not None and row["seq"] == seq:
                walk.damage = Damage(seq, "inserted", f"seq {seq} is stored more than once")
                return walk
            if not link.next_in_line:
                walk.damage = _gap(head.seq, seq)
                return walk
            if not (link.consistent and link.linked):
                walk.damage = await _classify(
                    connection, current, consistent=link.consistent, linked=link.linked
                )
                return walk
            if not link.in_order:
                walk.damage = Damage(seq, "reordered", f"time runs backwards from seq {head.seq}")
                return walk
            head = link.head
            walk.head_seq, walk.head_hash = seq, link.hash
            walk.events_valid += 1
            heads = signed.get(seq)
            if heads:
                for signed_head in heads:
                    if signed_head.head_hash != link.hash or signed_head.created_at < link.at:
                        walk.mismatched = signed_head.checkpoint_id
                        walk.head_seq, walk.head_hash = signed_seq, signed_hash
                        walk.events_valid = signed_seq - start[0]
                        walk.damage = Damage(
                            signed_seq + 1,
                            "forged",
                            f"checkpoint #{signed_head.checkpoint_id} signed another head at"
                            f" seq {seq}: events {signed_seq + 1}–{seq} were changed and"
                            " re-hashed",
                            through_seq=seq,
                        )
                        return walk
                    walk.matched.append(signed_head.checkpoint_id)
                signed_seq, signed_hash = seq, link.hash
    return walk


def _gap(last_seq: int, seq: int) -> Damage:
    missing = f"{last_seq + 1}" if seq == last_seq + 2 else f"{last_seq + 1}–{seq - 1}"
    return Damage(
        last_seq + 1,
        "deleted",
        f"seq {missing} missing (the next stored is {seq})",
        through_seq=seq - 1,
    )


async def _classify(
    connection: asyncpg.Connection, row: StoredRow, *, consistent: bool, linked: bool
) -> Damage:
    """Name the damage at ``row``, the first event that is not both consistent and linked."""
    seq: int = row["seq"]
    if consistent:
        if seq == 1:
            return Damage(1, "inserted", "the first event does not start from the genesis hash")
        return Damage(
            seq,
            "inserted",
            f"prev_hash is not the hash of seq {seq - 1}: a forged event, or seq {seq - 1}"
            " was edited and re-hashed",
        )
    neighbours = await chain_sql.events_between(
        connection,
        columns=STORED_COLUMNS,
        first=max(1, seq - NEIGHBOURHOOD),
        last=seq + NEIGHBOURHOOD,
    )
    origin, whole = _origin(row, neighbours)
    if linked:
        if origin is None:
            return Damage(seq, "edited", "the stored hash does not match the event's contents")
        return Damage(seq, "reordered", f"holds the contents of seq {origin}")
    if origin is None:
        return Damage(seq, "inserted", "belongs nowhere in the chain: a forged event")
    if origin < seq and not whole:
        return Damage(seq, "inserted", f"a forged copy of the contents of seq {origin}")
    if origin < seq:
        return Damage(
            origin,
            "inserted",
            f"seq {origin}–{seq - 1} were inserted: seq {seq} holds the event first numbered"
            f" {origin}",
            through_seq=seq - 1,
        )
    # Contents of a later seq: a swap, or every later event renumbered after a deletion.
    following = next((other for other in neighbours if other["seq"] == seq + 1), None)
    next_origin = None if following is None else _origin(following, neighbours)[0]
    shifted = next_origin is not None and next_origin - (seq + 1) == origin - seq
    if following is None or shifted:
        return Damage(
            seq,
            "deleted",
            f"{origin - seq} event(s) from seq {seq} were deleted and the later ones renumbered",
            through_seq=origin - 1,
        )
    return Damage(seq, "reordered", f"holds the contents of seq {origin}")


def _origin(row: StoredRow, neighbours: Sequence[StoredRow]) -> tuple[int | None, bool]:
    """The other ``seq`` whose position ``row``'s contents were hashed for, if nearby, and
    whether the row was moved whole (with its own hashes) rather than only its contents.

    Tries the contents with each nearby ``seq`` against the row's own hashes,
    then against each neighbour's.
    """
    values = list(hashed_values(row))
    seq = values[SEQ]
    candidates: list[tuple[int, bytes, bytes, bool]] = [
        (other, row["prev_hash"], row["hash"], True)
        for other in range(max(1, seq - NEIGHBOURHOOD), seq + NEIGHBOURHOOD + 1)
        if other != seq
    ]
    candidates += [
        (n["seq"], n["prev_hash"], n["hash"], False) for n in neighbours if n["seq"] != seq
    ]
    for other, prev_hash, stored_hash, whole in candidates:
        values[SEQ] = other
        if chain_hash(prev_hash, values) == stored_hash:
            return int(other), whole
    return None, False
