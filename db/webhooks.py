"""Webhook subscriptions and deliveries in the database (owner commands and the worker).

The worker runs as the gateway role: it reads subscriptions, reads the
changes of a delivery under the program's row-level security
(``regsosek.program``), and records each attempt and the receipt.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy import ColumnElement, Text, cast, column, literal, null, select, table
from sqlalchemy.dialects.postgresql.asyncpg import dialect

from db.models.releases import ChangeKind


@dataclass(frozen=True)
class Subscription:
    id: str
    program: str
    url: str
    events: tuple[ChangeKind, ...]
    enabled: bool
    created_at: datetime
    deliveries: int = 0
    delivered: int = 0
    pending: int = 0


def new_subscription_id() -> str:
    return "wh_" + secrets.token_hex(8)


async def create_subscription(
    connection: asyncpg.Connection, *, program: str, url: str, events: Sequence[ChangeKind]
) -> Subscription:
    row = await connection.fetchrow(
        "INSERT INTO webhook_subscriptions (id, program, url, events)"
        " VALUES ($1, $2, $3, $4::change_kind[]) RETURNING *",
        new_subscription_id(),
        program,
        url,
        [kind.value for kind in events],
    )
    return _subscription(row)


def _subscription(row: asyncpg.Record) -> Subscription:
    return Subscription(
        id=row["id"],
        program=row["program"],
        url=row["url"],
        events=tuple(ChangeKind(kind) for kind in row["events"]),
        enabled=row["enabled"],
        created_at=row["created_at"],
        deliveries=row.get("deliveries", 0),
        delivered=row.get("delivered", 0),
        pending=row.get("pending", 0),
    )


async def list_subscriptions(connection: asyncpg.Connection) -> list[Subscription]:
    rows = await connection.fetch(
        """
        SELECT s.*, count(d.id) AS deliveries,
               count(d.id) FILTER (WHERE d.status = 'delivered') AS delivered,
               count(d.id) FILTER (WHERE d.status = 'pending') AS pending
        FROM webhook_subscriptions AS s
        LEFT JOIN webhook_deliveries AS d ON d.subscription_id = s.id
        GROUP BY s.id ORDER BY s.created_at, s.id
        """
    )
    return [_subscription(row) for row in rows]


async def disable_subscription(connection: asyncpg.Connection, subscription_id: str) -> bool:
    """Stop pushing to it (pending deliveries are cancelled when their turn comes)."""
    status = await connection.execute(
        "UPDATE webhook_subscriptions SET enabled = false, disabled_at = now()"
        " WHERE id = $1 AND enabled",
        subscription_id,
    )
    return bool(status == "UPDATE 1")


@dataclass(frozen=True)
class Delivery:
    id: int
    subscription_id: str
    program: str
    url: str
    events: tuple[str, ...]
    enabled: bool
    status: str
    attempts: int
    created_at: datetime
    first_position: int
    last_position: int
    release_id: str
    release_at: datetime


async def load_delivery(connection: asyncpg.Connection, delivery_id: int) -> Delivery | None:
    row = await connection.fetchrow(
        """
        SELECT d.id, d.subscription_id, d.program, s.url, s.events::text[] AS events, s.enabled,
               d.status, d.attempts, d.created_at, d.first_position, d.last_position,
               r.id AS release_id, r.imported_at
        FROM webhook_deliveries AS d
        JOIN webhook_subscriptions AS s ON s.id = d.subscription_id
        JOIN releases AS r ON r.no = d.release_no
        WHERE d.id = $1
        """,
        delivery_id,
    )
    if row is None:
        return None
    return Delivery(
        id=row["id"],
        subscription_id=row["subscription_id"],
        program=row["program"],
        url=row["url"],
        events=tuple(row["events"]),
        enabled=row["enabled"],
        status=row["status"],
        attempts=row["attempts"],
        created_at=row["created_at"],
        first_position=row["first_position"],
        last_position=row["last_position"],
        release_id=row["release_id"],
        release_at=row["imported_at"],
    )


@dataclass(frozen=True)
class PushedChange:
    kind: str
    household_id: int | None
    person_id: int | None
    pseudonym: str | None


_DIALECT = dialect()  # type: ignore[no-untyped-call]

CHANGES = table(
    "program_changes",
    column("program"),
    column("position"),
    column("kind"),
    column("household_id"),
    column("person_id"),
    column("nik"),
)


async def delivery_changes(
    connection: asyncpg.Connection,
    delivery: Delivery,
    *,
    pseudonym: ColumnElement[Any] | None,
) -> list[PushedChange]:
    """The delivery's changes of the subscribed kinds, in position order.

    ``pseudonym`` is the SQL of the program's pseudonym of ``program_changes.nik`` (None
    when the program reads person ids). Runs in a transaction that has set
    ``regsosek.program``: the table's row-level security admits only that program's rows,
    and the statement asks for them by name as well.
    """
    statement = (
        select(
            CHANGES.c.kind,
            CHANGES.c.household_id,
            CHANGES.c.person_id,
            (pseudonym if pseudonym is not None else null()).label("pseudonym"),
        )
        .where(
            CHANGES.c.program == literal(delivery.program),
            CHANGES.c.position.between(
                literal(delivery.first_position), literal(delivery.last_position)
            ),
            cast(CHANGES.c.kind, Text).in_(list(delivery.events)),
        )
        .order_by(CHANGES.c.position)
    )
    compiled = statement.compile(dialect=_DIALECT, compile_kwargs={"render_postcompile": True})
    names = compiled.positiontup or ()
    rows = await connection.fetch(compiled.string, *[compiled.params[name] for name in names])
    return [
        PushedChange(row["kind"], row["household_id"], row["person_id"], row["pseudonym"])
        for row in rows
    ]


async def record_attempt(
    connection: asyncpg.Connection,
    delivery_id: int,
    *,
    status: str,
    receipt_status: int | None,
    receipt_body: str | None,
    error: str | None,
) -> None:
    """One POST attempt: its outcome, and on a 2xx the receipt (status and body)."""
    await connection.execute(
        """
        UPDATE webhook_deliveries
        SET attempts = attempts + 1, last_attempt_at = now(), status = $2::text,
            receipt_status = $3, receipt_body = $4, last_error = $5,
            delivered_at = CASE WHEN $2::text = 'delivered' THEN now() END
        WHERE id = $1
        """,
        delivery_id,
        status,
        receipt_status,
        receipt_body,
        error,
    )


async def cancel_delivery(connection: asyncpg.Connection, delivery_id: int) -> None:
    await connection.execute(
        "UPDATE webhook_deliveries SET status = 'cancelled' WHERE id = $1 AND status = 'pending'",
        delivery_id,
    )
