"""The auditors' root fields as GraphQL value roots: ``auditEvents``, ``disclosures``,
``auditSummary``, ``auditAnomalies``, ``chainStatus``, ``personDisclosures``.

The policy decides who may use them (granted to ``inspektorat-audit`` only: for
every other program they are absent from the schema); they run in the request's
own read transaction, and each request that uses them is audited like any
other. The auditor's console (``/console/``) and ``regsosek audit report`` call
the same functions (``audit.lookups``, ``audit.reports``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

import asyncpg
import orjson

from audit.lookups import audit_events, disclosures, make_filter
from audit.reports import ScopeCounter, anomalies, period, person_disclosures, summary
from audit.status import ChainMonitor
from errors import BadInput
from schema.compiler.cursors import Ordering
from schema.execute import Caller, Subject, ValueRoot
from schema.scalars import parse_id
from schema.sealed_cursors import CursorKeys, canonical_criteria

BY_SEQUENCE = Ordering("seq", ("seq",), ("int",), ())
"""The one ordering of ``auditEvents``: by sequence number (cursors sealed like every cursor,
bound to the program, the field and the filter)."""


def _sequence_as_text(item: dict[str, Any]) -> dict[str, Any]:
    item["sequence"] = str(item["sequence"])
    return item


class AuditEventsRoot:
    needs_database = True

    def __init__(self, cursor_keys: CursorKeys) -> None:
        self.cursor_keys = cursor_keys

    async def value(
        self, *, caller: Caller, args: Mapping[str, Any], connection: asyncpg.Connection | None
    ) -> Any:
        assert connection is not None
        given = args.get("filter") or {}
        household = given.get("householdId")
        household_id = parse_id(household) if household is not None else None
        event_filter = make_filter(
            client_id=given.get("clientId"),
            program=given.get("program"),
            agency=given.get("agency"),
            outcome=given.get("outcome"),
            occurred_from=given.get("from_") or given.get("from"),
            occurred_to=given.get("to"),
            household_id=-1 if household is not None and household_id is None else household_id,
        )
        first = args.get("first")
        cursors = self.cursor_keys.for_program(caller.program.name).scope(
            connection="auditEvents",
            ordering=BY_SEQUENCE.tag,
            criteria=lambda: canonical_criteria(asdict(event_filter)),
        )
        after = args.get("after")
        after_seq = (
            None
            if after is None
            else BY_SEQUENCE.key(cursors.open(after, size=BY_SEQUENCE.size))[0]
        )
        text = await audit_events(
            connection,
            event_filter=event_filter,
            first=50 if first is None else first,
            after_seq=after_seq,
            cursor_mark=cursors.mark,
        )
        page = orjson.loads(cursors.seal_marked(text))
        page["nodes"] = [_sequence_as_text(node) for node in page["nodes"]]
        for edge in page.get("edges") or []:
            _sequence_as_text(edge["node"])
        page["pageInfo"].setdefault("hasPreviousPage", args.get("after") is not None)
        page["pageInfo"].setdefault(
            "startCursor", page["edges"][0]["cursor"] if page.get("edges") else None
        )
        return page


class DisclosuresRoot:
    needs_database = True

    async def value(
        self, *, caller: Caller, args: Mapping[str, Any], connection: asyncpg.Connection | None
    ) -> Any:
        assert connection is not None
        household_id = parse_id(args["householdId"])
        if household_id is None:
            raise BadInput("`householdId` is not a household id.")
        listed = orjson.loads(await disclosures(connection, household_id=household_id))
        return [_sequence_as_text(item) for item in listed]

    @staticmethod
    def subject(value: Any, args: Mapping[str, Any]) -> Subject:
        """The household looked up and the members named in the answer: the auditor's
        request is itself a disclosure of them (a data subject sees who looked)."""
        household_id = parse_id(args["householdId"])
        persons = {int(pid) for item in value for pid in item.get("personIds") or ()}
        return ([household_id] if household_id is not None else []), sorted(persons)


def _period_of(args: Mapping[str, Any]) -> Any:
    return period(args.get("from_", args.get("from")), args.get("to"))


class AuditSummaryRoot:
    needs_database = True

    async def value(
        self, *, caller: Caller, args: Mapping[str, Any], connection: asyncpg.Connection | None
    ) -> Any:
        assert connection is not None
        return await summary(connection, _period_of(args))


class AuditAnomaliesRoot:
    needs_database = True

    def __init__(self, scopes: ScopeCounter) -> None:
        self._scopes = scopes

    async def value(
        self, *, caller: Caller, args: Mapping[str, Any], connection: asyncpg.Connection | None
    ) -> Any:
        assert connection is not None
        when = _period_of(args)
        scopes = await self._scopes(connection)
        return await anomalies(connection, when, scopes=scopes)


class ChainStatusRoot:
    needs_database = True

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._monitor = ChainMonitor(pool=pool)

    async def value(
        self, *, caller: Caller, args: Mapping[str, Any], connection: asyncpg.Connection | None
    ) -> Any:
        assert connection is not None
        return (await self._monitor.status(connection)).to_json()


class PersonDisclosuresRoot:
    needs_database = True

    async def value(
        self, *, caller: Caller, args: Mapping[str, Any], connection: asyncpg.Connection | None
    ) -> Any:
        assert connection is not None
        return await person_disclosures(connection, nik=str(args["nik"]))

    @staticmethod
    def subject(value: Any, args: Mapping[str, Any]) -> Subject:
        """The person the NIK names and their household: the lookup is a disclosure of them."""
        households = [int(hid) for hid in value.get("householdIds") or ()]
        return households, [int(pid) for pid in value.get("personIds") or ()]


def audit_roots(
    *, scopes: ScopeCounter, pool: asyncpg.Pool, keys: CursorKeys
) -> dict[str, ValueRoot]:
    """Every auditors' root; ``pool`` (the gateway role's) serves ``chainStatus``' full walks,
    ``keys`` seal ``auditEvents``' cursors."""
    return {
        "auditEvents": AuditEventsRoot(keys),
        "disclosures": DisclosuresRoot(),
        "auditSummary": AuditSummaryRoot(),
        "auditAnomalies": AuditAnomaliesRoot(scopes),
        "chainStatus": ChainStatusRoot(pool),
        "personDisclosures": PersonDisclosuresRoot(),
    }
