"""OpenTelemetry tracing: off unless an OTLP endpoint is configured, and then cheap to leave on.

Off (``OTEL_EXPORTER_OTLP_ENDPOINT`` and ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` unset,
or ``OTEL_SDK_DISABLED=true``), nothing of OpenTelemetry is imported; a valid W3C
``traceparent`` a caller sends is still read (``from_headers``), so that the
request's log line and audit event carry its trace id and the answer echoes it.

On (``start_tracing``), the SDK is imported once, at start-up:

* the ASGI middleware (opentelemetry-instrumentation-asgi) opens one SERVER span per
  request, continuing the caller's ``traceparent`` (the propagators are the SDK's,
  ``OTEL_PROPAGATORS``; W3C Trace Context by default);
* asyncpg's instrumentation opens a CLIENT span for each statement run inside a request.
  Its spans never start a trace of their own: the background tasks (the audit writer's
  group commits, the registry refresh every second, the quota keeper) would otherwise
  send a root span a second per worker. Statement parameters are never recorded;
* spans go by OTLP over HTTP/protobuf (``BatchSpanProcessor``), to the configured
  endpoint only. Every other ``OTEL_*`` variable (``OTEL_SERVICE_NAME``,
  ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER``, ``OTEL_EXPORTER_OTLP_HEADERS``,
  ``OTEL_BSP_*`` …) is read by the SDK, where it reads it.

``api.observability.middleware.RequestObserver`` asks ``current_trace`` (or
``from_headers``) for the request's ``TraceContext``: it puts the trace id in the
request's state, the log line and structlog's context, and answers with a ``traceparent``
header naming the server span.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from starlette.middleware import Middleware

    from api.settings import Settings

SERVICE_NAME: Final = "regsosek-gateway"
"""``service.name`` unless ``OTEL_SERVICE_NAME`` or ``OTEL_RESOURCE_ATTRIBUTES`` names one."""
UNTRACED_PATHS: Final = r"/(healthz|readyz|metrics)$"
"""Probes and scrapes are never traced (``OTEL_PYTHON_(ASGI_)EXCLUDED_URLS`` add to them)."""
TRACEPARENT: Final = b"traceparent"
_TRACEPARENT = re.compile(
    r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-[ -~]*)?", re.ASCII
)
_ZERO_TRACE: Final = "0" * 32
_ZERO_SPAN: Final = "0" * 16


@dataclass(frozen=True, slots=True)
class TraceContext:
    """The trace a request belongs to: its id and the ``traceparent`` the answer carries."""

    trace_id: str
    """32 lower-case hex digits."""
    traceparent: str


def parse_traceparent(value: str) -> TraceContext | None:
    """A ``traceparent`` header as W3C Trace Context (level 1) defines it, or None if invalid.

    Version ``ff`` and all-zero ids are invalid; version ``00`` has exactly four fields;
    a later version may carry more, which are ignored. The echo is in version ``00``.
    """
    match = _TRACEPARENT.fullmatch(value.strip(" \t"))
    if match is None:
        return None
    version, trace_id, parent_id, flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest):
        return None
    if trace_id == _ZERO_TRACE or parent_id == _ZERO_SPAN:
        return None
    return TraceContext(trace_id, f"00-{trace_id}-{parent_id}-{flags}")


def from_headers(headers: Iterable[tuple[bytes, bytes]]) -> TraceContext | None:
    """The caller's trace, from the first ``traceparent`` of the ASGI headers (if valid)."""
    for name, value in headers:
        if name == TRACEPARENT:
            return parse_traceparent(value.decode("latin-1"))
    return None


def current_trace() -> TraceContext | None:
    """The current span's trace (the request's SERVER span); None without a valid span.

    Call only with tracing on (it imports OpenTelemetry's API).
    """
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return _trace_context(context)


def _trace_context(context: Any) -> TraceContext:
    """A span context (``opentelemetry.trace.SpanContext``) as its trace and ``traceparent``."""
    from opentelemetry import trace

    trace_id = trace.format_trace_id(context.trace_id)
    span_id = trace.format_span_id(context.span_id)
    return TraceContext(trace_id, f"00-{trace_id}-{span_id}-{int(context.trace_flags):02x}")


class ClientSpan:
    """A CLIENT span the gateway opened for a call of its own (a webhook's POST): its trace,
    for the audit event and the ``traceparent`` the call carries, and its attributes."""

    def __init__(self, span: Any) -> None:
        self._span = span

    @property
    def trace(self) -> TraceContext:
        return _trace_context(self._span.get_span_context())

    def set(self, name: str, value: str | int) -> None:
        self._span.set_attribute(name, value)


