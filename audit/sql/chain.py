"""SQL of the audit chain: appending a batch (the writer) and reading it back (the verifier).

Appending runs as the gateway role ``regsosek_app``, which may only INSERT and
SELECT here; every chain step holds ``pg_advisory_xact_lock(CHAIN_LOCK)`` from
before it reads (or checks) the head until it commits, so writers in any
number of processes extend one chain, never two.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import asyncpg
import orjson

CHAIN_LOCK: Final = int.from_bytes(
    hashlib.sha256(b"regsosek.audit.chain").digest()[:8], "big", signed=True
)
"""The advisory-lock key that serializes chain steps across every writer."""

_BEGIN_CHAIN_STEP: Final = f"BEGIN; SELECT pg_advisory_xact_lock({CHAIN_LOCK})"

# One round trip for both heads. It runs after the lock was granted, so under
# READ COMMITTED its snapshot sees every chain step committed before ours.
_READ_HEAD: Final = """
SELECT e.seq, e.hash, e.occurred_at, c.seq, c.created_at
FROM (SELECT) AS one
LEFT JOIN LATERAL (
    SELECT seq, hash, occurred_at FROM audit_events ORDER BY seq DESC LIMIT 1
) AS e ON true
LEFT JOIN LATERAL (
    SELECT seq, created_at FROM audit_checkpoints ORDER BY id DESC LIMIT 1
) AS c ON true
"""

_INSERT_CHECKPOINT: Final = """
INSERT INTO audit_checkpoints (seq, head_hash, event_count, created_at, kid, signature)
VALUES ($1, $2, $3, $4, $5, $6)
"""


@dataclass(frozen=True, slots=True)
class ChainHead:
    """The last event (``seq`` 0 and no hash when the chain is empty) and the last checkpoint."""

    seq: int
    hash: bytes | None
    occurred_at: datetime | None
    checkpoint_seq: int | None
    checkpoint_at: datetime | None


async def begin_chain_step(connection: asyncpg.Connection) -> ChainHead:
    """Open the chain step's transaction, take the chain lock, and read the heads."""
    await connection.execute(_BEGIN_CHAIN_STEP)
    row = await connection.fetchrow(_READ_HEAD)
    assert row is not None
    return ChainHead(
        seq=row[0] or 0,
        hash=row[1],
        occurred_at=row[2],
        checkpoint_seq=row[3],
        checkpoint_at=row[4],
    )


async def ensure_partition(connection: asyncpg.Connection, at: datetime) -> None:
    """Create the month partition holding ``at`` unless it exists (a SECURITY DEFINER function)."""
    await connection.execute("SELECT regsosek_ensure_audit_partition($1)", at)


_CASTS: Final = {
    "seq": "bigint",
    "occurred_at": "timestamptz",
    "row_count": "integer",
    "field_paths": "text[]",
    # Id lists travel as array literals ('{1,2,3}'): far cheaper to encode than lists.
    "household_ids": "text::bigint[]",
    "person_ids": "text::bigint[]",
    "prev_hash": "bytea",
    "hash": "bytea",
}


@functools.cache
def _insert_statement(columns: tuple[str, ...]) -> str:
    values = ", ".join(
        f"${index}::{_CASTS.get(column, 'text')}" for index, column in enumerate(columns, 1)
    )
    guard = len(columns) + 1
    return (
        f"INSERT INTO audit_events ({', '.join(columns)}) SELECT {values}"
        f" WHERE CASE WHEN ${guard + 1}::bigint IS NULL THEN true"
        f" ELSE regsosek_audit_extends_head(${guard}::bigint, ${guard + 1}, ${guard + 2}::bytea)"
        " END"
    )


def id_array(ids: Sequence[int]) -> str:
    """``ids`` as a PostgreSQL array literal, the form ``insert_events`` takes id lists in."""
    return "{" + orjson.dumps(ids)[1:-1].decode() + "}"


async def insert_events(
    connection: asyncpg.Connection,
    rows: Sequence[Sequence[Any]],
    *,
    columns: Sequence[str],
    extends: tuple[int, bytes] | None = None,
) -> None:
    """Insert ``rows`` (values in ``columns`` order, id lists as ``id_array`` literals).

    All rows are sent in one round trip and, outside an explicit transaction,
    commit together at its end. With ``extends=(seq, hash)`` the first row
    first takes the chain lock and checks that the head is still that event
    (``asyncpg.SerializationError`` if not, and nothing is written): a whole
    chain step in one round trip.
    """
    guard: tuple[Any, ...] = (CHAIN_LOCK, *extends) if extends else (None, None, None)
    args = [
        (*row, *guard) if index == 0 else (*row, None, None, None) for index, row in enumerate(rows)
    ]
    await connection.executemany(_insert_statement(tuple(columns)), args)


async def insert_checkpoint(
    connection: asyncpg.Connection,
    *,
    seq: int,
    head_hash: bytes,
    event_count: int,
    created_at: datetime,
    kid: str,
    signature: str,
) -> None:
    await connection.execute(
        _INSERT_CHECKPOINT, seq, head_hash, event_count, created_at, kid, signature
    )


async def commit(connection: asyncpg.Connection) -> None:
    await connection.execute("COMMIT")


# The verifier (as the owner).

_CHECKPOINTS: Final = """
SELECT c.id, c.seq, c.head_hash, c.event_count, c.created_at, c.kid, c.signature,
       k.public_jwk::text
FROM audit_checkpoints AS c LEFT JOIN signing_keys AS k USING (kid)
ORDER BY c.seq, c.id
"""


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    id: int
    seq: int
    head_hash: bytes
    event_count: int
    created_at: datetime
    kid: str
    signature: str
    public_jwk: dict[str, Any] | None


async def read_checkpoints(connection: asyncpg.Connection) -> list[StoredCheckpoint]:
    """Every checkpoint in chain order, with the public key of the key that signed it."""
    rows = await connection.fetch(_CHECKPOINTS)
    return [
        StoredCheckpoint(
            id=row[0],
            seq=row[1],
            head_hash=row[2],
            event_count=row[3],
            created_at=row[4],
            kid=row[5],
            signature=row[6],
            public_jwk=None if row[7] is None else orjson.loads(row[7]),
        )
        for row in rows
    ]


async def stream_events(
    connection: asyncpg.Connection, *, columns: Sequence[str], batch_size: int = 20_000
) -> AsyncIterator[list[asyncpg.Record]]:
    """Every stored event's ``columns`` in ``(seq, occurred_at)`` order, duplicates included.

    Runs a server-side cursor, so memory stays flat whatever the chain's length;
    the caller must hold a (preferably REPEATABLE READ, read-only) transaction.
    """
    query = f"SELECT {', '.join(columns)} FROM audit_events ORDER BY seq, occurred_at"
    cursor = await connection.cursor(query)
    while True:
        rows = await cursor.fetch(batch_size)
        if not rows:
            return
        yield rows


async def events_between(
    connection: asyncpg.Connection, *, columns: Sequence[str], first: int, last: int
) -> list[asyncpg.Record]:
    """The stored events with ``first <= seq <= last`` (to classify damage found near them)."""
    query = (
        f"SELECT {', '.join(columns)} FROM audit_events"
        " WHERE seq BETWEEN $1 AND $2 ORDER BY seq, occurred_at"
    )
    return list(await connection.fetch(query, first, last))
