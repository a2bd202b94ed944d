"""Timed runs: one cell (query x concurrency) over its contenders, and open-loop rates.

Every timed run is preceded by a ``CHECKPOINT`` (so no system's run pays for
another's dirty pages) and a fixed warm-up of the same system at the same
load. Runs go in rounds; within a round the contenders run in an order drawn
from a ``random.Random`` seeded with the plan's seed and the cell's name (so
it is recorded, and the same on a resumed run). A run during which the rest
of the machine used more than ``noise_pct`` of it is repeated, at most
``noise_retries`` times; the last attempt is kept and flagged if still noisy.
"""

from __future__ import annotations

import asyncio
import os
import random
import resource
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

import asyncpg
import httpx

from bench.databases import BenchDatabase
from bench.group import Contender
from bench.load import Result, lua_script, pgbench, pgbench_scripts, wrk
from bench.measurements import Measurement, OpenMeasurement, OpenRun, Run
from bench.openloop import OpenResult, k6_run
from bench.queries import Query
from bench.servers import Meter, Usage, machine_busy_ticks

if TYPE_CHECKING:
    from bench.plan import Plan
    from bench.report import Report

PLACEHOLDER = "@@VALUE@@"
T = TypeVar("T")
METRICS = {
    "wait": "regsosek_audit_write_seconds",
    "step": "regsosek_audit_chain_step_seconds",
    "batch": "regsosek_audit_batch_events",
    "latency": 'regsosek_http_request_duration_seconds{endpoint="/graphql"',
}


def request_parts(contender: Contender, query: Query) -> tuple[str, str, str]:
    """Path, and the body before and after the drawn value."""
    target = contender.target
    assert target is not None
    body = target.body(query, PLACEHOLDER if query.variable else None).decode()
    prefix, _, suffix = body.partition(PLACEHOLDER)
    return target.path(query), prefix, suffix


async def closed_loop(
    contender: Contender, query: Query, *, concurrency: int, seconds: float
) -> Result:
    if contender.pgbench_dsn is not None:
        assert contender.pgbench_sql is not None
        sql = contender.pgbench_sql[query.name]
        scripts, defines = pgbench_scripts(
            sql,
            values=contender.db.draws(query.variable),
            program=contender.pgbench_program,
        )
        return await pgbench(
            contender.pgbench_dsn,
            scripts,
            defines,
            connections=concurrency,
            seconds=seconds,
            options=sql.options(),
        )
    assert contender.target is not None
    path, prefix, suffix = request_parts(contender, query)
    script = lua_script(
        path=path,
        body_prefix=prefix,
        body_suffix=suffix,
        values=contender.db.draws(query.variable),
        headers=contender.target.headers,
    )
    return await wrk(contender.target.base, script, connections=concurrency, seconds=seconds)


