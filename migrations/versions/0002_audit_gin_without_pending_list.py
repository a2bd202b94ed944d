"""Audit id indexes without GIN's pending list (``fastupdate = off``).

With the pending list, each insert is cheap but every few megabytes of ids the
inserting backend merges the whole list into the index: a chain step then takes
hundreds of milliseconds, and every request waiting for its audit event waits
with it. Measured with ``bench/audit_writer.py --page 100`` (events the size of
a Q1 page, 16 recorders): with the pending list p50 3.9 ms, p99 295 ms, max
555 ms, 1,099 events/s; without it p50 12.7 ms, p99 16 ms, max 22 ms,
1,256 events/s. Steady cost beats rare stalls for a fail-closed audit.

PostgreSQL cannot change the storage parameters of a partitioned index, so the
two indexes are built again (on every monthly partition) with the new setting;
partitions created later inherit it.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_audit_events_household_ids": "household_ids",
    "ix_audit_events_person_ids": "person_ids",
}


def _rebuild(*, fastupdate: bool) -> None:
    setting = "on" if fastupdate else "off"
    for name, column in INDEXES.items():
        op.execute(f"DROP INDEX IF EXISTS {name}")
        op.execute(
            f"CREATE INDEX {name} ON audit_events USING gin ({column})"
            f" WITH (fastupdate = {setting})"
        )


def upgrade() -> None:
    _rebuild(fastupdate=False)


def downgrade() -> None:
    _rebuild(fastupdate=True)
