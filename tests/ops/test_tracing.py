"""OpenTelemetry tracing: a caller's ``traceparent`` is continued, echoed, logged and audited.

On: an in-memory exporter stands in for the OTLP one (``create_app(span_exporter=…)``);
the spans of a request carry the caller's trace id, PostgreSQL statements are child spans,
and the statements of background tasks start no trace of their own. Off (no endpoint):
OpenTelemetry is never imported, and a valid ``traceparent`` still reaches the answer,
the log line and the audit event.
"""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import httpx
import orjson
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, format_span_id, format_trace_id

from api.app import create_app
from api.observability.logs import configure_logging
from api.observability.tracing import parse_traceparent, traces_endpoint, tracing_enabled
from api.settings import Settings
from api.state import gateway_state
from db.engine import database_name
from tests.schema.conftest import token_headers
from tests.support import (
    REPO,
    cli_env,
    create_database,
    drop_database,
    make_settings,
    running,
)

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE}-{PARENT}-01"
QUERY = "{ households(first: 2) { nodes { id } } }"


@pytest.mark.parametrize(
    ("header", "trace_id"),
    [
        (TRACEPARENT, TRACE),
        (f" 00-{TRACE}-{PARENT}-00 ", TRACE),  # not sampled: still the caller's trace
        (f"01-{TRACE}-{PARENT}-01-later-fields", TRACE),  # a later version may add fields
        (f"00-{TRACE}-{PARENT}-01-extra", None),  # version 00 has exactly four
        (f"ff-{TRACE}-{PARENT}-01", None),
        (f"00-{'0' * 32}-{PARENT}-01", None),
        (f"00-{TRACE}-{'0' * 16}-01", None),
        (f"00-{TRACE.upper()}-{PARENT}-01", None),
        (f"00-{TRACE[:-1]}-{PARENT}-01", None),
        ("", None),
    ],
)
def test_traceparent_is_read_as_w3c_trace_context_defines_it(
    header: str, trace_id: str | None
) -> None:
    found = parse_traceparent(header)
    assert (found and found.trace_id) == trace_id
    if found is not None:
        assert found.traceparent.startswith(f"00-{TRACE}-{PARENT}-")


def test_the_standard_otel_variables_switch_tracing_on_and_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("OTEL_SDK_DISABLED", raising=False)
    assert not tracing_enabled(Settings())
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")
    assert tracing_enabled(Settings())
    assert traces_endpoint(Settings()) == "http://collector:4318/v1/traces"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://other:4318/traces")
    assert traces_endpoint(Settings()) == "http://other:4318/traces"
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert not tracing_enabled(Settings())


@dataclass
class Traced:
    spans: list[ReadableSpan]
    token: httpx.Response
    query: httpx.Response
    fresh: httpx.Response
    """A query without ``traceparent``: a new trace."""
    audited: dict[str, str | None]
    """request_id → the audit event's trace_id."""
    log: list[dict[str, object]]


@pytest.fixture(scope="module")
async def traced(
    server_url: str, migrated_template_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Traced]:
    url = await create_database(server_url, template=database_name(migrated_template_url))
    exporter = InMemorySpanExporter()
    capture = io.StringIO()
    settings = make_settings(url, tmp_path_factory.mktemp("tracing"))
    try:
        async with running(create_app(settings, span_exporter=exporter)) as app:
            configure_logging(json=True, stream=capture)
            transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40002))
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
                headers = await token_headers(app, http, owner_url=url, program="dinsos-pkh")
                exporter.clear()
                await gateway_state(app).auth.registry.refresh()  # as every second, untraced
                token = await http.post(
                    "/oauth/token",
                    data={"grant_type": "client_credentials"},
                    auth=("rc_nobody", "wrong"),
                    headers={"traceparent": TRACEPARENT},
                )
                query = await http.post(
                    "/graphql",
                    json={"query": QUERY},
                    headers={**headers, "traceparent": TRACEPARENT},
                )
                fresh = await http.post("/graphql", json={"query": QUERY}, headers=headers)
                await http.get("/healthz", headers={"traceparent": TRACEPARENT})
        configure_logging(json=False)
        owner = await asyncpg.connect(url)
        try:
            rows = await owner.fetch("SELECT request_id, trace_id FROM audit_events")
        finally:
            await owner.close()
        yield Traced(
            spans=list(exporter.get_finished_spans()),
            token=token,
            query=query,
            fresh=fresh,
            audited={row["request_id"]: row["trace_id"] for row in rows},
            log=[orjson.loads(line) for line in capture.getvalue().splitlines()],
        )
    finally:
        configure_logging(json=False)
        await drop_database(url)


def _trace(span: ReadableSpan) -> str:
    return format_trace_id(span.context.trace_id)


