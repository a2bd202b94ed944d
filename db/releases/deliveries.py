"""Webhook deliveries of a release: batches of each subscriber's changes, queued with the release.

Deliveries are created and their jobs queued (pgqueuer, in this same
database) inside the release's own transaction: a release that commits has
its pushes queued, one that rolls back has none, and no push is ever queued
for changes that do not exist. The worker (``api.webhooks``) sends them.
"""

from __future__ import annotations

import asyncpg
from pgqueuer.queries import Queries

from db.releases.ledger import ReleaseRecord

ENTRYPOINT = "webhook_delivery"
BATCH_SIZE = 1000
"""Most changes in one POST."""


async def schedule_deliveries(connection: asyncpg.Connection, release: ReleaseRecord) -> int:
    """One delivery per (enabled subscription, batch of ≤ ``BATCH_SIZE`` of its changes)."""
    if release.first_position is None or release.last_position is None:
        return 0
    rows = await connection.fetch(
        """
        INSERT INTO webhook_deliveries
            (subscription_id, release_no, program, first_position, last_position, change_count)
        SELECT subscription_id, $3, program, min(position), max(position), count(*)
        FROM (
            SELECT s.id AS subscription_id, s.program, c.position,
                   (row_number() OVER (PARTITION BY s.id ORDER BY c.position) - 1) / $4 AS batch
            FROM webhook_subscriptions AS s
            JOIN program_changes AS c
              ON c.program = s.program AND c.kind = ANY (s.events)
             AND c.position BETWEEN $1 AND $2
            WHERE s.enabled
        ) AS numbered
        GROUP BY subscription_id, program, batch
        ORDER BY subscription_id, batch
        RETURNING id
        """,
        release.first_position,
        release.last_position,
        release.no,
        BATCH_SIZE,
    )
    if rows:
        queries = Queries.from_asyncpg_connection(connection)
        await queries.enqueue(
            [ENTRYPOINT] * len(rows),
            [str(row["id"]).encode() for row in rows],
            [0] * len(rows),
        )
    return len(rows)
