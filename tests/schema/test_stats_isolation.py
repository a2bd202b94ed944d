"""Finding 4 of issue 14: one program's new statistics populations must not stall anyone else.

dinsos-pkh may filter ``householdStats`` on ``hasMemberAgedUnder``, so every
request can ask for a new population and seconds of disclosure control. The
protection runs in worker processes, each program takes turns of its own
(``limits.concurrent_statistics``), its CPU is charged to the client's budget,
and protected populations are cached by what they count.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import yaml
from starlette.applications import Starlette

from api.app import create_app
from api.state import gateway_state
from db.engine import APP_ROLE, with_user
from errors import RateLimited
from policies import Program, load_policies
from policies.loader import PACKAGED_POLICY_DIR
from schema.compiler.statement import CompiledStatement
from schema.execute import Caller
from schema.protection import Admission, InlineProtector, ProtectionPool
from schema.stats import HouseholdStatsRoot
from schema.stats_count import TURN_WAIT_MS, count, take_turn
from schema.suppression import Dimension, Protection
from schema.suppression_table import Key
from tests.schema.conftest import Headers, error_codes, gql, token_headers
from tests.support import REPO, make_settings, running

Bearer = Callable[[str], Awaitable[Headers]]
QUERY = """query($by: [HouseholdDimension!]!, $filter: HouseholdFilter) {
  householdStats(groupBy: $by, filter: $filter) { key { regionCode welfareDecile } count suppressed }
}"""
POLICIES = load_policies(PACKAGED_POLICY_DIR)
HEAVY = ["ASSISTANCE_PROGRAM"]
"""dinsos-pkh's costliest tables: a lattice per assistance program (about a second each here)."""


async def timed(http: httpx.AsyncClient, headers: Headers, variables: dict[str, Any]) -> Any:
    started = time.perf_counter()
    status, body = await gql(http, headers, QUERY, variables)
    return status, body, time.perf_counter() - started


async def test_uncached_statistics_of_one_program_do_not_delay_another_program(
    http: httpx.AsyncClient, bearer: Bearer
) -> None:
    dinsos, bappeda = await bearer("dinsos-pkh"), await bearer("bappeda-statistik")
    cached = {"by": ["KECAMATAN", "WELFARE_DECILE"]}
    status, body, _ = await timed(http, bappeda, cached)  # protected once, cached from now on
    assert status == 200, body
    quiet = max([(await timed(http, bappeda, cached))[2] for _ in range(3)])

    storm = [
        asyncio.create_task(timed(http, dinsos, {"by": HEAVY, "filter": {"hasMemberAgedUnder": n}}))
        for n in (61, 64, 67, 70)
    ]
    await asyncio.sleep(0.2)  # the storm's counts are in, its protections under way
    during: list[float] = []
    while not all(task.done() for task in storm):
        status, body, seconds = await timed(http, bappeda, cached)
        assert status == 200, body
        during.append(seconds)
        await asyncio.sleep(0.15)  # within bappeda-statistik's 60 requests a minute
    answers = [task.result() for task in storm]

    protected = [seconds for status, _, seconds in answers if status == 200]
    refused = [body for status, body, _ in answers if status != 200]
    assert protected, answers
    assert all(error_codes(body) == ["RATE_LIMITED"] for body in refused), refused
    assert min(protected) > 3 * quiet, (protected, quiet)  # the storm is real work
    assert during
    # Under one process-wide lock bappeda's cached answer waited for dinsos-pkh's protections
    # (seconds); now it is not behind them at all.
    assert max(during) < 0.5 * min(protected), (during, protected, quiet)


