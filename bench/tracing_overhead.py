"""What OpenTelemetry tracing costs: requests/s with tracing off and on (run on demand).

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \
        .venv/bin/python -m bench.tracing_overhead [--seconds 8] [--rounds 3] [--concurrency 8]

Creates a scratch database (migrated, 2,000 synthetic households), then alternates,
``--rounds`` times, one gateway with tracing off and one with tracing on; each answers
``--concurrency`` clients in a closed loop for ``--seconds`` (after a short warm-up):
a GraphQL page of 10 households (one compiled statement) with a ``traceparent`` on
every request. Traced, spans are batched by OTLP/HTTP (the production exporter, the SDK's
defaults) to a local sink on a loopback port that counts what it receives and answers
200, so the cost includes encoding and sending them.

In-process (httpx's ASGI transport, no sockets or uvicorn on the gateway's side):
the figure is the gateway's own cost per request, which is what tracing adds to. Besides
requests/s it prints the CPU time of this process per request (all its threads: the
gateway, the load loop and the span exporter; the sink runs in a process of its own),
which a shared, busy machine distorts less than wall time. Prints each round and the
medians.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import yaml

from api.app import create_app
from api.auth import clients as client_ops
from api.cli.db import upgrade_database
from api.settings import Settings
from db.engine import plain_url, with_database
from db.seed import seed_registry
from policies import load_policies

POLICIES = Path(__file__).resolve().parent.parent / "policies"
PROGRAM = "dinsos-pkh"
QUERY = "{ households(first: 10) { nodes { id headName welfareDecile } } }"
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


class Sink(BaseHTTPRequestHandler):
    """An OTLP/HTTP receiver that keeps nothing: counts the export requests and bytes."""

    counts: Any = None
    """Shared with the bench's process: (exports, bytes)."""

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        with self.counts.get_lock():
            self.counts[0] += 1
            self.counts[1] += length
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def unlimited_policies(directory: Path) -> Path:
    """The shipped policies with the program's quotas lifted (a load test is not a client)."""
    target = directory / "policies"
    shutil.copytree(POLICIES, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    program_file = target / "programs" / f"{PROGRAM}.yaml"
    program = yaml.safe_load(program_file.read_text())
    program["quota"] = {"requests_per_minute": 1_000_000, "rows_per_day": 1_000_000_000}
    program_file.write_text(yaml.safe_dump(program, sort_keys=False))
    return target


def _serve(server: ThreadingHTTPServer, counts: Any) -> None:
    Sink.counts = counts
    server.serve_forever()


@contextmanager
def sink() -> Iterator[tuple[str, Any]]:
    """The sink's URL and its counts (exports, bytes), served by a process of its own."""
    counts = multiprocessing.get_context("fork").Array("q", 2)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    process = multiprocessing.get_context("fork").Process(
        target=_serve, args=(server, counts), daemon=True
    )
    process.start()
    server.server_close()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", counts
    finally:
        process.terminate()
        process.join()


async def _load(http: httpx.AsyncClient, headers: dict[str, str], *, until: float) -> int:
    done = 0
    while time.perf_counter() < until:
        answer = await http.post("/graphql", json={"query": QUERY}, headers=headers)
        if answer.status_code != 200:
            raise RuntimeError(f"{answer.status_code}: {answer.text}")
        done += 1
    return done


async def measure(
    settings: Settings, credentials: client_ops.Credentials, *, seconds: float, concurrency: int
) -> tuple[float, float]:
    """Requests/s of one freshly started gateway, and its CPU microseconds per request."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            token = await http.post(
                "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(credentials.client_id, credentials.client_secret),
            )
            headers = {
                "Authorization": f"Bearer {token.json()['access_token']}",
                "traceparent": TRACEPARENT,
            }
            warm = time.perf_counter() + 1.0
            await asyncio.gather(*(_load(http, headers, until=warm) for _ in range(concurrency)))
            started, cpu = time.perf_counter(), time.process_time()
            until = started + seconds
            counts = await asyncio.gather(
                *(_load(http, headers, until=until) for _ in range(concurrency))
            )
            requests = sum(counts)
            rate = requests / (time.perf_counter() - started)
    # Measured after shutdown, which exports the spans still queued: their CPU counts too.
    return rate, (time.process_time() - cpu) / requests * 1e6


async def bench(server: str, *, seconds: float, rounds: int, concurrency: int) -> None:
    name = f"regsosek_tracing_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(with_database(server, "postgres"))
    await admin.execute(f"CREATE DATABASE {name}")
    url = with_database(server, name)
    try:
        await upgrade_database(url)
        await seed_registry(url, households=2_000, seed=20221015)
        owner = await asyncpg.connect(url)
        try:
            credentials = await client_ops.create_client(
                owner, program=PROGRAM, name=None, policies=load_policies(POLICIES)
            )
        finally:
            await owner.close()
        with tempfile.TemporaryDirectory() as data_dir, sink() as (endpoint, counts):
            common = {
                "database_url": url,
                "data_dir": Path(data_dir),
                "policy_dir": unlimited_policies(Path(data_dir)),
                "secret_key": "5f" * 32,
                "pseudonym_key": "a7" * 32,
                "log_level": "WARNING",
            }
            off = Settings(**common, otel_exporter_otlp_endpoint=None)  # type: ignore[arg-type]
            on = Settings(**common, otel_exporter_otlp_endpoint=endpoint)  # type: ignore[arg-type]
            rates: dict[str, list[float]] = {"off": [], "on": []}
            cpus: dict[str, list[float]] = {"off": [], "on": []}
            for round_ in range(1, rounds + 1):
                for label, settings in (("off", off), ("on", on)):
                    rate, cpu = await measure(
                        settings, credentials, seconds=seconds, concurrency=concurrency
                    )
                    rates[label].append(rate)
                    cpus[label].append(cpu)
                    print(
                        f"round {round_}: tracing {label:3} {rate:8.1f} requests/s,"
                        f" {cpu:6.0f} µs CPU a request",
                        flush=True,
                    )
            rate_off, rate_on = (statistics.median(rates[k]) for k in ("off", "on"))
            cpu_off, cpu_on = (statistics.median(cpus[k]) for k in ("off", "on"))
            print(
                f"median: off {rate_off:.1f} requests/s, on {rate_on:.1f} requests/s"
                f" ({(rate_on / rate_off - 1) * 100:+.1f} %); CPU a request: off {cpu_off:.0f} µs,"
                f" on {cpu_on:.0f} µs ({cpu_on - cpu_off:+.0f} µs);"
                f" the sink received {counts[0]} exports, {counts[1] / 1e6:.1f} MB"
            )
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8)
    arguments = parser.parse_args()
    asyncio.run(
        bench(
            plain_url(os.environ["DATABASE_URL"]),
            seconds=arguments.seconds,
            rounds=arguments.rounds,
            concurrency=arguments.concurrency,
        )
    )


if __name__ == "__main__":
    main()
