"""Audit id indexes: GIN's pending list kept out of the chain steps.

A GIN index takes inserts into a *pending list*, cheaply, and merges the list
into the index when it outgrows ``gin_pending_list_limit``, in whichever
backend inserts at that moment. With the default 4 MB limit that backend was
the audit writer in the middle of a chain step, and every request waiting for
its audit event waited for the merge. Measured with ``bench/audit_writer.py
--page 100`` (events the size of a Q1 page, 16 recorders, 20,000 events):

=====================================  ========  =======  ======  ==========
indexes                                p50 ms    p99 ms   max ms  events/s
=====================================  ========  =======  ======  ==========
pending list, 4 MB (revision 0001)     3.9       295      555     1,099
no pending list (``fastupdate=off``)   12.7      16.8     23      1,249
pending list, 32 MB, merged aside      4.1       9.9      16      3,593
=====================================  ========  =======  ======  ==========

The last row is this revision: a 32 MB list, and
``regsosek_audit_clean_pending()``, which the gateway calls every second on a
connection of its own (``audit/maintenance.py``), merges it outside the
chain steps; a merge in progress makes inserters skip theirs, and an advisory
lock lets one gateway process merge at a time. Without the cleaner the indexes
behave as before, with longer but rarer merges.

PostgreSQL cannot change the storage parameters of a partitioned index, so the
two indexes are built again (on every monthly partition); partitions created
later inherit the setting.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = "regsosek_app"
PENDING_LIST_KB = 32 * 1024
CLEAN_LOCK = int.from_bytes(
    hashlib.sha256(b"regsosek.audit.gin-clean").digest()[:8], "big", signed=True
)
INDEXES = {
    "ix_audit_events_household_ids": "household_ids",
    "ix_audit_events_person_ids": "person_ids",
}

CLEAN_FUNCTION = f"""
CREATE FUNCTION regsosek_audit_clean_pending() RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    index_oid regclass;
    merged bigint := 0;
BEGIN
    -- One merge at a time across the gateway's processes; the others skip.
    IF NOT pg_try_advisory_xact_lock({CLEAN_LOCK}) THEN
        RETURN 0;
    END IF;
    FOR index_oid IN
        SELECT i.indexrelid::regclass
        FROM pg_index i
        JOIN pg_class c ON c.oid = i.indexrelid
        JOIN pg_am am ON am.oid = c.relam
        WHERE am.amname = 'gin'
          AND i.indrelid IN (
              SELECT inhrelid FROM pg_inherits WHERE inhparent = 'public.audit_events'::regclass
          )
    LOOP
        merged := merged + gin_clean_pending_list(index_oid);
    END LOOP;
    RETURN merged;
END
$$
"""


def _rebuild(options: str) -> None:
    for name, column in INDEXES.items():
        op.execute(f"DROP INDEX IF EXISTS {name}")
        op.execute(f"CREATE INDEX {name} ON audit_events USING gin ({column}) WITH ({options})")


def upgrade() -> None:
    _rebuild(f"fastupdate = on, gin_pending_list_limit = {PENDING_LIST_KB}")
    op.execute(CLEAN_FUNCTION)
    op.execute("REVOKE ALL ON FUNCTION regsosek_audit_clean_pending() FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION regsosek_audit_clean_pending() TO {APP_ROLE}")


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS regsosek_audit_clean_pending()")
    _rebuild("fastupdate = on")
