"""Prometheus metrics and ``GET /metrics``.

With several workers (``regsosek serve --workers N``), ``PROMETHEUS_MULTIPROC_DIR``
is set under the data directory before they start: every worker writes its
samples there, and ``/metrics``, whichever worker answers it, adds up all of
them (gauges as the sum, minimum or maximum over live workers, as each says).

Nothing personal is exported: the labels are endpoints, HTTP methods and
statuses, program names from the policy, outcomes, pool and replica names
(``host:port``) and the policy version. ``/metrics`` needs no token; the proxy
in front does not forward it (Prometheus scrapes each gateway directly).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Final

import asyncpg
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.requests import Request
from starlette.responses import Response

from api.state import gateway_state
from policies import PolicySet, PolicyStore

LATENCY_BUCKETS: Final = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
BATCH_BUCKETS: Final = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2000)

HTTP_REQUESTS = Counter(
    "regsosek_http_requests",
    "HTTP requests by endpoint (route), method and status.",
    ["endpoint", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "regsosek_http_request_duration_seconds",
    "Time from the request's arrival to the end of its response, by endpoint.",
    ["endpoint"],
    buckets=LATENCY_BUCKETS,
)
REQUESTS = Counter(
    "regsosek_requests",
    "Audited requests (/graphql, /oauth/token) by endpoint, program and outcome.",
    ["endpoint", "program", "outcome"],
)
ROWS_DISCLOSED = Counter(
    "regsosek_rows_disclosed",
    "Registry rows disclosed in allowed answers, by program.",
    ["program"],
)
QUOTA_REFUSALS = Counter(
    "regsosek_quota_refusals",
    "GraphQL requests refused RATE_LIMITED by the program's quotas, by program.",
    ["program"],
)
AUDIT_WAIT = Histogram(
    "regsosek_audit_write_seconds",
    "Time a request waits until its audit event is committed.",
    buckets=LATENCY_BUCKETS,
)
AUDIT_STEP = Histogram(
    "regsosek_audit_chain_step_seconds",
    "Duration of one audit chain step (lock, append a batch, commit).",
    buckets=LATENCY_BUCKETS,
)
AUDIT_BATCH = Histogram(
    "regsosek_audit_batch_events",
    "Events appended by one audit chain step (group commit).",
    buckets=BATCH_BUCKETS,
)
AUDIT_FAILURES = Counter(
    "regsosek_audit_write_failures",
    "Audit chain steps that failed; their requests were answered UNAVAILABLE.",
)
POOL_CONNECTIONS = Gauge(
    "regsosek_db_pool_connections",
    "Open connections of each database pool, over all workers.",
    ["pool"],
    multiprocess_mode="livesum",
)
POOL_IDLE = Gauge(
    "regsosek_db_pool_idle_connections",
    "Idle connections of each database pool, over all workers.",
    ["pool"],
    multiprocess_mode="livesum",
)
POOL_MAX = Gauge(
    "regsosek_db_pool_max_connections",
    "Connection limit of each database pool, over all workers.",
    ["pool"],
    multiprocess_mode="livesum",
)
READS = Counter(
    "regsosek_read_transactions",
    "Registry read transactions by where they ran (primary or replica host:port).",
    ["target"],
)
REPLICA_UP = Gauge(
    "regsosek_read_replica_up",
    "1 while the read replica gets reads, 0 while some worker has it marked down.",
    ["replica"],
    multiprocess_mode="livemin",
)
REPLICA_FAILURES = Counter(
    "regsosek_read_replica_failures",
    "Times a read replica was marked down (its reads went elsewhere).",
    ["replica"],
)
POLICY_VERSION = Gauge(
    "regsosek_policy_version_info",
    "1 for each policy set version in force in some worker (PolicySet.version).",
    ["version"],
    multiprocess_mode="livemax",
)


class ReadMetrics:
    """``db.reader.ReadObserver`` feeding the read and replica series."""

    def __init__(self, replicas: list[str]) -> None:
        self._reads: dict[str, Counter] = {}
        for replica in replicas:
            REPLICA_UP.labels(replica).set(1)
            REPLICA_FAILURES.labels(replica)

    def read_on(self, target: str) -> None:
        counter = self._reads.get(target)
        if counter is None:
            counter = self._reads[target] = READS.labels(target)
        counter.inc()

    def target_down(self, target: str) -> None:
        REPLICA_UP.labels(target).set(0)
        REPLICA_FAILURES.labels(target).inc()

    def target_up(self, target: str) -> None:
        REPLICA_UP.labels(target).set(1)


class PoolSampler:
    """Copies each pool's size and idle count into the gauges (every ``every`` seconds)."""

    def __init__(self, pools: Mapping[str, asyncpg.Pool], *, every: float = 2.0) -> None:
        self.pools = dict(pools)
        self.every = every

    def sample(self) -> None:
        for name, pool in self.pools.items():
            POOL_CONNECTIONS.labels(name).set(pool.get_size())
            POOL_IDLE.labels(name).set(pool.get_idle_size())
            POOL_MAX.labels(name).set(pool.get_max_size())

    async def run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(self.every)


def _track_policy_version(store: PolicyStore) -> Callable[[], None]:
    POLICY_VERSION.labels(store.current.version).set(1)
    in_force = [store.current.version]

    def reloaded(policies: PolicySet) -> None:
        POLICY_VERSION.labels(in_force[0]).set(0)
        POLICY_VERSION.labels(policies.version).set(1)
        in_force[0] = policies.version

    return store.subscribe(reloaded)


@asynccontextmanager
async def observing(
    *, policies: PolicyStore, pools: Mapping[str, asyncpg.Pool], multiprocess_dir: Path | None
) -> AsyncIterator[PoolSampler]:
    """For the app's lifetime: pool gauges, the policy version; a clean exit for the worker."""
    unsubscribe = _track_policy_version(policies)
    sampler = PoolSampler(pools)
    task = asyncio.create_task(sampler.run(), name="pool-sampler")
    try:
        yield sampler
    finally:
        unsubscribe()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if multiprocess_dir is not None:
            # Live gauges of this worker stop counting; its counters stay in the totals.
            multiprocess.mark_process_dead(os.getpid(), str(multiprocess_dir))  # type: ignore[no-untyped-call]


def prepare_multiprocess_dir(directory: Path) -> Path:
    """Create the samples directory and remove what an earlier run left (before workers start)."""
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    return directory


def render(multiprocess_dir: Path | None) -> bytes:
    """The exposition text: this process's registry, or every worker's samples."""
    if multiprocess_dir is None:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(multiprocess_dir))  # type: ignore[no-untyped-call]
    return generate_latest(registry)


async def metrics(request: Request) -> Response:
    """``GET /metrics`` (Prometheus text format), unauthenticated, nothing personal."""
    state = gateway_state(request.app)
    state.pool_sampler.sample()
    directory = state.settings.prometheus_multiproc_dir
    body = await asyncio.to_thread(render, directory) if directory else render(None)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
