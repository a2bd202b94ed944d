"""The hash chain: what is hashed, how, and what one stored event proves.

Every event is appended to one chain::

    hash = SHA-256(prev_hash ‖ canonical(row))

where ``prev_hash`` is the previous event's ``hash`` (32 zero bytes,
``GENESIS_HASH``, before the first event) and ``canonical(row)`` is, exactly:

* a JSON object (RFC 8259) with the 19 keys of ``CORE_COLUMNS`` always, and
  each key of ``OPTIONAL_COLUMNS`` whose value is not null (none otherwise),
  in ascending key order, no whitespace, UTF-8 with non-ASCII characters
  unescaped (what ``orjson.dumps(..., option=OPT_SORT_KEYS)`` writes). The
  optional columns came later (migration 0005: the request's purpose code and
  case reference, its trace id, a program's seal); leaving them out when null
  keeps every earlier event's hash what it was;
* ``occurred_at`` as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (UTC, always six fraction
  digits); ``seq`` and ``row_count`` as JSON integers; absent values as
  ``null``;
* ``field_paths``, ``household_ids`` and ``person_ids`` as JSON arrays in the
  order they are stored; the writer stores them sorted ascending without
  duplicates;
* ``document_hash`` and ``variables_hash`` as the lower-case hex strings that
  are stored; ``sealed_until`` as ``YYYY-MM-DD``.

The writer (``chain_hash``), the full walk of ``regsosek audit verify`` and the
incremental ``chainStatus`` (both through ``step``) use these functions and no
other, so anyone holding the rows can check the chain with nothing but SHA-256
and a JSON encoder.

Stored events are read as ``STORED_COLUMNS``, by name; their first columns are
``HASHED_COLUMNS``, the values ``canonical`` takes, in its order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final, Protocol

import orjson

from audit.events import format_time

GENESIS_HASH: Final = bytes(32)
"""``prev_hash`` of the first event of the chain."""

CORE_COLUMNS: Final = (
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
"""The columns every event's canonical form holds, null or not."""

OPTIONAL_COLUMNS: Final = ("purpose_code", "case_ref", "trace_id", "sealed_until")
"""Columns the canonical form holds only when they are not null (migration 0005):
``purpose_code`` and ``case_ref`` (CONTRACT §9: the purpose the request named and its case
reference), ``trace_id`` (the W3C trace the request belonged to), ``sealed_until`` (the
date until which the program's policy withholds this disclosure from subject reports)."""

HASHED_COLUMNS: Final = (*CORE_COLUMNS, *OPTIONAL_COLUMNS)
"""The columns of ``audit_events`` the hash covers, in the order ``canonical`` takes them."""

STORED_COLUMNS: Final = (*HASHED_COLUMNS, "prev_hash", "hash")
"""Every column of ``audit_events``, in the order the writer copies rows in and readers read."""

SEQ: Final = HASHED_COLUMNS.index("seq")
"""Where ``seq`` is among the hashed values (damage classification re-hashes under other seqs)."""


class StoredRow(Protocol):
    """A stored event as read back (an ``asyncpg.Record`` of ``STORED_COLUMNS``)."""

    def __getitem__(self, key: Any, /) -> Any: ...


def _document(row: Sequence[Any]) -> dict[str, Any]:
    """The canonical form's keys and values: the core ones in ascending key order, then each
    optional one that is not null (``row`` holds the ``HASHED_COLUMNS`` values in order)."""
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
    ) = row[: len(CORE_COLUMNS)]
    document: dict[str, Any] = {
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
    optional = row[len(CORE_COLUMNS) : len(HASHED_COLUMNS)]
    for name, value in zip(OPTIONAL_COLUMNS, optional, strict=False):
        if value is not None:
            document[name] = value.isoformat() if isinstance(value, date) else value
    return document


def canonical(row: Sequence[Any]) -> bytes:
    """The canonical JSON of one event: ``row`` holds the ``HASHED_COLUMNS`` values in order."""
    document = _document(row)
    if len(document) == len(CORE_COLUMNS):
        # Already in ascending key order, so orjson emits the sorted form without sorting.
        return orjson.dumps(document)
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)


def canonical_pieces(row: Sequence[Any]) -> tuple[bytes, bytes, bytes]:
    """``canonical(row)`` cut around the two values the database fills in: with ``T`` the
    ``occurred_at`` that ``format_time`` writes and ``N`` the decimal ``seq``,
    ``canonical(row) == a + T + b + N + c``. ``row``'s own ``seq`` and ``occurred_at`` are
    ignored. The migration 0011 function ``regsosek_audit_append`` hashes events this way."""
    document = _document(row)
    # The keys in ascending order, split at "occurred_at" and at "seq" (each part holds at
    # least one core key: "agency", "operation_name", "variables_hash").
    keys = sorted(document)
    before_time = {key: document[key] for key in keys if key < "occurred_at"}
    before_seq = {key: document[key] for key in keys if "occurred_at" < key < "seq"}
    after_seq = {key: document[key] for key in keys if key > "seq"}
    dumps = orjson.dumps
    return (
        dumps(before_time)[:-1] + b',"occurred_at":"',
        b'",' + dumps(before_seq)[1:-1] + b',"seq":',
        b"," + dumps(after_seq)[1:],
    )


def chain_hash(prev_hash: bytes, row: Sequence[Any]) -> bytes:
    """``SHA-256(prev_hash ‖ canonical(row))``: the hash stored with the event."""
    return hashlib.sha256(prev_hash + canonical(row)).digest()


def hashed_values(row: StoredRow) -> Sequence[Any]:
    """The ``HASHED_COLUMNS`` values of a stored row (read as ``STORED_COLUMNS``)."""
    values: Sequence[Any] = row[: len(HASHED_COLUMNS)]
    return values


def contents_hash(row: StoredRow) -> bytes:
    """What the stored row's ``hash`` must be, given its own contents and ``prev_hash``."""
    return chain_hash(row["prev_hash"], hashed_values(row))


@dataclass(frozen=True, slots=True)
class Head:
    """The last event a check accepted: ``seq`` 0, the genesis hash and no time before any."""

    seq: int = 0
    hash: bytes = GENESIS_HASH
    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Link:
    """What one stored event proves about the chain it claims to extend (``step``)."""

    seq: int
    hash: bytes
    at: datetime
    next_in_line: bool
    """Its ``seq`` is the head's plus one."""
    consistent: bool
    """Its contents and ``prev_hash`` hash to its stored ``hash``."""
    linked: bool
    """Its ``prev_hash`` is the head's hash."""
    in_order: bool
    """It is not older than the head."""

    @property
    def sound(self) -> bool:
        """Every check passed: the event extends the head."""
        return self.next_in_line and self.consistent and self.linked and self.in_order

    @property
    def head(self) -> Head:
        """The head once this event is accepted."""
        return Head(self.seq, self.hash, self.at)


def step(head: Head, row: StoredRow) -> Link:
    """Check one stored event against the head it should extend: the one per-event rule of
    the full walk (``audit.walk``) and of the incremental status (``audit.status``)."""
    seq: int = row["seq"]
    stored_hash: bytes = row["hash"]
    prev_hash: bytes = row["prev_hash"]
    occurred_at: datetime = row["occurred_at"]
    return Link(
        seq=seq,
        hash=stored_hash,
        at=occurred_at,
        next_in_line=seq == head.seq + 1,
        consistent=chain_hash(prev_hash, hashed_values(row)) == stored_hash,
        linked=prev_hash == head.hash,
        in_order=head.at is None or occurred_at >= head.at,
    )
