"""The GraphQL engine's start-up: its read pools (replicas, else the primary), the engine with
every program's schema, and its rebuild on each policy reload (SIGHUP).

``start_graphql`` is entered by the app's lifespan (``api.app``) and yields a
``GraphQLRuntime``: the engine and the pools it reads through.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import asyncpg

from api.database import read_database_urls
from api.graphql.roots import mutation_roots, value_roots
from api.observability.metrics import ReadMetrics
from api.quotas import QuotaKeeper
from api.settings import Settings
from audit.signing import SigningKeySource
from db.engine import create_pool
from db.reader import RegistryReader, refuse_bypassing_role, reset_connection
from db.writes import WritePool
from policies import PolicyStore
from schema.execute import Engine
from schema.overlap import AssistanceOverlapRoot
from schema.protection import ProtectionPool
from schema.sealed_cursors import CursorKeys
from schema.stats import HouseholdStatsRoot
from schema.stats_store import SharedCounts

log = logging.getLogger("regsosek.graphql")

REPLICA_CONNECT_TIMEOUT = 3.0
"""Seconds before an unreachable replica counts as down (its reads go elsewhere)."""


def command_timeout(settings: Settings) -> float:
    """Seconds asyncpg waits for any statement before giving up on the connection.

    PostgreSQL's ``statement_timeout`` cancels slow statements; this bounds the
    wait when the server does not answer at all (a dead peer, a network cut).
    """
    return settings.statement_timeout_ms / 1000 + 5


def server_settings(settings: Settings) -> dict[str, str]:
    """Session settings of every gateway connection."""
    return {
        "TimeZone": "UTC",
        "jit": "off",
        "statement_timeout": str(settings.statement_timeout_ms),
        "idle_in_transaction_session_timeout": str(max(10_000, 2 * settings.statement_timeout_ms)),
    }


READ_ONLY = {"default_transaction_read_only": "on"}
"""Read pools: every transaction read-only, including the implicit one of a gated statement."""


def read_settings(settings: Settings) -> dict[str, str]:
    """Session settings of the read pools: read-only, and their prepared statements planned
    once (``Settings.read_plan_cache_mode``)."""
    return {
        **server_settings(settings),
        **READ_ONLY,
        "plan_cache_mode": settings.read_plan_cache_mode,
    }


@dataclass(frozen=True, slots=True)
class GraphQLRuntime:
    engine: Engine
    read_pools: Mapping[str, asyncpg.Pool]
    """By metrics name: ``reads:primary`` and ``reads:<replica>``."""


def cursor_keys(settings: Settings) -> CursorKeys:
    """Every program's cursor keys, from the master secret and the key generation."""
    return CursorKeys(settings.master_secret(), generation=settings.cursor_key_version)


@asynccontextmanager
async def start_graphql(
    *,
    settings: Settings,
    app_url: str,
    policies: PolicyStore,
    quotas: QuotaKeeper,
    signing: SigningKeySource | None = None,
) -> AsyncIterator[GraphQLRuntime]:
    """Read pools, the statistics' protection pool and the engine; rebuilt schemas on every
    successful policy reload. ``quotas`` is charged for the statistics' protection work;
    ``signing`` (the gateway's signing keys) signs subject reports."""
    async with AsyncExitStack() as stack:
        replicas = {}
        for name, url in read_database_urls(settings, app_url).items():
            # No connection up front: a replica that is down does not stop the gateway.
            pool = await create_pool(
                url,
                min_size=0,
                max_size=settings.pool_size,
                server_settings={**read_settings(settings), "application_name": "regsosek-reader"},
                command_timeout=command_timeout(settings),
                reset=reset_connection,
                init=refuse_bypassing_role,
                connect_timeout=REPLICA_CONNECT_TIMEOUT,
            )
            stack.push_async_callback(pool.close)
            replicas[name] = pool
        primary = await create_pool(
            app_url,
            max_size=settings.pool_size,
            server_settings=read_settings(settings),
            command_timeout=command_timeout(settings),
            reset=reset_connection,
        )
        stack.push_async_callback(primary.close)
        writes = await create_pool(
            app_url,
            min_size=0,
            max_size=max(2, settings.pool_size // 4),
            server_settings={**server_settings(settings), "application_name": "regsosek-writer"},
            command_timeout=command_timeout(settings),
            reset=reset_connection,
        )
        stack.push_async_callback(writes.close)
        reader = RegistryReader(
            primary=primary, replicas=replicas, observer=ReadMetrics(list(replicas))
        )
        stack.push_async_callback(reader.close)
        read_pools = {
            "reads:primary": primary,
            **{f"reads:{name}": pool for name, pool in replicas.items()},
        }
        keys = cursor_keys(settings)
        protection = ProtectionPool(settings.statistics_processes)
        stack.push_async_callback(protection.close)
        statistics = HouseholdStatsRoot(
            reader=reader, protector=protection, budget=quotas, shared=SharedCounts(writes)
        )
        overlap = AssistanceOverlapRoot(reader=reader, protector=protection, budget=quotas)
        pseudonym_key = settings.pseudonym_secret()
        engine = Engine(
            reader=reader,
            pseudonym_key=pseudonym_key,
            cursor_keys=keys,
            value_roots=value_roots(
                policies=policies,
                pool=primary,
                keys=keys,
                statistics=statistics,
                overlap=overlap,
                signing=signing,
                issuer=settings.issuer,
            ),
            writer=WritePool(writes),
            mutation_roots=mutation_roots(pseudonym_key=pseudonym_key),
        )
        engine.load(policies.current)
        stack.callback(policies.subscribe(engine.load))
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGHUP, policies.reload)
            stack.callback(loop.remove_signal_handler, signal.SIGHUP)
        except (NotImplementedError, RuntimeError, ValueError):
            log.warning("SIGHUP policy reload is not available in this process")
        yield GraphQLRuntime(engine=engine, read_pools=read_pools)