def test_a_request_continues_the_callers_trace_down_to_postgresql(traced: Traced) -> None:
    assert traced.query.status_code == 200, traced.query.text
    mine = [span for span in traced.spans if _trace(span) == TRACE]
    (server,) = [span for span in mine if span.name == "POST /graphql"]
    assert server.kind is SpanKind.SERVER
    assert server.parent is not None
    assert format_span_id(server.parent.span_id) == PARENT
    assert server.attributes is not None
    assert server.attributes["http.route"] == "/graphql"
    statements = [span for span in mine if span.kind is SpanKind.CLIENT]
    assert statements, [span.name for span in mine]
    for statement in statements:
        assert statement.attributes is not None
        assert statement.attributes["db.system"] == "postgresql"
    # The registry read is a child of the request, and no parameter value is recorded.
    server_ids = {server.context.span_id}
    assert any(s.parent and s.parent.span_id in server_ids for s in statements)
    assert not any("db.statement.parameters" in (s.attributes or {}) for s in statements)


def test_the_answer_echoes_the_trace_with_the_server_span(traced: Traced) -> None:
    for answer, name in ((traced.token, "POST /oauth/token"), (traced.query, "POST /graphql")):
        echoed = parse_traceparent(answer.headers["traceparent"])
        assert echoed is not None
        assert echoed.trace_id == TRACE
        (server,) = [s for s in traced.spans if s.name == name and _trace(s) == TRACE]
        assert answer.headers["traceparent"] == (
            f"00-{TRACE}-{format_span_id(server.context.span_id)}-01"
        )
        assert answer.headers["x-request-id"]


def test_the_audit_event_and_the_log_line_carry_the_trace_id(traced: Traced) -> None:
    assert traced.token.status_code == 401
    for answer in (traced.token, traced.query):
        assert traced.audited[answer.headers["x-request-id"]] == TRACE
    fresh = parse_traceparent(traced.fresh.headers["traceparent"])
    assert fresh is not None
    assert fresh.trace_id != TRACE
    assert traced.audited[traced.fresh.headers["x-request-id"]] == fresh.trace_id
    lines = {line.get("request_id"): line for line in traced.log if line["event"] == "request"}
    assert lines[traced.query.headers["x-request-id"]]["trace_id"] == TRACE
    assert lines[traced.fresh.headers["x-request-id"]]["trace_id"] == fresh.trace_id


def test_only_requests_start_traces(traced: Traced) -> None:
    """The writer's commits and the registry refresh (every second) run statements outside
    any request: none of them is exported; health probes are not traced."""
    fresh = parse_traceparent(traced.fresh.headers["traceparent"])
    assert fresh is not None
    assert {_trace(span) for span in traced.spans} == {TRACE, fresh.trace_id}
    roots = [span for span in traced.spans if span.parent is None or span.parent.is_remote]
    assert sorted(span.name for span in roots) == [
        "POST /graphql",
        "POST /graphql",
        "POST /oauth/token",
    ]


UNTRACED = """
import asyncio, sys
import httpx
from api.app import create_app
from api.observability.logs import configure_logging
from api.settings import Settings
from api.state import gateway_state

async def main():
    app = create_app(Settings())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40003))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            for header in sys.argv[1:]:
                answer = await http.post(
                    "/oauth/token",
                    data={"grant_type": "client_credentials"},
                    auth=("rc_nobody", "wrong"),
                    headers={"traceparent": header},
                )
                print(answer.headers["x-request-id"], answer.headers.get("traceparent"))
    print("LOADED", *sorted(m for m in sys.modules if m.startswith("opentelemetry")))

asyncio.run(main())
"""


async def test_untraced_a_valid_traceparent_is_still_echoed_logged_and_audited(
    server_url: str, migrated_template_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Tracing off (no OTLP endpoint): no OpenTelemetry module is even imported."""
    url = await create_database(server_url, template=database_name(migrated_template_url))
    env = cli_env(url, tmp_path_factory.mktemp("untraced"))
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        env.pop(name, None)
    env["REGSOSEK_LOG_JSON"] = "true"
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            UNTRACED,
            TRACEPARENT,
            f"00-{TRACE}-{'0' * 16}-01",
            cwd=REPO,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = (stream.decode() for stream in await process.communicate())
        assert process.returncode == 0, stderr
        valid, invalid, loaded = stdout.splitlines()
        assert loaded == "LOADED"
        valid_id, echoed = valid.split()
        assert echoed == TRACEPARENT
        invalid_id, not_echoed = invalid.split()
        assert not_echoed == "None"
        owner = await asyncpg.connect(url)
        try:
            audited = dict(await owner.fetch("SELECT request_id, trace_id FROM audit_events"))
        finally:
            await owner.close()
        assert audited == {valid_id: TRACE, invalid_id: None}
        lines = [orjson.loads(line) for line in stderr.splitlines() if line.startswith("{")]
        logged = {line["request_id"]: line.get("trace_id") for line in lines if "status" in line}
        assert logged == {valid_id: TRACE, invalid_id: None}
    finally:
        await drop_database(url)
