"""Finding 3 of issue 14: a masked NIK rebuilt from the other fields the same program reads.

The NIK is region (6) + birth date DDMMYY with 40 added to the day for women
(6) + serial (4). ``DIGITS_6_4`` shows the region and the serial; a program
that also reads the full birth date and the sex has the rest. Under the
policy dp3akb-keluarga had before (birthDate FULL) the attack rebuilds every
NIK exactly; under the shipped one (birthDate as the year) it rebuilds none,
and the best an attacker can do with the year, the age today and the sex
leaves the typical NIK more than 100 candidates.
"""

from __future__ import annotations

import statistics
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import date, timedelta
from types import MappingProxyType
from typing import Any

import asyncpg
import httpx
import orjson
import pytest

from api.graphql.startup import READ_ONLY
from db.engine import APP_ROLE, create_pool, with_user
from db.reader import RegistryReader, reset_connection
from policies import FieldMode, PolicySet, load_policies
from policies.inference import MIN_CANDIDATES
from policies.loader import PACKAGED_POLICY_DIR
from schema.execute import Caller, Engine
from schema.sealed_cursors import CursorKeys
from tests.schema.conftest import Headers
from tests.support import TEST_PSEUDONYM_KEY, TEST_SECRET

PROGRAM = "dp3akb-keluarga"
SAMPLE = 500
QUERY = "{ persons(first: %d) { nodes { id nik sex birthDate age } } }" % SAMPLE


def rebuilt(masked: str, *, born: str, sex: str) -> str | None:
    """Finding 3's attack: the NIK from its masked form, the birth date and the sex."""
    try:
        day = date.fromisoformat(born)
    except ValueError:
        return None
    dd = day.day + (40 if sex == "FEMALE" else 0)
    return f"{masked[:6]}{dd:02d}{day.month:02d}{day.year % 100:02d}{masked[-4:]}"


def candidates(masked: str, *, year: str, age: int, sex: str, today: date) -> set[str]:
    """Every NIK that agrees with what the shipped policy shows: the days of ``year`` on
    which someone born is ``age`` today, with the sex's +40."""
    start = date(int(year), 1, 1)
    found = set()
    for offset in range(366):
        day = start + timedelta(days=offset)
        if day.year != start.year:
            break
        full_years = today.year - day.year - ((today.month, today.day) < (day.month, day.day))
        if full_years == age:
            found.add(rebuilt(masked, born=day.isoformat(), sex=sex) or "")
    return found


@pytest.fixture
async def old_policy_reads(
    registry_url: str,
) -> AsyncIterator[Callable[[], Awaitable[list[dict[str, Any]]]]]:
    """dp3akb-keluarga's persons as its old policy (birthDate FULL) served them."""
    shipped = load_policies(PACKAGED_POLICY_DIR)
    program = shipped.programs[PROGRAM]
    person = {**program.fields["Person"], "birthDate": FieldMode.FULL}
    fields = {**program.fields, "Person": MappingProxyType(person)}
    old = replace(program, fields=MappingProxyType(fields))
    policies = PolicySet(
        version="old", programs=MappingProxyType({**shipped.programs, PROGRAM: old})
    )
    pool = await create_pool(
        with_user(registry_url, user=APP_ROLE, password=None),
        max_size=1,
        server_settings=READ_ONLY,
        reset=reset_connection,
    )
    engine = Engine(
        reader=RegistryReader(primary=pool),
        pseudonym_key=bytes.fromhex(TEST_PSEUDONYM_KEY),
        cursor_keys=CursorKeys(bytes.fromhex(TEST_SECRET)),
        value_roots={},
    )
    engine.load(policies)

    async def read() -> list[dict[str, Any]]:
        execution = await engine.execute(
            Caller("finding-3", old), query=QUERY, variables=None, operation_name=None
        )
        assert execution.error is None, execution.error
        assert execution.body is not None
        nodes: list[dict[str, Any]] = orjson.loads(execution.body)["data"]["persons"]["nodes"]
        return nodes

    try:
        yield read
    finally:
        await pool.close()


async def true_niks(owner: asyncpg.Connection, nodes: list[dict[str, Any]]) -> dict[str, str]:
    rows = await owner.fetch(
        "SELECT id::text, nik FROM persons WHERE id = ANY($1::bigint[])",
        [int(node["id"]) for node in nodes],
    )
    return {row["id"]: row["nik"] for row in rows}


async def test_the_attack_rebuilt_every_nik_under_the_old_policy(
    old_policy_reads: Callable[[], Awaitable[list[dict[str, Any]]]], owner: asyncpg.Connection
) -> None:
    nodes = await old_policy_reads()
    assert len(nodes) == SAMPLE
    truth = await true_niks(owner, nodes)
    hits = sum(
        rebuilt(node["nik"], born=node["birthDate"], sex=node["sex"]) == truth[node["id"]]
        for node in nodes
    )
    assert hits == SAMPLE


async def test_the_shipped_policy_leaves_no_masked_nik_rebuildable(
    http: httpx.AsyncClient, program_headers: dict[str, Headers], owner: asyncpg.Connection
) -> None:
    answer = await http.post("/graphql", json={"query": QUERY}, headers=program_headers[PROGRAM])
    assert answer.status_code == 200, answer.text
    nodes = answer.json()["data"]["persons"]["nodes"]
    event = await owner.fetchrow(
        "SELECT field_paths FROM audit_events WHERE request_id = $1",
        answer.headers["x-request-id"],
    )
    assert event is not None
    assert {"persons.nodes.nik[MASKED]", "persons.nodes.birthDate[MASKED]"} <= set(
        event["field_paths"]
    )  # the audit trail says what left, and in which mode
    assert len(nodes) == SAMPLE
    truth = await true_niks(owner, nodes)
    today: date = await owner.fetchval("SELECT current_date")
    assert all(len(node["birthDate"]) == 4 and node["birthDate"].isdigit() for node in nodes)
    assert not any(
        rebuilt(node["nik"], born=node["birthDate"], sex=node["sex"]) == truth[node["id"]]
        for node in nodes
    )
    counts = []
    for node in nodes:
        possible = candidates(
            node["nik"], year=node["birthDate"], age=node["age"], sex=node["sex"], today=today
        )
        assert truth[node["id"]] in possible  # the attacker's model is right ...
        counts.append(len(possible))
    assert statistics.median(counts) >= MIN_CANDIDATES  # ... and leaves too many to pick from
