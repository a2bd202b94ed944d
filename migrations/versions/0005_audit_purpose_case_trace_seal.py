"""Audit events record the request's purpose code and case reference, its trace id, and a seal.

Four nullable columns of ``audit_events`` (added to every monthly partition, which
PostgreSQL does for a partitioned table): ``purpose_code`` and ``case_ref``
(CONTRACT §9), ``trace_id`` (W3C Trace Context) and ``sealed_until`` (a program's
policy may withhold its disclosures from subject reports until a date, CONTRACT
§10). The canonical form hashes each only when it is not null
(``audit.chain.OPTIONAL_COLUMNS``), so every event written before this revision
keeps its hash and the chain verifies across it. The gateway role's grants
(SELECT, INSERT on the table) cover the new columns; the append-only triggers are
the table's and still refuse UPDATE, DELETE and TRUNCATE.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE audit_events"
        " ADD COLUMN purpose_code varchar(64),"
        " ADD COLUMN case_ref varchar(200),"
        " ADD COLUMN trace_id varchar(64),"
        " ADD COLUMN sealed_until date"
    )
    # A subject report lists a person's disclosures by program and asks which are sealed.
    op.execute(
        "CREATE INDEX ix_audit_events_sealed_until ON audit_events (sealed_until)"
        " WHERE sealed_until IS NOT NULL"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_audit_events_sealed_until")
    op.execute(
        "ALTER TABLE audit_events"
        " DROP COLUMN sealed_until,"
        " DROP COLUMN trace_id,"
        " DROP COLUMN case_ref,"
        " DROP COLUMN purpose_code"
    )