def name_server_span(*, method: str, route: str) -> None:
    """Name the current SERVER span after the matched route (``POST /graphql``), a bounded set.

    The ASGI middleware names it by the method alone when it starts (the route is not
    known yet, and raw paths would make span names unbounded); this renames it when the
    answer starts (the span ends with the answer's last byte). Tracing on only.
    """
    from opentelemetry import trace

    span = trace.get_current_span()
    if span.is_recording():
        span.update_name(f"{method} {route}")
        span.set_attribute("http.route", route)


def tracing_enabled(settings: Settings) -> bool:
    """Whether an OTLP endpoint is configured (and the SDK is not disabled)."""
    configured = settings.otel_exporter_otlp_traces_endpoint or settings.otel_exporter_otlp_endpoint
    return bool(configured) and not settings.otel_sdk_disabled


def traces_endpoint(settings: Settings) -> str | None:
    """Where spans go: the traces endpoint as given, else the base endpoint + ``/v1/traces``
    (the OTLP/HTTP exporter's own rule for these two variables)."""
    if settings.otel_exporter_otlp_traces_endpoint:
        return settings.otel_exporter_otlp_traces_endpoint
    if settings.otel_exporter_otlp_endpoint:
        return settings.otel_exporter_otlp_endpoint.rstrip("/") + "/v1/traces"
    return None


class Tracing:
    """Tracing for one app: its middleware, and the asyncpg instrumentation while it runs."""

    def __init__(self, *, provider: TracerProvider, statements: TracerProvider) -> None:
        self.provider = provider
        self._statements = statements
        self._instrumentor: Any = None

    def middleware(self) -> Middleware:
        """The ASGI middleware, outermost (before ``RequestObserver``)."""
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
        from opentelemetry.util.http import ExcludeList, get_excluded_urls
        from starlette.middleware import Middleware

        class Untraced(ExcludeList):
            """The probes, and what ``OTEL_PYTHON_(ASGI_)EXCLUDED_URLS`` names."""

            def __init__(self, configured: ExcludeList) -> None:
                super().__init__([UNTRACED_PATHS])
                self.configured = configured

            def url_disabled(self, url: str) -> bool:
                return super().url_disabled(url) or self.configured.url_disabled(url)

        return Middleware(
            OpenTelemetryMiddleware,
            excluded_urls=Untraced(get_excluded_urls("ASGI")),
            default_span_details=_span_details,
            tracer_provider=self.provider,
            exclude_spans=["receive", "send"],
        )

    def start(self) -> None:
        """Instrument asyncpg (statements inside a request become child spans)."""
        from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

        self._instrumentor = AsyncPGInstrumentor(capture_parameters=False)  # type: ignore[no-untyped-call]
        self._instrumentor.instrument(tracer_provider=self._statements)

    @contextmanager
    def client_span(
        self, name: str, *, attributes: Mapping[str, str | int]
    ) -> Iterator[ClientSpan]:
        """A CLIENT span, current while the block runs (its statements are its children),
        starting a trace of its own: the gateway's calls out (webhook POSTs) follow no caller.
        An exception leaving the block is recorded on it without its message."""
        from opentelemetry.trace import SpanKind, Status, StatusCode

        tracer = self.provider.get_tracer(SERVICE_NAME)
        with tracer.start_as_current_span(
            name,
            kind=SpanKind.CLIENT,
            attributes=dict(attributes),
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                yield ClientSpan(span)
            except BaseException as failure:
                span.set_status(Status(StatusCode.ERROR, type(failure).__name__))
                raise

    def close(self) -> None:
        """Stop instrumenting asyncpg; send the spans still buffered, then stop the exporter."""
        if self._instrumentor is not None:
            self._instrumentor.uninstrument()
            self._instrumentor = None
        self.provider.shutdown()


def _span_details(scope: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The SERVER span's first name: the method (``name_server_span`` adds the route)."""
    method = scope.get("method") or "HTTP"
    return str(method), {}


def start_tracing(settings: Settings, *, exporter: SpanExporter | None = None) -> Tracing | None:
    """Tracing for an app with these settings, or None when it is off.

    ``exporter`` replaces the OTLP exporter (tests: an in-memory one, spans exported as
    each ends); by default spans are batched to ``traces_endpoint(settings)``.
    """
    if exporter is None and not tracing_enabled(settings):
        return None
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased

    resource = Resource.create()
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": SERVICE_NAME}))
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        processor: Any = BatchSpanProcessor(OTLPSpanExporter(endpoint=traces_endpoint(settings)))
    else:
        processor = SimpleSpanProcessor(exporter)
    # The sampler is the SDK's (OTEL_TRACES_SAMPLER; parent-based, always on, by default).
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(processor)
    # Statements: a child of a sampled span is sampled, a statement without one is not.
    statements = TracerProvider(
        resource=resource, sampler=ParentBased(root=ALWAYS_OFF), shutdown_on_exit=False
    )
    statements.add_span_processor(processor)
    return Tracing(provider=provider, statements=statements)
