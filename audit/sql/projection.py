"""The audit event as auditors see it, built in PostgreSQL: its JSON fields and the time format.

Every statement of ``audit.sql`` that shows events (``auditEvents`` and
``disclosures``, ``personDisclosures``, the events behind an anomaly) builds them
with ``event_json``: each GraphQL field (``shared/CONTRACT.md`` §5,
``schema.audit_report_types``) from its column, written here once; a statement
chooses which fields it shows. Conventions: times as
``2026-11-29T15:10:00.000123Z`` (``TIME_SQL``), ids as strings (GraphQL ``ID``),
outcomes upper-cased (``ALLOWED``, ``RATE_LIMITED`` …).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

TIME_SQL: Final = """to_char({0} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""
"""A ``timestamptz`` as the audit trail writes times (``audit.events.format_time``)."""

EVENT_FIELDS: Final = {
    "sequence": "{e}.seq",
    "occurredAt": TIME_SQL.format("{e}.occurred_at"),
    "endpoint": "{e}.endpoint",
    "clientId": "{e}.client_id",
    "agency": "{e}.agency",
    "program": "{e}.program",
    "agreement": "{e}.agreement",
    "purpose": "{e}.purpose",
    "remoteAddr": "{e}.remote_addr",
    "operationName": "{e}.operation_name",
    "documentHash": "{e}.document_hash",
    "outcome": "upper({e}.outcome)",
    "errorCode": "{e}.error_code",
    "rowCount": "{e}.row_count",
    "fieldPaths": "{e}.field_paths",
    "householdIds": "{e}.household_ids::text[]",
    "personIds": "{e}.person_ids::text[]",
    "purposeCode": "{e}.purpose_code",
    "caseRef": "{e}.case_ref",
    "traceId": "{e}.trace_id",
    "sealedUntil": "{e}.sealed_until::text",
}
"""Each field of an event from its column of ``audit_events`` (``{e}``: the table's alias)."""

DISCLOSURE: Final = (
    "sequence",
    "occurredAt",
    "clientId",
    "agency",
    "program",
    "agreement",
    "purpose",
    "fieldPaths",
    "purposeCode",
    "caseRef",
)
"""Who received which fields, when and why (the request's purpose and case reference too):
what every listing of disclosures shows."""


def event_json(
    alias: str,
    fields: Sequence[str],
    *,
    sequence_as_text: bool = False,
    extra: Mapping[str, str] | None = None,
) -> str:
    """SQL: ``json_build_object`` of ``fields`` of the event ``alias``, then ``extra``
    (name → SQL of fields particular to one statement).

    ``sequence`` is a JSON number unless ``sequence_as_text`` (the value roots turn numbers
    into ``ID`` text themselves).
    """
    pairs: list[str] = []
    for name in fields:
        sql = EVENT_FIELDS[name]
        if name == "sequence" and sequence_as_text:
            sql += "::text"
        pairs.append(f"'{name}', {sql.replace('{e}', alias)}")
    pairs += [f"'{name}', {sql}" for name, sql in (extra or {}).items()]
    return "json_build_object(\n    " + ",\n    ".join(pairs) + "\n)"
