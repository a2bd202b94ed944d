"""``programs/<program>.yaml``: the agreement, purpose, limits and row scope of one program.

Layout (every key but those marked optional, ``k_min`` and the ``rows`` sub-keys is required)::

    agency_name: Dinas Sosial Kabupaten Jember
    purpose: Verifikasi dan validasi calon penerima PKH ...
    legal_basis: UU 11/2009 ...; Permensos 3/2021 ...
    agreement:
      number: "460/1234/35.09.301/2026"        # the PKS number
      valid_from: 2026-01-01
      valid_until: 2027-12-31
    k_min: 5                                   # statistics: smallest publishable cell
    quota:
      requests_per_minute: 120
      rows_per_day: 200000
      statistics_seconds_per_day: 1800         # optional: CPU of new householdStats populations
    limits:                                    # optional
      concurrent_statistics: 1                 # uncached householdStats running at once
    purposes:                                  # optional (policies.purposes)
      - code: PKH_VERIFIKASI
        description: Verifikasi calon penerima PKH / Verifying PKH candidates
        case_ref_required: false
        fields: [Household.headName, Person.*] # optional: narrow to these grants
    documents: required                        # optional: only registered documents run
    dpia: "DPIA-DINSOS-2026-01"                # reference of the impact assessment (Pasal 34)
    controller: BPS Kabupaten Jember           # optional (UU PDP: the controller)
    sealed_until: 2027-03-31                   # optional: an investigation's seal
    rows:
      households: <household condition>        # default: none
      persons:                                 # default: the members of those households
        household: <household condition>
        person: <person condition>
      statistics: <household condition>        # default: the households scope
    proposals:                                 # optional: see policies.proposals
      kinds: [KOREKSI]
      fields: [tenure, "asset_*"]
    reports:                                   # optional: see policies.reports
      assistance: [PKH, BPNT]

The conditions are the language of ``policies.scope_parser``.

``sealed_until`` (CONTRACT §10) seals the program's disclosures while an investigation
runs: every audit event of the program carries the date from the moment of the request
(inside the hash chain), and subject reports withhold those entries through that day,
counting them. Lifting or moving the seal later changes only requests made after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from policies.conditions import Condition, Everything, Nothing, PersonScope
from policies.model import (
    DEFAULT_CONCURRENT_STATISTICS,
    DEFAULT_CONTROLLER,
    DEFAULT_STATISTICS_SECONDS_PER_DAY,
    Agreement,
    Quota,
)
from policies.proposals import ProposalGrant, read_proposals
from policies.purposes import PurposeEntry, read_purposes
from policies.reports import ReportGrant, read_reports
from policies.scope_parser import parse_household_condition, parse_person_condition
from policies.yamlnodes import Node, Reader

TOP_KEYS = {
    "agency_name",
    "purpose",
    "legal_basis",
    "agreement",
    "k_min",
    "quota",
    "limits",
    "rows",
    "purposes",
    "documents",
    "dpia",
    "controller",
    "proposals",
    "reports",
    "sealed_until",
}
DOCUMENTS_VALUES = ("required", "optional")
QUOTA_KEYS = ("requests_per_minute", "rows_per_day")
"""Required keys of ``quota``; ``statistics_seconds_per_day`` is optional."""
MAX_CONCURRENT_STATISTICS = 16
DEFAULT_K_MIN = 5


@dataclass(frozen=True)
class ProgramFile:
    """A program's YAML file, validated; ``lines`` says where each part was written."""

    agency_name: str
    purpose: str
    legal_basis: str
    agreement: Agreement
    k_min: int
    quota: Quota
    concurrent_statistics: int
    household_scope: Condition | None
    person_scope: PersonScope | None
    statistics_scope: Condition | None
    statistics_given: bool
    lines: dict[str, int]
    purposes: tuple[PurposeEntry, ...] = ()
    documents_required: bool = False
    dpia: str | None = None
    controller: str = DEFAULT_CONTROLLER
    proposals: ProposalGrant | None = None
    """What the program may propose (``policies.proposals``); None: nothing."""
    sealed_until: date | None = None
    reports: ReportGrant | None = None
    """What the program may report delivered (``policies.reports``); None: nothing."""


