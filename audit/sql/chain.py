"""SQL of the audit chain: appending a batch (the writer), reading it back (the full walk of
the verifier and the incremental ``chainStatus``).

Appending runs as the gateway role ``regsosek_app``, which may only INSERT and
SELECT here; every chain step holds ``pg_advisory_xact_lock(CHAIN_LOCK)`` from
before it reads (or checks) the head until it commits, so writers in any
number of processes extend one chain, never two. Rows are read back by column
name (``audit.chain.STORED_COLUMNS``).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import asyncpg
import orjson

Connect = Callable[[], Awaitable[asyncpg.Connection]]
"""Opens one connection of the writer's (or the index cleaner's) own."""

CHAIN_LOCK: Final = int.from_bytes(
    hashlib.sha256(b"regsosek.audit.chain").digest()[:8], "big", signed=True
)
"""The advisory-lock key that serializes chain steps across every writer."""

_BEGIN_CHAIN_STEP: Final = f"BEGIN; SELECT pg_advisory_xact_lock({CHAIN_LOCK})"


def connector(dsn: str, *, statement_timeout_ms: int = 5_000) -> Connect:
    """A factory of the writer's connections: ``dsn`` (the gateway role), durable commits."""
    settings = {
        "application_name": "regsosek-audit",
        "synchronous_commit": "on",
        # Each chain step must read the head after taking the lock, with a new snapshot.
        "default_transaction_isolation": "read committed",
        "statement_timeout": str(statement_timeout_ms),
        "idle_in_transaction_session_timeout": str(max(statement_timeout_ms * 2, 10_000)),
    }

    async def connect() -> asyncpg.Connection:
        return await asyncpg.connect(
            dsn, server_settings=settings, timeout=statement_timeout_ms / 1000
        )

    return connect


async def close_quietly(connection: asyncpg.Connection | None) -> None:
    """Close ``connection`` politely within 2 s, else terminate it; ``None`` is fine."""
    if connection is not None and not connection.is_closed():
        try:
            await asyncio.wait_for(connection.close(), 2.0)
        except Exception:
            connection.terminate()


# One round trip for both heads. It runs after the lock was granted, so under
# READ COMMITTED its snapshot sees every chain step committed before ours.
_READ_HEAD: Final = """
SELECT e.seq AS head_seq, e.hash AS head_hash, e.occurred_at AS head_at,
       c.seq AS checkpoint_seq, c.created_at AS checkpoint_at
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
        seq=row["head_seq"] or 0,
        hash=row["head_hash"],
        occurred_at=row["head_at"],
        checkpoint_seq=row["checkpoint_seq"],
        checkpoint_at=row["checkpoint_at"],
    )


async def ensure_partition(connection: asyncpg.Connection, at: datetime) -> None:
    """Create the month partition holding ``at`` unless it exists (a SECURITY DEFINER function)."""
    await connection.execute("SELECT regsosek_ensure_audit_partition($1)", at)


_APPEND: Final = (
    "SELECT first_seq, head_seq, head_hash, head_at, signed_seq, signed_at"
    " FROM regsosek_audit_append($1, " + ", ".join(f"${index}" for index in range(2, 27)) + ")"
)


@dataclass(frozen=True, slots=True)
class AppendBatch:
    """A batch as ``regsosek_audit_append`` (migration 0011) takes it: one list per column of
    ``audit.chain.HASHED_COLUMNS`` after ``seq`` (id and field-path lists as array literals,
    ``id_array`` and ``text_array``), then each event's canonical JSON in three pieces
    (``audit.chain.canonical_pieces``)."""

    columns: tuple[list[Any], ...]
    """22 lists (``occurred_at`` … ``sealed_until``), then the three lists of pieces."""

    def __len__(self) -> int:
        return len(self.columns[0])

    @property
    def first_at(self) -> datetime:
        """The first event's time, before the database keeps it from preceding the head."""
        first: datetime = self.columns[0][0]
        return first


@dataclass(frozen=True, slots=True)
class Appended:
    """What a call of ``append_events`` did: the batch's first ``seq`` and the head after it."""

    first_seq: int
    head: ChainHead


async def append_events(connection: asyncpg.Connection, batch: AppendBatch) -> Appended:
    """Take the chain lock, number, time, hash and insert ``batch`` onto the head; return the
    first ``seq`` and the new head with the last checkpoint. One round trip.

    Outside an explicit transaction the batch commits before this returns (the lock is held
    only inside the database); inside one (the locked step) it commits with it. Raises
    ``asyncpg.SerializationError``, writing nothing, when the batch would begin a new month
    after an unsigned one: the locked step signs the old month first.
    """
    row = await connection.fetchrow(_APPEND, CHAIN_LOCK, *batch.columns)
    assert row is not None
    return Appended(
        first_seq=row["first_seq"],
        head=ChainHead(
            seq=row["head_seq"],
            hash=row["head_hash"],
            occurred_at=row["head_at"],
            checkpoint_seq=row["signed_seq"],
            checkpoint_at=row["signed_at"],
        ),
    )


def id_array(ids: Sequence[int]) -> str:
    """``ids`` as a PostgreSQL array literal (``{1,2,3}``): far cheaper to encode than a list."""
    return "{" + orjson.dumps(ids)[1:-1].decode() + "}"


def text_array(values: Sequence[str]) -> str:
    """``values`` as a PostgreSQL array literal, every element quoted and escaped."""
    if not values:
        return "{}"
    quoted = (value.replace("\\", "\\\\").replace('"', '\\"') for value in values)
    return '{"' + '","'.join(quoted) + '"}'


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


