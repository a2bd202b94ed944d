"""Helpers of the audit tests: a test signing key, writers, tampering as a malicious DBA."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
from joserfc.jwk import ECKey

from audit.events import AuditEvent, event_row
from audit.signing import KeySourceSigner
from audit.sql.chain import connector
from audit.verify import Report, verify_chain
from audit.writer import AuditWriter
from db.engine import APP_ROLE, with_user


class StaticKey:
    """A signing key source with one ES256 key (stands in for ``api.auth.keys.KeyStore``)."""

    def __init__(self, private_jwk: dict[str, Any] | None = None) -> None:
        self.private_key = (
            ECKey.import_key(private_jwk)
            if private_jwk
            else ECKey.generate_key("P-256", private=True)
        )
        self.kid = self.private_key.thumbprint()
        self.alg = "ES256"

    def current(self) -> StaticKey:
        return self

    def public_jwk(self) -> dict[str, Any]:
        return dict(self.private_key.as_dict(private=False, kid=self.kid, alg=self.alg))


async def register_public_key(owner_url: str, key: StaticKey) -> None:
    """Record ``key``'s public half in ``signing_keys``, where the verifier looks for it."""
    connection = await asyncpg.connect(owner_url)
    try:
        await connection.execute(
            "INSERT INTO signing_keys"
            " (kid, alg, private_key_encrypted, public_jwk, retired_at, publish_until)"
            " VALUES ($1, $2, $3, $4::jsonb, now(), now())",
            key.kid,
            key.alg,
            b"test key: the private half is not stored",
            orjson.dumps(key.public_jwk()).decode(),
        )
    finally:
        await connection.close()


class Clock:
    """A writer's clock that tests set by hand (to cross month boundaries)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class ChainDatabase:
    """A cloned registry database with a registered test key."""

    url: str
    key: StaticKey

    @property
    def app_url(self) -> str:
        return with_user(self.url, user=APP_ROLE, password=None)

    def writer(self, **settings: Any) -> AuditWriter:
        options: dict[str, Any] = {
            "checkpoint_every": 10,
            "checkpoint_seconds": 3600.0,
            "flush_ms": 0.5,
        }
        options.update(settings)
        signer = options.pop("signer", None) or KeySourceSigner(self.key)
        return AuditWriter(connect=connector(self.app_url), signer=signer, **options)

    async def owner(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.url)

    async def verify(self) -> Report:
        connection = await self.owner()
        try:
            return await verify_chain(connection)
        finally:
            await connection.close()

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        connection = await self.owner()
        try:
            return list(await connection.fetch(query, *args))
        finally:
            await connection.close()

    async def tamper(self, *statements: str, args: Sequence[Sequence[Any]] = ()) -> None:
        """Run ``statements`` as the owner, the append-only triggers disabled meanwhile."""
        connection = await self.owner()
        try:
            tables = await audit_tables(connection)
            async with connection.transaction():
                for table in tables:
                    await connection.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
                for index, statement in enumerate(statements):
                    values = args[index] if index < len(args) else ()
                    await connection.execute(statement, *values)
                for table in tables:
                    await connection.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
        finally:
            await connection.close()


async def audit_tables(connection: asyncpg.Connection) -> list[str]:
    """The audit tables and every partition of ``audit_events``."""
    partitions = await connection.fetch(
        "SELECT inhrelid::regclass::text FROM pg_inherits"
        " WHERE inhparent = 'audit_events'::regclass ORDER BY 1"
    )
    return ["audit_events", "audit_checkpoints", *(row[0] for row in partitions)]


def sample_event(index: int = 0, **fields: Any) -> AuditEvent:
    values: dict[str, Any] = {
        "endpoint": "graphql",
        "outcome": "allowed",
        "request_id": f"request-{index}",
        "client_id": "dinsos-client-01",
        "agency": "Dinas Sosial",
        "program": "dinsos-pkh",
        "agreement": "PKS 470/1/2026",
        "purpose": "PKH verification",
        "remote_addr": "10.0.0.7",
        "operation_name": "Households",
        "document_hash": "ab" * 32,
        "variables_hash": "cd" * 32,
        "field_paths": ["households.nodes.id", "households.nodes.headName"],
        "household_ids": [index + 1],
        "person_ids": [index * 10 + 1, index * 10 + 2],
        "row_count": 1,
    }
    values.update(fields)
    return AuditEvent(**values)


async def write_events(
    writer: AuditWriter, count: int, *, concurrency: int = 1, start: int = 0
) -> list[int]:
    """Record ``count`` sample events with ``concurrency`` recorders; their seqs in order."""
    seqs: list[int] = []

    async def recorder(offset: int) -> None:
        for index in range(start + offset, start + count, concurrency):
            seqs.append(await writer.record(sample_event(index)))

    await asyncio.gather(*(recorder(offset) for offset in range(concurrency)))
    return sorted(seqs)


def golden_row() -> tuple[Any, ...]:
    """The stored values of the event the golden canonical form and hash pin."""
    event = AuditEvent(
        endpoint="graphql",
        outcome="allowed",
        request_id="req-1",
        client_id="dinsos-client-01",
        agency="Dinas Sosial",
        program="dinsos-pkh",
        agreement="PKS 470/1/2026",
        purpose="Verifikasi PKH",
        remote_addr="10.0.0.7",
        operation_name="Keluarga",
        document_hash="AB" * 32,
        field_paths=["households.nodes.nik", "households.nodes.id", "households.nodes.id"],
        household_ids=[3, 1, 3],
        person_ids=[12, 11],
        row_count=2,
    )
    return event_row(event, seq=1, occurred_at=datetime(2026, 11, 29, 8, 0, 0, 5, tzinfo=UTC))
