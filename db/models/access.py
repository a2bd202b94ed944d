"""Who may call the gateway: OAuth clients, the token signing keys, and the
counters behind quotas and sign-in throttling."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Index,
    LargeBinary,
    String,
    Text,
    func,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Mapped, mapped_column

from db.models.base import Base


class OAuthClient(Base):
    """An agency system, bound to exactly one program of ``policies/``.

    The program (and so the agency) is the server's record, never the caller's
    claim. Only a slow hash of the secret is kept.
    """

    __tablename__ = "oauth_clients"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    program: Mapped[str] = mapped_column(String(64))
    secret_hash: Mapped[str] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, server_default="true")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    secret_rotated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint("client_id ~ '^[A-Za-z0-9_.-]{8,64}$'", name="client_id_format"),
        CheckConstraint("program ~ '^[a-z0-9][a-z0-9-]{1,62}$'", name="program_format"),
        CheckConstraint("enabled OR disabled_at IS NOT NULL", name="disabled_has_time"),
    )


class SigningKey(Base):
    """A key that signs access tokens and audit checkpoints.

    The private key is stored encrypted (AES-256-GCM under a key derived from
    ``REGSOSEK_SECRET_KEY``); the public key is published in JWKS until
    ``publish_until``, the expiry of the last token it could have signed.
    """

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(String(16))
    private_key_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    public_jwk: Mapped[dict[str, str]] = mapped_column(postgresql.JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    activated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    publish_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint("alg IN ('RS256', 'ES256')", name="alg_allowed"),
        Index("ix_signing_keys_activated_at", "activated_at"),
    )


class RateCounter(Base):
    """A fixed-window counter shared by all worker processes.

    ``scope`` names what is counted (``requests_per_minute``, ``rows_per_day``,
    ``failed_auth_client``, ``failed_auth_address``); ``key`` whom.
    """

    __tablename__ = "rate_counters"

    scope: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, server_default="0")

    __table_args__ = (Index("ix_rate_counters_window_start", "window_start"),)
