"""Statistics isolation (issue 14, finding 4): while dinsos-pkh keeps four uncached
``householdStats`` in flight, does everyone else still get answers on time?

    .venv/bin/python -m bench.stats_isolation [--households 1000000] [--seconds 30]
        [--workers 2] [--q2-rate 10] [--no-control] [--fresh] [--database NAME]
    make bench-stats-isolation                        # the defaults

Seeds or reuses ``regsosek_bench_<size>`` (``bench.databases``), starts ``regsosek
serve`` (production settings, audit on; ``bench.systems``) on the shipped
policies with every program's request and row quotas raised (a load test is not
a client; the statistics budget is still charged, and dinsos-pkh's is raised
so that a long run is not cut short), makes one client per program, warms up,
then for ``--seconds``:

* dinsos-pkh: 4 loops, each sending ``householdStats`` with a
  (``hasMemberAgedUnder``, ``receivesProgram``) pair not sent before, so every
  request is a new population; each answer is data (protected) or RATE_LIMITED
  (the program's turn was taken for longer than its wait);
* bappeda-statistik: ``householdStats`` by KECAMATAN × WELFARE_DECILE twice a
  second, a population protected in the warm-up (cached);
* bps-admin, dp3akb-keluarga, kec-sumbersari: Q2, ``household(id)`` of a
  household it may see, with the fields it may read of ``bench.queries``' Q2,
  ``--q2-rate`` a second each.

Before that window, a *control* window of the same length runs the same load
without dinsos-pkh (``--no-control`` skips it): on a shared machine, the
difference between the two is what dinsos-pkh's statistics cost the others.
Requests are sent on a schedule, not after the previous answer (no coordinated
omission); latencies are measured from the scheduled send. Prints each
program's percentiles against the targets (bappeda-statistik p95 < 300 ms, Q2
p95 < 50 ms), what dinsos-pkh got done and was charged, and the CPU the
gateway (with its protection workers), PostgreSQL, this script and everything
else used: the machine is shared, and the last column says how much.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import platform
import random
import resource
import shutil
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import yaml

from api.auth.clients import create_client
from bench.databases import BenchDatabase, prepare
from bench.queries import GATEWAY_HOUSEHOLD, GATEWAY_PERSON
from bench.servers import WORK, Meter, Usage, running
from bench.systems import gateway_token, start_gateway
from db.engine import plain_url
from db.enums import AssistanceProgram
from policies import FieldMode, PolicySet, Program, load_policies
from policies.loader import PACKAGED_POLICY_DIR

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
STATS = "dinsos-pkh"
CACHED = "bappeda-statistik"
Q2_PROGRAMS = ("bps-admin", "dp3akb-keluarga", "kec-sumbersari")
TARGETS = {CACHED: 300.0, **dict.fromkeys(Q2_PROGRAMS, 50.0)}
"""p95 targets in milliseconds."""
STATS_LOOPS = 4
CACHED_EVERY = 0.5
WARM_ROUNDS = 3
QUOTA_MAX = 10**9
STATS_QUERY = (
    "query S($by: [HouseholdDimension!]!, $filter: HouseholdFilter) {"
    " householdStats(groupBy: $by, filter: $filter) { key { regionCode welfareDecile }"
    " count suppressed } }"
)
CACHED_VARIABLES = {"by": ["KECAMATAN", "WELFARE_DECILE"]}


@dataclass
class Latencies:
    """What one program's requests got: latencies of answered ones, and the refusals."""

    ms: list[float] = field(default_factory=list)
    rate_limited: int = 0
    errors: list[str] = field(default_factory=list)

    def percentile(self, share: float) -> float:
        ordered = sorted(self.ms)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def bench_policies() -> Path:
    """The shipped policies with every program's request and row quotas lifted."""
    target = WORK / "stats-isolation-policies"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(
        PACKAGED_POLICY_DIR, target, ignore=shutil.ignore_patterns("*.py", "__pycache__")
    )
    for path in (target / "programs").glob("*.yaml"):
        program = yaml.safe_load(path.read_text())
        program["quota"]["requests_per_minute"] = QUOTA_MAX
        program["quota"]["rows_per_day"] = QUOTA_MAX
        if path.stem == STATS:
            program["quota"]["statistics_seconds_per_day"] = QUOTA_MAX
        path.write_text(yaml.safe_dump(program, sort_keys=False, allow_unicode=True))
    return target