class Spy:
    """The real protector, counting how many protections run at once and how many ran.

    ``hold``: seconds each protection takes at least, so that a test of turns does not depend
    on how fast this machine protects (a quiet machine protects the test registry's tables in
    milliseconds, quicker than a request's wait for its turn). ``after``: the hold starts only
    once this is set (every request has asked for its turn), so that a loaded machine, whose
    requests finish counting far apart, cannot let a late one in after an early one is done."""

    def __init__(self, *, hold: float = 0.0, after: asyncio.Event | None = None) -> None:
        self.inner = InlineProtector()
        self.running = 0
        self.most = 0
        self.calls = 0
        self.hold = hold
        self.after = after

    async def protect(
        self, counts: Mapping[Key, int], *, dimensions: Sequence[Dimension], k: int
    ) -> Protection:
        self.calls += 1
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            if self.after is not None:
                await asyncio.wait_for(self.after.wait(), timeout=30)
            if self.hold:
                await asyncio.sleep(self.hold)
            return await self.inner.protect(counts, dimensions=dimensions, k=k)
        finally:
            self.running -= 1


class Arrivals(Admission):
    """Turns as the gateway gives them, noting when each of ``expected`` requests has asked for
    one or was refused before (at its count's turn, ``schema.stats_count``)."""

    def __init__(self, *, expected: int, queue_seconds: float) -> None:
        super().__init__(queue_seconds=queue_seconds)
        self.expected = expected
        self.arrived = 0
        self.all_asked = asyncio.Event()
        self._asked: contextvars.ContextVar[list[bool]] = contextvars.ContextVar("asked")

    def _arrive(self) -> None:
        self.arrived += 1
        if self.arrived >= self.expected:
            self.all_asked.set()

    @asynccontextmanager
    async def turn(self, program: Program) -> AsyncIterator[None]:
        self._asked.get()[0] = True
        self._arrive()
        async with super().turn(program):
            yield

    async def refused_early(self, request: Awaitable[list[dict[str, Any]]]) -> list[dict[str, Any]]:
        """``request`` (run in a task of its own), counted as arrived if refused before its turn."""
        asked = [False]
        self._asked.set(asked)
        try:
            return await request
        except RateLimited:
            if not asked[0]:
                self._arrive()
            raise


