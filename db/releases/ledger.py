"""Recording releases and handing out positions of the one change sequence.

Every writer of registry rows (seed, import, policy apply) runs in one
transaction that first locks the registry tables against the others
(``lock_registry``), records its release, computes its program changes into
the temporary table ``release_events`` and finally numbers them with
``publish_events``: positions come from the one row of ``change_positions``,
taken while the lock is held, so a later writer's positions are higher and
become visible after (PostgreSQL releases the lock only once the commit is
visible, on the primary and, in WAL order, on replicas). A reader of
``position > N`` therefore never sees N + 1 before N.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import orjson
from pgqueuer.queries import Queries

from db.models.releases import RELEASE_ID_PATTERN, ReleaseKind

RESERVED_IDS = ("seed",)
RESERVED_PREFIXES = ("policy-",)
_ID = re.compile(RELEASE_ID_PATTERN)
REGISTRY_TABLES = "households, persons, assistance_receipts"


class ReleaseRefused(Exception):
    """A release id that is malformed, reserved, or already recorded; nothing was written."""


def check_release_id(release_id: str, *, kind: ReleaseKind = ReleaseKind.IMPORT) -> str:
    """The id if an import may record it (letters, digits, ``.``, ``_``, ``:``, ``-``; ≤ 64)."""
    if not _ID.match(release_id):
        raise ReleaseRefused(
            f"release id {release_id!r}: use 1-64 letters, digits, '.', '_', ':' or '-'"
            " (starting with a letter or digit)"
        )
    if kind is ReleaseKind.IMPORT and (
        release_id in RESERVED_IDS or release_id.startswith(RESERVED_PREFIXES)
    ):
        raise ReleaseRefused(f"release id {release_id!r} is reserved")
    return release_id


@dataclass
class Counts:
    households_added: int = 0
    households_changed: int = 0
    households_removed: int = 0
    persons_added: int = 0
    persons_changed: int = 0
    persons_removed: int = 0


@dataclass
class ReleaseRecord:
    """A release being recorded (inside its writer's transaction)."""

    no: int
    id: str
    kind: ReleaseKind
    imported_at: datetime
    counts: Counts = field(default_factory=Counts)
    first_position: int | None = None
    last_position: int | None = None
    changes: int = 0


async def lock_registry(connection: asyncpg.Connection, *, exclusive: bool = False) -> None:
    """Keep every other writer of the registry (and of the feed) out until commit."""
    mode = "EXCLUSIVE" if exclusive else "SHARE ROW EXCLUSIVE"
    await connection.execute(f"LOCK TABLE {REGISTRY_TABLES}, change_positions IN {mode} MODE")


async def release_exists(connection: asyncpg.Connection, release_id: str) -> bool:
    return bool(
        await connection.fetchval(
            "SELECT EXISTS (SELECT 1 FROM releases WHERE id = $1)", release_id
        )
    )


async def begin_release(
    connection: asyncpg.Connection,
    *,
    release_id: str,
    kind: ReleaseKind,
    files: Sequence[dict[str, Any]] = (),
    policy_version: str | None = None,
) -> ReleaseRecord:
    """Record the release (after ``lock_registry``); its time is taken now, under the lock.

    ``clock_timestamp()`` rather than the transaction's start: a writer that
    waited for the lock still gets a later time than the one it waited for,
    so release times (and the households' ``updated_at``) follow commit order.
    """
    if await release_exists(connection, release_id):
        raise ReleaseRefused(f"release {release_id!r} is already recorded")
    row = await connection.fetchrow(
        "INSERT INTO releases (id, kind, imported_at, files, policy_version)"
        " VALUES ($1, $2, clock_timestamp(), $3::jsonb, $4) RETURNING no, imported_at",
        release_id,
        kind.value,
        orjson.dumps(list(files)).decode(),
        policy_version,
    )
    await schedule_statistics(connection)
    return ReleaseRecord(no=row["no"], id=release_id, kind=kind, imported_at=row["imported_at"])


STATISTICS_ENTRYPOINT = "statistics_fill"
"""The job that has ``regsosek worker`` count and protect the statistics populations of a new
release at once (``schema.stats_fill``)."""


async def schedule_statistics(connection: asyncpg.Connection) -> None:
    """Queue, in the release's transaction, the job that counts its statistics populations.

    One job per release, not deduplicated: a job that is running already may have read the
    registry before this release committed. The worker runs them one at a time, and one that
    finds everything stored costs a few lookups."""
    await Queries.from_asyncpg_connection(connection).enqueue(STATISTICS_ENTRYPOINT, None, 0)


EVENTS_TABLE = "release_events"


async def create_events_table(connection: asyncpg.Connection) -> None:
    """``release_events``: the release's program changes before they are numbered."""
    await connection.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {EVENTS_TABLE} (program text NOT NULL,"
        " kind change_kind NOT NULL, household_id bigint, person_id bigint, nik text)"
        " ON COMMIT DROP"
    )


async def publish_events(connection: asyncpg.Connection, release: ReleaseRecord) -> None:
    """Number ``release_events`` with the next positions and add them to the feed.

    Within a release, changes are ordered by household, then person, then
    program. Also stores the release's counts and position range.
    """
    count = int(await connection.fetchval(f"SELECT count(*) FROM {EVENTS_TABLE}"))
    base = int(
        await connection.fetchval(
            "UPDATE change_positions SET last = last + $1 RETURNING last - $1", count
        )
    )
    if count:
        await connection.execute(
            f"""
            INSERT INTO program_changes
                (program, position, release_no, kind, household_id, person_id, nik)
            SELECT program,
                   $1::bigint + row_number() OVER (
                       ORDER BY household_id, person_id NULLS FIRST, program),
                   $2, kind, household_id, person_id, nik
            FROM {EVENTS_TABLE}
            """,
            base,
            release.no,
        )
        release.first_position, release.last_position = base + 1, base + count
    release.changes = count
    counts = release.counts
    await connection.execute(
        "UPDATE releases SET households_added = $2, households_changed = $3,"
        " households_removed = $4, persons_added = $5, persons_changed = $6,"
        " persons_removed = $7, first_position = $8, last_position = $9 WHERE no = $1",
        release.no,
        counts.households_added,
        counts.households_changed,
        counts.households_removed,
        counts.persons_added,
        counts.persons_changed,
        counts.persons_removed,
        release.first_position,
        release.last_position,
    )
    await connection.execute(f"TRUNCATE {EVENTS_TABLE}")


@dataclass(frozen=True)
class ReleaseRow:
    id: str
    kind: str
    imported_at: datetime
    files: list[dict[str, Any]]
    counts: Counts
    changes: int


async def list_releases(connection: asyncpg.Connection) -> list[ReleaseRow]:
    """Every release, newest first, with the number of program changes it recorded."""
    rows = await connection.fetch(
        "SELECT id, kind, imported_at, files, households_added, households_changed,"
        " households_removed, persons_added, persons_changed, persons_removed,"
        " coalesce(last_position - first_position + 1, 0) AS changes"
        " FROM releases ORDER BY no DESC"
    )
    return [
        ReleaseRow(
            id=row["id"],
            kind=row["kind"],
            imported_at=row["imported_at"],
            files=orjson.loads(row["files"]),
            counts=Counts(
                row["households_added"],
                row["households_changed"],
                row["households_removed"],
                row["persons_added"],
                row["persons_changed"],
                row["persons_removed"],
            ),
            changes=int(row["changes"]),
        )
        for row in rows
    ]