# Reading the chain back: the verifier (as the owner) and chainStatus (as the gateway role).

_CHECKPOINTS: Final = """
SELECT c.id, c.seq, c.head_hash, c.event_count, c.created_at, c.kid, c.signature,
       k.public_jwk::text AS public_jwk
FROM audit_checkpoints AS c LEFT JOIN signing_keys AS k USING (kid)
{where}
ORDER BY {order}
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


def _checkpoint(row: asyncpg.Record) -> StoredCheckpoint:
    jwk = row["public_jwk"]
    return StoredCheckpoint(
        id=row["id"],
        seq=row["seq"],
        head_hash=row["head_hash"],
        event_count=row["event_count"],
        created_at=row["created_at"],
        kid=row["kid"],
        signature=row["signature"],
        public_jwk=None if jwk is None else orjson.loads(jwk),
    )


async def read_checkpoints(connection: asyncpg.Connection) -> list[StoredCheckpoint]:
    """Every checkpoint in chain order, with the public key of the key that signed it."""
    query = _CHECKPOINTS.format(where="", order="c.seq, c.id")
    return [_checkpoint(row) for row in await connection.fetch(query)]


async def checkpoints_after(
    connection: asyncpg.Connection, *, after_id: int
) -> list[StoredCheckpoint]:
    """Checkpoints with ``id > after_id`` in id order, each with its key's public JWK."""
    query = _CHECKPOINTS.format(where="WHERE c.id > $1", order="c.id")
    return [_checkpoint(row) for row in await connection.fetch(query, after_id)]


async def stream_events(
    connection: asyncpg.Connection,
    *,
    columns: Sequence[str],
    batch_size: int = 20_000,
    between: tuple[int, int] | None = None,
) -> AsyncIterator[list[asyncpg.Record]]:
    """Every stored event's ``columns`` in ``(seq, occurred_at)`` order, duplicates included
    (with ``between=(after, through)``, only those with ``after < seq <= through``).

    Runs a server-side cursor, so memory stays flat whatever the chain's length;
    the caller must hold a (preferably REPEATABLE READ, read-only) transaction.
    """
    query = f"SELECT {', '.join(columns)} FROM audit_events"
    bounds: tuple[int, ...] = ()
    if between is not None:
        query += " WHERE seq > $1::bigint AND seq <= $2::bigint"
        bounds = between
    cursor = await connection.cursor(query + " ORDER BY seq, occurred_at", *bounds)
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


async def event_hashes(connection: asyncpg.Connection, *, seq: int) -> list[bytes]:
    """The stored hash of every row holding ``seq`` (one, unless the chain was tampered with)."""
    rows = await connection.fetch("SELECT hash FROM audit_events WHERE seq = $1", seq)
    return [row["hash"] for row in rows]


async def events_at(
    connection: asyncpg.Connection, *, columns: Sequence[str], seq: int
) -> list[asyncpg.Record]:
    """Every stored row holding ``seq`` (one, unless the chain was tampered with)."""
    query = f"SELECT {', '.join(columns)} FROM audit_events WHERE seq = $1"
    return list(await connection.fetch(query, seq))


async def events_after(
    connection: asyncpg.Connection, *, columns: Sequence[str], after_seq: int, limit: int
) -> list[asyncpg.Record]:
    """Up to ``limit`` stored events with ``seq > after_seq`` in ``(seq, occurred_at)`` order."""
    query = (
        f"SELECT {', '.join(columns)} FROM audit_events WHERE seq > $1"
        " ORDER BY seq, occurred_at LIMIT $2"
    )
    return list(await connection.fetch(query, after_seq, limit))


async def last_sequence(connection: asyncpg.Connection) -> int:
    """The highest stored ``seq`` (0 when there is none)."""
    value = await connection.fetchval("SELECT max(seq) FROM audit_events")
    return int(value or 0)


@dataclass(frozen=True, slots=True)
class StoredRange:
    """The stored events' first and last ``seq`` and time, and how many rows there are."""

    first_seq: int | None
    last_seq: int | None
    events: int
    first_at: datetime | None
    last_at: datetime | None


async def stored_range(connection: asyncpg.Connection) -> StoredRange:
    row = await connection.fetchrow(
        "SELECT min(seq) AS first_seq, max(seq) AS last_seq, count(*) AS events,"
        " min(occurred_at) AS first_at, max(occurred_at) AS last_at FROM audit_events"
    )
    assert row is not None
    return StoredRange(
        first_seq=row["first_seq"],
        last_seq=row["last_seq"],
        events=row["events"],
        first_at=row["first_at"],
        last_at=row["last_at"],
    )


async def first_prev_hash(connection: asyncpg.Connection, *, seq: int) -> bytes | None:
    """The ``prev_hash`` of the (earliest) row holding ``seq``."""
    value: bytes | None = await connection.fetchval(
        "SELECT prev_hash FROM audit_events WHERE seq = $1 ORDER BY occurred_at LIMIT 1", seq
    )
    return value


async def first_hash(connection: asyncpg.Connection, *, seq: int) -> bytes | None:
    """The ``hash`` of the (earliest) row holding ``seq``."""
    value: bytes | None = await connection.fetchval(
        "SELECT hash FROM audit_events WHERE seq = $1 ORDER BY occurred_at LIMIT 1", seq
    )
    return value
