"""Structured logs with structlog: one JSON object a line in production, readable lines
in development (``REGSOSEK_LOG_JSON`` overrides; see ``Settings.json_logs``).

Every record goes through the same processors, structlog's own and the
standard library's (uvicorn, asyncpg, the gateway's modules), so a log shipper
sees one format. What is never logged: tokens, secrets, passwords, GraphQL
documents and variables, registry values. The request line (``middleware``)
carries only ids, names, outcome, status and latency; as a second line of
defence, keys whose name says they hold a secret are replaced by
``[redacted]``, passwords in URLs are masked, and tracebacks are plain text
without local variables (structlog's rich and dict tracebacks would print
them).
"""

from __future__ import annotations

import logging
import os
import re
import sys
from typing import Any, Final, TextIO

import orjson
import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

SENSITIVE_KEYS: Final = frozenset(
    {
        "authorization",
        "access_token",
        "token",
        "client_secret",
        "secret",
        "password",
        "variables",
        "query",
        "cookie",
    }
)
REDACTED: Final = "[redacted]"
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]+:)[^@\s]+@", re.IGNORECASE)


FORMATTER_LEFTOVERS: Final = frozenset({"message", "color_message", "asctime"})
"""Attributes other handlers (pytest's, uvicorn's) leave on a record: copies of the message."""


def redact(logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
    """Drop values under secret-bearing keys; mask ``user:password@`` in any text."""
    for key in FORMATTER_LEFTOVERS.intersection(event_dict):
        del event_dict[key]
    for key in SENSITIVE_KEYS.intersection(event_dict):
        event_dict[key] = REDACTED
    for key, value in event_dict.items():
        if isinstance(value, str) and "://" in value:
            event_dict[key] = _URL_PASSWORD.sub(r"\1***@", value)
    return event_dict


def add_pid(logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
    """The worker's process id (``regsosek serve --workers N`` runs several)."""
    event_dict["pid"] = os.getpid()
    return event_dict


LEADING_KEYS: Final = ("timestamp", "level", "logger", "event")
QUIET_LOGGERS: Final = ("casbin",)
"""Libraries that narrate at INFO (casbin prints its model on every load): WARNING and up."""


def lead(logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
    """Time, level, logger and message first, the fields after (for people reading lines)."""
    ordered = {key: event_dict.pop(key) for key in LEADING_KEYS if key in event_dict}
    ordered.update(event_dict)
    return ordered


def _json(value: Any, **_: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def _renderer(*, json: bool) -> Processor:
    if json:
        return structlog.processors.JSONRenderer(serializer=_json)
    return structlog.dev.ConsoleRenderer(
        colors=False, exception_formatter=structlog.dev.plain_traceback
    )


def formatter(*, json: bool) -> structlog.stdlib.ProcessorFormatter:
    """The formatter of the gateway's log handler (also used by tests to render records)."""
    renderer = _renderer(json=json)
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*_shared(), structlog.stdlib.ExtraAdder()],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact,
            lead,
            renderer,
        ],
    )


def _shared() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_pid,
    ]


class GatewayHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The one handler ``configure_logging`` installs on the root logger."""


REQUEST_LOGGER: Final = "regsosek.request"


def request_log() -> Any:
    """The request line's logger: straight to the handler's stream, without a ``LogRecord``.

    One line per request is the busiest log there is; this path skips the
    standard library (record, handler, formatter) and costs a third as much.
    """
    return _request_log


def _direct(*, json: bool, level: int, stream: TextIO) -> Any:
    return structlog.wrap_logger(
        structlog.WriteLogger(stream),
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            add_pid,
            redact,
            lead,
            _renderer(json=json),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
    ).bind(logger=REQUEST_LOGGER)


_request_log: Any = _direct(json=False, level=logging.INFO, stream=sys.stderr)


def configure_logging(*, json: bool, level: str = "INFO", stream: TextIO | None = None) -> None:
    """Route structlog and the standard library through one formatter on ``stream``.

    Idempotent: a second call replaces the handler it installed before and
    leaves other handlers (pytest's, say) alone.
    """
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    global _request_log
    stream = stream or sys.stderr
    handler = GatewayHandler(stream)
    handler.setFormatter(formatter(json=json))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, GatewayHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    _request_log = _direct(json=json, level=root.level, stream=stream)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
