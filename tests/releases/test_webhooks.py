"""Webhooks end to end: a receiver on loopback, the real worker and queue, real signatures."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest
import uvicorn
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, format_span_id, format_trace_id
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api.settings import Settings
from api.webhooks.delivery import RetryPolicy
from api.webhooks.signing import SIGNATURE_HEADER, BadSignature, verify_detached
from api.webhooks.targets import UnsafeTarget, check_target
from api.webhooks.worker import webhook_worker
from db import webhooks
from db.models.releases import ChangeKind
from tests.db.support import run_cli
from tests.releases.support import (
    family_numbers,
    fetch,
    gateway,
    household,
    import_release,
    rows_of,
)
from tests.support import make_settings

FAST = RetryPolicy(first_delay=0.2, longest_delay=1.0, jitter=0.0)


@dataclass
class Receiver:
    """An agency's endpoint: answers each POST with the next scripted status (then 200)."""

    statuses: list[int]
    url: str = ""
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def hook(self, request: Request) -> Response:
        self.received.append((dict(request.headers), await request.body()))
        self.arrived.set()
        status = self.statuses.pop(0) if self.statuses else 200
        return JSONResponse({"received": status == 200}, status_code=status)

    async def wait_for(self, count: int) -> None:
        async def enough() -> None:
            while len(self.received) < count:
                self.arrived.clear()
                await self.arrived.wait()

        await asyncio.wait_for(enough(), 30)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@asynccontextmanager
