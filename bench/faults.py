"""PostgreSQL restarted under load: what the agencies see, and whether the audit trail held.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres make bench-faults
    .venv/bin/python -m bench.faults [--seconds 25] [--restart-at 6] [--clients 8] [--fresh]

Run on demand, never by the tests: it RESTARTS THE MACHINE'S SHARED
POSTGRESQL SERVER (``pg_ctlcluster --skip-systemctl-redirect <version> main
restart``), which breaks every other session on it for a second or two.

1. Creates (or reuses) the database ``regsosek_bench_faults`` on
   DATABASE_URL's server: migrated, 20,000 households seeded, one client per
   program under load. The policies are the shipped ones with quotas raised,
   so that what is measured is the fault, not RATE_LIMITED.
2. Starts ``regsosek serve`` (a subprocess, two workers) and drives it from
   ``--clients`` concurrent loops of typical agency queries (asyncio + httpx).
3. Restarts PostgreSQL ``--restart-at`` seconds in, keeps the load on, then
   stops the gateway with SIGTERM.
4. Reports the answers by status and code, the outage the clients saw, the
   recovery time (from PostgreSQL accepting connections again to the first 200
   of a request sent after that), checks that every 200 has its audit event
   (``X-Request-Id`` = ``audit_events.request_id``, outcome ``allowed``) and that
   ``regsosek audit verify`` passes.

Exit status 1 unless: no 500, recovery under 10 s, every 200 audited, the
chain verifies, and the gateway served again without being restarted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import yaml

from db.engine import plain_url, with_database

REPO = Path(__file__).resolve().parent.parent
REGSOSEK = str(Path(sys.executable).parent / "regsosek")
DATABASE = "regsosek_bench_faults"
HOUSEHOLDS = 20_000
RECOVERY_LIMIT = 10.0

WORKLOAD: dict[str, list[str]] = {
    "dinsos-pkh": [
        "{ households(first: 20) { totalCount"
        " nodes { id headName welfareDecile members { nik name } } } }",
        "{ households(first: 10, filter: {receivesProgram: PKH}) { nodes { id address } } }",
    ],
    "kec-sumbersari": [
        "{ households(first: 25) { nodes { id headName region { name } members { name age } } } }",
    ],
    "dp3akb-keluarga": [
        "{ households(first: 20, filter: {womanHeaded: true})"
        " { nodes { id headName members { nik name } } } }",
    ],
    "dinkes-pbi": [
        "{ persons(first: 30, filter: {pregnant: true}) { totalCount nodes { nik age } } }",
    ],
    "bps-admin": ["{ regions(level: KECAMATAN) { code name } }", "{ myAccess { program } }"],
}


@dataclass
class Answer:
    sent: float
    received: float
    status: str
    code: str | None
    request_id: str | None


@dataclass
class Run:
    answers: list[Answer] = field(default_factory=list)
    restart_started: float = 0.0
    restart_done: float = 0.0
    stop: bool = False


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def run_cli(*arguments: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [REGSOSEK, *arguments], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"regsosek {' '.join(arguments)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def start_gateway(
    *, port: int, workers: int, env: dict[str, str], log_path: Path
) -> subprocess.Popen[bytes]:
    with log_path.open("wb") as log_file:
        return subprocess.Popen(
            [REGSOSEK, "serve", "--port", str(port), "--workers", str(workers)],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )


def generous_policies(directory: Path) -> Path:
    shutil.copytree(
        REPO / "policies", directory, ignore=shutil.ignore_patterns("*.py", "__pycache__")
    )
    for program_file in (directory / "programs").glob("*.yaml"):
        program = yaml.safe_load(program_file.read_text())
        program["quota"] = {"requests_per_minute": 1_000_000, "rows_per_day": 1_000_000_000}
        program_file.write_text(yaml.safe_dump(program, sort_keys=False))
    return directory


async def prepare_database(server: str, *, env: dict[str, str], fresh: bool) -> str:
    """The bench database, migrated and seeded (reused when it already holds the households)."""
    url = with_database(server, DATABASE)
    admin = await asyncpg.connect(with_database(server, "postgres"))
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE)
        if exists and fresh:
            await admin.execute(f"DROP DATABASE {DATABASE} WITH (FORCE)")
            exists = False
        if not exists:
            await admin.execute(f"CREATE DATABASE {DATABASE}")
    finally:
        await admin.close()
    env = {**env, "DATABASE_URL": url}
    await asyncio.to_thread(run_cli, "db", "upgrade", env=env)
    connection = await asyncpg.connect(url)
    try:
        count = await connection.fetchval("SELECT count(*) FROM households")
    finally:
        await connection.close()
    if count != HOUSEHOLDS:
        print(f"seeding {HOUSEHOLDS:,} households …", flush=True)
        await asyncio.to_thread(
            run_cli, "seed", "--households", str(HOUSEHOLDS), "--replace", env=env
        )
    return url


def pg_cluster() -> tuple[str, str]:
    listed = subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True, text=True)
    version, cluster = listed.stdout.split()[:2]
    return version, cluster


async def restart_postgres(run: Run) -> None:
    version, cluster = pg_cluster()
    print(
        f"!!! restarting the machine's PostgreSQL {version}/{cluster}:"
        " every session on it breaks for a moment",
        flush=True,
    )
    run.restart_started = time.monotonic()
    done = await asyncio.to_thread(
        subprocess.run,
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, cluster, "restart"],
        capture_output=True,
        text=True,
    )
    run.restart_done = time.monotonic()
    if done.returncode != 0:
        print(done.stdout, done.stderr)
        raise SystemExit("pg_ctlcluster restart failed")
    print(f"PostgreSQL back after {run.restart_done - run.restart_started:.1f} s", flush=True)


async def load(
    run: Run, http: httpx.AsyncClient, *, program: str, headers: dict[str, str], turn: int
) -> None:
    queries = WORKLOAD[program]
    while not run.stop:
        query = queries[turn % len(queries)]
        turn += 1
        sent = time.monotonic()
        try:
            response = await http.post("/graphql", json={"query": query}, headers=headers)
            code = None
            if response.status_code != 200:
                try:
                    code = response.json()["errors"][0]["extensions"]["code"]
                except (ValueError, KeyError, IndexError, TypeError):
                    code = "unparsable"
            answer = Answer(
                sent,
                time.monotonic(),
                str(response.status_code),
                code,
                response.headers.get("x-request-id"),
            )
        except httpx.HTTPError as error:
            answer = Answer(
                sent, time.monotonic(), f"no answer ({type(error).__name__})", None, None
            )
            await asyncio.sleep(0.05)
        run.answers.append(answer)


async def wait_ready(http: httpx.AsyncClient, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("regsosek serve exited while starting")
        try:
            if (await http.get("/readyz")).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.25)
    raise SystemExit("regsosek serve did not become ready")


async def audited(url: str, request_ids: list[str]) -> dict[str, str]:
    for _ in range(20):  # the shared server may still be busy coming back
        try:
            connection = await asyncpg.connect(url)
            break
        except (OSError, asyncpg.PostgresError):
            await asyncio.sleep(0.5)
    else:
        raise SystemExit("cannot reach the bench database to check the audit trail")
    try:
        rows = await connection.fetch(
            "SELECT request_id, outcome FROM audit_events WHERE request_id = ANY($1::text[])",
            request_ids,
        )
    finally:
        await connection.close()
    return {row["request_id"]: row["outcome"] for row in rows}


def timeline(run: Run, *, step: float = 0.5) -> None:
    """Answers by the half second they arrived in, around the restart."""
    print("answers by arrival (s after the restart began): 200 / other, slowest")
    start = -1.0
    end = run.restart_done - run.restart_started + 2.0
    while start < end:
        bucket = [
            a for a in run.answers if start <= a.received - run.restart_started < start + step
        ]
        ok = sum(1 for a in bucket if a.status == "200")
        slowest = max((a.received - a.sent for a in bucket), default=0.0)
        print(f"  {start:+5.1f} {ok:>5} / {len(bucket) - ok:<5} {slowest:6.2f} s")
        start += step


def report(run: Run, *, started: float) -> list[str]:
    """Print what the clients saw; return what went wrong."""
    problems: list[str] = []
    by_status = Counter((a.status, a.code) for a in run.answers)
    print(f"\n{len(run.answers):,} requests in {run.answers[-1].received - started:.1f} s")
    for (status, code), count in sorted(by_status.items()):
        print(f"  {status:>24} {code or '':<18} {count:>7,}")
    if any(a.status == "500" for a in run.answers):
        problems.append("some answers were 500")
    failed = [a for a in run.answers if a.status != "200"]
    if failed:
        first, last = min(a.received for a in failed), max(a.received for a in failed)
        print(
            f"clients saw failures from {first - run.restart_started:+.2f} s to"
            f" {last - run.restart_started:+.2f} s after the restart began"
        )
    timeline(run)
    back = [a for a in run.answers if a.status == "200" and a.sent >= run.restart_done]
    if not back:
        problems.append("nothing was served after the restart")
        return problems
    recovery = min(a.received for a in back) - run.restart_done
    steady = max((a.received for a in failed), default=run.restart_done) - run.restart_done
    print(
        f"PostgreSQL down (restart) {run.restart_done - run.restart_started:.2f} s;"
        f" first 200 after it accepted connections: {recovery:.2f} s;"
        f" last failure {max(steady, 0):.2f} s after it"
    )
    if max(recovery, steady) >= RECOVERY_LIMIT:
        problems.append(
            f"recovery took {max(recovery, steady):.1f} s (limit {RECOVERY_LIMIT:.0f} s)"
        )
    return problems


async def bench(arguments: argparse.Namespace) -> int:
    server = plain_url(
        os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    # Kept between runs: the data directory holds the master secret that seals the
    # bench database's signing key (``--fresh`` starts both over).
    work = Path(tempfile.gettempdir()) / DATABASE
    if arguments.fresh:
        shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(work / "policies", ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "REGSOSEK_DATA_DIR": str(work / "data"),
        "REGSOSEK_POLICY_DIR": str(generous_policies(work / "policies")),
        "REGSOSEK_LOG_LEVEL": "WARNING",
    }
    url = await prepare_database(server, env=env, fresh=arguments.fresh)
    env["DATABASE_URL"] = url
    port = free_port()
    env["REGSOSEK_ISSUER"] = f"http://127.0.0.1:{port}"
    credentials = {
        program: json.loads(run_cli("client", "create", "--program", program, "--json", env=env))
        for program in WORKLOAD
    }
    log_path = work / "serve.log"
    process = start_gateway(port=port, workers=arguments.workers, env=env, log_path=log_path)
    run = Run()
    limits = httpx.Limits(max_connections=arguments.clients * 2)
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", timeout=30, limits=limits
        ) as http:
            await wait_ready(http, process)
            headers = {}
            for program, pair in credentials.items():
                token = await http.post(
                    "/oauth/token",
                    data={"grant_type": "client_credentials"},
                    auth=(pair["client_id"], pair["client_secret"]),
                )
                token.raise_for_status()
                headers[program] = {"Authorization": f"Bearer {token.json()['access_token']}"}
            programs = list(WORKLOAD)
            print(
                f"gateway pid {process.pid} on port {port}, {arguments.workers} workers;"
                f" {arguments.clients} clients for {arguments.seconds} s,"
                f" restart at {arguments.restart_at} s",
                flush=True,
            )
            started = time.monotonic()
            loops = [
                asyncio.create_task(
                    load(
                        run,
                        http,
                        program=programs[i % len(programs)],
                        headers=headers[programs[i % len(programs)]],
                        turn=i,
                    )
                )
                for i in range(arguments.clients)
            ]
            await asyncio.sleep(arguments.restart_at)
            if arguments.no_restart:
                run.restart_started = run.restart_done = time.monotonic()
            else:
                await restart_postgres(run)
            await asyncio.sleep(max(0.0, arguments.seconds - (time.monotonic() - started)))
            run.stop = True
            await asyncio.gather(*loops)
            health = await http.get("/healthz")
        still_same_process = process.poll() is None and health.status_code == 200
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
    problems = report(run, started=started)
    if not still_same_process:
        problems.append("the gateway did not survive the restart")
    served = [a.request_id for a in run.answers if a.status == "200" and a.request_id]
    outcomes = await audited(url, served)
    missing = [r for r in served if outcomes.get(r) != "allowed"]
    print(f"{len(served):,} answers 200, {len(served) - len(missing):,} with their audit event")
    if missing:
        problems.append(f"{len(missing)} answers 200 without an 'allowed' audit event")
    verify = await asyncio.to_thread(
        subprocess.run,
        [REGSOSEK, "audit", "verify"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    print("regsosek audit verify:", "passes" if verify.returncode == 0 else "FAILS")
    print("  " + "\n  ".join(verify.stdout.strip().splitlines()[-4:]))
    if verify.returncode != 0:
        problems.append("the audit chain does not verify")
    server_log = log_path.read_text(errors="replace")
    tracebacks = server_log.count("Traceback")
    print(f"gateway log: {tracebacks} tracebacks ({log_path})")
    if problems:
        print("\nFAILED: " + "; ".join(problems))
        return 1
    print("\nOK: no 500, recovered in time, every 200 audited, chain intact, no gateway restart")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=25.0, help="length of the load")
    parser.add_argument("--restart-at", type=float, default=6.0, help="restart after (s)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent client loops")
    parser.add_argument("--workers", type=int, default=2, help="gateway worker processes")
    parser.add_argument("--fresh", action="store_true", help="drop and reseed the database")
    parser.add_argument(
        "--no-restart", action="store_true", help="try the harness without touching PostgreSQL"
    )
    raise SystemExit(asyncio.run(bench(parser.parse_args())))


if __name__ == "__main__":
    main()
