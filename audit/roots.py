"""The auditors' root fields as GraphQL value roots: ``auditEvents``, ``disclosures``,
``auditSummary``, ``auditAnomalies``, ``chainStatus``, ``personDisclosures``,
``subjectReport``, ``breachPack``.

The policy decides who may use them (granted to ``inspektorat-audit`` only: for
every other program they are absent from the schema); they run in the request's
own read transaction, and each request that uses them is audited like any
other. The auditor's console (``/console/``) and ``regsosek audit report`` call
the same functions (``audit.lookups``, ``audit.reports``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson

from audit.breach import breach_summary
from audit.lookups import disclosures
from audit.reports import ScopeCounter, anomalies, period, person_disclosures, summary
from audit.signing import SigningKeySource
from audit.status import ChainMonitor
from audit.subjects import build_subject_report, report_subject, signed_report
from db.wib import WIB
from errors import BadInput, Unavailable
from schema.execute import Caller, Subject, ValueRoot
from schema.scalars import parse_id


def sequence_as_text(item: dict[str, Any]) -> dict[str, Any]:
    """An event as GraphQL shows it: its sequence number as text (a ``BigInt`` string)."""
    item["sequence"] = str(item["sequence"])
    return item


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
        return [sequence_as_text(item) for item in listed]

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


class SubjectReportRoot:
    """``subjectReport(nik | kkNumber)``: the signed report of a person's or family's
    disclosures (``audit.subjects``), seals judged on the request's WIB day."""

    needs_database = True

    def __init__(self, keys: SigningKeySource | None, *, issuer: str | None = None) -> None:
        self._keys = keys
        self._issuer = issuer

    async def value(
        self, *, caller: Caller, args: Mapping[str, Any], connection: asyncpg.Connection | None
    ) -> Any:
        assert connection is not None
        if self._keys is None:
            raise Unavailable("Subject reports cannot be signed here.")
        now = datetime.now(UTC)
        report = await build_subject_report(
            connection,
            nik=args.get("nik"),
            kk_number=args.get("kkNumber"),
            today=now.astimezone(WIB).date(),
            now=now,
        )
        return signed_report(report, keys=self._keys, issuer=self._issuer)

    @staticmethod
    def subject(value: Any, args: Mapping[str, Any]) -> Subject:
        """The person or family looked up: the lookup is a disclosure of them."""
        return report_subject(value)


class BreachPackRoot:
    """``breachPack(clientId, from, to)``: the console's breach button (``audit.breach``)."""

    needs_database = True

    async def value(
        self, *, caller: Caller, args: Mapping[str, Any], connection: asyncpg.Connection | None
    ) -> Any:
        assert connection is not None
        when = _period_of(args)
        return await breach_summary(
            connection,
            client_id=str(args["clientId"]),
            start=when.start,
            end=when.end,
            generated_at=datetime.now(UTC),
        )


def audit_roots(
    *,
    scopes: ScopeCounter,
    pool: asyncpg.Pool,
    keys: SigningKeySource | None = None,
    issuer: str | None = None,
) -> dict[str, ValueRoot]:
    """Every auditors' root but ``auditEvents`` (which pages with the edge's sealed cursors:
    ``api.graphql.audit_events``); ``pool`` (the gateway role's) serves ``chainStatus``' full
    walks; ``keys`` (the gateway's signing keys) sign subject reports, which name ``issuer``
    (the gateway's issuer URL) as ``iss``."""
    return {
        "breachPack": BreachPackRoot(),
        "disclosures": DisclosuresRoot(),
        "auditSummary": AuditSummaryRoot(),
        "auditAnomalies": AuditAnomaliesRoot(scopes),
        "chainStatus": ChainStatusRoot(pool),
        "personDisclosures": PersonDisclosuresRoot(),
        "subjectReport": SubjectReportRoot(keys, issuer=issuer),
    }
