"""The audit event: what one request did, as it is stored.

One ``AuditEvent`` is recorded for every request to ``/graphql`` and
``/oauth/token``, allowed or not, before the response is sent. The writer
gives it a sequence number ``seq`` and a time ``occurred_at``, normalizes it
with ``event_row`` (the values that are stored and hashed) and appends it to
the hash chain (``audit.chain``: the canonical form and the hash rule).

Every ``outcome`` an event can have is an ``Outcome``; the SQL of the reports
and anomaly rules, the request metrics and the ``AuditFilter`` all take their
outcomes from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, Final


class Endpoint(StrEnum):
    """Where the request came in."""

    GRAPHQL = "graphql"
    TOKEN = "token"  # noqa: S105 (an endpoint's name, not a password)
    WEBHOOK = "webhook"
    """One push of a program's changes by ``regsosek worker`` (outcome ``allowed``, written
    before the body leaves; ``request_id`` ``webhook-<delivery>-<attempt>``, the ids the body
    names, no client: the subscription and release are in ``operation_name``)."""
    CLI = "cli"
    """An operator's command that discloses data subjects, written before its file is:
    ``regsosek audit subject-report`` (outcome ``allowed``, the subject's ids, the
    operating-system user as ``client_id`` ``cli:<user>``) and ``regsosek audit breach``
    (under the auditor's program, with the ids of every subject in its pack)."""


class Outcome(StrEnum):
    """How a request ended, as stored in ``audit_events.outcome`` (lower case).

    GraphQL shows them upper-cased (``ALLOWED``, ``RATE_LIMITED`` …).
    """

    ALLOWED = "allowed"
    DENIED = "denied"
    UNAUTHENTICATED = "unauthenticated"
    INVALID = "invalid"
    RATE_LIMITED = "rate_limited"
    TOO_COMPLEX = "too_complex"
    UNAVAILABLE = "unavailable"
    ERROR = "error"
    PAGE = "page"
    """``GET /graphql`` answered with the GraphiQL page (no operation runs)."""


REFUSED: Final = frozenset(
    {Outcome.DENIED, Outcome.INVALID, Outcome.TOO_COMPLEX, Outcome.RATE_LIMITED}
)
"""Requests refused for what they asked (``FORBIDDEN``, ``BAD_USER_INPUT``,
``QUERY_TOO_COMPLEX``, ``RATE_LIMITED``), as the reports and anomaly rules count them."""

# Widths of the bounded columns: longer values are cut, never refused, so that
# one odd request (say a 200-character client_id sent to /oauth/token) cannot
# make a whole batch fail to commit.
_WIDTHS: Final = {
    "request_id": 64,
    "endpoint": 16,
    "client_id": 64,
    "program": 64,
    "remote_addr": 64,
    "document_hash": 64,
    "variables_hash": 64,
    "outcome": 32,
    "error_code": 32,
    "purpose_code": 64,
    "case_ref": 200,
}
_TEXT_LIMIT: Final = 1000
"""Longest stored value of an unbounded text column or of one field path."""


@dataclass(slots=True)
class AuditEvent:
    """What one request did, as the caller of ``AuditWriter.record`` describes it.

    ``field_paths`` are the paths of the fields disclosed (``households.nodes.nik``);
    ``household_ids`` and ``person_ids`` are the rows whose fields left the
    gateway, not the rows that were read. Denied and failed requests disclose
    nothing and leave all three empty.
    """

    endpoint: str
    outcome: str
    request_id: str
    client_id: str | None = None
    agency: str | None = None
    program: str | None = None
    agreement: str | None = None
    purpose: str | None = None
    remote_addr: str | None = None
    operation_name: str | None = None
    document_hash: str | None = None
    variables_hash: str | None = None
    error_code: str | None = None
    field_paths: list[str] = field(default_factory=list)
    household_ids: list[int] = field(default_factory=list)
    person_ids: list[int] = field(default_factory=list)
    row_count: int = 0
    purpose_code: str | None = None
    """The purpose the request named (``Regsosek-Purpose``), or the program's first one."""
    case_ref: str | None = None
    """The case reference it named (``Regsosek-Case-Ref``)."""
    trace_id: str | None = None
    """The W3C trace id (32 lower-case hex digits) the request belonged to, when traced."""
    sealed_until: date | None = None
    """Until when the program's policy withholds this disclosure from subject reports."""


def _clean(value: str | None, width: int = _TEXT_LIMIT) -> str | None:
    """``value`` storable as PostgreSQL text: no NUL characters, at most ``width`` characters."""
    if value is None:
        return None
    if "\x00" in value:
        value = value.replace("\x00", "")
    return value if len(value) <= width else value[:width]


def _hex(value: str | None) -> str | None:
    return None if value is None else _clean(value.lower(), 64)


def event_row(event: AuditEvent, *, seq: int, occurred_at: datetime) -> tuple[Any, ...]:
    """The ``audit.chain.HASHED_COLUMNS`` values of ``event`` as they are stored (and hashed).

    Normalizes on the way: ids as integers, lists sorted without duplicates, hashes lower-case,
    text cut to its column's width and freed of NUL characters.
    """
    widths = _WIDTHS
    return (
        seq,
        occurred_at,
        _clean(event.request_id, widths["request_id"]) or "",
        _clean(event.endpoint, widths["endpoint"]) or "",
        _clean(event.client_id, widths["client_id"]),
        _clean(event.agency),
        _clean(event.program, widths["program"]),
        _clean(event.agreement),
        _clean(event.purpose),
        _clean(event.remote_addr, widths["remote_addr"]),
        _clean(event.operation_name),
        _hex(event.document_hash),
        _hex(event.variables_hash),
        _clean(event.outcome, widths["outcome"]) or "",
        _clean(event.error_code, widths["error_code"]),
        int(event.row_count),
        sorted({_clean(path) or "" for path in event.field_paths}),
        sorted(set(map(int, event.household_ids))),
        sorted(set(map(int, event.person_ids))),
        _clean(event.purpose_code, widths["purpose_code"]),
        _clean(event.case_ref, widths["case_ref"]),
        _hex(event.trace_id),
        event.sealed_until,
    )


def format_time(moment: datetime) -> str:
    """``moment`` as the canonical form writes it: ``2026-11-29T15:10:00.000123Z``."""
    text = moment.isoformat(timespec="microseconds")
    if not text.endswith("+00:00"):
        if moment.tzinfo is None:
            raise ValueError("audit times must be timezone-aware")
        text = moment.astimezone(UTC).isoformat(timespec="microseconds")
    return text[:26] + "Z"