async def receiving(statuses: list[int]) -> AsyncIterator[Receiver]:
    receiver = Receiver(list(statuses))
    port = _free_port()
    app = Starlette(routes=[Route("/hook", receiver.hook, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn offers no event for it)
        await asyncio.sleep(0.02)
    receiver.url = f"http://127.0.0.1:{port}/hook"
    try:
        yield receiver
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def worker(
    settings: Settings, url: str, *, spans: InMemorySpanExporter | None = None
) -> AsyncIterator[None]:
    async with webhook_worker(settings, owner_url=url, retry=FAST, span_exporter=spans) as running:
        task = asyncio.create_task(running.queue.run(dequeue_timeout=timedelta(seconds=1)))
        try:
            yield
        finally:
            running.stop()
            await asyncio.wait_for(task, 30)


async def _subscribe(url: str, program: str, target: str, events: list[ChangeKind]) -> str:
    connection = await asyncpg.connect(url)
    try:
        made = await webhooks.create_subscription(
            connection, program=program, url=target, events=events
        )
        return made.id
    finally:
        await connection.close()


async def _release(url: str, tmp_path: Path, release: str) -> tuple[int, int]:
    poorer = await family_numbers(url, "kabupaten_code = '3509' AND welfare_decile = 5")
    richer = await family_numbers(url, "kabupaten_code = '3509' AND welfare_decile = 3")
    rows = await rows_of(url, poorer + richer)
    household(rows, poorer[0])["welfare_decile"] = 3
    household(rows, richer[0])["welfare_decile"] = 7
    await import_release(url, tmp_path / release, rows, release=release)
    found = await fetch(
        url, "SELECT kk_number, id FROM households WHERE kk_number = ANY($1)", poorer + richer
    )
    ids = {row["kk_number"]: row["id"] for row in found}
    return ids[poorer[0]], ids[richer[0]]


async def test_a_receiver_answering_500_twice_gets_the_signed_batch_on_the_third_try(
    make_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    url = await make_database()
    settings = make_settings(url, tmp_path / "data")
    async with receiving([500, 500]) as receiver:
        subscription = await _subscribe(url, "dinsos-pkh", receiver.url, list(ChangeKind))
        async with worker(settings, url):
            moved_in, moved_out = await _release(url, tmp_path, "2025Q3")
            await receiver.wait_for(3)
            await asyncio.sleep(0.3)
        async with gateway(url, tmp_path / "jwks") as gw:
            jwks = (await gw.http.get("/.well-known/jwks.json")).json()

    assert len(receiver.received) == 3
    # Tracing off: nothing names a trace.
    assert all("traceparent" not in headers for headers, _ in receiver.received)
    for attempt, (headers, body) in enumerate(receiver.received, start=1):
        header = verify_detached(headers[SIGNATURE_HEADER.lower()], body, jwks=jwks)
        assert header["typ"] == "regsosek-webhook+jws"
        batch = json.loads(body)
        assert batch["attempt"] == attempt
        assert batch["subscription"] == subscription
        assert batch["program"] == "dinsos-pkh"
        assert batch["release"]["id"] == "2025Q3"
        # Kinds and identities only, never a field value.
        assert sorted(batch["changes"], key=lambda c: c["kind"]) == [
            {"kind": "ENTERED", "household": {"id": str(moved_in)}},
            {"kind": "LEFT", "household": {"id": str(moved_out)}},
        ]
    headers, body = receiver.received[-1]
    with pytest.raises(BadSignature):
        verify_detached(
            headers[SIGNATURE_HEADER.lower()], body.replace(b"ENTERED", b"UPDATED"), jwks=jwks
        )

    (delivery,) = await fetch(
        url, "SELECT * FROM webhook_deliveries WHERE subscription_id = $1", subscription
    )
    assert (delivery["status"], delivery["attempts"], delivery["receipt_status"]) == (
        "delivered",
        3,
        200,
    )
    assert json.loads(delivery["receipt_body"]) == {"received": True}
    pushed = await fetch(
        url,
        "SELECT outcome, household_ids, field_paths, request_id, trace_id FROM audit_events"
        " WHERE endpoint = 'webhook' ORDER BY seq",
    )
    assert [row["trace_id"] for row in pushed] == [None, None, None]
    assert [row["request_id"] for row in pushed] == [
        f"webhook-{delivery['id']}-{attempt}" for attempt in (1, 2, 3)
    ]
    assert all(row["outcome"] == "allowed" for row in pushed)
    assert all(sorted(row["household_ids"]) == sorted([moved_in, moved_out]) for row in pushed)
    assert pushed[0]["field_paths"] == ["webhook.changes.household.id", "webhook.changes.kind"]


async def test_with_tracing_on_each_attempt_is_a_client_span_its_post_and_audit_event_name(
    make_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    url = await make_database()
    settings = make_settings(url, tmp_path / "data")
    spans = InMemorySpanExporter()
    async with receiving([503]) as receiver:
        subscription = await _subscribe(url, "dinsos-pkh", receiver.url, list(ChangeKind))
        async with worker(settings, url, spans=spans):
            await _release(url, tmp_path, "2025Q3")
            await receiver.wait_for(2)
            await asyncio.sleep(0.3)

    finished = spans.get_finished_spans()
    posts = sorted(
        (span for span in finished if span.name == "webhook POST"),
        key=lambda span: str(dict(span.attributes or {})["regsosek.webhook.attempt"]),
    )
    delivery = dict(posts[0].attributes or {})["regsosek.webhook.delivery"]
    assert [(span.kind, dict(span.attributes or {})) for span in posts] == [
        (
            SpanKind.CLIENT,
            {
                "http.request.method": "POST",
                "regsosek.webhook.delivery": delivery,
                "regsosek.program": "dinsos-pkh",
                "regsosek.webhook.subscription": subscription,
                "regsosek.webhook.attempt": attempt,
                "http.response.status_code": status,
                "regsosek.webhook.outcome": outcome,
            },
        )
        for attempt, status, outcome in ((1, 503, "pending"), (2, 200, "delivered"))
    ]
    contexts = [span.context for span in posts if span.context is not None]
    # Each attempt is a trace of its own, carried by the POST the receiver got.
    assert [span.parent for span in posts] == [None, None]
    assert contexts[0].trace_id != contexts[1].trace_id
    sent = [headers["traceparent"] for headers, _ in receiver.received]
    assert all(context.trace_flags.sampled for context in contexts)
    assert sent == [
        f"00-{format_trace_id(c.trace_id)}-{format_span_id(c.span_id)}-{int(c.trace_flags):02x}"
        for c in contexts
    ]
    # The attempt's statements are its children, and carry no parameters.
    for context in contexts:
        statements = [
            span
            for span in finished
            if span.parent is not None and span.parent.span_id == context.span_id
        ]
        assert statements, "the delivery's statements are not in its trace"
        assert all((span.attributes or {}).get("db.system") == "postgresql" for span in statements)
        assert all(
            not any("parameters" in name for name in (span.attributes or {})) for span in statements
        )
    pushed = await fetch(
        url, "SELECT trace_id FROM audit_events WHERE endpoint = 'webhook' ORDER BY seq"
    )
    assert [row["trace_id"] for row in pushed] == [format_trace_id(c.trace_id) for c in contexts]


async def test_a_pseudonym_program_is_pushed_pseudonyms_of_the_kinds_it_subscribed(
    make_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    url = await make_database()
    settings = make_settings(url, tmp_path / "data")
    async with receiving([]) as receiver:
        await _subscribe(url, "dinkes-pbi", receiver.url, [ChangeKind.LEFT])
        async with worker(settings, url):
            _, moved_out = await _release(url, tmp_path, "2025Q3")
            await receiver.wait_for(1)
    members = await fetch(url, "SELECT id, nik FROM persons WHERE household_id = $1", moved_out)
    ((_, body),) = receiver.received
    changes = json.loads(body)["changes"]
    assert len(changes) == len(members)
    assert {change["kind"] for change in changes} == {"LEFT"}
    assert all(
        set(change) == {"kind", "person"} and set(change["person"]) == {"nik"} for change in changes
    )
    assert all(len(change["person"]["nik"]) == 64 for change in changes)
    assert all(row["nik"].encode() not in body for row in members)
    (event,) = await fetch(
        url, "SELECT person_ids, household_ids FROM audit_events WHERE endpoint = 'webhook'"
    )
    assert sorted(event["person_ids"]) == sorted(row["id"] for row in members)
    assert event["household_ids"] == []


async def test_a_disabled_subscription_is_not_pushed_and_urls_are_https_or_loopback(
    make_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    url = await make_database()
    for bad in ("http://example.go.id/hook", "ftp://127.0.0.1/x", "https://u:p@example.go.id/"):
        with pytest.raises(UnsafeTarget):
            check_target(bad)
    assert check_target("https://siks.example.go.id/hook") == "https://siks.example.go.id/hook"
    refused = await run_cli(
        url, "webhook", "create", "--program", "dinsos-pkh", "--url", "http://10.1.2.3/hook"
    )
    assert refused.returncode == 1
    assert "loopback" in refused.stderr
    made = await run_cli(url, "webhook", "create", "--program", "dinsos-pkh",
                         "--url", "http://127.0.0.1:9/hook", "--events", "ENTERED,LEFT", "--json")  # fmt: skip
    assert made.returncode == 0, made.stderr
    subscription = json.loads(made.stdout)["id"]
    assert (await run_cli(url, "webhook", "disable", subscription)).returncode == 0
    listed = json.loads((await run_cli(url, "webhook", "list", "--json")).stdout)
    assert [(item["id"], item["enabled"], item["events"]) for item in listed] == [
        (subscription, False, ["ENTERED", "LEFT"])
    ]
    await _release(url, tmp_path, "2025Q3")
    assert await fetch(url, "SELECT id FROM webhook_deliveries") == []
