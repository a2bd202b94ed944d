"""How long ``regsosek audit verify`` takes over a long chain (target: 1,000,000 events < 60 s).

Creates a scratch database on ``DATABASE_URL``'s server (default the local
PostgreSQL), migrates it, writes N chained events and a signed checkpoint every
1,000 of them with the bulk path (binary COPY as the owner, not through the
writer), times ``regsosek audit verify --json`` as a subprocess, prints the
figure, and drops the database.

    .venv/bin/python -m bench.audit_verify [--events 1000000] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import orjson
from joserfc.jwk import ECKey

from audit.chain import GENESIS_HASH, STORED_COLUMNS, chain_hash
from audit.events import AuditEvent, event_row
from audit.signing import KeySourceSigner, checkpoint_payload
from db import migrate
from db.engine import plain_url, with_database

CHUNK = 50_000
CHECKPOINT_EVERY = 1_000
PROGRAMS = ("dinsos-pkh", "dp3akb-keluarga", "dinkes-pbi", "kec-sumbersari", "bps-admin")


class _Key:
    def __init__(self) -> None:
        self.private_key = ECKey.generate_key("P-256", private=True)
        self.kid = self.private_key.thumbprint()
        self.alg = "ES256"


class _Keys:
    def __init__(self, key: _Key) -> None:
        self.key = key

    def current(self) -> _Key:
        return self.key


def _event(rng: random.Random, index: int) -> AuditEvent:
    program = PROGRAMS[index % len(PROGRAMS)]
    if index % 5 == 4:
        return AuditEvent(
            endpoint="graphql",
            outcome="denied",
            request_id=uuid.UUID(int=rng.getrandbits(128)).hex,
            client_id=f"client-{program}",
            program=program,
            error_code="FORBIDDEN",
        )
    first = rng.randrange(1, 20_000)
    return AuditEvent(
        endpoint="graphql",
        outcome="allowed",
        request_id=uuid.UUID(int=rng.getrandbits(128)).hex,
        client_id=f"client-{program}",
        agency="Dinas Sosial Kabupaten Jember",
        program=program,
        agreement="PKS 470/123/35.09/2026",
        purpose="Verifikasi calon penerima PKH",
        remote_addr="10.0.0.7",
        operation_name="Households",
        document_hash=f"{rng.getrandbits(256):064x}",
        variables_hash=f"{rng.getrandbits(256):064x}",
        field_paths=[
            "households.nodes.id",
            "households.nodes.headName",
            "households.nodes.welfareDecile",
            "households.nodes.members.name",
            "households.nodes.members.nik",
        ],
        household_ids=list(range(first, first + 10)),
        person_ids=list(range(first * 4, first * 4 + 40)),
        row_count=10,
    )


async def generate(url: str, *, events: int) -> None:
    """``events`` chained events and their checkpoints, bulk-loaded as the owner."""
    connection = await asyncpg.connect(url)
    try:
        key = _Key()
        signer = KeySourceSigner(_Keys(key))
        await connection.execute(
            "INSERT INTO signing_keys (kid, alg, private_key_encrypted, public_jwk)"
            " VALUES ($1, 'ES256', $2, $3::jsonb)",
            key.kid,
            b"bench: not sealed, only the public half is used",
            orjson.dumps(key.private_key.as_dict(private=False)).decode(),
        )
        now = datetime.now(UTC)
        start = now - timedelta(milliseconds=events * 0.5)
        for moment in (start, now):
            await connection.execute("SELECT regsosek_ensure_audit_partition($1)", moment)
        rng = random.Random(20221015)
        prev_hash = GENESIS_HASH
        rows: list[tuple[object, ...]] = []
        checkpoints: list[tuple[object, ...]] = []
        for seq in range(1, events + 1):
            at = start + timedelta(microseconds=seq * 500)
            row = event_row(_event(rng, seq), seq=seq, occurred_at=at)
            digest = chain_hash(prev_hash, row)
            rows.append((*row, prev_hash, digest))
            prev_hash = digest
            if seq % CHECKPOINT_EVERY == 0 or seq == events:
                payload = checkpoint_payload(
                    seq=seq, head_hash=digest, event_count=seq, created_at=at
                )
                signature = signer.sign(payload)
                checkpoints.append((seq, digest, seq, at, signature.kid, signature.jws))
            if len(rows) == CHUNK:
                await connection.copy_records_to_table(
                    "audit_events", records=rows, columns=list(STORED_COLUMNS)
                )
                rows.clear()
                print(f"  {seq:>9,} events written", end="\r", flush=True)
        if rows:
            await connection.copy_records_to_table(
                "audit_events", records=rows, columns=list(STORED_COLUMNS)
            )
        await connection.copy_records_to_table(
            "audit_checkpoints",
            records=checkpoints,
            columns=["seq", "head_hash", "event_count", "created_at", "kid", "signature"],
        )
        await connection.execute("ANALYZE audit_events")
    finally:
        await connection.close()


async def _admin(server: str, statement: str) -> None:
    connection = await asyncpg.connect(with_database(server, "postgres"))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()
    server = plain_url(
        os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    name = f"regsosek_bench_audit_{uuid.uuid4().hex[:8]}"
    url = with_database(server, name)
    asyncio.run(_admin(server, f"CREATE DATABASE {name}"))
    try:
        migrate.upgrade(url)
        started = time.perf_counter()
        asyncio.run(generate(url, events=args.events))
        print(f"generated {args.events:,} events in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        result = subprocess.run(
            [str(Path(sys.executable).with_name("regsosek")), "audit", "verify", "--json"],
            env={**os.environ, "DATABASE_URL": url},
            capture_output=True,
            text=True,
            check=False,
        )
        elapsed = time.perf_counter() - started
        report = orjson.loads(result.stdout)
        print(
            f"audit verify: {report['events_valid']:,}/{report['range']['events']:,} events,"
            f" {report['checkpoints']['valid']}/{report['checkpoints']['total']} checkpoints"
            f" valid, exit {result.returncode}, {elapsed:.1f} s wall"
            f" ({report['elapsed_seconds']:.1f} s in the walk,"
            f" {args.events / report['elapsed_seconds']:,.0f} events/s)"
        )
        if result.returncode != 0:
            print(result.stdout, result.stderr)
            raise SystemExit(1)
    finally:
        if args.keep:
            print(f"kept {url}")
        else:
            asyncio.run(_admin(server, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


if __name__ == "__main__":
    main()
