"""Releases, the per-program change feed, applied policies and webhook subscriptions.

* ``releases``: every event that changes what programs see: the seed, each
  import, each applied policy change. Recorded in the same transaction as the
  rows it changed, so a release exists exactly when its changes do.
* ``change_positions``: one row holding the last position handed out. Every
  program change gets the next positions of this one sequence while the
  registry tables are locked by its writer, so positions are in commit order.
* ``program_changes``: the feed. One row per (program, change): ENTERED,
  UPDATED or LEFT relative to the program's own row scope, computed when the
  release is recorded (never at read time), keyed for paging by
  ``(program, position)``. ``nik`` is kept for person events only, so a
  PSEUDONYM program can be told its pseudonym of a person who left (or was
  removed).
* ``policy_versions``: the policy files as they were applied (what the
  row-level-security policies and the feed follow), with the feed's scopes
  compiled from them (``scopes``; null only for a version applied before
  revision 0006, until the policy is applied again).
* ``webhook_subscriptions`` and ``webhook_deliveries``: pushes of a program's
  changes to an agency's URL, each delivery with its receipt.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Mapped, mapped_column

from db.models.base import Base, pg_enum


class ChangeKind(StrEnum):
    """A change relative to one program's row scope (CONTRACT §8)."""

    ENTERED = "ENTERED"
    UPDATED = "UPDATED"
    LEFT = "LEFT"


class ReleaseKind(StrEnum):
    SEED = "seed"
    IMPORT = "import"
    POLICY = "policy"


RELEASE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"


class Release(Base):
    __tablename__ = "releases"

    no: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    files: Mapped[Any] = mapped_column(postgresql.JSONB, server_default="[]")
    policy_version: Mapped[str | None] = mapped_column(String(64))
    households_added: Mapped[int] = mapped_column(Integer, server_default="0")
    households_changed: Mapped[int] = mapped_column(Integer, server_default="0")
    households_removed: Mapped[int] = mapped_column(Integer, server_default="0")
    persons_added: Mapped[int] = mapped_column(Integer, server_default="0")
    persons_changed: Mapped[int] = mapped_column(Integer, server_default="0")
    persons_removed: Mapped[int] = mapped_column(Integer, server_default="0")
    first_position: Mapped[int | None] = mapped_column(BigInteger)
    last_position: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (
        CheckConstraint(f"id ~ '{RELEASE_ID_PATTERN}'", name="id_format"),
        CheckConstraint("kind IN ('seed', 'import', 'policy')", name="kind_known"),
    )


class ChangePositions(Base):
    __tablename__ = "change_positions"

    singleton: Mapped[bool] = mapped_column(Boolean, primary_key=True, server_default="true")
    last: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (CheckConstraint("singleton", name="one_row"),)


class ProgramChange(Base):
    __tablename__ = "program_changes"

    program: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    release_no: Mapped[int] = mapped_column(Integer, ForeignKey("releases.no", ondelete="CASCADE"))
    kind: Mapped[ChangeKind] = mapped_column(pg_enum(ChangeKind))
    household_id: Mapped[int | None] = mapped_column(BigInteger)
    person_id: Mapped[int | None] = mapped_column(BigInteger)
    nik: Mapped[str | None] = mapped_column(String(16))

    __table_args__ = (
        CheckConstraint("household_id IS NOT NULL OR person_id IS NOT NULL", name="names_a_row"),
        Index("ix_program_changes_release_no", "release_no"),
    )


class PolicyVersion(Base):
    __tablename__ = "policy_versions"

    no: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version: Mapped[str] = mapped_column(String(64))
    applied_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    files: Mapped[Any] = mapped_column(postgresql.JSONB)
    scopes: Mapped[Any | None] = mapped_column(postgresql.JSONB, nullable=True)
    release_no: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("releases.no", ondelete="SET NULL")
    )


class WebhookSubscription(Base):
    __tablename__ = "webhook_subscriptions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    program: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(Text)
    events: Mapped[list[ChangeKind]] = mapped_column(postgresql.ARRAY(pg_enum(ChangeKind)))
    enabled: Mapped[bool] = mapped_column(Boolean, server_default="true")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_webhook_subscriptions_program", "program"),)


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    subscription_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("webhook_subscriptions.id", ondelete="CASCADE")
    )
    release_no: Mapped[int] = mapped_column(Integer, ForeignKey("releases.no", ondelete="CASCADE"))
    program: Mapped[str] = mapped_column(String(64))
    first_position: Mapped[int] = mapped_column(BigInteger)
    last_position: Mapped[int] = mapped_column(BigInteger)
    change_count: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    receipt_status: Mapped[int | None] = mapped_column(Integer)
    receipt_body: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'delivered', 'expired', 'cancelled')", name="status_known"
        ),
        Index("ix_webhook_deliveries_subscription_id", "subscription_id", "id"),
    )
