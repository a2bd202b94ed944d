"""Trusted documents: operations registered per program by their SHA-256 (CONTRACT §9).

``trusted_documents`` holds each registered operation's text under its program and hash
(``regsosek documents add``). The gateway role reads it to run a request that sends
``documentId`` instead of ``query``; only the owner (the command line) writes it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = "regsosek_app"


def upgrade() -> None:
    op.execute(
        "CREATE TABLE trusted_documents ("
        " program varchar(64) NOT NULL,"
        " document_hash char(64) NOT NULL,"
        " text text NOT NULL,"
        " policy_version varchar(64) NOT NULL,"
        " created_at timestamptz NOT NULL DEFAULT now(),"
        " PRIMARY KEY (program, document_hash),"
        " CONSTRAINT trusted_documents_hash_format CHECK (document_hash ~ '^[0-9a-f]{64}$'),"
        " CONSTRAINT trusted_documents_program_format"
        " CHECK (program ~ '^[a-z0-9][a-z0-9-]{1,62}$'))"
    )
    op.execute(f"GRANT SELECT ON trusted_documents TO {APP_ROLE}")


def downgrade() -> None:
    op.execute("DROP TABLE trusted_documents")
