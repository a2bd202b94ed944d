"""The loaded policy: immutable values the request path reads without calling casbin.

A ``Program`` is one data-sharing agreement (PKS) of one agency: which root
fields, which fields in which mode, and which rows. Field modes are decided by
casbin once, at load time, and kept here as plain dicts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from enum import StrEnum
from types import MappingProxyType

from policies.conditions import And, Everything, Nothing, PersonScope, Scope, describe
from policies.proposals import ProposalGrant
from policies.reports import ReportGrant


class FieldMode(StrEnum):
    """How a program sees a field: the value, a mask of it, a per-program token, or not at all."""

    FULL = "FULL"
    MASKED = "MASKED"
    PSEUDONYM = "PSEUDONYM"
    DENIED = "DENIED"


@dataclass(frozen=True)
class Agreement:
    """The data-sharing agreement (perjanjian kerja sama, PKS) the program rests on."""

    number: str
    valid_from: date
    valid_until: date

    def in_force(self, on: date) -> bool:
        """Whether ``on`` lies in the window (both ends included); outside it: nothing at all."""
        return self.valid_from <= on <= self.valid_until


DEFAULT_STATISTICS_SECONDS_PER_DAY = 1_800
"""CPU seconds of disclosure control a client may cause in a day, unless its program says."""
DEFAULT_CONCURRENT_STATISTICS = 1
"""Uncached ``householdStats`` protections a program may have running at once (per worker)."""


@dataclass(frozen=True)
class Quota:
    """Per client: requests a minute, rows disclosed a day (WIB), and CPU seconds a day spent
    protecting new ``householdStats`` populations (``schema.protection``)."""

    requests_per_minute: int
    rows_per_day: int
    statistics_seconds_per_day: int = DEFAULT_STATISTICS_SECONDS_PER_DAY


_EMPTY: Mapping[str, FieldMode] = MappingProxyType({})

DEFAULT_CONTROLLER = "BPS Kabupaten Jember"
"""The controller of the registry (UU PDP Pasal 1: pengendali data), unless a program says."""


@dataclass(frozen=True)
class Purpose:
    """One purpose of an agreement (CONTRACT §9), as a request names it.

    ``fields``/``root_fields`` are None when the purpose reads what the program reads;
    otherwise they are the narrowed grants (``policies.fields.resolve_fields`` of the subset),
    and every other field is unreadable under this purpose exactly as a denied one.
    """

    code: str
    description: str
    case_ref_required: bool = False
    fields: Mapping[str, Mapping[str, FieldMode]] | None = field(
        default=None, repr=False, hash=False, compare=False
    )
    root_fields: frozenset[str] | None = None
    households: Scope | None = None
    """A household condition the purpose narrows the rows to (None: the program's rows)."""

    @property
    def narrows(self) -> bool:
        return self.fields is not None or self.households is not None


@dataclass(frozen=True)
class Program:
    """One program of one agency, as ``policies/`` grants it.

    ``household_scope`` None means no household rows at all; ``person_scope``
    None means persons inherit the household scope. ``statistics_scope`` is
    the set of households ``householdStats`` aggregates (None: no statistics);
    it defaults to the household scope. Callers must check
    ``agreement.in_force(today)`` before serving anything; the SQL predicates
    check the window again on their own.
    """

    name: str
    agency: str
    agency_name: str
    purpose: str
    legal_basis: str
    agreement: Agreement
    k_min: int
    quota: Quota
    root_fields: frozenset[str]
    household_scope: Scope | None
    person_scope: PersonScope | None
    statistics_scope: Scope | None = None
    concurrent_statistics: int = DEFAULT_CONCURRENT_STATISTICS
    """``limits.concurrent_statistics``: uncached statistics running at once, per worker."""
    sealed_until: date | None = None
    """An investigation's seal: the program's disclosures are withheld from subject reports
    through this day; every audit event of the program carries it (``audit.subjects``)."""
    fields: Mapping[str, Mapping[str, FieldMode]] = field(
        default_factory=lambda: MappingProxyType({}), repr=False, hash=False
    )
    """Non-DENIED fields by type, with ``ALWAYS_READABLE`` and public types applied."""
    purposes: tuple[Purpose, ...] = ()
    """The agreement's purposes (empty: ``purpose`` alone, and requests name none)."""
    documents_required: bool = False
    """``documents: required``: only registered (trusted) documents are run."""
    dpia: str | None = None
    """The reference of the data protection impact assessment (UU PDP Pasal 34), if any."""
    controller: str = DEFAULT_CONTROLLER

    def purpose_named(self, code: str) -> Purpose | None:
        return next((p for p in self.purposes if p.code == code), None)

    def under(self, purpose: Purpose | None) -> Program:
        """The program as a request under ``purpose`` sees it: its fields narrowed, if the
        purpose narrows them (the same name, scope and keys otherwise)."""
        if purpose is None or not purpose.narrows:
            return self
        roots = purpose.root_fields if purpose.root_fields is not None else self.root_fields
        narrowed = replace(
            self,
            fields=purpose.fields if purpose.fields is not None else self.fields,
            root_fields=roots,
        )
        condition = purpose.households
        if condition is None:
            return narrowed
        person = self.person_scope
        return replace(
            narrowed,
            household_scope=_and(self.household_scope, condition),
            person_scope=(
                None
                if person is None
                else PersonScope(_both(person.household, condition), person.person)
            ),
            statistics_scope=_and(self.statistics_scope, condition),
            # The change feed is relative to the program's own scope: not under a narrower one.
            root_fields=roots - FEED_ROOT_FIELDS,
        )

    proposals: ProposalGrant | None = None
    """What the program may propose (``Mutation.proposeChange``); None: nothing."""
    reports: ReportGrant | None = None
    """What the program may report delivered (``Mutation.reportAssistance``); None: nothing."""

    def mode(self, type_name: str, field_name: str) -> FieldMode:
        """The field's mode for this program; DENIED for anything not granted."""
        return self.fields.get(type_name, _EMPTY).get(field_name, FieldMode.DENIED)

    def readable_fields(self, type_name: str) -> Mapping[str, FieldMode]:
        """The type's non-DENIED fields and their modes (empty when the type is unreadable)."""
        return self.fields.get(type_name, _EMPTY)

    def readable_types(self) -> frozenset[str]:
        return frozenset(name for name, fields in self.fields.items() if fields)

    def describe_scope(self) -> str:
        """The row scope in plain English, as ``myAccess.rowScope`` shows it."""
        parts = [_rows("households", self.household_scope)]
        if self.person_scope is not None:
            persons = _rows("persons", self.person_scope.person)
            household = self.person_scope.household
            if household != Everything():
                persons += f" whose household is {describe(household)}"
            parts.append(persons)
        elif self.household_scope is not None:
            parts.append("persons: the members of those households")
        else:
            parts.append("no persons")
        if self.statistics_scope is not None and self.statistics_scope != self.household_scope:
            parts.append(f"statistics over {_rows('households', self.statistics_scope)}")
        return "; ".join(parts)


FEED_ROOT_FIELDS = frozenset({"changes", "releases"})


def _both(scope: Scope, condition: Scope) -> Scope:
    return And((scope, condition))


def _and(scope: Scope | None, condition: Scope) -> Scope | None:
    return None if scope is None else _both(scope, condition)


def _rows(noun: str, condition: Scope | None) -> str:
    if condition is None or condition == Nothing():
        return f"no {noun}"
    if condition == Everything():
        return f"all {noun}"
    return f"{noun} {describe(condition)}"


@dataclass(frozen=True)
class PolicySet:
    """Every program of one policy directory; ``version`` is a hash of the files."""

    version: str
    programs: Mapping[str, Program]
