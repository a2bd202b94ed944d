"""How long ``regsosek audit breach`` takes at 1,000,000 audit events (target: under 3 minutes).

Builds, or reuses while its marker matches, the database ``regsosek_bench_breach`` on
``DATABASE_URL``'s server (default the local PostgreSQL): migrated, 100,000 households
seeded (seed 20221015, about 400,000 persons), then 1,000,000 chained events over the last
30 days with a signed checkpoint every 1,000, bulk-loaded as the owner (binary COPY; hashed
in Python with ``audit.chain.chain_hash``, exactly as the writer would). Every tenth event
belongs to the client ``client-leaky`` (dinsos-pkh): 100,000 disclosing requests, each of
10 households and their members. The other 900,000 are four other clients' (a fifth of
them refused, disclosing nothing).

Then it times ``regsosek audit breach --client client-leaky`` over the whole 30 days as a
subprocess (so the window's walk covers all 1,000,000 events), prints the figure, the
pack's counts and the machine's load average before and after, and removes the pack.

    python -m bench.breach_bench [--events 1000000] [--fresh] [--drop]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import orjson

from audit.chain import GENESIS_HASH, STORED_COLUMNS, chain_hash
from audit.events import AuditEvent, event_row
from audit.signing import KeySourceSigner, checkpoint_payload
from bench.audit_verify import _Key, _Keys
from db.engine import plain_url, with_database

NAME = "regsosek_bench_breach"
HOUSEHOLDS = 100_000
SEED = 20_221_015
LEAKY = "client-leaky"
EVERY = 10
CHUNK = 50_000
CHECKPOINT_EVERY = 1_000
SPAN = timedelta(days=30)
WORK = Path(__file__).resolve().parent / ".work" / "breach"
OTHERS = ("dp3akb-keluarga", "dinkes-pbi", "kec-sumbersari", "bps-admin")
PATHS = [
    "households.nodes.id",
    "households.nodes.kkNumber",
    "households.nodes.headName",
    "households.nodes.address",
    "households.nodes.members.nik",
    "households.nodes.members.name",
]


def _marker(events: int) -> str:
    return f"breach-bench v1 households={HOUSEHOLDS} events={events} every={EVERY}"


def _event(
    rng: random.Random, seq: int, *, ids: list[int], members: dict[int, list[int]]
) -> AuditEvent:
    request_id = uuid.UUID(int=rng.getrandbits(128)).hex
    if seq % EVERY == 0:
        client, program = LEAKY, "dinsos-pkh"
    else:
        program = OTHERS[seq % len(OTHERS)]
        client = f"client-{program}"
        if seq % 5 == 1:
            return AuditEvent(
                endpoint="graphql",
                outcome="denied",
                request_id=request_id,
                client_id=client,
                program=program,
                error_code="FORBIDDEN",
            )
    households = rng.sample(ids, 10)
    persons = [person for household in households for person in members.get(household, ())]
    return AuditEvent(
        endpoint="graphql",
        outcome="allowed",
        request_id=request_id,
        client_id=client,
        agency=f"agency of {program}",
        program=program,
        agreement="PKS 470/123/35.09/2026",
        purpose="bench",
        remote_addr="10.0.0.7",
        operation_name="Households",
        document_hash=f"{rng.getrandbits(256):064x}",
        field_paths=PATHS,
        household_ids=households,
        person_ids=persons,
        row_count=len(households) + len(persons),
    )


async def generate(url: str, *, events: int) -> None:
    """``events`` chained events and their checkpoints, bulk-loaded as the owner."""
    connection = await asyncpg.connect(url)
    try:
        members: dict[int, list[int]] = {
            row[0]: list(row[1])
            for row in await connection.fetch(
                "SELECT household_id, array_agg(id ORDER BY id) FROM persons GROUP BY 1"
            )
        }
        ids = sorted(members)
        key = _Key()
        signer = KeySourceSigner(_Keys(key))
        await connection.execute(
            "INSERT INTO signing_keys"
            " (kid, alg, private_key_encrypted, public_jwk, retired_at, publish_until)"
            " VALUES ($1, 'ES256', $2, $3::jsonb, now(), now())",
            key.kid,
            b"bench: only the public half is used",
            orjson.dumps(key.private_key.as_dict(private=False)).decode(),
        )
        end = datetime.now(UTC) - timedelta(minutes=5)
        start = end - SPAN
        step = SPAN / events
        moment = start
        while moment <= end + timedelta(days=1):
            await connection.execute("SELECT regsosek_ensure_audit_partition($1)", moment)
            moment += timedelta(days=1)
        rng = random.Random(SEED)
        prev_hash = GENESIS_HASH
        rows: list[tuple[object, ...]] = []
        checkpoints: list[tuple[object, ...]] = []
        for seq in range(1, events + 1):
            at = start + step * seq
            row = event_row(_event(rng, seq, ids=ids, members=members), seq=seq, occurred_at=at)
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
        print()
    finally:
        await connection.close()


async def _admin(server: str, statement: str) -> None:
    connection = await asyncpg.connect(with_database(server, "postgres"))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def _marker_of(server: str) -> str | None:
    connection = await asyncpg.connect(with_database(server, "postgres"))
    try:
        value: str | None = await connection.fetchval(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
            NAME,
        )
        exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", NAME)
        return value if exists else None
    finally:
        await connection.close()


def build(server: str, *, events: int, fresh: bool) -> str:
    """The bench database's URL, built unless a matching one exists."""
    from api.cli.db import upgrade_database
    from db.seed import seed_registry

    url = with_database(server, NAME)
    marker = _marker(events)
    found = asyncio.run(_marker_of(server))
    if found == marker and not fresh:
        print(f"reusing {NAME} ({marker})")
        return url
    asyncio.run(_admin(server, f"DROP DATABASE IF EXISTS {NAME} WITH (FORCE)"))
    shutil.rmtree(WORK, ignore_errors=True)
    asyncio.run(_admin(server, f"CREATE DATABASE {NAME}"))
    started = time.perf_counter()
    asyncio.run(upgrade_database(url))
    asyncio.run(seed_registry(url, households=HOUSEHOLDS, seed=SEED))
    print(f"migrated and seeded {HOUSEHOLDS:,} households in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    asyncio.run(generate(url, events=events))
    print(f"generated {events:,} events in {time.perf_counter() - started:.1f} s")
    asyncio.run(_admin(server, f"COMMENT ON DATABASE {NAME} IS '{marker}'"))
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--fresh", action="store_true", help="rebuild the bench database")
    parser.add_argument("--drop", action="store_true", help="drop the database at the end")
    args = parser.parse_args()
    server = plain_url(
        os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    url = build(server, events=args.events, fresh=args.fresh)
    WORK.mkdir(parents=True, exist_ok=True)
    out = WORK / f"pack-{uuid.uuid4().hex[:8]}"
    until = datetime.now(UTC)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("REGSOSEK_") and key != "DATABASE_URL"
    }
    env.update({"DATABASE_URL": url, "REGSOSEK_DATA_DIR": str(WORK / "data")})
    load_before = os.getloadavg()
    started = time.perf_counter()
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("regsosek")),
            "audit",
            "breach",
            "--client",
            LEAKY,
            "--from",
            (until - SPAN - timedelta(days=1)).isoformat(),
            "--to",
            until.isoformat(),
            "--out",
            str(out),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    load_after = os.getloadavg()
    print(result.stdout.strip())
    if result.returncode != 0:
        print(result.stderr)
        raise SystemExit(1)
    manifest = orjson.loads((out / "manifest.json").read_bytes())
    counts = manifest["counts"]
    size = sum(path.stat().st_size for path in out.iterdir())
    print(
        f"audit breach: {elapsed:.1f} s wall (target < 180 s), {counts['disclosing_events']:,}"
        f" disclosing events, {counts['households']:,} households,"
        f" {counts['persons']:,} persons, pack {size / 1e6:.0f} MB;"
        f" chain walked {manifest['chain']['walked_from_seq']}–"
        f"{manifest['chain']['walked_through_seq']}"
    )
    print(
        "load average (1, 5, 15 min) before: {:.2f} {:.2f} {:.2f}".format(*load_before)
        + ", after: {:.2f} {:.2f} {:.2f}".format(*load_after)
        + f" on {os.cpu_count()} CPUs"
    )
    sizes = ", ".join(
        f"{path.name} {path.stat().st_size / 1e6:.1f} MB" for path in sorted(out.iterdir())
    )
    print(f"files: {sizes}")
    shutil.rmtree(out)
    if args.drop:
        asyncio.run(_admin(server, f"DROP DATABASE IF EXISTS {NAME} WITH (FORCE)"))


if __name__ == "__main__":
    main()
