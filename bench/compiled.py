"""The gateway's own compiled SQL for each benchmark query, captured from its engine.

``schema.execute.Engine`` runs the query for program dinsos-pkh against a
reader whose connection records ``fetchrow(sql, *args)`` instead of asking
PostgreSQL. Which argument carries the request's variable is found by
probing: the variable is given a value no constant can equal, and exactly one
argument must equal it. The floors then bind the same SQL with each request's
value at that position.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from bench.databases import PROGRAM
from bench.queries import Query, variables
from policies import PolicySet
from policies.loader import PACKAGED_POLICY_DIR
from schema.execute import Caller, Engine
from schema.sealed_cursors import CursorKeys
from schema.stats_count import REGISTRY_VERSION, STATISTICS_ON

PROBES: dict[str, tuple[Any, Any]] = {
    # variable: (value sent in the GraphQL request, value expected among the SQL arguments)
    "region": ("3509999", "3509999"),
    "id": ("987654321012345", 987654321012345),
}


@dataclass(frozen=True)
class CompiledQuery:
    name: str
    sql: str
    args: list[Any]
    """Arguments as compiled for the probe value."""
    slot: int | None
    """Index in ``args`` of the request's variable; None when the query has none."""
    kind: str | None
    """``int`` or ``text``: how the floor converts the variable."""
    json_text: bool = True
    """The statement returns the JSON text (``SELECT data::text, hids, pids``); otherwise
    rows that the gateway turns into the answer in Python (``householdStats``)."""
    settings: dict[str, str] = field(default_factory=dict)
    """Settings the gateway gives the statement's transaction (``set_config`` literals)."""
    gated: str | None = None
    """The statement as the gateway sends it when it sets its own program (the program is
    its last argument); None when the gateway opens a transaction with ``SET LOCAL``."""

    def bind(self, value: Any) -> list[Any]:
        args = list(self.args)
        if self.slot is not None:
            args[self.slot] = int(value) if self.kind == "int" else str(value)
        return args

    def as_json(self) -> dict[str, Any]:
        return {"sql": self.sql, "args": self.args, "slot": self.slot, "kind": self.kind}

    def as_sent(self, program: str) -> CompiledQuery | None:
        """The statement exactly as the gateway sends it (setting its own program), if it does."""
        if self.gated is None:
            return None
        return CompiledQuery(
            self.name, self.gated, [*self.args, program], self.slot, self.kind, self.json_text
        )

    def options(self) -> str:
        """``PGOPTIONS`` giving a session what the gateway gives this statement."""
        return " ".join(f"-c {name}={value}" for name, value in self.settings.items())


GATE = re.compile(
    r"^SELECT \* FROM \((?P<inner>.*)\) AS gated WHERE \(SELECT set_config\("
    r"'regsosek\.program', \$(?P<last>\d+)::text, true\)\) = \$(?P=last)::text$",
    re.DOTALL,
)
SET_CONFIG = re.compile(r"set_config\('([a-z_.]+)', '([^']*)', true\)")


META_ROWS: dict[str, tuple[Any, ...]] = {
    # householdStats asks for the registry's version (its counts' cache key) and saves the
    # settings it changes before its statement; the answers only need the right shape.
    REGISTRY_VERSION: (0, 0, None, date(2026, 1, 1)),
    STATISTICS_ON: ("4", "2", "force_generic_plan", "on", "1.1", "2", "auto"),
}
"""Rows the recorder answers for the statements around a statement, recorded as ``meta``."""


