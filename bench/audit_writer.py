"""Audit writer throughput: events/s with concurrent recorders, batch sizes, CPU per event.

Creates a scratch database on ``DATABASE_URL``'s server (default the local
PostgreSQL), migrates it, and records sample events through ``AuditWriter``
as the gateway role, with ``--recorders`` concurrent recorders in each of
``--processes`` processes (each process its own writer, as uvicorn workers).

    .venv/bin/python -m bench.audit_writer [--recorders 16] [--events 20000] [--processes 1]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import multiprocessing
import os
import random
import time
import uuid
from typing import Any

import asyncpg
import orjson

from audit.events import AuditEvent
from audit.signing import KeySourceSigner
from audit.sql.chain import connector
from audit.writer import AuditWriter
from bench.audit_verify import _Key, _Keys
from db import migrate
from db.engine import APP_ROLE, plain_url, with_database, with_user


def _event(index: int, page: int = 10) -> AuditEvent:
    """An allowed page: ``page`` households of a 1,000,000-household registry and their members.

    The households of a page are spread over the registry (a kecamatan's households are not
    numbered together), about 3.6 members each, as in the seeded data.
    """
    rng = random.Random(index)
    households = sorted(rng.sample(range(1, 1_000_001), page))
    persons = sorted({h * 4 + m for h in households for m in range(rng.choice((2, 3, 4, 5)))})
    return AuditEvent(
        endpoint="graphql",
        outcome="allowed",
        request_id=uuid.uuid4().hex,
        client_id="dinsos-client-01",
        agency="Dinas Sosial Kabupaten Jember",
        program="dinsos-pkh",
        agreement="PKS 470/123/35.09/2026",
        purpose="Verifikasi calon penerima PKH",
        remote_addr="10.0.0.7",
        operation_name="Households",
        document_hash="ab" * 32,
        variables_hash="cd" * 32,
        field_paths=["households.nodes.id", "households.nodes.members.nik"],
        household_ids=households,
        person_ids=persons,
        row_count=page,
    )


async def _record(
    app_url: str, jwk: dict[str, Any], *, events: int, recorders: int, flush_ms: float, page: int
) -> dict[str, float]:
    key = _Key()
    key.private_key = key.private_key.import_key(jwk)  # the shared key
    key.kid = key.private_key.thumbprint()
    writer = AuditWriter(
        connect=connector(app_url),
        signer=KeySourceSigner(_Keys(key)),
        checkpoint_every=1000,
        flush_ms=flush_ms,
    )
    await writer.start()
    latencies: list[float] = []
    samples = [_event(index, page) for index in range(min(events, 1_000))]

    async def recorder(offset: int) -> None:
        for index in range(offset, events, recorders):
            event = dataclasses.replace(samples[index % len(samples)], request_id=uuid.uuid4().hex)
            started = time.perf_counter()
            await writer.record(event)
            latencies.append(time.perf_counter() - started)

    steps_before = writer.steps
    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(recorder(offset) for offset in range(recorders)))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    steps = writer.steps - steps_before
    await writer.close()
    latencies.sort()
    return {
        "events": events,
        "wall": wall,
        "cpu": cpu,
        "steps": steps,
        "p50": latencies[len(latencies) // 2],
        "p95": latencies[int(len(latencies) * 0.95)],
        "p99": latencies[int(len(latencies) * 0.99)],
        "max": latencies[-1],
    }


def _process(
    app_url: str,
    jwk: dict[str, Any],
    events: int,
    recorders: int,
    flush_ms: float,
    page: int,
    queue: Any,
) -> None:
    queue.put(
        asyncio.run(
            _record(app_url, jwk, events=events, recorders=recorders, flush_ms=flush_ms, page=page)
        )
    )


async def _setup(url: str) -> dict[str, Any]:
    key = _Key()
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(
            "INSERT INTO signing_keys (kid, alg, private_key_encrypted, public_jwk)"
            " VALUES ($1, 'ES256', $2, $3::jsonb)",
            key.kid,
            b"bench: not sealed",
            orjson.dumps(key.private_key.as_dict(private=False)).decode(),
        )
    finally:
        await connection.close()
    return dict(key.private_key.as_dict(private=True))


async def _admin(server: str, statement: str) -> None:
    connection = await asyncpg.connect(with_database(server, "postgres"))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recorders", type=int, default=16)
    parser.add_argument("--events", type=int, default=20_000, help="per process")
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--flush-ms", type=float, default=2.0)
    parser.add_argument(
        "--page", type=int, default=10, help="households per event (Q1: 100, Q3: 1000)"
    )
    args = parser.parse_args()
    server = plain_url(
        os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    name = f"regsosek_bench_writer_{uuid.uuid4().hex[:8]}"
    url = with_database(server, name)
    asyncio.run(_admin(server, f"CREATE DATABASE {name}"))
    try:
        migrate.upgrade(url)
        jwk = asyncio.run(_setup(url))
        app_url = with_user(url, user=APP_ROLE, password=None)
        context = multiprocessing.get_context("spawn")
        queue = context.Queue()
        workers = [
            context.Process(
                target=_process,
                args=(app_url, jwk, args.events, args.recorders, args.flush_ms, args.page, queue),
            )
            for _ in range(args.processes)
        ]
        for worker in workers:
            worker.start()
        results = [queue.get() for _ in workers]
        for worker in workers:
            worker.join()
        events = sum(r["events"] for r in results)
        wall = max(r["wall"] for r in results)
        steps = sum(r["steps"] for r in results)
        cpu = sum(r["cpu"] for r in results)
        print(
            f"{args.processes} process(es) x {args.recorders} recorders, flush_ms {args.flush_ms},"
            f" {args.page} households an event:"
            f" {events:,} events in {wall:.2f} s = {events / wall:,.0f} events/s;"
            f" {steps:,} chain steps, {events / steps:.1f} events/step;"
            f" writer-process CPU {cpu / events * 1e6:.0f} us/event;"
            f" record() latency p50 {max(r['p50'] for r in results) * 1e3:.2f} ms,"
            f" p95 {max(r['p95'] for r in results) * 1e3:.2f} ms,"
            f" p99 {max(r['p99'] for r in results) * 1e3:.2f} ms,"
            f" max {max(r['max'] for r in results) * 1e3:.2f} ms"
        )
        verify = asyncio.run(_verify(url))
        print(f"chain verifies: {verify}")
    finally:
        asyncio.run(_admin(server, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


async def _verify(url: str) -> str:
    from audit.verify import verify_chain

    connection = await asyncpg.connect(url)
    try:
        report = await verify_chain(connection)
    finally:
        await connection.close()
    return f"{report.ok} ({report.events_valid:,} events, head {report.head_seq:,})"


if __name__ == "__main__":
    main()