def q2_document(program: Program) -> str:
    """``bench.queries``' Q2 with only the fields ``program`` may read."""
    person = [
        f for f in GATEWAY_PERSON.split() if program.mode("Person", f) is not FieldMode.DENIED
    ]
    household = [
        name
        for name in GATEWAY_HOUSEHOLD.split(" members")[0].split()
        if program.mode("Household", name) is not FieldMode.DENIED
    ]
    if person and program.mode("Household", "members") is not FieldMode.DENIED:
        household.append(f"members {{ {' '.join(person)} }}")
    return f"query Q2($id: ID!) {{ household(id: $id) {{ {' '.join(household)} }} }}"


def new_populations() -> itertools.cycle[dict[str, Any]]:
    """dinsos-pkh's filters, each pair once (in a fixed random order), then again."""
    pairs = [
        {"hasMemberAgedUnder": years, **({"receivesProgram": p.value} if p else {})}
        for years in range(1, 100)
        for p in (None, *AssistanceProgram)
    ]
    random.Random(14).shuffle(pairs)
    return itertools.cycle(pairs)


async def ask(http: httpx.AsyncClient, token: str, query: str, variables: dict[str, Any]) -> Any:
    answer = await http.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
    )
    return answer.status_code, answer.json()


def record(latencies: Latencies, status: int, body: Any, started: float) -> None:
    if status == 200 and "errors" not in body:
        latencies.ms.append((time.perf_counter() - started) * 1000)
    elif status == 429:
        latencies.rate_limited += 1
    else:
        latencies.errors.append(f"{status}: {str(body)[:200]}")


async def on_schedule(every: float, until: float, send: Callable[[float], Awaitable[None]]) -> None:
    """Start ``send(scheduled)`` every ``every`` seconds until ``until``, without waiting."""
    tasks: list[asyncio.Task[None]] = []
    scheduled = time.perf_counter()
    while scheduled < until:
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send(scheduled)))
        scheduled += every
    await asyncio.gather(*tasks)


async def load(
    http: httpx.AsyncClient,
    *,
    tokens: dict[str, str],
    q2: dict[str, tuple[str, list[str]]],
    seconds: float,
    q2_rate: float,
    storm: bool,
    populations: itertools.cycle[dict[str, Any]],
) -> dict[str, Latencies]:
    """One timed window; without ``storm`` dinsos-pkh sends nothing (the control)."""
    results = {name: Latencies() for name in (STATS, CACHED, *Q2_PROGRAMS)}
    until = time.perf_counter() + seconds
    by = ["KECAMATAN", "WELFARE_DECILE"]

    async def stats_loop() -> None:
        while time.perf_counter() < until:
            started = time.perf_counter()
            variables = {"by": by, "filter": next(populations)}
            status, body = await ask(http, tokens[STATS], STATS_QUERY, variables)
            record(results[STATS], status, body, started)

    async def cached(started: float) -> None:
        status, body = await ask(http, tokens[CACHED], STATS_QUERY, CACHED_VARIABLES)
        record(results[CACHED], status, body, started)

    def q2_sender(name: str) -> Callable[[float], Awaitable[None]]:
        document, ids = q2[name]

        async def send(started: float) -> None:
            variables = {"id": random.choice(ids)}
            status, body = await ask(http, tokens[name], document, variables)
            record(results[name], status, body, started)

        return send

    await asyncio.gather(
        *[stats_loop() for _ in range(STATS_LOOPS if storm else 0)],
        on_schedule(CACHED_EVERY, until, cached),
        *[on_schedule(1 / q2_rate, until, q2_sender(name)) for name in Q2_PROGRAMS],
    )
    return results


async def clients(db: BenchDatabase, policies: PolicySet) -> dict[str, dict[str, str]]:
    connection = await asyncpg.connect(db.url)
    try:
        made = {}
        for name in (STATS, CACHED, *Q2_PROGRAMS):
            credentials = await create_client(
                connection, program=name, name="stats-isolation bench", policies=policies
            )
            made[name] = {
                "client_id": credentials.client_id,
                "client_secret": credentials.client_secret,
            }
        return made
    finally:
        await connection.close()