class _Recorder:
    """Stands in for the read transaction's connection: records, answers nothing but the
    ``META_ROWS`` statements."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, tuple[Any, ...]]] = []

    async def fetchrow(self, sql: str, *args: Any) -> tuple[Any, ...] | None:
        if sql in META_ROWS:
            self.calls.append(("meta", sql, args))
            return META_ROWS[sql]
        self.calls.append(("fetchrow", sql, args))
        return None

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        self.calls.append(("fetch", sql, args))
        return []

    async def fetchval(self, sql: str, *args: Any) -> str:
        self.calls.append(("fetchval", sql, args))
        return "4"

    async def execute(self, sql: str, *args: Any) -> str:
        self.calls.append(("execute", sql, args))
        return ""


class _RecordingReader:
    def __init__(self) -> None:
        self.connection = _Recorder()

    @asynccontextmanager
    async def transaction(self, program: str) -> AsyncIterator[_Recorder]:
        yield self.connection

    async def fetch(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[None]:
        """Statements that set their own program (one round trip each, no transaction)."""
        for sql, arguments in statements:
            await self.connection.fetchrow(sql, *arguments)
        return [None] * len(statements)


def _engine(reader: _RecordingReader, pseudonym_key: bytes) -> tuple[Engine, PolicySet]:
    from api.graphql.roots import value_roots
    from policies import PolicyStore

    store = PolicyStore(PACKAGED_POLICY_DIR)
    keys = CursorKeys(os.urandom(32))  # the benchmark's queries select no cursors
    # No pool: chainStatus, the one root that keeps one, is not asked for here.
    roots = value_roots(policies=store, pool=None, keys=keys)  # type: ignore[arg-type]
    engine = Engine(reader=reader, pseudonym_key=pseudonym_key, cursor_keys=keys, value_roots=roots)
    policies = store.current
    engine.load(policies)
    return engine, policies


def gateway_root_fields(*, pseudonym_key: bytes) -> set[str]:
    """The root fields of dinsos-pkh's schema on this tree that something answers."""
    from schema.compiler.roots import ROOTS

    engine, _ = _engine(_RecordingReader(), pseudonym_key)
    query_type = engine.runtimes[PROGRAM].graphql.query_type
    fields = set(query_type.fields) if query_type else set()
    return {name for name in fields if name in ROOTS or name in engine.value_roots}


async def compile_queries(
    queries: list[Query], *, pseudonym_key: bytes
) -> dict[str, CompiledQuery]:
    """Each query's statement exactly as the gateway would send it for dinsos-pkh."""
    reader = _RecordingReader()
    engine, policies = _engine(reader, pseudonym_key)
    caller = Caller("bench", policies.programs[PROGRAM])
    compiled: dict[str, CompiledQuery] = {}
    for query in queries:
        reader.connection.calls.clear()
        probe = PROBES[query.variable] if query.variable else None
        execution = await engine.execute(
            caller,
            query=query.gateway,
            variables=variables(query, probe[0]) if probe else None,
            operation_name=None,
        )
        if execution.error is not None:
            raise RuntimeError(f"{query.name} does not compile: {execution.error.message}")
        calls = reader.connection.calls
        reads = [call for call in calls if call[0] in ("fetchrow", "fetch")]
        if len(reads) != 1:
            raise RuntimeError(f"{query.name}: expected one statement, got {len(reads)}")
        method, sql, args = reads[0]
        gated = None
        found = GATE.match(sql)
        if found is not None and found["last"] == str(len(args)):
            # The gateway sent it wrapped to set its own program: keep the wrapped form
            # for the systems that mimic the gateway's work, the statement for the floors.
            gated, sql, args = sql, found["inner"], args[:-1]
        before = calls[: calls.index(reads[0])]
        settings = {
            name: value for _, text, _ in before for name, value in SET_CONFIG.findall(text)
        }
        slot = kind = None
        if probe is not None:
            slots = [i for i, arg in enumerate(args) if arg == probe[1]]
            if len(slots) != 1:
                raise RuntimeError(f"{query.name}: cannot tell which argument is ${query.variable}")
            slot = slots[0]
            kind = "int" if isinstance(probe[1], int) else "text"
        compiled[query.name] = CompiledQuery(
            query.name, sql, list(args), slot, kind, method == "fetchrow", settings, gated
        )
    return compiled