def read_program_file(reader: Reader, text: str) -> ProgramFile | None:
    """The file's contents, or None after recording every problem in ``reader``."""
    root = reader.compose(text)
    if root is None:
        return None
    entries = reader.mapping(root, "a program file")
    if entries is None:
        return None
    reader.unknown_keys(entries, allowed=TOP_KEYS, what="a program file")
    before = len(reader.problems)
    lines = {key: int(key_node.start_mark.line) + 1 for key, (key_node, _) in entries.items()}
    for key in ("agency_name", "purpose", "legal_basis", "agreement", "quota", "rows"):
        if key not in entries:
            reader.problem(root, f"missing {key}")
    texts = {
        key: reader.string(entries[key][1], key) if key in entries else None
        for key in ("agency_name", "purpose", "legal_basis")
    }
    agreement = _agreement(reader, entries["agreement"][1]) if "agreement" in entries else None
    k_min = DEFAULT_K_MIN
    if "k_min" in entries:
        k_min = reader.integer(entries["k_min"][1], "k_min", minimum=1, maximum=1000) or 0
    quota = _quota(reader, entries["quota"][1]) if "quota" in entries else None
    concurrent = DEFAULT_CONCURRENT_STATISTICS
    if "limits" in entries:
        concurrent = _limits(reader, entries["limits"][1]) or concurrent
    rows = _rows(reader, entries["rows"][1]) if "rows" in entries else None
    purposes = read_purposes(reader, entries["purposes"][1]) if "purposes" in entries else []
    documents_required = False
    if "documents" in entries:
        documents = reader.value(entries["documents"][1])
        if documents not in DOCUMENTS_VALUES:
            reader.problem(entries["documents"][1], "documents must be required or optional")
        documents_required = documents == "required"
    extra = {
        key: reader.string(entries[key][1], key) if key in entries else None
        for key in ("dpia", "controller")
    }
    proposals = read_proposals(reader, entries["proposals"][1]) if "proposals" in entries else None
    reports = read_reports(reader, entries["reports"][1]) if "reports" in entries else None
    sealed_until = (
        _date(reader, entries["sealed_until"][1], "sealed_until")
        if "sealed_until" in entries
        else None
    )
    if len(reader.problems) > before or agreement is None or quota is None or rows is None:
        return None
    households, persons, statistics, statistics_given = rows
    return ProgramFile(
        agency_name=texts["agency_name"] or "",
        purpose=texts["purpose"] or "",
        legal_basis=texts["legal_basis"] or "",
        agreement=agreement,
        k_min=k_min,
        quota=quota,
        concurrent_statistics=concurrent,
        household_scope=households,
        person_scope=persons,
        statistics_scope=statistics,
        statistics_given=statistics_given,
        lines=lines,
        purposes=tuple(purposes or ()),
        documents_required=documents_required,
        dpia=extra["dpia"],
        controller=extra["controller"] or DEFAULT_CONTROLLER,
        proposals=proposals,
        sealed_until=sealed_until,
        reports=reports,
    )


def _agreement(reader: Reader, node: Node) -> Agreement | None:
    entries = reader.mapping(node, "agreement")
    if entries is None:
        return None
    reader.unknown_keys(entries, allowed={"number", "valid_from", "valid_until"}, what="agreement")
    for key in ("number", "valid_from", "valid_until"):
        if key not in entries:
            reader.problem(node, f"agreement needs {key}")
    if not {"number", "valid_from", "valid_until"} <= set(entries):
        return None
    number = reader.string(entries["number"][1], "agreement number")
    dates: dict[str, date] = {}
    for key in ("valid_from", "valid_until"):
        value = reader.value(entries[key][1])
        if isinstance(value, date) and not hasattr(value, "hour"):
            dates[key] = value
        else:
            reader.problem(entries[key][1], f"{key} must be a date (YYYY-MM-DD)")
    if number is None or len(dates) != 2:
        return None
    if dates["valid_until"] < dates["valid_from"]:
        reader.problem(
            entries["valid_until"][1],
            f"agreement window is inverted: valid_until {dates['valid_until']} "
            f"is before valid_from {dates['valid_from']}",
        )
        return None
    return Agreement(number, dates["valid_from"], dates["valid_until"])


