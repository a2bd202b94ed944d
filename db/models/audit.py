"""The audit trail: one event per request, hash-chained, with signed checkpoints.

``audit_events`` is partitioned by month of ``occurred_at`` so that old months
can be detached and archived. The gateway's role may only INSERT and SELECT
here, and triggers refuse UPDATE, DELETE and TRUNCATE for everyone.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, DateTime, Index, Integer, LargeBinary, String, Text, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Mapped, mapped_column

from db.models.base import Base


class AuditEvent(Base):
    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(64))
    endpoint: Mapped[str] = mapped_column(String(16))
    client_id: Mapped[str | None] = mapped_column(String(64))
    agency: Mapped[str | None] = mapped_column(Text)
    program: Mapped[str | None] = mapped_column(String(64))
    agreement: Mapped[str | None] = mapped_column(Text)
    purpose: Mapped[str | None] = mapped_column(Text)
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    operation_name: Mapped[str | None] = mapped_column(Text)
    document_hash: Mapped[str | None] = mapped_column(String(64))
    variables_hash: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(32))
    error_code: Mapped[str | None] = mapped_column(String(32))
    row_count: Mapped[int] = mapped_column(Integer)
    field_paths: Mapped[list[str]] = mapped_column(postgresql.ARRAY(Text))
    household_ids: Mapped[list[int]] = mapped_column(postgresql.ARRAY(BigInteger))
    person_ids: Mapped[list[int]] = mapped_column(postgresql.ARRAY(BigInteger))
    purpose_code: Mapped[str | None] = mapped_column(String(64))
    case_ref: Mapped[str | None] = mapped_column(String(200))
    trace_id: Mapped[str | None] = mapped_column(String(64))
    sealed_until: Mapped[date | None] = mapped_column(Date)
    prev_hash: Mapped[bytes] = mapped_column(LargeBinary)
    hash: Mapped[bytes] = mapped_column(LargeBinary)

    __table_args__ = (
        Index("ix_audit_events_seq", "seq"),
        Index("ix_audit_events_client_id_occurred_at", "client_id", "occurred_at"),
        Index("ix_audit_events_program_occurred_at", "program", "occurred_at"),
        # A 32 MB pending list, merged outside the chain steps (migration 0002).
        Index(
            "ix_audit_events_household_ids",
            "household_ids",
            postgresql_using="gin",
            postgresql_with={"fastupdate": "on", "gin_pending_list_limit": 32768},
        ),
        # Persons by bucket of 16 ids (migration 0003); lookups recheck person_ids.
        Index(
            "ix_audit_events_person_buckets",
            text("regsosek_id_buckets(person_ids)"),
            postgresql_using="gin",
            postgresql_with={"fastupdate": "on", "gin_pending_list_limit": 32768},
        ),
        # Time ranges of the auditors' reports: rows arrive in time order, so BRIN fits.
        Index("ix_audit_events_occurred_at_brin", "occurred_at", postgresql_using="brin"),
        # Sealed disclosures (migration 0005): subject reports count them.
        Index(
            "ix_audit_events_sealed_until",
            "sealed_until",
            postgresql_where=text("sealed_until IS NOT NULL"),
        ),
        {"postgresql_partition_by": "RANGE (occurred_at)"},
    )


class AuditCheckpoint(Base):
    """A signed statement of the chain's head: ``seq``, its hash, and the count.

    Checkpoints are also written when nothing happened (every
    ``REGSOSEK_AUDIT_CHECKPOINT_SECONDS``), which proves the quiet stretch.
    """

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    head_hash: Mapped[bytes] = mapped_column(LargeBinary)
    event_count: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    kid: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(Text)
