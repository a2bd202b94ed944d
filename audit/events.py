"""The audit event and its canonical serialization.

One ``AuditEvent`` is recorded for every request to ``/graphql`` and
``/oauth/token``, allowed or not, before the response is sent. The writer
gives it a sequence number ``seq`` and a time ``occurred_at`` and appends it to
the hash chain::

    hash = SHA-256(prev_hash ‖ canonical(row))

where ``prev_hash`` is the previous event's ``hash`` (32 zero bytes,
``GENESIS_HASH``, before the first event) and ``canonical(row)`` is, exactly:

* a JSON object (RFC 8259) with the 19 keys of ``HASHED_COLUMNS``, no more and
  no fewer, in ascending key order, no whitespace, UTF-8 with non-ASCII
  characters unescaped (what ``orjson.dumps(..., option=OPT_SORT_KEYS)``
  writes);
* ``occurred_at`` as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (UTC, always six fraction
  digits); ``seq`` and ``row_count`` as JSON integers; absent values as
  ``null``;
* ``field_paths``, ``household_ids`` and ``person_ids`` as JSON arrays in the
  order they are stored; the writer stores them sorted ascending without
  duplicates;
* ``document_hash`` and ``variables_hash`` as the lower-case hex strings that
  are stored.

The verifier recomputes the hash from the stored columns with the same
function, so anyone holding the rows can check the chain with nothing but
SHA-256 and a JSON encoder.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import orjson

GENESIS_HASH: Final = bytes(32)
"""``prev_hash`` of the first event of the chain."""

ENDPOINTS: Final = frozenset({"graphql", "token"})
OUTCOMES: Final = frozenset(
    {
        "allowed",
        "denied",
        "unauthenticated",
        "invalid",
        "rate_limited",
        "too_complex",
        "unavailable",
        "error",
        "page",  # GET /graphql answered with the GraphiQL page (no operation runs)
    }
)

HASHED_COLUMNS: Final = (
    "seq",
    "occurred_at",
    "request_id",
    "endpoint",
    "client_id",
    "agency",
    "program",
    "agreement",
    "purpose",
    "remote_addr",
    "operation_name",
    "document_hash",
    "variables_hash",
    "outcome",
    "error_code",
    "row_count",
    "field_paths",
    "household_ids",
    "person_ids",
)
"""The columns of ``audit_events`` the hash covers, in the order ``canonical`` takes them."""

STORED_COLUMNS: Final = (*HASHED_COLUMNS, "prev_hash", "hash")
"""Every column of ``audit_events``, in the order the writer copies rows in."""

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
    """The ``HASHED_COLUMNS`` values of ``event`` as they are stored (and hashed).

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
    )


def format_time(moment: datetime) -> str:
    """``moment`` as the canonical form writes it: ``2026-11-29T15:10:00.000123Z``."""
    text = moment.isoformat(timespec="microseconds")
    if not text.endswith("+00:00"):
        if moment.tzinfo is None:
            raise ValueError("audit times must be timezone-aware")
        text = moment.astimezone(UTC).isoformat(timespec="microseconds")
    return text[:26] + "Z"


def canonical(row: Sequence[Any]) -> bytes:
    """The canonical JSON of one event: ``row`` holds the ``HASHED_COLUMNS`` values in order."""
    (
        seq,
        occurred_at,
        request_id,
        endpoint,
        client_id,
        agency,
        program,
        agreement,
        purpose,
        remote_addr,
        operation_name,
        document_hash,
        variables_hash,
        outcome,
        error_code,
        row_count,
        field_paths,
        household_ids,
        person_ids,
    ) = row[:19]
    # Written in ascending key order, so orjson emits the sorted form without sorting.
    return orjson.dumps(
        {
            "agency": agency,
            "agreement": agreement,
            "client_id": client_id,
            "document_hash": document_hash,
            "endpoint": endpoint,
            "error_code": error_code,
            "field_paths": field_paths,
            "household_ids": household_ids,
            "occurred_at": format_time(occurred_at),
            "operation_name": operation_name,
            "outcome": outcome,
            "person_ids": person_ids,
            "program": program,
            "purpose": purpose,
            "remote_addr": remote_addr,
            "request_id": request_id,
            "row_count": row_count,
            "seq": seq,
            "variables_hash": variables_hash,
        }
    )


def chain_hash(prev_hash: bytes, row: Sequence[Any]) -> bytes:
    """``SHA-256(prev_hash ‖ canonical(row))``: the hash stored with the event."""
    return hashlib.sha256(prev_hash + canonical(row)).digest()
