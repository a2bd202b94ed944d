"""Audit person ids indexed by bucket of 16 ids, not one index entry per person.

A page of 100 households discloses about 380 persons, whose ids fall in about
120 buckets of 16 consecutive ids (members of one household are numbered
together): indexing ``regsosek_id_buckets(person_ids)`` instead of
``person_ids`` writes a third of the GIN entries per event. A lookup for one
person finds the events of its bucket (about four households' members) through
the index and keeps those that name the person (``person_ids && …`` on the
rows found). Buckets of 64 would write a quarter of the entries (90 a page) but
make a lookup read up to 18 households' events; 16 is the balance. Audit index
maintenance was the largest part of PostgreSQL's work for a Q1 page beyond the
query itself (``docs/audit.md``).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPTIONS = "fastupdate = on, gin_pending_list_limit = 32768"

BUCKETS_FUNCTION = """
CREATE FUNCTION regsosek_id_buckets(ids bigint[]) RETURNS bigint[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT ARRAY(SELECT DISTINCT id >> 4 FROM unnest(ids) AS id ORDER BY 1) $$
"""


def upgrade() -> None:
    op.execute(BUCKETS_FUNCTION)
    op.execute("DROP INDEX IF EXISTS ix_audit_events_person_ids")
    op.execute(
        "CREATE INDEX ix_audit_events_person_buckets ON audit_events"
        f" USING gin (regsosek_id_buckets(person_ids)) WITH ({OPTIONS})"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_audit_events_person_buckets")
    op.execute(
        f"CREATE INDEX ix_audit_events_person_ids ON audit_events USING gin (person_ids) WITH ({OPTIONS})"
    )
    op.execute("DROP FUNCTION IF EXISTS regsosek_id_buckets(bigint[])")