async def scrape(contender: Contender) -> dict[str, float]:
    """Sums and counts of the gateway's histograms (empty when it has no /metrics)."""
    if contender.server is None or not contender.system.startswith("gateway"):
        return {}
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            response = await client.get(contender.server.base + "/metrics")
    except httpx.HTTPError:
        return {}
    found: dict[str, float] = {}
    for line in response.text.splitlines() if response.status_code == 200 else []:
        for key, name in METRICS.items():
            for part in ("sum", "count"):
                prefix = name.replace("{", f"_{part}{{", 1) if "{" in name else f"{name}_{part}"
                if line.startswith(prefix) and " " in line:
                    value = float(line.rsplit(" ", 1)[1])
                    found[f"{key}_{part}"] = found.get(f"{key}_{part}", 0.0) + value
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
    """CPU of this process's finished children: the load generators of the runs so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def own_cpu() -> float:
    """CPU of the bench itself (sampling /proc, polling PostgreSQL)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Cells:
    """Runs cells for one bench run, appending to its report."""

    def __init__(
        self,
        plan: Plan,
        report: Report,
        *,
        private_cluster: bool,
        saved: Callable[[], None] = lambda: None,
    ) -> None:
        self.plan = plan
        self.report = report
        self.private_cluster = private_cluster
        self.saved = saved
        """Called after every run: the result file then holds it."""
        self._own_cpu = 0.0
        """The bench's own CPU during the last run (known, so not counted as others')."""
        self._meters: dict[str, Meter] = {}

    def meter(self, db: BenchDatabase) -> Meter:
        if db.name not in self._meters:
            self._meters[db.name] = Meter(db.url, database=db.name)
        return self._meters[db.name]

    async def close(self) -> None:
        for meter in self._meters.values():
            await meter.close()

    async def checkpoint(self, db: BenchDatabase) -> None:
        """Wait for a quiet machine (``settle``), then ``CHECKPOINT``."""
        await settle()
        connection = await asyncpg.connect(db.url)
        try:
            await connection.execute("CHECKPOINT")
        finally:
            await connection.close()

    def others_pct(self, usage: Usage, *, server_cpu: float, client_cpu: float) -> float:
        """Machine CPU used by anything but this run's server, database and client."""
        database = usage.cluster_cpu_s if self.private_cluster else usage.backend_cpu_s
        known = server_cpu + database + client_cpu + self._own_cpu
        return max(0.0, usage.machine_cpu_s - known) / (usage.seconds * (os.cpu_count() or 1)) * 100

    async def _measured(
        self, contender: Contender, work: Callable[[], Coroutine[Any, Any, T]]
    ) -> tuple[T, Usage, float]:
        client_before, own_before = children_cpu(), own_cpu()
        coroutine = work()
        try:
            result, usage = await self.meter(contender.db).measure(contender.server, coroutine)
        finally:
            coroutine.close()  # never started when sampling failed; a no-op once it ran
        self._own_cpu = own_cpu() - own_before
        return result, usage, children_cpu() - client_before

    async def _guarded(self, label: str, work: Callable[[], Awaitable[T]]) -> T:
        """One retry after an error (a load generator or server hiccup), noted."""
        try:
            return await work()
        except (RuntimeError, OSError, asyncpg.PostgresError) as error:
            print(f"  {label}: {str(error)[:200]}; retrying in 10 s", flush=True)
            self.report.notes.append(f"{label}: one run retried after: {str(error)[:160]}")
            await asyncio.sleep(10)
            return await work()

    def _order(self, cell: str, labels: list[str]) -> list[list[str]]:
        rng = random.Random(f"{self.plan.seed}:{cell}")
        return [rng.sample(labels, len(labels)) for _ in range(self.plan.runs)]

    def _measurement(
        self, contender: Contender, query: Query, concurrency: int, phase: str
    ) -> Measurement:
        key = (
            phase,
            contender.db.households,
            contender.system,
            contender.workers,
            query.name,
            concurrency,
        )
        for m in self.report.measurements:
            if m.key == key:
                return m
        m = Measurement(
            contender.db.households,
            contender.system,
            contender.workers,
            query.name,
            concurrency,
            phase=phase,
        )
        self.report.measurements.append(m)
        return m

    async def closed(
        self, query: Query, concurrency: int, contenders: list[Contender], *, phase: str
    ) -> None:
        active = [c for c in contenders if c.supports(query)]
        sizes = sorted({c.db.households for c in active})
        cell = f"{phase} {','.join(map(str, sizes))} {query.name} c={concurrency}"
        measurements = {
            c.label + c.db.name: self._measurement(c, query, concurrency, phase) for c in active
        }
        if all(len(m.runs) >= self.plan.runs for m in measurements.values()):
            print(f"  {cell}: done in the result file, skipped", flush=True)
            return
        for m in measurements.values():
            m.runs.clear()
        by_name = {c.label + (f"@{c.db.households}" if len(sizes) > 1 else ""): c for c in active}
        rounds = self._order(cell, list(by_name))
        self.report.orders[cell] = rounds
        for number, order in enumerate(rounds, start=1):
            for name in order:
                contender = by_name[name]
                run = await self._closed_run(contender, query, concurrency, number)
                measurements[contender.label + contender.db.name].runs.append(run)
                self.saved()
                print(
                    f"  {contender.db.households:>10,} {query.name} c={concurrency:<3}"
                    f" round {number} {contender.label:<22} {run.rps:8,.0f} req/s"
                    f"  p50 {run.p50_ms:7.2f}"
                    f"  p99 {run.p99_ms:7.2f} ms  others {run.others_pct:3.0f} %"
                    + (f" (attempt {run.attempts})" if run.attempts > 1 else "")
                    + (f"  ERRORS {run.errors}" if run.errors else ""),
                    flush=True,
                )

    async def _closed_run(
        self, contender: Contender, query: Query, concurrency: int, number: int
    ) -> Run:
        label = f"{contender.db.households:,} {query.name} c={concurrency} {contender.label}"
        attempts = 0
        while True:
            attempts += 1
            await self.checkpoint(contender.db)
            await self._guarded(
                label,
                lambda: closed_loop(
                    contender, query, concurrency=concurrency, seconds=self.plan.warmup
                ),
            )
            gauges = await scrape(contender)
            result, usage, client = await self._measured(
                contender,
                lambda: self._guarded(
                    label,
                    lambda: closed_loop(
                        contender, query, concurrency=concurrency, seconds=self.plan.duration
                    ),
                ),
            )
            run = self._to_run(contender, result, usage, client)
            run.internals.update(internals(gauges, await scrape(contender), result.seconds))
            run.round, run.attempts = number, attempts
            if run.others_pct <= self.plan.noise_pct:
                return run
            if attempts > self.plan.noise_retries:
                run.noisy = True
                return run
            print(f"  {label}: others {run.others_pct:.0f} %, repeating", flush=True)

    def _to_run(self, contender: Contender, result: Result, usage: Usage, client: float) -> Run:
        n = max(1, result.requests)
        server = 0.0 if contender.server is None else usage.server_cpu_s
        run = Run(
            rps=result.rps,
            p50_ms=result.p50_ms,
            p95_ms=result.p95_ms,
            p99_ms=result.p99_ms,
            requests=result.requests,
            errors=result.errors,
            bytes_per_request=result.bytes_per_request,
            server_cpu_ms=1000 * server / n,
            pg_cpu_ms=1000 * usage.backend_cpu_s / n,
            client_cpu_ms=1000 * client / n,
            others_pct=self.others_pct(usage, server_cpu=server, client_cpu=client),
        )
        if contender.system == "gateway":
            for app, seconds in usage.backend_cpu_by_app.items():
                run.internals[f"pg_{app}_ms"] = 1000 * seconds / n
        return run

    async def open_loop(
        self, query: Query, contenders: list[Contender], *, of: Contender | None
    ) -> None:
        """Each contender at shares of its own peak, and the gateway at 80 % of ``of``'s."""
        items: dict[str, tuple[Contender, OpenMeasurement]] = {}
        for contender in contenders:
            if contender.target is None or not contender.supports(query):
                continue
            size = contender.db.households
            peaks = [
                (
                    contender.label,
                    self.report.peak(size, contender.system, contender.workers, query.name),
                )
            ]
            if contender.system.startswith("gateway") and of is not None:
                peaks.append((of.label, self.report.peak(size, of.system, of.workers, query.name)))
            for whose, peak in peaks:
                if peak != peak:  # NaN: no closed-loop figure to take a share of
                    self.report.notes.append(
                        f"open loop {query.name} {contender.label}: no peak measured"
                    )
                    continue
                shares = (0.5, 0.8, 0.95) if whose == contender.label else (0.8,)
                for share in shares:
                    m = self._open_measurement(contender, query, share=share, of=whose, peak=peak)
                    items[f"{contender.label} {100 * share:.0f}% of {whose}"] = (contender, m)
        if not items:
            return
        cell = f"open {contenders[0].db.households} {query.name}"
        if all(len(m.runs) >= self.plan.runs for _, m in items.values()):
            print(f"  {cell}: done in the result file, skipped", flush=True)
            return
        for _, m in items.values():
            m.runs.clear()
        rounds = self._order(cell, list(items))
        self.report.orders[cell] = rounds
        for number, order in enumerate(rounds, start=1):
            for name in order:
                contender, m = items[name]
                run = await self._open_run(contender, query, m.rate, number)
                m.runs.append(run)
                self.saved()
                print(
                    f"  open {query.name} round {number} {name:<40} {run.achieved_rps:7,.0f} req/s"
                    f"  p50 {run.p50_ms:7.2f}  p99 {run.p99_ms:8.2f} ms  dropped"
                    f" {run.dropped_pct:4.1f} %  others {run.others_pct:3.0f} %",
                    flush=True,
                )

    def _open_measurement(
        self, contender: Contender, query: Query, *, share: float, of: str, peak: float
    ) -> OpenMeasurement:
        key = (contender.db.households, contender.system, contender.workers, query.name, share, of)
        for m in self.report.open_loop:
            if m.key == key:
                m.peak_rps = peak
                return m
        m = OpenMeasurement(*key, peak_rps=peak)
        self.report.open_loop.append(m)
        return m

    async def _open_run(
        self, contender: Contender, query: Query, rate: float, number: int
    ) -> OpenRun:
        assert contender.target is not None
        path, prefix, suffix = request_parts(contender, query)
        label = f"open {query.name} {contender.label} at {rate:,.0f} req/s"
        attempts = 0
        while True:
            attempts += 1
            await self.checkpoint(contender.db)
            result, usage, client = await self._measured(
                contender,
                lambda: self._guarded(
                    label,
                    lambda: k6_run(
                        url=contender.target.base + path,  # type: ignore[union-attr]
                        prefix=prefix,
                        suffix=suffix,
                        values=contender.db.draws(query.variable),
                        headers=contender.target.headers,  # type: ignore[union-attr]
                        rate=rate,
                        seconds=self.plan.duration,
                        warmup=self.plan.warmup,
                    ),
                ),
            )
            timed_share = self.plan.duration / (self.plan.duration + self.plan.warmup)
            run = self._to_open_run(result, usage, client * timed_share)
            run.round, run.attempts = number, attempts
            if run.others_pct <= self.plan.noise_pct:
                return run
            if attempts > self.plan.noise_retries:
                run.noisy = True
                return run
            print(f"  {label}: others {run.others_pct:.0f} %, repeating", flush=True)

    def _to_open_run(self, result: OpenResult, usage: Usage, client: float) -> OpenRun:
        return OpenRun(
            rate=result.rate,
            achieved_rps=result.achieved_rps,
            sent=result.sent,
            dropped=result.dropped,
            p50_ms=result.p50_ms,
            p99_ms=result.p99_ms,
            max_ms=result.max_ms,
            error_rate=result.error_rate,
            client_cpu_ms=1000 * client / max(1, result.sent),
            others_pct=self.others_pct(usage, server_cpu=usage.server_cpu_s, client_cpu=client),
        )


QUIET_PCT = 15.0
"""The machine counts as quiet below this share of its CPU (half a second's sample)."""
SETTLE_LIMIT_S = 60.0


async def settle(*, window: float = 0.5) -> None:
    """Wait until the machine is quiet, at most ``SETTLE_LIMIT_S``: a system still working off
    requests its load generator gave up on (the naive peer's householdStats at 1,000,000 kept
    both cores busy for minutes) must not run into the next system's run. After the limit the
    run goes ahead and its ``others`` share shows the disturbance."""
    capacity = os.sysconf("SC_CLK_TCK") * window * (os.cpu_count() or 1)
    deadline = time.monotonic() + SETTLE_LIMIT_S
    while time.monotonic() < deadline:
        before = machine_busy_ticks()
        await asyncio.sleep(window)
        if 100 * (machine_busy_ticks() - before) / capacity < QUIET_PCT:
            return
    print(f"  the machine is still busy after {SETTLE_LIMIT_S:.0f} s; going on", flush=True)
