"""The SQL of trusted documents (``trusted_documents``): registered, listed, removed, read.

The command line writes as the owner; the gateway reads as ``regsosek_app``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from db.access import Executor


@dataclass(frozen=True)
class StoredDocument:
    program: str
    document_hash: str
    text: str
    policy_version: str
    created_at: datetime

    @property
    def document_id(self) -> str:
        """The id a request sends: ``sha256:<hex>``."""
        return f"sha256:{self.document_hash}"


COLUMNS = "program, document_hash, text, policy_version, created_at"


def _stored(row: asyncpg.Record) -> StoredDocument:
    return StoredDocument(
        row["program"],
        row["document_hash"].strip(),
        row["text"],
        row["policy_version"],
        row["created_at"],
    )


async def add_document(
    executor: Executor, *, program: str, document_hash: str, text: str, policy_version: str
) -> bool:
    """Register (or re-validate) a document; True when it was new for the program."""
    row = await executor.fetchrow(
        "INSERT INTO trusted_documents (program, document_hash, text, policy_version)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT (program, document_hash)"
        " DO UPDATE SET policy_version = EXCLUDED.policy_version"
        " RETURNING (xmax = 0) AS inserted",
        program,
        document_hash,
        text,
        policy_version,
    )
    return bool(row is not None and row["inserted"])


async def list_documents(executor: Executor, *, program: str | None = None) -> list[StoredDocument]:
    rows = await executor.fetch(
        f"SELECT {COLUMNS} FROM trusted_documents"
        " WHERE $1::text IS NULL OR program = $1 ORDER BY program, created_at, document_hash",
        program,
    )
    return [_stored(row) for row in rows]


async def remove_document(
    executor: Executor, *, document_hash: str, program: str | None = None
) -> list[str]:
    """Remove a document (of one program, or of every program); the programs it left."""
    rows = await executor.fetch(
        "DELETE FROM trusted_documents WHERE document_hash = $1"
        " AND ($2::text IS NULL OR program = $2) RETURNING program",
        document_hash,
        program,
    )
    return sorted(row["program"] for row in rows)


async def find_document(
    executor: Executor, *, program: str, document_hash: str
) -> StoredDocument | None:
    row = await executor.fetchrow(
        f"SELECT {COLUMNS} FROM trusted_documents WHERE program = $1 AND document_hash = $2",
        program,
        document_hash,
    )
    return None if row is None else _stored(row)
