"""``regsosek worker``: sends webhook deliveries from the queue (pgqueuer, in PostgreSQL), and
counts and protects every program's whole statistics population once for every gateway process.

Why a process of its own rather than a task inside ``regsosek serve``: the
gateway's request processes never open connections to agency URLs (their
network egress can stay closed, and an unreachable receiver never ties up
the event loop that answers requests); uvicorn's ``--workers N`` would
otherwise start N queue consumers; and the worker can be restarted, scaled
or stopped without touching the API. Any number of workers may run: the
queue hands each job to one of them (``FOR UPDATE SKIP LOCKED``), a worker
that dies mid-job gives it back when its heartbeat stops, and a release's
jobs are queued in the release's own transaction (nothing is lost between
the commit and the push). Jobs wake the worker through LISTEN/NOTIFY, so a
push follows its release (or policy change) within a second or two.

With an OTLP endpoint configured (the same ``OTEL_*`` variables as the
gateway's), every attempt is a trace of its own (``api.webhooks.delivery``).

The worker runs as the gateway role: it reads a delivery's changes under the
program's row-level security, signs with the gateway's signing key (the one
``/.well-known/jwks.json`` publishes) and appends to the same audit chain.

Statistics: when it starts and every ``schema.stats_store.FILL_EVERY`` seconds, the worker
counts and protects each program's whole ``householdStats`` population that is not stored
for the registry's current release and day (``schema.stats_fill.fill``), so that the first
request after a release, in any gateway process, reads them instead of making them. It also
brings the pseudonym directories (``schema.pseudonym_build``) up to the registry: after an
import it lists again only the families the import changed, after anything else it rebuilds
them whole, so that a program naming persons by pseudonym is answered without a scan. Every
release also queues a ``statistics_fill`` job in its own transaction, which wakes the worker
at once.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

import asyncpg
import httpx
from pgqueuer.core.qm import QueueManager
from pgqueuer.domain.models import Job
from pgqueuer.queries import Queries

from api.app import audit_writer
from api.auth.background import start_periodic, stop_periodic
from api.auth.keys import REFRESH_SECONDS, KeyStore
from api.auth.service import ensure_key_as_owner
from api.database import app_database_url
from api.observability.tracing import start_tracing
from api.settings import Settings
from api.webhooks.delivery import Deliverer, RetryPolicy
from db.engine import create_pool, plain_url
from db.releases.deliveries import ENTRYPOINT
from db.releases.ledger import STATISTICS_ENTRYPOINT
from policies import PolicyStore
from schema.pseudonym_build import build_all
from schema.stats_fill import fill
from schema.stats_store import FILL_EVERY

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

log = logging.getLogger("regsosek.webhooks")

HTTP_TIMEOUT = 10.0


@dataclass
class Worker:
    deliverer: Deliverer
    queue: QueueManager

    def stop(self) -> None:
        self.queue.shutdown.set()


@asynccontextmanager
async def webhook_worker(
    settings: Settings,
    *,
    owner_url: str,
    retry: RetryPolicy | None = None,
    span_exporter: SpanExporter | None = None,
) -> AsyncIterator[Worker]:
    """Everything the worker needs, started; ``worker.queue.run()`` consumes the queue.
    Tracing is on when the settings name an OTLP endpoint or ``span_exporter`` is given
    (tests: an in-memory exporter)."""
    app_url = app_database_url(settings, owner_url)
    async with AsyncExitStack() as stack:
        tracing = start_tracing(settings, exporter=span_exporter)
        if tracing is not None:
            tracing.start()
            stack.callback(tracing.close)
        pool = await create_pool(app_url, max_size=4)
        stack.push_async_callback(pool.close)
        await ensure_key_as_owner(settings, owner_url=owner_url)
        keys = await KeyStore.open(pool=pool, master_secret=settings.master_secret())
        refresh = [start_periodic(keys.refresh, every=REFRESH_SECONDS, name="worker-keys")]
        stack.push_async_callback(stop_periodic, refresh)
        audit = await stack.enter_async_context(audit_writer(settings, url=app_url, keys=keys))
        policies = PolicyStore(settings.resolved_policy_dir())
        http = await stack.enter_async_context(
            httpx.AsyncClient(timeout=HTTP_TIMEOUT, follow_redirects=False, trust_env=False)
        )
        pseudonym_key = settings.pseudonym_secret()
        deliverer = Deliverer(
            pool=pool,
            keys=keys,
            audit=audit,
            policies=lambda: policies.current,
            pseudonym_key=pseudonym_key,
            http=http,
            retry=retry,
            tracing=tracing,
        )
        listener = await asyncpg.connect(plain_url(app_url))
        stack.push_async_callback(listener.close)
        queue = QueueManager(Queries.from_asyncpg_connection(listener))

        async def index_releases() -> None:
            """A release's pseudonym directories, then its statistics, counted and protected.

            The directories first: updating them takes seconds, and until then a token new
            in the release is looked for by a scan (minutes at 10,000,000 households); the
            statistics take longer (30 s at that size), and until then a request counts its
            own population."""
            today = date.today()
            await build_all(pool, policies.current, pseudonym_key=pseudonym_key, today=today)
            await fill(pool, policies.current, today=today)

        indexing = [
            start_periodic(index_releases, every=FILL_EVERY, name="release-indexes", first=0)
        ]
        stack.push_async_callback(stop_periodic, indexing)

        @queue.entrypoint(STATISTICS_ENTRYPOINT, concurrency_limit=1)
        async def release_indexes(job: Job) -> None:
            await index_releases()

        @queue.entrypoint(ENTRYPOINT)
        async def deliver(job: Job) -> None:
            if job.payload is None:
                return
            await deliverer.run_job(int(job.payload.decode()))

        yield Worker(deliverer=deliverer, queue=queue)


async def run_worker(settings: Settings, *, owner_url: str) -> None:
    """Consume the queue until cancelled (SIGINT/SIGTERM in ``regsosek worker``)."""
    async with webhook_worker(settings, owner_url=owner_url) as worker:
        loop = asyncio.get_running_loop()
        for signal_number in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signal_number, worker.stop)
        log.info("webhook worker started")
        await worker.queue.run(dequeue_timeout=timedelta(seconds=30), batch_size=10)
        log.info("webhook worker stopped")
