"""The auditors' report fields as GraphQL value roots: ``auditSummary``, ``auditAnomalies``,
``chainStatus``, ``personDisclosures``.

Like ``auditEvents`` and ``disclosures`` (``api.audit_roots``), the policy
decides who may use them (granted to ``inspektorat-audit`` only: for every other
program they are absent from the schema), they run in the request's own read
transaction, and each request that uses them is audited like any other. The
auditor's console (``/console/``) and ``regsosek audit report`` call the same
functions (``api.audit.reports``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import asyncpg

from api.audit.chain_status import ChainMonitor
from api.audit.reports import anomalies, period, person_disclosures, summary
from api.audit.scopes import ScopeSizes
from policies import PolicySet
from schema.execute import Caller, Subject, ValueRoot


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

    def __init__(self, policies: Callable[[], PolicySet]) -> None:
        self._policies = policies
        self._scopes = ScopeSizes()

    async def value(
        self, *, caller: Caller, args: Mapping[str, Any], connection: asyncpg.Connection | None
    ) -> Any:
        assert connection is not None
        when = _period_of(args)
        scopes = await self._scopes.get(connection, self._policies())
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


def audit_report_roots(
    *, policies: Callable[[], PolicySet], pool: asyncpg.Pool
) -> dict[str, ValueRoot]:
    """The report roots; ``pool`` (the gateway role's) serves ``chainStatus``' full walks."""
    return {
        "auditSummary": AuditSummaryRoot(),
        "auditAnomalies": AuditAnomaliesRoot(policies),
        "chainStatus": ChainStatusRoot(pool),
        "personDisclosures": PersonDisclosuresRoot(),
    }
