"""Fixtures of the security suite: real tokens for every program, the running app, the audit trail.

Every hostile request goes through ``Probe.send``, which returns the answer and
remembers its request id; ``Probe.check`` then proves, for all of them at once,
what the suite promises for each: a clear error of the expected code, nothing
disclosed (no stack trace, SQL, table or column name, no field or type the
program may not see that the request did not name itself), an audit event with
the expected outcome, and a server that still answers a normal query.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
import yaml
from graphql import GraphQLObjectType, GraphQLSchema
from starlette.applications import Starlette

from api.app import create_app
from api.settings import Settings
from api.state import gateway_state
from db.models.base import Base
from tests.schema.conftest import CASE_REFS, Headers, token_headers
from tests.security.shifted import Shifted, shifted_gateway
from tests.support import REPO, make_settings, running

PROGRAMS = (
    "bps-admin",
    "dinsos-pkh",
    "dp3akb-keluarga",
    "dinkes-pbi",
    "kec-sumbersari",
    "bappeda-statistik",
    "inspektorat-audit",
    "dp3akb-perlindungan-anak",
)
CODES = {"FORBIDDEN", "BAD_USER_INPUT", "QUERY_TOO_COMPLEX", "RATE_LIMITED", "UNAVAILABLE"}
OUTCOME_OF = {
    "BAD_USER_INPUT": "invalid",
    "FORBIDDEN": "denied",
    "QUERY_TOO_COMPLEX": "too_complex",
    "RATE_LIMITED": "rate_limited",
    "UNAVAILABLE": "unavailable",
    "UNAUTHENTICATED": "unauthenticated",
}
STATUS_OF = {
    "BAD_USER_INPUT": 400,
    "FORBIDDEN": 403,
    "QUERY_TOO_COMPLEX": 400,
    "RATE_LIMITED": 429,
    "UNAVAILABLE": 503,
    "UNAUTHENTICATED": 401,
}

LEAKS = re.compile(
    r"Traceback|File \"|line \d+, in|asyncpg|sqlalchemy|psycopg|postgres|"
    r"\bSELECT\b|\bINSERT\b|\bWHERE\b|\bJOIN\b|json_build|current_setting|regsosek_app|"
    r"Did you mean|\bat 0x[0-9a-f]+",
    re.IGNORECASE,
)
"""What no answer may ever contain."""

ENGLISH = frozenset(
    {"to", "from", "found", "household", "id", "sequence"}
    | {"accepted", "errors", "field", "index", "kind", "message", "status", "value", "values"}
)
"""Field names (``AuditFilter.to``, ``PersonDisclosures.found``, ``Person.household``; of
CONTRACT §11: ``AssistanceReportResult.accepted``, ``RowError.message``,
``ProposedValueOut.value`` …) that are also words of the messages graphql-core and the
gateway write ("household id", "has invalid value", "are not accepted")."""


def _database_names() -> frozenset[str]:
    """Table and column names with an underscore (the others are also GraphQL words)."""
    names = {table.name for table in Base.metadata.tables.values()}
    for table in Base.metadata.tables.values():
        names.update(column.name for column in table.columns)
    return frozenset(name for name in names if "_" in name)


DATABASE_NAMES = _database_names()


def schema_names(schema: GraphQLSchema) -> set[str]:
    """Every type and field name of a program's schema (introspection types left out)."""
    names: set[str] = set()
    for type_name, graphql_type in schema.type_map.items():
        if type_name.startswith("__"):
            continue
        names.add(type_name)
        if isinstance(graphql_type, GraphQLObjectType):
            names.update(graphql_type.fields)
        fields = getattr(graphql_type, "fields", None)
        if isinstance(fields, dict):
            names.update(fields)
        values = getattr(graphql_type, "values", None)
        if isinstance(values, dict):
            names.update(values)
    return names


@dataclass
class Sent:
    program: str | None
    request: str
    response: httpx.Response
    code: str | None
    outcome: str | None
    status: int | None = None


@dataclass
class Probe:
    """Sends hostile requests as a program and checks what came back."""

    app: Starlette
    http: httpx.AsyncClient
    headers: dict[str, Headers]
    owner: asyncpg.Pool
    sent: list[Sent] = field(default_factory=list)
    _hidden: dict[str, set[str]] = field(default_factory=dict)

    def hidden(self, program: str) -> set[str]:
        """Names some program can see but ``program`` cannot."""
        if program not in self._hidden:
            runtimes = gateway_state(self.app).engine.runtimes
            everything: set[str] = set()
            for runtime in runtimes.values():
                everything |= schema_names(runtime.graphql)
            self._hidden[program] = everything - schema_names(runtimes[program].graphql)
        return self._hidden[program]

    async def post(
        self,
        program: str | None,
        body: Any,
        *,
        expect: str | None,
        outcome: str | None = None,
        status: int | None = None,
        headers: Headers | None = None,
        content_type: str = "application/json",
    ) -> httpx.Response:
        """POST /graphql as ``program`` (None: no token); ``expect`` the error code or None (200)."""
        raw = body if isinstance(body, bytes) else orjson.dumps(body)
        sent_headers = {
            **(self.headers[program] if program else {}),
            "Content-Type": content_type,
            **(headers or {}),
        }
        response = await self.http.post("/graphql", content=raw, headers=sent_headers)
        self.record(
            program, raw.decode("utf-8", "replace"), response, expect, outcome, status=status
        )
        return response

    def record(
        self,
        program: str | None,
        request: str,
        response: httpx.Response,
        expect: str | None,
        outcome: str | None = None,
        *,
        status: int | None = None,
    ) -> None:
        """Check an answer now; its audit event when ``check`` runs."""
        expected_outcome = outcome or (OUTCOME_OF[expect] if expect else "allowed")
        self.sent.append(Sent(program, request, response, expect, expected_outcome, status))
        check_answer(self, self.sent[-1])

    async def check(self) -> None:
        """Every request sent was audited with its outcome, and the gateway still serves."""
        await assert_audited(self.owner, self.sent)
        await assert_healthy(self.http, self.headers)
        self.sent.clear()


