"""Trusted documents: the operations each program registered (``regsosek documents add``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from db.models.base import Base


class TrustedDocument(Base):
    """One operation a program may run by id (``{"documentId": "sha256:<hex>"}``).

    Validated against the program's schema when added, and again under every new policy.
    """

    __tablename__ = "trusted_documents"

    program: Mapped[str] = mapped_column(String(64), primary_key=True)
    document_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    policy_version: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        CheckConstraint("document_hash ~ '^[0-9a-f]{64}$'", name="hash_format"),
        CheckConstraint("program ~ '^[a-z0-9][a-z0-9-]{1,62}$'", name="program_format"),
    )
