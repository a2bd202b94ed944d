"""The systems under test, started together for one size and one worker count.

A ``Contender`` is one system as the load generators see it: an HTTP server
(driven by wrk or k6) or a pgbench connection string with its SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.check import ROOTS, Target
from bench.compiled import CompiledQuery
from bench.databases import PROGRAM, BenchDatabase
from bench.minimal import minimal_queries
from bench.queries import Query
from bench.servers import Server, stop
from bench.systems import (
    floor_spec,
    gateway_token,
    start_floor,
    start_gateway,
    start_peer,
    start_postgraphile,
)
from db.engine import APP_ROLE

PEER_QUERIES = ("Q1", "Q2", "Q3")


@dataclass
class Contender:
    system: str
    workers: int | None
    db: BenchDatabase
    server: Server | None = None
    target: Target | None = None
    pgbench_dsn: str | None = None
    pgbench_sql: dict[str, CompiledQuery] | None = None
    pgbench_program: str | None = None

    @property
    def label(self) -> str:
        return f"{self.system} x{self.workers}" if self.workers else self.system

    def supports(self, query: Query) -> bool:
        if self.system in ("gateway", "gateway-b"):
            return True
        if self.pgbench_sql is not None:
            return query.name in self.pgbench_sql
        if self.system == "peer":
            return query.name in PEER_QUERIES
        if self.target is not None and self.target.dialect == "floor":
            return query.name in self.target.queries
        return self.target is not None and self.target.document(query) is not None


@dataclass
class GroupSpec:
    db: BenchDatabase
    workers: int
    systems: list[str]
    compiled: dict[str, CompiledQuery]
    credentials: dict[str, str]
    policies: Path
    pool: int
    """PostGraphile's pool in each node process: the largest concurrency measured."""
    compare_tree: Path | None = None
    compare_env: dict[str, str] | None = None


def _gateway(spec: GroupSpec, name: str) -> Contender:
    server = start_gateway(
        spec.db,
        workers=spec.workers,
        policies=spec.policies,
        tree=spec.compare_tree if name == "gateway-b" else None,
        extra_env=spec.compare_env if name == "gateway-b" else None,
        name=name,
    )
    try:
        token = gateway_token(server, spec.credentials)
    except httpx.HTTPError:
        stop(server)
        raise
    target = Target(name, server.base, {"Authorization": f"Bearer {token}"})
    return Contender(name, spec.workers, spec.db, server, target)


def _floor(spec: GroupSpec, name: str) -> Contender:
    if name == "http-floor":
        sql, dsn = minimal_queries(spec.compiled), spec.db.url
    else:
        sent = {n: q.as_sent(PROGRAM) for n, q in spec.compiled.items()}
        sql, dsn = {n: q for n, q in sent.items() if q is not None}, spec.db.login(APP_ROLE)
    path = floor_spec(sql, ROOTS, name=f"{name}-{spec.db.name}")
    server = start_floor(spec.db, workers=spec.workers, spec=path, dsn=dsn, name=name)
    queries = frozenset(n for n, q in sql.items() if q.json_text)
    target = Target(name, server.base, dialect="floor", queries=queries)
    return Contender(name, spec.workers, spec.db, server, target)


def start_contender(spec: GroupSpec, system: str) -> Contender:
    if system in ("gateway", "gateway-b"):
        return _gateway(spec, system)
    if system in ("postgraphile", "postgraphile-view"):
        server = start_postgraphile(spec.db, system=system, workers=spec.workers, pool=spec.pool)
        target = Target(system, server.base, dialect="postgraphile")
        return Contender(system, spec.workers, spec.db, server, target)
    if system == "peer":
        server = start_peer(spec.db, workers=spec.workers)
        return Contender(system, spec.workers, spec.db, server, Target(system, server.base))
    if system in ("http-floor", "http-floor-rls"):
        return _floor(spec, system)
    if system == "db-floor":
        return Contender(
            system,
            None,
            spec.db,
            pgbench_dsn=spec.db.url,
            pgbench_sql=minimal_queries(spec.compiled),
        )
    if system == "db-floor-rls":
        return Contender(
            system,
            None,
            spec.db,
            pgbench_dsn=spec.db.login(APP_ROLE),
            pgbench_sql=spec.compiled,
            pgbench_program=PROGRAM,
        )
    raise ValueError(f"unknown system {system}")


def start_group(spec: GroupSpec) -> list[Contender]:
    """Every system of ``spec`` started (all or none: a failure stops those already up)."""
    contenders: list[Contender] = []
    try:
        for system in spec.systems:
            if system not in ("db-floor", "db-floor-rls"):
                print(f"[{spec.db.name}] starting {system} x{spec.workers} …", flush=True)
            contenders.append(start_contender(spec, system))
    except BaseException:
        stop_group(contenders)
        raise
    return contenders


def stop_group(contenders: list[Contender]) -> None:
    for contender in contenders:
        if contender.server is not None:
            stop(contender.server)