async def warm_up(
    http: httpx.AsyncClient, tokens: dict[str, str], policies: PolicySet
) -> dict[str, tuple[str, list[str]]]:
    """Protect bappeda-statistik's population; each Q2 program's visible ids and document."""
    started = time.perf_counter()
    for _ in range(WARM_ROUNDS):  # requests at once reach several gateway workers
        answers = await asyncio.gather(
            *[ask(http, tokens[CACHED], STATS_QUERY, CACHED_VARIABLES) for _ in range(4)]
        )
        for status, body in answers:
            if status != 200 or "errors" in body:
                raise RuntimeError(f"bappeda-statistik's warm-up failed: {body}")
    print(f"  bappeda-statistik's population protected in {time.perf_counter() - started:.1f} s")
    # Start the protection pools of every gateway worker (several requests at once reach
    # several workers) with dinsos-pkh populations the timed run does not use.
    started = time.perf_counter()
    await asyncio.gather(
        *[
            ask(http, tokens[STATS], STATS_QUERY, {"by": [], "filter": {"hasMemberAgedUnder": n}})
            for n in (100, 120, 140, 150) * WARM_ROUNDS
        ]
    )
    print(f"  protection pools started in {time.perf_counter() - started:.1f} s")
    q2 = {}
    for name in Q2_PROGRAMS:
        status, body = await ask(
            http, tokens[name], "{ households(first: 1000) { nodes { id } } }", {}
        )
        ids = [node["id"] for node in body["data"]["households"]["nodes"]]
        if not ids:
            raise RuntimeError(f"{name} sees no household")
        document = q2_document(policies.programs[name])
        for household_id in ids[:20]:
            await ask(http, tokens[name], document, {"id": household_id})
        q2[name] = (document, ids)
    return q2


def environment(server_url: str) -> list[str]:
    def git(*argv: str) -> str:
        done = subprocess.run(["git", *argv], capture_output=True, text=True, check=False)
        return done.stdout.strip()

    load1, load5, load15 = os.getloadavg()
    dirty = git("status", "--porcelain", "--", "api", "schema", "policies", "db")
    python = platform.python_version()
    return [
        f"commit {git('rev-parse', '--short', 'HEAD')}{' (dirty)' if dirty else ''}",
        f"machine {os.cpu_count()} cores, {platform.platform()}, Python {python}",
        f"load average before the run {load1:.2f} / {load5:.2f} / {load15:.2f} (1/5/15 min)",
        f"PostgreSQL {server_url.rsplit('@', 1)[-1]}",
    ]