class Charges:
    """A statistics budget that records what it was charged."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    def admit_statistics(self, program: Program, *, client_id: str) -> None:
        return None

    def charge_statistics(self, *, client_id: str, seconds: float) -> None:
        self.seconds.append(seconds)


@pytest.fixture
async def app_pool(registry_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(
        with_user(registry_url, user=APP_ROLE, password=None),
        min_size=0,
        max_size=6,
        server_settings={"TimeZone": "UTC", "jit": "off"},
    )
    assert pool is not None
    yield pool
    await pool.close()


async def ask(
    pool: asyncpg.Pool, root: HouseholdStatsRoot, program: Program, args: dict[str, Any]
) -> list[dict[str, Any]]:
    """One ``householdStats`` as a request runs it: a read transaction as the program."""
    async with pool.acquire() as connection, connection.transaction(readonly=True):
        await connection.execute("SELECT set_config('regsosek.program', $1, true)", program.name)
        cells: list[dict[str, Any]] = await root.value(
            caller=Caller("isolation-test", program), args=args, connection=connection
        )
        return cells


@pytest.mark.parametrize("limit", [1, 2])
async def test_a_program_protects_at_most_its_limit_at_once_and_the_rest_is_rate_limited(
    app_pool: asyncpg.Pool, limit: int
) -> None:
    program = replace(POLICIES.programs["dinsos-pkh"], concurrent_statistics=limit)
    ages = (31, 34, 37, 40)
    admission = Arrivals(expected=len(ages), queue_seconds=0.05)
    # Held ten times the wait for a turn once all have asked: the requests past the limit time out.
    spy = Spy(hold=0.5, after=admission.all_asked)
    root = HouseholdStatsRoot(protector=spy, admission=admission)
    outcomes = await asyncio.gather(
        *[
            admission.refused_early(
                ask(
                    app_pool, root, program, {"groupBy": HEAVY, "filter": {"hasMemberAgedUnder": n}}
                )
            )
            for n in ages
        ],
        return_exceptions=True,
    )
    assert spy.most == limit
    refused = [outcome for outcome in outcomes if isinstance(outcome, Exception)]
    assert refused
    assert all(isinstance(outcome, RateLimited) for outcome in refused), refused
    assert all(outcome.retry_after >= 0 for outcome in refused if isinstance(outcome, RateLimited))
    assert spy.calls == len(outcomes) - len(refused)


async def test_requests_for_a_population_being_protected_wait_for_that_protection(
    app_pool: asyncpg.Pool,
) -> None:
    program = POLICIES.programs["dinsos-pkh"]
    spy = Spy()
    root = HouseholdStatsRoot(protector=spy, admission=Admission(queue_seconds=0.05))
    args = {"groupBy": HEAVY, "filter": {"hasMemberAgedUnder": 43}}
    answers = await asyncio.gather(*[ask(app_pool, root, program, args) for _ in range(4)])
    assert spy.calls == 1
    assert all(answer == answers[0] for answer in answers)


async def test_a_filtered_count_takes_its_programs_turn_in_the_database(
    app_pool: asyncpg.Pool,
) -> None:
    """Another worker (here: another connection) holds dinsos-pkh's turn: a filtered count of
    dinsos-pkh waits, then is RATE_LIMITED; bappeda-statistik and dinsos-pkh's whole scope
    count meanwhile."""
    dinsos, bappeda = POLICIES.programs["dinsos-pkh"], POLICIES.programs["bappeda-statistik"]
    root = HouseholdStatsRoot()
    async with app_pool.acquire() as holder, holder.transaction(readonly=True):
        await take_turn(holder, dinsos)
        started = time.perf_counter()
        with pytest.raises(RateLimited):
            await ask(app_pool, root, dinsos, {"groupBy": [], "filter": {"hasMemberAgedUnder": 9}})
        waited = time.perf_counter() - started
        assert waited >= TURN_WAIT_MS / 1000
        assert await ask(app_pool, root, dinsos, {"groupBy": ["WELFARE_DECILE"]})
        assert await ask(
            app_pool, root, bappeda, {"groupBy": [], "filter": {"receivesProgram": "PKH"}}
        )
    assert await ask(app_pool, root, dinsos, {"groupBy": [], "filter": {"hasMemberAgedUnder": 9}})


async def test_a_filtered_count_runs_without_parallel_workers_and_restores_the_settings(
    app_pool: asyncpg.Pool,
) -> None:
    program = POLICIES.programs["dinsos-pkh"]
    probe = CompiledStatement(
        "SELECT current_setting('max_parallel_workers_per_gather'),"
        " current_setting('random_page_cost'), current_setting('regsosek.statistics')",
        (),
        {},
        frozenset(),
    )
    async with app_pool.acquire() as connection, connection.transaction(readonly=True):
        before = await connection.fetchrow(
            "SELECT current_setting('max_parallel_workers_per_gather'),"
            " current_setting('random_page_cost')"
        )
        assert before is not None
        for filtered, workers in ((True, "0"), (False, before[0])):
            (row,) = await count(connection, probe, params={}, program=program, filtered=filtered)
            assert tuple(row) == (workers, "1.1", "on")
            after = await connection.fetchrow(
                "SELECT current_setting('max_parallel_workers_per_gather'),"
                " current_setting('random_page_cost'), current_setting('regsosek.statistics')"
            )
            assert tuple(after) == (before[0], before[1], "off")


async def test_the_turns_of_one_program_do_not_hold_up_another(app_pool: asyncpg.Pool) -> None:
    admission = Admission(queue_seconds=0.05)
    dinsos, bps = POLICIES.programs["dinsos-pkh"], POLICIES.programs["dp3akb-keluarga"]
    async with admission.turn(dinsos):
        with pytest.raises(RateLimited):
            async with admission.turn(dinsos):
                pass
        async with admission.turn(bps):
            pass
    async with admission.turn(dinsos):
        pass


async def test_equivalent_populations_hit_the_cache_and_are_charged_once(
    app_pool: asyncpg.Pool,
) -> None:
    program = POLICIES.programs["dinsos-pkh"]
    spy, charges = Spy(), Charges()
    root = HouseholdStatsRoot(protector=spy, budget=charges)
    everyone = [
        await ask(app_pool, root, program, {"groupBy": by, "filter": filter_})
        for by, filter_ in (
            (["KECAMATAN"], {"hasMemberAgedUnder": 140}),  # every family has a member under 140
            (["WELFARE_DECILE"], {"hasMemberAgedUnder": 150}),
            (["KECAMATAN", "WELFARE_DECILE"], None),
        )
    ]
    assert spy.calls == 1
    assert len(charges.seconds) == 1
    assert charges.seconds[0] > 0
    assert sum(c["count"] or 0 for c in everyone[0]) > 0
    children = await ask(
        app_pool, root, program, {"groupBy": [], "filter": {"hasMemberAgedUnder": 5}}
    )
    assert spy.calls == 2
    assert len(charges.seconds) == 2
    assert children[0]["suppressed"] or children[0]["count"] < sum(
        c["count"] or 0 for c in everyone[0]
    )


async def test_the_pool_answers_like_the_inline_protector_from_low_priority_workers(
    app_pool: asyncpg.Pool,
) -> None:
    program = POLICIES.programs["bappeda-statistik"]
    pool = ProtectionPool(processes=2)
    try:
        args = {"groupBy": ["DESA", "WELFARE_DECILE", "HEAD_SEX"]}
        inline = await ask(app_pool, HouseholdStatsRoot(), program, args)
        pooled = await ask(app_pool, HouseholdStatsRoot(protector=pool), program, args)
        assert pooled == inline
        assert any(cell["suppressed"] for cell in pooled)
        workers = await pool.workers()
        assert len(workers) == 2
        lowered = min(19, os.getpriority(os.PRIO_PROCESS, 0) + 10)
        assert set(workers.values()) == {lowered}
    finally:
        await pool.close()


def budget_policies(tmp_path: Path, *, seconds: int) -> Path:
    directory = tmp_path / "policies"
    shutil.copytree(
        REPO / "policies", directory, ignore=shutil.ignore_patterns("*.py", "__pycache__")
    )
    program_file = directory / "programs" / "dinsos-pkh.yaml"
    program = yaml.safe_load(program_file.read_text())
    program["quota"]["statistics_seconds_per_day"] = seconds
    program_file.write_text(yaml.safe_dump(program, sort_keys=False))
    return directory


async def test_a_spent_statistics_budget_refuses_new_populations_but_serves_known_ones(
    make_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    url = await make_database()
    settings = make_settings(url, tmp_path, policy_dir=budget_policies(tmp_path, seconds=1))
    async with running(create_app(settings)) as app:
        assert isinstance(app, Starlette)
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40003))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            headers = await token_headers(app, http, owner_url=url, program="dinsos-pkh")
            first = {"by": HEAVY, "filter": {"hasMemberAgedUnder": 30}}
            status, body, _ = await timed(http, headers, first)
            assert status == 200, body
            refused = None
            for years in range(33, 80, 3):
                answer = await http.post(
                    "/graphql",
                    json={
                        "query": QUERY,
                        "variables": {"by": HEAVY, "filter": {"hasMemberAgedUnder": years}},
                    },
                    headers=headers,
                )
                if answer.status_code != 200:
                    refused = answer
                    break
            assert refused is not None, "a one-second budget was never spent"
            assert refused.status_code == 429
            assert error_codes(refused.json()) == ["RATE_LIMITED"]
            assert "CPU seconds a day" in refused.json()["errors"][0]["message"]
            assert int(refused.headers["retry-after"]) > 0
            status, body, _ = await timed(http, headers, first)  # known population: still served
            assert status == 200, body
            await gateway_state(app).quotas.sync()
    connection = await asyncpg.connect(url)
    try:
        spent = await connection.fetchval(
            "SELECT sum(count) FROM rate_counters WHERE scope = 'statistics_ms_per_day'"
        )
    finally:
        await connection.close()
    assert spent >= 1000
