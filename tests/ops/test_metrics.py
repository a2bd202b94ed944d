"""``GET /metrics`` and the request log after a few real requests (real PostgreSQL, real audit)."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from starlette.applications import Starlette

from api.app import create_app
from api.observability.logs import configure_logging
from api.state import gateway_state
from tests.ops.support import Series, names, scrape, tight_policies, value
from tests.schema.conftest import token_headers
from tests.support import make_settings, running

PROGRAM = "kec-sumbersari"
QUERY = "query Page($first: Int) { households(first: $first) { nodes { id headName } } }"
VARIABLES = {"first": 4}
ALLOWED = 3
"""Requests a minute the program may send here; the next one is refused RATE_LIMITED."""


@dataclass
class Traffic:
    """What a few requests left: scrapes before and after, the answers, the log records."""

    app: Starlette
    before: Series
    after: Series
    text: str
    answers: list[httpx.Response]
    unauthenticated: httpx.Response
    token: str
    log: str
    rows_audited: int


@pytest.fixture(scope="module")
async def traffic(
    server_url: str, template_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Traffic]:
    from db.engine import database_name
    from tests.support import create_database, drop_database

    url = await create_database(server_url, template=database_name(template_url))
    tmp_path: Path = tmp_path_factory.mktemp("metrics")
    policies = tight_policies(tmp_path, program=PROGRAM, requests_per_minute=ALLOWED)
    settings = make_settings(url, tmp_path, policy_dir=policies)
    capture = io.StringIO()
    try:
        async with running(create_app(settings)) as app:
            configure_logging(json=True, stream=capture)
            transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40001))
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
                _, before = await scrape(http)
                headers = await token_headers(app, http, owner_url=url, program=PROGRAM)
                answers = [
                    await http.post(
                        "/graphql", json={"query": QUERY, "variables": VARIABLES}, headers=headers
                    )
                    for _ in range(ALLOWED + 1)
                ]
                unauthenticated = await http.post("/graphql", json={"query": QUERY})
                text, after = await scrape(http)
            configure_logging(json=False)
            connection = await asyncpg.connect(url)
            try:
                rows_audited = await connection.fetchval(
                    "SELECT sum(row_count) FROM audit_events"
                    " WHERE endpoint = 'graphql' AND outcome = 'allowed' AND program = $1",
                    PROGRAM,
                )
            finally:
                await connection.close()
            yield Traffic(
                app=app,
                before=before,
                after=after,
                text=text,
                answers=answers,
                unauthenticated=unauthenticated,
                token=headers["Authorization"].removeprefix("Bearer "),
                log=capture.getvalue(),
                rows_audited=rows_audited,
            )
    finally:
        configure_logging(json=False)
        await drop_database(url)


def delta(traffic: Traffic, name: str, **labels: str) -> float:
    return value(traffic.after, name, **labels) - value(traffic.before, name, **labels)


def test_requests_are_counted_by_endpoint_program_and_outcome(traffic: Traffic) -> None:
    assert [answer.status_code for answer in traffic.answers] == [200] * ALLOWED + [429]
    requests = "regsosek_requests_total"
    graphql = {"endpoint": "graphql", "program": PROGRAM}
    assert delta(traffic, requests, **graphql, outcome="allowed") == ALLOWED
    assert delta(traffic, requests, **graphql, outcome="rate_limited") == 1
    assert delta(traffic, requests, endpoint="token", program=PROGRAM, outcome="allowed") == 1
    unauthenticated = {"endpoint": "graphql", "program": "none", "outcome": "unauthenticated"}
    assert delta(traffic, requests, **unauthenticated) == 1
    assert delta(traffic, "regsosek_quota_refusals_total", program=PROGRAM) == 1


def test_rows_disclosed_match_what_the_audit_trail_recorded(traffic: Traffic) -> None:
    returned = sum(
        len(answer.json()["data"]["households"]["nodes"]) for answer in traffic.answers[:ALLOWED]
    )
    assert returned == ALLOWED * VARIABLES["first"]
    rows = delta(traffic, "regsosek_rows_disclosed_total", program=PROGRAM)
    assert rows == traffic.rows_audited >= returned


def test_latency_histograms_per_endpoint(traffic: Traffic) -> None:
    count = "regsosek_http_request_duration_seconds_count"
    assert delta(traffic, count, endpoint="/graphql") == ALLOWED + 2
    assert delta(traffic, count, endpoint="/oauth/token") == 1
    assert delta(traffic, count, endpoint="/metrics") == 1
    buckets = {
        labels
        for name, labels in traffic.after
        if name == "regsosek_http_request_duration_seconds_bucket"
        and ("endpoint", "/graphql") in labels
    }
    assert len(buckets) >= 10
    statuses = "regsosek_http_requests_total"
    assert delta(traffic, statuses, endpoint="/graphql", method="POST", status="200") == ALLOWED
    assert delta(traffic, statuses, endpoint="/graphql", method="POST", status="429") == 1
    assert delta(traffic, statuses, endpoint="/graphql", method="POST", status="401") == 1


def test_audit_writes_are_timed_and_batches_counted(traffic: Traffic) -> None:
    audited = ALLOWED + 1 + 1 + 1  # GraphQL answers, the refusal, the token, the 401
    assert delta(traffic, "regsosek_audit_write_seconds_count") == audited
    steps = delta(traffic, "regsosek_audit_chain_step_seconds_count")
    assert steps >= 1
    assert delta(traffic, "regsosek_audit_batch_events_sum") == audited
    assert delta(traffic, "regsosek_audit_write_failures_total") == 0


def test_pools_policy_version_and_reads_are_exported(traffic: Traffic) -> None:
    for pool in ("primary", "reads:primary"):
        assert value(traffic.after, "regsosek_db_pool_connections", pool=pool) >= 1
        assert value(traffic.after, "regsosek_db_pool_max_connections", pool=pool) >= 1
        assert ("regsosek_db_pool_idle_connections", frozenset({("pool", pool)})) in traffic.after
    version = gateway_state(traffic.app).policies.current.version
    assert value(traffic.after, "regsosek_policy_version_info", version=version) == 1
    assert delta(traffic, "regsosek_read_transactions_total", target="primary") == ALLOWED


def test_metrics_expose_nothing_personal(traffic: Traffic) -> None:
    client_ids = {line["client_id"] for line in _rendered(traffic) if line.get("client_id")}
    assert client_ids
    registry_values = _registry_values(traffic)
    for secret in [traffic.token, *client_ids, *(v for v in registry_values if len(v) > 5)]:
        assert secret not in traffic.text
    assert "postgresql://" not in traffic.text
    label_values = {label_value for _, labels in traffic.after for _, label_value in labels}
    assert not label_values & {*client_ids, *registry_values}
    label_names = {
        label
        for name, labels in traffic.after
        if name.startswith("regsosek_")
        for label, _ in labels
    }
    allowed = {"endpoint", "method", "status", "program", "outcome", "pool", "target", "replica"}
    assert label_names <= allowed | {"version", "le"}


def test_the_listed_series_are_all_there(traffic: Traffic) -> None:
    assert {
        "regsosek_requests_total",
        "regsosek_rows_disclosed_total",
        "regsosek_quota_refusals_total",
        "regsosek_http_request_duration_seconds_bucket",
        "regsosek_audit_write_seconds_bucket",
        "regsosek_audit_chain_step_seconds_bucket",
        "regsosek_audit_batch_events_bucket",
        "regsosek_db_pool_connections",
        "regsosek_db_pool_idle_connections",
        "regsosek_policy_version_info",
        "regsosek_read_transactions_total",
    } <= names(traffic.after)


def _registry_values(traffic: Traffic) -> list[str]:
    values: list[str] = []
    for answer in traffic.answers[:ALLOWED]:
        for node in answer.json()["data"]["households"]["nodes"]:
            values += [node["id"], node["headName"]]
    return values


def _rendered(traffic: Traffic) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in traffic.log.splitlines()]


def test_each_request_leaves_one_json_line_with_ids_outcome_and_latency(
    traffic: Traffic,
) -> None:
    lines = [line for line in _rendered(traffic) if line["event"] == "request"]
    graphql = [line for line in lines if line["endpoint"] == "/graphql"]
    assert len(graphql) == ALLOWED + 2
    ids = [answer.headers["x-request-id"] for answer in traffic.answers]
    allowed = [line for line in graphql if line.get("outcome") == "allowed"]
    assert [line["request_id"] for line in allowed] == ids[:ALLOWED]
    first = allowed[0]
    assert first["program"] == PROGRAM
    assert first["client_id"]
    assert first["status"] == 200
    assert first["rows"] >= VARIABLES["first"]
    assert first["operation"] == "Page"
    assert first["audit_seq"] >= 1
    assert first["latency_ms"] > 0
    assert first["level"] == "info"
    assert first["logger"] == "regsosek.request"
    assert {"timestamp", "pid", "remote", "method"} <= first.keys()
    refused = [line for line in graphql if line.get("outcome") == "rate_limited"]
    assert [line["status"] for line in refused] == [429]
    assert traffic.unauthenticated.headers["x-request-id"] in {
        line["request_id"] for line in graphql if line.get("outcome") == "unauthenticated"
    }


def test_logs_carry_no_token_variables_or_registry_data(traffic: Traffic) -> None:
    text = "\n".join(orjson.dumps(line).decode() for line in _rendered(traffic))
    assert traffic.log, "the requests were logged"
    names = [v for v in _registry_values(traffic) if len(v) > 5]
    for secret in [traffic.token, *names, "households(first"]:
        assert secret not in text
    assert '"first"' not in text