def report(
    title: str,
    results: dict[str, Latencies],
    *,
    usage: Usage,
    bench_cpu: float,
    charged_ms: int | None,
) -> bool:
    print(f"\n### {title}\n")
    print(
        "\n| program | requests | answered | RATE_LIMITED | errors | p50 ms | p95 ms | p99 ms"
        " | max ms | target p95 | |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    ok = True
    for name, got in results.items():
        target = TARGETS.get(name)
        p95 = got.percentile(0.95)
        verdict = ""
        if target is not None:
            met = bool(got.ms) and p95 < target and not got.errors
            ok = ok and met
            verdict = "met" if met else "MISSED"
        print(
            f"| {name} | {len(got.ms) + got.rate_limited + len(got.errors)} | {len(got.ms)}"
            f" | {got.rate_limited} | {len(got.errors)} | {got.percentile(0.5):.1f}"
            f" | {p95:.1f} | {got.percentile(0.99):.1f} | {max(got.ms, default=float('nan')):.1f}"
            f" | {'' if target is None else f'< {target:.0f}'} | {verdict} |"
        )
    for name, got in results.items():
        for error in got.errors[:3]:
            print(f"\n{name} error: {error}")
    available = usage.seconds * (os.cpu_count() or 1)
    others = max(usage.machine_cpu_s - usage.server_cpu_s - usage.cluster_cpu_s - bench_cpu, 0.0)
    print(
        f"\nCPU over {usage.seconds:.1f} s ({available:.0f} core-seconds available):"
        f" gateway and its protection workers {usage.server_cpu_s:.1f} s,"
        f" PostgreSQL {usage.cluster_cpu_s:.1f} s (the bench database's backends"
        f" {usage.backend_cpu_s:.1f} s), this script {bench_cpu:.1f} s,"
        f" everything else {others:.1f} s ({others / available:.0%} of the machine);"
        f" machine busy {usage.machine_cpu_s / available:.0%}."
    )
    if charged_ms is not None:
        print(
            f"dinsos-pkh was charged {charged_ms / 1000:.1f} CPU seconds of protection"
            f" for {len(results[STATS].ms)} new populations."
        )
    print(f"\ntargets {'met' if ok else 'MISSED'}")
    return ok


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def measure(arguments: argparse.Namespace) -> bool:
    server_url = plain_url(os.environ.get("DATABASE_URL", DEFAULT_SERVER))
    db = await prepare(
        server_url, households=arguments.households, fresh=arguments.fresh, name=arguments.database
    )
    policy_dir = bench_policies()
    policies = load_policies(policy_dir)
    made = await clients(db, policies)
    header = environment(server_url)
    header.append(
        f"{arguments.households:,} households; regsosek serve --workers {arguments.workers};"
        f" {arguments.seconds:.0f} s; dinsos-pkh {STATS_LOOPS} loops of new populations,"
        f" bappeda-statistik every {CACHED_EVERY} s, Q2 {arguments.q2_rate:g}/s per program"
    )
    gateway = start_gateway(db, workers=arguments.workers, policies=policy_dir, name="stats-iso")
    meter = Meter(db.url, database=db.name)
    outcomes: list[tuple[str, dict[str, Latencies], Usage, float, int | None]] = []
    with running(gateway):
        tokens = {name: gateway_token(gateway, credentials) for name, credentials in made.items()}
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
        async with httpx.AsyncClient(base_url=gateway.base, timeout=60, limits=limits) as http:
            print("warming up …", flush=True)
            q2 = await warm_up(http, tokens, policies)
            populations = new_populations()
            phases = [("control: dinsos-pkh idle", False)] if arguments.control else []
            phases.append(("dinsos-pkh sending new populations", True))
            for title, storm in phases:
                print(f"{title}: {arguments.seconds:.0f} s …", flush=True)
                await asyncio.sleep(1.5)  # earlier charges reach the database first
                bench_before = own_cpu()
                charged_before = await _charged(db.url, made[STATS]["client_id"])
                results, usage = await meter.measure(
                    gateway,
                    load(
                        http,
                        tokens=tokens,
                        q2=q2,
                        seconds=arguments.seconds,
                        q2_rate=arguments.q2_rate,
                        storm=storm,
                        populations=populations,
                    ),
                )
                await asyncio.sleep(1.5)  # the gateway's quota counters reach the database
                charged = await _charged(db.url, made[STATS]["client_id"]) - charged_before
                outcomes.append(
                    (title, results, usage, own_cpu() - bench_before, charged if storm else None)
                )
        await meter.close()
    print("\n## Statistics isolation\n")
    for line in header:
        print(f"- {line}")
    verdicts = [
        report(title, results, usage=usage, bench_cpu=cpu, charged_ms=charged)
        for title, results, usage, cpu, charged in outcomes
    ]
    return verdicts[-1]


async def _charged(url: str, client_id: str) -> int:
    connection = await asyncpg.connect(url)
    try:
        spent = await connection.fetchval(
            "SELECT coalesce(sum(count), 0) FROM rate_counters"
            " WHERE scope = 'statistics_ms_per_day' AND key = $1",
            client_id,
        )
    finally:
        await connection.close()
    return int(spent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--q2-rate", type=float, default=10.0, help="Q2 per second per program")
    parser.add_argument("--fresh", action="store_true", help="seed the database again")
    parser.add_argument(
        "--control",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="first the same load without dinsos-pkh (default on)",
    )
    parser.add_argument(
        "--database", help="the bench database's name (default regsosek_bench_<size>)"
    )
    ok = asyncio.run(measure(parser.parse_args()))
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