def _date(reader: Reader, node: Node, what: str) -> date | None:
    """A calendar date written YYYY-MM-DD (a problem, and None, for anything else)."""
    value = reader.value(node)
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    reader.problem(node, f"{what} must be a date (YYYY-MM-DD)")
    return None


def _quota(reader: Reader, node: Node) -> Quota | None:
    entries = reader.mapping(node, "quota")
    if entries is None:
        return None
    optional = "statistics_seconds_per_day"
    reader.unknown_keys(entries, allowed={*QUOTA_KEYS, optional}, what="quota")
    values: dict[str, int] = {}
    for key in (*QUOTA_KEYS, optional):
        if key not in entries:
            if key != optional:
                reader.problem(node, f"quota needs {key}")
            continue
        number = reader.integer(entries[key][1], f"quota.{key}", minimum=1, maximum=10**9)
        if number is not None:
            values[key] = number
    if not all(key in values for key in QUOTA_KEYS) or (optional in entries) != (
        optional in values
    ):
        return None
    return Quota(
        values["requests_per_minute"],
        values["rows_per_day"],
        values.get(optional, DEFAULT_STATISTICS_SECONDS_PER_DAY),
    )


def _limits(reader: Reader, node: Node) -> int | None:
    """``limits.concurrent_statistics`` (None after a problem, or when not given)."""
    entries = reader.mapping(node, "limits")
    if entries is None:
        return None
    reader.unknown_keys(entries, allowed={"concurrent_statistics"}, what="limits")
    if "concurrent_statistics" not in entries:
        return None
    return reader.integer(
        entries["concurrent_statistics"][1],
        "limits.concurrent_statistics",
        minimum=1,
        maximum=MAX_CONCURRENT_STATISTICS,
    )


def _rows(
    reader: Reader, node: Node
) -> tuple[Condition | None, PersonScope | None, Condition | None, bool] | None:
    """(household scope, person scope, statistics scope, statistics given); None when broken."""
    entries = reader.mapping(node, "rows")
    if entries is None:
        return None
    reader.unknown_keys(entries, allowed={"households", "persons", "statistics"}, what="rows")
    ok = True
    households: Condition | None = None
    if "households" in entries:
        households = parse_household_condition(reader, entries["households"][1])
        ok = ok and households is not None
    persons: PersonScope | None = None
    if "persons" in entries:
        persons = _person_scope(reader, entries["persons"][1])
        ok = ok and persons is not None
    statistics: Condition | None = households
    if "statistics" in entries:
        statistics = parse_household_condition(reader, entries["statistics"][1])
        ok = ok and statistics is not None
    if not ok:
        return None
    return (
        _some(households),
        persons,
        _some(statistics),
        "statistics" in entries,
    )


def _person_scope(reader: Reader, node: Node) -> PersonScope | None:
    entries = reader.mapping(node, "rows.persons")
    if entries is None:
        return None
    reader.unknown_keys(entries, allowed={"household", "person"}, what="rows.persons")
    if "household" not in entries:
        reader.problem(node, "rows.persons needs household: <household condition>")
        return None
    household = parse_household_condition(reader, entries["household"][1])
    person: Condition | None = Everything()
    if "person" in entries:
        person = parse_person_condition(reader, entries["person"][1])
    if household is None or person is None:
        return None
    return PersonScope(household, person)


def _some(condition: Condition | None) -> Condition | None:
    """None for no rows at all (``none`` written at the top)."""
    return None if condition is None or condition == Nothing() else condition
