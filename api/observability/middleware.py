"""One ASGI middleware around every HTTP request: request id, latency, status, the log line.

The request id is minted here, once, before any handler runs: handlers read it
with ``request_id(request)`` for their error bodies (``requestId``) and audit
events, and the answer carries it as ``X-Request-Id``. The request's trace is found
here too (``api.observability.tracing``: the SERVER span when tracing is on, else a
valid ``traceparent`` the caller sent): handlers read its id with ``trace_id(request)``
for the audit event, the log lines carry it (structlog's context), and the answer
echoes it as ``traceparent``.

The handlers of ``/graphql`` and ``/oauth/token`` already build an audit event
that says who asked, under which program, and how it ended; the audit writer
(``api.observability.audit``) hands that event to the request's
``RequestRecord``, so the handlers carry no logging or metrics code. Requests
that leave no event (health, metrics, JWKS, static files) are measured by
route and status only.
"""

from __future__ import annotations

import time
import uuid
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Final

import structlog
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.observability import metrics
from api.observability.logs import request_log
from api.observability.tracing import (
    TRACEPARENT,
    TraceContext,
    current_trace,
    from_headers,
    name_server_span,
)
from api.state import gateway_state
from audit.events import AuditEvent, Endpoint, Outcome

QUIET_ENDPOINTS: Final = frozenset({"/healthz", "/readyz", "/metrics"})
"""Probed every few seconds: their lines are logged at DEBUG."""
REQUEST_ID: Final = "request_id"
"""The key of the request id in the request's state (``request.state.request_id``)."""
TRACE_ID: Final = "trace_id"
"""The key of the trace id in the request's state (None: the request is in no trace)."""
NO_PROGRAM: Final = "none"
METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
"""HTTP methods kept as label values; anything else a client sends counts as ``other``."""


@dataclass(slots=True)
class RequestRecord:
    """What the audit writer learnt about the current request."""

    event: AuditEvent | None = None
    audited: bool = False
    seq: int | None = None


CURRENT: ContextVar[RequestRecord | None] = ContextVar("regsosek_request", default=None)


class RequestObserver:
    """Measures and logs each HTTP request; adds ``X-Request-Id`` when a handler did not,
    and ``traceparent`` when the request is in a trace.

    ``tracing``: OpenTelemetry's middleware runs outside this one (the request's trace
    is its SERVER span); off, the trace is the caller's ``traceparent``, if valid.
    """

    def __init__(self, app: ASGIApp, *, tracing: bool = False) -> None:
        self.app = app
        self.tracing = tracing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        minted = uuid.uuid4().hex
        trace = current_trace() if self.tracing else None
        if trace is None:
            trace = from_headers(scope["headers"])
        state = scope.setdefault("state", {})
        state[REQUEST_ID] = minted
        state[TRACE_ID] = None if trace is None else trace.trace_id
        record = RequestRecord()
        token = CURRENT.set(record)
        logged = (
            None
            if trace is None
            else structlog.contextvars.bind_contextvars(trace_id=trace.trace_id)
        )
        answer: dict[str, Any] = {"status": 500, "request_id": minted}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
                headers = list(message.get("headers", ()))
                request_id = _header(headers, b"x-request-id")
                if request_id is None:
                    request_id = minted
                    headers.append((b"x-request-id", request_id.encode()))
                    message["headers"] = headers
                if trace is not None and _header(headers, TRACEPARENT) is None:
                    headers.append((TRACEPARENT, trace.traceparent.encode()))
                    message["headers"] = headers
                answer["request_id"] = request_id
                if self.tracing:
                    name_server_span(method=scope["method"], route=_endpoint(scope))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            CURRENT.reset(token)
            if logged is not None:
                structlog.contextvars.reset_contextvars(**logged)
            _finish(
                scope,
                record,
                status=answer["status"],
                request_id=answer["request_id"],
                trace=trace,
                seconds=time.perf_counter() - started,
            )


def request_id(connection: HTTPConnection) -> str:
    """The id ``RequestObserver`` minted for this request."""
    minted = connection.scope.get("state", {}).get(REQUEST_ID)
    if not isinstance(minted, str):
        raise RuntimeError("the request did not pass through RequestObserver")
    return minted


def trace_id(connection: HTTPConnection) -> str | None:
    """The id of the trace this request belongs to (32 hex digits), or None."""
    found = connection.scope.get("state", {}).get(TRACE_ID)
    return found if isinstance(found, str) else None


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _endpoint(scope: Scope) -> str:
    """The matched route's path (a bounded set), never the raw path."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else "other"


def _program(scope: Scope, name: str | None) -> str:
    """A program of the policy in force, or ``none``/``other`` (labels stay a bounded set)."""
    if not name:
        return NO_PROGRAM
    try:
        programs = gateway_state(scope["app"]).policies.current.programs
    except RuntimeError:  # not started (or stopped): no program is known
        return "other"
    return name if name in programs else "other"


_OUTCOMES: Final = frozenset(Outcome)
"""Label values of ``outcome``: an event's outcome outside them counts as ``error``."""

_http_series: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def _http(endpoint: str, method: str, status: int) -> tuple[Any, Any]:
    """The request counter and latency histogram of one (endpoint, method, status), cached."""
    key = (endpoint, method, status)
    series = _http_series.get(key)
    if series is None:
        label = method if method in METHODS else "other"
        series = _http_series[key] = (
            metrics.HTTP_REQUESTS.labels(endpoint, label, str(status)),
            metrics.HTTP_LATENCY.labels(endpoint),
        )
    return series


def _finish(
    scope: Scope,
    record: RequestRecord,
    *,
    status: int,
    request_id: str | None,
    trace: TraceContext | None,
    seconds: float,
) -> None:
    endpoint = _endpoint(scope)
    method: str = scope["method"]
    requests, latency = _http(endpoint, method if method in METHODS else "other", status)
    requests.inc()
    latency.observe(seconds)
    fields: dict[str, Any] = {
        "request_id": request_id,
        "method": method if method in METHODS else "other",
        "endpoint": endpoint,
        "status": status,
        "latency_ms": round(seconds * 1000, 2),
        "remote": scope["client"][0] if scope.get("client") else None,
    }
    if trace is not None:
        fields["trace_id"] = trace.trace_id
    event = record.event
    if event is not None:
        program = _program(scope, event.program)
        outcome = event.outcome if record.audited else Outcome.UNAVAILABLE
        if outcome not in _OUTCOMES:
            outcome = Outcome.ERROR
        metrics.REQUESTS.labels(event.endpoint, program, outcome).inc()
        if outcome == Outcome.ALLOWED and event.row_count:
            metrics.ROWS_DISCLOSED.labels(program).inc(event.row_count)
        if outcome == Outcome.RATE_LIMITED and event.endpoint == Endpoint.GRAPHQL:
            metrics.QUOTA_REFUSALS.labels(program).inc()
        fields.update(
            client_id=event.client_id,
            program=event.program,
            outcome=outcome,
            rows=event.row_count,
            operation=(event.operation_name or "")[:100] or None,
            audit_seq=record.seq,
        )
    log = request_log()
    try:
        if endpoint in QUIET_ENDPOINTS:
            log.debug("request", **fields)
        elif status >= 500:
            log.warning("request", **fields)
        else:
            log.info("request", **fields)
    except (OSError, ValueError):
        # A log stream that is gone (closed pipe, full disk) must not fail the request:
        # its answer has been sent, and its audit event is what counts.
        pass