def check_answer(probe: Probe, sent: Sent) -> None:
    response = sent.response
    text = response.text
    assert response.status_code != 500, text
    assert response.headers.get("x-request-id"), text
    for leak in LEAKS.finditer(text):  # unless it echoes what the caller sent
        assert leak.group(0).lower() in sent.request.lower(), f"{leak.group(0)!r} in {text[:300]}"
    if sent.code is None:
        assert response.status_code == 200, text
        return
    # An error names nothing the caller did not name itself: no table or column, and no
    # field or type of another program (English words that are also field names aside).
    body = response.json()
    messages = " ".join(str(error.get("message")) for error in body.get("errors", []))
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", messages))
    asked = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", sent.request))
    assert not (words & DATABASE_NAMES) - asked, (words & DATABASE_NAMES, text[:300])
    if sent.program is not None:
        hidden = (words & probe.hidden(sent.program)) - asked - ENGLISH
        assert not hidden, f"{sent.program} was told of {sorted(hidden)}: {text[:300]}"
    assert "data" not in body or body["data"] is None, text
    codes = {error["extensions"]["code"] for error in body["errors"]}
    assert codes == {sent.code}, text
    assert response.status_code == (sent.status or STATUS_OF[sent.code]), text
    for error in body["errors"]:
        assert error["extensions"]["requestId"] == response.headers["x-request-id"]


async def assert_audited(owner: asyncpg.Pool, sent: Iterable[Sent]) -> None:
    expected = {s.response.headers["x-request-id"]: s for s in sent}
    rows = await owner.fetch(
        "SELECT request_id, outcome, error_code, household_ids, person_ids"
        " FROM audit_events WHERE request_id = ANY($1::text[])",
        list(expected),
    )
    found = {row["request_id"]: row for row in rows}
    missing = [expected[r].request[:80] for r in expected if r not in found]
    assert not missing, f"no audit event for {missing}"
    assert len(rows) == len(expected), "one event per request"
    for request_id, row in found.items():
        sent_request = expected[request_id]
        assert row["outcome"] == sent_request.outcome, (sent_request.request[:120], row["outcome"])
        if sent_request.code is not None:
            assert row["error_code"] == sent_request.code
            assert not row["household_ids"]
            assert not row["person_ids"]


HEALTHY_QUERY = "{ myAccess { program } }"


async def assert_healthy(http: httpx.AsyncClient, headers: dict[str, Headers]) -> None:
    """Liveness answers and a normal query still works for a program."""
    assert (await http.get("/healthz")).status_code == 200
    assert (await http.get("/readyz")).status_code == 200
    answer = await http.post(
        "/graphql", json={"query": HEALTHY_QUERY}, headers=headers["kec-sumbersari"]
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"data": {"myAccess": {"program": "kec-sumbersari"}}}


def generous_policies(directory: Path) -> Path:
    """The shipped policies with quotas no probe run reaches (the quotas have their own tests)."""
    shutil.copytree(
        REPO / "policies", directory, ignore=shutil.ignore_patterns("*.py", "__pycache__")
    )
    for program_file in (directory / "programs").glob("*.yaml"):
        program = yaml.safe_load(program_file.read_text())
        program["quota"] = {"requests_per_minute": 1_000_000, "rows_per_day": 1_000_000_000}
        program_file.write_text(yaml.safe_dump(program, sort_keys=False))
    return directory


@pytest.fixture(scope="session")
def security_settings(registry_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The shared test registry, the shipped policies but for the quotas."""
    data_dir = tmp_path_factory.mktemp("security")
    return make_settings(
        registry_url, data_dir, policy_dir=generous_policies(data_dir / "policies")
    )


@pytest.fixture(scope="session")
async def app(security_settings: Settings) -> AsyncIterator[Starlette]:
    """The gateway the suite attacks, started once."""
    async with running(create_app(security_settings)) as started:
        yield started


@pytest.fixture
async def http(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40100))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture(scope="session")
async def program_headers(app: Starlette, registry_url: str) -> dict[str, Headers]:
    """A client and a bearer token of every shipped program."""
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40100))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        return {
            program: {
                **await token_headers(app, http, owner_url=registry_url, program=program),
                **CASE_REFS.get(program, {}),
            }
            for program in PROGRAMS
        }


@pytest.fixture(scope="session")
async def owner_pool(registry_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(registry_url, min_size=1, max_size=2)
    assert pool is not None
    yield pool
    await pool.close()


@pytest.fixture
async def probe(
    app: Starlette,
    http: httpx.AsyncClient,
    program_headers: dict[str, Headers],
    owner_pool: asyncpg.Pool,
) -> AsyncIterator[Probe]:
    """Send hostile requests through ``probe.post``; they are all checked at the end."""
    checked = Probe(app, http, program_headers, owner_pool)
    yield checked
    if checked.sent:
        await checked.check()


@pytest.fixture(scope="module")
async def shifted(
    server_url: str, template_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Shifted]:
    """A gateway over a registry with 13-digit ids (``tests.security.shifted``)."""
    async with shifted_gateway(
        server_url=server_url,
        template_url=template_url,
        data_dir=tmp_path_factory.mktemp("shifted"),
        programs=PROGRAMS,
    ) as gateway:
        yield gateway
